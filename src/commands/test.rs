//! `palisade test [BUNDLE]`: runs a bundle's test cases.
//!
//! Test cases live in the bundle's `tests/` directory, one YAML file per
//! rule (or group of rules):
//!
//! ```yaml
//! rule: enc.sqs-unencrypted          # the rule these cases are about
//! cases:
//!   - name: a queue without encryption
//!     expect: fail                   # the rule must report (on `resource`, when given)
//!     resource: Queue
//!     template:                      # the deployment file, inline
//!       Resources:
//!         Queue: { Type: AWS::SQS::Queue }
//!   - name: SSE-SQS is enough
//!     expect: pass                   # the rule must not report
//!     principal: 'Deployer::"ci"'    # optional; also `now` (RFC 3339)
//!     template: ...
//! ```
//!
//! Request-time bundles test HTTP requests instead of templates, with the
//! token's claims taken as verified (no signing needed; no `claims` is an
//! anonymous caller):
//!
//! ```yaml
//! rule: auth.mfa-for-admin
//! cases:
//!   - name: an admin without a second factor
//!     expect: fail
//!     request: { method: GET, path: /admin/users, headers: { host: api.example.com } }
//!     claims: { sub: alice, groups: [admins], amr: [pwd], iat: 1764374400 }
//! ```
//!
//! Every rule of the bundle (each `forbid` policy and each plugin rule) needs
//! at least one failing and one passing case; a rule without them is a
//! failure of the run. A case that evaluates nothing fails too, since it
//! would pass any rule: a template with no resource of the type the rule's
//! scope names (or none Palisade recognises), a `resource:` the template or
//! request lacks, a request refused before the policies ran or as
//! unauthenticated (for `expect: pass`). Suppressed findings do not count,
//! and a file's `rule` must be a rule of the bundle.

use crate::exit;
use crate::output::{self, escape, shorten};
use crate::source;
use palisade_deploy::{CheckOptions, Document};
use palisade_engine::{Bundle, BundleSource as _, Now, Severity, cedar_policy::EntityUid};
use palisade_gateway::HttpRequest;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

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
    resource: Option<String>,
    #[serde(default)]
    principal: Option<String>,
    #[serde(default)]
    now: Option<String>,
    #[serde(default)]
    template: Option<serde_json::Value>,
    #[serde(default)]
    request: Option<RequestCase>,
    #[serde(default)]
    claims: Option<serde_json::Map<String, serde_json::Value>>,
}

/// An HTTP request of a request-time test case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestCase {
    method: String,
    /// The path, with a query string when there is one.
    path: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    client: Option<String>,
}

/// What a case expects of its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Expect {
    /// The rule reports.
    Fail,
    /// The rule does not report.
    Pass,
}

impl Expect {
    fn as_str(self) -> &'static str {
        match self {
            Expect::Fail => "fail",
            Expect::Pass => "pass",
        }
    }
}

/// The default evaluation time of test cases: fixed, so results repeat.
const DEFAULT_NOW: &str = "2026-01-01T00:00:00Z";

pub fn execute(bundle_dir: &str) -> u8 {
    let loaded = if crate::oci::is_oci(bundle_dir) {
        pulled_bundle_and_tests(bundle_dir)
    } else {
        match source::engine_and_bundle(bundle_dir) {
            Ok((_, bundle)) => test_files(bundle_dir)
                .map(|f| (bundle, f))
                .map_err(source::LoadError::Usage),
            Err(code) => return code,
        }
    };
    let (bundle, test_files) = match loaded {
        Ok(l) => l,
        Err(e) => {
            e.print();
            return exit::ERROR;
        }
    };

    let rules = all_rules(&bundle);
    let mut report = Report::default();
    // A bundle with a controls table places every rule in it: a rule left
    // out would be missing from every compliance report.
    if let Some(controls) = bundle.controls() {
        for rule in rules.iter().filter(|r| !controls.rules.contains_key(*r)) {
            report.error(&format!(
                "rule `{}` is not in the controls table: give it its practices and resource types",
                escape(rule)
            ));
        }
    }
    for (name, text) in test_files {
        let file: TestFile = match parse_test_file(&name, text) {
            Ok(f) => f,
            Err(e) => {
                report.error(&e);
                continue;
            }
        };
        if !rules.contains(&file.rule) {
            report.error(&format!(
                "{}: rule `{}` is not a rule of this bundle (a `forbid` policy id or a plugin rule)",
                escape(&name),
                escape(&file.rule)
            ));
            continue;
        }
        for case in &file.cases {
            let result = run_case(&bundle, &file.rule, case);
            report.case(&file.rule, &case.name, case.expect, result);
        }
    }
    report.finish(rules.iter())
}

/// A test file's text (or why it could not be read) as `T`: YAML read as
/// deployment files are (bounded, no duplicate keys), located errors.
pub(crate) fn parse_test_file<T: serde::de::DeserializeOwned>(
    name: &str,
    text: Result<String, String>,
) -> Result<T, String> {
    let doc = Document::parse(name, &text?).map_err(|e| super::check::parse_error(&e))?;
    if doc.value.is_null() {
        return Err(format!(
            "{}: the file is empty; a test file has `rule:` and `cases:`",
            escape(name)
        ));
    }
    serde_path_to_error::deserialize::<_, T>(&doc.value).map_err(|e| {
        // Where: the file's line of the part that is wrong, and its path
        // (for an unknown field, the part that holds it: the message
        // names the field).
        let inner = e.inner().to_string();
        let mut segments: Vec<_> = e.path().iter().collect();
        if inner.starts_with("unknown field") {
            segments.pop();
        }
        let pointer: String = segments
            .iter()
            .map(|seg| match seg {
                serde_path_to_error::Segment::Seq { index } => format!("/{index}"),
                serde_path_to_error::Segment::Map { key } => {
                    format!("/{}", key.replace('~', "~0").replace('/', "~1"))
                }
                _ => String::new(),
            })
            .collect();
        let line = (1..=pointer.len())
            .rev()
            .filter(|&end| pointer.is_char_boundary(end))
            .find_map(|end| doc.line_of(pointer.get(..end)?))
            .or_else(|| doc.line_of(""))
            .map(|l| format!(":{l}"))
            .unwrap_or_default();
        let at: String = segments
            .iter()
            .map(|seg| match seg {
                serde_path_to_error::Segment::Seq { index } => format!("[{index}]"),
                serde_path_to_error::Segment::Map { key } => {
                    format!(".{}", shorten(key.as_str(), 40))
                }
                _ => String::new(),
            })
            .collect();
        let at = match at.strip_prefix('.').unwrap_or(&at) {
            "" => String::new(),
            at => format!("{at}: "),
        };
        format!(
            "{}{line}: {}{}",
            escape(name),
            escape(&at),
            escape(&without_values(&inner))
        )
    })
}

/// A deserializer's message without the input it quotes (`invalid type:
/// string "...", expected ...`), and short: a test file's text is never
/// printed back, even when the file is not a test file at all.
fn without_values(message: &str) -> String {
    let mut out = message.to_owned();
    // `invalid type: string "…", expected …`: the string is the input.
    if let Some(start) = out.find("string \"") {
        let end = out
            .get(start..)
            .and_then(|rest| rest.find("\", expected"))
            .map_or(out.len(), |i| start + i + 1);
        out.replace_range(start..end, "a string");
    }
    // Names the input gave (`unknown field `…``), shortened.
    for kind in ["unknown field `", "unknown variant `"] {
        let Some(start) = out.find(kind).map(|i| i + kind.len()) else {
            continue;
        };
        if let Some(end) = out
            .get(start..)
            .and_then(|r| r.find('`'))
            .map(|i| start + i)
        {
            let name = shorten(out.get(start..end).unwrap_or_default(), 40);
            out.replace_range(start..end, &name);
        }
    }
    shorten(&out, 300)
}

/// The report of a test run (`palisade test`, `palisade plugin test`): a
/// line per case, which rules have a failing and a passing case, and the
/// exit code.
#[derive(Debug, Default)]
pub(crate) struct Report {
    passed: usize,
    failed: usize,
    covered: BTreeMap<String, BTreeSet<Expect>>,
}

impl Report {
    /// A file that could not be read or used: an error, and a failure.
    pub(crate) fn error(&mut self, message: &str) {
        output::error(message);
        self.failed += 1;
    }

    /// One case's outcome. Each line of a failure is escaped on its own,
    /// so that text from a plugin cannot start a line of the report.
    pub(crate) fn case(
        &mut self,
        rule: &str,
        name: &str,
        expect: Expect,
        result: Result<(), String>,
    ) {
        match result {
            Ok(()) => {
                self.passed += 1;
                self.covered
                    .entry(rule.to_owned())
                    .or_default()
                    .insert(expect);
                say(&format!("ok    {} :: {}", escape(rule), escape(name)));
            }
            Err(why) => {
                self.failed += 1;
                let why: Vec<String> = why.split('\n').map(|l| escape(l).into_owned()).collect();
                say(&format!(
                    "FAIL  {} :: {}\n      {}",
                    escape(rule),
                    escape(name),
                    why.join("\n      ")
                ));
            }
        }
    }

    /// Fails every rule of `rules` without a failing and a passing case,
    /// prints the summary, and gives the exit code.
    pub(crate) fn finish<'r>(mut self, rules: impl Iterator<Item = &'r String>) -> u8 {
        for rule in rules {
            let have = self.covered.get(rule);
            for needed in [Expect::Fail, Expect::Pass] {
                if !have.is_some_and(|h| h.contains(&needed)) {
                    self.failed += 1;
                    say(&format!(
                        "FAIL  {} :: has no {}ing test case",
                        escape(rule),
                        needed.as_str()
                    ));
                }
            }
        }
        let code = if self.failed == 0 {
            exit::OK
        } else {
            exit::DENY
        };
        output::print_or_error(
            &format!("\n{} passed, {} failed\n", self.passed, self.failed),
            true,
            code,
        )
    }
}

/// The test files of a bundle: `tests/*.yaml` of its directory, or of
/// its archive. Each with its text, or why it cannot be read.
type TestFiles = Vec<(String, Result<String, String>)>;

/// A bundle from a registry and the test files in it: one pull for both.
fn pulled_bundle_and_tests(
    spec: &str,
) -> Result<(palisade_engine::Bundle, TestFiles), source::LoadError> {
    use source::LoadError::Usage;
    let pulled = crate::oci::pull_bundle(spec, false)
        .map_err(|e| Usage(format!("bundle `{}`: {e}", escape(spec))))?;
    let files = archive_test_files(spec, &pulled.archive).map_err(Usage)?;
    let engine = source::engine().map_err(Usage)?;
    let loaded = source::load_pulled(&engine, spec, &pulled, &[])?;
    Ok((loaded.bundle, files))
}

/// The test files (`tests/*.yaml`) inside an archive.
fn archive_test_files(bundle: &str, bytes: &[u8]) -> Result<TestFiles, String> {
    let archive = palisade_engine::archive::read(bundle, bytes)?;
    let names = archive.list_dir("tests").unwrap_or_default();
    Ok(names
        .into_iter()
        .filter(|n| {
            let rest = n.trim_start_matches("tests/").to_ascii_lowercase();
            !rest.contains('/') && (rest.ends_with(".yaml") || rest.ends_with(".yml"))
        })
        .map(|n| {
            let text = archive
                .read(&n)
                .and_then(|b| String::from_utf8(b).map_err(|_| format!("`{n}` is not UTF-8 text")));
            (format!("{bundle}:{n}"), text)
        })
        .collect())
}

fn test_files(bundle: &str) -> Result<TestFiles, String> {
    let path = Path::new(bundle);
    if path.is_file() {
        // An archive holds its tests too.
        return archive_test_files(bundle, &source::read_archive(path)?);
    }
    Ok(case_files(&path.join("tests"))?
        .into_iter()
        .map(|(p, text)| (p.display().to_string(), text))
        .collect())
}

/// Test files, each with its text or why it cannot be used.
pub(crate) type CaseFiles = Vec<(PathBuf, Result<String, String>)>;

/// The test files directly in `dir` (`.yaml` or `.yml`), sorted, each with
/// its text or why it cannot be used. Hidden files are not part of a
/// bundle and are skipped; other files and directories are said, not
/// skipped in silence (a case put there by mistake would never run). A
/// symbolic link out of the bundle or project (the parent of `dir`) is
/// refused: a test file is its own, never a file elsewhere whose text an
/// error would print. Reads are bounded and never open a FIFO or device.
pub(crate) fn case_files(dir: &Path) -> Result<CaseFiles, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read `{}`: {e}", output::path(dir)))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .filter(|p| {
            let yaml = p
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| x.eq_ignore_ascii_case("yaml") || x.eq_ignore_ascii_case("yml"));
            if !yaml {
                output::warning(&format!(
                    "`{}` is not read: test files are the .yaml files directly in `{}`",
                    output::path(p),
                    output::path(dir)
                ));
            }
            yaml
        })
        .collect();
    files.sort();
    // The bundle or project the tests belong to.
    let root = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let inside = |p: &Path, root: &Path| match (p.canonicalize(), root.canonicalize()) {
        (Ok(target), Ok(root)) => target.starts_with(root),
        _ => false,
    };
    Ok(files
        .into_iter()
        .map(|p| {
            let text = if p.symlink_metadata().is_ok_and(|m| m.is_symlink()) && !inside(&p, root) {
                Err(format!(
                    "{}: is a symbolic link out of `{}`; test files are the project's own",
                    output::path(&p),
                    output::path(root)
                ))
            } else {
                source::read_side_file(&p)
            };
            (p, text)
        })
        .collect())
}

/// One line of the report; a reader that went away (`| head`) stops none
/// of the cases, and the summary line reports it.
pub(crate) fn say(line: &str) {
    let _ = output::to_stdout(&format!("{line}\n"), true);
}

pub(crate) fn all_rules(bundle: &Bundle) -> BTreeSet<String> {
    let mut rules: BTreeSet<String> = bundle
        .policies()
        .filter(|p| p.effect == "forbid")
        .map(|p| p.id.clone())
        .collect();
    for p in bundle.plugins() {
        rules.extend(p.metadata().rules.keys().cloned());
    }
    rules
}

fn run_case(bundle: &Bundle, rule: &str, case: &Case) -> Result<(), String> {
    let now = Now::parse(case.now.as_deref().unwrap_or(DEFAULT_NOW))?;
    let mut options = CheckOptions {
        fail_on: Severity::Info,
        ..CheckOptions::default()
    };
    if let Some(p) = &case.principal {
        options.principal = EntityUid::from_str(p).map_err(|e| format!("principal `{p}`: {e}"))?;
    }
    let d = match (&case.template, &case.request) {
        (Some(template), None) => {
            let doc = Document::from_value("template", template.clone());
            // A case proves something only when the rule had a resource to
            // judge: a template whose resources were not recognised (a
            // typo in `Type`, a format that is not detected) passes every
            // rule vacuously.
            let found = doc.resources();
            if found.is_empty() {
                return Err(
                    "nothing was evaluated: the template creates no resource Palisade recognises"
                        .into(),
                );
            }
            // A rule whose scope names a resource type judges only those:
            // a case whose template has none of them (a misspelt `Type`)
            // proves nothing about it.
            if let Some(scope) = resource_scope(bundle, rule) {
                let judged: Vec<&(String, String)> =
                    found.iter().filter(|(_, kind)| *kind == scope).collect();
                if judged.is_empty() {
                    return Err(format!(
                        "nothing was evaluated: `{rule}` judges `{scope}` resources and the template has none"
                    ));
                }
                if let Some(want) = &case.resource
                    && found.iter().any(|(id, kind)| id == want && *kind != scope)
                {
                    return Err(format!(
                        "`resource: {want}` is not a `{scope}`, the only type `{rule}` judges"
                    ));
                }
            }
            if let Some(want) = &case.resource
                && !found.iter().any(|(id, _)| id == want)
            {
                return Err(format!(
                    "`resource: {want}` is not a resource of the template (it has: {})",
                    found
                        .iter()
                        .map(|(id, _)| id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let d = palisade_deploy::check(bundle, &[doc], &options, now);
            controlled_types(bundle, rule, &found, &d)?;
            d
        }
        (None, Some(r)) => {
            if case.principal.is_some() {
                return Err(
                    "`principal` is for template cases; a request case names its caller with `claims`"
                        .into(),
                );
            }
            // Tokens are not verified in tests: a header alone would leave
            // the caller anonymous while the case reads as authenticated.
            if case.claims.is_none()
                && r.headers
                    .keys()
                    .any(|h| h.eq_ignore_ascii_case("authorization"))
            {
                return Err(
                    "an `authorization` header is not verified in tests: give the token's `claims` (the caller is anonymous without them)"
                        .into(),
                );
            }
            let mut req = HttpRequest::new(&r.method, &r.path);
            for (name, value) in &r.headers {
                req = req.header(name, value);
            }
            req.client.clone_from(&r.client);
            let answer = palisade_gateway::decide_as(bundle, &req, case.claims.clone(), now);
            if let Some(want) = &case.resource
                && answer.resource.as_deref() != Some(want.as_str())
            {
                return Err(format!(
                    "`resource: {want}` is not the request's resource (`{}`); write it as a Cedar uid",
                    answer.resource.as_deref().unwrap_or("none")
                ));
            }
            // An unauthenticated caller is turned away whatever the other
            // rules say: a passing case must get past authentication.
            if case.expect == Expect::Pass && answer.status == 401 {
                return Err(format!(
                    "nothing was evaluated: the request was refused as unauthenticated ({} {}); give `claims`",
                    answer.status, answer.reason
                ));
            }
            match answer.decision {
                Some(d) => d,
                None => {
                    // Refused before the policies ran (no route, a path that
                    // names no resource exactly, a rate limit): the case
                    // proves nothing about the rule either way.
                    return Err(format!(
                        "nothing was evaluated: the request was refused before the policies ran ({} {})",
                        answer.status, answer.reason
                    ));
                }
            }
        }
        _ => return Err("a case needs either `template` or `request` (not both)".into()),
    };
    if let Some(e) = d.errors.first() {
        return Err(format!(
            "evaluation error: {} {}: {}",
            e.source, e.kind, e.message
        ));
    }
    let hits: Vec<Option<&str>> = d
        .findings
        .iter()
        // A suppressed finding is one the check does not count.
        .filter(|f| f.rule_id == rule && f.suppressed.is_none())
        .map(|f| f.resource.as_deref())
        .collect();
    let matching = hits
        .iter()
        .filter(|r| case.resource.is_none() || **r == case.resource.as_deref())
        .count();
    match (case.expect, matching) {
        (Expect::Fail, 0) => Err(format!(
            "expected `{rule}` to report{}, it did not (findings: {})",
            case.resource
                .as_deref()
                .map(|r| format!(" on `{r}`"))
                .unwrap_or_default(),
            d.findings
                .iter()
                .map(|f| f.rule_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        (Expect::Pass, n) if n > 0 => Err(format!(
            "expected `{rule}` not to report, it did {n} time(s)"
        )),
        _ => Ok(()),
    }
}

/// With a controls table: the template has a resource of a type the table
/// lists for `rule`, and every finding of `rule` is on such a resource, so
/// that the table (and the compliance report counted from it) says what
/// the rule really looks at.
fn controlled_types(
    bundle: &Bundle,
    rule: &str,
    found: &[(String, String)],
    d: &palisade_engine::Decision,
) -> Result<(), String> {
    let Some(c) = bundle.controls().and_then(|c| c.rules.get(rule)) else {
        return Ok(());
    };
    if c.resources.iter().any(|t| t == "file") {
        return Ok(());
    }
    let listed = |kind: &str| c.resources.iter().any(|t| t == kind);
    if !found.iter().any(|(_, kind)| listed(kind)) {
        return Err(format!(
            "nothing was evaluated: the controls table says `{rule}` judges {} and the template has none",
            c.resources.join(", ")
        ));
    }
    for f in d.findings.iter().filter(|f| f.rule_id == rule) {
        let kind = found
            .iter()
            .find(|(id, _)| Some(id.as_str()) == f.resource.as_deref())
            .map(|(_, k)| k.as_str());
        if !kind.is_some_and(listed) {
            return Err(format!(
                "`{rule}` reported on `{}` ({}), a type the controls table does not list for it ({})",
                f.resource.as_deref().unwrap_or("the file"),
                kind.unwrap_or("no resource"),
                c.resources.join(", ")
            ));
        }
    }
    Ok(())
}

/// The resource type a `forbid` policy's scope names (`resource is T`,
/// `resource == T::"id"`, `resource is T in ...`), if it names one.
fn resource_scope(bundle: &Bundle, rule: &str) -> Option<String> {
    use palisade_engine::cedar_policy::{PolicyId, ResourceConstraint};
    let policy = bundle.policy_set().policy(&PolicyId::new(rule))?;
    match policy.resource_constraint() {
        ResourceConstraint::Is(t) | ResourceConstraint::IsIn(t, _) => Some(t.to_string()),
        ResourceConstraint::Eq(uid) => Some(uid.type_name().to_string()),
        _ => None,
    }
}
