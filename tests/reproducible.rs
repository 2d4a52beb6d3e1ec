//! Shipped plugins are reproducible from `guests/`: rebuilding them from a
//! copy of the sources at another path gives the committed bytes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

use std::path::PathBuf;
use std::process::Command;

#[test]
fn guests_rebuild_to_the_committed_digests() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().unwrap();
    // Build from a copy at a different path, so remapping is what makes the
    // bytes equal, not luck.
    let copy = work.path().join("elsewhere/guests");
    std::fs::create_dir_all(&copy).unwrap();
    let status = Command::new("cp")
        .args(["-r", "--"])
        .arg(root.join("guests/."))
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(copy.join("target"));
    std::fs::create_dir_all(work.path().join("elsewhere/wit")).unwrap();
    std::fs::copy(
        root.join("wit/policy.wit"),
        work.path().join("elsewhere/wit/policy.wit"),
    )
    .unwrap();
    let out_dir = work.path().join("out");
    // Reuse the guests' usual target dir when there is one: the build is
    // still from the copied sources, and CI stays fast.
    let target = std::env::var_os("PALISADE_GUESTS_TARGET")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/guests-repro"));
    let output = Command::new("bash")
        .arg(copy.join("build.sh"))
        .arg("--out")
        .arg(&out_dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "guests/build.sh failed (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let committed = root.join("guests/dist");
    let mut compared = 0;
    for entry in std::fs::read_dir(&committed).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wasm") {
            let name = path.file_name().unwrap();
            let rebuilt = std::fs::read(out_dir.join(name)).unwrap();
            let shipped = std::fs::read(&path).unwrap();
            assert!(
                rebuilt == shipped,
                "{} is not reproducible: rebuilt {} vs committed {}",
                name.to_string_lossy(),
                palisade_engine::sha256_hex(&rebuilt),
                palisade_engine::sha256_hex(&shipped)
            );
            compared += 1;
        }
    }
    assert!(
        compared >= 8,
        "expected the secrets plugin and seven hostile guests, found {compared}"
    );
}
