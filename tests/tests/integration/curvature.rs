//! λmax of the validation Hessian w.r.t. α on small supernets (docs/ALGORITHM.md §6): Lanczos (≤ 20 products,
//! i.e. ≤ 40 gradient evaluations) against the dense Hessian built from the same Hessian-vector
//! products, with ReLU and max-pool (the DARTS network) and with SiLU.
//!
//! Tolerance 1e-3 relative (of λmax): both routes apply the same finite-difference operator; the
//! dense one symmetrises it, Lanczos does not need to; their difference is the operator's asymmetry
//! and float32 noise (≈ 1e-4 relative, see `HVP_EPS`).

use rdarts_core::block_on;
use rdarts_core::hessian::{AlphaHessian, HVP_EPS, symmetric_eigen};
use rdarts_core::rng::Rng;
use rdarts_core::network::NetConfig;
use rdarts_core::ops::Activation;
use rdarts_core::space::SpaceId;
use rdarts_tests::{alpha_hessian, cpu, random_batch, setup, tiny_config, wgpu};

#[test]
fn lanczos_matches_the_dense_hessian_on_small_supernets() {
    let dev = cpu();
    for (space, activation) in [(SpaceId::S5, Activation::Relu), (SpaceId::S2, Activation::Relu), (SpaceId::S3, Activation::Silu)] {
        let config = NetConfig { activation, ..tiny_config(space) };
        let (net, w, alpha) = setup(&config, 31, &dev);
        let batch = random_batch(8, &net.config, 32);
        let mut h = alpha_hessian(&net, &w, &alpha, &batch, 1e-3, &dev);
        let n = h.dim();
        let dense = block_on(h.dense());
        let (values, _) = symmetric_eigen(&dense, n);
        let before = h.gradient_evals;
        let e = block_on(h.extremes(20, 0.0, 1));
        let (dmax, dmin) = (values[n - 1], values[0]);
        eprintln!("{space} {activation:?}: n = {n}, dense λ ∈ [{dmin:.5}, {dmax:.5}], Lanczos [{:.5}, {:.5}] in {} products", e.min, e.max, e.products);
        assert!(e.products <= 20 && h.gradient_evals - before == 2 * e.products);
        if space == SpaceId::S2 {
            // The eigenvalue of largest magnitude is negative here: λmax is not it.
            assert!(dmin.abs() > dmax.abs() && dmax > 0.0, "S2 spectrum [{dmin}, {dmax}]");
        }
        assert!((e.max - dmax).abs() <= 1e-3 * dmax.abs(), "{space}: λmax Lanczos {} vs dense {dmax}", e.max);
        // λmin converges more slowly than λmax; it is reported, not used by any rule.
        assert!((e.min - dmin).abs() <= 1e-2 * dmax.abs(), "{space}: λmin Lanczos {} vs dense {dmin}", e.min);
        // With a tolerance, Lanczos stops once its residual bounds allow, and they hold: each
        // extreme lies within the bound of the dense value (plus the 1e-3 of the operator's
        // asymmetry and float32 noise, as above).
        let tol = 1e-2;
        let t = block_on(h.extremes(n, tol, 1));
        eprintln!("{space}: with tolerance {tol}: [{:.5}, {:.5}] in {} products, residual bound {:.2e}", t.min, t.max, t.products, t.residual);
        assert!(t.products == n || t.residual <= tol * t.max.abs(), "stopped without converging: {t:?}");
        assert!((t.max - dmax).abs() <= t.residual + 1e-3 * dmax.abs(), "{space}: λmax {} vs dense {dmax}, bound {}", t.max, t.residual);
        assert!((t.min - dmin).abs() <= t.residual_min + 1e-3 * dmax.abs(), "{space}: λmin {} vs dense {dmin}, bound {}", t.min, t.residual_min);
    }
}

/// With the kink pattern of the base point replayed, the central difference converges: the product
/// with the default step (1e-2) and with steps 3× larger and 3× smaller agree to 1e-3 (measured
/// here: 1.6e-4 and 5.3e-4 on the CPU, 1.4e-4 and 4.6e-4 on lavapipe; truncation grows like ε², float32 rounding like 1/ε). Without the
/// replay, on this ReLU/max-pool network, they differ by O(1) (checked as well, so that the test
/// shows what the tape is for). Returns the product with the default step.
fn hvp_does_not_depend_on_the_step(dev: &burn::tensor::Device) -> Vec<f64> {
    let (net, w, alpha) = setup(&tiny_config(SpaceId::S5), 31, dev);
    let batch = random_batch(8, &net.config, 32);
    let mut h = alpha_hessian(&net, &w, &alpha, &batch, 0.0, dev);
    let v: Vec<f64> = Rng::new(5).normal_vec(h.dim()).iter().map(|&x| f64::from(x)).collect();
    h.step = HVP_EPS;
    let base = block_on(h.apply(&v));
    let size = base.iter().map(|a| a * a).sum::<f64>().sqrt();
    let spread = |h: &mut AlphaHessian| {
        [3e-2, 3e-3]
            .iter()
            .map(|&step| {
                h.step = step;
                let other = block_on(h.apply(&v));
                let d = base.iter().zip(&other).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt() / size;
                eprintln!("step {step:e}: relative difference {d:.2e}");
                d
            })
            .fold(0.0, f64::max)
    };
    let frozen = spread(&mut h);
    h.replay_kinks = false;
    let plain = spread(&mut h);
    eprintln!("relative spread of H·v over steps 3e-2, 1e-2, 3e-3: kinks replayed {frozen:.2e}, plain {plain:.2e}");
    assert!(frozen <= 1e-3, "replayed: {frozen:e}");
    assert!(plain > 0.1, "the plain finite difference should depend on the step here: {plain:e}");
    base
}

#[test]
fn relu_hessian_vector_products_do_not_depend_on_the_step() {
    hvp_does_not_depend_on_the_step(&cpu());
}

/// The same on wgpu, whose tape keeps its own forms (ReLU's 0/1 factors as floats, the max pool's
/// winners from our kernel, replayed by `pool::gather_winners`); and its product agrees with the
/// CPU's (Burn's boolean masks and integer indices). Tolerance 1e-3 relative: the two devices'
/// gradients differ by float32 rounding (≈ 1e-6 relative, `cross_backend`), which the difference
/// quotient divides by 2ε = 2e-2, on top of each product's own ≈ 1e-4 noise.
#[test]
fn relu_hessian_vector_products_on_wgpu_replay_the_kinks_and_agree_with_the_cpu() {
    let Some(gpu) = wgpu() else { return };
    let on_gpu = hvp_does_not_depend_on_the_step(&gpu);
    let on_cpu = hvp_does_not_depend_on_the_step(&cpu());
    let size = on_cpu.iter().map(|a| a * a).sum::<f64>().sqrt();
    let d = on_cpu.iter().zip(&on_gpu).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt() / size;
    eprintln!("H·v, wgpu against the CPU: relative difference {d:.2e}");
    assert!(d <= 1e-3, "H·v on wgpu differs from the CPU's by {d:e} (relative)");
}
