//! Training a found recurrent cell from scratch, as DARTS' `rnn/train.py`: windows of a random
//! length around `bptt` (lr scaled by it), plain SGD until the validation loss stops improving
//! for `nonmono` epochs, then averaged SGD (PyTorch's ASGD with t0 = 0, λ = 0: the evaluated
//! weights are the running mean of the iterates); the best validation state is kept, and the
//! test perplexity is measured with it at batch size 1.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::corpus::{Batched, Corpus};
use super::genotype::RnnGenotype;
use super::model::{RnnCell, RnnConfig, RnnModel};
use super::step::{evaluate, weight_grads};
use crate::architect::PassCtx;
use crate::clock::now_seconds;
use crate::error::CoreError;
use crate::optim::{Sgd, clip_global_norm};
use crate::params::{BnStats, Weights, init_weights};
use crate::rng::Rng;

/// Every knob of training a recurrent cell (`rnn/train.py`'s arguments). In a configuration
/// file, missing fields take the paper's values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LmTrainConfig {
    /// Embedding and hidden size.
    pub hidden: usize,
    /// Output, hidden, input-of-cell, embedded-input and embedding-row dropouts.
    pub dropouts: [f64; 5],
    /// Epochs.
    pub epochs: usize,
    /// Streams side by side.
    pub batch_size: usize,
    /// Mean window length.
    pub bptt: usize,
    /// Windows are at most `bptt + max_seq_len_delta` long.
    pub max_seq_len_delta: usize,
    /// Learning rate (per window of `bptt`).
    pub lr: f64,
    /// Gradient-norm bound.
    pub clip: f64,
    /// Slowness factor β.
    pub beta: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Epochs without improvement before switching to averaged SGD.
    pub nonmono: usize,
    /// Seed of every random draw.
    pub seed: u64,
    /// Streams of the validation evaluation.
    pub eval_batch_size: usize,
    /// Streams of the test evaluation.
    pub test_batch_size: usize,
    /// Use only the first N training tokens (0 = all).
    pub max_tokens: usize,
}

impl Default for LmTrainConfig {
    fn default() -> Self {
        Self::paper()
    }
}

impl LmTrainConfig {
    /// The reference's settings for PTB (`rnn/train.py` defaults: 850 units, 8 000 epochs).
    pub fn paper() -> Self {
        LmTrainConfig {
            hidden: 850,
            dropouts: [0.75, 0.25, 0.75, 0.2, 0.1],
            epochs: 8000,
            batch_size: 64,
            bptt: 35,
            max_seq_len_delta: 20,
            lr: 20.0,
            clip: 0.25,
            beta: 1e-3,
            weight_decay: 8e-7,
            nonmono: 5,
            seed: 1267,
            eval_batch_size: 10,
            test_batch_size: 1,
            max_tokens: 0,
        }
    }

    /// A run of minutes on a CPU: 64 units, 3 epochs, lighter dropout.
    pub fn small() -> Self {
        LmTrainConfig { hidden: 64, dropouts: [0.3, 0.1, 0.3, 0.1, 0.0], epochs: 3, batch_size: 32, bptt: 35, ..Self::paper() }
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), CoreError> {
        crate::limits::all_at_most(&[
            ("epochs", self.epochs, crate::limits::MAX_EPOCHS),
            ("batch_size", self.batch_size, crate::limits::MAX_BATCH),
            ("eval_batch_size", self.eval_batch_size, crate::limits::MAX_BATCH),
            ("test_batch_size", self.test_batch_size, crate::limits::MAX_BATCH),
            ("bptt", self.bptt, 100_000),
            ("max_seq_len_delta", self.max_seq_len_delta, 100_000),
        ])?;
        for (field, v) in [("epochs", self.epochs), ("batch_size", self.batch_size), ("bptt", self.bptt), ("eval_batch_size", self.eval_batch_size), ("test_batch_size", self.test_batch_size)] {
            if v == 0 {
                return Err(CoreError::invalid(field, "must be at least 1"));
            }
        }
        for (field, v) in [("lr", self.lr), ("clip", self.clip), ("beta", self.beta), ("weight_decay", self.weight_decay)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(CoreError::invalid(field, format!("must be finite and ≥ 0, found {v}")));
            }
        }
        Ok(())
    }
}

/// One finished epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmEpoch {
    /// Epoch (0-based).
    pub epoch: usize,
    /// Mean training NLL of the epoch's windows (nats per token).
    pub train_loss: f64,
    /// Validation NLL (of the averaged weights once averaging has begun).
    pub valid_loss: f64,
    /// Whether the weights were being averaged (ASGD).
    pub averaged: bool,
    /// Whether this epoch's state became the best one kept.
    pub best: bool,
    /// Seconds.
    pub seconds: f64,
}

/// Averaged SGD's state (PyTorch's `ASGD` with λ = 0, t0 = 0, as `rnn/train.py` creates it):
/// the step uses the η and μ computed at the end of the previous step.
#[derive(Clone, Debug)]
struct Asgd {
    ax: Vec<Tensor<1>>,
    eta: f64,
    mu: f64,
    step: u64,
}

impl Asgd {
    /// Fresh state for `params` (η = the unscaled learning rate, μ = 1, as PyTorch initialises).
    fn new(params: &[Tensor<1>], lr: f64) -> Self {
        Asgd { ax: params.iter().map(|t| t.zeros_like()).collect(), eta: lr, mu: 1.0, step: 0 }
    }

    /// p ← p − η (g + wd · p), then ax ← p (μ = 1) or ax + μ (p − ax); η and μ are those computed
    /// at the end of the previous step, and are now set from this step's `lr` and count.
    fn step(&mut self, params: &mut [Tensor<1>], grads: &[Tensor<1>], lr: f64, wd: f64) {
        self.step += 1;
        for ((p, g), ax) in params.iter_mut().zip(grads).zip(self.ax.iter_mut()) {
            *p = p.clone() - (g.clone() + p.clone().mul_scalar(wd)).mul_scalar(self.eta);
            *ax = if self.mu == 1.0 { p.clone() } else { ax.clone() + (p.clone() - ax.clone()).mul_scalar(self.mu) };
        }
        self.eta = lr;
        self.mu = 1.0 / (self.step as f64).max(1.0);
    }
}

/// A training run's state.
pub struct LmTrainer {
    /// Configuration.
    pub config: LmTrainConfig,
    /// The model.
    pub model: RnnModel,
    /// Weights.
    pub weights: Weights,
    /// Next epoch.
    pub epoch: usize,
    /// Finished epochs.
    pub history: Vec<LmEpoch>,
    sgd: Sgd,
    asgd: Option<Asgd>,
    stats: BnStats,
    /// Window lengths.
    data_rng: Rng,
    /// Dropout masks.
    model_rng: Rng,
    /// Validation losses before averaging (the switching rule's record).
    plain_val: Vec<f64>,
    /// The best validation loss and its weights.
    best: Option<(f64, Weights)>,
    train: Batched,
    valid: Batched,
    test: Batched,
    device: Device,
}

impl LmTrainer {
    /// Sets up training of `genotype` on `corpus`.
    pub fn new(config: LmTrainConfig, genotype: &RnnGenotype, corpus: &Corpus, device: &Device) -> Result<Self, CoreError> {
        config.validate()?;
        let [dropout, dropout_h, dropout_x, dropout_i, dropout_e] = config.dropouts;
        let rnn = RnnConfig { tokens: corpus.vocab.len(), hidden: config.hidden, dropout, dropout_h, dropout_x, dropout_i, dropout_e };
        let model = RnnModel::new(rnn, RnnCell::Found(genotype.clone()))?;
        let train_tokens = if config.max_tokens > 0 { &corpus.train[..config.max_tokens.min(corpus.train.len())] } else { &corpus.train[..] };
        let train = Batched::new(train_tokens, config.batch_size)?;
        let valid = Batched::new(&corpus.valid, config.eval_batch_size)?;
        let test = Batched::new(&corpus.test, config.test_batch_size)?;
        let mut root = Rng::new(config.seed);
        let weights = init_weights(&model.specs, &mut root.fork(1), device);
        let sgd = Sgd::new(&weights.tensors, 0.0);
        let stats = BnStats::new(&model.bn_channels, device);
        Ok(LmTrainer {
            data_rng: root.fork(2),
            model_rng: root.fork(3),
            config,
            model,
            weights,
            epoch: 0,
            history: Vec::new(),
            sgd,
            asgd: None,
            stats,
            plain_val: Vec::new(),
            best: None,
            train,
            valid,
            test,
            device: device.clone(),
        })
    }

    /// Whether every epoch has run.
    pub fn finished(&self) -> bool {
        self.epoch >= self.config.epochs
    }

    /// The next window's length: `bptt`, or half of it one time in 20, then drawn from a normal
    /// distribution around that with standard deviation 5, at least 5 and at most
    /// `bptt + max_seq_len_delta`.
    fn seq_len(&mut self) -> usize {
        let c = &self.config;
        let bptt = if self.data_rng.uniform() < 0.95 { c.bptt as f64 } else { c.bptt as f64 / 2.0 };
        let drawn = (bptt + 5.0 * self.data_rng.normal()).trunc().max(5.0) as usize;
        drawn.min(c.bptt + c.max_seq_len_delta)
    }

    /// Runs the next epoch, evaluates, keeps the best state and applies the switching rule;
    /// `progress(step, loss)` after each window.
    pub async fn run_epoch(&mut self, progress: &mut dyn FnMut(usize, f64)) -> Result<LmEpoch, CoreError> {
        let start = now_seconds();
        let epoch = self.epoch;
        let c = self.config.clone();
        let mut hidden = Tensor::<2>::zeros([c.batch_size, c.hidden], &self.device);
        let (mut i, mut step, mut total) = (0, 0, 0.0);
        while i + 2 < self.train.rows {
            let seq_len = self.seq_len();
            let lr = c.lr * seq_len as f64 / c.bptt as f64;
            let win = self.train.window(i, seq_len);
            let ctx = PassCtx::new(Some(&mut self.stats), &mut self.model_rng, 0.0);
            let (loss, mut grads, next) = weight_grads(&self.model, &self.weights, None, &win, &hidden, c.beta, ctx).await;
            if !loss.is_finite() {
                return Err(CoreError::Numerical(format!("training loss became {loss} at epoch {epoch}, window {step}")));
            }
            clip_global_norm(&mut grads, c.clip, self.model.kernels);
            self.apply(&grads, lr);
            hidden = next;
            total += loss;
            progress(step, loss);
            step += 1;
            i += seq_len;
        }
        let averaged = self.asgd.is_some();
        let evaluated = match &self.asgd {
            Some(a) => Weights { tensors: a.ax.clone() },
            None => self.weights.clone(),
        };
        let valid_loss = evaluate(&self.model, &evaluated, None, &self.valid, c.bptt, &mut self.stats, &self.device).await;
        if !valid_loss.is_finite() {
            return Err(CoreError::Numerical(format!("validation loss became {valid_loss} at epoch {epoch}")));
        }
        let best = self.best.as_ref().is_none_or(|(b, _)| valid_loss < *b);
        if best {
            self.best = Some((valid_loss, evaluated));
        }
        if !averaged {
            let n = self.plain_val.len();
            if n > c.nonmono && valid_loss > self.plain_val[..n - c.nonmono].iter().cloned().fold(f64::INFINITY, f64::min) {
                self.asgd = Some(Asgd::new(&self.weights.tensors, c.lr));
            }
            self.plain_val.push(valid_loss);
        }
        self.epoch += 1;
        let report = LmEpoch { epoch, train_loss: total / step.max(1) as f64, valid_loss, averaged, best, seconds: now_seconds() - start };
        self.history.push(report.clone());
        Ok(report)
    }

    /// One update: SGD, or ASGD once switched.
    fn apply(&mut self, grads: &[Tensor<1>], lr: f64) {
        let wd = self.config.weight_decay;
        match &mut self.asgd {
            None => self.sgd.step(&mut self.weights.tensors, grads, lr, wd),
            Some(a) => a.step(&mut self.weights.tensors, grads, lr, wd),
        }
    }

    /// The state as safetensors bytes: weights, averaged SGD's running mean, the best state kept;
    /// epoch, random streams, history and the switching rule's record in the metadata, with the
    /// front end's `extra` (the CLI's run-file lengths).
    pub async fn to_bytes(&self, extra: std::collections::BTreeMap<String, serde_json::Value>) -> Vec<u8> {
        let meta = LmTrainMeta {
            format: LM_TRAIN_FORMAT.into(),
            version: LM_TRAIN_VERSION,
            config: self.config.clone(),
            genotype: self.genotype().clone(),
            tokens: self.model.config.tokens,
            epoch: self.epoch,
            data_rng: self.data_rng.clone(),
            model_rng: self.model_rng.clone(),
            history: self.history.clone(),
            plain_val: self.plain_val.clone(),
            asgd: self.asgd.as_ref().map(|a| (a.eta, a.mu, a.step)),
            best_valid: self.best.as_ref().map(|(v, _)| *v),
            extra,
        };
        let mut named = Vec::new();
        let groups = [Some(("weights", &self.weights.tensors)), self.asgd.as_ref().map(|a| ("asgd.ax", &a.ax)), self.best.as_ref().map(|(_, w)| ("best", &w.tensors))];
        for (prefix, tensors) in groups.into_iter().flatten() {
            for (i, v) in crate::params::read_all(tensors).await.into_iter().enumerate() {
                named.push((format!("{prefix}.{i:05}"), v));
            }
        }
        crate::checkpoint::pack(&named, &serde_json::to_string(&meta).expect("metadata serialises"))
    }

    /// Restores a checkpoint written by [`LmTrainer::to_bytes`] for the same configuration,
    /// genotype and vocabulary size; every tensor's size and finiteness is checked before anything
    /// changes.
    pub fn restore(&mut self, source: &str, bytes: &[u8]) -> Result<LmTrainMeta, CoreError> {
        let bad = |m: String| CoreError::data(source, m);
        let (meta_json, file) = crate::checkpoint::unpack(source, bytes, LM_TRAIN_FORMAT, LM_TRAIN_VERSION)?;
        let meta: LmTrainMeta = serde_json::from_str(&meta_json).map_err(|e| bad(format!("corrupt metadata: {e}")))?;
        if meta.config != self.config || &meta.genotype != self.genotype() || meta.tokens != self.model.config.tokens {
            return Err(bad("written for another configuration, genotype or vocabulary".into()));
        }
        let group = |prefix: &str| -> Result<Vec<Vec<f32>>, CoreError> {
            let specs = self.model.specs.iter().enumerate();
            specs.map(|(i, spec)| crate::checkpoint::training_tensor(&file, source, &format!("{prefix}.{i:05}"), spec.numel())).collect()
        };
        let weights = group("weights")?;
        let ax = meta.asgd.map(|_| group("asgd.ax")).transpose()?;
        let best = meta.best_valid.map(|_| group("best")).transpose()?;
        let d = &self.device;
        self.weights = Weights::from_host(&weights, d);
        self.asgd = meta.asgd.zip(ax).map(|((eta, mu, step), ax)| Asgd { ax: Weights::from_host(&ax, d).tensors, eta, mu, step });
        self.best = meta.best_valid.zip(best).map(|(v, w)| (v, Weights::from_host(&w, d)));
        self.epoch = meta.epoch;
        self.data_rng = meta.data_rng.clone();
        self.model_rng = meta.model_rng.clone();
        self.history = meta.history.clone();
        self.plain_val = meta.plain_val.clone();
        Ok(meta)
    }

    /// The cell being trained.
    pub fn genotype(&self) -> &RnnGenotype {
        match &self.model.cell {
            RnnCell::Found(g) => g,
            RnnCell::Search { .. } => unreachable!("a trainer holds a found cell"),
        }
    }

    /// The validation loss of the best state kept, and its test loss at `test_batch_size`
    /// streams (nats per token; perplexity is the exponential).
    pub async fn test(&mut self) -> Option<(f64, f64)> {
        let (valid, w) = self.best.clone()?;
        let test = evaluate(&self.model, &w, None, &self.test, self.config.bptt, &mut self.stats, &self.device).await;
        Some((valid, test))
    }
}

/// Format name of language-model training checkpoints.
pub const LM_TRAIN_FORMAT: &str = "rdarts-lm-train-state";
/// Their format version (2: the checksum covers the tensor table too).
pub const LM_TRAIN_VERSION: u32 = 2;

/// Metadata of a language-model training checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmTrainMeta {
    /// [`LM_TRAIN_FORMAT`].
    pub format: String,
    /// Format version.
    pub version: u32,
    /// Configuration.
    pub config: LmTrainConfig,
    /// The cell trained.
    pub genotype: RnnGenotype,
    /// Vocabulary size.
    pub tokens: usize,
    /// Next epoch.
    pub epoch: usize,
    /// Window lengths.
    pub data_rng: Rng,
    /// Dropout masks.
    pub model_rng: Rng,
    /// Finished epochs.
    pub history: Vec<LmEpoch>,
    /// Validation losses before averaging.
    pub plain_val: Vec<f64>,
    /// Averaged SGD's η, μ and step count, once switched.
    pub asgd: Option<(f64, f64, u64)>,
    /// The best validation loss kept.
    pub best_valid: Option<f64>,
    /// Front-end data stored with the state.
    #[serde(default)]
    pub extra: std::collections::BTreeMap<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{read, tensor1};

    #[test]
    fn averaged_sgd_averages_the_iterates_from_the_second_step_on() {
        // PyTorch's ASGD with λ = 0, t0 = 0 and these gradients from p = 1: η is 0.5 at the
        // first step (the initial lr) and the previous step's lr after; ax holds p₂, then the
        // mean of p₂ and p₃, then of p₂, p₃ and p₄.
        let device = crate::backend::cpu().device;
        let mut p = vec![tensor1(vec![1.0], &device)];
        let mut a = Asgd::new(&p, 0.5);
        let mut iterates = Vec::new();
        for (g, lr) in [(1.0, 0.25), (2.0, 0.25), (-4.0, 0.1), (1.0, 0.1)] {
            a.step(&mut p, &[tensor1(vec![g], &device)], lr, 0.0);
            iterates.push(f64::from(crate::block_on(read(&p[0]))[0]));
        }
        // p: 1 − 0.5 = 0.5; 0.5 − 0.25·2 = 0; 0 + 0.25·4 = 1; 1 − 0.1 = 0.9.
        for (got, want) in iterates.iter().zip([0.5, 0.0, 1.0, 0.9]) {
            assert!((got - want).abs() < 1e-6, "{iterates:?}");
        }
        let ax = f64::from(crate::block_on(read(&a.ax[0]))[0]);
        assert!((ax - (0.0 + 1.0 + 0.9) / 3.0).abs() < 1e-6, "ax {ax}");
        assert_eq!((a.eta, a.mu, a.step), (0.1, 0.25, 4));
    }
}
