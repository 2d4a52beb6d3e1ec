//! Authorization requests, in the Cedar CLI's JSON format.

use crate::error::RequestError;
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
        }),
        other => Err(RequestError::EntityUid {
            field,
            value: other.to_string(),
            reason: "expected a string or an object".into(),
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
            other => Err(RequestError::Context(format!(
                "expected a JSON object, found `{other}`"
            ))),
        }
    }

    /// Parses the Cedar CLI's request format: `principal`, `action`,
    /// `resource` (uids), optional `context` (object) and `entities` (array).
    ///
    /// # Errors
    /// [`RequestError`] naming the field that is wrong.
    pub fn from_json(text: &str) -> Result<Self, RequestError> {
        let v: Value = serde_json::from_str(text).map_err(|e| {
            RequestError::Malformed(format!("line {}, column {}: {e}", e.line(), e.column()))
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
                return Err(RequestError::Entities(format!(
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
}
