//! Hostile authorization requests: their cost is bounded, and what goes
//! over a bound is refused with the reason (issue 9).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

use palisade_engine::{AuthorizationRequest, Engine, MemorySource, Now};
use serde_json::{Value, json};

fn bundle(engine: &Engine) -> palisade_engine::Bundle {
    engine
        .load_bundle_from(
            &MemorySource::new("t")
                .file(
                    "palisade.toml",
                    b"[bundle]\nname = \"t\"\nversion = \"1.0.0\"\n".as_slice(),
                )
                .file(
                    "policies/p.cedar",
                    br#"@id("members") permit(principal in Group::"top", action, resource);"#
                        .as_slice(),
                ),
        )
        .unwrap()
}

/// The densest hierarchy the bounds let through: layers of entities, each
/// a child of every entity in the layer above.
fn layered(layers: usize, width: usize) -> Value {
    let uid = |l: usize, i: usize| json!({"type": "Group", "id": format!("g{l}-{i}")});
    let mut out = Vec::new();
    for l in 0..layers {
        for i in 0..width {
            let parents: Vec<Value> = if l + 1 < layers {
                (0..width).map(|j| uid(l + 1, j)).collect()
            } else {
                vec![json!({"type": "Group", "id": "top"})]
            };
            out.push(json!({"uid": uid(l, i), "attrs": {}, "parents": parents}));
        }
    }
    Value::Array(out)
}

fn request(entities: Value) -> AuthorizationRequest {
    let mut r = AuthorizationRequest::from_value(&json!({
        "principal": {"type": "Group", "id": "g0-0"},
        "action": "Action::\"view\"",
        "resource": "Doc::\"d\"",
    }))
    .unwrap();
    r.entities = Some(entities);
    r
}

#[test]
fn a_long_parent_chain_is_refused_not_computed() {
    let engine = Engine::new().unwrap();
    let b = bundle(&engine);
    // 1,000 entities in one chain took 25 s of CPU.
    let started = std::time::Instant::now();
    let e = b
        .authorize(&request(layered(1_000, 1)), Now::epoch())
        .unwrap_err();
    assert!(e.to_string().contains("chain of"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn the_densest_allowed_hierarchy_is_decided() {
    let engine = Engine::new().unwrap();
    let b = bundle(&engine);
    // 31 layers of 32, each entity a child of all 32 above it, took
    // minutes; the bounds refuse it.
    let e = b
        .authorize(&request(layered(31, 32)), Now::epoch())
        .unwrap_err();
    assert!(e.to_string().contains("entity-ancestor pairs"), "{e}");
    // Near the bound: 5 layers of 20, 4,000 pairs.
    let started = std::time::Instant::now();
    let d = b.authorize(&request(layered(5, 20)), Now::epoch()).unwrap();
    assert!(d.is_allowed(), "{}", d.to_json_pretty());
    eprintln!("densest allowed hierarchy: {:?}", started.elapsed());
}

#[test]
fn a_request_that_names_a_key_twice_is_refused() {
    for (text, key) in [
        (
            r#"{"principal":"User::\"a\"","principal":"User::\"admin\"","action":"Action::\"x\"","resource":"R::\"r\""}"#,
            "principal",
        ),
        (
            r#"{"principal":"User::\"a\"","action":"Action::\"x\"","resource":"R::\"r\"","context":{"a":{"b":1,"b":2}}}"#,
            "b",
        ),
        (
            r#"{"principal":"User::\"a\"","action":"Action::\"x\"","resource":"R::\"r\"","entities":[{"uid":{"type":"User","id":"a"},"attrs":{},"attrs":{"admin":true},"parents":[]}]}"#,
            "attrs",
        ),
    ] {
        let e = AuthorizationRequest::from_json(text)
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("duplicate key `{key}`")), "{e}");
        assert!(e.contains("line 1, column "), "{e}");
    }
}

/// A request that Cedar refuses keeps Cedar's typed error as its source,
/// and says the same text as before.
#[test]
fn cedar_refusals_keep_cedar_errors() {
    use palisade_engine::RequestError;
    let engine = Engine::new().unwrap();
    let bundle = engine
        .load_bundle_from(
            &MemorySource::new("s")
                .file(
                    "palisade.toml",
                    b"[bundle]\nname = \"s\"\nversion = \"1.0.0\"\n[cedar]\nschema = \"s.cedarschema\"\n"
                        .as_slice(),
                )
                .file(
                    "s.cedarschema",
                    b"entity User; entity Doc; action view appliesTo { principal: User, resource: Doc, context: { level: Long } };"
                        .as_slice(),
                )
                .file(
                    "policies/p.cedar",
                    br#"@id("p") permit(principal, action == Action::"view", resource);"#.as_slice(),
                ),
        )
        .unwrap();
    let ask = |v: Value| {
        let r = AuthorizationRequest::from_value(&v).unwrap();
        bundle.authorize(&r, Now::epoch()).unwrap_err()
    };

    let wrong_type = ask(json!({
        "principal": "Doc::\"d\"", "action": "Action::\"view\"", "resource": "Doc::\"d\"",
        "context": {"level": 1},
    }));
    assert!(
        matches!(wrong_type, RequestError::Schema { .. }),
        "{wrong_type:?}"
    );
    let source = std::error::Error::source(&wrong_type).expect("Cedar's error");
    assert!(
        wrong_type
            .to_string()
            .starts_with("the request does not match the bundle's schema: ")
            && wrong_type.to_string().ends_with(&source.to_string()),
        "{wrong_type}"
    );
    let RequestError::Schema { source } = &wrong_type else {
        unreachable!()
    };
    assert!(
        source.get().is::<cedar_policy::RequestValidationError>(),
        "{source:?}"
    );

    let bad_context = ask(json!({
        "principal": "User::\"u\"", "action": "Action::\"view\"", "resource": "Doc::\"d\"",
        "context": {"level": {"__entity": {"type": "not a type", "id": "x"}}},
    }));
    let RequestError::Context {
        reason,
        source: Some(source),
    } = &bad_context
    else {
        panic!("{bad_context:?}")
    };
    assert_eq!(
        bad_context.to_string(),
        format!("invalid context: {reason}")
    );
    assert!(
        source.get().is::<cedar_policy::ContextJsonError>(),
        "{source:?}"
    );
    assert_eq!(
        palisade_engine::full_message(&bad_context),
        bad_context.to_string()
    );
}

/// A bundle large enough to be sliced and indexed, with one policy of
/// 20,000 conjuncts: loading it overflowed the stack (the index read the
/// policy through Cedar's recursive tree conversion, the entity references
/// through its JSON form). It loads, and the deep policy is decided by
/// Cedar, which stops at its own depth limit with an error.
#[test]
fn a_policy_of_twenty_thousand_conjuncts_loads_and_is_decided() {
    let decision = std::thread::Builder::new()
        .stack_size(256 << 20) // Cedar's parser, in a debug build
        .spawn(|| {
            let mut policies: Vec<String> = (0..20)
                .map(|i| format!("@id(\"p{i}\") permit (principal, action == Action::\"a{i}\", resource);"))
                .collect();
            let conjuncts: Vec<String> =
                (0..20_000).map(|i| format!("principal.r == \"x{i}\"")).collect();
            policies.push(format!(
                "@id(\"deep\") permit (principal, action == Action::\"view\", resource) when {{ {} }};",
                conjuncts.join(" && ")
            ));
            let engine = Engine::new().unwrap();
            let bundle = engine
                .load_bundle_from(
                    &MemorySource::new("memory")
                        .file("palisade.toml", b"[bundle]\nname = \"deep\"\nversion = \"1\"\n".as_slice())
                        .file("policies/p.cedar", policies.join("\n").into_bytes()),
                )
                .unwrap();
            let req = AuthorizationRequest::new(r#"User::"a""#, r#"Action::"view""#, r#"D::"d""#)
                .unwrap();
            bundle.authorize(&req, Now::epoch()).unwrap()
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(!decision.is_allowed(), "{}", decision.to_json());
}
