//! Every `stride`-th row and column of an NCHW tensor, from row and column `skip` on: what a 1×1
//! convolution at that stride reads (FactorizedReduce's two convolutions, the second one a pixel
//! in). `ops::Conv` multiplies the result by its weight matrix.
//!
//! On the CPU backend a backend extension whose forward gathers and whose backward scatters the
//! gradient into a zeroed input, plane by plane in parallel (Burn's generic slice differentiates as
//! zeros and a strided write on one thread: measured, 4 % of a second-order S2 step at the paper's
//! shape); elsewhere Burn's narrow and stepped slice ([`subsample_reference`]).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, Flex, backend_extension};
use burn::tensor::{DType, Slice, Tensor};

use crate::kernels::host::{Dims, contiguous, dims, planes, tensor, values};
use crate::kernels::{Kernels, uses_cpu_kernels};

/// Rows (and columns) `skip, skip + stride, …` of a side `n`: how many.
pub fn out_len(n: usize, stride: usize, skip: usize) -> usize {
    n.saturating_sub(skip).div_ceil(stride)
}

/// The subsample by Burn's tensor ops (any backend).
///
/// # Shapes
/// `[N, C, H, W]` → `[N, C, ⌈(H − skip)/stride⌉, ⌈(W − skip)/stride⌉]`.
pub fn subsample_reference(x: Tensor<4>, stride: usize, skip: usize) -> Tensor<4> {
    let every = Slice::new(skip as isize, None, stride as isize);
    x.slice([Slice::full(), Slice::full(), every, every])
}

/// The subsample: our CPU loops with `choice` on the CPU backend, else [`subsample_reference`].
pub fn subsample(x: Tensor<4>, stride: usize, skip: usize, choice: Kernels) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    assert!(stride >= 1 && skip < h.min(w), "subsample: stride {stride} from {skip} of a {h}×{w} image");
    if uses_cpu_kernels(choice, &x.device()) && x.dtype() == DType::F32 {
        Tensor::from_dispatch(Dispatch::subsample(x.into_dispatch(), stride, skip))
    } else {
        subsample_reference(x, stride, skip)
    }
}

/// The subsample as a Burn backend operation.
#[backend_extension(Flex, Autodiff)]
pub trait SubsampleBackend: burn::backend::Backend {
    /// `x: [N, C, H, W]` → every `stride`-th row and column from `skip` on.
    fn subsample(x: FloatTensor<Self>, stride: usize, skip: usize) -> FloatTensor<Self>;
}

/// The subsample's gradient, on backends that compute it.
pub trait SubsampleGrad: burn::backend::Backend {
    /// The gradient of an input of shape `xd` from the output gradient `dy`: `dy` at the places
    /// read, zero elsewhere.
    fn subsample_grad(dy: FloatTensor<Self>, xd: Dims, stride: usize, skip: usize) -> FloatTensor<Self>;
}

/// The output plane's `(rows, columns)` for an input plane of `d`.
fn out_plane(d: Dims, stride: usize, skip: usize) -> (usize, usize) {
    (out_len(d.h, stride, skip), out_len(d.w, stride, skip))
}

impl SubsampleBackend for Flex {
    fn subsample(x: FlexTensor, stride: usize, skip: usize) -> FlexTensor {
        let d = dims(&x);
        let x = contiguous(&x);
        let xs = values(&x);
        let (ho, wo) = out_plane(d, stride, skip);
        let y = planes(d.n * d.c * ho * wo, ho * wo, |p, yp| {
            let xp = &xs[p * d.plane()..(p + 1) * d.plane()];
            for (r, yr) in yp.chunks_exact_mut(wo).enumerate() {
                let xr = &xp[(skip + r * stride) * d.w..];
                for (o, v) in yr.iter_mut().zip(xr[skip..].iter().step_by(stride)) {
                    *o = *v;
                }
            }
        });
        tensor(y, [d.n, d.c, ho, wo])
    }
}

impl SubsampleGrad for Flex {
    fn subsample_grad(dy: FlexTensor, d: Dims, stride: usize, skip: usize) -> FlexTensor {
        let dy = contiguous(&dy);
        let g = values(&dy);
        let (ho, wo) = out_plane(d, stride, skip);
        let dx = planes(d.len(), d.plane(), |p, dxp| {
            let gp = &g[p * ho * wo..(p + 1) * ho * wo];
            for (r, gr) in gp.chunks_exact(wo).enumerate() {
                let row = &mut dxp[(skip + r * stride) * d.w..(skip + r * stride + 1) * d.w];
                for (o, v) in row[skip..].iter_mut().step_by(stride).zip(gr) {
                    *o = *v;
                }
            }
        });
        tensor(dx, [d.n, d.c, d.h, d.w])
    }
}

impl<B: SubsampleBackend + SubsampleGrad, C: CheckpointStrategy> SubsampleBackend for Autodiff<B, C> {
    fn subsample(x: FloatTensor<Self>, stride: usize, skip: usize) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct SubsampleBackward;

        impl<B: SubsampleGrad> Backward<B, 1> for SubsampleBackward {
            /// The input's shape, the stride and the skip.
            type State = (Dims, usize, usize);

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
                let (d, stride, skip) = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |dy| B::subsample_grad(dy, d, stride, skip));
            }
        }

        let d = dims(&x);
        match SubsampleBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((d, stride, skip), B::subsample(x.into_primitive(), stride, skip)),
            OpsKind::UnTracked(prep) => prep.finish(B::subsample(x.into_primitive(), stride, skip)),
        }
    }
}
