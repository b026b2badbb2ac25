//! Training-mode BatchNorm's CubeCL (wgpu) arm: our WGSL kernels, one launch forward and one
//! backward (the extension and its autodiff are in `extension`).
//!
//! Burn's generic version, which the CPU arm's module documentation describes, costs a chain of
//! launches on a GPU: layout copies, two reductions and the element-wise steps forward, about
//! twice as many backward. A search step runs some two hundred BatchNorms forward and backward
//! (every candidate operation ends in one), so their launches were a large share of the step's.
//! Each kernel binds seven storage buffers (WebGPU guarantees eight per stage), so the same
//! sources run in browsers.

use burn::backend::wgpu::{CubeBackend, CubeTensor};
use burn::tensor::Shape;
use rdarts_shaders::{BATCH_NORM_BACKWARD, BATCH_NORM_FORWARD, ShaderSource};

use super::extension::{BatchNormBackend, BatchNormGrads};
use crate::kernels::wgsl::{self, dim};

/// Invocations per workgroup (one workgroup per channel). Small, because a workgroup's passes
/// end in tree reductions whose barriers are what a software adapter pays for: the browser demo's
/// WebGPU step on SwiftShader took a median 3.1–3.3 s with 256, 2.2–2.3 s with 64, 1.8–2.2 s with
/// 32 and 1.8 s with 16, against 2.4 s with Burn's version (BENCHMARKS.md, 2026-12-02 (late)).
/// 32 fills one SIMD group of NVIDIA's, Apple's and AMD's (wave32) GPUs; whether more would pay on
/// a GPU, where barriers are cheap and C workgroups of 32 leave most of it idle, is unmeasured.
const BN_WORKGROUP: u32 = 32;

/// Launches one of the two kernels, a workgroup per channel, on inputs whose first is the
/// activation `x: [N, C, H, W]`: both return a tensor shaped like it and two of `[C]`. The size
/// buffer is `[N, C, H·W, eps]` (eps as the bits of an f32).
fn launch(shader: ShaderSource, inputs: [CubeTensor; 3], eps: f64) -> (CubeTensor, CubeTensor, CubeTensor) {
    let shape = inputs[0].meta.shape().clone();
    assert_eq!(shape.num_dims(), 4, "batch norm: input of rank {}, expected [N, C, H, W]", shape.num_dims());
    let (n, c, plane) = (shape[0], shape[1], shape[2] * shape[3]);
    let dims = [dim(n, "batch norm batch"), dim(c, "batch norm channels"), dim(plane, "batch norm plane"), (eps as f32).to_bits()];
    let [a, b, d] = wgsl::launch_with(shader, BN_WORKGROUP, inputs, [shape, Shape::new([c]), Shape::new([c])], &dims, c);
    (a, b, d)
}

impl BatchNormBackend for CubeBackend {
    fn batch_norm_train(x: CubeTensor, gamma: CubeTensor, beta: CubeTensor, eps: f64) -> (CubeTensor, CubeTensor, CubeTensor) {
        launch(BATCH_NORM_FORWARD, [x, gamma, beta], eps)
    }
}

impl BatchNormGrads for CubeBackend {
    /// The kernel recomputes the batch statistics from `x` (bit for bit the forward's; see the
    /// shader), so `mean` and `var` are not bound.
    fn batch_norm_train_grads(x: CubeTensor, gamma: CubeTensor, _mean: CubeTensor, _var: CubeTensor, eps: f64, dy: CubeTensor) -> (CubeTensor, CubeTensor, CubeTensor) {
        launch(BATCH_NORM_BACKWARD, [x, dy, gamma], eps)
    }
}
