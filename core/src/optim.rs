//! Optimisers with PyTorch's exact update rules, over lists of plain tensors (docs/ALGORITHM.md §5).
//!
//! Burn's own optimisers work on modules and clip gradients per tensor; DARTS clips the global norm
//! of all weight gradients and second-order DARTS reads SGD's momentum buffers, so the few lines of
//! each rule live here, where the state is explicit and serialisable. On wgpu the searches' weight
//! step (`Sgd::step_clipped`) is one WGSL kernel launch per tensor (`fused`).

#[cfg(feature = "wgpu")]
mod fused;

#[cfg(feature = "wgpu")]
pub(crate) use fused::sum_squares;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::kernels::Kernels;
use crate::params::{Weights, read_all, sq_norm, tensor1};

/// SGD with momentum and L2 weight decay (PyTorch `torch.optim.SGD`, no dampening, no Nesterov).
#[derive(Clone, Debug)]
pub struct Sgd {
    /// Momentum factor.
    pub momentum: f64,
    /// Momentum buffers, one per parameter (zeros before the first step).
    pub buf: Vec<Tensor<1>>,
    /// Whether [`Sgd::step_clipped`] runs our WGSL kernel on wgpu (`Auto`) or tensor operations.
    pub kernels: Kernels,
}

impl Sgd {
    /// Zero buffers shaped like `params`.
    pub fn new(params: &[Tensor<1>], momentum: f64) -> Self {
        Sgd { momentum, buf: params.iter().map(|p| p.zeros_like()).collect(), kernels: Kernels::Auto }
    }

    /// One step with learning rate `lr` and L2 weight decay `weight_decay` (the caller's
    /// configuration holds both; DARTS-ADA raises the decay): d = g + wd·p; buf = momentum·buf + d;
    /// p -= lr·buf.
    pub fn step(&mut self, params: &mut [Tensor<1>], grads: &[Tensor<1>], lr: f64, weight_decay: f64) {
        for ((p, g), b) in params.iter_mut().zip(grads).zip(self.buf.iter_mut()) {
            let d = g.clone() + p.clone().mul_scalar(weight_decay);
            *b = b.clone().mul_scalar(self.momentum) + d;
            *p = p.clone() - b.clone().mul_scalar(lr);
        }
    }

    /// [`clip_global_norm`] with `max_norm`, then [`Sgd::step`]; returns the norm before clipping.
    /// On wgpu (unless [`Sgd::kernels`] forces the reference) the scaling and the update are one
    /// kernel launch per tensor (`fused`), elsewhere tensor operations.
    pub fn step_clipped(&mut self, params: &mut [Tensor<1>], mut grads: Vec<Tensor<1>>, max_norm: f64, lr: f64, weight_decay: f64) -> Tensor<1> {
        #[cfg(feature = "wgpu")]
        if grads.first().is_some_and(|g| crate::kernels::uses_wgsl_kernels(self.kernels, &g.device())) {
            let (norm, factor) = clip_factor(sq_norm(&grads, self.kernels), max_norm);
            let h = fused::SgdHyper { lr: lr as f32, weight_decay: weight_decay as f32, momentum: self.momentum as f32 };
            for ((p, g), b) in params.iter_mut().zip(grads).zip(self.buf.iter_mut()) {
                (*p, *b) = fused::sgd_step(p.clone(), g, b.clone(), factor.clone(), h);
            }
            return norm;
        }
        let norm = clip_global_norm(&mut grads, max_norm, self.kernels);
        self.step(params, &grads, lr, weight_decay);
        norm
    }

    /// Host copy of the buffers.
    pub async fn read_state(&self) -> Vec<Vec<f32>> {
        read_all(&self.buf).await
    }

    /// Restores buffers from [`Sgd::read_state`].
    pub fn load_state(&mut self, state: &[Vec<f32>], device: &burn::tensor::Device) {
        self.buf = state.iter().map(|v| tensor1(v.clone(), device)).collect();
    }
}

/// The weight moves of second-order DARTS through SGD's update kernel on wgpu (one launch per
/// tensor, where tensor operations take six for the unrolled step and three for each
/// finite-difference point): made by [`SgdMove::for_weights`] only where that kernel runs.
#[derive(Clone, Copy, Debug)]
pub struct SgdMove {
    _private: (),
}

impl SgdMove {
    /// `Some` where SGD's kernel runs for weights on `device` with `choice` (wgpu, float32).
    pub fn for_weights(choice: Kernels, device: &burn::tensor::Device) -> Option<Self> {
        #[cfg(feature = "wgpu")]
        if crate::kernels::uses_wgsl_kernels(choice, device) {
            return Some(Self { _private: () });
        }
        let _ = (choice, device);
        None
    }

    /// One SGD step without clipping, as [`Sgd::step`] computes it, not stored:
    /// w − lr · (momentum · buf + g + weight_decay · w), per tensor.
    pub fn step(&self, w: &Weights, grads: &[Tensor<1>], bufs: &[Tensor<1>], lr: f64, momentum: f64, weight_decay: f64) -> Weights {
        let one = Tensor::from_data(burn::tensor::TensorData::new(vec![1.0f32], [1]), &grads[0].device());
        self.moved(w, grads, bufs, &one, lr, momentum, weight_decay)
    }

    /// w + sign · ε · v per tensor, for the one-element device scalar `eps` (a step of SGD's rule
    /// along v with the clipping factor ε, learning rate −sign, no momentum and no decay). The
    /// kernel still reads a momentum buffer, multiplied by 0: `finite` gives one per tensor, any
    /// finite values of the weights' shapes (v itself cannot serve: WebGPU refuses one buffer
    /// bound writable twice in a launch).
    pub fn along(&self, w: &Weights, v: &[Tensor<1>], eps: &Tensor<1>, sign: f64, finite: &[Tensor<1>]) -> Weights {
        self.moved(w, v, finite, eps, -sign, 0.0, 0.0)
    }

    #[allow(clippy::too_many_arguments)]
    fn moved(&self, w: &Weights, grads: &[Tensor<1>], bufs: &[Tensor<1>], factor: &Tensor<1>, lr: f64, momentum: f64, weight_decay: f64) -> Weights {
        #[cfg(feature = "wgpu")]
        {
            let h = fused::SgdHyper { lr: lr as f32, weight_decay: weight_decay as f32, momentum: momentum as f32 };
            let tensors = w.tensors.iter().zip(grads).zip(bufs).map(|((p, g), b)| fused::sgd_step(p.clone(), g.clone(), b.clone(), factor.clone(), h).0).collect();
            Weights { tensors }
        }
        #[cfg(not(feature = "wgpu"))]
        {
            let _ = (w, grads, bufs, factor, lr, momentum, weight_decay);
            unreachable!("SgdMove exists only where SGD's kernel runs")
        }
    }
}

/// Adam with L2 weight decay added to the gradient (PyTorch `torch.optim.Adam`).
#[derive(Clone, Debug)]
pub struct Adam {
    /// β1, β2.
    pub betas: (f64, f64),
    /// ε in the denominator.
    pub eps: f64,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// First moments.
    pub m: Vec<Tensor<1>>,
    /// Second moments.
    pub v: Vec<Tensor<1>>,
    /// Steps taken.
    pub t: u64,
}

/// Serialisable Adam state.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AdamState {
    /// First moments.
    pub m: Vec<Vec<f32>>,
    /// Second moments.
    pub v: Vec<Vec<f32>>,
    /// Steps taken.
    pub t: u64,
}

impl Adam {
    /// Zero moments shaped like `params`.
    pub fn new(params: &[Tensor<1>], betas: (f64, f64), weight_decay: f64) -> Self {
        Adam {
            betas,
            eps: 1e-8,
            weight_decay,
            m: params.iter().map(|p| p.zeros_like()).collect(),
            v: params.iter().map(|p| p.zeros_like()).collect(),
            t: 0,
        }
    }

    /// One step with learning rate `lr`.
    pub fn step(&mut self, params: &mut [Tensor<1>], grads: &[Tensor<1>], lr: f64) {
        self.t += 1;
        let (b1, b2) = self.betas;
        let bc1 = 1.0 - b1.powi(self.t as i32);
        let bc2 = 1.0 - b2.powi(self.t as i32);
        for i in 0..params.len() {
            let g = grads[i].clone() + params[i].clone().mul_scalar(self.weight_decay);
            self.m[i] = self.m[i].clone().mul_scalar(b1) + g.clone().mul_scalar(1.0 - b1);
            self.v[i] = self.v[i].clone().mul_scalar(b2) + g.powi_scalar(2).mul_scalar(1.0 - b2);
            let denom = self.v[i].clone().sqrt().div_scalar(bc2.sqrt()).add_scalar(self.eps);
            params[i] = params[i].clone() - (self.m[i].clone() / denom).mul_scalar(lr / bc1);
        }
    }

    /// Host copy of the state.
    pub async fn read_state(&self) -> AdamState {
        AdamState { m: read_all(&self.m).await, v: read_all(&self.v).await, t: self.t }
    }

    /// Restores from [`Adam::read_state`].
    pub fn load_state(&mut self, s: &AdamState, device: &burn::tensor::Device) {
        self.m = s.m.iter().map(|v| tensor1(v.clone(), device)).collect();
        self.v = s.v.iter().map(|v| tensor1(v.clone(), device)).collect();
        self.t = s.t;
    }
}

/// Scales `grads` so that their global L2 norm is at most `max_norm` (PyTorch's
/// `clip_grad_norm_`: factor max_norm / (norm + 1e-6), applied only when below 1). Runs on the
/// device without a host read; returns the norm before clipping as a one-element tensor. `kernels`
/// chooses how the squared norm is summed ([`sq_norm`]: on wgpu a chain of sum-of-squares
/// launches, elsewhere one join of all gradients).
pub fn clip_global_norm(grads: &mut [Tensor<1>], max_norm: f64, kernels: Kernels) -> Tensor<1> {
    let (norm, factor) = clip_factor(sq_norm(grads, kernels), max_norm);
    for g in grads.iter_mut() {
        *g = g.clone() * factor.clone();
    }
    norm
}

/// The global norm from the gradients' squared norm `sq_norm`, and the factor
/// [`clip_global_norm`] scales them by, both as one-element tensors.
fn clip_factor(sq_norm: Tensor<1>, max_norm: f64) -> (Tensor<1>, Tensor<1>) {
    let norm = sq_norm.sqrt();
    let factor = norm.clone().add_scalar(1e-6).recip().mul_scalar(max_norm).clamp_max(1.0);
    (norm, factor)
}

/// Cosine annealing from `lr_max` to `lr_min` over `epochs` (PyTorch `CosineAnnealingLR`, stepped per epoch).
pub fn cosine_lr(lr_max: f64, lr_min: f64, epoch: usize, epochs: usize) -> f64 {
    lr_min + (lr_max - lr_min) * (1.0 + (std::f64::consts::PI * epoch as f64 / epochs as f64).cos()) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn v(t: &Tensor<1>) -> Vec<f32> {
        crate::params::to_vec(t)
    }

    #[test]
    fn sgd_matches_hand_computation() {
        let d = Device::flex();
        let mut p = vec![tensor1(vec![1.0, -2.0], &d)];
        let g = vec![tensor1(vec![0.5, 0.5], &d)];
        let mut o = Sgd::new(&p, 0.9);
        o.step(&mut p, &g, 0.1, 0.1);
        // d = g + 0.1 p = [0.6, 0.3]; buf = d; p = p - 0.1 d
        assert_eq!(v(&p[0]), vec![0.94, -2.03]);
        o.step(&mut p, &g, 0.1, 0.1);
        // d = [0.5 + 0.094, 0.5 - 0.203]; buf = 0.9 [0.6, 0.3] + d
        let b = [0.9 * 0.6 + 0.594, 0.9 * 0.3 + 0.297];
        let want = [0.94 - 0.1 * b[0], -2.03 - 0.1 * b[1]];
        for (a, w) in v(&p[0]).iter().zip(want) {
            assert!((*a as f64 - w).abs() < 1e-6);
        }
    }

    #[test]
    fn adam_first_step_moves_by_lr() {
        // With bias correction the first step is lr · g / (|g| + eps) = lr · sign(g).
        let d = Device::flex();
        let mut p = vec![tensor1(vec![1.0, 1.0], &d)];
        let g = vec![tensor1(vec![3.0, -0.01], &d)];
        let mut o = Adam::new(&p, (0.5, 0.999), 0.0);
        o.step(&mut p, &g, 0.01);
        let got = v(&p[0]);
        assert!((got[0] - 0.99).abs() < 1e-6 && (got[1] - 1.01).abs() < 1e-5, "{got:?}");
    }

    #[test]
    fn clipping_is_global() {
        let d = Device::flex();
        let mut g = vec![tensor1(vec![3.0], &d), tensor1(vec![4.0], &d)];
        let n = clip_global_norm(&mut g, 1.0, Kernels::Auto);
        assert!((crate::params::block_on(crate::params::read_scalar(&n)) - 5.0).abs() < 1e-6);
        assert!((v(&g[0])[0] - 0.6).abs() < 1e-5 && (v(&g[1])[0] - 0.8).abs() < 1e-5);
        let mut small = vec![tensor1(vec![0.3], &d)];
        clip_global_norm(&mut small, 5.0, Kernels::Auto);
        assert_eq!(v(&small[0]), vec![0.3]);
    }

    #[test]
    fn cosine_schedule_endpoints() {
        assert_eq!(cosine_lr(0.025, 0.001, 0, 50), 0.025);
        assert!((cosine_lr(0.025, 0.001, 25, 50) - 0.013).abs() < 1e-12);
        assert!((cosine_lr(0.025, 0.001, 50, 50) - 0.001).abs() < 1e-12);
    }
}
