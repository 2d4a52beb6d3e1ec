//! The engine: loads bundles and evaluates requests against them.

use crate::bundle::{self, Bundle, BundleSource, DirSource, Extension};
use crate::decision::{
    Basis, BundleRef, Decision, DecisionError, Effect, ErrorKind, Finding, PluginLog, Severity,
    Source,
};
use crate::error::{BundleError, CedarError, EngineError, RequestError};
use crate::manifest::{Limits, Mode, OnPolicyError};
use crate::plugin::{CallInput, InputKind, PluginHost, PluginInput, PluginInspection};
use crate::request::AuthorizationRequest;
use crate::time::Now;
use cedar_policy::{Context, Entities, EntityUid, Request};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Builds an [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineBuilder {
    cache_dir: Option<PathBuf>,
    cache_max_bytes: u64,
    max_instances: u32,
    extensions: Vec<Arc<dyn Extension>>,
    precompiled: std::collections::HashMap<String, &'static [u8]>,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            cache_dir: None,
            cache_max_bytes: crate::plugin::DEFAULT_CACHE_MAX_BYTES,
            max_instances: 64,
            extensions: Vec::new(),
            precompiled: std::collections::HashMap::new(),
        }
    }
}

impl EngineBuilder {
    /// Keeps compiled plugin code in `dir`, keyed by the plugin's sha256 and
    /// the runtime's version, so the next start does not recompile.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The most compiled code the cache keeps on disk (default 512 MiB);
    /// past it the least recently used files are removed. Code larger than
    /// this on its own is not cached. Only code of plugins that a bundle
    /// accepted is cached.
    pub fn cache_max_bytes(mut self, bytes: u64) -> Self {
        self.cache_max_bytes = bytes;
        self
    }

    /// Compiled code shipped with the program for the plugin whose sha256
    /// (lowercase hex) is `sha256`, as [`Engine::precompile`] made it: a
    /// bundle with that plugin loads without compiling it. Code that does
    /// not fit this engine (another wasmtime, other settings, CPU features
    /// this host lacks) is ignored and the plugin is compiled as usual.
    pub fn precompiled(mut self, sha256: &str, code: &'static [u8]) -> Self {
        self.precompiled.insert(sha256.to_ascii_lowercase(), code);
        self
    }

    /// How many plugin instances may be alive at once (concurrent
    /// evaluations); the pooling allocator reserves slots for this many.
    /// Default 64.
    pub fn max_concurrent_instances(mut self, n: u32) -> Self {
        self.max_instances = n.max(1);
        self
    }

    /// Lets bundles have the manifest table that `extension` reads (the
    /// gateway's `[gateway]`): every bundle this engine loads has it
    /// validated and built at load, and the files it names in its digest.
    pub fn extension(mut self, extension: impl Extension) -> Self {
        self.extensions.push(Arc::new(extension));
        self
    }

    /// Creates the engine.
    ///
    /// # Errors
    /// [`EngineError`] when the WebAssembly runtime cannot be configured.
    pub fn build(self) -> Result<Engine, EngineError> {
        let host = PluginHost::new(
            self.cache_dir,
            self.cache_max_bytes,
            self.max_instances,
            self.precompiled,
        )
        .map_err(EngineError::runtime)?;
        Ok(Engine {
            host: Arc::new(host),
            extensions: self.extensions.into(),
        })
    }
}

/// Loads bundles, with the plugin runtime they run in. A gateway uses
/// one that also builds `[gateway]` tables (`palisade_gateway::engine()`).
///
/// Cheap to clone (shared inside); safe to use from many threads.
///
/// # Examples
/// ```
/// use palisade_engine::{AuthorizationRequest, Engine, Now};
///
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("palisade.toml"), "[bundle]\nname = \"demo\"\nversion = \"1.0.0\"\n")?;
/// std::fs::create_dir(dir.path().join("policies"))?;
/// std::fs::write(
///     dir.path().join("policies/photos.cedar"),
///     r#"@id("owners-view") permit(principal, action == Action::"view", resource) when { resource.owner == principal };"#,
/// )?;
///
/// let engine = Engine::new()?;
/// let bundle = engine.load_bundle(dir.path())?;
/// let request = AuthorizationRequest::from_json(r#"{
///     "principal": "User::\"alice\"", "action": "Action::\"view\"", "resource": "Photo::\"p1\"",
///     "entities": [{"uid": {"type": "Photo", "id": "p1"}, "attrs": {"owner": {"__entity": {"type": "User", "id": "alice"}}}, "parents": []}]
/// }"#)?;
/// let decision = bundle.authorize(&request, Now::epoch())?;
/// assert!(decision.is_allowed());
/// assert_eq!(decision.reasons, ["owners-view"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Engine {
    host: Arc<PluginHost>,
    extensions: Arc<[Arc<dyn Extension>]>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with default settings and no compiled-code cache.
    ///
    /// # Errors
    /// [`EngineError`] when the WebAssembly runtime cannot be configured.
    pub fn new() -> Result<Engine, EngineError> {
        EngineBuilder::default().build()
    }

    /// A builder for settings such as the compiled-code cache.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The compiled code of the component `bytes` for this engine, to give
    /// to [`EngineBuilder::precompiled`] in a program that ships it.
    ///
    /// # Errors
    /// When the bytes are not a WebAssembly component.
    pub fn precompile(&self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        self.host.precompile(bytes)
    }

    /// What a plugin component is (contract version, imports and whether
    /// the sandbox grants them, exports, metadata, size, sha256) and one
    /// measured call on an empty input, with `limits`: what `palisade
    /// plugin inspect` shows. A plugin the host refuses is inspected too,
    /// with the reason in [`PluginInspection::refused`].
    ///
    /// # Errors
    /// When the bytes are not a WebAssembly component.
    pub fn inspect_plugin(&self, bytes: &[u8], limits: Limits) -> Result<PluginInspection, String> {
        self.host.inspect(bytes, limits)
    }

    /// Loads and validates the bundle in directory `dir`.
    ///
    /// # Errors
    /// [`BundleError`] listing every problem found, each with its file and
    /// line when it has one.
    pub fn load_bundle(&self, dir: impl AsRef<Path>) -> Result<Bundle, BundleError> {
        self.load_bundle_from(&DirSource::new(dir.as_ref()))
    }

    /// Loads and validates a bundle from any [`BundleSource`] (a directory,
    /// files embedded in a binary).
    ///
    /// # Errors
    /// [`BundleError`] listing every problem found.
    pub fn load_bundle_from(&self, source: &dyn BundleSource) -> Result<Bundle, BundleError> {
        bundle::load(source, &self.host, &self.extensions)
    }
}

impl Bundle {
    /// Runs the bundle's plugins that apply to `kind` on a JSON document and
    /// combines their findings and errors into a decision (no Cedar request
    /// is made). This is the plugin half of checking a deployment.
    ///
    /// # Examples
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # std::fs::write(dir.path().join("palisade.toml"), "[bundle]\nname = \"empty\"\nversion = \"1\"\n")?;
    /// use palisade_engine::{Engine, InputKind, Now};
    /// let engine = Engine::new()?;
    /// let bundle = engine.load_bundle(dir.path())?;
    /// let d = bundle.evaluate_document(InputKind::Deployment, r#"{"Resources": {}}"#, Now::epoch());
    /// assert!(d.is_allowed()); // no plugins, nothing to report
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn evaluate_document(&self, kind: InputKind, document: &str, now: Now) -> Decision {
        let mut acc = Evaluation::new(self);
        acc.run_plugins(kind, || PluginInput::new(document), now);
        acc.finish(None)
    }

    /// Decides an authorization request: the bundle's plugins that apply to
    /// authorization requests run first (their facts reach Cedar as
    /// `context.plugins.NAME`), then Cedar decides, then both combine.
    ///
    /// # Errors
    /// [`RequestError`] when the request cannot be evaluated at all (its
    /// context or extra entities are malformed, or it does not match the
    /// schema). Every policy outcome, including plugin failures, is a
    /// [`Decision`].
    pub fn authorize(
        &self,
        request: &AuthorizationRequest,
        now: Now,
    ) -> Result<Decision, RequestError> {
        let mut acc = Evaluation::new(self);

        // 1. Plugins.
        let facts = acc.run_plugins(
            InputKind::Authorization,
            || PluginInput::new(request.to_json_text()),
            now,
        );

        // 2. Cedar.
        let schema = self.schema.as_ref();
        let entities_owned = match &request.entities {
            Some(extra) => Some(request_store(self, request, extra)?),
            None => None,
        };
        let entities = entities_owned.as_deref().unwrap_or(&self.entities);

        let plugins = if facts.is_empty() {
            None
        } else {
            crate::policies::json_to_value(&serde_json::Value::Object(facts))
        };
        if plugins.is_some() && request.context.contains_key("plugins") {
            return Err(RequestError::context(
                "the key `plugins` is reserved for plugin facts",
            ));
        }
        let new_request = |context: Context, schema| {
            Request::new(
                request.principal.clone(),
                request.action.clone(),
                request.resource.clone(),
                context,
                schema,
            )
            .map_err(|e| RequestError::Schema {
                source: CedarError::new(e),
            })
        };
        // Without a schema, a plain context is built once with the plugin
        // facts in it: every `Context` construction evaluates the whole
        // record again, and merging is a second construction.
        let plain = schema.map_or_else(|| plain_pairs(&request.context), |_| None);
        let cedar_request = match plain {
            Some(mut pairs) => {
                pairs.extend(plugins.map(|p| ("plugins".to_owned(), p)));
                new_request(crate::values::context(pairs), None)?
            }
            None => {
                let json = serde_json::Value::Object(request.context.clone());
                let context = Context::from_json_value(json, schema.map(|s| (s, &request.action)))
                    .map_err(context_error)?;
                match plugins {
                    // Plugin facts are not part of the user's schema: validate
                    // the user's part, then merge the facts in.
                    Some(plugins) => {
                        new_request(context.clone(), schema)?;
                        let context = context
                            .merge([("plugins".to_owned(), plugins.into_expression())])
                            .map_err(context_error)?;
                        new_request(context, None)?
                    }
                    None => new_request(context, schema)?,
                }
            }
        };

        // The slice depends on entities only through the action's groups:
        // when the request's entities leave those as the bundle has them,
        // the bundle's cached slice is the right one.
        let groups = |e: &Entities| -> Option<std::collections::HashSet<EntityUid>> {
            e.ancestors(&request.action).map(|a| a.cloned().collect())
        };
        let cacheable = entities_owned.is_none() || groups(entities) == groups(&self.entities);
        acc.ask_cedar(
            [&request.principal, &request.action, &request.resource],
            &cedar_request,
            entities,
            cacheable,
        );
        Ok(acc.finish(None))
    }
}

/// Cedar refused the context: keep its error.
fn context_error(e: impl std::error::Error + Send + Sync + 'static) -> RequestError {
    RequestError::Context {
        reason: e.to_string(),
        source: Some(CedarError::new(e)),
    }
}

/// The entity store for a request that brings `extra` entities (Cedar's
/// JSON format): those entities and the bundle entities the request can
/// reach (see [`crate::scope`]). An entity that Cedar's parser would refuse
/// or that redefines a bundle entity goes through a full copy of the
/// bundle's entities, for Cedar's own errors.
fn request_store(
    bundle: &Bundle,
    request: &AuthorizationRequest,
    extra: &serde_json::Value,
) -> Result<Arc<Entities>, RequestError> {
    use crate::scope::{collect_uids, collect_value_refs};
    crate::request::check_entity_bounds(extra).map_err(RequestError::entities)?;
    let schema = bundle.schema.as_ref();
    // Every `{"type", "id"}` in the context and in the entities' attributes
    // counts as an entity reference: more than Cedar reads, never less.
    // Those of the request (context, principal, action, resource) are
    // kept apart: a store kept for the same entities serves a request
    // whose own references it already holds or that name no bundle entity.
    let mut request_roots = std::collections::HashSet::new();
    for v in request.context.values() {
        collect_uids(v, &mut request_roots);
    }
    let request_uids = [&request.principal, &request.action, &request.resource];
    request_roots.extend(request_uids.into_iter().cloned());
    let serves = |store: &Entities| bundle.store_serves(store, &request_roots);
    // A store to keep is built only for entities not seen before; those
    // whose store was too large build the request's own store only.
    let mut key = bundle.stores.key(extra);
    if let Some(k) = key.as_deref() {
        match bundle.stores.get(k) {
            crate::scope::Kept::Unknown => {}
            crate::scope::Kept::TooLarge => key = None,
            crate::scope::Kept::Store(kept) if serves(&kept) => return Ok(kept),
            crate::scope::Kept::Store(_) => key = None,
        }
    }
    let mut roots = std::collections::HashSet::new();
    let own = match schema.map_or_else(|| plain_entities(extra), |_| None) {
        Some(plain) => Some(plain),
        None => extra.as_array().and_then(|all| {
            all.iter()
                .map(|v| {
                    collect_value_refs(v, &mut roots);
                    cedar_policy::Entity::from_json_value(v.clone(), schema).ok()
                })
                .collect::<Option<Vec<_>>>()
        }),
    };
    let cedar_error =
        |e: Box<cedar_policy::entities_errors::EntitiesError>| RequestError::Entities {
            reason: crate::error::full_message(&*e),
            source: Some(CedarError::new(*e)),
        };
    match own {
        Some(own) if own.iter().all(|e| bundle.entities.get(&e.uid()).is_none()) => {
            // The store of the entities alone, kept for the next request
            // that brings the same ones.
            if let Some(key) = key {
                let base = bundle
                    .refs
                    .store(&bundle.entities, own.clone(), roots.iter().cloned(), schema)
                    .map_err(cedar_error)?;
                let base = bundle.stores.keep(key, base);
                if serves(&base) {
                    return Ok(base);
                }
            }
            roots.extend(request_roots);
            bundle
                .refs
                .store(&bundle.entities, own, roots, schema)
                .map(Arc::new)
                .map_err(cedar_error)
        }
        _ => bundle
            .entities
            .clone()
            .add_entities_from_json_value(extra.clone(), schema)
            .map(Arc::new)
            .map_err(|e| RequestError::Entities {
                reason: crate::error::full_message(&e),
                source: Some(CedarError::new(e)),
            }),
    }
}

/// The fields of a request context in Cedar's JSON format, converted
/// directly when they need nothing but booleans, 64-bit integers, strings,
/// arrays and objects (no `__entity`/`__extn` escapes, no nulls or
/// fractions), for a context without a schema to type it: the same context
/// as `Context::from_json_value`, which spends about 30 µs on a ten-field
/// context. Anything else is `None`, for Cedar's parser and its errors.
fn plain_pairs(
    context: &serde_json::Map<String, serde_json::Value>,
) -> Option<Vec<(String, crate::values::Val)>> {
    crate::policies::plain_record(context)
}

/// Entities in Cedar's JSON format (`uid`, `attrs`, `parents`, uids as
/// `{"type": .., "id": ..}`), built directly when their attributes are plain
/// (see [`plain_pairs`]) and there is no schema: Cedar's parser tries each
/// form of a value in turn and formats an error for each miss. Anything
/// else is `None`, for Cedar's parser and its errors.
fn plain_entities(json: &serde_json::Value) -> Option<Vec<cedar_policy::Entity>> {
    use serde_json::Value;
    fn uid(v: &Value) -> Option<EntityUid> {
        let o = v.as_object().filter(|o| o.len() == 2)?;
        let name = o.get("type")?.as_str()?;
        // Cedar's JSON wants the normalized form (`A::B`, no spaces).
        let type_name: cedar_policy::EntityTypeName = name.parse().ok()?;
        if type_name.to_string() != name {
            return None;
        }
        let id = o.get("id")?.as_str()?;
        Some(EntityUid::from_type_name_and_id(
            type_name,
            cedar_policy::EntityId::new(id),
        ))
    }
    json.as_array()?
        .iter()
        .map(|e| {
            let e = e.as_object().filter(|e| e.len() == 3)?;
            let attrs = plain_pairs(e.get("attrs")?.as_object()?)?;
            let parents = e.get("parents")?.as_array()?.iter().map(uid);
            let parents = parents.collect::<Option<std::collections::HashSet<_>>>()?;
            let attrs = attrs.into_iter().map(|(k, v)| (k, v.into_expression()));
            cedar_policy::Entity::new(uid(e.get("uid")?)?, attrs.collect(), parents).ok()
        })
        .collect()
}

/// One evaluation of a bundle, as a front end drives it: run the plugins
/// for an input, ask Cedar about requests built from it (with the plugins'
/// facts in their context), place the findings, then [`Evaluation::finish`]
/// combines everything into one [`Decision`].
///
/// [`Bundle::authorize`] is one such evaluation; `palisade-deploy` (one
/// Cedar request per resource of a template) and `palisade-gateway` (an
/// HTTP request mapped by a route) are the others. Whatever the front end,
/// the combining rule is the same: a failing plugin denies unless it runs
/// in monitor mode, a `forbid` denies, an input that cannot be evaluated
/// denies.
///
/// # Examples
/// ```
/// use palisade_engine::{Engine, Evaluation, InputKind, MemorySource, Now, PluginInput, values};
/// use palisade_engine::cedar_policy::{Context, Request};
/// let engine = Engine::new()?;
/// let bundle = engine.load_bundle_from(
///     &MemorySource::new("demo")
///         .file("palisade.toml", b"[bundle]\nname = \"demo\"\nversion = \"1\"\n".as_slice())
///         .file("policies/p.cedar", br#"@id("no-public") forbid(principal, action, resource) when { context.public };"#.as_slice()),
/// )?;
/// let mut eval = Evaluation::new(&bundle);
/// let facts = eval.run_plugins(InputKind::Deployment, || PluginInput::new("{}"), Now::epoch());
/// assert!(facts.is_empty()); // no plugins
/// let (p, a, r) = (values::uid("Deployer", "ci"), values::uid("Action", "deploy"), values::uid("Bucket", "b"));
/// let context = Context::from_pairs([("public".to_owned(), values::from_json(&true.into()).unwrap())])?;
/// let request = Request::new(p.clone(), a.clone(), r.clone(), context, None)?;
/// eval.ask_cedar([&p, &a, &r], &request, bundle.entities(), true);
/// let d = eval.finish(None);
/// assert_eq!((d.is_allowed(), d.reasons.as_slice()), (false, ["no-public".to_owned()].as_slice()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Evaluation<'b> {
    bundle: &'b Bundle,
    cedar_effect: Option<(Effect, Basis)>,
    reasons: Vec<String>,
    findings: Vec<Finding>,
    errors: Vec<DecisionError>,
    plugin_error: bool,
    plugin_finding: bool,
    plugin_fuel: Vec<(String, u64)>,
    plugin_logs: Vec<PluginLog>,
    /// Policies that failed to evaluate, when the bundle fails closed on them.
    errored_policies: Vec<String>,
}

impl std::fmt::Debug for Evaluation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluation")
            .field("bundle", &self.bundle.name())
            .field("findings", &self.findings.len())
            .field("errors", &self.errors.len())
            .finish_non_exhaustive()
    }
}

impl<'b> Evaluation<'b> {
    /// A new evaluation of `bundle`: nothing decided yet.
    pub fn new(bundle: &'b Bundle) -> Self {
        Evaluation {
            bundle,
            cedar_effect: None,
            reasons: Vec::new(),
            findings: Vec::new(),
            errors: Vec::new(),
            plugin_error: false,
            plugin_finding: false,
            plugin_fuel: Vec::new(),
            plugin_logs: Vec::new(),
            errored_policies: Vec::new(),
        }
    }

    /// The bundle being evaluated.
    pub fn bundle(&self) -> &'b Bundle {
        self.bundle
    }

    /// Runs every plugin of the bundle that applies to `kind`; returns their
    /// facts by plugin name (empty for a plugin that failed). The input is
    /// made only when some plugin applies.
    pub fn run_plugins<'d>(
        &mut self,
        kind: InputKind,
        input: impl FnOnce() -> PluginInput<'d>,
        now: Now,
    ) -> serde_json::Map<String, serde_json::Value> {
        let bundle = self.bundle;
        let mut plugins = bundle.plugins_for(kind).peekable();
        if plugins.peek().is_none() {
            return serde_json::Map::new();
        }
        let mut input = CallInput::new(kind, input(), now);
        plugins
            .map(|p| {
                let facts = self.run_plugin(p, &mut input);
                (p.name.clone(), serde_json::Value::Object(facts))
            })
            .collect()
    }

    /// The findings so far, in the order they were found: a front end
    /// places them (file, line, resource) and marks suppressed ones.
    pub fn findings_mut(&mut self) -> &mut [Finding] {
        &mut self.findings
    }

    /// The errors so far, to place them (a front end names the file and
    /// resource a failed request was about).
    pub fn errors_mut(&mut self) -> &mut [DecisionError] {
        &mut self.errors
    }

    /// Keeps, of the findings from index `from` on, those `keep` accepts
    /// (and may edit): a front end that asked about the same resource
    /// more than once drops the repeats.
    pub fn retain_findings(&mut self, from: usize, keep: impl FnMut(&mut Finding) -> bool) {
        if let Some(mut tail) = (from <= self.findings.len()).then(|| self.findings.split_off(from))
        {
            tail.retain_mut(keep);
            self.findings.append(&mut tail);
        }
    }

    /// Keeps, of the errors from index `from` on, those `keep` accepts.
    pub fn retain_errors(&mut self, from: usize, keep: impl FnMut(&mut DecisionError) -> bool) {
        if let Some(mut tail) = (from <= self.errors.len()).then(|| self.errors.split_off(from)) {
            tail.retain_mut(keep);
            self.errors.append(&mut tail);
        }
    }

    /// Records an error that does not stop the evaluation (an invalid
    /// suppression); what it does to the decision is up to its kind.
    pub fn push_error(&mut self, error: DecisionError) {
        self.errors.push(error);
    }

    /// Records an input that could not be turned into Cedar requests: an
    /// error, and a deny (fail closed).
    pub fn invalid(&mut self, message: String) {
        self.errors.push(DecisionError::invalid_request(message));
        self.cedar_effect = Some((Effect::Deny, Basis::InvalidRequest));
    }

    /// Asks Cedar about `request`, whose principal, action and resource
    /// are `scope`, with the bundle's policies that can apply to that
    /// scope, and folds the answer in. `cacheable`: whether `entities`
    /// give the action the groups that the bundle's entities give it (then
    /// the bundle's cached policy slice is the right one).
    pub fn ask_cedar(
        &mut self,
        scope: [&EntityUid; 3],
        request: &Request,
        entities: &Entities,
        cacheable: bool,
    ) {
        let response = self
            .bundle
            .index
            .is_authorized(request, entities, scope, cacheable);
        self.fold(&response, scope[2]);
    }

    /// Runs one plugin; returns its facts (empty on failure).
    fn run_plugin(
        &mut self,
        plugin: &crate::bundle::BundlePlugin,
        input: &mut CallInput,
    ) -> serde_json::Map<String, serde_json::Value> {
        let monitor = plugin.mode == Mode::Monitor;
        let source = Source::Plugin(plugin.name.clone());
        let call = plugin.loaded.evaluate(input, &plugin.settings);
        self.plugin_fuel.push((plugin.name.clone(), call.fuel));
        self.plugin_logs
            .extend(call.logs.into_iter().map(|l| PluginLog {
                plugin: plugin.name.clone(),
                level: l.level,
                message: l.message,
            }));
        match call.result {
            Err(e) => {
                self.plugin_error |= !monitor;
                self.errors.push(DecisionError {
                    source,
                    kind: e.kind,
                    policy: None,
                    message: e.message,
                    file: None,
                    resource: None,
                    monitor,
                });
                serde_json::Map::new()
            }
            Ok(out) => {
                for v in out.violations {
                    self.plugin_error |= !monitor;
                    self.errors.push(DecisionError {
                        source: source.clone(),
                        kind: ErrorKind::BadOutput,
                        policy: None,
                        message: v,
                        file: None,
                        resource: None,
                        monitor,
                    });
                }
                let rules = &plugin.metadata().rules;
                for f in out.findings {
                    let (Some(rule), Some(text)) = (
                        rules.get(&f.rule_id),
                        plugin.loaded.rule_text.get(&f.rule_id),
                    ) else {
                        continue;
                    };
                    self.plugin_finding |= !monitor;
                    self.findings.push(Finding {
                        rule_id: f.rule_id,
                        category: rule.category,
                        severity: f.severity.unwrap_or(rule.severity),
                        message: f.message,
                        resource: f.resource,
                        file: None,
                        line: None,
                        source: source.clone(),
                        remediation: text.remediation.clone(),
                        control: text.control.clone(),
                        pointer: f.pointer,
                        monitor,
                        suppressed: None,
                    });
                }
                out.facts
            }
        }
    }

    /// Folds in one Cedar response about `resource`.
    fn fold(&mut self, response: &cedar_policy::Response, resource: &cedar_policy::EntityUid) {
        let monitor = self.bundle.mode() == Mode::Monitor;
        let reasons: Vec<String> = response
            .diagnostics()
            .reason()
            .map(|id| id.to_string())
            .collect();
        let fail_closed = self.bundle.on_policy_error() == OnPolicyError::Deny;
        let mut errored = false;
        for e in response.diagnostics().errors() {
            let cedar_policy::AuthorizationError::PolicyEvaluationError(pe) = e;
            errored = true;
            if fail_closed {
                self.errored_policies.push(pe.policy_id().to_string());
            }
            self.errors.push(DecisionError {
                source: Source::Cedar,
                kind: ErrorKind::PolicyEvaluation,
                policy: Some(pe.policy_id().to_string()),
                message: pe.inner().to_string(),
                file: None,
                resource: None,
                monitor: false,
            });
        }
        let (effect, basis) = match response.decision() {
            cedar_policy::Decision::Deny if !reasons.is_empty() => (Effect::Deny, Basis::Forbidden),
            // Cedar skips a policy that errors: a `forbid` that errored may
            // be all that stood between this request and an allow.
            _ if errored && fail_closed => (Effect::Deny, Basis::PolicyError),
            cedar_policy::Decision::Allow => (Effect::Allow, Basis::Permitted),
            cedar_policy::Decision::Deny => (Effect::Deny, Basis::NotPermitted),
        };
        if basis == Basis::Forbidden {
            let resource = resource.to_string();
            for id in &reasons {
                if let Some(info) = self.bundle.policy_info.get(id) {
                    let text = self.bundle.policy_text.get(id);
                    self.findings.push(Finding {
                        rule_id: id.clone(),
                        category: info.category,
                        severity: info.severity,
                        message: info
                            .message
                            .clone()
                            .unwrap_or_else(|| format!("forbidden by policy `{id}`")),
                        resource: Some(resource.clone()),
                        file: None,
                        line: None,
                        source: Source::Cedar,
                        remediation: text.and_then(|t| t.remediation.clone()),
                        control: text.and_then(|t| t.control.clone()),
                        pointer: None,
                        monitor,
                        suppressed: None,
                    });
                }
            }
        }
        self.reasons.extend(reasons);
        // Deny wins across several Cedar requests; forbidden is more
        // specific than a policy error, which is more specific than not
        // permitted.
        self.cedar_effect = Some(match (self.cedar_effect, (effect, basis)) {
            (None, new) => new,
            (Some((Effect::Allow, _)), new) => new,
            // An invalid input denies whatever else was decided: a forbid
            // that a waiver suppresses must not turn it into an allow.
            (Some((Effect::Deny, Basis::InvalidRequest)), _) => {
                (Effect::Deny, Basis::InvalidRequest)
            }
            (Some((Effect::Deny, Basis::Forbidden)), _) => (Effect::Deny, Basis::Forbidden),
            (Some((Effect::Deny, _)), (Effect::Deny, Basis::Forbidden)) => {
                (Effect::Deny, Basis::Forbidden)
            }
            (Some((Effect::Deny, Basis::NotPermitted)), (Effect::Deny, Basis::PolicyError)) => {
                (Effect::Deny, Basis::PolicyError)
            }
            (Some(old), _) => old,
        });
    }

    /// Combines everything into a decision. `fail_on`: `None` for
    /// authorization (Cedar's decision stands and every plugin finding
    /// denies); `Some(severity)` for checks, where a finding denies only
    /// from that severity up.
    pub fn finish(self, fail_on: Option<Severity>) -> Decision {
        let failing = |source_is_cedar: bool| {
            self.findings.iter().any(|f| {
                !f.monitor
                    && f.suppressed.is_none()
                    && (f.source == Source::Cedar) == source_is_cedar
                    && fail_on.is_none_or(|t| f.severity >= t)
            })
        };
        let (effect, basis) = combine(Outcomes {
            cedar: self
                .cedar_effect
                .unwrap_or((Effect::Allow, Basis::Permitted)),
            check: fail_on.is_some(),
            cedar_finding_fails: failing(true),
            plugin_finding_fails: self.plugin_finding && failing(false),
            policy_errored: !self.errored_policies.is_empty(),
            plugin_error: self.plugin_error,
            monitor: self.bundle.mode() == Mode::Monitor,
        });
        // Reasons are the policies that determined the outcome: when a
        // plugin failed, the permits that matched did not (its errors say
        // what happened); when a policy error decided, the policies that
        // errored did. A plugin finding keeps Cedar's reasons beside it.
        let reasons = match basis {
            Basis::PluginError => Vec::new(),
            Basis::PolicyError => self.errored_policies,
            _ => self.reasons,
        };
        let mut d = Decision {
            decision: effect,
            basis,
            reasons,
            findings: self.findings,
            errors: self.errors,
            plugin_fuel: self.plugin_fuel,
            plugin_logs: self.plugin_logs,
            bundle: BundleRef {
                name: self.bundle.name().to_owned(),
                version: self.bundle.version().to_owned(),
                digest: self.bundle.digest().to_owned(),
            },
        };
        d.sort();
        d
    }
}

/// What the combining rule looks at, once every plugin and Cedar request
/// of an evaluation has run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Outcomes {
    /// Cedar's combined answer over every request (deny wins).
    cedar: (Effect, Basis),
    /// A check (findings deny from a severity up) or an authorization.
    check: bool,
    /// A Cedar finding that counts: not monitored, not suppressed, at or
    /// above the check's threshold.
    cedar_finding_fails: bool,
    /// A plugin finding that counts, the same way.
    plugin_finding_fails: bool,
    /// A policy failed to evaluate and the bundle fails closed on that.
    policy_errored: bool,
    /// A plugin in enforce mode failed (trap, limit, bad output).
    plugin_error: bool,
    /// The bundle is in monitor mode: report, never deny.
    monitor: bool,
}

/// The combining rule, the same for every front end. Cedar's deny
/// stands (in a check, a forbid counts only when one of its findings
/// reaches the threshold); then a policy error, a plugin error and a
/// counting plugin finding deny, in that order of basis. Monitor mode
/// turns the effect into allow and keeps the basis.
fn combine(o: Outcomes) -> (Effect, Basis) {
    let (cedar_effect, cedar_basis) = o.cedar;
    let cedar_denies = match (cedar_effect, cedar_basis) {
        (Effect::Allow, _) => false,
        (Effect::Deny, Basis::Forbidden) if o.check => o.cedar_finding_fails,
        (Effect::Deny, _) => true,
    };
    let (effect, basis) = if cedar_denies {
        (Effect::Deny, cedar_basis)
    } else if o.policy_errored {
        // A policy error on one resource of a check must not hide behind
        // a low-severity forbid on another.
        (Effect::Deny, Basis::PolicyError)
    } else if o.plugin_error {
        (Effect::Deny, Basis::PluginError)
    } else if o.plugin_finding_fails {
        (Effect::Deny, Basis::PluginFinding)
    } else {
        (Effect::Allow, Basis::Permitted)
    };
    if o.monitor {
        (Effect::Allow, basis)
    } else {
        (effect, basis)
    }
}

#[cfg(test)]
mod combine_tests {
    use super::{Outcomes, combine};
    use crate::decision::{Basis, Effect};

    const CEDAR: [(Effect, Basis); 5] = [
        (Effect::Allow, Basis::Permitted),
        (Effect::Deny, Basis::Forbidden),
        (Effect::Deny, Basis::NotPermitted),
        (Effect::Deny, Basis::PolicyError),
        (Effect::Deny, Basis::InvalidRequest),
    ];

    /// Every combination of what the rule looks at.
    fn all() -> impl Iterator<Item = Outcomes> {
        CEDAR.into_iter().flat_map(|cedar| {
            (0..64u8).map(move |bits| Outcomes {
                cedar,
                check: bits & 1 != 0,
                cedar_finding_fails: bits & 2 != 0,
                plugin_finding_fails: bits & 4 != 0,
                policy_errored: bits & 8 != 0,
                plugin_error: bits & 16 != 0,
                monitor: bits & 32 != 0,
            })
        })
    }

    #[test]
    fn rows_of_the_truth_table() {
        let base = Outcomes {
            cedar: (Effect::Allow, Basis::Permitted),
            check: false,
            cedar_finding_fails: false,
            plugin_finding_fails: false,
            policy_errored: false,
            plugin_error: false,
            monitor: false,
        };
        let forbidden = (Effect::Deny, Basis::Forbidden);
        let rows: &[(Outcomes, (Effect, Basis))] = &[
            (base, (Effect::Allow, Basis::Permitted)),
            (
                Outcomes {
                    cedar: forbidden,
                    ..base
                },
                forbidden,
            ),
            // In a check, a forbid below the threshold does not deny...
            (
                Outcomes {
                    cedar: forbidden,
                    check: true,
                    ..base
                },
                (Effect::Allow, Basis::Permitted),
            ),
            // ...one at or above it does.
            (
                Outcomes {
                    cedar: forbidden,
                    check: true,
                    cedar_finding_fails: true,
                    ..base
                },
                forbidden,
            ),
            // A policy error is not hidden by a low forbid elsewhere.
            (
                Outcomes {
                    cedar: forbidden,
                    check: true,
                    policy_errored: true,
                    ..base
                },
                (Effect::Deny, Basis::PolicyError),
            ),
            (
                Outcomes {
                    cedar: (Effect::Deny, Basis::NotPermitted),
                    check: true,
                    ..base
                },
                (Effect::Deny, Basis::NotPermitted),
            ),
            (
                Outcomes {
                    plugin_error: true,
                    ..base
                },
                (Effect::Deny, Basis::PluginError),
            ),
            (
                Outcomes {
                    plugin_error: true,
                    plugin_finding_fails: true,
                    ..base
                },
                (Effect::Deny, Basis::PluginError),
            ),
            (
                Outcomes {
                    plugin_finding_fails: true,
                    ..base
                },
                (Effect::Deny, Basis::PluginFinding),
            ),
            // Cedar's own deny names its basis before any plugin's.
            (
                Outcomes {
                    cedar: forbidden,
                    plugin_error: true,
                    ..base
                },
                forbidden,
            ),
            (
                Outcomes {
                    cedar: (Effect::Deny, Basis::InvalidRequest),
                    check: true,
                    ..base
                },
                (Effect::Deny, Basis::InvalidRequest),
            ),
            // Monitor reports the basis and allows.
            (
                Outcomes {
                    plugin_error: true,
                    monitor: true,
                    ..base
                },
                (Effect::Allow, Basis::PluginError),
            ),
            (
                Outcomes {
                    cedar: forbidden,
                    monitor: true,
                    ..base
                },
                (Effect::Allow, Basis::Forbidden),
            ),
        ];
        for (o, want) in rows {
            assert_eq!(combine(*o), *want, "{o:?}");
        }
    }

    #[test]
    fn nothing_fails_open() {
        for o in all() {
            let (effect, basis) = combine(o);
            if o.monitor {
                assert_eq!(effect, Effect::Allow, "{o:?}");
                continue;
            }
            let must_deny = o.plugin_error
                || o.policy_errored
                || o.plugin_finding_fails
                || matches!(o.cedar, (Effect::Deny, b) if b != Basis::Forbidden)
                || (o.cedar == (Effect::Deny, Basis::Forbidden)
                    && (!o.check || o.cedar_finding_fails));
            assert_eq!(effect == Effect::Deny, must_deny, "{o:?}");
            // An allow always says permitted; a deny never does.
            assert_eq!(basis == Basis::Permitted, effect == Effect::Allow, "{o:?}");
            // An input that could not be evaluated is said so.
            if o.cedar.1 == Basis::InvalidRequest {
                assert_eq!(basis, Basis::InvalidRequest, "{o:?}");
            }
        }
    }
}

#[cfg(test)]
mod context_tests {
    use cedar_policy::Context;

    #[test]
    fn plain_contexts_are_the_ones_cedar_parses() {
        let cases = serde_json::json!([
            {},
            {"a": true, "b": -7, "c": "text", "d": "ünïcode \"q\""},
            {"set": [1, 2, 2, 3], "strings": ["x", "y"], "empty": [], "nested": {"r": {"s": [true, false]}}},
            {"token": {"scopes": ["orders:read"], "mfa": false, "age": 60}, "params": {"tenant": "acme"}},
            {"big": 9_223_372_036_854_775_807_i64, "small": -9_223_372_036_854_775_808_i64},
        ]);
        for case in cases.as_array().unwrap() {
            let map = case.as_object().unwrap();
            let ours = crate::values::context(super::plain_pairs(map).unwrap());
            let cedars = Context::from_json_value(case.clone(), None).unwrap();
            assert_eq!(ours.to_string(), cedars.to_string(), "{case}");
        }
        // Escapes, nulls and fractions are left to Cedar.
        for case in [
            serde_json::json!({"owner": {"__entity": {"type": "User", "id": "a"}}}),
            serde_json::json!({"ip": {"__extn": {"fn": "ip", "arg": "10.0.0.1"}}}),
            serde_json::json!({"x": null}),
            serde_json::json!({"x": [1.5]}),
            serde_json::json!({"x": 18_446_744_073_709_551_615_u64}),
        ] {
            assert!(
                super::plain_pairs(case.as_object().unwrap()).is_none(),
                "{case}"
            );
        }
    }

    #[test]
    fn plain_entities_are_the_ones_cedar_parses() {
        use cedar_policy::Entities;
        let base = Entities::from_json_value(
            serde_json::json!([{"uid": {"type": "Group", "id": "staff"}, "attrs": {}, "parents": []}]),
            None,
        )
        .unwrap();
        let cases = serde_json::json!([
            [],
            [{"uid": {"type": "User", "id": "bob"}, "attrs": {"tenant": "acme"}, "parents": []}],
            [{"uid": {"type": "App::User", "id": "ünï \"q\""}, "attrs": {"n": 3, "tags": ["a", "b"], "r": {"x": true}},
              "parents": [{"type": "Group", "id": "staff"}, {"type": "Group", "id": "new"}]},
             {"uid": {"type": "Group", "id": "new"}, "attrs": {}, "parents": [{"type": "Group", "id": "staff"}]}],
        ]);
        for case in cases.as_array().unwrap() {
            let ours = base
                .clone()
                .add_entities(super::plain_entities(case).unwrap(), None)
                .unwrap();
            let cedars = base
                .clone()
                .add_entities_from_json_value(case.clone(), None)
                .unwrap();
            // `Entities ==` compares uids only; compare attributes and
            // ancestors too.
            assert_eq!(ours.len(), cedars.len(), "{case}");
            for e in cedars.iter() {
                let mine = ours.get(&e.uid()).unwrap();
                assert!(mine.deep_eq(e), "{case}: {mine:?} != {e:?}");
            }
        }
        // Other uid forms, escapes, tags, missing or unknown fields and
        // names Cedar would not take are left to Cedar's parser.
        for case in [
            serde_json::json!([{"uid": {"__entity": {"type": "User", "id": "a"}}, "attrs": {}, "parents": []}]),
            serde_json::json!([{"uid": {"type": "User", "id": "a"}, "attrs": {"o": {"__entity": {"type": "User", "id": "b"}}}, "parents": []}]),
            serde_json::json!([{"uid": {"type": "User", "id": "a"}, "attrs": {}, "parents": [], "tags": {}}]),
            serde_json::json!([{"uid": {"type": "User", "id": "a"}, "attrs": {}}]),
            serde_json::json!([{"uid": {"type": "User", "id": "a"}, "parents": []}]),
            serde_json::json!([{"uid": {"type": "User ", "id": "a"}, "attrs": {}, "parents": []}]),
            serde_json::json!([{"uid": {"type": "User", "id": 1}, "attrs": {}, "parents": []}]),
            serde_json::json!([{"uid": {"type": "User", "id": "a"}, "attrs": {"x": null}, "parents": []}]),
            serde_json::json!({"uid": {"type": "User", "id": "a"}, "attrs": {}, "parents": []}),
        ] {
            assert!(super::plain_entities(&case).is_none(), "{case}");
        }
    }
}
