//! # Palisade for deployments
//!
//! Checks deployment descriptions (AWS CloudFormation and SAM templates,
//! Serverless Framework `serverless.yml`, Terraform plan JSON) with a
//! Palisade bundle: the bundle's deployment plugins run on each file, then
//! every resource the file creates becomes a Cedar request, and findings
//! carry their file and line. Suppressions (inline comments, resource
//! metadata, a waivers file) are applied and stay visible in the decision.
//!
//! ```
//! use palisade_deploy::{CheckOptions, Document, check};
//! use palisade_engine::{Engine, MemorySource, Now};
//!
//! let engine = Engine::new()?;
//! let bundle = engine.load_bundle_from(
//!     &MemorySource::new("demo")
//!         .file("palisade.toml", b"[bundle]\nname = \"demo\"\nversion = \"1.0.0\"\n".as_slice())
//!         .file("policies/p.cedar", br#"
//!             @id("allow-deploys") permit(principal, action, resource);
//!             @id("enc.sqs-unencrypted") @category("encryption-at-rest") @severity("high")
//!             forbid(principal, action, resource is AWS::SQS::Queue)
//!             unless { resource.properties has KmsMasterKeyId || resource.properties has SqsManagedSseEnabled };
//!         "#.as_slice()),
//! )?;
//! let doc = Document::parse("template.yaml", "Resources:\n  Jobs:\n    Type: AWS::SQS::Queue\n")?;
//! let d = check(&bundle, &[doc], &CheckOptions::default(), Now::epoch());
//! assert!(!d.is_allowed());
//! let f = &d.findings[0];
//! assert_eq!((f.rule_id.as_str(), f.resource.as_deref(), f.line), ("enc.sqs-unencrypted", Some("Jobs"), Some(2)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod document;
mod resources;
mod suppress;

pub use document::{Document, DocumentFormat, ParseError, ParseLimits};
pub use suppress::{Waiver, Waivers};

use cedar_policy::{Context, EntityUid, Request};
use palisade_engine::{Bundle, Decision, Evaluation, InputKind, Now, Severity, values};
use resources::Resource;
use std::collections::{BTreeSet, HashMap, HashSet};

/// A callback told the file name of each document once it is checked.
pub type OnDocument = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// Who deploys and what fails a check.
#[derive(Clone)]
pub struct CheckOptions {
    /// The deployer, e.g. `Deployer::"ci"`; Cedar policies can require a
    /// group for some deployments (`principal in Team::"security"`).
    pub principal: EntityUid,
    /// Findings from this severity up fail the check (default `high`).
    pub fail_on: Severity,
    /// Accepted findings (with owner, reason and expiry): they are
    /// reported as suppressed and never fail the check.
    pub waivers: Waivers,
    /// Told each file name once checked (progress bars).
    pub on_document: Option<OnDocument>,
}

impl std::fmt::Debug for CheckOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckOptions")
            .field("principal", &self.principal)
            .field("fail_on", &self.fail_on)
            .field("waivers", &self.waivers)
            .field(
                "on_document",
                &self.on_document.as_ref().map(|_| "Fn(&str)"),
            )
            .finish()
    }
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            principal: values::uid("Deployer", "unknown"),
            fail_on: Severity::High,
            waivers: Waivers::default(),
            on_document: None,
        }
    }
}

/// Checks deployment files with `bundle`: for each document, the bundle's
/// deployment plugins run on the whole file, then every resource it
/// creates becomes a Cedar request (`principal` deploys it: action
/// `Action::"deploy"`, resource `AWS::Lambda::Function::"Orders"` with the
/// resource's properties as attributes, context with the plugins' facts).
/// Findings carry their file and line. The decision denies when a finding
/// reaches `options.fail_on`, a plugin fails, no policy permits a
/// deployment, or a document is no deployment description (basis
/// `invalid-request`).
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir()?;
/// # std::fs::write(dir.path().join("palisade.toml"), "[bundle]\nname = \"empty\"\nversion = \"1\"\n")?;
/// use palisade_deploy::{CheckOptions, Document, check};
/// use palisade_engine::{Engine, Now};
/// let engine = Engine::new()?;
/// let bundle = engine.load_bundle(dir.path())?;
/// let doc = Document::parse("template.yaml", "AWSTemplateFormatVersion: \"2010-09-09\"\nResources: {}\n")?;
/// assert!(check(&bundle, &[doc], &CheckOptions::default(), Now::epoch()).is_allowed());
/// // What is no deployment never passes: an empty file, a failed `terraform show`.
/// let empty = Document::parse("plan.json", "")?;
/// assert!(!check(&bundle, &[empty], &CheckOptions::default(), Now::epoch()).is_allowed());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check(
    bundle: &Bundle,
    documents: &[Document],
    options: &CheckOptions,
    now: Now,
) -> Decision {
    let mut eval = Evaluation::new(bundle);
    for doc in documents {
        // What is no deployment is an invalid input, never a document
        // without findings.
        if let Err(e) = doc.require_deployment() {
            eval.invalid(e.to_string());
            if let Some(tell) = &options.on_document {
                tell(&doc.file);
            }
            continue;
        }
        let first = eval.findings_mut().len();
        let resources = check_document(&mut eval, doc, options, now, first);
        let mut errors = Vec::new();
        if let Some(found) = eval.findings_mut().get_mut(first..) {
            suppress::apply(found, doc, &resources, &options.waivers, now, &mut errors);
        }
        for e in errors {
            eval.push_error(e);
        }
        if let Some(tell) = &options.on_document {
            tell(&doc.file);
        }
    }
    eval.finish(Some(options.fail_on))
}

/// The resources a document creates, as [`check`] sees them: (logical
/// id, CloudFormation type), in the order of the file. Serverless
/// Framework functions are `AWS::Lambda::Function`, Terraform resources
/// their CloudFormation counterparts, and what a format creates
/// implicitly (the Serverless Framework's shared role) is included.
///
/// ```
/// use palisade_deploy::{Document, inventory};
/// let doc = Document::parse("t.yaml", "Resources:\n  Jobs:\n    Type: AWS::SQS::Queue\n")?;
/// assert_eq!(inventory(&doc), [("Jobs".to_owned(), "AWS::SQS::Queue".to_owned())]);
/// # Ok::<(), palisade_deploy::ParseError>(())
/// ```
pub fn inventory(doc: &Document) -> Vec<(String, String)> {
    resources::resources(doc)
        .into_iter()
        .map(|r| (r.logical_id, r.kind))
        .collect()
}

/// Runs the plugins and the Cedar requests of one document; returns its
/// resources.
fn check_document(
    eval: &mut Evaluation<'_>,
    doc: &Document,
    options: &CheckOptions,
    now: Now,
    first: usize,
) -> Vec<Resource> {
    let resources = resources::resources(doc);
    let facts = eval.run_plugins(
        InputKind::Deployment,
        || resources::plugin_input(doc, &resources),
        now,
    );
    place_by_pointer(eval, first, doc, &resources);

    if resources.is_empty() {
        return resources;
    }
    // One context for every request of the document (and its variants).
    let context = request_context(doc, &facts, now);
    // A template that depends on conditions is judged in each variant; a
    // finding of any is reported once, saying when it holds unless it
    // holds in all.
    let from = eval.findings_mut().len();
    let from_error = eval.errors_mut().len();
    let mut variant_of: Vec<usize> = Vec::new();
    let judged = resources::each_variant(doc, |variant, i| {
        judge(eval, doc, variant, &context, options);
        let found = eval.findings_mut().len() - from;
        variant_of.resize(found, i);
    });
    let (conditions, judged) = match judged {
        Ok(Some(c)) => c,
        Ok(None) => {
            judge(eval, doc, &resources, &context, options);
            return resources;
        }
        Err(e) => {
            eval.invalid(format!("{}: {e}", doc.file));
            judge(eval, doc, &resources, &context, options);
            return resources;
        }
    };
    // Where each finding was found; a variant that did not judge the
    // finding's resource again has the first variant's findings for it.
    let mut found_in: HashMap<FindingKey, BTreeSet<usize>> = HashMap::new();
    let found = eval.findings_mut().get(from..).unwrap_or_default();
    for (f, v) in found.iter().zip(&variant_of) {
        found_in.entry(FindingKey::of(f)).or_default().insert(*v);
    }
    let holds = |key: &FindingKey, resource: Option<&str>| -> BTreeSet<usize> {
        let found = found_in.get(key);
        judged
            .iter()
            .enumerate()
            .filter(|(v, j)| {
                let (again, absent) = match resource {
                    Some(r) => (j.again.contains(r), j.absent.contains(r)),
                    None => (true, false),
                };
                let at = if again { *v } else { 0 };
                !absent && found.is_some_and(|f| f.contains(&at))
            })
            .map(|(v, _)| v)
            .collect()
    };
    let mut reported = HashSet::new();
    eval.retain_findings(from, |f| {
        let key = FindingKey::of(f);
        if reported.contains(&key) {
            return false;
        }
        if let Some(when) = conditions.describe(&holds(&key, f.resource.as_deref())) {
            f.message = format!("{} ({when})", f.message);
        }
        reported.insert(key);
        true
    });
    let mut errors_seen = HashSet::new();
    eval.retain_errors(from_error, |e| errors_seen.insert(format!("{e:?}")));
    resources
}

/// What makes two findings of different variants the same finding.
#[derive(Clone, PartialEq, Eq, Hash)]
struct FindingKey(String, Option<String>, String, Option<String>);

impl FindingKey {
    fn of(f: &palisade_engine::Finding) -> Self {
        FindingKey(
            f.rule_id.clone(),
            f.resource.clone(),
            f.message.clone(),
            f.pointer.clone(),
        )
    }
}

/// The context of a document's requests: its file, `now`, and the plugins'
/// `facts`.
fn request_context(
    doc: &Document,
    facts: &serde_json::Map<String, serde_json::Value>,
    now: Now,
) -> Context {
    let mut pairs = vec![
        ("file", values::Val::string(&doc.file)),
        ("now", values::Val::long(now.unix_seconds())),
    ];
    pairs.extend(
        values::json_to_value(&serde_json::Value::Object(facts.clone())).map(|p| ("plugins", p)),
    );
    values::context(pairs)
}

/// Asks Cedar about each of `resources` (of `doc`) in `context`.
fn judge(
    eval: &mut Evaluation<'_>,
    doc: &Document,
    resources: &[Resource],
    context: &Context,
    options: &CheckOptions,
) {
    let action = values::uid("Action", "deploy");
    let entities = match eval
        .bundle()
        .entities()
        .clone()
        .add_entities(resources::entities(resources), None)
    {
        Ok(e) => e,
        Err(e) => {
            eval.invalid(format!("{}: cannot build entities: {e}", doc.file));
            return;
        }
    };
    for r in resources {
        let uid = resources::uid(r);
        let request = match Request::new(
            options.principal.clone(),
            action.clone(),
            uid.clone(),
            context.clone(),
            None,
        ) {
            Ok(req) => req,
            Err(e) => {
                eval.invalid(format!("{}: resource `{}`: {e}", doc.file, r.logical_id));
                continue;
            }
        };
        let first = eval.findings_mut().len();
        let first_error = eval.errors_mut().len();
        eval.ask_cedar(
            [&options.principal, &action, &uid],
            &request,
            &entities,
            true,
        );
        place(eval, first, doc, Some(r));
        // A policy that failed on this resource: say which file and resource.
        for e in eval
            .errors_mut()
            .get_mut(first_error..)
            .into_iter()
            .flatten()
        {
            e.file = Some(doc.file.clone());
            e.resource = Some(r.logical_id.clone());
        }
    }
}

/// Places the findings from index `from` on in `doc`: at the resource's
/// line when they are about `resource`, else where their pointer leads.
fn place(eval: &mut Evaluation<'_>, from: usize, doc: &Document, resource: Option<&Resource>) {
    let resource_line = resource.and_then(|r| doc.line_of(&r.pointer));
    for f in eval.findings_mut().get_mut(from..).into_iter().flatten() {
        f.file = Some(doc.file.clone());
        match resource {
            Some(r) => {
                f.resource = Some(r.logical_id.clone());
                f.line = resource_line;
            }
            None => f.line = f.pointer.as_deref().and_then(|p| doc.line_of(p)),
        }
    }
}

/// Places plugin findings by their pointers, naming the resource whose
/// definition contains the pointer when the plugin named none (so a
/// secret in a Terraform plan or serverless.yml names its resource).
fn place_by_pointer(
    eval: &mut Evaluation<'_>,
    from: usize,
    doc: &Document,
    resources: &[Resource],
) {
    place(eval, from, doc, None);
    for f in eval.findings_mut().get_mut(from..).into_iter().flatten() {
        if f.resource.is_some() {
            continue;
        }
        let Some(pointer) = f.pointer.as_deref() else {
            continue;
        };
        let owner = resources
            .iter()
            .filter(|r| {
                !r.generated
                    && pointer
                        .strip_prefix(r.pointer.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            .max_by_key(|r| r.pointer.len());
        f.resource = owner.map(|r| r.logical_id.clone());
    }
}
