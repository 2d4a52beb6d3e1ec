//! Deployment files: plugin findings land on the file and line they are about.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

mod common;

use common::TempBundle;
use palisade_engine::{CheckOptions, Document, Effect, Engine, Now};

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
    let d = engine.check(
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
    let mut a = engine.check(&bundle, &[yaml], &CheckOptions::default(), Now::epoch());
    let mut c = engine.check(&bundle, &[json], &CheckOptions::default(), Now::epoch());
    // Lines differ between the two layouts; everything else must not.
    for f in a.findings.iter_mut().chain(c.findings.iter_mut()) {
        f.line = None;
    }
    assert_eq!(a.to_json(), c.to_json());
}
