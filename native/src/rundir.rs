//! The run directory: every artifact of a search, written atomically.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, created
/// exclusively (never through a link someone left at its name), flushed and synced, then renamed
/// over the target, and the directory synced so that the rename survives a power cut. A crash
/// leaves either the old or the new file, and at worst a temporary file that the next
/// [`RunDir::open`] sweeps.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().context("path has no file name")?.to_string_lossy();
    let tmp = dir.join(format!(".{name}{TMP_INFIX}{}", std::process::id()));
    let create = || OpenOptions::new().write(true).create_new(true).open(&tmp);
    let result = (|| -> Result<()> {
        // A file of our own process id can only be left by a killed process that had it before us.
        let mut f = match create() {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                fs::remove_file(&tmp).with_context(|| format!("{}: stale temporary file, cannot remove", tmp.display()))?;
                create()
            }
            other => other,
        }
        .with_context(|| format!("{}: cannot create", tmp.display()))?;
        let (head, tail) = bytes.split_at(bytes.len() / 2);
        f.write_all(head).with_context(|| format!("{}: write failed", tmp.display()))?;
        fault_point(|| format!("{name}: half written"));
        f.write_all(tail).with_context(|| format!("{}: write failed", tmp.display()))?;
        fault_point(|| format!("{name}: written, not synced"));
        f.sync_all().with_context(|| format!("{}: sync failed", tmp.display()))?;
        fault_point(|| format!("{name}: synced, not renamed"));
        fs::rename(&tmp, path).with_context(|| format!("{}: cannot rename into place", path.display()))?;
        fault_point(|| format!("{name}: renamed, directory not synced"));
        sync_dir(dir).with_context(|| format!("{}: cannot sync the directory", dir.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Environment variable of deterministic fault injection: with `RDARTS_FAULT_ABORT_AT=N`, the
/// process aborts at the N-th write step (see [`fault_point`]); with `log`, it lists every step
/// on standard error (`fault point N: …`). For the crash tests.
pub const FAULT_VAR: &str = "RDARTS_FAULT_ABORT_AT";

/// A step of writing a run's files where a crash is possible: inside writing a file, between
/// writing and syncing it, between the rename and the directory's sync, after an append, between a
/// checkpoint and the pruning of older ones. With [`FAULT_VAR`] set to N the process aborts at the
/// N-th such step, as a kill would stop it (no destructors, nothing flushed); unset — always,
/// outside the tests — it costs one relaxed atomic increment.
pub fn fault_point(step: impl FnOnce() -> String) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static AT: OnceLock<Option<String>> = OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed) + 1;
    match AT.get_or_init(|| std::env::var(FAULT_VAR).ok()).as_deref() {
        None => {}
        Some("log") => eprintln!("fault point {n}: {}", step()),
        Some(at) if at.parse() == Ok(n) => {
            eprintln!("fault injection: abort at write step {n} ({})", step());
            std::process::abort();
        }
        Some(_) => {}
    }
}

/// What a temporary file's name holds between the target's name and the writer's process id.
const TMP_INFIX: &str = ".tmp-";

/// Makes a rename or a new file in `dir` durable (on Unix; elsewhere directories cannot be opened
/// as files and the rename is all there is).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A search's or training run's output directory, held by this process.
///
/// What rdarts promises about it (README, "Reliability"): it writes only into a new or empty
/// directory, or into one of its own runs; it records every file it writes in the run's manifest
/// ([`MARKER`]) before writing it, and starting over removes only the files listed there; one
/// process at a time holds a run directory (an advisory lock on [`LOCK`]); appended files are
/// synced before a checkpoint records their lengths, so every recorded length is on disk.
pub struct RunDir {
    /// Its path.
    pub path: PathBuf,
    /// metrics.jsonl, opened for appending on first use.
    metrics: Option<File>,
    manifest: BTreeSet<String>,
    /// Held (locked) as long as the run directory is.
    _lock: File,
}

/// Files a run appends to; a checkpoint records their lengths so that a resumed run can cut off
/// what an interrupted epoch had appended after its last checkpoint.
pub const APPENDED: [&str; 4] = ["metrics.jsonl", "genotypes.txt", "alphas.jsonl", "lambda.jsonl"];

/// Sub-directory of the checkpoints.
pub const CHECKPOINTS: &str = "checkpoints";

/// The run's marker and manifest: JSON listing every file rdarts wrote in the run directory.
pub const MARKER: &str = ".rdarts-run";

/// The file whose advisory lock says that a process holds the run directory.
pub const LOCK: &str = ".rdarts-lock";

/// Whether another process holds the run directory at `path` now (its [`LOCK`] is locked); a
/// directory without one is free.
pub fn in_use(path: &Path) -> bool {
    File::open(path.join(LOCK)).is_ok_and(|f| matches!(f.try_lock(), Err(fs::TryLockError::WouldBlock)))
}

/// What runs written before the manifest existed hold, by name: what such a run directory is
/// taken to have written when it is first opened (it is recognised by its config.json and run.json).
const LEGACY_FILES: [&str; 15] = [
    "config.json", "run.json", "metrics.jsonl", "genotypes.txt", "alphas.jsonl", "lambda.jsonl", "alpha.json",
    "genotype.json", "genotype.txt", "genotype_es.json", "genotype_es.txt", "report.html", "result.json",
    "plots/curves.svg", "plots/lambda.svg",
];

/// What [`RunDir::create`] does when the directory already holds a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Refuse, saying how to resume or replace it.
    Refuse,
    /// Start over if the run has finished; refuse an unfinished one (the demo's `./run.sh`).
    ReplaceFinished,
    /// Start over (`--overwrite`): remove the files the run's manifest lists, nothing else.
    Replace,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Manifest {
    rdarts_run: u32,
    files: BTreeSet<String>,
}

impl RunDir {
    /// Creates a run directory at `path`, or starts over in one of rdarts' own runs there as
    /// `existing` says; `done` names the file a finished run of this kind has. Refuses a
    /// non-empty directory that is not an rdarts run, whatever `existing` says.
    pub fn create(path: &Path, existing: Existing, done: &str) -> Result<Self> {
        let shown = path.display();
        if path.exists() {
            if !path.is_dir() {
                bail!("{shown}: exists and is not a directory; choose another --out");
            }
            let is_run = is_run_dir(path);
            // Empty but for what a process killed while creating a run leaves (its lock file and
            // temporary files, swept below): a crash at any point must leave a directory rdarts
            // can start over in.
            let empty = fs::read_dir(path)
                .with_context(|| format!("{shown}: cannot list"))?
                .flatten()
                .all(|e| e.file_name().to_str().is_some_and(|n| n == LOCK || is_temporary(n)) && e.file_type().is_ok_and(|t| t.is_file()));
            if !is_run && !empty {
                bail!("{shown}: not empty and not an rdarts run directory; rdarts writes only into a new or empty directory or one of its own runs: choose another --out");
            }
            if is_run {
                let finished = path.join(done).exists();
                match (existing, finished) {
                    (Existing::Replace, _) | (Existing::ReplaceFinished, true) => {}
                    (Existing::Refuse, true) => bail!("{shown}: already holds a finished run; choose another --out or pass --overwrite"),
                    (_, false) => bail!(
                        "{shown}: already holds an unfinished run; continue it with `rdarts resume {shown}`, or start it over with --overwrite, or choose another --out"
                    ),
                }
            }
        }
        fs::create_dir_all(path).with_context(|| format!("{shown}: cannot create the run directory"))?;
        let mut run = Self::hold(path)?;
        for f in std::mem::take(&mut run.manifest) {
            if !through_real_dirs(path, &f) {
                continue;
            }
            match fs::remove_file(path.join(&f)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("{}: cannot remove", path.join(&f).display()));
                }
                _ => {}
            }
        }
        // Sub-directories go only if nothing of the user's is left in them.
        for sub in [CHECKPOINTS, "plots"] {
            let _ = fs::remove_dir(path.join(sub));
        }
        run.save_manifest()?;
        Ok(run)
    }

    /// Opens an existing run directory (to resume it or to add a report to it).
    pub fn open(path: &Path) -> Result<Self> {
        if !is_run_dir(path) {
            bail!("{}: not an rdarts run directory (no {MARKER}, or config.json and run.json)", path.display());
        }
        let run = Self::hold(path)?;
        if !path.join(MARKER).exists() {
            // A run from before the manifest: adopt it under the names rdarts gave its files.
            run.save_manifest()?;
        }
        Ok(run)
    }

    /// Takes the lock of the run directory at `path` (which exists), sweeps temporary files that
    /// killed processes left, and reads the manifest (for a run that predates it, the files rdarts
    /// wrote by name; nothing is saved here).
    fn hold(path: &Path) -> Result<Self> {
        let shown = path.display();
        let lock_path = path.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("{}: cannot open", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => bail!(
                "{shown}: another rdarts process is using this run directory (it holds {LOCK}); wait for it to finish or choose another directory"
            ),
            Err(fs::TryLockError::Error(e)) => return Err(e).with_context(|| format!("{}: cannot lock", lock_path.display())),
        }
        for dir in [path.to_path_buf(), path.join(CHECKPOINTS), path.join("plots")] {
            sweep_temporaries(&dir)?;
        }
        let marker = path.join(MARKER);
        let manifest = if marker.exists() {
            let text = fs::read_to_string(&marker).with_context(|| format!("{}: cannot read", marker.display()))?;
            let m: Manifest = serde_json::from_str(&text).with_context(|| format!("{}: not an rdarts manifest", marker.display()))?;
            m.files.into_iter().filter(|f| is_plain_relative(f)).collect()
        } else {
            legacy_files(path)
        };
        Ok(RunDir { path: path.to_path_buf(), metrics: None, manifest, _lock: lock })
    }

    fn save_manifest(&self) -> Result<()> {
        let m = Manifest { rdarts_run: 1, files: self.manifest.clone() };
        write_atomic(&self.path.join(MARKER), serde_json::to_string_pretty(&m)?.as_bytes())
    }

    /// Adds `name` (relative to the run directory) to the manifest, before the file is written.
    pub fn record(&mut self, name: &str) -> Result<()> {
        if self.manifest.insert(name.to_string()) {
            self.save_manifest()?;
        }
        Ok(())
    }

    /// Current lengths of the appended files (0 for absent ones), each synced to disk first so
    /// that the lengths a checkpoint records are true after a power cut.
    pub fn lengths(&self) -> Result<std::collections::BTreeMap<String, serde_json::Value>> {
        let mut out = std::collections::BTreeMap::new();
        for f in APPENDED {
            let p = self.path.join(f);
            let len = match File::open(&p) {
                Ok(file) => {
                    file.sync_all().with_context(|| format!("{}: sync failed", p.display()))?;
                    file.metadata().with_context(|| format!("{}: cannot stat", p.display()))?.len()
                }
                Err(_) => 0,
            };
            out.insert(f.to_string(), serde_json::json!(len));
        }
        Ok(out)
    }

    /// Cuts the appended files back to the lengths a checkpoint recorded. A file shorter than its
    /// recorded length lost lines the checkpoint counts on (it was changed outside rdarts): an
    /// error naming the file and both lengths, never padding.
    pub fn truncate_to(&self, lengths: &std::collections::BTreeMap<String, serde_json::Value>) -> Result<()> {
        for f in APPENDED {
            let len = lengths.get(f).and_then(|v| v.as_u64()).unwrap_or(0);
            let p = self.path.join(f);
            let Ok(file) = OpenOptions::new().write(true).open(&p) else {
                if len > 0 {
                    bail!("{}: missing, but the checkpoint recorded {len} bytes of it; the run directory was changed outside rdarts", p.display());
                }
                continue;
            };
            let found = file.metadata().with_context(|| format!("{}: cannot stat", p.display()))?.len();
            if found < len {
                bail!("{}: {found} bytes, shorter than the {len} bytes the checkpoint recorded; the run directory was changed outside rdarts", p.display());
            }
            file.set_len(len).with_context(|| format!("{}: cannot truncate", p.display()))?;
            file.sync_all().with_context(|| format!("{}: sync failed", p.display()))?;
        }
        Ok(())
    }

    /// Writes checkpoint number `seq` atomically, then deletes all but the newest `keep`.
    pub fn save_checkpoint(&mut self, seq: u64, bytes: &[u8], keep: usize) -> Result<PathBuf> {
        let dir = self.path.join(CHECKPOINTS);
        fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
        let name = format!("{CHECKPOINTS}/checkpoint-{seq:06}.safetensors");
        self.record(&name)?;
        let path = self.path.join(&name);
        write_atomic(&path, bytes)?;
        fault_point(|| format!("{name}: written, older checkpoints not pruned"));
        let all = checkpoints(&self.path)?;
        let mut forgot = false;
        for (_, old) in all.iter().take(all.len().saturating_sub(keep.max(1))) {
            if fs::remove_file(old).is_ok() {
                let listed = format!("{CHECKPOINTS}/{}", old.file_name().expect("listed files have names").to_string_lossy());
                forgot |= self.manifest.remove(&listed);
            }
        }
        if forgot {
            self.save_manifest()?;
        }
        Ok(path)
    }

    /// Writes a file of the run atomically (`name` relative to the run directory, `/`-separated;
    /// its directory is created).
    pub fn write(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        self.record(name)?;
        let path = self.path.join(name);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
        }
        write_atomic(&path, bytes)
    }

    /// The run's file `name`, recorded in the manifest and opened for appending.
    fn open_appended(&mut self, name: &str) -> Result<File> {
        self.record(name)?;
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path.join(name))
            .with_context(|| format!("{}: cannot open {name}", self.path.display()))
    }

    /// Appends one JSON line to metrics.jsonl.
    pub fn metric(&mut self, value: &serde_json::Value) -> Result<()> {
        let mut line = serde_json::to_string(value)?;
        line.push('\n');
        if self.metrics.is_none() {
            self.metrics = Some(self.open_appended("metrics.jsonl")?);
        }
        let metrics = self.metrics.as_mut().expect("opened above");
        metrics.write_all(line.as_bytes()).with_context(|| format!("{}: cannot append to metrics.jsonl", self.path.display()))?;
        fault_point(|| "metrics.jsonl: line appended".to_string());
        Ok(())
    }

    /// Appends a line to a text file of the run (e.g. the per-epoch genotypes).
    pub fn append(&mut self, name: &str, line: &str) -> Result<()> {
        let mut f = self.open_appended(name)?;
        writeln!(f, "{line}").with_context(|| format!("{}: cannot append to {name}", self.path.display()))?;
        fault_point(|| format!("{name}: line appended"));
        Ok(())
    }
}

/// The newest of `checkpoints` of the run directory `dir` (as [`checkpoints`] lists them) that `parse` (given the
/// file's name and bytes) accepts, as (its index in `checkpoints`, the parsed value): an
/// unreadable or rejected one is reported on standard error and the previous one tried. `None`
/// when there is no checkpoint at all; an error when none is readable.
pub fn newest_checkpoint<T>(
    dir: &Path,
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
    bail!("{}: no checkpoint is intact and continues this run (the warnings above say why)", dir.join(CHECKPOINTS).display())
}

/// The checkpoints in the run directory `dir`, oldest first, with their sequence numbers.
pub fn checkpoints(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let dir = dir.join(CHECKPOINTS);
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

/// Whether `path` holds an rdarts run: its manifest, or (a run from before the manifest) both
/// config.json and run.json.
pub fn is_run_dir(path: &Path) -> bool {
    path.join(MARKER).is_file() || (path.join("config.json").is_file() && path.join("run.json").is_file())
}

/// Whether a manifest entry is a plain relative path inside the run directory (no `..`, no root):
/// a tampered manifest cannot make rdarts remove anything outside its run.
fn is_plain_relative(name: &str) -> bool {
    let p = Path::new(name);
    !name.is_empty() && p.components().all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// Whether every directory between `root` and its entry `rel` is a real directory, not a link:
/// a link put in place of `plots/` or `checkpoints/` must not lead a removal out of the run.
fn through_real_dirs(root: &Path, rel: &str) -> bool {
    Path::new(rel)
        .ancestors()
        .skip(1)
        .filter(|a| !a.as_os_str().is_empty())
        .all(|a| fs::symlink_metadata(root.join(a)).is_ok_and(|m| m.is_dir()))
}

/// Whether `name` is a temporary file of [`write_atomic`]: `.NAME.tmp-PID`.
fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.rsplit_once(TMP_INFIX).is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Removes the temporary files of [`write_atomic`] in `dir` (left by killed processes; the caller
/// holds the run's lock, so no live rdarts is writing them).
fn sweep_temporaries(dir: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else { return Ok(()) };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if is_temporary(&name) && e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()) {
            fs::remove_file(e.path()).with_context(|| format!("{}: stale temporary file, cannot remove", e.path().display()))?;
        }
    }
    Ok(())
}

/// The files a run written before the manifest existed holds, by the names rdarts gave them.
fn legacy_files(path: &Path) -> BTreeSet<String> {
    let mut files: BTreeSet<String> = LEGACY_FILES.iter().filter(|f| path.join(f).is_file()).map(|f| f.to_string()).collect();
    for sub in [CHECKPOINTS, "plots"] {
        let Ok(entries) = fs::read_dir(path.join(sub)) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let ours = if sub == CHECKPOINTS {
                name.starts_with("checkpoint-") && name.ends_with(".safetensors")
            } else {
                name.ends_with(".svg") || name.ends_with(".dot")
            };
            if ours && e.file_type().is_ok_and(|t| t.is_file()) {
                files.insert(format!("{sub}/{name}"));
            }
        }
    }
    files
}
