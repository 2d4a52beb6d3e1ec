//! `palisade`: the command-line front end of the Palisade engine.
//!
//! Thin by design: argument parsing, reading files and rendering live here;
//! every decision is made by `palisade-engine`.

mod builtin;
mod cli;
mod commands;
mod compliance;
mod oci;
mod output;
mod report;
mod signing;
mod source;
mod workers;

use std::process::ExitCode;

/// mimalloc instead of the system allocator: a decision allocates and frees
/// a few hundred small objects (Cedar values, JSON), and glibc's malloc was
/// a tenth of the server's time under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit codes of every command.
pub(crate) mod exit {
    /// Pass or allow.
    pub const OK: u8 = 0;
    /// Policy violation or deny.
    pub const DENY: u8 = 1;
    /// Usage error, bad input or bad bundle.
    pub const ERROR: u8 = 2;
}

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    ExitCode::from(commands::run(cli))
}
