//! The `rdarts` command end to end, as one test binary (each linked test binary carries all of
//! Burn and wgpu, so they share one): searches, resume after SIGKILL, corrupt checkpoints, full
//! and read-only disks, reports rendered in Chromium, training and genotypes.

use std::path::PathBuf;
use std::process::{Command, Output};

mod commands;
mod report;
mod resume;
mod rundir;
mod train;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_rdarts");

/// Runs `rdarts` with `args` to completion.
pub fn rdarts(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run rdarts")
}

/// A scratch path for the test `name` of `group`, unique to this process, with nothing there
/// (whatever an earlier run left is removed).
pub fn scratch(group: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rdarts-{group}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}
