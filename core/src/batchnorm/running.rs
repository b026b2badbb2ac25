//! The running statistics' update on wgpu as one WGSL kernel launch per BatchNorm
//! (`shaders/wgsl/batch_norm_running.wgsl`), where the same rule in tensor operations takes seven.
//! Under Burn's fusion (feature `fusion`) each call is an opaque operation in the fusion stream
//! with its two outputs' shapes.

use burn::backend::tensor::FloatTensor;
use burn::backend::wgpu::{CubeBackend, CubeTensor};
use burn::backend::{Dispatch, backend_extension};
use burn::tensor::Tensor;
use rdarts_shaders::BATCH_NORM_RUNNING;

use crate::kernels::wgsl::{self, dim};

/// The update's coefficients as the kernel reads them (float32, as the tensor operations'
/// scalars are): `1 − momentum`, `momentum` and the variance's `count / (count − 1)`.
#[derive(Clone, Copy, Debug)]
pub struct RunningCoef {
    /// `1 − momentum`, rounded from float64 as the tensor operations round it.
    pub keep: f32,
    /// PyTorch's BatchNorm momentum.
    pub momentum: f32,
    /// `count / (count − 1)` (1 for a count of one).
    pub unbias: f32,
}

/// The running statistics' update as a Burn backend operation.
#[backend_extension(Cube: cfg(feature = "wgpu"), Fusion: cfg(feature = "fusion"))]
pub trait RunningStatsBackend: burn::backend::Backend {
    /// `(mean', var')` from the running and the batch statistics, all `[C]`.
    #[fusion(meta = |mean, _var, _batch_mean, _batch_var, _k| (mean.clone(), mean.clone()))]
    fn batch_norm_running(mean: FloatTensor<Self>, var: FloatTensor<Self>, batch_mean: FloatTensor<Self>, batch_var: FloatTensor<Self>, k: RunningCoef) -> (FloatTensor<Self>, FloatTensor<Self>);
}

/// Through the extension; the caller checked that the tensors are on a CubeCL device.
pub fn update(mean: Tensor<1>, var: Tensor<1>, batch_mean: Tensor<1>, batch_var: Tensor<1>, k: RunningCoef) -> (Tensor<1>, Tensor<1>) {
    let (mean, var) = Dispatch::batch_norm_running(mean.into_dispatch(), var.into_dispatch(), batch_mean.into_dispatch(), batch_var.into_dispatch(), k);
    (Tensor::from_dispatch(mean), Tensor::from_dispatch(var))
}

impl RunningStatsBackend for CubeBackend {
    fn batch_norm_running(mean: CubeTensor, var: CubeTensor, batch_mean: CubeTensor, batch_var: CubeTensor, k: RunningCoef) -> (CubeTensor, CubeTensor) {
        let shape = mean.meta.shape().clone();
        let c = shape.num_elements();
        let dims = [dim(c, "batch norm channels"), k.keep.to_bits(), k.momentum.to_bits(), k.unbias.to_bits()];
        let [mean, var] = wgsl::launch(BATCH_NORM_RUNNING, [mean, var, batch_mean, batch_var], [shape.clone(), shape], &dims, wgsl::per_element(c));
        (mean, var)
    }
}
