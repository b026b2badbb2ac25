//! `rdarts search` and `rdarts resume`: arguments to a [`SearchConfig`] (preset, then file, then
//! flags), the per-epoch driver with its progress output, artifacts and checkpoints, and
//! resuming from the newest intact checkpoint.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use rdarts_core::architect::Order;
use rdarts_core::backend;
use rdarts_core::block_on;
use rdarts_core::kernels::Kernels;
use rdarts_core::search::{AdaTarget, Method, RobustAction, RobustConfig, RobustMode, RobustReport, Search, SearchConfig, SearchEvent, Snapshot};
use rdarts_core::space::SpaceId;

use crate::common::{BackendArg, OrderArg, RunArgs, ScheduleArgs, RunInfo, epoch_bar, fingerprint, parse_dataset, read_config_file_as, search_kind};
use crate::datasets;
use crate::rundir::RunDir;

/// The finite difference's random draws on the command line (`architect::FdDraws`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FdDrawsArg {
    /// Fresh draws in each pass (the authors' code).
    Fresh,
    /// The same draws in both passes.
    Replay,
}

/// RS-ws's BatchNorm mode on the command line (`search::RsBatchNorm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RsBatchNormArg {
    /// Evaluation mode (running statistics), as the authors' code.
    Eval,
    /// Training mode (each batch's statistics).
    Train,
}

/// Starting points for a search's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// Small and fast: finishes in minutes on a laptop CPU.
    Demo,
    /// The paper's search setting (C = 16, 8 cells, batch 64, 50 epochs, second order).
    Paper,
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

/// DARTS-ADA presets (docs/ALGORITHM.md §8).
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
    /// Epochs, batch size, seed, learning rate, C, cells, images used.
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    /// First- or second-order α gradient.
    #[arg(long, value_enum)]
    pub order: Option<OrderArg>,
    /// The random draws (drop-path, S4 noise) of the second-order step's two finite-difference
    /// passes: `fresh` in each, as the authors' code (default), or `replay` the same draws.
    #[arg(long, value_enum)]
    pub fd_draws: Option<FdDrawsArg>,
    /// Learning rate of α.
    #[arg(long)]
    pub arch_lr: Option<f64>,
    /// Weight decay of the weights (R-DARTS(L2) raises it).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Intermediate nodes per cell.
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Shrink the images by this factor before the search (2: 32×32 → 16×16 by 2×2 block means).
    #[arg(long, value_name = "FACTOR")]
    pub downsample: Option<usize>,
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
    /// RS-ws: the best N candidates scored again on the whole validation half (0: off).
    #[arg(long, value_name = "N")]
    pub rs_rerank: Option<usize>,
    /// RS-ws: BatchNorm when candidates are scored: `eval` (running statistics, the authors'
    /// code) or `train` (each batch's statistics).
    #[arg(long, value_enum)]
    pub rs_batch_norm: Option<RsBatchNormArg>,
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
    /// DARTS-ADA's raise: the reference code's (×3 up to 243e-4) or its launch scripts' (×10 up to
    /// 0.03, what the published runs used; the default with `--preset paper`).
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
    /// Data, backend, --overwrite, --quiet.
    #[command(flatten)]
    pub run: RunArgs,
    /// Kernels: `auto` (ours where the backend has them: the WGSL node sum on wgpu; the node sum,
    /// depthwise and 1×1 convolutions and BatchNorm on the CPU backend) or `reference` (Burn's plain tensor ops everywhere; for
    /// comparison and as an escape hatch).
    #[arg(long, alias = "node-sum", default_value = "auto")]
    pub kernels: Kernels,
    /// Run directory for config, metrics and genotypes.
    #[arg(long, default_value = "runs/search")]
    pub out: PathBuf,
    /// Checkpoints to keep (one is written after every epoch; DARTS-ADA keeps as many as it may
    /// roll back over).
    #[arg(long, default_value_t = 3)]
    pub keep_checkpoints: usize,
}

/// Turns arguments into a validated configuration: preset, then file, then flags.
pub fn search_config(a: &SearchArgs) -> Result<SearchConfig> {
    let mut c = match &a.config {
        Some(p) => read_config_file_as(p)?,
        None => match a.preset {
            Preset::Demo => SearchConfig::demo(),
            Preset::Paper => SearchConfig::paper(),
        },
    };
    if let Some(s) = &a.space {
        c.net.space = s.parse::<SpaceId>()?;
    }
    if let Some(d) = a.fd_draws {
        c.fd_draws = match d {
            FdDrawsArg::Fresh => rdarts_core::architect::FdDraws::Fresh,
            FdDrawsArg::Replay => rdarts_core::architect::FdDraws::Replay,
        };
    }
    if let Some(o) = a.order {
        c.order = o.into();
    }
    macro_rules! set {
        ($($flag:ident).+ => $($field:ident).+) => { if let Some(v) = a.$($flag).+ { c.$($field).+ = v; } };
        ($($($flag:ident).+ => $($field:ident).+),* $(,)?) => { $( set!($($flag).+ => $($field).+); )* };
    }
    set!(schedule.epochs => epochs, schedule.batch_size => batch_size, schedule.seed => seed, schedule.lr => lr,
         arch_lr => arch_lr, weight_decay => weight_decay, schedule.init_channels => net.channels,
         schedule.layers => net.layers, nodes => net.nodes, schedule.max_images => max_images, downsample => downsample,
         drop_path_prob => drop_path_prob);
    if let Some(level) = a.rdarts_l2 {
        c = c.with_rdarts_l2(level)?;
    }
    if let Some(level) = a.rdarts_dp {
        c = c.with_rdarts_dp(level)?;
    }
    set!(cutout => augment.cutout, cutout_prob => augment.cutout_prob);
    if let Some(m) = a.method {
        c.method = match m {
            MethodArg::Darts => Method::Darts,
            MethodArg::RsWs => Method::RsWs,
        };
    }
    set!(rs_candidates => rs_candidates, rs_eval_batches => rs_eval_batches, rs_rerank => rs_rerank);
    if let Some(b) = a.rs_batch_norm {
        c.rs_batch_norm = match b {
            RsBatchNormArg::Eval => rdarts_core::search::RsBatchNorm::Eval,
            RsBatchNormArg::Train => rdarts_core::search::RsBatchNorm::Train,
        };
    }
    if let Some(m) = a.robust {
        c.robust.mode = match m {
            RobustArg::Off => RobustMode::Off,
            RobustArg::Es => RobustMode::Es,
            RobustArg::Ada => RobustMode::Ada,
        };
    }
    // DARTS-ADA with the paper preset runs as the published runs did: the authors' launch
    // scripts (scripts/DARTS-ADA_search.sh: --mul_factor 10 --max_weight_decay 0.03), not their
    // code's defaults (src/search/args.py:67-68: ×3 up to 243e-4), unless --ada-preset says which.
    let ada_preset = a.ada_preset.or((a.preset == Preset::Paper && c.robust.mode == RobustMode::Ada).then_some(AdaPreset::LaunchScripts));
    if let Some(p) = ada_preset {
        let preset = match p {
            AdaPreset::Reference => RobustConfig::default(),
            AdaPreset::LaunchScripts => RobustConfig::launch_scripts(),
        };
        (c.robust.mul_factor, c.robust.max_weight_decay) = (preset.mul_factor, preset.max_weight_decay);
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

fn describe(search: &Search, load_seconds: f64) {
    let cfg = search.config();
    println!(
        "search: space {}, {} order, {} epochs, batch {}, C = {}, {} cells, {} nodes, {} weights, {} α, data: {} ({} images, loaded in {:.2}s)",
        cfg.net.space,
        if cfg.order == Order::First { "first" } else { "second" },
        cfg.epochs,
        cfg.batch_size,
        cfg.net.channels,
        cfg.net.layers,
        cfg.net.nodes,
        search.net().num_params(),
        search.net().space.alpha_len(),
        search.data().name,
        search.data().len(),
        load_seconds,
    );
}

/// The file a finished search has.
const DONE_FILE: &str = "genotype.json";

/// Runs `rdarts search`.
pub fn search(a: SearchArgs) -> Result<()> {
    let config = search_config(&a)?;
    let loading = std::time::Instant::now();
    let data = datasets::load(a.run.dataset, a.run.data.as_deref())?;
    let load_seconds = loading.elapsed().as_secs_f64();
    let backend = backend::select(a.run.backend.into())?;
    println!("backend: {backend}");
    let completed = config.clone().for_data(&data);
    completed.validate()?;
    crate::memory::ensure_fits("this search", rdarts_core::memory::search_bytes(&completed), &backend)?;
    let mut search = Search::new(config, data, &backend.device)?;
    let mut run = RunDir::create(&a.out, a.run.existing(), DONE_FILE)?;
    search.set_kernels(a.kernels);
    println!("kernels: {}", rdarts_core::kernels::describe(a.kernels, &backend.device));
    let info = a.run.run_info(&search_kind(), a.keep_checkpoints);
    run.write("config.json", serde_json::to_string_pretty(search.config())?.as_bytes())?;
    run.write("run.json", serde_json::to_string_pretty(&info)?.as_bytes())?;
    describe(&search, load_seconds);
    drive(search, &mut run, a.keep_checkpoints, a.run.quiet, 0)
}

/// Arguments of `rdarts resume`.
#[derive(Args, Debug)]
pub struct ResumeArgs {
    /// The run directory of an interrupted `rdarts search`.
    pub run: PathBuf,
    /// Where to compute (the state is portable across backends).
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// Kernels: `auto` (ours where the backend has them) or `reference` (Burn's plain tensor ops
    /// everywhere); either resumes any run.
    #[arg(long, alias = "node-sum", default_value = "auto")]
    pub kernels: Kernels,
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
    let checkpoints = crate::rundir::checkpoints(dir)?;
    // Every check runs inside the fallback: a newest checkpoint that fails any of them gives way to
    // the previous one, with a warning naming why.
    let Some((index, snap)) = crate::rundir::newest_checkpoint(dir, &checkpoints, |name, bytes| continues(&config, name, bytes))? else {
        bail!("{}: no checkpoint yet (the run stopped during its first epoch); start it again with `rdarts search --overwrite`", dir.display());
    };
    Ok(Loaded { info, config, checkpoints, index, snap })
}

/// The checkpoint `bytes` (the file `name`) if it is intact and continues the run configured by
/// `config`: its checksum, the configuration fingerprint it names, the configuration it carries
/// and the sizes of every tensor.
fn continues(config: &SearchConfig, name: &str, bytes: &[u8]) -> Result<Snapshot> {
    let snap = Snapshot::from_bytes(name, bytes)?;
    let expected_id = fingerprint(config);
    let id = snap.meta.extra.get("config").and_then(|v| v.as_str()).unwrap_or("");
    if id != expected_id {
        bail!("{name}: written for another configuration than the run's config.json (fingerprint {id}, expected {expected_id}); was config.json edited?");
    }
    snap.check_continues(config).with_context(|| name.to_string())?;
    Ok(snap)
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

/// Runs `rdarts resume` (a search's or, by its run.json, a training run's).
pub fn resume(a: ResumeArgs) -> Result<()> {
    let dir = &a.run;
    if RunInfo::read(dir)?.kind == "train" {
        return crate::train_cmd::resume_train(dir, a.backend, a.quiet);
    }
    if dir.join(DONE_FILE).exists() {
        bail!("{}: the run has finished (genotype.json exists); nothing to resume", dir.display());
    }
    let mut run = RunDir::open(dir)?;
    let Loaded { info, config, checkpoints, index, snap } = load_checkpoint(dir)?;
    let data = datasets::load(parse_dataset(&info.dataset)?, info.data.as_deref())?;
    let backend = backend::select(a.backend.into())?;
    println!("backend: {backend}");
    crate::memory::ensure_fits("this search", rdarts_core::memory::search_bytes(&snap.meta.config), &backend)?;
    let mut search = Search::new(config.clone(), data, &backend.device)?;
    search.set_kernels(a.kernels);
    println!("kernels: {}", rdarts_core::kernels::describe(a.kernels, &backend.device));
    let older: Vec<Snapshot> = checkpoints[..index]
        .iter()
        .filter_map(|(_, p)| std::fs::read(p).ok().and_then(|b| continues(&config, &p.display().to_string(), &b).ok()))
        .collect();
    search.resume_from(&snap, older)?;
    let lengths = snap.meta.extra.get("files").and_then(|v| v.as_object()).cloned().unwrap_or_default();
    run.truncate_to(&lengths.into_iter().collect())?;
    println!("resuming {} at epoch {}/{} from {}", dir.display(), search.epoch() + 1, search.config().epochs, checkpoints[index].1.display());
    drive(search, &mut run, info.keep_checkpoints, a.quiet, checkpoints[index].0)
}

/// Runs the remaining epochs of `search`, writing every artifact and a checkpoint per epoch.
fn drive(mut search: Search, run: &mut RunDir, keep: usize, quiet: bool, mut seq: u64) -> Result<()> {
    let config_id = fingerprint(&serde_json::from_str::<SearchConfig>(&std::fs::read_to_string(run.path.join("config.json"))?)?);
    let epochs = search.config().epochs;
    while !search.finished() {
        let bar = epoch_bar(quiet, search.epoch() + 1, epochs);
        let mut metric_err = None;
        let mut robust_events = Vec::new();
        let report = block_on(search.run_epoch(&mut |ev| {
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
        }))?;
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
            "epoch {}/{}: train loss {:.3} acc {:.1}% | valid (un-augmented) loss {:.3} acc {:.1}% | lr {:.4} | {:.1}s{curvature}{ada}",
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
        if let Some(first) = robust_events.iter().find(|r| search.robust().events.first() == Some(*r)) {
            run.write("genotype_es.txt", format!("{}\n", first.genotype).as_bytes())?;
            run.write("genotype_es.json", serde_json::to_string_pretty(&first.genotype)?.as_bytes())?;
        }
        let mut snap = block_on(search.snapshot());
        snap.meta.extra.insert("config".into(), serde_json::json!(config_id));
        snap.meta.extra.insert("files".into(), serde_json::Value::Object(run.lengths()?.into_iter().collect()));
        seq += 1;
        run.save_checkpoint(seq, &snap.to_bytes(), keep.max(search.states_to_keep()))?;
        crate::report::write_report(run)?;
    }
    let g = block_on(search.result_genotype());
    run.write("genotype.txt", format!("{g}\n").as_bytes())?;
    let (an, ar) = block_on(search.alpha().read());
    run.write("alpha.json", serde_json::json!({"normal": an, "reduce": ar}).to_string().as_bytes())?;
    let page = crate::report::write_report_with(run, Some(&g))?;
    // Last: genotype.json marks the run finished, so a crash before it leaves a run to resume.
    run.write(DONE_FILE, serde_json::to_string_pretty(&g)?.as_bytes())?;
    println!("found: {g}");
    if let Some(best) = search.best_sampled() {
        let score = match best.rerank {
            Some((acc, _)) => format!("validation accuracy {:.1}% on the whole validation half ({:.1}% on its batches)", 100.0 * acc, 100.0 * best.valid_acc),
            None => format!("validation accuracy {:.1}% on its batches", 100.0 * best.valid_acc),
        };
        println!(
            "RS-ws: best of {} sampled architectures is #{} with {score} (shared weights, un-augmented images); all are in metrics.jsonl",
            search.sampled().len(),
            best.index + 1,
        );
    }
    if let Some(first) = search.robust().first.as_ref().filter(|f| f.action != RobustAction::Stop) {
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
