//! Training a found genotype from scratch (docs/ALGORITHM.md §11): the evaluation network, SGD with cosine
//! annealing to 0, the auxiliary head's loss (weight 0.4), drop-path ramped linearly over the
//! epochs, Cutout; test accuracy in evaluation mode (running BatchNorm statistics, no drop-path).

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::data::{Augment, Batch, Dataset, epoch_batches, make_batch};
use crate::error::CoreError;
use crate::evalnet::{EvalConfig, EvalNet};
use crate::genotype::Genotype;
use crate::network::{cross_entropy, read_loss_and_correct};
use crate::optim::{Sgd, cosine_lr};
use crate::params::{BnStats, Fwd, Mode, Weights, init_weights, read, tensor1};
use crate::rng::Rng;
use crate::checkpoint::{pack, unpack};
use crate::clock::now_seconds;
use crate::tally::{EVAL_CHUNK_MIN, Tally, evaluate_chunks};

/// Every knob of a training run. `Default` is the paper's CIFAR-10 setting (docs/ALGORITHM.md §11).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// The network (input shape and classes are taken from the data).
    pub net: EvalConfig,
    /// Epochs.
    pub epochs: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Seed of every random draw.
    pub seed: u64,
    /// Initial learning rate (cosine-annealed to `lr_min`).
    pub lr: f64,
    /// Final learning rate.
    pub lr_min: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Global gradient-norm clip.
    pub grad_clip: f64,
    /// Weight of the auxiliary head's loss.
    pub auxiliary_weight: f64,
    /// Drop-path probability at the last epoch (p · epoch / epochs).
    pub drop_path_prob: f64,
    /// Augmentation of training batches.
    pub augment: Augment,
    /// Use only the first N images of the training set (0 = all).
    pub max_images: usize,
    /// Evaluate on at most N test images (0 = all).
    pub test_images: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            net: EvalConfig::default(),
            epochs: 600,
            batch_size: 96,
            seed: 0,
            lr: 0.025,
            lr_min: 0.0,
            momentum: 0.9,
            weight_decay: 3e-4,
            grad_clip: 5.0,
            auxiliary_weight: 0.4,
            drop_path_prob: 0.2,
            augment: Augment { cutout: 16, ..Augment::default() },
            max_images: 0,
            test_images: 0,
        }
    }
}

impl TrainConfig {
    /// The paper's CIFAR-10 setting.
    pub fn paper() -> Self {
        Self::default()
    }

    /// The evaluation the authors ran on `kind`: the paper's CIFAR-10 network (C = 36, 20 cells,
    /// [`TrainConfig::paper`]) on CIFAR-10 (and on the sets the paper did not use), and on CIFAR-100
    /// and SVHN their evaluation code's defaults, which its launch script does not override: C =
    /// 16, 8 cells (automl/RobustDARTS `src/evaluation/args.py:40-41`; `scripts/DARTS_eval.sh`
    /// passes only `--cutout --auxiliary`), with the same schedule, auxiliary head and Cutout.
    pub fn paper_for(kind: crate::data::DataKind) -> Self {
        use crate::data::DataKind;
        let mut c = Self::paper();
        if matches!(kind, DataKind::Cifar100 | DataKind::Svhn) {
            (c.net.channels, c.net.layers) = (16, 8);
        }
        c
    }

    /// A few minutes on a 2-core CPU with the embedded digits: C = 8, 6 cells, no auxiliary head
    /// (28×28 inputs leave 7×7 features at 2/3 depth), 3 epochs on 2 048 images, batch 32.
    pub fn small() -> Self {
        TrainConfig {
            net: EvalConfig { channels: 8, layers: 6, auxiliary: false, ..EvalConfig::default() },
            epochs: 3,
            batch_size: 32,
            lr: 0.05,
            drop_path_prob: 0.1,
            augment: Augment { cutout: 8, ..Augment::default() },
            max_images: 2048,
            test_images: 1000,
            ..Self::default()
        }
    }

    /// This configuration completed for the training data `train` as [`Trainer::new`] completes
    /// it (input channels, image side, classes): check its memory
    /// ([`crate::memory::train_bytes`]) on this before building the trainer.
    pub fn for_data(mut self, train: &crate::data::Dataset) -> TrainConfig {
        self.net.in_channels = train.channels;
        self.net.image_size = train.size;
        self.net.classes = train.classes;
        self
    }

    /// Checks every field; errors name the field.
    pub fn validate(&self) -> Result<(), CoreError> {
        let check = |ok: bool, field: &str, msg: String| if ok { Ok(()) } else { Err(CoreError::invalid(field, msg)) };
        check(self.epochs > 0, "epochs", format!("must be at least 1, found {}", self.epochs))?;
        check(self.batch_size > 0, "batch_size", format!("must be at least 1, found {}", self.batch_size))?;
        check(self.lr.is_finite() && self.lr > 0.0, "lr", format!("must be positive, found {}", self.lr))?;
        check((0.0..1.0).contains(&self.drop_path_prob), "drop_path_prob", format!("must be in [0, 1), found {}", self.drop_path_prob))?;
        check(self.auxiliary_weight >= 0.0, "auxiliary_weight", format!("must be non-negative, found {}", self.auxiliary_weight))?;
        {
            use crate::limits::*;
            all_at_most(&[
                ("epochs", self.epochs, MAX_EPOCHS),
                ("batch_size", self.batch_size, MAX_BATCH),
                ("net.channels", self.net.channels, MAX_CHANNELS),
                ("net.layers", self.net.layers, MAX_LAYERS),
                ("net.classes", self.net.classes, MAX_CLASSES),
                ("net.in_channels", self.net.in_channels, MAX_IN_CHANNELS),
                ("net.image_size", self.net.image_size, MAX_IMAGE_SIZE),
            ])?;
        }
        self.augment.validate()
    }
}

/// One finished epoch.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainEpoch {
    /// Epoch (0-based).
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Drop-path probability used.
    pub drop_prob: f64,
    /// Mean training loss (with the auxiliary term).
    pub train_loss: f64,
    /// Training accuracy.
    pub train_acc: f64,
    /// Test loss (evaluation mode).
    pub test_loss: f64,
    /// Test accuracy.
    pub test_acc: f64,
    /// Seconds.
    pub seconds: f64,
}

/// A training run's state.
pub struct Trainer {
    /// Configuration (input shape filled in from the data).
    pub config: TrainConfig,
    /// The network.
    pub net: EvalNet,
    /// Weights.
    pub weights: Weights,
    /// Optimiser.
    pub sgd: Sgd,
    /// BatchNorm running statistics.
    pub stats: BnStats,
    /// Next epoch.
    pub epoch: usize,
    /// Data order and augmentation.
    pub data_rng: Rng,
    /// Drop-path draws.
    pub model_rng: Rng,
    /// Finished epochs.
    pub history: Vec<TrainEpoch>,
    train: Dataset,
    test: Dataset,
    device: Device,
}

impl Trainer {
    /// Sets up training of `genotype` on `train`, testing on `test`.
    pub fn new(mut config: TrainConfig, genotype: &Genotype, train: Dataset, test: Dataset, device: &Device) -> Result<Self, CoreError> {
        config = config.for_data(&train);
        config.validate()?;
        let train = if config.max_images > 0 { train.truncate(config.max_images) } else { train };
        let test = if config.test_images > 0 { test.truncate(config.test_images) } else { test };
        train.validate()?;
        test.validate()?;
        let net = EvalNet::new(&config.net, genotype)?;
        let mut root = Rng::new(config.seed);
        let weights = init_weights(&net.specs, &mut root.fork(1), device);
        let sgd = Sgd::new(&weights.tensors, config.momentum);
        let stats = BnStats::new(&net.bn_channels, device);
        Ok(Trainer {
            data_rng: root.fork(2),
            model_rng: root.fork(3),
            config,
            net,
            weights,
            sgd,
            stats,
            epoch: 0,
            history: Vec::new(),
            train,
            test,
            device: device.clone(),
        })
    }

    /// Whether every epoch has run.
    pub fn finished(&self) -> bool {
        self.epoch >= self.config.epochs
    }

    /// Runs the next epoch and evaluates on the test set; `progress(step, steps, loss)` after each step.
    pub async fn run_epoch(&mut self, progress: &mut dyn FnMut(usize, usize, f64)) -> Result<TrainEpoch, CoreError> {
        let start = now_seconds();
        let cfg = self.config.clone();
        let epoch = self.epoch;
        let lr = cosine_lr(cfg.lr, cfg.lr_min, epoch, cfg.epochs);
        let drop_prob = cfg.drop_path_prob * epoch as f64 / cfg.epochs as f64;
        let all: Vec<usize> = (0..self.train.len()).collect();
        let batches = epoch_batches(&all, cfg.batch_size, &mut self.data_rng);
        let mut tally = Tally::default();
        for (step, idx) in batches.iter().enumerate() {
            let b = make_batch(&self.train, idx, Some(&cfg.augment), &mut self.data_rng);
            let w = self.weights.leaves();
            let mut f = Fwd { w: &w, mode: Mode::Train, stats: Some(&mut self.stats), rng: &mut self.model_rng, drop_prob, tape: None, kernels: Default::default(), constants: Default::default() };
            let (logits, aux) = self.net.forward(&mut f, b.tensor(&self.device).autodiff());
            let mut loss = cross_entropy(logits.clone(), &b.y);
            if let Some(aux) = aux {
                loss = loss + cross_entropy(aux, &b.y).mul_scalar(cfg.auxiliary_weight);
            }
            let (l, hits) = read_loss_and_correct(&logits, &loss, &b.y).await;
            if !l.is_finite() {
                return Err(CoreError::Numerical(format!("training loss became {l} at epoch {epoch}, step {step}")));
            }
            let grads = loss.backward();
            let g = w.grads(&grads);
            self.sgd.step_clipped(&mut self.weights.tensors, g, cfg.grad_clip, lr, cfg.weight_decay);
            tally.add(l, hits, b.y.len());
            progress(step, batches.len(), l);
        }
        let (test_loss, test_acc) = self.evaluate().await;
        self.epoch += 1;
        let report = TrainEpoch {
            epoch,
            lr,
            drop_prob,
            train_loss: tally.mean_loss(),
            train_acc: tally.accuracy(),
            test_loss,
            test_acc,
            seconds: now_seconds() - start,
        };
        self.history.push(report.clone());
        Ok(report)
    }

    /// Loss and accuracy on the test set, evaluation mode, in chunks of the batch size but at
    /// least [`EVAL_CHUNK_MIN`] images (evaluation-mode BatchNorm treats each image alone).
    pub async fn evaluate(&mut self) -> (f64, f64) {
        let mut rng = Rng::new(0);
        let idx: Vec<usize> = (0..self.test.len()).collect();
        let (net, weights, stats, device) = (&self.net, &self.weights, &mut self.stats, &self.device);
        evaluate_chunks(&self.test, &idx, self.config.batch_size.max(EVAL_CHUNK_MIN), async |b: &Batch| {
            let mut f = Fwd { w: weights, mode: Mode::Eval, stats: Some(&mut *stats), rng: &mut rng, drop_prob: 0.0, tape: None, kernels: Default::default(), constants: Default::default() };
            let (logits, _) = net.forward(&mut f, b.tensor(device));
            let loss = cross_entropy(logits.clone(), &b.y);
            read_loss_and_correct(&logits, &loss, &b.y).await
        })
        .await
    }

    /// The state as safetensors bytes (weights, momentum, BatchNorm statistics; epoch, random
    /// streams and history in the metadata), with front-end data `extra` in the metadata.
    pub async fn to_bytes(&self, extra: std::collections::BTreeMap<String, serde_json::Value>) -> Vec<u8> {
        let meta = TrainMeta {
            format: TRAIN_FORMAT.into(),
            version: TRAIN_VERSION,
            config: self.config.clone(),
            genotype: self.net.genotype.clone(),
            epoch: self.epoch,
            data_rng: self.data_rng.clone(),
            model_rng: self.model_rng.clone(),
            history: self.history.clone(),
            extra,
        };
        let mut named = Vec::new();
        for (i, w) in self.weights.read().await.into_iter().enumerate() {
            named.push((format!("weights.{i:05}"), w));
        }
        for (i, m) in self.sgd.read_state().await.into_iter().enumerate() {
            named.push((format!("momentum.{i:05}"), m));
        }
        for (i, m) in self.stats.mean.iter().enumerate() {
            named.push((format!("bn.mean.{i:05}"), read(m).await));
        }
        for (i, v) in self.stats.var.iter().enumerate() {
            named.push((format!("bn.var.{i:05}"), read(v).await));
        }
        pack(&named, &serde_json::to_string(&meta).expect("metadata serialises"))
    }

    /// Restores the state of a checkpoint written by [`Trainer::to_bytes`] for the same
    /// configuration and genotype (checked first, with every tensor's size, before anything changes).
    pub fn restore(&mut self, source: &str, bytes: &[u8]) -> Result<TrainMeta, CoreError> {
        self.restore_if(source, bytes, |_| Ok(()))
    }

    /// [`Trainer::restore`], with `accept` asked about the checkpoint's metadata (a front end's
    /// own checks) after the checksum and before anything changes; its error names the file.
    pub fn restore_if(&mut self, source: &str, bytes: &[u8], accept: impl FnOnce(&TrainMeta) -> Result<(), String>) -> Result<TrainMeta, CoreError> {
        let bad = |m: String| CoreError::data(source, m);
        let (meta_json, file) = unpack(source, bytes, TRAIN_FORMAT, TRAIN_VERSION)?;
        let meta: TrainMeta = serde_json::from_str(&meta_json).map_err(|e| bad(format!("corrupt metadata: {e}")))?;
        if meta.config != self.config || meta.genotype != self.net.genotype {
            return Err(bad("written for another configuration or genotype".into()));
        }
        accept(&meta).map_err(bad)?;
        // Every size is checked before anything is loaded: a mismatched tensor is an error naming
        // it, never a panic half-way through restoring.
        let get = |n: String, len: usize| crate::checkpoint::training_tensor(&file, source, &n, len);
        let specs = &self.net.specs;
        let weights: Vec<Vec<f32>> = specs.iter().enumerate().map(|(i, s)| get(format!("weights.{i:05}"), s.numel())).collect::<Result<_, _>>()?;
        let momentum: Vec<Vec<f32>> = specs.iter().enumerate().map(|(i, s)| get(format!("momentum.{i:05}"), s.numel())).collect::<Result<_, _>>()?;
        let channels = &self.net.bn_channels;
        let mean: Vec<Vec<f32>> = channels.iter().enumerate().map(|(i, &c)| get(format!("bn.mean.{i:05}"), c)).collect::<Result<_, _>>()?;
        let var: Vec<Vec<f32>> = channels.iter().enumerate().map(|(i, &c)| get(format!("bn.var.{i:05}"), c)).collect::<Result<_, _>>()?;
        let d = &self.device;
        self.weights = Weights::from_host(&weights, d);
        self.sgd.load_state(&momentum, d);
        self.stats.mean = mean.into_iter().map(|v| tensor1(v, d)).collect();
        self.stats.var = var.into_iter().map(|v| tensor1(v, d)).collect();
        self.epoch = meta.epoch;
        self.data_rng = meta.data_rng.clone();
        self.model_rng = meta.model_rng.clone();
        self.history = meta.history.clone();
        Ok(meta)
    }

}

/// Format name of training checkpoints.
pub const TRAIN_FORMAT: &str = "rdarts-train-state";
/// Format version of training checkpoints; bumped whenever their layout or a field's meaning
/// changes (independently of the search state's version; 2: checksummed; 3: the checksum covers
/// the tensor table too).
pub const TRAIN_VERSION: u32 = 3;

/// Metadata of a training checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainMeta {
    /// [`TRAIN_FORMAT`].
    pub format: String,
    /// Format version.
    pub version: u32,
    /// Configuration.
    pub config: TrainConfig,
    /// The genotype trained.
    pub genotype: Genotype,
    /// Next epoch.
    pub epoch: usize,
    /// Data stream.
    pub data_rng: Rng,
    /// Drop-path stream.
    pub model_rng: Rng,
    /// Finished epochs.
    pub history: Vec<TrainEpoch>,
    /// Front-end data (file lengths).
    #[serde(default)]
    pub extra: std::collections::BTreeMap<String, serde_json::Value>,
}
