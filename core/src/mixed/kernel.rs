//! The node sum's CubeCL (wgpu) arm: our own WGSL kernels (the extension and its autodiff are in
//! `extension`).
//!
//! The kernel computes `out[n, s] = Σ_m coef[m, n] · y[m, n, s]` on the node's candidate outputs
//! stacked into one `[M, N, S]` tensor (`S = C·H·W`). The stacking is one copy; the kernel then reads
//! each input once and writes each output once, where the reference's chain of scaled adds reads and
//! writes the running sum M times. Backward is two kernels: `dy = coef · dout` (one read of `dout`,
//! one write per input) and `dcoef[m, n] = Σ_s y · dout` (a workgroup tree reduction per pair). The
//! coefficients are built from softmax(α) and the drop-path masks by ordinary tensor ops, so the
//! gradient reaches α through Burn's own softmax backward.
//!
//! Each kernel binds four storage buffers (WebGPU guarantees eight per stage), so the same sources
//! run in browsers.

use burn::backend::wgpu::{CubeBackend, CubeTensor};
use burn::tensor::Shape;
use rdarts_shaders::{NODE_SUM_FORWARD, NODE_SUM_GRAD_COEF, NODE_SUM_GRAD_INPUTS, ShaderSource};

use super::extension::{NodeSumBackend, NodeSumGrads};
use crate::kernels::wgsl;

/// Launches `shader` with buffers `inputs` and a fresh contiguous output of `out_shape`.
fn launch(shader: ShaderSource, inputs: [CubeTensor; 2], out_shape: Shape, dims: [usize; 3], groups: usize) -> CubeTensor {
    let [out] = wgsl::launch(shader, inputs, [out_shape], &dims.map(|d| wgsl::dim(d, "node sum dimension")), groups);
    out
}

/// `[M, N, S]` of a stacked input.
fn dims_of(y: &CubeTensor) -> [usize; 3] {
    let s = y.meta.shape();
    [s[0], s[1], s[2]]
}

impl NodeSumBackend for CubeBackend {
    fn node_sum(y: CubeTensor, coef: CubeTensor) -> CubeTensor {
        let [m, n, s] = dims_of(&y);
        launch(NODE_SUM_FORWARD, [y, coef], Shape::new([n, s]), [m, n, s], wgsl::per_element(n * s))
    }
}

impl NodeSumGrads for CubeBackend {
    fn node_sum_grad_inputs(coef: CubeTensor, dout: CubeTensor) -> CubeTensor {
        let (m, n) = (coef.meta.shape()[0], coef.meta.shape()[1]);
        let s = dout.meta.shape()[1];
        launch(NODE_SUM_GRAD_INPUTS, [coef, dout], Shape::new([m, n, s]), [m, n, s], wgsl::per_element(n * s))
    }

    fn node_sum_grad_coef(y: CubeTensor, dout: CubeTensor) -> CubeTensor {
        let [m, n, s] = dims_of(&y);
        launch(NODE_SUM_GRAD_COEF, [y, dout], Shape::new([m, n]), [m, n, s], m * n)
    }
}
