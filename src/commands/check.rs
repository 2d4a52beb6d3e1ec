//! `palisade check`

use crate::cli::{CheckArgs, CheckFormat};
use crate::exit;
use crate::output;
use crate::source;
use palisade_engine::{
    CheckOptions, Decision, Document, DocumentFormat, Waivers, cedar_policy::EntityUid,
};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

const EXTENSIONS: &[&str] = &["yaml", "yml", "json", "template"];

/// Files to check: explicit files as given, directories walked (sorted)
/// for YAML/JSON files.
fn collect(paths: &[PathBuf]) -> Result<Vec<(PathBuf, bool)>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p == Path::new("-") {
            out.push((p.clone(), true));
        } else if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found);
            found.sort();
            out.extend(found.into_iter().map(|f| (f, false)));
        } else if p.is_file() {
            out.push((p.clone(), true));
        } else {
            return Err(format!("`{}` does not exist", p.display()));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(Result::ok) {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "node_modules" || name == "target" {
            continue;
        }
        if path.is_dir() {
            walk(&path, out);
        } else if path
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| EXTENSIONS.contains(&x))
        {
            out.push(path);
        }
    }
}

pub fn execute(args: &CheckArgs) -> u8 {
    let now = match source::now(args.now.as_deref()) {
        Ok(n) => n,
        Err(code) => return code,
    };
    let principal = match EntityUid::from_str(&args.principal) {
        Ok(p) => p,
        Err(e) => {
            output::error(&format!(
                "--principal `{}`: {}",
                args.principal,
                e.to_string().lines().next().unwrap_or("invalid")
            ));
            return exit::ERROR;
        }
    };
    let files = match collect(&args.paths) {
        Ok(f) => f,
        Err(e) => {
            output::error(&e);
            return exit::ERROR;
        }
    };
    let waivers = match &args.waivers {
        None => Waivers::default(),
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))
            .and_then(|text| {
                Waivers::parse(&path.display().to_string(), &text).map_err(|e| e.to_string())
            }) {
            Ok(w) => w,
            Err(e) => {
                output::error(&e);
                return exit::ERROR;
            }
        },
    };
    for w in waivers.expired(now) {
        output::warning(&format!(
            "{}:{}: the waiver of `{}` (owner {}) expired on {}; it no longer suppresses",
            args.waivers.as_deref().unwrap_or(Path::new("")).display(),
            w.line,
            w.rule,
            w.owner,
            w.expires
        ));
    }
    let (engine, bundle) = match source::engine_and_bundle(&args.bundle) {
        Ok(eb) => eb,
        Err(code) => return code,
    };

    // Parse every file; a file that does not parse is reported and the
    // others are still checked.
    let progress = progress_bar(files.len());
    let mut docs = Vec::new();
    let mut unreadable = 0;
    for (path, explicit) in &files {
        if let Some(bar) = &progress {
            bar.inc(1);
        }
        let name = path.display().to_string();
        let text = if path == Path::new("-") {
            let mut s = String::new();
            match std::io::stdin().read_to_string(&mut s) {
                Ok(_) => s,
                Err(e) => {
                    output::error(&format!("cannot read standard input: {e}"));
                    unreadable += 1;
                    continue;
                }
            }
        } else {
            match std::fs::read_to_string(path) {
                Ok(s) => s,
                Err(e) => {
                    output::error(&format!("cannot read `{name}`: {e}"));
                    unreadable += 1;
                    continue;
                }
            }
        };
        match Document::parse(&name, &text) {
            Ok(doc) if doc.format == DocumentFormat::Unknown && !explicit => {}
            Ok(doc) => docs.push(doc),
            Err(e) => {
                output::error(&e.to_string());
                unreadable += 1;
            }
        }
    }
    if docs.is_empty() && unreadable == 0 {
        output::error(
            "no deployment files found (CloudFormation/SAM templates in .yaml, .yml, .json or .template)",
        );
        return exit::ERROR;
    }

    let options = CheckOptions {
        principal,
        fail_on: args.fail_on,
        waivers,
        on_document: progress.clone().map(|bar| {
            bar.set_message("checking");
            bar.set_length(files.len() as u64 + docs.len() as u64);
            std::sync::Arc::new(move |_: &str| bar.inc(1)) as palisade_engine::OnDocument
        }),
    };
    let decision = engine.check(&bundle, &docs, &options, now);
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let report = match args.format {
        CheckFormat::Json => format!("{}\n", decision.to_json()),
        CheckFormat::Sarif => format!("{}\n", crate::report::sarif(&bundle, &decision)),
        CheckFormat::Junit => {
            let files: Vec<String> = docs.iter().map(|d| d.file.clone()).collect();
            crate::report::junit(&decision, &files, options.fail_on)
        }
        CheckFormat::Human => human(&decision, docs.len(), unreadable, options.fail_on),
    };
    let written = match &args.output {
        Some(path) => std::fs::write(path, anstream::adapter::strip_str(&report).to_string())
            .map_err(|e| format!("cannot write `{}`: {e}", path.display())),
        None => {
            anstream::print!("{report}");
            Ok(())
        }
    };
    if let Err(e) = written {
        output::error(&e);
        return exit::ERROR;
    }
    if unreadable > 0 {
        exit::ERROR
    } else if decision.is_allowed() {
        exit::OK
    } else {
        exit::DENY
    }
}

/// Files at which a progress bar is worth showing.
const PROGRESS_FROM: usize = 20;

/// A progress bar on standard error, when it is a terminal and there are
/// many files: each file counts once when parsed and once when checked.
fn progress_bar(files: usize) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal as _;
    if files < PROGRESS_FROM || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(2 * files as u64);
    let style = indicatif::ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message("parsing");
    Some(bar)
}

/// The human report of `d` over `files` checked files; `unreadable` files
/// could not be read or parsed (their errors are on standard error).
fn human(
    d: &Decision,
    files: usize,
    unreadable: usize,
    fail_on: palisade_engine::Severity,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let bold = anstyle::Style::new().bold();
    let dim = anstyle::Style::new().dimmed();
    let mut current: Option<(Option<&str>, Option<&str>)> = None;
    let (suppressed, mut findings): (Vec<&palisade_engine::Finding>, Vec<_>) =
        d.findings.iter().partition(|f| f.suppressed.is_some());
    findings.sort_by(|a, b| {
        (
            &a.file,
            &a.resource,
            std::cmp::Reverse(a.severity),
            a.line,
            &a.rule_id,
        )
            .cmp(&(
                &b.file,
                &b.resource,
                std::cmp::Reverse(b.severity),
                b.line,
                &b.rule_id,
            ))
    });
    let mut last_file: Option<&str> = None;
    for f in &findings {
        let key = (f.file.as_deref(), f.resource.as_deref());
        if current != Some(key) {
            if last_file != f.file.as_deref() {
                let _ = writeln!(
                    out,
                    "\n{bold}{}{bold:#}",
                    f.file.as_deref().unwrap_or("(input)")
                );
                last_file = f.file.as_deref();
            }
            let _ = writeln!(
                out,
                "  {bold}{}{bold:#}",
                f.resource.as_deref().unwrap_or("(file)")
            );
            current = Some(key);
        }
        let st = output::severity_style(f.severity);
        let at = f.line.map(|l| format!(":{l}")).unwrap_or_default();
        let suppressed = if f.monitor { " (monitor)" } else { "" };
        let _ = writeln!(
            out,
            "    {st}{:<8}{st:#} {}  {dim}{}{at} · {}{dim:#}{suppressed}",
            f.severity,
            f.rule_id,
            f.file.as_deref().unwrap_or(""),
            f.source
        );
        let _ = writeln!(out, "             {}", f.message);
        if let Some(r) = &f.remediation {
            let _ = writeln!(out, "             {dim}fix:{dim:#} {r}");
        }
    }
    if !suppressed.is_empty() {
        let _ = writeln!(out, "\n{bold}suppressed{bold:#}");
        for f in &suppressed {
            let Some(s) = &f.suppressed else { continue };
            let by = match (&s.owner, &s.expires) {
                (Some(o), Some(e)) => format!(" (waiver by {o}, until {e})"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "  {dim}{:<8}{dim:#} {} {}  {dim}{}{} · {}{dim:#}\n             {}{by}",
                f.severity,
                f.rule_id,
                f.resource.as_deref().unwrap_or(""),
                f.file.as_deref().unwrap_or(""),
                f.line.map(|l| format!(":{l}")).unwrap_or_default(),
                s.location,
                s.reason,
            );
        }
    }
    for e in &d.errors {
        let _ = writeln!(out, "\n  error {} {}: {}", e.source, e.kind, e.message);
    }
    let failing = findings
        .iter()
        .filter(|f| f.severity >= fail_on && !f.monitor)
        .count();
    // A file that could not be read is never a pass.
    let verdict = match (unreadable, d.is_allowed()) {
        (0, true) => "PASS",
        (0, false) => "FAIL",
        _ => "ERROR",
    };
    let color = if verdict == "PASS" {
        anstyle::AnsiColor::Green
    } else {
        anstyle::AnsiColor::Red
    };
    let st = anstyle::Style::new().fg_color(Some(color.into())).bold();
    let _ = writeln!(
        out,
        "\n{st}{verdict}{st:#}  {} finding{} ({failing} at {fail_on} or above{}) in {files} file{} · bundle {} {}",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        if suppressed.is_empty() {
            String::new()
        } else {
            format!(", {} suppressed", suppressed.len())
        },
        if files == 1 { "" } else { "s" },
        d.bundle.name,
        d.bundle.version,
    );
    if unreadable > 0 {
        let _ = writeln!(
            out,
            "  {unreadable} file{} could not be read or parsed (errors on standard error)",
            if unreadable == 1 { "" } else { "s" }
        );
    }
    if !d.is_allowed() && d.findings.is_empty() {
        let _ = writeln!(out, "  {}", d.basis.describe());
    }
    out
}
