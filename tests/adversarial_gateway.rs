//! Issue 9, the gateway front end: the attacks on `palisade serve`'s
//! forward-auth that used to get through, each against a real server
//! process. Every case here was allowed (or answered otherwise) before.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
#[path = "../engine/gateway/tests/common/jwt.rs"]
mod jwt;
#[path = "common/server.rs"]
mod server;

use common::{copy_dir, root, unix_now};
use jwt::Key;
use serde_json::{Value, json};
use server::{Server, http};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// gateway-baseline with `key` in its JWKS, a public `GET /` (a route a
/// dropped header used to fall back to) and its manifest passed through
/// `edit`.
fn bundle(dir: &Path, key: &Key, edit: impl FnOnce(String) -> String) -> PathBuf {
    let b = dir.join("gateway-baseline");
    copy_dir(&root().join("policies/gateway-baseline"), &b);
    std::fs::write(b.join("jwks.json"), jwt::jwks(&[key])).unwrap();
    let manifest = b.join("palisade.toml");
    let health = "[[gateway.route]]\nmethod = \"GET\"\npath = \"/health\"";
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains(health));
    let text = text.replace(
        health,
        &format!(
            "[[gateway.route]]\nmethod = \"GET\"\npath = \"/\"\naction = \"health\"\nresource = 'Service::\"orders\"'\npublic = true\n\n{health}"
        ),
    );
    std::fs::write(&manifest, edit(text)).unwrap();
    b
}

/// Three requests per 100 seconds per principal (per address when
/// anonymous), so that a limit shows at once.
fn slow(toml: String) -> String {
    assert!(toml.contains("rate = 20.0\nburst = 40"));
    toml.replace("rate = 20.0\nburst = 40", "rate = 0.03\nburst = 3")
}

fn token(key: &Key, extra: Value) -> String {
    key.sign(&jwt::baseline_claims(unix_now() - 30, "t-adv", &extra))
}

struct Setup {
    _dir: tempfile::TempDir,
    _cache: tempfile::TempDir,
    key: Key,
    bundle: PathBuf,
}

fn setup(edit: impl FnOnce(String) -> String) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let key = Key::es256("adv");
    let bundle = bundle(dir.path(), &key, edit);
    Setup {
        _dir: dir,
        _cache: cache,
        key,
        bundle,
    }
}

impl Setup {
    fn serve(&self, extra: &[&str]) -> Server {
        let args = [&["--decision-log", "off", "--watch", "0"], extra].concat();
        Server::start(self.bundle.to_str().unwrap(), self._cache.path(), &args)
    }
}

/// The status of a request written byte for byte (headers that are not
/// text included); 0 when the server closed the connection unanswered.
fn raw_status(addr: &str, head: &[u8]) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // The server may answer and close before it read everything.
    let _ = stream.write_all(head);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn error_of(r: &server::Response) -> String {
    r.json()["error"].as_str().unwrap_or_default().to_owned()
}

/// Behind Traefik (which passes the client's headers on), a client adds
/// `X-Original-Method: GET` and `X-Original-URI` of a request it may make
/// to a `DELETE` of another tenant's order: it was allowed.
#[test]
fn forward_auth_traefik_spoofed_original_headers_are_refused() {
    let s = setup(|t| t);
    let bob = format!("Bearer {}", token(&s.key, json!({})));
    let spoof = [
        ("X-Original-Method", "GET"),
        ("X-Original-URI", "/tenants/acme/orders/1"),
        ("X-Forwarded-Method", "DELETE"),
        ("X-Forwarded-Uri", "/tenants/globex/orders/1"),
        ("X-Forwarded-Host", "api.example.com"),
        ("Authorization", bob.as_str()),
    ];
    // Told to trust Traefik: X-Original-* disagree with it.
    let traefik = s.serve(&["--forward-auth", "traefik"]);
    let r = http(&traefik.addr, "GET", "/v1/forward-auth", &spoof, "");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(error_of(&r).contains("`x-original-method`"), "{}", r.body);
    // The Traefik request alone is decided as what it is: another tenant.
    let r = http(&traefik.addr, "GET", "/v1/forward-auth", &spoof[2..], "");
    assert_eq!(r.status, 403, "{}", r.body);
    // The client's headers alone do not make a Traefik request.
    let r = http(
        &traefik.addr,
        "GET",
        "/v1/forward-auth",
        &[spoof[0], spoof[1], spoof[5]],
        "",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(error_of(&r).contains("x-forwarded-method"), "{}", r.body);
    drop(traefik);

    // Without --forward-auth: the per-path endpoint, and the bare one
    // refusing two protocols.
    let any = s.serve(&[]);
    let r = http(&any.addr, "GET", "/v1/forward-auth/traefik", &spoof, "");
    assert_eq!(r.status, 400, "{}", r.body);
    let r = http(&any.addr, "GET", "/v1/forward-auth", &spoof, "");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        error_of(&r).contains("more than one gateway protocol (nginx, traefik)"),
        "{}",
        r.body
    );
}

/// With Envoy's HTTP ext_authz, a client-sent `X-Forwarded-Method: GET`
/// turned a `DELETE` into a `GET`.
#[test]
fn forward_auth_envoy_method_is_the_requests_own() {
    let s = setup(|t| t);
    let bob = format!("Bearer {}", token(&s.key, json!({})));
    let spoof = [
        ("X-Forwarded-Method", "GET"),
        ("Authorization", bob.as_str()),
    ];
    let envoy = s.serve(&["--forward-auth", "envoy"]);
    let r = http(
        &envoy.addr,
        "DELETE",
        "/v1/forward-auth/tenants/acme/orders/9",
        &spoof,
        "",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(error_of(&r).contains("x-forwarded-method"), "{}", r.body);
    // Without the header, the DELETE is what Cedar sees (admins only).
    let r = http(
        &envoy.addr,
        "DELETE",
        "/v1/forward-auth/tenants/acme/orders/9",
        &spoof[1..],
        "",
    );
    assert_eq!(
        (r.status, r.header("x-palisade-reason")),
        (403, Some("auth.admins-only,auth.mfa-for-admin"))
    );
    // X-Envoy-Original-Path naming another path is refused too.
    let r = http(
        &envoy.addr,
        "GET",
        "/v1/forward-auth/tenants/globex/orders/1",
        &[("X-Envoy-Original-Path", "/health"), spoof[1]],
        "",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    drop(envoy);

    // Without the flag, Envoy's path prefix names the protocol; a path
    // after /v1/forward-auth that names none is refused, since an
    // original path like /nginx would read as a protocol.
    let any = s.serve(&[]);
    let r = http(
        &any.addr,
        "DELETE",
        "/v1/forward-auth/envoy/tenants/acme/orders/9",
        &spoof,
        "",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = http(
        &any.addr,
        "GET",
        "/v1/forward-auth/tenants/acme/orders/1",
        &spoof[1..],
        "",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(error_of(&r).contains("--forward-auth envoy"), "{}", r.body);
}

/// nginx `auth_request` passes every client header on: a client's
/// Traefik headers must not change what nginx says.
#[test]
fn forward_auth_nginx_ignores_nothing_it_does_not_trust() {
    let s = setup(|t| t);
    let bob = format!("Bearer {}", token(&s.key, json!({})));
    let nginx = s.serve(&["--forward-auth", "nginx"]);
    let base = [
        ("X-Original-URI", "/tenants/globex/orders/1"),
        ("X-Original-Method", "DELETE"),
        ("Authorization", bob.as_str()),
    ];
    for extra in [
        ("X-Forwarded-Method", "GET"),
        ("X-Forwarded-Uri", "/tenants/acme/orders/1"),
        ("X-Envoy-Original-Path", "/tenants/acme/orders/1"),
        ("X-Original-URI", "/tenants/acme/orders/1"),
        ("Authorization", "Bearer x"),
    ] {
        let mut h = base.to_vec();
        h.push(extra);
        let r = http(&nginx.addr, "GET", "/v1/forward-auth", &h, "");
        assert_eq!(r.status, 400, "{extra:?}: {}", r.body);
    }
    // Another protocol's endpoint is not served.
    let r = http(&nginx.addr, "GET", "/v1/forward-auth/traefik", &base, "");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(error_of(&r).contains("--forward-auth nginx"), "{}", r.body);
    let r = http(&nginx.addr, "GET", "/v1/forward-auth/nginx", &base, "");
    assert_eq!(r.status, 403, "{}", r.body);
}

/// An original-URI header with a byte that is not ASCII was dropped, and
/// forward-auth decided its own path instead (`/`, public): an anonymous
/// caller got another tenant's order.
#[test]
fn an_unreadable_original_uri_is_400_never_another_path() {
    let s = setup(|t| t);
    let any = s.serve(&[]);
    for (endpoint, headers) in [
        (
            "/v1/forward-auth",
            b"X-Original-URI: /tenants/globex/orders/1?x=\xff\r\nX-Original-Method: GET\r\n"
                .as_slice(),
        ),
        (
            "/v1/forward-auth/traefik",
            b"X-Forwarded-Uri: /tenants/globex/orders/\xc3\xa9\r\nX-Forwarded-Method: GET\r\n",
        ),
        (
            "/v1/forward-auth",
            b"X-Original-URI: https://api.example.com/tenants/globex/orders/1\r\n",
        ),
        (
            "/v1/forward-auth",
            b"X-Original-URI: tenants/globex/orders/1\r\n",
        ),
    ] {
        let mut head =
            format!("GET {endpoint} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n").into_bytes();
        head.extend_from_slice(headers);
        head.extend_from_slice(b"\r\n");
        let (status, text) = raw_status(&any.addr, &head);
        assert_eq!(status, 400, "{}: {text}", String::from_utf8_lossy(headers));
        assert!(text.contains("is not valid"), "{text}");
    }
    // The fallback it used to take: a bare forward-auth call is not `/`.
    let r = http(&any.addr, "GET", "/v1/forward-auth", &[], "");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(error_of(&r).contains("no original request"), "{}", r.body);
}

/// A route parameter with an encoded `/` or a dot segment names another
/// resource to the application than to Palisade.
#[test]
fn encoded_slashes_and_dot_segments_in_the_original_path_are_400() {
    let s = setup(|t| t);
    let bob = format!("Bearer {}", token(&s.key, json!({})));
    let any = s.serve(&[]);
    for uri in [
        "/tenants/acme/orders/..%2F..%2Fglobex%2Forders%2F1",
        "/tenants/acme/orders/%2e%2e",
        "/tenants/acme/../globex/orders/1",
    ] {
        let r = http(
            &any.addr,
            "GET",
            "/v1/forward-auth/nginx",
            &[("X-Original-URI", uri), ("Authorization", &bob)],
            "",
        );
        assert_eq!(r.status, 400, "{uri}: {}", r.body);
        assert_eq!(r.json()["error"], r.json()["reason"], "{}", r.body);
    }
}

/// Rate limits were evaded by rotating the leftmost `X-Forwarded-For`
/// entry: the client address is now the one the gateway appended.
#[test]
fn rotating_x_forwarded_for_does_not_buy_new_buckets() {
    let s = setup(slow);
    let any = s.serve(&[]);
    let statuses: Vec<u16> = (0..5)
        .map(|i| {
            let xff = format!("10.0.0.{i}, 192.0.2.1");
            http(
                &any.addr,
                "GET",
                "/v1/forward-auth",
                &[("X-Original-URI", "/health"), ("X-Forwarded-For", &xff)],
                "",
            )
            .status
        })
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let other = http(
        &any.addr,
        "GET",
        "/v1/forward-auth",
        &[
            ("X-Original-URI", "/health"),
            ("X-Forwarded-For", "192.0.2.2"),
        ],
        "",
    );
    assert_eq!(
        other.status, 200,
        "another client address has its own bucket"
    );
}

/// Requests with bad tokens were never limited, so every one cost a
/// signature check. Now the client address pays before the check.
#[test]
fn a_flood_of_invalid_tokens_gets_429() {
    let s = setup(slow);
    let any = s.serve(&[]);
    let forged = |i: usize| {
        let mut other = Key::es256("adv");
        other.kid = "adv".into();
        format!(
            "Bearer {}",
            token(&other, json!({ "jti": format!("f-{i}") }))
        )
    };
    let statuses: Vec<u16> = (0..5)
        .map(|i| {
            http(
                &any.addr,
                "GET",
                "/v1/forward-auth/nginx",
                &[
                    ("X-Original-URI", "/tenants/acme/orders/1"),
                    ("X-Forwarded-For", "203.0.113.66"),
                    ("Authorization", &forged(i)),
                ],
                "",
            )
            .status
        })
        .collect();
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    // A good token from another address is not held up by the flood.
    let bob = format!("Bearer {}", token(&s.key, json!({})));
    let r = http(
        &any.addr,
        "GET",
        "/v1/forward-auth/nginx",
        &[
            ("X-Original-URI", "/tenants/acme/orders/1"),
            ("X-Forwarded-For", "203.0.113.67"),
            ("Authorization", &bob),
        ],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Tokens without the issuer or audience the bundle names, or with a
/// string `nbf`, were accepted.
#[test]
fn tokens_missing_required_claims_are_401() {
    let s = setup(|t| t);
    let any = s.serve(&[]);
    for (extra, reason) in [
        (json!({"iss": null}), "the token has no issuer (`iss`)"),
        (json!({"aud": null}), "the token has no audience (`aud`)"),
        (
            json!({"nbf": "2099-01-01T00:00:00Z"}),
            "the token's `nbf` is not a number of seconds",
        ),
        (json!({"exp": null}), "the token has no expiry (`exp`)"),
        (json!({"sub": null}), "the token has no subject (`sub`)"),
    ] {
        let t = format!("Bearer {}", token(&s.key, extra.clone()));
        let r = http(
            &any.addr,
            "GET",
            "/v1/forward-auth/nginx",
            &[
                ("X-Original-URI", "/tenants/acme/orders/1"),
                ("Authorization", &t),
            ],
            "",
        );
        assert_eq!(
            (r.status, r.json()["reason"].as_str()),
            (401, Some(reason)),
            "{extra}"
        );
    }
}

/// The README promises 64 KiB request heads; about 114 KB got through.
#[test]
fn request_heads_over_64_kib_are_refused() {
    let s = setup(|t| t);
    let any = s.serve(&[]);
    let head = |filler: usize| {
        let mut h = format!(
            "GET /v1/forward-auth HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Original-URI: /health\r\nX-Filler: {}\r\n\r\n",
            "a".repeat(filler)
        )
        .into_bytes();
        h.shrink_to_fit();
        h
    };
    let (status, text) = raw_status(&any.addr, &head(60_000));
    assert_eq!(status, 200, "{text}");
    let (status, text) = raw_status(&any.addr, &head(70_000));
    assert!(status == 431 || status == 0, "{status}: {text}");
    // Exactly at the limit, and one byte over it.
    let at = head(0).len();
    let (status, _) = raw_status(&any.addr, &head(64 * 1024 - at));
    assert_eq!(status, 200);
    let (status, _) = raw_status(&any.addr, &head(64 * 1024 - at + 1));
    assert!(status == 431 || status == 0, "{status}");
    // At most 100 header fields.
    let many: String = (0..101).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (status, _) = raw_status(
        &any.addr,
        format!("GET /health HTTP/1.1\r\nConnection: close\r\n{many}\r\n").as_bytes(),
    );
    assert!(status == 431 || status == 0, "{status}");
}
