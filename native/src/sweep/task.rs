//! One run of a sweep as a task: its search, then the training of what it found, each started,
//! resumed from its newest checkpoint, or skipped when finished — so a task can be killed at any
//! point and run again without computing anything twice. Each part is a child `rdarts` process
//! (its output appended to the run's log), stopped when it exceeds its budget.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::grid::{Budget, Run};

/// What a part of a task (search, training) came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Finished earlier; nothing run.
    Done,
    /// Ran to the end now.
    Finished,
    /// Stopped at its budget; the next sweep resumes it.
    OverBudget,
    /// Another process holds its run directory (a task of this sweep still running elsewhere).
    Busy,
    /// Failed (see the log).
    Failed,
}

/// A run's directories and log inside the sweep directory.
pub struct Paths {
    /// The search's run directory.
    pub search: PathBuf,
    /// The training run of the found genotype.
    pub train: PathBuf,
    /// The training run of DARTS-ES's genotype.
    pub train_es: PathBuf,
    /// Everything the task's processes printed.
    pub log: PathBuf,
}

/// The file a finished search has.
const SEARCH_DONE: &str = "genotype.json";
/// The file a finished training has (its test error).
pub const TRAIN_DONE: &str = "result.json";

impl Paths {
    /// The paths of run `name` in sweep directory `dir`.
    pub fn of(dir: &Path, name: &str) -> Self {
        let run = dir.join("runs").join(name);
        Paths { search: run.join("search"), train: run.join("train"), train_es: run.join("train-es"), log: dir.join("logs").join(format!("{name}.log")) }
    }

    /// DARTS-ES's genotype, where the search recorded one.
    fn es_genotype(&self) -> Option<PathBuf> {
        Some(self.search.join("genotype_es.json")).filter(|p| p.exists())
    }

    /// Whether every part of `run` has finished.
    pub fn finished(&self, run: &Run) -> bool {
        self.search.join(SEARCH_DONE).exists()
            && (run.train.is_none() || self.train.join(TRAIN_DONE).exists())
            && (!run.train_es || self.es_genotype().is_none() || self.train_es.join(TRAIN_DONE).exists())
    }
}

/// Whether every part came to an end, and the parts and their outcomes in words.
pub fn summary(outcomes: &[(&'static str, Outcome)]) -> (bool, String) {
    let all = outcomes.iter().all(|(_, o)| matches!(o, Outcome::Done | Outcome::Finished));
    let parts: Vec<String> = outcomes.iter().map(|(what, o)| format!("{what} {}", format!("{o:?}").to_lowercase())).collect();
    (all, parts.join(", "))
}

/// The value of `--flag` among `flags`.
pub fn flag<'a>(flags: &'a [String], name: &str) -> Option<&'a str> {
    flags.iter().position(|f| f.strip_prefix("--") == Some(name)).and_then(|i| flags.get(i + 1)).map(String::as_str)
}

/// Runs (or resumes, or skips) every part of `run`, in sweep directory `dir`; `threads` CPU
/// threads per process (`None`: all). Returns the outcome of each part in order.
pub fn run_task(exe: &Path, dir: &Path, run: &Run, budget: Budget, threads: Option<usize>) -> Result<Vec<(&'static str, Outcome)>> {
    let p = Paths::of(dir, &run.name);
    std::fs::create_dir_all(p.log.parent().expect("logs dir")).with_context(|| format!("{}: cannot create", dir.display()))?;
    let mut outcomes = Vec::new();
    let mut search = vec!["search".to_string()];
    search.extend(run.search.iter().cloned());
    search.push("--quiet".into());
    let resume_flags: Vec<String> = ["backend", "kernels"].iter().filter_map(|f| flag(&run.search, f).map(|v| vec![format!("--{f}"), v.to_string()])).flatten().collect();
    let searched = part(exe, "search", &p.search, SEARCH_DONE, &search, &resume_flags, budget.search_minutes, threads, &p.log)?;
    outcomes.push(("search", searched));
    if !matches!(searched, Outcome::Done | Outcome::Finished) {
        return Ok(outcomes);
    }
    let Some(train) = &run.train else { return Ok(outcomes) };
    // Training uses the search's data, backend and seed unless [train] sets them.
    let mut train = train.clone();
    for f in ["dataset", "data", "backend", "seed"] {
        if let (Some(v), None) = (flag(&run.search, f), flag(&train, f)) {
            train.extend([format!("--{f}"), v.to_string()]);
        }
    }
    train.push("--quiet".into());
    let resume_flags: Vec<String> = flag(&train, "backend").map(|v| vec!["--backend".into(), v.to_string()]).unwrap_or_default();
    let mut genotypes = vec![("train", p.search.join(SEARCH_DONE), &p.train)];
    if let Some(es) = p.es_genotype().filter(|_| run.train_es) {
        genotypes.push(("train-es", es, &p.train_es));
    }
    for (what, genotype, out) in genotypes {
        let mut args = vec!["train".to_string(), genotype.display().to_string()];
        args.extend(train.iter().cloned());
        outcomes.push((what, part(exe, what, out, TRAIN_DONE, &args, &resume_flags, budget.train_minutes, threads, &p.log)?));
    }
    Ok(outcomes)
}

/// One part: skipped when `out/done` exists, resumed when `out` has a checkpoint, else started
/// afresh (`args` is the `rdarts` command line without `--out`; `resume_flags` go to `rdarts
/// resume`).
#[allow(clippy::too_many_arguments)]
fn part(exe: &Path, what: &str, out: &Path, done: &str, args: &[String], resume_flags: &[String], minutes: Option<f64>, threads: Option<usize>, log: &Path) -> Result<Outcome> {
    if out.join(done).exists() {
        return Ok(Outcome::Done);
    }
    if crate::rundir::in_use(out) {
        return Ok(Outcome::Busy);
    }
    let resumable = out.join("run.json").exists() && crate::rundir::checkpoints(out).is_ok_and(|c| !c.is_empty());
    let mut cmd = Command::new(exe);
    if resumable {
        cmd.arg("resume").arg(out).args(resume_flags).arg("--quiet");
    } else {
        cmd.args(args).arg("--out").arg(out).arg("--overwrite");
    }
    if let Some(n) = threads.filter(|_| std::env::var_os("RAYON_NUM_THREADS").is_none()) {
        cmd.env("RAYON_NUM_THREADS", n.to_string());
    }
    let mut file = OpenOptions::new().create(true).append(true).open(log).with_context(|| format!("{}: cannot open", log.display()))?;
    use std::io::Write;
    writeln!(file, "== {what}: {} {}", if resumable { "resuming" } else { "starting" }, out.display())?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file.try_clone()?)
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    let limit = minutes.map(|m| Duration::from_secs_f64(60.0 * m));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if limit.is_some_and(|l| start.elapsed() > l) {
            child.kill()?;
            child.wait()?;
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let outcome = match status {
        None => Outcome::OverBudget,
        Some(s) if s.success() && out.join(done).exists() => Outcome::Finished,
        Some(_) => Outcome::Failed,
    };
    writeln!(file, "== {what}: {outcome:?} after {:.0} s", start.elapsed().as_secs_f64())?;
    Ok(outcome)
}
