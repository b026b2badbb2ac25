//! The whole state of a search at the end of an epoch, on the host, and its file form: one
//! safetensors buffer whose tensors are the weights, SGD momentum, α, Adam moments and BatchNorm
//! statistics, and whose metadata holds the rest as JSON (configuration in effect, epoch, random
//! streams, λ history, DARTS-ES/ADA progress) with a format name and version. DARTS-ADA keeps
//! recent snapshots in memory; checkpoints are these bytes on disk.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::network::Supernet;
use crate::optim::AdamState;
use crate::rng::Rng;
use crate::robust::EsTracker;
use crate::search::{EpochSummary, RobustState, SearchConfig};

/// Format name in the metadata.
pub const FORMAT: &str = "rdarts-search-state";
/// Format version; bumped whenever the layout or the meaning of a field changes.
pub const VERSION: u32 = 1;

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

fn le_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Named f32 vectors and a JSON metadata string as one safetensors buffer (the metadata under
/// the key `rdarts`).
pub fn pack(named: &[(String, Vec<f32>)], meta_json: &str) -> Vec<u8> {
    let bytes: Vec<(String, Vec<u8>, usize)> = named.iter().map(|(n, v)| (n.clone(), le_bytes(v), v.len())).collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(n, b, len)| (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![*len], b).expect("sizes agree")))
        .collect();
    let mut info = HashMap::new();
    info.insert("rdarts".to_string(), meta_json.to_string());
    safetensors::serialize(views, Some(info.into_iter().collect())).expect("in-memory serialisation")
}

/// The metadata JSON of a [`pack`]ed buffer after checking its `format` and `version`, and the
/// parsed tensors.
pub fn unpack<'a>(source: &str, bytes: &'a [u8], format: &str) -> Result<(String, crate::interop::TensorFile<'a>), CoreError> {
    let bad = |m: String| CoreError::data(source, m);
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| bad(format!("not an rdarts checkpoint (unreadable header: {e})")))?;
    let info = header.metadata().clone().unwrap_or_default();
    let meta_json = info.get("rdarts").ok_or_else(|| bad("not an rdarts checkpoint (no 'rdarts' metadata)".into()))?.clone();
    let probe: serde_json::Value = serde_json::from_str(&meta_json).map_err(|e| bad(format!("corrupt metadata: {e}")))?;
    let (found, version) = (probe["format"].as_str().unwrap_or(""), probe["version"].as_u64().unwrap_or(0));
    if found != format {
        return Err(bad(format!("format '{found}', expected '{format}'")));
    }
    if version != u64::from(VERSION) {
        return Err(bad(format!("checkpoint format version {version}; this rdarts reads version {VERSION} (written by another rdarts version)")));
    }
    Ok((meta_json, crate::interop::TensorFile::parse(source, bytes)?))
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
        let (meta_json, file) = unpack(source, bytes, FORMAT)?;
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
        Ok(Snapshot {
            weights: list("weights", n, 5)?,
            momentum: list("momentum", n, 5)?,
            alpha: (get("alpha.normal")?, get("alpha.reduce")?),
            adam: AdamState { m: list("adam.m", adam_n, 1)?, v: list("adam.v", adam_n, 1)?, t },
            bn_mean: list("bn.mean", bn, 5)?,
            bn_var: list("bn.var", bn, 5)?,
            meta,
        })
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
        if self.bn_mean.len() != net.bn_channels.len() {
            return Err(bad(format!("{} BatchNorm layers, the network has {}", self.bn_mean.len(), net.bn_channels.len())));
        }
        Ok(())
    }
}
