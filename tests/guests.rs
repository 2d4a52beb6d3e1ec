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
