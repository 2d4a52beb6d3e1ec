//! `palisade report compliance`: a bundle's controls table (practices,
//! rules, peer checks) and, when deployment files are given, how many of
//! their resources pass and fail each practice. Rendered as JSON (the
//! model), Markdown and one self-contained HTML page.

use crate::report::RuleDoc;
use palisade_engine::controls::{Controls, PeerCheck};
use palisade_engine::{Bundle, Decision};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Failing resources listed per practice in Markdown and HTML (JSON lists
/// them all).
const SHOWN_FAILURES: usize = 25;

/// The whole report; its JSON form is the `--format json` output.
#[derive(Debug, Serialize)]
pub struct Report {
    bundle: BundleRef,
    /// Present when deployment files were measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    inputs: Option<Inputs>,
    practices: Vec<PracticeRow>,
    peers: Vec<PeerRow>,
    /// Peer checks in scope that no rule covers, with the reason.
    not_covered: Vec<PeerCheck>,
    /// Rules of the bundle that the controls table does not place.
    unmapped_rules: Vec<String>,
    /// Plugin failures and invalid inputs met while measuring.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<String>,
}

#[derive(Debug, Serialize)]
struct BundleRef {
    name: String,
    version: String,
    digest: String,
}

#[derive(Debug, Serialize)]
struct Inputs {
    files: usize,
    resources: usize,
}

#[derive(Debug, Serialize)]
struct PracticeRow {
    id: String,
    title: String,
    description: String,
    /// `covered` when at least one rule enforces it.
    status: &'static str,
    rules: Vec<RuleRow>,
    /// Peer check ids the practice's rules cover, by peer.
    peer_checks: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    results: Option<Counts>,
}

#[derive(Debug, Serialize)]
struct RuleRow {
    id: String,
    severity: String,
    title: String,
    resources: Vec<String>,
    peer_checks: BTreeMap<String, Vec<String>>,
}

/// Resources (or files, for rules that read whole files) looked at by a
/// practice's rules.
#[derive(Debug, Default, Serialize)]
struct Counts {
    checked: usize,
    passed: usize,
    failed: usize,
    /// With findings that are all suppressed (inline or by a waiver).
    waived: usize,
    failures: Vec<Failure>,
}

#[derive(Debug, Serialize)]
struct Failure {
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<String>,
    rules: Vec<String>,
}

#[derive(Debug, Serialize)]
struct PeerRow {
    peer: String,
    name: String,
    source: String,
    checks: usize,
    covered: usize,
    not_covered: usize,
}

/// A resource of a file, or the file itself (`None`).
type Item = (String, Option<String>);

/// What was measured: the documents' resources and the decision of
/// `check` on them.
pub struct Measured<'a> {
    /// (file, [(logical id, type)]) for each document.
    pub inventory: Vec<(String, Vec<(String, String)>)>,
    /// `check`'s decision on the documents.
    pub decision: &'a Decision,
}

impl Report {
    /// The report of `bundle`'s controls table, measured on `measured`.
    pub fn new(bundle: &Bundle, controls: &Controls, measured: Option<&Measured<'_>>) -> Report {
        let docs = crate::report::rules(bundle);
        let mut results = measured.map(|m| count(controls, m));
        let practices = controls
            .practices
            .iter()
            .map(|p| {
                let rules: Vec<RuleRow> = controls
                    .rules_of(&p.id)
                    .into_iter()
                    .map(|id| rule_row(controls, id, docs.get(id)))
                    .collect();
                let mut peer_checks: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for r in &rules {
                    for (peer, ids) in &r.peer_checks {
                        peer_checks
                            .entry(peer.clone())
                            .or_default()
                            .extend(ids.iter().cloned());
                    }
                }
                for ids in peer_checks.values_mut() {
                    ids.sort();
                    ids.dedup();
                }
                PracticeRow {
                    id: p.id.clone(),
                    title: p.title.clone(),
                    description: p.description.clone(),
                    status: if rules.is_empty() {
                        "not-covered"
                    } else {
                        "covered"
                    },
                    rules,
                    peer_checks,
                    results: results
                        .as_mut()
                        .map(|r| r.remove(p.id.as_str()).unwrap_or_default()),
                }
            })
            .collect();
        let peers = controls
            .peers
            .iter()
            .map(|(key, peer)| {
                let mine: Vec<&PeerCheck> =
                    controls.checks.iter().filter(|c| &c.peer == key).collect();
                let covered = mine.iter().filter(|c| !c.rules.is_empty()).count();
                PeerRow {
                    peer: key.clone(),
                    name: peer.name.clone(),
                    source: peer.source.clone(),
                    checks: mine.len(),
                    covered,
                    not_covered: mine.len() - covered,
                }
            })
            .collect();
        let not_covered = controls
            .checks
            .iter()
            .filter(|c| c.rules.is_empty())
            .cloned()
            .collect();
        let unmapped_rules = docs
            .keys()
            .filter(|id| !controls.rules.contains_key(id.as_str()))
            .cloned()
            .collect();
        Report {
            bundle: BundleRef {
                name: bundle.name().to_owned(),
                version: bundle.version().to_owned(),
                digest: bundle.digest().to_owned(),
            },
            inputs: measured.map(|m| Inputs {
                files: m.inventory.len(),
                resources: m.inventory.iter().map(|(_, r)| r.len()).sum(),
            }),
            practices,
            peers,
            not_covered,
            unmapped_rules,
            errors: measured
                .map(|m| {
                    m.decision
                        .errors
                        .iter()
                        .map(|e| format!("{} {}: {}", e.source, e.kind, e.message))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Whether measuring met errors (the counts then cannot be trusted).
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Canonical JSON (keys in a fixed order), with a final newline.
    pub fn json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// GitHub-flavoured Markdown.
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let b = &self.bundle;
        let _ = writeln!(
            o,
            "# Compliance report: {} {}\n",
            md(&b.name),
            md(&b.version)
        );
        let _ = writeln!(o, "Bundle digest `{}`.", md_code(&b.digest));
        if let Some(i) = &self.inputs {
            let _ = writeln!(
                o,
                "Measured on {} file{} with {} resource{}.",
                i.files,
                plural(i.files),
                i.resources,
                plural(i.resources)
            );
        }
        let covered = self
            .practices
            .iter()
            .filter(|p| p.status == "covered")
            .count();
        let _ = writeln!(
            o,
            "{covered} of {} practices have rules.\n",
            self.practices.len()
        );
        let measured = self.inputs.is_some();
        o.push_str("| Practice | Status | Rules | Peer checks covered |");
        o.push_str(if measured {
            " Resources | Result |\n|---|---|---|---|---|---|\n"
        } else {
            "\n|---|---|---|---|\n"
        });
        for p in &self.practices {
            let status = if p.status == "covered" {
                "✅ covered"
            } else {
                "❌ no rule"
            };
            let peers: usize = p.peer_checks.values().map(Vec::len).sum();
            let _ = write!(
                o,
                "| {} | {status} | {} | {peers} |",
                md(&p.title),
                p.rules.len()
            );
            if let Some(r) = &p.results {
                let _ = write!(o, " {} | {} {} |", r.checked, text_bar(r), result_words(r));
            }
            o.push('\n');
        }
        if !self.errors.is_empty() {
            o.push_str("\n**Errors while measuring (the counts above are incomplete):**\n\n");
            for e in &self.errors {
                let _ = writeln!(o, "- `{}`", md_code(e));
            }
        }
        for p in &self.practices {
            let _ = writeln!(o, "\n## {}\n", md(&p.title));
            let _ = writeln!(o, "{}\n", md(&p.description));
            if p.rules.is_empty() {
                o.push_str("No rule of this bundle enforces this practice.\n");
                continue;
            }
            o.push_str("| Rule | Severity | Resource types | Peer checks |\n|---|---|---|---|\n");
            for r in &p.rules {
                let _ = writeln!(
                    o,
                    "| `{}`<br>{} | {} | {} | {} |",
                    md_code(&r.id),
                    md(&r.title),
                    r.severity,
                    r.resources
                        .iter()
                        .map(|t| md(t).into_owned())
                        .collect::<Vec<_>>()
                        .join(", "),
                    md_peers(&r.peer_checks)
                );
            }
            if let Some(r) = &p.results
                && !r.failures.is_empty()
            {
                let _ = writeln!(o, "\nFailing ({}):\n", r.failed);
                for f in r.failures.iter().take(SHOWN_FAILURES) {
                    let _ = writeln!(
                        o,
                        "- `{}` {}: {}",
                        md_code(&f.file),
                        f.resource
                            .as_deref()
                            .map(|r| format!("`{}`", md_code(r)))
                            .unwrap_or_else(|| "(file)".into()),
                        f.rules
                            .iter()
                            .map(|r| format!("`{}`", md_code(r)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                if r.failures.len() > SHOWN_FAILURES {
                    let _ = writeln!(
                        o,
                        "- … and {} more (`--format json` lists all)",
                        r.failures.len() - SHOWN_FAILURES
                    );
                }
            }
        }
        o.push_str("\n## Peer checks\n\n| Tool | Checks in scope | Covered | Not covered |\n|---|---|---|---|\n");
        for p in &self.peers {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                md(&p.name),
                p.checks,
                p.covered,
                p.not_covered
            );
        }
        if !self.not_covered.is_empty() {
            o.push_str("\n### Not covered, and why\n\n| Tool | Check | Title | Reason |\n|---|---|---|---|\n");
            for c in &self.not_covered {
                let _ = writeln!(
                    o,
                    "| {} | `{}` | {} | {} |",
                    md(self.peer_name(&c.peer)),
                    md_code(&c.id),
                    md(&c.title),
                    md(c.reason.as_deref().unwrap_or(""))
                );
            }
        }
        if !self.unmapped_rules.is_empty() {
            o.push_str("\n## Rules without a practice\n\n");
            for r in &self.unmapped_rules {
                let _ = writeln!(o, "- `{}`", md_code(r));
            }
        }
        o
    }

    fn peer_name<'a>(&'a self, key: &'a str) -> &'a str {
        self.peers
            .iter()
            .find(|p| p.peer == key)
            .map_or(key, |p| p.name.as_str())
    }

    /// One self-contained HTML page (no scripts, no external resources).
    pub fn html(&self) -> String {
        let mut o = String::new();
        let b = &self.bundle;
        let title = format!("Compliance report: {} {}", b.name, b.version);
        let _ = write!(
            o,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n",
            html(&title),
            html(&title)
        );
        let covered = self
            .practices
            .iter()
            .filter(|p| p.status == "covered")
            .count();
        let _ = write!(
            o,
            "<p class=\"meta\">Bundle digest <code>{}</code>",
            html(&b.digest)
        );
        if let Some(i) = &self.inputs {
            let _ = write!(
                o,
                " · measured on {} file{} with {} resource{}",
                i.files,
                plural(i.files),
                i.resources,
                plural(i.resources)
            );
        }
        let _ = writeln!(
            o,
            "</p>\n<p class=\"summary\"><strong>{covered} of {}</strong> practices have rules.</p>",
            self.practices.len()
        );
        if !self.errors.is_empty() {
            o.push_str("<div class=\"errors\"><strong>Errors while measuring</strong> (the counts are incomplete):<ul>");
            for e in &self.errors {
                let _ = write!(o, "<li><code>{}</code></li>", html(e));
            }
            o.push_str("</ul></div>\n");
        }
        let measured = self.inputs.is_some();
        o.push_str("<table class=\"overview\">\n<thead><tr><th>Practice</th><th>Rules</th><th>Peer checks</th>");
        if measured {
            o.push_str("<th>Resources</th><th class=\"barcol\">Result</th>");
        }
        o.push_str("</tr></thead>\n<tbody>\n");
        for p in &self.practices {
            let peers: usize = p.peer_checks.values().map(Vec::len).sum();
            let class = if p.status == "covered" {
                "covered"
            } else {
                "uncovered"
            };
            let rules = if p.rules.is_empty() {
                "<span class=\"tag bad\">no rule</span>".to_owned()
            } else {
                p.rules.len().to_string()
            };
            let _ = write!(
                o,
                "<tr class=\"{class}\"><td><a href=\"#{}\">{}</a></td><td class=\"num\">{rules}</td><td class=\"num\">{peers}</td>",
                html(&p.id),
                html(&p.title)
            );
            if let Some(r) = &p.results {
                let _ = write!(
                    o,
                    "<td class=\"num\">{}</td><td>{}<div class=\"legend\">{}</div></td>",
                    r.checked,
                    html_bar(r),
                    html(&result_words(r))
                );
            }
            o.push_str("</tr>\n");
        }
        o.push_str("</tbody>\n</table>\n");
        for p in &self.practices {
            let _ = write!(
                o,
                "<section id=\"{}\">\n<h2>{}</h2>\n<p>{}</p>\n",
                html(&p.id),
                html(&p.title),
                html(&p.description)
            );
            if p.rules.is_empty() {
                o.push_str("<p class=\"tag bad\">No rule of this bundle enforces this practice.</p>\n</section>\n");
                continue;
            }
            o.push_str("<table>\n<thead><tr><th>Rule</th><th>Severity</th><th>Resource types</th><th>Peer checks</th></tr></thead>\n<tbody>\n");
            for r in &p.rules {
                let _ = writeln!(
                    o,
                    "<tr><td><code>{}</code><div class=\"title\">{}</div></td><td><span class=\"sev {}\">{}</span></td><td class=\"types\">{}</td><td class=\"peers\">{}</td></tr>",
                    html(&r.id),
                    html(&r.title),
                    html(&r.severity),
                    html(&r.severity),
                    r.resources
                        .iter()
                        .map(|t| html(t).into_owned())
                        .collect::<Vec<_>>()
                        .join("<br>"),
                    r.peer_checks
                        .iter()
                        .map(|(peer, ids)| format!("{}: {}", html(peer), html(&ids.join(", "))))
                        .collect::<Vec<_>>()
                        .join("<br>")
                );
            }
            o.push_str("</tbody>\n</table>\n");
            if let Some(r) = &p.results
                && !r.failures.is_empty()
            {
                let _ = write!(
                    o,
                    "<h3>Failing ({})</h3>\n<ul class=\"failures\">\n",
                    r.failed
                );
                for f in r.failures.iter().take(SHOWN_FAILURES) {
                    let _ = writeln!(
                        o,
                        "<li><code>{}</code> {} <span class=\"rules\">{}</span></li>",
                        html(&f.file),
                        f.resource
                            .as_deref()
                            .map(|r| format!("<code>{}</code>", html(r)))
                            .unwrap_or_else(|| "(file)".into()),
                        html(&f.rules.join(", "))
                    );
                }
                if r.failures.len() > SHOWN_FAILURES {
                    let _ = writeln!(
                        o,
                        "<li>… and {} more (<code>--format json</code> lists all)</li>",
                        r.failures.len() - SHOWN_FAILURES
                    );
                }
                o.push_str("</ul>\n");
            }
            o.push_str("</section>\n");
        }
        o.push_str("<section id=\"peers\">\n<h2>Peer checks</h2>\n<table>\n<thead><tr><th>Tool</th><th>Checks in scope</th><th>Covered</th><th>Not covered</th></tr></thead>\n<tbody>\n");
        for p in &self.peers {
            let _ = writeln!(
                o,
                "<tr><td>{}<div class=\"title\">{}</div></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                html(&p.name),
                html(&p.source),
                p.checks,
                p.covered,
                p.not_covered
            );
        }
        o.push_str("</tbody>\n</table>\n");
        if !self.not_covered.is_empty() {
            o.push_str("<h3>Not covered, and why</h3>\n<table>\n<thead><tr><th>Tool</th><th>Check</th><th>Title</th><th>Reason</th></tr></thead>\n<tbody>\n");
            for c in &self.not_covered {
                let _ = writeln!(
                    o,
                    "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                    html(self.peer_name(&c.peer)),
                    html(&c.id),
                    html(&c.title),
                    html(c.reason.as_deref().unwrap_or(""))
                );
            }
            o.push_str("</tbody>\n</table>\n");
        }
        o.push_str("</section>\n");
        if !self.unmapped_rules.is_empty() {
            o.push_str("<section><h2>Rules without a practice</h2><ul>");
            for r in &self.unmapped_rules {
                let _ = write!(o, "<li><code>{}</code></li>", html(r));
            }
            o.push_str("</ul></section>\n");
        }
        o.push_str("</main>\n</body>\n</html>\n");
        o
    }
}

fn rule_row(controls: &Controls, id: &str, doc: Option<&RuleDoc>) -> RuleRow {
    let mut peer_checks: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in controls.checks_of(id) {
        peer_checks
            .entry(c.peer.clone())
            .or_default()
            .push(c.id.clone());
    }
    RuleRow {
        id: id.to_owned(),
        severity: doc.map(|d| d.severity.to_string()).unwrap_or_default(),
        title: doc.map(|d| d.title.clone()).unwrap_or_default(),
        resources: controls
            .rules
            .get(id)
            .map(|c| c.resources.clone())
            .unwrap_or_default(),
        peer_checks,
    }
}

/// Per practice: the items its rules look at, and which of them fail.
fn count(controls: &Controls, m: &Measured<'_>) -> BTreeMap<String, Counts> {
    // Which practices look at a resource type, and which look at files.
    let mut by_type: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for c in controls.rules.values() {
        for t in &c.resources {
            by_type
                .entry(t.as_str())
                .or_default()
                .extend(c.practices.iter().map(String::as_str));
        }
    }
    let mut checked: BTreeMap<&str, BTreeSet<Item>> = BTreeMap::new();
    for (file, resources) in &m.inventory {
        for p in by_type.get("file").into_iter().flatten() {
            checked.entry(p).or_default().insert((file.clone(), None));
        }
        for (id, kind) in resources {
            for p in by_type.get(kind.as_str()).into_iter().flatten() {
                checked
                    .entry(p)
                    .or_default()
                    .insert((file.clone(), Some(id.clone())));
            }
        }
    }
    let mut failed: BTreeMap<&str, BTreeMap<Item, BTreeSet<String>>> = BTreeMap::new();
    let mut waived: BTreeMap<&str, BTreeSet<Item>> = BTreeMap::new();
    for f in &m.decision.findings {
        let Some(c) = controls.rules.get(&f.rule_id) else {
            continue;
        };
        let file = f.file.clone().unwrap_or_else(|| "-".into());
        let item: Item = if c.resources.iter().any(|t| t == "file") {
            (file, None)
        } else {
            (file, f.resource.clone())
        };
        for p in &c.practices {
            let p = p.as_str();
            // A finding on a resource the table did not expect still counts.
            checked.entry(p).or_default().insert(item.clone());
            if f.suppressed.is_some() {
                waived.entry(p).or_default().insert(item.clone());
            } else {
                failed
                    .entry(p)
                    .or_default()
                    .entry(item.clone())
                    .or_default()
                    .insert(f.rule_id.clone());
            }
        }
    }
    // A policy that failed on a resource proves nothing about it: the
    // resource fails the policy's practices (the decision denied too).
    for e in &m.decision.errors {
        let (Some(policy), Some(file), Some(resource)) = (&e.policy, &e.file, &e.resource) else {
            continue;
        };
        let Some(c) = controls.rules.get(policy) else {
            continue;
        };
        let item: Item = (file.clone(), Some(resource.clone()));
        for p in &c.practices {
            let p = p.as_str();
            checked.entry(p).or_default().insert(item.clone());
            failed
                .entry(p)
                .or_default()
                .entry(item.clone())
                .or_default()
                .insert(format!("{policy} (evaluation error)"));
        }
    }
    let mut out = BTreeMap::new();
    for p in &controls.practices {
        let p = p.id.as_str();
        let all = checked.remove(p).unwrap_or_default();
        let fails = failed.remove(p).unwrap_or_default();
        let waived = waived
            .remove(p)
            .unwrap_or_default()
            .into_iter()
            .filter(|i| !fails.contains_key(i))
            .count();
        let failures: Vec<Failure> = fails
            .into_iter()
            .map(|((file, resource), rules)| Failure {
                file,
                resource,
                rules: rules.into_iter().collect(),
            })
            .collect();
        out.insert(
            p.to_owned(),
            Counts {
                checked: all.len(),
                passed: all.len() - failures.len() - waived,
                failed: failures.len(),
                waived,
                failures,
            },
        );
    }
    out
}

/// Peer checks in a Markdown cell: each name and id escaped, one peer a line.
fn md_peers(peers: &BTreeMap<String, Vec<String>>) -> String {
    peers
        .iter()
        .map(|(peer, ids)| {
            let ids: Vec<String> = ids.iter().map(|i| md(i).into_owned()).collect();
            format!("{}: {}", md(peer), ids.join(", "))
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn result_words(r: &Counts) -> String {
    let mut s = format!("{} pass, {} fail", r.passed, r.failed);
    if r.waived > 0 {
        let _ = write!(s, ", {} waived", r.waived);
    }
    s
}

/// A ten-cell bar of passing (█) and failing (░) items.
fn text_bar(r: &Counts) -> String {
    if r.checked == 0 {
        return "—".into();
    }
    let pass = (r.passed * 10 + r.checked / 2) / r.checked;
    format!("{}{}", "█".repeat(pass), "░".repeat(10 - pass.min(10)))
}

fn html_bar(r: &Counts) -> String {
    if r.checked == 0 {
        return "<div class=\"bar empty\">nothing to check</div>".into();
    }
    let pct = |n: usize| n as f64 * 100.0 / r.checked as f64;
    format!(
        "<div class=\"bar\" role=\"img\" aria-label=\"{}\"><span class=\"pass\" style=\"width:{:.1}%\"></span><span class=\"waived\" style=\"width:{:.1}%\"></span><span class=\"fail\" style=\"width:{:.1}%\"></span></div>",
        html(&result_words(r)),
        pct(r.passed),
        pct(r.waived),
        pct(r.failed)
    )
}

/// Text for HTML element content and attribute values (control and
/// bidirectional characters shown escaped, as `check` shows them).
fn html(s: &str) -> std::borrow::Cow<'_, str> {
    let s = crate::output::escape(s);
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return s;
    }
    let mut o = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    std::borrow::Cow::Owned(o)
}

/// Text in a Markdown table cell: characters that would start markup or
/// end the cell are escaped, line breaks become spaces.
fn md(s: &str) -> std::borrow::Cow<'_, str> {
    const SPECIAL: &[char] = &[
        '\\', '`', '*', '_', '[', ']', '<', '>', '|', '#', '!', '&', '\n', '\r', '~',
    ];
    let s = crate::output::escape(s);
    if !s.contains(SPECIAL) {
        return s;
    }
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' | '\r' => o.push(' '),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            c if SPECIAL.contains(&c) => {
                o.push('\\');
                o.push(c);
            }
            c => o.push(c),
        }
    }
    std::borrow::Cow::Owned(o)
}

/// Text inside a Markdown code span in a table: no backticks (they would
/// end the span), pipes escaped (GitHub splits cells on them even in code),
/// line breaks as spaces.
fn md_code(s: &str) -> String {
    crate::output::escape(s)
        .replace('`', "'")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

const CSS: &str = "
body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2328;background:#fff;margin:0}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 6px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
h3{font-size:16px;margin:18px 0 6px}
.meta{color:#59636e;margin:0 0 8px}.summary{font-size:17px}
table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{border:1px solid #d0d7de;padding:6px 10px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.uncovered td{background:#fff1f0}
.barcol{width:34%}
.bar{display:flex;height:14px;border-radius:3px;overflow:hidden;background:#eaeef2;min-width:160px}
.bar span{display:block;height:100%}
.bar .pass{background:#2da44e}.bar .fail{background:#cf222e}.bar .waived{background:#8c959f}
.bar.empty{color:#59636e;background:none;font-size:12px;height:auto}
.legend{font-size:12px;color:#59636e;margin-top:2px}
.tag{display:inline-block;padding:0 6px;border-radius:10px;font-size:12px}.tag.bad{background:#ffebe9;color:#a40e26}
.title{color:#59636e;font-size:13px}
.types,.peers{font-size:13px}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f6f8fa;padding:1px 4px;border-radius:4px;word-break:break-all}
.sev{font-size:12px;padding:1px 6px;border-radius:10px;background:#eaeef2}
.sev.critical{background:#cf222e;color:#fff}.sev.high{background:#ffebe9;color:#a40e26}.sev.medium{background:#fff8c5;color:#7d4e00}
.errors{background:#fff1f0;border:1px solid #ffcecb;padding:8px 12px;border-radius:6px}
.failures{font-size:13px}.failures .rules{color:#59636e}
";
