//! `palisade plugin new|inspect|test`: one plugin, outside a bundle.

mod inspect;
mod new;
mod registry;
mod test;

use crate::cli::{PluginCommand, PluginLimitArgs};
use crate::output;
use palisade_engine::Limits;
use std::path::Path;

/// The largest plugin a bundle may hold (the engine refuses larger).
const MAX_PLUGIN_BYTES: u64 = 64 << 20;

pub fn execute(cmd: &PluginCommand) -> u8 {
    match cmd {
        PluginCommand::Inspect {
            file,
            format,
            limits,
        } => with_limits(limits, |l| inspect::execute(file, *format, l)),
        PluginCommand::Test {
            path,
            cases,
            limits,
        } => with_limits(limits, |l| test::execute(path, cases.as_deref(), l)),
        PluginCommand::New { name, lang, dir } => new::execute(name, *lang, dir.as_deref()),
        PluginCommand::Push { file, target } => registry::push(file, target),
        PluginCommand::Pull { source, output } => registry::pull(source, output),
    }
}

/// Runs `f` with the limits of the flags, or says what is wrong with them.
fn with_limits(args: &PluginLimitArgs, f: impl FnOnce(Limits) -> u8) -> u8 {
    match args.limits() {
        Ok(l) => f(l),
        Err(e) => {
            output::error(&e);
            crate::exit::ERROR
        }
    }
}

/// The bytes of a `.wasm` file: a regular file of at most 64 MiB (refused
/// unread when larger, and never a FIFO, which would block).
fn read_wasm(path: &Path) -> Result<Vec<u8>, String> {
    crate::source::read_bounded_bytes(path, MAX_PLUGIN_BYTES).map_err(|e| match e {
        crate::source::ReadError::TooLarge(limit) => format!(
            "{} is larger than {} MiB, the most a plugin may be",
            output::path(path),
            limit >> 20
        ),
        crate::source::ReadError::NotRegular(kind) => {
            format!(
                "{} is not a regular file (it is {kind})",
                output::path(path)
            )
        }
        other => other.describe(&path.display().to_string(), None),
    })
}
