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

/// The RBAC/ABAC sets of the comparison with the peers: `n` permits of the
/// shape `principal.role == R && resource.dept == D`, either each on its own
/// action (`spread`) or all on one action (the shape scope slicing cannot
/// help with), and one forbid on the context. The request matches one
/// permit.
struct PeerSet {
    n: usize,
    spread: bool,
}

impl PeerSet {
    fn label(&self) -> String {
        let how = if self.spread {
            "spread-over-actions"
        } else {
            "one-action"
        };
        format!("authorize/{}-rules-{how}", self.n)
    }

    fn action(&self, i: usize) -> String {
        if self.spread {
            format!("a{i}")
        } else {
            "view".to_string()
        }
    }

    /// Rule `i`'s role and department.
    fn rule(&self, i: usize) -> (String, String) {
        let dept = if self.spread { i % 7 } else { i / 10 };
        (format!("role{}", i % 10), format!("dept{dept}"))
    }

    /// The rule the request matches.
    fn target(&self) -> usize {
        if self.spread {
            self.n / 2
        } else {
            self.n / 20 * 10 + 5
        }
    }

    fn cedar(&self) -> String {
        let mut out = String::new();
        for i in 0..self.n {
            let (role, dept) = self.rule(i);
            out.push_str(&format!(
                "@id(\"r{i}\")\npermit (principal, action == Action::\"{}\", resource is Doc)\n  when {{ principal.role == \"{role}\" && resource.dept == \"{dept}\" }};\n",
                self.action(i)
            ));
        }
        out.push_str(
            "@id(\"risky\")\nforbid (principal, action, resource) when { context.risk > 80 };\n",
        );
        out
    }

    /// The same rules in Rego. With `reasons`, `decision` is what Cedar's
    /// answer carries (the decision and the matching rules), so every rule
    /// is evaluated; without, `allow` is a boolean made of boolean rules,
    /// the form in which the VM may stop at the first match.
    fn rego(&self, reasons: bool) -> String {
        let mut out = String::from("package bench\nimport rego.v1\n");
        for i in 0..self.n {
            let (role, dept) = self.rule(i);
            let head = if reasons {
                format!("permits contains \"r{i}\"")
            } else {
                "permit".to_string()
            };
            out.push_str(&format!(
                "{head} if {{\n  input.action == \"{}\"\n  input.resource.type == \"Doc\"\n  input.principal.role == \"{role}\"\n  input.resource.dept == \"{dept}\"\n}}\n",
                self.action(i)
            ));
        }
        out.push_str(if reasons {
            concat!(
                "forbids contains \"risky\" if input.context.risk > 80\n",
                "default allow := false\n",
                "allow if {\n  count(permits) > 0\n  count(forbids) == 0\n}\n",
                "decision := {\"allow\": allow, \"permits\": permits, \"forbids\": forbids}\n",
            )
        } else {
            concat!(
                "forbid if input.context.risk > 80\n",
                "default allow := false\n",
                "allow if {\n  permit\n  not forbid\n}\n",
            )
        });
        out
    }

    /// The request as Rego input, with the entities' attributes inlined.
    fn rego_input(&self) -> regorus::Value {
        let (role, dept) = self.rule(self.target());
        let input = serde_json::json!({
            "action": self.action(self.target()),
            "principal": {"type": "User", "id": "alice", "role": role},
            "resource": {"type": "Doc", "id": "d1", "dept": dept},
            "context": {"risk": 10},
        });
        regorus::Value::from_json_str(&input.to_string()).unwrap()
    }

    fn entities(&self) -> String {
        let (role, dept) = self.rule(self.target());
        serde_json::json!([
            {"uid": {"type": "User", "id": "alice"}, "attrs": {"role": role}, "parents": []},
            {"uid": {"type": "Doc", "id": "d1"}, "attrs": {"dept": dept}, "parents": []},
        ])
        .to_string()
    }
}

/// A Rego VM loaded with the set's rules, evaluating `entry`
/// (`decision`: Cedar's answer, with the matching rules; `allow`: the
/// boolean alone, which lets the VM stop at the first match), checked
/// against Cedar's answer.
fn regorus_vm(set: &PeerSet, entry: &str) -> regorus::rvm::vm::RegoVM {
    let mut rego = regorus::Engine::new();
    rego.add_policy("bench.rego".to_string(), set.rego(entry == "decision"))
        .unwrap();
    let entry = format!("data.bench.{entry}");
    let compiled = rego
        .compile_with_entrypoint(&regorus::Rc::from(entry.as_str()))
        .unwrap();
    let program =
        regorus::languages::rego::compiler::Compiler::compile_from_policy(&compiled, &[&entry])
            .unwrap();
    let mut vm = regorus::rvm::vm::RegoVM::new();
    vm.load_program(program);
    vm.set_input(set.rego_input());
    let answer = vm.execute().unwrap();
    let answer: serde_json::Value = serde_json::from_str(&answer.to_json_str().unwrap()).unwrap();
    let decision = serde_json::json!({
        "allow": true,
        "permits": [format!("r{}", set.target())],
        "forbids": [],
    });
    let expected = if entry.ends_with("decision") {
        decision
    } else {
        serde_json::json!(true)
    };
    assert_eq!(answer, expected);
    vm
}

fn bench_peers(c: &mut Criterion, set: &PeerSet) {
    let engine = Engine::new().unwrap();
    let bundle = engine
        .load_bundle_from(
            &MemorySource::new("memory")
                .file(
                    "palisade.toml",
                    b"[bundle]\nname = \"peers\"\nversion = \"1\"\n[cedar]\npolicies = [\"p.cedar\"]\nentities = \"e.json\"\n".to_vec(),
                )
                .file("p.cedar", set.cedar().into_bytes())
                .file("e.json", set.entities().into_bytes()),
        )
        .unwrap();
    let context = serde_json::json!({"risk": 10});
    let action = format!("Action::\"{}\"", set.action(set.target()));
    let ours = AuthorizationRequest::new(r#"User::"alice""#, &action, r#"Doc::"d1""#)
        .unwrap()
        .with_context(context.clone())
        .unwrap();
    let d = bundle.authorize(&ours, Now::epoch()).unwrap();
    assert_eq!(d.reasons, [format!("r{}", set.target())], "{}", d.to_json());
    let request = Request::new(
        ours.principal.clone(),
        ours.action.clone(),
        ours.resource.clone(),
        Context::from_json_value(context, None).unwrap(),
        None,
    )
    .unwrap();
    let authorizer = Authorizer::new();
    let plain = authorizer.is_authorized(&request, bundle.policy_set(), bundle.entities());
    assert_eq!(plain.decision(), cedar_policy::Decision::Allow);

    let mut g = c.benchmark_group(set.label());
    g.bench_function("cedar-policy", |b| {
        b.iter(|| {
            black_box(authorizer.is_authorized(
                black_box(&request),
                bundle.policy_set(),
                bundle.entities(),
            ))
        })
    });
    for (name, entry) in [("regorus", "decision"), ("regorus-allow-only", "allow")] {
        g.bench_function(name, |b| {
            let mut vm = regorus_vm(set, entry);
            let input = set.rego_input();
            b.iter(|| {
                vm.set_input(black_box(input.clone()));
                black_box(vm.execute().unwrap())
            })
        });
    }
    g.bench_function("palisade", |b| {
        b.iter(|| black_box(bundle.authorize(black_box(&ours), Now::epoch()).unwrap()))
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    for n in [50, 1000] {
        for spread in [true, false] {
            bench_peers(c, &PeerSet { n, spread });
        }
    }
    bench_set(c, "2-policies", 2, 1, 1);
    bench_set(c, "1000-policies", 1000, 50, 20);
    http_body(c);
}

criterion_group!(authorize, benches);
criterion_main!(authorize);
