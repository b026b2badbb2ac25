//! `rdarts search` and `rdarts resume`: the per-epoch driver with its progress output, artifacts
//! and checkpoints, and resuming from the newest intact checkpoint (the arguments and the
//! configuration they make: [`crate::search_args`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use rdarts_core::architect::Order;
use rdarts_core::backend;
use rdarts_core::block_on;
use rdarts_core::kernels::Kernels;
use rdarts_core::search::{RobustAction, RobustReport, Search, SearchConfig, SearchEvent, Snapshot};

use crate::common::{BackendArg, RunInfo, checkpoint_extra, epoch_bar, fingerprint, parse_dataset, search_kind, write_epoch_end};
use crate::datasets;
use crate::rundir::RunDir;
pub use crate::search_args::{SearchArgs, search_config};

/// One line saying what a firing of the DARTS-ES rule led to.
pub fn describe_robust(r: &RobustReport) -> String {
    let rule = format!(
        "λmax local average {:.4} > {:.4} × factor at epoch {}",
        r.stop.current, r.stop.previous, r.stop.at_epoch + 1
    );
    let at = format!("epoch {} (valid acc {:.1}%)", r.stop.stop_epoch + 1, 100.0 * r.at.valid_acc);
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
    set_up(&mut search, a.kernels, a.read_every, &backend);
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
    /// Steps to queue between two reads from the device (as `rdarts search --read-every`).
    #[arg(long, value_name = "STEPS")]
    pub read_every: Option<usize>,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// Chooses `search`'s kernels and how often it reads its steps (`read_every`, or the backend's
/// default), and says which kernels run.
fn set_up(search: &mut Search, kernels: Kernels, read_every: Option<usize>, backend: &backend::Backend) {
    search.set_kernels(kernels);
    search.set_read_every(read_every.unwrap_or_else(|| backend.read_every()));
    println!("kernels: {}", rdarts_core::kernels::describe(kernels, &backend.device));
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
    let kind = RunInfo::read(dir)?.kind;
    if a.read_every.is_some() && kind != search_kind() {
        bail!("--read-every applies to image searches; {} is a {kind} run", dir.display());
    }
    match kind.as_str() {
        "train" => return crate::train_cmd::resume_train(dir, a.backend, a.quiet),
        crate::lm_search_cmd::LM_SEARCH_KIND => return crate::lm_search_cmd::resume(dir, a.backend, a.quiet),
        crate::lm_train_cmd::LM_TRAIN_KIND => return crate::lm_train_cmd::resume(dir, a.backend, a.quiet),
        _ => {}
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
    set_up(&mut search, a.kernels, a.read_every, &backend);
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
        for r in &robust_events {
            println!("{}", describe_robust(r));
        }
        let first = robust_events.iter().find(|r| search.robust().events.first() == Some(*r));
        write_epoch_end(run, (report.epoch, report.iteration), report.curvature.as_ref(), first.map(|r| &r.at.genotype))?;
        let mut snap = block_on(search.snapshot());
        snap.meta.extra.extend(checkpoint_extra(run, &config_id)?);
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
        println!("DARTS-ES's answer (stop epoch {}): {}", first.stop.stop_epoch + 1, first.at.genotype);
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
