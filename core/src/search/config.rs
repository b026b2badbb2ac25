//! `SearchConfig`: every knob of a search in one validated place, the R-DARTS presets and the
//! schedules of drop-path and Cutout. `Default` is the paper's setting (docs/ALGORITHM.md §1, §5).

use serde::{Deserialize, Serialize};

use crate::architect::Order;
use crate::data::Augment;
use crate::error::CoreError;
use crate::network::NetConfig;
use crate::robust::EsRule;
use crate::tally::EVAL_CHUNK_MIN;

/// Every knob of a search. `Default` is the paper's setting (docs/ALGORITHM.md §1, §5); [`SearchConfig::demo`]
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
    /// The random draws of the second-order step's finite difference: fresh per pass (the
    /// authors' code) or replayed.
    pub fd_draws: crate::architect::FdDraws,
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
    /// Shrink the images by this factor before the search (2: 2×2 block means, 32×32 → 16×16);
    /// 1 = as they are. The network's input size follows.
    pub downsample: usize,
    /// Evaluate on at most N validation images at the end of each epoch (0 = all).
    pub eval_images: usize,
    /// Augmentation of training and α batches.
    pub augment: Augment,
    /// Maximum ScheduledDropPath probability (0 = off).
    pub drop_path_prob: f64,
    /// Ramp the Cutout probability up with the epochs, as drop-path (docs/ALGORITHM.md §9).
    pub schedule_cutout: bool,
    /// Tracking of the dominant eigenvalue of the α Hessian (docs/ALGORITHM.md §6).
    pub hessian: HessianConfig,
    /// DARTS-ES / DARTS-ADA (docs/ALGORITHM.md §7, §8).
    pub robust: RobustConfig,
    /// DARTS, or the random-search baseline with weight sharing (docs/ALGORITHM.md §10).
    pub method: Method,
    /// RS-ws: architectures sampled and evaluated with the shared weights at the end.
    pub rs_candidates: usize,
    /// RS-ws: validation batches each candidate is evaluated on.
    pub rs_eval_batches: usize,
    /// RS-ws: the best this many candidates are evaluated again on the whole validation half,
    /// which decides (0: the first ranking decides).
    pub rs_rerank: usize,
    /// RS-ws: BatchNorm when candidates are evaluated.
    pub rs_batch_norm: RsBatchNorm,
}

/// BatchNorm when RS-ws evaluates a candidate with the shared weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RsBatchNorm {
    /// Evaluation mode, with the running statistics the sampled training passes accumulated, as
    /// the authors' code evaluates (`src/search/randomNAS/darts_wrapper_discrete.py:149`,
    /// `self.model.eval()`).
    #[default]
    Eval,
    /// Training mode: each batch's own statistics (the shared running statistics fit no single
    /// architecture).
    Train,
}

/// The search method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Differentiable architecture search (bi-level, docs/ALGORITHM.md §5).
    Darts,
    /// Random search with weight sharing (docs/ALGORITHM.md §10): the supernet trained on one uniformly
    /// sampled architecture per batch, then sampled architectures ranked on validation data.
    RsWs,
}

/// When and how λmax is computed during a search (docs/ALGORITHM.md §6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HessianConfig {
    /// Compute λmax and λmin every this many epochs (epochs 0, every, 2·every, …) and at the last
    /// epoch; 0 = never (then DARTS-ES/ADA cannot run).
    pub every: usize,
    /// Lanczos products per batch at most (each costs 2 gradient evaluations).
    pub lanczos_steps: usize,
    /// Stop Lanczos once λmax's and λmin's residual bounds are at most this fraction of the larger
    /// one's magnitude ([`crate::hessian::lanczos`]); 0 = always take `lanczos_steps` products.
    pub lanczos_tol: f64,
    /// Validation batches λ is averaged over: 1 = the epoch's last α-step batch, as the reference;
    /// more reduce the noise of a single batch (the extra batches are drawn from a stream of their
    /// own, so the search's trajectory does not change).
    pub batches: usize,
}

impl Default for HessianConfig {
    fn default() -> Self {
        // The reference computes λ every 2 epochs, the interval the DARTS-ES rule assumes.
        HessianConfig { every: EsRule::default().every, lanczos_steps: 20, lanczos_tol: LANCZOS_TOL, batches: 1 }
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

/// DARTS-ES / DARTS-ADA settings; defaults are the reference code's (docs/ALGORITHM.md §7, §8).
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
        let rule = EsRule::default();
        RobustConfig {
            mode: RobustMode::Off,
            window: rule.window,
            delta: rule.delta,
            factor: rule.factor,
            start_epoch: rule.start_epoch,
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
    /// DARTS-ADA as the authors' published launch scripts ran it: ×10 up to 0.03 (docs/ALGORITHM.md §8).
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
            fd_draws: crate::architect::FdDraws::Fresh,
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
            downsample: 1,
            eval_images: 0,
            augment: Augment::default(),
            drop_path_prob: 0.0,
            schedule_cutout: false,
            hessian: HessianConfig::default(),
            robust: RobustConfig::default(),
            method: Method::Darts,
            // As the authors' code ranks (src/search/args.py:73, n_samples = 1000;
            // randomNAS/darts_wrapper_discrete.py:152, 10 batches; random_weight_share.py:120,
            // the top 10 re-scored on the whole validation split).
            rs_candidates: 1000,
            rs_eval_batches: 10,
            rs_rerank: 10,
            rs_batch_norm: RsBatchNorm::Eval,
        }
    }
}

/// Default relative residual tolerance of the λ computation's Lanczos ([`HessianConfig::lanczos_tol`]).
pub const LANCZOS_TOL: f64 = 1e-2;

/// R-DARTS(L2): the weight-decay grid of docs/ALGORITHM.md §9, 3e-4 · 3^level.
pub const RDARTS_L2_GRID: [f64; 5] = [3e-4, 9e-4, 27e-4, 81e-4, 243e-4];
/// R-DARTS(DP): the maximum drop-path probabilities of docs/ALGORITHM.md §9.
pub const RDARTS_DP_GRID: [f64; 4] = [0.0, 0.2, 0.4, 0.6];

impl SearchConfig {
    /// The paper's setting (docs/ALGORITHM.md §1, §5).
    pub fn paper() -> Self {
        Self::default()
    }

    /// A small search that finishes in about two minutes on a 2-core CPU: S5, C = 8, 4 cells,
    /// 3 nodes per cell, first order, 1 024 digits shrunk to 16×16 (a quarter of the work of
    /// 32×32: measured 34 s instead of 105 s per epoch on the CPU backend), 3 epochs, batch 32. α
    /// learns faster than the paper's 3e-4 (1e-2) so that a short run visibly moves it. λmax every
    /// 2 epochs by 10 Lanczos products (an epoch has only 16 steps here, so the paper's 20 would
    /// cost more than the epoch).
    pub fn demo() -> Self {
        SearchConfig {
            net: NetConfig { channels: 8, layers: 4, nodes: 3, ..NetConfig::default() },
            epochs: 3,
            batch_size: 32,
            order: Order::First,
            arch_lr: 1e-2,
            max_images: 1024,
            downsample: 2,
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
        check(self.downsample > 0, "downsample", format!("must be at least 1, found {}", self.downsample))?;
        {
            use crate::limits::*;
            let r = &self.robust;
            all_at_most(&[
                ("epochs", self.epochs, MAX_EPOCHS),
                ("batch_size", self.batch_size, MAX_BATCH),
                ("downsample", self.downsample, MAX_IMAGE_SIZE),
                ("rs_candidates", self.rs_candidates, MAX_COUNT),
                ("rs_eval_batches", self.rs_eval_batches, MAX_COUNT),
                ("rs_rerank", self.rs_rerank, MAX_COUNT),
                ("hessian.every", self.hessian.every, MAX_EPOCHS),
                ("hessian.lanczos_steps", self.hessian.lanczos_steps, MAX_COUNT),
                ("hessian.batches", self.hessian.batches, MAX_COUNT),
                ("robust.window", r.window, MAX_EPOCHS),
                ("robust.delta", r.delta, MAX_EPOCHS),
                ("robust.start_epoch", r.start_epoch, MAX_EPOCHS),
                ("robust.extra_rollback_epochs", r.extra_rollback_epochs, MAX_EPOCHS),
            ])?;
        }
        self.augment.validate()?;
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
            ("hessian.lanczos_tol", self.hessian.lanczos_tol),
        ] {
            check(v.is_finite() && v >= 0.0, name, format!("must be a non-negative number, found {v}"))?;
        }
        for (name, v) in [("arch_beta1", self.arch_beta1), ("arch_beta2", self.arch_beta2)] {
            check((0.0..1.0).contains(&v), name, format!("must be in [0, 1), found {v}"))?;
        }
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

    /// This configuration completed for `data` as [`super::Search::new`] completes it: the input
    /// channels, image side (after `downsample`) and classes of the data. Check the memory it needs
    /// ([`crate::memory::search_bytes`]) on this before building the search, which allocates its
    /// weights.
    pub fn for_data(mut self, data: &crate::data::Dataset) -> SearchConfig {
        self.net.in_channels = data.channels;
        self.net.image_size = if self.downsample > 1 { data.size / self.downsample } else { data.size };
        self.net.classes = data.classes;
        self
    }

    /// R-DARTS(L2) at grid `level` (0–4): the weights' weight decay from [`RDARTS_L2_GRID`].
    pub fn with_rdarts_l2(mut self, level: usize) -> Result<Self, CoreError> {
        self.weight_decay = *RDARTS_L2_GRID.get(level).ok_or_else(|| {
            CoreError::invalid("rdarts_l2", format!("level must be 0..4 (weight decay {RDARTS_L2_GRID:?}), found {level}"))
        })?;
        Ok(self)
    }

    /// R-DARTS(DP) at grid `level` (0–3): ScheduledDropPath with the maximum probability from
    /// [`RDARTS_DP_GRID`] and, when it is not 0, Cutout 16 with the same schedule (docs/ALGORITHM.md §9).
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

    /// DARTS-ADA's raise after a rollback (docs/ALGORITHM.md §8): the weight decay × `mul_factor`
    /// up to its maximum, or the maximum drop-path + `drop_path_step` up to its maximum, with
    /// Cutout 16 on the drop-path schedule once drop-path is on (as R-DARTS(DP)).
    pub fn raise_regularisation(&mut self) {
        let r = &self.robust;
        match r.target {
            AdaTarget::WeightDecay => self.weight_decay = (self.weight_decay * r.mul_factor).min(r.max_weight_decay),
            AdaTarget::DropPath => {
                self.drop_path_prob = (self.drop_path_prob + r.drop_path_step).min(r.max_drop_path);
                if self.augment.cutout == 0 {
                    self.augment.cutout = 16;
                    self.augment.cutout_prob = 1.0;
                    self.schedule_cutout = true;
                }
            }
        }
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

    /// Drop-path probability at `epoch`: p · e / (epochs − 1) (docs/ALGORITHM.md §9).
    pub fn drop_prob_at(&self, epoch: usize) -> f64 {
        self.drop_path_prob * self.ramp(epoch)
    }

    /// Images per evaluation-mode forward pass: the batch size, but at least
    /// [`EVAL_CHUNK_MIN`](crate::tally::EVAL_CHUNK_MIN).
    /// Evaluation-mode BatchNorm treats every image alone, so the chunk changes only speed (and,
    /// in S4, which noise each image draws).
    pub fn eval_chunk(&self) -> usize {
        self.batch_size.max(EVAL_CHUNK_MIN)
    }
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
