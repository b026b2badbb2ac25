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
use crate::params::{BnStats, Weights, init_weights, read_all};
use crate::rng::Rng;
use crate::robust::{EsRule, EsStop, EsTracker};

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
    /// Tracking of the dominant eigenvalue of the α Hessian (SPEC §6).
    pub hessian: HessianConfig,
    /// DARTS-ES / DARTS-ADA (SPEC §7, §8).
    pub robust: RobustConfig,
    /// DARTS, or the random-search baseline with weight sharing (SPEC §10).
    pub method: Method,
    /// RS-ws: architectures sampled and evaluated with the shared weights at the end.
    pub rs_candidates: usize,
    /// RS-ws: validation batches each candidate is evaluated on.
    pub rs_eval_batches: usize,
}

/// The search method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Differentiable architecture search (bi-level, SPEC §5).
    Darts,
    /// Random search with weight sharing (SPEC §10): the supernet trained on one uniformly
    /// sampled architecture per batch, then sampled architectures ranked on validation data.
    RsWs,
}

/// One architecture RS-ws sampled and evaluated with the shared weights.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SampledArch {
    /// Index among the candidates.
    pub index: usize,
    /// The architecture.
    pub genotype: Genotype,
    /// Validation accuracy with the shared weights (training-mode BatchNorm: the running
    /// statistics are shared by all architectures and fit none of them).
    pub valid_acc: f64,
    /// Validation loss.
    pub valid_loss: f64,
}

/// When and how λmax is computed during a search (SPEC §6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HessianConfig {
    /// Compute λmax and λmin every this many epochs (epochs 0, every, 2·every, …) and at the last
    /// epoch; 0 = never (then DARTS-ES/ADA cannot run).
    pub every: usize,
    /// Lanczos products per batch (each costs 2 gradient evaluations).
    pub lanczos_steps: usize,
    /// Validation batches λ is averaged over: 1 = the epoch's last α-step batch, as the reference;
    /// more reduce the noise of a single batch (the extra batches are drawn from a stream of their
    /// own, so the search's trajectory does not change).
    pub batches: usize,
}

impl Default for HessianConfig {
    fn default() -> Self {
        HessianConfig { every: 2, lanczos_steps: 20, batches: 1 }
    }
}

/// What the DARTS-ES rule's firing does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RobustMode {
    /// Nothing (the rule is still evaluated, and where it would have stopped is reported).
    Off,
    /// DARTS-ES: stop; the result is the genotype of the rolled-back epoch.
    Es,
    /// DARTS-ADA: roll back to that epoch, raise the regularisation, continue.
    Ada,
}

/// Which regularisation DARTS-ADA raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdaTarget {
    /// The weights' L2 factor, multiplied by `mul_factor` up to `max_weight_decay` (the reference).
    WeightDecay,
    /// The maximum ScheduledDropPath probability, raised by `drop_path_step` up to
    /// `max_drop_path`, with Cutout 16 on the same schedule once it is above 0 (as R-DARTS(DP)).
    DropPath,
}

/// DARTS-ES / DARTS-ADA settings; defaults are the reference code's (SPEC §7, §8).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RobustConfig {
    /// What a firing of the rule does.
    pub mode: RobustMode,
    /// Local-average window, in eigenvalue samples.
    pub window: usize,
    /// How many local averages back the comparison looks.
    pub delta: usize,
    /// Stop when current / previous local average exceeds this.
    pub factor: f64,
    /// No stop at a rolled-back epoch before this one.
    pub start_epoch: usize,
    /// What DARTS-ADA raises.
    pub target: AdaTarget,
    /// Weight-decay multiplier per DARTS-ADA rollback.
    pub mul_factor: f64,
    /// Largest weight decay DARTS-ADA sets; once reached, no further stop is taken.
    pub max_weight_decay: f64,
    /// Drop-path increment per rollback (target `drop_path`).
    pub drop_path_step: f64,
    /// Largest drop-path probability (target `drop_path`).
    pub max_drop_path: f64,
    /// Roll back this many epochs further than the stop epoch.
    pub extra_rollback_epochs: usize,
}

impl Default for RobustConfig {
    fn default() -> Self {
        RobustConfig {
            mode: RobustMode::Off,
            window: 5,
            delta: 4,
            factor: 1.3,
            start_epoch: 10,
            target: AdaTarget::WeightDecay,
            mul_factor: 3.0,
            max_weight_decay: 243e-4,
            drop_path_step: 0.2,
            max_drop_path: 0.6,
            extra_rollback_epochs: 0,
        }
    }
}

impl RobustConfig {
    /// DARTS-ADA as the authors' published launch scripts ran it: ×10 up to 0.03 (SPEC §8).
    pub fn launch_scripts() -> Self {
        RobustConfig { mode: RobustMode::Ada, mul_factor: 10.0, max_weight_decay: 3e-2, ..Self::default() }
    }

    /// The stopping rule with eigenvalues every `every` epochs.
    pub fn rule(&self, every: usize) -> EsRule {
        EsRule { window: self.window, delta: self.delta, factor: self.factor, start_epoch: self.start_epoch, every }
    }
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
            hessian: HessianConfig::default(),
            robust: RobustConfig::default(),
            method: Method::Darts,
            rs_candidates: 100,
            rs_eval_batches: 2,
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
    /// paper's 3e-4 (1e-2) so that a short run visibly moves it. λmax every 2 epochs by 10 Lanczos
    /// products (an epoch has only 16 steps here, so the paper's 20 would cost more than the epoch).
    pub fn demo() -> Self {
        SearchConfig {
            net: NetConfig { channels: 8, layers: 4, nodes: 3, ..NetConfig::default() },
            epochs: 3,
            batch_size: 32,
            order: Order::First,
            arch_lr: 1e-2,
            max_images: 1024,
            eval_images: 256,
            hessian: HessianConfig { lanczos_steps: 10, ..HessianConfig::default() },
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
        let r = &self.robust;
        check(r.window > 0, "robust.window", format!("must be at least 1, found {}", r.window))?;
        check(r.factor.is_finite() && r.factor > 0.0, "robust.factor", format!("must be a positive number, found {}", r.factor))?;
        check(r.mul_factor.is_finite() && r.mul_factor > 1.0, "robust.mul_factor", format!("must be above 1, found {}", r.mul_factor))?;
        check(r.max_weight_decay.is_finite() && r.max_weight_decay > 0.0, "robust.max_weight_decay", format!("must be a positive number, found {}", r.max_weight_decay))?;
        check(r.drop_path_step > 0.0 && r.drop_path_step < 1.0, "robust.drop_path_step", format!("must be in (0, 1), found {}", r.drop_path_step))?;
        check((0.0..1.0).contains(&r.max_drop_path), "robust.max_drop_path", format!("must be in [0, 1), found {}", r.max_drop_path))?;
        check(
            self.method == Method::Darts || r.mode == RobustMode::Off,
            "robust.mode",
            "DARTS-ES/ADA watch the α Hessian, which random search does not have".to_string(),
        )?;
        check(
            self.method == Method::Darts || (self.rs_candidates > 0 && self.rs_eval_batches > 0),
            "rs_candidates",
            format!("RS-ws needs at least one candidate and one batch, found {} and {}", self.rs_candidates, self.rs_eval_batches),
        )?;
        check(
            r.mode == RobustMode::Off || self.hessian.every > 0,
            "robust.mode",
            format!("{:?} needs λmax: set hessian.every above 0", r.mode),
        )?;
        check(
            self.hessian.every == 0 || (self.hessian.lanczos_steps > 0 && self.hessian.batches > 0),
            "hessian",
            format!("lanczos_steps and batches must be at least 1, found {} and {}", self.hessian.lanczos_steps, self.hessian.batches),
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

    /// Whether λmax is computed at the end of `epoch`: every `hessian.every` epochs and at the last.
    pub fn hessian_due(&self, epoch: usize) -> bool {
        self.hessian.every > 0 && (epoch % self.hessian.every == 0 || epoch + 1 == self.epochs)
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
    /// α-step loss on the validation batch (none for RS-ws, which has no α step).
    pub arch_loss: Option<f64>,
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
    /// Seconds the epoch's training and evaluation took (curvature excluded).
    pub seconds: f64,
    /// λmax and λmin of the α Hessian at the end of the epoch, where computed.
    pub curvature: Option<Curvature>,
    /// Weight decay in effect (DARTS-ADA raises it).
    pub weight_decay: f64,
    /// Maximum drop-path probability in effect (DARTS-ADA's drop-path variant raises it).
    pub drop_path_prob: f64,
    /// DARTS-ADA iteration: 1 until the first rollback.
    pub iteration: usize,
}

/// The extremes of the α Hessian's spectrum at the end of an epoch (SPEC §6).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Curvature {
    /// Largest algebraic eigenvalue (averaged over `batches`).
    pub lambda_max: f64,
    /// Smallest algebraic eigenvalue (averaged over `batches`).
    pub lambda_min: f64,
    /// Validation batches used.
    pub batches: usize,
    /// Gradient evaluations used (two per Hessian-vector product).
    pub gradient_evals: usize,
    /// Seconds it took.
    pub seconds: f64,
}

/// What the DARTS-ES rule's firing led to.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RobustAction {
    /// DARTS-ES: the search ended; its result is the genotype of the stop epoch.
    Stop,
    /// DARTS-ADA: the state of the stop epoch was restored and the regularisation raised.
    Rollback,
    /// DARTS-ADA at its maximum regularisation: no further stop is taken.
    AtMaximum,
    /// No ES/ADA configured: where DARTS-ES would have stopped, for the record.
    WouldStop,
}

/// A firing of the DARTS-ES rule and what was done.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RobustReport {
    /// What was done.
    pub action: RobustAction,
    /// The rule's decision (epochs, local averages).
    pub stop: EsStop,
    /// Genotype at the stop epoch (DARTS-ES's answer for the first firing).
    pub genotype: Genotype,
    /// Validation accuracy at the stop epoch.
    pub valid_acc: f64,
    /// The next epoch that runs (after a rollback: the restored epoch + 1).
    pub next_epoch: usize,
    /// Weight decay from now on.
    pub weight_decay: f64,
    /// Maximum drop-path probability from now on.
    pub drop_path_prob: f64,
    /// DARTS-ADA iteration from now on.
    pub iteration: usize,
}

/// Progress of DARTS-ES/ADA; survives rollbacks (it is not restored with the search state).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct RobustState {
    /// DARTS-ADA iteration, 1-based.
    pub iteration: usize,
    /// The first firing of the rule: DARTS-ES's answer, in every mode.
    pub first: Option<RobustReport>,
    /// Every firing, in order.
    pub events: Vec<RobustReport>,
    /// DARTS-ES ended the search.
    pub stopped: bool,
}

/// What is kept of each finished epoch (for the rolled-back genotype and accuracy).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochSummary {
    /// Genotype at the end of the epoch.
    pub genotype: Genotype,
    /// Validation accuracy.
    pub valid_acc: f64,
    /// λmax, where computed.
    pub lambda_max: Option<f64>,
}

/// What a running search reports. Closed: front ends match on every variant.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SearchEvent {
    /// A weight step and an α step finished.
    Step(StepReport),
    /// An epoch finished and was evaluated.
    Epoch(EpochReport),
    /// The DARTS-ES rule fired.
    Robust(RobustReport),
    /// RS-ws evaluated a sampled architecture.
    Sampled(SampledArch),
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
    /// The λmax history and its local averages.
    pub tracker: EsTracker,
    /// One entry per finished epoch (truncated by a rollback).
    pub history: Vec<EpochSummary>,
    /// DARTS-ES/ADA progress.
    pub robust: RobustState,
    /// States at the ends of recent epochs, oldest first, for DARTS-ADA's rollback.
    pub snapshots: std::collections::VecDeque<crate::state::Snapshot>,
    /// RS-ws: the evaluated candidates (after the last epoch).
    pub sampled: Vec<SampledArch>,
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
            tracker: EsTracker::new(config.robust.rule(config.hessian.every), config.epochs),
            history: Vec::new(),
            robust: RobustState { iteration: 1, ..RobustState::default() },
            snapshots: Default::default(),
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

    /// Whether every epoch has run, or DARTS-ES stopped the search.
    pub fn finished(&self) -> bool {
        self.epoch >= self.config.epochs || self.robust.stopped
    }

    /// The search's answer: the genotype of the current α, or of the stop epoch after DARTS-ES.
    pub fn result_genotype(&self) -> Genotype {
        self.settled_genotype().unwrap_or_else(|| self.genotype())
    }

    /// The search's answer when it no longer follows the current α: RS-ws's best candidate, or the
    /// genotype DARTS-ES kept when it stopped the search.
    pub fn settled_genotype(&self) -> Option<Genotype> {
        if let Some(best) = self.best_sampled() {
            return Some(best.genotype.clone());
        }
        match (&self.robust.first, self.robust.stopped) {
            (Some(r), true) => Some(r.genotype.clone()),
            _ => None,
        }
    }

    /// The genotype of the current α.
    pub fn genotype(&self) -> Genotype {
        let (n, r) = self.alpha.to_host();
        Genotype::derive(&self.net.space, &n, &r)
    }

    /// RS-ws's answer: the candidate with the best validation accuracy (then loss).
    pub fn best_sampled(&self) -> Option<&SampledArch> {
        self.sampled.iter().max_by(|a, b| a.valid_acc.total_cmp(&b.valid_acc).then(b.valid_loss.total_cmp(&a.valid_loss)))
    }

    /// A uniformly random architecture of the space: per node two distinct inputs, on each an op
    /// other than `none`; with its one-hot op weights and active (edge, op) pairs per cell type.
    fn sample_arch(&self, rng: &mut Rng) -> (Genotype, [(Tensor<2>, Vec<Vec<bool>>); 2]) {
        let space = &self.net.space;
        let (edges, k) = (space.edges(), space.ops_per_edge());
        let mut cells = Vec::new();
        let mut parts = Vec::new();
        for kind in [crate::space::CellKind::Normal, crate::space::CellKind::Reduce] {
            let ops = space.ops(kind);
            let mut active = vec![vec![false; k]; edges];
            let mut gene = Vec::new();
            let mut offset = 0;
            for node in 0..self.config.net.nodes {
                let mut inputs: Vec<usize> = (0..node + 2).collect();
                rng.shuffle(&mut inputs);
                let mut chosen = inputs[..2].to_vec();
                chosen.sort_unstable();
                for input in chosen {
                    let e = offset + input;
                    let allowed: Vec<usize> = (0..ops[e].len()).filter(|&j| ops[e][j] != crate::space::Primitive::None).collect();
                    let j = allowed[rng.below(allowed.len())];
                    active[e][j] = true;
                    gene.push((ops[e][j], input));
                }
                offset += node + 2;
            }
            let w: Vec<f32> = active.iter().flatten().map(|&a| if a { 1.0 } else { 0.0 }).collect();
            parts.push((Tensor::<2>::from_data(burn::tensor::TensorData::new(w, [edges, k]), &self.device), active));
            cells.push(gene);
        }
        let concat: Vec<usize> = (2..self.config.net.nodes + 2).collect();
        let reduce = cells.pop().expect("two cells");
        let normal = cells.pop().expect("two cells");
        let g = Genotype { normal, normal_concat: concat.clone(), reduce, reduce_concat: concat };
        let [a, b]: [(Tensor<2>, Vec<Vec<bool>>); 2] = parts.try_into().ok().expect("two cells");
        (g, [a, b])
    }

    /// Loss, correct count and (with `train`) weight gradients of one sampled architecture on `batch`.
    fn arch_pass(
        &mut self,
        arch: &[(Tensor<2>, Vec<Vec<bool>>); 2],
        batch: &crate::data::Batch,
        train: bool,
        drop_prob: f64,
    ) -> (f64, usize, Option<Vec<Tensor<1>>>) {
        let w = if train { self.weights.leaves() } else { self.weights.clone() };
        let x = if train { batch.tensor(&self.device).autodiff() } else { batch.tensor(&self.device) };
        let (wn, wr) = if train { (arch[0].0.clone().autodiff(), arch[1].0.clone().autodiff()) } else { (arch[0].0.clone(), arch[1].0.clone()) };
        let stats = if train { Some(&mut self.stats) } else { None };
        let mut f = crate::params::Fwd { w: &w, mode: crate::params::Mode::Train, stats, rng: &mut self.model_rng, drop_prob, tape: None };
        let logits = self.net.forward_weighted(&mut f, &wn, &wr, Some((&arch[0].1, &arch[1].1)), x);
        let hits = crate::network::correct(&logits, &batch.y);
        let loss = crate::network::cross_entropy(logits, &batch.y);
        let value = crate::params::scalar(&loss);
        let grads = train.then(|| w.grads(&loss.backward()));
        (value, hits, grads)
    }

    /// One bi-level step: an α step on `val` (first or second order), then a weight step on
    /// `train`, at learning rate `lr` and drop-path probability `drop_prob`. Returns the weight
    /// step's and the α step's passes (loss, number correct; their gradients are used up).
    pub fn step(&mut self, train: &crate::data::Batch, val: &crate::data::Batch, lr: f64, drop_prob: f64) -> Result<(crate::architect::GradOut, crate::architect::GradOut), CoreError> {
        crate::params::block_on(self.step_async(train, val, lr, drop_prob))
    }

    /// [`Search::step`] without blocking: its two reads (the losses and numbers correct, and in
    /// second order the finite difference's scale) are awaited, as WebGPU in a browser requires.
    pub async fn step_async(&mut self, train: &crate::data::Batch, val: &crate::data::Batch, lr: f64, drop_prob: f64) -> Result<(crate::architect::GradOut, crate::architect::GradOut), CoreError> {
        let cfg = &self.config;
        let unroll = Unroll { lr, momentum: cfg.momentum, weight_decay: cfg.weight_decay, momentum_buf: &self.sgd.buf };
        let mut a = alpha_grad(
            &self.net, &self.weights, &self.alpha, train, val, cfg.order, &unroll,
            PassCtx::new(Some(&mut self.stats), &mut self.model_rng, drop_prob),
            &self.device,
        )
        .await;
        let (grad_clip, order) = (cfg.grad_clip, cfg.order);
        let ga = a.alpha.take().expect("α gradient");
        self.adam_step(ga);
        let mut g = loss_and_grads(
            &self.net, &self.weights, &self.alpha, train, Wrt::Weights,
            PassCtx::new(Some(&mut self.stats), &mut self.model_rng, drop_prob),
            &self.device,
        )
        .await;
        if !g.loss.is_finite() || !a.loss.is_finite() {
            let bad = if g.loss.is_finite() { a.loss } else { g.loss };
            return Err(CoreError::Numerical(format!("loss became {bad} ({order:?}-order step)")));
        }
        let mut gw = g.weights.take().expect("weight gradients");
        clip_global_norm(&mut gw, grad_clip);
        self.sgd.step(&mut self.weights.tensors, &gw, lr);
        Ok((g, a))
    }

    /// Waits for the device to finish queued work (reads one value back): for timing.
    pub fn sync(&self) {
        let _ = crate::params::scalar(&self.weights.tensors[0].clone().slice([0..1]).sum());
    }

    /// The schedule of the next epoch and its training batches (drawn from the data stream).
    fn plan_epoch(&mut self) -> EpochPlan {
        let cfg = self.config.clone();
        let epoch = self.epoch;
        EpochPlan {
            start: web_time_now(),
            epoch,
            lr: cosine_lr(cfg.lr, cfg.lr_min, epoch, cfg.epochs),
            drop_prob: cfg.drop_prob_at(epoch),
            augment: cfg.augment_at(epoch),
            train_batches: epoch_batches(&self.split.train, cfg.batch_size, &mut self.data_rng),
            cfg,
        }
    }

    /// One RS-ws epoch: a weight step per training batch, each on a freshly sampled architecture;
    /// after the last epoch, `rs_candidates` sampled architectures ranked on validation batches.
    fn run_epoch_rs(&mut self, observe: &mut dyn FnMut(&SearchEvent)) -> Result<EpochReport, CoreError> {
        let EpochPlan { start, epoch, cfg, lr, drop_prob, augment, train_batches } = self.plan_epoch();
        let steps = train_batches.len();
        let (mut loss_sum, mut correct, mut seen) = (0.0, 0usize, 0usize);
        let mut last = None;
        for (step, idx) in train_batches.iter().enumerate() {
            let mut arch_rng = self.data_rng.fork(7);
            let (g, arch) = self.sample_arch(&mut arch_rng);
            let b = make_batch(&self.data, idx, Some(&augment), &mut self.data_rng);
            let (loss, hits, grads) = self.arch_pass(&arch, &b, true, drop_prob);
            if !loss.is_finite() {
                return Err(CoreError::Numerical(format!("loss became {loss} at epoch {epoch}, step {step}")));
            }
            let mut gw = grads.expect("weight gradients");
            clip_global_norm(&mut gw, cfg.grad_clip);
            self.sgd.step(&mut self.weights.tensors, &gw, lr);
            loss_sum += loss * b.y.len() as f64;
            correct += hits;
            seen += b.y.len();
            observe(&SearchEvent::Step(StepReport { epoch, step, steps, train_loss: loss, train_acc: correct as f64 / seen as f64, arch_loss: None }));
            last = Some((g, arch));
        }
        // Validation accuracy of the epoch's last sampled architecture.
        let (g, arch) = last.ok_or_else(|| CoreError::invalid("batch_size", "no training batch in an epoch"))?;
        let (valid_loss, valid_acc) = self.evaluate_arch(&arch, cfg.eval_images.max(cfg.batch_size));
        self.epoch += 1;
        if self.finished() {
            let mut rng = Rng::new(cfg.seed).fork(2000);
            for index in 0..cfg.rs_candidates {
                let (genotype, arch) = self.sample_arch(&mut rng);
                let (valid_loss, valid_acc) = self.evaluate_arch(&arch, cfg.rs_eval_batches * cfg.batch_size);
                let s = SampledArch { index, genotype, valid_acc, valid_loss };
                observe(&SearchEvent::Sampled(s.clone()));
                self.sampled.push(s);
            }
        }
        let report = EpochReport {
            epoch,
            lr,
            train_loss: loss_sum / seen.max(1) as f64,
            train_acc: correct as f64 / seen.max(1) as f64,
            valid_loss,
            valid_acc,
            genotype: self.best_sampled().map_or(g, |b| b.genotype.clone()),
            alpha_normal: Vec::new(),
            alpha_reduce: Vec::new(),
            seconds: web_time_now() - start,
            curvature: None,
            weight_decay: cfg.weight_decay,
            drop_path_prob: cfg.drop_path_prob,
            iteration: 1,
        };
        observe(&SearchEvent::Epoch(report.clone()));
        self.history.push(EpochSummary { genotype: report.genotype.clone(), valid_acc, lambda_max: None });
        Ok(report)
    }

    /// Loss and accuracy of one sampled architecture on the first `images` validation images
    /// (training-mode BatchNorm, running statistics untouched, no drop-path).
    fn evaluate_arch(&mut self, arch: &[(Tensor<2>, Vec<Vec<bool>>); 2], images: usize) -> (f64, f64) {
        let n = images.min(self.split.valid.len()).max(1);
        let idx = self.split.valid[..n].to_vec();
        let (mut loss, mut hits) = (0.0, 0usize);
        let mut rng = Rng::new(0);
        for chunk in idx.chunks(self.config.batch_size.max(1)) {
            let b = make_batch(&self.data, chunk, None, &mut rng);
            let saved = self.model_rng.clone();
            let (l, h, _) = self.arch_pass(arch, &b, false, 0.0);
            self.model_rng = saved;
            loss += l * chunk.len() as f64;
            hits += h;
        }
        (loss / n as f64, hits as f64 / n as f64)
    }

    /// Runs the next epoch: for each training batch, one α step on a validation batch, then one
    /// weight step; then evaluation. Every step and the epoch's end are sent to `observe`.
    pub fn run_epoch(&mut self, observe: &mut dyn FnMut(&SearchEvent)) -> Result<EpochReport, CoreError> {
        crate::params::block_on(self.run_epoch_async(observe))
    }

    /// [`Search::run_epoch`] without blocking on DARTS' reads (RS-ws, a native-only baseline,
    /// still reads blockingly).
    pub async fn run_epoch_async(&mut self, observe: &mut dyn FnMut(&SearchEvent)) -> Result<EpochReport, CoreError> {
        if self.config.method == Method::RsWs {
            return self.run_epoch_rs(observe);
        }
        let mut run = self.begin_epoch();
        loop {
            if let Some(report) = self.advance_async(&mut run, observe).await? {
                return Ok(report);
            }
        }
    }

    /// Starts the next DARTS epoch without running any of it (see [`Search::advance`]); the
    /// batches are drawn exactly as [`Search::run_epoch`] draws them.
    pub fn begin_epoch(&mut self) -> EpochRun {
        let plan = self.plan_epoch();
        let val_batches = epoch_batches(&self.split.valid, plan.cfg.batch_size, &mut self.data_rng);
        EpochRun { plan, val_batches, next: 0, loss_sum: 0.0, correct: 0, seen: 0, last_val: None, ended: false }
    }

    /// One bounded piece of an epoch begun with [`Search::begin_epoch`]: the next search step
    /// (`Ok(None)`), or, after the last step, the epoch's end (evaluation, curvature, DARTS-ES/ADA)
    /// and its report. For callers that must not block for a whole epoch (the browser demo).
    /// Steps and the end go to `observe` as in [`Search::run_epoch`], with identical results.
    pub fn advance(&mut self, run: &mut EpochRun, observe: &mut dyn FnMut(&SearchEvent)) -> Result<Option<EpochReport>, CoreError> {
        crate::params::block_on(self.advance_async(run, observe))
    }

    /// [`Search::advance`] without blocking (every read back from the device is awaited): the
    /// browser demo's way through a search on WebGPU.
    pub async fn advance_async(&mut self, run: &mut EpochRun, observe: &mut dyn FnMut(&SearchEvent)) -> Result<Option<EpochReport>, CoreError> {
        let steps = run.plan.train_batches.len();
        if run.next < steps {
            let (step, epoch) = (run.next, run.plan.epoch);
            if run.val_batches.is_empty() {
                run.val_batches = epoch_batches(&self.split.valid, run.plan.cfg.batch_size, &mut self.data_rng);
            }
            let val_idx = run.val_batches.remove(0);
            let train = make_batch(&self.data, &run.plan.train_batches[step], Some(&run.plan.augment), &mut self.data_rng);
            let val = make_batch(&self.data, &val_idx, Some(&run.plan.augment), &mut self.data_rng);
            let (g, a) = self.step_async(&train, &val, run.plan.lr, run.plan.drop_prob).await.map_err(|e| match e {
                CoreError::Numerical(m) => CoreError::Numerical(format!("{m} at epoch {epoch}, step {step} (try a lower learning rate)")),
                other => other,
            })?;
            run.last_val = Some(val);
            run.loss_sum += g.loss * train.y.len() as f64;
            run.correct += g.correct;
            run.seen += train.y.len();
            run.next += 1;
            observe(&SearchEvent::Step(StepReport {
                epoch,
                step,
                steps,
                train_loss: g.loss,
                train_acc: run.correct as f64 / run.seen as f64,
                arch_loss: Some(a.loss),
            }));
            return Ok(None);
        }
        if run.ended {
            return Err(CoreError::invalid("epoch", format!("epoch {} has already ended; begin the next one", run.plan.epoch)));
        }
        run.ended = true;
        let EpochPlan { start, epoch, lr, drop_prob, .. } = run.plan;
        let cfg = run.plan.cfg.clone();
        let (loss_sum, correct, seen, last_val) = (run.loss_sum, run.correct, run.seen, run.last_val.take());
        let (valid_loss, valid_acc) = self.evaluate_async().await;
        let seconds = web_time_now() - start;
        let curvature = match (&last_val, cfg.hessian_due(epoch)) {
            (Some(val), true) => Some(self.curvature(epoch, val, drop_prob).await),
            _ => None,
        };
        self.epoch += 1;
        let (an, ar) = self.alpha.read().await;
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
            seconds,
            curvature,
            weight_decay: cfg.weight_decay,
            drop_path_prob: cfg.drop_path_prob,
            iteration: self.robust.iteration,
        };
        observe(&SearchEvent::Epoch(report.clone()));
        self.history.truncate(epoch);
        self.history.push(EpochSummary {
            genotype: report.genotype.clone(),
            valid_acc,
            lambda_max: report.curvature.as_ref().map(|c| c.lambda_max),
        });
        if let Some(c) = &report.curvature {
            self.tracker.push(epoch, c.lambda_max, Some(report.genotype.clone()));
            if let Some(stop) = self.tracker.check(epoch)
                && let Some(r) = self.on_stop(stop)?
            {
                observe(&SearchEvent::Robust(r));
            }
        }
        if self.config.robust.mode == RobustMode::Ada && !self.finished() && self.epoch == epoch + 1 {
            let horizon = self.rollback_horizon();
            let snapshot = self.snapshot_async().await;
            self.snapshots.push_back(snapshot);
            while self.snapshots.len() > horizon {
                self.snapshots.pop_front();
            }
        }
        Ok(Some(report))
    }

    /// Epochs of state DARTS-ADA may need to go back to: the rule looks every·(⌊window/2⌋ + delta)
    /// epochs back, plus the extra rollback, plus the current epoch.
    fn rollback_horizon(&self) -> usize {
        let r = &self.config.robust;
        self.config.hessian.every * (r.window / 2 + r.delta) + r.extra_rollback_epochs + 2
    }

    /// λmax and λmin on `val` (the epoch's last α-step batch) and, when asked, further validation
    /// batches from a stream of their own; the search's random streams are not advanced.
    async fn curvature(&mut self, epoch: usize, val: &crate::data::Batch, drop_prob: f64) -> Curvature {
        self.curvature_on(epoch, Some(val), self.config.hessian.batches, drop_prob, false).await.0
    }

    /// λmax and λmin of the current state on `batches` validation batches drawn from a stream of
    /// their own (the search's streams are not advanced), at the drop-path probability of the last
    /// finished epoch; with `spectrum`, also every eigenvalue of the dense Hessian of the first
    /// batch (one product per α entry). For `rdarts hessian --run`.
    pub fn curvature_probe(&mut self, batches: usize, spectrum: bool) -> (Curvature, Option<Vec<f64>>) {
        let epoch = self.epoch.saturating_sub(1);
        let drop_prob = self.config.drop_prob_at(epoch);
        crate::params::block_on(self.curvature_on(epoch, None, batches.max(1), drop_prob, spectrum))
    }

    async fn curvature_on(
        &mut self,
        epoch: usize,
        first: Option<&crate::data::Batch>,
        count: usize,
        drop_prob: f64,
        spectrum: bool,
    ) -> (Curvature, Option<Vec<f64>>) {
        let start = web_time_now();
        let cfg = &self.config;
        let mut batches: Vec<crate::data::Batch> = first.into_iter().cloned().collect();
        if count > batches.len() {
            let mut r = Rng::new(cfg.seed).fork(1000 + epoch as u64);
            let augment = cfg.augment_at(epoch);
            for idx in epoch_batches(&self.split.valid, cfg.batch_size, &mut r).iter().take(count - batches.len()) {
                batches.push(make_batch(&self.data, idx, Some(&augment), &mut r));
            }
        }
        let mut eigenvalues = None;
        let (mut max, mut min, mut evals) = (0.0, 0.0, 0);
        for (i, b) in batches.iter().enumerate() {
            let mut h = crate::hessian::AlphaHessian::new(
                &self.net, &self.weights, &self.alpha, b, cfg.arch_weight_decay, drop_prob, &self.model_rng, &self.device,
            )
            .await;
            let e = h.extremes_async(cfg.hessian.lanczos_steps, cfg.seed ^ ((epoch as u64) << 16) ^ i as u64).await;
            if spectrum && i == 0 {
                let n = h.dim();
                eigenvalues = Some(crate::hessian::symmetric_eigen(&h.dense_async().await, n).0);
            }
            max += e.max;
            min += e.min;
            evals += h.gradient_evals;
        }
        let n = batches.len() as f64;
        let c = Curvature { lambda_max: max / n, lambda_min: min / n, batches: batches.len(), gradient_evals: evals, seconds: web_time_now() - start };
        (c, eigenvalues)
    }

    /// Acts on a firing of the DARTS-ES rule (SPEC §7, §8). Without ES/ADA only the first firing is
    /// reported (where DARTS-ES would have stopped); at DARTS-ADA's maximum, only the first after it.
    fn on_stop(&mut self, stop: EsStop) -> Result<Option<RobustReport>, CoreError> {
        let at = self.history.get(stop.stop_epoch).cloned().ok_or_else(|| {
            CoreError::Numerical(format!("DARTS-ES rolled back to epoch {}, which has no record", stop.stop_epoch))
        })?;
        let r = self.config.robust.clone();
        let raisable = match r.target {
            AdaTarget::WeightDecay => self.config.weight_decay < r.max_weight_decay * (1.0 - 1e-9),
            AdaTarget::DropPath => self.config.drop_path_prob < r.max_drop_path - 1e-9,
        };
        let action = match r.mode {
            RobustMode::Off => RobustAction::WouldStop,
            RobustMode::Es => RobustAction::Stop,
            RobustMode::Ada if raisable => RobustAction::Rollback,
            RobustMode::Ada => RobustAction::AtMaximum,
        };
        let last = self.robust.events.last().map(|e| e.action);
        if (action == RobustAction::WouldStop && last.is_some()) || (action == RobustAction::AtMaximum && last == Some(action)) {
            return Ok(None);
        }
        match action {
            RobustAction::Stop => self.robust.stopped = true,
            RobustAction::Rollback => {
                let target = stop.stop_epoch.saturating_sub(r.extra_rollback_epochs);
                let snap = self
                    .snapshots
                    .iter()
                    .find(|s| s.meta.epoch == target + 1)
                    .cloned()
                    .ok_or_else(|| CoreError::Numerical(format!("DARTS-ADA: no saved state of epoch {target} to roll back to")))?;
                self.restore(&snap)?;
                self.snapshots.retain(|s| s.meta.epoch <= target + 1);
                match r.target {
                    AdaTarget::WeightDecay => {
                        self.config.weight_decay = (self.config.weight_decay * r.mul_factor).min(r.max_weight_decay);
                        self.sgd.weight_decay = self.config.weight_decay;
                    }
                    AdaTarget::DropPath => {
                        self.config.drop_path_prob = (self.config.drop_path_prob + r.drop_path_step).min(r.max_drop_path);
                        if self.config.augment.cutout == 0 {
                            self.config.augment.cutout = 16;
                            self.config.augment.cutout_prob = 1.0;
                            self.config.schedule_cutout = true;
                        }
                    }
                }
                self.robust.iteration += 1;
            }
            RobustAction::AtMaximum | RobustAction::WouldStop => {}
        }
        let report = RobustReport {
            action,
            stop,
            genotype: at.genotype,
            valid_acc: at.valid_acc,
            next_epoch: self.epoch,
            weight_decay: self.config.weight_decay,
            drop_path_prob: self.config.drop_path_prob,
            iteration: self.robust.iteration,
        };
        if self.robust.first.is_none() {
            self.robust.first = Some(report.clone());
        }
        self.robust.events.push(report.clone());
        Ok(Some(report))
    }

    /// The state at the end of the last finished epoch, on the host.
    pub fn snapshot(&self) -> crate::state::Snapshot {
        crate::params::block_on(self.snapshot_async())
    }

    /// [`Search::snapshot`] without blocking.
    pub async fn snapshot_async(&self) -> crate::state::Snapshot {
        crate::state::Snapshot {
            meta: crate::state::SnapshotMeta {
                format: crate::state::FORMAT.to_string(),
                version: crate::state::VERSION,
                config: self.config.clone(),
                epoch: self.epoch,
                data_rng: self.data_rng.clone(),
                model_rng: self.model_rng.clone(),
                tracker: self.tracker.clone(),
                history: self.history.clone(),
                robust: self.robust.clone(),
                param_names: self.net.specs.iter().map(|p| p.name.clone()).collect(),
                extra: Default::default(),
            },
            weights: read_all(&self.weights.tensors).await,
            momentum: read_all(&self.sgd.buf).await,
            alpha: self.alpha.read().await,
            adam: self.adam.read_state().await,
            bn_mean: read_all(&self.stats.mean).await,
            bn_var: read_all(&self.stats.var).await,
        }
    }

    /// Continues an interrupted search from `snap` (its newest state): everything is restored,
    /// including the configuration in effect and the DARTS-ES/ADA progress. `older` are earlier
    /// states of the same run in the order they were saved (DARTS-ADA's rollback targets; states
    /// undone by a rollback are dropped as they were in the original run).
    pub fn resume_from(&mut self, snap: &crate::state::Snapshot, older: Vec<crate::state::Snapshot>) -> Result<(), CoreError> {
        let cfg = &snap.meta.config;
        if cfg.net != self.config.net || cfg.epochs != self.config.epochs || cfg.seed != self.config.seed {
            return Err(CoreError::invalid("checkpoint", "it belongs to a search with another network, epoch count or seed"));
        }
        cfg.validate()?;
        self.restore(snap)?;
        self.config = cfg.clone();
        self.sgd.weight_decay = cfg.weight_decay;
        self.robust = snap.meta.robust.clone();
        self.snapshots.clear();
        if cfg.robust.mode == RobustMode::Ada {
            for s in older.into_iter().chain(std::iter::once(snap.clone())) {
                s.check_fits(&self.net)?;
                self.snapshots.retain(|k| k.meta.epoch < s.meta.epoch);
                self.snapshots.push_back(s);
            }
            let horizon = self.rollback_horizon();
            while self.snapshots.len() > horizon {
                self.snapshots.pop_front();
            }
        }
        Ok(())
    }

    /// How many recent states DARTS-ADA may roll back to (keep at least this many checkpoints).
    pub fn states_to_keep(&self) -> usize {
        if self.config.robust.mode == RobustMode::Ada { self.rollback_horizon() } else { 1 }
    }

    /// Restores the training state of `snap` (made by [`Search::snapshot`] for the same network):
    /// weights, α, optimisers, BatchNorm statistics, random streams, epoch, λ history. The
    /// configuration and the DARTS-ES/ADA progress are left as they are (a rollback keeps them).
    pub fn restore(&mut self, snap: &crate::state::Snapshot) -> Result<(), CoreError> {
        snap.check_fits(&self.net)?;
        let d = &self.device;
        let (edges, k) = (self.net.space.edges(), self.net.space.ops_per_edge());
        self.weights = Weights::from_host(&snap.weights, d);
        self.sgd.load_state(&snap.momentum, d);
        self.alpha = Alpha::from_host(&snap.alpha.0, &snap.alpha.1, edges, k, d);
        self.adam.load_state(&snap.adam, d);
        self.stats.mean = snap.bn_mean.iter().map(|v| crate::params::tensor1(v.clone(), d)).collect();
        self.stats.var = snap.bn_var.iter().map(|v| crate::params::tensor1(v.clone(), d)).collect();
        self.epoch = snap.meta.epoch;
        self.data_rng = snap.meta.data_rng.clone();
        self.model_rng = snap.meta.model_rng.clone();
        self.tracker = snap.meta.tracker.clone();
        self.history = snap.meta.history.clone();
        Ok(())
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
        crate::params::block_on(self.evaluate_async())
    }

    /// [`Search::evaluate`] without blocking.
    pub async fn evaluate_async(&mut self) -> (f64, f64) {
        let n = match self.config.eval_images {
            0 => self.split.valid.len(),
            m => m.min(self.split.valid.len()),
        };
        let idx = &self.split.valid[..n];
        let (mut loss, mut correct) = (0.0, 0usize);
        let mut rng = self.model_rng.clone();
        for chunk in idx.chunks(self.config.batch_size.max(64)) {
            let b = make_batch(&self.data, chunk, None, &mut rng);
            let (l, c) = evaluate_batch(&self.net, &self.weights, &self.alpha, &b, &mut self.stats, &mut rng, &self.device).await;
            loss += l * chunk.len() as f64;
            correct += c;
        }
        (loss / n as f64, correct as f64 / n as f64)
    }
}

/// A DARTS epoch in progress (see [`Search::begin_epoch`] and [`Search::advance`]).
pub struct EpochRun {
    plan: EpochPlan,
    val_batches: Vec<Vec<usize>>,
    next: usize,
    loss_sum: f64,
    correct: usize,
    seen: usize,
    last_val: Option<crate::data::Batch>,
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
    cfg: SearchConfig,
    lr: f64,
    drop_prob: f64,
    augment: Augment,
    train_batches: Vec<Vec<usize>>,
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
