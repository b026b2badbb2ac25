//! Training-mode BatchNorm (docs/ALGORITHM.md §2): every candidate op of a search cell ends in one.
//!
//! Two implementations compute the same function: Burn's `batch_norm_train` (every backend; the
//! reference) and, on the CPU backend, our own loops (`cpu`) registered with Burn's autodiff as a
//! backend extension (`extension`). Burn's generic version reduces per channel by swapping the
//! batch and channel axes, which costs a full layout copy of the activation for the statistics and
//! two more in the backward pass; ours reads NCHW planes in place. [`batch_norm_train`] is the one
//! entry point and picks by device and [`Kernels`].

pub mod cpu;
mod extension;

use burn::tensor::module::batch_norm_train as burn_batch_norm_train;
use burn::tensor::{DType, Tensor};

use crate::kernels::Kernels;

/// The output `(x − mean)/√(var + eps) · gamma + beta` with the batch's per-channel mean and
/// biased variance, returned alongside it (as values without gradient, for running statistics);
/// by our CPU loops where [`crate::kernels::uses_cpu_kernels`] says they run, else by Burn.
///
/// # Shapes
/// `x: [N, C, H, W]`, `gamma, beta: [C]` → (`[N, C, H, W]`, `[C]`, `[C]`).
pub fn batch_norm_train(x: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, eps: f64, choice: Kernels) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    if crate::kernels::uses_cpu_kernels(choice, &x.device()) && x.dtype() == DType::F32 && gamma.dtype() == DType::F32 {
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
