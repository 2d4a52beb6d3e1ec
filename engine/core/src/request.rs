//! Authorization requests, in the Cedar CLI's JSON format.

use crate::error::{CedarError, RequestError};
use cedar_policy::EntityUid;
use serde_json::{Map, Value};
use std::str::FromStr;

/// One authorization question: may `principal` do `action` on `resource`
/// in this `context`?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// Who asks, e.g. `User::"alice"`.
    pub principal: EntityUid,
    /// What they want to do, e.g. `Action::"view"`.
    pub action: EntityUid,
    /// On what, e.g. `Photo::"vacation.jpg"`.
    pub resource: EntityUid,
    /// The request context (a JSON object, Cedar's JSON format).
    pub context: Map<String, Value>,
    /// Entities known only to this request (Cedar's entities JSON array),
    /// added to the bundle's static entities.
    pub entities: Option<Value>,
}

/// Parses an entity uid given as `Type::"id"` or `{"type": .., "id": ..}`
/// (also `{"__entity": {..}}`).
fn parse_uid(field: &'static str, v: &Value) -> Result<EntityUid, RequestError> {
    match v {
        Value::String(s) => parse_uid_str(field, s),
        Value::Object(_) => EntityUid::from_json(v.clone()).map_err(|e| RequestError::EntityUid {
            field,
            value: v.to_string(),
            reason: e.to_string(),
            source: Some(CedarError::new(e)),
        }),
        other => Err(RequestError::EntityUid {
            field,
            value: other.to_string(),
            reason: "expected a string or an object".into(),
            source: None,
        }),
    }
}

fn parse_uid_str(field: &'static str, s: &str) -> Result<EntityUid, RequestError> {
    EntityUid::from_str(s.trim()).map_err(|e| RequestError::EntityUid {
        field,
        value: s.to_owned(),
        reason: e
            .to_string()
            .lines()
            .next()
            .unwrap_or("does not parse")
            .to_owned(),
        source: Some(CedarError::new(e)),
    })
}

impl AuthorizationRequest {
    /// A request with an empty context.
    ///
    /// # Errors
    /// [`RequestError::EntityUid`] when a uid does not parse.
    ///
    /// # Examples
    /// ```
    /// let r = palisade_engine::AuthorizationRequest::new(r#"User::"alice""#, r#"Action::"view""#, r#"Photo::"p1""#)?;
    /// assert_eq!(r.principal.to_string(), r#"User::"alice""#);
    /// # Ok::<(), palisade_engine::RequestError>(())
    /// ```
    pub fn new(principal: &str, action: &str, resource: &str) -> Result<Self, RequestError> {
        Ok(AuthorizationRequest {
            principal: parse_uid_str("principal", principal)?,
            action: parse_uid_str("action", action)?,
            resource: parse_uid_str("resource", resource)?,
            context: Map::new(),
            entities: None,
        })
    }

    /// Sets the context.
    ///
    /// # Errors
    /// [`RequestError::Context`] when `context` is not a JSON object.
    pub fn with_context(mut self, context: Value) -> Result<Self, RequestError> {
        match context {
            Value::Object(m) => {
                self.context = m;
                Ok(self)
            }
            Value::Null => Ok(self),
            other => Err(RequestError::context(format!(
                "expected a JSON object, found `{other}`"
            ))),
        }
    }

    /// Parses the Cedar CLI's request format: `principal`, `action`,
    /// `resource` (uids), optional `context` (object) and `entities` (array).
    /// An object that names a key twice is refused ([`crate::json::parse`]).
    ///
    /// # Errors
    /// [`RequestError`] naming the field that is wrong.
    pub fn from_json(text: &str) -> Result<Self, RequestError> {
        let v: Value = crate::json::parse(text).map_err(|e| {
            RequestError::Malformed(format!(
                "line {}, column {}: {}",
                e.line(),
                e.column(),
                crate::json::message(&e)
            ))
        })?;
        Self::from_owned(v)
    }

    /// Like [`AuthorizationRequest::from_json`], from a parsed value.
    ///
    /// # Errors
    /// [`RequestError`] naming the field that is wrong.
    pub fn from_value(v: &Value) -> Result<Self, RequestError> {
        Self::from_owned(v.clone())
    }

    fn from_owned(v: Value) -> Result<Self, RequestError> {
        let Value::Object(mut obj) = v else {
            return Err(RequestError::Malformed(
                "expected a JSON object with principal, action and resource".into(),
            ));
        };
        for key in obj.keys() {
            if !matches!(
                key.as_str(),
                "principal" | "action" | "resource" | "context" | "entities"
            ) {
                return Err(RequestError::Malformed(format!(
                    "unknown field `{key}`; expected principal, action, resource, context, entities"
                )));
            }
        }
        let get = |k: &'static str| {
            obj.get(k)
                .ok_or_else(|| RequestError::Malformed(format!("missing field `{k}`")))
        };
        let mut r = AuthorizationRequest {
            principal: parse_uid("principal", get("principal")?)?,
            action: parse_uid("action", get("action")?)?,
            resource: parse_uid("resource", get("resource")?)?,
            context: Map::new(),
            entities: None,
        };
        if let Some(c) = obj.remove("context") {
            r = r.with_context(c)?;
        }
        match obj.remove("entities") {
            None | Some(Value::Null) => {}
            Some(e @ Value::Array(_)) => r.entities = Some(e),
            Some(other) => {
                return Err(RequestError::entities(format!(
                    "expected a JSON array, found `{other}`"
                )));
            }
        }
        Ok(r)
    }

    /// [`AuthorizationRequest::to_json`] as text, without copying the
    /// context: what plugins are given.
    pub(crate) fn to_json_text(&self) -> String {
        #[derive(serde::Serialize)]
        struct View<'a> {
            principal: String,
            action: String,
            resource: String,
            context: &'a Map<String, Value>,
        }
        let view = View {
            principal: self.principal.to_string(),
            action: self.action.to_string(),
            resource: self.resource.to_string(),
            context: &self.context,
        };
        serde_json::to_string(&view).unwrap_or_default()
    }

    /// The request as plugins see it: uids as `Type::"id"` strings.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "principal".into(),
            Value::String(self.principal.to_string()),
        );
        m.insert("action".into(), Value::String(self.action.to_string()));
        m.insert("resource".into(), Value::String(self.resource.to_string()));
        m.insert("context".into(), Value::Object(self.context.clone()));
        Value::Object(m)
    }
}

/// Most entities one request may bring.
pub const MAX_REQUEST_ENTITIES: usize = 1_000;
/// Most parents one request entity may name.
pub const MAX_ENTITY_PARENTS: usize = 64;
/// Longest chain of parents among a request's own entities.
pub const MAX_HIERARCHY_DEPTH: usize = 32;
/// Most (entity, ancestor) pairs among a request's own entities: what
/// Cedar's transitive closure has to build, and what its cost grows with.
pub const MAX_ANCESTOR_PAIRS: usize = 4_096;

/// Refuses request entities whose hierarchy would make Cedar's transitive
/// closure expensive: too many entities, too many parents for one, a
/// parent chain deeper than [`MAX_HIERARCHY_DEPTH`], more than
/// [`MAX_ANCESTOR_PAIRS`] entity-ancestor pairs, or a cycle. A 1,000-long
/// parent chain took about 25 s of CPU before these bounds.
///
/// The walk is iterative, and the ancestor sets are bitsets over at most
/// [`MAX_REQUEST_ENTITIES`] entities, so this check cannot be made slow
/// either. Entities that are not in Cedar's JSON
/// shape are left for Cedar's parser to refuse with its own message.
pub(crate) fn check_entity_bounds(entities: &Value) -> Result<(), String> {
    let Some(list) = entities.as_array() else {
        return Ok(());
    };
    if list.len() > MAX_REQUEST_ENTITIES {
        return Err(format!(
            "{} entities; a request may bring at most {MAX_REQUEST_ENTITIES}",
            list.len()
        ));
    }
    fn key(v: &Value) -> Option<(&str, &str)> {
        let o = v.as_object()?;
        let o = o.get("__entity").and_then(Value::as_object).unwrap_or(o);
        Some((o.get("type")?.as_str()?, o.get("id")?.as_str()?))
    }
    let mut index = std::collections::HashMap::with_capacity(list.len());
    for (i, e) in list.iter().enumerate() {
        if let Some(uid) = e.get("uid").and_then(key) {
            index.insert(uid, i);
        }
    }
    let mut parents: Vec<Vec<usize>> = Vec::with_capacity(list.len());
    for e in list {
        let named = e.get("parents").and_then(Value::as_array);
        let n = named.map_or(0, Vec::len);
        if n > MAX_ENTITY_PARENTS {
            let who = e.get("uid").and_then(key).map_or_else(
                || "an entity".to_owned(),
                |(t, id)| format!("`{t}::{id:?}`"),
            );
            return Err(format!(
                "{who} names {n} parents; an entity may name at most {MAX_ENTITY_PARENTS}"
            ));
        }
        parents.push(
            named
                .into_iter()
                .flatten()
                .filter_map(|p| key(p).and_then(|k| index.get(&k).copied()))
                .collect(),
        );
    }
    // Longest parent chain, by an iterative depth-first walk: 0 unseen,
    // 1 on the current path, 2 done (with its depth).
    let mut state = vec![0u8; list.len()];
    let mut depth = vec![0usize; list.len()];
    let words = list.len().div_ceil(64);
    let mut ancestors: Vec<Vec<u64>> = vec![Vec::new(); list.len()];
    let mut pairs = 0usize;
    for start in 0..list.len() {
        if state.get(start) != Some(&0) {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(s) = state.get_mut(node) {
                *s = 1;
            }
            let kids = parents.get(node).map_or(&[][..], Vec::as_slice);
            if let Some(&p) = kids.get(*next) {
                *next += 1;
                match state.get(p) {
                    Some(0) => stack.push((p, 0)),
                    Some(1) => {
                        let who = list
                            .get(p)
                            .and_then(|e| e.get("uid"))
                            .and_then(key)
                            .map_or_else(String::new, |(t, id)| format!(" through `{t}::{id:?}`"));
                        return Err(format!("the entities' parents form a cycle{who}"));
                    }
                    _ => {}
                }
                continue;
            }
            let d = 1 + kids
                .iter()
                .map(|&p| depth.get(p).copied().unwrap_or(0))
                .max()
                .unwrap_or(0);
            if d > MAX_HIERARCHY_DEPTH {
                return Err(format!(
                    "a chain of {d} parents among the request's entities; at most {MAX_HIERARCHY_DEPTH} are allowed"
                ));
            }
            // Every parent is done: this entity's ancestors are theirs
            // and them.
            let mut mine = vec![0u64; words];
            for &p in kids {
                if let Some(w) = mine.get_mut(p / 64) {
                    *w |= 1 << (p % 64);
                }
                for (w, theirs) in mine.iter_mut().zip(ancestors.get(p).into_iter().flatten()) {
                    *w |= theirs;
                }
            }
            pairs += mine.iter().map(|w| w.count_ones() as usize).sum::<usize>();
            if pairs > MAX_ANCESTOR_PAIRS {
                return Err(format!(
                    "the entities' hierarchy has more than {MAX_ANCESTOR_PAIRS} entity-ancestor pairs; flatten it or send fewer entities"
                ));
            }
            if let (Some(slot), Some(s), Some(a)) = (
                depth.get_mut(node),
                state.get_mut(node),
                ancestors.get_mut(node),
            ) {
                *slot = d;
                *s = 2;
                *a = mine;
            }
            stack.pop();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_uid_forms_parse() {
        let r = AuthorizationRequest::from_json(
            r#"{"principal": "User::\"a\"", "action": {"type": "Action", "id": "view"}, "resource": "Photo::\"p\"", "context": {"x": 1}}"#,
        )
        .unwrap();
        assert_eq!(r.action.to_string(), r#"Action::"view""#);
        assert_eq!(r.context.get("x"), Some(&Value::from(1)));
    }

    #[test]
    fn plugins_get_the_request_as_to_json_prints_it() {
        let r = AuthorizationRequest::from_json(
            r#"{"context": {"z": [1, {"b": "x\"y", "a": null}], "a": true}, "resource": "Photo::\"p\"", "action": "Action::\"view\"", "principal": "User::\"ü\""}"#,
        )
        .unwrap();
        assert_eq!(r.to_json_text(), r.to_json().to_string());
        assert!(
            r.to_json_text()
                .starts_with(r#"{"principal":"User::\"ü\"","action""#)
        );
    }

    #[test]
    fn errors_name_the_field() {
        let e = AuthorizationRequest::from_json(
            r#"{"principal": "alice", "action": "Action::\"v\"", "resource": "R::\"r\""}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("invalid principal `alice`"), "{e}");
        let e = AuthorizationRequest::from_json(r#"{"action": "Action::\"v\""}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `principal`"), "{e}");
        let e = AuthorizationRequest::from_json(r#"{"principal": "U::\"a\"", "action": "A::\"v\"", "resource": "R::\"r\"", "contxt": {}}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `contxt`"), "{e}");
        assert!(AuthorizationRequest::from_json("{").is_err());
    }

    fn chain(n: usize) -> Value {
        let uid = |i: usize| serde_json::json!({"type": "Group", "id": format!("g{i}")});
        Value::Array(
            (0..n)
                .map(|i| {
                    let parents: Vec<Value> = if i + 1 < n { vec![uid(i + 1)] } else { vec![] };
                    serde_json::json!({"uid": uid(i), "attrs": {}, "parents": parents})
                })
                .collect(),
        )
    }

    #[test]
    fn entity_hierarchies_are_bounded() {
        assert_eq!(check_entity_bounds(&chain(MAX_HIERARCHY_DEPTH)), Ok(()));
        let e = check_entity_bounds(&chain(MAX_HIERARCHY_DEPTH + 1)).unwrap_err();
        assert!(e.contains("chain of 33 parents"), "{e}");
        // The 1,000-long chain that took 25 s is refused at once.
        let started = std::time::Instant::now();
        assert!(check_entity_bounds(&chain(1_000)).is_err());
        assert!(
            check_entity_bounds(&chain(1_001))
                .unwrap_err()
                .contains("at most 1000")
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // A cycle.
        let mut cyclic = chain(3);
        cyclic[2]["parents"] = serde_json::json!([{"type": "Group", "id": "g0"}]);
        assert!(check_entity_bounds(&cyclic).unwrap_err().contains("cycle"));
        // Too many parents for one entity.
        let many: Vec<Value> = (0..65)
            .map(|i| serde_json::json!({"type": "G", "id": format!("{i}")}))
            .collect();
        let wide =
            serde_json::json!([{"uid": {"type": "U", "id": "u"}, "attrs": {}, "parents": many}]);
        assert!(
            check_entity_bounds(&wide)
                .unwrap_err()
                .contains("65 parents")
        );
        // Dense layers: every entity a child of every entity above.
        let dense = |layers: usize, width: usize| {
            let uid =
                |l: usize, i: usize| serde_json::json!({"type": "G", "id": format!("{l}-{i}")});
            let mut out = Vec::new();
            for l in 0..layers {
                for i in 0..width {
                    let parents: Vec<Value> = if l + 1 < layers {
                        (0..width).map(|j| uid(l + 1, j)).collect()
                    } else {
                        vec![]
                    };
                    out.push(
                        serde_json::json!({"uid": uid(l, i), "attrs": {}, "parents": parents}),
                    );
                }
            }
            Value::Array(out)
        };
        assert!(
            check_entity_bounds(&dense(31, 32))
                .unwrap_err()
                .contains("entity-ancestor pairs")
        );
        assert_eq!(check_entity_bounds(&dense(5, 20)), Ok(())); // 4,000 pairs
        // A wide, shallow directory is fine.
        let flat: Vec<Value> = (0..1_000)
            .map(|i| serde_json::json!({"uid": {"type": "U", "id": format!("{i}")}, "attrs": {}, "parents": [{"type": "G", "id": "all"}]}))
            .collect();
        assert_eq!(check_entity_bounds(&Value::Array(flat)), Ok(()));
    }
}
