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

/// More free conditions than this are refused: every combination is
/// judged (2^10 = 1,024 variants).
pub(crate) const MAX_CONDITIONS: usize = 10;
/// Variants times resources judged at most: a large template depends on
/// fewer conditions before it is refused (each variant is normalized
/// whole; only the resources a variant changes are judged again).
const MAX_WORK: usize = 150_000;
/// Condition definitions nested deeper than this are free.
const MAX_DEPTH: usize = 32;

/// The ways a template can deploy: its free conditions and how to give
/// each combination of them.
pub(crate) struct Conditions<'t> {
    template: &'t Value,
    definitions: Option<&'t Map<String, Value>>,
    resources: &'t [&'t [&'t str]],
    /// The free conditions, by name (sorted).
    pub free: Vec<String>,
}

impl<'t> Conditions<'t> {
    /// The conditions of `template` whose `Conditions` section is at
    /// `conditions` (`["Conditions"]`, or `["resources", "Conditions"]` in
    /// a serverless.yml) and whose resources are at each of `resources`.
    /// `None` when nothing in it depends on a condition or `AWS::NoValue`.
    /// A malformed `Fn::If`, or more conditions (for the template's size)
    /// than can be judged in every combination, is an error.
    pub(crate) fn of(
        template: &'t Value,
        conditions: &[&str],
        resources: &'t [&'t [&'t str]],
    ) -> Result<Option<Conditions<'t>>, String> {
        let mut used = BTreeSet::new();
        let mut no_value = false;
        uses(template, &mut used, &mut no_value)?;
        let mut count = 0;
        for at in resources {
            for r in section(template, at).into_iter().flat_map(Map::values) {
                count += 1;
                match r.get("Condition") {
                    Some(Value::String(c)) => {
                        used.insert(c.clone());
                    }
                    Some(other) => {
                        return Err(format!(
                            "a resource's Condition must name a condition, not `{}`",
                            crate::resources::shorten(&other.to_string())
                        ));
                    }
                    None => {}
                }
            }
        }
        if used.is_empty() && !no_value {
            return Ok(None);
        }
        let definitions = section(template, conditions);
        let (mut seen, mut free) = (BTreeSet::new(), BTreeSet::new());
        for name in &used {
            atoms(name, definitions, &mut seen, &mut free);
        }
        let free: Vec<String> = free.into_iter().collect();
        let combinations = 1usize << free.len().min(MAX_CONDITIONS + 1);
        if free.len() > MAX_CONDITIONS || combinations.saturating_mul(count.max(1)) > MAX_WORK {
            return Err(format!(
                "the template depends on {} conditions ({}); a template of {count} resources can be judged in every combination of at most {} of them",
                free.len(),
                crate::resources::shorten(&free.join(", ")),
                (0..=MAX_CONDITIONS)
                    .rev()
                    .find(|n| (1usize << n).saturating_mul(count.max(1)) <= MAX_WORK)
                    .unwrap_or(0)
            ));
        }
        Ok(Some(Conditions {
            template,
            definitions,
            resources,
            free,
        }))
    }

    /// Every combination of the free conditions' values.
    pub(crate) fn combinations(&self) -> Vec<Vec<bool>> {
        let n = self.free.len();
        (0..1usize << n)
            .map(|bits| (0..n).map(|i| bits & (1 << (n - 1 - i)) == 0).collect())
            .collect()
    }

    /// The template as it deploys when the free conditions have `bits`:
    /// every `Fn::If` replaced by its branch, `AWS::NoValue` removed, and
    /// the resources whose condition is false left out.
    pub(crate) fn variant(&self, bits: &[bool]) -> Value {
        let assignment: Vec<(String, bool)> = self
            .free
            .iter()
            .cloned()
            .zip(bits.iter().copied())
            .collect();
        let truth = Truth::new(self.definitions, &assignment);
        let truth = |name: &str| truth.of(name);
        let mut value = resolve(self.template, &truth).unwrap_or(Value::Null);
        for at in self.resources {
            if let Some(Value::Object(rs)) = section_mut(&mut value, at) {
                rs.retain(|_, r| match r.get("Condition") {
                    Some(Value::String(c)) => truth(c),
                    _ => true,
                });
            }
        }
        value
    }

    /// When something holds, given the combinations it holds in (indexes
    /// into [`Conditions::combinations`]): `None` when it holds in all;
    /// `IsProd is false` when it holds exactly when some conditions have
    /// some values; else how often, with one combination.
    pub(crate) fn describe(&self, holds: &BTreeSet<usize>) -> Option<String> {
        let all = self.combinations();
        if holds.len() >= all.len() {
            return None;
        }
        let held: Vec<&Vec<bool>> = holds.iter().filter_map(|i| all.get(*i)).collect();
        let first = held.first()?;
        // The conditions with one value wherever it holds.
        let fixed: Vec<(usize, bool)> = (0..self.free.len())
            .filter_map(|c| {
                let v = *first.get(c)?;
                held.iter().all(|b| b.get(c) == Some(&v)).then_some((c, v))
            })
            .collect();
        let say = |pairs: &[(usize, bool)]| {
            pairs
                .iter()
                .filter_map(|(c, v)| {
                    Some(format!(
                        "{} is {v}",
                        crate::resources::shorten(self.free.get(*c)?)
                    ))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let matching = all
            .iter()
            .filter(|b| fixed.iter().all(|(c, v)| b.get(*c) == Some(v)))
            .count();
        if matching == held.len() && !fixed.is_empty() {
            return Some(format!("when {}", say(&fixed)));
        }
        let example: Vec<(usize, bool)> = first.iter().copied().enumerate().collect();
        Some(format!(
            "in {} of the {} combinations of its conditions, e.g. when {}",
            held.len(),
            all.len(),
            say(&example)
        ))
    }
}

/// The object at `path`, if there is one.
fn section<'v>(v: &'v Value, path: &[&str]) -> Option<&'v Map<String, Value>> {
    path.iter().try_fold(v, |v, key| v.get(key))?.as_object()
}

fn section_mut<'v>(v: &'v mut Value, path: &[&str]) -> Option<&'v mut Value> {
    path.iter().try_fold(v, |v, key| v.get_mut(key))
}

/// The conditions `Fn::If` names anywhere in `v`, and whether
/// `AWS::NoValue` is used; a malformed `Fn::If` (which CloudFormation
/// refuses) is an error.
fn uses(v: &Value, out: &mut BTreeSet<String>, no_value: &mut bool) -> Result<(), String> {
    match v {
        Value::Object(o) => {
            if let Some(args) = o.get("Fn::If") {
                match if_parts(o) {
                    Some((name, _, _)) => {
                        out.insert(name.to_owned());
                    }
                    None => {
                        return Err(format!(
                            "malformed Fn::If `{}`: it takes [condition name, value if true, value if false], alone in its mapping",
                            crate::resources::shorten(&args.to_string())
                        ));
                    }
                }
            }
            if o.len() == 1 && o.get("Ref").and_then(Value::as_str) == Some("AWS::NoValue") {
                *no_value = true;
            }
            o.values().try_for_each(|x| uses(x, out, no_value))
        }
        Value::Array(a) => a.iter().try_for_each(|x| uses(x, out, no_value)),
        _ => Ok(()),
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

    const AT: &[&[&str]] = &[&["Resources"]];

    fn variants_of(t: &Value) -> Vec<(Vec<bool>, Value)> {
        let Some(c) = Conditions::of(t, &["Conditions"], AT).unwrap() else {
            return Vec::new();
        };
        c.combinations()
            .into_iter()
            .map(|b| {
                let v = c.variant(&b)["Resources"].clone();
                (b, v)
            })
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
        assert_eq!(v[0].0, [true]);
        assert_eq!(
            v[0].1["Fn"]["Properties"],
            json!({ "TracingConfig": { "Mode": "Active" }, "Layers": ["arn:layer"] })
        );
        assert_eq!(v[1].1["Fn"]["Properties"], json!({ "Layers": [] }));
        // AWS::NoValue alone (no condition) is removed too: one variant.
        let plain = json!({ "Resources": { "B": { "Type": "AWS::S3::Bucket", "Properties": { "BucketEncryption": { "Ref": "AWS::NoValue" } } } } });
        let v = variants_of(&plain);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].1["B"]["Properties"], json!({}));
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
    fn every_combination_is_judged_and_too_many_or_malformed_is_an_error() {
        assert!(
            variants_of(&json!({ "Resources": { "Q": { "Type": "AWS::SQS::Queue" } } })).is_empty()
        );
        // Four free conditions: all 16 combinations, so one that needs two
        // true and two false is among them.
        let t = json!({
            "Conditions": { "Open": { "Fn::And": [
                { "Condition": "A" }, { "Condition": "B" },
                { "Fn::Not": [{ "Condition": "C" }] }, { "Fn::Not": [{ "Condition": "D" }] }
            ] } },
            "Resources": { "U": { "Type": "AWS::Lambda::Url", "Properties": { "AuthType": { "Fn::If": ["Open", "NONE", "AWS_IAM"] } } } }
        });
        let v = variants_of(&t);
        assert_eq!(v.len(), 16);
        assert_eq!(
            v.iter()
                .filter(|(_, r)| r["U"]["Properties"]["AuthType"] == "NONE")
                .count(),
            1
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
        let err = Conditions::of(&t, &["Conditions"], AT).err().unwrap();
        assert!(err.contains("11 conditions"), "{err}");
        for bad in [json!(["C", 1]), json!(["C", 1, 2, 3]), json!([["C"], 1, 2])] {
            let t = json!({ "Resources": { "Fn": { "Type": "X", "Properties": { "P": { "Fn::If": bad } } } } });
            let err = Conditions::of(&t, &["Conditions"], AT).err().unwrap();
            assert!(err.contains("malformed Fn::If"), "{err}");
        }
    }

    #[test]
    fn when_a_finding_holds_is_said_as_the_conditions_that_decide_it() {
        let t = json!({ "Resources": { "Fn": { "Type": "X", "Properties": {
            "A": { "Fn::If": ["IsEu", 1, 2] }, "B": { "Fn::If": ["IsProd", 1, 2] } } } } });
        let c = Conditions::of(&t, &["Conditions"], AT).unwrap().unwrap();
        let combos = c.combinations();
        let which = |f: &dyn Fn(&[bool]) -> bool| -> BTreeSet<usize> {
            combos
                .iter()
                .enumerate()
                .filter(|(_, b)| f(b))
                .map(|(i, _)| i)
                .collect()
        };
        // free = [IsEu, IsProd]
        assert_eq!(
            c.describe(&which(&|b| !b[1])).as_deref(),
            Some("when IsProd is false")
        );
        assert_eq!(c.describe(&which(&|_| true)), None);
        let odd = c.describe(&which(&|b| b[0] != b[1])).unwrap();
        assert!(odd.starts_with("in 2 of the 4 combinations"), "{odd}");
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
