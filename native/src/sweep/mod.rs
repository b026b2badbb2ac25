//! `rdarts sweep`: a grid of searches (each optionally followed by training what it found) as
//! named runs under one sweep directory, run by a local worker pool or as a SLURM job array, and
//! `rdarts sweep report`: the paper's tables and plots over the runs.
//!
//! Idempotent: every task skips what is finished and resumes what is not (see [`task`]), so the
//! same command picks up after a kill, a preemption or a failure.

pub mod grid;
pub mod report;
mod slurm;
pub mod task;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use grid::{Budget, Run};
use rdarts_core::search::SearchConfig;

/// Arguments of `rdarts sweep`.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    command: Option<SweepCommand>,
    /// The grid file (TOML; see the README's "Sweeps").
    #[arg(required = true)]
    grid: Option<PathBuf>,
    /// The sweep directory (default: sweeps/ and the grid file's name).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Runs at a time on this machine (default: from the cores and the memory the largest run needs).
    #[arg(long)]
    jobs: Option<usize>,
    /// Submit the unfinished runs as a SLURM job array instead.
    #[arg(long)]
    slurm: bool,
    /// SLURM settings.
    #[command(flatten)]
    slurm_args: slurm::SlurmArgs,
    /// Print the runs (and with --slurm the batch script) without running anything.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Subcommand, Debug)]
enum SweepCommand {
    /// Tables (Markdown, CSV) and plots of a sweep directory's runs, finished or not.
    Report {
        /// The sweep directory.
        dir: PathBuf,
    },
    /// Run one task of a sweep directory (what each SLURM array task runs).
    #[command(hide = true)]
    Task {
        /// The sweep directory.
        dir: PathBuf,
        /// The task's index in the directory's sweep.json.
        #[arg(long)]
        index: usize,
    },
}

/// What the sweep directory records about the sweep (`sweep.json`).
#[derive(serde::Serialize, serde::Deserialize, Debug)]
pub struct Sweep {
    /// The grid file it was expanded from.
    pub grid: PathBuf,
    /// Wall-clock limits.
    pub budget: Budget,
    /// Every run.
    pub runs: Vec<Run>,
}

impl Sweep {
    /// Reads `dir/sweep.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let p = dir.join("sweep.json");
        let text = std::fs::read_to_string(&p).with_context(|| format!("{}: cannot read (is this a sweep directory?)", p.display()))?;
        let sweep: Sweep = serde_json::from_str(&text).with_context(|| format!("{}: invalid", p.display()))?;
        // Run names become directory names: one plain component each, as `grid::expand` makes them.
        if let Some(bad) = sweep.runs.iter().find(|r| !grid::is_run_name(&r.name)) {
            bail!("{}: run name '{}' is not a plain directory name", p.display(), bad.name);
        }
        Ok(sweep)
    }
}

/// Runs `rdarts sweep`.
pub fn sweep(a: SweepArgs) -> Result<()> {
    match a.command {
        Some(SweepCommand::Report { dir }) => return report::write(&dir),
        Some(SweepCommand::Task { dir, index }) => return run_one(&dir, index),
        None => {}
    }
    let grid_path = a.grid.expect("clap requires the grid");
    let (grid, runs) = grid::read(&grid_path)?;
    let configs = runs.iter().map(|run| check_flags(&grid_path, run)).collect::<Result<Vec<_>>>()?;
    let dir = a.out.unwrap_or_else(|| Path::new("sweeps").join(grid_path.file_stem().unwrap_or_default()));
    let sweep = Sweep { grid: std::path::absolute(&grid_path)?, budget: grid.budget, runs };
    let pending: Vec<usize> = (0..sweep.runs.len()).filter(|&i| !task::Paths::of(&dir, &sweep.runs[i].name).finished(&sweep.runs[i])).collect();
    if a.dry_run {
        println!("{} runs ({} unfinished) in {}:", sweep.runs.len(), pending.len(), dir.display());
        for (i, run) in sweep.runs.iter().enumerate() {
            println!("{}{}\n    rdarts search {}", run.name, if pending.contains(&i) { "" } else { " (finished)" }, run.search.join(" "));
            if let Some(t) = &run.train {
                println!("    rdarts train <found genotype>{} {}", if run.train_es { " (and DARTS-ES's)" } else { "" }, t.join(" "));
            }
        }
        match (a.slurm, pending.is_empty()) {
            (true, false) => println!("\n{}", slurm::script(&dir, &pending, &a.slurm_args)?),
            (true, true) => println!("\nnothing to submit"),
            (false, _) => {}
        }
        return Ok(());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    crate::rundir::write_atomic(&dir.join("sweep.json"), serde_json::to_string_pretty(&sweep)?.as_bytes())?;
    println!("sweep: {} runs, {} unfinished, in {}", sweep.runs.len(), pending.len(), dir.display());
    if pending.is_empty() {
        println!("nothing to do; `rdarts sweep report {}` builds the tables", dir.display());
        return Ok(());
    }
    if a.slurm {
        return slurm::submit(&dir, &pending, &a.slurm_args);
    }
    let jobs = a.jobs.unwrap_or_else(|| default_jobs(&configs)).clamp(1, pending.len());
    let failed = local_pool(&dir, &sweep, &pending, jobs)?;
    if failed > 0 {
        bail!("{failed} of {} runs did not finish (see {}); run the same command again to resume them", pending.len(), dir.join("logs").display());
    }
    println!("all {} runs finished; `rdarts sweep report {}` builds the tables", sweep.runs.len(), dir.display());
    Ok(())
}

/// `rdarts search`'s flags alone, to check a run's before it runs.
#[derive(Parser)]
#[command(name = "rdarts search")]
struct SearchFlags {
    #[command(flatten)]
    args: crate::search_args::SearchArgs,
}

/// `rdarts train`'s flags alone.
#[derive(Parser)]
#[command(name = "rdarts train")]
struct TrainFlags {
    #[command(flatten)]
    _args: crate::train_cmd::TrainArgs,
}

/// The first line of a command-line error, without clap's `error: `.
fn first_line(e: clap::Error) -> String {
    e.to_string().lines().next().unwrap_or_default().trim_start_matches("error: ").to_string()
}

/// Parses a run's flags as `rdarts search` and `rdarts train` would and checks the search's
/// configuration, so a typo fails before anything runs; returns that configuration.
fn check_flags(grid: &Path, run: &Run) -> Result<SearchConfig> {
    let what = format!("{}: run {}", grid.display(), run.name);
    let search = SearchFlags::try_parse_from(std::iter::once("search".to_string()).chain(run.search.iter().cloned()))
        .map_err(|e| anyhow::anyhow!("{what}: search flags: {}", first_line(e)))?;
    let config = crate::search_args::search_config(&search.args).with_context(|| what.clone())?;
    if let Some(t) = &run.train {
        TrainFlags::try_parse_from(["train".to_string(), "genotype.json".into()].into_iter().chain(t.iter().cloned()))
            .map_err(|e| anyhow::anyhow!("{what}: train flags: {}", first_line(e)))?;
    }
    Ok(config)
}

/// Runs at a time: the cores, fewer where the memory the largest search needs would not fit.
fn default_jobs(configs: &[SearchConfig]) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let largest = configs.iter().map(rdarts_core::memory::search_bytes).max().unwrap_or(1);
    let by_memory = crate::memory::available_bytes().map_or(cores, |m| (m / largest.max(1)) as usize);
    cores.min(by_memory).max(1)
}

/// Runs the `pending` runs on `jobs` workers; returns how many did not finish.
fn local_pool(dir: &Path, sweep: &Sweep, pending: &[usize], jobs: usize) -> Result<usize> {
    let exe = std::env::current_exe().context("cannot find the rdarts executable")?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (cores / jobs).max(1);
    println!("running {} runs, {jobs} at a time ({threads} threads each); logs in {}", pending.len(), dir.join("logs").display());
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let first_error = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                while let Some(&i) = pending.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let run = &sweep.runs[i];
                    let started = std::time::Instant::now();
                    let outcomes = task::run_task(&exe, dir, run, sweep.budget, Some(threads));
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    match outcomes {
                        Ok(o) => {
                            let (ended, parts) = task::summary(&o);
                            if !ended {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                            println!("[{n}/{}] {}: {parts} ({:.0} s)", pending.len(), run.name, started.elapsed().as_secs_f64());
                        }
                        Err(e) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            println!("[{n}/{}] {}: error: {e:#}", pending.len(), run.name);
                            first_error.lock().expect("error slot").get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().expect("error slot") {
        return Err(e);
    }
    Ok(failed.into_inner())
}

/// `rdarts sweep task DIR --index I`: one run of the sweep, all threads of the machine.
fn run_one(dir: &Path, index: usize) -> Result<()> {
    let sweep = Sweep::read(dir)?;
    let run = sweep.runs.get(index).with_context(|| format!("{}: no run {index} (it has {})", dir.join("sweep.json").display(), sweep.runs.len()))?;
    let exe = std::env::current_exe().context("cannot find the rdarts executable")?;
    let (ended, parts) = task::summary(&task::run_task(&exe, dir, run, sweep.budget, None)?);
    println!("{}: {parts}", run.name);
    if !ended {
        bail!("{}: not finished (see {})", run.name, task::Paths::of(dir, &run.name).log.display());
    }
    Ok(())
}
