//! `rdarts sweep`: grid expansion, the local pool killed and run again, the report.

use std::path::Path;
use std::process::Command;

use crate::{BIN, assert_clean_error, rdarts, scratch, walk};

const TINY: &str = r#"
[search]
backend = "cpu"
epochs = 3
max-images = 64
init-channels = 4
layers = 3
nodes = 2
batch-size = 16
lanczos-steps = 3
hessian-every = 1

[grid]
space = ["s2"]
seed = [1, 2]

[[method]]
name = "darts"

[train]
epochs = 1
init-channels = 4
layers = 3
max-images = 64
test-images = 64
"#;

/// The run names `--dry-run` lists for the grid `text`.
fn names(dir: &Path, text: &str) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    let grid = dir.join("grid.toml");
    std::fs::write(&grid, text).unwrap();
    let out = rdarts(&["sweep", grid.to_str().unwrap(), "--out", dir.join("sweep").to_str().unwrap(), "--dry-run"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().skip(1).filter(|l| !l.starts_with(' ') && !l.is_empty()).map(String::from).collect()
}

#[test]
fn grid_names_are_stable_and_a_changed_setting_is_a_new_run() {
    let dir = scratch("sweep", "grid");
    let grid = TINY.replace("[[method]]\nname = \"darts\"", "[[method]]\nname = \"darts\"\n[[method]]\nname = \"rdarts-l2\"\nrdarts-l2 = 2")
        .replace("space = [\"s2\"]", "space = [\"s2\", \"s3\"]");
    let a = names(&dir, &grid);
    assert_eq!(a.len(), 2 * 2 * 2, "{a:?}");
    assert_eq!(a.iter().collect::<std::collections::BTreeSet<_>>().len(), a.len(), "names are unique: {a:?}");
    assert!(a[0].starts_with("darts-seed=1-space=s2-"), "{a:?}");
    assert_eq!(names(&dir, &grid), a, "the same grid gives the same names");
    // One more seed: the old runs keep their names.
    let more = names(&dir, &grid.replace("seed = [1, 2]", "seed = [1, 2, 3]"));
    assert!(a.iter().all(|n| more.contains(n)) && more.len() == 12, "{more:?}");
    // A changed shared setting (search or training) makes every run new.
    for changed in [grid.replace("epochs = 3", "epochs = 4"), grid.replace("test-images = 64", "test-images = 32")] {
        let b = names(&dir, &changed);
        assert!(b.iter().all(|n| !a.contains(n)), "{b:?}");
    }
    // Bad grids get one line naming the problem.
    let g = dir.join("bad.toml");
    for (text, needle) in [
        (grid.replace("nodes = 2", "nodez = 2"), "unexpected argument '--nodez'"),
        (grid.replace("nodes = 2", "nodes = 0"), "nodes"),
        (grid.replace("rdarts-l2 = 2", "rdarts-l2 = 2\nseed = 4"), "method 'rdarts-l2' sets 'seed', which [grid] varies"),
        (grid.replace("nodes = 2", "out = \"x\""), "'out' is set by the sweep itself"),
        (grid.replace("seed = [1, 2]", "seed = []"), "'seed' has no values"),
        (grid.replace("[train]", "[trian]"), "unknown field `trian`"),
    ] {
        std::fs::write(&g, text).unwrap();
        let out = rdarts(&["sweep", g.to_str().unwrap(), "--out", dir.join("bad").to_str().unwrap()]);
        assert_clean_error(&out, needle);
        assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml"), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(!dir.join("bad").exists(), "a bad grid runs nothing");
    // SLURM's batch script: an array over the unfinished runs, each task `sweep task`; a value
    // with a line break is refused rather than written as a line of its own.
    std::fs::write(&g, &grid).unwrap();
    let out = rdarts(&["sweep", g.to_str().unwrap(), "--out", dir.join("s").to_str().unwrap(), "--dry-run", "--slurm", "--time", "1:00:00", "--sbatch=--qos=low"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("#SBATCH --array=0,1,2,3,4,5,6,7\n") && text.contains("#SBATCH --time=1:00:00\n"), "{text}");
    assert!(text.contains("#SBATCH --qos=low\n") && text.contains("sweep task") && text.contains("--index \"$SLURM_ARRAY_TASK_ID\""), "{text}");
    let out = rdarts(&["sweep", g.to_str().unwrap(), "--out", dir.join("s").to_str().unwrap(), "--dry-run", "--slurm", "--partition", "gpu\nrm -rf ~"]);
    assert_clean_error(&out, "--partition 'gpu\\nrm -rf ~': one value, without line breaks");
}

/// The study's grid in the repository.
fn committed_study() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../studies/robustdarts-digits.toml")
}

#[test]
fn the_committed_study_expands_to_every_space_method_and_seed() {
    let dir = scratch("sweep", "study");
    let runs = names(&dir, &std::fs::read_to_string(committed_study()).unwrap());
    assert_eq!(runs.len(), 4 * 3 * 2, "{runs:?}");
    for method in ["darts", "rdarts-l2", "darts-ada"] {
        for space in ["s1", "s2", "s3", "s4"] {
            for seed in [1, 2] {
                let prefix = format!("{method}-seed={seed}-space={space}-");
                assert!(runs.iter().any(|r| r.starts_with(&prefix)), "no run {prefix}…: {runs:?}");
            }
        }
    }
}

/// `rdarts … | head` when the reader has gone: the process ends by SIGPIPE, as other tools do,
/// instead of panicking on the failed write.
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let study = committed_study();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(BIN).args(["sweep", study.to_str().unwrap(), "--out", scratch("sweep", "pipe").to_str().unwrap(), "--dry-run"]).stdout(writer).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(13), "ended by SIGPIPE: {:?} {stderr}", out.status);
}

/// A run whose directory another process holds is reported busy and left alone.
#[test]
fn a_run_held_by_another_process_is_busy() {
    let dir = scratch("sweep", "busy");
    std::fs::create_dir_all(&dir).unwrap();
    let grid = dir.join("grid.toml");
    std::fs::write(&grid, TINY.replace("seed = [1, 2]", "seed = [1]")).unwrap();
    let sweep = dir.join("sweep");
    let name = names(&dir, &TINY.replace("seed = [1, 2]", "seed = [1]")).remove(0);
    let search = sweep.join("runs").join(&name).join("search");
    std::fs::create_dir_all(&search).unwrap();
    let lock = search.join(".rdarts-lock");
    std::fs::write(&lock, "").unwrap();
    let mut holder = Command::new("flock").arg(&lock).args(["sleep", "60"]).spawn().unwrap();
    while Command::new("flock").args(["-n"]).arg(&lock).arg("true").status().unwrap().code().is_none_or(|c| c == 0) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = rdarts(&["sweep", grid.to_str().unwrap(), "--out", sweep.to_str().unwrap()]);
    holder.kill().unwrap();
    holder.wait().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success() && stdout.contains(&format!("{name}: search busy")), "{stdout}");
    assert_eq!(std::fs::read_dir(&search).unwrap().count(), 1, "nothing written into the held run");
}

/// Parts started afresh and resumed, over every run's log of the sweep.
fn starts(sweep: &Path) -> (usize, usize) {
    let mut counts = (0, 0);
    for e in std::fs::read_dir(sweep.join("logs")).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "log") {
            let log = std::fs::read_to_string(path).unwrap();
            counts.0 += log.matches(": starting ").count();
            counts.1 += log.matches(": resuming ").count();
        }
    }
    counts
}

/// The runs of `sweep` whose search has written a checkpoint and not yet its genotype.
fn checkpointed(sweep: &Path) -> Vec<String> {
    let runs = std::fs::read_dir(sweep.join("runs")).into_iter().flatten().flatten();
    runs.filter(|r| {
        let search = r.path().join("search");
        !search.join("genotype.json").exists() && std::fs::read_dir(search.join("checkpoints")).is_ok_and(|mut c| c.next().is_some())
    })
    .map(|r| r.file_name().to_string_lossy().into_owned())
    .collect()
}

/// Waits (at most 5 minutes, while `child` runs) until a search of `sweep` has a checkpoint; its run.
fn wait_for_checkpoint(sweep: &Path, child: &mut std::process::Child) -> String {
    let start = std::time::Instant::now();
    loop {
        if let Some(run) = checkpointed(sweep).pop() {
            return run;
        }
        assert!(start.elapsed().as_secs() < 300, "no checkpoint after 5 minutes");
        assert!(child.try_wait().unwrap().is_none(), "the sweep ended before any checkpoint");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Every run of `sweep` searched and trained.
fn assert_all_finished(sweep: &Path) {
    for run in std::fs::read_dir(sweep.join("runs")).unwrap() {
        let run = run.unwrap().path();
        assert!(run.join("search/genotype.json").exists() && run.join("train/result.json").exists(), "{} unfinished", run.display());
    }
}

#[test]
fn local_pool_killed_and_run_again_finishes_without_repeating_work() {
    let dir = scratch("sweep", "pool");
    std::fs::create_dir_all(&dir).unwrap();
    let grid = dir.join("grid.toml");
    std::fs::write(&grid, TINY).unwrap();
    let sweep = dir.join("sweep");
    let args = ["sweep", grid.to_str().unwrap(), "--out", sweep.to_str().unwrap(), "--jobs", "2"];
    // The sweep and its children in a process group of their own, killed together mid-search (as
    // Ctrl-C or a scheduler's kill would).
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(BIN).args(args).process_group(0).stdout(std::process::Stdio::null()).spawn().unwrap();
    wait_for_checkpoint(&sweep, &mut child);
    let killed = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status().unwrap();
    assert!(killed.success());
    child.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));

    // A report of the partial sweep: every run listed, none finished.
    let out = rdarts(&["sweep", "report", sweep.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let md = std::fs::read_to_string(sweep.join("report.md")).unwrap();
    assert!(md.contains("| darts | 0/2 |"), "{md}");
    let (started, resumed) = starts(&sweep);
    assert_eq!((started, resumed), (2, 0), "both searches started once before the kill");

    let out = rdarts(&args);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_all_finished(&sweep);
    // The run that had a checkpoint resumed from it; no search started twice; each training once.
    let (started, resumed) = starts(&sweep);
    assert!(resumed >= 1, "a killed search resumed from its checkpoint");
    assert_eq!(started, 2 + 2 + (2 - resumed), "searches started afresh only where no checkpoint existed, plus one training each");
    // Run again: nothing to do.
    let out = rdarts(&args);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 unfinished"), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(starts(&sweep), (started, resumed));

    let out = rdarts(&["sweep", "report", sweep.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let md = std::fs::read_to_string(sweep.join("report.md")).unwrap();
    assert!(md.contains("## S2, digits") && md.contains("| darts | 2/2 |"), "{md}");
    let csv = std::fs::read_to_string(sweep.join("runs.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2, "{csv}");
    for r in &rows {
        let run = sweep.join("runs").join(r[0]);
        // Traceable: the final λmax is the run's last lambda.jsonl line, the test error its result.json.
        let last: serde_json::Value = serde_json::from_str(std::fs::read_to_string(run.join("search/lambda.jsonl")).unwrap().lines().last().unwrap()).unwrap();
        assert_eq!(r[7].parse::<f64>().unwrap(), last["lambda_max"].as_f64().unwrap());
        let result: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run.join("train/result.json")).unwrap()).unwrap();
        assert_eq!(r[12].parse::<f64>().unwrap(), result["test_error_percent"].as_f64().unwrap());
        assert_eq!((r[5], r[6], r[14]), ("3", "3", "true"));
    }
    let html = std::fs::read_to_string(sweep.join("report.html")).unwrap();
    assert!(html.matches("<svg").count() >= 2, "λmax curves and the scatter");
    assert!(sweep.join("plots/lambda-S2-digits.svg").exists() && sweep.join("plots/scatter-S2-digits.svg").exists());

    // What the repository keeps of a study (scripts/collect-study.py), put back into a new sweep
    // directory (scripts/restore-study.py, as on a fresh machine): the sweep finds nothing to
    // do, the report rebuilt from it is the same, and collecting it again gives the same files.
    let (collected, restored, again) = (dir.join("collected"), dir.join("restored"), dir.join("again"));
    let script = |name: &str, from: &Path, to: &Path| {
        let out = Command::new("python3").arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts").join(name)).args([from, to]).output().unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    };
    script("collect-study.py", &sweep, &collected);
    // One run as collected before the genotypes' JSON was kept: restore-study.py derives it from
    // the epoch records and checks it against the text form.
    let first_run = std::fs::read_dir(collected.join("runs")).unwrap().next().unwrap().unwrap().path();
    std::fs::remove_file(first_run.join("search/genotype.json")).unwrap();
    script("restore-study.py", &collected, &restored);
    let out = rdarts(&["sweep", grid.to_str().unwrap(), "--out", restored.to_str().unwrap(), "--jobs", "2"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 unfinished"), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(!restored.join("logs").exists(), "nothing ran");
    let out = rdarts(&["sweep", "report", restored.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(restored.join("runs.csv")).unwrap(), csv);
    script("collect-study.py", &restored, &again);
    // Every file under `root`/runs with its contents.
    let files = |root: &Path| -> Vec<(String, Vec<u8>)> { walk(&root.join("runs")).into_iter().map(|f| (format!("runs/{f}"), std::fs::read(root.join("runs").join(&f)).unwrap())).collect() };
    let (mut first, second) = (files(&collected), files(&again));
    assert!(first.iter().any(|(p, _)| p.ends_with("lambda.jsonl")) && first.iter().any(|(p, _)| p.ends_with("genotype.txt")), "{:?}", first.iter().map(|f| &f.0).collect::<Vec<_>>());
    // The genotype.json removed above: restored from the records, collected again.
    first.push((first_run.join("search/genotype.json").strip_prefix(&collected).unwrap().display().to_string(), std::fs::read(sweep.join("runs").join(first_run.file_name().unwrap()).join("search/genotype.json")).unwrap()));
    first.sort();
    assert_eq!(first.iter().map(|f| &f.0).collect::<Vec<_>>(), second.iter().map(|f| &f.0).collect::<Vec<_>>(), "the same files");
    for ((path, a), (_, b)) in first.iter().zip(&second) {
        // The derived genotype.json is compact JSON where the search wrote it indented.
        let same = a == b || (path.ends_with("genotype.json") && serde_json::from_slice::<serde_json::Value>(a).unwrap() == serde_json::from_slice::<serde_json::Value>(b).unwrap());
        assert!(same, "{path} differs after collect → restore → collect");
    }
}

/// Runs `cmd` (a SLURM client) and returns its standard output, failing the test with its error.
fn slurm(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("cannot run {cmd}: {e}; start the test cluster with scripts/slurm-cluster.sh (test.sh does) or set RDARTS_SKIP_SLURM=1"));
    assert!(out.status.success(), "{cmd} {args:?}: {}; is the test cluster up (scripts/slurm-cluster.sh, SLURM_CONF)?", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The sweep through a real SLURM (the one-node cluster of scripts/slurm-cluster.sh, which
/// test.sh starts): submitted as a job array and waited for, one array task cancelled with
/// `scancel` while its search runs, the sweep submitted again: every run finishes, the cancelled
/// one resumes from its checkpoint and nothing else is computed again.
#[test]
fn slurm_array_task_cancelled_and_resubmitted_finishes_without_repeating_work() {
    if std::env::var("RDARTS_SKIP_SLURM").as_deref() == Ok("1") {
        eprintln!("RDARTS_SKIP_SLURM=1: the SLURM sweep test is skipped");
        return;
    }
    slurm("sinfo", &["-h"]);
    let dir = scratch("sweep", "slurm");
    std::fs::create_dir_all(&dir).unwrap();
    let grid = dir.join("grid.toml");
    // 12 epochs: seconds of search left after the first checkpoint, for scancel to land in.
    std::fs::write(&grid, TINY.replacen("epochs = 3", "epochs = 12", 1)).unwrap();
    let sweep = dir.join("slurm-sweep");
    let args = ["sweep", grid.to_str().unwrap(), "--out", sweep.to_str().unwrap(), "--slurm", "--wait", "--cpus-per-task", "1"];
    let mut child = Command::new(BIN).args(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let victim = wait_for_checkpoint(&sweep, &mut child);
    let listed: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sweep.join("sweep.json")).unwrap()).unwrap();
    let index = listed["runs"].as_array().unwrap().iter().position(|r| r["name"] == victim.as_str()).unwrap();
    let job = slurm("squeue", &["-h", "--name=rdarts-slurm-sweep", "-o", "%F"]);
    let job = job.lines().next().unwrap_or_else(|| panic!("the array is not in the queue")).trim().to_string();
    slurm("scancel", &[&format!("{job}_{index}")]);
    let first = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(!first.status.success() && stdout.contains(&format!("submitted job array {job}")), "{stdout}\n{}", String::from_utf8_lossy(&first.stderr));
    assert!(slurm("squeue", &["-h", "-j", &job]).trim().is_empty(), "nothing of the array is left running");
    assert!(!sweep.join("runs").join(&victim).join("search/genotype.json").exists(), "the cancelled search did not finish");
    let (started, resumed) = starts(&sweep);
    assert_eq!(resumed, 0);
    assert_eq!(started, 3, "two searches started, and the other run's training");

    // Submitted again: only the cancelled run is in the array, and it resumes.
    let out = rdarts(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("1 unfinished") && stdout.contains("(1 tasks;"), "{stdout}");
    assert_all_finished(&sweep);
    assert_eq!(starts(&sweep), (4, 1), "two searches and two trainings started once each, the cancelled search resumed once");
    let script = std::fs::read_to_string(sweep.join("slurm/array.sbatch")).unwrap();
    assert!(script.contains(&format!("#SBATCH --array={index}\n")) && script.contains("#SBATCH --cpus-per-task=1"), "{script}");
}
