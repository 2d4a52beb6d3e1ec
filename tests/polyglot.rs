//! Plugins in Python and JavaScript, held to the same cases as the Rust
//! one: each is built from its sources (componentize-py from PyPI,
//! ComponentizeJS from npm), tested with `palisade plugin test` against
//! `guests/no-debug/tests`, and used by `palisade check` from a bundle.
//!
//! Needs python3 (with venv) and node/npm; `.ci/run` installs them and sets
//! PALISADE_REQUIRE_POLYGLOT, without which a machine lacking them skips.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

mod common;

use common::{palisade, root, text};
use std::path::Path;
use std::process::Command;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Builds one language's plugin with its build.sh into `out`; `None`
/// (skipped) when the language's tools are missing and not required.
fn build(lang: &str, tools: &[&str], out: &Path, cache: &Path) -> Option<std::path::PathBuf> {
    if let Some(missing) = tools.iter().find(|t| !have(t)) {
        assert!(
            std::env::var_os("PALISADE_REQUIRE_POLYGLOT").is_none(),
            "`{missing}` is required (PALISADE_REQUIRE_POLYGLOT) but not installed"
        );
        eprintln!("SKIPPED: `{missing}` is not installed (.ci/run installs it)");
        return None;
    }
    let script = root().join(format!("guests/{lang}/no-debug/build.sh"));
    let output = Command::new("bash")
        .arg(&script)
        .arg("--out")
        .arg(out)
        .env("PALISADE_CACHE_DIR", cache)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{} failed:\n{}",
        script.display(),
        text(&output.stderr)
    );
    let wasm = out.join(format!(
        "no-debug-{}.wasm",
        if lang == "python" { "py" } else { "js" }
    ));
    assert!(wasm.is_file(), "{} is missing", wasm.display());
    Some(wasm)
}

fn same_cases_and_a_bundle(wasm: &Path, cache: &Path) {
    let cases = root().join("guests/no-debug/tests");
    let out = palisade(
        &[
            "plugin",
            "test",
            wasm.to_str().unwrap(),
            "--cases",
            cases.to_str().unwrap(),
        ],
        cache,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("8 passed, 0 failed"), "{stdout}");

    // In a bundle, as `palisade check` uses it, with its log line.
    let tmp = tempfile::tempdir().unwrap();
    let bundle = common::no_debug_bundle(tmp.path(), wasm);
    let template = tmp.path().join("t.yaml");
    std::fs::write(&template, common::DEBUG_TEMPLATE).unwrap();
    let out = palisade(
        &[
            "check",
            template.to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
            "--format",
            "json",
            "--fail-on",
            "medium",
            "--plugin-logs",
        ],
        cache,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["findings"][0]["rule_id"],
        "no-debug.function-debug-env"
    );
    assert_eq!(json["findings"][0]["line"], 2);
    assert_eq!(
        json["plugin_logs"][0]["message"],
        "1 functions checked, 1 with a debug flag"
    );
}

#[test]
fn the_python_plugin_passes_the_rust_plugins_cases() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = root().join("target/polyglot-cache");
    if let Some(wasm) = build("python", &["python3"], tmp.path(), &cache) {
        same_cases_and_a_bundle(&wasm, &cache);
    }
}

#[test]
fn the_javascript_plugin_passes_the_rust_plugins_cases() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = root().join("target/polyglot-cache");
    if let Some(wasm) = build("js", &["node", "npm"], tmp.path(), &cache) {
        same_cases_and_a_bundle(&wasm, &cache);
    }
}

/// `plugin new --lang python|js` writes a project whose one build command
/// and `palisade plugin test .` work at once, outside this repository.
#[test]
fn new_python_and_javascript_projects_build_and_pass_their_tests() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = root().join("target/polyglot-cache");
    for (lang, tools) in [("python", &["python3"][..]), ("js", &["node", "npm"][..])] {
        if let Some(missing) = tools.iter().find(|t| !have(t)) {
            assert!(
                std::env::var_os("PALISADE_REQUIRE_POLYGLOT").is_none(),
                "`{missing}` is required (PALISADE_REQUIRE_POLYGLOT) but not installed"
            );
            eprintln!("SKIPPED: `{missing}` is not installed (.ci/run installs it)");
            continue;
        }
        let name = format!("timeouts-{lang}");
        let out = palisade(
            &[
                "plugin",
                "new",
                &name,
                "--lang",
                lang,
                "--dir",
                tmp.path().join(&name).to_str().unwrap(),
            ],
            &cache,
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let project = tmp.path().join(&name);
        let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
        assert!(
            readme.contains("./build.sh") && readme.contains("palisade plugin test ."),
            "{readme}"
        );
        let build = Command::new(project.join("build.sh"))
            .current_dir(&project)
            .env("PALISADE_CACHE_DIR", &cache)
            .output()
            .unwrap();
        assert!(build.status.success(), "{lang}: {}", text(&build.stderr));
        let test = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(["plugin", "test", "."])
            .current_dir(&project)
            .env("PALISADE_CACHE_DIR", &cache)
            .output()
            .unwrap();
        let stdout = text(&test.stdout);
        assert_eq!(
            test.status.code(),
            Some(0),
            "{lang}: {stdout}{}",
            text(&test.stderr)
        );
        assert!(stdout.contains("4 passed, 0 failed"), "{lang}: {stdout}");
    }
}
