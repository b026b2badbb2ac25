//! Checkpoints and `rdarts resume`: a search killed (SIGKILL) at random points and resumed each
//! time ends with exactly the α and genotype of an uninterrupted run (CPU backend, same seed); no
//! checkpoint is ever found corrupt; a corrupt newest checkpoint falls back to the previous one; a
//! full disk or a read-only directory gives an error and leaves the previous checkpoint intact, and
//! the run resumes to the uninterrupted result once space returns.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rdarts_core::rng::Rng;
use rdarts_core::search::Snapshot;

use crate::BIN;

fn tmp(name: &str) -> crate::Scratch {
    crate::scratch("resume", name)
}

fn search_args(out: &Path) -> Vec<String> {
    [
        "search", "--quiet", "--backend", "cpu", "--epochs", "6", "--max-images", "64", "--init-channels", "4",
        "--layers", "3", "--nodes", "2", "--batch-size", "16", "--lanczos-steps", "3", "--space", "s4",
        "--drop-path-prob", "0.2", "--downsample", "1", "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([out.display().to_string()])
    .collect()
}

fn spawn(args: &[String]) -> Child {
    Command::new(BIN).args(args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start rdarts")
}

fn finish(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run rdarts")
}

fn checkpoints(run: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(run.join("checkpoints"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "safetensors")).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn assert_all_checkpoints_intact(run: &Path) {
    for p in checkpoints(run) {
        let bytes = std::fs::read(&p).unwrap();
        Snapshot::from_bytes(&p.display().to_string(), &bytes).unwrap_or_else(|e| panic!("corrupt checkpoint after a kill: {e}"));
    }
}

/// (epoch, iteration, valid loss) of every epoch in metrics.jsonl, and the final α and genotype.
fn outcome(run: &Path) -> (Vec<(u64, u64, f64)>, String, String) {
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let epochs = metrics
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "epoch")
        .map(|e| (e["epoch"].as_u64().unwrap(), e["iteration"].as_u64().unwrap(), e["valid_loss"].as_f64().unwrap()))
        .collect();
    (epochs, std::fs::read_to_string(run.join("alpha.json")).unwrap(), std::fs::read_to_string(run.join("genotype.txt")).unwrap())
}

fn wait_for(cond: impl Fn() -> bool, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn killed_and_resumed_search_equals_an_uninterrupted_one() {
    let reference = tmp("reference");
    let started = Instant::now();
    let out = Command::new(BIN).args(search_args(&reference)).output().unwrap();
    // An upper bound on one epoch under this machine's present load (the run has 6; start-up and
    // the final report are counted in too).
    let epoch = started.elapsed() / 6;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = outcome(&reference);
    assert_eq!(expected.0.len(), 6);

    let run = tmp("killed");
    let run_s = run.display().to_string();
    // Resumed runs read their steps in groups of 3 (results do not depend on it).
    let resume_args: Vec<String> = ["resume", "--quiet", "--backend", "cpu", "--read-every", "3", &run_s].iter().map(|s| s.to_string()).collect();
    let newest = || checkpoints(&run).last().cloned();
    let mut rng = Rng::new(42);
    let mut child = spawn(&search_args(&run));
    // The newest checkpoint when the running process started.
    let mut from = None;
    let mut kills = 0;
    loop {
        // Each process makes progress before it is killed: it writes a checkpoint newer than the one
        // it started from. Then it dies at a random point within about the next epoch. Kill points
        // are thus spread over the run, and a run of 6 epochs is interrupted more than once however
        // fast or loaded the machine is (a fixed sleep is not: a fast search can end before it).
        let waiting = Instant::now();
        let mut status = child.try_wait().unwrap();
        while status.is_none() && newest() <= from {
            assert!(waiting.elapsed() < Duration::from_secs(120), "no new checkpoint within 2 minutes");
            std::thread::sleep(Duration::from_millis(10));
            status = child.try_wait().unwrap();
        }
        if status.is_none() {
            std::thread::sleep(epoch.mul_f64(rng.uniform()));
            status = child.try_wait().unwrap();
        }
        if let Some(status) = status {
            assert!(status.success(), "rdarts failed: {}", String::from_utf8_lossy(&child.wait_with_output().unwrap().stderr));
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        assert_all_checkpoints_intact(&run);
        from = newest();
        eprintln!("kill {kills}: newest checkpoint {:?}", from.as_ref().and_then(|p| p.file_name()));
        child = spawn(&resume_args);
        if kills >= 4 {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            break;
        }
    }
    eprintln!("killed {kills} times");
    assert!(kills >= 2, "the test should interrupt the search at least twice (killed {kills} times)");
    assert_all_checkpoints_intact(&run);
    let got = outcome(&run);
    assert_eq!(got.0, expected.0, "epoch records (each epoch once, same losses)");
    assert_eq!(got.1, expected.1, "final α");
    assert_eq!(got.2, expected.2, "final genotype");
    let again = finish(&resume_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("has finished"));

    // A damaged newest checkpoint: resume says so, takes the previous one, and still ends equal.
    let run2 = tmp("corrupt");
    let mut child = spawn(&search_args(&run2));
    assert!(wait_for(|| checkpoints(&run2).len() >= 2, Duration::from_secs(120)), "no second checkpoint");
    child.kill().unwrap();
    child.wait().unwrap();
    // One bit of a weight's lowest mantissa byte: every value stays finite and the file parses, so
    // only the checksum can tell.
    let newest = checkpoints(&run2).last().unwrap().clone();
    let mut bytes = std::fs::read(&newest).unwrap();
    let data = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    bytes[data + 4 * 17] ^= 1;
    std::fs::write(&newest, bytes).unwrap();
    let out = finish(&["resume", "--quiet", "--backend", "cpu", run2.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let name = newest.file_name().unwrap().to_string_lossy().to_string();
    assert!(stderr.contains("warning: ") && stderr.contains(&name) && stderr.contains("trying the previous one") && stderr.contains("checksum mismatch"), "{stderr}");
    assert_eq!(outcome(&run2), expected, "resumed from the previous checkpoint");
}

#[test]
fn a_checkpoint_for_another_configuration_is_refused() {
    let run = tmp("foreign");
    let mut child = spawn(&search_args(&run));
    assert!(wait_for(|| !checkpoints(&run).is_empty(), Duration::from_secs(120)));
    child.kill().unwrap();
    child.wait().unwrap();
    let cfg = run.join("config.json");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("\"arch_lr\": 0.01", "\"arch_lr\": 0.02");
    std::fs::write(&cfg, text).unwrap();
    let out = finish(&["resume", "--backend", "cpu", run.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("written for another configuration"), "{stderr}");
    // A directory that is not a run.
    let out = finish(&["resume", std::env::temp_dir().to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("run.json: cannot read"));
}

/// A small tmpfs: the first checkpoint fits, what follows does not. Needs `mount` (root in a container that
/// allows it, as here and in CI); elsewhere the test says it was skipped.
#[test]
fn a_full_or_read_only_disk_is_an_error_and_keeps_the_previous_checkpoint() {
    let mnt = tmp("tmpfs");
    std::fs::create_dir_all(&mnt).unwrap();
    let mount = Command::new("mount").args(["-t", "tmpfs", "-o", "size=150k", "tmpfs", mnt.to_str().unwrap()]).output();
    if !mount.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: cannot mount a tmpfs here ({mount:?})");
        return;
    }
    let run = mnt.join("run");
    let out = Command::new(BIN).args(search_args(&run)).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let cps = checkpoints(&run);
    let umount = || Command::new("umount").arg(&mnt).status();
    if out.status.success() || cps.len() != 1 {
        umount().ok();
        panic!("expected a failure after the first checkpoint; checkpoints {cps:?}; stderr {stderr}");
    }
    // The disk fills after the first checkpoint, while the plots or the second checkpoint are written.
    assert!(stderr.starts_with("error: ") && stderr.contains("No space left"), "{stderr}");
    assert_all_checkpoints_intact(&run);
    let leftovers: Vec<_> = std::fs::read_dir(run.join("checkpoints")).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind: {leftovers:?}");
    // Read-only: resuming fails cleanly, the checkpoint stays.
    Command::new("mount").args(["-o", "remount,ro", mnt.to_str().unwrap()]).status().unwrap();
    let out = finish(&["resume", "--quiet", "--backend", "cpu", run.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_all_checkpoints_intact(&run);
    let failed = !out.status.success() && stderr.starts_with("error: ") && stderr.contains("Read-only");
    // Space returns: the run resumes and ends as an uninterrupted one does.
    let grown = Command::new("mount").args(["-o", "remount,rw,size=64m", mnt.to_str().unwrap()]).status().unwrap();
    let resumed = finish(&["resume", "--quiet", "--backend", "cpu", run.to_str().unwrap()]);
    let got = resumed.status.success().then(|| outcome(&run));
    umount().unwrap();
    assert!(failed, "{stderr}");
    assert!(grown.success() && resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let reference = tmp("tmpfs-reference");
    let out = Command::new(BIN).args(search_args(&reference)).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(got.unwrap(), outcome(&reference), "resumed after the disk filled = uninterrupted");
}

/// Deterministic fault injection (`RDARTS_FAULT_ABORT_AT`): the search is aborted at chosen write
/// steps — every step of writing the second checkpoint and the manifest entry before it, the
/// first steps of a new run, and random others — and each time resumed (or, aborted before its
/// first checkpoint, started over with `--overwrite`); every time it ends with exactly the
/// uninterrupted run's epochs, α and genotype.
#[test]
fn a_search_aborted_at_any_write_step_resumes_to_the_same_result() {
    // The uninterrupted run, listing its write steps as it goes (listing only prints).
    let reference = tmp("fault-reference");
    let steps = crate::run_listing_write_steps(&search_args(&reference));
    let expected = outcome(&reference);
    assert!(steps.len() > 100, "{} write steps", steps.len());
    let second = steps.iter().position(|s| s.starts_with("checkpoint-000002")).expect("a second checkpoint");
    let mut points: Vec<usize> = vec![1, 2, 3, 4];
    points.extend((second - 4..second + 5).map(|i| i + 1)); // the manifest entry, the checkpoint, the pruning
    let mut rng = Rng::new(7);
    points.extend((0..6).map(|_| 1 + rng.below(steps.len())));
    points.sort();
    points.dedup();

    for &n in &points {
        let run = tmp(&format!("fault-{n}"));
        let out = Command::new(BIN).args(search_args(&run)).env("RDARTS_FAULT_ABORT_AT", n.to_string()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(&format!("abort at write step {n} ")), "step {n}: {stderr}");
        assert_all_checkpoints_intact(&run);
        let r = &run.display().to_string();
        let again = if checkpoints(&run).is_empty() {
            let mut args = search_args(&run);
            args.push("--overwrite".into());
            Command::new(BIN).args(args).output().unwrap()
        } else {
            finish(&["resume", "--quiet", "--backend", "cpu", r])
        };
        assert!(again.status.success(), "step {n} ({}): {}", steps[n - 1], String::from_utf8_lossy(&again.stderr));
        assert_eq!(outcome(&run), expected, "aborted at step {n} ({}), then resumed", steps[n - 1]);
    }
}
