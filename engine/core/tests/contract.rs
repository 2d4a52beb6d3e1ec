//! The plugin contract `palisade:policy@0.2.0`: which plugins load, and
//! what their log lines become.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

mod common;

use common::{TempBundle, request};
use palisade_engine::{Engine, ErrorKind, LogLevel, Now};

const FAST: &str = "[limits]\nfuel = 20_000_000\nmemory_mib = 16\ntimeout_ms = 5_000\n";

/// A plugin built for contract 0.1.0 (the `trap` guest before 0.2.0, kept
/// as built) is refused at load with what to do, not linked to fail later.
#[test]
fn a_plugin_built_for_contract_0_1_is_refused_with_the_fix() {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(&[], "");
    let wasm =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy-0.1.0.wasm");
    std::fs::copy(&wasm, b.path().join("old.wasm")).unwrap();
    let manifest = std::fs::read_to_string(b.path().join("palisade.toml")).unwrap();
    std::fs::write(
        b.path().join("palisade.toml"),
        format!(
            "{manifest}\n[[plugin]]\nname = \"old\"\npath = \"old.wasm\"\nsha256 = \"{}\"\n",
            common::sha256(&wasm)
        ),
    )
    .unwrap();
    let err = b.load(&engine).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("the plugin was built for palisade:policy 0.1.0; this host runs palisade:policy 0.2.0: rebuild it with palisade-plugin-sdk 0.2"),
        "{text}"
    );
    assert_eq!(err.problems.len(), 1, "{err:?}");
    assert_eq!(
        err.problems[0].file, "old.wasm",
        "the problem names the plugin file"
    );
    assert_eq!(palisade_engine::CONTRACT_VERSION, "0.2.0");
}

/// What a plugin logs reaches the decision with the plugin's name, in call
/// order; the canonical JSON leaves it out, the variant that asks for it
/// has it last.
#[test]
fn log_lines_reach_the_decision_but_not_its_canonical_json() {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(
        &[("flood", "hostile-flood.wasm", "settings = { logs = 3 }")],
        FAST,
    );
    let d = b
        .load(&engine)
        .unwrap()
        .authorize(&request(), Now::epoch())
        .unwrap();
    assert!(d.errors.is_empty(), "{}", d.to_json_pretty());
    let lines: Vec<(&str, LogLevel, &str)> = d
        .plugin_logs
        .iter()
        .map(|l| (l.plugin.as_str(), l.level, l.message.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            ("flood", LogLevel::Info, "line 0"),
            ("flood", LogLevel::Info, "line 1"),
            ("flood", LogLevel::Info, "line 2"),
        ]
    );
    assert!(!d.to_json().contains("plugin_logs"));
    let with = d.to_json_with_plugin_logs();
    let canonical = d.to_json();
    assert_eq!(
        with,
        format!(
            "{},\"plugin_logs\":[{{\"plugin\":\"flood\",\"level\":\"info\",\"message\":\"line 0\"}},\
             {{\"plugin\":\"flood\",\"level\":\"info\",\"message\":\"line 1\"}},\
             {{\"plugin\":\"flood\",\"level\":\"info\",\"message\":\"line 2\"}}]}}",
            &canonical[..canonical.len() - 1]
        )
    );
}

/// A plugin that logs past the cap fails closed, and the lines it logged
/// up to the cap are kept for whoever debugs it.
#[test]
fn logging_past_the_cap_fails_closed_and_keeps_the_first_lines() {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(
        &[(
            "flood",
            "hostile-flood.wasm",
            "settings = { logs = 10_000 }",
        )],
        FAST,
    );
    let d = b
        .load(&engine)
        .unwrap()
        .authorize(&request(), Now::epoch())
        .unwrap();
    assert!(!d.is_allowed());
    assert_eq!(d.errors.len(), 1, "{}", d.to_json_pretty());
    assert_eq!(d.errors[0].kind, ErrorKind::OutputLimit);
    assert_eq!(d.plugin_logs.len(), 256);
    assert_eq!(d.plugin_logs[255].message, "line 255");
}
