//! The `rdarts` binary.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
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
