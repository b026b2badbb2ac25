//! The depthwise convolution (one k×k filter per channel; `groups = C_in = C_out`), which with
//! the 1×1 convolution makes up DARTS' separable and dilated convolutions (docs/ALGORITHM.md §2).
//!
//! Two implementations compute the same function: [`depthwise_conv2d_reference`] (Burn's grouped
//! `conv2d`, every backend) and a backend extension (`extension`) whose forward pass and backward
//! (registered with Burn's autodiff) have two arms. On the CPU backend, our loops (`cpu`): the
//! input's gradient at stride 1 as a forward convolution with rotated filters, at other strides
//! and for the weight by loops of their own. Burn's CPU backend differentiates a grouped
//! convolution as a transposed convolution for the input and one small convolution per group for
//! the weight, with layout copies in between (a third of a search step at the paper's shape), and
//! its forward pass updates each output row in memory once per tap with scalar tails on 8- to
//! 32-wide rows. On wgpu, our WGSL kernels (`kernel`), one launch each way. [`depthwise_conv2d`]
//! is the one entry point and picks by device and [`Kernels`].

pub mod cpu;
mod extension;
#[cfg(feature = "wgpu")]
mod kernel;

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor};

use crate::kernels::Kernels;

/// The geometry of a depthwise convolution: a `kernel`×`kernel` filter with `stride`, `pad` zeros
/// on every side and `dilation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DwGeom {
    /// Kernel side.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on every side.
    pub pad: usize,
    /// Dilation.
    pub dilation: usize,
}

impl DwGeom {
    /// The output side for an input side `n`: ⌊(n + 2·pad − dilation·(kernel − 1) − 1) / stride⌋ + 1.
    ///
    /// # Panics
    /// If the dilated kernel does not fit in the padded input (a shape error of the caller).
    pub fn out_len(&self, n: usize) -> usize {
        let span = self.dilation * (self.kernel - 1) + 1;
        assert!(n + 2 * self.pad >= span, "depthwise conv: a {span}-wide dilated kernel on a padded side of {}", n + 2 * self.pad);
        (n + 2 * self.pad - span) / self.stride + 1
    }

    pub(crate) fn options(&self, channels: usize) -> ConvOptions<2> {
        ConvOptions::new([self.stride; 2], [self.pad; 2], [self.dilation; 2], channels)
    }
}

/// Whether [`depthwise_conv2d`] with `choice` runs our kernels for (float32) tensors on `device`.
pub use crate::kernels::uses_wgsl_or_cpu_kernels as uses_kernel;

/// The depthwise convolution by Burn's grouped `conv2d` (any backend).
///
/// # Shapes
/// `x: [N, C, H, W]`, `w: [C, 1, k, k]` → `[N, C, Ho, Wo]`.
pub fn depthwise_conv2d_reference(x: Tensor<4>, w: Tensor<4>, g: DwGeom) -> Tensor<4> {
    let c = w.dims()[0];
    conv2d(x, w, None, g.options(c))
}

/// The depthwise convolution, by our kernels or the reference (see [`uses_kernel`]).
///
/// # Shapes
/// `x: [N, C, H, W]`, `w: [C, 1, k, k]` → `[N, C, Ho, Wo]`.
pub fn depthwise_conv2d(x: Tensor<4>, w: Tensor<4>, g: DwGeom, choice: Kernels) -> Tensor<4> {
    let [_, c, _, _] = x.dims();
    assert_eq!(w.dims(), [c, 1, g.kernel, g.kernel], "depthwise conv: weight shape for {c} channels and a {}×{} kernel", g.kernel, g.kernel);
    if uses_kernel(choice, &x.device()) && x.dtype() == DType::F32 && w.dtype() == DType::F32 {
        extension::depthwise_conv2d(x, w, g)
    } else {
        depthwise_conv2d_reference(x, w, g)
    }
}
