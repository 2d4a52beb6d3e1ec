//! Hostile guest `bigrule`: declares a rule whose remediation and control
//! are 4 MiB each, then reports it 100 times.
//!
//! Without a cap on rule text, a host that copies the rule's text into each
//! finding turns 8 MiB of plugin memory into 800 MiB of its own. The host
//! refuses the plugin at load.

use palisade_plugin_sdk::{Category, 
    Evaluation, Input, InputKind, Metadata, Plugin, Rule, Severity, export_plugin,
};

const TEXT_BYTES: usize = 4 << 20;

/// The guest.
struct Hostile;

impl Plugin for Hostile {
    type Settings = ();

    fn metadata() -> Metadata {
        Metadata::new("hostile-bigrule", "0.1.0")
            .applies_to(&InputKind::ALL)
            .rule(
                Rule::new(
                    "hostile.bigrule",
                    Category::Other,
                    Severity::High,
                    "Declares a rule with huge text",
                    "r".repeat(TEXT_BYTES),
                )
                .control("c".repeat(TEXT_BYTES)),
            )
    }

    fn evaluate(_input: &Input, _settings: &()) -> Result<Evaluation, String> {
        let mut eval = Evaluation::new();
        for _ in 0..100 {
            eval.finding("hostile.bigrule", "reported again");
        }
        Ok(eval)
    }
}

export_plugin!(Hostile);
