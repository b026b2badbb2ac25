//! What rdarts may delete and write in a run directory (issue 11, items 1 and 5): it never writes
//! into a non-empty directory that is not one of its runs, starting over removes only the files
//! the run's manifest lists, one process at a time holds a run directory, temporary files of killed
//! processes are swept, and a resume never pads a file that came back shorter than recorded.

use std::fs;
use std::path::Path;
use std::process::Output;

use crate::{assert_clean_error, rdarts, walk};

fn tmp(name: &str) -> crate::Scratch {
    crate::scratch("rundir", name)
}

/// The tiny CPU search of the other command tests into `out`, with `extra` flags.
fn tiny(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    crate::run_tiny(&args)
}

fn assert_ok(out: &Output) {
    assert!(out.status.success(), "stdout {} stderr {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// A finished tiny search in `dir`, made unfinished (its genotype.json removed), as a killed one.
fn unfinished_run(dir: &Path) {
    assert_ok(&tiny(dir, &[]));
    fs::remove_file(dir.join("genotype.json")).unwrap();
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_foreign_folder_is_never_written_into() {
    let dir = tmp("foreign");
    // What a user may have there, including names rdarts itself uses.
    let theirs = ["notes.txt", "config.json", "metrics.jsonl", "checkpoints/keep.bin", "plots/figure.svg"];
    for f in theirs {
        write(&dir.join(f), f);
    }
    for flags in [&[][..], &["--overwrite"][..], &["--replace-finished"][..]] {
        assert_clean_error(&tiny(&dir, flags), "not an rdarts run directory");
    }
    let train = rdarts(&["train", crate::train::DARTS_V2, "--quiet", "--backend", "cpu", "--epochs", "1", "--out", dir.to_str().unwrap(), "--overwrite"]);
    assert_clean_error(&train, "not an rdarts run directory");
    let mut expected: Vec<String> = theirs.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(walk(&dir), expected, "nothing added, nothing removed");
    for f in theirs {
        assert_eq!(read(&dir.join(f)), f);
    }
    // An empty folder is fine.
    let empty = tmp("empty");
    fs::create_dir_all(&empty).unwrap();
    assert_ok(&tiny(&empty, &[]));
}

#[test]
fn starting_over_removes_only_what_the_manifest_lists() {
    let dir = tmp("over");
    // A DARTS-ES run writes genotype_es.*; the plain run that replaces it must not leave them.
    let es = ["--epochs", "3", "--hessian-every", "1", "--robust", "es", "--es-window", "1", "--es-delta", "1", "--es-factor", "1e-9", "--es-start-epoch", "0"];
    assert_ok(&tiny(&dir, &es));
    let manifest: serde_json::Value = serde_json::from_str(&read(&dir.join(".rdarts-run"))).unwrap();
    let listed: Vec<&str> = manifest["files"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for f in ["config.json", "run.json", "metrics.jsonl", "genotype.json", "alpha.json", "report.html", "plots/lambda.svg"] {
        assert!(listed.contains(&f), "{f} missing from the manifest {listed:?}");
    }
    assert!(listed.iter().any(|f| f.starts_with("checkpoints/checkpoint-")), "{listed:?}");
    for f in &listed {
        assert!(dir.join(f).is_file(), "listed but absent: {f}");
    }
    assert!(listed.contains(&"genotype_es.txt"), "the ES run wrote its own answer: {listed:?}");
    // The user's files beside ours, and a tampered manifest pointing outside the run.
    let outside = tmp("over-outside.txt");
    write(&outside, "keep me");
    for f in ["notes.txt", "plots/mine.svg", "checkpoints/mine.bin"] {
        write(&dir.join(f), "mine");
    }
    let mut m = manifest.clone();
    m["files"].as_array_mut().unwrap().push(serde_json::json!(format!("../{}", outside.file_name().unwrap().to_string_lossy())));
    m["files"].as_array_mut().unwrap().push(serde_json::json!("/etc/hostname"));
    fs::write(dir.join(".rdarts-run"), m.to_string()).unwrap();

    assert_clean_error(&tiny(&dir, &[]), "already holds a finished run");
    assert_ok(&tiny(&dir, &["--overwrite"]));
    for f in ["notes.txt", "plots/mine.svg", "checkpoints/mine.bin"] {
        assert_eq!(read(&dir.join(f)), "mine", "{f}");
    }
    assert_eq!(read(&outside), "keep me");
    assert!(!dir.join("genotype_es.txt").exists() && !dir.join("genotype_es.json").exists(), "the old run's files are gone");
    let metrics = read(&dir.join("metrics.jsonl"));
    assert_eq!(metrics.lines().filter(|l| l.contains("\"event\":\"epoch\"")).count(), 1, "one epoch: the new run's only");
}

#[test]
#[cfg(unix)]
fn starting_over_never_follows_a_link_out_of_the_run() {
    let dir = tmp("link");
    let outside = tmp("link-elsewhere");
    write(&outside.join("old.dot"), "keep me");
    assert_ok(&tiny(&dir, &[]));
    // `plots/` replaced by a link to the user's folder, and a manifest entry that would lead there.
    fs::remove_dir_all(dir.join("plots")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("plots")).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&read(&dir.join(".rdarts-run"))).unwrap();
    m["files"].as_array_mut().unwrap().push(serde_json::json!("plots/old.dot"));
    fs::write(dir.join(".rdarts-run"), m.to_string()).unwrap();
    // Starting over removes nothing through the link (the new run's plots still go where the
    // user's link points: that is where the user put plots/).
    assert_ok(&tiny(&dir, &["--overwrite"]));
    assert_eq!(read(&outside.join("old.dot")), "keep me");
}

#[test]
fn the_demo_replaces_a_finished_run_but_not_an_unfinished_one() {
    let dir = tmp("demo");
    assert_ok(&tiny(&dir, &["--replace-finished"]));
    assert_ok(&tiny(&dir, &["--replace-finished"]));
    // An interrupted run: no genotype.json yet.
    fs::remove_file(dir.join("genotype.json")).unwrap();
    let before = walk(&dir);
    let out = tiny(&dir, &["--replace-finished"]);
    assert_clean_error(&out, "rdarts resume");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--overwrite"), "says how to start over too");
    assert_eq!(walk(&dir), before, "nothing removed");
}

#[test]
fn one_process_at_a_time_holds_a_run_directory() {
    let dir = tmp("lock");
    unfinished_run(&dir);
    // This process holds the run, as a running search would.
    let lock = fs::OpenOptions::new().write(true).open(dir.join(".rdarts-lock")).unwrap();
    lock.lock().unwrap();
    let o = dir.to_str().unwrap();
    assert_clean_error(&tiny(&dir, &["--overwrite"]), "another rdarts process");
    assert_clean_error(&rdarts(&["resume", o, "--backend", "cpu", "--quiet"]), "another rdarts process");
    assert_clean_error(&rdarts(&["report", o]), "another rdarts process");
    assert!(dir.join("config.json").exists() && dir.join("checkpoints/checkpoint-000001.safetensors").exists(), "nothing removed");
    lock.unlock().unwrap();
    assert_ok(&rdarts(&["resume", o, "--backend", "cpu", "--quiet"]));
    assert!(dir.join("genotype.json").exists());
}

#[test]
fn temporary_files_of_killed_processes_are_swept_and_links_not_followed() {
    let dir = tmp("sweep");
    assert_ok(&tiny(&dir, &[]));
    let stale = [".config.json.tmp-4242", "checkpoints/.checkpoint-000001.safetensors.tmp-77", "plots/.loss.svg.tmp-9"];
    for f in stale {
        write(&dir.join(f), "half-written");
    }
    // Not ours: no process id after the infix.
    write(&dir.join(".notes.tmp-draft"), "mine");
    assert_ok(&rdarts(&["report", dir.to_str().unwrap()]));
    for f in stale {
        assert!(!dir.join(f).exists(), "{f} was not swept");
    }
    assert_eq!(read(&dir.join(".notes.tmp-draft")), "mine");

    // A link planted at the temporary name this process will use: the write replaces the link,
    // never the file it points to.
    #[cfg(unix)]
    {
        let victim = tmp("sweep-victim.txt");
        write(&victim, "untouched");
        let link = dir.join(format!(".x.json.tmp-{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        rdarts::rundir::write_atomic(&dir.join("x.json"), b"new").unwrap();
        assert_eq!(read(&victim), "untouched");
        assert_eq!(read(&dir.join("x.json")), "new");
        assert!(fs::symlink_metadata(&link).is_err(), "the link is gone");
    }
}

#[test]
fn a_file_shorter_than_its_checkpoint_says_is_an_error_not_padding() {
    let dir = tmp("short");
    unfinished_run(&dir);
    let metrics = dir.join("metrics.jsonl");
    let full = fs::read(&metrics).unwrap();
    fs::write(&metrics, &full[..10]).unwrap();
    let out = rdarts(&["resume", dir.to_str().unwrap(), "--backend", "cpu", "--quiet"]);
    assert_clean_error(&out, "metrics.jsonl: 10 bytes, shorter than");
    assert_eq!(fs::read(&metrics).unwrap(), &full[..10], "not padded");
}
