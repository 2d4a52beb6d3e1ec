//! Rendering for people: decisions, bundles and errors. Colors go through
//! `anstream`, which strips them when the output is not a terminal or
//! `NO_COLOR` is set.

use anstyle::{AnsiColor, Style};
use palisade_engine::{BundleError, Decision, Effect, Severity};
use std::fmt::Write as _;

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();

fn color(c: AnsiColor) -> Style {
    Style::new().fg_color(Some(c.into()))
}

pub fn severity_style(s: Severity) -> Style {
    match s {
        Severity::Critical => color(AnsiColor::Magenta).bold(),
        Severity::High => color(AnsiColor::Red).bold(),
        Severity::Medium => color(AnsiColor::Yellow),
        Severity::Low => color(AnsiColor::Cyan),
        Severity::Info => DIM,
    }
}

/// A decision for people: the verdict, why, findings with fixes, errors.
pub fn decision_human(d: &Decision, subject: &str) -> String {
    let mut out = String::new();
    let verdict = match d.decision {
        Effect::Allow => format!(
            "{}ALLOW{}",
            color(AnsiColor::Green).bold(),
            color(AnsiColor::Green).bold().render_reset()
        ),
        Effect::Deny => format!(
            "{}DENY{}",
            color(AnsiColor::Red).bold(),
            color(AnsiColor::Red).bold().render_reset()
        ),
    };
    let _ = writeln!(out, "{verdict}  {subject}");
    let _ = write!(out, "  {}", d.basis.describe());
    if !d.reasons.is_empty() {
        let _ = write!(
            out,
            ": {}",
            d.reasons
                .iter()
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    out.push('\n');
    if !d.findings.is_empty() {
        let _ = writeln!(out, "\n{BOLD}findings{BOLD:#}");
        for f in &d.findings {
            let st = severity_style(f.severity);
            let monitor = if f.monitor { " (monitor)" } else { "" };
            let _ = writeln!(
                out,
                "  {st}{:<8}{st:#} {} {DIM}[{}, {}]{DIM:#}{monitor}",
                f.severity, f.rule_id, f.category, f.source
            );
            let _ = writeln!(out, "           {}", f.message);
            if let Some(p) = &f.pointer {
                let _ = writeln!(out, "           {DIM}at {p}{DIM:#}");
            }
            if let Some(r) = &f.remediation {
                let _ = writeln!(
                    out,
                    "           {}fix:{:#} {r}",
                    color(AnsiColor::Green),
                    color(AnsiColor::Green)
                );
            }
        }
    }
    if !d.errors.is_empty() {
        let _ = writeln!(out, "\n{BOLD}errors{BOLD:#}");
        for e in &d.errors {
            let monitor = if e.monitor {
                " (monitor: does not deny)"
            } else {
                ""
            };
            let policy = e
                .policy
                .as_deref()
                .map(|p| format!(" policy `{p}`"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {}{}{:#} {}{policy}: {}{monitor}",
                color(AnsiColor::Red),
                e.kind,
                color(AnsiColor::Red),
                e.source,
                e.message
            );
        }
    }
    let _ = writeln!(
        out,
        "\n{DIM}bundle {} {} ({}){DIM:#}",
        d.bundle.name, d.bundle.version, d.bundle.digest
    );
    out
}

/// Prints an error line: `palisade: error: ...`.
pub fn error(msg: &str) {
    anstream::eprintln!(
        "{}palisade: error:{:#} {msg}",
        color(AnsiColor::Red).bold(),
        color(AnsiColor::Red).bold()
    );
}

/// Prints a warning line: `palisade: warning: ...`.
pub fn warning(msg: &str) {
    anstream::eprintln!(
        "{}palisade: warning:{:#} {msg}",
        color(AnsiColor::Yellow).bold(),
        color(AnsiColor::Yellow).bold()
    );
}

/// Prints a bundle error with every problem, located.
pub fn bundle_error(e: &BundleError) {
    use std::io::IsTerminal as _;
    let fancy = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let n = e.problems.len();
    error(&format!(
        "cannot load bundle `{}`: {n} problem{}",
        e.dir,
        if n == 1 { "" } else { "s" }
    ));
    for p in &e.problems {
        if fancy {
            let mut s = String::new();
            let handler = miette::GraphicalReportHandler::new();
            if handler.render_report(&mut s, p).is_ok() {
                anstream::eprintln!("{s}");
                continue;
            }
        }
        anstream::eprintln!("  --> {p}");
        if let Some(h) = &p.help {
            anstream::eprintln!("      help: {h}");
        }
    }
}
