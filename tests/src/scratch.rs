//! Scratch folders for tests that write files: one per test, removed when the test passes and
//! kept when it fails, so that a failure's files stay to be looked at.

use std::ffi::OsStr;
use std::ops::Deref;
use std::path::{Path, PathBuf};

/// `<temp dir>/rdarts-<group>-<process id>-<name>`, with nothing there when made (whatever an
/// earlier run left is removed; nothing is created). Dropped while the thread is not panicking,
/// the folder (or file) is removed; dropped while it panics, the folder stays and its path is
/// printed.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// The scratch path of the test `name` in `group`.
    pub fn new(group: &str, name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("rdarts-{group}-{}-{name}", std::process::id()));
        remove(&path);
        Self(path)
    }

    /// The same path, created as a folder.
    pub fn dir(group: &str, name: &str) -> Self {
        let scratch = Self::new(group, name);
        std::fs::create_dir_all(&scratch.0).unwrap_or_else(|e| panic!("{}: {e}", scratch.0.display()));
        scratch
    }
}

fn remove(path: &Path) {
    let _ = if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Shown with the failing test's output.
            eprintln!("test files kept in {}", self.0.display());
        } else {
            remove(&self.0);
        }
    }
}

impl Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<OsStr> for Scratch {
    fn as_ref(&self) -> &OsStr {
        self.0.as_os_str()
    }
}
