//! What a running search reports: the closed [`SearchEvent`] enum and the reports it carries.
//! Front ends match on every variant; the core never prints.

use serde::{Deserialize, Serialize};

use crate::genotype::Genotype;
use crate::robust::EsStop;

/// One architecture RS-ws sampled and evaluated with the shared weights.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SampledArch {
    /// Index among the candidates.
    pub index: usize,
    /// The architecture.
    pub genotype: Genotype,
    /// Validation accuracy with the shared weights on the candidate's `rs_eval_batches` batches.
    pub valid_acc: f64,
    /// Validation loss on those batches.
    pub valid_loss: f64,
    /// For the best `rs_rerank` candidates: (accuracy, loss) on the whole validation half.
    #[serde(default)]
    pub rerank: Option<(f64, f64)>,
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

/// The extremes of the α Hessian's spectrum at the end of an epoch (docs/ALGORITHM.md §6).
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

/// A firing of the DARTS-ES rule and what was done; `K` is what the task keeps of an epoch
/// ([`Kept`] for images), written inline.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RobustReport<K = Kept> {
    /// What was done.
    pub action: RobustAction,
    /// The rule's decision (epochs, local averages).
    pub stop: EsStop,
    /// What was kept of the stop epoch: its genotype is DARTS-ES's answer for the first firing.
    #[serde(flatten)]
    pub at: K,
    /// The next epoch that runs (after a rollback: the restored epoch + 1).
    pub next_epoch: usize,
    /// Weight decay from now on.
    pub weight_decay: f64,
    /// Maximum drop-path probability from now on.
    pub drop_path_prob: f64,
    /// DARTS-ADA iteration from now on.
    pub iteration: usize,
}

/// What the image search keeps of each finished epoch (for DARTS-ES's answer and reports).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Kept {
    /// Genotype at the end of the epoch.
    pub genotype: Genotype,
    /// Validation accuracy.
    pub valid_acc: f64,
}

/// The record of a finished epoch: what the task keeps of it, written inline, and λmax.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochSummary<K = Kept> {
    /// What the task keeps.
    #[serde(flatten)]
    pub kept: K,
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
