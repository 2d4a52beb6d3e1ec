//! `palisade check`

use crate::cli::{CheckArgs, CheckFormat};
use crate::exit;
use crate::output;
use crate::source;
use output::escape;
use palisade_deploy::{CheckOptions, Document, DocumentFormat, Waivers};
use palisade_engine::Decision;
use std::path::{Path, PathBuf};

/// What `check` says about an empty file or empty standard input.
pub fn execute(args: &CheckArgs) -> u8 {
    let now = match source::now(args.now.as_deref()) {
        Ok(n) => n,
        Err(code) => return code,
    };
    let principal = match source::principal(&args.principal) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let files = match source::collect_inputs(&args.paths) {
        Ok(f) => f,
        Err(e) => {
            output::error(&e);
            return exit::ERROR;
        }
    };
    if let Some(out) = &args.output {
        let others: Vec<&Path> = args.waivers.iter().map(|p| p.as_path()).collect();
        if let Err(e) = source::refuse_input_as_output(out, &files, &others)
            .and_then(|()| source::refuse_output_in_bundle(out, &args.bundle, &args.verify_keys))
        {
            output::error(&e);
            return exit::ERROR;
        }
    }
    let waivers = match read_waivers(args.waivers.as_deref(), now) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let (_, bundle) = match source::engine_and_verified_bundle(&args.bundle, &args.verify_keys) {
        Ok(eb) => eb,
        Err(code) => return code,
    };
    warn_unknown_waivers(&waivers, args.waivers.as_deref(), &bundle);

    let progress = progress_bar(files.len());
    let (docs, unreadable) = parse_documents(&files, args.max_file_size, progress.as_ref());
    if docs.is_empty() && unreadable.is_empty() {
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
            std::sync::Arc::new(move |_: &str| bar.inc(1)) as palisade_deploy::OnDocument
        }),
    };
    let mut decision = palisade_deploy::check(&bundle, &docs, &options, now);
    // A file that could not be read or parsed is never a pass, in the
    // report as in the exit code.
    for message in &unreadable {
        decision.invalid_input(message.clone());
    }
    let unreadable = unreadable.len();
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    if args.plugin_logs {
        output::plugin_logs(&decision.plugin_logs);
    }
    let report = match args.format {
        CheckFormat::Json if args.plugin_logs => {
            format!("{}\n", decision.to_json_with_plugin_logs())
        }
        CheckFormat::Json => format!("{}\n", decision.to_json()),
        CheckFormat::Sarif => format!("{}\n", crate::report::sarif(&bundle, &decision)),
        CheckFormat::Junit => {
            let files: Vec<String> = docs.iter().map(|d| d.file.clone()).collect();
            crate::report::junit(&decision, &files, options.fail_on)
        }
        CheckFormat::Human => human(&decision, docs.len(), unreadable, options.fail_on),
    };
    // Machine formats are written byte for byte, never through anstream
    // (its stripping would drop bytes of the input, such as DEL, from
    // JSON strings); the human report holds only escaped input text, and
    // loses its colors in a file.
    let human = args.format == CheckFormat::Human;
    let written = match &args.output {
        Some(path) if human => source::write_atomically(
            path,
            anstream::adapter::strip_str(&report).to_string().as_bytes(),
        ),
        Some(path) => source::write_atomically(path, report.as_bytes()),
        None => output::to_stdout(&report, human),
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

/// Reads and parses every input; a file that cannot be read or parsed is
/// reported on standard error and counted, and the others are still
/// returned. A file found in a directory that is no deployment is skipped.
pub(crate) fn parse_documents(
    files: &[source::Input],
    max_file_size: u64,
    progress: Option<&indicatif::ProgressBar>,
) -> (Vec<Document>, Vec<String>) {
    let mut docs = Vec::new();
    let mut unreadable = Vec::new();
    for input in files {
        if let Some(bar) = progress {
            bar.inc(1);
        }
        let (path, explicit) = (&input.path, input.explicit);
        let name = path.display().to_string();
        let text = match source::read_bounded(path, max_file_size) {
            Ok(t) => t,
            Err(e) => {
                let shown = if path == Path::new("-") {
                    "standard input"
                } else {
                    &name
                };
                let message = e.describe(shown, Some("--max-file-size"));
                output::error(&message);
                unreadable.push(message);
                continue;
            }
        };
        match Document::parse(&name, &text) {
            // A file found in a directory that is no deployment is skipped.
            Ok(doc) if doc.format == DocumentFormat::Unknown && !explicit => {}
            // One named on the command line (or standard input) must be
            // one: an empty file or a failed `terraform show` never passes.
            Ok(mut doc) => match doc.require_deployment() {
                Ok(()) => {
                    for e in include_definitions(&mut doc, path, max_file_size) {
                        output::error(&e);
                        unreadable.push(e);
                    }
                    docs.push(doc);
                }
                Err(e) => {
                    let message = parse_error(&e);
                    output::error(&message);
                    unreadable.push(message);
                }
            },
            Err(e) => {
                let message = parse_error(&e);
                output::error(&message);
                unreadable.push(message);
            }
        }
    }
    (docs, unreadable)
}

/// APIs whose OpenAPI definition is in another file (`DefinitionUri`,
/// `AWS::Include`): the file is read, relative to the template, so that
/// the security it requires counts, as `sam build` would read it. Only a
/// file under the template's directory or the working directory is read,
/// each once, at most [`MAX_DEFINITION`] bytes and [`MAX_DEFINITIONS`] in
/// all for one template. A local file that cannot be read (missing, too
/// large, elsewhere, malformed) is an error: its routes could not be
/// judged, so the check does not pass (returned, without the file's
/// content). An `s3://` location cannot be read here: said on standard
/// error, and the API's routes are judged by the template alone.
fn include_definitions(doc: &mut Document, template: &Path, max_file_size: u64) -> Vec<String> {
    let base = template.parent().unwrap_or(Path::new("."));
    let roots: Vec<PathBuf> = [Some(base.to_path_buf()), std::env::current_dir().ok()]
        .into_iter()
        .flatten()
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    // Each file parsed once, with its size.
    type Parsed = Result<(serde_json::Value, u64), String>;
    let mut parsed: std::collections::HashMap<PathBuf, Parsed> = std::collections::HashMap::new();
    let mut budget = MAX_DEFINITIONS;
    let mut errors = Vec::new();
    for (api, location) in doc.external_definitions() {
        let file = doc.file.clone();
        let unread = |why: &str| {
            format!(
                "{}: the OpenAPI definition of `{}` ({}) cannot be read: {why}",
                escape(&file),
                escape(&api),
                escape(&output::shorten(&location, 200))
            )
        };
        if location.contains("://") || location.starts_with("s3:") {
            output::warning(&format!(
                "{}; its routes are judged by the template alone",
                unread("only a file beside the template is read")
            ));
            continue;
        }
        if Path::new(&location).is_absolute() || template == Path::new("-") {
            errors.push(unread(
                "only a path relative to the template's file is read",
            ));
            continue;
        }
        let path = base.join(&location);
        let Ok(real) = path.canonicalize() else {
            errors.push(unread(&format!("`{}` does not exist", output::path(&path))));
            continue;
        };
        if !roots.iter().any(|r| real.starts_with(r)) {
            errors.push(unread(
                "it is outside the template's directory and the working directory",
            ));
            continue;
        }
        let definition = parsed.entry(real.clone()).or_insert_with(|| {
            let text = source::read_bounded(&real, max_file_size.min(MAX_DEFINITION))
                .map_err(|e| e.describe(&path.display().to_string(), None))?;
            match Document::parse(&path.display().to_string(), &text) {
                Ok(d)
                    if d.value
                        .get("paths")
                        .is_some_and(serde_json::Value::is_object) =>
                {
                    Ok((d.value, text.len() as u64))
                }
                Ok(_) => Err("it is not an OpenAPI definition (no `paths` mapping)".to_owned()),
                // The parser's words may quote the file: only where.
                Err(e) => Err(format!(
                    "it is not valid YAML or JSON ({}:{})",
                    e.line, e.column
                )),
            }
        });
        match definition {
            Ok((value, size)) => {
                if *size > budget {
                    errors.push(unread(
                        "the template's included definitions are over their 4 MiB limit",
                    ));
                    continue;
                }
                budget -= *size;
                doc.include_definition(&api, value.clone());
            }
            Err(why) => errors.push(unread(why)),
        }
    }
    errors
}

/// The largest OpenAPI definition file read for a template's API.
const MAX_DEFINITION: u64 = 2 << 20;
/// The most definition text included into one template (each inclusion
/// counts, also of one file twice).
const MAX_DEFINITIONS: u64 = 4 << 20;

/// The waivers file (`--waivers`), parsed, with a warning per expired
/// waiver (judged at `now`); none without a file.
pub(crate) fn read_waivers(path: Option<&Path>, now: palisade_engine::Now) -> Result<Waivers, u8> {
    let Some(path) = path else {
        return Ok(Waivers::default());
    };
    let waivers = source::read_side_file(path)
        .and_then(|text| {
            Waivers::parse(&path.display().to_string(), &text).map_err(|e| parse_error(&e))
        })
        .map_err(|e| {
            output::error(&e);
            exit::ERROR
        })?;
    for w in waivers.expired(now) {
        output::warning(&format!(
            "{}:{}: the waiver of `{}` (owner {}) expired on {}; it no longer suppresses",
            output::path(path),
            w.line,
            escape(&w.rule),
            escape(&w.owner),
            escape(&w.expires.to_string())
        ));
    }
    Ok(waivers)
}

/// Says which waivers name no rule of the bundle (a typo, or a rule since
/// renamed): they suppress nothing.
pub(crate) fn warn_unknown_waivers(
    waivers: &Waivers,
    path: Option<&Path>,
    bundle: &palisade_engine::Bundle,
) {
    let rules = super::test::all_rules(bundle);
    for w in waivers.entries() {
        if !rules.contains(&w.rule) {
            output::warning(&format!(
                "{}:{}: the waiver names `{}`, which is not a rule of bundle `{}`: it suppresses nothing",
                output::path(path.unwrap_or(Path::new(""))),
                w.line,
                escape(&w.rule),
                escape(bundle.name())
            ));
        }
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
                    escape(f.file.as_deref().unwrap_or("(input)"))
                );
                last_file = f.file.as_deref();
            }
            let _ = writeln!(
                out,
                "  {bold}{}{bold:#}",
                escape(f.resource.as_deref().unwrap_or("(file)"))
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
            escape(&f.rule_id),
            escape(f.file.as_deref().unwrap_or("")),
            escape(&f.source.to_string())
        );
        let _ = writeln!(out, "             {}", escape(&f.message));
        if let Some(r) = &f.remediation {
            let _ = writeln!(out, "             {dim}fix:{dim:#} {}", escape(r));
        }
    }
    if !suppressed.is_empty() {
        let _ = writeln!(out, "\n{bold}suppressed{bold:#}");
        for f in &suppressed {
            let Some(s) = &f.suppressed else { continue };
            let by = match (&s.owner, &s.expires) {
                (Some(o), Some(e)) => {
                    format!(" (waiver by {}, until {})", escape(o), escape(e))
                }
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "  {dim}{:<8}{dim:#} {} {}  {dim}{}{} · {}{dim:#}\n             {}{by}",
                f.severity,
                escape(&f.rule_id),
                escape(f.resource.as_deref().unwrap_or("")),
                escape(f.file.as_deref().unwrap_or("")),
                f.line.map(|l| format!(":{l}")).unwrap_or_default(),
                escape(&s.location),
                escape(&s.reason),
            );
        }
    }
    for e in &d.errors {
        let _ = writeln!(
            out,
            "\n  error {} {}: {}",
            escape(&e.source.to_string()),
            e.kind,
            escape(&e.message)
        );
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
        escape(&d.bundle.name),
        escape(&d.bundle.version),
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
        if d.basis == palisade_engine::Basis::NotPermitted {
            let _ = writeln!(
                out,
                "  (Cedar denies what no policy permits: a bundle of your own needs one, e.g. policies/allow.cedar with `permit (principal, action, resource);`)"
            );
        }
    }
    out
}

/// A parse error for people: the file name and the parser's words escaped.
pub(crate) fn parse_error(e: &palisade_deploy::ParseError) -> String {
    format!(
        "{}:{}:{}: {}",
        escape(&e.file),
        e.line,
        e.column,
        escape(&e.message)
    )
}
