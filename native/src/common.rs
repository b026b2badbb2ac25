//! What every command shares: the backend flag, configuration files, `run.json`, the
//! configuration fingerprint a checkpoint names, and naming the node-sum implementation.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use rdarts_core::architect::Order;
use rdarts_core::backend::BackendChoice;

use crate::datasets::DatasetName;

/// α gradient order on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OrderArg {
    /// First order.
    First,
    /// Second order (unrolled).
    Second,
}

/// What is searched or trained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Task {
    /// Image classification: DARTS' convolutional cells (S1–S5) on an image data set.
    Image,
    /// Language modelling: DARTS' recurrent cell on word-level text (`--data DIR` holding a
    /// training file and its valid/test companions, e.g. ptb.train.txt; default: the embedded
    /// corpus, Jane Austen's *Persuasion*).
    Lm,
}

/// The language model's sizes, for `--task lm` (each overrides the preset's or the file's).
#[derive(Args, Debug)]
pub struct LmArgs {
    /// What is searched or trained.
    #[arg(long, value_enum, default_value_t = Task::Image)]
    pub task: Task,
    /// `--task lm`: embedding and hidden size.
    #[arg(long)]
    pub hidden: Option<usize>,
    /// `--task lm`: window length of truncated backpropagation through time.
    #[arg(long)]
    pub bptt: Option<usize>,
    /// `--task lm`: use only the first N training tokens (0 = all).
    #[arg(long)]
    pub max_tokens: Option<usize>,
}

/// Refuses the language model's size flags on an image run.
pub fn refuse_lm_flags(a: &LmArgs) -> anyhow::Result<()> {
    let given: Vec<&str> = [("--hidden", a.hidden.is_some()), ("--bptt", a.bptt.is_some()), ("--max-tokens", a.max_tokens.is_some())]
        .into_iter()
        .filter(|(_, g)| *g)
        .map(|(n, _)| n)
        .collect();
    match given.len() {
        0 => Ok(()),
        1 => anyhow::bail!("{} applies to --task lm only", given[0]),
        _ => anyhow::bail!("{} apply to --task lm only", given.join(", ")),
    }
}

/// Backend on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// A GPU through wgpu if there is one, else the CPU.
    Auto,
    /// The CPU backend.
    Cpu,
    /// wgpu on any adapter, software ones included.
    Wgpu,
}

impl From<OrderArg> for Order {
    fn from(o: OrderArg) -> Self {
        match o {
            OrderArg::First => Order::First,
            OrderArg::Second => Order::Second,
        }
    }
}

impl From<BackendArg> for BackendChoice {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Auto => BackendChoice::Auto,
            BackendArg::Cpu => BackendChoice::Cpu,
            BackendArg::Wgpu => BackendChoice::Wgpu,
        }
    }
}

/// Reads any configuration type from a TOML or JSON file.
pub fn read_config_file_as<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let is_json = path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{');
    if is_json {
        serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON configuration", path.display()))
    } else {
        toml::from_str(&text).with_context(|| format!("{}: invalid TOML configuration", path.display()))
    }
}

/// What `run.json` records: how to get the data and device back when the run is resumed.
#[derive(serde::Serialize, serde::Deserialize, Debug)]
pub struct RunInfo {
    /// What the run does: `search` or `train`.
    #[serde(default = "search_kind")]
    pub kind: String,
    /// rdarts version that started the run.
    pub rdarts: String,
    /// Data set name (as on the command line).
    pub dataset: String,
    /// Its folder, if it has one.
    pub data: Option<PathBuf>,
    /// Checkpoints kept.
    pub keep_checkpoints: usize,
}

/// `run.json`'s kind for a search.
pub fn search_kind() -> String {
    "search".into()
}

impl RunInfo {
    /// Reads `dir/run.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let p = dir.join("run.json");
        let text = std::fs::read_to_string(&p).with_context(|| format!("{}: cannot read (is this a run directory?)", p.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: invalid", p.display()))
    }
}

/// FNV-1a fingerprint of a configuration's JSON form (a checkpoint names the configuration it
/// was written for).
pub fn fingerprint<T: serde::Serialize>(config: &T) -> String {
    let json = serde_json::to_string(config).expect("configurations serialise");
    let h = json.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    format!("{h:016x}")
}

/// A data set named in run.json.
pub fn parse_dataset(name: &str) -> Result<DatasetName> {
    <DatasetName as ValueEnum>::from_str(name, true).map_err(|e| anyhow::anyhow!("run.json: unknown dataset '{name}': {e}"))
}


/// The schedule and size flags `rdarts search` and `rdarts train` share; each overrides the
/// preset's or the configuration file's value.
#[derive(Args, Debug)]
pub struct ScheduleArgs {
    /// Epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Batch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Random seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Initial learning rate of the weights (cosine-annealed).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Initial channels C.
    #[arg(long)]
    pub init_channels: Option<usize>,
    /// Number of cells.
    #[arg(long)]
    pub layers: Option<usize>,
    /// Use only the first N training images (0 = all).
    #[arg(long)]
    pub max_images: Option<usize>,
}

/// Flags `rdarts search` and `rdarts train` share: the data, the backend and the run's output.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Data set.
    #[arg(long, value_enum, default_value_t = DatasetName::Digits)]
    pub dataset: DatasetName,
    /// Folder holding the data set's files.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// Start over if --out holds an rdarts run (finished or not): removes the files its manifest
    /// lists, nothing else. A directory that is not an rdarts run is never written into.
    #[arg(long)]
    pub overwrite: bool,
    /// Start over if --out holds a finished run; refuse an unfinished one, saying how to resume
    /// it (what `./run.sh` passes; --overwrite, given too, wins).
    #[arg(long)]
    pub replace_finished: bool,
    /// No progress bars (one line per epoch only).
    #[arg(long)]
    pub quiet: bool,
}

impl RunArgs {
    /// What to do when --out already holds a run.
    pub fn existing(&self) -> crate::rundir::Existing {
        use crate::rundir::Existing;
        if self.overwrite {
            Existing::Replace
        } else if self.replace_finished {
            Existing::ReplaceFinished
        } else {
            Existing::Refuse
        }
    }

    /// What `run.json` records for a run of `kind` with these flags.
    pub fn run_info(&self, kind: &str, keep_checkpoints: usize) -> RunInfo {
        let dataset = self.dataset.to_possible_value().expect("named").get_name().to_string();
        let data = self.data.as_ref().map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()));
        RunInfo { kind: kind.into(), rdarts: env!("CARGO_PKG_VERSION").into(), dataset, data, keep_checkpoints }
    }
}

/// The progress bar of one epoch (hidden with `quiet`), labelled `epoch {epoch}/{epochs}`.
pub fn epoch_bar(quiet: bool, epoch: usize, epochs: usize) -> ProgressBar {
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})").expect("valid template").progress_chars("=> "));
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}

/// What every search writes at the end of an epoch besides its own files: λ to lambda.jsonl, and
/// DARTS-ES's answer (`es_answer`, when the rule first fired this epoch) to genotype_es.txt/json.
pub fn write_epoch_end<G: std::fmt::Display + serde::Serialize>(
    run: &mut crate::rundir::RunDir,
    (epoch, iteration): (usize, usize),
    curvature: Option<&rdarts_core::search::Curvature>,
    es_answer: Option<&G>,
) -> Result<()> {
    if let Some(c) = curvature {
        run.append("lambda.jsonl", &serde_json::json!({"epoch": epoch, "iteration": iteration, "lambda_max": c.lambda_max, "lambda_min": c.lambda_min}).to_string())?;
    }
    if let Some(g) = es_answer {
        run.write("genotype_es.txt", format!("{g}\n").as_bytes())?;
        run.write("genotype_es.json", serde_json::to_string_pretty(g)?.as_bytes())?;
    }
    Ok(())
}

/// What a search checkpoint carries for the CLI: the configuration's fingerprint (`config_id`)
/// and the lengths of the run's appended files, to which a resume truncates them.
pub fn checkpoint_extra(run: &crate::rundir::RunDir, config_id: &str) -> Result<std::collections::BTreeMap<String, serde_json::Value>> {
    let mut extra = std::collections::BTreeMap::new();
    extra.insert("config".into(), serde_json::json!(config_id));
    extra.insert("files".into(), serde_json::Value::Object(run.lengths()?.into_iter().collect()));
    Ok(extra)
}
