//! Hostile guest `sleep`: waits on the host instead of computing.
//!
//! Settings: `{ "mode": "sleep" }` (the default) sleeps an hour at a time,
//! forever, through `wasi:clocks/monotonic-clock`; `{ "mode": "handles" }`
//! asks the host for timers forever and never drops one; `{ "mode": "exit" }`
//! calls `std::process::exit(0)`.
//!
//! Proves that no WASI call blocks a host thread (a sleep returns at once,
//! so the loop spends fuel until the host stops it) and that a guest cannot
//! grow host memory through handles, and that `exit` is not a clean return.

use palisade_plugin_sdk::{Evaluation, Input, Metadata, Plugin, Value, export_plugin, settings};

/// The guest.
struct Hostile;

impl Plugin for Hostile {
    type Settings = Value;

    fn metadata() -> Metadata {
        hostile_common::metadata("sleep", "Sleeps or hoards timers")
    }

    fn validate_settings(settings: &Value) -> Result<(), String> {
        if settings.is_null() {
            return Ok(());
        }
        settings::object(settings, &["mode"]).map(|_| ())
    }

    fn evaluate(_input: &Input, settings: &Value) -> Result<Evaluation, String> {
        let mode = if settings.is_null() {
            None
        } else {
            settings::object(settings, &["mode"])?.get_str("mode")?
        };
        match mode.unwrap_or("sleep") {
            "handles" => hoard(),
            "exit" => std::process::exit(0),
            _ => loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            },
        }
    }
}

/// Asks for timers forever, keeping every handle.
fn hoard() -> Result<Evaluation, String> {
    #[cfg(target_arch = "wasm32")]
    loop {
        let timer = wasi::clocks::monotonic_clock::subscribe_duration(3_600_000_000_000);
        std::mem::forget(timer);
    }
    #[cfg(not(target_arch = "wasm32"))]
    Err("only on wasm32".into())
}

export_plugin!(Hostile);
