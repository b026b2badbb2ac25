//! SGD's update on wgpu as one WGSL kernel per parameter tensor (`shaders/wgsl/sgd_step.wgsl`):
//! the clipping factor, weight decay, momentum and the step in one launch, where the same rule in
//! tensor operations takes six. A supernet has hundreds of weight tensors, so this was a large
//! share of a search step's launches. Under Burn's fusion (feature `fusion`) each call is an
//! opaque operation in the fusion stream with its two outputs' shapes.

use burn::backend::tensor::FloatTensor;
use burn::backend::wgpu::{CubeBackend, CubeTensor};
use burn::backend::{Dispatch, backend_extension};
use burn::tensor::Tensor;
use rdarts_shaders::SGD_STEP;

use crate::kernels::wgsl::{self, dim};

/// The step's hyperparameters, as the kernel reads them (float32, as the tensor operations'
/// scalars are).
#[derive(Clone, Copy, Debug)]
pub struct SgdHyper {
    /// Learning rate.
    pub lr: f32,
    /// L2 weight decay.
    pub weight_decay: f32,
    /// Momentum factor.
    pub momentum: f32,
}

/// SGD's update as a Burn backend operation.
#[backend_extension(Cube: cfg(feature = "wgpu"), Fusion: cfg(feature = "fusion"))]
pub trait SgdBackend: burn::backend::Backend {
    /// `(p', buf')` from the parameter `p`, its gradient `g`, its momentum buffer `buf` (all of one
    /// shape) and the one-element clipping `factor`.
    #[fusion(meta = |p, _g, _buf, _factor, _h| (p.clone(), p.clone()))]
    fn sgd_step(p: FloatTensor<Self>, g: FloatTensor<Self>, buf: FloatTensor<Self>, factor: FloatTensor<Self>, h: SgdHyper) -> (FloatTensor<Self>, FloatTensor<Self>);
}

/// Through the extension; the caller checked that the tensors are on a CubeCL device.
pub fn sgd_step(p: Tensor<1>, g: Tensor<1>, buf: Tensor<1>, factor: Tensor<1>, h: SgdHyper) -> (Tensor<1>, Tensor<1>) {
    let (p, buf) = Dispatch::sgd_step(p.into_dispatch(), g.into_dispatch(), buf.into_dispatch(), factor.into_dispatch(), h);
    (Tensor::from_dispatch(p), Tensor::from_dispatch(buf))
}

impl SgdBackend for CubeBackend {
    fn sgd_step(p: CubeTensor, g: CubeTensor, buf: CubeTensor, factor: CubeTensor, h: SgdHyper) -> (CubeTensor, CubeTensor) {
        let shape = p.meta.shape().clone();
        let n = shape.num_elements();
        let dims = [dim(n, "parameter length"), h.lr.to_bits(), h.weight_decay.to_bits(), h.momentum.to_bits()];
        let [p, buf] = wgsl::launch(SGD_STEP, [p, g, buf, factor], [shape.clone(), shape], &dims, wgsl::per_element(n));
        (p, buf)
    }
}
