//! Hostile plugins are stopped, the host survives, and decisions fail closed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

mod common;

use common::{TempBundle, request};
use palisade_engine::{Basis, Effect, Engine, ErrorKind, Now};

const FAST: &str = "[limits]\nfuel = 20_000_000\nmemory_mib = 16\ntimeout_ms = 5_000\n";

fn decide(wasm: &str, extra: &str) -> palisade_engine::Decision {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(&[("h", wasm, extra)], FAST);
    let bundle = b.load(&engine).unwrap();
    bundle.authorize(&request(), Now::epoch()).unwrap()
}

fn only_error(d: &palisade_engine::Decision) -> &palisade_engine::DecisionError {
    assert_eq!(d.errors.len(), 1, "{}", d.to_json_pretty());
    &d.errors[0]
}

#[test]
fn endless_loop_is_stopped_by_fuel_the_same_way_every_run() {
    let first = decide("hostile-loop.wasm", "");
    assert_eq!(first.decision, Effect::Deny);
    assert_eq!(first.basis, Basis::PluginError);
    let e = only_error(&first);
    assert_eq!(e.kind, ErrorKind::FuelExhausted);
    assert_eq!(e.source.to_string(), "plugin:h");
    let second = decide("hostile-loop.wasm", "");
    assert_eq!(
        first.to_json(),
        second.to_json(),
        "fuel exhaustion must be deterministic"
    );
}

#[test]
fn endless_loop_hits_the_wall_clock_deadline_when_fuel_is_plentiful() {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(
        &[("h", "hostile-loop.wasm", "")],
        "[limits]\nfuel = 100_000_000_000\nmemory_mib = 16\ntimeout_ms = 50\n",
    );
    let bundle = b.load(&engine).unwrap();
    let started = std::time::Instant::now();
    let d = bundle.authorize(&request(), Now::epoch()).unwrap();
    assert_eq!(
        only_error(&d).kind,
        ErrorKind::Timeout,
        "{}",
        d.to_json_pretty()
    );
    assert_eq!(d.decision, Effect::Deny);
    // A backstop, not a timing assertion: a hang would never get here.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn memory_bomb_is_stopped_by_the_memory_limit() {
    let d = decide("hostile-membomb.wasm", "");
    let e = only_error(&d);
    assert_eq!(e.kind, ErrorKind::MemoryLimit, "{}", d.to_json_pretty());
    assert_eq!(e.message, "memory limit exceeded");
    assert_eq!(d.decision, Effect::Deny);
}

#[test]
fn trap_is_reported_and_denies() {
    let d = decide("hostile-trap.wasm", "");
    let e = only_error(&d);
    assert_eq!(e.kind, ErrorKind::Trap);
    assert!(e.message.contains("unreachable"), "{}", e.message);
    assert_eq!(d.decision, Effect::Deny);
}

#[test]
fn a_sleeping_guest_never_blocks_the_host() {
    // Each hour-long sleep returns at once (no WASI call blocks a host
    // thread, where the epoch deadline could not reach it), so the guest's
    // loop spends its fuel well before the 5 s deadline. A host that slept
    // would block here for an hour: the backstop turns that into a failure
    // (it is not a timing assertion).
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(&[("h", "hostile-sleep.wasm", "")], FAST);
    let bundle = b.load(&engine).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(bundle.authorize(&request(), Now::epoch()).unwrap());
    });
    let d = rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("a sleeping plugin blocked the host");
    // Fuel runs out first on a quiet machine; on a loaded one (each sleep
    // is a host call) the 5 s deadline may come first. Either way the call
    // was stopped, which a blocked host thread could not be.
    let e = only_error(&d);
    assert!(
        matches!(e.kind, ErrorKind::FuelExhausted | ErrorKind::Timeout),
        "{}",
        d.to_json_pretty()
    );
    assert_eq!(d.decision, Effect::Deny);
}

#[test]
fn a_guest_cannot_hoard_host_handles() {
    let d = decide("hostile-sleep.wasm", "settings = { mode = \"handles\" }");
    let e = only_error(&d);
    assert_eq!(e.kind, ErrorKind::Trap, "{}", d.to_json_pretty());
    assert!(
        e.message.contains("more than 1024 WASI handles"),
        "{}",
        e.message
    );
    assert_eq!(d.decision, Effect::Deny);
}

#[test]
fn a_guest_that_exits_is_a_trap_that_denies() {
    // `exit` is how a guest built as a command would stop; here it is a
    // trap like any other, never a clean return.
    let d = decide("hostile-sleep.wasm", "settings = { mode = \"exit\" }");
    let e = only_error(&d);
    assert_eq!(e.kind, ErrorKind::Trap, "{}", d.to_json_pretty());
    assert!(e.message.contains("called `exit`"), "{}", e.message);
    assert_eq!(d.decision, Effect::Deny);
}

#[test]
fn panic_is_reported_with_its_message() {
    let d = decide("hostile-panic.wasm", "");
    let e = only_error(&d);
    assert_eq!(e.kind, ErrorKind::Trap);
    assert!(
        e.message.contains("hostile guest panicked on purpose"),
        "{}",
        e.message
    );
    assert_eq!(d.decision, Effect::Deny);
}

#[test]
fn output_that_breaks_the_contract_is_refused() {
    let d = decide("hostile-badoutput.wasm", "");
    assert_eq!(d.decision, Effect::Deny);
    let kinds: Vec<_> = d.errors.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [ErrorKind::BadOutput; 3], "{}", d.to_json_pretty());
    let all: String = d
        .errors
        .iter()
        .map(|e| e.message.clone())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains("`not.declared`"), "{all}");
    assert!(all.contains("empty message"), "{all}");
    assert!(all.contains("fact name"), "{all}");
    assert!(
        d.findings.is_empty(),
        "contract-breaking findings must not be reported as real ones"
    );
}

#[test]
fn monitor_mode_reports_but_never_denies() {
    for wasm in [
        "hostile-loop.wasm",
        "hostile-trap.wasm",
        "hostile-badoutput.wasm",
    ] {
        let d = decide(wasm, "mode = \"monitor\"");
        assert_eq!(d.decision, Effect::Allow, "{wasm}: {}", d.to_json_pretty());
        assert!(!d.errors.is_empty());
        assert!(d.errors.iter().all(|e| e.monitor));
    }
}

#[test]
fn a_capability_that_is_not_granted_is_refused_at_load_naming_the_import() {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(&[("h", "hostile-sockets.wasm", "")], FAST);
    let err = b.load(&engine).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("wasi:sockets/instance-network"), "{msg}");
    assert!(msg.contains("does not grant"), "{msg}");
}

#[test]
fn ambient_state_is_not_real_inside_the_sandbox() {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(
        &[("snoop", "hostile-snoop.wasm", "mode = \"monitor\"")],
        FAST,
    );
    let bundle = b.load(&engine).unwrap();
    let now = Now::parse("2026-11-29T12:00:00Z").unwrap();
    // Runs repeat exactly.
    let d1 = bundle.authorize(&request(), now).unwrap();
    let d2 = bundle.authorize(&request(), now).unwrap();
    assert_eq!(d1.to_json(), d2.to_json());
    assert!(d1.errors.is_empty(), "{}", d1.to_json_pretty());

    // Random bytes come from a fixed generator (each byte is the low byte of
    // a u32 drawn from the cycle 5a 17 c3 8e, hence 8e, 8e, ...).
    // The snoop reports what it saw as facts, which Cedar sees as
    // `context.plugins.snoop`: policies that deny if it saw anything real.
    let dir = b.path();
    std::fs::write(
        dir.join("policies/snoop.cedar"),
        r#"
        @id("saw-a-file") forbid(principal, action, resource) when { !(context.plugins.snoop.file like "error: *") };
        @id("saw-env") forbid(principal, action, resource) when { context.plugins.snoop.env_count != 0 };
        @id("saw-args") forbid(principal, action, resource) when { context.plugins.snoop.args_count != 0 };
        @id("clock-not-now") forbid(principal, action, resource) when { context.plugins.snoop.wall_clock_secs != 1795953600 };
        @id("clock-moves") forbid(principal, action, resource) when { context.plugins.snoop.monotonic_nanos != 0 };
        @id("random-not-fixed") forbid(principal, action, resource) when { context.plugins.snoop.random_hex != "8e8e8e8e8e8e8e8e8e8e8e8e8e8e8e8e" };
        "#,
    )
    .unwrap();
    let bundle = engine.load_bundle(dir).unwrap();
    let d = bundle.authorize(&request(), now).unwrap();
    assert!(d.errors.is_empty(), "{}", d.to_json_pretty());
    assert_eq!(d.decision, Effect::Allow, "{}", d.to_json_pretty());
}

/// Loads `hostile-snoop.wasm` with every `from` in its bytes replaced by
/// `to` (same length, so the component stays well formed).
fn load_patched_snoop(
    patches: &[(&str, &str)],
) -> Result<palisade_engine::Bundle, palisade_engine::BundleError> {
    let mut bytes = std::fs::read(common::dist("hostile-snoop.wasm")).unwrap();
    for (from, to) in patches {
        assert_eq!(from.len(), to.len());
        let (from, to) = (from.as_bytes(), to.as_bytes());
        let mut found = 0;
        let mut i = 0;
        while i + from.len() <= bytes.len() {
            if &bytes[i..i + from.len()] == from {
                bytes[i..i + from.len()].copy_from_slice(to);
                found += 1;
            }
            i += 1;
        }
        assert!(found > 0, "{from:?} is not in the guest");
    }
    let b = TempBundle::new(&[], FAST);
    let dir = b.path();
    std::fs::write(dir.join("patched.wasm"), &bytes).unwrap();
    std::fs::write(
        dir.join("palisade.toml"),
        format!(
            "[bundle]\nname = \"t\"\nversion = \"1\"\n{FAST}[[plugin]]\nname = \"snoop\"\npath = \"patched.wasm\"\nsha256 = \"{}\"\nmode = \"monitor\"\n",
            palisade_engine::sha256_hex(&bytes)
        ),
    )
    .unwrap();
    let engine = Engine::new().unwrap();
    engine.load_bundle(dir)
}

#[test]
fn wasi_imports_at_versions_the_host_does_not_have_are_linked_or_refused_cleanly() {
    // The component imports WASI at 0.2.12 (its core modules' names carry
    // older versions, which the component wires itself).
    // The filesystem is linked at whatever version a plugin imports it,
    // and still gives it nothing.
    let bundle = load_patched_snoop(&[
        (
            "wasi:filesystem/types@0.2.12",
            "wasi:filesystem/types@9.9.99",
        ),
        (
            "wasi:filesystem/preopens@0.2.12",
            "wasi:filesystem/preopens@9.9.99",
        ),
    ])
    .unwrap();
    let d = bundle.authorize(&request(), Now::epoch()).unwrap();
    assert!(d.errors.is_empty(), "{}", d.to_json_pretty());
    // A later 0.2 release of an interface the host has links to the host's.
    let bundle =
        load_patched_snoop(&[("wasi:cli/environment@0.2.12", "wasi:cli/environment@0.2.99")])
            .unwrap();
    let d = bundle.authorize(&request(), Now::epoch()).unwrap();
    assert!(d.errors.is_empty(), "{}", d.to_json_pretty());
    // Any other WASI interface at an unknown major version does not link:
    // refused at load, naming it.
    let err = load_patched_snoop(&[("wasi:cli/environment@0.2.12", "wasi:cli/environment@9.9.99")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot link"), "{err}");
    assert!(err.contains("wasi:cli/environment@9.9.99"), "{err}");
    // And a name that only looks like the filesystem is not granted.
    let err = load_patched_snoop(&[(
        "wasi:filesystem/types@0.2.12",
        "wasi:filesystem/typez@0.2.12",
    )])
    .unwrap_err()
    .to_string();
    assert!(err.contains("does not grant"), "{err}");
}

#[test]
fn garbage_and_truncated_wasm_are_refused_at_load() {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(&[], FAST);
    let dir = b.path();
    let good = std::fs::read(common::dist("secrets.wasm")).unwrap();
    for (name, bytes) in [
        ("garbage.wasm", b"this is not wasm at all".to_vec()),
        ("truncated.wasm", good[..good.len() / 2].to_vec()),
    ] {
        std::fs::write(dir.join(name), &bytes).unwrap();
        std::fs::write(
            dir.join("palisade.toml"),
            format!(
                "[bundle]\nname = \"t\"\nversion = \"1\"\n[[plugin]]\nname = \"p\"\npath = \"{name}\"\nsha256 = \"{}\"\n",
                palisade_engine::sha256_hex(&bytes)
            ),
        )
        .unwrap();
        let err = engine.load_bundle(dir).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(name), "{msg}");
        assert!(
            msg.contains("not a WebAssembly file")
                || msg.contains("not a valid WebAssembly component"),
            "{msg}"
        );
    }
}

#[test]
fn a_sha256_mismatch_refuses_the_bundle() {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(&[("secrets", "secrets.wasm", "")], FAST);
    let manifest = std::fs::read_to_string(b.path().join("palisade.toml")).unwrap();
    let real = common::sha256(&common::dist("secrets.wasm"));
    let wrong = "0".repeat(64);
    std::fs::write(
        b.path().join("palisade.toml"),
        manifest.replace(&real, &wrong),
    )
    .unwrap();
    let err = b.load(&engine).unwrap_err();
    let p = &err.problems[0];
    assert_eq!(
        p.message,
        format!(
            "plugin `secrets`: sha256 mismatch for `secrets.wasm`: the manifest pins {wrong}, \
             the file is {real}"
        )
    );
    assert_eq!(
        p.help.as_deref(),
        Some(
            "rebuild the plugin from its source, or update the pin if this file is the one you \
             mean to ship"
        )
    );
    assert_eq!(p.file, "palisade.toml");
    assert!(p.line.is_some());
}

#[test]
fn settings_are_validated_by_the_plugin_at_load() {
    let engine = Engine::new().unwrap();
    let b = TempBundle::new(
        &[("secrets", "secrets.wasm", "settings = { min_lenght = 3 }")],
        FAST,
    );
    let err = b.load(&engine).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("rejects its settings"), "{msg}");
    assert!(msg.contains("min_lenght"), "{msg}");
}

#[test]
fn the_host_survives_every_hostile_guest_in_one_engine() {
    let engine = Engine::new().unwrap();
    for wasm in [
        "hostile-loop.wasm",
        "hostile-membomb.wasm",
        "hostile-trap.wasm",
        "hostile-panic.wasm",
        "hostile-badoutput.wasm",
    ] {
        let b = TempBundle::new(&[("h", wasm, "")], FAST);
        let bundle = b.load(&engine).unwrap();
        for _ in 0..3 {
            let d = bundle.authorize(&request(), Now::epoch()).unwrap();
            assert_eq!(d.decision, Effect::Deny, "{wasm}");
        }
    }
    // And a healthy plugin still works afterwards in the same engine.
    let b = TempBundle::new(&[("secrets", "secrets.wasm", "")], FAST);
    let bundle = b.load(&engine).unwrap();
    let d = bundle.authorize(&request(), Now::epoch()).unwrap();
    assert_eq!(d.decision, Effect::Allow, "{}", d.to_json_pretty());
}

#[test]
fn a_plugin_finding_alone_denies_what_cedar_allows_unless_in_monitor_mode() {
    let engine = Engine::new().unwrap();
    let leaky = palisade_engine::AuthorizationRequest::new(
        r#"User::"alice""#,
        r#"Action::"view""#,
        r#"Doc::"d1""#,
    )
    .unwrap()
    .with_context(serde_json::json!({"note": "use AKIAIOSFODNN7EXAMPLE"}))
    .unwrap();
    for (extra, effect, monitor) in [
        ("", Effect::Deny, false),
        ("mode = \"monitor\"", Effect::Allow, true),
    ] {
        let b = TempBundle::new(&[("secrets", "secrets.wasm", extra)], FAST);
        let bundle = b.load(&engine).unwrap();
        let d = bundle.authorize(&leaky, Now::epoch()).unwrap();
        assert_eq!(d.decision, effect, "{}", d.to_json_pretty());
        assert_eq!(d.reasons, ["allow-all"], "Cedar itself allowed");
        assert_eq!(d.findings.len(), 1, "{}", d.to_json_pretty());
        assert_eq!(d.findings[0].rule_id, "secrets.aws-access-key-id");
        assert_eq!(d.findings[0].monitor, monitor);
        if !monitor {
            assert_eq!(d.basis, Basis::PluginFinding);
        }
    }
}

#[test]
fn every_hostile_guest_has_a_test_that_loads_it() {
    // A hostile guest that no test runs proves nothing: adding one to
    // guests/hostile/ without a test that loads its .wasm fails here.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tests: String = [
        "engine/core/tests/sandbox.rs",
        "engine/core/tests/adversarial_plugins.rs",
        "tests/adversarial_plugins.rs",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(root.join(f)).unwrap())
    .collect();
    let mut guests: Vec<String> = std::fs::read_dir(root.join("guests/hostile"))
        .unwrap()
        .map(|e| e.unwrap())
        // Guests are components; `common` is the library they share.
        .filter(|e| {
            std::fs::read_to_string(e.path().join("Cargo.toml"))
                .is_ok_and(|toml| toml.contains("cdylib"))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    guests.sort();
    assert!(guests.len() >= 9, "{guests:?}");
    let untested: Vec<&String> = guests
        .iter()
        .filter(|g| !tests.contains(&format!("\"hostile-{g}.wasm\"")))
        .collect();
    assert!(
        untested.is_empty(),
        "hostile guests without a test: {untested:?}"
    );
    // And each is built into guests/dist.
    for g in &guests {
        assert!(
            root.join(format!("guests/dist/hostile-{g}.wasm")).is_file(),
            "guests/dist/hostile-{g}.wasm: run guests/build.sh"
        );
    }
}

/// A plugin's own `limits` replace the bundle's for that plugin only, and
/// are held to the same bounds.
#[test]
fn per_plugin_limits_replace_the_bundle_limits_for_that_plugin() {
    let engine = Engine::new().unwrap();
    // The bundle allows a long loop; the plugin's own fuel is small.
    let b = TempBundle::new(
        &[
            (
                "tight",
                "hostile-loop.wasm",
                "limits = { fuel = 1_000_000 }",
            ),
            ("roomy", "secrets.wasm", ""),
        ],
        "[limits]\nfuel = 100_000_000_000\nmemory_mib = 16\ntimeout_ms = 60_000\n",
    );
    let bundle = b.load(&engine).unwrap();
    let limits: Vec<u64> = bundle.plugins().iter().map(|p| p.limits().fuel).collect();
    assert_eq!(limits, [1_000_000, 100_000_000_000]);
    let d = bundle.authorize(&request(), Now::epoch()).unwrap();
    let e = only_error(&d);
    assert_eq!(e.kind, ErrorKind::FuelExhausted, "{}", d.to_json_pretty());
    assert_eq!(e.source.to_string(), "plugin:tight");
    assert_eq!(d.plugin_fuel[0], ("tight".to_owned(), 1_000_000));

    // The other way round: a bundle with little memory, one plugin with more.
    let b = TempBundle::new(
        &[(
            "h",
            "hostile-membomb.wasm",
            "limits = { memory_mib = 32, timeout_ms = 9_000 }",
        )],
        FAST,
    );
    let l = b.load(&engine).unwrap().plugins()[0].limits();
    assert_eq!(
        (l.fuel, l.memory_mib, l.timeout_ms),
        (20_000_000, 32, 9_000)
    );

    for (bad, message) in [
        (
            "limits = { fuel = 0 }",
            "plugin `h`: `limits.fuel` must be at least 1",
        ),
        (
            "limits = { memory_mib = 4096 }",
            "plugin `h`: `limits.memory_mib` is 4096 MiB, above the maximum of 1024 MiB",
        ),
        ("limits = { fuel_max = 1 }", "unknown field `fuel_max`"),
    ] {
        let b = TempBundle::new(&[("h", "hostile-loop.wasm", bad)], FAST);
        let err = b.load(&engine).unwrap_err();
        assert!(err.to_string().contains(message), "{bad}: {err}");
        assert!(err.problems[0].line.is_some(), "{bad}: {err:?}");
    }
}
