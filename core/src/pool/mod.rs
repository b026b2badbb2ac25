//! Max and average pooling on NCHW as a Burn backend extension, with hand-written backward passes
//! registered with Burn's autodiff: on wgpu our WGSL kernels (`shaders/wgsl/*pool*.wgsl`), one
//! launch each way; on the CPU backend our loops (`cpu`), which compute exactly what Burn's CPU
//! pooling computes, faster (see there). Burn's CubeCL pooling works on NHWC, so it permutes the
//! input and the output (and the max pool's indices) around every call and every gradient: in an
//! S5 search step those copies were 2 344 of 25 338 launches (BENCHMARKS.md, 2026-12-03 (midday)).
//!
//! The max pool keeps its winners (the flat in-plane index `iy·W + ix` of each window's maximum,
//! as a float) for its backward pass and for the kink tape, whose replay routes a moved input
//! through them ([`gather_winners`]). Average pooling does not count the padding, as DARTS' pooling
//! ops (PyTorch's `count_include_pad=False`).
//!
//! `--kernels reference` keeps Burn's pooling ([`uses_kernel`]). [`avg_pool`] and [`max_pool`] are
//! the entry points and pick by device and [`Kernels`].

mod cpu;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::autodiff::Autodiff;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Dispatch, Flex, backend_extension};
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
use burn::tensor::{DType, Tensor};

use crate::kernels::host::{Dims, contiguous, dims, shape, tensor, values};
use crate::kernels::Kernels;

/// A square pooling window: `size`×`size` taps, moved by `stride`, over an input with `pad`
/// positions of padding on every side (at most half the window, so that every window has a tap
/// inside the input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Side of the window.
    pub size: usize,
    /// Stride.
    pub stride: usize,
    /// Padding on every side.
    pub pad: usize,
}

impl Window {
    /// DARTS' pooling window: 3×3, padding 1, the given stride.
    pub fn darts(stride: usize) -> Self {
        Self { size: 3, stride, pad: 1 }
    }

    /// The output side for an input side `n`: ⌊(n + 2·pad − size) / stride⌋ + 1.
    ///
    /// # Panics
    /// If the window does not fit the padded input, or its padding exceeds half of it (shape
    /// errors of the caller).
    pub fn out_len(&self, n: usize) -> usize {
        assert!(2 * self.pad <= self.size && self.stride > 0, "pooling: padding {} on a window of {} (stride {})", self.pad, self.size, self.stride);
        assert!(n + 2 * self.pad >= self.size, "pooling: a {}-wide window on a padded side of {}", self.size, n + 2 * self.pad);
        (n + 2 * self.pad - self.size) / self.stride + 1
    }

    /// The output shape for an input of shape `x`, `[N, C, Ho, Wo]`.
    pub fn out_shape(&self, x: &burn::tensor::Shape) -> burn::tensor::Shape {
        burn::tensor::Shape::new([x[0], x[1], self.out_len(x[2]), self.out_len(x[3])])
    }
}

/// Pooling as Burn backend operations.
#[backend_extension(Cube: cfg(feature = "wgpu"), Fusion: cfg(feature = "fusion"), Flex, Autodiff)]
pub trait PoolBackend: burn::backend::Backend {
    /// `x: [N, C, H, W]` → the windows' means over their taps inside the input, `[N, C, Ho, Wo]`.
    #[fusion(dtype = x, shape = window.out_shape(x))]
    fn avg_pool_kernel(x: FloatTensor<Self>, window: Window) -> FloatTensor<Self>;
    /// `x: [N, C, H, W]` → (the windows' maxima, their winners), each `[N, C, Ho, Wo]`; only the
    /// maxima carry gradients.
    #[fusion(meta = |x, window| {
        let spec = burn::backend::fusion::custom::TensorSpec::new(window.out_shape(&x.shape), x.dtype);
        (spec.clone(), spec)
    })]
    fn max_pool_kernel(x: FloatTensor<Self>, window: Window) -> (FloatTensor<Self>, FloatTensor<Self>);
    /// `x: [N, C, H, W]`, `winners: [N, C, Ho, Wo]` → `x` at the winners, `[N, C, Ho, Wo]`.
    #[fusion(dtype = x, shape = winners)]
    fn pool_gather_kernel(x: FloatTensor<Self>, winners: FloatTensor<Self>, window: Window) -> FloatTensor<Self>;
}

/// The backward passes, on backends that compute them (called by the autodiff arm only).
#[backend_extension(Cube: cfg(feature = "wgpu"), Fusion: cfg(feature = "fusion"), Flex)]
pub trait PoolGrads: burn::backend::Backend {
    /// The gradient of an average pool's input (of shape `x`) from the output gradient `dy`.
    #[fusion(dtype = dy, shape = burn::tensor::Shape::new([x.n, x.c, x.h, x.w]))]
    fn avg_pool_kernel_backward(dy: FloatTensor<Self>, x: Dims, window: Window) -> FloatTensor<Self>;
    /// The gradient of a max pool's input (of shape `x`) from the output gradient `dy`, routed
    /// through the winners.
    #[fusion(dtype = dy, shape = burn::tensor::Shape::new([x.n, x.c, x.h, x.w]))]
    fn max_pool_kernel_backward(dy: FloatTensor<Self>, winners: FloatTensor<Self>, x: Dims, window: Window) -> FloatTensor<Self>;
}

/// Whether [`avg_pool`] and [`max_pool`] with `choice` run our kernels for (float32) tensors on
/// `device`: on wgpu and on the CPU backend unless the reference is forced.
pub use crate::kernels::uses_wgsl_or_cpu_kernels as uses_kernel;

/// Whether our kernels take `x` with `choice`: [`uses_kernel`] on its device, and float32.
pub fn kernel_for(x: &Tensor<4>, choice: Kernels) -> bool {
    uses_kernel(choice, &x.device()) && x.dtype() == DType::F32
}

/// Average pooling of `x` over `window`, the padding not counted: our kernels where
/// [`uses_kernel`], Burn's `avg_pool2d` elsewhere.
///
/// # Shapes
/// `[N, C, H, W]` → `[N, C, Ho, Wo]`.
pub fn avg_pool(x: Tensor<4>, window: Window, choice: Kernels) -> Tensor<4> {
    if kernel_for(&x, choice) {
        return Tensor::from_dispatch(Dispatch::avg_pool_kernel(x.into_dispatch(), window));
    }
    let o = AvgPoolOptions::new([window.size; 2]).with_stride([window.stride; 2]).with_padding([window.pad; 2]).with_count_include_pad(false);
    avg_pool2d(x, o)
}

/// Max pooling of `x` over `window`: our kernels where [`uses_kernel`], Burn's `max_pool2d`
/// elsewhere.
///
/// # Shapes
/// `[N, C, H, W]` → `[N, C, Ho, Wo]`.
pub fn max_pool(x: Tensor<4>, window: Window, choice: Kernels) -> Tensor<4> {
    if kernel_for(&x, choice) {
        return max_pool_with_winners(x, window).0;
    }
    max_pool2d(x, MaxPoolOptions::new([window.size; 2]).with_stride([window.stride; 2]).with_padding([window.pad; 2]))
}

/// Our max pool (the caller checked [`uses_kernel`] and the float type): the maxima and their
/// winners (flat in-plane indices, as floats; never tracked).
///
/// # Shapes
/// `[N, C, H, W]` → `([N, C, Ho, Wo], [N, C, Ho, Wo])`.
///
/// # Panics
/// If a plane has 2^24 elements or more (its indices would not be exact floats).
pub fn max_pool_with_winners(x: Tensor<4>, window: Window) -> (Tensor<4>, Tensor<4>) {
    let [_, _, h, w] = x.dims();
    assert!(h * w < 1 << 24, "max pool: a plane of {h}×{w} has indices beyond float precision");
    let (y, winners) = Dispatch::max_pool_kernel(x.into_dispatch(), window);
    (Tensor::from_dispatch(y), Tensor::from_dispatch(winners))
}

/// `x` at the `winners` of an earlier [`max_pool_with_winners`] over the same `window`: the max
/// pool with its routing held fixed (the kink tape's replay). Its gradient reaches `x` through the
/// same winners.
///
/// # Shapes
/// `[N, C, H, W]`, `[N, C, Ho, Wo]` → `[N, C, Ho, Wo]`.
pub fn gather_winners(x: Tensor<4>, winners: Tensor<4>, window: Window) -> Tensor<4> {
    Tensor::from_dispatch(Dispatch::pool_gather_kernel(x.into_dispatch(), winners.into_dispatch(), window))
}

/// The backward of an average pool: the input's shape and the window.
#[derive(Debug)]
struct AvgPoolBackward;

impl<B: PoolGrads> Backward<B, 1> for AvgPoolBackward {
    type State = (Dims, Window);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let (x, window) = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |dy| B::avg_pool_kernel_backward(dy, x, window));
    }
}

/// The backward of a max pool and of its replay: the winners, the input's shape and the window.
#[derive(Debug)]
struct WinnersBackward;

impl<B: PoolGrads> Backward<B, 1> for WinnersBackward {
    type State = (FloatTensor<B>, Dims, Window);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let (winners, x, window) = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |dy| B::max_pool_kernel_backward(dy, winners, x, window));
    }
}

impl<B: PoolBackend + PoolGrads, C: CheckpointStrategy> PoolBackend for Autodiff<B, C> {
    fn avg_pool_kernel(x: FloatTensor<Self>, window: Window) -> FloatTensor<Self> {
        let d = dims(&x);
        match AvgPoolBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((d, window), B::avg_pool_kernel(x.into_primitive(), window)),
            OpsKind::UnTracked(prep) => prep.finish(B::avg_pool_kernel(x.into_primitive(), window)),
        }
    }

    fn max_pool_kernel(x: FloatTensor<Self>, window: Window) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let d = dims(&x);
        match WinnersBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (y, winners) = B::max_pool_kernel(x.into_primitive(), window);
                (prep.finish((winners.clone(), d, window), y), Self::from_inner(winners))
            }
            OpsKind::UnTracked(prep) => {
                let (y, winners) = B::max_pool_kernel(x.into_primitive(), window);
                (prep.finish(y), Self::from_inner(winners))
            }
        }
    }

    fn pool_gather_kernel(x: FloatTensor<Self>, winners: FloatTensor<Self>, window: Window) -> FloatTensor<Self> {
        let d = dims(&x);
        let winners = winners.into_primitive();
        match WinnersBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((winners.clone(), d, window), B::pool_gather_kernel(x.into_primitive(), winners, window)),
            OpsKind::UnTracked(prep) => prep.finish(B::pool_gather_kernel(x.into_primitive(), winners, window)),
        }
    }
}

impl PoolBackend for Flex {
    fn avg_pool_kernel(x: FlexTensor, window: Window) -> FlexTensor {
        let d = dims(&x);
        let x = contiguous(&x);
        tensor(cpu::avg_forward(values(&x), d, window), out_dims(d, window))
    }

    fn max_pool_kernel(x: FlexTensor, window: Window) -> (FlexTensor, FlexTensor) {
        let d = dims(&x);
        let x = contiguous(&x);
        let winners = cpu::winners(values(&x), d, window);
        let y = cpu::gather(values(&x), &winners, d);
        (tensor(y, out_dims(d, window)), tensor(winners, out_dims(d, window)))
    }

    fn pool_gather_kernel(x: FlexTensor, winners: FlexTensor, window: Window) -> FlexTensor {
        let d = dims(&x);
        assert_eq!(shape::<4>(&winners), out_dims(d, window), "pool gather: winners of another shape than the window's output");
        let (x, winners) = (contiguous(&x), contiguous(&winners));
        tensor(cpu::gather(values(&x), values(&winners), d), out_dims(d, window))
    }
}

impl PoolGrads for Flex {
    fn avg_pool_kernel_backward(dy: FlexTensor, x: Dims, window: Window) -> FlexTensor {
        let dy = contiguous(&dy);
        tensor(cpu::avg_backward(values(&dy), x, window), [x.n, x.c, x.h, x.w])
    }

    fn max_pool_kernel_backward(dy: FlexTensor, winners: FlexTensor, x: Dims, window: Window) -> FlexTensor {
        let (dy, winners) = (contiguous(&dy), contiguous(&winners));
        assert_eq!(shape::<4>(&winners), out_dims(x, window), "max pool backward: winners of another shape than the window's output");
        tensor(cpu::max_backward(values(&dy), values(&winners), x), [x.n, x.c, x.h, x.w])
    }
}

/// The output shape `[N, C, Ho, Wo]` of `window` on an input of `x`'s.
fn out_dims(x: Dims, window: Window) -> [usize; 4] {
    [x.n, x.c, window.out_len(x.h), window.out_len(x.w)]
}

#[cfg(feature = "wgpu")]
mod kernel {
    use burn::backend::wgpu::{CubeBackend, CubeTensor};
    use rdarts_shaders::{AVG_POOL_BACKWARD, AVG_POOL_FORWARD, MAX_POOL_BACKWARD, MAX_POOL_FORWARD, POOL_GATHER, ShaderSource};

    use super::{Dims, PoolBackend, PoolGrads, Window};
    use crate::kernels::wgsl::{self, dim, nchw};

    /// The size buffer every pooling kernel reads, `[N·C, H, W, Ho, Wo, k, stride, pad]`, and the
    /// output's shape.
    fn sizes(x: Dims, window: Window) -> ([u32; 8], burn::tensor::Shape) {
        let (ho, wo) = (window.out_len(x.h), window.out_len(x.w));
        let dims = [x.n * x.c, x.h, x.w, ho, wo, window.size, window.stride, window.pad].map(|d| dim(d, "pooling size"));
        (dims, burn::tensor::Shape::new([x.n, x.c, ho, wo]))
    }

    /// One launch of a kernel with one invocation per output element (`out` of shape `out_shape`)
    /// over `inputs`.
    fn launch<const I: usize, const O: usize>(shader: ShaderSource, inputs: [CubeTensor; I], out_shape: burn::tensor::Shape, dims: [u32; 8]) -> [CubeTensor; O] {
        let groups = wgsl::per_element(out_shape.num_elements());
        wgsl::launch(shader, inputs, std::array::from_fn(|_| out_shape.clone()), &dims, groups)
    }

    /// The input's shape as the size buffer's `[N, C, H, W]`, for a backward kernel (one invocation
    /// per input element).
    fn input_shape(x: Dims) -> burn::tensor::Shape {
        burn::tensor::Shape::new([x.n, x.c, x.h, x.w])
    }

    impl PoolBackend for CubeBackend {
        fn avg_pool_kernel(x: CubeTensor, window: Window) -> CubeTensor {
            let (dims, out) = sizes(nchw(&x, "pooling"), window);
            let [y] = launch(AVG_POOL_FORWARD, [x], out, dims);
            y
        }

        fn max_pool_kernel(x: CubeTensor, window: Window) -> (CubeTensor, CubeTensor) {
            let (dims, out) = sizes(nchw(&x, "pooling"), window);
            let [y, winners] = launch(MAX_POOL_FORWARD, [x], out, dims);
            (y, winners)
        }

        fn pool_gather_kernel(x: CubeTensor, winners: CubeTensor, window: Window) -> CubeTensor {
            let (dims, out) = sizes(nchw(&x, "pooling"), window);
            assert_eq!(winners.meta.shape(), &out, "pool gather: winners of another shape than the window's output");
            let [y] = launch(POOL_GATHER, [x, winners], out, dims);
            y
        }
    }

    impl PoolGrads for CubeBackend {
        fn avg_pool_kernel_backward(dy: CubeTensor, x: Dims, window: Window) -> CubeTensor {
            let (dims, _) = sizes(x, window);
            let [dx] = launch(AVG_POOL_BACKWARD, [dy], input_shape(x), dims);
            dx
        }

        fn max_pool_kernel_backward(dy: CubeTensor, winners: CubeTensor, x: Dims, window: Window) -> CubeTensor {
            let (dims, _) = sizes(x, window);
            let [dx] = launch(MAX_POOL_BACKWARD, [dy, winners], input_shape(x), dims);
            dx
        }
    }
}
