//! Machine-readable reports of `check`: SARIF 2.1.0 (GitHub code scanning)
//! and JUnit XML (CI test reports). Both list every finding.

use palisade_engine::{Bundle, Decision, Finding, Severity};
use serde_sarif::sarif;
use std::collections::BTreeMap;

/// A rule as reports describe it.
pub(crate) struct RuleDoc {
    pub id: String,
    pub category: String,
    pub severity: Severity,
    pub title: String,
    pub remediation: Option<String>,
    pub control: Option<String>,
}

/// Every rule the bundle can report: its `forbid` policies and its plugins' rules.
pub(crate) fn rules(bundle: &Bundle) -> BTreeMap<String, RuleDoc> {
    let mut out = BTreeMap::new();
    for p in bundle.policies().filter(|p| p.effect == "forbid") {
        out.insert(
            p.id.clone(),
            RuleDoc {
                id: p.id.clone(),
                category: p.category.to_string(),
                severity: p.severity,
                title: p
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("forbidden by policy `{}`", p.id)),
                remediation: p.remediation.clone(),
                control: p.control.clone(),
            },
        );
    }
    for plugin in bundle.plugins() {
        for r in plugin.metadata().rules.values() {
            out.insert(
                r.id.clone(),
                RuleDoc {
                    id: r.id.clone(),
                    category: r.category.to_string(),
                    severity: r.severity,
                    title: r.title.clone(),
                    remediation: Some(r.remediation.clone()).filter(|s| !s.is_empty()),
                    control: r.control.clone(),
                },
            );
        }
    }
    out
}

fn level(s: Severity) -> sarif::ResultLevel {
    match s {
        Severity::Critical | Severity::High => sarif::ResultLevel::Error,
        Severity::Medium => sarif::ResultLevel::Warning,
        Severity::Low | Severity::Info => sarif::ResultLevel::Note,
    }
}

/// GitHub ranks code-scanning alerts by `security-severity` (0.0 to 10.0).
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

fn properties(pairs: &[(&str, serde_json::Value)]) -> sarif::PropertyBag {
    let additional: BTreeMap<String, serde_json::Value> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    sarif::PropertyBag::builder()
        .additional_properties(additional)
        .build()
}

fn result(f: &Finding) -> sarif::Result {
    let mut region = None;
    if let Some(line) = f.line {
        region = Some(sarif::Region::builder().start_line(i64::from(line)).build());
    }
    let location = sarif::Location::builder()
        .physical_location(
            sarif::PhysicalLocation::builder()
                .artifact_location(
                    sarif::ArtifactLocation::builder()
                        .uri(f.file.clone().unwrap_or_else(|| "-".into()))
                        .build(),
                )
                .region(region.unwrap_or_else(|| sarif::Region::builder().start_line(1).build()))
                .build(),
        )
        .build();
    let text = match &f.resource {
        Some(r) => format!("{r}: {}", f.message),
        None => f.message.clone(),
    };
    let mut props = vec![
        (
            "severity",
            serde_json::Value::String(f.severity.to_string()),
        ),
        (
            "category",
            serde_json::Value::String(f.category.to_string()),
        ),
        ("source", serde_json::Value::String(f.source.to_string())),
    ];
    if let Some(r) = &f.resource {
        props.push(("resource", serde_json::Value::String(r.clone())));
    }
    let builder = sarif::Result::builder()
        .rule_id(f.rule_id.clone())
        .level(level(f.severity))
        .message(sarif::Message::builder().text(text).build())
        .locations(vec![location])
        .properties(properties(&props));
    // SARIF suppressions: `inSource` for markers in the file, `external`
    // for waivers and monitor mode.
    let suppression = match (&f.suppressed, f.monitor) {
        (Some(s), _) => {
            let kind = match s.kind {
                palisade_engine::SuppressionKind::Inline => "inSource",
                palisade_engine::SuppressionKind::Waiver => "external",
            };
            let mut justification = s.reason.clone();
            if let (Some(owner), Some(expires)) = (&s.owner, &s.expires) {
                justification.push_str(&format!(" (owner {owner}, until {expires})"));
            }
            Some(
                sarif::Suppression::builder()
                    .kind(serde_json::Value::String(kind.into()))
                    .status(serde_json::Value::String("accepted".into()))
                    .justification(justification)
                    .location(
                        sarif::Location::builder()
                            .message(sarif::Message::builder().text(s.location.clone()).build())
                            .build(),
                    )
                    .build(),
            )
        }
        (None, true) => Some(
            sarif::Suppression::builder()
                .kind(serde_json::Value::String("external".into()))
                .justification("the rule runs in monitor mode".to_owned())
                .build(),
        ),
        (None, false) => None,
    };
    match suppression {
        Some(s) => builder.suppressions(vec![s]).build(),
        None => builder.build(),
    }
}

/// The decision as a SARIF 2.1.0 log.
pub fn sarif(bundle: &Bundle, d: &Decision) -> String {
    let rules: Vec<sarif::ReportingDescriptor> = rules(bundle)
        .into_values()
        .map(|r| {
            let mut help = r.remediation.clone().unwrap_or_default();
            if let Some(c) = &r.control {
                help = format!("{help}\n\nControl: {c}");
            }
            sarif::ReportingDescriptor::builder()
                .id(r.id.clone())
                .name(r.id.clone())
                .short_description(
                    sarif::MultiformatMessageString::builder()
                        .text(r.title.clone())
                        .build(),
                )
                .full_description(
                    sarif::MultiformatMessageString::builder()
                        .text(r.title.clone())
                        .build(),
                )
                .help(
                    sarif::MultiformatMessageString::builder()
                        .text(help.trim().to_owned())
                        .build(),
                )
                .default_configuration(
                    sarif::ReportingConfiguration::builder()
                        .level(serde_json::to_value(level(r.severity)).unwrap_or_default())
                        .build(),
                )
                .properties(properties(&[
                    ("tags", serde_json::json!(["security", r.category])),
                    (
                        "security-severity",
                        serde_json::Value::String(security_severity(r.severity).into()),
                    ),
                    ("precision", serde_json::Value::String("high".into())),
                ]))
                .build()
        })
        .collect();
    let driver = sarif::ToolComponent::builder()
        .name("palisade")
        .version(env!("CARGO_PKG_VERSION"))
        .information_uri("https://example.invalid/palisade")
        .rules(rules)
        .properties(properties(&[
            (
                "bundle",
                serde_json::Value::String(format!("{} {}", d.bundle.name, d.bundle.version)),
            ),
            (
                "bundleDigest",
                serde_json::Value::String(d.bundle.digest.clone()),
            ),
        ]))
        .build();
    let run = sarif::Run::builder()
        .tool(sarif::Tool::builder().driver(driver).build())
        .results(d.findings.iter().map(result).collect::<Vec<_>>())
        .build();
    let log = sarif::Sarif::builder()
        .version(serde_json::Value::String("2.1.0".into()))
        .schema(sarif::SCHEMA_URL)
        .runs(vec![run])
        .build();
    serde_json::to_string_pretty(&log).unwrap_or_default()
}

/// The decision as JUnit XML: one test case per rule and resource that
/// failed, one passing case per checked file without findings.
pub fn junit(d: &Decision, files: &[String], fail_on: Severity) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("palisade");
    for file in files {
        let mut suite = TestSuite::new(file.clone());
        let mine: Vec<&Finding> = d
            .findings
            .iter()
            .filter(|f| f.file.as_deref() == Some(file))
            .collect();
        if mine.is_empty() {
            let mut case = TestCase::new("no findings", TestCaseStatus::success());
            case.set_classname(file.clone());
            suite.add_test_case(case);
        }
        for f in mine {
            let failing = f.severity >= fail_on && !f.monitor && f.suppressed.is_none();
            let mut status = if failing {
                TestCaseStatus::non_success(NonSuccessKind::Failure)
            } else if let Some(s) = &f.suppressed {
                let mut skipped = TestCaseStatus::skipped();
                skipped.set_message(format!("suppressed at {}: {}", s.location, s.reason));
                skipped
            } else {
                TestCaseStatus::success()
            };
            let at = f
                .line
                .map(|l| format!("{file}:{l}"))
                .unwrap_or_else(|| file.clone());
            let description = format!(
                "{} ({} {}, {})\nat {at}\nfix: {}",
                f.message,
                f.severity,
                f.category,
                f.source,
                f.remediation.as_deref().unwrap_or("-")
            );
            if failing {
                status.set_message(f.message.clone());
                status.set_type(f.severity.to_string());
                status.set_description(description.clone());
            }
            let mut case = TestCase::new(
                format!("{} {}", f.rule_id, f.resource.as_deref().unwrap_or(""))
                    .trim()
                    .to_owned(),
                status,
            );
            case.set_classname(file.clone());
            if !failing {
                case.set_system_out(description);
            }
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string().unwrap_or_default()
}
