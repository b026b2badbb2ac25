//! The bi-level search of docs/ALGORITHM.md §5 as explicit steps, reporting through
//! [`SearchEvent`]s; the loop never prints.
//!
//! One concept per file: [`config`] (every knob), [`event`] (what a search reports), this file
//! (`Search`: the state and the epoch loop), `step` (a bi-level step, queued, and the reads of
//! queued steps), `curvature` (λmax and λmin at an epoch's end),
//! [`ada`] (DARTS-ES/ADA's actions and rollback targets), `rs_ws` (the random-search baseline),
//! [`snapshot`] (the whole state on the host, and back).
//!
//! Every method that reads back from the device is `async`, so the same code runs on WebGPU in a
//! browser; native front ends wait with [`crate::block_on`] at their entry points.

mod ada;
pub mod config;
pub mod control;
mod curvature;
pub mod event;
mod rs_ws;
pub mod snapshot;
mod step;

pub use control::{Controller, RobustState};
pub use config::*;
pub use event::*;
pub use curvature::Probe;
pub use snapshot::{Snapshot, SnapshotMeta};
pub use step::StepOut;

use burn::tensor::{Device, Tensor};

use crate::architect::evaluate_batch;
use crate::clock::now_seconds;
use crate::data::{Augment, Batch, Dataset, Split, epoch_batches, full_batches, make_batch};
use crate::error::CoreError;
use crate::genotype::Genotype;
use crate::kernels::Kernels;
use crate::network::{Alpha, Supernet};
use crate::optim::{Adam, Sgd, cosine_lr};
use crate::params::{BnStats, Weights, init_weights, read_scalar};
use crate::rng::Rng;
use crate::robust::EsTracker;
use crate::tally::{Tally, evaluate_chunks};

/// The whole state of a search. Fields are private: what front ends may change goes through
/// methods that keep the configuration, the optimisers and the network consistent.
pub struct Search {
    config: SearchConfig,
    net: Supernet,
    weights: Weights,
    alpha: Alpha,
    sgd: Sgd,
    adam: Adam,
    stats: BnStats,
    /// Next epoch to run.
    epoch: usize,
    /// Data order and augmentation randomness.
    data_rng: Rng,
    /// Noise-op and drop-path randomness.
    model_rng: Rng,
    /// λ history, record of epochs, DARTS-ES/ADA progress and rollback targets.
    ctl: Controller<Kept, Snapshot>,
    /// RS-ws: the evaluated candidates (after the last epoch).
    sampled: Vec<SampledArch>,
    data: Dataset,
    split: Split,
    device: Device,
    /// Steps an epoch queues between two reads from the device.
    read_every: usize,
}

impl Search {
    /// Sets up a search on `data` (already decoded) on `device` (a plain device; autodiff is added
    /// per pass). The network's input shape and classes are taken from the data.
    pub fn new(mut config: SearchConfig, data: Dataset, device: &Device) -> Result<Self, CoreError> {
        config = config.for_data(&data);
        config.validate()?;
        let data = if config.max_images > 0 { data.truncate(config.max_images) } else { data };
        let data = if config.downsample > 1 { data.downsample(config.downsample)? } else { data };
        data.validate()?;
        let split = Split::new(data.len(), config.train_portion)?;
        let net = Supernet::new(&config.net)?;
        let mut root = Rng::new(config.seed);
        let mut init_rng = root.fork(1);
        let weights = init_weights(&net.specs, &mut init_rng, device);
        let alpha = Alpha::init(net.space.edges(), net.space.ops_per_edge(), &mut init_rng, device);
        let sgd = Sgd::new(&weights.tensors, config.momentum);
        let adam = Adam::new(&alpha.flat_pair(), (config.arch_beta1, config.arch_beta2), config.arch_weight_decay);
        let stats = BnStats::new(&net.bn_channels, device);
        Ok(Search {
            data_rng: root.fork(2),
            model_rng: root.fork(3),
            ctl: Controller::new(&config.hessian, &config.robust, config.epochs),
            sampled: Vec::new(),
            config,
            net,
            weights,
            alpha,
            sgd,
            adam,
            stats,
            epoch: 0,
            data,
            split,
            device: device.clone(),
            read_every: 1,
        })
    }

    /// The configuration in effect (DARTS-ADA may have raised its regularisation).
    pub fn config(&self) -> &SearchConfig {
        &self.config
    }

    /// The supernet's structure.
    pub fn net(&self) -> &Supernet {
        &self.net
    }

    /// The current weights.
    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    /// The current α.
    pub fn alpha(&self) -> &Alpha {
        &self.alpha
    }

    /// The noise and drop-path stream (curvature probes start from a clone of it).
    pub fn model_rng(&self) -> &Rng {
        &self.model_rng
    }

    /// The next epoch to run (0-based), i.e. the number of finished epochs.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// The λmax history and its local averages.
    pub fn tracker(&self) -> &EsTracker {
        self.ctl.tracker()
    }

    /// DARTS-ES/ADA progress.
    pub fn robust(&self) -> &RobustState {
        self.ctl.robust()
    }

    /// RS-ws: the evaluated candidates (after the last epoch).
    pub fn sampled(&self) -> &[SampledArch] {
        &self.sampled
    }

    /// The device the search runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The data set in use.
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    /// Chooses our kernels or the plain-tensor reference (see [`Kernels`]); the function computed
    /// is the same.
    pub fn set_kernels(&mut self, kernels: Kernels) {
        self.net.kernels = kernels;
        self.sgd.kernels = kernels;
    }

    /// Whether every epoch has run, or DARTS-ES stopped the search.
    pub fn finished(&self) -> bool {
        self.epoch >= self.config.epochs || self.ctl.robust.stopped
    }

    /// The search's answer: the genotype of the current α, or of the stop epoch after DARTS-ES,
    /// or RS-ws's best candidate.
    pub async fn result_genotype(&self) -> Genotype {
        match self.settled_genotype() {
            Some(g) => g,
            None => self.genotype().await,
        }
    }

    /// The search's answer when it no longer follows the current α: RS-ws's best candidate, or the
    /// genotype DARTS-ES kept when it stopped the search.
    pub fn settled_genotype(&self) -> Option<Genotype> {
        if let Some(best) = self.best_sampled() {
            return Some(best.genotype.clone());
        }
        self.ctl.stopped_at().map(|k| k.genotype.clone())
    }

    /// The genotype of the current α.
    async fn genotype(&self) -> Genotype {
        let (n, r) = self.alpha.read().await;
        Genotype::derive(&self.net.space, &n, &r)
    }

    /// Waits for the device to finish queued work (reads one value back): for timing.
    pub async fn sync(&self) {
        #[allow(clippy::single_range_in_vec_init)] // Burn's slice takes one range per dimension
        let _ = read_scalar(&self.weights.tensors[0].clone().slice([0..1]).sum()).await;
    }

    /// The schedule of the next epoch and its training batches (drawn from the data stream).
    fn plan_epoch(&mut self) -> EpochPlan {
        let cfg = &self.config;
        let epoch = self.epoch;
        EpochPlan {
            start: now_seconds(),
            epoch,
            lr: cosine_lr(cfg.lr, cfg.lr_min, epoch, cfg.epochs),
            drop_prob: cfg.drop_prob_at(epoch),
            augment: cfg.augment_at(epoch),
            train_batches: epoch_batches(&self.split.train, cfg.batch_size, &mut self.data_rng),
        }
    }

    /// Runs the next epoch: for each training batch, one α step on a validation batch, then one
    /// weight step; then evaluation (RS-ws: one weight step per batch on a sampled architecture).
    /// Every step and the epoch's end are sent to `observe`.
    pub async fn run_epoch(&mut self, observe: &mut dyn FnMut(&SearchEvent)) -> Result<EpochReport, CoreError> {
        if self.config.method == Method::RsWs {
            return self.run_epoch_rs(observe).await;
        }
        let mut run = self.begin_epoch();
        loop {
            if let Some(report) = self.advance(&mut run, observe).await? {
                return Ok(report);
            }
        }
    }

    /// Starts the next DARTS epoch without running any of it (see [`Search::advance`]); the
    /// batches are drawn exactly as [`Search::run_epoch`] draws them.
    pub fn begin_epoch(&mut self) -> EpochRun {
        let plan = self.plan_epoch();
        let val_batches = full_batches(&self.split.valid, self.config.batch_size, &mut self.data_rng);
        EpochRun { plan, val_batches, next: 0, queued: Vec::new(), tally: Tally::default(), last_val: None, ended: false }
    }

    /// One bounded piece of an epoch begun with [`Search::begin_epoch`]: the next search step
    /// (`Ok(None)`), or, after the last step, the epoch's end (evaluation, curvature, DARTS-ES/ADA)
    /// and its report. For callers that must not wait for a whole epoch (the browser demo).
    /// Steps and the end go to `observe` as in [`Search::run_epoch`], with identical results.
    pub async fn advance(&mut self, run: &mut EpochRun, observe: &mut dyn FnMut(&SearchEvent)) -> Result<Option<EpochReport>, CoreError> {
        let steps = run.plan.train_batches.len();
        if run.next < steps {
            let step = run.next;
            if run.val_batches.is_empty() {
                run.val_batches = full_batches(&self.split.valid, self.config.batch_size, &mut self.data_rng);
            }
            let val_idx = run.val_batches.remove(0);
            let train = make_batch(&self.data, &run.plan.train_batches[step], Some(&run.plan.augment), &mut self.data_rng);
            let val = make_batch(&self.data, &val_idx, Some(&run.plan.augment), &mut self.data_rng);
            self.take_step(run, &train, &val, observe).await?;
            run.last_val = Some(val);
            return Ok(None);
        }
        if run.ended {
            return Err(CoreError::invalid("epoch", format!("epoch {} has already ended; begin the next one", run.plan.epoch)));
        }
        if !run.queued.is_empty() {
            self.read_queued(run, observe).await?;
        }
        run.ended = true;
        let EpochPlan { start, epoch, lr, drop_prob, .. } = run.plan;
        let (weight_decay, drop_path_prob) = (self.config.weight_decay, self.config.drop_path_prob);
        let (valid_loss, valid_acc) = self.evaluate().await;
        let seconds = now_seconds() - start;
        let curvature = match (run.last_val.take(), self.ctl.hessian_due(epoch)) {
            (Some(val), true) => Some(self.curvature(epoch, &val, drop_prob).await),
            _ => None,
        };
        let lambdas = curvature.as_ref().map_or(vec![], |c| vec![("λmax", c.lambda_max), ("λmin", c.lambda_min)]);
        let values = [("the validation loss", valid_loss), ("the training loss", run.tally.mean_loss())].into_iter().chain(lambdas);
        self.ensure_finite(epoch, values).await?;
        self.epoch += 1;
        let (an, ar) = self.alpha.read().await;
        let k = self.net.space.ops_per_edge();
        let report = EpochReport {
            epoch,
            lr,
            train_loss: run.tally.mean_loss(),
            train_acc: run.tally.accuracy(),
            valid_loss,
            valid_acc,
            genotype: Genotype::derive(&self.net.space, &an, &ar),
            alpha_normal: crate::genotype::softmax_rows(&an, k),
            alpha_reduce: crate::genotype::softmax_rows(&ar, k),
            seconds,
            curvature,
            weight_decay,
            drop_path_prob,
            iteration: self.ctl.robust.iteration,
        };
        observe(&SearchEvent::Epoch(report.clone()));
        let kept = Kept { genotype: report.genotype.clone(), valid_acc };
        if let Some(firing) = self.ctl.end_epoch(epoch, kept, report.curvature.as_ref().map(|c| c.lambda_max), self.raisable())? {
            observe(&SearchEvent::Robust(self.act_on(firing)?));
        }
        if self.ctl.keeps_states() && !self.finished() && self.epoch == epoch + 1 {
            let snapshot = self.snapshot().await;
            self.ctl.keep(self.epoch, snapshot);
        }
        Ok(Some(report))
    }

    /// The parts of the state that hold a NaN or an infinity, by name (empty when all is finite):
    /// weights, their momentum, α, Adam's moments, BatchNorm's running statistics. One read: each
    /// part's `Σ 0·x` is 0 exactly when every entry is finite (0·±∞ and 0·NaN are NaN).
    pub async fn non_finite_parts(&self) -> Vec<&'static str> {
        let alpha = [self.alpha.flat()];
        let stats: Vec<Tensor<1>> = self.stats.mean.iter().chain(&self.stats.var).cloned().collect();
        let adam: Vec<Tensor<1>> = self.adam.m.iter().chain(&self.adam.v).cloned().collect();
        let parts: [(&'static str, &[Tensor<1>]); 5] = [
            ("weights", &self.weights.tensors),
            ("momentum", &self.sgd.buf),
            ("α", &alpha),
            ("Adam's moments of α", &adam),
            ("BatchNorm running statistics", &stats),
        ];
        let sums: Vec<Tensor<1>> = parts
            .iter()
            .map(|(_, ts)| match ts {
                [] => Tensor::zeros([1], &self.device),
                ts => Tensor::cat(ts.to_vec(), 0).mul_scalar(0.0).sum(),
            })
            .collect();
        let values = crate::params::read(&Tensor::cat(sums, 0)).await;
        parts.iter().zip(values).filter(|(_, v)| !v.is_finite()).map(|((name, _), _)| *name).collect()
    }

    /// Stops the search at the end of `epoch` if any of the epoch's reported `values` (named) or
    /// any part of the state (α included, [`Search::non_finite_parts`]) is not finite: before the
    /// epoch is reported, recorded or checkpointed, so nothing non-finite is written and the last
    /// checkpoint stays the last good state.
    async fn ensure_finite(&self, epoch: usize, values: impl IntoIterator<Item = (&'static str, f64)>) -> Result<(), CoreError> {
        let stop = |what: String| {
            Err(CoreError::Numerical(format!(
                "{what} at the end of epoch {epoch}; the search stops before writing anything of this epoch (its last checkpoint is the last good state; try a lower learning rate)"
            )))
        };
        if let Some((name, v)) = values.into_iter().find(|(_, v)| !v.is_finite()) {
            return stop(format!("{name} became {v}"));
        }
        let bad = self.non_finite_parts().await;
        if !bad.is_empty() {
            return stop(format!("not finite: {}", bad.join(", ")));
        }
        Ok(())
    }

    fn adam_step(&mut self, grad: Alpha) {
        let (edges, k) = (self.net.space.edges(), self.net.space.ops_per_edge());
        let mut params = self.alpha.flat_pair();
        self.adam.step(&mut params, &grad.flat_pair(), self.config.arch_lr);
        self.alpha = Alpha::from_flat_pair(params, edges, k);
    }

    /// Loss and accuracy on (up to `eval_images` of) the validation half, in evaluation mode, on
    /// un-augmented images (the authors' validation loader augments; see the README).
    async fn evaluate(&mut self) -> (f64, f64) {
        let n = match self.config.eval_images {
            0 => self.split.valid.len(),
            m => m.min(self.split.valid.len()),
        };
        let mut rng = self.model_rng.clone();
        let (net, weights, alpha, stats, device) = (&self.net, &self.weights, &self.alpha, &mut self.stats, &self.device);
        evaluate_chunks(&self.data, &self.split.valid[..n], self.config.eval_chunk(), async |b: &Batch| {
            evaluate_batch(net, weights, alpha, b, stats, &mut rng, device).await
        })
        .await
    }
}

/// A DARTS epoch in progress (see [`Search::begin_epoch`] and [`Search::advance`]).
pub struct EpochRun {
    plan: EpochPlan,
    val_batches: Vec<Vec<usize>>,
    next: usize,
    /// Steps taken but not read yet.
    queued: Vec<step::Queued>,
    tally: Tally,
    last_val: Option<Batch>,
    ended: bool,
}

impl EpochRun {
    /// Steps done so far and steps in the epoch.
    pub fn progress(&self) -> (usize, usize) {
        (self.next, self.plan.train_batches.len())
    }
}

/// What an epoch runs with.
struct EpochPlan {
    start: f64,
    epoch: usize,
    lr: f64,
    drop_prob: f64,
    augment: Augment,
    train_batches: Vec<Vec<usize>>,
}

/// A batch's architecture for RS-ws: one-hot op weights per cell type and the active ops.
type SampledWeights = [(Tensor<2>, Vec<Vec<bool>>); 2];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::NetConfig;
    use crate::space::SpaceId;

    /// Every α batch, and so the batch λ is computed on (the epoch's last), is a full batch, as
    /// the authors' code draws them: 72 images split 36/36 make 3 training steps (16, 16, 4) and
    /// would make validation batches of 16, 16 and 4.
    #[test]
    fn every_alpha_batch_is_full() {
        let net = NetConfig { space: SpaceId::S2, channels: 4, layers: 3, nodes: 2, ..NetConfig::default() };
        let config = SearchConfig { net, epochs: 2, batch_size: 16, max_images: 72, eval_images: 8, ..SearchConfig::default() };
        let device = crate::backend::cpu().device;
        let mut s = Search::new(config, crate::formats::embedded_digits(), &device).unwrap();
        for _ in 0..2 {
            let mut run = s.begin_epoch();
            let mut sizes = Vec::new();
            while crate::block_on(s.advance(&mut run, &mut |_| {})).unwrap().is_none() {
                sizes.push(run.last_val.as_ref().map(|b| b.y.len()));
            }
            assert_eq!(sizes, vec![Some(16); 3], "α batch sizes of an epoch");
        }
    }
}
