//! `palisade plugin test PATH [--cases DIR|FILE]`: a plugin's own test
//! cases, run in the real sandbox without writing a bundle.
//!
//! Case files are YAML, one per rule, in the shape `palisade test` reads
//! for bundles, plus what only a plugin has (settings, pointers, facts):
//!
//! ```yaml
//! rule: no-debug.function-debug-env     # a rule the plugin declares
//! cases:
//!   - name: DEBUG in SAM Globals
//!     expect: fail                      # the rule must report
//!     template:                         # a deployment, any format Palisade reads:
//!       Transform: AWS::Serverless-2016-10-31   # the plugin gets it and
//!       Globals: { Function: { Environment: { Variables: { DEBUG: "true" } } } }
//!       Resources:                      # its normalized resources
//!         Fn: { Type: AWS::Serverless::Function, Properties: { Runtime: python3.12 } }
//!     resource: Fn                      # optional: the finding is about Fn
//!     pointer: /Resources/Fn            # optional: and points here
//!     facts: { debug_functions: 1 }     # optional: facts the plugin reports
//!   - name: another flag name
//!     expect: pass
//!     settings: { variables: [VERBOSE] }  # the plugin's settings (default: none)
//!     now: "2026-01-01T00:00:00Z"       # optional (this is the default)
//!     template: ...
//! ```
//!
//! Instead of `template`, `document` gives the input document itself (for
//! `authorization` or `request` plugins), with `kind` (needed when the
//! plugin takes several kinds); a `deployment` document that Palisade
//! recognizes comes with its resources, as a `template` does. A case fails
//! when the plugin errors (trap, fuel, memory, bad output, `Err`), and the
//! run fails when a rule of the plugin lacks a failing or a passing case.
//! `--fuel`, `--memory-mib` and `--timeout-ms` set the sandbox as a
//! bundle's `limits = { .. }` for the plugin would.

use super::read_wasm;
use crate::commands::test::{Expect, Report, parse_test_file, say};
use crate::exit;
use crate::output::{self, escape};
use crate::source;
use palisade_deploy::Document;
use palisade_engine::{
    Bundle, Engine, Evaluation, InputKind, Limits, MemorySource, Now, PluginInput, PluginMetadata,
    Severity,
};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    rule: String,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    expect: Expect,
    #[serde(default)]
    kind: Option<Kind>,
    #[serde(default)]
    template: Option<serde_json::Value>,
    #[serde(default)]
    document: Option<serde_json::Value>,
    #[serde(default)]
    settings: Option<serde_json::Value>,
    #[serde(default)]
    now: Option<String>,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    pointer: Option<String>,
    #[serde(default)]
    facts: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Authorization,
    Request,
    Deployment,
}

impl From<Kind> for InputKind {
    fn from(k: Kind) -> InputKind {
        match k {
            Kind::Authorization => InputKind::Authorization,
            Kind::Request => InputKind::Request,
            Kind::Deployment => InputKind::Deployment,
        }
    }
}

/// The default evaluation time of test cases: fixed, so results repeat.
const DEFAULT_NOW: &str = "2026-01-01T00:00:00Z";
/// The name the plugin has in the bundle each case builds around it when
/// its own name cannot be a bundle's plugin name.
const NAME: &str = "plugin";

/// The plugin's name in the bundles cases build: its own, so that errors
/// name it, when it is an identifier (`[A-Za-z_][A-Za-z0-9_-]*`).
fn bundle_name(metadata_name: &str) -> String {
    let mut chars = metadata_name.chars();
    let identifier = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && metadata_name.len() <= 64;
    if identifier {
        metadata_name.to_owned()
    } else {
        NAME.to_owned()
    }
}

pub(super) fn execute(path: &Path, cases: Option<&Path>, limits: Limits) -> u8 {
    match run(path, cases, limits) {
        Ok(code) => code,
        Err(e) => {
            output::error(&e);
            exit::ERROR
        }
    }
}

/// The plugin file of `path` and the directory its cases are in by
/// default (`tests/` beside it).
fn locate(path: &Path) -> Result<(PathBuf, PathBuf), String> {
    if path.is_dir() {
        return Ok((find_wasm(path)?, path.join("tests")));
    }
    if !path.exists() {
        return Err(format!("{} does not exist", output::path(path)));
    }
    let parent = path.parent().unwrap_or(Path::new("."));
    Ok((path.to_path_buf(), parent.join("tests")))
}

/// The case files of `cases`: a directory's `.yaml` files, or one file.
fn case_files(cases: &Path) -> Result<crate::commands::test::CaseFiles, String> {
    let files = if cases.is_dir() {
        crate::commands::test::case_files(cases)?
    } else if cases.is_file() {
        vec![(cases.to_path_buf(), source::read_side_file(cases))]
    } else if cases.exists() {
        return Err(format!(
            "{} is neither a directory of .yaml files nor a .yaml file",
            output::path(cases)
        ));
    } else {
        return Err(format!(
            "no test cases: {} does not exist (write cases in tests/*.yaml, or give them with --cases)",
            output::path(cases)
        ));
    };
    if files.is_empty() {
        return Err(format!(
            "no test cases: {} has no .yaml files",
            output::path(cases)
        ));
    }
    Ok(files)
}

/// A project's `.wasm`: the newest of those in `dist/`, the release
/// target directory and the directory itself (each may hold one), with a
/// warning when a source file is newer than it (a build was forgotten).
fn find_wasm(dir: &Path) -> Result<PathBuf, String> {
    let mut found = Vec::new();
    for place in [
        dir.join("dist"),
        dir.join("target/wasm32-wasip2/release"),
        dir.to_path_buf(),
    ] {
        let Ok(entries) = std::fs::read_dir(&place) else {
            continue;
        };
        let mut here: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        here.sort();
        if here.len() > 1 {
            return Err(format!(
                "{} holds several plugins ({}): name the .wasm to test",
                output::path(&place),
                here.iter()
                    .map(|p| output::path(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        found.extend(here);
    }
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    let Some(wasm) = found.into_iter().max_by_key(|p| modified(p)) else {
        return Err(format!(
            "no .wasm in {} (nor in its dist/ or target/wasm32-wasip2/release/): build the plugin first",
            output::path(dir)
        ));
    };
    if let Some(built) = modified(&wasm)
        && let Some(newer) = newer_source(dir, built)
    {
        output::warning(&format!(
            "{} is newer than {}: rebuild the plugin, or this tests the old build",
            output::path(&newer),
            output::path(&wasm)
        ));
    }
    Ok(wasm)
}

/// A source file of the project (under `src/`, or a `.rs`, `.py`, `.js`,
/// `.mjs` or `.toml` file at its top) changed after `built`, if any. The
/// walk is bounded: it is a hint.
fn newer_source(dir: &Path, built: std::time::SystemTime) -> Option<PathBuf> {
    let source = |p: &Path| {
        p.extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| ["rs", "py", "js", "mjs", "toml", "wit"].contains(&x))
    };
    let mut pending = vec![(dir.join("src"), 0)];
    let mut top: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && source(p))
        .collect();
    let mut seen = 0;
    while let Some((d, depth)) = pending.pop() {
        for entry in std::fs::read_dir(&d)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
        {
            seen += 1;
            if seen > 2_000 {
                break;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && depth < 4 {
                pending.push((entry.path(), depth + 1));
            } else if kind.is_file() && source(&entry.path()) {
                top.push(entry.path());
            }
        }
    }
    top.into_iter().find(|p| {
        p.metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|m| m > built)
    })
}

fn run(path: &Path, cases: Option<&Path>, limits: Limits) -> Result<u8, String> {
    let (wasm, default_cases) = locate(path)?;
    let bytes = read_wasm(&wasm)?;
    let files = case_files(cases.unwrap_or(&default_cases))?;
    let engine = source::engine()?;
    let inspection = engine
        .inspect_plugin(&bytes, limits)
        .map_err(|e| format!("{}: {e}", output::path(&wasm)))?;
    if let Some(why) = &inspection.refused {
        return Err(format!("{}: {why}", output::path(&wasm)));
    }
    let Some(metadata) = inspection.metadata else {
        return Err(format!("{}: no metadata", output::path(&wasm)));
    };
    let mut runner = Runner {
        name: bundle_name(&metadata.name),
        engine,
        bytes,
        sha256: inspection.sha256,
        metadata,
        limits,
        bundles: HashMap::new(),
    };
    say(&format!(
        "plugin {} {} ({})",
        escape(&runner.metadata.name),
        escape(&runner.metadata.version),
        output::path(&wasm)
    ));

    let mut report = Report::default();
    for (file, text) in files {
        let name = file.display().to_string();
        let tests: TestFile = match parse_test_file(&name, text) {
            Ok(t) => t,
            Err(e) => {
                report.error(&e);
                continue;
            }
        };
        if !runner.metadata.rules.contains_key(&tests.rule) {
            report.error(&format!(
                "{}: rule `{}` is not a rule of the plugin (it declares: {})",
                escape(&name),
                escape(&tests.rule),
                escape(
                    &runner
                        .metadata
                        .rules
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            ));
            continue;
        }
        for case in &tests.cases {
            let result = runner.run_case(&tests.rule, case);
            report.case(&tests.rule, &case.name, case.expect, result);
        }
    }
    Ok(report.finish(runner.metadata.rules.keys()))
}

/// A TOML integer (TOML's are signed 64-bit).
fn to_toml_int(n: u64) -> Result<toml::Value, String> {
    i64::try_from(n)
        .map(toml::Value::Integer)
        .map_err(|_| format!("{n} is too large"))
}

struct Runner {
    name: String,
    engine: Engine,
    bytes: Vec<u8>,
    sha256: String,
    metadata: PluginMetadata,
    limits: Limits,
    /// A bundle around the plugin per distinct settings, a few at a time
    /// (each holds an instance pre and the plugin's code).
    bundles: HashMap<String, Bundle>,
}

/// Bundles kept at once: cases with many distinct settings reload.
const MAX_BUNDLES: usize = 8;

impl Runner {
    /// The bundle of the plugin alone, with `settings`.
    fn bundle(&mut self, settings: Option<&serde_json::Value>) -> Result<&Bundle, String> {
        let key = settings.map_or_else(String::new, ToString::to_string);
        if !self.bundles.contains_key(&key) {
            if self.bundles.len() >= MAX_BUNDLES {
                self.bundles.clear();
            }
            let mut plugin = toml::Table::new();
            plugin.insert("name".into(), self.name.clone().into());
            plugin.insert("path".into(), "plugin.wasm".into());
            plugin.insert("sha256".into(), self.sha256.clone().into());
            let mut limits = toml::Table::new();
            limits.insert("fuel".into(), to_toml_int(self.limits.fuel)?);
            limits.insert(
                "memory_mib".into(),
                toml::Value::Integer(i64::from(self.limits.memory_mib)),
            );
            limits.insert("timeout_ms".into(), to_toml_int(self.limits.timeout_ms)?);
            plugin.insert("limits".into(), limits.into());
            if let Some(s) = settings {
                let value = toml::Value::try_from(s).map_err(|e| {
                    format!("`settings` cannot be written in palisade.toml: {e} (TOML has no null)")
                })?;
                plugin.insert("settings".into(), value);
            }
            let mut bundle = toml::Table::new();
            bundle.insert("name".into(), "plugin-test".into());
            bundle.insert("version".into(), "0.0.0".into());
            let mut manifest = toml::Table::new();
            manifest.insert("bundle".into(), bundle.into());
            manifest.insert(
                "plugin".into(),
                toml::Value::Array(vec![toml::Value::Table(plugin)]),
            );
            let manifest = toml::to_string(&manifest).map_err(|e| e.to_string())?;
            let source = MemorySource::new("plugin-test")
                .file("palisade.toml", manifest.into_bytes())
                .file("plugin.wasm", self.bytes.clone())
                .file(
                    "policies/allow.cedar",
                    b"@id(\"allow\") permit(principal, action, resource);\n".as_slice(),
                );
            let bundle = self.engine.load_bundle_from(&source).map_err(|e| {
                e.problems
                    .iter()
                    .map(|p| p.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            })?;
            self.bundles.insert(key.clone(), bundle);
        }
        self.bundles
            .get(&key)
            .ok_or_else(|| "the test bundle went missing".to_owned())
    }

    fn run_case(&mut self, rule: &str, case: &Case) -> Result<(), String> {
        let now = Now::parse(case.now.as_deref().unwrap_or(DEFAULT_NOW))?;
        let applies = self.metadata.applies_to.clone();
        let (kind, input) = match (&case.template, &case.document) {
            (Some(template), None) => {
                if case.kind.is_some_and(|k| k != Kind::Deployment) {
                    return Err(
                        "a `template` is a deployment: leave out `kind` or use `document`".into(),
                    );
                }
                let doc = Document::from_value("template", template.clone());
                doc.require_deployment().map_err(|e| e.message)?;
                (InputKind::Deployment, doc.plugin_input())
            }
            (None, Some(document)) => {
                let kind = match (case.kind, applies.as_slice()) {
                    (Some(k), _) => InputKind::from(k),
                    (None, [only]) => *only,
                    (None, _) => {
                        return Err(format!(
                            "give `kind`: the plugin takes {} inputs",
                            applies
                                .iter()
                                .map(|k| k.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                };
                let input = if kind == InputKind::Deployment {
                    // A deployment the host recognizes comes with its
                    // resources, as `check` gives them; anything else has
                    // none.
                    Document::from_value("document", document.clone()).plugin_input()
                } else {
                    PluginInput::new(document.to_string())
                };
                (kind, input)
            }
            _ => return Err("give either `template` or `document`".into()),
        };
        if !applies.contains(&kind) {
            return Err(format!(
                "the plugin does not evaluate {kind} inputs (it applies to: {})",
                applies
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if case.expect == Expect::Pass && (case.resource.is_some() || case.pointer.is_some()) {
            return Err(
                "`resource` and `pointer` say where a finding is: only for `expect: fail`".into(),
            );
        }
        let bundle = self.bundle(case.settings.as_ref())?;
        let mut eval = Evaluation::new(bundle);
        let facts = eval.run_plugins(kind, || input, now);
        let decision = eval.finish(Some(Severity::Info));
        let logs = || {
            decision
                .plugin_logs
                .iter()
                .take(20)
                .map(|l| format!("\nlog {}: {}", l.level, l.message))
                .collect::<String>()
        };
        if let Some(e) = decision.errors.first() {
            return Err(format!(
                "the plugin failed ({}): {}{}",
                e.kind.as_str(),
                e.message,
                logs()
            ));
        }
        let found: Vec<_> = decision
            .findings
            .iter()
            .filter(|f| f.rule_id == rule)
            .collect();
        let describe = |f: &palisade_engine::Finding| {
            format!(
                "{} (resource {}, pointer {})",
                f.message,
                f.resource.as_deref().unwrap_or("none"),
                f.pointer.as_deref().unwrap_or("none")
            )
        };
        match case.expect {
            Expect::Pass => {
                if let Some(f) = found.first() {
                    return Err(format!(
                        "expected no finding, got: {}{}",
                        describe(f),
                        logs()
                    ));
                }
            }
            Expect::Fail => {
                if found.is_empty() {
                    return Err(format!(
                        "expected a finding of `{rule}`, got none{}",
                        logs()
                    ));
                }
                let matches = |f: &&&palisade_engine::Finding| {
                    case.resource
                        .as_ref()
                        .is_none_or(|r| f.resource.as_deref() == Some(r.as_str()))
                        && case
                            .pointer
                            .as_ref()
                            .is_none_or(|p| f.pointer.as_deref() == Some(p.as_str()))
                };
                if !found.iter().any(|f| matches(&f)) {
                    return Err(format!(
                        "no finding of `{rule}` with{}{}; got: {}",
                        case.resource
                            .as_ref()
                            .map_or(String::new(), |r| format!(" resource {r}")),
                        case.pointer
                            .as_ref()
                            .map_or(String::new(), |p| format!(" pointer {p}")),
                        found
                            .iter()
                            .map(|f| describe(f))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ));
                }
            }
        }
        let reported = facts.get(&self.name).and_then(serde_json::Value::as_object);
        for (name, want) in &case.facts {
            let got = reported.and_then(|f| f.get(name));
            if got != Some(want) {
                return Err(format!(
                    "fact `{name}`: expected {want}, got {}",
                    got.map_or("nothing".to_owned(), ToString::to_string)
                ));
            }
        }
        Ok(())
    }
}
