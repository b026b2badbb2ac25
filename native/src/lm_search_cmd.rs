//! `rdarts search --task lm` and its `rdarts resume`: DARTS' recurrent-cell search on word-level
//! text (docs/ALGORITHM.md §13) in a run directory like the image search's: config.json,
//! run.json, metrics.jsonl (every event), lambda.jsonl, genotypes.txt, alphas.jsonl, a checkpoint
//! per epoch, the learning curves in plots/, and at the end genotype.txt/json (genotype_es.* where
//! DARTS-ES fired).

use std::path::Path;

use anyhow::{Context, Result, bail};
use rdarts_core::backend;
use rdarts_core::block_on;
use rdarts_core::lm::{Corpus, LmEvent, LmSearch, LmSearchConfig, LmSnapshot};
use rdarts_core::search::{RobustAction, RobustConfig, RobustMode};

use crate::common::{BackendArg, RunInfo, checkpoint_extra, epoch_bar, fingerprint, read_config_file_as, write_epoch_end};
use crate::rundir::RunDir;
use crate::search_args::{AdaPreset, Preset, RobustArg, SearchArgs};

/// `run.json`'s kind of a recurrent search.
pub const LM_SEARCH_KIND: &str = "lm-search";

/// The file a finished search has.
const DONE_FILE: &str = "genotype.json";

/// The corpus in `dir` (a training file and its valid/test companions), or the embedded one.
pub fn load_corpus(dir: Option<&Path>) -> Result<Corpus> {
    match dir {
        Some(d) => crate::text::read_corpus(d),
        None => Ok(Corpus::embedded()),
    }
}

/// The name run.json records for the corpus.
fn corpus_name(dir: Option<&Path>) -> String {
    if dir.is_some() { "text".into() } else { "persuasion (embedded)".into() }
}

/// Flags of `rdarts search` that only mean something for images, by name, where given.
fn image_only_flags(a: &SearchArgs) -> Vec<&'static str> {
    let s = &a.schedule;
    let given = [
        ("--space", a.space.is_some()),
        ("--init-channels", s.init_channels.is_some()),
        ("--layers", s.layers.is_some()),
        ("--max-images", s.max_images.is_some()),
        ("--downsample", a.downsample.is_some()),
        ("--drop-path-prob", a.drop_path_prob.is_some()),
        ("--cutout", a.cutout.is_some()),
        ("--cutout-prob", a.cutout_prob.is_some()),
        ("--rdarts-l2 (its grid is the image search's; give --weight-decay)", a.rdarts_l2.is_some()),
        ("--rdarts-dp", a.rdarts_dp.is_some()),
        ("--method", a.method.is_some()),
        ("--rs-candidates", a.rs_candidates.is_some()),
        ("--rs-eval-batches", a.rs_eval_batches.is_some()),
        ("--rs-rerank", a.rs_rerank.is_some()),
        ("--rs-batch-norm", a.rs_batch_norm.is_some()),
        ("--fd-draws", a.fd_draws.is_some()),
        ("--ada-target", a.ada_target.is_some()),
        ("--hessian-batches", a.hessian_batches.is_some()),
        ("--read-every", a.read_every.is_some()),
    ];
    given.into_iter().filter(|(_, g)| *g).map(|(n, _)| n).collect()
}

/// Turns arguments into a validated recurrent-search configuration: preset (`demo` = small,
/// `paper` = the reference's defaults), then file, then flags.
pub fn lm_search_config(a: &SearchArgs) -> Result<LmSearchConfig> {
    let refused = image_only_flags(a);
    if !refused.is_empty() {
        bail!("{} {} to image searches, not to --task lm", refused.join(", "), if refused.len() == 1 { "applies" } else { "apply" });
    }
    let mut c = match &a.config {
        Some(p) => read_config_file_as(p)?,
        None => match a.preset {
            Preset::Demo => LmSearchConfig::small(),
            Preset::Paper => LmSearchConfig::paper(),
        },
    };
    macro_rules! set {
        ($($($flag:ident).+ => $($field:ident).+),* $(,)?) => { $( if let Some(v) = a.$($flag).+ { c.$($field).+ = v; } )* };
    }
    set!(schedule.epochs => epochs, schedule.batch_size => batch_size, schedule.seed => seed, schedule.lr => lr,
         arch_lr => arch_lr, weight_decay => weight_decay, nodes => steps, lm.hidden => hidden, lm.bptt => bptt,
         lm.max_tokens => max_tokens, hessian_every => hessian.every, lanczos_steps => hessian.lanczos_steps,
         lanczos_tol => hessian.lanczos_tol, es_window => robust.window, es_delta => robust.delta,
         es_factor => robust.factor, es_start_epoch => robust.start_epoch);
    if let Some(o) = a.order {
        c.order = o.into();
    }
    if let Some(m) = a.robust {
        c.robust.mode = match m {
            RobustArg::Off => RobustMode::Off,
            RobustArg::Es => RobustMode::Es,
            RobustArg::Ada => RobustMode::Ada,
        };
    }
    if let Some(p) = a.ada_preset {
        let preset = match p {
            AdaPreset::Reference => RobustConfig::default(),
            AdaPreset::LaunchScripts => RobustConfig::launch_scripts(),
        };
        (c.robust.mul_factor, c.robust.max_weight_decay) = (preset.mul_factor, preset.max_weight_decay);
    }
    set!(ada_mul_factor => robust.mul_factor, ada_max_weight_decay => robust.max_weight_decay);
    c.validate()?;
    Ok(c)
}

/// Runs `rdarts search --task lm`.
pub fn search(a: SearchArgs) -> Result<()> {
    let config = lm_search_config(&a)?;
    let corpus = load_corpus(a.run.data.as_deref())?;
    let backend = backend::select(a.run.backend.into())?;
    println!("backend: {backend}");
    let search = LmSearch::new(config, &corpus, &backend.device)?;
    let mut run = RunDir::create(&a.out, a.run.existing(), DONE_FILE)?;
    let mut info = a.run.run_info(LM_SEARCH_KIND, a.keep_checkpoints);
    info.dataset = corpus_name(a.run.data.as_deref());
    run.write("config.json", serde_json::to_string_pretty(search.config())?.as_bytes())?;
    run.write("run.json", serde_json::to_string_pretty(&info)?.as_bytes())?;
    describe(&search, &corpus);
    drive(search, &mut run, a.keep_checkpoints, a.run.quiet, 0)
}

fn describe(s: &LmSearch, corpus: &Corpus) {
    let c = s.config();
    println!(
        "recurrent search: {} nodes, {} units, vocabulary {}, {} / {} / {} tokens; {} parameters; batch {}, windows of {}, {} epochs, {:?} order; λ every {} epochs",
        c.steps, c.hidden, corpus.vocab.len(), corpus.train.len(), corpus.valid.len(), corpus.test.len(),
        s.model().num_params(), c.batch_size, c.bptt, c.epochs, c.order, c.hessian.every
    );
}

/// The checkpoint `bytes` if it is intact and continues the run configured by `config`.
fn continues(config: &LmSearchConfig, name: &str, bytes: &[u8]) -> Result<LmSnapshot> {
    let snap = LmSnapshot::from_bytes(name, bytes)?;
    let expected = fingerprint(config);
    let id = snap.meta.extra.get("config").and_then(|v| v.as_str()).unwrap_or("");
    if id != expected {
        bail!("{name}: written for another configuration than the run's config.json (fingerprint {id}, expected {expected}); was config.json edited?");
    }
    Ok(snap)
}

/// Continues an interrupted recurrent search.
pub fn resume(dir: &Path, backend_arg: BackendArg, quiet: bool) -> Result<()> {
    if dir.join(DONE_FILE).exists() {
        bail!("{}: the run has finished ({DONE_FILE} exists); nothing to resume", dir.display());
    }
    let info = RunInfo::read(dir)?;
    let config: LmSearchConfig = read_config_file_as(&dir.join("config.json"))?;
    let mut run = RunDir::open(dir)?;
    let checkpoints = crate::rundir::checkpoints(dir)?;
    let Some((index, snap)) = crate::rundir::newest_checkpoint(dir, &checkpoints, |name, bytes| continues(&config, name, bytes))? else {
        bail!("{}: no checkpoint yet (the run stopped during its first epoch); start it again with `rdarts search --task lm --overwrite`", dir.display());
    };
    let corpus = load_corpus(info.data.as_deref())?;
    let backend = backend::select(backend_arg.into())?;
    println!("backend: {backend}");
    let mut search = LmSearch::new(config.clone(), &corpus, &backend.device)?;
    let older: Vec<LmSnapshot> = checkpoints[..index]
        .iter()
        .filter_map(|(_, p)| std::fs::read(p).ok().and_then(|b| continues(&config, &p.display().to_string(), &b).ok()))
        .collect();
    search.resume_from(&snap, older).with_context(|| checkpoints[index].1.display().to_string())?;
    let lengths = snap.meta.extra.get("files").and_then(|v| v.as_object()).cloned().unwrap_or_default();
    run.truncate_to(&lengths.into_iter().collect())?;
    println!("resuming {} at epoch {}/{} from {}", dir.display(), search.epoch() + 1, search.config().epochs, checkpoints[index].1.display());
    drive(search, &mut run, info.keep_checkpoints, quiet, checkpoints[index].0)
}

/// Runs the remaining epochs, writing every artifact and a checkpoint per epoch.
fn drive(mut search: LmSearch, run: &mut RunDir, keep: usize, quiet: bool, mut seq: u64) -> Result<()> {
    let config_id = fingerprint(&read_config_file_as::<LmSearchConfig>(&run.path.join("config.json"))?);
    let epochs = search.config().epochs;
    while !search.finished() {
        let bar = epoch_bar(quiet, search.epoch() + 1, epochs);
        let (mut metric_err, mut robust_events) = (None, Vec::new());
        let report = block_on(search.run_epoch(&mut |ev| {
            match ev {
                LmEvent::Step { step, train_loss, .. } => {
                    bar.set_position(*step as u64 + 1);
                    bar.set_message(format!("train ppl {:.1}", train_loss.exp()));
                }
                LmEvent::Epoch(_) => {}
                LmEvent::Robust(r) => robust_events.push(r.clone()),
            }
            if let Err(e) = run.metric(&serde_json::to_value(ev).expect("events serialise")) {
                metric_err.get_or_insert(e);
            }
        }))?;
        bar.finish_and_clear();
        if let Some(e) = metric_err {
            return Err(e);
        }
        let curvature = report.curvature.as_ref().map_or(String::new(), |c| format!(" | λmax {:.4} λmin {:.4} ({} gradients)", c.lambda_max, c.lambda_min, c.gradient_evals));
        let ada = if report.iteration > 1 { format!(" | ADA #{} wd {:.2e}", report.iteration, report.weight_decay) } else { String::new() };
        println!(
            "epoch {}/{}: train ppl {:.1} | search ppl {:.1} | valid ppl {:.1} | {:.1}s{curvature}{ada}",
            report.epoch + 1, epochs, report.train_loss.exp(), report.arch_loss.exp(), report.valid_ppl, report.seconds
        );
        run.append("genotypes.txt", &format!("epoch {} {}", report.epoch, report.genotype))?;
        run.append("alphas.jsonl", &serde_json::json!({"epoch": report.epoch, "iteration": report.iteration, "softmax": report.alpha}).to_string())?;
        for r in &robust_events {
            println!("DARTS-ES rule fired at epoch {} (stop epoch {}, valid ppl {:.1} there): {:?}", r.stop.at_epoch + 1, r.stop.stop_epoch + 1, r.at.valid_ppl, r.action);
        }
        let first = robust_events.iter().find(|r| search.controller().robust().events.first() == Some(*r));
        write_epoch_end(run, (report.epoch, report.iteration), report.curvature.as_ref(), first.map(|r| &r.at.genotype))?;
        let mut snap = block_on(search.snapshot());
        snap.meta.extra.extend(checkpoint_extra(run, &config_id)?);
        seq += 1;
        run.save_checkpoint(seq, &snap.to_bytes(), keep.max(search.states_to_keep()))?;
        crate::lm_report::write_search_report(run, None)?;
    }
    let g = block_on(search.result_genotype());
    run.write("genotype.txt", format!("{g}\n").as_bytes())?;
    let page = crate::lm_report::write_search_report(run, Some(&g))?;
    // Last: genotype.json marks the run finished, so a crash before it leaves a run to resume.
    run.write(DONE_FILE, serde_json::to_string_pretty(&g)?.as_bytes())?;
    if let Some(first) = search.controller().robust().first.as_ref().filter(|f| f.action != RobustAction::Stop) {
        println!("DARTS-ES's answer (stop epoch {}): {}", first.stop.stop_epoch + 1, first.at.genotype);
    }
    println!("found: {g}\nresults in {} (report: {})", run.path.display(), page.display());
    Ok(())
}
