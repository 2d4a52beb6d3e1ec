//! Hostile guest `loop`: `evaluate` spins forever.
//!
//! Proves the host interrupts a plugin that never returns (fuel or epoch
//! deadline) instead of hanging the decision.

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
            "Never returns from evaluate",
            "Do not load this plugin outside the sandbox tests",
        ))
}

/// The guest.
struct Hostile;

impl Plugin for Hostile {
    fn metadata() -> Metadata {
        hostile_metadata("loop")
    }

    fn evaluate(_input: &Input) -> Result<Evaluation, String> {
        let mut counter: u64 = 0;
        loop {
            // `black_box` hides the counter from the optimizer, so the loop
            // cannot be proven side-effect free and removed.
            counter = core::hint::black_box(counter.wrapping_add(1));
        }
    }
}

export_plugin!(Hostile);
