//! Reading CloudFormation values: references between resources and the
//! strings inside intrinsic functions.

use serde_json::Value;

/// The logical id a value points at: `{"Ref": X}`, `{"Fn::GetAtt": [X, A]}`,
/// `{"Fn::GetAtt": "X.A"}`, or a `{"Fn::Sub": "${X.Arn}"}` that is nothing
/// but one reference. Pseudo parameters (`AWS::Region`) are not resources.
pub(crate) fn target(v: &Value) -> Option<&str> {
    let obj = v.as_object()?;
    if obj.len() != 1 {
        return None;
    }
    let id = if let Some(r) = obj.get("Ref") {
        r.as_str()?
    } else if let Some(g) = obj.get("Fn::GetAtt") {
        match g {
            Value::Array(parts) => parts.first()?.as_str()?,
            Value::String(s) => s.split('.').next()?,
            _ => return None,
        }
    } else if let Some(Value::String(s)) = obj.get("Fn::Sub") {
        let inner = s.strip_prefix("${")?.strip_suffix('}')?;
        if inner.contains("${") || inner.contains('}') {
            return None;
        }
        inner.split('.').next()?
    } else {
        return None;
    };
    (!id.starts_with("AWS::")).then_some(id)
}

/// Every logical id a value mentions anywhere: references, attributes and
/// `${X}` in `Fn::Sub` strings.
pub(crate) fn mentions(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, inner) in o {
                match (k.as_str(), inner) {
                    ("Ref", Value::String(s)) => out.push(s.clone()),
                    ("Fn::GetAtt", Value::String(s)) => {
                        out.extend(s.split('.').next().map(str::to_owned));
                    }
                    ("Fn::GetAtt", Value::Array(parts)) => {
                        out.extend(parts.first().and_then(Value::as_str).map(str::to_owned));
                    }
                    ("Fn::Sub", _) => {
                        let text = match inner {
                            Value::String(s) => Some(s.as_str()),
                            Value::Array(a) => a.first().and_then(Value::as_str),
                            _ => None,
                        };
                        if let Some(text) = text {
                            sub_names(text, out);
                        }
                        if let Value::Array(a) = inner {
                            a.iter().skip(1).for_each(|x| mentions(x, out));
                        }
                    }
                    _ => mentions(inner, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| mentions(x, out)),
        _ => {}
    }
}

fn sub_names(text: &str, out: &mut Vec<String>) {
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = rest.get(start + 2..).unwrap_or_default();
        let Some(end) = after.find('}') else { break };
        let name = after.get(..end).unwrap_or_default();
        if !name.starts_with('!') && !name.starts_with("AWS::") {
            out.extend(name.split('.').next().map(str::to_owned));
        }
        rest = after.get(end + 1..).unwrap_or_default();
    }
}

/// The text of a string, or of the template of an `Fn::Sub`.
pub(crate) fn text(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Object(o) if o.len() == 1 => match o.get("Fn::Sub")? {
            Value::String(s) => Some(s),
            Value::Array(a) => a.first()?.as_str(),
            _ => None,
        },
        _ => None,
    }
}

/// A value that may be one item or a list of them, as a list.
pub(crate) fn list(v: Option<&Value>) -> &[Value] {
    match v {
        Some(Value::Array(a)) => a,
        Some(one) => std::slice::from_ref(one),
        None => &[],
    }
}

/// A property, by key, of an object.
pub(crate) fn get<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.as_object()?.get(key)
}

/// True for `true`, `"true"` (any case) and `"Active"`-style switches the
/// caller names.
/// `false` or `"false"` (any case): what people write to turn a setting off.
pub(crate) fn falsy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => !*b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("false"),
        _ => false,
    }
}

pub(crate) fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_of_every_shape() {
        assert_eq!(target(&json!({"Ref": "Role"})), Some("Role"));
        assert_eq!(
            target(&json!({"Fn::GetAtt": ["Role", "Arn"]})),
            Some("Role")
        );
        assert_eq!(target(&json!({"Fn::GetAtt": "Role.Arn"})), Some("Role"));
        assert_eq!(target(&json!({"Fn::Sub": "${Role.Arn}"})), Some("Role"));
        assert_eq!(target(&json!({"Fn::Sub": "arn:${Role}"})), None);
        assert_eq!(target(&json!({"Ref": "AWS::Region"})), None);
        assert_eq!(target(&json!("Role")), None);
        let mut m = Vec::new();
        mentions(
            &json!({"Fn::Sub": ["arn:aws:apigateway:${AWS::Region}::/restapis/${Api}/stages/${Stage.Name}", {"X": {"Ref": "Other"}}]}),
            &mut m,
        );
        assert_eq!(m, ["Api", "Stage", "Other"]);
    }
}
