//! Suppressions a reviewer can audit: each names the rule, a reason and
//! where it is written; suppressed findings stay in the decision, marked,
//! and never fail a check.
//!
//! - Inline, in the deployment file: a YAML comment
//!   `# palisade:skip=RULE_ID reason` on the line above a resource, inside
//!   its block, or on (or above) the line of a finding; or CloudFormation
//!   resource `Metadata: {palisade: {skip: [{rule: RULE_ID, reason: ...}]}}`.
//! - A waivers file ([`Waivers`]): rule, optional resource and file, owner,
//!   reason and expiry date. An expired waiver no longer suppresses,
//!   judged by the evaluation's `now`.

use crate::document::markers::says_something;
use crate::document::{Document, ParseError};
use crate::resources::Resource;
use chrono::NaiveDate;
use palisade_engine::Now;
use palisade_engine::{DecisionError, ErrorKind, Finding, Source, Suppression, SuppressionKind};
use serde::Deserialize;
use serde_json::Value;

/// A waivers file: accepted findings, each with an owner, a reason and an
/// expiry date.
///
/// ```yaml
/// waivers:
///   - rule: iam.shared-role
///     resource: ListOrders          # optional: every resource
///     file: templates/orders.yaml   # optional: every file (suffix match)
///     owner: platform@example.com
///     reason: the split is planned in ORD-142
///     expires: 2027-01-31           # stops suppressing after this day
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Waivers {
    file: String,
    entries: Vec<Waiver>,
}

/// One accepted finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiver {
    /// The rule id.
    pub rule: String,
    /// The resource, when the waiver is for one.
    pub resource: Option<String>,
    /// The file, when the waiver is for one (matches the end of a path).
    pub file: Option<String>,
    /// Who accepted the risk.
    pub owner: String,
    /// Why.
    pub reason: String,
    /// The last day the waiver applies.
    pub expires: NaiveDate,
    /// The line of the waiver in its file.
    pub line: u32,
}

/// A waiver as written, before its date is read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaiver {
    rule: String,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    file: Option<String>,
    owner: String,
    reason: String,
    expires: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WaiversFile {
    waivers: Vec<Value>,
}

impl Waivers {
    /// Parses a waivers file (YAML or JSON).
    ///
    /// # Errors
    /// The first problem, with the file, line and column: a syntax error,
    /// an unknown or missing field, an empty owner or reason, a date that
    /// is not `YYYY-MM-DD`.
    ///
    /// # Examples
    /// ```
    /// use palisade_deploy::Waivers;
    /// use palisade_engine::Now;
    /// let w = Waivers::parse(
    ///     "waivers.yaml",
    ///     "waivers:\n  - rule: iam.shared-role\n    owner: ops\n    reason: planned split\n    expires: 2027-01-31\n",
    /// )
    /// .unwrap();
    /// assert_eq!(w.expired(Now::parse("2027-02-01T00:00:00Z").unwrap()).len(), 1);
    /// let bad = Waivers::parse("waivers.yaml", "waivers:\n  - rule: x\n    owner: ops\n    reason: r\n    expires: soon\n");
    /// assert!(bad.unwrap_err().to_string().starts_with("waivers.yaml:5:"));
    /// ```
    pub fn parse(file: &str, text: &str) -> Result<Waivers, ParseError> {
        let doc = Document::parse(file, text)?;
        let at = |pointer: &str, message: String| ParseError {
            file: file.to_owned(),
            line: doc.line_of(pointer).map_or(1, |l| l as usize),
            column: 1,
            message,
        };
        let top: WaiversFile = serde_json::from_value(doc.value.clone()).map_err(|e| {
            at(
                "",
                format!("{e}; expected `waivers:` with a list of waivers"),
            )
        })?;
        let mut entries = Vec::new();
        for (i, raw) in top.waivers.into_iter().enumerate() {
            let pointer = format!("/waivers/{i}");
            let w: RawWaiver = serde_json::from_value(raw).map_err(|e| {
                at(
                    &pointer,
                    format!("waiver {}: {e} (a waiver needs rule, owner, reason and expires: YYYY-MM-DD)", i + 1),
                )
            })?;
            for (name, value) in [
                ("owner", &w.owner),
                ("reason", &w.reason),
                ("rule", &w.rule),
            ] {
                if !says_something(value) {
                    return Err(at(
                        &format!("{pointer}/{name}"),
                        format!(
                            "waiver {}: `{name}` is empty; say who accepts the risk and why",
                            i + 1
                        ),
                    ));
                }
            }
            let date = match &w.expires {
                Value::String(s) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok(),
                _ => None,
            };
            let Some(expires) = date else {
                return Err(at(
                    &format!("{pointer}/expires"),
                    format!(
                        "waiver {}: `expires` is `{}`; expected a date as YYYY-MM-DD",
                        i + 1,
                        match &w.expires {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        }
                    ),
                ));
            };
            let waiver = Waiver {
                rule: w.rule,
                resource: w.resource,
                file: w.file,
                owner: w.owner,
                reason: w.reason,
                expires,
                line: doc.line_of(&pointer).unwrap_or(1),
            };
            entries.push(waiver);
        }
        Ok(Waivers {
            file: file.to_owned(),
            entries,
        })
    }

    /// The waivers, in file order.
    pub fn entries(&self) -> &[Waiver] {
        &self.entries
    }

    /// The waivers whose expiry day is before `now`'s day: they no longer
    /// suppress anything.
    pub fn expired(&self, now: Now) -> Vec<&Waiver> {
        self.entries.iter().filter(|w| w.expired(now)).collect()
    }

    fn suppression(&self, f: &Finding, now: Now) -> Option<Suppression> {
        let w = self.entries.iter().find(|w| {
            w.rule == f.rule_id
                && !w.expired(now)
                && w.resource
                    .as_ref()
                    .is_none_or(|r| f.resource.as_ref() == Some(r))
                && w.file.as_ref().is_none_or(|wanted| {
                    f.file
                        .as_ref()
                        .is_some_and(|file| file == wanted || file.ends_with(&format!("/{wanted}")))
                })
        })?;
        Some(Suppression {
            kind: SuppressionKind::Waiver,
            reason: w.reason.clone(),
            owner: Some(w.owner.clone()),
            expires: Some(w.expires.to_string()),
            location: format!("{}:{}", self.file, w.line),
        })
    }
}

impl Waiver {
    /// True when the waiver's last day is before `now`'s day.
    pub fn expired(&self, now: Now) -> bool {
        now.date() > self.expires
    }
}

/// Marks the findings of one document that are suppressed. A marker
/// without a reason suppresses nothing and is reported as an error.
pub(crate) fn apply(
    findings: &mut [Finding],
    doc: &Document,
    resources: &[Resource],
    waivers: &Waivers,
    now: Now,
    errors: &mut Vec<DecisionError>,
) {
    let mut starts: Vec<u32> = resources
        .iter()
        .filter_map(|r| doc.line_of(&r.pointer))
        .collect();
    starts.sort_unstable();
    starts.dedup();
    let block_of = |line: u32| {
        let end = starts
            .iter()
            .copied()
            .find(|&s| s > line)
            .unwrap_or(u32::MAX);
        (line, end)
    };
    for m in doc.markers() {
        if m.reason.is_empty() {
            errors.push(DecisionError {
                source: Source::Cedar,
                kind: ErrorKind::InvalidSuppression,
                policy: None,
                message: format!(
                    "{}:{}: `palisade:skip={}` has no reason; write `# palisade:skip={} why it is accepted`",
                    doc.file, m.line, m.rule, m.rule
                ),
                file: None,
                resource: None,
                monitor: false,
            });
        }
    }
    // Most files have no marker, no metadata and no waiver: nothing to do.
    let has_metadata = resources.iter().any(|r| {
        doc.value
            .pointer(&format!("{}/Metadata/palisade", r.pointer))
            .is_some()
    });
    if doc.markers().is_empty() && !has_metadata && waivers.entries.is_empty() {
        return;
    }
    let by_id: std::collections::HashMap<&str, &Resource> = resources
        .iter()
        .map(|r| (r.logical_id.as_str(), r))
        .collect();
    for f in findings.iter_mut().filter(|f| f.suppressed.is_none()) {
        let resource = f.resource.as_deref().and_then(|id| by_id.get(id).copied());
        let resource_line = resource.and_then(|r| doc.line_of(&r.pointer));
        let marker = doc.markers().iter().find(|m| {
            if m.rule != f.rule_id || m.reason.is_empty() {
                return false;
            }
            let near_finding = f.line.is_some_and(|l| l == m.line || l == m.line + 1);
            let in_block = resource_line.is_some_and(|start| {
                let (start, end) = block_of(start);
                start == m.line + 1 || (start <= m.line && m.line < end)
            });
            near_finding || in_block
        });
        if let Some(m) = marker {
            f.suppressed = Some(Suppression {
                kind: SuppressionKind::Inline,
                reason: m.reason.clone(),
                owner: None,
                expires: None,
                location: format!("{}:{}", doc.file, m.line),
            });
            continue;
        }
        if let Some(r) = resource
            && let Some(skips) = doc
                .value
                .pointer(&format!("{}/Metadata/palisade/skip", r.pointer))
                .and_then(Value::as_array)
        {
            let entry = skips.iter().find(|s| {
                s.get("rule")
                    .or_else(|| s.get("id"))
                    .and_then(Value::as_str)
                    == Some(f.rule_id.as_str())
            });
            let reason = entry
                .and_then(|s| s.get("reason").or_else(|| s.get("comment")))
                .and_then(Value::as_str)
                .filter(|r| says_something(r));
            if let Some(reason) = reason {
                let at = doc
                    .line_of(&format!("{}/Metadata/palisade/skip", r.pointer))
                    .unwrap_or(0);
                f.suppressed = Some(Suppression {
                    kind: SuppressionKind::Inline,
                    reason: reason.to_owned(),
                    owner: None,
                    expires: None,
                    location: format!("{}:{at}", doc.file),
                });
                continue;
            }
        }
        f.suppressed = waivers.suppression(f, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waivers_need_every_field_and_a_real_date() {
        let ok = "waivers:\n  - rule: a.b\n    owner: o\n    reason: r\n    expires: 2027-01-31\n";
        let w = Waivers::parse("w.yaml", ok).unwrap();
        assert_eq!(w.entries()[0].line, 2);
        let err = |text: &str| Waivers::parse("w.yaml", text).unwrap_err().to_string();
        assert!(
            err("waivers:\n  - rule: a.b\n    reason: r\n    expires: 2027-01-31\n")
                .contains("missing field `owner`"),
        );
        assert!(
            err("waivers:\n  - rule: a.b\n    owner: o\n    reason: r\n    expires: 31/01/2027\n")
                .starts_with("w.yaml:5:")
        );
        assert!(
            err("waivers:\n  - rule: a.b\n    owner: ''\n    reason: r\n    expires: 2027-01-31\n")
                .starts_with("w.yaml:3:")
        );
        assert!(err("waivers:\n  - rule: a.b\n    owner: o\n    reason: r\n    expires: 2027-01-31\n    ticket: X-1\n").contains("unknown field `ticket`"));
        assert!(err("rules: []\n").contains("expected `waivers:`"));
    }
}
