//! The values a plugin receives and returns, with builders.

use core::fmt;

use crate::json::Document;

/// How bad a finding is. Ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; not a problem by itself.
    Info,
    /// A minor problem.
    Low,
    /// A problem that should be fixed.
    Medium,
    /// A serious problem.
    High,
    /// A problem that must be fixed before anything ships.
    Critical,
}

impl Severity {
    /// The lowercase name used in the WIT contract and in Cedar policies
    /// (`"info"`, `"low"`, `"medium"`, `"high"`, `"critical"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a rule is about: the finding categories of the Palisade design.
/// Reports (JSON, SARIF, JUnit) carry a finding's category as
/// [`Category::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Hard-coded credentials, keys and tokens.
    Secrets,
    /// Wildcard actions or resources, admin roles, public principals.
    IamLeastPrivilege,
    /// Routes or functions reachable without authentication or MFA.
    Authentication,
    /// Plain HTTP, old TLS, unencrypted connections.
    TransportEncryption,
    /// Storage, queues, logs or environments without encryption.
    EncryptionAtRest,
    /// No throttling, quotas or usage plans.
    RateLimiting,
    /// Missing access or audit logs, short retention.
    Logging,
    /// No tracing, metrics or alarms.
    TracingMonitoring,
    /// Deprecated or unpatched runtimes and images.
    RuntimePatching,
    /// Public endpoints, open security groups, no VPC.
    NetworkIsolation,
    /// No dead-letter queue, retries, concurrency limits or backups.
    Resilience,
    /// Unsigned code, mutable artifacts, unpinned dependencies.
    CodeIntegrity,
    /// Anything else.
    Other,
}

impl Category {
    /// Every category, in the order of the design document.
    pub const ALL: [Category; 13] = [
        Self::Secrets,
        Self::IamLeastPrivilege,
        Self::Authentication,
        Self::TransportEncryption,
        Self::EncryptionAtRest,
        Self::RateLimiting,
        Self::Logging,
        Self::TracingMonitoring,
        Self::RuntimePatching,
        Self::NetworkIsolation,
        Self::Resilience,
        Self::CodeIntegrity,
        Self::Other,
    ];

    /// The name reports use, e.g. `"iam-least-privilege"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secrets => "secrets",
            Self::IamLeastPrivilege => "iam-least-privilege",
            Self::Authentication => "authentication",
            Self::TransportEncryption => "transport-encryption",
            Self::EncryptionAtRest => "encryption-at-rest",
            Self::RateLimiting => "rate-limiting",
            Self::Logging => "logging",
            Self::TracingMonitoring => "tracing-monitoring",
            Self::RuntimePatching => "runtime-patching",
            Self::NetworkIsolation => "network-isolation",
            Self::Resilience => "resilience",
            Self::CodeIntegrity => "code-integrity",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of input a plugin can be asked to evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InputKind {
    /// An authorization request: principal, action, resource, context.
    Authorization,
    /// An HTTP request seen by a gateway (method, path, headers, query).
    Request,
    /// A deployment description (CloudFormation, SAM, serverless.yml,
    /// Terraform plan), already parsed into JSON.
    Deployment,
}

impl InputKind {
    /// Every input kind, for plugins that apply to all of them:
    /// `Metadata::new(..).applies_to(&InputKind::ALL)`.
    pub const ALL: [InputKind; 3] = [Self::Authorization, Self::Request, Self::Deployment];

    /// The lowercase name used in the WIT contract (`"authorization"`,
    /// `"request"`, `"deployment"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorization => "authorization",
            Self::Request => "request",
            Self::Deployment => "deployment",
        }
    }
}

impl fmt::Display for InputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule the plugin can report. Build one with [`Rule::new`] and, optionally,
/// [`Rule::control`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Stable identifier, conventionally `<plugin>.<rule>`, e.g.
    /// `secrets.aws-access-key-id`. Findings refer to it.
    pub id: String,
    /// What the rule is about.
    pub category: Category,
    /// The severity of the rule's findings (a finding may override it).
    pub severity: Severity,
    /// One-line description of what the rule looks for.
    pub title: String,
    /// How to fix a finding of this rule.
    pub remediation: String,
    /// The practice or compliance control the rule enforces.
    pub control: Option<String>,
}

impl Rule {
    /// A rule without a control.
    pub fn new(
        id: impl Into<String>,
        category: Category,
        severity: Severity,
        title: impl Into<String>,
        remediation: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            category,
            severity,
            title: title.into(),
            remediation: remediation.into(),
            control: None,
        }
    }

    /// Sets the practice or compliance control the rule enforces.
    #[must_use]
    pub fn control(mut self, control: impl Into<String>) -> Self {
        self.control = Some(control.into());
        self
    }
}

/// Who a plugin is and which rules it can report; what
/// [`Plugin::metadata`](crate::Plugin::metadata) returns.
///
/// ```
/// use palisade_plugin_sdk::{Category, InputKind, Metadata, Rule, Severity};
///
/// let metadata = Metadata::new("tags", "1.2.0")
///     .applies_to(&[InputKind::Deployment])
///     .rule(Rule::new(
///         "tags.missing-owner",
///         Category::Other,
///         Severity::Low,
///         "Resource has no `owner` tag",
///         "Add an `owner` tag naming the team that runs the resource",
///     ));
/// assert_eq!(metadata.rules.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// The plugin's name; facts appear as `context.plugins.<name>.<fact>`.
    pub name: String,
    /// The plugin's version (semver).
    pub version: String,
    /// The input kinds the host should send. Empty means none.
    pub applies_to: Vec<InputKind>,
    /// Every rule the plugin can report.
    pub rules: Vec<Rule>,
}

impl Metadata {
    /// Metadata with no input kinds and no rules yet.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            applies_to: Vec::new(),
            rules: Vec::new(),
        }
    }

    /// Adds input kinds the plugin evaluates (duplicates are ignored).
    /// Use [`InputKind::ALL`] for all of them.
    #[must_use]
    pub fn applies_to(mut self, kinds: &[InputKind]) -> Self {
        for kind in kinds {
            if !self.applies_to.contains(kind) {
                self.applies_to.push(*kind);
            }
        }
        self
    }

    /// Adds a rule.
    #[must_use]
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }
}

/// One problem found in the input. Usually created through
/// [`Evaluation::finding`], then refined with the chaining setters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Must be one of the ids in [`Metadata::rules`]: the host drops a
    /// finding of an undeclared rule and reports a `bad-output` error, which
    /// denies the decision (as any plugin error does, unless the plugin runs
    /// in monitor mode).
    pub rule_id: String,
    /// What is wrong, for a human. Must not be empty.
    pub message: String,
    /// The resource the finding is about (CloudFormation logical id, route, ...).
    pub resource: Option<String>,
    /// JSON pointer (RFC 6901) to the offending value in the input document;
    /// the host maps it back to a file and line. [`walk`](crate::walk) hands
    /// every value's pointer to its visitor; [`Resource::pointer`] is where a
    /// deployed resource is written.
    pub pointer: Option<String>,
    /// Overrides the rule's severity for this finding.
    pub severity: Option<Severity>,
}

/// What [`Evaluation::finding`] returns: a [`Finding`] already added to the
/// evaluation, whose setters chain.
pub type FindingBuilder = Finding;

impl Finding {
    /// A finding with no resource, pointer or severity override.
    pub fn new(rule_id: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            rule_id: rule_id.into(),
            message: message.into(),
            resource: None,
            pointer: None,
            severity: None,
        }
    }

    /// Sets the resource the finding is about.
    pub fn resource(&mut self, resource: impl Into<String>) -> &mut Self {
        self.resource = Some(resource.into());
        self
    }

    /// Sets the JSON pointer of the offending value.
    pub fn pointer(&mut self, pointer: impl Into<String>) -> &mut Self {
        self.pointer = Some(pointer.into());
        self
    }

    /// Overrides the rule's severity for this finding.
    pub fn severity(&mut self, severity: Severity) -> &mut Self {
        self.severity = Some(severity);
        self
    }
}

/// A typed value handed to the Cedar policies as
/// `context.plugins.<plugin>.<name>`.
///
/// Converts from `bool`, integers (`i64`, `i32`, `u32`, and `u64`/`usize`,
/// which saturate at `i64::MAX`), `&str`/`String`, and `Vec<String>`/`Vec<&str>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactValue {
    /// A Cedar `Bool`.
    Boolean(bool),
    /// A Cedar `Long`.
    Integer(i64),
    /// A Cedar `String`.
    Text(String),
    /// A Cedar `Set<String>`.
    Texts(Vec<String>),
}

impl From<bool> for FactValue {
    fn from(value: bool) -> Self {
        Self::Boolean(value)
    }
}

impl From<i64> for FactValue {
    fn from(value: i64) -> Self {
        Self::Integer(value)
    }
}

impl From<i32> for FactValue {
    fn from(value: i32) -> Self {
        Self::Integer(i64::from(value))
    }
}

impl From<u32> for FactValue {
    fn from(value: u32) -> Self {
        Self::Integer(i64::from(value))
    }
}

impl From<u64> for FactValue {
    /// Saturates at `i64::MAX`.
    fn from(value: u64) -> Self {
        Self::Integer(i64::try_from(value).unwrap_or(i64::MAX))
    }
}

impl From<usize> for FactValue {
    /// Saturates at `i64::MAX`.
    fn from(value: usize) -> Self {
        Self::Integer(i64::try_from(value).unwrap_or(i64::MAX))
    }
}

impl From<&str> for FactValue {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<String> for FactValue {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<&String> for FactValue {
    fn from(value: &String) -> Self {
        Self::Text(value.clone())
    }
}

impl From<Vec<String>> for FactValue {
    fn from(value: Vec<String>) -> Self {
        Self::Texts(value)
    }
}

impl From<Vec<&str>> for FactValue {
    fn from(value: Vec<&str>) -> Self {
        Self::Texts(value.into_iter().map(str::to_owned).collect())
    }
}

/// A named [`FactValue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// The fact's name; must not be empty. Cedar sees
    /// `context.plugins.<plugin>.<name>`, so prefer `snake_case`.
    pub name: String,
    /// The value.
    pub value: FactValue,
}

/// What [`Plugin::evaluate`](crate::Plugin::evaluate) returns: findings in
/// the order they were added, and facts.
///
/// ```
/// use palisade_plugin_sdk::{Evaluation, FactValue, Severity};
///
/// let mut eval = Evaluation::new();
/// eval.finding("tags.missing-owner", "bucket `Logs` has no `owner` tag")
///     .resource("Logs")
///     .pointer("/Resources/Logs/Properties")
///     .severity(Severity::Medium);
/// eval.fact("untagged", 1).fact("untagged_ids", vec!["Logs"]);
/// assert_eq!(eval.findings.len(), 1);
/// assert_eq!(eval.facts[1].value, FactValue::Texts(vec!["Logs".into()]));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// The findings, in the order they were added.
    pub findings: Vec<Finding>,
    /// The facts, in the order they were first set.
    pub facts: Vec<Fact>,
}

impl Evaluation {
    /// An evaluation with no findings and no facts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a finding of rule `rule_id` and returns it for refinement
    /// (`.resource(..)`, `.pointer(..)`, `.severity(..)`).
    pub fn finding(
        &mut self,
        rule_id: impl Into<String>,
        message: impl Into<String>,
    ) -> &mut FindingBuilder {
        self.findings.push_mut(Finding::new(rule_id, message))
    }

    /// Sets fact `name` to `value`; setting the same name again replaces the
    /// value (keeping the fact's original position).
    pub fn fact(&mut self, name: impl Into<String>, value: impl Into<FactValue>) -> &mut Self {
        let name = name.into();
        let value = value.into();
        match self.facts.iter_mut().find(|fact| fact.name == name) {
            Some(fact) => fact.value = value,
            None => self.facts.push(Fact { name, value }),
        }
        self
    }
}

/// One resource of a deployment, normalized the way the Cedar rules see it
/// whatever the input format: SAM `Globals` merged in, Serverless Framework
/// functions and events turned into the CloudFormation resources they
/// deploy, Terraform plan resources under their CloudFormation type and
/// property names.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The CloudFormation type, e.g. `AWS::Lambda::Function`.
    pub resource_type: String,
    /// The logical id (a Terraform address for plans).
    pub logical_id: String,
    /// JSON pointer of the resource in [`Input::document`]: a finding with
    /// this pointer is placed at the resource's file and line. The
    /// properties may have been merged or renamed, so a path inside
    /// [`Resource::properties`] is not a pointer into the document.
    pub pointer: String,
    properties_json: String,
    properties: core::cell::OnceCell<Result<Document, String>>,
}

impl Resource {
    /// A resource whose properties are the JSON text `properties_json`
    /// (parsed on first use).
    pub fn new(
        resource_type: impl Into<String>,
        logical_id: impl Into<String>,
        properties_json: impl Into<String>,
        pointer: impl Into<String>,
    ) -> Self {
        Self {
            resource_type: resource_type.into(),
            logical_id: logical_id.into(),
            pointer: pointer.into(),
            properties_json: properties_json.into(),
            properties: core::cell::OnceCell::new(),
        }
    }

    /// The normalized properties (an object), parsed on first use so that
    /// a plugin that does not read them does not pay for them.
    ///
    /// # Errors
    /// When the host sent text that is not JSON (it does not).
    pub fn properties(&self) -> Result<&Document, String> {
        self.properties
            .get_or_init(|| {
                Document::parse(self.properties_json.clone()).map_err(|err| {
                    format!(
                        "the properties of `{}` are not valid JSON: {err}",
                        self.logical_id
                    )
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl PartialEq for Resource {
    fn eq(&self, other: &Self) -> bool {
        self.resource_type == other.resource_type
            && self.logical_id == other.logical_id
            && self.pointer == other.pointer
            && self.properties_json == other.properties_json
    }
}

/// One input to evaluate, as [`Plugin::evaluate`](crate::Plugin::evaluate)
/// receives it: the SDK has already parsed the JSON texts.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// What kind of input this is.
    pub kind: InputKind,
    /// The document to evaluate. For a deployment this is the template
    /// (CloudFormation, SAM, serverless.yml, Terraform plan) as JSON, with
    /// object keys in document order.
    ///
    /// Read it through [`Document::root`] / [`Document::walk`] (fast,
    /// borrowed [`Node`](crate::json::Node)s); `&input.document` also works
    /// where a `&Value` is expected, at the cost of building the `Value` on
    /// first use (see [`Document::value`]).
    pub document: Document,
    /// For a deployment in a format Palisade recognizes, its resources in
    /// document order; empty otherwise.
    pub resources: Vec<Resource>,
    /// The evaluation time, RFC 3339 — the only clock a plugin sees.
    pub now: String,
}
