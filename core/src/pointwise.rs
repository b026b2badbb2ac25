//! A 1×1 convolution at stride 1 without padding as a matrix product per sample:
//! `y[n] = W · x[n]` for `x: [N, C_in, H, W]`, `W: [C_out, C_in]` (`ops::Conv` subsamples first
//! for larger strides).
//!
//! On the CPU backend a backend extension: one product per sample by the GEMM crate that Burn's
//! CPU backend uses, the samples spread over the worker threads, every output written once.
//! Burn's batched matrix product (what this replaces there, and what wgpu still runs) zeroes each
//! output on the calling thread before its product: at the paper's search shape 6 % of an S2
//! step's CPU time, while the other core waited. The weight gradient `Σ_n dy[n] · x[n]ᵀ` is summed
//! in fixed groups of samples, then the groups in order, so the result does not depend on how the
//! threads share the work.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, binary};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, Flex, backend_extension};
use burn::tensor::Tensor;

use crate::kernels::autodiff::{Crossed, keep_crossed, retrieve_crossed};
use crate::kernels::host::{contiguous, for_each_plane, shape, tensor, values};

/// Samples whose weight-gradient products one piece of work sums (the pieces' sums are then added
/// in order): a fixed grouping keeps the sum's order, and so its rounding, the same on any
/// number of threads.
const SAMPLES_PER_PIECE: usize = 4;

/// `y[n] = w · x[n]` through the CPU extension (float32 tensors on the CPU backend; the caller
/// checks).
///
/// # Shapes
/// `x: [N, C_in, H, W]`, `w: [C_out, C_in]` → `[N, C_out, H, W]`.
pub fn pointwise_conv(x: Tensor<4>, w: Tensor<2>) -> Tensor<4> {
    Tensor::from_dispatch(Dispatch::pointwise_conv(x.into_dispatch(), w.into_dispatch()))
}

/// The 1×1 convolution as a Burn backend operation.
#[backend_extension(Flex, Autodiff)]
pub trait PointwiseBackend: burn::backend::Backend {
    /// `x: [N, C_in, H, W]`, `w: [C_out, C_in]` → `y[n] = w · x[n]`, `[N, C_out, H, W]`.
    fn pointwise_conv(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// The 1×1 convolution's gradients, on backends that compute them.
pub trait PointwiseGrads: burn::backend::Backend {
    /// `dx[n] = wᵀ · dy[n]`.
    fn pointwise_grad_input(w: FloatTensor<Self>, dy: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `dw = Σ_n dy[n] · x[n]ᵀ`.
    fn pointwise_grad_weight(x: FloatTensor<Self>, dy: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// A matrix inside a slice: element (i, j) at `i · rs + j · cs`.
#[derive(Clone, Copy, Debug)]
struct Mat {
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl Mat {
    /// A row-major `rows × cols` matrix.
    fn rows(rows: usize, cols: usize) -> Self {
        Mat { rows, cols, rs: cols, cs: 1 }
    }

    /// The transpose of a row-major `rows × cols` matrix (`cols × rows`).
    fn transposed(rows: usize, cols: usize) -> Self {
        Mat { rows: cols, cols: rows, rs: 1, cs: cols }
    }

    /// One past the largest offset of an element.
    fn end(&self) -> usize {
        match self.rows * self.cols {
            0 => 0,
            _ => (self.rows - 1) * self.rs + (self.cols - 1) * self.cs + 1,
        }
    }
}

/// `dst = a · b`, or `dst += a · b` with `accumulate`, by the GEMM crate on the calling thread.
/// `dst` may be uninitialised unless `accumulate`: every element of it is then written.
fn gemm_into(dst: &mut [std::mem::MaybeUninit<f32>], d: Mat, accumulate: bool, a: &[f32], am: Mat, b: &[f32], bm: Mat) {
    assert!(d.rows == am.rows && d.cols == bm.cols && am.cols == bm.rows, "gemm_into: {d:?} = {am:?} · {bm:?}");
    assert!(d.end() <= dst.len() && am.end() <= a.len() && bm.end() <= b.len(), "gemm_into: a matrix beyond its slice");
    assert!(am.cols > 0, "gemm_into: an empty inner dimension");
    #[allow(unsafe_code)]
    // SAFETY: the asserts keep every element gemm reads or writes inside its slice; `dst` is
    // borrowed mutably, so it aliases neither input; with `read_dst` false gemm only writes `dst`
    // (alpha is then ignored), so uninitialised elements are never read.
    unsafe {
        gemm::gemm(
            d.rows,
            d.cols,
            am.cols,
            dst.as_mut_ptr().cast::<f32>(),
            d.cs as isize,
            d.rs as isize,
            accumulate,
            a.as_ptr(),
            am.cs as isize,
            am.rs as isize,
            b.as_ptr(),
            bm.cs as isize,
            bm.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `[N, rows, cols]` made by `f(n, sample's output)`, which writes every element of it: the
/// samples over the worker threads, straight into the result's memory.
fn per_sample(n: usize, rows: usize, cols: usize, f: impl Fn(usize, &mut [std::mem::MaybeUninit<f32>]) + Send + Sync) -> Vec<f32> {
    let len = n * rows * cols;
    let mut out = Vec::with_capacity(len);
    if len > 0 {
        for_each_plane(&mut out.spare_capacity_mut()[..len], rows * cols, f);
    }
    #[allow(unsafe_code)]
    // SAFETY: the capacity is at least `len`, and `f` has written every element of each of the
    // `n` chunks of `rows · cols` that tile it (gemm_into without accumulation writes all of its
    // destination).
    unsafe {
        out.set_len(len);
    }
    out
}

impl PointwiseBackend for Flex {
    fn pointwise_conv(x: FlexTensor, w: FlexTensor) -> FlexTensor {
        let [n, c_in, h, wd] = shape::<4>(&x);
        let [c_out, w_in] = shape::<2>(&w);
        assert_eq!(c_in, w_in, "pointwise_conv: x has {c_in} channels, w takes {w_in}");
        let (x, w) = (contiguous(&x), contiguous(&w));
        let (xs, ws, hw) = (values(&x), values(&w), h * wd);
        let y = per_sample(n, c_out, hw, |s, ys| {
            gemm_into(ys, Mat::rows(c_out, hw), false, ws, Mat::rows(c_out, c_in), &xs[s * c_in * hw..(s + 1) * c_in * hw], Mat::rows(c_in, hw));
        });
        tensor(y, [n, c_out, h, wd])
    }
}

impl PointwiseGrads for Flex {
    fn pointwise_grad_input(w: FlexTensor, dy: FlexTensor) -> FlexTensor {
        let [n, c_out, h, wd] = shape::<4>(&dy);
        let [_, c_in] = shape::<2>(&w);
        let (w, dy) = (contiguous(&w), contiguous(&dy));
        let (ws, g, hw) = (values(&w), values(&dy), h * wd);
        let dx = per_sample(n, c_in, hw, |s, dxs| {
            gemm_into(dxs, Mat::rows(c_in, hw), false, ws, Mat::transposed(c_out, c_in), &g[s * c_out * hw..(s + 1) * c_out * hw], Mat::rows(c_out, hw));
        });
        tensor(dx, [n, c_in, h, wd])
    }

    fn pointwise_grad_weight(x: FlexTensor, dy: FlexTensor) -> FlexTensor {
        let [n, c_in, h, wd] = shape::<4>(&x);
        let c_out = shape::<4>(&dy)[1];
        let (x, dy) = (contiguous(&x), contiguous(&dy));
        let (xs, g, hw) = (values(&x), values(&dy), h * wd);
        if n == 0 {
            return tensor(vec![0.0; c_out * c_in], [c_out, c_in]);
        }
        let pieces = n.div_ceil(SAMPLES_PER_PIECE);
        // One partial sum per piece, each over its samples in order, then the pieces in order.
        let partial = per_sample(pieces, c_out, c_in, |p, dw| {
            let samples = p * SAMPLES_PER_PIECE..((p + 1) * SAMPLES_PER_PIECE).min(n);
            for (i, s) in samples.enumerate() {
                let gs = &g[s * c_out * hw..(s + 1) * c_out * hw];
                let x_t = &xs[s * c_in * hw..(s + 1) * c_in * hw];
                gemm_into(dw, Mat::rows(c_out, c_in), i > 0, gs, Mat::rows(c_out, hw), x_t, Mat::transposed(c_in, hw));
            }
        });
        let mut dw = partial[..c_out * c_in].to_vec();
        for piece in partial.chunks_exact(c_out * c_in).skip(1) {
            dw.iter_mut().zip(piece).for_each(|(d, p)| *d += p);
        }
        tensor(dw, [c_out, c_in])
    }
}

impl<B: PointwiseBackend + PointwiseGrads, C: CheckpointStrategy> PointwiseBackend for Autodiff<B, C> {
    fn pointwise_conv(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct PointwiseBackward;

        impl<B: PointwiseGrads> Backward<B, 2> for PointwiseBackward {
            /// The input (for the weight's gradient) and the weight (for the input's).
            type State = Crossed;

            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let (x, w) = retrieve_crossed::<B>(ops.state, checkpointer);
                binary::<B, _, _>(
                    ops.parents,
                    ops.node,
                    grads,
                    |dy| B::pointwise_grad_input(w.expect("w kept for dx"), dy),
                    |dy| B::pointwise_grad_weight(x.expect("x kept for dw"), dy),
                );
            }
        }

        match PointwiseBackward.prepare::<C>([x.node(), w.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let kept = keep_crossed(&mut prep, &x, &w);
                prep.finish(kept, B::pointwise_conv(x.into_primitive(), w.into_primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::pointwise_conv(x.into_primitive(), w.into_primitive())),
        }
    }
}
