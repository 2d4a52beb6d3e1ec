//! Shared by the binary's integration tests: the repository root and a way
//! to run `palisade` as a user would (own compiled-code cache, no colors).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, dead_code)] // test code: a panic is a failure report

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `palisade ARGS` with the compiled-code cache in `cache`.
pub fn palisade(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .env("PALISADE_CACHE_DIR", cache)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Copies a directory tree (a bundle to change in a test).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Seconds since the Unix epoch, for tokens that must be valid now.
pub fn unix_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// A template whose one function sets `DEBUG=1`: a finding of the
/// `no-debug` plugin, at line 2.
pub const DEBUG_TEMPLATE: &str = "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      \
     Environment:\n        Variables:\n          DEBUG: \"1\"\n";

/// A bundle `nd` 1.0.0 in `dir/b` with one permit-all policy and the
/// component `wasm` as plugin `no-debug`, pinned; its path.
pub fn no_debug_bundle(dir: &Path, wasm: &Path) -> PathBuf {
    let bundle = dir.join("b");
    std::fs::create_dir_all(bundle.join("policies")).unwrap();
    std::fs::copy(wasm, bundle.join("no-debug.wasm")).unwrap();
    let sha = palisade_engine::sha256_hex(&std::fs::read(wasm).unwrap());
    std::fs::write(
        bundle.join("palisade.toml"),
        format!(
            "[bundle]\nname = \"nd\"\nversion = \"1.0.0\"\n\n[[plugin]]\nname = \"no-debug\"\n\
             path = \"no-debug.wasm\"\nsha256 = \"{sha}\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        bundle.join("policies/p.cedar"),
        "@id(\"deploy\") permit(principal, action, resource);\n",
    )
    .unwrap();
    bundle
}

/// Whether a command is on PATH. When it is not: the test fails if the
/// environment variable `require` is set (as `.ci/run` sets it), else it
/// says it skips.
pub fn installed(command: &str, require: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {command}")])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os(require).is_none(),
            "`{command}` is required ({require}) but not installed"
        );
        eprintln!("skipped: `{command}` is not installed");
    }
    found
}
