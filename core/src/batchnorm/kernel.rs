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
use rdarts_shaders::{BATCH_NORM_BACKWARD, BATCH_NORM_FORWARD};

use super::extension::{BatchNormBackend, BatchNormGrads};
use crate::kernels::wgsl::{self, dim};

/// Invocations per workgroup (one workgroup per channel). Small, because a workgroup's passes
/// end in tree reductions whose barriers are what a software adapter pays for: the browser demo's
/// WebGPU step on SwiftShader took a median 3.1–3.3 s with 256, 2.2–2.3 s with 64, 1.8–2.2 s with
/// 32 and 1.8 s with 16, against 2.4 s with Burn's version (BENCHMARKS.md, 2026-12-02 (late)).
/// 32 fills one SIMD group of NVIDIA's, Apple's and AMD's (wave32) GPUs; whether more would pay on
/// a GPU, where barriers are cheap and C workgroups of 32 leave most of it idle, is unmeasured.
const BN_WORKGROUP: u32 = 32;

/// `[N, C, H·W, eps]` for the kernels' size buffer (eps as the bits of an f32), and C.
fn sizes(x: &CubeTensor, eps: f64) -> ([u32; 4], usize) {
    let s = x.meta.shape();
    assert_eq!(s.num_dims(), 4, "batch norm: input of rank {}, expected [N, C, H, W]", s.num_dims());
    let (n, c, plane) = (s[0], s[1], s[2] * s[3]);
    ([dim(n, "batch norm batch"), dim(c, "batch norm channels"), dim(plane, "batch norm plane"), (eps as f32).to_bits()], c)
}

impl BatchNormBackend for CubeBackend {
    fn batch_norm_train(x: CubeTensor, gamma: CubeTensor, beta: CubeTensor, eps: f64) -> (CubeTensor, CubeTensor, CubeTensor) {
        let (dims, c) = sizes(&x, eps);
        let shape = x.meta.shape().clone();
        let [y, mean, var] = wgsl::launch_with(BATCH_NORM_FORWARD, BN_WORKGROUP, [x, gamma, beta], [shape, Shape::new([c]), Shape::new([c])], &dims, c);
        (y, mean, var)
    }
}

impl BatchNormGrads for CubeBackend {
    /// The kernel recomputes the batch statistics from `x` (bit for bit the forward's; see the
    /// shader), so `mean` and `var` are not bound.
    fn batch_norm_train_grads(x: CubeTensor, gamma: CubeTensor, _mean: CubeTensor, _var: CubeTensor, eps: f64, dy: CubeTensor) -> (CubeTensor, CubeTensor, CubeTensor) {
        let (dims, c) = sizes(&x, eps);
        let shape = x.meta.shape().clone();
        let [dx, dgamma, dbeta] = wgsl::launch_with(BATCH_NORM_BACKWARD, BN_WORKGROUP, [x, dy, gamma], [shape, Shape::new([c]), Shape::new([c])], &dims, c);
        (dx, dgamma, dbeta)
    }
}
