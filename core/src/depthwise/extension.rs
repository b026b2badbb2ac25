//! The depthwise convolution as a Burn backend extension, with its hand-written backward
//! registered with Burn's autodiff. The CPU (Flex) arm is our loops (`cpu`), the CubeCL (wgpu) arm
//! our WGSL kernels (`kernel`). Under Burn's fusion (feature `fusion`) each call is registered in
//! the fusion stream as an opaque operation with its output's shape, and runs our kernel when the
//! stream executes.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, binary};
use burn::backend::autodiff::Autodiff;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Dispatch, Flex, backend_extension};
use burn::tensor::Tensor;

use super::DwGeom;
use super::cpu;
use crate::kernels::autodiff::{Crossed, keep_crossed, retrieve_crossed};
use crate::kernels::host::{Dims, contiguous, dims, tensor, values};

/// The depthwise convolution as a Burn backend operation.
#[backend_extension(Cube: cfg(feature = "wgpu"), Fusion: cfg(feature = "fusion"), Flex, Autodiff)]
pub trait DepthwiseBackend: burn::backend::Backend {
    /// `x: [N, C, H, W]`, `w: [C, 1, k, k]` → `[N, C, Ho, Wo]`.
    #[fusion(dtype = x, shape = burn::tensor::Shape::new([x[0], x[1], g.out_len(x[2]), g.out_len(x[3])]))]
    fn depthwise_conv2d(x: FloatTensor<Self>, w: FloatTensor<Self>, g: DwGeom) -> FloatTensor<Self>;
}

/// The two gradients, on backends that compute them (called by the autodiff arm only).
#[backend_extension(Cube: cfg(feature = "wgpu"), Fusion: cfg(feature = "fusion"), Flex)]
pub trait DepthwiseGrads: burn::backend::Backend {
    /// The gradient of `x` (of shape `x_dims`) from the output gradient `dy`.
    #[fusion(dtype = dy, shape = burn::tensor::Shape::new([x_dims.n, x_dims.c, x_dims.h, x_dims.w]))]
    fn depthwise_grad_input(w: FloatTensor<Self>, dy: FloatTensor<Self>, x_dims: Dims, g: DwGeom) -> FloatTensor<Self>;
    /// The gradient of `w`, `[C, 1, k, k]`, from the output gradient `dy`.
    #[fusion(dtype = x, shape = burn::tensor::Shape::new([x[1], 1, g.kernel, g.kernel]))]
    fn depthwise_grad_weight(x: FloatTensor<Self>, dy: FloatTensor<Self>, g: DwGeom) -> FloatTensor<Self>;
}

/// Through the extension (autodiff included); the caller checked device and dtype.
pub fn depthwise_conv2d(x: Tensor<4>, w: Tensor<4>, g: DwGeom) -> Tensor<4> {
    Tensor::from_dispatch(Dispatch::depthwise_conv2d(x.into_dispatch(), w.into_dispatch(), g))
}

impl DepthwiseBackend for Flex {
    fn depthwise_conv2d(x: FlexTensor, w: FlexTensor, g: DwGeom) -> FlexTensor {
        let xd = dims(&x);
        let (x, w) = (contiguous(&x), contiguous(&w));
        let y = cpu::forward(values(&x), values(&w), xd, &g);
        tensor(y, [xd.n, xd.c, g.out_len(xd.h), g.out_len(xd.w)])
    }
}

impl DepthwiseGrads for Flex {
    /// At stride 1 the input's gradient is itself a depthwise convolution: of `dy` with each
    /// filter rotated by 180° and padding `dilation·(k − 1) − pad`, run by our forward pass.
    /// Other strides take our scattering loops.
    fn depthwise_grad_input(w: FlexTensor, dy: FlexTensor, xd: Dims, g: DwGeom) -> FlexTensor {
        let span = g.dilation * (g.kernel - 1);
        let (w, dy) = (contiguous(&w), contiguous(&dy));
        if g.stride == 1 && g.pad <= span {
            let kk = g.kernel * g.kernel;
            let rotated: Vec<f32> = values(&w).chunks_exact(kk).flat_map(|taps| taps.iter().rev().copied()).collect();
            let flipped = DwGeom { pad: span - g.pad, ..g };
            let dyd = Dims { h: g.out_len(xd.h), w: g.out_len(xd.w), ..xd };
            return tensor(cpu::forward(values(&dy), &rotated, dyd, &flipped), [xd.n, xd.c, xd.h, xd.w]);
        }
        tensor(cpu::grad_input(values(&dy), values(&w), xd, &g), [xd.n, xd.c, xd.h, xd.w])
    }

    fn depthwise_grad_weight(x: FlexTensor, dy: FlexTensor, g: DwGeom) -> FlexTensor {
        let xd = dims(&x);
        let (x, dy) = (contiguous(&x), contiguous(&dy));
        tensor(cpu::grad_weight(values(&x), values(&dy), xd, &g), [xd.c, 1, g.kernel, g.kernel])
    }
}

impl<B: DepthwiseBackend + DepthwiseGrads, C: CheckpointStrategy> DepthwiseBackend for Autodiff<B, C> {
    fn depthwise_conv2d(x: FloatTensor<Self>, w: FloatTensor<Self>, g: DwGeom) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct DepthwiseBackward;

        impl<B: DepthwiseGrads> Backward<B, 2> for DepthwiseBackward {
            /// The input (for the weight's gradient), the weight (for the input's), the input's
            /// shape and the geometry.
            type State = (Crossed, Dims, DwGeom);

            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let (kept, xd, g) = ops.state;
                let (x, w) = retrieve_crossed::<B>(kept, checkpointer);
                binary::<B, _, _>(
                    ops.parents,
                    ops.node,
                    grads,
                    |dy| B::depthwise_grad_input(w.expect("w kept for dx"), dy, xd, g),
                    |dy| B::depthwise_grad_weight(x.expect("x kept for dw"), dy, g),
                );
            }
        }

        let xd = dims(&x);
        match DepthwiseBackward.prepare::<C>([x.node(), w.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let kept = keep_crossed(&mut prep, &x, &w);
                prep.finish((kept, xd, g), B::depthwise_conv2d(x.into_primitive(), w.into_primitive(), g))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::depthwise_conv2d(x.into_primitive(), w.into_primitive(), g)),
        }
    }
}
