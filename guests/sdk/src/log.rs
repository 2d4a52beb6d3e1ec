//! Logging through the host.
//!
//! The host's `log` import is the only service a plugin gets. `palisade
//! check --plugin-logs` (and `authorize` and `serve` with the same flag)
//! prints the lines on standard error with the plugin's name, and `palisade
//! plugin test` shows them under a failing case; JSON output
//! then carries them under `plugin_logs`. A call may log at most 256 lines,
//! each cut at 512 bytes; more lines fail the call (`output-limit`). Log
//! sparingly and never log secrets: logs end up in CI output.
//!
//! ```no_run
//! palisade_plugin_sdk::log::info("scanning 42 resources");
//! ```
//!
//! Outside WebAssembly (for example in a plugin's unit tests run on the
//! build machine) messages are written to standard error instead.

/// How important a log message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Detail useful only when debugging the plugin.
    Debug,
    /// Normal progress.
    Info,
    /// Something unexpected that the plugin handled.
    Warn,
    /// Something failed.
    Error,
}

/// Logs `message` at `level`.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::glue::host_log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    std::eprintln!("[{level:?}] {message}");
}

/// Logs `message` at [`Level::Debug`].
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs `message` at [`Level::Info`].
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs `message` at [`Level::Warn`].
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs `message` at [`Level::Error`].
pub fn error(message: &str) {
    log(Level::Error, message);
}
