//! Cedar policies of a bundle: loading with ids and annotations, and the
//! scope index that lets a request evaluate only the policies that can match.
//!
//! Cedar evaluates every policy of a set on every request. A policy whose
//! scope (`principal`, `action`, `resource` constraints) does not match a
//! request evaluates to "not applicable" without touching its conditions, and
//! scope checks cannot fail. So evaluating only the policies whose scope can
//! match gives exactly the same decision, reasons and errors; the index finds
//! that slice from the request's action (and its ancestors), principal type
//! and resource type.

use crate::attr_index::{Chain, Slice};
use crate::cedar_core::{Prepared, Val, authorize};
use crate::decision::{Category, Severity};
use crate::error::Problem;
use cedar_policy::{
    ActionConstraint, Entities, EntityId, EntityTypeName, EntityUid, Policy, PolicyId, PolicySet,
    PrincipalConstraint, Request, ResourceConstraint, Response, RestrictedExpression,
};
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Arc, RwLock};

/// JSON as a Cedar value, the way facts and resource properties become
/// Cedar values: nulls are dropped, numbers that are not 64-bit integers
/// become strings (Cedar has no floats). `None` for a null.
pub fn json_to_cedar(v: &serde_json::Value) -> Option<RestrictedExpression> {
    json_to_value(v).map(Val::into_expression)
}

/// [`json_to_cedar`]'s value, for a context built with [`crate::values::context`].
pub fn json_to_value(v: &serde_json::Value) -> Option<Val> {
    convert(v, Json::Lenient)
}

/// A request's JSON record (a context) as Cedar values, when Cedar's own
/// JSON parser would read it the same way: no nulls, no numbers that are
/// not 64-bit integers, no `__entity`/`__extn` escapes. `None` otherwise,
/// and the caller gives the record to Cedar's parser, which decides (and
/// explains its errors).
pub(crate) fn plain_record(
    o: &serde_json::Map<String, serde_json::Value>,
) -> Option<Vec<(String, Val)>> {
    fields(o, Json::Exact)
}

/// The two ways JSON becomes Cedar values; one converter does both, so
/// they cannot drift apart except where this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Json {
    /// Facts and properties: what Cedar cannot hold is dropped (nulls)
    /// or kept as text (non-integers).
    Lenient,
    /// Request data: what Cedar's parser reads otherwise is refused.
    Exact,
}

fn convert(v: &serde_json::Value, mode: Json) -> Option<Val> {
    use serde_json::Value;
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => Val::bool(*b),
        Value::Number(n) => match (n.as_i64(), mode) {
            (Some(i), _) => Val::long(i),
            (None, Json::Lenient) => Val::string(&n.to_string()),
            (None, Json::Exact) => return None,
        },
        Value::String(s) => Val::string(s),
        Value::Array(a) => Val::set(match mode {
            Json::Lenient => a.iter().filter_map(|v| convert(v, mode)).collect(),
            Json::Exact => a
                .iter()
                .map(|v| convert(v, mode))
                .collect::<Option<Vec<_>>>()?,
        }),
        // A JSON object's keys are distinct (`json::parse` refuses
        // duplicates), as a Cedar record's must be.
        Value::Object(o) => Val::record(fields(o, mode)?),
    })
}

fn fields(
    o: &serde_json::Map<String, serde_json::Value>,
    mode: Json,
) -> Option<Vec<(String, Val)>> {
    match mode {
        Json::Lenient => Some(
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), convert(v, mode)?)))
                .collect(),
        ),
        Json::Exact => o
            .iter()
            .map(|(k, v)| {
                if k.starts_with("__") {
                    return None; // an escape: Cedar's parser knows them
                }
                Some((k.clone(), convert(v, mode)?))
            })
            .collect(),
    }
}

/// An entity type the engine names itself (`Action`, `Deployer`,
/// `Resource`).
#[expect(
    clippy::expect_used,
    reason = "constant names, each checked by a unit test"
)]
pub fn known_type(name: &'static str) -> EntityTypeName {
    EntityTypeName::from_str(name).expect("a valid Cedar type name")
}

/// `Type::"id"` for a type the engine names itself.
pub fn uid(type_name: &'static str, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(known_type(type_name), EntityId::new(id))
}

/// What a bundle knows about one policy beyond Cedar's view of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyInfo {
    /// The policy id: its `@id` annotation, or Cedar's `policyN`.
    pub id: String,
    /// `permit` or `forbid`.
    pub effect: &'static str,
    /// File the policy is in, relative to the bundle.
    pub file: String,
    /// 1-based line where the policy starts.
    pub line: usize,
    /// `@category`, default `other`.
    pub category: Category,
    /// `@severity`, default `high`.
    pub severity: Severity,
    /// `@message`, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `@remediation`, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
    /// `@control`, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
}

/// A policy source file, as read.
pub(crate) struct PolicyFile {
    pub name: String,
    pub text: String,
}

/// Parses policy files into one set. Policies take their `@id` annotation as
/// id, or else Cedar's `policyN` numbering continued across files in order.
pub(crate) fn parse_policies(
    files: &[PolicyFile],
    problems: &mut Vec<Problem>,
) -> (PolicySet, BTreeMap<String, PolicyInfo>) {
    let mut set = PolicySet::new();
    let mut infos: BTreeMap<String, PolicyInfo> = BTreeMap::new();
    let mut counter = 0usize;
    for file in files {
        let parsed: PolicySet = match file.text.parse() {
            Ok(p) => p,
            Err(errs) => {
                let errs: cedar_policy::ParseErrors = errs;
                for e in errs.iter() {
                    problems.push(diagnostic_problem(&file.name, &file.text, e));
                }
                continue;
            }
        };
        if parsed.templates().next().is_some() {
            problems.push(Problem::file(
                &file.name,
                "policy templates are not supported in bundles yet; write static policies",
            ));
        }
        let mut search_from = 0usize;
        // `PolicySet::from_str` names policies policy0, policy1, ... in order.
        let count = parsed.policies().count();
        for n in 0..count {
            let Some(policy) = parsed.policy(&PolicyId::new(format!("policy{n}"))) else {
                continue;
            };
            let offset = policy
                .to_cedar()
                .and_then(|src| {
                    file.text
                        .get(search_from..)?
                        .find(src.as_str())
                        .map(|i| (i, src.len()))
                })
                .map(|(i, len)| {
                    let start = search_from + i;
                    search_from = start + len;
                    start
                })
                .unwrap_or(search_from);
            let (line, _) = crate::error::line_col(&file.text, offset);
            let id = policy
                .annotation("id")
                .map(str::to_owned)
                .unwrap_or_else(|| format!("policy{counter}"));
            counter += 1;
            let at = |msg: String| Problem::at_line(&file.name, &file.text, line, msg);
            // Ids name findings, waivers, reports and test files, and Cedar
            // gives some characters back escaped: a quote in an id would
            // make the policy deny without a finding to say so.
            if !crate::plugin::is_rule_id(&id) {
                problems.push(at(format!(
                    "policy id `{}` may use only letters, digits and . _ - : / (at most 128)",
                    id.escape_debug()
                )));
                continue;
            }
            if let Some(prev) = infos.get(&id) {
                problems.push(at(format!(
                    "policy id `{id}` is already used by the policy at {}:{}",
                    prev.file, prev.line
                )));
                continue;
            }
            let category = match policy.annotation("category") {
                None => Category::Other,
                Some(c) => match c.parse() {
                    Ok(c) => c,
                    Err(e) => {
                        problems.push(at(format!("policy `{id}`: @category: {e}")));
                        Category::Other
                    }
                },
            };
            let severity = match policy.annotation("severity") {
                None => Severity::High,
                Some(s) => match s.parse() {
                    Ok(s) => s,
                    Err(e) => {
                        problems.push(at(format!("policy `{id}`: @severity: {e}")));
                        Severity::High
                    }
                },
            };
            let info = PolicyInfo {
                id: id.clone(),
                effect: match policy.effect() {
                    cedar_policy::Effect::Permit => "permit",
                    cedar_policy::Effect::Forbid => "forbid",
                },
                file: file.name.clone(),
                line,
                category,
                severity,
                message: policy.annotation("message").map(str::to_owned),
                remediation: policy.annotation("remediation").map(str::to_owned),
                control: policy.annotation("control").map(str::to_owned),
            };
            match set.add(policy.new_id(PolicyId::new(&id))) {
                Ok(()) => {
                    infos.insert(id, info);
                }
                Err(e) => problems.push(at(format!("policy `{id}`: {e}"))),
            }
        }
    }
    (set, infos)
}

/// Turns a Cedar diagnostic about `text` into a located problem.
pub(crate) fn diagnostic_problem(file: &str, text: &str, d: &dyn miette::Diagnostic) -> Problem {
    let span = d
        .labels()
        .and_then(|mut l| l.next())
        .map(|l| l.offset()..l.offset() + l.len());
    let mut message = d.to_string();
    if let Some(label) = d
        .labels()
        .and_then(|mut l| l.next())
        .and_then(|l| l.label().map(str::to_owned))
        && !message.contains(&label)
    {
        message = format!("{message}: {label}");
    }
    let mut p = Problem::at(file, text, span, message);
    if let Some(help) = d.help() {
        p = p.with_help(help.to_string());
    }
    p
}

/// Where a policy can apply, per scope slot.
#[derive(Debug, Clone)]
struct Scope {
    /// `None`: any action. Otherwise the actions it names (equal or `in`).
    actions: Option<Vec<EntityUid>>,
    /// `None`: any principal type.
    principal_type: Option<EntityTypeName>,
    /// `None`: any resource type.
    resource_type: Option<EntityTypeName>,
}

impl Scope {
    fn of(policy: &Policy) -> Scope {
        let actions = match policy.action_constraint() {
            ActionConstraint::Any => None,
            ActionConstraint::Eq(a) => Some(vec![a]),
            ActionConstraint::In(v) => Some(v),
        };
        let principal_type = match policy.principal_constraint() {
            PrincipalConstraint::Any | PrincipalConstraint::In(_) => None,
            PrincipalConstraint::Eq(uid) => Some(uid.type_name().clone()),
            PrincipalConstraint::Is(t) | PrincipalConstraint::IsIn(t, _) => Some(t),
        };
        let resource_type = match policy.resource_constraint() {
            ResourceConstraint::Any | ResourceConstraint::In(_) => None,
            ResourceConstraint::Eq(uid) => Some(uid.type_name().clone()),
            ResourceConstraint::Is(t) | ResourceConstraint::IsIn(t, _) => Some(t),
        };
        Scope {
            actions,
            principal_type,
            resource_type,
        }
    }

    fn admits(&self, principal: &EntityTypeName, resource: &EntityTypeName) -> bool {
        self.principal_type.as_ref().is_none_or(|t| t == principal)
            && self.resource_type.as_ref().is_none_or(|t| t == resource)
    }
}

/// Cached slices by action, then principal type, then resource type (nested
/// so that a lookup borrows the request's names instead of cloning them).
type SliceCache = HashMap<EntityUid, HashMap<EntityTypeName, HashMap<EntityTypeName, Arc<Slice>>>>;

/// The scope index of a policy set, with an attribute index in each slice.
pub(crate) struct PolicyIndex {
    policies: Vec<Prepared>,
    scopes: Vec<Scope>,
    chains: Vec<Chain>,
    by_action: HashMap<EntityUid, Vec<usize>>,
    any_action: Vec<usize>,
    /// Small sets are evaluated whole: slicing them saves nothing.
    whole: bool,
    slices: RwLock<(usize, SliceCache)>,
}

/// Slices are cached per (action, principal type, resource type); past this
/// many distinct keys new slices are built per request instead.
const MAX_CACHED_SLICES: usize = 4096;

/// Up to this many policies, a request evaluates the whole set.
const SLICE_FROM: usize = 16;

/// A slice indexes attributes from this many policies with a key test.
const INDEX_FROM: usize = 8;

impl PolicyIndex {
    pub(crate) fn new(set: &PolicySet) -> PolicyIndex {
        let mut by_action: HashMap<EntityUid, Vec<usize>> = HashMap::new();
        let mut any_action = Vec::new();
        let policies: Vec<Policy> = set.policies().cloned().collect();
        let scopes: Vec<Scope> = policies.iter().map(Scope::of).collect();
        for (i, scope) in scopes.iter().enumerate() {
            match &scope.actions {
                None => any_action.push(i),
                Some(actions) => {
                    for a in actions {
                        let list = by_action.entry(a.clone()).or_default();
                        if list.last() != Some(&i) {
                            list.push(i);
                        }
                    }
                }
            }
        }
        let whole = policies.len() <= SLICE_FROM;
        let chains = if whole {
            Vec::new()
        } else {
            policies.iter().map(Chain::of).collect()
        };
        PolicyIndex {
            policies: policies.iter().map(Prepared::new).collect(),
            scopes,
            chains,
            by_action,
            any_action,
            whole,
            slices: RwLock::new((0, HashMap::new())),
        }
    }

    /// Cedar's answer to `request`, from only the policies that can apply:
    /// those whose scope can match its action (with the action's groups in
    /// `entities`) and its principal and resource types, and of those, the
    /// ones the attribute index cannot rule out. `cacheable`: whether
    /// `entities` give the action the groups the bundle gives it.
    pub(crate) fn is_authorized(
        &self,
        request: &Request,
        entities: &Entities,
        [principal, action, resource]: [&EntityUid; 3],
        cacheable: bool,
    ) -> Response {
        if self.whole {
            return authorize(request, entities, &self.policies);
        }
        let (principal, resource) = (principal.type_name(), resource.type_name());
        let cached = cacheable
            .then(|| {
                let cache = self.slices.read().ok()?;
                cache
                    .1
                    .get(action)?
                    .get(principal)?
                    .get(resource)
                    .map(Arc::clone)
            })
            .flatten();
        let slice = cached.unwrap_or_else(|| {
            let slice = Arc::new(self.slice(action, principal, resource, entities, cacheable));
            if cacheable
                && let Ok(mut cache) = self.slices.write()
                && cache.0 < MAX_CACHED_SLICES
            {
                cache.0 += 1;
                cache
                    .1
                    .entry(action.clone())
                    .or_default()
                    .entry(principal.clone())
                    .or_default()
                    .insert(resource.clone(), Arc::clone(&slice));
            }
            slice
        });
        slice.is_authorized(request, entities, &self.policies)
    }

    /// The policies whose scope can match a request with this action and
    /// these principal and resource types, in the bundle's order.
    fn slice(
        &self,
        action: &EntityUid,
        principal: &EntityTypeName,
        resource: &EntityTypeName,
        entities: &Entities,
        cacheable: bool,
    ) -> Slice {
        let mut picked: Vec<usize> = self.any_action.clone();
        if let Some(v) = self.by_action.get(action) {
            picked.extend_from_slice(v);
        }
        if let Some(ancestors) = entities.ancestors(action) {
            for a in ancestors {
                if let Some(v) = self.by_action.get(a) {
                    picked.extend_from_slice(v);
                }
            }
        }
        picked.sort_unstable();
        picked.dedup();
        // A slice made for one request (its entities regroup the action)
        // is used once: indexing it would cost more than it saves.
        let index_from = if cacheable { INDEX_FROM } else { usize::MAX };
        Slice::new(
            picked.into_iter().filter_map(|i| {
                let scope = self.scopes.get(i)?;
                scope
                    .admits(principal, resource)
                    .then_some((i, self.chains.get(i)?))
            }),
            index_from,
        )
    }

    pub(crate) fn len(&self) -> usize {
        self.policies.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_keep_what_requests_refuse_and_say_how() {
        let v = serde_json::json!({"n": 1.5, "big": 18446744073709551615u64, "gone": null, "list": [1, null, "a"], "__x": 1});
        let obj = v.as_object().unwrap();
        // A request context: anything Cedar's parser reads otherwise goes to it.
        assert!(plain_record(obj).is_none());
        let plain = serde_json::json!({"a": [1, "b", true], "r": {"k": -2}});
        assert_eq!(
            plain_record(plain.as_object().unwrap()).map(|f| f.len()),
            Some(2)
        );
        // Facts: nulls dropped, non-integers as text, escapes kept as keys.
        let e = json_to_cedar(&v).unwrap();
        let entity = cedar_policy::Entity::new(
            uid("Fact", "f"),
            [("v".to_owned(), e)].into_iter().collect(),
            std::collections::HashSet::new(),
        )
        .unwrap();
        let back = &entity.to_json_value().unwrap()["attrs"]["v"];
        assert_eq!(
            *back,
            serde_json::json!({"n": "1.5", "big": "18446744073709551615", "list": [1, "a"], "__x": 1})
        );
    }

    #[test]
    fn the_engines_own_names_are_valid() {
        for t in ["Action", "Deployer", "Resource"] {
            assert_eq!(known_type(t).to_string(), t);
        }
        assert_eq!(uid("Action", "deploy").to_string(), r#"Action::"deploy""#);
    }

    #[test]
    fn json_becomes_cedar_values() {
        let v = serde_json::json!({"a": 1, "b": [true, "x"], "c": null, "d": 1.5});
        let attrs = std::collections::HashMap::from([("v".to_owned(), json_to_cedar(&v).unwrap())]);
        let entity =
            cedar_policy::Entity::new(uid("Resource", "r"), attrs, Default::default()).unwrap();
        assert_eq!(
            entity.to_json_value().unwrap()["attrs"]["v"],
            serde_json::json!({"a": 1, "b": [true, "x"], "d": "1.5"})
        );
    }
}
