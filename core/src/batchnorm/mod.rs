//! Training-mode BatchNorm (docs/ALGORITHM.md §2): every candidate op of a search cell ends in one.
//!
//! Two implementations compute the same function: Burn's `batch_norm_train` (every backend; the
//! reference) and a backend extension (`extension`) registered with Burn's autodiff, with two
//! arms: our own loops on the CPU backend (`cpu`) and our WGSL kernels on wgpu (`kernel`, one
//! launch forward and one backward). Burn's generic version reduces per channel by swapping the
//! batch and channel axes, which costs a full layout copy of the activation for the statistics and
//! two more in the backward pass, besides a launch per element-wise step on a GPU; ours read NCHW
//! planes in place. [`batch_norm_train`] is the one entry point and picks by device and
//! [`Kernels`]. [`update_running`] updates the running statistics (one kernel launch on wgpu,
//! `running`).

pub mod cpu;
mod extension;
#[cfg(feature = "wgpu")]
mod kernel;
#[cfg(feature = "wgpu")]
mod running;

use burn::tensor::module::batch_norm_train as burn_batch_norm_train;
use burn::tensor::{DType, Tensor};

use crate::kernels::Kernels;

/// Whether [`batch_norm_train`] with `choice` runs our kernels for (float32) tensors on `device`.
pub use crate::kernels::uses_wgsl_or_cpu_kernels as uses_kernel;

/// The output `(x − mean)/√(var + eps) · gamma + beta` with the batch's per-channel mean and
/// biased variance, returned alongside it (as values without gradient, for running statistics);
/// by our kernels where [`uses_kernel`] says they run, else by Burn.
///
/// # Shapes
/// `x: [N, C, H, W]`, `gamma, beta: [C]` → (`[N, C, H, W]`, `[C]`, `[C]`).
pub fn batch_norm_train(x: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, eps: f64, choice: Kernels) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    if uses_kernel(choice, &x.device()) && x.dtype() == DType::F32 && gamma.dtype() == DType::F32 {
        let (y, mean, var) = extension::batch_norm_train(x, gamma, beta, eps);
        (y, mean.inner(), var.inner())
    } else {
        batch_norm_train_reference(x, gamma, beta, eps)
    }
}

/// Burn's training-mode BatchNorm (any backend): output, batch mean and biased batch variance
/// (the latter two without gradient).
pub fn batch_norm_train_reference(x: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, eps: f64) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    let out = burn_batch_norm_train(x, gamma, beta, eps);
    (out.output, out.mean.inner(), out.variance.inner())
}

/// PyTorch's update of the running statistics with a batch's `(batch_mean, batch_var)` (the
/// biased variance of `count` values per channel): `mean' = (1 − momentum) · mean + momentum ·
/// batch_mean`, `var' = (1 − momentum) · var + momentum · batch_var · count / (count − 1)`. One
/// WGSL kernel launch on wgpu unless `choice` forces the reference, tensor operations elsewhere.
pub fn update_running(mean: Tensor<1>, var: Tensor<1>, batch_mean: Tensor<1>, batch_var: Tensor<1>, momentum: f64, count: usize, choice: Kernels) -> (Tensor<1>, Tensor<1>) {
    let unbias = if count > 1 { count as f64 / (count - 1) as f64 } else { 1.0 };
    #[cfg(feature = "wgpu")]
    if crate::kernels::uses_wgsl_kernels(choice, &mean.device()) {
        let k = running::RunningCoef { keep: (1.0 - momentum) as f32, momentum: momentum as f32, unbias: unbias as f32 };
        return running::update(mean, var, batch_mean, batch_var, k);
    }
    let _ = choice;
    let batch_var = batch_var.mul_scalar(unbias);
    (mean.mul_scalar(1.0 - momentum) + batch_mean.mul_scalar(momentum), var.mul_scalar(1.0 - momentum) + batch_var.mul_scalar(momentum))
}
