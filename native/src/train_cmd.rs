//! `rdarts train`: a genotype trained from scratch (docs/ALGORITHM.md §11), with checkpoints, metrics, a
//! learning-curve plot, and `rdarts resume` for interrupted runs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use rdarts_core::backend;
use rdarts_core::block_on;
use rdarts_core::train::{TrainConfig, Trainer};

use crate::common::{BackendArg, RunArgs, ScheduleArgs, RunInfo, epoch_bar, fingerprint, parse_dataset, read_config_file_as};
use crate::datasets;
use crate::rundir::RunDir;

/// Starting settings of `rdarts train`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TrainPreset {
    /// Minutes on a laptop CPU with the embedded digits (C = 8, 6 cells, 3 epochs).
    Small,
    /// The authors' evaluation for the data set: C = 36 and 20 cells on CIFAR-10, C = 16 and 8
    /// cells on CIFAR-100 and SVHN (their evaluation code's defaults); auxiliary head, Cutout 16,
    /// 600 epochs, batch 96.
    Paper,
}

/// Arguments of `rdarts train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The genotype: DARTS text `Genotype(...)`, a .json/.txt file, or a search's run directory.
    pub genotype: String,
    /// Starting settings.
    #[arg(long, value_enum, default_value_t = TrainPreset::Small)]
    pub preset: TrainPreset,
    /// A TOML or JSON training configuration (missing fields: the paper's values).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Epochs, batch size, seed, learning rate, C, cells, images used.
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    /// Weight of the auxiliary head's loss; 0 leaves the head out.
    #[arg(long)]
    pub auxiliary_weight: Option<f64>,
    /// Drop-path probability at the last epoch.
    #[arg(long)]
    pub drop_path_prob: Option<f64>,
    /// Cutout side length (0 = off).
    #[arg(long)]
    pub cutout: Option<usize>,
    /// Evaluate on at most N test images (0 = all).
    #[arg(long)]
    pub test_images: Option<usize>,
    /// Data, backend, --overwrite, --quiet.
    #[command(flatten)]
    pub run: RunArgs,
    /// Image classification or language modelling, and the language model's sizes.
    #[command(flatten)]
    pub lm: crate::common::LmArgs,
    /// Run directory.
    #[arg(long, default_value = "runs/train")]
    pub out: PathBuf,
    /// Checkpoints to keep.
    #[arg(long, default_value_t = 2)]
    pub keep_checkpoints: usize,
}

fn train_config(a: &TrainArgs) -> Result<TrainConfig> {
    crate::common::refuse_lm_flags(&a.lm)?;
    let mut c = match &a.config {
        Some(p) => read_config_file_as(p)?,
        None => match a.preset {
            TrainPreset::Small => TrainConfig::small(),
            TrainPreset::Paper => TrainConfig::paper_for(a.run.dataset.kind()),
        },
    };
    macro_rules! set {
        ($($flag:ident).+ => $($field:ident).+) => { if let Some(v) = a.$($flag).+ { c.$($field).+ = v; } };
        ($($($flag:ident).+ => $($field:ident).+),* $(,)?) => { $( set!($($flag).+ => $($field).+); )* };
    }
    set!(schedule.epochs => epochs, schedule.batch_size => batch_size, schedule.seed => seed, schedule.lr => lr,
         schedule.init_channels => net.channels, schedule.layers => net.layers, auxiliary_weight => auxiliary_weight,
         drop_path_prob => drop_path_prob, cutout => augment.cutout, schedule.max_images => max_images,
         test_images => test_images);
    if a.auxiliary_weight == Some(0.0) {
        c.net.auxiliary = false;
    }
    c.validate()?;
    Ok(c)
}

/// The file a finished training run has.
const TRAIN_DONE_FILE: &str = "result.json";

/// Runs `rdarts train`.
pub fn train(a: TrainArgs) -> Result<()> {
    let config = train_config(&a)?;
    let genotype = crate::genotype_cmd::load_genotype(&a.genotype)?;
    let (train, test) = datasets::load_train_test(a.run.dataset, a.run.data.as_deref())?;
    let backend = backend::select(a.run.backend.into())?;
    println!("backend: {backend}");
    let completed = config.clone().for_data(&train);
    completed.validate()?;
    crate::memory::ensure_fits("this training run", rdarts_core::memory::train_bytes(&completed, &genotype), &backend)?;
    let trainer = Trainer::new(config, &genotype, train, test, &backend.device)?;
    let mut run = RunDir::create(&a.out, a.run.existing(), TRAIN_DONE_FILE)?;
    let info = a.run.run_info("train", a.keep_checkpoints);
    run.write("config.json", serde_json::to_string_pretty(&trainer.config)?.as_bytes())?;
    run.write("run.json", serde_json::to_string_pretty(&info)?.as_bytes())?;
    run.write("genotype.txt", format!("{genotype}\n").as_bytes())?;
    drive(trainer, &mut run, a.keep_checkpoints, a.run.quiet, 0)
}

/// Continues an interrupted `rdarts train` run.
pub fn resume_train(dir: &Path, backend_arg: BackendArg, quiet: bool) -> Result<()> {
    if dir.join(TRAIN_DONE_FILE).exists() {
        bail!("{}: the run has finished ({TRAIN_DONE_FILE} exists); nothing to resume", dir.display());
    }
    let info = RunInfo::read(dir)?;
    let config: TrainConfig = read_config_file_as(&dir.join("config.json"))?;
    let genotype = crate::genotype_cmd::load_genotype(&dir.join("genotype.txt").display().to_string())?;
    let (train, test) = datasets::load_train_test(parse_dataset(&info.dataset)?, info.data.as_deref())?;
    let backend = backend::select(backend_arg.into())?;
    println!("backend: {backend}");
    crate::memory::ensure_fits("this training run", rdarts_core::memory::train_bytes(&config, &genotype), &backend)?;
    let mut trainer = Trainer::new(config.clone(), &genotype, train, test, &backend.device)?;
    let mut run = RunDir::open(dir)?;
    let checkpoints = crate::rundir::checkpoints(dir)?;
    // Every check runs inside the fallback (a failing newest checkpoint gives way to the previous
    // one); restore checks the checksum, configuration, genotype and sizes before it changes anything.
    let expected_id = fingerprint(&config);
    let Some((index, meta)) = crate::rundir::newest_checkpoint(dir, &checkpoints, |name, bytes| {
        Ok(trainer.restore_if(name, bytes, |meta| {
            let ours = meta.extra.get("config").and_then(|v| v.as_str()) == Some(expected_id.as_str());
            if ours { Ok(()) } else { Err(format!("written for another configuration than {}", dir.join("config.json").display())) }
        })?)
    })?
    else {
        bail!("{}: no checkpoint yet (the run stopped during its first epoch); start it again with `rdarts train --overwrite`", dir.display());
    };
    let seq = checkpoints[index].0;
    let lengths = meta.extra.get("files").and_then(|v| v.as_object()).cloned().unwrap_or_default();
    run.truncate_to(&lengths.into_iter().collect())?;
    println!("resuming {} at epoch {}/{}", dir.display(), trainer.epoch + 1, trainer.config.epochs);
    drive(trainer, &mut run, info.keep_checkpoints, quiet, seq)
}

fn drive(mut t: Trainer, run: &mut RunDir, keep: usize, quiet: bool, mut seq: u64) -> Result<()> {
    let config_id = fingerprint(&t.config);
    println!(
        "train: {} parameters (auxiliary head {}), C = {}, {} cells, {} epochs, batch {}",
        t.net.num_params(),
        t.net.num_aux_params(),
        t.config.net.channels,
        t.config.net.layers,
        t.config.epochs,
        t.config.batch_size
    );
    while !t.finished() {
        let bar = epoch_bar(quiet, t.epoch + 1, t.config.epochs);
        let e = block_on(t.run_epoch(&mut |step, steps, loss| {
            bar.set_length(steps as u64);
            bar.set_position(step as u64 + 1);
            bar.set_message(format!("loss {loss:.3}"));
        }))?;
        bar.finish_and_clear();
        println!(
            "epoch {}/{}: train loss {:.3} acc {:.1}% | test loss {:.3} acc {:.1}% (error {:.2}%) | lr {:.4} drop-path {:.3} | {:.1}s",
            e.epoch + 1, t.config.epochs, e.train_loss, 100.0 * e.train_acc, e.test_loss, 100.0 * e.test_acc, 100.0 * (1.0 - e.test_acc), e.lr, e.drop_prob, e.seconds
        );
        run.metric(&serde_json::to_value(&e)?)?;
        let mut extra = std::collections::BTreeMap::new();
        extra.insert("config".to_string(), serde_json::json!(config_id));
        extra.insert("files".to_string(), serde_json::Value::Object(run.lengths()?.into_iter().collect()));
        seq += 1;
        run.save_checkpoint(seq, &block_on(t.to_bytes(extra)), keep)?;
        let svg = crate::report::train_curves_svg(&t.history)?;
        run.write("plots/curves.svg", svg.as_bytes())?;
    }
    let last = t.history.last().context("no epoch ran")?;
    let result = serde_json::json!({
        "genotype": t.net.genotype.to_string(),
        "test_accuracy": last.test_acc,
        "test_error_percent": 100.0 * (1.0 - last.test_acc),
        "parameters": t.net.num_params(),
        "auxiliary_parameters": t.net.num_aux_params(),
        "epochs": t.config.epochs,
    });
    run.write("result.json", serde_json::to_string_pretty(&result)?.as_bytes())?;
    println!(
        "test error {:.2}% (accuracy {:.2}%), {} parameters (+{} in the auxiliary head); results in {}",
        100.0 * (1.0 - last.test_acc),
        100.0 * last.test_acc,
        t.net.num_params(),
        t.net.num_aux_params(),
        run.path.display()
    );
    Ok(())
}
