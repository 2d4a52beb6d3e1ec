//! Issue 9, "Harden every entry point": plugins, policies and bundle files
//! as an attacker writes them. Each test is an attack that worked on the
//! original code (c428637) and is now stopped.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

mod common;

use common::{TempBundle, dist, request, sha256};
use palisade_engine::{
    AuthorizationRequest, Basis, BundleError, Effect, Engine, ErrorKind, Now, Problem,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const FAST: &str = "[limits]\nfuel = 200_000_000\nmemory_mib = 64\ntimeout_ms = 5_000\n";

/// Decides the common request with the `flood` guest and these settings.
fn flood(settings: &str) -> palisade_engine::Decision {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(
        &[(
            "flood",
            "hostile-flood.wasm",
            &format!("settings = {{ {settings} }}"),
        )],
        FAST,
    );
    let bundle = b.load(&engine).unwrap();
    bundle.authorize(&request(), Now::epoch()).unwrap()
}

fn only_error(d: &palisade_engine::Decision) -> &palisade_engine::DecisionError {
    assert_eq!(d.errors.len(), 1, "{}", d.to_json_pretty());
    &d.errors[0]
}

fn assert_output_limit(d: &palisade_engine::Decision, what: &str) {
    let e = only_error(d);
    assert_eq!(e.kind, ErrorKind::OutputLimit, "{}", d.to_json_pretty());
    assert!(e.message.contains(what), "{}", e.message);
    assert_eq!(e.source.to_string(), "plugin:flood");
    assert_eq!(d.decision, Effect::Deny);
    assert_eq!(d.basis, Basis::PluginError);
    assert!(
        d.findings.is_empty(),
        "nothing of a call over a cap is kept"
    );
}

/// The first problem of a refused bundle, and all of them as text.
fn refused(err: &BundleError) -> (&Problem, String) {
    let all = err
        .problems
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    (&err.problems[0], all)
}

// ---------------------------------------------------------------------------
// Plugins are bounded on the host side.

#[test]
fn five_thousand_findings_fail_closed_with_an_output_limit() {
    assert_output_limit(&flood("findings = 5000"), "5000 findings");
}

#[test]
fn a_thousand_facts_fail_closed_with_an_output_limit() {
    assert_output_limit(&flood("facts = 1000"), "1000 facts");
}

#[test]
fn a_flood_of_log_lines_fails_closed_with_an_output_limit() {
    assert_output_limit(&flood("logs = 5000"), "logged 5000 lines");
}

#[test]
fn too_many_bytes_of_output_fail_closed_with_an_output_limit() {
    // 200 findings of 8000 bytes each: under the count cap, over the bytes.
    assert_output_limit(
        &flood("findings = 200, message_bytes = 8000"),
        "bytes of text",
    );
    assert_output_limit(&flood("fact_bytes = 2_000_000"), "bytes of text");
}

#[test]
fn output_within_the_caps_is_kept_and_shares_the_rules_text() {
    let d = flood("findings = 1000");
    assert!(d.errors.is_empty(), "{}", d.to_json_pretty());
    assert_eq!(d.findings.len(), 1000);
    assert_eq!(d.basis, Basis::PluginFinding);
    let first = d.findings[0].remediation.as_ref().unwrap();
    let control = d.findings[0].control.as_ref().unwrap();
    for f in &d.findings {
        // One copy of the rule's text, whatever the number of findings.
        assert!(Arc::ptr_eq(first, f.remediation.as_ref().unwrap()));
        assert!(Arc::ptr_eq(control, f.control.as_ref().unwrap()));
    }
    // The JSON still prints the fields.
    assert!(d.to_json().contains("\"control\":\"sandbox tests\""));
}

#[test]
fn cedar_findings_share_their_policys_text_too() {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(&[], FAST);
    std::fs::write(
        b.path().join("policies/all.cedar"),
        r#"@id("no-view") @remediation("do not view") @control("c-1")
        forbid(principal, action, resource);"#,
    )
    .unwrap();
    let bundle = b.load(&engine).unwrap();
    let d1 = bundle.authorize(&request(), Now::epoch()).unwrap();
    let d2 = bundle.authorize(&request(), Now::epoch()).unwrap();
    let r = |d: &palisade_engine::Decision| d.findings[0].remediation.clone().unwrap();
    assert_eq!(&*r(&d1), "do not view");
    assert!(Arc::ptr_eq(&r(&d1), &r(&d2)));
}

#[test]
fn a_rule_with_megabytes_of_text_is_refused_at_load() {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(&[("big", "hostile-bigrule.wasm", "")], FAST);
    let err = b.load(&engine).unwrap_err();
    let (_, all) = refused(&err);
    assert!(all.contains("hostile.bigrule"), "{all}");
    assert!(all.contains("remediation of 4194304 bytes"), "{all}");
}

#[test]
fn pointers_that_are_not_json_pointers_are_refused() {
    let long = format!("/{}", "a".repeat(200_000));
    for pointer in ["not a pointer", "/a\u{0}b", "/a~2b", long.as_str()] {
        let d = flood(&format!(
            "findings = 1, pointer = {}",
            serde_json::to_string(pointer).unwrap()
        ));
        let e = only_error(&d);
        assert_eq!(e.kind, ErrorKind::BadOutput, "{pointer:.40}");
        assert!(e.message.contains("pointer"), "{}", e.message);
        assert!(e.message.len() < 1000, "the message does not echo 200 KB");
        assert!(d.findings.is_empty());
        assert_eq!(d.decision, Effect::Deny);
    }
    let d = flood("findings = 1, pointer = \"/Resources/Fn~1x/Properties\"");
    assert!(d.errors.is_empty(), "{}", d.to_json_pretty());
    assert_eq!(
        d.findings[0].pointer.as_deref(),
        Some("/Resources/Fn~1x/Properties")
    );
}

#[test]
fn a_thousand_bad_findings_make_a_few_errors_not_a_thousand() {
    let d = flood("findings = 1000, pointer = \"x\"");
    assert_eq!(d.errors.len(), 17, "{}", d.to_json_pretty());
    assert!(
        d.errors.iter().any(|e| e.message.contains("984 more")),
        "{}",
        d.to_json_pretty()
    );
    assert!(d.errors.iter().all(|e| e.kind == ErrorKind::BadOutput));
    assert_eq!(d.decision, Effect::Deny);
}

#[test]
fn a_message_over_the_field_cap_is_refused() {
    let d = flood("findings = 1, message_bytes = 100000");
    let e = only_error(&d);
    assert_eq!(e.kind, ErrorKind::BadOutput);
    assert!(
        e.message.contains("message of 100000 bytes"),
        "{}",
        e.message
    );
    assert_eq!(d.decision, Effect::Deny);
}

#[test]
fn a_plugin_rule_id_equal_to_a_policy_id_is_refused_naming_both() {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(&[("flood", "hostile-flood.wasm", "")], FAST);
    std::fs::write(
        b.path().join("policies/all.cedar"),
        "@id(\"hostile.flood\") permit(principal, action, resource);\n",
    )
    .unwrap();
    let err = b.load(&engine).unwrap_err();
    let (p, all) = refused(&err);
    assert_eq!(p.file, "palisade.toml", "{all}");
    assert!(p.line.is_some());
    assert!(
        all.contains("plugin `flood` declares rule `hostile.flood`")
            && all.contains("policy at policies/all.cedar:1"),
        "{all}"
    );
}

#[test]
fn two_plugins_declaring_the_same_rule_are_refused_naming_both() {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(
        &[
            ("first", "hostile-flood.wasm", ""),
            ("second", "hostile-flood.wasm", ""),
        ],
        FAST,
    );
    let err = b.load(&engine).unwrap_err();
    let (_, all) = refused(&err);
    assert!(
        all.contains("plugin `second` declares rule `hostile.flood`")
            && all.contains("declared by plugin `first`"),
        "{all}"
    );
}

fn cwasm_files(dir: &Path) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        e.metadata().unwrap().len(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_plugin_file_of_more_than_64_mib_is_refused_before_it_is_compiled() {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(&[], FAST);
    let f = std::fs::File::create(b.path().join("huge.wasm")).unwrap();
    f.set_len(65 << 20).unwrap();
    std::fs::write(
        b.path().join("palisade.toml"),
        format!(
            "[bundle]\nname = \"t\"\nversion = \"1\"\n[[plugin]]\nname = \"huge\"\npath = \"huge.wasm\"\nsha256 = \"{}\"\n",
            "0".repeat(64)
        ),
    )
    .unwrap();
    let err = b.load(&engine).unwrap_err();
    let (p, all) = refused(&err);
    assert_eq!(
        (p.file.as_str(), p.line),
        ("palisade.toml", Some(6)),
        "{all}"
    );
    assert!(all.contains("at most 64 MiB"), "{all}");
}

#[test]
fn compiled_code_of_a_refused_plugin_is_not_cached() {
    let cache = tempfile::tempdir().unwrap();
    let engine = Engine::builder().cache_dir(cache.path()).build().unwrap();
    // Refused for its imports, then for its settings.
    let b = TempBundle::new(&[("h", "hostile-sockets.wasm", "")], FAST);
    assert!(b.load(&engine).is_err());
    let b = TempBundle::new(
        &[("h", "hostile-flood.wasm", "settings = { nope = 1 }")],
        FAST,
    );
    assert!(b.load(&engine).is_err());
    assert_eq!(cwasm_files(cache.path()), []);
    // An accepted plugin is cached.
    let b = TempBundle::new(&[("h", "hostile-flood.wasm", "")], FAST);
    b.load(&engine).unwrap();
    assert_eq!(cwasm_files(cache.path()).len(), 1);
}

#[test]
fn the_code_cache_keeps_under_its_size_limit_evicting_the_oldest() {
    // Sizes of two plugins' compiled code.
    let probe = tempfile::tempdir().unwrap();
    let engine = Engine::builder().cache_dir(probe.path()).build().unwrap();
    let trap = TempBundle::new(&[("h", "hostile-trap.wasm", "")], FAST);
    let flood = TempBundle::new(&[("h", "hostile-flood.wasm", "")], FAST);
    trap.load(&engine).unwrap();
    flood.load(&engine).unwrap();
    let sizes = cwasm_files(probe.path());
    assert_eq!(sizes.len(), 2);
    let (small, big) = (
        sizes.iter().map(|s| s.1).min().unwrap(),
        sizes.iter().map(|s| s.1).max().unwrap(),
    );

    // Room for the bigger one, not both.
    let cache = tempfile::tempdir().unwrap();
    let engine = Engine::builder()
        .cache_dir(cache.path())
        .cache_max_bytes(big + small / 2)
        .build()
        .unwrap();
    trap.load(&engine).unwrap();
    let after_trap = cwasm_files(cache.path());
    std::thread::sleep(Duration::from_millis(20));
    flood.load(&engine).unwrap();
    let after_flood = cwasm_files(cache.path());
    assert_eq!(after_flood.len(), 1, "{after_flood:?}");
    assert_ne!(after_flood, after_trap, "the older file went");
    let total: u64 = after_flood.iter().map(|f| f.1).sum();
    assert!(total <= big + small / 2);

    // Code larger than the whole cache is not written at all.
    let tiny = tempfile::tempdir().unwrap();
    let engine = Engine::builder()
        .cache_dir(tiny.path())
        .cache_max_bytes(1000)
        .build()
        .unwrap();
    flood.load(&engine).unwrap();
    assert_eq!(cwasm_files(tiny.path()), []);
}

// ---------------------------------------------------------------------------
// Rules that failed open.

fn mfa_bundle(extra_cedar: &str) -> (tempfile::TempDir, palisade_engine::Bundle) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("palisade.toml"),
        format!("[bundle]\nname = \"mfa\"\nversion = \"1\"\n[cedar]\npolicies = [\"p.cedar\"]\n{extra_cedar}"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("p.cedar"),
        r#"@id("members") permit(principal, action, resource);
@id("mfa-for-delete") forbid(principal, action == Action::"delete", resource) unless { context.mfa };
"#,
    )
    .unwrap();
    let bundle = Engine::new().unwrap().load_bundle(dir.path()).unwrap();
    (dir, bundle)
}

fn delete_with(mfa: serde_json::Value) -> AuthorizationRequest {
    AuthorizationRequest::new(r#"User::"eve""#, r#"Action::"delete""#, r#"Doc::"d""#)
        .unwrap()
        .with_context(serde_json::json!({ "mfa": mfa }))
        .unwrap()
}

#[test]
fn a_forbid_that_errors_denies_and_says_which_policy_and_why() {
    let (_dir, bundle) = mfa_bundle("");
    // `context.mfa` as a string: `unless { "yes" }` is a type error, so
    // Cedar skips the forbid.
    let d = bundle
        .authorize(&delete_with("yes".into()), Now::epoch())
        .unwrap();
    assert_eq!(d.decision, Effect::Deny, "{}", d.to_json_pretty());
    assert_eq!(d.basis, Basis::PolicyError);
    assert_eq!(d.reasons, ["mfa-for-delete"]);
    let e = only_error(&d);
    assert_eq!(e.kind, ErrorKind::PolicyEvaluation);
    assert_eq!(e.policy.as_deref(), Some("mfa-for-delete"));
    assert!(!d.basis.describe().contains("forbidden by none"));
    // The honest cases are unchanged.
    let ok = bundle
        .authorize(&delete_with(true.into()), Now::epoch())
        .unwrap();
    assert_eq!((ok.decision, ok.basis), (Effect::Allow, Basis::Permitted));
    let no = bundle
        .authorize(&delete_with(false.into()), Now::epoch())
        .unwrap();
    assert_eq!((no.decision, no.basis), (Effect::Deny, Basis::Forbidden));
}

#[test]
fn on_policy_error_ignore_keeps_cedars_behaviour_and_still_reports() {
    let (_dir, bundle) = mfa_bundle("on_policy_error = \"ignore\"\n");
    let d = bundle
        .authorize(&delete_with("yes".into()), Now::epoch())
        .unwrap();
    assert_eq!(d.decision, Effect::Allow);
    assert_eq!(only_error(&d).kind, ErrorKind::PolicyEvaluation);
}

#[test]
fn a_plugin_that_traps_is_reported_as_a_plugin_error_not_a_permit() {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(&[("h", "hostile-trap.wasm", "")], FAST);
    let bundle = b.load(&engine).unwrap();
    let d = bundle.authorize(&request(), Now::epoch()).unwrap();
    assert_eq!((d.decision, d.basis), (Effect::Deny, Basis::PluginError));
    assert!(
        d.reasons.is_empty(),
        "the permit `allow-all` did not decide this deny: {:?}",
        d.reasons
    );
}

// ---------------------------------------------------------------------------
// Confinement: a bundle reads nothing outside its directory.

/// A bundle directory `bundle` inside a scratch directory (so that
/// `../outside` is a real place), with one permit.
fn scratch(manifest_tail: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let scratch = tempfile::tempdir().unwrap();
    let bundle = scratch.path().join("bundle");
    std::fs::create_dir_all(bundle.join("policies")).unwrap();
    std::fs::write(
        bundle.join("policies/p.cedar"),
        "@id(\"p\") permit(principal, action, resource);\n",
    )
    .unwrap();
    std::fs::create_dir_all(scratch.path().join("outside")).unwrap();
    // A file a bundle must never read: its content would show up in errors.
    std::fs::write(
        scratch.path().join("outside/secret.txt"),
        "TOPSECRET-7f3a root:$6$hash:19000:0:99999:7:::\n",
    )
    .unwrap();
    std::fs::write(
        scratch.path().join("outside/open.cedar"),
        "@id(\"outside\") permit(principal, action, resource);\n",
    )
    .unwrap();
    std::fs::write(
        bundle.join("palisade.toml"),
        format!("[bundle]\nname = \"c\"\nversion = \"1\"\n{manifest_tail}"),
    )
    .unwrap();
    (scratch, bundle)
}

fn assert_confined(err: &BundleError, line: usize) {
    let (p, all) = refused(err);
    assert_eq!(p.file, "palisade.toml", "{all}");
    assert_eq!(p.line, Some(line), "{all}");
    assert!(
        all.contains("outside the bundle")
            || all.contains("leaves the bundle")
            || all.contains("absolute path"),
        "{all}"
    );
    assert!(!all.contains("TOPSECRET"), "foreign content quoted: {all}");
}

#[test]
fn dot_dot_paths_that_leave_the_bundle_are_refused_at_their_line() {
    let engine = Engine::new().unwrap();
    let (_s, b) = scratch("[cedar]\npolicies = [\"../outside/open.cedar\"]\n");
    assert_confined(&engine.load_bundle(&b).unwrap_err(), 5);
    let (_s, b) = scratch("[cedar]\nentities = \"policies/../../outside/secret.txt\"\n");
    assert_confined(&engine.load_bundle(&b).unwrap_err(), 5);
    let (_s, b) = scratch(&format!(
        "[[plugin]]\nname = \"p\"\npath = \"../outside/x.wasm\"\nsha256 = \"{}\"\n",
        "0".repeat(64)
    ));
    assert_confined(&engine.load_bundle(&b).unwrap_err(), 6);
    // `..` that stays inside is fine.
    let (_s, b) = scratch("[cedar]\npolicies = [\"policies/../policies\"]\n");
    engine.load_bundle(&b).unwrap();
}

#[test]
fn absolute_paths_are_refused_and_foreign_content_is_never_quoted() {
    let engine = Engine::new().unwrap();
    let probe = scratch("");
    let secret = probe.0.path().join("outside/secret.txt");
    let secret = secret.to_str().unwrap();
    for (key, line) in [("schema", 5), ("entities", 5)] {
        let (_s, b) = scratch(&format!("[cedar]\n{key} = \"{secret}\"\n"));
        assert_confined(&engine.load_bundle(&b).unwrap_err(), line);
    }
    let (_s, b) = scratch(&format!(
        "[cedar]\npolicies = [\"policies\", \"{secret}\"]\n"
    ));
    assert_confined(&engine.load_bundle(&b).unwrap_err(), 5);
}

#[test]
fn symlinks_that_point_outside_are_refused() {
    let engine = Engine::new().unwrap();
    // A schema that is a symlink to a foreign file.
    let (s, b) = scratch("[cedar]\nschema = \"schema.cedarschema\"\n");
    std::os::unix::fs::symlink(
        s.path().join("outside/secret.txt"),
        b.join("schema.cedarschema"),
    )
    .unwrap();
    assert_confined(&engine.load_bundle(&b).unwrap_err(), 5);
    // A policy in the policies directory that is a symlink out.
    let (s, b) = scratch("");
    std::os::unix::fs::symlink(
        s.path().join("outside/secret.txt"),
        b.join("policies/z.cedar"),
    )
    .unwrap();
    let err = engine.load_bundle(&b).unwrap_err();
    let (p, all) = refused(&err);
    assert_eq!(p.file, "policies/z.cedar", "{all}");
    assert!(all.contains("outside the bundle"), "{all}");
    assert!(!all.contains("TOPSECRET"), "{all}");
    // A policies directory that is a symlink out.
    let (s, b) = scratch("[cedar]\npolicies = [\"ext\"]\n");
    std::os::unix::fs::symlink(s.path().join("outside"), b.join("ext")).unwrap();
    assert_confined(&engine.load_bundle(&b).unwrap_err(), 5);
}

#[test]
fn a_manifest_that_is_a_symlink_out_is_refused() {
    let (s, b) = scratch("");
    std::fs::write(
        s.path().join("outside/palisade.toml"),
        "[bundle]\nname = \"foreign\"\nversion = \"1\"\n",
    )
    .unwrap();
    std::fs::remove_file(b.join("palisade.toml")).unwrap();
    std::os::unix::fs::symlink(
        s.path().join("outside/palisade.toml"),
        b.join("palisade.toml"),
    )
    .unwrap();
    let err = Engine::new().unwrap().load_bundle(&b).unwrap_err();
    let (p, all) = refused(&err);
    assert_eq!(p.file, "palisade.toml");
    assert!(all.contains("outside the bundle"), "{all}");
}

#[test]
fn symlinks_that_stay_inside_work_like_a_configmap_mount() {
    // Kubernetes mounts a ConfigMap as `..2026_12_02/` with the files, a
    // `..data` link to it, and a link per file through `..data`.
    let engine = Engine::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("..2026_12_02_07_00_00.1");
    std::fs::create_dir_all(real.join("policies")).unwrap();
    std::fs::write(
        real.join("palisade.toml"),
        "[bundle]\nname = \"cm\"\nversion = \"1\"\n[cedar]\nentities = \"entities.json\"\n",
    )
    .unwrap();
    std::fs::write(
        real.join("policies/p.cedar"),
        "@id(\"p\") permit(principal, action, resource);\n",
    )
    .unwrap();
    std::fs::write(real.join("entities.json"), "[]").unwrap();
    std::os::unix::fs::symlink("..2026_12_02_07_00_00.1", dir.path().join("..data")).unwrap();
    for f in ["palisade.toml", "policies", "entities.json"] {
        std::os::unix::fs::symlink(format!("..data/{f}"), dir.path().join(f)).unwrap();
    }
    let bundle = engine.load_bundle(dir.path()).unwrap();
    let ids: Vec<&str> = bundle.policies().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["p"]);
}

/// Runs `f` on a thread; fails if it does not finish within 30 s.
fn within_30s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("hangs: a walk followed a loop or a read waited on a FIFO")
}

#[test]
fn symlink_loops_in_a_bundle_end() {
    let (_s, b) = scratch("");
    std::os::unix::fs::symlink(".", b.join("policies/again")).unwrap();
    std::os::unix::fs::symlink("..", b.join("policies/up")).unwrap();
    std::os::unix::fs::symlink("l2", b.join("policies/l1")).unwrap();
    std::os::unix::fs::symlink("l1", b.join("policies/l2")).unwrap();
    let bundle = within_30s(move || {
        let r = Engine::new()
            .unwrap()
            .load_bundle(&b)
            .map(|b| b.policies().map(|p| p.id.clone()).collect::<Vec<_>>());
        drop(_s);
        r
    });
    assert_eq!(bundle.unwrap(), ["p"], "each policy file read once");
}

#[test]
fn a_fifo_in_a_bundle_is_refused_not_waited_on() {
    let (_s, b) = scratch("");
    let made = std::process::Command::new("mkfifo")
        .arg(b.join("policies/pipe.cedar"))
        .status()
        .unwrap();
    assert!(made.success());
    let err = within_30s(move || {
        let r = Engine::new().unwrap().load_bundle(&b);
        drop(_s);
        r
    })
    .unwrap_err();
    let (p, all) = refused(&err);
    assert_eq!(p.file, "policies/pipe.cedar");
    assert!(all.contains("not a regular file"), "{all}");
}

#[test]
fn limits_that_switch_the_backstops_off_are_refused_at_their_line() {
    let engine = Engine::new().unwrap();
    for (limits, what) in [
        (
            "[limits]\nfuel = 9_223_372_036_854_775_807\n",
            "`limits.fuel`",
        ),
        (
            "[limits]\ntimeout_ms = 9_223_372_036_854_775_807\n",
            "`limits.timeout_ms`",
        ),
        ("[limits]\nmemory_mib = 1_000_000\n", "`limits.memory_mib`"),
    ] {
        let (_s, b) = scratch(limits);
        let err = engine.load_bundle(&b).unwrap_err();
        let (p, all) = refused(&err);
        assert_eq!(
            (p.file.as_str(), p.line),
            ("palisade.toml", Some(5)),
            "{all}"
        );
        assert!(all.contains(what) && all.contains("maximum"), "{all}");
    }
}

#[test]
fn the_shipped_plugin_still_loads_under_the_metadata_caps() {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(&[("secrets", "secrets.wasm", "")], FAST);
    let bundle = b.load(&engine).unwrap();
    assert!(!bundle.plugins()[0].metadata().rules.is_empty());
    assert_eq!(sha256(&dist("secrets.wasm")), bundle.plugins()[0].sha256);
}

#[test]
fn a_gateway_table_without_its_extension_is_refused_at_the_table() {
    // Found by a hostile review: the line was the first text holding
    // `[gateway`, a comment included.
    let engine = Engine::new().unwrap();
    for (manifest, line) in [
        (
            "[bundle]\nname = \"g\"\nversion = \"1\"\n# see [gateway] below\n\n[gateway]\nprincipal_type = \"User\"\n",
            6,
        ),
        (
            "gateway.principal_type = \"User\"\n# [gateway]\n[bundle]\nname = \"g\"\nversion = \"1\"\n",
            1,
        ),
    ] {
        let source = palisade_engine::MemorySource::new("g")
            .file("palisade.toml", manifest.as_bytes().to_vec())
            .file(
                "policies/p.cedar",
                b"permit(principal, action, resource);".to_vec(),
            );
        let err = engine.load_bundle_from(&source).unwrap_err();
        let p = &err.problems[0];
        assert!(p.message.contains("needs the gateway extension"), "{p}");
        assert_eq!(p.line, Some(line), "{manifest}: {p}");
    }
}
