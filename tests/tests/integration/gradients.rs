//! Gradients against finite differences (docs/ALGORITHM.md §5), on the CPU backend.
//!
//! Everything is float32, so each check is a directional derivative along a unit direction d,
//! with a central difference of step h. Two error sources bound the agreement:
//! - float32 rounding of a loss of size ≈ 1 (≈ 1e-6 after accumulation over the network), divided
//!   by 2h;
//! - ReLU and max-pool kinks: a step of h in α moves some pre-activations across zero, so the loss
//!   is only piecewise smooth. For the first-order loss this costs ≈ 1 % of ‖g‖ at h = 1e-2
//!   (measured: 0.2–6 % of the directional derivative along random directions, whose derivative is
//!   ≈ 10 % of ‖g‖), hence the tolerance |fd − g·d| ≤ 1e-2 · ‖g‖ + 1e-4.
//!
//! The second-order objective contains ∇w L_train, which ReLU and max-pool make discontinuous in α:
//! its finite differences jump around by 100 % and more between h = 1e-2 and 1e-3 (measured), so
//! no finite difference can check it. The second-order test therefore uses the smooth SiLU
//! activation and spaces without max-pool (S2, S3); the α-gradient machinery under test (unrolled
//! step, Hessian-vector product by finite differences of α gradients) is the same code. There the
//! finite differences agree to ≈ 1e-4 relative at every h from 1e-2 to 1e-3 (measured), hence the
//! tolerance 2e-3 · |g·d| + 1e-5.

use burn::tensor::Tensor;
use rdarts_core::architect::{Order, PassCtx, StepBatches, Unroll, all_grads, alpha_grad, alpha_grads, train_mode_loss, weight_grads};
use rdarts_core::block_on;
use rdarts_core::network::Alpha;
use rdarts_core::params::{Weights, tensor1};
use rdarts_core::rng::Rng;
use rdarts_core::space::SpaceId;
use rdarts_core::network::NetConfig;
use rdarts_core::ops::Activation;
use rdarts_tests::{cpu, random_batch, setup, tiny_config, tiny_setup, to_vec};

fn ctx(rng: &mut Rng) -> PassCtx<'_> {
    PassCtx::new(None, rng, 0.0)
}

fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt() as f32;
    v.iter().map(|x| x / n).collect()
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

fn close(fd: f64, analytic: f64, tol: f64, what: &str) {
    assert!((fd - analytic).abs() <= tol, "{what}: finite difference {fd:.6e} vs analytic {analytic:.6e} (tol {tol:.1e})");
    eprintln!("{what}: finite difference {fd:.6e}, analytic {analytic:.6e}");
}

fn shift_alpha(a: &Alpha, d: &[f32], h: f32, e: usize, k: usize) -> Alpha {
    let flat = a.flat() + tensor1(d.iter().map(|x| x * h).collect(), &a.normal.device());
    Alpha::from_flat(flat, e, k)
}

#[test]
fn first_order_gradients_match_finite_differences() {
    let dev = cpu();
    for space in [SpaceId::S5, SpaceId::S3] {
        let (net, w, alpha) = tiny_setup(space, 11, &dev);
        let (e, k) = (net.space.edges(), net.space.ops_per_edge());
        let batch = random_batch(6, &net.config, 5);
        let mut rng = Rng::new(0);
        let (pass, grad_w, grad_a) = block_on(all_grads(&net, &w, &alpha, &batch, ctx(&mut rng), &dev));
        let ga = to_vec(&grad_a.flat());
        let loss = |wt: &Weights, a: &Alpha| block_on(train_mode_loss(&net, wt, a, &batch, ctx(&mut Rng::new(0)), &dev));
        assert!((loss(&w, &alpha) - pass.loss).abs() < 1e-5, "forward without graph equals forward with graph");

        // α: along the gradient and along a random direction.
        let random = unit(&Rng::new(3).normal_vec(ga.len()));
        let norm_a = dot(&ga, &ga).sqrt();
        for (name, d) in [("α along ∇", unit(&ga)), ("α random", random)] {
            let h = 1e-2;
            let fd = (loss(&w, &shift_alpha(&alpha, &d, h, e, k)) - loss(&w, &shift_alpha(&alpha, &d, -h, e, k)))
                / (2.0 * h as f64);
            close(fd, dot(&ga, &d), 1e-2 * norm_a + 1e-4, &format!("{space} {name}"));
        }

        // Weights: along the gradient.
        let gw: Vec<Vec<f32>> = grad_w.iter().map(to_vec).collect();
        let norm = gw.iter().flatten().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let dir: Vec<Tensor<1>> = gw.iter().map(|v| tensor1(v.iter().map(|x| (*x as f64 / norm) as f32).collect(), &dev)).collect();
        let h = 1e-3;
        let fd = (loss(&w.axpy(h, &dir), &alpha) - loss(&w.axpy(-h, &dir), &alpha)) / (2.0 * h);
        close(fd, norm, 1e-2 * norm + 1e-4, &format!("{space} weights along ∇"));
    }
}

#[test]
fn second_order_gradient_matches_finite_differences_of_the_unrolled_objective() {
    let dev = cpu();
    for space in [SpaceId::S2, SpaceId::S3] {
        let config = NetConfig { activation: Activation::Silu, ..tiny_config(space) };
        let (net, w, alpha) = setup(&config, 21, &dev);
        let (e, k) = (net.space.edges(), net.space.ops_per_edge());
        let train = random_batch(6, &net.config, 7);
        let val = random_batch(6, &net.config, 8);
        // A non-zero momentum buffer, as after a few SGD steps.
        let mut brng = Rng::new(9);
        let buf: Vec<Tensor<1>> = w
            .tensors
            .iter()
            .map(|t| tensor1(brng.normal_vec(t.dims()[0]).iter().map(|x| 0.01 * x).collect(), &dev))
            .collect();
        // ξ larger than DARTS' 0.025 so that the second-order term is clearly visible.
        let (xi, momentum, wd) = (0.2, 0.9, 3e-4);
        let unroll = Unroll { order: Order::Second, lr: xi, momentum, weight_decay: wd, momentum_buf: &buf, fd_draws: Default::default() };
        let mut rng = Rng::new(0);
        let (_, g2) = block_on(alpha_grad(&net, &w, &alpha, StepBatches { train: &train, val: &val }, &unroll, ctx(&mut rng), &dev));
        let g2 = to_vec(&g2.flat());

        // F(α) = L_val(w − ξ (momentum·buf + ∇w L_train(w, α) + wd·w), α), evaluated exactly.
        let unrolled = |a: &Alpha| -> (f64, Vec<f32>) {
            let (_, gw) = block_on(weight_grads(&net, &w, a, &train, ctx(&mut Rng::new(0)), &dev));
            let step: Vec<Tensor<1>> = gw
                .iter()
                .zip(&buf)
                .zip(&w.tensors)
                .map(|((g, b), p)| b.clone().mul_scalar(momentum) + g.clone() + p.clone().mul_scalar(wd))
                .collect();
            let (out, ga) = block_on(alpha_grads(&net, &w.axpy(-xi, &step), a, &val, ctx(&mut Rng::new(0)), &dev));
            (out.loss, to_vec(&ga.flat()))
        };
        let (_, first_term) = unrolled(&alpha);
        let d = unit(&g2);
        let h = 3e-3;
        let fd = (unrolled(&shift_alpha(&alpha, &d, h, e, k)).0 - unrolled(&shift_alpha(&alpha, &d, -h, e, k)).0)
            / (2.0 * h as f64);
        let analytic = dot(&g2, &d);
        close(fd, analytic, 2e-3 * analytic.abs() + 1e-5, &format!("{space} second order along its gradient"));
        // The implicit (Hessian) term matters here: without it the check would fail.
        let without = dot(&first_term, &d);
        assert!(
            (fd - without).abs() > 10.0 * (fd - analytic).abs(),
            "{space}: cannot tell second from first order: fd {fd:.4e}, with the Hessian term {analytic:.4e}, without {without:.4e}"
        );
    }
}

/// The second-order step's two finite-difference passes (at w ± ε·v) draw fresh noise and
/// drop-path masks by default, as the authors' code does (`FdDraws::Fresh`); `FdDraws::Replay`
/// gives both passes the same draws. Where nothing is random (S2 without drop-path) both agree.
#[test]
fn second_order_finite_differences_draw_fresh_randomness_unless_replayed() {
    use rdarts_core::architect::FdDraws;
    let dev = cpu();
    let grad = |space: SpaceId, drop_prob: f64, fd_draws: FdDraws| {
        let (net, w, alpha) = tiny_setup(space, 3, &dev);
        let (train, val) = (random_batch(6, &net.config, 4), random_batch(6, &net.config, 5));
        let buf: Vec<Tensor<1>> = w.tensors.iter().map(|t| t.clone().zeros_like()).collect();
        let unroll = Unroll { order: Order::Second, lr: 0.2, momentum: 0.9, weight_decay: 3e-4, momentum_buf: &buf, fd_draws };
        let mut rng = Rng::new(11);
        let (_, g) = block_on(alpha_grad(&net, &w, &alpha, StepBatches { train: &train, val: &val }, &unroll, PassCtx::new(None, &mut rng, drop_prob), &dev));
        (to_vec(&g.flat()), rng)
    };
    for (space, drop_prob) in [(SpaceId::S4, 0.0), (SpaceId::S2, 0.3)] {
        let (fresh, rng_fresh) = grad(space, drop_prob, FdDraws::Fresh);
        let (replay, rng_replay) = grad(space, drop_prob, FdDraws::Replay);
        assert_ne!(rng_fresh, rng_replay, "{space}: the w⁻ pass draws after the w⁺ pass's draws");
        let diff = fresh.iter().zip(&replay).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(diff > 0.0, "{space}: fresh and replayed draws give the same α gradient");
    }
    let (fresh, rng_fresh) = grad(SpaceId::S2, 0.0, FdDraws::Fresh);
    let (replay, rng_replay) = grad(SpaceId::S2, 0.0, FdDraws::Replay);
    assert_eq!((fresh, rng_fresh), (replay, rng_replay), "nothing random: the same step");
}
