//! The SLURM executor: the unfinished runs as one job array, each array task `rdarts sweep task`
//! (which resumes a preempted or failed run where it stopped).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;

/// SLURM settings of `rdarts sweep --slurm`.
#[derive(Args, Debug, Default)]
pub struct SlurmArgs {
    /// Partition (`#SBATCH --partition`).
    #[arg(long)]
    partition: Option<String>,
    /// Time limit per task (`#SBATCH --time`, e.g. 2:00:00).
    #[arg(long)]
    time: Option<String>,
    /// GPUs per task (`#SBATCH --gpus-per-task`).
    #[arg(long)]
    gpus_per_task: Option<u32>,
    /// CPUs per task (`#SBATCH --cpus-per-task`).
    #[arg(long)]
    cpus_per_task: Option<u32>,
    /// Tasks running at once (the array's `%N`).
    #[arg(long)]
    max_running: Option<usize>,
    /// Further `#SBATCH` options, each as written after `#SBATCH` (repeatable).
    #[arg(long = "sbatch", value_name = "OPTION")]
    extra: Vec<String>,
    /// Wait for the whole array to end (`sbatch --wait`).
    #[arg(long)]
    wait: bool,
}

/// The batch script of the array over the runs `pending` (indices into sweep.json).
pub fn script(dir: &Path, pending: &[usize], a: &SlurmArgs) -> Result<String> {
    // Each value fills one line of the script: a line break would start a line of its own.
    let texts = [("--partition", a.partition.as_deref()), ("--time", a.time.as_deref())].into_iter().chain(a.extra.iter().map(|e| ("--sbatch", Some(e.as_str()))));
    for (flag, v) in texts {
        if let Some(v) = v.filter(|v| v.contains(['\n', '\r'])) {
            bail!("{flag} '{}': one value, without line breaks", v.escape_debug());
        }
    }
    let dir = std::path::absolute(dir)?;
    let exe = std::env::current_exe().context("cannot find the rdarts executable")?;
    let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
    let indices: Vec<String> = pending.iter().map(usize::to_string).collect();
    let name = dir.file_name().map_or("sweep".into(), |n| n.to_string_lossy().into_owned());
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        format!("#SBATCH --job-name=rdarts-{}", name.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_', "_")),
        format!("#SBATCH --array={}{}", indices.join(","), a.max_running.map_or(String::new(), |n| format!("%{n}"))),
        format!("#SBATCH --output={}/logs/slurm-%A_%a.out", dir.display()),
        "#SBATCH --open-mode=append".to_string(),
    ];
    let opt = |k: &str, v: Option<String>| v.map(|v| format!("#SBATCH --{k}={v}"));
    lines.extend(opt("partition", a.partition.clone()));
    lines.extend(opt("time", a.time.clone()));
    lines.extend(opt("gpus-per-task", a.gpus_per_task.map(|n| n.to_string())));
    lines.extend(opt("cpus-per-task", a.cpus_per_task.map(|n| n.to_string())));
    lines.extend(a.extra.iter().map(|e| format!("#SBATCH {e}")));
    lines.push("# Each task searches, resumes or skips its run (and its trainings): re-submitting is safe.".into());
    lines.push(format!("exec {} sweep task {} --index \"$SLURM_ARRAY_TASK_ID\"", quote(&exe), quote(&dir)));
    Ok(lines.join("\n") + "\n")
}

/// Writes the batch script into `dir/slurm/` and submits it with `sbatch`.
pub fn submit(dir: &Path, pending: &[usize], a: &SlurmArgs) -> Result<()> {
    let body = script(dir, pending, a)?;
    std::fs::create_dir_all(dir.join("logs"))?;
    std::fs::create_dir_all(dir.join("slurm"))?;
    let path = dir.join("slurm").join("array.sbatch");
    crate::rundir::write_atomic(&path, body.as_bytes())?;
    let mut cmd = Command::new("sbatch");
    cmd.arg("--parsable");
    if a.wait {
        cmd.arg("--wait");
    }
    let out = cmd.arg(&path).output().context("cannot run sbatch (is SLURM installed and on PATH?)")?;
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // With --wait, sbatch exits non-zero when a task failed, after printing the array's id.
    let submitted = out.status.success() || (a.wait && !id.is_empty());
    if !submitted {
        bail!("sbatch {} failed: {}", path.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    println!("submitted job array {id} ({} tasks; script {})", pending.len(), path.display());
    if a.wait {
        if !out.status.success() {
            bail!("job array {id}: some tasks failed (logs in {}); submit again to resume them", dir.join("logs").display());
        }
        println!("job array {id} finished; `rdarts sweep report {}` builds the tables", dir.display());
    } else {
        println!("when it has ended, run the same command again to resubmit any run that did not finish");
    }
    Ok(())
}
