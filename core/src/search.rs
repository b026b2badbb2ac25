//! The bi-level search loop of SPEC §5 as explicit steps, reporting through [`SearchEvent`]s.
//! The loop never prints; front ends observe events.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::architect::{Order, PassCtx, Unroll, Wrt, alpha_grad, evaluate_batch, loss_and_grads};
use crate::data::{Augment, Dataset, Split, epoch_batches, make_batch};
use crate::error::CoreError;
use crate::genotype::Genotype;
use crate::network::{Alpha, NetConfig, Supernet};
use crate::optim::{Adam, Sgd, clip_global_norm, cosine_lr};
use crate::params::{BnStats, Weights, init_weights};
use crate::rng::Rng;

/// Every knob of a search. `Default` is the paper's setting (SPEC §1, §5); [`SearchConfig::demo`]
/// is a small setting that finishes in minutes on a laptop CPU.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// The network.
    pub net: NetConfig,
    /// Epochs.
    pub epochs: usize,
    /// Batch size of both the weight and the α step.
    pub batch_size: usize,
    /// Seed of every random draw.
    pub seed: u64,
    /// First- or second-order α gradient.
    pub order: Order,
    /// Initial weight learning rate (cosine-annealed).
    pub lr: f64,
    /// Final weight learning rate.
    pub lr_min: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Weight decay of the weights (the factor R-DARTS(L2) raises).
    pub weight_decay: f64,
    /// Global gradient-norm clip of the weights.
    pub grad_clip: f64,
    /// Adam learning rate of α.
    pub arch_lr: f64,
    /// Adam β1 of α.
    pub arch_beta1: f64,
    /// Adam β2 of α.
    pub arch_beta2: f64,
    /// Adam (L2) weight decay of α.
    pub arch_weight_decay: f64,
    /// Fraction of the training set used for weights; the rest trains α.
    pub train_portion: f64,
    /// Use only the first N images of the data set (0 = all).
    pub max_images: usize,
    /// Evaluate on at most N validation images at the end of each epoch (0 = all).
    pub eval_images: usize,
    /// Augmentation of training and α batches.
    pub augment: Augment,
    /// Maximum ScheduledDropPath probability (0 = off).
    pub drop_path_prob: f64,
    /// Ramp the Cutout probability up with the epochs, as drop-path (SPEC §9).
    pub schedule_cutout: bool,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            net: NetConfig::default(),
            epochs: 50,
            batch_size: 64,
            seed: 2,
            order: Order::Second,
            lr: 0.025,
            lr_min: 0.001,
            momentum: 0.9,
            weight_decay: 3e-4,
            grad_clip: 5.0,
            arch_lr: 3e-4,
            arch_beta1: 0.5,
            arch_beta2: 0.999,
            arch_weight_decay: 1e-3,
            train_portion: 0.5,
            max_images: 0,
            eval_images: 0,
            augment: Augment::default(),
            drop_path_prob: 0.0,
            schedule_cutout: false,
        }
    }
}

/// R-DARTS(L2): the weight-decay grid of SPEC §9, 3e-4 · 3^level.
pub const RDARTS_L2_GRID: [f64; 5] = [3e-4, 9e-4, 27e-4, 81e-4, 243e-4];
/// R-DARTS(DP): the maximum drop-path probabilities of SPEC §9.
pub const RDARTS_DP_GRID: [f64; 4] = [0.0, 0.2, 0.4, 0.6];

impl SearchConfig {
    /// The paper's setting (SPEC §1, §5).
    pub fn paper() -> Self {
        Self::default()
    }

    /// A small search that finishes in a few minutes on a 2-core CPU: S5, C = 8, 4 cells,
    /// 3 nodes per cell, first order, 1 024 digits, 3 epochs, batch 32. α learns faster than the
    /// paper's 3e-4 (1e-2) so that a short run visibly moves it.
    pub fn demo() -> Self {
        SearchConfig {
            net: NetConfig { channels: 8, layers: 4, nodes: 3, ..NetConfig::default() },
            epochs: 3,
            batch_size: 32,
            order: Order::First,
            arch_lr: 1e-2,
            max_images: 1024,
            eval_images: 256,
            ..Self::default()
        }
    }

    /// Checks every field; errors name the field and the expected range.
    pub fn validate(&self) -> Result<(), CoreError> {
        self.net.validate()?;
        let check = |ok: bool, field: &str, msg: String| if ok { Ok(()) } else { Err(CoreError::invalid(field, msg)) };
        check(self.epochs > 0, "epochs", format!("must be at least 1, found {}", self.epochs))?;
        check(self.batch_size > 0, "batch_size", format!("must be at least 1, found {}", self.batch_size))?;
        for (name, v) in [
            ("lr", self.lr),
            ("arch_lr", self.arch_lr),
            ("grad_clip", self.grad_clip),
        ] {
            check(v.is_finite() && v > 0.0, name, format!("must be a positive number, found {v}"))?;
        }
        for (name, v) in [
            ("lr_min", self.lr_min),
            ("momentum", self.momentum),
            ("weight_decay", self.weight_decay),
            ("arch_weight_decay", self.arch_weight_decay),
        ] {
            check(v.is_finite() && v >= 0.0, name, format!("must be a non-negative number, found {v}"))?;
        }
        for (name, v) in [("arch_beta1", self.arch_beta1), ("arch_beta2", self.arch_beta2)] {
            check((0.0..1.0).contains(&v), name, format!("must be in [0, 1), found {v}"))?;
        }
        check(
            (0.0..=1.0).contains(&self.augment.cutout_prob),
            "augment.cutout_prob",
            format!("must be in [0, 1], found {}", self.augment.cutout_prob),
        )?;
        check(
            (0.0..1.0).contains(&self.drop_path_prob),
            "drop_path_prob",
            format!("must be in [0, 1), found {}", self.drop_path_prob),
        )?;
        check(
            self.train_portion > 0.0 && self.train_portion < 1.0,
            "train_portion",
            format!("must be in (0, 1), found {}", self.train_portion),
        )?;
        Ok(())
    }

    /// R-DARTS(L2) at grid `level` (0–4): the weights' weight decay from [`RDARTS_L2_GRID`].
    pub fn with_rdarts_l2(mut self, level: usize) -> Result<Self, CoreError> {
        self.weight_decay = *RDARTS_L2_GRID.get(level).ok_or_else(|| {
            CoreError::invalid("rdarts_l2", format!("level must be 0..4 (weight decay {RDARTS_L2_GRID:?}), found {level}"))
        })?;
        Ok(self)
    }

    /// R-DARTS(DP) at grid `level` (0–3): ScheduledDropPath with the maximum probability from
    /// [`RDARTS_DP_GRID`] and, when it is not 0, Cutout 16 with the same schedule (SPEC §9).
    pub fn with_rdarts_dp(mut self, level: usize) -> Result<Self, CoreError> {
        let p = *RDARTS_DP_GRID.get(level).ok_or_else(|| {
            CoreError::invalid("rdarts_dp", format!("level must be 0..3 (drop-path {RDARTS_DP_GRID:?}), found {level}"))
        })?;
        self.drop_path_prob = p;
        if p > 0.0 {
            self.augment.cutout = 16;
            self.augment.cutout_prob = 1.0;
            self.schedule_cutout = true;
        } else {
            self.augment.cutout = 0;
            self.schedule_cutout = false;
        }
        Ok(self)
    }

    /// Fraction of the way through the search at `epoch`: e / (epochs − 1), 1 for a single epoch.
    fn ramp(&self, epoch: usize) -> f64 {
        if self.epochs <= 1 { 1.0 } else { epoch as f64 / (self.epochs - 1) as f64 }
    }

    /// Cutout probability at `epoch`: fixed, or cutout_prob · e / (epochs − 1) when scheduled.
    pub fn cutout_prob_at(&self, epoch: usize) -> f64 {
        if self.schedule_cutout { self.augment.cutout_prob * self.ramp(epoch) } else { self.augment.cutout_prob }
    }

    /// The augmentation of training batches at `epoch`.
    pub fn augment_at(&self, epoch: usize) -> Augment {
        Augment { cutout_prob: self.cutout_prob_at(epoch), ..self.augment.clone() }
    }

    /// Drop-path probability at `epoch`: p · e / (epochs − 1) (SPEC §9).
    pub fn drop_prob_at(&self, epoch: usize) -> f64 {
        self.drop_path_prob * self.ramp(epoch)
    }
}

/// Per-step progress.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StepReport {
    /// Epoch (0-based).
    pub epoch: usize,
    /// Step within the epoch (0-based).
    pub step: usize,
    /// Steps in this epoch.
    pub steps: usize,
    /// Weight-step loss on the training batch.
    pub train_loss: f64,
    /// Running training accuracy of this epoch so far.
    pub train_acc: f64,
    /// α-step loss on the validation batch.
    pub arch_loss: f64,
}

/// End-of-epoch summary.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochReport {
    /// Epoch (0-based).
    pub epoch: usize,
    /// Weight learning rate used.
    pub lr: f64,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy.
    pub train_acc: f64,
    /// Validation loss (evaluation mode).
    pub valid_loss: f64,
    /// Validation accuracy.
    pub valid_acc: f64,
    /// Genotype derived from α at the end of the epoch.
    pub genotype: Genotype,
    /// softmax(α) of normal cells, row per edge.
    pub alpha_normal: Vec<Vec<f32>>,
    /// softmax(α) of reduction cells.
    pub alpha_reduce: Vec<Vec<f32>>,
    /// Seconds the epoch took.
    pub seconds: f64,
}

/// What a running search reports. Closed: front ends match on every variant.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SearchEvent {
    /// A weight step and an α step finished.
    Step(StepReport),
    /// An epoch finished and was evaluated.
    Epoch(EpochReport),
}

/// The whole state of a search.
pub struct Search {
    /// Configuration (validated).
    pub config: SearchConfig,
    /// The network structure.
    pub net: Supernet,
    /// Current weights.
    pub weights: Weights,
    /// Current α.
    pub alpha: Alpha,
    /// Weight optimiser.
    pub sgd: Sgd,
    /// α optimiser.
    pub adam: Adam,
    /// BatchNorm running statistics.
    pub stats: BnStats,
    /// Next epoch to run.
    pub epoch: usize,
    /// Data order and augmentation randomness.
    pub data_rng: Rng,
    /// Noise-op and drop-path randomness.
    pub model_rng: Rng,
    data: Dataset,
    split: Split,
    device: Device,
}

impl Search {
    /// Sets up a search on `data` (already decoded) on `device` (a plain device; autodiff is added
    /// per pass). The network's input shape and classes are taken from the data.
    pub fn new(mut config: SearchConfig, data: Dataset, device: &Device) -> Result<Self, CoreError> {
        config.net.in_channels = data.channels;
        config.net.image_size = data.size;
        config.net.classes = data.classes;
        config.validate()?;
        let data = if config.max_images > 0 { data.truncate(config.max_images) } else { data };
        data.validate()?;
        let split = Split::new(data.len(), config.train_portion)?;
        let net = Supernet::new(&config.net)?;
        let mut root = Rng::new(config.seed);
        let mut init_rng = root.fork(1);
        let weights = init_weights(&net.specs, &mut init_rng, device);
        let alpha = Alpha::init(net.space.edges(), net.space.ops_per_edge(), &mut init_rng, device);
        let sgd = Sgd::new(&weights.tensors, config.momentum, config.weight_decay);
        let alpha_flat = [alpha.normal.clone().reshape([-1]), alpha.reduce.clone().reshape([-1])];
        let adam = Adam::new(&alpha_flat, (config.arch_beta1, config.arch_beta2), config.arch_weight_decay);
        let stats = BnStats::new(&net.bn_channels, device);
        Ok(Search {
            data_rng: root.fork(2),
            model_rng: root.fork(3),
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
        })
    }

    /// The device the search runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The data set in use.
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    /// Whether every epoch has run.
    pub fn finished(&self) -> bool {
        self.epoch >= self.config.epochs
    }

    /// The genotype of the current α.
    pub fn genotype(&self) -> Genotype {
        let (n, r) = self.alpha.to_host();
        Genotype::derive(&self.net.space, &n, &r)
    }

    /// Runs the next epoch: for each training batch, one α step on a validation batch, then one
    /// weight step; then evaluation. Every step and the epoch's end are sent to `observe`.
    pub fn run_epoch(&mut self, observe: &mut dyn FnMut(&SearchEvent)) -> Result<EpochReport, CoreError> {
        let start = web_time_now();
        let epoch = self.epoch;
        let cfg = self.config.clone();
        let lr = cosine_lr(cfg.lr, cfg.lr_min, epoch, cfg.epochs);
        let drop_prob = cfg.drop_prob_at(epoch);
        let augment = cfg.augment_at(epoch);
        let train_batches = epoch_batches(&self.split.train, cfg.batch_size, &mut self.data_rng);
        let mut val_batches = epoch_batches(&self.split.valid, cfg.batch_size, &mut self.data_rng);
        let steps = train_batches.len();
        let (mut loss_sum, mut correct, mut seen) = (0.0, 0usize, 0usize);
        for (step, idx) in train_batches.iter().enumerate() {
            if val_batches.is_empty() {
                val_batches = epoch_batches(&self.split.valid, cfg.batch_size, &mut self.data_rng);
            }
            let val_idx = val_batches.remove(0);
            let train = make_batch(&self.data, idx, Some(&augment), &mut self.data_rng);
            let val = make_batch(&self.data, &val_idx, Some(&augment), &mut self.data_rng);

            // α step.
            let unroll = Unroll {
                lr,
                momentum: cfg.momentum,
                weight_decay: cfg.weight_decay,
                momentum_buf: &self.sgd.buf,
            };
            let a = alpha_grad(
                &self.net, &self.weights, &self.alpha, &train, &val, cfg.order, &unroll,
                PassCtx::new(Some(&mut self.stats), &mut self.model_rng, drop_prob),
                &self.device,
            );
            let ga = a.alpha.expect("α gradient");
            self.adam_step(ga);

            // Weight step.
            let g = loss_and_grads(
                &self.net, &self.weights, &self.alpha, &train, Wrt::Weights,
                PassCtx::new(Some(&mut self.stats), &mut self.model_rng, drop_prob),
                &self.device,
            );
            if !g.loss.is_finite() || !a.loss.is_finite() {
                return Err(CoreError::Numerical(format!(
                    "loss became {} at epoch {epoch}, step {step} (try a lower learning rate)",
                    if g.loss.is_finite() { a.loss } else { g.loss }
                )));
            }
            let mut gw = g.weights.expect("weight gradients");
            clip_global_norm(&mut gw, cfg.grad_clip);
            self.sgd.step(&mut self.weights.tensors, &gw, lr);

            loss_sum += g.loss * train.y.len() as f64;
            correct += g.correct;
            seen += train.y.len();
            observe(&SearchEvent::Step(StepReport {
                epoch,
                step,
                steps,
                train_loss: g.loss,
                train_acc: correct as f64 / seen as f64,
                arch_loss: a.loss,
            }));
        }
        let (valid_loss, valid_acc) = self.evaluate();
        self.epoch += 1;
        let (an, ar) = self.alpha.to_host();
        let k = self.net.space.ops_per_edge();
        let report = EpochReport {
            epoch,
            lr,
            train_loss: loss_sum / seen.max(1) as f64,
            train_acc: correct as f64 / seen.max(1) as f64,
            valid_loss,
            valid_acc,
            genotype: Genotype::derive(&self.net.space, &an, &ar),
            alpha_normal: crate::genotype::softmax_rows(&an, k),
            alpha_reduce: crate::genotype::softmax_rows(&ar, k),
            seconds: web_time_now() - start,
        };
        observe(&SearchEvent::Epoch(report.clone()));
        Ok(report)
    }

    fn adam_step(&mut self, grad: Alpha) {
        let (edges, k) = (self.net.space.edges(), self.net.space.ops_per_edge());
        let mut params = [self.alpha.normal.clone().reshape([-1]), self.alpha.reduce.clone().reshape([-1])];
        let grads = [grad.normal.reshape([-1]), grad.reduce.reshape([-1])];
        self.adam.step(&mut params, &grads, self.config.arch_lr);
        let [n, r]: [Tensor<1>; 2] = params;
        self.alpha = Alpha { normal: n.reshape([edges, k]), reduce: r.reshape([edges, k]) };
    }

    /// Loss and accuracy on (up to `eval_images` of) the validation half, in evaluation mode.
    pub fn evaluate(&mut self) -> (f64, f64) {
        let n = match self.config.eval_images {
            0 => self.split.valid.len(),
            m => m.min(self.split.valid.len()),
        };
        let idx = &self.split.valid[..n];
        let (mut loss, mut correct) = (0.0, 0usize);
        let mut rng = self.model_rng.clone();
        for chunk in idx.chunks(self.config.batch_size.max(64)) {
            let b = make_batch(&self.data, chunk, None, &mut rng);
            let (l, c) = evaluate_batch(&self.net, &self.weights, &self.alpha, &b, &mut self.stats, &mut rng, &self.device);
            loss += l * chunk.len() as f64;
            correct += c;
        }
        (loss / n as f64, correct as f64 / n as f64)
    }
}

/// Seconds since an arbitrary origin (wall clock on native and in browsers).
pub fn web_time_now() -> f64 {
    use std::sync::OnceLock;
    static START: OnceLock<web_time::Instant> = OnceLock::new();
    START.get_or_init(web_time::Instant::now).elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_follow_spec_section_9() {
        let c = SearchConfig { epochs: 51, ..SearchConfig::default() }.with_rdarts_dp(2).unwrap();
        assert_eq!(c.drop_path_prob, 0.4);
        assert_eq!(c.drop_prob_at(0), 0.0);
        assert!((c.drop_prob_at(25) - 0.2).abs() < 1e-12);
        assert!((c.drop_prob_at(50) - 0.4).abs() < 1e-12);
        assert_eq!(c.augment.cutout, 16);
        assert_eq!(c.cutout_prob_at(0), 0.0);
        assert!((c.cutout_prob_at(25) - 0.5).abs() < 1e-12);
        assert!((c.cutout_prob_at(50) - 1.0).abs() < 1e-12);
        assert!((c.augment_at(25).cutout_prob - 0.5).abs() < 1e-12);
        // p = 0 switches both off.
        let off = c.clone().with_rdarts_dp(0).unwrap();
        assert_eq!((off.drop_prob_at(50), off.augment.cutout), (0.0, 0));
        assert!(c.clone().with_rdarts_dp(4).is_err());
        let l2 = SearchConfig::default().with_rdarts_l2(3).unwrap();
        assert_eq!(l2.weight_decay, 81e-4);
        assert!(SearchConfig::default().with_rdarts_l2(5).unwrap_err().to_string().contains("0..4"));
        // Unscheduled Cutout keeps its probability.
        let fixed = SearchConfig { augment: Augment { cutout: 16, cutout_prob: 0.7, ..Augment::default() }, ..SearchConfig::default() };
        assert_eq!(fixed.cutout_prob_at(0), 0.7);
    }
}
