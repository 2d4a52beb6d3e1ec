//! `{{name}}`: a Palisade policy plugin.
//!
//! Its one rule, `{{name}}.function-timeout`, asks every Lambda function to
//! set its `Timeout` (in the template, SAM `Globals` or serverless.yml):
//! the platform default ends slow calls late or early by surprise. Replace
//! it with your own rules; `palisade plugin test .` runs `tests/*.yaml`.

use palisade_plugin_sdk::{
    export_plugin, log, Category, Evaluation, Input, InputKind, Metadata, Plugin, Rule, Severity,
};
use serde::Deserialize;

const RULE: &str = "{{name}}.function-timeout";

/// The plugin's settings: `settings = { max_seconds = 30 }` in the
/// bundle's `palisade.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// When set, a longer timeout is a finding too.
    max_seconds: Option<u64>,
}

struct ThePlugin;

impl Plugin for ThePlugin {
    type Settings = Settings;

    fn metadata() -> Metadata {
        Metadata::new("{{name}}", "0.1.0")
            .applies_to(&[InputKind::Deployment])
            .rule(
                Rule::new(
                    RULE,
                    Category::Resilience,
                    Severity::Low,
                    "Function without an explicit timeout",
                    "Set `Timeout` on the function (or in SAM Globals / the serverless.yml provider)",
                )
                .control("functions fail fast and predictably"),
            )
    }

    fn validate_settings(settings: &Settings) -> Result<(), String> {
        match settings.max_seconds {
            Some(0) => Err("setting `max_seconds` must be at least 1".into()),
            _ => Ok(()),
        }
    }

    fn evaluate(input: &Input, settings: &Settings) -> Result<Evaluation, String> {
        let mut eval = Evaluation::new();
        let mut checked = 0_u64;
        for resource in &input.resources {
            if !matches!(
                resource.resource_type.as_str(),
                "AWS::Lambda::Function" | "AWS::Serverless::Function"
            ) {
                continue;
            }
            checked += 1;
            let timeout = resource.properties()?.root().get("Timeout");
            let problem = match (timeout.and_then(|t| t.as_u64()), settings.max_seconds) {
                (None, _) if timeout.is_some() => None, // a reference: decided at deploy time
                (None, _) => Some("sets no timeout".to_owned()),
                (Some(t), Some(max)) if t > max => Some(format!("times out after {t} s, above {max} s")),
                _ => None,
            };
            if let Some(problem) = problem {
                eval.finding(RULE, format!("function `{}` {problem}", resource.logical_id))
                    .resource(resource.logical_id.clone())
                    .pointer(resource.pointer.clone());
            }
        }
        log::debug(&format!("{checked} functions checked"));
        Ok(eval)
    }
}

export_plugin!(ThePlugin);
