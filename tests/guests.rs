//! The guest workspace's own tests, run natively: the SDK's doctests (its
//! docs and every example of `guests/README.md`, so a walkthrough the host
//! would refuse fails the build) and the plugins' unit tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

use std::path::PathBuf;
use std::process::Command;

/// This machine's target triple (the guests' cargo config defaults to
/// wasm32-wasip2, which cannot run tests here).
fn host_triple() -> String {
    let out = Command::new("rustc").arg("-vV").output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_owned()
}

#[test]
fn guest_unit_tests_and_sdk_examples_pass() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new("cargo")
        .args(["test", "--workspace", "--locked", "--target"])
        .arg(host_triple())
        .current_dir(root.join("guests"))
        .env("CARGO_TARGET_DIR", root.join("target/guests-native"))
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "cargo test in guests/ failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The walkthrough of guests/README.md is among the doctests.
    assert!(
        stdout.contains("GuestsReadme"),
        "the README's examples were not run:\n{stdout}"
    );
}

/// The SDK's copy of the contract is the contract.
#[test]
fn the_sdk_carries_the_contract_unchanged() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(
        std::fs::read_to_string(root.join("guests/sdk/wit/policy.wit")).unwrap(),
        std::fs::read_to_string(root.join("wit/policy.wit")).unwrap(),
        "copy wit/policy.wit to guests/sdk/wit/ (the SDK is built, and copied into new plugin projects, with its own copy)"
    );
}

/// `palisade plugin new` writes a project that builds with the command
/// its README gives and passes its own tests at once, anywhere.
#[test]
fn a_new_rust_plugin_builds_and_passes_its_own_tests() {
    let tmp = tempfile::tempdir().unwrap();
    let palisade = env!("CARGO_BIN_EXE_palisade");
    let out = Command::new(palisade)
        .args(["plugin", "new", "fn-timeout"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let project = tmp.path().join("fn-timeout");
    let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
    assert!(readme.contains("cargo build --release") && readme.contains("palisade plugin test ."));

    let build = Command::new("cargo")
        .args(["build", "--release"])
        .current_dir(&project)
        .env("CARGO_TARGET_DIR", project.join("target"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let test = Command::new(palisade)
        .args(["plugin", "test", "."])
        .current_dir(&project)
        .env("PALISADE_CACHE_DIR", tmp.path().join("cache"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&test.stdout);
    assert!(
        test.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&test.stderr)
    );
    assert!(stdout.contains("4 passed, 0 failed"), "{stdout}");

    // A second `new` into the same place is refused, not merged.
    let again = Command::new(palisade)
        .args(["plugin", "new", "fn-timeout"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists and is not empty"));
}
