//! λmax of the validation Hessian w.r.t. α on a small supernet: Lanczos (≤ 40 products) against
//! the dense Hessian built from the same Hessian-vector products (SPEC §6).
//!
//! Tolerance 1e-3 relative: both use the same finite-difference operator; the dense route
//! symmetrises it, Lanczos does not need to, and their difference is the operator's asymmetry
//! and float32 noise (≈ 1e-4 relative, see `HVP_EPS`). The network uses SiLU: with ReLU the
//! finite-difference operator is not a consistent linear map (see the limitation in
//! `rdarts_core::hessian`), which is open work for the curvature issue.

use rdarts_core::hessian::{alpha_hvp, dense_hessian, lanczos, symmetric_eigen};
use rdarts_core::network::NetConfig;
use rdarts_core::ops::Activation;
use rdarts_core::rng::Rng;
use rdarts_core::space::SpaceId;
use rdarts_tests::{cpu, random_batch, setup, tiny_config};

#[test]
fn lanczos_matches_the_dense_hessian_on_a_small_supernet() {
    let dev = cpu();
    for (space, activation) in [(SpaceId::S2, Activation::Silu), (SpaceId::S3, Activation::Silu)] {
        let config = NetConfig { activation, ..tiny_config(space) };
        let (net, w, alpha) = setup(&config, 31, &dev);
        let batch = random_batch(8, &net.config, 32);
        let rng = Rng::new(0);
        let n = net.space.alpha_len();
        let hvp = |v: &[f64]| alpha_hvp(&net, &w, &alpha, &batch, 1e-3, &rng, v, &dev);
        let h = dense_hessian(n, hvp);
        let (values, _) = symmetric_eigen(&h, n);
        let start: Vec<f64> = Rng::new(1).normal_vec(n).iter().map(|&x| x as f64).collect();
        let e = lanczos(n, 40, &start, hvp);
        let (dmax, dmin) = (values[n - 1], values[0]);
        eprintln!("{space} {activation:?}: n = {n}, dense λ ∈ [{dmin:.5}, {dmax:.5}], Lanczos [{:.5}, {:.5}] in {} products", e.min, e.max, e.products);
        assert!(e.products <= 40);
        assert!((e.max - dmax).abs() <= 1e-3 * dmax.abs(), "{space}: λmax Lanczos {} vs dense {dmax}", e.max);
        assert!((e.min - dmin).abs() <= 1e-3 * dmax.abs(), "{space}: λmin Lanczos {} vs dense {dmin}", e.min);
    }
}
