//! Serverless Framework variables that the file itself answers:
//! `${self:custom.runtime}`, `${self:provider.stage}`, with a fallback
//! (`${self:custom.tracing, true}`), whole or inside a string
//! (`orders-${self:provider.stage}`). What comes from outside the file
//! (`${opt:...}`, `${env:...}`, `${ssm:...}`, `${file(...)}`) stays as
//! written, and so does a fallback that names one.
//!
//! The input is hostile: references may loop or fan out (a list of ten
//! references to a list of ten references...), so resolution is bounded in
//! depth and in the nodes it may add; past the bound, values stay as
//! written, which the rules treat as unknown.

use serde_json::Value;
use std::borrow::Cow;

/// How deep a reference may lead through other references.
const MAX_DEPTH: usize = 8;

/// The most nodes resolution may copy into the document, beyond its size.
const MAX_ADDED_NODES: usize = 100_000;

/// `doc` with its `${self:...}` variables replaced where the file answers
/// them; borrowed when it has none (most files), so nothing is copied.
pub(crate) fn resolve(doc: &Value) -> Cow<'_, Value> {
    if !mentions_self(doc) {
        return Cow::Borrowed(doc);
    }
    let mut budget = MAX_ADDED_NODES;
    let mut out = doc.clone();
    walk(&mut out, doc, &mut budget);
    Cow::Owned(out)
}

fn mentions_self(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("${self:"),
        Value::Array(items) => items.iter().any(mentions_self),
        Value::Object(map) => map.values().any(mentions_self),
        _ => false,
    }
}

fn walk(v: &mut Value, doc: &Value, budget: &mut usize) {
    match v {
        Value::String(s) if s.contains("${self:") => {
            if let Some(resolved) = string(s, doc, 0, budget) {
                *v = resolved;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|x| walk(x, doc, budget)),
        Value::Object(map) => map.values_mut().for_each(|x| walk(x, doc, budget)),
        _ => {}
    }
}

/// A string with variables: the value of a lone `${self:...}` (of any
/// type), or the string with each answerable variable replaced by its
/// scalar value. `None` when nothing could be resolved.
fn string(s: &str, doc: &Value, depth: usize, budget: &mut usize) -> Option<Value> {
    if depth >= MAX_DEPTH {
        return None;
    }
    let t = s.trim();
    if let Some(inner) = t.strip_prefix("${").and_then(|r| r.strip_suffix('}'))
        && !inner.contains("${")
    {
        return variable(inner, doc, depth, budget);
    }
    // Inside a longer string: replace each variable that gives a scalar.
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut changed = false;
    while let Some(start) = rest.find("${self:") {
        let (before, from) = rest.split_at(start);
        out.push_str(before);
        let Some(end) = from.find('}') else {
            out.push_str(from);
            rest = "";
            break;
        };
        let (var, after) = from.split_at(end + 1);
        let inner = var.get(2..var.len() - 1).unwrap_or_default();
        match variable(inner, doc, depth, budget) {
            Some(Value::String(x)) => {
                out.push_str(&x);
                changed = true;
            }
            Some(x @ (Value::Number(_) | Value::Bool(_))) => {
                out.push_str(&x.to_string());
                changed = true;
            }
            _ => out.push_str(var),
        }
        rest = after;
    }
    out.push_str(rest);
    changed.then_some(Value::String(out))
}

/// `self:a.b, fallback`: the value at `a.b` in the file, or the fallback.
fn variable(inner: &str, doc: &Value, depth: usize, budget: &mut usize) -> Option<Value> {
    let (reference, fallback) = match inner.split_once(',') {
        Some((r, f)) => (r.trim(), Some(f.trim())),
        None => (inner.trim(), None),
    };
    // Only the file's own values: an option, the environment or a
    // parameter store may say anything at deploy time.
    let path = reference.strip_prefix("self:")?;
    let found = lookup(doc, path);
    let value = match found {
        Some(v) => v.clone(),
        None => literal(fallback?)?,
    };
    let value = match value {
        Value::String(s) if s.contains("${") => match string(&s, doc, depth + 1, budget) {
            Some(v) => v,
            None => Value::String(s),
        },
        other => other,
    };
    let size = nodes(&value);
    if size > *budget {
        return None;
    }
    *budget -= size;
    Some(value)
}

/// `a.b.0.c` in the document (`0` indexes a list).
fn lookup<'v>(doc: &'v Value, path: &str) -> Option<&'v Value> {
    if path.is_empty() {
        return None;
    }
    path.split('.').try_fold(doc, |v, part| match v {
        Value::Object(m) => m.get(part),
        Value::Array(a) => a.get(part.parse::<usize>().ok()?),
        _ => None,
    })
}

/// A fallback the file itself gives: `'text'`, `"text"`, a number or a
/// boolean. A fallback that is another source's variable is not one.
fn literal(s: &str) -> Option<Value> {
    let quoted = |q: char| s.strip_prefix(q).and_then(|r| r.strip_suffix(q));
    if let Some(text) = quoted('\'').or_else(|| quoted('"')) {
        return Some(Value::String(text.to_owned()));
    }
    if s.starts_with("${") {
        return None;
    }
    match s {
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        _ => s
            .parse::<i64>()
            .ok()
            .map(Value::from)
            .or_else(|| (!s.is_empty()).then(|| Value::String(s.to_owned()))),
    }
}

/// Nodes of a value, counted up to a bound that no document reaches.
fn nodes(v: &Value) -> usize {
    match v {
        Value::Array(a) => a.iter().fold(1, |n, x| n.saturating_add(nodes(x))),
        Value::Object(m) => m.values().fold(1, |n, x| n.saturating_add(nodes(x))),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn self_references_whole_embedded_and_with_fallbacks() {
        let doc = json!({
            "custom": {"rt": "python3.8", "tracing": true, "stage": "${opt:stage, 'dev'}", "list": ["a", "b"]},
            "provider": {
                "runtime": "${self:custom.rt}",
                "tracing": {"lambda": "${self:custom.tracing}"},
                "name": "orders-${self:custom.rt}-${self:custom.missing}",
                "memory": "${self:custom.memory, 512}",
                "role": "${self:custom.role, 'arn:aws:iam::1:role/r'}",
                "env": "${self:custom.none, ${env:X}}",
                "stage": "${self:custom.stage}",
                "first": "${self:custom.list.1}"
            }
        });
        let r = resolve(&doc);
        let p = &r["provider"];
        assert_eq!(p["runtime"], "python3.8");
        assert_eq!(p["tracing"]["lambda"], true);
        assert_eq!(p["name"], "orders-python3.8-${self:custom.missing}");
        assert_eq!(p["memory"], 512);
        assert_eq!(p["role"], "arn:aws:iam::1:role/r");
        assert_eq!(
            p["env"], "${self:custom.none, ${env:X}}",
            "another source's variable"
        );
        assert_eq!(p["stage"], "${opt:stage, 'dev'}", "outside the file");
        assert_eq!(p["first"], "b");
    }

    fn depth(v: &Value) -> usize {
        match v {
            Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
            Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }

    #[test]
    fn a_file_without_self_references_is_not_copied() {
        let doc = json!({"provider": {"stage": "${opt:stage}"}});
        assert!(matches!(resolve(&doc), Cow::Borrowed(_)));
    }

    #[test]
    fn a_deep_value_referenced_deep_down_at_most_doubles_the_depth() {
        // Replacements are not walked again, so a reference inside the
        // value it brings stays as written: depth stays within the
        // parser's limit twice over.
        let mut deep = json!("${self:custom.deep}");
        for _ in 0..90 {
            deep = json!({ "k": deep });
        }
        let doc = json!({"custom": {"deep": deep.clone()}, "provider": {"tags": deep}});
        let r = resolve(&doc);
        assert!(
            depth(&r) <= 2 * depth(&doc),
            "{} > 2 x {}",
            depth(&r),
            depth(&doc)
        );
    }

    #[test]
    fn loops_and_fan_outs_end_within_their_bounds() {
        let looped = json!({"a": "${self:b}", "b": "${self:a}"});
        let r = resolve(&looped);
        assert!(r["a"].is_string() && r["b"].is_string());
        // Ten levels of ten references each would be 10^10 nodes.
        let mut doc = serde_json::Map::new();
        doc.insert("l0".into(), json!("leaf"));
        for i in 1..=10 {
            doc.insert(
                format!("l{i}"),
                json!(vec![format!("${{self:l{}}}", i - 1); 10]),
            );
        }
        doc.insert("top".into(), json!("${self:l10}"));
        let doc = Value::Object(doc);
        let r = resolve(&doc);
        assert!(nodes(&r) < 2 * MAX_ADDED_NODES, "{}", nodes(&r));
    }
}
