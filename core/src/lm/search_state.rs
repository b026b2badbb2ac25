//! The recurrent search's state at an epoch's end on the host ([`LmSnapshot`]): DARTS-ADA's
//! rollback targets in memory, checkpoints on disk (safetensors: weights, α, Adam's moments,
//! BatchNorm statistics; JSON metadata: configuration in effect, epoch, random streams, λ record,
//! DARTS-ES/ADA progress). Every tensor's size and finiteness is checked before anything changes.

use serde::{Deserialize, Serialize};

use super::search::LmKept;
use super::search_config::LmSearchConfig;
use crate::checkpoint::{pack, training_tensor, unpack};
use crate::error::CoreError;
use crate::optim::AdamState;
use crate::rng::Rng;
use crate::robust::EsTracker;
use crate::search::{EpochSummary, RobustState};

/// Format name of recurrent-search checkpoints.
pub const LM_SEARCH_FORMAT: &str = "rdarts-lm-search-state";
/// Their version (2: the checksum covers the tensor table too).
pub const LM_SEARCH_VERSION: u32 = 2;

/// See the module documentation.
#[derive(Clone, Debug, PartialEq)]
pub struct LmSnapshot {
    /// Everything besides the tensors.
    pub meta: LmSnapshotMeta,
    /// Weights in the model's order.
    pub weights: Vec<Vec<f32>>,
    /// α, row-major `[edges, 5]`.
    pub alpha: Vec<f32>,
    /// Adam's moments of α and its step count.
    pub adam: AdamState,
    /// BatchNorm running means and variances.
    pub bn: (Vec<Vec<f32>>, Vec<Vec<f32>>),
}

/// Metadata of an [`LmSnapshot`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LmSnapshotMeta {
    /// [`LM_SEARCH_FORMAT`].
    pub format: String,
    /// Format version.
    pub version: u32,
    /// Configuration in effect.
    pub config: LmSearchConfig,
    /// Vocabulary size.
    pub tokens: usize,
    /// Next epoch.
    pub epoch: usize,
    /// Window lengths.
    pub data_rng: Rng,
    /// Dropout masks.
    pub model_rng: Rng,
    /// λ history.
    pub tracker: EsTracker,
    /// Record of finished epochs.
    pub history: Vec<EpochSummary<LmKept>>,
    /// DARTS-ES/ADA progress.
    pub robust: RobustState<LmKept>,
    /// Sizes of the weight tensors, in order (checked when reading).
    pub weight_sizes: Vec<usize>,
    /// Sizes of the BatchNorm statistics.
    pub bn_sizes: Vec<usize>,
    /// Front-end data stored with the state (the CLI's run-file lengths).
    #[serde(default)]
    pub extra: std::collections::BTreeMap<String, serde_json::Value>,
}

impl LmSnapshot {
    /// The safetensors form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut named: Vec<(String, Vec<f32>)> = Vec::new();
        let mut add = |prefix: &str, list: &[Vec<f32>]| {
            for (i, v) in list.iter().enumerate() {
                named.push((format!("{prefix}.{i:05}"), v.clone()));
            }
        };
        add("weights", &self.weights);
        add("adam.m", &self.adam.m);
        add("adam.v", &self.adam.v);
        add("bn.mean", &self.bn.0);
        add("bn.var", &self.bn.1);
        named.push(("alpha".into(), self.alpha.clone()));
        let mut meta = serde_json::to_value(&self.meta).expect("metadata serialises");
        meta["adam_t"] = self.adam.t.into();
        pack(&named, &meta.to_string())
    }

    /// Reads the safetensors form written by [`LmSnapshot::to_bytes`]; `source` names the file in
    /// errors.
    pub fn from_bytes(source: &str, bytes: &[u8]) -> Result<LmSnapshot, CoreError> {
        let bad = |m: String| CoreError::data(source, m);
        let (meta_json, file) = unpack(source, bytes, LM_SEARCH_FORMAT, LM_SEARCH_VERSION)?;
        let value: serde_json::Value = serde_json::from_str(&meta_json).map_err(|e| bad(format!("corrupt metadata: {e}")))?;
        let t = value["adam_t"].as_u64().ok_or_else(|| bad("metadata has no 'adam_t'".into()))?;
        let mut value = value;
        value.as_object_mut().expect("an object").remove("adam_t");
        let meta: LmSnapshotMeta = serde_json::from_value(value).map_err(|e| bad(format!("corrupt metadata: {e}")))?;
        let group = |prefix: &str, sizes: &[usize]| -> Result<Vec<Vec<f32>>, CoreError> {
            sizes.iter().enumerate().map(|(i, &n)| training_tensor(&file, source, &format!("{prefix}.{i:05}"), n)).collect()
        };
        let edges = super::genotype::rnn_edges(meta.config.steps);
        let alpha_len = edges * super::genotype::RnnOp::ALL.len();
        let snap = LmSnapshot {
            weights: group("weights", &meta.weight_sizes)?,
            adam: AdamState { m: group("adam.m", &[alpha_len])?, v: group("adam.v", &[alpha_len])?, t },
            bn: (group("bn.mean", &meta.bn_sizes)?, group("bn.var", &meta.bn_sizes)?),
            alpha: training_tensor(&file, source, "alpha", alpha_len)?,
            meta,
        };
        Ok(snap)
    }
}
