//! Decisions: the value every evaluation produces, and its canonical JSON.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Every Cedar request was allowed and no enforcing plugin objected.
    Allow,
    /// Something denied; the decision's reasons, findings and errors say what.
    Deny,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        })
    }
}

/// How bad a finding is, from `info` to `critical` (ordered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; never fails anything by default.
    Info,
    /// A weakness with little direct impact.
    Low,
    /// A weakness that should be fixed.
    Medium,
    /// A serious weakness.
    High,
    /// An exploitable hole.
    Critical,
}

impl Severity {
    /// All severities, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The lowercase name used in JSON and annotations.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                format!("unknown severity `{s}`; expected one of info, low, medium, high, critical")
            })
    }
}

/// The category of a finding: the security practice it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
#[non_exhaustive]
pub enum Category {
    Secrets,
    IamLeastPrivilege,
    Authentication,
    TransportEncryption,
    EncryptionAtRest,
    RateLimiting,
    Logging,
    TracingMonitoring,
    RuntimePatching,
    NetworkIsolation,
    Resilience,
    CodeIntegrity,
    Other,
}

impl Category {
    /// All categories, in the order of the design document.
    pub const ALL: [Category; 13] = [
        Category::Secrets,
        Category::IamLeastPrivilege,
        Category::Authentication,
        Category::TransportEncryption,
        Category::EncryptionAtRest,
        Category::RateLimiting,
        Category::Logging,
        Category::TracingMonitoring,
        Category::RuntimePatching,
        Category::NetworkIsolation,
        Category::Resilience,
        Category::CodeIntegrity,
        Category::Other,
    ];

    /// The exact string used in JSON and annotations.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Secrets => "secrets",
            Category::IamLeastPrivilege => "iam-least-privilege",
            Category::Authentication => "authentication",
            Category::TransportEncryption => "transport-encryption",
            Category::EncryptionAtRest => "encryption-at-rest",
            Category::RateLimiting => "rate-limiting",
            Category::Logging => "logging",
            Category::TracingMonitoring => "tracing-monitoring",
            Category::RuntimePatching => "runtime-patching",
            Category::NetworkIsolation => "network-isolation",
            Category::Resilience => "resilience",
            Category::CodeIntegrity => "code-integrity",
            Category::Other => "other",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Category {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
                format!("unknown category `{s}`; expected one of {}", all.join(", "))
            })
    }
}

/// Where a finding or error came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Source {
    /// A Cedar policy.
    Cedar,
    /// A plugin, by name.
    Plugin(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Cedar => f.write_str("cedar"),
            Source::Plugin(name) => write!(f, "plugin:{name}"),
        }
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.strip_prefix("plugin:") {
            Some(name) => Ok(Source::Plugin(name.to_owned())),
            None if s == "cedar" => Ok(Source::Cedar),
            None => Err(serde::de::Error::custom(format!(
                "unknown source `{s}`; expected `cedar` or `plugin:NAME`"
            ))),
        }
    }
}

/// One problem found: by a `forbid` policy that denied, or by a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule: a policy's `@id`, or a plugin rule id.
    pub rule_id: String,
    /// The practice the rule belongs to.
    pub category: Category,
    /// How bad it is.
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub message: String,
    /// The resource it is about (logical id, entity, route), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The file it is in, when the input came from a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The 1-based line in `file`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// `cedar` or `plugin:NAME`.
    pub source: Source,
    /// How to fix it. Shared with the rule (and every other finding of
    /// it), not copied per finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediation: Option<Arc<str>>,
    /// The practice or compliance control the rule enforces (shared, like
    /// `remediation`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<Arc<str>>,
    /// JSON pointer into the input document, when a plugin gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// True when the finding came from a plugin or bundle in monitor mode:
    /// reported, but it never denies.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub monitor: bool,
    /// Set when an inline marker or a waiver accepts the finding: it is
    /// reported, but it never fails a check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<Suppression>,
}

/// What kind of thing went wrong while deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// A Cedar policy failed to evaluate. With `on_policy_error = "deny"`
    /// (the default) the decision denies; with `"ignore"` the policy is
    /// skipped, as in Cedar.
    PolicyEvaluation,
    /// The request does not match the bundle's schema or is malformed.
    InvalidRequest,
    /// The plugin used up its fuel budget.
    FuelExhausted,
    /// The plugin tried to grow its memory past the limit.
    MemoryLimit,
    /// The plugin ran past its wall-clock deadline.
    Timeout,
    /// The plugin trapped (panic, unreachable, out-of-bounds access, ...).
    Trap,
    /// The plugin returned an error from `evaluate`.
    PluginFailed,
    /// The plugin's output breaks the contract (unknown rule id, ...).
    BadOutput,
    /// The plugin's output is over a host limit of one call (findings,
    /// facts, log lines or bytes); the call fails closed.
    OutputLimit,
    /// The host could not run the plugin (no free instance slot, ...).
    Host,
    /// An inline suppression the host cannot honour (no reason given).
    InvalidSuppression,
}

impl ErrorKind {
    /// The kebab-case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::PolicyEvaluation => "policy-evaluation",
            ErrorKind::InvalidRequest => "invalid-request",
            ErrorKind::FuelExhausted => "fuel-exhausted",
            ErrorKind::MemoryLimit => "memory-limit",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Trap => "trap",
            ErrorKind::PluginFailed => "plugin-failed",
            ErrorKind::BadOutput => "bad-output",
            ErrorKind::OutputLimit => "output-limit",
            ErrorKind::Host => "host",
            ErrorKind::InvalidSuppression => "invalid-suppression",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// An error met while deciding. Errors are data: they are part of the
/// decision, and a plugin error denies unless the plugin is in monitor mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionError {
    /// `cedar` or `plugin:NAME`.
    pub source: Source,
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The policy that failed, for Cedar evaluation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// What happened.
    pub message: String,
    /// The file being checked, when the error is about one of its
    /// resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The resource (logical id) whose request failed, in a deployment check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// True when the error came from a plugin in file: None,
    /// True when the error came from a plugin in resource: None,
    /// True when the error came from a plugin in monitor mode: reported, but
    /// it does not deny.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub monitor: bool,
}

impl DecisionError {
    /// An input that could not be read or turned into requests.
    pub fn invalid_request(message: String) -> DecisionError {
        DecisionError {
            source: Source::Cedar,
            kind: ErrorKind::InvalidRequest,
            policy: None,
            message,
            file: None,
            resource: None,
            monitor: false,
        }
    }
}

/// Which bundle decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRef {
    /// The bundle's name from its manifest.
    pub name: String,
    /// The bundle's version from its manifest.
    pub version: String,
    /// `sha256:` digest over the bundle's manifest and every file it uses.
    pub digest: String,
}

/// Why a decision came out as it did, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Basis {
    /// Permitted by at least one policy and forbidden by none.
    Permitted,
    /// A `forbid` policy matched.
    Forbidden,
    /// No `permit` policy matched (Cedar's default deny).
    NotPermitted,
    /// An enforcing plugin reported a finding.
    PluginFinding,
    /// An enforcing plugin failed; the decision fails closed.
    PluginError,
    /// A Cedar policy failed to evaluate and the bundle's
    /// `on_policy_error` is `deny`: the decision fails closed. `reasons`
    /// names the policies and `errors` says why.
    PolicyError,
    /// The request itself was invalid.
    InvalidRequest,
}

impl Basis {
    /// A sentence for people.
    pub fn describe(self) -> &'static str {
        match self {
            Basis::Permitted => "permitted by policy and forbidden by none",
            Basis::Forbidden => "explicitly forbidden by policy",
            Basis::NotPermitted => "no policy permits this request",
            Basis::PluginFinding => "a plugin reported a failing finding",
            Basis::PluginError => "a plugin failed, so the decision fails closed",
            Basis::PolicyError => "a policy failed to evaluate, so the decision fails closed",
            Basis::InvalidRequest => "the request is invalid",
        }
    }
}

/// The outcome of one evaluation: a value, not a `Result`.
///
/// Serialize it with [`Decision::to_json`] for the canonical bytes: the same
/// bundle and input give the same bytes from the CLI, the library and the
/// server.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir()?;
/// # std::fs::write(dir.path().join("palisade.toml"), "[bundle]\nname = \"d\"\nversion = \"1\"\n")?;
/// use palisade_engine::{AuthorizationRequest, Basis, Effect, Engine, Now};
/// let engine = Engine::new()?;
/// let bundle = engine.load_bundle(dir.path())?; // no policies at all
/// let req = AuthorizationRequest::new(r#"User::"a""#, r#"Action::"read""#, r#"Doc::"d""#)?;
/// let decision = bundle.authorize(&req, Now::epoch())?;
/// assert_eq!(decision.decision, Effect::Deny);
/// assert_eq!(decision.basis, Basis::NotPermitted); // Cedar's default deny, not a forbid
/// assert!(decision.to_json().starts_with(r#"{"decision":"deny","basis":"not-permitted","reasons":[]"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Allow or deny.
    pub decision: Effect,
    /// What decided, most decisive first.
    pub basis: Basis,
    /// The ids of the Cedar policies that determined the outcome
    /// (`@id` annotation, or Cedar's `policyN`), sorted.
    pub reasons: Vec<String>,
    /// Findings, sorted by file, line, rule and resource.
    pub findings: Vec<Finding>,
    /// Errors met while deciding.
    pub errors: Vec<DecisionError>,
    /// The bundle that decided.
    pub bundle: BundleRef,
    /// Fuel each plugin call used, in call order (`(plugin, fuel)`): for
    /// metrics and capacity planning. Deterministic, but not part of the
    /// decision JSON.
    #[serde(skip)]
    pub plugin_fuel: Vec<(String, u64)>,
    /// What plugins logged, in call order. Not part of the decision JSON:
    /// front ends show it when asked ([`Decision::to_json_with_plugin_logs`]).
    #[serde(skip)]
    pub plugin_logs: Vec<PluginLog>,
}

/// How important a plugin's log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Detail for whoever debugs the plugin.
    Debug,
    /// Normal progress.
    Info,
    /// Something unexpected that the plugin handled.
    Warn,
    /// Something failed.
    Error,
}

impl LogLevel {
    /// `debug`, `info`, `warn` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line a plugin logged while deciding: at most 256 lines per call,
/// each at most 512 bytes. The text is the plugin's: escape it before
/// showing it on a terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginLog {
    /// The plugin's name in the bundle.
    pub plugin: String,
    /// How important the line is.
    pub level: LogLevel,
    /// The line.
    pub message: String,
}

impl Decision {
    /// Records an input that could not be read or parsed (a file of a
    /// `check` run, say): an `invalid-request` error, and the decision
    /// denies, since what was not read cannot pass.
    pub fn invalid_input(&mut self, message: String) {
        self.errors.push(DecisionError::invalid_request(message));
        if self.decision == Effect::Allow {
            self.decision = Effect::Deny;
            self.basis = Basis::InvalidRequest;
        }
    }

    /// True when the decision is `allow`.
    pub fn is_allowed(&self) -> bool {
        self.decision == Effect::Allow
    }

    /// Canonical JSON: fixed key order, sorted findings, no timings.
    pub fn to_json(&self) -> String {
        // Serializing plain structs of strings and enums cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| serialization_failed(&e))
    }

    /// [`Decision::to_json`] with one more key at the end, `plugin_logs`:
    /// what the plugins logged (`[{"plugin", "level", "message"}]`).
    pub fn to_json_with_plugin_logs(&self) -> String {
        #[derive(Serialize)]
        struct WithLogs<'a> {
            #[serde(flatten)]
            decision: &'a Decision,
            plugin_logs: &'a [PluginLog],
        }
        serde_json::to_string(&WithLogs {
            decision: self,
            plugin_logs: &self.plugin_logs,
        })
        .unwrap_or_else(|e| serialization_failed(&e))
    }

    /// Canonical JSON, indented for people.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| serialization_failed(&e))
    }

    pub(crate) fn sort(&mut self) {
        self.reasons.sort();
        self.reasons.dedup();
        self.findings.sort_by(|a, b| {
            (
                &a.file,
                a.line,
                &a.rule_id,
                &a.resource,
                &a.source,
                &a.message,
            )
                .cmp(&(
                    &b.file,
                    b.line,
                    &b.rule_id,
                    &b.resource,
                    &b.source,
                    &b.message,
                ))
        });
        self.errors.sort_by(|a, b| {
            (&a.source, &a.policy, a.kind, &a.message)
                .cmp(&(&b.source, &b.policy, b.kind, &b.message))
        });
    }
}

/// Why a finding does not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// Where the suppression is written.
    pub kind: SuppressionKind,
    /// Why the finding is accepted.
    pub reason: String,
    /// Who accepted it (waivers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Until when (waivers), `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// The file and line of the suppression itself.
    pub location: String,
}

/// Where a suppression is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SuppressionKind {
    /// In the deployment file (comment or resource metadata).
    Inline,
    /// In a waivers file.
    Waiver,
}

/// What a decision that cannot be serialized (it holds only strings,
/// numbers and enums, so never in practice) is written as: still JSON,
/// still a deny.
fn serialization_failed(e: &serde_json::Error) -> String {
    serde_json::json!({ "decision": "deny", "error": e.to_string() }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_round_trip_through_their_exact_strings() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>(), Ok(c));
            assert_eq!(
                serde_json::to_value(c).ok(),
                Some(serde_json::Value::String(c.as_str().into()))
            );
        }
        assert!("Secrets".parse::<Category>().is_err());
    }

    #[test]
    fn severities_are_ordered() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Info < Severity::Low);
        assert_eq!("medium".parse::<Severity>(), Ok(Severity::Medium));
    }

    #[test]
    fn source_serializes_as_plugin_prefix() {
        let s = Source::Plugin("secrets".into());
        assert_eq!(
            serde_json::to_string(&s).ok().as_deref(),
            Some("\"plugin:secrets\"")
        );
        let back: Source = serde_json::from_str("\"plugin:secrets\"").unwrap_or(Source::Cedar);
        assert_eq!(back, s);
    }
}
