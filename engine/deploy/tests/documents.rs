//! Deployment files: plugin findings land on the file and line they are about.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

#[path = "../../core/tests/common/mod.rs"]
mod common;

use common::TempBundle;
use palisade_deploy::{CheckOptions, Document};
use palisade_engine::{Effect, Engine, MemorySource, Now};

const TEMPLATE: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Runtime: python3.12
      Environment:
        Variables:
          TABLE: !Ref OrdersTable
          DB_PASSWORD: hunter2-but-longer-than-that
          API_KEY: "{{resolve:secretsmanager:orders/api-key}}"
"#;

#[test]
fn secrets_in_a_sam_template_are_reported_at_their_line() {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(&[("secrets", "secrets.wasm", "")], "");
    let bundle = b.load(&engine).unwrap();
    let doc = Document::parse("template.yaml", TEMPLATE).unwrap();
    let d = palisade_deploy::check(
        &bundle,
        std::slice::from_ref(&doc),
        &CheckOptions::default(),
        Now::epoch(),
    );
    assert_eq!(d.decision, Effect::Deny, "{}", d.to_json_pretty());
    assert_eq!(
        d.findings.len(),
        1,
        "only the plaintext password, not the reference: {}",
        d.to_json_pretty()
    );
    let f = &d.findings[0];
    assert_eq!(f.rule_id, "secrets.secret-named-field");
    assert_eq!(f.file.as_deref(), Some("template.yaml"));
    assert_eq!(f.line, Some(12));
    assert_eq!(f.resource.as_deref(), Some("Orders"));
    assert_eq!(
        f.pointer.as_deref(),
        Some("/Resources/Orders/Properties/Environment/Variables/DB_PASSWORD")
    );
}

#[test]
fn the_same_file_gives_the_same_bytes_from_yaml_and_json() {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(&[("secrets", "secrets.wasm", "")], "");
    let bundle = b.load(&engine).unwrap();
    let yaml = Document::parse("t", TEMPLATE).unwrap();
    let json = Document::parse("t", &serde_json::to_string_pretty(&yaml.value).unwrap()).unwrap();
    let mut a = palisade_deploy::check(&bundle, &[yaml], &CheckOptions::default(), Now::epoch());
    let mut c = palisade_deploy::check(&bundle, &[json], &CheckOptions::default(), Now::epoch());
    // Lines differ between the two layouts; everything else must not.
    for f in a.findings.iter_mut().chain(c.findings.iter_mut()) {
        f.line = None;
    }
    assert_eq!(a.to_json(), c.to_json());
}

// Issue 9: a check fails closed.

#[test]
fn a_policy_error_in_a_check_is_not_hidden_by_a_low_forbid_elsewhere() {
    let engine = Engine::new().unwrap();
    let bundle = engine
        .load_bundle_from(
            &MemorySource::new("check")
                .file(
                    "palisade.toml",
                    b"[bundle]\nname = \"c\"\nversion = \"1\"\n".as_slice(),
                )
                .file(
                    "policies/p.cedar",
                    br#"@id("deploy") permit(principal, action, resource);
@id("no-queues") @severity("low") forbid(principal, action, resource is AWS::SQS::Queue);
@id("needs-tracing") forbid(principal, action, resource is AWS::Lambda::Function)
  unless { resource.Properties.TracingConfig.Mode == "Active" };
"#
                    .as_slice(),
                ),
        )
        .unwrap();
    // The function has no TracingConfig: the forbid errors (and Cedar
    // skips it); the queue is forbidden, but only at `low`.
    let doc = Document::parse(
        "template.yaml",
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Runtime: python3.12\n",
    )
    .unwrap();
    let d = palisade_deploy::check(&bundle, &[doc], &CheckOptions::default(), Now::epoch());
    assert_eq!(d.decision, Effect::Deny, "{}", d.to_json_pretty());
    assert!(
        d.errors
            .iter()
            .any(|e| e.policy.as_deref() == Some("needs-tracing")),
        "{}",
        d.to_json_pretty()
    );
}

#[test]
fn a_library_check_of_what_is_no_deployment_denies() {
    use palisade_engine::Basis;
    let engine = Engine::new().unwrap();
    let b = engine
        .load_bundle_from(
            &MemorySource::new("t")
                .file(
                    "palisade.toml",
                    b"[bundle]\nname = \"t\"\nversion = \"1.0.0\"\n".as_slice(),
                )
                .file(
                    "policies/p.cedar",
                    br#"@id("all") permit(principal, action, resource);"#.as_slice(),
                ),
        )
        .unwrap();
    let options = CheckOptions::default();
    for text in ["", "Killed", "name: x\n"] {
        let doc = Document::parse("plan.json", text).unwrap();
        let d = palisade_deploy::check(&b, &[doc], &options, Now::epoch());
        assert_eq!(
            (d.decision, d.basis),
            (Effect::Deny, Basis::InvalidRequest),
            "{text:?}: {}",
            d.to_json_pretty()
        );
        assert!(
            d.errors[0].message.starts_with("plan.json:1:1: "),
            "{}",
            d.errors[0].message
        );
    }
    // With a real template beside it, still a deny.
    let good = Document::parse("t.yaml", "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n").unwrap();
    let bad = Document::parse("x.yaml", "").unwrap();
    let d = palisade_deploy::check(&b, &[good, bad], &options, Now::epoch());
    assert_eq!(d.decision, Effect::Deny, "{}", d.to_json_pretty());
}

/// Plugins get the deployment's normalized resources: one rule written
/// against `Environment.Variables` finds the same flag in every format,
/// wherever the format lets it be written (SAM `Globals`, the provider of
/// a serverless.yml, a Terraform plan's `environment` block), and its
/// finding lands on the resource's line.
#[test]
fn plugins_see_normalized_resources_in_every_format() {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(&[("no-debug", "no-debug.wasm", "")], "");
    let bundle = b.load(&engine).unwrap();
    let sam = r#"AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Environment:
      Variables:
        DEBUG: "true"
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Runtime: python3.12
"#;
    let serverless = r#"service: orders
provider:
  name: aws
  runtime: nodejs20.x
  environment:
    debug: "1"
functions:
  list:
    handler: list.handler
"#;
    let plan = r#"{"format_version": "1.2", "planned_values": {"root_module": {"resources": [
  {"address": "aws_lambda_function.orders", "mode": "managed", "type": "aws_lambda_function",
   "name": "orders", "values": {"function_name": "orders", "runtime": "python3.12",
   "environment": [{"variables": {"DEBUG": "on"}}]}}]}}}"#;
    let quiet = r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Environment:
        Variables:
          DEBUG: "false"
"#;
    let mut expected = vec![
        ("template.yaml", "Orders", 9),
        ("serverless.yml", "ListLambdaFunction", 8),
        ("plan.json", "aws_lambda_function.orders", 2),
    ];
    let docs: Vec<Document> = [
        ("template.yaml", sam),
        ("serverless.yml", serverless),
        ("plan.json", plan),
        ("quiet.yaml", quiet),
    ]
    .iter()
    .map(|(f, t)| Document::parse(f, t).unwrap())
    .collect();
    let d = palisade_deploy::check(&bundle, &docs, &CheckOptions::default(), Now::epoch());
    let mut found: Vec<(&str, &str, u32)> = d
        .findings
        .iter()
        .filter(|f| f.rule_id == "no-debug.function-debug-env")
        .map(|f| {
            (
                f.file.as_deref().unwrap(),
                f.resource.as_deref().unwrap(),
                f.line.unwrap(),
            )
        })
        .collect();
    found.sort_unstable();
    expected.sort_unstable();
    assert_eq!(found, expected, "{}", d.to_json_pretty());
    assert!(
        d.is_allowed(),
        "medium findings pass at the default --fail-on high"
    );
    // The plugin's log line reaches the decision, not its JSON.
    let logs: Vec<&str> = d.plugin_logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(
        logs,
        [
            "1 functions checked, 1 with a debug flag",
            "1 functions checked, 1 with a debug flag",
            "1 functions checked, 1 with a debug flag",
            "1 functions checked, 0 with a debug flag",
        ],
        "one line per document, in order"
    );
    assert!(!d.to_json().contains("plugin_logs"));
}
