//! Hostile guest `panic`: `evaluate` panics.
//!
//! Guests are built with `panic = "abort"`, so the panic message goes to the
//! (unconnected) stderr and the instance traps. Proves the host reports a
//! panicking plugin as an error without crashing.

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
            "Panics in evaluate",
            "Do not load this plugin outside the sandbox tests",
        ))
}

/// The guest.
struct Hostile;

impl Plugin for Hostile {
    fn metadata() -> Metadata {
        hostile_metadata("panic")
    }

    #[allow(clippy::panic, reason = "panicking is this guest's purpose")]
    fn evaluate(_input: &Input) -> Result<Evaluation, String> {
        panic!("hostile guest panicked on purpose")
    }
}

export_plugin!(Hostile);
