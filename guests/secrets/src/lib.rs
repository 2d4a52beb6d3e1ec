//! # `secrets` — the Palisade hard-coded-secrets plugin
//!
//! Scans any JSON document (deployments, HTTP requests, authorization
//! requests) for secrets written into it instead of referenced from a
//! secrets manager.
//!
//! | rule                            | severity | finds |
//! |---------------------------------|----------|-------|
//! | `secrets.aws-access-key-id`     | critical | `AKIA`/`ASIA` + 16 `[A-Z0-9]`, on word boundaries, anywhere in a string |
//! | `secrets.aws-secret-access-key` | critical | a 40-character base64 string in a field named like a secret, next to an access key id, or assigned in text (`AWS_SECRET_ACCESS_KEY=...`) |
//! | `secrets.private-key`           | critical | a PEM `-----BEGIN ... PRIVATE KEY-----` block |
//! | `secrets.secret-named-field`    | high     | a plain value in a field named like a secret (`password`, `token`, `api_key`, ...) |
//! | `secrets.high-entropy`          | medium   | a long, random-looking token that no other rule explains |
//!
//! References (`{{resolve:secretsmanager:...}}`, `{{resolve:ssm-secure:...}}`,
//! `${ssm:...}`, any `${...}`, Secrets Manager / SSM ARNs), placeholders and
//! empty strings are never reported.
//!
//! In HTTP request inputs the credential headers (`authorization`,
//! `proxy-authorization`, `cookie`, `x-api-key`, `x-amz-security-token`) are
//! where credentials belong and are not scanned.
//!
//! Settings (all optional): `min_length` (integer >= 8, default 20),
//! `min_entropy` (1.0..=8.0, default 4.0), `ignore_keys` (strings, matched
//! case-insensitively; skips the key's whole value), `allow_values`
//! (strings never reported).
//!
//! Facts: `secret_count` (integer), `has_secrets` (boolean), `rules_hit`
//! (sorted, deduplicated rule ids).

mod keys;
mod matchers;
pub mod scan;

use palisade_plugin_sdk::{
    Category, Evaluation, Input, InputKind, Metadata, Plugin, Rule, Severity, export_plugin,
};

use scan::{
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, Config, HIGH_ENTROPY, Settings, PRIVATE_KEY, SECRET_NAMED_FIELD,
};

/// The control every rule enforces.
const CONTROL: &str = "no hard-coded secrets; use a secrets manager";

/// Where a secret belongs, and how to reference it instead.
macro_rules! use_a_secrets_manager {
    () => {
        "store the value in AWS Secrets Manager or SSM Parameter Store and reference it \
         ({{resolve:secretsmanager:...}} or {{resolve:ssm-secure:...}} in CloudFormation, \
         ${ssm:...} in serverless.yml, a data source in Terraform)"
    };
}

/// The plugin.
pub struct Secrets;

impl Plugin for Secrets {
    type Settings = Settings;

    fn metadata() -> Metadata {
        let rule = |id: &str, severity: Severity, title: &str, remediation: &str| {
            Rule::new(id, Category::Secrets, severity, title, remediation).control(CONTROL)
        };
        Metadata::new("secrets", "0.1.0")
            .applies_to(&InputKind::ALL)
            .rule(rule(
                AWS_ACCESS_KEY_ID,
                Severity::Critical,
                "AWS access key id hard-coded in the document",
                concat!(
                    "Deactivate and rotate the key in IAM, then stop using long-lived keys: give the \
                     workload an IAM role or ",
                    use_a_secrets_manager!()
                ),
            ))
            .rule(rule(
                AWS_SECRET_ACCESS_KEY,
                Severity::Critical,
                "AWS secret access key hard-coded in the document",
                concat!(
                    "Deactivate and rotate the key pair in IAM, then give the workload an IAM role or ",
                    use_a_secrets_manager!()
                ),
            ))
            .rule(rule(
                PRIVATE_KEY,
                Severity::Critical,
                "Private key embedded in the document",
                concat!(
                    "Revoke and replace the key pair, then ",
                    use_a_secrets_manager!(),
                    "; for TLS certificates use AWS Certificate Manager"
                ),
            ))
            .rule(rule(
                SECRET_NAMED_FIELD,
                Severity::High,
                "Secret-looking field holds a plain value",
                concat!(
                    "Rotate the value and ",
                    use_a_secrets_manager!(),
                    ". If it is not a secret, list it in the plugin's `allow_values` setting"
                ),
            ))
            .rule(rule(
                HIGH_ENTROPY,
                Severity::Medium,
                "High-entropy string that may be a secret",
                concat!(
                    "If the value is a secret, rotate it and ",
                    use_a_secrets_manager!(),
                    ". If it is not, list it in the plugin's `allow_values` setting or its key in \
                     `ignore_keys`"
                ),
            ))
    }

    fn validate_settings(settings: &Settings) -> Result<(), String> {
        Config::from_settings(settings).map(|_| ())
    }

    fn evaluate(input: &Input, settings: &Settings) -> Result<Evaluation, String> {
        let mut config = Config::from_settings(settings)?;
        if input.kind == InputKind::Request {
            // A request carries its own credentials where they belong;
            // secrets anywhere else in it (query, body, other headers) are
            // still reported.
            config.ignore_keys.extend(
                scan::REQUEST_CREDENTIAL_HEADERS
                    .iter()
                    .map(|header| (*header).to_owned()),
            );
        }
        Ok(evaluation(scan::scan(&input.document, &config)))
    }
}

/// Turns scanner hits into the plugin's findings and facts.
pub fn evaluation(hits: Vec<scan::Hit>) -> Evaluation {
    // Sorted and deduplicated (there are only five rules).
    let mut rules_hit: Vec<&str> = Vec::new();
    for hit in &hits {
        if let Err(at) = rules_hit.binary_search(&hit.rule) {
            rules_hit.insert(at, hit.rule);
        }
    }
    let count = hits.len();
    let mut eval = Evaluation::new();
    for hit in hits {
        let finding = eval.finding(hit.rule, hit.message);
        finding.pointer(hit.pointer);
        if let Some(resource) = hit.resource {
            finding.resource(resource);
        }
    }
    eval.fact("secret_count", count)
        .fact("has_secrets", count > 0)
        .fact("rules_hit", rules_hit);
    eval
}

export_plugin!(Secrets);

#[cfg(test)]
mod tests;
