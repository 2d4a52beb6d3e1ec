//! Rendering for people: decisions, bundles and errors. Colors go through
//! `anstream`, which strips them when the output is not a terminal or
//! `NO_COLOR` is set.
//!
//! Every string that came from outside (a template, a request, a bundle, a
//! plugin) goes through [`escape`] before it reaches a person, whatever the
//! terminal: control characters and bidirectional overrides are shown as
//! visible escapes (`\x1b`, `\u{202e}`), like git's `core.quotePath`, so an
//! input cannot clear the screen, set the window title, write the clipboard
//! or print a line of its own. Machine formats (JSON, SARIF, JUnit) are never
//! escaped nor stripped: they are written byte for byte.

use anstyle::{AnsiColor, Style};
use palisade_engine::{BundleError, Decision, Effect, Severity};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;

/// True for the characters a terminal may act on or that reorder what is
/// shown: C0 controls, DEL, C1 controls, bidirectional marks, embeddings,
/// overrides and isolates, and the Unicode line and paragraph separators.
fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{61c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// `s` made safe to show: control characters and bidirectional controls
/// become visible escapes (`\n`, `\x1b`, `\u{202e}`); everything else is
/// kept. Borrowed when nothing needed escaping.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x80 && needs_escape(c) => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Like [`escape`], but keeps line feeds: for messages of several lines
/// that the program writes itself around escaped parts. Lines after the
/// first are indented, so no line can pass for one of the program's own.
fn escape_lines(s: &str) -> String {
    s.split('\n')
        .map(|l| escape(l).into_owned())
        .collect::<Vec<_>>()
        .join("\n  ")
}

pub use palisade_engine::shorten;

/// A path as shown to a person: [`escape`]d.
pub fn path(p: &Path) -> String {
    escape(&p.display().to_string()).into_owned()
}

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
    let _ = writeln!(out, "{verdict}  {}", escape(subject));
    let _ = write!(out, "  {}", d.basis.describe());
    if !d.reasons.is_empty() {
        let _ = write!(
            out,
            ": {}",
            d.reasons
                .iter()
                .map(|r| format!("`{}`", escape(r)))
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
                f.severity,
                escape(&f.rule_id),
                f.category,
                escape(&f.source.to_string())
            );
            let _ = writeln!(out, "           {}", escape(&f.message));
            if let Some(p) = &f.pointer {
                let _ = writeln!(out, "           {DIM}at {}{DIM:#}", escape(p));
            }
            if let Some(r) = &f.remediation {
                let _ = writeln!(
                    out,
                    "           {}fix:{:#} {}",
                    color(AnsiColor::Green),
                    color(AnsiColor::Green),
                    escape(r)
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
                .map(|p| format!(" policy `{}`", escape(p)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {}{}{:#} {}{policy}: {}{monitor}",
                color(AnsiColor::Red),
                e.kind,
                color(AnsiColor::Red),
                escape(&e.source.to_string()),
                escape(&e.message)
            );
        }
    }
    let _ = writeln!(
        out,
        "\n{DIM}bundle {} {} ({}){DIM:#}",
        escape(&d.bundle.name),
        escape(&d.bundle.version),
        escape(&d.bundle.digest)
    );
    out
}

/// Writes `text` to standard output: `human` text through the colour
/// adapter (colours stripped unless a terminal wants them), anything else
/// (JSON, SARIF, JUnit, tokens) byte for byte. A closed standard output
/// (`palisade ... | head`) is an error to report, never a panic as in
/// `println!`.
pub fn to_stdout(text: &str, human: bool) -> Result<(), String> {
    use std::io::Write as _;
    let written = if human {
        let mut out = anstream::stdout();
        out.write_all(text.as_bytes()).and_then(|()| out.flush())
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes()).and_then(|()| out.flush())
    };
    written.map_err(|e| format!("cannot write to standard output: {e}"))
}

/// [`to_stdout`], then `code`; or the error reported and its exit code.
pub fn print_or_error(text: &str, human: bool, code: u8) -> u8 {
    match to_stdout(text, human) {
        Ok(()) => code,
        Err(e) => {
            error(&e);
            crate::exit::ERROR
        }
    }
}

/// Prints an error line: `palisade: error: ...`. Control characters in
/// `msg` are escaped; file names and input text in it should already be
/// [`escape`]d by the caller (a line feed is kept, and the next line
/// indented).
pub fn error(msg: &str) {
    anstream::eprintln!(
        "{}palisade: error:{:#} {}",
        color(AnsiColor::Red).bold(),
        color(AnsiColor::Red).bold(),
        escape_lines(msg)
    );
}

/// Prints a warning line: `palisade: warning: ...`, escaped as [`error`].
pub fn warning(msg: &str) {
    anstream::eprintln!(
        "{}palisade: warning:{:#} {}",
        color(AnsiColor::Yellow).bold(),
        color(AnsiColor::Yellow).bold(),
        escape_lines(msg)
    );
}

/// Prints a note on standard error: `palisade: MESSAGE`, escaped as
/// [`error`].
pub fn note(msg: &str) {
    anstream::eprintln!("palisade: {}", escape_lines(msg));
}

/// Prints plugins' log lines on standard error, one a line:
/// `palisade: plugin NAME: LEVEL: MESSAGE`, the plugin's text escaped.
pub fn plugin_logs(logs: &[palisade_engine::PluginLog]) {
    for l in logs {
        anstream::eprintln!(
            "{}palisade: plugin {}:{:#} {}: {}",
            color(AnsiColor::Cyan),
            escape(&l.plugin),
            color(AnsiColor::Cyan),
            l.level,
            escape(&l.message)
        );
    }
}

/// Prints a bundle error with every problem, located.
pub fn bundle_error(e: &BundleError) {
    use std::io::IsTerminal as _;
    let fancy = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let n = e.problems.len();
    error(&format!(
        "cannot load bundle `{}`: {n} problem{}",
        escape(&e.dir),
        if n == 1 { "" } else { "s" }
    ));
    for p in &e.problems {
        if fancy {
            // Without colors: the rendering quotes bundle files, so every
            // control character in it is escaped (line feeds kept).
            let mut s = String::new();
            let handler = miette::GraphicalReportHandler::new_themed(
                miette::GraphicalTheme::unicode_nocolor(),
            );
            if handler.render_report(&mut s, p).is_ok() {
                let shown: Vec<String> = s.split('\n').map(|l| escape(l).into_owned()).collect();
                anstream::eprintln!("{}", shown.join("\n"));
                continue;
            }
        }
        anstream::eprintln!("  --> {}", escape_lines(&p.to_string()));
        if let Some(h) = &p.help {
            anstream::eprintln!("      help: {}", escape_lines(h));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_shows_every_control_and_bidi_character_visibly() {
        assert!(matches!(escape("OrdersFunction → é ✓"), Cow::Borrowed(_)));
        assert_eq!(escape("a\u{1b}[2Jb"), r"a\x1b[2Jb");
        assert_eq!(escape("\t\n\r\0\u{7}\u{7f}"), r"\t\n\r\x00\x07\x7f");
        assert_eq!(escape("\u{85}\u{9b}"), r"\u{85}\u{9b}");
        for c in [
            '\u{61c}', '\u{200e}', '\u{200f}', '\u{2028}', '\u{2029}', '\u{202a}', '\u{202b}',
            '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
        ] {
            let shown = escape(&c.to_string()).into_owned();
            assert_eq!(shown, format!("\\u{{{:x}}}", u32::from(c)));
        }
        // Nothing that needs escaping is left in any output.
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        assert!(!escape(&all).chars().any(needs_escape));
    }

    #[test]
    fn error_lines_keep_line_feeds_but_indent_what_follows() {
        assert_eq!(escape_lines("a\nPASS\r"), "a\n  PASS\\r");
    }
}
