//! The engine's tower layer in front of an axum service, in process: the
//! same answers as `palisade serve`'s forward-auth (200 with the
//! principal, 401, 403, 429) and a bundle swap that suspends a principal.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
#[path = "../engine/gateway/tests/common/jwt.rs"]
mod jwt;

use axum::Extension;
use axum::body::Body;
use axum::routing::get;
use common::{copy_dir, root, unix_now};
use jwt::Key;
use palisade_engine::Engine;
use palisade_gateway::{GatewayLayer, HttpDecision};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt;

/// gateway-baseline with `key` in its JWKS and, optionally, a suspended
/// principal.
fn bundle(
    engine: &Engine,
    dir: &Path,
    key: &Key,
    suspend: Option<&str>,
) -> palisade_engine::Bundle {
    engine.load_bundle(bundle_dir(dir, key, suspend)).unwrap()
}

/// The directory of [`bundle`], to edit before loading.
fn bundle_dir(dir: &Path, key: &Key, suspend: Option<&str>) -> std::path::PathBuf {
    let b = dir.join(format!("bundle-{}", suspend.unwrap_or("none")));
    copy_dir(&root().join("policies/gateway-baseline"), &b);
    std::fs::write(b.join("jwks.json"), jwt::jwks(&[key])).unwrap();
    if let Some(who) = suspend {
        let path = b.join("entities.json");
        let mut entities: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        entities.as_array_mut().unwrap().push(json!({
            "uid": { "type": "User", "id": who },
            "parents": [{ "type": "Group", "id": "suspended" }],
            "attrs": {}
        }));
        std::fs::write(&path, entities.to_string()).unwrap();
    }
    b
}

fn token(key: &Key, sub: &str, tenant: &str) -> String {
    let now = unix_now();
    key.sign(&json!({
        "iss": "https://id.example.com", "aud": "orders-api", "sub": sub, "tenant": tenant,
        "scope": "orders:read orders:write", "iat": now - 30, "exp": now + 600,
    }))
}

/// A scratch directory, an engine caching compiled plugins in it, and the
/// identity provider's key.
fn setup() -> (tempfile::TempDir, Arc<Engine>, Key) {
    let dir = tempfile::tempdir().unwrap();
    let engine = palisade_gateway::engine_builder()
        .cache_dir(dir.path().join("cache"))
        .build()
        .unwrap();
    (dir, Arc::new(engine), Key::es256("layer"))
}

/// The orders service: answers with the principal the layer let through.
fn app(layer: GatewayLayer) -> axum::Router {
    async fn order(Extension(d): Extension<HttpDecision>) -> String {
        format!("order for {}", d.principal.unwrap_or_default())
    }
    axum::Router::new()
        .route("/tenants/{tenant}/orders/{id}", get(order))
        .route(
            "/tenants/{tenant}/payouts",
            axum::routing::post(|| async { "paid" }),
        )
        .route("/health", get(|| async { "ok" }))
        .layer(layer)
}

async fn send(
    app: &axum::Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
) -> (u16, axum::http::HeaderMap, String) {
    send_from(app, method, uri, token, None).await
}

async fn send_from(
    app: &axum::Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    forwarded_for: Option<&str>,
) -> (u16, axum::http::HeaderMap, String) {
    let mut req = axum::http::Request::builder().method(method).uri(uri);
    if let Some(f) = forwarded_for {
        req = req.header("x-forwarded-for", f);
    }
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn the_layer_answers_like_forward_auth_and_takes_a_new_bundle() {
    let (dir, engine, key) = setup();
    let layer = GatewayLayer::new(bundle(&engine, dir.path(), &key, None));
    let app = app(layer.clone());
    let bob = token(&key, "bob", "acme");

    // Allowed: the handler sees the principal the layer identified.
    let (status, _, body) = send(&app, "GET", "/tenants/acme/orders/1", Some(&bob)).await;
    assert_eq!((status, body.as_str()), (200, r#"order for User::"bob""#));

    // No token: 401 with a Bearer challenge; the handler never runs.
    let (status, headers, body) = send(&app, "GET", "/tenants/acme/orders/1", None).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], r#"Bearer realm="palisade""#);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["reason"],
        "missing-token"
    );

    // A forged token: 401 with the reason in the challenge.
    let other = Key::es256("layer");
    let forged = token(&other, "bob", "acme");
    let (status, headers, _) = send(&app, "GET", "/tenants/acme/orders/1", Some(&forged)).await;
    assert_eq!(status, 401);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );

    // Another tenant: 403 with the rule that denied it.
    let (status, headers, _) = send(&app, "GET", "/tenants/globex/orders/1", Some(&bob)).await;
    assert_eq!(status, 403);
    assert_eq!(headers["x-palisade-reason"], "auth.tenant-isolation");

    // A route the bundle does not list.
    let (status, headers, _) = send(&app, "GET", "/internal/debug", Some(&bob)).await;
    assert_eq!(status, 403);
    assert_eq!(headers["x-palisade-reason"], "no-route");

    // Issue 9: a path the service may resolve to another resource is 400.
    for path in [
        "/tenants/acme/orders/..%2F1",
        "/tenants/globex/../acme/orders/1",
    ] {
        let (status, _, body) = send(&app, "GET", path, Some(&bob)).await;
        assert_eq!(status, 400, "{path}: {body}");
    }

    // Payouts burst at 3 per principal, then 429 with Retry-After. (The
    // fresh-token rule passes: the token was issued 30 s ago.)
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let (status, headers, _) = send(&app, "POST", "/tenants/acme/payouts", Some(&bob)).await;
        statuses.push(status);
        retry_after = headers.get("retry-after").cloned();
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    assert_eq!(retry_after.unwrap(), "10");

    // Incident response: suspend bob in a new bundle; every service of the
    // layer enforces it at once.
    layer.replace_bundle(bundle(&engine, dir.path(), &key, Some("bob")));
    let (status, headers, _) = send(&app, "GET", "/tenants/acme/orders/1", Some(&bob)).await;
    assert_eq!(status, 403);
    assert_eq!(headers["x-palisade-reason"], "incident.suspended-principal");
    let alice = token(&key, "alice", "acme");
    let (status, _, body) = send(&app, "GET", "/tenants/acme/orders/1", Some(&alice)).await;
    assert_eq!((status, body.as_str()), (200, r#"order for User::"alice""#));
}

#[tokio::test]
async fn anonymous_callers_share_a_rate_limit_unless_the_proxy_names_them() {
    let (dir, engine, key) = setup();
    // Per principal, per client address when anonymous: 4 calls to the
    // public /health.
    async fn burst(app: &axum::Router, from: &str) -> Vec<u16> {
        let mut out = Vec::new();
        for _ in 0..4 {
            out.push(send_from(app, "GET", "/health", None, Some(from)).await.0);
        }
        out
    }
    // Slower than the requests can ever be: 3 per 100 seconds.
    let slow = || {
        let b = bundle_dir(dir.path(), &key, None);
        let toml = std::fs::read_to_string(b.join("palisade.toml")).unwrap();
        assert!(toml.contains("rate = 20.0\nburst = 40"));
        let toml = toml.replace("rate = 20.0\nburst = 40", "rate = 0.03\nburst = 3");
        std::fs::write(b.join("palisade.toml"), toml).unwrap();
        engine.load_bundle(b).unwrap()
    };
    let trusting = app(GatewayLayer::new(slow()).trust_forwarded_for(true));
    let first = burst(&trusting, "192.0.2.1").await;
    assert_eq!(first, [200, 200, 200, 429]);
    assert_eq!(
        send_from(&trusting, "GET", "/health", None, Some("192.0.2.2"))
            .await
            .0,
        200
    );

    // Issue 9: the address is the one the proxy appended; a client that
    // rotates the entries before it stays in its bucket.
    let trusting = app(GatewayLayer::new(slow()).trust_forwarded_for(true));
    let mut rotated = Vec::new();
    for i in 0..4 {
        let xff = format!("10.1.1.{i}, 192.0.2.9");
        rotated.push(
            send_from(&trusting, "GET", "/health", None, Some(&xff))
                .await
                .0,
        );
    }
    assert_eq!(rotated, [200, 200, 200, 429]);

    // Without trusting the header, a client cannot buy a new bucket by
    // writing X-Forwarded-For.
    let plain = app(GatewayLayer::new(slow()));
    assert_eq!(burst(&plain, "192.0.2.1").await, [200, 200, 200, 429]);
    assert_eq!(
        send_from(&plain, "GET", "/health", None, Some("192.0.2.2"))
            .await
            .0,
        429
    );
}
