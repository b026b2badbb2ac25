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

/// Marker file written when a run has finished.
pub const DONE_FILE: &str = "genotype.json";

impl RunDir {
    /// Creates (or, with `overwrite`, empties the artifacts of) a run directory. Refuses a directory
    /// that already holds a run unless `overwrite` is set.
    pub fn create(path: &Path, overwrite: bool) -> Result<Self> {
        if path.join("config.json").exists() && !overwrite {
            bail!(
                "{}: already holds a run (config.json exists); choose another --out or pass --overwrite",
                path.display()
            );
        }
        fs::create_dir_all(path).with_context(|| format!("{}: cannot create the run directory", path.display()))?;
        for f in ["metrics.jsonl", "genotype.json", "genotype.txt", "genotypes.txt"] {
            let _ = fs::remove_file(path.join(f));
        }
        let metrics = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path.join("metrics.jsonl"))
            .with_context(|| format!("{}: cannot open metrics.jsonl", path.display()))?;
        Ok(RunDir { path: path.to_path_buf(), metrics })
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
