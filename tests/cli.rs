//! The `palisade` binary as users run it: real processes, real files.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

mod common;

use common::{palisade, root, text};
use std::path::{Path, PathBuf};

fn example() -> PathBuf {
    root().join("examples/authz")
}

fn authorize_json(request: &str, cache: &Path) -> (i32, serde_json::Value, String) {
    let bundle = example();
    let req = example().join("requests").join(request);
    let out = palisade(
        &[
            "authorize",
            "--bundle",
            bundle.to_str().unwrap(),
            "--request-json",
            req.to_str().unwrap(),
            "--format",
            "json",
            "--now",
            "2026-11-29T00:00:00Z",
        ],
        cache,
    );
    let stdout = text(&out.stdout);
    let v = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", text(&out.stderr)));
    (out.status.code().unwrap(), v, stdout)
}

#[test]
fn example_requests_get_the_documented_decisions() {
    let cache = tempfile::tempdir().unwrap();
    let cases = [
        (
            "alice-views-her-order.json",
            0,
            "allow",
            "permitted",
            vec!["owners-read"],
        ),
        (
            "bob-deletes-with-mfa.json",
            0,
            "allow",
            "permitted",
            vec!["admins-manage"],
        ),
        (
            "bob-deletes-without-mfa.json",
            1,
            "deny",
            "forbidden",
            vec!["delete-needs-mfa"],
        ),
        (
            "dave-views-an-order.json",
            1,
            "deny",
            "not-permitted",
            vec![],
        ),
        (
            "alice-pastes-a-key.json",
            1,
            "deny",
            "forbidden",
            vec!["no-credentials-in-requests"],
        ),
    ];
    for (req, code, decision, basis, reasons) in cases {
        let (got, v, _) = authorize_json(req, cache.path());
        assert_eq!(got, code, "{req}: {v}");
        assert_eq!(v["decision"], decision, "{req}: {v}");
        assert_eq!(v["basis"], basis, "{req}: {v}");
        let r: Vec<&str> = v["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        assert_eq!(r, reasons, "{req}: {v}");
    }
}

#[test]
fn the_secrets_plugin_explains_a_leaked_key() {
    let cache = tempfile::tempdir().unwrap();
    let (_, v, _) = authorize_json("alice-pastes-a-key.json", cache.path());
    let findings = v["findings"].as_array().unwrap();
    let plugin = findings
        .iter()
        .find(|f| f["source"] == "plugin:secrets")
        .unwrap_or_else(|| panic!("no plugin finding: {v}"));
    assert_eq!(plugin["rule_id"], "secrets.aws-access-key-id");
    assert_eq!(plugin["category"], "secrets");
    assert_eq!(plugin["severity"], "critical");
    assert_eq!(plugin["pointer"], "/context/note");
    assert!(
        !plugin["message"]
            .as_str()
            .unwrap()
            .contains("AKIAIOSFODNN7EXAMPLE"),
        "findings must not echo secrets"
    );
    let cedar = findings.iter().find(|f| f["source"] == "cedar").unwrap();
    assert_eq!(cedar["rule_id"], "no-credentials-in-requests");
    assert_eq!(cedar["control"], "no hard-coded secrets");
}

#[test]
fn json_output_is_canonical_and_repeatable() {
    let cache = tempfile::tempdir().unwrap();
    let (_, _, first) = authorize_json("alice-pastes-a-key.json", cache.path());
    let (_, _, second) = authorize_json("alice-pastes-a-key.json", cache.path());
    assert_eq!(first, second);
    let keys: Vec<String> =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&first)
            .unwrap()
            .keys()
            .cloned()
            .collect();
    assert_eq!(
        keys,
        [
            "decision", "basis", "reasons", "findings", "errors", "bundle"
        ]
    );
}

#[test]
fn the_cli_and_the_library_give_the_same_bytes() {
    let cache = tempfile::tempdir().unwrap();
    let (_, _, cli) = authorize_json("alice-pastes-a-key.json", cache.path());
    let engine = palisade_engine::Engine::new().unwrap();
    let bundle = engine.load_bundle(example()).unwrap();
    let req = std::fs::read_to_string(example().join("requests/alice-pastes-a-key.json")).unwrap();
    let req = palisade_engine::AuthorizationRequest::from_json(&req).unwrap();
    let now = palisade_engine::Now::parse("2026-11-29T00:00:00Z").unwrap();
    let lib = bundle.authorize(&req, now).unwrap().to_json();
    assert_eq!(cli.trim_end(), lib);
}

#[test]
fn flags_form_matches_the_request_file_form() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx.json");
    std::fs::write(&ctx, r#"{"mfa": false}"#).unwrap();
    let bundle = example();
    let out = palisade(
        &[
            "authorize",
            "--bundle",
            bundle.to_str().unwrap(),
            "--principal",
            r#"User::"bob""#,
            "--action",
            r#"Action::"deleteOrder""#,
            "--resource",
            r#"Order::"o-1001""#,
            "--context",
            ctx.to_str().unwrap(),
            "--format",
            "json",
            "--now",
            "2026-11-29T00:00:00Z",
        ],
        cache.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let (_, _, file_form) = authorize_json("bob-deletes-without-mfa.json", cache.path());
    assert_eq!(text(&out.stdout), file_form);
}

#[test]
fn human_output_says_why() {
    let cache = tempfile::tempdir().unwrap();
    let bundle = example();
    let req = example().join("requests/bob-deletes-without-mfa.json");
    let out = palisade(
        &[
            "authorize",
            "--bundle",
            bundle.to_str().unwrap(),
            "--request-json",
            req.to_str().unwrap(),
        ],
        cache.path(),
    );
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(s.starts_with("DENY"), "{s}");
    assert!(
        s.contains("explicitly forbidden by policy: `delete-needs-mfa`"),
        "{s}"
    );
    assert!(s.contains("fix: sign in again with a second factor"), "{s}");
    assert!(
        !s.contains('\u{1b}'),
        "no colors when piped or NO_COLOR is set: {s}"
    );

    let req = example().join("requests/dave-views-an-order.json");
    let out = palisade(
        &[
            "authorize",
            "--bundle",
            bundle.to_str().unwrap(),
            "--request-json",
            req.to_str().unwrap(),
        ],
        cache.path(),
    );
    assert!(text(&out.stdout).contains("no policy permits this request"));
}

#[test]
fn policies_form_works_without_a_bundle() {
    let cache = tempfile::tempdir().unwrap();
    let ex = example();
    let out = palisade(
        &[
            "authorize",
            "--policies",
            ex.join("policies").to_str().unwrap(),
            "--schema",
            ex.join("orders.cedarschema").to_str().unwrap(),
            "--entities",
            ex.join("entities.json").to_str().unwrap(),
            "--request-json",
            ex.join("requests/alice-views-her-order.json")
                .to_str()
                .unwrap(),
            "--format",
            "json",
        ],
        cache.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["reasons"][0], "owners-read");
}

#[test]
fn bad_requests_exit_2_with_a_clear_message() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bundle = example();
    let cases: [(&str, &str); 7] = [
        ("{ not json", "line 1"),
        (
            r#"{"principal": "alice", "action": "Action::\"viewOrder\"", "resource": "Order::\"o-1001\""}"#,
            "invalid principal `alice`",
        ),
        (
            r#"{"action": "Action::\"viewOrder\"", "resource": "Order::\"o-1001\""}"#,
            "missing field `principal`",
        ),
        (
            r#"{"principal": "User::\"alice\"", "action": "Action::\"fly\"", "resource": "Order::\"o-1001\""}"#,
            "fly",
        ),
        (
            r#"{"principal": "User::\"alice\"", "action": "Action::\"viewOrder\"", "resource": "Order::\"o-1001\"", "context": {"mfa": "yes"}}"#,
            "mfa",
        ),
        // Cedar's cause, not just "error during entity deserialization".
        (
            r#"{"principal": "User::\"alice\"", "action": "Action::\"viewOrder\"", "resource": "Order::\"o-9\"", "entities": [{"uid": {"type": "Order", "id": "o-9"}, "attrs": {"owner": "alice", "tenant": "acme"}, "parents": []}]}"#,
            "in attribute `owner` on `Order::\"o-9\"`, expected a literal entity reference",
        ),
        // The bundle's secrets plugin reports facts: they own `plugins`.
        (
            r#"{"principal": "User::\"alice\"", "action": "Action::\"viewOrder\"", "resource": "Order::\"o-1001\"", "context": {"plugins": {}}}"#,
            "the key `plugins` is reserved for plugin facts",
        ),
    ];
    for (i, (body, expected)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("r{i}.json"));
        std::fs::write(&path, body).unwrap();
        let out = palisade(
            &[
                "authorize",
                "--bundle",
                bundle.to_str().unwrap(),
                "--request-json",
                path.to_str().unwrap(),
            ],
            cache.path(),
        );
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{body}: {err}");
        assert!(err.contains("palisade: error:"), "{err}");
        assert!(
            err.contains(expected),
            "{body}: expected `{expected}` in {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let out = palisade(
        &[
            "authorize",
            "--bundle",
            "/nonexistent",
            "--principal",
            "U::\"a\"",
            "--action",
            "A::\"b\"",
            "--resource",
            "R::\"c\"",
        ],
        cache.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("does not exist"));
    let out = palisade(
        &["authorize", "--bundle", bundle.to_str().unwrap()],
        cache.path(),
    );
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
    let out = palisade(
        &[
            "authorize",
            "--bundle",
            bundle.to_str().unwrap(),
            "--principal",
            "User::\"a\"",
            "--action",
            "Action::\"viewOrder\"",
            "--resource",
            "Order::\"o\"",
            "--now",
            "yesterday",
        ],
        cache.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("RFC 3339"));
}

#[test]
fn every_broken_bundle_is_refused_with_its_file_and_line() {
    let cache = tempfile::tempdir().unwrap();
    let cases = [
        (
            "bad-annotation",
            "policies/x.cedar:1:1: policy `x`: @category: unknown category `secret`",
        ),
        (
            "duplicate-id",
            "policy id `ok` is already used by the policy at policies/dup.cedar:1",
        ),
        ("entity-json", "e.json:3:1: invalid JSON"),
        (
            "entity-unknown-type",
            "e.json:3:1: error during entity deserialization: entity `Robot::\"r2\"` has type `Robot` which is not declared in the schema",
        ),
        (
            "malformed-manifest",
            "palisade.toml:3:11: invalid type: integer `1`, expected a string",
        ),
        ("missing-plugin", "palisade.toml:7:1: plugin `ghost`"),
        ("no-manifest", "palisade.toml: not found"),
        (
            "policy-schema",
            "policies/ok.cedar:4:8: for policy `typo`, attribute `agee` on entity type `User` not found",
        ),
        (
            "policy-syntax",
            "policies/broken.cedar:3:24: unexpected token `}`",
        ),
        ("schema-syntax", "s.cedarschema:1:25: error parsing schema"),
        (
            "quoted-id",
            "policies/p.cedar:5:1: policy id `team\\'s.no-queues` may use only letters, digits and . _ - : /",
        ),
        (
            "unknown-manifest-key",
            "palisade.toml:6:1: unknown field `polcies`",
        ),
    ];
    let dir = root().join("tests/fixtures/bad-bundles");
    let mut seen = 0;
    for (name, expected) in cases {
        let out = palisade(
            &["bundle", "validate", dir.join(name).to_str().unwrap()],
            cache.path(),
        );
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains(expected),
            "{name}: expected `{expected}` in\n{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        seen += 1;
    }
    // A fixture without a case here is a fixture nobody checks.
    let on_disk = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .count();
    assert_eq!(seen, on_disk);
}

#[test]
fn bundle_inspect_shows_plugins_with_digests_and_the_cache_works() {
    let cache = tempfile::tempdir().unwrap();
    let bundle = example();
    let inspect = |cache: &Path| {
        let out = palisade(
            &[
                "bundle",
                "inspect",
                bundle.to_str().unwrap(),
                "--format",
                "json",
            ],
            cache,
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let first = inspect(cache.path());
    let plugin = &first["plugins"][0];
    let wasm = std::fs::read(bundle.join("plugins/secrets.wasm")).unwrap();
    assert_eq!(plugin["sha256"], palisade_engine::sha256_hex(&wasm));
    assert_eq!(plugin["metadata"]["name"], "secrets");
    assert!(plugin["metadata"]["rules"]["secrets.aws-access-key-id"].is_object());
    assert_eq!(plugin["settings"]["min_length"], 20);
    // The built-in secrets plugin ships precompiled (on x86-64-v2 Linux):
    // no compilation, even with an empty cache.
    if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        assert_eq!(plugin["code_cache"], "precompiled");
        assert!(plugin["compile_ms"].is_null());
    }
    assert_eq!(first["policies"].as_array().unwrap().len(), 5);
    assert!(first["digest"].as_str().unwrap().starts_with("sha256:"));

    // Another plugin: compiled at the first start (which says what that
    // costs), deserialized at the second, which still says it.
    let own = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(own.path().join("plugins")).unwrap();
    let wasm = std::fs::read(root().join("guests/dist/no-debug.wasm")).unwrap();
    std::fs::write(own.path().join("plugins/no-debug.wasm"), &wasm).unwrap();
    std::fs::write(
        own.path().join("palisade.toml"),
        format!(
            "[bundle]\nname = \"own\"\nversion = \"1.0.0\"\n\n[[plugin]]\nname = \"nodebug\"\npath = \"plugins/no-debug.wasm\"\nsha256 = \"{}\"\n",
            palisade_engine::sha256_hex(&wasm)
        ),
    )
    .unwrap();
    let own_cache = tempfile::tempdir().unwrap();
    let inspect_own = || {
        let out = palisade(
            &[
                "bundle",
                "inspect",
                own.path().to_str().unwrap(),
                "--format",
                "json",
            ],
            own_cache.path(),
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let cold = inspect_own();
    assert_eq!(cold["plugins"][0]["code_cache"], "miss");
    assert!(cold["plugins"][0]["compile_ms"].is_u64(), "{cold}");
    let warm = inspect_own();
    assert_eq!(warm["plugins"][0]["code_cache"], "hit");
    assert_eq!(
        warm["plugins"][0]["compile_ms"],
        cold["plugins"][0]["compile_ms"]
    );
    let human = palisade(
        &["bundle", "inspect", own.path().to_str().unwrap()],
        own_cache.path(),
    );
    assert!(
        text(&human.stdout).contains("a start without the cache compiles it:"),
        "{}",
        text(&human.stdout)
    );
    // A FIFO where the compile time is kept blocks nothing: the time is
    // unknown, the cached code still serves.
    let ms = std::fs::read_dir(own_cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "ms"))
        .unwrap();
    std::fs::remove_file(&ms).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&ms)
            .status()
            .unwrap()
            .success()
    );
    let fifo = inspect_own();
    assert_eq!(fifo["plugins"][0]["code_cache"], "hit");
    assert!(fifo["plugins"][0]["compile_ms"].is_null(), "{fifo}");
    let second = inspect(cache.path());
    assert_eq!(first["digest"], second["digest"]);

    let human = palisade(
        &["bundle", "inspect", bundle.to_str().unwrap()],
        cache.path(),
    );
    let s = text(&human.stdout);
    assert!(s.contains("secrets.aws-access-key-id"), "{s}");
    assert!(s.contains("policies/guardrails.cedar:1"), "{s}");

    let ok = palisade(
        &["bundle", "validate", bundle.to_str().unwrap()],
        cache.path(),
    );
    assert_eq!(ok.status.code(), Some(0));
    assert!(text(&ok.stdout).starts_with("ok: bundle `orders-api` 1.0.0 is valid"));
}

#[test]
fn every_shipped_bundle_carries_the_plugin_built_from_guests() {
    let dist = std::fs::read(root().join("guests/dist/secrets.wasm")).unwrap();
    for copy in [
        "examples/authz/plugins/secrets.wasm",
        "policies/serverless-baseline/plugins/secrets.wasm",
        "policies/gateway-baseline/plugins/secrets.wasm",
    ] {
        let shipped = std::fs::read(root().join(copy)).unwrap();
        assert!(
            shipped == dist,
            "{copy} differs from guests/dist/secrets.wasm: copy it again"
        );
    }
}

/// `--plugin-logs` shows what plugins log, with their names and escaped,
/// on standard error; JSON output then carries the lines too, and without
/// the flag neither does.
#[test]
fn plugin_logs_are_shown_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = common::no_debug_bundle(tmp.path(), &root().join("guests/dist/no-debug.wasm"));
    let template = tmp.path().join("t.yaml");
    std::fs::write(&template, common::DEBUG_TEMPLATE).unwrap();
    let cache = tmp.path().join("cache");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "check",
            template.to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        palisade(&args, &cache)
    };
    let line = "palisade: plugin no-debug: debug: 1 functions checked, 1 with a debug flag";

    let quiet = run(&["--format", "json"]);
    assert!(
        !text(&quiet.stderr).contains("plugin no-debug"),
        "{}",
        text(&quiet.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&quiet.stdout).unwrap();
    assert!(json.get("plugin_logs").is_none());
    assert_eq!(
        json["findings"][0]["rule_id"],
        "no-debug.function-debug-env"
    );

    let asked = run(&["--format", "json", "--plugin-logs"]);
    assert_eq!(text(&asked.stderr).trim_end(), line);
    let json: serde_json::Value = serde_json::from_slice(&asked.stdout).unwrap();
    assert_eq!(
        json["plugin_logs"],
        serde_json::json!([{"plugin": "no-debug", "level": "debug",
                            "message": "1 functions checked, 1 with a debug flag"}])
    );

    let human = run(&["--plugin-logs"]);
    assert!(
        text(&human.stderr).contains(line),
        "{}",
        text(&human.stderr)
    );
    assert_eq!(
        human.status.code(),
        Some(0),
        "medium passes at --fail-on high"
    );
}

/// `plugin inspect` says what a component is and whether this host loads
/// it, with one measured call whose fuel is the same on every run.
#[test]
fn plugin_inspect_shows_contract_imports_metadata_and_a_trial_call() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let inspect = |file: &Path| {
        let out = palisade(
            &[
                "plugin",
                "inspect",
                file.to_str().unwrap(),
                "--format",
                "json",
            ],
            &cache,
        );
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (out.status.code(), json, text(&out.stderr))
    };
    let wasm = root().join("guests/dist/no-debug.wasm");
    let (code, json, _) = inspect(&wasm);
    assert_eq!(code, Some(0));
    assert_eq!(json["contract"], "0.2.0");
    assert_eq!(
        json["sha256"],
        palisade_engine::sha256_hex(&std::fs::read(&wasm).unwrap())
    );
    assert!(json["refused"].is_null());
    assert!(
        json["imports"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["allowed"] == true)
    );
    assert_eq!(
        json["exports"],
        serde_json::json!(["metadata", "validate-settings", "evaluate"])
    );
    let rule = &json["metadata"]["rules"]["no-debug.function-debug-env"];
    assert_eq!(
        (rule["category"].as_str(), rule["severity"].as_str()),
        (Some("other"), Some("medium"))
    );
    assert_eq!(json["trial"]["kind"], "deployment");
    assert_eq!(json["trial"]["returned"], "0 findings, 1 facts");
    let fuel = json["trial"]["fuel"].as_u64().unwrap();
    assert!(fuel > 0);
    assert_eq!(
        inspect(&wasm).1["trial"]["fuel"].as_u64(),
        Some(fuel),
        "fuel is deterministic"
    );

    // Output the host would refuse is a failed trial, not a success.
    let (code, json, _) = inspect(&root().join("guests/dist/hostile-badoutput.wasm"));
    assert_eq!(code, Some(0), "it loads");
    assert!(json["trial"]["returned"].is_null(), "{json}");
    assert!(
        json["trial"]["error"]
            .as_str()
            .unwrap()
            .starts_with("bad output: "),
        "{json}"
    );

    // Built for the old contract: inspected, and refused with the fix.
    let old = root().join("engine/core/tests/fixtures/policy-0.1.0.wasm");
    let (code, json, _) = inspect(&old);
    assert_eq!(code, Some(2));
    assert_eq!(json["contract"], "0.1.0");
    assert!(
        json["refused"]
            .as_str()
            .unwrap()
            .contains("rebuild it with palisade-plugin-sdk 0.2"),
        "{json}"
    );
    assert!(json["trial"].is_null());
    let types = json["imports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "palisade:policy/types@0.1.0")
        .unwrap();
    assert_eq!(types["allowed"], false);

    // A guest that asks for the network: which import is refused.
    let (code, json, _) = inspect(&root().join("guests/dist/hostile-sockets.wasm"));
    assert_eq!(code, Some(2));
    let refused: Vec<&str> = json["imports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["allowed"] == false)
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert!(
        !refused.is_empty() && refused.iter().all(|n| n.starts_with("wasi:sockets/")),
        "{refused:?}"
    );

    // Not a component, a directory, a missing file: exit 2 with the reason.
    for (path, reason) in [
        (root().join("README.md"), "not a WebAssembly file"),
        (root().join("guests"), "is not a regular file"),
        (tmp.path().join("missing.wasm"), "cannot read"),
    ] {
        let (code, _, stderr) = inspect(&path);
        assert_eq!(code, Some(2), "{}", path.display());
        assert!(stderr.contains(reason), "{}: {stderr}", path.display());
    }
}

/// `plugin test` names the plugin in its errors, says when the `.wasm` is
/// missing or older than its sources, and refuses cases it cannot read.
#[test]
fn plugin_test_names_the_plugin_and_what_is_missing_or_stale() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let project = tmp.path().join("p");
    std::fs::create_dir_all(project.join("dist")).unwrap();
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::create_dir_all(project.join("tests")).unwrap();
    std::fs::copy(
        root().join("guests/dist/no-debug.wasm"),
        project.join("dist/no-debug.wasm"),
    )
    .unwrap();
    std::fs::write(
        project.join("tests/settings.yaml"),
        "rule: no-debug.function-debug-env\ncases:\n  - name: c\n    expect: fail\n    settings: { variables: [\"\"] }\n    template: { Resources: { Fn: { Type: AWS::Lambda::Function } } }\n",
    )
    .unwrap();
    // A source edited after the build.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(project.join("src/lib.rs"), "// edited\n").unwrap();
    let out = palisade(&["plugin", "test", project.to_str().unwrap()], &cache);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("plugin `no-debug` rejects its settings"),
        "{stdout}"
    );
    assert!(
        stderr.contains("src/lib.rs is newer than") && stderr.contains("rebuild the plugin"),
        "{stderr}"
    );

    let missing = tmp.path().join("missing.wasm");
    let out = palisade(&["plugin", "test", missing.to_str().unwrap()], &cache);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("missing.wasm does not exist"),
        "{}",
        text(&out.stderr)
    );
    let out = palisade(
        &[
            "plugin",
            "test",
            project.to_str().unwrap(),
            "--cases",
            "/dev/null",
        ],
        &cache,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is neither a directory of .yaml files nor a .yaml file"),
        "{}",
        text(&out.stderr)
    );
}

/// `plugin test` runs a plugin's cases in the sandbox and fails on a case
/// that does not hold (each way a case can be wrong), and on a rule
/// without a failing and a passing case.
#[test]
fn plugin_test_runs_cases_and_catches_each_kind_of_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let wasm = root().join("guests/dist/no-debug.wasm");
    let run_with = |cases: &Path, flags: &[&str]| {
        let mut args = vec![
            "plugin",
            "test",
            wasm.to_str().unwrap(),
            "--cases",
            cases.to_str().unwrap(),
        ];
        args.extend_from_slice(flags);
        let out = palisade(&args, &cache);
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let run = |cases: &Path| run_with(cases, &[]);
    // The shared cases of the example plugin pass.
    let (code, stdout, _) = run(&root().join("guests/no-debug/tests"));
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("8 passed, 0 failed"), "{stdout}");

    let flagged = "Resources:\n        Fn: { Type: AWS::Lambda::Function, Properties: { Environment: { Variables: { DEBUG: \"1\" } } } }";
    let clean = "Resources:\n        Fn: { Type: AWS::Lambda::Function, Properties: { Runtime: python3.12 } }";
    let pass_case = format!("  - name: clean\n    expect: pass\n    template:\n      {clean}\n");
    let write = |name: &str, body: &str| {
        let p = tmp.path().join(name);
        std::fs::write(
            &p,
            format!("rule: no-debug.function-debug-env\ncases:\n{body}"),
        )
        .unwrap();
        p
    };
    for (what, case, expected) in [
        (
            "wrong pointer",
            format!(
                "  - name: c\n    expect: fail\n    pointer: /Resources/Other\n    template:\n      {flagged}\n"
            ),
            "no finding of `no-debug.function-debug-env` with pointer /Resources/Other; got: function `Fn` sets DEBUG",
        ),
        (
            "wrong fact",
            format!(
                "  - name: c\n    expect: fail\n    facts: {{ debug_functions: 2 }}\n    template:\n      {flagged}\n"
            ),
            "fact `debug_functions`: expected 2, got 1",
        ),
        (
            "a finding where none is expected",
            format!("  - name: c\n    expect: pass\n    template:\n      {flagged}\n"),
            "expected no finding, got: function `Fn` sets DEBUG in its environment (resource Fn, pointer /Resources/Fn)",
        ),
        (
            "no finding where one is expected",
            format!("  - name: c\n    expect: fail\n    template:\n      {clean}\n"),
            "expected a finding of `no-debug.function-debug-env`, got none",
        ),
        (
            "settings the plugin refuses",
            format!(
                "  - name: c\n    expect: fail\n    settings: {{ variables: [\"\"] }}\n    template:\n      {flagged}\n"
            ),
            "setting `variables` must not contain an empty name",
        ),
        (
            "unknown settings",
            format!(
                "  - name: c\n    expect: fail\n    settings: {{ names: [X] }}\n    template:\n      {flagged}\n"
            ),
            "unknown field `names`",
        ),
        (
            "not a deployment",
            "  - name: c\n    expect: fail\n    template: { hello: world }\n".to_owned(),
            "FAIL  no-debug.function-debug-env :: c",
        ),
        (
            "an input kind the plugin does not take",
            "  - name: c\n    expect: fail\n    kind: request\n    document: { path: / }\n"
                .to_owned(),
            "the plugin does not evaluate request inputs (it applies to: deployment)",
        ),
    ] {
        let file = write("case.yaml", &format!("{case}{pass_case}"));
        let (code, stdout, stderr) = run(&file);
        assert_eq!(code, Some(1), "{what}: {stdout}{stderr}");
        assert!(stdout.contains(expected), "{what}: {stdout}");
        // The case, and the rule left without a failing case.
        assert!(stdout.contains("1 passed, 2 failed"), "{what}: {stdout}");
    }

    // A deployment given as `document` comes with its resources too (a
    // pass here would have checked nothing).
    let file = write(
        "document.yaml",
        &format!(
            "  - name: c\n    expect: fail\n    kind: deployment\n    resource: Fn\n    document:\n      {flagged}\n{pass_case}"
        ),
    );
    let (code, stdout, _) = run(&file);
    assert_eq!(code, Some(0), "{stdout}");

    // The sandbox is the one the flags give, and the flags are checked.
    let file = write(
        "fuel.yaml",
        &format!("  - name: c\n    expect: fail\n    template:\n      {flagged}\n{pass_case}"),
    );
    let (code, _, stderr) = run_with(&file, &["--fuel", "1000"]);
    // So little fuel that not even `metadata` runs: the plugin cannot be
    // tested at all (exit 2), and the message says why.
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("`metadata` failed: fuel budget exhausted"),
        "{stderr}"
    );
    let (code, _, stderr) = run_with(&file, &["--memory-mib", "0"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("`--memory-mib` must be at least 1"),
        "{stderr}"
    );

    // A rule with only a passing case: the run fails.
    let file = write("only-pass.yaml", &pass_case);
    let (code, stdout, _) = run(&file);
    assert_eq!(code, Some(1));
    assert!(
        stdout.contains("FAIL  no-debug.function-debug-env :: has no failing test case"),
        "{stdout}"
    );

    // A rule the plugin does not declare; a missing cases directory.
    let other = tmp.path().join("other.yaml");
    std::fs::write(&other, format!("rule: nope\ncases:\n{pass_case}")).unwrap();
    let (code, _, stderr) = run(&other);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(
            "rule `nope` is not a rule of the plugin (it declares: no-debug.function-debug-env)"
        ),
        "{stderr}"
    );
    let (code, _, stderr) = run(&tmp.path().join("nowhere"));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("no test cases"), "{stderr}");

    // A plugin that traps: every case fails with the error, none passes.
    let trap = root().join("guests/dist/hostile-trap.wasm");
    let file = tmp.path().join("trap.yaml");
    std::fs::write(
        &file,
        "rule: hostile.trap\ncases:\n  - name: c\n    expect: pass\n    kind: authorization\n    document: {}\n",
    )
    .unwrap();
    let out = palisade(
        &[
            "plugin",
            "test",
            trap.to_str().unwrap(),
            "--cases",
            file.to_str().unwrap(),
        ],
        &cache,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("the plugin failed (trap)"), "{stdout}");
}

/// `bundle build` writes one reproducible archive that every command takes
/// as `--bundle`, with the directory's digest and decisions; a bundle that
/// would not load is not written, and an oversized file is not read.
#[test]
fn bundle_archives_build_reproducibly_and_decide_like_their_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let dir = root().join("policies/serverless-baseline");
    let archive = tmp.path().join("sb.bundle");
    let out = palisade(
        &[
            "bundle",
            "build",
            dir.to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
        ],
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    let bytes = std::fs::read(&archive).unwrap();
    assert!(
        report.contains(&format!(
            "archive sha256:{}",
            palisade_engine::sha256_hex(&bytes)
        )),
        "{report}"
    );

    // Built again elsewhere: the same bytes.
    let copy = tmp.path().join("elsewhere/serverless-baseline");
    common::copy_dir(&dir, &copy);
    let again = tmp.path().join("again.bundle");
    let out = palisade(
        &[
            "bundle",
            "build",
            copy.to_str().unwrap(),
            "-o",
            again.to_str().unwrap(),
        ],
        &cache,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read(&again).unwrap(), bytes);

    // The same decision bytes (bundle digest included) from either.
    let example = root().join("examples/sam/insecure.yaml");
    let check = |bundle: &Path| {
        let out = palisade(
            &[
                "check",
                example.to_str().unwrap(),
                "--bundle",
                bundle.to_str().unwrap(),
                "--format",
                "json",
                "--now",
                "2026-11-29T00:00:00Z",
            ],
            &cache,
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        out.stdout
    };
    assert_eq!(check(&archive), check(&dir));
    // Inspect names the archive by its sha256 too.
    let out = palisade(
        &[
            "bundle",
            "inspect",
            archive.to_str().unwrap(),
            "--format",
            "json",
        ],
        &cache,
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["archive_sha256"],
        format!("sha256:{}", palisade_engine::sha256_hex(&bytes))
    );
    // Its tests travel with it.
    let out = palisade(&["test", archive.to_str().unwrap()], &cache);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    // A bundle that does not load is not built.
    let broken = tmp.path().join("broken");
    common::copy_dir(&root().join("examples/authz"), &broken);
    std::fs::write(broken.join("policies/bad.cedar"), "permit(").unwrap();
    let refused = tmp.path().join("broken.bundle");
    let out = palisade(
        &[
            "bundle",
            "build",
            broken.to_str().unwrap(),
            "-o",
            refused.to_str().unwrap(),
        ],
        &cache,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !refused.exists(),
        "nothing written for a bundle that does not load"
    );

    // Not into the bundle itself (it would archive itself next time).
    let out = palisade(
        &[
            "bundle",
            "build",
            copy.to_str().unwrap(),
            "-o",
            copy.join("self.bundle").to_str().unwrap(),
        ],
        &cache,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is inside the bundle"),
        "{}",
        text(&out.stderr)
    );
    assert!(!copy.join("self.bundle").exists());

    // A 300 MiB file given as a bundle is refused before it is read.
    let huge = tmp.path().join("huge.bundle");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(300 << 20)
        .unwrap();
    let out = palisade(&["bundle", "validate", huge.to_str().unwrap()], &cache);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("archives may be at most 256 MiB"),
        "{}",
        text(&out.stderr)
    );
    // Any other file: said to be no archive.
    let out = palisade(&["bundle", "validate", example.to_str().unwrap()], &cache);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a bundle archive"),
        "{}",
        text(&out.stderr)
    );
}

/// Signed archives: keygen, sign, verify; `--verify-key` refuses what is
/// unsigned, signed by another key, or modified after signing.
#[test]
fn signed_archives_are_verified_and_everything_else_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let t = |p: &str| tmp.path().join(p).to_str().unwrap().to_owned();
    let run = |args: &[&str]| {
        let out = palisade(args, &cache);
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let dir = root().join("examples/authz");
    assert_eq!(
        run(&[
            "bundle",
            "build",
            dir.to_str().unwrap(),
            "-o",
            &t("a.bundle")
        ])
        .0,
        Some(0)
    );
    let (code, out, _) = run(&["bundle", "keygen", &t("release")]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(run(&["bundle", "keygen", &t("intruder")]).0, Some(0));
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(t("release.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o077,
        0,
        "the private key is readable by its owner only"
    );
    let (code, _, err) = run(&["bundle", "keygen", &t("release")]);
    assert_eq!(code, Some(2), "keys are never overwritten");
    assert!(err.contains("exists"), "{err}");

    let (code, out, err) = run(&[
        "bundle",
        "sign",
        &t("a.bundle"),
        "--key",
        &t("release.key"),
        "--revision",
        "7",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("revision 7"), "{out}");
    let (code, out, err) = run(&[
        "bundle",
        "verify",
        &t("a.bundle"),
        "--key",
        &t("release.pub"),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("ok: orders-api") && out.contains("revision 7"),
        "{out}"
    );

    let request = root().join("examples/authz/requests/alice-views-her-order.json");
    let authorize = |bundle: &str, key: &str| {
        run(&[
            "authorize",
            "--bundle",
            bundle,
            "--request-json",
            request.to_str().unwrap(),
            "--verify-key",
            key,
        ])
    };
    assert_eq!(authorize(&t("a.bundle"), &t("release.pub")).0, Some(0));

    // Another key; no signature; the directory itself.
    let (code, _, err) = authorize(&t("a.bundle"), &t("intruder.pub"));
    assert_eq!(code, Some(2));
    assert!(err.contains("no signature by a trusted key"), "{err}");
    std::fs::copy(t("a.bundle"), t("unsigned.bundle")).unwrap();
    let (code, _, err) = authorize(&t("unsigned.bundle"), &t("release.pub"));
    assert_eq!(code, Some(2));
    assert!(err.contains("is not signed"), "{err}");
    let (code, _, err) = authorize(dir.to_str().unwrap(), &t("release.pub"));
    assert_eq!(code, Some(2));
    assert!(err.contains("only a signed archive can"), "{err}");

    // The archive modified after signing (one byte of the gzip stream).
    let mut bytes = std::fs::read(t("a.bundle")).unwrap();
    let last = bytes.len() - 9;
    bytes[last] ^= 1;
    std::fs::write(t("m.bundle"), &bytes).unwrap();
    std::fs::copy(t("a.bundle.sig"), t("m.bundle.sig")).unwrap();
    let (code, _, err) = authorize(&t("m.bundle"), &t("release.pub"));
    assert_eq!(code, Some(2));
    assert!(err.contains("is not the archive that was signed"), "{err}");

    // The signature modified: a revision bumped by hand no longer verifies.
    let sig = std::fs::read_to_string(t("a.bundle.sig")).unwrap();
    let envelope: serde_json::Value = serde_json::from_str(&sig).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload =
        String::from_utf8(b64.decode(envelope["payload"].as_str().unwrap()).unwrap()).unwrap();
    let forged = payload.replace("\"revision\":7", "\"revision\":9");
    assert_ne!(forged, payload);
    let mut forged_env = envelope.clone();
    forged_env["payload"] = b64.encode(forged).into();
    std::fs::copy(t("a.bundle"), t("f.bundle")).unwrap();
    std::fs::write(t("f.bundle.sig"), forged_env.to_string()).unwrap();
    let (code, _, err) = authorize(&t("f.bundle"), &t("release.pub"));
    assert_eq!(code, Some(2));
    assert!(
        err.contains("does not verify: the signature or the statement was changed"),
        "{err}"
    );

    // A trust directory: its *.pub files, any of which may have signed.
    let trust = tmp.path().join("trust");
    std::fs::create_dir(&trust).unwrap();
    let (code, _, err) = authorize(&t("a.bundle"), trust.to_str().unwrap());
    assert_eq!(code, Some(2));
    assert!(err.contains("holds no public key"), "{err}");
    std::fs::copy(t("intruder.pub"), trust.join("intruder.pub")).unwrap();
    assert_eq!(
        authorize(&t("a.bundle"), trust.to_str().unwrap()).0,
        Some(2)
    );
    std::fs::copy(t("release.pub"), trust.join("release.pub")).unwrap();
    assert_eq!(
        authorize(&t("a.bundle"), trust.to_str().unwrap()).0,
        Some(0)
    );

    // Policies named on the command line cannot be verified.
    let evil = tmp.path().join("evil.cedar");
    std::fs::write(&evil, "permit(principal, action, resource);").unwrap();
    let (code, _, err) = run(&[
        "authorize",
        "--policies",
        evil.to_str().unwrap(),
        "--request-json",
        request.to_str().unwrap(),
        "--verify-key",
        &t("release.pub"),
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--verify-key needs --bundle"), "{err}");

    // The private key is PKCS#8 v1 (what OpenSSL reads), one PEM block.
    let pem = std::fs::read_to_string(t("release.key")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = b64.decode(body).unwrap();
    assert_eq!(der.len(), 48);
    assert_eq!(&der[..5], &[0x30, 0x2e, 0x02, 0x01, 0x00], "version 0 (v1)");
    // Two keys in one file: refused, not the first taken in silence.
    let two = tmp.path().join("two.pub");
    let both = format!(
        "{}{}",
        std::fs::read_to_string(t("intruder.pub")).unwrap(),
        std::fs::read_to_string(t("release.pub")).unwrap()
    );
    std::fs::write(&two, both).unwrap();
    let (code, _, err) = authorize(&t("a.bundle"), two.to_str().unwrap());
    assert_eq!(code, Some(2));
    assert!(err.contains("one block, nothing around it"), "{err}");

    // `check` takes the same flag; a key file that is not a key is said so.
    let (code, _, err) = run(&[
        "check",
        root().join("examples/sam/secure.yaml").to_str().unwrap(),
        "--bundle",
        &t("a.bundle"),
        "--verify-key",
        &t("release.key"),
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("is not a PEM `PUBLIC KEY` file"), "{err}");
}

fn compliance(args: &[&str], cache: &Path) -> (i32, String, String) {
    let mut all = vec!["report", "compliance"];
    all.extend_from_slice(args);
    let out = palisade(&all, cache);
    (
        out.status.code().unwrap(),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// One practice of a JSON compliance report.
fn practice_of(report: &serde_json::Value, id: &str) -> serde_json::Value {
    report["practices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("no practice {id}"))
        .clone()
}

#[test]
fn the_compliance_report_counts_resources_per_practice() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.yaml");
    // One queue that turns encryption off, one with it; one function on a runtime
    // AWS no longer patches, with a key that is hard-coded.
    std::fs::write(
        &t,
        "Resources:\n  Plain:\n    Type: AWS::SQS::Queue\n    Properties:\n      SqsManagedSseEnabled: false\n  Sealed:\n    Type: AWS::SQS::Queue\n    Properties:\n      SqsManagedSseEnabled: true\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Runtime: python3.7\n      Environment:\n        Variables:\n          AWS_ACCESS_KEY_ID: AKIAIOSFODNN7EXAMPLF\n",
    )
    .unwrap();
    let (code, out, err) = compliance(
        &[
            t.to_str().unwrap(),
            "--format",
            "json",
            "--now",
            "2026-11-29T00:00:00Z",
        ],
        cache.path(),
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["inputs"], serde_json::json!({"files": 1, "resources": 3}));
    let practice = |id: &str| practice_of(&v, id);
    let enc = practice("encryption");
    // The two queues and the function (its environment) are judged.
    assert_eq!(enc["results"]["checked"], 3, "{enc}");
    let failing: Vec<&str> = enc["results"]["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["resource"].as_str().unwrap())
        .collect();
    assert_eq!(failing, ["Fn", "Plain"], "{enc}");
    assert_eq!(enc["results"]["passed"], 1);
    let patched = practice("patched-runtimes");
    assert_eq!(patched["results"]["failed"], 1, "{patched}");
    let secrets = practice("secrets-management");
    let failures = secrets["results"]["failures"].as_array().unwrap();
    assert!(
        failures.iter().any(|f| f["rules"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("secrets.aws-access-key-id"))),
        "{secrets}"
    );
    // Every practice says which rules and peer checks stand behind it.
    for p in v["practices"].as_array().unwrap() {
        assert_eq!(p["status"], "covered", "{p}");
        assert!(!p["rules"].as_array().unwrap().is_empty(), "{p}");
    }
    // The same inputs give the same bytes.
    let (_, again, _) = compliance(
        &[
            t.to_str().unwrap(),
            "--format",
            "json",
            "--now",
            "2026-11-29T00:00:00Z",
        ],
        cache.path(),
    );
    assert_eq!(out, again);

    // A waiver moves its resource from failed to waived.
    let waivers = dir.path().join("waivers.yaml");
    std::fs::write(
        &waivers,
        "waivers:\n  - rule: enc.sqs-unencrypted\n    resource: Plain\n    owner: alice@example.com\n    reason: test queue, no data (SEC-1)\n    expires: 2027-01-31\n  - rule: enc.sqs-unencrpyted\n    owner: bob@example.com\n    reason: a typo\n    expires: 2027-01-31\n",
    )
    .unwrap();
    let (code, out, err) = compliance(
        &[
            t.to_str().unwrap(),
            "--format",
            "json",
            "--now",
            "2026-11-29T00:00:00Z",
            "--waivers",
            waivers.to_str().unwrap(),
        ],
        cache.path(),
    );
    assert_eq!(code, 0, "{err}");
    // A waiver of no rule suppresses nothing, and says so.
    assert!(
        err.contains(":7: the waiver names `enc.sqs-unencrpyted`, which is not a rule of bundle `serverless-baseline`"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let enc = practice_of(&v, "encryption");
    assert_eq!(enc["results"]["waived"], 1, "{enc}");
    let failing: Vec<&str> = enc["results"]["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["resource"].as_str().unwrap())
        .collect();
    assert_eq!(failing, ["Fn"], "{enc}");
    // The report is never written over the waivers file.
    let (code, _, err) = compliance(
        &[
            t.to_str().unwrap(),
            "--waivers",
            waivers.to_str().unwrap(),
            "--output",
            waivers.to_str().unwrap(),
        ],
        cache.path(),
    );
    assert_eq!(code, 2, "{err}");
}

#[test]
fn the_compliance_report_renders_markdown_and_html_with_input_escaped() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A serverless.yml whose function name is markup.
    let t = dir.path().join("serverless.yml");
    std::fs::write(
        &t,
        "service: s\nprovider:\n  name: aws\n  runtime: nodejs22.x\nfunctions:\n  \"<script>x|y</script>\":\n    handler: h.h\n",
    )
    .unwrap();
    let html_file = dir.path().join("report.html");
    let (code, _, err) = compliance(
        &[
            t.to_str().unwrap(),
            "--format",
            "html",
            "--output",
            html_file.to_str().unwrap(),
            "--now",
            "2026-11-29T00:00:00Z",
        ],
        cache.path(),
    );
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(&html_file).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    assert!(!html.contains("<script>"), "input markup must be escaped");
    assert!(
        html.contains("&lt;script&gt;"),
        "the failing function is listed"
    );
    assert!(html.contains("class=\"bar\""), "results have bars");
    for p in [
        "Least-privilege IAM",
        "MFA for privileged access",
        "Incident response",
    ] {
        assert!(html.contains(p), "{p}");
    }

    let (code, md, err) = compliance(
        &[t.to_str().unwrap(), "--now", "2026-11-29T00:00:00Z"],
        cache.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        md.starts_with("# Compliance report: serverless-baseline"),
        "{md}"
    );
    // Every row of the overview table has the same number of cells: a
    // pipe from the input would add one.
    let rows: Vec<&str> = md
        .lines()
        .skip_while(|l| !l.starts_with("| Practice"))
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(rows.len() > 10, "{md}");
    // Input text stays inside code spans (which Markdown never renders
    // as markup), with its pipe escaped.
    let listed: Vec<&str> = md.lines().filter(|l| l.contains("<script>")).collect();
    assert!(!listed.is_empty(), "{md}");
    for l in listed {
        assert!(l.contains("`<script>x\\|y</script>LambdaFunction`"), "{l}");
    }
    // Terminal escapes in names are shown, never sent (a template must not
    // clear the screen and print its own verdict).
    let esc = dir.path().join("esc.yaml");
    std::fs::write(
        &esc,
        "Resources:\n  \"\\e[2J\\e]0;owned\\a\u{202e}Q\":\n    Type: AWS::SQS::Queue\n    Properties: { SqsManagedSseEnabled: false }\n",
    )
    .unwrap();
    for format in ["markdown", "html", "json"] {
        let out = palisade(
            &[
                "report",
                "compliance",
                esc.to_str().unwrap(),
                "--format",
                format,
                "--now",
                "2026-11-29T00:00:00Z",
            ],
            cache.path(),
        );
        assert_eq!(out.status.code(), Some(0), "{format}");
        let body = text(&out.stdout);
        assert!(body.contains("Q"), "{format}");
        if format != "json" {
            assert!(
                !body.contains(['\u{1b}', '\u{7}', '\u{202e}']),
                "{format}: raw control characters in {body}"
            );
            assert!(body.contains("\\x1b[2J"), "{format}: shown escaped");
        }
    }
    // Without paths: the table alone, no counts.
    let (code, out, _) = compliance(&["--format", "json"], cache.path());
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v.get("inputs").is_none() && v["practices"][0].get("results").is_none());
}

#[test]
fn a_compliance_report_needs_a_controls_table_and_readable_inputs() {
    let cache = tempfile::tempdir().unwrap();
    let (code, _, err) = compliance(&["--bundle", "builtin:gateway-baseline"], cache.path());
    assert_eq!(code, 2);
    assert!(err.contains("has no controls table"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "Resources:\n  A: [\n").unwrap();
    let (code, _, err) = compliance(&[bad.to_str().unwrap()], cache.path());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad.yaml:"), "{err}");

    // A policy that fails on a resource counts it as failing, never as a
    // pass, and the report says the counts are incomplete (exit 2).
    let erring = dir.path().join("erring");
    std::fs::create_dir_all(erring.join("policies")).unwrap();
    std::fs::write(
        erring.join("palisade.toml"),
        "[bundle]\nname = \"erring\"\nversion = \"1\"\ncontrols = \"controls.json\"\n",
    )
    .unwrap();
    std::fs::write(
        erring.join("policies/p.cedar"),
        "permit (principal, action, resource);\n@id(\"enc.alias-key\")\nforbid (principal, action, resource is AWS::SQS::Queue)\nwhen { resource.properties.KmsMasterKeyId like \"arn:*\" };\n",
    )
    .unwrap();
    std::fs::write(
        erring.join("controls.json"),
        r#"{"practices": [{"id": "encryption", "title": "Encryption"}],
            "rules": {"enc.alias-key": {"practices": ["encryption"], "resources": ["AWS::SQS::Queue"]}}}"#,
    )
    .unwrap();
    let queue = dir.path().join("q.yaml");
    std::fs::write(
        &queue,
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: { KmsMasterKeyId: !Ref Key }\n",
    )
    .unwrap();
    let (code, out, _) = compliance(
        &[
            queue.to_str().unwrap(),
            "--bundle",
            erring.to_str().unwrap(),
            "--format",
            "json",
        ],
        cache.path(),
    );
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = &v["practices"][0]["results"];
    assert_eq!(
        (results["passed"].as_u64(), results["failed"].as_u64()),
        (Some(0), Some(1)),
        "{v}"
    );
    assert_eq!(
        results["failures"][0]["rules"][0], "enc.alias-key (evaluation error)",
        "{v}"
    );
    assert_eq!(v["errors"].as_array().unwrap().len(), 1, "{v}");

    // A report never overwrites the bundle it reports on.
    let bundle = dir.path().join("b");
    common::copy_dir(&root().join("policies/serverless-baseline"), &bundle);
    let controls = bundle.join("controls.json");
    let before = std::fs::read(&controls).unwrap();
    let example = root().join("examples/sam/secure.yaml");
    for out in [controls.clone(), bundle.join("policies/new.md")] {
        let (code, _, err) = compliance(
            &[
                example.to_str().unwrap(),
                "--bundle",
                bundle.to_str().unwrap(),
                "--output",
                out.to_str().unwrap(),
            ],
            cache.path(),
        );
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("is part of the bundle"), "{err}");
    }
    assert_eq!(std::fs::read(&controls).unwrap(), before);
    assert!(!bundle.join("policies/new.md").exists());
    // Nor a trusted key, nor an archive's signature (refused before any
    // key is read, so these need not be real keys).
    let key = dir.path().join("release.pub");
    std::fs::write(&key, "not overwritten").unwrap();
    let archive = dir.path().join("rules.bundle");
    std::fs::write(&archive, "archive").unwrap();
    let sig = dir.path().join("rules.bundle.sig");
    std::fs::write(&sig, "not overwritten").unwrap();
    for (bundle_arg, out) in [
        ("builtin:serverless-baseline", &key),
        (archive.to_str().unwrap(), &sig),
    ] {
        let out_path = out.to_str().unwrap();
        for cmd in [&["check"][..], &["report", "compliance"][..]] {
            let mut args: Vec<&str> = cmd.to_vec();
            args.extend([
                example.to_str().unwrap(),
                "--bundle",
                bundle_arg,
                "--verify-key",
                key.to_str().unwrap(),
                "--output",
                out_path,
            ]);
            let o = palisade(&args, cache.path());
            assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
            assert!(
                text(&o.stderr).contains("is part of the bundle or its keys"),
                "{}",
                text(&o.stderr)
            );
        }
        assert_eq!(std::fs::read_to_string(out).unwrap(), "not overwritten");
    }
}
