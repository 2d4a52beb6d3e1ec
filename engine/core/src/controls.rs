//! A bundle's controls table (`[bundle] controls = "controls.json"`): the
//! practices its rules enforce, the resource types each rule looks at, and
//! the checks of other tools (Checkov, KICS, AWS Control Tower, ...) that
//! each rule covers, or why a check is not covered. Compliance reports are
//! made from it; the loader refuses a table that names a rule, practice or
//! peer that does not exist.

use crate::error::Problem;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The parsed controls table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Controls {
    /// The practices, in the order reports list them.
    pub practices: Vec<Practice>,
    /// For each rule id of the bundle: what it enforces and looks at.
    #[serde(deserialize_with = "unique_keys")]
    pub rules: BTreeMap<String, RuleControl>,
    /// The other tools whose checks the table maps, by short name
    /// (`checkov`, `kics`, `control-tower`).
    #[serde(default, deserialize_with = "unique_keys")]
    pub peers: BTreeMap<String, Peer>,
    /// Every peer check in scope, with the rules that cover it or the
    /// reason none does.
    #[serde(default)]
    pub checks: Vec<PeerCheck>,
}

/// One practice of the baseline, e.g. least-privilege IAM.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Practice {
    /// Stable id, e.g. `least-privilege`.
    pub id: String,
    /// Title for reports, e.g. `Least-privilege IAM`.
    pub title: String,
    /// What the practice asks for, in a sentence or two.
    #[serde(default)]
    pub description: String,
}

/// What one rule enforces and looks at.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleControl {
    /// Ids of the practices it enforces (at least one).
    pub practices: Vec<String>,
    /// The resource types it evaluates (`AWS::Lambda::Function`, ...), or
    /// `file` for a rule that reads whole files (hard-coded secrets).
    pub resources: Vec<String>,
}

/// A tool whose checks the table maps.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// Display name, e.g. `Checkov`.
    pub name: String,
    /// Where its checks were read (catalogue, repository and version).
    #[serde(default)]
    pub source: String,
}

/// One check of a peer tool.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerCheck {
    /// The peer's short name, a key of [`Controls::peers`].
    pub peer: String,
    /// The peer's id: `CKV_AWS_45`, a KICS query UUID, `CT.LAMBDA.PR.2`.
    pub id: String,
    /// The peer's title for it.
    pub title: String,
    /// Rules of the bundle with the same meaning.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// Why no rule covers it, when none does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where the meaning differs from the peer's, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A JSON object as a map, refusing a key given twice (JSON parsers keep
/// the last, so a second entry would silently replace the first).
fn unique_keys<'de, D, V>(d: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: serde::Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Unique<V>(std::marker::PhantomData<V>);
    impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Unique<V> {
        type Value = BTreeMap<String, V>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((key, value)) = map.next_entry::<String, V>()? {
                if out.contains_key(&key) {
                    return Err(serde::de::Error::custom(format!("`{key}` is listed twice")));
                }
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Unique(std::marker::PhantomData))
}

impl Controls {
    /// Parses `text` (the file `file`) and checks it against the bundle's
    /// rule ids: every rule, practice and peer it names must exist.
    pub(crate) fn load(
        file: &str,
        text: &str,
        rule_ids: &BTreeSet<&str>,
    ) -> Result<Controls, Vec<Problem>> {
        let controls: Controls = serde_json::from_str(text)
            .map_err(|e| vec![Problem::at_line(file, text, e.line(), e.to_string())])?;
        let problems = controls.problems(file, text, rule_ids);
        if problems.is_empty() {
            Ok(controls)
        } else {
            Err(problems)
        }
    }

    fn problems(&self, file: &str, text: &str, rule_ids: &BTreeSet<&str>) -> Vec<Problem> {
        let mut out = Vec::new();
        // Located at the first line that mentions `needle` as a JSON string.
        let at = |needle: &str, message: String| {
            let quoted = serde_json::Value::String(needle.to_owned()).to_string();
            let line = text
                .find(&quoted)
                .map_or(1, |off| crate::error::line_col(text, off).0);
            Problem::at_line(file, text, line, message)
        };
        let mut practices = BTreeSet::new();
        for p in &self.practices {
            if p.id.is_empty() || p.title.trim().is_empty() {
                out.push(at(&p.id, "a practice needs an id and a title".into()));
            } else if !practices.insert(p.id.as_str()) {
                out.push(at(&p.id, format!("practice `{}` is listed twice", p.id)));
            }
        }
        for (rule, c) in &self.rules {
            if !rule_ids.contains(rule.as_str()) {
                out.push(at(
                    rule,
                    format!("`{rule}` is no rule of this bundle (no forbid policy or plugin rule has this id)"),
                ));
            }
            if c.practices.is_empty() {
                out.push(at(rule, format!("rule `{rule}` names no practice")));
            }
            for p in c
                .practices
                .iter()
                .filter(|p| !practices.contains(p.as_str()))
            {
                out.push(at(
                    rule,
                    format!("rule `{rule}` names practice `{p}`, which `practices` does not list"),
                ));
            }
            if c.resources.is_empty() {
                out.push(at(
                    rule,
                    format!("rule `{rule}` names no resource type (use `file` for a rule that reads whole files)"),
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for check in &self.checks {
            let name = format!("{} {}", check.peer, check.id);
            if !self.peers.contains_key(&check.peer) {
                out.push(at(
                    &check.id,
                    format!("check {name}: peer `{}` is not in `peers`", check.peer),
                ));
            }
            if !seen.insert((check.peer.as_str(), check.id.as_str())) {
                out.push(at(&check.id, format!("check {name} is listed twice")));
            }
            match (check.rules.is_empty(), &check.reason) {
                (true, None) => out.push(at(
                    &check.id,
                    format!("check {name} needs `rules` that cover it or a `reason` why none does"),
                )),
                (false, Some(_)) => out.push(at(
                    &check.id,
                    format!("check {name} has both `rules` and a `reason`: keep one"),
                )),
                _ => {}
            }
            for r in check
                .rules
                .iter()
                .filter(|r| !self.rules.contains_key(r.as_str()))
            {
                out.push(at(
                    &check.id,
                    format!("check {name} names `{r}`, which `rules` does not list"),
                ));
            }
        }
        out
    }

    /// The practice with this id.
    pub fn practice(&self, id: &str) -> Option<&Practice> {
        self.practices.iter().find(|p| p.id == id)
    }

    /// The rules that enforce practice `id`, sorted.
    pub fn rules_of(&self, id: &str) -> Vec<&str> {
        self.rules
            .iter()
            .filter(|(_, c)| c.practices.iter().any(|p| p == id))
            .map(|(r, _)| r.as_str())
            .collect()
    }

    /// The peer checks that `rule` covers.
    pub fn checks_of<'a>(&'a self, rule: &'a str) -> impl Iterator<Item = &'a PeerCheck> + 'a {
        self.checks
            .iter()
            .filter(move |c| c.rules.iter().any(|r| r == rule))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
      "practices": [{"id": "least-privilege", "title": "Least-privilege IAM"}],
      "rules": {"iam.wildcard-action": {"practices": ["least-privilege"], "resources": ["AWS::IAM::Role"]}},
      "peers": {"checkov": {"name": "Checkov"}},
      "checks": [
        {"peer": "checkov", "id": "CKV_AWS_63", "title": "no * actions", "rules": ["iam.wildcard-action"]},
        {"peer": "checkov", "id": "CKV_AWS_1", "title": "not serverless", "reason": "EC2"}
      ]
    }"#;

    fn ids() -> BTreeSet<&'static str> {
        ["iam.wildcard-action", "other.rule"].into_iter().collect()
    }

    #[test]
    fn a_good_table_loads_and_answers() {
        let c = Controls::load("controls.json", GOOD, &ids()).unwrap_or_else(|e| {
            unreachable!("{e:?}");
        });
        assert_eq!(c.rules_of("least-privilege"), ["iam.wildcard-action"]);
        let covered: Vec<&str> = c
            .checks_of("iam.wildcard-action")
            .map(|x| x.id.as_str())
            .collect();
        assert_eq!(covered, ["CKV_AWS_63"]);
    }

    fn problems(text: &str) -> Vec<String> {
        match Controls::load("controls.json", text, &ids()) {
            Ok(_) => Vec::new(),
            Err(p) => p.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn dangling_names_are_refused_at_their_line() {
        let bad = GOOD
            .replace(
                r#""rules": {"iam.wildcard-action""#,
                r#""rules": {"iam.wildcard-actions""#,
            )
            .replace(
                r#""peer": "checkov", "id": "CKV_AWS_1""#,
                r#""peer": "kics", "id": "CKV_AWS_1""#,
            );
        let p = problems(&bad);
        assert!(
            p.iter().any(
                |m| m.contains("`iam.wildcard-actions` is no rule of this bundle")
                    && m.contains(":3")
            ),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|m| m.contains("peer `kics` is not in `peers`")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|m| m.contains("names `iam.wildcard-action`, which `rules` does not list")),
            "{p:?}"
        );
    }

    #[test]
    fn a_check_needs_exactly_one_of_rules_and_reason() {
        let neither = GOOD.replace(r#", "reason": "EC2""#, "");
        assert!(
            problems(&neither)
                .iter()
                .any(|m| m.contains("needs `rules`"))
        );
        let both = GOOD.replace(
            r#""reason": "EC2""#,
            r#""reason": "EC2", "rules": ["iam.wildcard-action"]"#,
        );
        assert!(problems(&both).iter().any(|m| m.contains("both")));
    }

    #[test]
    fn unknown_practices_fields_and_bad_json_are_refused() {
        let p = problems(&GOOD.replace(
            r#"["least-privilege"], "resources""#,
            r#"["mfa"], "resources""#,
        ));
        assert!(p.iter().any(|m| m.contains("practice `mfa`")), "{p:?}");
        let p = problems(&GOOD.replace(r#""title": "Least-privilege IAM""#, r#""titel": "x""#));
        assert!(
            p.iter().any(|m| m.contains("unknown field `titel`")),
            "{p:?}"
        );
        let p = problems("{\n  \"practices\": [\n");
        assert!(p.iter().any(|m| m.contains("EOF")), "{p:?}");
        let deep = "[".repeat(100_000);
        assert!(!problems(&deep).is_empty());
        let twice = GOOD.replace(
            r#""rules": {"iam.wildcard-action": {"practices": ["least-privilege"], "resources": ["AWS::IAM::Role"]}}"#,
            r#""rules": {"iam.wildcard-action": {"practices": ["least-privilege"], "resources": ["AWS::IAM::Role"]},
              "iam.wildcard-action": {"practices": ["least-privilege"], "resources": ["AWS::SQS::Queue"]}}"#,
        );
        let p = problems(&twice);
        assert!(
            p.iter()
                .any(|m| m.contains("`iam.wildcard-action` is listed twice") && m.contains(":4")),
            "{p:?}"
        );
    }
}
