//! Curvature of the validation loss with respect to α (docs/ALGORITHM.md §6): Hessian-vector products by
//! central differences of first-order gradients, λmax and λmin by Lanczos with full
//! reorthogonalisation, and the dense Hessian (symmetrised) with all its eigenvalues for small α.
//!
//! Burn 0.22 has no second-order autodiff through the tensor API, so H·v comes from
//! [g(α + εv) − g(α − εv)] / (2ε) with g = ∇α L_val, both gradients on the same batch, in the same
//! BatchNorm mode, with the same random draws and the same kink pattern. The step ε (for a unit v)
//! balances the central difference's truncation error O(ε²·‖∇³L‖) against float32 rounding of the
//! gradient, ≈ 1e-7·‖g‖/ε. Measured on a small ReLU supernet (`tests/tests/curvature.rs`): the
//! product moved by 1.6e-3 relative from ε = 1e-2 to 1e-3 and by 4.3e-3 to 3e-4 (rounding, ∝ 1/ε),
//! but only by 1.6e-4 to 3e-2 (truncation, ∝ ε²): ε = 1e-2 keeps both near 1e-4 (see [`HVP_EPS`]).
//!
//! With ReLU and max-pool the loss is only piecewise smooth in α. A plain finite difference would
//! also count the gradient jumps of units that cross their kink within ±ε, which does not vanish
//! as ε → 0 (the number of crossings shrinks like ε, each jump is divided by ε): measured on a tiny
//! ReLU supernet, the dense finite-difference Hessian's λmax moved from 1.44 (ε = 1e-2) to 3.78
//! (ε = 1e-3). [`AlphaHessian`] therefore replays the kink pattern of the base point
//! ([`KinkTape`]): the products are then those of double backprop, which the PyTorch fixture test
//! (`tests/tests/torch_reference.rs`) checks.

use crate::params::KinkTape;

/// Finite-difference step of the Hessian-vector product for a unit direction.
pub const HVP_EPS: f64 = 1e-2;

/// Eigenvalues and eigenvectors of a small symmetric matrix (row-major `n × n`) by cyclic Jacobi
/// rotations; eigenvalues ascending, eigenvector k is column k of the returned row-major matrix.
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(a.len(), n * n);
    let mut a = a.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| a[i * n + j].powi(2)).sum();
        let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
        if off <= 1e-30 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let akp = a[k * n + p];
                    let akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = a[p * n + k];
                    let aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let vkp = v[k * n + p];
                    let vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[i * n + i].total_cmp(&a[j * n + j]));
    let values = order.iter().map(|&i| a[i * n + i]).collect();
    let mut vecs = vec![0.0; n * n];
    for (new, &old) in order.iter().enumerate() {
        for k in 0..n {
            vecs[k * n + new] = v[k * n + old];
        }
    }
    (values, vecs)
}

/// Result of [`lanczos`].
#[derive(Clone, Debug, PartialEq)]
pub struct Extremes {
    /// Largest algebraic eigenvalue (RobustDARTS' "dominant eigenvalue").
    pub max: f64,
    /// Smallest algebraic eigenvalue.
    pub min: f64,
    /// Hessian-vector products used.
    pub products: usize,
    /// The residual bound ‖H y − θ y‖ of the top Ritz pair (y a unit Ritz vector): `max` lies
    /// within this distance of an eigenvalue of H (within residual²/gap once the gap to the next
    /// eigenvalue exceeds it). 0 when the Krylov space was exhausted.
    pub residual: f64,
    /// The same bound for `min`.
    pub residual_min: f64,
}

/// λmax and λmin of the symmetric operator `hvp` on R^n by Lanczos with full reorthogonalisation,
/// at most `steps` products (fewer when the Krylov space is exhausted). Starts from `start`
/// (normalised here); the Ritz values of the tridiagonal matrix give the extremes, which converge
/// first. Unlike power iteration this returns the largest *algebraic* eigenvalue even when a
/// negative eigenvalue has larger magnitude.
///
/// With `tol > 0` it stops as soon as the residual bounds β·|last component of the Ritz vector|
/// (Parlett, *The Symmetric Eigenvalue Problem*, §13.2) are at most `tol`·|λmax| for the top pair
/// (λmax, what DARTS-ES compares, to that relative accuracy) and `tol`·max(|λmax|, |λmin|) for
/// the bottom one; `tol = 0` always takes `steps` products.
/// `hvp` is `async` so that a product may read its result back from WebGPU; a plain function
/// fits as `async |v| f(v)`.
pub async fn lanczos(n: usize, steps: usize, tol: f64, start: &[f64], mut hvp: impl AsyncFnMut(&[f64]) -> Vec<f64>) -> Extremes {
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let norm0 = dot(start, start).sqrt();
    assert!(norm0 > 0.0, "Lanczos needs a non-zero start vector");
    let mut basis: Vec<Vec<f64>> = vec![start.iter().map(|x| x / norm0).collect()];
    let (mut alphas, mut betas) = (Vec::new(), Vec::new());
    let steps = steps.min(n).max(1);
    loop {
        let j = alphas.len();
        let mut w = hvp(&basis[j]).await;
        let a = dot(&w, &basis[j]);
        alphas.push(a);
        // Full reorthogonalisation (twice, for float safety) against every basis vector.
        for _ in 0..2 {
            for q in &basis {
                let c = dot(&w, q);
                for (wi, qi) in w.iter_mut().zip(q) {
                    *wi -= c * qi;
                }
            }
        }
        let b = dot(&w, &w).sqrt();
        let exhausted = b < 1e-10 * a.abs().max(1e-30);
        let ritz = ritz_extremes(&alphas, &betas, if exhausted { 0.0 } else { b });
        let scale = ritz.max.abs().max(ritz.min.abs());
        let converged = tol > 0.0 && ritz.residual <= tol * ritz.max.abs() && ritz.residual_min <= tol * scale;
        if j + 1 == steps || exhausted || converged {
            return ritz;
        }
        betas.push(b);
        basis.push(w.iter().map(|x| x / b).collect());
    }
}

/// The extreme Ritz values of the tridiagonal matrix with diagonal `alphas` and off-diagonal
/// `betas`, with their residual bounds `next_beta`·|last component of the Ritz vector|.
fn ritz_extremes(alphas: &[f64], betas: &[f64], next_beta: f64) -> Extremes {
    let k = alphas.len();
    let mut t = vec![0.0; k * k];
    for i in 0..k {
        t[i * k + i] = alphas[i];
        if i + 1 < k {
            t[i * k + i + 1] = betas[i];
            t[(i + 1) * k + i] = betas[i];
        }
    }
    let (values, vectors) = symmetric_eigen(&t, k);
    let bound = |col: usize| next_beta * vectors[(k - 1) * k + col].abs();
    Extremes { max: values[k - 1], min: values[0], products: k, residual: bound(k - 1), residual_min: bound(0) }
}

/// The dense Hessian from `n` products with the unit vectors, symmetrised ((H + Hᵀ)/2, removing
/// the finite differences' asymmetry), row-major.
pub async fn dense_hessian(n: usize, mut hvp: impl AsyncFnMut(&[f64]) -> Vec<f64>) -> Vec<f64> {
    let mut h = vec![0.0; n * n];
    for j in 0..n {
        let mut e = vec![0.0; n];
        e[j] = 1.0;
        let col = hvp(&e).await;
        for i in 0..n {
            h[i * n + j] = col[i];
        }
    }
    for i in 0..n {
        for j in i + 1..n {
            let m = 0.5 * (h[i * n + j] + h[j * n + i]);
            h[i * n + j] = m;
            h[j * n + i] = m;
        }
    }
    h
}

/// A loss as a function of α at fixed weights and data: what [`AlphaHessian`] differentiates.
/// Both methods run one training-mode pass at α + `shift` (flattened as the objective flattens
/// α) drawing from `rng` and recording or replaying `tape`, and read nothing from the device.
pub trait AlphaObjective {
    /// Number of α entries.
    fn dim(&self) -> usize;
    /// The loss.
    fn loss(&self, shift: Option<&burn::tensor::Tensor<1>>, rng: &mut crate::rng::Rng, tape: Option<&mut KinkTape>) -> burn::tensor::Tensor<1>;
    /// ∇α of the loss, flattened.
    fn alpha_grad(&self, shift: Option<&burn::tensor::Tensor<1>>, rng: &mut crate::rng::Rng, tape: Option<&mut KinkTape>) -> burn::tensor::Tensor<1>;
}

/// The Hessian of a loss with respect to α at one point, as an operator (docs/ALGORITHM.md §6):
/// the α weight-decay term `arch_weight_decay · I` included. For the image search
/// ([`AlphaHessian::new`]) the loss is the validation loss of the supernet on one batch, BatchNorm
/// in training mode (batch statistics, running statistics untouched), drop-path at the given
/// probability, α being normal and reduce flattened as [`Alpha::flat`](crate::network::Alpha::flat).
///
/// Every evaluation replays the same random stream (S4's noise, drop-path masks) and the kink
/// pattern recorded at the base point ([`KinkTape`]), so a central difference compares two points of
/// one smooth function; its limit is the Hessian that double backprop computes.
pub struct AlphaHessian<'a> {
    objective: Box<dyn AlphaObjective + 'a>,
    arch_weight_decay: f64,
    rng: crate::rng::Rng,
    tape: KinkTape,
    device: burn::tensor::Device,
    /// Loss at the base point.
    pub loss: f64,
    /// Gradient evaluations used so far (two per product).
    pub gradient_evals: usize,
    /// Length of the central difference's step in α space ([`HVP_EPS`] unless changed).
    pub step: f64,
    /// Replay the base point's kink pattern (default); `false` gives the plain finite difference
    /// of the piecewise-smooth network, for comparison only.
    pub replay_kinks: bool,
}

impl<'a> AlphaHessian<'a> {
    /// Sets the operator up at `at` (the image search): one forward pass records the kink pattern
    /// and the base point's loss is read back. `at.rng` is the random stream every evaluation
    /// starts from (it is not advanced).
    pub async fn new(at: HessianAt<'a>, device: &burn::tensor::Device) -> Self {
        let HessianAt { net, w, alpha, batch, arch_weight_decay, drop_prob, rng } = at;
        let objective = ImageObjective { net, w, alpha: alpha.clone(), batch, drop_prob, device: device.clone() };
        Self::of(Box::new(objective), arch_weight_decay, rng, device).await
    }

    /// The operator of any objective, with α weight decay `arch_weight_decay`; every evaluation
    /// starts from the stream `rng`.
    pub async fn of(objective: Box<dyn AlphaObjective + 'a>, arch_weight_decay: f64, rng: crate::rng::Rng, device: &burn::tensor::Device) -> Self {
        let mut tape = KinkTape::new();
        let loss = crate::params::read_scalar(&objective.loss(None, &mut rng.clone(), Some(&mut tape))).await;
        tape.rewind();
        AlphaHessian {
            objective,
            arch_weight_decay,
            rng,
            tape,
            device: device.clone(),
            loss,
            gradient_evals: 0,
            step: HVP_EPS,
            replay_kinks: true,
        }
    }

    /// Number of α entries (the operator's dimension).
    pub fn dim(&self) -> usize {
        self.objective.dim()
    }

    /// ∇α L at `alpha + shift` on the recorded kink pattern (no weight-decay term).
    async fn gradient_at(&mut self, shift: Option<&[f64]>) -> Vec<f64> {
        let shift = shift.map(|d| crate::params::tensor1(d.iter().map(|&x| x as f32).collect(), &self.device));
        let mut r = self.rng.clone();
        self.tape.rewind();
        let tape = if self.replay_kinks { Some(&mut self.tape) } else { None };
        let g = self.objective.alpha_grad(shift.as_ref(), &mut r, tape);
        self.gradient_evals += 1;
        crate::params::read(&g).await.into_iter().map(f64::from).collect()
    }

    /// ∇α L at the base point (the loss's gradient alone, without the weight-decay term).
    pub async fn gradient(&mut self) -> Vec<f64> {
        self.gradient_at(None).await
    }

    /// H·v by a central difference with step `self.step`/‖v‖, plus `arch_weight_decay · v`.
    pub async fn apply(&mut self, v: &[f64]) -> Vec<f64> {
        assert_eq!(v.len(), self.dim(), "Hessian-vector product: direction has the wrong length");
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            return vec![0.0; v.len()];
        }
        let eps = self.step / norm;
        let plus: Vec<f64> = v.iter().map(|x| eps * x).collect();
        let minus: Vec<f64> = v.iter().map(|x| -eps * x).collect();
        let (gp, gm) = (self.gradient_at(Some(&plus)).await, self.gradient_at(Some(&minus)).await);
        gp.iter().zip(&gm).zip(v).map(|((p, m), x)| (p - m) / (2.0 * eps) + self.arch_weight_decay * x).collect()
    }

    /// λmax and λmin by [`lanczos`] with at most `steps` products (2 gradient evaluations each),
    /// stopping early at relative residual `tol` (0: never), from a start vector drawn from `seed`.
    pub async fn extremes(&mut self, steps: usize, tol: f64, seed: u64) -> Extremes {
        let n = self.dim();
        let start: Vec<f64> = crate::rng::Rng::new(seed).normal_vec(n).iter().map(|&x| f64::from(x)).collect();
        lanczos(n, steps, tol, &start, async |v| self.apply(v).await).await
    }

    /// The dense symmetrised Hessian (`dim()` products), row-major.
    pub async fn dense(&mut self) -> Vec<f64> {
        let n = self.dim();
        dense_hessian(n, async |v| self.apply(v).await).await
    }
}

/// Where the α Hessian is taken ([`AlphaHessian::new`]): the point, the batch and the pass's
/// settings.
pub struct HessianAt<'a> {
    /// The supernet.
    pub net: &'a crate::network::Supernet,
    /// The weights (held fixed).
    pub w: &'a crate::params::Weights,
    /// α at the base point.
    pub alpha: &'a crate::network::Alpha,
    /// The validation batch.
    pub batch: &'a crate::data::Batch,
    /// α's weight decay: adds `arch_weight_decay · I` to the Hessian.
    pub arch_weight_decay: f64,
    /// Drop-path probability of the passes.
    pub drop_prob: f64,
    /// The random stream every evaluation starts from (a copy of the search's).
    pub rng: crate::rng::Rng,
}

/// The image search's objective: the supernet's training-mode loss on one batch at fixed weights.
struct ImageObjective<'a> {
    net: &'a crate::network::Supernet,
    w: &'a crate::params::Weights,
    alpha: crate::network::Alpha,
    batch: &'a crate::data::Batch,
    drop_prob: f64,
    device: burn::tensor::Device,
}

impl ImageObjective<'_> {
    fn at(&self, shift: Option<&burn::tensor::Tensor<1>>) -> crate::network::Alpha {
        let (edges, k) = (self.net.space.edges(), self.net.space.ops_per_edge());
        shift.map_or_else(|| self.alpha.clone(), |d| crate::network::Alpha::from_flat(self.alpha.flat() + d.clone(), edges, k))
    }
}

impl AlphaObjective for ImageObjective<'_> {
    fn dim(&self) -> usize {
        2 * self.net.space.edges() * self.net.space.ops_per_edge()
    }

    fn loss(&self, shift: Option<&burn::tensor::Tensor<1>>, rng: &mut crate::rng::Rng, tape: Option<&mut KinkTape>) -> burn::tensor::Tensor<1> {
        let ctx = crate::architect::PassCtx { stats: None, rng, drop_prob: self.drop_prob, tape };
        crate::architect::train_mode_loss_unread(self.net, self.w, &self.at(shift), self.batch, ctx, &self.device)
    }

    fn alpha_grad(&self, shift: Option<&burn::tensor::Tensor<1>>, rng: &mut crate::rng::Rng, tape: Option<&mut KinkTape>) -> burn::tensor::Tensor<1> {
        let ctx = crate::architect::PassCtx { stats: None, rng, drop_prob: self.drop_prob, tape };
        crate::architect::alpha_grads_unread(self.net, self.w, &self.at(shift), self.batch, ctx, &self.device).flat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_on;
    use crate::rng::Rng;

    fn matvec(a: &[f64], n: usize, v: &[f64]) -> Vec<f64> {
        (0..n).map(|i| (0..n).map(|j| a[i * n + j] * v[j]).sum()).collect()
    }

    /// A random symmetric matrix with the given spectrum: Q diag(λ) Qᵀ, Q from Jacobi of a random matrix.
    fn with_spectrum(lambdas: &[f64], seed: u64) -> Vec<f64> {
        let n = lambdas.len();
        let mut rng = Rng::new(seed);
        let mut r = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let x = rng.normal();
                r[i * n + j] = x;
                r[j * n + i] = x;
            }
        }
        let (_, q) = symmetric_eigen(&r, n);
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|k| q[i * n + k] * lambdas[k] * q[j * n + k]).sum();
            }
        }
        a
    }

    #[test]
    fn jacobi_finds_known_eigenvalues() {
        let lambdas = [-3.0, -0.5, 0.0, 1.0, 2.5, 7.0];
        let a = with_spectrum(&lambdas, 1);
        let (values, vecs) = symmetric_eigen(&a, 6);
        for (v, l) in values.iter().zip(lambdas) {
            assert!((v - l).abs() < 1e-10, "{values:?}");
        }
        // A v = λ v for the top pair.
        let top: Vec<f64> = (0..6).map(|k| vecs[k * 6 + 5]).collect();
        let av = matvec(&a, 6, &top);
        for k in 0..6 {
            assert!((av[k] - 7.0 * top[k]).abs() < 1e-9);
        }
    }

    #[test]
    fn lanczos_gives_the_largest_algebraic_eigenvalue_not_the_largest_magnitude() {
        // The dominant-magnitude eigenvalue is −9; power iteration would return it.
        let mut lambdas: Vec<f64> = (0..60).map(|i| -1.0 + 0.05 * i as f64).collect();
        lambdas[0] = -9.0;
        lambdas[59] = 4.0;
        let n = lambdas.len();
        let a = with_spectrum(&lambdas, 2);
        // f(x) = ½ xᵀAx + bᵀx, its gradient Ax + b, and H·v by the same central difference the
        // search uses (exact for a quadratic up to rounding).
        let b: Vec<f64> = Rng::new(6).normal_vec(n).iter().map(|&x| f64::from(x)).collect();
        let x0: Vec<f64> = Rng::new(7).normal_vec(n).iter().map(|&x| f64::from(x)).collect();
        let grad = |x: &[f64]| -> Vec<f64> { matvec(&a, n, x).iter().zip(&b).map(|(p, q)| p + q).collect() };
        let hvp = |v: &[f64]| -> Vec<f64> {
            let eps = 1e-3;
            let xp: Vec<f64> = x0.iter().zip(v).map(|(x, d)| x + eps * d).collect();
            let xm: Vec<f64> = x0.iter().zip(v).map(|(x, d)| x - eps * d).collect();
            grad(&xp).iter().zip(grad(&xm)).map(|(p, m)| (p - m) / (2.0 * eps)).collect()
        };
        let start = Rng::new(3).normal_vec(n).iter().map(|&x| x as f64).collect::<Vec<_>>();
        let e = block_on(lanczos(n, 30, 0.0, &start, async |v| hvp(v)));
        assert!((e.max - 4.0).abs() < 1e-6, "λmax {}", e.max);
        assert!((e.min + 9.0).abs() < 1e-6, "λmin {}", e.min);
        assert_eq!(e.products, 30);
        // With a tolerance it stops early, and each extreme lies within its residual bound of the
        // true value (the bound is rigorous for an exact operator; this one is exact up to rounding).
        let t = block_on(lanczos(n, n, 1e-3, &start, async |v| hvp(v)));
        assert!(t.products < n && t.residual <= 1e-3 * t.max && t.residual_min <= 1e-3 * 9.0 * (1.0 + 1e-12), "{t:?}");
        assert!((t.max - 4.0).abs() <= t.residual + 1e-9 && (t.min + 9.0).abs() <= t.residual_min + 1e-9, "{t:?}");
        // The dense route agrees.
        let h = block_on(dense_hessian(n, async |v| hvp(v)));
        let (vals, _) = symmetric_eigen(&h, n);
        assert!((vals[n - 1] - 4.0).abs() < 1e-8 && (vals[0] + 9.0).abs() < 1e-8, "{} {}", vals[n - 1], vals[0]);
    }

    #[test]
    fn softmax_regression_hessian_matches_its_closed_form() {
        // L(θ) = mean_i CE(softmax(θᵀ x_i), y_i) with θ: d × k. Closed form:
        // H = mean_i (x_i x_iᵀ) ⊗ (diag(p_i) − p_i p_iᵀ), indexed [a·k + c][b·k + e].
        let (d, k, m) = (3, 4, 5);
        let mut rng = Rng::new(4);
        let xs: Vec<Vec<f64>> = (0..m).map(|_| (0..d).map(|_| rng.normal()).collect()).collect();
        let ys: Vec<usize> = (0..m).map(|_| rng.below(k)).collect();
        let theta: Vec<f64> = (0..d * k).map(|_| 0.5 * rng.normal()).collect();
        let probs = |th: &[f64], x: &[f64]| -> Vec<f64> {
            let z: Vec<f64> = (0..k).map(|c| (0..d).map(|a| th[a * k + c] * x[a]).sum()).collect();
            let mx = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - mx).exp()).collect();
            let s: f64 = e.iter().sum();
            e.iter().map(|v| v / s).collect()
        };
        let grad = |th: &[f64]| -> Vec<f64> {
            let mut g = vec![0.0; d * k];
            for (x, &y) in xs.iter().zip(&ys) {
                let p = probs(th, x);
                for a in 0..d {
                    for c in 0..k {
                        g[a * k + c] += x[a] * (p[c] - if c == y { 1.0 } else { 0.0 }) / m as f64;
                    }
                }
            }
            g
        };
        let n = d * k;
        let mut exact = vec![0.0; n * n];
        for x in &xs {
            let p = probs(&theta, x);
            for a in 0..d {
                for b in 0..d {
                    for c in 0..k {
                        for e in 0..k {
                            let s = if c == e { p[c] } else { 0.0 } - p[c] * p[e];
                            exact[(a * k + c) * n + b * k + e] += x[a] * x[b] * s / m as f64;
                        }
                    }
                }
            }
        }
        // The same central-difference product the search uses (float64 here, so ε can be small).
        let hvp = |v: &[f64]| -> Vec<f64> {
            let eps = 1e-5;
            let plus: Vec<f64> = theta.iter().zip(v).map(|(t, d)| t + eps * d).collect();
            let minus: Vec<f64> = theta.iter().zip(v).map(|(t, d)| t - eps * d).collect();
            grad(&plus).iter().zip(grad(&minus)).map(|(a, b)| (a - b) / (2.0 * eps)).collect()
        };
        let h = block_on(dense_hessian(n, async |v| hvp(v)));
        for (a, b) in h.iter().zip(&exact) {
            assert!((a - b).abs() < 1e-7, "{a} vs {b}");
        }
        let (exact_vals, _) = symmetric_eigen(&exact, n);
        let start: Vec<f64> = Rng::new(5).normal_vec(n).iter().map(|&x| x as f64).collect();
        let e = block_on(lanczos(n, n, 0.0, &start, async |v| hvp(v)));
        assert!((e.max - exact_vals[n - 1]).abs() < 1e-6 * exact_vals[n - 1].abs().max(1.0));
        // Softmax regression's Hessian is positive semi-definite with a null space (shift invariance).
        assert!(exact_vals[0].abs() < 1e-10 && e.min.abs() < 1e-6, "λmin {} / {}", exact_vals[0], e.min);
    }
}
