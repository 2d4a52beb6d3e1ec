//! Request-time decisions with real signed tokens against the
//! gateway-baseline bundle (its JWKS replaced by keys made here).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "common/jwt.rs"]
mod jwt;

use jwt::Key;
use palisade_engine::{Bundle, Engine, MemorySource, Now};
use palisade_gateway::{HttpOutcome, HttpRequest, RateLimiter};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const NOW: i64 = 1_764_374_400; // 2025-11-29T00:00:00Z

fn now() -> Now {
    Now::parse("2025-11-29T00:00:00Z").unwrap()
}

struct Fixture {
    bundle: Bundle,
    es: Key,
    ed: Key,
    rs: Key,
}

/// gateway-baseline from disk, its manifest passed through `edit`, and no
/// JWKS.
fn baseline(edit: impl FnOnce(String) -> String) -> MemorySource {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/gateway-baseline");
    let manifest = edit(std::fs::read_to_string(dir.join("palisade.toml")).unwrap());
    let mut source =
        MemorySource::new("gateway-baseline (test)").file("palisade.toml", manifest.into_bytes());
    for f in [
        "entities.json",
        "plugins/secrets.wasm",
        "policies/access.cedar",
        "policies/incident.cedar",
    ] {
        source = source.file(f, std::fs::read(dir.join(f)).unwrap());
    }
    source
}

/// gateway-baseline from disk, with a JWKS of fresh keys.
fn fixture() -> Fixture {
    // The engine first: it chooses the JWT crypto before keys are made.
    let engine = test_engine();
    let es = Key::es256("es-1");
    let ed = Key::ed25519("ed-1");
    let rs = Key::rs256_fixture();
    let source = baseline(|toml| toml).file("jwks.json", jwt::jwks(&[&es, &ed, &rs]).into_bytes());
    let bundle = engine.load_bundle_from(&source).unwrap();
    Fixture { bundle, es, ed, rs }
}

fn claims(extra: Value) -> Value {
    jwt::baseline_claims(NOW - 60, "t-1", &extra)
}

impl Fixture {
    fn call(&self, method: &str, uri: &str, token: Option<&str>) -> palisade_gateway::HttpDecision {
        self.decide(method, uri, token, now())
    }

    /// The same, decided at `when` (RFC 3339).
    fn call_at(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        when: &str,
    ) -> palisade_gateway::HttpDecision {
        self.decide(method, uri, token, Now::parse(when).unwrap())
    }

    fn decide(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        now: Now,
    ) -> palisade_gateway::HttpDecision {
        let mut req = HttpRequest::new(method, uri).header("host", "api.example.com");
        if let Some(t) = token {
            req = req.header("authorization", &format!("Bearer {t}"));
        }
        palisade_gateway::decide(&self.bundle, &req, now, None)
    }
}

#[test]
fn a_valid_token_of_each_algorithm_is_allowed_with_its_principal() {
    let f = fixture();
    for key in [&f.es, &f.ed, &f.rs] {
        let d = f.call(
            "GET",
            "/tenants/acme/orders/42",
            Some(&key.sign(&claims(json!({})))),
        );
        assert_eq!(d.status, 200, "{:?}: {d:?}", key.alg);
        assert_eq!(d.outcome, HttpOutcome::Allow);
        assert_eq!(d.principal.as_deref(), Some(r#"User::"bob""#));
        assert_eq!(d.action.as_deref(), Some(r#"Action::"viewOrder""#));
        assert_eq!(d.resource.as_deref(), Some(r#"Order::"acme/42""#));
        assert_eq!(d.token_id.as_deref(), Some("t-1"));
    }
}

#[test]
fn missing_and_bad_credentials_are_401_with_the_reason() {
    let f = fixture();
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("no token", None, "missing-token"),
        (
            "expired",
            Some(f.es.sign(&claims(json!({"exp": NOW - 3600})))),
            "the token has expired",
        ),
        (
            "expired, within the leeway",
            None, // filled below
            "",
        ),
        (
            "not yet valid",
            Some(f.es.sign(&claims(json!({"nbf": NOW + 600})))),
            "the token is not valid yet (`nbf`)",
        ),
        (
            "no expiry",
            Some(f.es.sign(&claims(json!({"exp": null})))),
            "the token has no expiry (`exp`)",
        ),
        (
            "wrong audience",
            Some(f.es.sign(&claims(json!({"aud": "billing-api"})))),
            "the token is not for this audience",
        ),
        (
            "wrong issuer",
            Some(f.es.sign(&claims(json!({"iss": "https://evil.example.com"})))),
            "the token's issuer is not accepted",
        ),
        (
            "signed by a key the bundle does not know, with a known kid",
            Some({
                let mut other = Key::es256("es-1");
                other.kid = "es-1".into();
                other.sign(&claims(json!({})))
            }),
            "the token's signature does not verify",
        ),
        (
            "an unknown kid",
            Some(Key::es256("elsewhere").sign(&claims(json!({})))),
            "the token's key id is unknown",
        ),
        (
            "alg none",
            Some(jwt::unsigned(&claims(json!({})))),
            "the token is not a JWT",
        ),
        (
            "garbage",
            Some("not.a.jwt".into()),
            "the token is not a JWT",
        ),
        (
            "no subject",
            Some(f.es.sign(&claims(json!({"sub": null})))),
            "the token has no subject (`sub`)",
        ),
        (
            "an empty subject",
            Some(f.es.sign(&claims(json!({"sub": ""})))),
            "the token has no subject (`sub`)",
        ),
        // Issue 9: the bundle names issuers and audiences, so a token
        // without them is refused (they were skipped when absent).
        (
            "no issuer",
            Some(f.es.sign(&claims(json!({"iss": null})))),
            "the token has no issuer (`iss`)",
        ),
        (
            "no audience",
            Some(f.es.sign(&claims(json!({"aud": null})))),
            "the token has no audience (`aud`)",
        ),
        (
            "an audience list without ours",
            Some(f.es.sign(&claims(json!({"aud": ["billing-api"]})))),
            "the token is not for this audience",
        ),
        // Issue 9: time claims of the wrong type are refused, not ignored.
        (
            "a string nbf",
            Some(f.es.sign(&claims(json!({"nbf": "2099-01-01"})))),
            "the token's `nbf` is not a number of seconds",
        ),
        (
            "a string iat",
            Some(f.es.sign(&claims(json!({"iat": "yesterday"})))),
            "the token's `iat` is not a number of seconds",
        ),
        (
            "a string exp",
            Some(f.es.sign(&claims(json!({"exp": "2099-01-01"})))),
            "the token's `exp` is not a number of seconds",
        ),
        (
            "larger than 16 KiB",
            Some(f.es.sign(&claims(json!({"pad": "x".repeat(20_000)})))),
            "the token is larger than 16384 bytes",
        ),
    ];
    for (name, token, reason) in cases {
        if reason.is_empty() {
            // 30 s past `exp` is inside the bundle's 60 s leeway.
            let t = f.es.sign(&claims(json!({"exp": NOW - 30})));
            assert_eq!(
                f.call("GET", "/tenants/acme/orders/1", Some(&t)).status,
                200
            );
            continue;
        }
        let d = f.call("GET", "/tenants/acme/orders/1", token.as_deref());
        assert_eq!(d.status, 401, "{name}: {d:?}");
        assert_eq!(d.outcome, HttpOutcome::Unauthenticated, "{name}");
        assert_eq!(d.reason, reason, "{name}");
    }
}

#[test]
fn a_verified_token_is_still_judged_by_time_on_every_request() {
    let f = fixture();
    let t = f.es.sign(&claims(json!({"exp": NOW + 120})));
    let at = |when| f.call_at("GET", "/tenants/acme/orders/1", Some(&t), when);
    assert_eq!(at("2025-11-29T00:00:00Z").status, 200);
    // Same token, later: the signature check is cached, the expiry is not.
    let later = at("2025-11-29T00:05:00Z");
    assert_eq!(
        (later.status, later.reason.as_str()),
        (401, "the token has expired")
    );
    assert_eq!(at("2025-11-29T00:01:00Z").status, 200);
}

#[test]
fn a_kept_token_ages_with_now() {
    // The token's context record is kept with the verified token; its
    // `age` must still be counted from each request's `now`.
    let f = fixture();
    let t =
        f.es.sign(&claims(json!({"auth_time": NOW - 300, "exp": NOW + 3600})));
    let at = |when| f.call_at("POST", "/tenants/acme/payouts", Some(&t), when);
    assert_eq!(at("2025-11-29T00:00:00Z").status, 200);
    let later = at("2025-11-29T00:15:00Z");
    assert_eq!(
        (later.status, later.reason.as_str()),
        (403, "auth.fresh-token-for-sensitive")
    );
    assert_eq!(at("2025-11-29T00:09:00Z").status, 200);
}

#[test]
fn a_claim_named_twice_is_refused_whichever_comes_last() {
    let f = fixture();
    let base = claims(json!({}));
    let mut entries: Vec<(&str, Value)> = base
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let valid = f.es.sign_entries(&entries);
    assert_eq!(
        f.call("GET", "/tenants/acme/orders/42", Some(&valid))
            .status,
        200
    );
    // `tenant` is not a claim the JWT library validates: a last-wins
    // parser would decide for globex what the issuer may have meant for
    // acme.
    entries.push(("tenant", json!("globex")));
    let twice = f.es.sign_entries(&entries);
    for uri in ["/tenants/acme/orders/42", "/tenants/globex/orders/42"] {
        let d = f.call("GET", uri, Some(&twice));
        assert_eq!(d.status, 401, "{uri}: {d:?}");
        assert!(d.reason.contains("duplicate key `tenant`"), "{}", d.reason);
    }
}

#[test]
fn algorithm_confusion_is_refused() {
    let f = fixture();
    // An HS256 token "signed" with the bytes of the public key, as if the
    // verifier would use the JWK as an HMAC secret.
    let public = serde_json::to_vec(&f.es.jwk).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("es-1".into());
    let forged = jsonwebtoken::encode(
        &header,
        &claims(json!({})),
        &jsonwebtoken::EncodingKey::from_secret(&public).unwrap(),
    )
    .unwrap();
    let d = f.call("GET", "/tenants/acme/orders/1", Some(&forged));
    assert_eq!(
        (d.status, d.reason.as_str()),
        (401, "the token's algorithm HS256 is not accepted")
    );
    // An EdDSA header on a token under the EC key's kid.
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    h.kid = Some("es-1".into());
    let swapped = jsonwebtoken::encode(&h, &claims(json!({})), &f.ed.encoding).unwrap();
    let d = f.call("GET", "/tenants/acme/orders/1", Some(&swapped));
    assert_eq!(
        (d.status, d.reason.as_str()),
        (401, "the token's algorithm does not match its key")
    );
}

#[test]
fn policies_decide_with_claims_mfa_scopes_freshness_and_tenants() {
    let f = fixture();
    let t = |extra: Value| f.es.sign(&claims(extra));
    let cases = [
        (
            "GET",
            "/tenants/globex/orders/1",
            t(json!({})),
            403,
            "auth.tenant-isolation",
        ),
        (
            "POST",
            "/tenants/acme/orders",
            t(json!({"scope": "orders:read"})),
            403,
            "auth.scope-write",
        ),
        ("POST", "/tenants/acme/orders", t(json!({})), 200, "allowed"),
        (
            "GET",
            "/admin/users",
            t(json!({"groups": ["admins"], "amr": ["pwd"]})),
            403,
            "auth.mfa-for-admin",
        ),
        (
            "GET",
            "/admin/users",
            t(json!({"groups": ["admins"], "amr": ["pwd", "otp"]})),
            200,
            "allowed",
        ),
        (
            "POST",
            "/tenants/acme/payouts",
            t(json!({"auth_time": NOW - 3600})),
            403,
            "auth.fresh-token-for-sensitive",
        ),
        (
            "POST",
            "/tenants/acme/payouts",
            t(json!({"auth_time": NOW - 300})),
            200,
            "allowed",
        ),
        (
            "GET",
            "/tenants/acme/orders/1",
            t(json!({"sub": "mallory"})),
            403,
            "incident.suspended-principal",
        ),
        (
            "GET",
            "/tenants/acme/orders/1",
            t(json!({"jti": "leaked-2026-11"})),
            403,
            "incident.suspended-token",
        ),
        ("GET", "/nowhere", t(json!({})), 403, "no-route"),
        (
            "PUT",
            "/tenants/acme/orders/1",
            t(json!({})),
            403,
            "no-route",
        ),
        (
            "GET",
            "/tenants/acme/orders?access_token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlLWhlcmU",
            t(json!({})),
            403,
            "secrets.secret-named-field",
        ),
    ];
    for (method, uri, token, status, reason) in cases {
        let d = f.call(method, uri, Some(&token));
        assert_eq!(
            (d.status, d.reason.as_str()),
            (status, reason),
            "{method} {uri}: {d:?}"
        );
    }
    // Public routes need no token; private ones get 401 even though Cedar
    // ran (its finding is attached).
    assert_eq!(f.call("GET", "/health", None).status, 200);
    let anonymous = f.call("GET", "/tenants/acme/orders", None);
    assert_eq!(anonymous.status, 401);
    let findings: Vec<String> = anonymous
        .decision
        .unwrap()
        .findings
        .into_iter()
        .map(|f| f.rule_id)
        .collect();
    assert!(
        findings.contains(&"auth.authenticated-only".to_owned()),
        "{findings:?}"
    );
}

#[test]
fn rate_limits_answer_429_with_retry_after() {
    let f = fixture();
    let limiter = RateLimiter::new(palisade_gateway::rate_limits(&f.bundle).to_vec());
    let token = f.es.sign(&claims(json!({"auth_time": NOW - 60})));
    let req = HttpRequest::new("POST", "/tenants/acme/payouts")
        .header("authorization", &format!("Bearer {token}"));
    let statuses: Vec<u16> = (0..4)
        .map(|_| {
            palisade_gateway::decide(
                &f.bundle,
                &req,
                now(),
                Some((&limiter, Duration::from_millis(1_000))),
            )
            .status
        })
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429], "payouts: bursts of 3");
    let d = palisade_gateway::decide(
        &f.bundle,
        &req,
        now(),
        Some((&limiter, Duration::from_millis(1_000))),
    );
    assert_eq!(
        (d.reason.as_str(), d.retry_after),
        ("rate-limited", Some(10))
    );
    assert_eq!(d.principal.as_deref(), Some(r#"User::"bob""#));
    // Ten seconds later one more is allowed; another principal was never limited.
    assert_eq!(
        palisade_gateway::decide(
            &f.bundle,
            &req,
            now(),
            Some((&limiter, Duration::from_millis(11_000)))
        )
        .status,
        200
    );
}

/// Issue 9: limits come before the signature check, per client address,
/// so a flood of bad tokens is answered 429 without verifying each.
#[test]
fn a_flood_of_invalid_tokens_is_rate_limited_by_client_address() {
    let f = fixture();
    let limiter = RateLimiter::new(palisade_gateway::rate_limits(&f.bundle).to_vec());
    let forged = |i: usize| {
        let mut other = Key::es256("es-1");
        other.kid = "es-1".into();
        other.sign(&claims(json!({ "jti": format!("forged-{i}") })))
    };
    let from = |client: &str, token: &str| {
        let mut req = order_request(token);
        req.client = Some(client.to_owned());
        palisade_gateway::decide(
            &f.bundle,
            &req,
            now(),
            Some((&limiter, Duration::from_millis(1_000))),
        )
    };
    // gateway-baseline: bursts of 40 per principal (per address when
    // anonymous or not verified yet).
    let statuses: Vec<u16> = (0..45)
        .map(|i| from("198.51.100.9", &forged(i)).status)
        .collect();
    assert!(statuses[..40].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[40..].iter().all(|s| *s == 429), "{statuses:?}");
    let limited = from("198.51.100.9", &forged(99));
    assert_eq!(limited.reason, "rate-limited");
    assert_eq!(
        limited.route.as_deref(),
        Some("/tenants/{tenant}/orders/{id}")
    );
    // Another address is not limited; a token verified before is not
    // charged to the address again.
    let good = f.es.sign(&claims(json!({})));
    assert_eq!(from("198.51.100.10", &good).status, 200);
    assert_eq!(
        from("198.51.100.9", &good).status,
        200,
        "verified before: its principal pays"
    );
}

/// Issue 9: a path that the application may read as another path is
/// refused (400), never matched to a route.
#[test]
fn dot_segments_and_encoded_slashes_in_paths_are_400() {
    let f = fixture();
    let token = f.es.sign(&claims(json!({})));
    for path in [
        "/tenants/acme/orders/..%2F..%2Fglobex%2Forders%2F1",
        "/tenants/acme/orders/%2e%2e",
        "/tenants/globex/../acme/orders/1",
        "/tenants/acme/orders/1%00",
        "/tenants/acme/orders/%ff",
    ] {
        let d = f.call("GET", path, Some(&token));
        assert_eq!(
            (d.status, d.outcome),
            (400, HttpOutcome::BadRequest),
            "{path}: {d:?}"
        );
        assert!(d.body_json().contains(r#""error""#), "{}", d.body_json());
    }
    // Percent-encoded letters are decoded before Cedar sees the parameter.
    let d = f.call("GET", "/tenants/glob%65x/orders/1", Some(&token));
    assert_eq!(d.resource.as_deref(), Some(r#"Order::"globex/1""#));
    assert_eq!(d.status, 403);
}

/// A route may accept an encoded `/` in its parameters.
#[test]
fn a_route_can_allow_encoded_slashes() {
    let engine = test_engine();
    let source = baseline(|toml| {
        toml.replace(
            "[[gateway.route]]\nmethod = \"GET\"\npath = \"/health\"",
            "[[gateway.route]]\nmethod = \"GET\"\npath = \"/docs/{page}\"\naction = \"health\"\nresource = 'Service::\"{page}\"'\npublic = true\nallow_encoded_slash = true\n\n[[gateway.route]]\nmethod = \"GET\"\npath = \"/health\"",
        )
    })
    .file("jwks.json", jwt::jwks(&[&Key::es256("k")]).into_bytes());
    let bundle = engine.load_bundle_from(&source).unwrap();
    let d = palisade_gateway::decide(
        &bundle,
        &HttpRequest::new("GET", "/docs/a%2Fb"),
        now(),
        None,
    );
    assert_eq!(d.resource.as_deref(), Some(r#"Service::"a/b""#), "{d:?}");
    let d = palisade_gateway::decide(
        &bundle,
        &HttpRequest::new("GET", "/docs/%2e%2e"),
        now(),
        None,
    );
    assert_eq!(d.status, 400, "dot segments stay refused");
}

#[test]
fn the_same_request_gives_the_same_decision_json() {
    let f = fixture();
    let token = f.es.sign(&claims(json!({"scope": "orders:read"})));
    let a = f.call("POST", "/tenants/acme/orders", Some(&token));
    let b = f.call("POST", "/tenants/acme/orders", Some(&token));
    let (a, b) = (a.decision.unwrap().to_json(), b.decision.unwrap().to_json());
    assert_eq!(a, b);
    assert!(a.contains(r#""rule_id":"auth.scope-write""#), "{a}");
}

/// A bundle whose resources may be bundle entities: `Doc::"mine"` and
/// `Doc::"theirs"` have owners, other docs are unknown; `groups` more
/// groups named by a policy make the principal's store that large.
fn owners_bundle(key: &Key, groups: usize) -> Bundle {
    let named: Vec<String> = (0..groups).map(|i| format!(r#"Group::"g{i}""#)).collect();
    let policies = format!(
        r#"permit (principal, action == Action::"read", resource) when {{ resource has owner && resource.owner == principal }};
permit (principal, action == Action::"read", resource == Doc::"shared") when {{ principal in [{}] }};"#,
        if named.is_empty() {
            r#"Group::"none""#.to_owned()
        } else {
            named.join(", ")
        }
    );
    let mut entities = vec![
        json!({"uid": {"type": "Doc", "id": "mine"}, "attrs": {"owner": {"__entity": {"type": "User", "id": "bob"}}}, "parents": []}),
        json!({"uid": {"type": "Doc", "id": "theirs"}, "attrs": {"owner": {"__entity": {"type": "User", "id": "eve"}}}, "parents": []}),
    ];
    entities.extend((0..groups).map(
        |i| json!({"uid": {"type": "Group", "id": format!("g{i}")}, "attrs": {}, "parents": []}),
    ));
    let entities = Value::from(entities);
    let source = MemorySource::new("owners")
        .file(
            "palisade.toml",
            br#"[bundle]
name = "owners"
version = "1.0.0"
[cedar]
policies = ["policies"]
entities = "entities.json"
[gateway]
principal_type = "User"
[gateway.jwt]
jwks = "jwks.json"
issuers = ["https://id.example.com"]
audiences = ["orders-api"]
algorithms = ["ES256"]
[[gateway.route]]
method = "GET"
path = "/docs/{id}"
action = "read"
resource = 'Doc::"{id}"'
"#
            .as_slice(),
        )
        .file("policies/p.cedar", policies.into_bytes())
        .file("entities.json", entities.to_string().into_bytes())
        .file("jwks.json", jwt::jwks(&[key]).into_bytes());
    test_engine().load_bundle_from(&source).unwrap()
}

#[test]
fn a_token_reused_across_resources_sees_each_resources_entity() {
    // The principal's store is kept with the verified token; a resource
    // that is a bundle entity it lacks must still be read, on every
    // request of the same token, whether the store is cached (few
    // entities) or built per request (more than the cache keeps).
    let key = Key::es256("es-1");
    for groups in [0, 100] {
        let bundle = owners_bundle(&key, groups);
        let bob = key.sign(&claims(json!({"groups": ["g7"]})));
        let get = |path: &str| {
            let req =
                HttpRequest::new("GET", path).header("authorization", &format!("Bearer {bob}"));
            let d = palisade_gateway::decide(&bundle, &req, now(), None);
            (d.status, d.reason)
        };
        for round in 0..2 {
            let at = format!("{groups} groups, round {round}");
            assert_eq!(get("/docs/unknown").0, 403, "{at}");
            assert_eq!(get("/docs/mine"), (200, "allowed".into()), "{at}");
            assert_eq!(get("/docs/theirs").0, 403, "{at}");
            let shared = if groups > 7 { 200 } else { 403 };
            assert_eq!(get("/docs/shared").0, shared, "{at}");
        }
    }
}

fn test_engine() -> Engine {
    palisade_gateway::engine_builder()
        .cache_dir(std::env::temp_dir().join("palisade-test-cache"))
        .build()
        .unwrap()
}

/// `GET /tenants/acme/orders/42` with a bearer token.
fn order_request(token: &str) -> HttpRequest {
    HttpRequest::new("GET", "/tenants/acme/orders/42")
        .header("authorization", &format!("Bearer {token}"))
}

/// An identity provider's JWKS endpoint on 127.0.0.1: serves `jwks` and
/// counts the requests.
struct Idp {
    url: String,
    jwks: std::sync::Arc<std::sync::Mutex<String>>,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Answer 503 (the provider is down).
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Idp {
    fn start(jwks: String) -> Idp {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let jwks = std::sync::Arc::new(std::sync::Mutex::new(jwks));
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (served, counter, is_down) = (jwks.clone(), hits.clone(), down.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = served.lock().unwrap().clone();
                let status = if is_down.load(std::sync::atomic::Ordering::SeqCst) {
                    "503 Service Unavailable"
                } else {
                    "200 OK"
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Idp {
            url,
            jwks,
            hits,
            down,
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// gateway-baseline with `[gateway.jwt]` reading keys from `url`.
fn remote_keys_bundle(engine: &Engine, url: &str) -> Result<Bundle, palisade_engine::BundleError> {
    remote_keys_bundle_with(engine, url, "")
}

/// The same, with more `[gateway.jwt]` settings.
fn remote_keys_bundle_with(
    engine: &Engine,
    url: &str,
    settings: &str,
) -> Result<Bundle, palisade_engine::BundleError> {
    let source = baseline(|toml| {
        toml.replace(
            r#"jwks = "jwks.json""#,
            &format!("jwks_url = {url:?}\n{settings}"),
        )
    });
    engine.load_bundle_from(&source)
}

#[test]
fn keys_from_a_jwks_url_are_cached_and_refetched_for_a_rotated_key() {
    let engine = test_engine();
    let (old, new) = (Key::es256("2026-a"), Key::es256("2026-b"));
    let idp = Idp::start(jwt::jwks(&[&old]));
    let bundle = remote_keys_bundle(&engine, &idp.url).unwrap();
    assert_eq!(idp.hits(), 0, "loading a bundle fetches nothing");
    let call = |token: &str| palisade_gateway::decide(&bundle, &order_request(token), now(), None);

    // The first token fetches the keys; later ones use the cache.
    let first = old.sign(&claims(json!({})));
    assert_eq!(call(&first).status, 200);
    assert_eq!(call(&old.sign(&claims(json!({"jti": "t-2"})))).status, 200);
    assert_eq!(idp.hits(), 1);

    // The provider rotates: a token with the new key id fetches once.
    *idp.jwks.lock().unwrap() = jwt::jwks(&[&new]);
    let d = call(&new.sign(&claims(json!({"jti": "t-3"}))));
    assert_eq!(
        (d.status, d.principal.as_deref()),
        (200, Some(r#"User::"bob""#))
    );
    assert_eq!(idp.hits(), 2);

    // The retired key no longer verifies, not even a token verified
    // before the rotation; unknown key ids do not fetch again right away.
    let d = call(&first);
    assert_eq!(
        (d.status, d.reason.as_str()),
        (401, "the token's key id is unknown")
    );
    let stranger = Key::es256("made-up");
    assert_eq!(call(&stranger.sign(&claims(json!({})))).status, 401);
    assert_eq!(
        idp.hits(),
        2,
        "unknown key ids fetch at most once per cooldown"
    );
}

#[test]
fn an_unreachable_jwks_url_refuses_tokens_and_bad_urls_refuse_the_bundle() {
    let engine = test_engine();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bundle = remote_keys_bundle(&engine, &format!("http://127.0.0.1:{port}/jwks")).unwrap();
    let key = Key::es256("k");
    let token = key.sign(&claims(json!({})));
    let d = palisade_gateway::decide(&bundle, &order_request(&token), now(), None);
    assert_eq!(d.status, 401);
    assert!(
        d.reason
            .starts_with("the token's keys cannot be fetched from `http://127.0.0.1:"),
        "{}",
        d.reason
    );

    for (url, expected) in [
        (
            "http://id.example.com/jwks",
            "keys must be fetched over HTTPS",
        ),
        ("id.example.com/jwks", "is not an https:// URL"),
    ] {
        let err = remote_keys_bundle(&engine, url).unwrap_err().to_string();
        assert!(
            err.contains(expected) && err.contains("palisade.toml"),
            "{url}: {err}"
        );
    }
}

#[test]
fn stale_keys_are_refreshed_in_the_background_and_retired_keys_stop_verifying() {
    let engine = test_engine();
    let (old, new) = (Key::es256("2026-a"), Key::es256("2026-b"));
    let idp = Idp::start(jwt::jwks(&[&old]));
    let bundle = remote_keys_bundle_with(&engine, &idp.url, "jwks_refresh_seconds = 1").unwrap();
    let call =
        |token: &str| palisade_gateway::decide(&bundle, &order_request(token), now(), None).status;
    let token = old.sign(&claims(json!({})));
    assert_eq!(call(&token), 200);
    assert_eq!(idp.hits(), 1);

    // The provider retires the old key. Past the refresh interval, the
    // next request (a token verified before, from the cache) still gets
    // the old keys' answer and starts a refresh in the background.
    *idp.jwks.lock().unwrap() = jwt::jwks(&[&new]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(call(&token), 200);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while idp.hits() < 2 && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(idp.hits(), 2, "a stale key set is fetched again");
    // The new keys are swapped in when the fetch completes.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while call(&token) == 200 && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        call(&token),
        401,
        "a retired key stops verifying, cached or not"
    );
    assert_eq!(call(&new.sign(&claims(json!({})))), 200);
}

#[test]
fn a_server_can_fetch_the_keys_before_the_first_request() {
    let engine = test_engine();
    let key = Key::es256("2026-a");
    let idp = Idp::start(jwt::jwks(&[&key]));
    let bundle = remote_keys_bundle(&engine, &idp.url).unwrap();
    palisade_gateway::fetch_remote_keys(&bundle).unwrap();
    assert_eq!(idp.hits(), 1);
    let d = palisade_gateway::decide(
        &bundle,
        &order_request(&key.sign(&claims(json!({})))),
        now(),
        None,
    );
    assert_eq!(d.status, 200);
    assert_eq!(idp.hits(), 1, "the request used the keys fetched before");

    let gone = remote_keys_bundle(&engine, "http://127.0.0.1:9/jwks").unwrap();
    let err = palisade_gateway::fetch_remote_keys(&gone).unwrap_err();
    assert_eq!(err.url, "http://127.0.0.1:9/jwks");
    assert!(
        err.to_string()
            .starts_with("cannot fetch the keys from `http://127.0.0.1:9/jwks`: "),
        "{err}"
    );
    assert_eq!(
        palisade_gateway::fetch_remote_keys(&fixture().bundle),
        Ok(()),
        "a JWKS file: nothing to fetch"
    );
}

#[test]
fn a_provider_that_is_down_is_not_hammered_and_the_old_keys_keep_working() {
    let engine = test_engine();
    let key = Key::es256("2026-a");
    let idp = Idp::start(jwt::jwks(&[&key]));
    let bundle = remote_keys_bundle_with(&engine, &idp.url, "jwks_refresh_seconds = 1").unwrap();
    let token = key.sign(&claims(json!({})));
    let call = || palisade_gateway::decide(&bundle, &order_request(&token), now(), None).status;
    assert_eq!(call(), 200);
    idp.down.store(true, std::sync::atomic::Ordering::SeqCst);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // Stale keys: every request could start a refresh; one does, and
    // after it fails the next waits RETRY_AFTER_FAILURE (2 s).
    for _ in 0..200 {
        assert_eq!(call(), 200, "the old keys keep verifying");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(
        idp.hits(),
        2,
        "one refresh in about a second, not one per request"
    );
}

#[test]
fn a_wrong_gateway_table_refuses_the_bundle_with_its_line() {
    let engine = test_engine();
    for (edit, line, says) in [
        (
            (
                "[[gateway.route]]\nmethod = \"GET\"\npath = \"/admin/users\"",
                "[[gateway.route]]\nmethod = \"get\"\npath = \"/health\"\naction = \"health\"\nresource = 'Service::\"orders\"'\n\n[[gateway.route]]\nmethod = \"GET\"\npath = \"/admin/users\"",
            ),
            "palisade.toml:",
            "[[gateway.route]] 7 (`GET /health`) never matches: route 1 (`GET /health`) comes first",
        ),
        (
            ("path = \"/health\"", "path = \"/health\"\nmethd = \"GET\""),
            "palisade.toml:",
            "unknown field `methd`",
        ),
        (
            ("burst = 40", "burst = 40\nroute = \"/nowhere\""),
            "palisade.toml:",
            "route `/nowhere` is not in the route table",
        ),
    ] {
        let source = baseline(|toml| {
            assert!(toml.contains(edit.0), "{}", edit.0);
            toml.replacen(edit.0, edit.1, 1)
        })
        .file("jwks.json", jwt::jwks(&[&Key::es256("k")]).into_bytes());
        let err = engine.load_bundle_from(&source).unwrap_err();
        let p = err
            .problems
            .iter()
            .find(|p| p.message.contains(says))
            .unwrap_or_else(|| panic!("{says}: {err}"));
        assert!(p.location().starts_with(line) && p.line.is_some(), "{p}");
    }
}

#[test]
fn a_gateway_bundle_needs_an_engine_with_the_gateway_extension() {
    // Without the extension the [gateway] table would load unchecked and
    // its JWKS would not count in the digest: the same bundle would have
    // two digests. It is refused, at the table, with what to do.
    let key = Key::es256("k");
    let source = baseline(|toml| toml).file("jwks.json", jwt::jwks(&[&key]).into_bytes());
    let err = Engine::new()
        .unwrap()
        .load_bundle_from(&source)
        .unwrap_err();
    let p = &err.problems[0];
    assert_eq!(err.problems.len(), 1, "{err}");
    assert!(
        p.message
            .contains("`[gateway]` needs the gateway extension"),
        "{}",
        p.message
    );
    assert!(
        p.location().starts_with("palisade.toml:") && p.line.is_some(),
        "{p}"
    );
    assert!(
        p.help
            .as_deref()
            .unwrap_or_default()
            .contains("palisade_gateway::engine()")
    );
    // With the extension it loads and decides.
    let bundle = test_engine().load_bundle_from(&source).unwrap();
    let req = order_request(&key.sign(&claims(json!({}))));
    assert_eq!(
        palisade_gateway::decide(&bundle, &req, now(), None).status,
        200
    );
}

#[test]
fn problems_in_gateway_tables_are_reported_at_their_own_line() {
    // Found by a hostile review: problems were placed at the first line
    // holding similar text (another route with the same path, the first
    // rate limit, a comment).
    let engine = test_engine();
    let cases: [(&str, &str, &str, &str); 5] = [
        (
            "route = \"/tenants/{tenant}/payouts\"",
            "route = \"/tenants/{tenant}/payout\"",
            "route = \"/tenants/{tenant}/payout\"",
            "is not in the route table",
        ),
        ("rate = 0.1", "rate = -1.0", "rate = -1.0", "rate must be"),
        (
            "jwks = \"jwks.json\"",
            "jwks = \"policies\"",
            "jwks = \"policies\"",
            "gateway.jwt.jwks: `policies` ",
        ),
        (
            "leeway_seconds = 60",
            "leeway_seconds = 600",
            "leeway_seconds = 600",
            "leeway_seconds",
        ),
        (
            "action = \"deleteOrder\"\nresource = 'Order::\"{tenant}/{id}\"'",
            "action = \"deleteOrder\"\nresource = 'Order::\"{tenant}/{nope}\"'",
            "method = \"DELETE\"",
            "[[gateway.route]] 5",
        ),
    ];
    for (from, to, line_with, says) in cases {
        let mut text = String::new();
        let source = baseline(|toml| {
            assert!(toml.contains(from), "{from}");
            text = toml.replacen(from, to, 1);
            text.clone()
        })
        .file("jwks.json", jwt::jwks(&[&Key::es256("k")]).into_bytes());
        let err = engine.load_bundle_from(&source).unwrap_err();
        let p = err
            .problems
            .iter()
            .find(|p| p.message.contains(says))
            .unwrap_or_else(|| panic!("{says}: {err}"));
        let want = 1 + text
            .lines()
            .position(|l| l.contains(line_with))
            .unwrap_or_else(|| panic!("{line_with}"));
        let got = p.line.unwrap();
        // A route's own problem points at its table: its header, the line
        // before `method`.
        assert!(
            got == want || (says.starts_with("[[gateway.route]]") && got == want - 1),
            "{to}: reported {p}, expected line {want}"
        );
    }
}
