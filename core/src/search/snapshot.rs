//! The whole state of a search at the end of an epoch, on the host, and its file form
//! ([`crate::checkpoint`]): tensors for the weights, SGD momentum, α, Adam moments and BatchNorm
//! statistics; JSON metadata for the rest (configuration in effect, epoch, random streams, λ
//! history, DARTS-ES/ADA progress). DARTS-ADA keeps recent snapshots in memory; checkpoints are
//! these bytes on disk. Taking, restoring and resuming from a snapshot are [`Search`] methods here.

use serde::{Deserialize, Serialize};

use super::{EpochSummary, RobustState, Search, SearchConfig};
use crate::checkpoint::{pack, unpack};
use crate::error::CoreError;
use crate::network::{Alpha, Supernet};
use crate::optim::AdamState;
use crate::params::{Weights, read_all, tensor1};
use crate::rng::Rng;
use crate::robust::EsTracker;

/// Format name in the metadata.
pub const FORMAT: &str = "rdarts-search-state";
/// Format version; bumped whenever the layout or the meaning of a field changes (2: checksummed;
/// 3: the checksum covers the tensor table too).
pub const VERSION: u32 = 3;

/// Everything besides the tensors.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SnapshotMeta {
    /// [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// The configuration in effect (DARTS-ADA may have raised its regularisation).
    pub config: SearchConfig,
    /// The next epoch to run.
    pub epoch: usize,
    /// Data order and augmentation stream.
    pub data_rng: Rng,
    /// Noise and drop-path stream.
    pub model_rng: Rng,
    /// λmax history.
    pub tracker: EsTracker,
    /// One entry per finished epoch.
    pub history: Vec<EpochSummary>,
    /// DARTS-ES/ADA progress.
    pub robust: RobustState,
    /// Names of the weight tensors, in order.
    pub param_names: Vec<String>,
    /// Front-end data stored with the state (the CLI keeps its run files' lengths and the
    /// configuration's fingerprint here).
    #[serde(default)]
    pub extra: std::collections::BTreeMap<String, serde_json::Value>,
}

/// A search's state (see the module documentation).
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Everything besides the tensors.
    pub meta: SnapshotMeta,
    /// Weights, in [`SnapshotMeta::param_names`] order.
    pub weights: Vec<Vec<f32>>,
    /// SGD momentum buffers, same order.
    pub momentum: Vec<Vec<f32>>,
    /// α (normal, reduce), row-major `[edges, k]`.
    pub alpha: (Vec<f32>, Vec<f32>),
    /// Adam state of α.
    pub adam: AdamState,
    /// BatchNorm running means.
    pub bn_mean: Vec<Vec<f32>>,
    /// BatchNorm running variances.
    pub bn_var: Vec<Vec<f32>>,
}

impl Snapshot {
    /// The safetensors form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut named: Vec<(String, Vec<f32>)> = Vec::new();
        let mut add = |prefix: &str, list: &[Vec<f32>], width: usize| {
            for (i, v) in list.iter().enumerate() {
                named.push((format!("{prefix}.{i:0width$}"), v.clone()));
            }
        };
        add("weights", &self.weights, 5);
        add("momentum", &self.momentum, 5);
        add("adam.m", &self.adam.m, 1);
        add("adam.v", &self.adam.v, 1);
        add("bn.mean", &self.bn_mean, 5);
        add("bn.var", &self.bn_var, 5);
        named.push(("alpha.normal".into(), self.alpha.0.clone()));
        named.push(("alpha.reduce".into(), self.alpha.1.clone()));
        let mut meta = serde_json::to_value(&self.meta).expect("metadata serialises");
        meta["adam_t"] = serde_json::json!(self.adam.t);
        pack(&named, &meta.to_string())
    }

    /// Parses [`Snapshot::to_bytes`] output; `source` names the file in errors. Refuses another
    /// format or version.
    pub fn from_bytes(source: &str, bytes: &[u8]) -> Result<Snapshot, CoreError> {
        let bad = |m: String| CoreError::data(source, m);
        let (meta_json, file) = unpack(source, bytes, FORMAT, VERSION)?;
        let mut value: serde_json::Value = serde_json::from_str(&meta_json).map_err(|e| bad(format!("corrupt metadata: {e}")))?;
        let t = value.get("adam_t").and_then(|v| v.as_u64()).ok_or_else(|| bad("corrupt metadata: adam_t".into()))?;
        value.as_object_mut().map(|o| o.remove("adam_t"));
        let meta: SnapshotMeta = serde_json::from_value(value).map_err(|e| bad(format!("corrupt metadata: {e}")))?;
        let get = |name: &str| file.f32(name, None).map(|(v, _)| v);
        let list = |prefix: &str, n: usize, width: usize| -> Result<Vec<Vec<f32>>, CoreError> {
            (0..n).map(|i| get(&format!("{prefix}.{i:0width$}"))).collect()
        };
        let n = meta.param_names.len();
        let bn = file.names().iter().filter(|s| s.starts_with("bn.mean.")).count();
        let adam_n = file.names().iter().filter(|s| s.starts_with("adam.m.")).count();
        let snap = Snapshot {
            weights: list("weights", n, 5)?,
            momentum: list("momentum", n, 5)?,
            alpha: (get("alpha.normal")?, get("alpha.reduce")?),
            adam: AdamState { m: list("adam.m", adam_n, 1)?, v: list("adam.v", adam_n, 1)?, t },
            bn_mean: list("bn.mean", bn, 5)?,
            bn_var: list("bn.var", bn, 5)?,
            meta,
        };
        if let Some(part) = snap.non_finite_part() {
            return Err(bad(format!("a NaN or an infinity in {part} (a search never writes such a state: the file is corrupt)")));
        }
        Ok(snap)
    }

    /// The first part of the state holding a NaN or an infinity, if any.
    pub fn non_finite_part(&self) -> Option<&'static str> {
        fn bad<'a>(lists: impl IntoIterator<Item = &'a Vec<f32>>) -> bool {
            lists.into_iter().flatten().any(|x| !x.is_finite())
        }
        [
            ("the weights", bad(&self.weights)),
            ("the momentum buffers", bad(&self.momentum)),
            ("α", bad([&self.alpha.0, &self.alpha.1])),
            ("Adam's moments of α", bad(self.adam.m.iter().chain(&self.adam.v))),
            ("the BatchNorm running statistics", bad(self.bn_mean.iter().chain(&self.bn_var))),
        ]
        .into_iter()
        .find_map(|(name, b)| b.then_some(name))
    }

    /// Checks that the snapshot belongs to `net`: same parameters with the same sizes, α and
    /// BatchNorm layers.
    pub fn check_fits(&self, net: &Supernet) -> Result<(), CoreError> {
        let bad = |m: String| CoreError::invalid("checkpoint", m);
        if self.meta.param_names.len() != net.specs.len() || self.weights.len() != net.specs.len() {
            return Err(bad(format!("{} weight tensors, the network has {}", self.weights.len(), net.specs.len())));
        }
        for ((name, w), spec) in self.meta.param_names.iter().zip(&self.weights).zip(&net.specs) {
            if *name != spec.name || w.len() != spec.numel() {
                return Err(bad(format!("tensor '{name}' ({} values) where the network has '{}' ({} values)", w.len(), spec.name, spec.numel())));
            }
        }
        let alpha = net.space.edges() * net.space.ops_per_edge();
        if self.alpha.0.len() != alpha || self.alpha.1.len() != alpha {
            return Err(bad(format!("α has {} entries per cell type, the network {alpha}", self.alpha.0.len())));
        }
        if self.bn_mean.len() != net.bn_channels.len() || self.bn_var.len() != net.bn_channels.len() {
            return Err(bad(format!("{} BatchNorm layers, the network has {}", self.bn_mean.len(), net.bn_channels.len())));
        }
        for (i, &c) in net.bn_channels.iter().enumerate() {
            if self.bn_mean[i].len() != c || self.bn_var[i].len() != c {
                return Err(bad(format!("BatchNorm layer {i} has {}/{} statistics, the network {c} channels", self.bn_mean[i].len(), self.bn_var[i].len())));
            }
        }
        if self.momentum.len() != self.weights.len() {
            return Err(bad(format!("{} momentum buffers for {} weight tensors", self.momentum.len(), self.weights.len())));
        }
        for ((m, w), name) in self.momentum.iter().zip(&self.weights).zip(&self.meta.param_names) {
            if m.len() != w.len() {
                return Err(bad(format!("the momentum of '{name}' has {} values, the tensor {}", m.len(), w.len())));
            }
        }
        let adam_fits = |moments: &[Vec<f32>]| moments.len() == 2 && moments.iter().all(|m| m.len() == alpha);
        if !adam_fits(&self.adam.m) || !adam_fits(&self.adam.v) {
            return Err(bad(format!("Adam's moments of α are not two tensors of {alpha} values")));
        }
        Ok(())
    }

    /// Checks that the snapshot continues the search configured by `config` (the run's
    /// config.json, as [`Search::new`] completed it): the configuration it carries is the same but
    /// for what DARTS-ADA raises (weight decay, drop-path, Cutout), and its tensors fit that
    /// configuration's network.
    pub fn check_continues(&self, config: &SearchConfig) -> Result<(), CoreError> {
        let mut carried = self.meta.config.clone();
        if config.robust.mode == super::RobustMode::Ada {
            carried.weight_decay = config.weight_decay;
            carried.drop_path_prob = config.drop_path_prob;
            carried.augment = config.augment.clone();
            carried.schedule_cutout = config.schedule_cutout;
        }
        if carried != *config {
            let (a, b) = (serde_json::to_value(&carried).expect("serialises"), serde_json::to_value(config).expect("serialises"));
            let field = first_difference(&a, &b, String::new()).unwrap_or_default();
            return Err(CoreError::invalid(
                "checkpoint",
                format!("its configuration differs from the run's in '{field}' ({} here, {} in the run's)", pick(&a, &field), pick(&b, &field)),
            ));
        }
        self.check_fits(&Supernet::new(&config.net)?)
    }
}

/// The dotted path of the first field where two JSON documents differ.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, path: String) -> Option<String> {
    match (a, b) {
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
            x.keys().chain(y.keys()).find_map(|k| {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => first_difference(u, v, p),
                    _ => Some(p),
                }
            })
        }
        _ => (a != b).then_some(path),
    }
}

/// The value at a dotted path, as JSON text.
fn pick(v: &serde_json::Value, path: &str) -> String {
    path.split('.').filter(|k| !k.is_empty()).try_fold(v, |v, k| v.get(k)).map_or("nothing".into(), |v| v.to_string())
}

impl Search {
    /// The state at the end of the last finished epoch, on the host.
    pub async fn snapshot(&self) -> Snapshot {
        Snapshot {
            meta: SnapshotMeta {
                format: FORMAT.to_string(),
                version: VERSION,
                config: self.config.clone(),
                epoch: self.epoch,
                data_rng: self.data_rng.clone(),
                model_rng: self.model_rng.clone(),
                tracker: self.ctl.tracker.clone(),
                history: self.ctl.history.clone(),
                robust: self.ctl.robust.clone(),
                param_names: self.net.specs.iter().map(|p| p.name.clone()).collect(),
                extra: Default::default(),
            },
            weights: self.weights.read().await,
            momentum: self.sgd.read_state().await,
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
    pub fn resume_from(&mut self, snap: &Snapshot, older: Vec<Snapshot>) -> Result<(), CoreError> {
        let cfg = &snap.meta.config;
        snap.check_continues(&self.config)?;
        cfg.validate()?;
        self.restore(snap)?;
        self.config = cfg.clone();
        self.ctl = super::Controller::new(&cfg.hessian, &cfg.robust, cfg.epochs);
        self.ctl.restore(snap.meta.tracker.clone(), snap.meta.history.clone(), Some(snap.meta.robust.clone()));
        if self.ctl.keeps_states() {
            for s in older.into_iter().chain(std::iter::once(snap.clone())) {
                s.check_fits(&self.net)?;
                self.ctl.keep(s.meta.epoch, s);
            }
        }
        Ok(())
    }

    /// Restores the training state of `snap` (made by [`Search::snapshot`] for the same network):
    /// weights, α, optimisers, BatchNorm statistics, random streams, epoch, λ history. The
    /// configuration and the DARTS-ES/ADA progress are left as they are (a rollback keeps them).
    pub(super) fn restore(&mut self, snap: &Snapshot) -> Result<(), CoreError> {
        snap.check_fits(&self.net)?;
        let d = &self.device;
        let (edges, k) = (self.net.space.edges(), self.net.space.ops_per_edge());
        self.weights = Weights::from_host(&snap.weights, d);
        self.sgd.load_state(&snap.momentum, d);
        self.alpha = Alpha::from_host(&snap.alpha.0, &snap.alpha.1, edges, k, d);
        self.adam.load_state(&snap.adam, d);
        self.stats.mean = snap.bn_mean.iter().map(|v| tensor1(v.clone(), d)).collect();
        self.stats.var = snap.bn_var.iter().map(|v| tensor1(v.clone(), d)).collect();
        self.epoch = snap.meta.epoch;
        self.data_rng = snap.meta.data_rng.clone();
        self.model_rng = snap.meta.model_rng.clone();
        self.ctl.restore(snap.meta.tracker.clone(), snap.meta.history.clone(), None);
        Ok(())
    }
}
