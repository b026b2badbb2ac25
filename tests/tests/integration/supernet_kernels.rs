//! Our kernels in a whole supernet pass against the plain-tensor reference, on the CPU backend and
//! on wgpu: the pass (depthwise and 1×1 convolutions, BatchNorm and the node sum on our paths)
//! against the same pass with the reference forced: loss, every weight gradient and the α
//! gradient. Each kernel is tested by itself in `depthwise_kernel`, `batch_norm_kernel` and
//! `node_sum_kernel`.
//!
//! Tolerances, and why: both sides compute the same sums of float32 products in different orders
//! (see the kernels' own tests). The supernet's gradients pass through BatchNorm, which divides by
//! batch standard deviations, so differences of 1e-7 in the convolutions grow; measured: ≤ 1e-6 of each tensor's largest gradient entry, hence
//! the bound 1e-5 of it (α likewise), which a wrong index or a missing tap exceeds by orders of
//! magnitude.

use burn::tensor::Device;
use rdarts_core::architect::{PassCtx, all_grads};
use rdarts_core::block_on;
use rdarts_core::kernels::Kernels;
use rdarts_core::rng::Rng;
use rdarts_core::space::SpaceId;
use rdarts_tests::{assert_close, cpu, max_abs, max_abs_diff, random_batch, setup, tiny_config, to_vec, wgpu};

/// A supernet pass with our kernels against the same pass on the reference: S2 (separable 3×3
/// only) and S5 (all eight DARTS ops: separable and dilated 3×3 and 5×5, pools, skips).
fn supernet_gradients_match_on(dev: &Device) {
    for space in [SpaceId::S2, SpaceId::S5] {
        let cfg = tiny_config(space);
        let batch = random_batch(4, &cfg, 5);
        let mut results = Vec::new();
        for kernels in [Kernels::Reference, Kernels::Auto] {
            let (mut net, w, alpha) = setup(&cfg, 3, dev);
            net.kernels = kernels;
            let mut rng = Rng::new(9);
            let (pass, gw, ga) = block_on(all_grads(&net, &w, &alpha, &batch, PassCtx::new(None, &mut rng, 0.0), dev));
            let gw: Vec<Vec<f32>> = gw.iter().map(to_vec).collect();
            results.push((pass.loss, gw, to_vec(&ga.flat())));
        }
        let [(lr, wr, ar), (lk, wk, ak)] = <[_; 2]>::try_from(results).expect("two runs");
        eprintln!("{space}: loss {lr} (reference) vs {lk} (kernels)");
        assert!((lr - lk).abs() <= 1e-5 * lr.abs().max(1.0), "{space}: loss {lr} vs {lk}");
        // Each weight tensor against its own largest entry; the worst ratio is printed.
        let mut worst = 0.0f32;
        for (i, (r, k)) in wr.iter().zip(&wk).enumerate() {
            let (diff, scale) = (max_abs_diff(r, k), max_abs(r));
            worst = worst.max(diff / scale.max(1e-12));
            assert!(diff <= 1e-5 * scale + 1e-9, "{space} weight tensor {i}: {diff:e} apart (largest entry {scale:e})");
        }
        eprintln!("{space}: worst weight-gradient difference {worst:.2e} of the tensor's largest entry");
        assert_close(&format!("{space} α"), &ar, &ak, 1e-5, 1e-9);
    }
}

#[test]
fn supernet_gradients_match_with_and_without_the_cpu_kernels() {
    supernet_gradients_match_on(&cpu());
}

#[test]
fn supernet_gradients_match_with_and_without_the_wgsl_kernels() {
    let Some(gpu) = wgpu() else { return };
    supernet_gradients_match_on(&gpu);
}
