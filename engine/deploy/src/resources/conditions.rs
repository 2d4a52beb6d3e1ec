//! CloudFormation conditions. A template whose values depend on a
//! condition (`Fn::If`), or whose resources exist only under one
//! (`Condition:`), deploys differently per environment; a setting chosen
//! by a condition must be right in every branch. So such a template is
//! judged once per combination of its conditions (its *variants*), and a
//! finding of any variant is a finding.
//!
//! Conditions are free: their values come from parameters, which a check
//! does not know. A condition written only as `Fn::And`, `Fn::Or` and
//! `Fn::Not` of other conditions is computed from them, so `IsNotProd:
//! !Not [!Condition IsProd]` is never true together with `IsProd`.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Up to this many free conditions, every combination is a variant
/// (2^3 = 8); beyond, every condition true, every condition false, and
/// each condition flipped alone from both.
const EVERY_COMBINATION: usize = 3;
/// More free conditions than this are refused: each variant is a whole
/// evaluation of the template.
pub(crate) const MAX_CONDITIONS: usize = 64;
/// Condition definitions nested deeper than this are free.
const MAX_DEPTH: usize = 32;

/// One way the template can deploy.
pub(crate) struct Variant {
    /// The template with every `Fn::If` replaced by its branch,
    /// `AWS::NoValue` removed, and the resources whose condition is false
    /// left out.
    pub value: Value,
    /// The free conditions' values, by name.
    pub assignment: Vec<(String, bool)>,
}

impl Variant {
    /// `IsProd is false, UseKms is true`.
    pub(crate) fn describe(&self) -> String {
        self.assignment
            .iter()
            .map(|(name, on)| format!("{name} is {on}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The variants of `template` whose `Conditions` section is at
/// `conditions` (`["Conditions"]`, or `["resources", "Conditions"]` in a
/// serverless.yml) and whose resources are at each of `resources`. Empty
/// when nothing in it depends on a condition.
pub(crate) fn variants(
    template: &Value,
    conditions: &[&str],
    resources: &[&[&str]],
) -> Result<Vec<Variant>, String> {
    let mut used = BTreeSet::new();
    uses(template, &mut used);
    for at in resources {
        for r in section(template, at).into_iter().flat_map(Map::values) {
            if let Some(Value::String(c)) = r.get("Condition") {
                used.insert(c.clone());
            }
        }
    }
    if used.is_empty() {
        return Ok(Vec::new());
    }
    let definitions = section(template, conditions);
    let (mut seen, mut free) = (BTreeSet::new(), BTreeSet::new());
    for name in &used {
        atoms(name, definitions, &mut seen, &mut free);
    }
    let free: Vec<String> = free.into_iter().collect();
    if free.len() > MAX_CONDITIONS {
        return Err(format!(
            "the template's Fn::If and resource conditions depend on {} conditions; at most {MAX_CONDITIONS} can be judged in every branch",
            free.len()
        ));
    }
    Ok(assignments(free.len())
        .into_iter()
        .map(|bits| {
            let assignment: Vec<(String, bool)> = free.iter().cloned().zip(bits).collect();
            let truth = Truth::new(definitions, &assignment);
            let truth = |name: &str| truth.of(name);
            let mut value = resolve(template, &truth).unwrap_or(Value::Null);
            for at in resources {
                if let Some(Value::Object(rs)) = section_mut(&mut value, at) {
                    rs.retain(|_, r| match r.get("Condition") {
                        Some(Value::String(c)) => truth(c),
                        _ => true,
                    });
                }
            }
            Variant { value, assignment }
        })
        .collect())
}

/// The object at `path`, if there is one.
fn section<'v>(v: &'v Value, path: &[&str]) -> Option<&'v Map<String, Value>> {
    path.iter().try_fold(v, |v, key| v.get(key))?.as_object()
}

fn section_mut<'v>(v: &'v mut Value, path: &[&str]) -> Option<&'v mut Value> {
    path.iter().try_fold(v, |v, key| v.get_mut(key))
}

/// The conditions `Fn::If` names anywhere in `v`.
fn uses(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(o) => {
            if let Some(name) = if_parts(o).map(|(name, _, _)| name) {
                out.insert(name.to_owned());
            }
            o.values().for_each(|x| uses(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| uses(x, out)),
        _ => {}
    }
}

/// `{"Fn::If": [name, then, else]}`, taken apart.
fn if_parts(o: &Map<String, Value>) -> Option<(&str, &Value, &Value)> {
    if o.len() != 1 {
        return None;
    }
    match o.get("Fn::If")?.as_array()?.as_slice() {
        [Value::String(name), then, otherwise] => Some((name, then, otherwise)),
        _ => None,
    }
}

/// The free conditions that `name` is computed from: itself, unless its
/// definition is only `Fn::And`/`Fn::Or`/`Fn::Not` of other conditions.
/// `seen` stops cycles (which CloudFormation refuses) and repeats.
fn atoms(
    name: &str,
    definitions: Option<&Map<String, Value>>,
    seen: &mut BTreeSet<String>,
    out: &mut BTreeSet<String>,
) {
    if !seen.insert(name.to_owned()) {
        return;
    }
    match definitions.and_then(|d| d.get(name)) {
        Some(def) if derived(def, 0) => {
            let mut names = Vec::new();
            referenced(def, &mut names);
            for n in names {
                atoms(&n, definitions, seen, out);
            }
        }
        _ => {
            out.insert(name.to_owned());
        }
    }
}

/// Whether a condition is only a boolean combination of other conditions.
fn derived(def: &Value, depth: usize) -> bool {
    let Some(o) = def.as_object().filter(|o| o.len() == 1) else {
        return false;
    };
    match o.iter().next() {
        Some((k, Value::String(_))) if k == "Condition" => true,
        Some((k, Value::Array(items)))
            if depth < MAX_DEPTH && matches!(k.as_str(), "Fn::And" | "Fn::Or" | "Fn::Not") =>
        {
            !items.is_empty() && items.iter().all(|x| derived(x, depth + 1))
        }
        _ => false,
    }
}

fn referenced(def: &Value, out: &mut Vec<String>) {
    match def {
        Value::Object(o) => {
            for (k, v) in o {
                match (k.as_str(), v) {
                    ("Condition", Value::String(name)) => out.push(name.clone()),
                    (_, v) => referenced(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| referenced(x, out)),
        _ => {}
    }
}

/// Every condition's value in one variant: the free ones as assigned, the
/// derived ones computed (once each; a cycle counts as true).
struct Truth<'d> {
    definitions: Option<&'d Map<String, Value>>,
    known: std::cell::RefCell<BTreeMap<String, Option<bool>>>,
}

impl<'d> Truth<'d> {
    fn new(definitions: Option<&'d Map<String, Value>>, free: &[(String, bool)]) -> Self {
        let known = free.iter().map(|(n, v)| (n.clone(), Some(*v))).collect();
        Truth {
            definitions,
            known: std::cell::RefCell::new(known),
        }
    }

    fn of(&self, name: &str) -> bool {
        if let Some(v) = self.known.borrow().get(name) {
            // `None`: being computed, so this is a cycle.
            return v.unwrap_or(true);
        }
        self.known.borrow_mut().insert(name.to_owned(), None);
        let v = match self.definitions.and_then(|d| d.get(name)) {
            Some(def) => self.combine(def, 0),
            None => true,
        };
        self.known.borrow_mut().insert(name.to_owned(), Some(v));
        v
    }

    fn combine(&self, def: &Value, depth: usize) -> bool {
        let Some((k, v)) = def.as_object().and_then(|o| o.iter().next()) else {
            return true;
        };
        if depth >= MAX_DEPTH {
            return true;
        }
        let mut each = v
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| self.combine(x, depth + 1));
        match (k.as_str(), v) {
            ("Condition", Value::String(name)) => self.of(name),
            ("Fn::And", _) => each.all(|b| b),
            ("Fn::Or", _) => each.any(|b| b),
            ("Fn::Not", _) => !each.next().unwrap_or(false),
            _ => true,
        }
    }
}

/// Which values the free conditions take, one `Vec` per variant.
fn assignments(n: usize) -> Vec<Vec<bool>> {
    if n <= EVERY_COMBINATION {
        return (0..1usize << n)
            .map(|bits| (0..n).map(|i| bits & (1 << i) == 0).collect())
            .collect();
    }
    let mut out = vec![vec![true; n], vec![false; n]];
    for base in [true, false] {
        for i in 0..n {
            let mut bits = vec![base; n];
            if let Some(b) = bits.get_mut(i) {
                *b = !base;
            }
            out.push(bits);
        }
    }
    out
}

/// `v` with each `Fn::If` replaced by the branch `truth` picks; `None`
/// for `AWS::NoValue` (the key or item is left out).
fn resolve(v: &Value, truth: &dyn Fn(&str) -> bool) -> Option<Value> {
    match v {
        Value::Object(o) => {
            if let Some((name, then, otherwise)) = if_parts(o) {
                return resolve(if truth(name) { then } else { otherwise }, truth);
            }
            if o.len() == 1 && o.get("Ref").and_then(Value::as_str) == Some("AWS::NoValue") {
                return None;
            }
            Some(Value::Object(
                o.iter()
                    .filter_map(|(k, x)| Some((k.clone(), resolve(x, truth)?)))
                    .collect(),
            ))
        }
        Value::Array(a) => Some(Value::Array(
            a.iter().filter_map(|x| resolve(x, truth)).collect(),
        )),
        other => Some(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn variants_of(t: &Value) -> Vec<(String, Value)> {
        variants(t, &["Conditions"], &[&["Resources"]])
            .unwrap()
            .into_iter()
            .map(|v| (v.describe(), v.value["Resources"].clone()))
            .collect()
    }

    #[test]
    fn each_branch_is_a_variant_and_no_value_is_left_out() {
        let t = json!({
            "Conditions": { "IsProd": { "Fn::Equals": [{ "Ref": "Env" }, "prod"] } },
            "Resources": {
                "Fn": { "Type": "AWS::Lambda::Function", "Properties": {
                    "TracingConfig": { "Fn::If": ["IsProd", { "Mode": "Active" }, { "Ref": "AWS::NoValue" }] },
                    "Layers": [{ "Fn::If": ["IsProd", "arn:layer", { "Ref": "AWS::NoValue" }] }]
                } }
            }
        });
        let v = variants_of(&t);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].0, "IsProd is true");
        assert_eq!(
            v[0].1["Fn"]["Properties"],
            json!({ "TracingConfig": { "Mode": "Active" }, "Layers": ["arn:layer"] })
        );
        assert_eq!(v[1].0, "IsProd is false");
        assert_eq!(v[1].1["Fn"]["Properties"], json!({ "Layers": [] }));
    }

    #[test]
    fn resource_conditions_and_derived_conditions() {
        let t = json!({
            "Conditions": {
                "IsProd": { "Fn::Equals": [{ "Ref": "Env" }, "prod"] },
                "IsNotProd": { "Fn::Not": [{ "Condition": "IsProd" }] }
            },
            "Resources": {
                "Dev": { "Type": "AWS::SQS::Queue", "Condition": "IsNotProd" },
                "Prod": { "Type": "AWS::SQS::Queue", "Condition": "IsProd" }
            }
        });
        let v = variants_of(&t);
        // One free condition, so two variants, never both queues.
        assert_eq!(v.len(), 2);
        assert!(v[0].1.get("Prod").is_some() && v[0].1.get("Dev").is_none());
        assert!(v[1].1.get("Dev").is_some() && v[1].1.get("Prod").is_none());
    }

    #[test]
    fn no_conditions_no_variants_and_too_many_is_an_error() {
        assert!(
            variants_of(&json!({ "Resources": { "Q": { "Type": "AWS::SQS::Queue" } } })).is_empty()
        );
        let many: Map<String, Value> = (0..=MAX_CONDITIONS)
            .map(|i| {
                (
                    format!("P{i}"),
                    json!({ "Fn::If": [format!("C{i}"), 1, 2] }),
                )
            })
            .collect();
        let t = json!({ "Resources": { "Fn": { "Type": "X", "Properties": many } } });
        let err = variants(&t, &["Conditions"], &[&["Resources"]])
            .err()
            .unwrap();
        assert!(err.contains("65 conditions"), "{err}");
        // Beyond three, each condition is flipped alone from all-true and
        // all-false: 2 + 2n variants, and every condition is false in one.
        let four = assignments(4);
        assert_eq!(four.len(), 10);
        assert!((0..4).all(|i| four.iter().any(|b| !b[i]) && four.iter().any(|b| b[i])));
    }

    #[test]
    fn a_condition_cycle_stops() {
        let t = json!({
            "Conditions": { "A": { "Fn::Not": [{ "Condition": "B" }] }, "B": { "Fn::Not": [{ "Condition": "A" }] } },
            "Resources": { "Q": { "Type": "AWS::SQS::Queue", "Condition": "A" } }
        });
        assert!(!variants_of(&t).is_empty());
    }
}
