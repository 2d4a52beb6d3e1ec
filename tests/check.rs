//! `palisade check` on the shipped examples with the built-in bundle.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

mod common;

use common::{palisade, root};
use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

const NOW: &str = "2026-11-29T00:00:00Z";

fn check_json(path: &Path, extra: &[&str], cache: &Path) -> (i32, serde_json::Value) {
    let mut args = vec![
        "check",
        path.to_str().unwrap(),
        "--format",
        "json",
        "--now",
        NOW,
    ];
    args.extend_from_slice(extra);
    let out = palisade(&args, cache);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), v)
}

fn rules(v: &serde_json::Value) -> BTreeSet<(String, String)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_owned(),
                f["resource"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_insecure_example_gets_the_findings_a_reviewer_expects() {
    let cache = tempfile::tempdir().unwrap();
    let (code, v) = check_json(
        &root().join("examples/sam/insecure.yaml"),
        &[],
        cache.path(),
    );
    assert_eq!(code, 1, "{v}");
    let expected: BTreeSet<(String, String)> = [
        ("auth.sam-function-url-public", "OrdersFunction"),
        ("enc.dynamodb-default-key", "OrdersTable"),
        ("enc.lambda-env-without-cmk", "OrdersFunction"),
        ("enc.sqs-unencrypted", "OrdersQueue"),
        ("iam.lambda-permission-public", "PublicInvoke"),
        ("integrity.lambda-without-code-signing", "OrdersFunction"),
        ("log.log-group-without-retention", "OrdersLogs"),
        ("patch.deprecated-runtime", "OrdersFunction"),
        ("rate.lambda-without-reserved-concurrency", "OrdersFunction"),
        ("trace.sam-function-without-xray", "OrdersFunction"),
        ("secrets.aws-access-key-id", "OrdersFunction"),
        ("secrets.secret-named-field", "OrdersFunction"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(rules(&v), expected);
    assert!(v["errors"].as_array().unwrap().is_empty(), "{v}");
    // Every finding names its file and line.
    for f in v["findings"].as_array().unwrap() {
        assert!(
            f["file"]
                .as_str()
                .unwrap()
                .ends_with("examples/sam/insecure.yaml"),
            "{f}"
        );
        assert!(f["line"].as_u64().unwrap() > 0, "{f}");
    }
    let url = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "auth.sam-function-url-public")
        .unwrap();
    assert_eq!(url["line"], 12);
    assert_eq!(url["category"], "authentication");
    let key = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "secrets.aws-access-key-id")
        .unwrap();
    assert_eq!(key["line"], 23);
}

#[test]
fn the_secure_example_has_no_findings() {
    let cache = tempfile::tempdir().unwrap();
    let (code, v) = check_json(
        &root().join("examples/sam/secure.yaml"),
        &["--fail-on", "info"],
        cache.path(),
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["findings"].as_array().unwrap().len(), 0, "{v}");
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["bundle"]["name"], "serverless-baseline");
}

#[test]
fn fail_on_decides_the_exit_code_but_every_finding_is_reported() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let only_low = dir.path().join("t.yaml");
    std::fs::write(
        &only_low,
        "Resources:\n  Logs:\n    Type: AWS::Logs::LogGroup\n",
    )
    .unwrap();
    let (code, v) = check_json(&only_low, &[], cache.path());
    assert_eq!(
        code, 0,
        "a low finding does not fail at the default --fail-on high: {v}"
    );
    assert_eq!(rules(&v).len(), 1);
    let (code, _) = check_json(&only_low, &["--fail-on", "low"], cache.path());
    assert_eq!(code, 1);
}

#[test]
fn deployer_aware_policy_lets_the_security_team_keep_a_public_url() {
    let cache = tempfile::tempdir().unwrap();
    let file = root().join("examples/sam/insecure.yaml");
    let (_, anyone) = check_json(&file, &[], cache.path());
    let (_, security) = check_json(
        &file,
        &["--principal", r#"Deployer::"security-pipeline""#],
        cache.path(),
    );
    assert!(rules(&anyone).contains(&(
        "auth.sam-function-url-public".into(),
        "OrdersFunction".into()
    )));
    assert!(!rules(&security).contains(&(
        "auth.sam-function-url-public".into(),
        "OrdersFunction".into()
    )));
}

#[test]
fn runtime_support_is_judged_against_now() {
    let cache = tempfile::tempdir().unwrap();
    let file = root().join("examples/sam/insecure.yaml");
    let mut args = vec![
        "check",
        file.to_str().unwrap(),
        "--format",
        "json",
        "--now",
        "2024-01-01T00:00:00Z",
    ];
    let before = palisade(&args, cache.path());
    let before: serde_json::Value = serde_json::from_slice(&before.stdout).unwrap();
    assert!(
        !rules(&before)
            .iter()
            .any(|(r, _)| r == "patch.deprecated-runtime"),
        "python3.8 was supported until 2024-10-14"
    );
    args[5] = "2024-10-15T00:00:00Z";
    let after = palisade(&args, cache.path());
    let after: serde_json::Value = serde_json::from_slice(&after.stdout).unwrap();
    assert!(
        rules(&after)
            .iter()
            .any(|(r, _)| r == "patch.deprecated-runtime")
    );
}

#[test]
fn a_broken_file_is_reported_and_the_others_are_still_checked() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a-broken.yaml"),
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: [oops\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b-queue.yaml"),
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("c-notes.yaml"), "just: notes\n").unwrap();
    std::fs::write(dir.path().join("readme.txt"), "not even yaml: [").unwrap();
    let out = palisade(
        &[
            "check",
            dir.path().to_str().unwrap(),
            "--format",
            "json",
            "--now",
            NOW,
        ],
        cache.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a-broken.yaml:5:1:"), "{err}");
    assert!(err.contains("expected"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        rules(&v),
        BTreeSet::from([("enc.sqs-unencrypted".to_string(), "Q".to_string())])
    );
}

#[test]
fn standard_input_works_and_bad_arguments_exit_2() {
    let cache = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["check", "-", "--format", "json", "--now", NOW])
        .env("PALISADE_CACHE_DIR", cache.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Resources:\n  T:\n    Type: AWS::SNS::Topic\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"][0]["rule_id"], "enc.sns-unencrypted");
    assert_eq!(v["findings"][0]["file"], "-");

    for args in [
        vec!["check", "/no/such/file.yaml"],
        vec![
            "check",
            "examples/sam/secure.yaml",
            "--bundle",
            "builtin:nope",
        ],
        vec![
            "check",
            "examples/sam/secure.yaml",
            "--principal",
            "not-an-entity",
        ],
        vec!["check", "examples/sam/secure.yaml", "--fail-on", "severe"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(&args)
            .current_dir(root())
            .env("PALISADE_CACHE_DIR", cache.path())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn output_goes_to_a_file_when_asked() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let file = root().join("examples/sam/insecure.yaml");
    let out = palisade(
        &[
            "check",
            file.to_str().unwrap(),
            "--format",
            "json",
            "--now",
            NOW,
            "--output",
            report.to_str().unwrap(),
        ],
        cache.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(v["decision"], "deny");
}

#[test]
fn human_output_groups_by_file_and_resource_with_fixes() {
    let cache = tempfile::tempdir().unwrap();
    let file = root().join("examples/sam/insecure.yaml");
    let out = palisade(
        &["check", file.to_str().unwrap(), "--now", NOW],
        cache.path(),
    );
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("\n  PublicInvoke\n    critical iam.lambda-permission-public"),
        "{s}"
    );
    assert!(
        s.contains("fix: set Principal to the calling service"),
        "{s}"
    );
    assert!(
        s.contains("FAIL  12 findings (5 at high or above) in 1 file"),
        "{s}"
    );
    assert!(!s.contains('\u{1b}'), "plain when NO_COLOR is set");
}

#[test]
fn sarif_is_valid_sarif_2_1_0_and_complete_for_code_scanning() {
    let cache = tempfile::tempdir().unwrap();
    let file = root().join("examples/sam/insecure.yaml");
    let out = palisade(
        &[
            "check",
            file.to_str().unwrap(),
            "--format",
            "sarif",
            "--now",
            NOW,
        ],
        cache.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The official schema, except for one pattern: the published
    // `run.language` pattern has a stray `]` that is not a valid regex.
    let schema_text =
        std::fs::read_to_string(root().join("tests/fixtures/sarif-schema-2.1.0.json"))
            .unwrap()
            .replace(
                r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#,
                r#""^[a-zA-Z]{2}(-[a-zA-Z]{2})?$""#,
            );
    let schema: serde_json::Value = serde_json::from_str(&schema_text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The validator does catch a broken log.
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    assert!(!validator.is_valid(&broken));

    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    let rules: BTreeSet<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 12);
    for r in results {
        assert!(
            rules.contains(r["ruleId"].as_str().unwrap()),
            "result without a rule: {r}"
        );
        let loc = &r["locations"][0]["physicalLocation"];
        assert!(
            loc["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .ends_with("insecure.yaml")
        );
        assert!(loc["region"]["startLine"].as_u64().unwrap() > 0);
    }
    for rule in run["tool"]["driver"]["rules"].as_array().unwrap() {
        assert!(
            !rule["help"]["text"].as_str().unwrap().is_empty(),
            "rule without help: {rule}"
        );
        assert!(
            rule["properties"]["security-severity"]
                .as_str()
                .unwrap()
                .parse::<f64>()
                .is_ok()
        );
    }
    let public = results
        .iter()
        .find(|r| r["ruleId"] == "iam.lambda-permission-public")
        .unwrap();
    assert_eq!(public["level"], "error");
    assert_eq!(
        public["locations"][0]["physicalLocation"]["region"]["startLine"],
        39
    );
}

#[test]
fn junit_has_a_case_per_rule_and_resource_and_fails_only_from_fail_on() {
    let cache = tempfile::tempdir().unwrap();
    let insecure = root().join("examples/sam/insecure.yaml");
    let secure = root().join("examples/sam/secure.yaml");
    let out = palisade(
        &[
            "check",
            insecure.to_str().unwrap(),
            secure.to_str().unwrap(),
            "--format",
            "junit",
            "--now",
            NOW,
        ],
        cache.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let xml = String::from_utf8(out.stdout).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(
        xml.contains(
            r#"<testsuites name="palisade" tests="13" skipped="0" failures="5" errors="0">"#
        ),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<testcase name="iam.lambda-permission-public PublicInvoke""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<testcase name="no findings""#),
        "the secure file passes: {xml}"
    );
}

#[test]
fn serverless_framework_functions_inherit_provider_settings_and_are_checked() {
    let cache = tempfile::tempdir().unwrap();
    let (code, v) = check_json(
        &root().join("examples/serverless/insecure.yml"),
        &[],
        cache.path(),
    );
    assert_eq!(code, 1, "{v}");
    let found = rules(&v);
    for expected in [
        ("auth.function-url-public", "GetOrderLambdaFunctionUrl"),
        ("patch.deprecated-runtime", "GetOrderLambdaFunction"),
        ("patch.deprecated-runtime", "ListOrdersLambdaFunction"),
        ("enc.sqs-unencrypted", "OrdersQueue"),
        ("secrets.secret-named-field", ""),
    ] {
        assert!(
            found.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "missing {expected:?} in {found:?}"
        );
    }
    let findings = v["findings"].as_array().unwrap();
    let url = findings
        .iter()
        .find(|f| f["rule_id"] == "auth.function-url-public")
        .unwrap();
    assert_eq!(url["line"], 20);
    let secret = findings
        .iter()
        .find(|f| f["rule_id"] == "secrets.secret-named-field")
        .unwrap();
    assert_eq!(
        secret["line"], 9,
        "the plaintext Stripe key, not the ${{ssm:...}} reference: {secret}"
    );
    assert_eq!(
        findings
            .iter()
            .filter(|f| f["rule_id"] == "secrets.secret-named-field")
            .count(),
        1
    );
}
