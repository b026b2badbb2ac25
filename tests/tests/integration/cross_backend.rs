//! The same tiny network on the CPU backend and on wgpu (lavapipe in CI) gives the same loss and
//! gradients.
//!
//! Tolerances: both backends compute in float32 but sum in different orders (and lavapipe's
//! convolutions use different algorithms), so results differ by accumulated rounding: measured
//! ≈ 1e-6 of the largest gradient entry on lavapipe (Mesa 25.0.7). Allowing 100× that for other
//! drivers and GPUs: loss 1e-4 relative; gradients 1e-4 of the largest gradient entry plus 1e-7,
//! element by element.

use rdarts_core::architect::{PassCtx, all_grads, evaluate_batch};
use rdarts_core::block_on;
use rdarts_core::params::{BnStats, Weights};
use rdarts_core::rng::Rng;
use rdarts_core::space::SpaceId;
use rdarts_tests::{cpu, max_abs, max_abs_diff, random_batch, tiny_setup, to_vec, wgpu};

struct Result1 {
    loss: f64,
    grads_w: Vec<f32>,
    grads_a: Vec<f32>,
    eval_loss: f64,
}

fn run(space: SpaceId, dev: &burn::tensor::Device) -> Result1 {
    let (net, w, alpha) = tiny_setup(space, 5, dev);
    let batch = random_batch(8, &net.config, 6);
    let mut stats = BnStats::new(&net.bn_channels, dev);
    let mut rng = Rng::new(1);
    let (pass, gw, ga) = block_on(all_grads(&net, &w, &alpha, &batch, PassCtx::new(Some(&mut stats), &mut rng, 0.0), dev));
    let grads_w: Vec<f32> = gw.iter().flat_map(to_vec).collect();
    let grads_a = to_vec(&ga.flat());
    // Evaluation mode reads the running statistics the training pass just updated.
    let (eval_loss, _) = block_on(evaluate_batch(&net, &w, &alpha, &batch, &mut stats, &mut rng, dev));
    Result1 { loss: pass.loss, grads_w, grads_a, eval_loss }
}

#[test]
fn cpu_and_wgpu_agree_on_loss_and_gradients() {
    let Some(gpu) = wgpu() else { return };
    let cpu = cpu();
    for space in [SpaceId::S5, SpaceId::S2] {
        let a = run(space, &cpu);
        let b = run(space, &gpu);
        let rel = |x: f64, y: f64| (x - y).abs() / x.abs().max(1e-12);
        assert!(rel(a.loss, b.loss) < 1e-4, "{space} loss: cpu {} wgpu {}", a.loss, b.loss);
        assert!(rel(a.eval_loss, b.eval_loss) < 1e-4, "{space} eval loss: cpu {} wgpu {}", a.eval_loss, b.eval_loss);
        for (name, x, y) in [("weights", &a.grads_w, &b.grads_w), ("α", &a.grads_a, &b.grads_a)] {
            let tol = 1e-4 * max_abs(x) + 1e-7;
            let diff = max_abs_diff(x, y);
            eprintln!("{space} {name}: max |cpu − wgpu| = {diff:.3e} (tol {tol:.3e}, max |g| {:.3e})", max_abs(x));
            assert!(diff <= tol, "{space} {name} gradients differ by {diff:.3e} > {tol:.3e}");
        }
    }
}

/// BatchNorm statistics over ≥ 65 536 elements per channel (batch 64 of 32×32 maps): the size at
/// which Debian 12's own lavapipe (Mesa 22.3.6) sums wrongly. Guards against running the wgpu
/// tests on a broken driver. Tolerance 1e-4 absolute on unit-variance outputs (float32 sums of
/// 65 536 terms differ by ≈ 1e-6 between summation orders).
#[test]
fn large_batch_norm_reductions_agree() {
    use burn::tensor::{Tensor, TensorData};
    use rdarts_core::ops::BatchNorm;
    use rdarts_core::params::{BnStats, Builder, Fwd, Mode};
    let Some(gpu) = wgpu() else { return };
    let shape = [64, 2, 32, 32];
    let mut rng = Rng::new(5);
    let values: Vec<f32> = rng.normal_vec(shape.iter().product()).iter().map(|v| 3.0 * v + 1.5).collect();
    let run = |dev: &burn::tensor::Device| {
        let mut b = Builder::default();
        let bn = BatchNorm::new(&mut b, "bn", 2, false);
        let w = Weights { tensors: vec![] };
        let mut stats = BnStats::new(&b.bn_channels, dev);
        let mut r = Rng::new(0);
        let mut f = Fwd { w: &w, mode: Mode::Train, stats: Some(&mut stats), rng: &mut r, drop_prob: 0.0, tape: None, kernels: Default::default(), constants: Default::default() };
        let x = Tensor::<4>::from_data(TensorData::new(values.clone(), shape), dev);
        let y = to_vec(&bn.forward(&mut f, x));
        (y, to_vec(&stats.mean[0]), to_vec(&stats.var[0]))
    };
    let (a, am, av) = run(&cpu());
    let (b, bm, bv) = run(&gpu);
    let d = max_abs_diff(&a, &b);
    eprintln!("batch norm over 65 536 elements: max |cpu − wgpu| = {d:.3e}");
    assert!(d < 1e-4, "BatchNorm outputs differ by {d:.3e}: is the Vulkan driver Mesa ≥ 25 (scripts/install-lavapipe.sh)?");
    assert!(max_abs_diff(&am, &bm) < 1e-5 && max_abs_diff(&av, &bv) < 1e-4, "running statistics differ");
}
