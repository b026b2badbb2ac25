//! The `rdarts` command end to end, as one test binary (each linked test binary carries all of
//! Burn and wgpu, so they share one): searches, resume after SIGKILL, corrupt checkpoints, full
//! and read-only disks, reports rendered in Chromium, training and genotypes.

// Tests are written as tables of cases, whose element types clippy finds complex.
#![allow(clippy::type_complexity)]

use std::path::Path;
use std::process::{Command, Output};

mod bounds;
mod commands;
mod lm;
mod report;
mod resume;
mod rundir;
mod sweep;
mod train;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_rdarts");

/// Runs `rdarts` with `args` to completion.
pub fn rdarts(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run rdarts")
}

pub use rdarts_tests::Scratch;

/// The scratch path of the test `name` of `group`: unique to this process, nothing there yet,
/// removed when the test passes (see [`Scratch`]).
pub fn scratch(group: &str, name: &str) -> Scratch {
    Scratch::new(group, name)
}

/// Runs `rdarts` with `args` to completion with its write steps listed (`RDARTS_FAULT_ABORT_AT=log`,
/// which only prints them): the run must succeed; its write steps, in order.
pub fn run_listing_write_steps(args: &[String]) -> Vec<String> {
    let out = Command::new(BIN).args(args).env("RDARTS_FAULT_ABORT_AT", "log").output().expect("run rdarts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    stderr.lines().filter_map(|l| l.strip_prefix("fault point ").and_then(|r| r.split_once(": ")).map(|(_, s)| s.to_string())).collect()
}

/// A tiny CPU search; `extra` flags are appended, replacing a default flag of the same name.
fn tiny(extra: &[&str]) -> Vec<String> {
    let defaults = [
        ("--backend", "cpu"), ("--epochs", "1"), ("--max-images", "64"), ("--init-channels", "4"),
        ("--layers", "3"), ("--nodes", "2"), ("--batch-size", "16"), ("--lanczos-steps", "3"),
    ];
    let mut args = vec!["search".to_string(), "--quiet".to_string()];
    for (flag, value) in defaults {
        if !extra.contains(&flag) {
            args.extend([flag.to_string(), value.to_string()]);
        }
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Runs the tiny search of `tiny(extra)` to completion.
pub fn run_tiny(extra: &[&str]) -> Output {
    let args = tiny(extra);
    rdarts(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// A non-zero exit with one `error: …` line mentioning `needle`, and no panic.
pub fn assert_clean_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, got success; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic instead of an error: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected a one-line error, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(stderr.contains(needle), "error should mention '{needle}': {stderr}");
}

/// Every file under `dir`, relative, `/`-separated, sorted.
pub fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            let sub = e.file_name().to_string_lossy().into_owned();
            out.extend(walk(&p).into_iter().map(|f| format!("{sub}/{f}")));
        } else {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}
