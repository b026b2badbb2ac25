//! Every knob of the recurrent search (`rnn/train_search.py`'s arguments), with the λ and
//! DARTS-ES/ADA settings the image search uses.

use serde::{Deserialize, Serialize};

use crate::architect::Order;
use crate::error::CoreError;
use crate::search::{HessianConfig, RobustConfig};

/// See the module documentation. In a configuration file, missing fields take the paper's values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LmSearchConfig {
    /// Embedding and hidden size (`emsize = nhid = nhidlast`).
    pub hidden: usize,
    /// Output, hidden, input-of-cell, embedded-input and embedding-row dropouts.
    pub dropouts: [f64; 5],
    /// Intermediate nodes of the cell.
    pub steps: usize,
    /// Epochs.
    pub epochs: usize,
    /// Streams side by side, for the training and the search (α) streams.
    pub batch_size: usize,
    /// Window length (half of it one time in 20).
    pub bptt: usize,
    /// Weight learning rate per window of `bptt` (plain SGD).
    pub lr: f64,
    /// Gradient-norm bound of the weight step (and of the unrolled step).
    pub clip: f64,
    /// Slowness factor β of the weight step.
    pub beta: f64,
    /// Weight decay (R-DARTS(L2) raises it; DARTS-ADA multiplies it).
    pub weight_decay: f64,
    /// α's Adam learning rate.
    pub arch_lr: f64,
    /// α's weight decay.
    pub arch_weight_decay: f64,
    /// First or second order α gradient.
    pub order: Order,
    /// Seed of every random draw.
    pub seed: u64,
    /// Streams of the validation evaluation.
    pub eval_batch_size: usize,
    /// Use only the first N training tokens (0 = all).
    pub max_tokens: usize,
    /// When and how λmax is computed.
    pub hessian: HessianConfig,
    /// DARTS-ES/ADA.
    pub robust: RobustConfig,
}

impl Default for LmSearchConfig {
    fn default() -> Self {
        Self::paper()
    }
}

impl LmSearchConfig {
    /// The reference's settings (`rnn/train_search.py` defaults: 300 units, 8 nodes, batch 256,
    /// 50 epochs, first order).
    pub fn paper() -> Self {
        LmSearchConfig {
            hidden: 300,
            dropouts: [0.75, 0.25, 0.75, 0.2, 0.0],
            steps: 8,
            epochs: 50,
            batch_size: 256,
            bptt: 35,
            lr: 20.0,
            clip: 0.25,
            beta: 1e-3,
            weight_decay: 5e-7,
            arch_lr: 3e-3,
            arch_weight_decay: 1e-3,
            order: Order::First,
            seed: 3,
            eval_batch_size: 10,
            max_tokens: 0,
            hessian: HessianConfig::default(),
            robust: RobustConfig::default(),
        }
    }

    /// Minutes on a 2-core CPU with the embedded corpus: 32 units, 4 nodes, lighter dropout,
    /// batch 32, windows of 20, λ every epoch with 10 products at most.
    pub fn small() -> Self {
        LmSearchConfig {
            hidden: 32,
            dropouts: [0.3, 0.1, 0.3, 0.1, 0.0],
            steps: 4,
            epochs: 10,
            batch_size: 32,
            bptt: 20,
            hessian: HessianConfig { every: 1, lanczos_steps: 10, ..HessianConfig::default() },
            ..Self::paper()
        }
    }

    /// Checks every value; errors name the field.
    pub fn validate(&self) -> Result<(), CoreError> {
        use crate::limits::{MAX_BATCH, MAX_COUNT, MAX_EPOCHS, MAX_NODES, all_at_most};
        all_at_most(&[
            ("epochs", self.epochs, MAX_EPOCHS),
            ("batch_size", self.batch_size, MAX_BATCH),
            ("eval_batch_size", self.eval_batch_size, MAX_BATCH),
            ("bptt", self.bptt, 100_000),
            ("steps", self.steps, MAX_NODES),
            ("hessian.every", self.hessian.every, MAX_EPOCHS),
            ("hessian.lanczos_steps", self.hessian.lanczos_steps, MAX_COUNT),
        ])?;
        for (field, v) in [("epochs", self.epochs), ("batch_size", self.batch_size), ("eval_batch_size", self.eval_batch_size), ("bptt", self.bptt), ("steps", self.steps)] {
            if v == 0 {
                return Err(CoreError::invalid(field, "must be at least 1"));
            }
        }
        for (field, v) in [("lr", self.lr), ("clip", self.clip), ("arch_lr", self.arch_lr)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(CoreError::invalid(field, format!("must be a positive number, found {v}")));
            }
        }
        for (field, v) in [("beta", self.beta), ("weight_decay", self.weight_decay), ("arch_weight_decay", self.arch_weight_decay), ("hessian.lanczos_tol", self.hessian.lanczos_tol)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(CoreError::invalid(field, format!("must be a non-negative number, found {v}")));
            }
        }
        if self.hessian.every > 0 && self.hessian.lanczos_steps == 0 {
            return Err(CoreError::invalid("hessian.lanczos_steps", "must be at least 1 when λ is computed"));
        }
        if self.robust.mode != crate::search::RobustMode::Off && self.hessian.every == 0 {
            return Err(CoreError::invalid("robust.mode", format!("{:?} needs λmax: set hessian.every above 0", self.robust.mode)));
        }
        if self.hessian.batches != 1 {
            return Err(CoreError::invalid("hessian.batches", format!("the recurrent search takes λ on the epoch's last α window: must be 1, found {}", self.hessian.batches)));
        }
        super::search::check_target(&self.robust)
    }

    /// DARTS-ADA's raise: the weight decay times `mul_factor`, at most `max_weight_decay`.
    pub fn raise_weight_decay(&mut self) {
        self.weight_decay = (self.weight_decay * self.robust.mul_factor).min(self.robust.max_weight_decay);
    }

    /// Whether a search with this configuration in effect (DARTS-ADA may have raised the weight
    /// decay) is the one `run` set up.
    pub fn continues(&self, run: &LmSearchConfig) -> bool {
        let mut carried = self.clone();
        if run.robust.mode == crate::search::RobustMode::Ada {
            carried.weight_decay = run.weight_decay;
        }
        carried == *run
    }
}
