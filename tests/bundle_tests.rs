//! `palisade test`: a bundle's own test cases.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

mod common;

use common::{copy_dir, palisade, root, text};
use std::path::Path;
use std::process::Output;

fn palisade_test(bundle: &Path, cache: &Path) -> Output {
    palisade(&["test", bundle.to_str().unwrap()], cache)
}

#[test]
fn every_serverless_baseline_rule_has_passing_and_failing_cases_that_hold() {
    let cache = tempfile::tempdir().unwrap();
    let out = palisade_test(&root().join("policies/serverless-baseline"), cache.path());
    let s = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{s}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(s.contains(" passed, 0 failed"), "{s}");
    assert!(!s.contains("FAIL"), "{s}");
}

#[test]
fn every_gateway_baseline_rule_has_passing_and_failing_cases_that_hold() {
    let cache = tempfile::tempdir().unwrap();
    let out = palisade_test(&root().join("policies/gateway-baseline"), cache.path());
    let s = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{s}");
    assert!(s.contains(" passed, 0 failed"), "{s}");
    // Request cases really ran through Cedar and the plugin.
    assert!(
        s.contains("ok    incident.suspended-token :: a revoked token id is denied"),
        "{s}"
    );
    assert!(
        s.contains("ok    secrets.private-key :: a PEM private key in the query string fails"),
        "{s}"
    );
}

#[test]
fn a_wrong_expectation_and_a_rule_without_cases_fail_the_run() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("b");
    copy_dir(&root().join("policies/serverless-baseline"), &bundle);
    // Break one case: a queue with SSE-SQS does not fail the rule.
    let case = bundle.join("tests/enc.sqs-unencrypted.yaml");
    let text = std::fs::read_to_string(&case).unwrap().replace(
        "name: SSE-SQS passes\n    expect: pass",
        "name: SSE-SQS passes\n    expect: fail",
    );
    std::fs::write(&case, text).unwrap();
    // And drop every case of another rule.
    std::fs::remove_file(bundle.join("tests/enc.sns-unencrypted.yaml")).unwrap();

    let out = palisade_test(&bundle, cache.path());
    let s = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{s}");
    assert!(
        s.contains("FAIL  enc.sqs-unencrypted :: SSE-SQS passes"),
        "{s}"
    );
    // The case names no `resource:`, so the message names none either.
    assert!(
        s.contains("expected `enc.sqs-unencrypted` to report, it did not"),
        "{s}"
    );
    assert!(
        s.contains("FAIL  enc.sns-unencrypted :: has no failing test case"),
        "{s}"
    );
    assert!(
        s.contains("FAIL  enc.sns-unencrypted :: has no passing test case"),
        "{s}"
    );
    assert!(s.contains(", 3 failed"), "{s}");
}

#[test]
fn bad_test_files_name_their_line_and_never_print_what_they_read() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("b");
    copy_dir(&root().join("policies/serverless-baseline"), &bundle);
    let tests = bundle.join("tests");
    // A secret outside the bundle, linked in by a pull request.
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "hunter2-the-password\n").unwrap();
    std::os::unix::fs::symlink(&secret, tests.join("evil.yaml")).unwrap();
    // A link that stays inside the bundle is read.
    std::fs::copy(
        tests.join("enc.sqs-unencrypted.yaml"),
        bundle.join("sqs.yaml"),
    )
    .unwrap();
    std::fs::remove_file(tests.join("enc.sqs-unencrypted.yaml")).unwrap();
    std::os::unix::fs::symlink("../sqs.yaml", tests.join("enc.sqs-unencrypted.yaml")).unwrap();
    std::fs::write(tests.join("empty.yaml"), "").unwrap();
    std::fs::write(
        tests.join("typo.yaml"),
        "rule: enc.sqs-unencrypted\ncases:\n  - name: x\n    tempalte: {}\n    expect: fail\n",
    )
    .unwrap();
    std::fs::write(
        tests.join("wrong-type.yaml"),
        "rule: enc.sqs-unencrypted\ncases:\n  - name: x\n    expect: 42\n",
    )
    .unwrap();
    std::fs::write(
        tests.join("text.yaml"),
        "a-long-plain-secret-value-".repeat(1000),
    )
    .unwrap();

    let out = palisade_test(&bundle, cache.path());
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        !stderr.contains("hunter2") && !stdout.contains("hunter2"),
        "{stderr}"
    );
    assert!(
        stderr.contains("evil.yaml: is a symbolic link out of"),
        "{stderr}"
    );
    assert!(stderr.contains("empty.yaml: the file is empty"), "{stderr}");
    assert!(
        stderr.contains("typo.yaml:3: cases[0]: unknown field `tempalte`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("wrong-type.yaml:4: cases[0].expect: invalid type: integer `42`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("text.yaml:1: invalid type: a string"),
        "{stderr}"
    );
    assert!(!stderr.contains("a-long-plain-secret-value-"), "{stderr}");
    // The linked file inside the bundle ran.
    assert!(stdout.contains("ok    enc.sqs-unencrypted ::"), "{stdout}");
}

#[test]
fn a_case_that_evaluates_nothing_is_a_failure_not_a_pass() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("b");
    copy_dir(&root().join("policies/gateway-baseline"), &bundle);
    // Each of these passed before: nothing the rule could judge ran.
    std::fs::write(
        bundle.join("tests/vacuous.yaml"),
        r#"rule: auth.mfa-for-admin
cases:
  - name: a route that does not exist
    expect: pass
    request: { method: GET, path: /no/such/route, headers: { host: api.example.com } }
    claims: { sub: alice, groups: [admins], amr: [pwd], iat: 1764374400 }
  - name: a path that names no resource exactly
    expect: pass
    request: { method: GET, path: /tenants/acme/../globex/orders/1, headers: { host: api.example.com } }
    claims: { sub: alice, groups: [admins], amr: [pwd], iat: 1764374400 }
"#,
    )
    .unwrap();
    let out = palisade_test(&bundle, cache.path());
    let s = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{s}");
    for case in [
        "a route that does not exist",
        "a path that names no resource exactly",
    ] {
        assert!(
            s.contains(&format!("FAIL  auth.mfa-for-admin :: {case}")),
            "{s}"
        );
    }
    assert!(
        s.contains(
            "nothing was evaluated: the request was refused before the policies ran (403 no-route)"
        ),
        "{s}"
    );
    assert!(s.contains(", 2 failed"), "{s}");

    let bundle = dir.path().join("s");
    copy_dir(&root().join("policies/serverless-baseline"), &bundle);
    std::fs::write(
        bundle.join("tests/vacuous.yaml"),
        r#"rule: enc.sqs-unencrypted
cases:
  - name: a file Palisade does not recognise
    expect: pass
    template: { Queue: { Type: AWS::SQS::Queue } }
  - name: a resource the template does not have
    expect: fail
    resource: Jobs
    template:
      Resources:
        Queue: { Type: AWS::SQS::Queue }
"#,
    )
    .unwrap();
    let out = palisade_test(&bundle, cache.path());
    let s = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{s}");
    assert!(
        s.contains("FAIL  enc.sqs-unencrypted :: a file Palisade does not recognise\n      nothing was evaluated: the template creates no resource Palisade recognises"),
        "{s}"
    );
    assert!(
        s.contains("FAIL  enc.sqs-unencrypted :: a resource the template does not have\n      `resource: Jobs` is not a resource of the template (it has: Queue)"),
        "{s}"
    );
    assert!(s.contains(", 2 failed"), "{s}");
}

#[test]
fn cases_that_prove_nothing_about_their_rule_fail() {
    // Found by a hostile review: each of these passed although the rule
    // was never judged on what the case claims.
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sl = dir.path().join("sl");
    copy_dir(&root().join("policies/serverless-baseline"), &sl);
    std::fs::write(
        sl.join("tests/vacuous.yaml"),
        r#"rule: enc.sqs-unencrypted
cases:
  - name: a misspelt type is no queue
    expect: pass
    template:
      Resources:
        Queue: { Type: AWS::SQS::Queues, Properties: { KmsMasterKeyId: alias/orders } }
  - name: a bucket is not what the rule judges
    expect: pass
    resource: Bucket
    template:
      Resources:
        Queue: { Type: AWS::SQS::Queue, Properties: { SqsManagedSseEnabled: true } }
        Bucket: { Type: AWS::S3::Bucket }
  - name: a suppressed finding is no failure
    expect: fail
    template:
      Resources:
        Queue:
          Type: AWS::SQS::Queue
          Metadata: { palisade: { skip: [{ rule: enc.sqs-unencrypted, reason: accepted by ops }] } }
"#,
    )
    .unwrap();
    std::fs::write(
        sl.join("tests/typo.yaml"),
        "rule: enc.sqs-unencrypted-typo\ncases:\n  - name: x\n    expect: pass\n    template: { Resources: { Q: { Type: AWS::SQS::Queue } } }\n",
    )
    .unwrap();
    let out = palisade_test(&sl, cache.path());
    let s = String::from_utf8_lossy(&out.stdout);
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{s}");
    for (case, why) in [
        (
            "a misspelt type is no queue",
            "nothing was evaluated: `enc.sqs-unencrypted` judges `AWS::SQS::Queue` resources and the template has none",
        ),
        (
            "a bucket is not what the rule judges",
            "`resource: Bucket` is not a `AWS::SQS::Queue`",
        ),
        (
            "a suppressed finding is no failure",
            "expected `enc.sqs-unencrypted` to report, it did not",
        ),
    ] {
        assert!(
            s.contains(&format!("FAIL  enc.sqs-unencrypted :: {case}\n      {why}")),
            "{case}: {s}"
        );
    }
    assert!(
        e.contains("rule `enc.sqs-unencrypted-typo` is not a rule of this bundle"),
        "{e}"
    );
    // And a file that is not read says so.
    std::fs::create_dir(sl.join("tests/more")).unwrap();
    std::fs::write(sl.join("tests/more/x.yaml"), "rule: x\ncases: []\n").unwrap();
    let out = palisade_test(&sl, cache.path());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("tests/more` is not read"), "{e}");

    let gw = dir.path().join("gw");
    copy_dir(&root().join("policies/gateway-baseline"), &gw);
    std::fs::write(
        gw.join("tests/vacuous.yaml"),
        r#"rule: auth.mfa-for-admin
cases:
  - name: a resource that is not the request's
    expect: pass
    resource: orders
    request: { method: GET, path: /admin/users, headers: { host: api.example.com } }
    claims: { sub: alice, groups: [admins], amr: [mfa], iat: 1767225000 }
  - name: an anonymous caller is turned away first
    expect: pass
    request: { method: GET, path: /admin/users, headers: { host: api.example.com } }
  - name: a principal is not how a request names its caller
    expect: pass
    principal: 'User::"alice"'
    request: { method: GET, path: /admin/users, headers: { host: api.example.com } }
    claims: { sub: alice, groups: [admins], amr: [mfa], iat: 1767225000 }
  - name: a bearer header is not verified in tests
    expect: pass
    request: { method: GET, path: /admin/users, headers: { host: api.example.com, authorization: "Bearer a.b.c" } }
"#,
    )
    .unwrap();
    let out = palisade_test(&gw, cache.path());
    let s = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{s}");
    for (case, why) in [
        (
            "a resource that is not the request's",
            "`resource: orders` is not the request's resource (`Service::\"orders\"`)",
        ),
        (
            "an anonymous caller is turned away first",
            "nothing was evaluated: the request was refused as unauthenticated (401",
        ),
        (
            "a principal is not how a request names its caller",
            "`principal` is for template cases",
        ),
        (
            "a bearer header is not verified in tests",
            "an `authorization` header is not verified in tests",
        ),
    ] {
        assert!(
            s.contains(&format!("FAIL  auth.mfa-for-admin :: {case}\n      {why}")),
            "{case}: {s}"
        );
    }
}

#[test]
fn the_controls_table_must_place_every_rule_on_the_types_it_judges() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("b");
    copy_dir(&root().join("policies/serverless-baseline"), &bundle);
    let controls = bundle.join("controls.json");
    let original = std::fs::read_to_string(&controls).unwrap();
    let mut table: serde_json::Value = serde_json::from_str(&original).unwrap();
    let rules = table["rules"].as_object_mut().unwrap();
    // A rule left out, and a rule said to judge a type it does not.
    rules.remove("enc.sns-unencrypted").unwrap();
    rules["enc.sqs-unencrypted"]["resources"] = serde_json::json!(["AWS::SNS::Topic"]);
    // (and the peer checks that named it)
    table["checks"]
        .as_array_mut()
        .unwrap()
        .retain(|c| !c["rules"].to_string().contains("enc.sns-unencrypted"));
    std::fs::write(&controls, serde_json::to_string_pretty(&table).unwrap()).unwrap();
    let out = palisade_test(&bundle, cache.path());
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("rule `enc.sns-unencrypted` is not in the controls table"),
        "{stderr}"
    );
    assert!(
        stdout.contains("the controls table says `enc.sqs-unencrypted` judges AWS::SNS::Topic"),
        "{stdout}"
    );

    // A name that is no rule of the bundle refuses the bundle, at its line.
    let typo = original.replacen("\"enc.sqs-unencrypted\"", "\"enc.sqs-unencrypte\"", 1);
    std::fs::write(&controls, &typo).unwrap();
    let line = typo
        .lines()
        .position(|l| l.contains("enc.sqs-unencrypte\""))
        .unwrap()
        + 1;
    let out = palisade(
        &["bundle", "validate", bundle.to_str().unwrap()],
        cache.path(),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("controls.json:{line}"))
            && stderr.contains("`enc.sqs-unencrypte` is no rule of this bundle"),
        "{stderr}"
    );
    // A controls file outside the bundle is refused like any other path.
    std::fs::write(&controls, &original).unwrap();
    let manifest = bundle.join("palisade.toml");
    let m = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        m.replace(
            "controls = \"controls.json\"",
            "controls = \"../controls.json\"",
        ),
    )
    .unwrap();
    let out = palisade(
        &["bundle", "validate", bundle.to_str().unwrap()],
        cache.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
