//! Hostile guest `trap`: `evaluate` executes the wasm `unreachable` instruction.
//!
//! Proves the host turns a trap into a plugin error for that one decision and
//! keeps serving others.

use palisade_plugin_sdk::{Evaluation, Input, Metadata, Plugin, export_plugin};

/// The guest.
struct Hostile;

impl Plugin for Hostile {
    type Settings = ();

    fn metadata() -> Metadata {
        hostile_common::metadata("trap", "Traps in evaluate")
    }

    fn evaluate(_input: &Input, _settings: &()) -> Result<Evaluation, String> {
        #[cfg(target_arch = "wasm32")]
        core::arch::wasm32::unreachable();
        #[cfg(not(target_arch = "wasm32"))]
        std::process::abort();
    }
}

export_plugin!(Hostile);
