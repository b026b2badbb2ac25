//! Command-line interface: argument parsing, turning arguments into a [`SearchConfig`], and the
//! `search` command's progress output and artifacts.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use rdarts_core::architect::Order;
use rdarts_core::backend::{self, BackendChoice};
use rdarts_core::mixed::NodeSumImpl;
use rdarts_core::search::{AdaTarget, RobustAction, RobustMode, RobustReport, Search, SearchConfig, SearchEvent};
use rdarts_core::space::SpaceId;

use crate::datasets::{self, DatasetName};
use crate::rundir::RunDir;
use rdarts_core::state::Snapshot;

/// rdarts: differentiable architecture search (DARTS, RobustDARTS) on any GPU or the CPU.
#[derive(Parser, Debug)]
#[command(name = "rdarts", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run an architecture search (default: a small demo on the embedded digits).
    Search(SearchArgs),
    /// Continue an interrupted search from its newest intact checkpoint.
    Resume(ResumeArgs),
    /// Train a genotype from scratch and report its test error (SPEC §11).
    Train(crate::train_cmd::TrainArgs),
    /// Print, convert (JSON ↔ DARTS text), draw (DOT, SVG) or validate a genotype.
    Genotype(crate::genotype_cmd::GenotypeArgs),
    /// Time a search step, λmax and memory on one backend (median and spread; JSON with --json).
    Bench(crate::bench::BenchArgs),
    /// Replay the golden traces and compare them with the committed file (or rewrite it).
    Golden(crate::golden_cmd::GoldenArgs),
    /// Write RUN_DIR/report.html (and the plots in RUN_DIR/plots) for a run, finished or not.
    Report(ReportArgs),
    /// λmax, λmin (and optionally the whole spectrum) of the α Hessian of the validation loss, for
    /// a PyTorch DARTS state dict and batch saved as safetensors.
    Hessian(crate::curvature::HessianArgs),
    /// Replay the DARTS-ES rule over a λmax history (a run's metrics.jsonl or a plain list).
    EarlyStop(crate::curvature::EarlyStopArgs),
}

/// Starting points for a search's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// Small and fast: finishes in minutes on a laptop CPU.
    Demo,
    /// The paper's search setting (C = 16, 8 cells, batch 64, 50 epochs, second order).
    Paper,
}

/// α gradient order on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OrderArg {
    /// First order.
    First,
    /// Second order (unrolled).
    Second,
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

/// Search method on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    /// Differentiable architecture search.
    Darts,
    /// Random search with weight sharing.
    RsWs,
}

/// DARTS-ES/ADA on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RobustArg {
    /// Track λmax only (where DARTS-ES would stop is still reported).
    Off,
    /// DARTS-ES.
    Es,
    /// DARTS-ADA.
    Ada,
}

/// DARTS-ADA presets (SPEC §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AdaPreset {
    /// The reference code's defaults: weight decay ×3 up to 243e-4.
    Reference,
    /// The authors' launch scripts: ×10 up to 0.03.
    LaunchScripts,
}

/// What DARTS-ADA raises, on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AdaTargetArg {
    /// The weights' L2 factor.
    WeightDecay,
    /// The maximum drop-path probability (+0.2 up to 0.6, with Cutout).
    DropPath,
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

/// Arguments of `rdarts search`. Flags override the config file, which overrides the preset.
#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Starting settings.
    #[arg(long, value_enum, default_value_t = Preset::Demo)]
    pub preset: Preset,
    /// A TOML or JSON file holding a search configuration (missing fields: the paper's values).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Search space: s1, s2, s3, s4 or s5 (the original DARTS space).
    #[arg(long)]
    pub space: Option<String>,
    /// First- or second-order α gradient.
    #[arg(long, value_enum)]
    pub order: Option<OrderArg>,
    /// Epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Batch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Random seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Initial learning rate of the weights.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning rate of α.
    #[arg(long)]
    pub arch_lr: Option<f64>,
    /// Weight decay of the weights (R-DARTS(L2) raises it).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Initial channels C.
    #[arg(long)]
    pub init_channels: Option<usize>,
    /// Number of cells.
    #[arg(long)]
    pub layers: Option<usize>,
    /// Intermediate nodes per cell.
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Use only the first N images (0 = all).
    #[arg(long)]
    pub max_images: Option<usize>,
    /// Maximum ScheduledDropPath probability.
    #[arg(long)]
    pub drop_path_prob: Option<f64>,
    /// Cutout side length (0 = off).
    #[arg(long)]
    pub cutout: Option<usize>,
    /// Probability of Cutout per image (its maximum when scheduled).
    #[arg(long)]
    pub cutout_prob: Option<f64>,
    /// R-DARTS(L2): weight decay from the paper's grid, level 0–4 = 3e-4, 9e-4, 27e-4, 81e-4, 243e-4.
    #[arg(long, value_name = "LEVEL")]
    pub rdarts_l2: Option<usize>,
    /// R-DARTS(DP): ScheduledDropPath from the paper's grid, level 0–3 = 0, 0.2, 0.4, 0.6, with
    /// Cutout 16 on the same schedule when above 0.
    #[arg(long, value_name = "LEVEL")]
    pub rdarts_dp: Option<usize>,
    /// DARTS, or random search with weight sharing (the paper's baseline).
    #[arg(long, value_enum)]
    pub method: Option<MethodArg>,
    /// RS-ws: sampled architectures ranked at the end.
    #[arg(long)]
    pub rs_candidates: Option<usize>,
    /// RS-ws: validation batches per candidate.
    #[arg(long)]
    pub rs_eval_batches: Option<usize>,
    /// Compute λmax every N epochs and at the last (0 = never; default 2).
    #[arg(long, value_name = "N")]
    pub hessian_every: Option<usize>,
    /// Lanczos products per λ computation (2 gradient evaluations each).
    #[arg(long)]
    pub lanczos_steps: Option<usize>,
    /// Average λ over this many validation batches (1 = the reference's single batch).
    #[arg(long)]
    pub hessian_batches: Option<usize>,
    /// DARTS-ES (stop when λmax climbs), DARTS-ADA (roll back and raise the regularisation), or off.
    #[arg(long, value_enum)]
    pub robust: Option<RobustArg>,
    /// DARTS-ADA settings: the reference code's (×3 up to 243e-4) or its launch scripts' (×10 up to 0.03).
    #[arg(long, value_enum)]
    pub ada_preset: Option<AdaPreset>,
    /// What DARTS-ADA raises.
    #[arg(long, value_enum)]
    pub ada_target: Option<AdaTargetArg>,
    /// DARTS-ES window (eigenvalue samples per local average).
    #[arg(long)]
    pub es_window: Option<usize>,
    /// DARTS-ES delta (local averages back).
    #[arg(long)]
    pub es_delta: Option<usize>,
    /// DARTS-ES factor (stop when current / earlier average exceeds it).
    #[arg(long)]
    pub es_factor: Option<f64>,
    /// No DARTS-ES stop at a rolled-back epoch before this one.
    #[arg(long)]
    pub es_start_epoch: Option<usize>,
    /// DARTS-ADA weight-decay multiplier.
    #[arg(long)]
    pub ada_mul_factor: Option<f64>,
    /// DARTS-ADA's largest weight decay.
    #[arg(long)]
    pub ada_max_weight_decay: Option<f64>,
    /// Data set.
    #[arg(long, value_enum, default_value_t = DatasetName::Digits)]
    pub dataset: DatasetName,
    /// Folder holding the data set's files.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// Node-sum implementation: `auto` (our WGSL kernels on wgpu, the reference elsewhere) or
    /// `reference` (plain tensor ops everywhere; for comparison and as an escape hatch).
    #[arg(long, default_value = "auto")]
    pub node_sum: NodeSumImpl,
    /// Run directory for config, metrics and genotypes.
    #[arg(long, default_value = "runs/search")]
    pub out: PathBuf,
    /// Replace a run already in --out.
    #[arg(long)]
    pub overwrite: bool,
    /// Checkpoints to keep (one is written after every epoch; DARTS-ADA keeps as many as it may
    /// roll back over).
    #[arg(long, default_value_t = 3)]
    pub keep_checkpoints: usize,
    /// No progress bars (one line per epoch only).
    #[arg(long)]
    pub quiet: bool,
}

/// Which node-sum implementation runs, in words.
pub fn node_sum_description(choice: NodeSumImpl, device: &burn::tensor::Device) -> &'static str {
    match (choice, rdarts_core::mixed::uses_kernel(choice, device)) {
        (_, true) => "WGSL kernels",
        (NodeSumImpl::Reference, false) => "plain-tensor reference (forced)",
        (NodeSumImpl::Auto, false) => "plain-tensor reference (this backend has no kernels)",
    }
}

/// Reads a configuration file (TOML or JSON by extension, else by content).
pub fn read_config_file(path: &Path) -> Result<SearchConfig> {
    read_config_file_as(path)
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

/// Turns arguments into a validated configuration: preset, then file, then flags.
pub fn search_config(a: &SearchArgs) -> Result<SearchConfig> {
    let mut c = match &a.config {
        Some(p) => read_config_file(p)?,
        None => match a.preset {
            Preset::Demo => SearchConfig::demo(),
            Preset::Paper => SearchConfig::paper(),
        },
    };
    if let Some(s) = &a.space {
        c.net.space = s.parse::<SpaceId>()?;
    }
    if let Some(o) = a.order {
        c.order = match o {
            OrderArg::First => Order::First,
            OrderArg::Second => Order::Second,
        };
    }
    macro_rules! set {
        ($($flag:ident => $($field:ident).+),* $(,)?) => { $( if let Some(v) = a.$flag { c.$($field).+ = v; } )* };
    }
    set!(epochs => epochs, batch_size => batch_size, seed => seed, lr => lr, arch_lr => arch_lr,
         weight_decay => weight_decay, init_channels => net.channels, layers => net.layers,
         nodes => net.nodes, max_images => max_images, drop_path_prob => drop_path_prob);
    if let Some(level) = a.rdarts_l2 {
        c = c.with_rdarts_l2(level)?;
    }
    if let Some(level) = a.rdarts_dp {
        c = c.with_rdarts_dp(level)?;
    }
    set!(cutout => augment.cutout, cutout_prob => augment.cutout_prob);
    if let Some(m) = a.method {
        c.method = match m {
            MethodArg::Darts => rdarts_core::search::Method::Darts,
            MethodArg::RsWs => rdarts_core::search::Method::RsWs,
        };
    }
    set!(rs_candidates => rs_candidates, rs_eval_batches => rs_eval_batches);
    if let Some(p) = a.ada_preset {
        let mode = c.robust.mode;
        c.robust = match p {
            AdaPreset::Reference => rdarts_core::search::RobustConfig::default(),
            AdaPreset::LaunchScripts => rdarts_core::search::RobustConfig::launch_scripts(),
        };
        c.robust.mode = mode;
    }
    if let Some(m) = a.robust {
        c.robust.mode = match m {
            RobustArg::Off => RobustMode::Off,
            RobustArg::Es => RobustMode::Es,
            RobustArg::Ada => RobustMode::Ada,
        };
    }
    if let Some(t) = a.ada_target {
        c.robust.target = match t {
            AdaTargetArg::WeightDecay => AdaTarget::WeightDecay,
            AdaTargetArg::DropPath => AdaTarget::DropPath,
        };
    }
    set!(hessian_every => hessian.every, lanczos_steps => hessian.lanczos_steps, hessian_batches => hessian.batches,
         es_window => robust.window, es_delta => robust.delta, es_factor => robust.factor,
         es_start_epoch => robust.start_epoch, ada_mul_factor => robust.mul_factor,
         ada_max_weight_decay => robust.max_weight_decay);
    c.validate()?;
    Ok(c)
}

/// One line saying what a firing of the DARTS-ES rule led to.
pub fn describe_robust(r: &RobustReport) -> String {
    let rule = format!(
        "λmax local average {:.4} > {:.4} × factor at epoch {}",
        r.stop.current, r.stop.previous, r.stop.at_epoch + 1
    );
    let at = format!("epoch {} (valid acc {:.1}%)", r.stop.stop_epoch + 1, 100.0 * r.valid_acc);
    match r.action {
        RobustAction::Stop => format!("DARTS-ES: {rule}; stopped, result is the genotype of {at}"),
        RobustAction::Rollback => format!(
            "DARTS-ADA: {rule}; rolled back to {at}, weight decay now {:.2e}, drop-path {:.2}, continuing at epoch {}",
            r.weight_decay, r.drop_path_prob, r.next_epoch + 1
        ),
        RobustAction::AtMaximum => format!("DARTS-ADA: {rule}; regularisation already at its maximum, continuing"),
        RobustAction::WouldStop => format!("DARTS-ES would stop here: {rule}; its answer would be the genotype of {at}"),
    }
}

/// Entry point: parses arguments and runs the command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Search(a) => search(a),
        Command::Resume(a) => resume(a),
        Command::Genotype(a) => crate::genotype_cmd::genotype(a),
        Command::Train(a) => crate::train_cmd::train(a),
        Command::Golden(a) => crate::golden_cmd::golden(a),
        Command::Bench(a) => crate::bench::bench(a),
        Command::Report(a) => {
            let page = crate::report::write_report(&a.run)?;
            println!("report: {}", page.display());
            Ok(())
        }
        Command::Hessian(a) => crate::curvature::hessian(a),
        Command::EarlyStop(a) => crate::curvature::early_stop(a),
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

fn search_kind() -> String {
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

fn describe(search: &Search, load_seconds: f64) {
    let cfg = &search.config;
    println!(
        "search: space {}, {} order, {} epochs, batch {}, C = {}, {} cells, {} nodes, {} weights, {} α, data: {} ({} images, loaded in {:.2}s)",
        cfg.net.space,
        if cfg.order == Order::First { "first" } else { "second" },
        cfg.epochs,
        cfg.batch_size,
        cfg.net.channels,
        cfg.net.layers,
        cfg.net.nodes,
        search.net.num_params(),
        search.net.space.alpha_len(),
        search.data().name,
        search.data().len(),
        load_seconds,
    );
}

fn search(a: SearchArgs) -> Result<()> {
    let config = search_config(&a)?;
    let loading = std::time::Instant::now();
    let data = datasets::load(a.dataset, a.data.as_deref())?;
    let load_seconds = loading.elapsed().as_secs_f64();
    let backend = backend::select(a.backend.into())?;
    println!("backend: {backend}");
    let mut run = RunDir::create(&a.out, a.overwrite)?;
    let mut search = Search::new(config, data, &backend.device)?;
    search.net.node_sum = a.node_sum;
    println!("node sum: {}", node_sum_description(a.node_sum, &backend.device));
    let dataset = a.dataset.to_possible_value().expect("named").get_name().to_string();
    let data_dir = a.data.as_ref().map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()));
    let info = RunInfo { kind: search_kind(), rdarts: env!("CARGO_PKG_VERSION").into(), dataset, data: data_dir, keep_checkpoints: a.keep_checkpoints };
    run.write("config.json", serde_json::to_string_pretty(&search.config)?.as_bytes())?;
    run.write("run.json", serde_json::to_string_pretty(&info)?.as_bytes())?;
    describe(&search, load_seconds);
    drive(search, &mut run, a.keep_checkpoints, a.quiet, 0)
}

/// Arguments of `rdarts report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A run directory.
    pub run: PathBuf,
}

/// Arguments of `rdarts resume`.
#[derive(Args, Debug)]
pub struct ResumeArgs {
    /// The run directory of an interrupted `rdarts search`.
    pub run: PathBuf,
    /// Where to compute (the state is portable across backends).
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// Node-sum implementation: `auto` (our WGSL kernels on wgpu, the reference elsewhere) or
    /// `reference` (plain tensor ops everywhere); either resumes any run.
    #[arg(long, default_value = "auto")]
    pub node_sum: NodeSumImpl,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// A run directory's newest intact checkpoint (falling back over corrupt ones, with a warning),
/// its index among `checkpoints`, and the run's configuration and data set.
struct Loaded {
    info: RunInfo,
    config: SearchConfig,
    checkpoints: Vec<(u64, PathBuf)>,
    index: usize,
    snap: Snapshot,
}

fn load_checkpoint(dir: &Path) -> Result<Loaded> {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).with_context(|| format!("{}: cannot read (is this a run directory?)", dir.join(name).display()));
    let info = RunInfo::read(dir)?;
    let config: SearchConfig = serde_json::from_str(&read("config.json")?).with_context(|| format!("{}: invalid", dir.join("config.json").display()))?;
    let run = RunDir::open(dir)?;
    let checkpoints = run.checkpoints()?;
    let Some((index, snap)) = run.newest_checkpoint(&checkpoints, |name, bytes| Ok(Snapshot::from_bytes(name, bytes)?))? else {
        bail!("{}: no checkpoint yet (the run stopped during its first epoch); start it again with `rdarts search --overwrite`", dir.display());
    };
    let expected_id = fingerprint(&config);
    let id = snap.meta.extra.get("config").and_then(|v| v.as_str()).unwrap_or("");
    if id != expected_id {
        bail!(
            "{}: written for another configuration than {} (fingerprint {id}, expected {expected_id}); was config.json edited?",
            checkpoints[index].1.display(),
            dir.join("config.json").display()
        );
    }
    Ok(Loaded { info, config, checkpoints, index, snap })
}

/// The search of a run directory at its newest intact checkpoint (for `rdarts hessian --run`), and
/// that checkpoint's path.
pub fn load_run(dir: &Path, device: &burn::tensor::Device) -> Result<(Search, PathBuf)> {
    let l = load_checkpoint(dir)?;
    let data = datasets::load(parse_dataset(&l.info.dataset)?, l.info.data.as_deref())?;
    let mut search = Search::new(l.config, data, device)?;
    search.resume_from(&l.snap, Vec::new())?;
    Ok((search, l.checkpoints[l.index].1.clone()))
}

fn resume(a: ResumeArgs) -> Result<()> {
    let dir = &a.run;
    if RunInfo::read(dir)?.kind == "train" {
        return crate::train_cmd::resume_train(dir, a.backend, a.quiet);
    }
    if dir.join(crate::rundir::DONE_FILE).exists() {
        bail!("{}: the run has finished (genotype.json exists); nothing to resume", dir.display());
    }
    let Loaded { info, config, checkpoints, index, snap } = load_checkpoint(dir)?;
    let data = datasets::load(parse_dataset(&info.dataset)?, info.data.as_deref())?;
    let backend = backend::select(a.backend.into())?;
    println!("backend: {backend}");
    let mut search = Search::new(config, data, &backend.device)?;
    search.net.node_sum = a.node_sum;
    println!("node sum: {}", node_sum_description(a.node_sum, &backend.device));
    let older: Vec<Snapshot> = checkpoints[..index]
        .iter()
        .filter_map(|(_, p)| std::fs::read(p).ok().and_then(|b| Snapshot::from_bytes(&p.display().to_string(), &b).ok()))
        .collect();
    search.resume_from(&snap, older)?;
    let lengths = snap.meta.extra.get("files").and_then(|v| v.as_object()).cloned().unwrap_or_default();
    let run = RunDir::open(dir)?;
    run.truncate_to(&lengths.into_iter().collect())?;
    let mut run = RunDir::open(dir)?;
    println!("resuming {} at epoch {}/{} from {}", dir.display(), search.epoch + 1, search.config.epochs, checkpoints[index].1.display());
    drive(search, &mut run, info.keep_checkpoints, a.quiet, checkpoints[index].0)
}

/// A data set named in run.json.
pub fn parse_dataset(name: &str) -> Result<DatasetName> {
    <DatasetName as ValueEnum>::from_str(name, true).map_err(|e| anyhow::anyhow!("run.json: unknown dataset '{name}': {e}"))
}

/// Runs the remaining epochs of `search`, writing every artifact and a checkpoint per epoch.
fn drive(mut search: Search, run: &mut RunDir, keep: usize, quiet: bool, mut seq: u64) -> Result<()> {
    let config_id = fingerprint(&serde_json::from_str::<SearchConfig>(&std::fs::read_to_string(run.path.join("config.json"))?)?);
    let epochs = search.config.epochs;
    while !search.finished() {
        let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{}/{}", search.epoch + 1, epochs));
        let mut metric_err = None;
        let mut robust_events = Vec::new();
        let report = search.run_epoch(&mut |ev| {
            match ev {
                SearchEvent::Step(s) => {
                    bar.set_length(s.steps as u64);
                    bar.set_position(s.step as u64 + 1);
                    bar.set_message(format!("loss {:.3} acc {:.1}%", s.train_loss, 100.0 * s.train_acc));
                }
                SearchEvent::Epoch(_) => {}
                SearchEvent::Robust(r) => robust_events.push(r.clone()),
                SearchEvent::Sampled(s) => bar.set_message(format!("candidate {}: valid acc {:.1}%", s.index + 1, 100.0 * s.valid_acc)),
            }
            if let Err(e) = run.metric(&serde_json::to_value(ev).expect("events serialise")) {
                metric_err.get_or_insert(e);
            }
        })?;
        bar.finish_and_clear();
        if let Some(e) = metric_err {
            return Err(e);
        }
        let curvature = report.curvature.as_ref().map_or(String::new(), |c| {
            format!(
                " | λmax {:.4} λmin {:.4} ({} gradients, {:.0}% of the epoch's time)",
                c.lambda_max,
                c.lambda_min,
                c.gradient_evals,
                100.0 * c.seconds / report.seconds.max(1e-9)
            )
        });
        let ada = if report.iteration > 1 { format!(" | ADA #{} wd {:.2e} dp {:.2}", report.iteration, report.weight_decay, report.drop_path_prob) } else { String::new() };
        println!(
            "epoch {}/{}: train loss {:.3} acc {:.1}% | valid loss {:.3} acc {:.1}% | lr {:.4} | {:.1}s{curvature}{ada}",
            report.epoch + 1,
            epochs,
            report.train_loss,
            100.0 * report.train_acc,
            report.valid_loss,
            100.0 * report.valid_acc,
            report.lr,
            report.seconds
        );
        run.append("genotypes.txt", &format!("epoch {} {}", report.epoch, report.genotype))?;
        run.append(
            "alphas.jsonl",
            &serde_json::json!({"epoch": report.epoch, "iteration": report.iteration, "softmax_normal": report.alpha_normal, "softmax_reduce": report.alpha_reduce}).to_string(),
        )?;
        if let Some(c) = &report.curvature {
            run.append("lambda.jsonl", &serde_json::json!({"epoch": report.epoch, "iteration": report.iteration, "lambda_max": c.lambda_max, "lambda_min": c.lambda_min}).to_string())?;
        }
        for r in &robust_events {
            println!("{}", describe_robust(r));
        }
        if let Some(first) = robust_events.iter().find(|r| search.robust.events.first() == Some(*r)) {
            run.write("genotype_es.txt", format!("{}\n", first.genotype).as_bytes())?;
            run.write("genotype_es.json", serde_json::to_string_pretty(&first.genotype)?.as_bytes())?;
        }
        let mut snap = search.snapshot();
        snap.meta.extra.insert("config".into(), serde_json::json!(config_id));
        snap.meta.extra.insert("files".into(), serde_json::Value::Object(run.lengths().into_iter().collect()));
        seq += 1;
        run.save_checkpoint(seq, &snap.to_bytes(), keep.max(search.states_to_keep()))?;
        crate::report::write_report(&run.path)?;
    }
    let g = search.result_genotype();
    run.write("genotype.txt", format!("{g}\n").as_bytes())?;
    let (an, ar) = search.alpha.to_host();
    run.write("alpha.json", serde_json::json!({"normal": an, "reduce": ar}).to_string().as_bytes())?;
    run.write("genotype.json", serde_json::to_string_pretty(&g)?.as_bytes())?;
    let page = crate::report::write_report(&run.path)?;
    println!("found: {g}");
    if let Some(best) = search.best_sampled() {
        println!(
            "RS-ws: best of {} sampled architectures is #{} with validation accuracy {:.1}% (shared weights); all are in metrics.jsonl",
            search.sampled.len(),
            best.index + 1,
            100.0 * best.valid_acc
        );
    }
    if let Some(first) = search.robust.first.as_ref().filter(|f| f.action != RobustAction::Stop) {
        println!("DARTS-ES's answer (stop epoch {}): {}", first.stop.stop_epoch + 1, first.genotype);
    }
    println!(
        "normal cell: {} of {} chosen ops are parameter-free; results in {} (report: {})",
        g.parameter_free_normal(),
        g.normal.len(),
        run.path.display(),
        page.display()
    );
    Ok(())
}
