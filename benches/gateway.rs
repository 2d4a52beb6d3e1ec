//! Request-time decisions: ES256 token verification plus Cedar (with and
//! without the request-inspection plugin), in process; and the round trip
//! of a forward-auth request to a running `palisade serve` over a
//! keep-alive connection.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)] // bench setup: a panic is a failure report

mod common;
#[path = "../engine/gateway/tests/common/jwt.rs"]
mod jwt;

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_engine::{MemorySource, Now};
use palisade_gateway::HttpRequest;
use serde_json::json;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

const NOW: i64 = 1_764_374_400;

fn bundle_source(dir: &Path, jwks: &str, plugins: bool) -> MemorySource {
    let mut toml = std::fs::read_to_string(dir.join("palisade.toml")).unwrap();
    if !plugins {
        let start = toml.find("[[plugin]]").unwrap();
        let end = toml[start..].find("\n\n").unwrap() + start;
        toml.replace_range(start..end, "");
    }
    let mut s =
        MemorySource::new("gateway-baseline (bench)").file("palisade.toml", toml.into_bytes());
    for f in [
        "entities.json",
        "plugins/secrets.wasm",
        "policies/access.cedar",
        "policies/incident.cedar",
    ] {
        s = s.file(f, std::fs::read(dir.join(f)).unwrap());
    }
    s.file("jwks.json", jwks.as_bytes().to_vec())
}

fn in_process(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/gateway-baseline");
    // The engine first: it chooses the JWT crypto (ring) before keys are made.
    let engine = palisade_gateway::engine().unwrap();
    let key = jwt::Key::es256("bench");
    let jwks = jwt::jwks(&[&key]);
    let token = key.sign(&json!({
        "iss": "https://id.example.com", "aud": "orders-api", "sub": "bob", "tenant": "acme",
        "scope": "orders:read", "iat": NOW - 60, "exp": NOW + 600, "jti": "t-1",
    }));
    let req = HttpRequest::new("GET", "/tenants/acme/orders/42")
        .header("host", "api.example.com")
        .header("user-agent", "curl/8.5.0")
        .header("authorization", &format!("Bearer {token}"));
    let now = Now::parse("2025-11-29T00:00:00Z").unwrap();
    let orders: Vec<HttpRequest> = (0..4096)
        .map(|i| {
            HttpRequest::new("GET", &format!("/tenants/acme/orders/{i}"))
                .header("host", "api.example.com")
                .header("user-agent", "curl/8.5.0")
                .header("authorization", &format!("Bearer {token}"))
        })
        .collect();
    let mut g = c.benchmark_group("gateway");
    for (name, plugins) in [("es256+cedar", false), ("es256+cedar+secrets-plugin", true)] {
        let bundle = engine
            .load_bundle_from(&bundle_source(&dir, &jwks, plugins))
            .unwrap();
        assert_eq!(
            palisade_gateway::decide(&bundle, &req, now, None).status,
            200
        );
        // Another order each time, as traffic asks: the plugin runs on
        // every request (its memo answers only inputs it has seen).
        let mut next = orders.iter().cycle();
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(palisade_gateway::decide(
                    &bundle,
                    black_box(next.next().unwrap()),
                    now,
                    None,
                ))
            })
        });
    }
    // The bundle's entities with a directory of 10,000 users: the token's
    // principal joins them for each request.
    let entities = std::fs::read_to_string(dir.join("entities.json")).unwrap();
    let big = engine
        .load_bundle_from(&bundle_source(&dir, &jwks, false).file(
            "entities.json",
            common::with_10k_users(&entities).into_bytes(),
        ))
        .unwrap();
    assert_eq!(palisade_gateway::decide(&big, &req, now, None).status, 200);
    g.bench_function("es256+cedar-10k-bundle-users", |b| {
        b.iter(|| black_box(palisade_gateway::decide(&big, black_box(&req), now, None)))
    });

    // Every request a token not seen before: the signature is checked each
    // time (the verified-token cache holds 10,000 and is cycled past).
    let bundle = engine
        .load_bundle_from(&bundle_source(&dir, &jwks, false))
        .unwrap();
    let fresh: Vec<HttpRequest> = (0..30_000)
        .map(|i| {
            let token = key.sign(&json!({
                "iss": "https://id.example.com", "aud": "orders-api", "sub": "bob", "tenant": "acme",
                "scope": "orders:read", "iat": NOW - 60, "exp": NOW + 600, "jti": format!("t-{i}"),
            }));
            HttpRequest::new("GET", "/tenants/acme/orders/42")
                .header("host", "api.example.com")
                .header("authorization", &format!("Bearer {token}"))
        })
        .collect();
    let mut next = fresh.iter().cycle();
    g.bench_function("es256-signature-check+cedar", |b| {
        b.iter(|| {
            let req = next.next().unwrap();
            black_box(palisade_gateway::decide(&bundle, black_box(req), now, None))
        })
    });
    g.finish();
}

/// `palisade serve` on a temporary copy of gateway-baseline with the
/// bench key; forward-auth requests on one keep-alive connection.
fn round_trip(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/gateway-baseline");
    for sub in ["", "plugins", "policies"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    for f in [
        "palisade.toml",
        "entities.json",
        "plugins/secrets.wasm",
        "policies/access.cedar",
        "policies/incident.cedar",
    ] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let key = jwt::Key::es256("bench");
    std::fs::write(dir.path().join("jwks.json"), jwt::jwks(&[&key])).unwrap();
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let token = key.sign(&json!({
        "iss": "https://id.example.com", "aud": "orders-api", "sub": "bob", "tenant": "acme",
        "scope": "orders:read", "iat": now - 60, "exp": now + 3600, "jti": "t-1",
    }));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args([
            "serve",
            "--bundle",
            dir.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--decision-log", "off", "--watch", "0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(a) = line.split("on http://").nth(1) {
            break a.trim().to_owned();
        }
    };
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let request = format!(
        "GET /v1/forward-auth HTTP/1.1\r\nHost: {addr}\r\nX-Original-URI: /tenants/acme/orders/42\r\nX-Original-Method: GET\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut one = || {
        stream.write_all(request.as_bytes()).unwrap();
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        let mut length = 0;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        status
    };
    assert!(one().starts_with("HTTP/1.1 200"));
    c.bench_function("server/forward-auth round trip", |b| {
        b.iter(|| black_box(one()))
    });
    let _ = child.kill();
    let _ = child.wait();
}

criterion_group!(gateway, in_process, round_trip);
criterion_main!(gateway);
