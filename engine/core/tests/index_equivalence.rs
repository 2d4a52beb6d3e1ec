//! The scope index must give exactly the decision, reasons and errors of
//! plain cedar-policy evaluating every policy.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

#[path = "common/cedar.rs"]
mod cedar;

use cedar::same_as_cedar;
use cedar_policy::{Authorizer, Context, Request};
use palisade_engine::{AuthorizationRequest, Effect, Engine, MemorySource, Now};
use proptest::prelude::*;
use std::collections::BTreeMap;

const USERS: &[&str] = &[r#"User::"a""#, r#"User::"b""#, r#"Admin::"root""#];
const GROUPS: &[&str] = &[r#"Group::"g1""#, r#"Group::"g2""#];
const RESOURCES: &[&str] = &[r#"Doc::"d1""#, r#"Doc::"d2""#, r#"Photo::"p1""#];
const FOLDERS: &[&str] = &[r#"Folder::"f1""#];
const ACTIONS: &[&str] = &[
    r#"Action::"view""#,
    r#"Action::"list""#,
    r#"Action::"edit""#,
    r#"Action::"delete""#,
];
const ACTION_GROUPS: &[&str] = &[r#"Action::"read""#, r#"Action::"write""#];
const CONDITIONS: &[&str] = &[
    "",
    " when { resource.owner == principal }", // errors on Photo (no owner)
    " when { principal.level > 1 }",         // errors on Admin (no level)
    " when { context.level > 2 }",
    " unless { context.tag like \"a*\" }",
    " when { resource has owner && resource.owner in Group::\"g1\" }",
    " when { principal in Group::\"g2\" || context.level == 0 }",
    " when { context.missing == 1 }", // always errors
];

fn principal_scope() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("principal".to_string()),
        prop::sample::select(USERS).prop_map(|u| format!("principal == {u}")),
        prop::sample::select(GROUPS).prop_map(|g| format!("principal in {g}")),
        prop::sample::select(&["User", "Admin"][..]).prop_map(|t| format!("principal is {t}")),
        (
            prop::sample::select(&["User", "Admin"][..]),
            prop::sample::select(GROUPS)
        )
            .prop_map(|(t, g)| format!("principal is {t} in {g}")),
    ]
}

fn action_scope() -> impl Strategy<Value = String> {
    let all: Vec<&str> = ACTIONS.iter().chain(ACTION_GROUPS).copied().collect();
    prop_oneof![
        Just("action".to_string()),
        prop::sample::select(all.clone()).prop_map(|a| format!("action == {a}")),
        prop::sample::subsequence(all, 1..3).prop_map(|v| format!("action in [{}]", v.join(", "))),
    ]
}

fn resource_scope() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("resource".to_string()),
        prop::sample::select(RESOURCES).prop_map(|r| format!("resource == {r}")),
        prop::sample::select(FOLDERS).prop_map(|f| format!("resource in {f}")),
        prop::sample::select(&["Doc", "Photo"][..]).prop_map(|t| format!("resource is {t}")),
        prop::sample::select(&["Doc", "Photo"][..])
            .prop_map(|t| format!("resource is {t} in Folder::\"f1\"")),
    ]
}

fn policy() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        principal_scope(),
        action_scope(),
        resource_scope(),
        prop::sample::select(CONDITIONS),
        any::<bool>(),
    )
        .prop_map(|(permit, p, a, r, c, named)| {
            let effect = if permit { "permit" } else { "forbid" };
            // Some policies carry an @id; the rest get policyN. Ids are
            // made unique by the caller.
            let ann = if named { "@id(\"ID\") " } else { "" };
            format!("{ann}{effect} ({p}, {a}, {r}){c};")
        })
}

fn entities(user_groups: &[Vec<usize>], doc_in_folder: &[bool]) -> String {
    let mut v = Vec::new();
    for g in GROUPS {
        v.push(serde_json::json!({"uid": uid(g), "attrs": {}, "parents": []}));
    }
    v.push(serde_json::json!({"uid": uid(FOLDERS[0]), "attrs": {}, "parents": []}));
    for (i, u) in USERS.iter().enumerate() {
        let parents: Vec<_> = user_groups[i].iter().map(|g| uid(GROUPS[*g])).collect();
        let attrs = if u.starts_with("User") {
            serde_json::json!({"level": i as i64})
        } else {
            serde_json::json!({})
        };
        v.push(serde_json::json!({"uid": uid(u), "attrs": attrs, "parents": parents}));
    }
    for (i, r) in RESOURCES.iter().enumerate() {
        let parents: Vec<_> = if doc_in_folder[i] {
            vec![uid(FOLDERS[0])]
        } else {
            vec![]
        };
        let attrs = if r.starts_with("Doc") {
            serde_json::json!({"owner": {"__entity": uid(USERS[i % 2])}})
        } else {
            serde_json::json!({})
        };
        v.push(serde_json::json!({"uid": uid(r), "attrs": attrs, "parents": parents}));
    }
    // Action groups: read = {view, list}, write = {edit, delete}.
    for (i, a) in ACTIONS.iter().enumerate() {
        let parent = if i < 2 {
            ACTION_GROUPS[0]
        } else {
            ACTION_GROUPS[1]
        };
        v.push(serde_json::json!({"uid": uid(a), "attrs": {}, "parents": [uid(parent)]}));
    }
    for g in ACTION_GROUPS {
        v.push(serde_json::json!({"uid": uid(g), "attrs": {}, "parents": []}));
    }
    serde_json::Value::Array(v).to_string()
}

fn uid(s: &str) -> serde_json::Value {
    let (t, id) = s.split_once("::").unwrap();
    serde_json::json!({"type": t, "id": id.trim_matches('"')})
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn index_gives_exactly_cedars_answers(
        policies in prop::collection::vec(policy(), 0..64),
        user_groups in prop::collection::vec(prop::collection::vec(0..2usize, 0..3), USERS.len()),
        doc_in_folder in prop::collection::vec(any::<bool>(), RESOURCES.len()),
        requests in prop::collection::vec(
            (0..USERS.len(), 0..ACTIONS.len() + ACTION_GROUPS.len(), 0..RESOURCES.len() + FOLDERS.len(), 0..5i64, prop::sample::select(&["abc", "xyz", ""][..])),
            1..24,
        ),
    ) {
        let text: String = policies
            .iter()
            .enumerate()
            .map(|(i, p)| p.replace("@id(\"ID\")", &format!("@id(\"p-{i}\")")))
            .collect::<Vec<_>>()
            .join("\n");
        let mut files = BTreeMap::new();
        files.insert("palisade.toml".to_string(), b"[bundle]\nname = \"prop\"\nversion = \"1\"\n[cedar]\npolicies = [\"p.cedar\"]\nentities = \"e.json\"\n# Compared with plain Cedar, which skips policies that error.\non_policy_error = \"ignore\"\n".to_vec());
        files.insert("p.cedar".to_string(), text.into_bytes());
        files.insert("e.json".to_string(), entities(&user_groups, &doc_in_folder).into_bytes());
        let engine = Engine::new().unwrap();
        let bundle = engine.load_bundle_from(&files.into_iter().fold(MemorySource::new("memory"), |s, (p, b)| s.file(p, b))).unwrap();

        let all_actions: Vec<&str> = ACTIONS.iter().chain(ACTION_GROUPS).copied().collect();
        let all_resources: Vec<&str> = RESOURCES.iter().chain(FOLDERS).copied().collect();
        for (p, a, r, level, tag) in requests {
            let ours = AuthorizationRequest::new(USERS[p], all_actions[a], all_resources[r])
                .unwrap()
                .with_context(serde_json::json!({"level": level, "tag": tag}))
                .unwrap();
            let decision = bundle.authorize(&ours, Now::epoch()).unwrap();

            let ctx = Context::from_json_value(serde_json::json!({"level": level, "tag": tag}), None).unwrap();
            let req = Request::new(ours.principal.clone(), ours.action.clone(), ours.resource.clone(), ctx, None).unwrap();
            let plain = Authorizer::new().is_authorized(&req, bundle.policy_set(), bundle.entities());

            same_as_cedar(&decision, &plain, &format!("{ours:?}"))?;
        }
    }
}

#[test]
fn policies_without_an_id_are_numbered_across_files_like_the_cedar_cli() {
    let mut files = BTreeMap::new();
    files.insert(
        "palisade.toml".to_string(),
        b"[bundle]\nname = \"n\"\nversion = \"1\"\n[cedar]\npolicies = [\"a.cedar\", \"b.cedar\"]\n".to_vec(),
    );
    files.insert("a.cedar".to_string(), b"permit(principal, action, resource);\n@id(\"named\") forbid(principal, action == Action::\"x\", resource);".to_vec());
    files.insert(
        "b.cedar".to_string(),
        b"permit(principal == User::\"a\", action, resource);".to_vec(),
    );
    let engine = Engine::new().unwrap();
    let bundle = engine
        .load_bundle_from(
            &files
                .into_iter()
                .fold(MemorySource::new("memory"), |s, (p, b)| s.file(p, b)),
        )
        .unwrap();
    let ids: Vec<(String, String, usize)> = bundle
        .policies()
        .map(|p| (p.id.clone(), p.file.clone(), p.line))
        .collect();
    assert_eq!(
        ids,
        [
            ("policy0".to_string(), "a.cedar".to_string(), 1),
            ("named".to_string(), "a.cedar".to_string(), 2),
            ("policy2".to_string(), "b.cedar".to_string(), 1),
        ]
    );
}

/// A request's own entities can put its action in a group the bundle does
/// not: then the index must not answer from the slice it cached for the
/// action without that group.
#[test]
fn request_entities_that_regroup_the_action_get_their_own_slice() {
    // More policies than the engine evaluates whole, so the index is used.
    let mut policies = String::from("permit (principal, action, resource);\n");
    for i in 0..40 {
        policies.push_str(&format!(
            "@id(\"other-{i}\") forbid (principal, action == Action::\"other{i}\", resource);\n"
        ));
    }
    policies.push_str(
        "@id(\"no-writes\") forbid (principal, action in Action::\"write\", resource);\n",
    );
    let engine = Engine::new().unwrap();
    let bundle = engine
        .load_bundle_from(
            &MemorySource::new("memory")
                .file(
                    "palisade.toml",
                    b"[bundle]\nname = \"t\"\nversion = \"1.0.0\"\n".as_slice(),
                )
                .file("policies/p.cedar", policies.into_bytes()),
        )
        .unwrap();
    let decide = |json: &str| {
        let request = AuthorizationRequest::from_json(json).unwrap();
        bundle.authorize(&request, Now::epoch()).unwrap()
    };
    let plain = r#"{"principal": "User::\"a\"", "action": "Action::\"delete\"", "resource": "Doc::\"d\"", "context": {}}"#;
    for _ in 0..2 {
        assert_eq!(decide(plain).decision, Effect::Allow);
    }
    let regrouped = r#"{"principal": "User::\"a\"", "action": "Action::\"delete\"", "resource": "Doc::\"d\"", "context": {},
        "entities": [{"uid": {"type": "Action", "id": "delete"}, "attrs": {}, "parents": [{"type": "Action", "id": "write"}]}]}"#;
    let d = decide(regrouped);
    assert_eq!(
        (d.decision, d.reasons.as_slice()),
        (Effect::Deny, ["no-writes".to_owned()].as_slice())
    );
    // Entities that leave the action alone use the cached slice and decide
    // the same as without them.
    let unrelated = r#"{"principal": "User::\"a\"", "action": "Action::\"delete\"", "resource": "Doc::\"d\"", "context": {},
        "entities": [{"uid": {"type": "User", "id": "a"}, "attrs": {}, "parents": []}]}"#;
    assert_eq!(decide(unrelated).decision, Effect::Allow);
}

/// Tests the attribute index understands, and some it must stop at.
const SAME_SCOPE_TESTS: &[&str] = &[
    r#"principal.role == "admin""#,
    r#""admin" == principal.role"#,
    r#"principal.role == "dev""#,
    "principal.role == 3",
    r#"resource.dept == "eng""#,
    r#""ops" == resource.dept"#,
    "principal has role",
    "resource has dept",
    "context has k",
    r#"context.k == "x""#,
    "context.k == 2",
    "context.r.s == 1",
    "principal.flag == true",
    "false == principal.flag",
    r#"resource.owner == User::"a""#,
    r#"principal.info.dept == "eng""#,
    r#"principal.manager == User::"a""#,
    "principal.level == 1",
    r#"principal == User::"b""#,
    r#"resource == Doc::"d2""#,
    r#"principal in Group::"g1""#,
    r#"resource in Folder::"f1""#,
    // `like` and `||`: a policy without a key that holds one is checked
    // whole on every request.
    r#"principal.role like "ad*""#,
    r#"context.k like "x*""#,
    r#"resource.dept like "*n*""#,
    r#"principal.role like "ad\*""#,
    r#"context.k like "*" || principal.role == "dev""#,
    r#"principal.role == "dev" || context.k like "y""#,
    r#"context.r.s == 1 || resource.dept like "o*" || principal.flag == true"#,
    // Not tests: the chain stops here, the rest is Cedar's.
    "resource.owner == principal",
    "principal.level > 1",
    r#"principal.role == "dev" || principal.level > 1"#,
    r#"principal.manager.role == "admin""#,
    "principal.info has dept",
];

/// An attribute value of some type, or none (`null`: left out).
fn attr_value(choices: &'static [&'static str]) -> impl Strategy<Value = serde_json::Value> {
    prop::sample::select(choices).prop_map(|s| serde_json::from_str(s).unwrap())
}

fn same_scope_policy() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        prop::sample::select(
            &[
                "principal",
                "principal",
                "principal is User",
                r#"principal in Group::"g2""#,
                r#"principal == User::"a""#,
            ][..],
        ),
        prop::sample::select(
            &[
                "resource",
                "resource",
                r#"resource in Folder::"f1""#,
                r#"resource == Doc::"d1""#,
            ][..],
        ),
        prop::collection::vec(prop::sample::select(SAME_SCOPE_TESTS), 0..4),
        prop::sample::select(
            &[
                "",
                " && context.level > 1",
                " || context.level == 0",
                r#" when { principal.role == "dev" }"#,
                r#" unless { resource.dept == "ops" }"#,
            ][..],
        ),
        any::<bool>(),
    )
        .prop_map(|(permit, p, r, tests, tail, lead_unless)| {
            let effect = if permit { "permit" } else { "forbid" };
            let mut text = format!("{effect} ({p}, action == Action::\"view\", {r})");
            if lead_unless {
                text.push_str(" unless { context.level == 7 }");
            }
            if !tests.is_empty() || tail.starts_with(" &&") || tail.starts_with(" ||") {
                let body = if tests.is_empty() {
                    "true".to_string()
                } else {
                    tests.join(" && ")
                };
                let (op_tail, clause_tail) =
                    if tail.starts_with(" when") || tail.starts_with(" unless") {
                        ("", tail)
                    } else {
                        (tail, "")
                    };
                text.push_str(&format!(" when {{ {body}{op_tail} }}{clause_tail}"));
            } else {
                text.push_str(tail);
            }
            text.push(';');
            text
        })
}

#[derive(Debug, Clone)]
struct Attrs {
    role: serde_json::Value,
    flag: serde_json::Value,
    info: serde_json::Value,
    level: serde_json::Value,
    manager: serde_json::Value,
    groups: Vec<usize>,
}

fn user_attrs() -> impl Strategy<Value = Attrs> {
    (
        attr_value(&[
            "null",
            r#""admin""#,
            r#""dev""#,
            "3",
            r#"["admin"]"#,
            r#"{"admin": true}"#,
            "true",
        ]),
        attr_value(&["null", "true", "false", r#""true""#]),
        attr_value(&[
            "null",
            r#"{"dept": "eng"}"#,
            r#"{"dept": "ops"}"#,
            r#""eng""#,
            "{}",
            r#"{"dept": 1}"#,
        ]),
        attr_value(&["null", "1", "2", r#""1""#]),
        attr_value(&[
            "null",
            r#"{"__entity": {"type": "User", "id": "a"}}"#,
            r#"{"__entity": {"type": "User", "id": "b"}}"#,
            r#""User::\"a\"""#,
        ]),
        prop::collection::vec(0..2usize, 0..3),
    )
        .prop_map(|(role, flag, info, level, manager, groups)| Attrs {
            role,
            flag,
            info,
            level,
            manager,
            groups,
        })
}

const SAME_SCOPE_USERS: &[&str] = &["a", "b", "c"];
const DOCS: &[&str] = &["d1", "d2", "d3"];

fn same_scope_entities(
    users: &[Attrs],
    docs: &[(serde_json::Value, serde_json::Value, bool)],
) -> String {
    let mut v = Vec::new();
    for g in GROUPS {
        v.push(serde_json::json!({"uid": uid(g), "attrs": {}, "parents": []}));
    }
    v.push(serde_json::json!({"uid": uid(FOLDERS[0]), "attrs": {}, "parents": []}));
    let keep =
        |pairs: Vec<(&str, &serde_json::Value)>| -> serde_json::Map<String, serde_json::Value> {
            pairs
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect()
        };
    for (name, a) in SAME_SCOPE_USERS.iter().zip(users) {
        let attrs = keep(vec![
            ("role", &a.role),
            ("flag", &a.flag),
            ("info", &a.info),
            ("level", &a.level),
            ("manager", &a.manager),
        ]);
        let parents: Vec<_> = a.groups.iter().map(|g| uid(GROUPS[*g])).collect();
        v.push(serde_json::json!({"uid": {"type": "User", "id": name}, "attrs": attrs, "parents": parents}));
    }
    for (name, (dept, owner, in_folder)) in DOCS.iter().zip(docs) {
        let attrs = keep(vec![("dept", dept), ("owner", owner)]);
        let parents = if *in_folder {
            vec![uid(FOLDERS[0])]
        } else {
            vec![]
        };
        v.push(serde_json::json!({"uid": {"type": "Doc", "id": name}, "attrs": attrs, "parents": parents}));
    }
    v.push(
        serde_json::json!({"uid": {"type": "Action", "id": "view"}, "attrs": {}, "parents": []}),
    );
    serde_json::Value::Array(v).to_string()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Policies that share one scope and differ by attribute tests, the
    /// everyday ABAC shape the attribute index serves: every request gets
    /// exactly Cedar's answer, whatever the attributes' presence and types.
    #[test]
    fn attribute_index_gives_exactly_cedars_answers(
        policies in prop::collection::vec(same_scope_policy(), 17..72),
        users in prop::collection::vec(user_attrs(), SAME_SCOPE_USERS.len()),
        docs in prop::collection::vec(
            (
                attr_value(&["null", r#""eng""#, r#""ops""#, "1", r#"["eng"]"#]),
                attr_value(&["null", r#"{"__entity": {"type": "User", "id": "a"}}"#, r#""a""#]),
                any::<bool>(),
            ),
            DOCS.len(),
        ),
        requests in prop::collection::vec(
            (
                0..SAME_SCOPE_USERS.len() + 1,
                0..DOCS.len() + 2,
                prop::sample::select(&[
                    "{}",
                    r#"{"k": "x", "level": 2}"#,
                    r#"{"k": 2, "level": 0}"#,
                    r#"{"k": "y", "r": {"s": 1}, "level": 7}"#,
                    r#"{"r": 5}"#,
                    r#"{"r": {"s": "1"}, "k": ["x"]}"#,
                ][..]),
            ),
            1..24,
        ),
    ) {
        let text: String = policies
            .iter()
            .enumerate()
            .map(|(i, p)| format!("@id(\"p-{i}\") {p}"))
            .collect::<Vec<_>>()
            .join("\n");
        let files = [
            ("palisade.toml", b"[bundle]\nname = \"prop\"\nversion = \"1\"\n[cedar]\npolicies = [\"p.cedar\"]\nentities = \"e.json\"\non_policy_error = \"ignore\"\n".to_vec()),
            ("p.cedar", text.clone().into_bytes()),
            ("e.json", same_scope_entities(&users, &docs).into_bytes()),
        ];
        let engine = Engine::new().unwrap();
        let bundle = cedar::memory_bundle(&engine, files);
        for (p, r, context) in requests {
            let principal = format!("User::\"{}\"", SAME_SCOPE_USERS.get(p).unwrap_or(&"ghost"));
            let resource = match r {
                r if r < DOCS.len() => format!("Doc::\"{}\"", DOCS[r]),
                r if r == DOCS.len() => "Doc::\"ghost\"".to_string(),
                _ => "Folder::\"f1\"".to_string(),
            };
            let context: serde_json::Value = serde_json::from_str(context).unwrap();
            let ours = AuthorizationRequest::new(&principal, r#"Action::"view""#, &resource)
                .unwrap()
                .with_context(context.clone())
                .unwrap();
            let decision = bundle.authorize(&ours, Now::epoch()).unwrap();
            let ctx = Context::from_json_value(context, None).unwrap();
            let req = Request::new(ours.principal.clone(), ours.action.clone(), ours.resource.clone(), ctx, None).unwrap();
            let plain = Authorizer::new().is_authorized(&req, bundle.policy_set(), bundle.entities());
            same_as_cedar(&decision, &plain, &format!("{ours:?}\n{text}"))?;
        }
    }
}
