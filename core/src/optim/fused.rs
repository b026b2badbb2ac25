//! SGD's update on wgpu as one WGSL kernel per parameter tensor (`shaders/wgsl/sgd_step.wgsl`):
//! the clipping factor, weight decay, momentum and the step in one launch, where the same rule in
//! tensor operations takes six. A supernet has hundreds of weight tensors, so this was a large
//! share of a search step's launches. And the squared global norm of those tensors (for
//! clipping, and second-order DARTS' finite-difference radius) as a chain of launches that each
//! add five tensors' sums of squares to a running total (`shaders/wgsl/sum_squares.wgsl`), where
//! joining them into one tensor took a launch per tensor. Under Burn's fusion (feature `fusion`)
//! each call is an opaque operation in the fusion stream with its outputs' shapes.

use burn::backend::tensor::FloatTensor;
use burn::backend::wgpu::{CubeBackend, CubeTensor};
use burn::backend::{Dispatch, backend_extension};
use burn::tensor::Tensor;
use rdarts_shaders::{SGD_STEP, SUM_SQUARES};

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

/// Tensors per link of the sum-of-squares chain: the shader's five slots, which with the running
/// total, the output and the sizes make the eight storage buffers WebGPU guarantees.
const SUM_SQUARES_SLOTS: usize = 5;

/// One link of the sum-of-squares chain as a Burn backend operation.
#[backend_extension(Cube: cfg(feature = "wgpu"), Fusion: cfg(feature = "fusion"))]
pub trait SumSquaresBackend: burn::backend::Backend {
    /// `acc + Σ_{t < count} ‖g_t‖²` as a one-element tensor, from the one-element running total
    /// `acc`; the slots from `count` on are not read.
    #[fusion(dtype = acc, shape = acc)]
    #[allow(clippy::too_many_arguments)]
    fn sum_squares(acc: FloatTensor<Self>, g0: FloatTensor<Self>, g1: FloatTensor<Self>, g2: FloatTensor<Self>, g3: FloatTensor<Self>, g4: FloatTensor<Self>, count: usize) -> FloatTensor<Self>;
}

/// `Σ_t ‖t‖²` over `ts` as a one-element tensor, by a chain of launches, five tensors each; the
/// caller checked that the tensors are float32 on a CubeCL device.
pub fn sum_squares(ts: &[Tensor<1>]) -> Tensor<1> {
    let Some(first) = ts.first() else { return Tensor::zeros([1], &Default::default()) };
    let one = |v: f32| Tensor::<1>::from_data(burn::tensor::TensorData::new(vec![v], [1]), &first.device());
    let mut acc = one(0.0);
    // Empty slots of a part last link take one-element tensors of their own (uploads, not
    // launches), which the kernel does not read: WebGPU refuses one buffer range bound writable
    // twice.
    let spare: Vec<Tensor<1>> = (0..(SUM_SQUARES_SLOTS - ts.len() % SUM_SQUARES_SLOTS) % SUM_SQUARES_SLOTS).map(|_| one(0.0)).collect();
    for chunk in ts.chunks(SUM_SQUARES_SLOTS) {
        let slot = |i: usize| chunk.get(i).unwrap_or_else(|| &spare[i - chunk.len()]).clone().into_dispatch();
        acc = Tensor::from_dispatch(Dispatch::sum_squares(acc.into_dispatch(), slot(0), slot(1), slot(2), slot(3), slot(4), chunk.len()));
    }
    acc
}

impl SumSquaresBackend for CubeBackend {
    fn sum_squares(acc: CubeTensor, g0: CubeTensor, g1: CubeTensor, g2: CubeTensor, g3: CubeTensor, g4: CubeTensor, count: usize) -> CubeTensor {
        let mut dims = vec![dim(count, "sum of squares slots")];
        dims.extend([&g0, &g1, &g2, &g3, &g4].map(|g| dim(g.meta.shape().num_elements(), "tensor length")));
        let [out] = wgsl::launch(SUM_SQUARES, [acc, g0, g1, g2, g3, g4], [burn::tensor::Shape::new([1])], &dims, 1);
        out
    }
}
