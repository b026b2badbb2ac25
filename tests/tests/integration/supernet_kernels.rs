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

/// Second-order DARTS' α gradient with our kernels against the reference: the kernels also make
/// the unrolled weights w' = w − ξ(momentum·buf + ∇w + wd·w) and the finite-difference points
/// w ± ε·v (on wgpu by SGD's update kernel, one launch per tensor). Tolerance 1e-3 of the largest
/// entry: the finite difference divides the two passes' α gradients' difference by 2ε (ε·‖v‖ =
/// 0.01), so the ≲ 1e-6 relative rounding differences of the passes (above) grow by about that
/// factor's ratio to the gradients; a wrong sign, coefficient or stale buffer changes the
/// second-order term entirely. SiLU instead of ReLU, as in `gradients`: with ReLU, a unit whose
/// input lies within rounding of zero at one of the finite difference's points takes the other
/// branch on one side, and the difference quotient carries that jump (measured on lavapipe with
/// ReLU in S5: 8e-3 of the largest entry, with or without the weight-move kernel).
fn second_order_alpha_gradient_matches_on(dev: &Device) {
    use burn::tensor::Tensor;
    use rdarts_core::architect::{Order, StepBatches, Unroll, alpha_grad};
    use rdarts_core::network::NetConfig;
    use rdarts_core::ops::Activation;
    use rdarts_core::params::tensor1;
    for space in [SpaceId::S2, SpaceId::S5] {
        let cfg = NetConfig { activation: Activation::Silu, ..tiny_config(space) };
        let (train, val) = (random_batch(4, &cfg, 5), random_batch(4, &cfg, 6));
        let mut results = Vec::new();
        for kernels in [Kernels::Reference, Kernels::Auto] {
            let (mut net, w, alpha) = setup(&cfg, 3, dev);
            net.kernels = kernels;
            // A non-zero momentum buffer, as after a few SGD steps.
            let mut brng = Rng::new(9);
            let buf: Vec<Tensor<1>> = w.tensors.iter().map(|t| tensor1(brng.normal_vec(t.dims()[0]).iter().map(|x| 0.01 * x).collect(), dev)).collect();
            let unroll = Unroll { order: Order::Second, lr: 0.2, momentum: 0.9, weight_decay: 3e-4, momentum_buf: &buf, fd_draws: Default::default() };
            let mut rng = Rng::new(11);
            let (_, g) = block_on(alpha_grad(&net, &w, &alpha, StepBatches { train: &train, val: &val }, &unroll, PassCtx::new(None, &mut rng, 0.0), dev));
            results.push(to_vec(&g.flat()));
        }
        assert_close(&format!("{space} second-order α"), &results[0], &results[1], 1e-3, 1e-9);
    }
}

#[test]
fn second_order_alpha_gradient_matches_with_and_without_the_cpu_kernels() {
    second_order_alpha_gradient_matches_on(&cpu());
}

#[test]
fn second_order_alpha_gradient_matches_with_and_without_the_wgsl_kernels() {
    let Some(gpu) = wgpu() else { return };
    second_order_alpha_gradient_matches_on(&gpu);
}
