//! The `rdarts` binary.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    end_quietly_on_closed_pipe();
    rdarts::memory::keep_freed_pages();
    let cli = rdarts::cli::Cli::parse();
    match rdarts::cli::run(cli) {
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
