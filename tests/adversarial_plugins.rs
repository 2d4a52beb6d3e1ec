//! Issue 9, "Harden every entry point", at the level of the server and
//! the CLI: hot reload never serves half a bundle, and `bundle validate`
//! ends on a bundle full of symlink loops.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
#[path = "common/server.rs"]
mod server;

use common::{palisade, root};
use server::{Server, http};
use std::io::Write as _;
use std::time::{Duration, Instant};

const FIRST_HALF: &str = "@id(\"members\") permit(principal, action, resource);\n";
const SECOND_HALF: &str =
    "@id(\"no-delete\") forbid(principal, action == Action::\"delete\", resource);\n";

fn delete(addr: &str) -> String {
    let body = r#"{"principal": "User::\"eve\"", "action": "Action::\"delete\"", "resource": "Doc::\"d\"", "context": {}}"#;
    let r = http(addr, "POST", "/v1/authorize", &[], body);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["decision"].as_str().unwrap().to_owned()
}

#[test]
fn a_policy_file_written_in_two_halves_is_never_live_half_done() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("palisade.toml"),
        "[bundle]\nname = \"halves\"\nversion = \"1\"\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    let file = dir.path().join("policies/access.cedar");
    std::fs::write(&file, format!("{FIRST_HALF}{SECOND_HALF}")).unwrap();
    let s = Server::start(
        dir.path().to_str().unwrap(),
        cache.path(),
        &["--decision-log", "off", "--watch", "1"],
    );
    assert_eq!(delete(&s.addr), "deny");

    // The file is rewritten the way an editor or `cat >` does: truncated,
    // the first half written, a pause, then the rest (and a new policy, so
    // that the reload of the whole file can be seen).
    let mut f = std::fs::File::create(&file).unwrap();
    f.write_all(FIRST_HALF.as_bytes()).unwrap();
    f.flush().unwrap();
    let until = Instant::now() + Duration::from_millis(1500);
    let mut asked = 0;
    while Instant::now() < until {
        assert_eq!(
            delete(&s.addr),
            "deny",
            "a request was decided by the half-written file:\n{}",
            s.stderr.lock().unwrap()
        );
        asked += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(asked > 10);
    f.write_all(SECOND_HALF.as_bytes()).unwrap();
    f.write_all(b"@id(\"v2\") permit(principal, action == Action::\"ping\", resource);\n")
        .unwrap();
    f.flush().unwrap();
    drop(f);
    // The whole file is loaded once it stands still.
    assert!(
        s.wait_for_log("reloaded", Duration::from_secs(15)),
        "{}",
        s.stderr.lock().unwrap()
    );
    assert_eq!(delete(&s.addr), "deny");
    let ping = http(
        &s.addr,
        "POST",
        "/v1/authorize",
        &[],
        r#"{"principal": "User::\"eve\"", "action": "Action::\"ping\"", "resource": "Doc::\"d\"", "context": {}}"#,
    )
    .json();
    assert_eq!(ping["decision"], "allow");
    assert!(
        ping["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "v2"),
        "{ping}"
    );
    let log = s.stderr.lock().unwrap().clone();
    assert_eq!(
        log.matches("reloaded").count(),
        1,
        "one reload, of the whole file: {log}"
    );
}

#[test]
fn bundle_validate_ends_on_symlink_loops() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("palisade.toml"),
        "[bundle]\nname = \"loops\"\nversion = \"1\"\n",
    )
    .unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(
        policies.join("p.cedar"),
        "@id(\"p\") permit(principal, action, resource);\n",
    )
    .unwrap();
    for (link, to) in [("a", "."), ("b", "."), ("c", ".."), ("d", "..")] {
        std::os::unix::fs::symlink(to, policies.join(link)).unwrap();
    }
    let path = dir.path().to_str().unwrap().to_owned();
    let cache_path = cache.path().to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(palisade(&["bundle", "validate", &path], &cache_path));
    });
    let out = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("`bundle validate` spins on symlink loops");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn five_thousand_findings_in_one_request_fail_closed_and_the_server_lives() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(root().join("guests/dist/hostile-flood.wasm")).unwrap();
    std::fs::write(dir.path().join("flood.wasm"), &wasm).unwrap();
    std::fs::write(
        dir.path().join("palisade.toml"),
        format!(
            "[bundle]\nname = \"flood\"\nversion = \"1\"\n\
             [[plugin]]\nname = \"flood\"\npath = \"flood.wasm\"\nsha256 = \"{}\"\n\
             settings = {{ findings = 5000, message_bytes = 1000 }}\n\
             [limits]\nfuel = 1_000_000_000\nmemory_mib = 64\ntimeout_ms = 10_000\n",
            palisade_engine::sha256_hex(&wasm)
        ),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::write(
        dir.path().join("policies/p.cedar"),
        "@id(\"all\") permit(principal, action, resource);\n",
    )
    .unwrap();
    let s = Server::start(
        dir.path().to_str().unwrap(),
        cache.path(),
        &["--decision-log", "off", "--watch", "0"],
    );
    let body = r#"{"principal": "User::\"eve\"", "action": "Action::\"view\"", "resource": "Doc::\"d\"", "context": {}}"#;
    for _ in 0..3 {
        let r = http(&s.addr, "POST", "/v1/authorize", &[], body);
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.body.len() < 10_000,
            "no flood in the answer: {} bytes",
            r.body.len()
        );
        let d = r.json();
        assert_eq!(d["decision"], "deny", "{d}");
        assert_eq!(d["basis"], "plugin-error", "{d}");
        assert_eq!(d["errors"][0]["kind"], "output-limit", "{d}");
    }
    assert_eq!(http(&s.addr, "GET", "/health", &[], "").status, 200);
}
