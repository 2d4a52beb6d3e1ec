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

/// The bytes of a `.wasm` file: a regular file of at most 64 MiB.
fn read_wasm(path: &Path) -> Result<Vec<u8>, String> {
    let name = output::path(path);
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{name} is not a regular file"));
    }
    if meta.len() > MAX_PLUGIN_BYTES {
        return Err(format!(
            "{name} is {} MiB; plugins may be at most {} MiB",
            meta.len() >> 20,
            MAX_PLUGIN_BYTES >> 20
        ));
    }
    std::fs::read(path).map_err(|e| format!("cannot read {name}: {e}"))
}
