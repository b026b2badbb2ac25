//! `rdarts train --task lm` and its `rdarts resume`: a recurrent genotype trained from scratch as
//! DARTS' `rnn/train.py` does, with a checkpoint per epoch, metrics, perplexity curves, and at the
//! end result.json with the validation and test perplexity of the best state.

use std::path::Path;

use anyhow::{Context, Result, bail};
use rdarts_core::backend;
use rdarts_core::block_on;
use rdarts_core::lm::RnnGenotype;
use rdarts_core::lm::train::{LmTrainConfig, LmTrainer};

use crate::common::{BackendArg, RunInfo, epoch_bar, read_config_file_as};
use crate::lm_search_cmd::load_corpus;
use crate::rundir::RunDir;
use crate::train_cmd::{TrainArgs, TrainPreset};

/// `run.json`'s kind of a language-model training run.
pub const LM_TRAIN_KIND: &str = "lm-train";

/// The file a finished training run has.
const DONE_FILE: &str = "result.json";

/// A recurrent genotype: the text `Genotype(recurrent=[...], concat=...)`, a .txt/.json file, or
/// a recurrent search's run directory (its genotype.json).
pub fn load_rnn_genotype(spec: &str) -> Result<RnnGenotype> {
    let trimmed = spec.trim();
    if trimmed.starts_with("Genotype(") {
        return Ok(trimmed.parse()?);
    }
    let path = Path::new(spec);
    let file = if path.is_dir() { path.join("genotype.json") } else { path.to_path_buf() };
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("{}: cannot read (give 'Genotype(recurrent=[...], concat=...)', a .json/.txt file or a run directory)", file.display()))?;
    let t = text.trim();
    let g: RnnGenotype = if t.starts_with('{') {
        serde_json::from_str(t).with_context(|| format!("{}: invalid recurrent genotype JSON", file.display()))?
    } else {
        t.parse().with_context(|| file.display().to_string())?
    };
    g.validate().with_context(|| file.display().to_string())?;
    Ok(g)
}

fn config(a: &TrainArgs) -> Result<LmTrainConfig> {
    let s = &a.schedule;
    let image_only = [
        ("--init-channels", s.init_channels.is_some()),
        ("--layers", s.layers.is_some()),
        ("--max-images", s.max_images.is_some()),
        ("--auxiliary-weight", a.auxiliary_weight.is_some()),
        ("--drop-path-prob", a.drop_path_prob.is_some()),
        ("--cutout", a.cutout.is_some()),
        ("--test-images", a.test_images.is_some()),
    ];
    let given: Vec<&str> = image_only.iter().filter(|(_, g)| *g).map(|(n, _)| *n).collect();
    if !given.is_empty() {
        bail!("{} {} to image training, not to --task lm", given.join(", "), if given.len() == 1 { "applies" } else { "apply" });
    }
    let mut c = match &a.config {
        Some(p) => read_config_file_as(p)?,
        None => match a.preset {
            TrainPreset::Small => LmTrainConfig::small(),
            TrainPreset::Paper => LmTrainConfig::paper(),
        },
    };
    macro_rules! set {
        ($($($flag:ident).+ => $field:ident),* $(,)?) => { $( if let Some(v) = a.$($flag).+ { c.$field = v; } )* };
    }
    set!(schedule.epochs => epochs, schedule.batch_size => batch_size, schedule.seed => seed, schedule.lr => lr,
         lm.hidden => hidden, lm.bptt => bptt, lm.max_tokens => max_tokens);
    c.validate()?;
    Ok(c)
}

/// Runs `rdarts train --task lm`.
pub fn train(a: TrainArgs) -> Result<()> {
    let config = config(&a)?;
    let genotype = load_rnn_genotype(&a.genotype)?;
    let corpus = load_corpus(a.run.data.as_deref())?;
    let backend = backend::select(a.run.backend.into())?;
    println!("backend: {backend}");
    let trainer = LmTrainer::new(config, &genotype, &corpus, &backend.device)?;
    let mut run = RunDir::create(&a.out, a.run.existing(), DONE_FILE)?;
    let mut info = a.run.run_info(LM_TRAIN_KIND, a.keep_checkpoints);
    info.dataset = if a.run.data.is_some() { "text".into() } else { "persuasion (embedded)".into() };
    run.write("config.json", serde_json::to_string_pretty(&trainer.config)?.as_bytes())?;
    run.write("run.json", serde_json::to_string_pretty(&info)?.as_bytes())?;
    run.write("genotype.txt", format!("{genotype}\n").as_bytes())?;
    drive(trainer, &mut run, a.keep_checkpoints, a.run.quiet, 0)
}

/// Continues an interrupted `rdarts train --task lm` run.
pub fn resume(dir: &Path, backend_arg: BackendArg, quiet: bool) -> Result<()> {
    if dir.join(DONE_FILE).exists() {
        bail!("{}: the run has finished ({DONE_FILE} exists); nothing to resume", dir.display());
    }
    let info = RunInfo::read(dir)?;
    let config: LmTrainConfig = read_config_file_as(&dir.join("config.json"))?;
    let genotype = load_rnn_genotype(&dir.join("genotype.txt").display().to_string())?;
    let corpus = load_corpus(info.data.as_deref())?;
    let backend = backend::select(backend_arg.into())?;
    println!("backend: {backend}");
    let mut trainer = LmTrainer::new(config, &genotype, &corpus, &backend.device)?;
    let mut run = RunDir::open(dir)?;
    let checkpoints = crate::rundir::checkpoints(dir)?;
    // `restore` checks the checksum, configuration, genotype, vocabulary and every tensor before
    // it changes anything; a failing newest checkpoint gives way to the previous one.
    let Some((index, meta)) = crate::rundir::newest_checkpoint(dir, &checkpoints, |name, bytes| Ok(trainer.restore(name, bytes)?))? else {
        bail!("{}: no checkpoint yet (the run stopped during its first epoch); start it again with `rdarts train --task lm --overwrite`", dir.display());
    };
    let lengths = meta.extra.get("files").and_then(|v| v.as_object()).cloned().unwrap_or_default();
    run.truncate_to(&lengths.into_iter().collect())?;
    println!("resuming {} at epoch {}/{}", dir.display(), trainer.epoch + 1, trainer.config.epochs);
    drive(trainer, &mut run, info.keep_checkpoints, quiet, checkpoints[index].0)
}

fn drive(mut t: LmTrainer, run: &mut RunDir, keep: usize, quiet: bool, mut seq: u64) -> Result<()> {
    println!(
        "train: {}, {} parameters, {} units, batch {}, windows around {}, {} epochs",
        t.genotype(), t.model.num_params(), t.config.hidden, t.config.batch_size, t.config.bptt, t.config.epochs
    );
    while !t.finished() {
        let bar = epoch_bar(quiet, t.epoch + 1, t.config.epochs);
        let e = block_on(t.run_epoch(&mut |step, loss| {
            bar.set_position(step as u64 + 1);
            bar.set_message(format!("train ppl {:.1}", loss.exp()));
        }))?;
        bar.finish_and_clear();
        println!(
            "epoch {}/{}: train ppl {:.1} | valid ppl {:.1}{}{} | {:.1}s",
            e.epoch + 1, t.config.epochs, e.train_loss.exp(), e.valid_loss.exp(),
            if e.averaged { " (averaged weights)" } else { "" }, if e.best { " best" } else { "" }, e.seconds
        );
        run.metric(&serde_json::to_value(&e)?)?;
        let mut extra = std::collections::BTreeMap::new();
        extra.insert("files".to_string(), serde_json::Value::Object(run.lengths()?.into_iter().collect()));
        seq += 1;
        run.save_checkpoint(seq, &block_on(t.to_bytes(extra)), keep)?;
        crate::lm_report::write_train_curves(run, &t.history)?;
    }
    let (valid, test) = block_on(t.test()).context("no epoch ran")?;
    let result = serde_json::json!({
        "genotype": t.genotype().to_string(),
        "valid_perplexity": valid.exp(),
        "test_perplexity": test.exp(),
        "parameters": t.model.num_params(),
        "epochs": t.config.epochs,
    });
    run.write(DONE_FILE, serde_json::to_string_pretty(&result)?.as_bytes())?;
    println!("test perplexity {:.2} (validation {:.2}, best state), {} parameters; results in {}", test.exp(), valid.exp(), t.model.num_params(), run.path.display());
    Ok(())
}
