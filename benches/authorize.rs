//! Authorization: the engine (scope index) next to plain cedar-policy on the
//! same generated policy sets, requests and prebuilt entities.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

mod common;
#[path = "../tests/common/mod.rs"]
mod test_common;

use cedar_policy::{Authorizer, Context, Request};
use criterion::{Criterion, criterion_group, criterion_main};
use palisade_engine::{AuthorizationRequest, Engine, MemorySource, Now};
use std::collections::BTreeMap;
use std::hint::black_box;

/// `n` policies over `actions` actions and `types` resource types, with
/// realistic conditions: attributes, `in` groups, `has`, `like`, context.
fn policies(n: usize, actions: usize, types: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        let a = i % actions;
        let t = (i / actions) % types;
        let g = i % 10;
        let effect = if i % 7 == 3 { "forbid" } else { "permit" };
        let cond = match i % 5 {
            0 => "when { resource.owner == principal && context.mfa }".to_string(),
            1 => format!(
                "when {{ principal in Group::\"g{g}\" && resource has classification && resource.classification != \"secret\" }}"
            ),
            2 => format!(
                "when {{ principal.department like \"eng*\" && context.ip_risk < {} }}",
                50 + g
            ),
            3 => "when { context has break_glass && context.break_glass && resource.tenant == principal.tenant }".to_string(),
            _ => "unless { principal.suspended }".to_string(),
        };
        out.push_str(&format!(
            "@id(\"r{i}\")\n{effect} (principal, action == Action::\"a{a}\", resource is T{t})\n{cond};\n"
        ));
    }
    out
}

fn entities(types: usize) -> String {
    let mut v = Vec::new();
    for g in 0..10 {
        v.push(serde_json::json!({"uid": {"type": "Group", "id": format!("g{g}")}, "attrs": {}, "parents": []}));
    }
    v.push(
        serde_json::json!({"uid": {"type": "User", "id": "alice"}, "attrs": {
        "department": "engineering", "tenant": "acme", "suspended": false
    }, "parents": [{"type": "Group", "id": "g3"}, {"type": "Group", "id": "g7"}]}),
    );
    for t in 0..types {
        v.push(serde_json::json!({"uid": {"type": format!("T{t}"), "id": "r1"}, "attrs": {
            "owner": {"__entity": {"type": "User", "id": "alice"}}, "classification": "internal", "tenant": "acme"
        }, "parents": []}));
    }
    serde_json::Value::Array(v).to_string()
}

fn bench_set(c: &mut Criterion, label: &str, n: usize, actions: usize, types: usize) {
    let mut files = BTreeMap::new();
    files.insert(
        "palisade.toml".to_string(),
        b"[bundle]\nname = \"bench\"\nversion = \"1\"\n[cedar]\npolicies = [\"p.cedar\"]\nentities = \"e.json\"\n".to_vec(),
    );
    files.insert(
        "p.cedar".to_string(),
        policies(n, actions, types).into_bytes(),
    );
    files.insert("e.json".to_string(), entities(types).into_bytes());
    let engine = Engine::new().unwrap();
    let bundle = engine
        .load_bundle_from(
            &files
                .into_iter()
                .fold(MemorySource::new("memory"), |s, (p, b)| s.file(p, b)),
        )
        .unwrap();
    let context = serde_json::json!({"mfa": true, "ip_risk": 10});
    let action = format!("Action::\"a{}\"", (actions / 2).min(actions - 1));
    let resource = format!("T{}::\"r1\"", (types / 2).min(types - 1));
    let ours = AuthorizationRequest::new(r#"User::"alice""#, &action, &resource)
        .unwrap()
        .with_context(context.clone())
        .unwrap();

    // Same outcome, or the comparison means nothing.
    let d = bundle.authorize(&ours, Now::epoch()).unwrap();
    let ctx = Context::from_json_value(context.clone(), None).unwrap();
    let req = Request::new(
        ours.principal.clone(),
        ours.action.clone(),
        ours.resource.clone(),
        ctx,
        None,
    )
    .unwrap();
    let plain = Authorizer::new().is_authorized(&req, bundle.policy_set(), bundle.entities());
    assert_eq!(
        d.is_allowed(),
        plain.decision() == cedar_policy::Decision::Allow
    );

    let mut g = c.benchmark_group(format!("authorize/{label}"));
    g.bench_function("cedar-policy", |b| {
        let authorizer = Authorizer::new();
        b.iter(|| {
            // Plain Cedar also has to build its request from the input.
            let ctx = Context::from_json_value(black_box(&context).clone(), None).unwrap();
            let req = Request::new(
                ours.principal.clone(),
                ours.action.clone(),
                ours.resource.clone(),
                ctx,
                None,
            )
            .unwrap();
            black_box(authorizer.is_authorized(&req, bundle.policy_set(), bundle.entities()))
        })
    });
    g.bench_function("palisade", |b| {
        b.iter(|| black_box(bundle.authorize(black_box(&ours), Now::epoch()).unwrap()))
    });
    g.finish();
}

/// What `POST /v1/authorize` does with a body: parse the request, decide
/// with gateway-baseline (its request-inspection plugin included), write
/// the decision JSON; with and without entities in the request.
fn http_body(c: &mut Criterion) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/gateway-baseline");
    let engine = palisade_gateway::engine().unwrap();
    let bundle = engine.load_bundle(&dir).unwrap();
    let now = Now::parse("2025-11-29T00:00:00Z").unwrap();
    let context = r#""context": {"now": 1764374400, "authenticated": true,
        "request": {"method": "GET", "path": "/tenants/acme/orders/42", "host": "api.example.com", "client": ""},
        "route": {"path": "/tenants/{tenant}/orders/{id}", "public": false},
        "params": {"tenant": "acme", "id": "42"},
        "token": {"scopes": ["orders:read"], "amr": [], "mfa": false, "issuer": "https://id.example.com", "age": 60}}"#;
    let head = r#"{"principal": "User::\"bob\"", "action": "Action::\"viewOrder\"", "resource": "Order::\"acme/42\"", "#;
    let with_entities = format!(
        r#"{head}{context}, "entities": [{{"uid": {{"type": "User", "id": "bob"}}, "attrs": {{"tenant": "acme"}}, "parents": []}}]}}"#
    );
    let without = format!("{head}{context}}}");
    // The same bundle with a directory of 10,000 users in its entities.
    let big = tempfile::tempdir().unwrap();
    test_common::copy_dir(&dir, big.path());
    let entities = std::fs::read_to_string(dir.join("entities.json")).unwrap();
    std::fs::write(
        big.path().join("entities.json"),
        common::with_10k_users(&entities),
    )
    .unwrap();
    let big_bundle = engine.load_bundle(big.path()).unwrap();
    let mut g = c.benchmark_group("authorize/http-body-gateway-baseline");
    for (name, bundle, body) in [
        ("with-entities", &bundle, &with_entities),
        ("without-entities", &bundle, &without),
        (
            "with-entities-10k-bundle-users",
            &big_bundle,
            &with_entities,
        ),
    ] {
        let d = bundle
            .authorize(&AuthorizationRequest::from_json(body).unwrap(), now)
            .unwrap();
        assert!(d.errors.is_empty(), "{}", d.to_json());
        g.bench_function(name, |b| {
            b.iter(|| {
                let request = AuthorizationRequest::from_json(black_box(body)).unwrap();
                black_box(bundle.authorize(&request, now).unwrap().to_json())
            })
        });
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench_set(c, "2-policies", 2, 1, 1);
    bench_set(c, "1000-policies", 1000, 50, 20);
    http_body(c);
}

criterion_group!(authorize, benches);
criterion_main!(authorize);
