//! Command-line interface: the `rdarts` command, its subcommands, and the dispatch to each
//! command's module.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::common::Task;

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
#[allow(clippy::large_enum_variant)] // one value per run, parsed once: boxing would buy nothing
pub enum Command {
    /// Run an architecture search (default: a small demo on the embedded digits; `--task lm`: the
    /// recurrent cell on text).
    Search(crate::search_cmd::SearchArgs),
    /// Continue an interrupted search from its newest intact checkpoint.
    Resume(crate::search_cmd::ResumeArgs),
    /// Train a genotype from scratch and report its test error (docs/ALGORITHM.md §11).
    Train(crate::train_cmd::TrainArgs),
    /// Print, convert (JSON ↔ DARTS text), draw (DOT, SVG) or validate a genotype.
    Genotype(crate::genotype_cmd::GenotypeArgs),
    /// Time a search step, λmax and memory on one backend (median and spread; JSON with --json).
    Bench(crate::measure::BenchArgs),
    /// Replay the golden traces and compare them with the committed file (or rewrite it).
    Golden(crate::golden_cmd::GoldenArgs),
    /// Write RUN_DIR/report.html (and the plots in RUN_DIR/plots) for a run, finished or not.
    Report(ReportArgs),
    /// λmax, λmin (and optionally the whole spectrum) of the α Hessian of the validation loss, for
    /// a PyTorch DARTS state dict and batch saved as safetensors.
    Hessian(crate::curvature::HessianArgs),
    /// Replay the DARTS-ES rule over a λmax history (a run's metrics.jsonl or a plain list).
    EarlyStop(crate::curvature::EarlyStopArgs),
    /// Run a grid of searches (and trainings of what they find) locally or on SLURM; `sweep
    /// report DIR` tabulates them.
    Sweep(crate::sweep::SweepArgs),
}

/// Entry point: parses arguments and runs the command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Search(a) if a.lm.task == Task::Lm => crate::lm_search_cmd::search(a),
        Command::Search(a) => crate::search_cmd::search(a),
        Command::Resume(a) => crate::search_cmd::resume(a),
        Command::Genotype(a) => crate::genotype_cmd::genotype(a),
        Command::Train(a) if a.lm.task == Task::Lm => crate::lm_train_cmd::train(a),
        Command::Train(a) => crate::train_cmd::train(a),
        Command::Golden(a) => crate::golden_cmd::golden(a),
        Command::Bench(a) => crate::bench::bench(a),
        Command::Report(a) => {
            let mut run = crate::rundir::RunDir::open(&a.run)?;
            let page = match crate::common::RunInfo::read(&a.run)?.kind.as_str() {
                crate::lm_search_cmd::LM_SEARCH_KIND => crate::lm_report::write_search_report(&mut run, None)?,
                "train" | crate::lm_train_cmd::LM_TRAIN_KIND => {
                    anyhow::bail!("{}: a training run; its curves are in plots/curves.svg and its result in result.json (report pages are for searches)", a.run.display())
                }
                _ => crate::report::write_report(&mut run)?,
            };
            println!("report: {}", page.display());
            Ok(())
        }
        Command::Hessian(a) => crate::curvature::hessian(a),
        Command::EarlyStop(a) => crate::curvature::early_stop(a),
        Command::Sweep(a) => crate::sweep::sweep(a),
    }
}

/// Arguments of `rdarts report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A run directory.
    pub run: PathBuf,
}
