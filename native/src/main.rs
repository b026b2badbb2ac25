//! The `rdarts` binary.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    end_quietly_on_closed_pipe();
    rdarts::memory::keep_freed_pages();
    let cli = rdarts::cli::Cli::parse();
    match on_a_worker_thread(|| rdarts::cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the cause chain joined by ": ", multi-line messages (e.g. TOML's) folded.
            let text = e.chain().map(|c| c.to_string()).collect::<Vec<_>>().join(": ");
            let folded: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            eprintln!("error: {}", folded.join(" "));
            ExitCode::FAILURE
        }
    }
}

/// `rdarts … | head` ends quietly when the reader goes away, as other command-line tools do:
/// Rust ignores SIGPIPE, so a write to the closed pipe would fail and `println!` would panic;
/// this gives SIGPIPE its default action back. Call first thing in `main`.
fn end_quietly_on_closed_pipe() {
    #[cfg(unix)]
    #[allow(unsafe_code)]
    // SAFETY: restores a signal's default disposition before any other thread exists; no handler
    // runs Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Stack of each worker thread: the command runs on one (8 MiB, as a Linux main thread's).
const WORKER_STACK: usize = 8 << 20;

/// Runs `f` on one of the CPU kernels' worker threads (rayon's global pool): a parallel loop
/// that a worker starts is split between it and the others at once, where one started from
/// outside the pool is handed to a sleeping worker while the caller waits, for every kernel
/// launch of a step (measured: BENCHMARKS.md, 2026-12-03 (late)).
fn on_a_worker_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    // Fails only if the pool was already built, which nothing does before this.
    let _ = rayon::ThreadPoolBuilder::new().stack_size(WORKER_STACK).build_global();
    rayon::scope(|_| f())
}
