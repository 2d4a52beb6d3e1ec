//! The fuzz targets: each feeds arbitrary bytes to one parser that takes
//! hostile input, and goes on into the engine with whatever parses. A
//! target passes when nothing panics, overflows its stack or hangs; the
//! engine's answers themselves are checked by the other tests.
//!
//! `tests/fuzz.rs` includes this file, so the same targets run in
//! `cargo test` on stable.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // fixtures: a panic is a failure report

use palisade_deploy::{CheckOptions, Document};
use palisade_engine::{AuthorizationRequest, Bundle, Engine, MemorySource, Now};
use palisade_gateway::HttpRequest;
use std::path::Path;
use std::sync::OnceLock;

fn root() -> &'static Path {
    // `fuzz/` sits one level below the repository; the tests that include
    // this file run from the repository itself.
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    if here.join("policies").is_dir() {
        here
    } else {
        here.parent().unwrap_or(here)
    }
}

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| palisade_gateway::engine().expect("engine"))
}

fn bundle(name: &str) -> &'static Bundle {
    static SERVERLESS: OnceLock<Bundle> = OnceLock::new();
    static GATEWAY: OnceLock<Bundle> = OnceLock::new();
    let cell = if name == "serverless-baseline" {
        &SERVERLESS
    } else {
        &GATEWAY
    };
    cell.get_or_init(|| {
        engine()
            .load_bundle(root().join("policies").join(name))
            .expect("shipped bundle")
    })
}

fn now() -> Now {
    Now::parse("2026-11-29T00:00:00Z").expect("fixed time")
}

/// A deployment file: parsed, refused or checked with serverless-baseline.
pub fn document(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = Document::parse("fuzz.yaml", text) else {
        return;
    };
    let _ = doc.line_of("/Resources/a/Properties");
    if doc.require_deployment().is_ok() {
        let d = palisade_deploy::check(
            bundle("serverless-baseline"),
            &[doc],
            &CheckOptions::default(),
            now(),
        );
        let _ = d.to_json();
    }
}

/// A `/v1/authorize` body (with its entities and context), decided by
/// gateway-baseline.
pub fn request_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(request) = AuthorizationRequest::from_json(text) else {
        return;
    };
    if let Ok(d) = bundle("gateway-baseline").authorize(&request, now()) {
        let _ = d.to_json();
    }
}

/// A `palisade.toml`, loaded with one policy file beside it.
pub fn manifest(data: &[u8]) {
    let source = MemorySource::new("fuzz")
        .file("palisade.toml", data.to_vec())
        .file(
            "policies/p.cedar",
            br#"@id("p") permit(principal, action, resource);"#.as_slice(),
        );
    let _ = engine().load_bundle_from(&source);
}

/// A bearer token (JWT header, claims, signature) in a request that
/// gateway-baseline decides.
pub fn jwt(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let req = HttpRequest::new("GET", "/tenants/acme/orders/1")
        .header("authorization", &format!("Bearer {token}"));
    let _ = palisade_gateway::decide(bundle("gateway-baseline"), &req, now(), None);
}

/// A forward-auth request as a gateway sends it, decided by
/// gateway-baseline. The first byte picks the trusted protocol (or none:
/// detect it); the first line is `METHOD [ENVOY-TARGET]`; every further
/// line is `name: value`, values as raw bytes (non-ASCII included).
pub fn forward_auth(data: &[u8]) {
    use palisade_gateway::ForwardAuth;
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let protocol = ForwardAuth::ALL.get(usize::from(pick % 4)).copied();
    let mut lines = rest.split(|&b| b == b'\n');
    let first = String::from_utf8_lossy(lines.next().unwrap_or_default());
    let mut words = first.splitn(2, ' ');
    let method = words.next().unwrap_or("GET");
    let target = words.next();
    let mut headers: Vec<(String, &[u8])> = Vec::new();
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        let value = value.get(1..).unwrap_or_default();
        let value = value.strip_prefix(b" ").unwrap_or(value);
        headers.push((String::from_utf8_lossy(name).into_owned(), value));
    }
    let Ok(req) = HttpRequest::from_forward_auth(
        protocol,
        method,
        target,
        headers.iter().map(|(n, v)| (n.as_str(), *v)),
    ) else {
        return;
    };
    let _ = req.forwarded_for();
    let _ = palisade_gateway::decide(bundle("gateway-baseline"), &req, now(), None);
}
