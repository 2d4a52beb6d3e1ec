//! What every hostile guest says about itself: its name `hostile-NAME`,
//! every input kind, and one rule `hostile.NAME` whose title says what the
//! guest does to the host.

use palisade_plugin_sdk::{Category, InputKind, Metadata, Rule, Severity};

/// The metadata of hostile guest `name`, whose one rule is titled `title`.
pub fn metadata(name: &str, title: &str) -> Metadata {
    Metadata::new(format!("hostile-{name}"), "0.1.0")
        .applies_to(&InputKind::ALL)
        .rule(Rule::new(
            format!("hostile.{name}"),
            Category::Other,
            Severity::High,
            title,
            "Do not load this plugin outside the sandbox tests",
        ))
}
