//! Decisions byte for byte: what Palisade answers for every example and
//! every test case of the shipped bundles, compared with what it answered
//! when `tests/golden/` was recorded.
//!
//! The decision JSON is a contract (DESIGN.md): a CI run and a gateway that
//! run the same bundle on the same input must print the same bytes, today
//! and after any refactoring. A change that alters one byte fails here with
//! the input and the first line that differs.
//!
//! After an intended change of output, record again and review the diff:
//! `PALISADE_BLESS=1 cargo test --test golden`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)] // test code: a panic is a failure report

mod common;

use common::{palisade, root, text};
use palisade_deploy::{CheckOptions, Document};
use palisade_engine::{Bundle, Now, Severity, cedar_policy::EntityUid};
use palisade_gateway::HttpRequest;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;
use std::str::FromStr;

const NOW: &str = "2026-11-29T00:00:00Z";

/// The time `palisade test` decides cases at, unless a case names one.
const CASE_NOW: &str = "2026-01-01T00:00:00Z";

/// Compares `actual` with the recorded `tests/golden/NAME`, or records it.
fn golden(name: &str, actual: &str) -> Result<(), String> {
    let path = root().join("tests/golden").join(name);
    if std::env::var_os("PALISADE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return Ok(());
    }
    let expected = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e} (record it with PALISADE_BLESS=1)", path.display()))?;
    if expected == actual {
        return Ok(());
    }
    let (n, (want, got)) = expected
        .lines()
        .chain(std::iter::repeat("<end>"))
        .zip(actual.lines().chain(std::iter::repeat("<end>")))
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .unwrap_or((0, ("<same lines>", "<other line ends>")));
    Err(format!(
        "{name}: line {} differs\n  recorded: {want}\n  now:      {got}",
        n + 1
    ))
}

fn all_pass(failures: Vec<String>) {
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `palisade check EXAMPLE` in each output format, compared with
/// `tests/golden/check/`.
fn check_example(example: &str) {
    let cache = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (format, ext) in [("json", "json"), ("sarif", "sarif"), ("junit", "xml")] {
        // Relative paths, as CI runs it: file names are in the output.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(["check", example, "--now", NOW, "--format", format])
            .current_dir(root().join("examples"))
            .env("PALISADE_CACHE_DIR", cache.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{example} {format}: {}",
            text(&out.stderr)
        );
        let name = format!("check/{}.{ext}", example.replace('/', "."));
        if let Err(e) = golden(&name, &text(&out.stdout)) {
            failures.push(e);
        }
    }
    all_pass(failures);
}

/// One test per deployment example; [`every_example_has_its_test`] keeps
/// the list whole.
macro_rules! examples {
    ($($test:ident => $path:literal,)*) => {
        const EXAMPLES: &[&str] = &[$($path),*];
        $(
            #[test]
            fn $test() {
                check_example($path);
            }
        )*
    };
}

examples! {
    sam_insecure => "sam/insecure.yaml",
    sam_secure => "sam/secure.yaml",
    serverless_insecure => "serverless/insecure.yml",
    serverless_secure => "serverless/secure.yml",
    terraform_insecure => "terraform/insecure.tfplan.json",
    terraform_secure => "terraform/secure.tfplan.json",
}

#[test]
fn every_example_has_its_test() {
    // A deployment example added under examples/ without a line in
    // `examples!` (and recorded output) fails here.
    let mut found = Vec::new();
    for dir in ["sam", "serverless", "terraform"] {
        for e in std::fs::read_dir(root().join("examples").join(dir)).unwrap() {
            found.push(format!(
                "{dir}/{}",
                e.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    found.sort();
    let mut listed: Vec<String> = EXAMPLES.iter().map(|s| (*s).to_owned()).collect();
    listed.sort();
    assert_eq!(found, listed);
}

#[test]
fn authorize_decisions_of_the_examples_are_unchanged() {
    let cache = tempfile::tempdir().unwrap();
    let dir = root().join("examples/authz/requests");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    let bundle = root().join("examples/authz");
    let mut failures = Vec::new();
    for name in names {
        let request = dir.join(&name);
        let out = palisade(
            &[
                "authorize",
                "--bundle",
                bundle.to_str().unwrap(),
                "--request-json",
                request.to_str().unwrap(),
                "--now",
                NOW,
                "--format",
                "json",
            ],
            cache.path(),
        );
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{name}: {}",
            text(&out.stderr)
        );
        if let Err(e) = golden(&format!("authorize/{name}"), &text(&out.stdout)) {
            failures.push(e);
        }
    }
    all_pass(failures);
}

/// One decision per case of every test file of a shipped bundle, one JSON
/// line per case (HTTP cases: the gateway's whole answer).
fn case_decisions(bundle: &Bundle, file: &Path) -> String {
    let name = file.display().to_string();
    let doc = Document::parse(&name, &std::fs::read_to_string(file).unwrap()).unwrap();
    let mut out = String::new();
    for case in doc.value["cases"].as_array().unwrap() {
        let now = Now::parse(case["now"].as_str().unwrap_or(CASE_NOW)).unwrap();
        let line = if let Some(template) = case.get("template") {
            let mut options = CheckOptions {
                fail_on: Severity::Info,
                ..CheckOptions::default()
            };
            if let Some(p) = case["principal"].as_str() {
                options.principal = EntityUid::from_str(p).unwrap();
            }
            let doc = Document::from_value("template", template.clone());
            palisade_deploy::check(bundle, &[doc], &options, now).to_json()
        } else {
            let r = &case["request"];
            let mut req =
                HttpRequest::new(r["method"].as_str().unwrap(), r["path"].as_str().unwrap());
            for (k, v) in r["headers"].as_object().into_iter().flatten() {
                req = req.header(k, v.as_str().unwrap());
            }
            req.client = r["client"].as_str().map(str::to_owned);
            let claims = case.get("claims").and_then(Value::as_object).cloned();
            serde_json::to_string(&palisade_gateway::decide_as(bundle, &req, claims, now)).unwrap()
        };
        let _ = writeln!(out, "{line}");
    }
    out
}

#[test]
fn decisions_for_every_bundle_test_case_are_unchanged() {
    let engine = palisade_gateway::engine().unwrap();
    let mut failures = Vec::new();
    let mut cases = 0;
    for name in ["serverless-baseline", "gateway-baseline"] {
        let dir = root().join("policies").join(name);
        let bundle = engine.load_bundle(&dir).unwrap();
        let mut files: Vec<_> = std::fs::read_dir(dir.join("tests"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let lines = case_decisions(&bundle, &file);
            cases += lines.lines().count();
            let golden_name = format!(
                "cases/{name}/{}.jsonl",
                file.file_stem().unwrap().to_string_lossy()
            );
            if let Err(e) = golden(&golden_name, &lines) {
                failures.push(e);
            }
        }
    }
    assert!(cases > 100, "only {cases} cases");
    all_pass(failures);
}
