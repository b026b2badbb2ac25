//! λmax and λmin of the α Hessian of the validation loss at an epoch's end
//! (docs/ALGORITHM.md §6), and the same probe for a saved state (`rdarts hessian --run`).

use super::{Curvature, Search};
use crate::clock::now_seconds;
use crate::data::{Batch, full_batches, make_batch};
use crate::hessian::{AlphaHessian, HessianAt, symmetric_eigen};
use crate::rng::Rng;

/// What [`Search::curvature_probe`] computes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Probe {
    /// Validation batches λ is averaged over (at least 1).
    pub batches: usize,
    /// Lanczos products per batch at most.
    pub lanczos_steps: usize,
    /// Lanczos' relative residual tolerance (0: take every product).
    pub lanczos_tol: f64,
    /// Also every eigenvalue of the dense Hessian of the first batch (one product per α entry).
    pub spectrum: bool,
}

impl Search {
    /// λmax and λmin on `val` (the epoch's last α-step batch) and, when configured, further
    /// validation batches from a stream of their own; the search's random streams are not advanced.
    pub(super) async fn curvature(&mut self, epoch: usize, val: &Batch, drop_prob: f64) -> Curvature {
        let hc = &self.config.hessian;
        let probe = Probe { batches: hc.batches, lanczos_steps: hc.lanczos_steps, lanczos_tol: hc.lanczos_tol, spectrum: false };
        self.curvature_on(epoch, Some(val), probe, drop_prob).await.0
    }

    /// λmax and λmin of the current state on `probe.batches` validation batches drawn from a
    /// stream of their own (the search's streams are not advanced), at the drop-path probability
    /// of the last finished epoch; with `probe.spectrum`, also every eigenvalue of the dense
    /// Hessian of the first batch. For `rdarts hessian --run`.
    pub async fn curvature_probe(&mut self, probe: Probe) -> (Curvature, Option<Vec<f64>>) {
        let epoch = self.epoch.saturating_sub(1);
        let drop_prob = self.config.drop_prob_at(epoch);
        let probe = Probe { batches: probe.batches.max(1), ..probe };
        self.curvature_on(epoch, None, probe, drop_prob).await
    }

    async fn curvature_on(&mut self, epoch: usize, first: Option<&Batch>, probe: Probe, drop_prob: f64) -> (Curvature, Option<Vec<f64>>) {
        let start = now_seconds();
        let cfg = &self.config;
        let mut batches: Vec<Batch> = first.into_iter().cloned().collect();
        if probe.batches > batches.len() {
            let mut r = Rng::new(cfg.seed).fork(1000 + epoch as u64);
            let augment = cfg.augment_at(epoch);
            for idx in full_batches(&self.split.valid, cfg.batch_size, &mut r).iter().take(probe.batches - batches.len()) {
                batches.push(make_batch(&self.data, idx, Some(&augment), &mut r));
            }
        }
        let mut eigenvalues = None;
        let (mut max, mut min, mut evals) = (0.0, 0.0, 0);
        for (i, b) in batches.iter().enumerate() {
            let at = HessianAt {
                net: &self.net,
                w: &self.weights,
                alpha: &self.alpha,
                batch: b,
                arch_weight_decay: cfg.arch_weight_decay,
                drop_prob,
                rng: self.model_rng.clone(),
            };
            let mut h = AlphaHessian::new(at, &self.device).await;
            let e = h.extremes(probe.lanczos_steps, probe.lanczos_tol, cfg.seed ^ ((epoch as u64) << 16) ^ i as u64).await;
            if probe.spectrum && i == 0 {
                let n = h.dim();
                eigenvalues = Some(symmetric_eigen(&h.dense().await, n).0);
            }
            max += e.max;
            min += e.min;
            evals += h.gradient_evals;
        }
        let n = batches.len() as f64;
        let c = Curvature { lambda_max: max / n, lambda_min: min / n, batches: batches.len(), gradient_evals: evals, seconds: now_seconds() - start };
        (c, eigenvalues)
    }
}
