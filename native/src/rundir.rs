//! The run directory: every artifact of a search, written atomically.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed and
/// synced, then renamed over the target. A crash leaves either the old or the new file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().context("path has no file name")?.to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> Result<()> {
        let mut f = File::create(&tmp).with_context(|| format!("{}: cannot create", tmp.display()))?;
        f.write_all(bytes).with_context(|| format!("{}: write failed", tmp.display()))?;
        f.sync_all().with_context(|| format!("{}: sync failed", tmp.display()))?;
        fs::rename(&tmp, path).with_context(|| format!("{}: cannot rename into place", path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A search's output directory.
pub struct RunDir {
    /// Its path.
    pub path: PathBuf,
    metrics: File,
}

/// Files a run appends to; a checkpoint records their lengths so that a resumed run can cut off
/// what an interrupted epoch had appended after its last checkpoint.
pub const APPENDED: [&str; 4] = ["metrics.jsonl", "genotypes.txt", "alphas.jsonl", "lambda.jsonl"];

/// Sub-directory of the checkpoints.
pub const CHECKPOINTS: &str = "checkpoints";

/// Everything a run directory may hold besides what the user put there (removed by --overwrite).
const ARTIFACTS: [&str; 11] = [
    "config.json", "run.json", "metrics.jsonl", "genotypes.txt", "alphas.jsonl", "lambda.jsonl",
    "genotype.json", "genotype.txt", "genotype_es.json", "genotype_es.txt", "report.html",
];

/// Marker file written when a run has finished.
pub const DONE_FILE: &str = "genotype.json";

impl RunDir {
    /// Creates (or, with `overwrite`, empties the artifacts of) a run directory. Refuses a directory
    /// that already holds a run unless `overwrite` is set.
    pub fn create(path: &Path, overwrite: bool) -> Result<Self> {
        if path.join("config.json").exists() && !overwrite {
            if path.join(DONE_FILE).exists() {
                bail!("{}: already holds a finished run; choose another --out or pass --overwrite", path.display());
            }
            bail!(
                "{}: already holds an unfinished run; continue it with `rdarts resume {}`, or choose another --out or pass --overwrite",
                path.display(),
                path.display()
            );
        }
        fs::create_dir_all(path).with_context(|| format!("{}: cannot create the run directory", path.display()))?;
        for f in ARTIFACTS {
            let _ = fs::remove_file(path.join(f));
        }
        let _ = fs::remove_dir_all(path.join(CHECKPOINTS));
        let _ = fs::remove_dir_all(path.join("plots"));
        Self::open(path)
    }

    /// Opens an existing run directory (to resume it).
    pub fn open(path: &Path) -> Result<Self> {
        let metrics = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path.join("metrics.jsonl"))
            .with_context(|| format!("{}: cannot open metrics.jsonl", path.display()))?;
        Ok(RunDir { path: path.to_path_buf(), metrics })
    }

    /// Current lengths of the appended files (0 for absent ones).
    pub fn lengths(&self) -> std::collections::BTreeMap<String, serde_json::Value> {
        APPENDED
            .iter()
            .map(|f| (f.to_string(), serde_json::json!(fs::metadata(self.path.join(f)).map_or(0, |m| m.len()))))
            .collect()
    }

    /// Cuts the appended files back to the lengths a checkpoint recorded.
    pub fn truncate_to(&self, lengths: &std::collections::BTreeMap<String, serde_json::Value>) -> Result<()> {
        for f in APPENDED {
            let len = lengths.get(f).and_then(|v| v.as_u64()).unwrap_or(0);
            let p = self.path.join(f);
            if let Ok(file) = OpenOptions::new().write(true).open(&p) {
                file.set_len(len).with_context(|| format!("{}: cannot truncate", p.display()))?;
            }
        }
        Ok(())
    }

    /// Writes checkpoint number `seq` atomically, then deletes all but the newest `keep`.
    pub fn save_checkpoint(&self, seq: u64, bytes: &[u8], keep: usize) -> Result<PathBuf> {
        let dir = self.path.join(CHECKPOINTS);
        fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
        let path = dir.join(format!("checkpoint-{seq:06}.safetensors"));
        write_atomic(&path, bytes)?;
        let all = self.checkpoints()?;
        for (_, old) in all.iter().take(all.len().saturating_sub(keep.max(1))) {
            let _ = fs::remove_file(old);
        }
        Ok(path)
    }

    /// The newest of `checkpoints` (as [`RunDir::checkpoints`] lists them) that `parse` (given the
    /// file's name and bytes) accepts, as (its index in `checkpoints`, the parsed value): an
    /// unreadable or rejected one is reported on standard error and the previous one tried. `None`
    /// when there is no checkpoint at all; an error when none is readable.
    pub fn newest_checkpoint<T>(
        &self,
        checkpoints: &[(u64, PathBuf)],
        mut parse: impl FnMut(&str, &[u8]) -> Result<T>,
    ) -> Result<Option<(usize, T)>> {
        if checkpoints.is_empty() {
            return Ok(None);
        }
        for (index, (_, path)) in checkpoints.iter().enumerate().rev() {
            let name = path.display().to_string();
            let parsed = fs::read(path).with_context(|| format!("{name}: cannot read")).and_then(|b| parse(&name, &b));
            match parsed {
                Ok(value) => return Ok(Some((index, value))),
                Err(e) => eprintln!("warning: {e:#}; {}", if index > 0 { "trying the previous one" } else { "no older checkpoint is left" }),
            }
        }
        bail!("{}: every checkpoint is unreadable", self.path.join(CHECKPOINTS).display())
    }

    /// The checkpoints present, oldest first, with their sequence numbers.
    pub fn checkpoints(&self) -> Result<Vec<(u64, PathBuf)>> {
        let dir = self.path.join(CHECKPOINTS);
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir(&dir) else { return Ok(out) };
        for e in entries {
            let e = e.with_context(|| format!("{}: cannot list", dir.display()))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(seq) = name.strip_prefix("checkpoint-").and_then(|n| n.strip_suffix(".safetensors")).and_then(|n| n.parse().ok()) {
                out.push((seq, e.path()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Writes a file of the run atomically.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.path.join(name), bytes)
    }

    /// Appends one JSON line to metrics.jsonl.
    pub fn metric(&mut self, value: &serde_json::Value) -> Result<()> {
        let mut line = serde_json::to_string(value)?;
        line.push('\n');
        self.metrics
            .write_all(line.as_bytes())
            .with_context(|| format!("{}: cannot append to metrics.jsonl", self.path.display()))?;
        Ok(())
    }

    /// Appends a line to a text file of the run (e.g. the per-epoch genotypes).
    pub fn append(&self, name: &str, line: &str) -> Result<()> {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path.join(name))
            .with_context(|| format!("{}: cannot open {name}", self.path.display()))?;
        writeln!(f, "{line}")?;
        Ok(())
    }
}
