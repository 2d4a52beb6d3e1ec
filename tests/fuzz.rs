//! The fuzz targets of `fuzz/` on stable, inside `cargo test`: every file
//! of the committed corpus, then random inputs (bytes, and strings of each
//! format's own tokens, which reach deeper than random bytes do). A target
//! fails by panicking, overflowing its stack or hanging; `cargo +nightly
//! fuzz run TARGET` runs the same code for as long as you like (README).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

#[path = "../fuzz/src/lib.rs"]
mod targets;

use proptest::prelude::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// One input takes at most this long, even in a debug build.
const PER_INPUT: Duration = Duration::from_secs(10);

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus for {target}");
    for f in files {
        let data = std::fs::read(&f).unwrap();
        let started = Instant::now();
        run(&data);
        assert!(
            started.elapsed() < PER_INPUT,
            "{} took {:?}",
            f.display(),
            started.elapsed()
        );
    }
}

/// Strings made of a format's tokens.
fn tokens(alphabet: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(alphabet), 0..max).prop_map(|t| t.concat())
}

const YAML: &[&str] = &[
    "- ",
    "[",
    "]",
    "{",
    "}",
    ": ",
    ":",
    ", ",
    " ",
    "  ",
    "\n",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "<<: ",
    "!Ref ",
    "!GetAtt ",
    "!!str ",
    "'",
    "\"",
    "# ",
    "#palisade:skip=x y",
    "|\n",
    ">-\n",
    "? ",
    "---\n",
    "...\n",
    "Resources",
    "Type",
    "AWS::SQS::Queue",
    "Properties",
    "service",
    "provider",
    "a",
    "1",
    "-1",
    "0x1",
    "1e9",
    "~",
    "null",
    "true",
    "\t",
    "\\",
    "%YAML 1.2\n",
    "\u{feff}",
    "é",
];
const JSON: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"principal\"",
    "\"action\"",
    "\"resource\"",
    "\"context\"",
    "\"entities\"",
    "\"uid\"",
    "\"parents\"",
    "\"attrs\"",
    "\"type\"",
    "\"id\"",
    "\"__entity\"",
    "\"__extn\"",
    "\"User::\\\"a\\\"\"",
    "\"Action::\\\"view\\\"\"",
    "\"G\"",
    "\"a\"",
    "1",
    "-1",
    "1.5",
    "1e400",
    "null",
    "true",
    " ",
    "\"\\u0000\"",
];
const TOML: &[&str] = &[
    "[bundle]\n",
    "name = \"x\"\n",
    "version = \"1.0.0\"\n",
    "[limits]\n",
    "fuel = ",
    "memory_mib = ",
    "timeout_ms = ",
    "[[plugins]]\n",
    "path = ",
    "sha256 = ",
    "policies = ",
    "\"../x\"",
    "\"/etc\"",
    "18446744073709551615",
    "0",
    "-1",
    "[gateway]\n",
    "[[gateway.route]]\n",
    "mode = \"monitor\"\n",
    "[",
    "]",
    "{",
    "}",
    "=",
    "\n",
    "\"",
    "'''",
    ".",
    "a",
];
const JWT: &[&str] = &[
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImRldiJ9",
    "eyJhbGciOiJub25lIn0",
    "eyJzdWIiOiJhbGljZSJ9",
    "eyJleHAiOiJ4In0",
    ".",
    "..",
    "A",
    "_",
    "-",
    "=",
    "+",
    "/",
    " ",
    "%",
];

const FORWARD_AUTH: &[&str] = &[
    "\n",
    "GET",
    "DELETE",
    " ",
    "/",
    "/tenants/acme/orders/1",
    "?",
    "#",
    "%2F",
    "%2e",
    "..",
    "%",
    "\u{ff}",
    "x-original-uri: ",
    "x-original-method: ",
    "x-forwarded-uri: ",
    "x-forwarded-method: ",
    "x-forwarded-host: ",
    "x-forwarded-for: ",
    "x-envoy-original-path: ",
    "authorization: Bearer ",
    "203.0.113.9",
    ", ",
    "\t",
];

#[test]
fn document_corpus() {
    replay("document", targets::document);
}

#[test]
fn request_json_corpus() {
    replay("request_json", targets::request_json);
}

#[test]
fn manifest_corpus() {
    replay("manifest", targets::manifest);
}

#[test]
fn jwt_corpus() {
    replay("jwt", targets::jwt);
}

#[test]
fn forward_auth_corpus() {
    replay("forward_auth", targets::forward_auth);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn document_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        targets::document(&data);
    }

    #[test]
    fn document_yaml_tokens(text in tokens(YAML, 120)) {
        targets::document(text.as_bytes());
    }

    #[test]
    fn request_json_tokens(text in tokens(JSON, 120)) {
        targets::request_json(text.as_bytes());
    }

    #[test]
    fn manifest_tokens(text in tokens(TOML, 60)) {
        targets::manifest(text.as_bytes());
    }

    #[test]
    fn jwt_tokens(text in tokens(JWT, 40)) {
        targets::jwt(text.as_bytes());
    }

    #[test]
    fn forward_auth_tokens(pick in any::<u8>(), text in tokens(FORWARD_AUTH, 60)) {
        let mut data = vec![pick];
        data.extend_from_slice(text.as_bytes());
        targets::forward_auth(&data);
    }
}
