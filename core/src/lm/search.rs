//! DARTS' recurrent-cell search (quark0/darts `rnn/train_search.py`) with RobustDARTS' controls:
//! per window of the training stream one α step on the search stream (the validation text laid
//! out at the training batch size, read at `i mod (rows − 1)`), then one weight step; each epoch
//! ends with the validation perplexity, λmax of the α Hessian on the epoch's last α window, and
//! the DARTS-ES/ADA rule of the shared [`Controller`] — the same rule, record and rollback ring as
//! the image search, R-DARTS(L2) being the weight decay and DARTS-ADA raising it.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::corpus::{Batched, Corpus, Window};
use super::genotype::RnnGenotype;
use super::model::{RnnCell, RnnConfig, RnnModel};
use super::step::{LmObjective, LmUnroll, Start, StepRates, alpha_grad_pending, evaluate, weight_step_pending};
use crate::architect::PassCtx;
use crate::clock::now_seconds;
use crate::error::CoreError;
use crate::hessian::AlphaHessian;
use crate::optim::{Adam, Sgd};
use crate::params::{BnStats, Weights, init_weights, read};
use crate::rng::Rng;
use crate::search::control::Firing;
use crate::search::{AdaTarget, Controller, Curvature, RobustConfig, RobustReport};

pub use super::search_config::LmSearchConfig;
pub use super::search_state::{LM_SEARCH_FORMAT, LM_SEARCH_VERSION, LmSnapshot, LmSnapshotMeta};

/// What the recurrent search keeps of each finished epoch.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LmKept {
    /// Genotype at the end of the epoch.
    pub genotype: RnnGenotype,
    /// Validation perplexity.
    pub valid_ppl: f64,
}

/// End-of-epoch summary of the recurrent search.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LmEpochReport {
    /// Epoch (0-based).
    pub epoch: usize,
    /// Mean training NLL of the epoch's windows (nats per token).
    pub train_loss: f64,
    /// Mean α-step NLL on the search stream.
    pub arch_loss: f64,
    /// Validation NLL (evaluation mode, nats per token).
    pub valid_loss: f64,
    /// Validation perplexity, exp(`valid_loss`).
    pub valid_ppl: f64,
    /// Genotype derived from α at the end of the epoch.
    pub genotype: RnnGenotype,
    /// softmax(α), a row per edge.
    pub alpha: Vec<Vec<f32>>,
    /// Seconds the epoch's training and evaluation took (curvature excluded).
    pub seconds: f64,
    /// λmax and λmin of the α Hessian, where computed.
    pub curvature: Option<Curvature>,
    /// Weight decay in effect (R-DARTS(L2) sets it, DARTS-ADA raises it).
    pub weight_decay: f64,
    /// DARTS-ADA iteration: 1 until the first rollback.
    pub iteration: usize,
}

/// What a running recurrent search reports.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LmEvent {
    /// A window's α step and weight step.
    Step {
        /// Epoch (0-based).
        epoch: usize,
        /// Window within the epoch (0-based).
        step: usize,
        /// The weight step's NLL on the training window.
        train_loss: f64,
        /// The α step's NLL on the search window.
        arch_loss: f64,
    },
    /// An epoch finished.
    Epoch(LmEpochReport),
    /// The DARTS-ES rule fired.
    Robust(RobustReport<LmKept>),
}

/// The whole state of a recurrent search.
pub struct LmSearch {
    config: LmSearchConfig,
    model: RnnModel,
    weights: Weights,
    alpha: Tensor<2>,
    sgd: Sgd,
    adam: Adam,
    stats: BnStats,
    epoch: usize,
    data_rng: Rng,
    model_rng: Rng,
    ctl: Controller<LmKept, LmSnapshot>,
    train: Batched,
    search: Batched,
    valid: Batched,
    device: Device,
}

impl LmSearch {
    /// Sets up a search on `corpus`.
    pub fn new(config: LmSearchConfig, corpus: &Corpus, device: &Device) -> Result<Self, CoreError> {
        config.validate()?;
        let [dropout, dropout_h, dropout_x, dropout_i, dropout_e] = config.dropouts;
        let rnn = RnnConfig { tokens: corpus.vocab.len(), hidden: config.hidden, dropout, dropout_h, dropout_x, dropout_i, dropout_e };
        let model = RnnModel::new(rnn, RnnCell::Search { steps: config.steps })?;
        let train_tokens = if config.max_tokens > 0 { &corpus.train[..config.max_tokens.min(corpus.train.len())] } else { &corpus.train[..] };
        let train = Batched::new(train_tokens, config.batch_size)?;
        let search = Batched::new(&corpus.valid, config.batch_size)?;
        let valid = Batched::new(&corpus.valid, config.eval_batch_size)?;
        let mut root = Rng::new(config.seed);
        let mut init = root.fork(1);
        let weights = init_weights(&model.specs, &mut init, device);
        // The reference's α: 1e-3 · N(0, 1).
        let shape = model.alpha_shape();
        let alpha_init: Vec<f32> = init.normal_vec(shape[0] * shape[1]).iter().map(|x| 1e-3 * x).collect();
        let alpha = crate::params::tensor1(alpha_init, device).reshape(shape);
        let sgd = Sgd::new(&weights.tensors, 0.0);
        let adam = Adam::new(&[alpha.clone().reshape([shape[0] * shape[1]])], (0.9, 0.999), config.arch_weight_decay);
        let stats = BnStats::new(&model.bn_channels, device);
        Ok(LmSearch {
            data_rng: root.fork(2),
            model_rng: root.fork(3),
            ctl: Controller::new(&config.hessian, &config.robust, config.epochs),
            config,
            model,
            weights,
            alpha,
            sgd,
            adam,
            stats,
            epoch: 0,
            train,
            search,
            valid,
            device: device.clone(),
        })
    }

    /// The configuration in effect (DARTS-ADA may have raised the weight decay).
    pub fn config(&self) -> &LmSearchConfig {
        &self.config
    }

    /// The search model.
    pub fn model(&self) -> &RnnModel {
        &self.model
    }

    /// The next epoch to run.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// λ history, record and DARTS-ES/ADA progress.
    pub fn controller(&self) -> &Controller<LmKept, LmSnapshot> {
        &self.ctl
    }

    /// How many recent checkpoints DARTS-ADA may roll back to.
    pub fn states_to_keep(&self) -> usize {
        self.ctl.states_to_keep()
    }

    /// Whether every epoch has run, or DARTS-ES stopped the search.
    pub fn finished(&self) -> bool {
        self.epoch >= self.config.epochs || self.ctl.robust.stopped
    }

    /// The genotype of the current α.
    pub async fn genotype(&self) -> RnnGenotype {
        RnnGenotype::derive(&read(&self.alpha).await, self.config.steps)
    }

    /// The search's answer: the current α's genotype, or DARTS-ES's stop epoch's.
    pub async fn result_genotype(&self) -> RnnGenotype {
        match self.ctl.stopped_at() {
            Some(k) => k.genotype.clone(),
            None => self.genotype().await,
        }
    }

    /// The window length: `bptt`, or half of it one time in 20 (`int(bptt)` of the reference).
    fn seq_len(&mut self) -> usize {
        let bptt = self.config.bptt;
        if self.data_rng.uniform() < 0.95 { bptt } else { (bptt / 2).max(1) }
    }

    /// Runs the next epoch, its evaluation, λ when due and the DARTS-ES/ADA rule; events to `observe`.
    pub async fn run_epoch(&mut self, observe: &mut dyn FnMut(&LmEvent)) -> Result<LmEpochReport, CoreError> {
        let start = now_seconds();
        let (epoch, c) = (self.epoch, self.config.clone());
        let zeros = || Tensor::<2>::zeros([c.batch_size, c.hidden], &self.device);
        let (mut hidden, mut hidden_valid) = (zeros(), zeros());
        let (mut i, mut step, mut total, mut arch_total) = (0, 0, 0.0, 0.0);
        let mut last_val: Option<(Window, Tensor<2>)> = None;
        while i + 2 < self.train.rows {
            let seq_len = self.seq_len();
            let lr = c.lr * seq_len as f64 / c.bptt as f64;
            let val_win = self.search.window(i % (self.search.rows - 1), c.bptt);
            let win = self.train.window(i, seq_len);
            let unroll = LmUnroll { order: c.order, lr, weight_decay: c.weight_decay, clip: c.clip, step_embedding: false };
            let ctx = PassCtx::new(Some(&mut self.stats), &mut self.model_rng, 0.0);
            let train = Start { win: &win, hidden: &hidden };
            let (arch_loss, ga, next_valid) = alpha_grad_pending(&self.model, &self.weights, &self.alpha, train, Start { win: &val_win, hidden: &hidden_valid }, unroll, ctx);
            let shape = self.model.alpha_shape();
            let mut a = [self.alpha.clone().reshape([shape[0] * shape[1]])];
            self.adam.step(&mut a, &[ga.reshape([shape[0] * shape[1]])], c.arch_lr);
            let [a] = a;
            self.alpha = a.reshape(shape);
            let rates = StepRates { lr, weight_decay: c.weight_decay, clip: c.clip, beta: c.beta };
            let ctx = PassCtx::new(Some(&mut self.stats), &mut self.model_rng, 0.0);
            let (loss, next) = weight_step_pending(&self.model, &mut self.weights, &mut self.sgd, Some(&self.alpha), train, rates, ctx);
            // The window's one read from the device: both NLLs.
            let both = read(&Tensor::cat(vec![arch_loss, loss], 0)).await;
            let (arch_loss, loss) = (f64::from(both[0]), f64::from(both[1]));
            if !loss.is_finite() || !arch_loss.is_finite() {
                return Err(CoreError::Numerical(format!("loss became {} at epoch {epoch}, window {step} (try a lower learning rate)", if loss.is_finite() { arch_loss } else { loss })));
            }
            last_val = Some((val_win, hidden_valid));
            (hidden, hidden_valid) = (next, next_valid);
            total += loss;
            arch_total += arch_loss;
            observe(&LmEvent::Step { epoch, step, train_loss: loss, arch_loss });
            step += 1;
            i += seq_len;
        }
        let valid_loss = evaluate(&self.model, &self.weights, Some(&self.alpha), &self.valid, c.bptt, &mut self.stats, &self.device).await;
        if !valid_loss.is_finite() {
            return Err(CoreError::Numerical(format!("validation loss became {valid_loss} at epoch {epoch}")));
        }
        let seconds = now_seconds() - start;
        let curvature = match (last_val, self.ctl.hessian_due(epoch)) {
            (Some((win, h)), true) => Some(self.curvature(epoch, &win, &h).await),
            _ => None,
        };
        if let Some(c) = &curvature
            && !(c.lambda_max.is_finite() && c.lambda_min.is_finite())
        {
            return Err(CoreError::Numerical(format!("λmax became {} at the end of epoch {epoch}", c.lambda_max)));
        }
        self.epoch += 1;
        let raw = read(&self.alpha).await;
        let k = super::genotype::RnnOp::ALL.len();
        let genotype = RnnGenotype::derive(&raw, c.steps);
        let report = LmEpochReport {
            epoch,
            train_loss: total / step.max(1) as f64,
            arch_loss: arch_total / step.max(1) as f64,
            valid_loss,
            valid_ppl: valid_loss.exp(),
            genotype: genotype.clone(),
            alpha: crate::genotype::softmax_rows(&raw, k),
            seconds,
            curvature,
            weight_decay: c.weight_decay,
            iteration: self.ctl.robust.iteration,
        };
        observe(&LmEvent::Epoch(report.clone()));
        let kept = LmKept { genotype, valid_ppl: report.valid_ppl };
        let raisable = self.config.weight_decay < self.config.robust.max_weight_decay * (1.0 - 1e-9);
        if let Some(firing) = self.ctl.end_epoch(epoch, kept, report.curvature.as_ref().map(|c| c.lambda_max), raisable)? {
            observe(&LmEvent::Robust(self.act_on(firing)?));
        }
        if self.ctl.keeps_states() && !self.finished() && self.epoch == epoch + 1 {
            let snapshot = self.snapshot().await;
            self.ctl.keep(self.epoch, snapshot);
        }
        Ok(report)
    }

    /// A rollback restores the state it names and raises the weight decay.
    fn act_on(&mut self, firing: Firing<LmKept, LmSnapshot>) -> Result<RobustReport<LmKept>, CoreError> {
        if let Some(snap) = &firing.restore {
            self.restore(snap)?;
            self.config.raise_weight_decay();
        }
        Ok(self.ctl.fired(firing, self.epoch, self.config.weight_decay, 0.0))
    }

    /// λmax and λmin of the α Hessian of the training-mode NLL on the α window `win` from `hidden`
    /// (the epoch's last), at the current weights; the search's streams are not advanced.
    async fn curvature(&mut self, epoch: usize, win: &Window, hidden: &Tensor<2>) -> Curvature {
        let start = now_seconds();
        let objective = LmObjective { model: &self.model, w: &self.weights, alpha: self.alpha.clone(), win, hidden: hidden.clone() };
        let h = &self.config.hessian;
        let mut op = AlphaHessian::of(Box::new(objective), self.config.arch_weight_decay, self.model_rng.clone(), &self.device).await;
        let e = op.extremes(h.lanczos_steps, h.lanczos_tol, self.config.seed ^ ((epoch as u64) << 16)).await;
        Curvature { lambda_max: e.max, lambda_min: e.min, batches: 1, gradient_evals: op.gradient_evals, seconds: now_seconds() - start }
    }

    /// The state at the end of the last finished epoch, on the host.
    pub async fn snapshot(&self) -> LmSnapshot {
        LmSnapshot {
            meta: LmSnapshotMeta {
                format: LM_SEARCH_FORMAT.into(),
                version: LM_SEARCH_VERSION,
                config: self.config.clone(),
                tokens: self.model.config.tokens,
                epoch: self.epoch,
                data_rng: self.data_rng.clone(),
                model_rng: self.model_rng.clone(),
                tracker: self.ctl.tracker.clone(),
                history: self.ctl.history.clone(),
                robust: self.ctl.robust.clone(),
                weight_sizes: self.model.specs.iter().map(|s| s.numel()).collect(),
                bn_sizes: self.model.bn_channels.clone(),
                extra: Default::default(),
            },
            weights: self.weights.read().await,
            alpha: read(&self.alpha).await,
            adam: self.adam.read_state().await,
            bn: (crate::params::read_all(&self.stats.mean).await, crate::params::read_all(&self.stats.var).await),
        }
    }

    /// Restores the training state of `snap` (weights, α, Adam, statistics, streams, epoch, λ
    /// record); configuration and DARTS-ES/ADA progress stay (a rollback keeps them).
    fn restore(&mut self, snap: &LmSnapshot) -> Result<(), CoreError> {
        let d = &self.device;
        self.weights = Weights::from_host(&snap.weights, d);
        self.alpha = crate::params::tensor1(snap.alpha.clone(), d).reshape(self.model.alpha_shape());
        self.adam.load_state(&snap.adam, d);
        self.stats.mean = snap.bn.0.iter().map(|v| crate::params::tensor1(v.clone(), d)).collect();
        self.stats.var = snap.bn.1.iter().map(|v| crate::params::tensor1(v.clone(), d)).collect();
        self.epoch = snap.meta.epoch;
        self.data_rng = snap.meta.data_rng.clone();
        self.model_rng = snap.meta.model_rng.clone();
        self.ctl.restore(snap.meta.tracker.clone(), snap.meta.history.clone(), None);
        Ok(())
    }

    /// Continues an interrupted search from its newest state `snap` (`older`: earlier states, for
    /// DARTS-ADA's rollbacks): the configuration in effect and the DARTS-ES/ADA progress too.
    pub fn resume_from(&mut self, snap: &LmSnapshot, older: Vec<LmSnapshot>) -> Result<(), CoreError> {
        let cfg = &snap.meta.config;
        let sizes: Vec<usize> = self.model.specs.iter().map(|s| s.numel()).collect();
        if !cfg.continues(&self.config) || snap.meta.tokens != self.model.config.tokens || snap.meta.weight_sizes != sizes || snap.meta.bn_sizes != self.model.bn_channels {
            return Err(CoreError::invalid("checkpoint", "written by a search with other settings or another vocabulary"));
        }
        self.restore(snap)?;
        self.config = cfg.clone();
        self.ctl = Controller::new(&cfg.hessian, &cfg.robust, cfg.epochs);
        self.ctl.restore(snap.meta.tracker.clone(), snap.meta.history.clone(), Some(snap.meta.robust.clone()));
        if self.ctl.keeps_states() {
            for s in older.into_iter().chain(std::iter::once(snap.clone())) {
                self.ctl.keep(s.meta.epoch, s);
            }
        }
        Ok(())
    }
}

/// DARTS-ADA on the recurrent search raises the weight decay only.
pub(crate) fn check_target(r: &RobustConfig) -> Result<(), CoreError> {
    match r.target {
        AdaTarget::WeightDecay => Ok(()),
        AdaTarget::DropPath => Err(CoreError::invalid("robust.target", "the recurrent model has no drop-path: DARTS-ADA raises the weight decay")),
    }
}
