//! # `no-debug` — an example Palisade plugin
//!
//! One rule, `no-debug.function-debug-env`: a Lambda function (plain or
//! SAM) must not deploy with a debug flag switched on in its environment
//! (`DEBUG=true`, `1`, `yes` or `on`, any case). Debug modes log request
//! bodies and tokens, print stack traces to callers and skip checks.
//!
//! The plugin reads [`Input::resources`](palisade_plugin_sdk::Input), the
//! deployment as the Cedar rules see it, so the one rule covers
//! CloudFormation, SAM (with `Globals`), serverless.yml (provider and
//! function `environment`) and Terraform plans alike.
//!
//! Settings: `variables`, the names that count as debug flags (default
//! `["DEBUG"]`, matched case-insensitively).
//!
//! Facts: `debug_functions`, how many functions have a flag on.
//!
//! The same rule is written in Python and JavaScript next to this crate;
//! all three are held to the same test cases.

use palisade_plugin_sdk::json::Node;
use palisade_plugin_sdk::{
    Category, Evaluation, Input, InputKind, Metadata, Plugin, Rule, Severity, export_plugin, log,
};
use serde::Deserialize;

/// The rule's id.
pub const RULE: &str = "no-debug.function-debug-env";

/// The plugin's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Environment variable names that are debug flags.
    pub variables: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            variables: vec!["DEBUG".to_owned()],
        }
    }
}

/// The plugin.
pub struct NoDebug;

impl Plugin for NoDebug {
    type Settings = Settings;

    fn metadata() -> Metadata {
        Metadata::new("no-debug", "0.1.0")
            .applies_to(&[InputKind::Deployment])
            .rule(
                Rule::new(
                    RULE,
                    Category::Other,
                    Severity::Medium,
                    "Function deploys with a debug flag on",
                    "Remove the debug variable from the function's environment (and from \
                     Globals or the provider's environment), or set it to false",
                )
                .control("no debug builds in production"),
            )
    }

    fn validate_settings(settings: &Settings) -> Result<(), String> {
        if settings.variables.iter().any(|v| v.trim().is_empty()) {
            return Err("setting `variables` must not contain an empty name".to_owned());
        }
        Ok(())
    }

    fn evaluate(input: &Input, settings: &Settings) -> Result<Evaluation, String> {
        let mut eval = Evaluation::new();
        let mut flagged = 0_u64;
        let mut functions = 0_u64;
        for resource in &input.resources {
            if !matches!(
                resource.resource_type.as_str(),
                "AWS::Lambda::Function" | "AWS::Serverless::Function"
            ) {
                continue;
            }
            functions += 1;
            let properties = resource.properties()?;
            let Some(variables) = properties
                .root()
                .get("Environment")
                .and_then(|e| e.get("Variables"))
            else {
                continue;
            };
            if let Some(name) = debug_flag(variables, &settings.variables) {
                flagged += 1;
                eval.finding(
                    RULE,
                    format!(
                        "function `{}` sets {name} in its environment",
                        resource.logical_id
                    ),
                )
                .resource(resource.logical_id.clone())
                .pointer(resource.pointer.clone());
            }
        }
        log::debug(&format!(
            "{functions} functions checked, {flagged} with a debug flag"
        ));
        eval.fact("debug_functions", flagged);
        Ok(eval)
    }
}

/// The first variable named like a debug flag whose value switches it on.
fn debug_flag(variables: Node<'_>, names: &[String]) -> Option<String> {
    variables.members().find_map(|(name, value)| {
        let on = value
            .as_str()
            .map(|s| matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on"))
            .or_else(|| value.as_bool())
            .or_else(|| value.as_i64().map(|n| n != 0))
            .unwrap_or(false);
        (on && names.iter().any(|n| n.eq_ignore_ascii_case(name))).then(|| name.to_owned())
    })
}

export_plugin!(NoDebug);
