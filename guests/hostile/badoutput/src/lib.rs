//! Hostile guest `badoutput`: `evaluate` returns output that breaks the contract.
//!
//! It returns `Ok` with a finding whose rule id (`not.declared`) is not in its
//! metadata, a finding with an empty message, and a fact with an empty name.
//! Proves the host validates plugin output instead of trusting it.

use palisade_plugin_sdk::{Evaluation, Input, Metadata, Plugin, export_plugin};

/// The guest.
struct Hostile;

impl Plugin for Hostile {
    type Settings = ();

    fn metadata() -> Metadata {
        hostile_common::metadata("badoutput", "Returns malformed evaluations")
    }

    fn evaluate(_input: &Input, _settings: &()) -> Result<Evaluation, String> {
        let mut eval = Evaluation::new();
        eval.finding("not.declared", "this rule id is not in the metadata");
        eval.finding("hostile.badoutput", "");
        eval.fact("", true);
        Ok(eval)
    }
}

export_plugin!(Hostile);
