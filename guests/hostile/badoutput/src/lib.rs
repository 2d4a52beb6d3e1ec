//! Hostile guest `badoutput`: `evaluate` returns output that breaks the contract.
//!
//! It returns `Ok` with a finding whose rule id (`not.declared`) is not in its
//! metadata, a finding with an empty message, and a fact with an empty name.
//! Proves the host validates plugin output instead of trusting it.

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
            "Returns malformed evaluations",
            "Do not load this plugin outside the sandbox tests",
        ))
}

/// The guest.
struct Hostile;

impl Plugin for Hostile {
    fn metadata() -> Metadata {
        hostile_metadata("badoutput")
    }

    fn evaluate(_input: &Input) -> Result<Evaluation, String> {
        let mut eval = Evaluation::new();
        eval.finding("not.declared", "this rule id is not in the metadata");
        eval.finding("hostile.badoutput", "");
        eval.fact("", true);
        Ok(eval)
    }
}

export_plugin!(Hostile);
