//! Hostile guest `trap`: `evaluate` executes the wasm `unreachable` instruction.
//!
//! Proves the host turns a trap into a plugin error for that one decision and
//! keeps serving others.

use palisade_plugin_sdk::{
    Evaluation, Input, InputKind, Metadata, Plugin, Rule, Severity, export_plugin,
};

/// Metadata shared by every hostile guest: one rule, all input kinds.
fn hostile_metadata(name: &str) -> Metadata {
    Metadata::new(format!("hostile-{name}"), "0.1.0")
        .applies_to(&InputKind::ALL)
        .rule(Rule::new(
            format!("hostile.{name}"),
            "other",
            Severity::High,
            "Traps in evaluate",
            "Do not load this plugin outside the sandbox tests",
        ))
}

/// The guest.
struct Hostile;

impl Plugin for Hostile {
    fn metadata() -> Metadata {
        hostile_metadata("trap")
    }

    fn evaluate(_input: &Input) -> Result<Evaluation, String> {
        #[cfg(target_arch = "wasm32")]
        core::arch::wasm32::unreachable();
        #[cfg(not(target_arch = "wasm32"))]
        std::process::abort();
    }
}

export_plugin!(Hostile);
