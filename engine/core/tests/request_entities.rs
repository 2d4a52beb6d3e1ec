//! A request that brings its own entities is decided against those and the
//! bundle entities it can reach, not a copy of the whole bundle: it must
//! give exactly the decision, reasons and errors of plain cedar-policy
//! with every bundle entity and the request's added.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

#[path = "common/cedar.rs"]
mod cedar;

use cedar::{memory_bundle, same_as_cedar};
use cedar_policy::{Authorizer, Context, Entities, Request};
use palisade_engine::{AuthorizationRequest, Engine, Now};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Conditions that read entities every way Cedar can reach one: the
/// principal's and resource's attributes and ancestors, an attribute that
/// names another entity (two hops), an entity literal's attribute, a
/// context entity, and ancestors that run through a request's entity.
const CONDITIONS: &[&str] = &[
    "",
    " when { resource.owner == principal }",
    " when { resource.owner.level > 1 }",
    " when { principal.manager in Group::\"g1\" }",
    " when { principal has manager && principal.manager.level == 3 }",
    " when { context has who && context.who in Group::\"g2\" }",
    " when { context has who && context.who.level > 0 }",
    " when { Group::\"g1\".open }",
    " when { resource in Folder::\"f1\" }",
    " when { principal in Group::\"g1\" }",
    " when { principal in Group::\"top\" }",
    " when { resource in Folder::\"root\" }",
    " unless { principal.level < 2 }",
];
const PRINCIPALS: &[(&str, &str)] = &[("User", "a"), ("User", "b"), ("User", "n")];
const RESOURCES: &[(&str, &str)] = &[
    ("Doc", "d1"),
    ("Doc", "d2"),
    ("Doc", "dn"),
    ("Folder", "f1"),
    ("Folder", "fn"),
];

fn uid((t, id): (&str, &str)) -> Value {
    json!({"type": t, "id": id})
}

/// The bundle: users a and b (b managed by a), groups g1 (with an
/// attribute) and g2 (in top), folder f1 (in root), doc d1 in f1 owned by
/// a, and doc d2 in `Folder::"fn"`, which only requests define.
fn bundle_entities(a_groups: &[usize], b_groups: &[usize]) -> Value {
    let groups = |gs: &[usize]| -> Vec<Value> {
        gs.iter()
            .map(|g| uid(("Group", ["g1", "g2"][*g])))
            .collect()
    };
    json!([
        {"uid": uid(("Group", "g1")), "attrs": {"open": true}, "parents": []},
        {"uid": uid(("Group", "g2")), "attrs": {}, "parents": [uid(("Group", "top"))]},
        {"uid": uid(("Group", "top")), "attrs": {}, "parents": []},
        {"uid": uid(("Folder", "f1")), "attrs": {}, "parents": [uid(("Folder", "root"))]},
        {"uid": uid(("User", "a")), "attrs": {"level": 3}, "parents": groups(a_groups)},
        {"uid": uid(("User", "b")), "attrs": {"level": 1, "manager": {"__entity": uid(("User", "a"))}}, "parents": groups(b_groups)},
        {"uid": uid(("Doc", "d1")), "attrs": {"owner": {"__entity": uid(("User", "a"))}}, "parents": [uid(("Folder", "f1"))]},
        {"uid": uid(("Doc", "d2")), "attrs": {"owner": {"__entity": uid(("User", "b"))}}, "parents": [uid(("Folder", "fn"))]},
        {"uid": uid(("Action", "view")), "attrs": {}, "parents": []},
        {"uid": uid(("Action", "edit")), "attrs": {}, "parents": []},
    ])
}

/// What a request may bring: a new user n (groups, level, a manager), the
/// folder fn (inside f1 or not) and a doc dn (in fn or f1, owned by n or a).
#[derive(Debug, Clone)]
struct Extra {
    n: Option<(Vec<usize>, i64, Option<usize>)>,
    folder: Option<bool>,
    doc: Option<(bool, usize)>,
}

fn extra() -> impl Strategy<Value = Extra> {
    (
        prop::option::of((
            prop::collection::vec(0..2usize, 0..3),
            0..4i64,
            prop::option::of(0..2usize),
        )),
        prop::option::of(any::<bool>()),
        prop::option::of((any::<bool>(), 0..2usize)),
    )
        .prop_map(|(n, folder, doc)| Extra { n, folder, doc })
}

impl Extra {
    fn to_json(&self) -> Value {
        let mut v = Vec::new();
        if let Some((groups, level, manager)) = &self.n {
            let parents: Vec<Value> = groups
                .iter()
                .map(|g| uid(("Group", ["g1", "g2"][*g])))
                .collect();
            let mut attrs = json!({"level": level});
            if let Some(m) = manager {
                attrs["manager"] = json!({"__entity": uid(PRINCIPALS[*m])});
            }
            v.push(json!({"uid": uid(("User", "n")), "attrs": attrs, "parents": parents}));
        }
        if let Some(in_f1) = self.folder {
            let parents = if in_f1 {
                vec![uid(("Folder", "f1"))]
            } else {
                vec![]
            };
            v.push(json!({"uid": uid(("Folder", "fn")), "attrs": {}, "parents": parents}));
        }
        if let Some((in_fn, owner)) = self.doc {
            let parent = if in_fn { "fn" } else { "f1" };
            let owner = [("User", "n"), ("User", "a")][owner];
            v.push(
                json!({"uid": uid(("Doc", "dn")), "attrs": {"owner": {"__entity": uid(owner)}},
                          "parents": [uid(("Folder", parent))]}),
            );
        }
        Value::Array(v)
    }
}

/// Scopes with entity literals too: they need no lookup of the literal,
/// only of the request's own principal and resource.
const PRINCIPAL_SCOPES: &[&str] = &[
    "principal",
    "principal in Group::\"top\"",
    "principal in Group::\"g1\"",
    "principal == User::\"n\"",
];
const RESOURCE_SCOPES: &[&str] = &[
    "resource",
    "resource in Folder::\"root\"",
    "resource in Folder::\"fn\"",
];

fn policy() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        prop::sample::select(PRINCIPAL_SCOPES),
        prop::sample::select(&["view", "edit"][..]),
        prop::sample::select(RESOURCE_SCOPES),
        prop::sample::select(CONDITIONS),
    )
        .prop_map(|(permit, p, action, r, c)| {
            let effect = if permit { "permit" } else { "forbid" };
            format!("{effect} ({p}, action == Action::\"{action}\", {r}){c};")
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn request_entities_give_exactly_cedars_answers(
        policies in prop::collection::vec(policy(), 1..24),
        a_groups in prop::collection::vec(0..2usize, 0..3),
        b_groups in prop::collection::vec(0..2usize, 0..3),
        // Requests draw their entities from a pool of three, so that the
        // same entities come back with other principals, resources and
        // contexts (the bundle keeps the store of entities it has seen).
        extras in prop::collection::vec(extra(), 3),
        requests in prop::collection::vec(
            (0..PRINCIPALS.len(), any::<bool>(), 0..RESOURCES.len(), prop::option::of(0..PRINCIPALS.len()), 0..3usize),
            1..16,
        ),
    ) {
        let text = policies.join("\n");
        let entities = bundle_entities(&a_groups, &b_groups);
        let files = [
            ("palisade.toml", b"[bundle]\nname = \"prop\"\nversion = \"1\"\n[cedar]\npolicies = [\"p.cedar\"]\nentities = \"e.json\"\n# Compared with plain Cedar, which skips policies that error.\non_policy_error = \"ignore\"\n".to_vec()),
            ("p.cedar", text.into_bytes()),
            ("e.json", entities.to_string().into_bytes()),
        ];
        let engine = Engine::new().unwrap();
        let bundle = memory_bundle(&engine, files);

        for (p, edit, r, who, extra) in requests {
            let action = if edit { "edit" } else { "view" };
            let context = match who {
                Some(w) => json!({"who": {"__entity": uid(PRINCIPALS[w])}}),
                None => json!({"level": 1}),
            };
            let extra = extras[extra].to_json();
            let body = json!({
                "principal": uid(PRINCIPALS[p]),
                "action": uid(("Action", action)),
                "resource": uid(RESOURCES[r]),
                "context": context,
                "entities": extra,
            });
            let ours = AuthorizationRequest::from_value(&body).unwrap();
            let decision = bundle.authorize(&ours, Now::epoch()).unwrap();

            let all: Entities = bundle.entities().clone().add_entities_from_json_value(extra.clone(), None).unwrap();
            let ctx = Context::from_json_value(context, None).unwrap();
            let req = Request::new(ours.principal.clone(), ours.action.clone(), ours.resource.clone(), ctx, None).unwrap();
            let plain = Authorizer::new().is_authorized(&req, bundle.policy_set(), &all);

            same_as_cedar(&decision, &plain, &body.to_string())?;
        }
    }
}

/// A request entity that redefines a bundle entity is refused with Cedar's
/// own message, as when every entity was copied.
#[test]
fn redefining_a_bundle_entity_is_cedars_error() {
    let engine = Engine::new().unwrap();
    let bundle = memory_bundle(
        &engine,
        [
            ("palisade.toml", b"[bundle]\nname = \"dup\"\nversion = \"1\"\n[cedar]\npolicies = [\"p.cedar\"]\nentities = \"e.json\"\n".to_vec()),
            ("p.cedar", b"permit (principal, action, resource);".to_vec()),
            ("e.json", bundle_entities(&[], &[]).to_string().into_bytes()),
        ],
    );
    let redefined = json!([{"uid": uid(("User", "a")), "attrs": {"level": 0}, "parents": []}]);
    let body = json!({"principal": uid(("User", "a")), "action": uid(("Action", "view")),
                      "resource": uid(("Doc", "d1")), "entities": redefined});
    let err = bundle
        .authorize(
            &AuthorizationRequest::from_value(&body).unwrap(),
            Now::epoch(),
        )
        .unwrap_err();
    let cedar = bundle
        .entities()
        .clone()
        .add_entities_from_json_value(redefined, None)
        .unwrap_err();
    assert!(err.to_string().contains(&cedar.to_string()), "{err}");
    // The same entity, unchanged, is accepted.
    let same = json!([{"uid": uid(("User", "a")), "attrs": {"level": 3}, "parents": []}]);
    let body = json!({"principal": uid(("User", "a")), "action": uid(("Action", "view")),
                      "resource": uid(("Doc", "d1")), "entities": same});
    let d = bundle
        .authorize(
            &AuthorizationRequest::from_value(&body).unwrap(),
            Now::epoch(),
        )
        .unwrap();
    assert!(d.is_allowed(), "{}", d.to_json());
}
