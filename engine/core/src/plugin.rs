//! The plugin host: WebAssembly components in a sandbox with nothing granted.
//!
//! A plugin is compiled (or loaded from the on-disk cache) and
//! pre-instantiated once when its bundle loads. Every call then gets a fresh
//! [`Store`] and instance from the pooling allocator, a fuel budget, a memory
//! limit and an epoch deadline; nothing survives between calls.

use crate::decision::{Category, ErrorKind, LogLevel, Severity};
use crate::manifest::Limits;
use crate::time::Now;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{ResourceLimiter, Store, Trap};

mod wasi;

#[allow(missing_docs, clippy::all)]
mod bindings {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "../../wit",
    });
}

pub(crate) use bindings::PluginPre;
use bindings::palisade::policy::host::{self as wit_host, Level};
use bindings::palisade::policy::types as wit;

/// The version of the `palisade:policy` package this host implements.
pub const CONTRACT_VERSION: &str = "0.2.0";
/// The SDK release that builds plugins for [`CONTRACT_VERSION`].
const CONTRACT_SDK: &str = "0.2";

/// The interfaces of this host a plugin may import, besides the WASI ones
/// in [`wasi::INTERFACES`]. Anything else is refused at load.
const POLICY_INTERFACES: &[&str] = &["palisade:policy/host", "palisade:policy/types"];

// What one call may hand the host. Past any of these the call fails
// closed (`output-limit`): the host never holds more than this of one
// plugin's output, whatever the plugin's own memory limit.
/// Findings per call.
pub(crate) const MAX_FINDINGS: usize = 1_000;
/// Facts per call.
pub(crate) const MAX_FACTS: usize = 256;
/// Calls of the `log` import per call.
pub(crate) const MAX_LOG_LINES: usize = 256;
/// Bytes of one log line; longer lines are cut (on a character boundary).
pub(crate) const MAX_LOG_LINE_BYTES: usize = 512;
/// Bytes of text per call: every finding's and fact's strings together.
pub(crate) const MAX_OUTPUT_BYTES: usize = 1 << 20;

// Per field of a finding; a finding over one is refused (`bad-output`).
const MAX_MESSAGE_BYTES: usize = 8 * 1024;
const MAX_RESOURCE_BYTES: usize = 1024;
const MAX_POINTER_BYTES: usize = 2048;
/// Contract violations reported per call; the rest are counted.
const MAX_VIOLATIONS: usize = 16;
/// An error message from `evaluate` is cut to this length.
const MAX_ERROR_BYTES: usize = 4096;

// What a plugin may declare in its metadata; past these it is refused at
// load. Findings share their rule's text, so these bound it once.
const MAX_RULES: usize = 1024;
const MAX_RULE_ID_BYTES: usize = 128;
const MAX_NAME_BYTES: usize = 128;
const MAX_TITLE_BYTES: usize = 1024;
const MAX_REMEDIATION_BYTES: usize = 8 * 1024;
const MAX_CONTROL_BYTES: usize = 1024;

/// Core instances one plugin may have (a Python plugin has 38).
const MAX_CORE_INSTANCES: u32 = 64;

/// The compiled-code cache's default size limit on disk.
pub(crate) const DEFAULT_CACHE_MAX_BYTES: u64 = 512 << 20;

/// Which inputs a plugin applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum InputKind {
    /// Authorization requests (principal, action, resource, context).
    Authorization,
    /// HTTP requests seen by a gateway.
    Request,
    /// Deployment descriptions (CloudFormation, SAM, serverless.yml, Terraform plans).
    Deployment,
}

impl InputKind {
    /// `authorization`, `request` or `deployment`.
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::Authorization => "authorization",
            InputKind::Request => "request",
            InputKind::Deployment => "deployment",
        }
    }

    fn to_wit(self) -> wit::InputKind {
        match self {
            InputKind::Authorization => wit::InputKind::Authorization,
            InputKind::Request => wit::InputKind::Request,
            InputKind::Deployment => wit::InputKind::Deployment,
        }
    }
    fn from_wit(k: wit::InputKind) -> Self {
        match k {
            wit::InputKind::Authorization => InputKind::Authorization,
            wit::InputKind::Request => InputKind::Request,
            wit::InputKind::Deployment => InputKind::Deployment,
        }
    }
}

impl std::fmt::Display for InputKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An input as every plugin call of one decision lowers it: built once,
/// whatever the number of plugins (only the settings differ per plugin).
pub(crate) struct CallInput {
    wit: wit::Input,
    kind: InputKind,
    now: Now,
}

impl CallInput {
    pub(crate) fn new(kind: InputKind, input: PluginInput<'_>, now: Now) -> CallInput {
        CallInput {
            wit: wit::Input {
                kind: kind.to_wit(),
                document: input.document.into_owned(),
                resources: input
                    .resources
                    .into_iter()
                    .map(|r| wit::DeployedResource {
                        resource_type: r.resource_type,
                        logical_id: r.logical_id,
                        properties: r.properties,
                        pointer: r.pointer,
                    })
                    .collect(),
                settings: String::new(),
                now: now.to_string(),
            },
            kind,
            now,
        }
    }

    /// The whole input, settings included, as one byte string (each field
    /// length-prefixed, so no two inputs share it); `None` above
    /// [`MEMO_MAX_INPUT`].
    fn memo_key(&self) -> Option<Vec<u8>> {
        // Every field, named: a field added to the contract cannot be left
        // out of the key without this failing to compile. (`kind` is
        // `self.kind`.)
        let wit::Input {
            kind: _,
            document,
            resources,
            settings,
            now,
        } = &self.wit;
        let resources = resources.iter().flat_map(|r| {
            let wit::DeployedResource {
                resource_type,
                logical_id,
                properties,
                pointer,
            } = r;
            [resource_type, logical_id, properties, pointer]
        });
        let fields: Vec<&String> = [document, settings, now]
            .into_iter()
            .chain(resources)
            .collect();
        let len = fields.iter().map(|f| f.len() + 8).sum::<usize>() + 1;
        if len > MEMO_MAX_INPUT {
            return None;
        }
        let mut key = Vec::with_capacity(len);
        key.push(self.kind as u8);
        for f in fields {
            key.extend_from_slice(&(f.len() as u64).to_le_bytes());
            key.extend_from_slice(f.as_bytes());
        }
        Some(key)
    }
}

/// Inputs longer than this are not remembered.
const MEMO_MAX_INPUT: usize = 8 << 10;

/// Calls remembered per plugin (then the memo starts over).
const MEMO_ENTRIES: usize = 1024;

/// Answers larger than this are not remembered, so the memo holds at most
/// [`MEMO_ENTRIES`] × (8 + 16) KiB, whatever a plugin answers.
const MEMO_MAX_ANSWER: usize = 16 << 10;

/// About how many bytes a call's answer holds.
fn answer_size(call: &Call) -> usize {
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    let Ok(out) = &call.result else { return 0 };
    let findings: usize = out
        .findings
        .iter()
        .map(|f| f.rule_id.len() + f.message.len() + opt(&f.resource) + opt(&f.pointer) + 16)
        .sum();
    let facts = serde_json::to_string(&out.facts).map_or(usize::MAX, |t| t.len());
    let rest: usize = out.violations.iter().map(String::len).sum::<usize>()
        + call.logs.iter().map(|l| l.message.len() + 8).sum::<usize>();
    findings.saturating_add(facts).saturating_add(rest)
}

/// The answers of a plugin's successful calls, by their whole input.
///
/// A plugin is a function of its input: it has no clock but `now` (part of
/// the input), fixed random values and nothing else to reach, and its fuel
/// is counted exactly. So a call with an input seen before gets the answer
/// (findings, facts, logs, fuel) the plugin gave then, without running it:
/// a gateway that sees the same request many times a second pays for one
/// call. Failed calls are not remembered: a deadline or a full instance
/// pool depends on the moment, not on the input. At most [`MEMO_ENTRIES`]
/// inputs of at most [`MEMO_MAX_INPUT`] bytes are kept, with answers of at
/// most [`MEMO_MAX_ANSWER`].
#[derive(Default)]
struct Memo(std::sync::Mutex<HashMap<Vec<u8>, Call>>);

impl Memo {
    fn get(&self, key: &[u8]) -> Option<Call> {
        self.0.lock().ok()?.get(key).cloned()
    }

    fn put(&self, key: Vec<u8>, call: &Call) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= MEMO_ENTRIES {
                m.clear();
            }
            m.insert(key, call.clone());
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().map_or(0, |m| m.len())
    }
}

/// What a plugin is asked to evaluate, besides its settings and `now`.
///
/// # Examples
/// ```
/// use palisade_engine::{DeployedResource, PluginInput};
/// let input = PluginInput::new(r#"{"Resources":{"Fn":{"Type":"AWS::Lambda::Function"}}}"#)
///     .with_resources(vec![DeployedResource::new(
///         "AWS::Lambda::Function", "Fn", "{}", "/Resources/Fn",
///     )]);
/// assert_eq!(input.resources.len(), 1);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PluginInput<'d> {
    /// The document as JSON text.
    pub document: std::borrow::Cow<'d, str>,
    /// A deployment's normalized resources (empty for other inputs).
    pub resources: Vec<DeployedResource>,
}

impl<'d> PluginInput<'d> {
    /// An input of one document and no resources.
    pub fn new(document: impl Into<std::borrow::Cow<'d, str>>) -> Self {
        PluginInput {
            document: document.into(),
            resources: Vec::new(),
        }
    }

    /// Adds a deployment's normalized resources.
    #[must_use]
    pub fn with_resources(mut self, resources: Vec<DeployedResource>) -> Self {
        self.resources = resources;
        self
    }
}

/// One normalized resource of a deployment, as plugins receive it
/// (`deployed-resource` in `wit/policy.wit`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeployedResource {
    /// The CloudFormation type, e.g. `AWS::Lambda::Function`.
    pub resource_type: String,
    /// The logical id (a Terraform address for plans).
    pub logical_id: String,
    /// The normalized properties, as JSON text.
    pub properties: String,
    /// JSON pointer of the resource in the document.
    pub pointer: String,
}

impl DeployedResource {
    /// A resource; `properties` is JSON text.
    pub fn new(
        resource_type: impl Into<String>,
        logical_id: impl Into<String>,
        properties: impl Into<String>,
        pointer: impl Into<String>,
    ) -> Self {
        DeployedResource {
            resource_type: resource_type.into(),
            logical_id: logical_id.into(),
            properties: properties.into(),
            pointer: pointer.into(),
        }
    }
}

/// What `palisade plugin inspect` shows of a component
/// ([`crate::Engine::inspect_plugin`]).
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct PluginInspection {
    /// Bytes of the file.
    pub size: usize,
    /// Hex sha256 of the file (what a bundle pins).
    pub sha256: String,
    /// The `palisade:policy` version the plugin was built for, read from
    /// its imports (`None` when it imports nothing of the package).
    pub contract: Option<String>,
    /// Every interface it imports, and whether this host grants it.
    pub imports: Vec<ImportInfo>,
    /// What it exports.
    pub exports: Vec<String>,
    /// What it says about itself, when the host accepts it.
    pub metadata: Option<PluginMetadata>,
    /// Why the host refuses it, when it does.
    pub refused: Option<String>,
    /// One measured call, when the host accepts it.
    pub trial: Option<TrialCall>,
}

/// One import of a component.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportInfo {
    /// The interface, with its version, e.g. `wasi:io/streams@0.2.6`.
    pub name: String,
    /// Whether the host links it (else the plugin is refused).
    pub allowed: bool,
}

/// One `evaluate` call on an empty input (`{}`, no resources, no
/// settings) in a fresh instance from a warm pool slot, measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrialCall {
    /// The input kind used: the first the plugin applies to.
    pub kind: InputKind,
    /// Wall-clock time to instantiate, in microseconds.
    pub instantiate_us: u64,
    /// Wall-clock time of `validate-settings` and `evaluate`, in
    /// microseconds.
    pub call_us: u64,
    /// Fuel used by the instance (both calls).
    pub fuel: u64,
    /// The largest linear memory the instance grew to, in bytes.
    pub peak_memory_bytes: u64,
    /// What the call returned (`N findings, M facts`), when it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub returned: Option<String>,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn elapsed_us(since: std::time::Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// A rule a plugin declares in its metadata.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleInfo {
    /// Rule id, e.g. `secrets.aws-access-key-id`.
    pub id: String,
    /// Finding category.
    pub category: Category,
    /// Default severity.
    pub severity: Severity,
    /// One-line description.
    pub title: String,
    /// How to fix a finding.
    pub remediation: String,
    /// The practice or control enforced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
}

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PluginMetadata {
    /// The plugin's own name.
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// The inputs it evaluates.
    pub applies_to: Vec<InputKind>,
    /// The rules it can report, by id.
    pub rules: BTreeMap<String, RuleInfo>,
}

/// A finding as a plugin reported it, checked against its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawFinding {
    pub rule_id: String,
    pub message: String,
    pub resource: Option<String>,
    pub pointer: Option<String>,
    pub severity: Option<Severity>,
}

/// The outcome of one plugin call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PluginOutput {
    pub findings: Vec<RawFinding>,
    /// Facts as a JSON object, for `context.plugins.NAME`.
    pub facts: serde_json::Map<String, serde_json::Value>,
    /// Contract violations in otherwise usable output.
    pub violations: Vec<String>,
}

/// One line a plugin logged through the `log` import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogLine {
    pub level: LogLevel,
    pub message: String,
}

/// One plugin call: its outcome, the fuel it used and what it logged
/// (kept when the call fails: the lines before a trap say the most).
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub result: Result<PluginOutput, CallError>,
    pub fuel: u64,
    pub logs: Vec<LogLine>,
}

/// Why a plugin call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallError {
    pub kind: ErrorKind,
    pub message: String,
}

/// Per-store state: WASI with nothing granted, the log and the limiter.
struct Sandbox {
    wasi: wasi::Wasi,
    limiter: MemoryLimiter,
    logs: Vec<LogLine>,
    /// Calls of the `log` import, kept or not.
    log_calls: usize,
}

impl wit_host::Host for Sandbox {
    fn log(&mut self, level: Level, message: String) {
        self.log_calls = self.log_calls.saturating_add(1);
        if self.logs.len() < MAX_LOG_LINES {
            let level = match level {
                Level::Debug => LogLevel::Debug,
                Level::Info => LogLevel::Info,
                Level::Warn => LogLevel::Warn,
                Level::Error => LogLevel::Error,
            };
            let mut message = message;
            truncate_on_char_boundary(&mut message, MAX_LOG_LINE_BYTES);
            self.logs.push(LogLine { level, message });
        }
    }
}

impl wit::Host for Sandbox {}

/// Caps linear memory and remembers that the cap was hit, because a Rust
/// guest that cannot grow aborts with a plain `unreachable` trap.
struct MemoryLimiter {
    max_bytes: usize,
    hit: bool,
    /// The largest linear memory granted, in bytes.
    peak: usize,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit = true;
            return Ok(false);
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

fn truncate_on_char_boundary(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
}

/// Where a plugin's compiled code came from when its bundle loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CodeCache {
    /// Shipped precompiled with the program (the built-in bundles'
    /// plugins, see [`crate::EngineBuilder::precompiled`]): no compilation.
    Precompiled,
    /// Deserialized from the on-disk cache: no compilation.
    Hit,
    /// Compiled, then written to the cache.
    Miss,
    /// Compiled; the engine has no cache directory.
    Disabled,
}

/// A rule's text, shared by every finding of the rule.
#[derive(Debug, Clone)]
pub(crate) struct SharedRule {
    pub(crate) remediation: Option<Arc<str>>,
    pub(crate) control: Option<Arc<str>>,
}

/// A compiled, pre-instantiated plugin, ready for fresh instances.
pub(crate) struct LoadedPlugin {
    pub(crate) cache: CodeCache,
    /// How long compiling the plugin took (a start without the cache):
    /// measured now, or when the cached code was compiled.
    pub(crate) compile_time: Option<std::time::Duration>,
    /// Where the compiled code goes once the plugin is accepted: code of a
    /// plugin the bundle refuses is never cached.
    pending_cache: Option<PathBuf>,
    component: Component,
    /// Rule text by rule id, shared by the findings.
    pub(crate) rule_text: BTreeMap<String, SharedRule>,
    engine: wasmtime::Engine,
    /// Keeps the epoch ticking while any plugin of this host lives.
    _ticker: std::sync::Arc<Ticker>,
    pre: PluginPre<Sandbox>,
    pub(crate) metadata: PluginMetadata,
    limits: Limits,
    epoch_ticks: u64,
    memo: Memo,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("metadata", &self.metadata)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The shared wasmtime machinery: one engine and linker for all plugins.
pub(crate) struct PluginHost {
    engine: wasmtime::Engine,
    ticker: std::sync::Arc<Ticker>,
    linker: Linker<Sandbox>,
    cache_dir: Option<PathBuf>,
    cache_max_bytes: u64,
    engine_key: String,
    /// Compiled code shipped with the program, by the plugin's sha256.
    precompiled: HashMap<String, &'static [u8]>,
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped, so that
/// epoch deadlines stop runaway calls in wall-clock time.
pub(crate) struct Ticker {
    stop: std::sync::mpsc::Sender<()>,
}

impl Ticker {
    fn start(engine: wasmtime::Engine) -> wasmtime::Result<Ticker> {
        let (stop, rx) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("palisade-epoch".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    rx.recv_timeout(EPOCH_TICK)
                {
                    engine.increment_epoch();
                }
            })
            .map_err(|e| wasmtime::format_err!("cannot start the epoch thread: {e}"))?;
        Ok(Ticker { stop })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        let _ = self.stop.send(());
    }
}

/// Epoch ticks happen this often; deadlines are counted in ticks.
pub(crate) const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(2);

/// Whether this machine has swap in use (`/proc/swaps` lists a device or
/// file). Unknown (no `/proc`) counts as yes: the safe answer.
fn swap_is_active() -> bool {
    std::fs::read_to_string("/proc/swaps").map_or(true, |text| swaps_listed(&text))
}

/// Whether `/proc/swaps` text lists any swap (a line past its header).
fn swaps_listed(text: &str) -> bool {
    text.lines().skip(1).any(|l| !l.trim().is_empty())
}

#[cfg(test)]
mod swap_tests {
    #[test]
    fn swap_is_seen_in_proc_swaps() {
        let header = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
        assert!(!super::swaps_listed(header));
        assert!(!super::swaps_listed(""));
        assert!(super::swaps_listed(&format!(
            "{header}/swapfile                               file\t\t2097148\t\t0\t\t-2\n"
        )));
        assert!(super::swaps_listed(&format!(
            "{header}/dev/zram0 partition 4194300 0 100\n"
        )));
    }
}

impl PluginHost {
    pub(crate) fn new(
        cache_dir: Option<PathBuf>,
        cache_max_bytes: u64,
        max_instances: u32,
        precompiled: HashMap<String, &'static [u8]>,
    ) -> wasmtime::Result<PluginHost> {
        let mut config = wasmtime::Config::new();
        portable_target(&mut config)?;
        config.consume_fuel(true);
        config.epoch_interruption(true);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        config.wasm_backtrace_max_frames(None);
        config.native_unwind_info(true);

        let mut pool = wasmtime::PoolingAllocationConfig::new();
        // One component instance per concurrent call. Rust and JavaScript
        // guests carry 3 core instances; a componentize-py guest 38 (one
        // per module of the interpreter and its libraries), so the slots
        // are sized for a mix: every call can be a Rust or JavaScript one,
        // a quarter of them Python ones. A call past the pool fails closed.
        pool.total_component_instances(max_instances);
        pool.total_core_instances(max_instances.saturating_mul(12));
        pool.total_memories(max_instances.saturating_mul(2));
        pool.total_tables(max_instances.saturating_mul(4));
        pool.max_core_instances_per_component(MAX_CORE_INSTANCES);
        pool.max_memories_per_component(4);
        pool.max_tables_per_component(8);
        pool.max_memory_size(1 << 30);
        pool.max_unused_warm_slots(max_instances.min(16));
        // Reset memory by rewriting the pages a call dirtied instead of
        // unmapping them: without this, page faults and `madvise` were half
        // of a plugin call. PAGEMAP_SCAN (Linux 6.7+) finds the dirty pages;
        // elsewhere the low addresses are reset with `memset`.
        pool.linear_memory_keep_resident(2 << 20);
        pool.table_keep_resident(64 << 10);
        // The scan finds written pages that are present: one swapped out
        // would be neither reset nor decommitted, and the next call in the
        // slot could read the last one's data. With swap on, reset without
        // it (copy the low pages, decommit the rest), which has no such gap.
        pool.pagemap_scan(if swap_is_active() {
            wasmtime::Enabled::No
        } else {
            wasmtime::Enabled::Auto
        });
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        // Reserve just what the largest allowed memory needs, so many pools
        // fit in the address space (tests create many engines).
        config.memory_reservation(1 << 30);
        config.memory_guard_size(32 << 20);
        config.memory_reservation_for_growth(0);

        let engine = wasmtime::Engine::new(&config)?;
        let mut linker: Linker<Sandbox> = Linker::new(&engine);
        wasi::add_to_linker(&mut linker)?;
        bindings::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;

        let engine_key = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            engine.precompile_compatibility_hash().hash(&mut h);
            format!("wasmtime-{}-{:016x}", env!("CARGO_PKG_VERSION"), h.finish())
        };
        let ticker = std::sync::Arc::new(Ticker::start(engine.clone())?);
        Ok(PluginHost {
            engine,
            ticker,
            linker,
            cache_dir,
            cache_max_bytes,
            engine_key,
            precompiled,
        })
    }

    /// Compiles `bytes` (digest `sha256`), or loads the compiled code from the
    /// cache, checks imports and pre-instantiates. Returns a message for
    /// people on failure.
    pub(crate) fn load(
        &self,
        bytes: &[u8],
        sha256: &str,
        limits: Limits,
    ) -> Result<LoadedPlugin, String> {
        let (component, cache, pending_cache, compile_time) = self.component(bytes, sha256)?;
        self.check_imports(&component)?;
        // The filesystem is linked at the versions this plugin imports it.
        let mut linker = self.linker.clone();
        let pre = wasi::add_filesystem_to_linker(&mut linker, &self.engine, &component)
            .and_then(|()| linker.instantiate_pre(&component))
            .map_err(|e| format!("cannot link the component: {}", error_chain(&e)))?;
        let pre = PluginPre::new(pre).map_err(|e| {
            format!(
                "the component does not export the `palisade:policy/plugin` world: {}",
                error_chain(&e)
            )
        })?;
        let epoch_ticks = limits
            .timeout_ms
            .div_ceil(EPOCH_TICK.as_millis().max(1) as u64)
            .max(1);
        let mut plugin = LoadedPlugin {
            cache,
            compile_time,
            pending_cache,
            component,
            rule_text: BTreeMap::new(),
            engine: self.engine.clone(),
            _ticker: std::sync::Arc::clone(&self.ticker),
            pre,
            metadata: PluginMetadata {
                name: String::new(),
                version: String::new(),
                applies_to: Vec::new(),
                rules: BTreeMap::new(),
            },
            limits,
            epoch_ticks,
            memo: Memo::default(),
        };
        plugin.metadata = plugin.read_metadata()?;
        plugin.rule_text = plugin
            .metadata
            .rules
            .values()
            .map(|r| {
                let shared = SharedRule {
                    remediation: Some(Arc::from(r.remediation.as_str()))
                        .filter(|t: &Arc<str>| !t.is_empty()),
                    control: r.control.as_deref().map(Arc::from),
                };
                (r.id.clone(), shared)
            })
            .collect();
        Ok(plugin)
    }

    /// What a component is, and one trial call: see [`PluginInspection`].
    pub(crate) fn inspect(&self, bytes: &[u8], limits: Limits) -> Result<PluginInspection, String> {
        let sha256 = crate::bundle::sha256_hex(bytes);
        let (component, ..) = self.component(bytes, &sha256)?;
        let ty = component.component_type();
        let mut contract = None;
        let imports = ty
            .imports(&self.engine)
            .map(|(name, _)| {
                let unversioned = name.split('@').next().unwrap_or(name);
                if unversioned.starts_with("palisade:policy/") && contract.is_none() {
                    contract = name.split_once('@').map(|(_, v)| v.to_owned());
                }
                let version = name.split_once('@').map(|(_, v)| v);
                ImportInfo {
                    name: name.to_owned(),
                    allowed: (POLICY_INTERFACES.contains(&unversioned)
                        && version == Some(CONTRACT_VERSION))
                        || wasi::INTERFACES.contains(&unversioned),
                }
            })
            .collect();
        let exports = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        let mut inspection = PluginInspection {
            size: bytes.len(),
            sha256: sha256.clone(),
            contract,
            imports,
            exports,
            metadata: None,
            refused: None,
            trial: None,
        };
        match self.load(bytes, &sha256, limits) {
            Err(e) => inspection.refused = Some(e),
            Ok(mut plugin) => {
                // Accepted: its compiled code is worth keeping for the
                // bundle or test run that comes next.
                self.commit_cache(&mut plugin);
                inspection.trial = Some(plugin.trial());
                inspection.metadata = Some(plugin.metadata);
            }
        }
        Ok(inspection)
    }

    /// Writes the plugin's compiled code to the cache, once the bundle has
    /// accepted the plugin (imports, metadata, settings), then keeps the
    /// cache under its size limit by removing the least recently used
    /// files. A cache that cannot be written only costs time later.
    pub(crate) fn commit_cache(&self, plugin: &mut LoadedPlugin) {
        let Some(path) = plugin.pending_cache.take() else {
            return;
        };
        let Ok(bytes) = plugin.component.serialize() else {
            return;
        };
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > self.cache_max_bytes {
            return;
        }
        if write_cache(&path, &bytes).is_ok()
            && let Some(dir) = path.parent()
        {
            if let Some(t) = plugin.compile_time {
                let _ = write_cache(
                    &compile_time_path(&path),
                    t.as_millis().to_string().as_bytes(),
                );
            }
            evict(dir, self.cache_max_bytes, &path);
        }
    }

    fn component(&self, bytes: &[u8], sha256: &str) -> Result<Compiled, String> {
        if !bytes.starts_with(b"\0asm") {
            return Err("not a WebAssembly file (bad magic number)".into());
        }
        if let Some(c) = self
            .precompiled
            .get(sha256)
            .and_then(|code| self.deserialize_precompiled(code))
        {
            return Ok((c, CodeCache::Precompiled, None, None));
        }
        let cached = self
            .cache_dir
            .as_ref()
            .map(|d| d.join(format!("{sha256}-{}.cwasm", self.engine_key)));
        if let Some(path) = &cached
            && path.is_file()
            && let Some(c) = self.deserialize_cached(path)
        {
            // Recently used: the last to be evicted.
            let _ = std::fs::File::options()
                .write(true)
                .open(path)
                .and_then(|f| f.set_modified(std::time::SystemTime::now()));
            let took = read_compile_time(path);
            return Ok((c, CodeCache::Hit, None, took));
        }
        let started = std::time::Instant::now();
        let component = Component::from_binary(&self.engine, bytes)
            .map_err(|e| format!("not a valid WebAssembly component: {}", error_chain(&e)))?;
        let took = started.elapsed();
        let status = if cached.is_some() {
            CodeCache::Miss
        } else {
            CodeCache::Disabled
        };
        Ok((component, status, cached, Some(took)))
    }

    /// Compiled code of this host's engine, to ship precompiled (see
    /// [`crate::EngineBuilder::precompiled`]).
    pub(crate) fn precompile(&self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        let component = Component::from_binary(&self.engine, bytes)
            .map_err(|e| format!("not a valid WebAssembly component: {}", error_chain(&e)))?;
        component
            .serialize()
            .map_err(|e| format!("cannot serialize the compiled code: {}", error_chain(&e)))
    }

    #[expect(
        unsafe_code,
        reason = "deserializing precompiled code is unsafe by wasmtime's definition; \
                  the code shipped in the program was compiled from the plugin whose \
                  sha256 names it, by this engine's configuration"
    )]
    fn deserialize_precompiled(&self, code: &[u8]) -> Option<Component> {
        // SAFETY: the bytes are part of this program, produced by
        // `Component::serialize` of an engine configured as this one
        // (`precompile`) from the plugin whose sha256 they are registered
        // under; wasmtime checks the header (its version, the engine's
        // settings and the target's features, against this host's), and a
        // mismatch is an error that falls back to compiling.
        unsafe { Component::deserialize(&self.engine, code) }.ok()
    }

    #[expect(
        unsafe_code,
        reason = "deserializing precompiled code is unsafe by wasmtime's definition; \
                  the cache holds only files this host wrote, named by the sha256 \
                  of their source and the engine's compatibility hash"
    )]
    fn deserialize_cached(&self, path: &Path) -> Option<Component> {
        // SAFETY: the file was produced by `Component::serialize` of this
        // same engine configuration (the file name carries its compatibility
        // hash) and is written atomically; wasmtime also checks its header.
        unsafe { Component::deserialize_file(&self.engine, path) }.ok()
    }

    fn check_imports(&self, component: &Component) -> Result<(), String> {
        let ty = component.component_type();
        let mut refused = Vec::new();
        for (name, _) in ty.imports(&self.engine) {
            if let Some(version) = name
                .strip_prefix("palisade:policy/")
                .and_then(|n| n.split_once('@'))
                .map(|(_, v)| v)
                .filter(|v| *v != CONTRACT_VERSION)
            {
                return Err(format!(
                    "the plugin was built for palisade:policy {version}; this host runs \
                     palisade:policy {CONTRACT_VERSION}: rebuild it with palisade-plugin-sdk \
                     {CONTRACT_SDK} (or against wit/policy.wit of this release)",
                    version = version.escape_debug()
                ));
            }
            let unversioned = name.split('@').next().unwrap_or(name);
            if !POLICY_INTERFACES.contains(&unversioned) && !wasi::INTERFACES.contains(&unversioned)
            {
                refused.push(format!("`{name}`"));
            }
        }
        if refused.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the plugin imports {} which the sandbox does not grant (plugins get no network, \
                 HTTP or other host capabilities; only the `palisade:policy/host` log and an \
                 inert WASI are linked)",
                refused.join(", ")
            ))
        }
    }
}

/// A compiled component, where its code came from, where to cache it, and
/// how long compiling it took.
type Compiled = (
    Component,
    CodeCache,
    Option<PathBuf>,
    Option<std::time::Duration>,
);

/// Beside a cached `.cwasm`: how long compiling it took, in milliseconds.
fn compile_time_path(cwasm: &Path) -> PathBuf {
    cwasm.with_extension("ms")
}

/// The compile time recorded beside a cached `.cwasm`: only from a small
/// regular file (a FIFO put there would block the read, and the load).
fn read_compile_time(cwasm: &Path) -> Option<std::time::Duration> {
    let path = compile_time_path(cwasm);
    std::fs::symlink_metadata(&path)
        .ok()
        .filter(|m| m.is_file() && m.len() < 32)?;
    let text = std::fs::read_to_string(&path).ok()?;
    text.trim()
        .parse()
        .ok()
        .map(std::time::Duration::from_millis)
}

/// On x86-64 hosts with the x86-64-v2 features (every server CPU since
/// about 2009), code is compiled for exactly those features rather than
/// for whatever this CPU has, so that compiled code is portable between
/// machines: the built-in plugins ship precompiled, and a cache directory
/// shared between CI machines stays valid. Elsewhere the host's features
/// are used.
fn portable_target(config: &mut wasmtime::Config) -> wasmtime::Result<()> {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        let v2 = std::arch::is_x86_feature_detected!("sse3")
            && std::arch::is_x86_feature_detected!("ssse3")
            && std::arch::is_x86_feature_detected!("sse4.1")
            && std::arch::is_x86_feature_detected!("sse4.2")
            && std::arch::is_x86_feature_detected!("popcnt");
        if v2 {
            config.target("x86_64-unknown-linux-gnu")?;
            for flag in [
                "has_sse3",
                "has_ssse3",
                "has_sse41",
                "has_sse42",
                "has_popcnt",
            ] {
                // SAFETY: each feature was detected on this host just above;
                // code compiled with it runs here, and wasmtime checks an
                // artifact's features against the host before loading it.
                #[expect(
                    unsafe_code,
                    reason = "enabling ISA features is unsafe by wasmtime's definition; they are detected first"
                )]
                unsafe {
                    config.cranelift_flag_enable(flag);
                }
            }
        }
    }
    let _ = config;
    Ok(())
}

fn write_cache(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Removes the least recently used `.cwasm` files of `dir` (never `keep`)
/// until what is left fits in `max_bytes`.
fn evict(dir: &Path, max_bytes: u64, keep: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = rd
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .filter_map(|e| {
            // Not followed: a symlink in the cache is not ours to count.
            let m = e.metadata().ok().filter(std::fs::Metadata::is_file)?;
            let at = m.modified().unwrap_or(std::time::UNIX_EPOCH);
            Some((at, m.len(), e.path()))
        })
        .collect();
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    files.sort();
    for (_, len, path) in files {
        if total <= max_bytes {
            break;
        }
        if path != keep && std::fs::remove_file(&path).is_ok() {
            let _ = std::fs::remove_file(compile_time_path(&path));
            total = total.saturating_sub(len);
        }
    }
}

/// Formats a wasmtime error with its causes on one line.
fn error_chain(e: &wasmtime::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}

/// The plugin's fixed wall clock: the evaluation's `now` in seconds (the
/// epoch for times before it).
fn wall_clock_at(now: Now) -> u64 {
    u64::try_from(now.unix_seconds()).unwrap_or(0)
}

impl LoadedPlugin {
    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    /// One call of `evaluate` on an empty input of the first kind the
    /// plugin applies to, without settings, measured.
    fn trial(&self) -> TrialCall {
        let kind = self
            .metadata
            .applies_to
            .first()
            .copied()
            .unwrap_or(InputKind::Deployment);
        // One instance first, dropped: the measured one then gets a warm
        // slot of the pool, as a decision in a running process does.
        {
            let mut warm = self.new_store(Now::epoch());
            let _ = self.pre.instantiate(&mut warm);
        }
        let mut store = self.new_store(Now::epoch());
        let started = std::time::Instant::now();
        let instance = self.pre.instantiate(&mut store);
        let instantiate_us = elapsed_us(started);
        let started = std::time::Instant::now();
        let outcome = match instance {
            Err(e) => Err(format!(
                "cannot instantiate: {}",
                Self::classify(&store, &e).message
            )),
            Ok(instance) => match instance.call_validate_settings(&mut store, "{}") {
                Err(e) => Err(Self::classify(&store, &e).message),
                Ok(Err(msg)) => Err(format!("refuses empty settings: {msg}")),
                Ok(Ok(())) => {
                    let mut input = CallInput::new(kind, PluginInput::new("{}"), Now::epoch());
                    input.wit.settings.push_str("{}");
                    match instance.call_evaluate(&mut store, &input.wit) {
                        Err(e) => Err(Self::classify(&store, &e).message),
                        Ok(Err(msg)) => Err(format!("evaluate returned an error: {msg}")),
                        // Judged as a decision judges it: output the host
                        // would refuse is an error here too.
                        Ok(Ok(ev)) => {
                            check_output_size(&ev)
                                .map_err(|e| e.message)
                                .and_then(|()| {
                                    let out = self.check_output(ev);
                                    match out.violations.first() {
                                        Some(v) => Err(format!("bad output: {v}")),
                                        None => Ok(format!(
                                            "{} findings, {} facts",
                                            out.findings.len(),
                                            out.facts.len()
                                        )),
                                    }
                                })
                        }
                    }
                }
            },
        };
        TrialCall {
            kind,
            instantiate_us,
            call_us: elapsed_us(started),
            fuel: self
                .limits
                .fuel
                .saturating_sub(store.get_fuel().unwrap_or(0)),
            peak_memory_bytes: store.data().limiter.peak as u64,
            returned: outcome.as_ref().ok().cloned(),
            error: outcome.err(),
        }
    }

    fn new_store(&self, now: Now) -> Store<Sandbox> {
        let data = Sandbox {
            wasi: wasi::Wasi::new(wall_clock_at(now)),
            limiter: MemoryLimiter {
                max_bytes: (self.limits.memory_mib as usize).saturating_mul(1 << 20),
                hit: false,
                peak: 0,
            },
            logs: Vec::new(),
            log_calls: 0,
        };
        let mut store = Store::new(&self.engine, data);
        store.limiter(|s| &mut s.limiter);
        // Fuel and the deadline start at zero in every store.
        let _ = store.set_fuel(self.limits.fuel);
        store.set_epoch_deadline(self.epoch_ticks);
        store
    }

    fn classify(store: &Store<Sandbox>, e: &wasmtime::Error) -> CallError {
        let error = |kind, message: &str| CallError {
            kind,
            message: message.to_owned(),
        };
        if store.data().limiter.hit {
            return error(ErrorKind::MemoryLimit, "memory limit exceeded");
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => {
                return error(ErrorKind::FuelExhausted, "fuel budget exhausted");
            }
            Some(Trap::Interrupt) => {
                return error(ErrorKind::Timeout, "wall-clock deadline exceeded");
            }
            _ => {}
        }
        // Any other trap: a panic's message is on the captured stderr.
        let mut message = error_chain(e);
        let mut captured = String::from_utf8_lossy(store.data().wasi.stderr())
            .trim()
            .replace('\n', " ");
        if !captured.is_empty() {
            truncate_on_char_boundary(&mut captured, 400);
            message = format!("{message} (plugin stderr: {captured})");
        }
        let kind = ErrorKind::Trap;
        CallError { kind, message }
    }

    fn read_metadata(&self) -> Result<PluginMetadata, String> {
        let mut store = self.new_store(Now::epoch());
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| format!("cannot instantiate: {}", Self::classify(&store, &e).message))?;
        let meta = instance
            .call_metadata(&mut store)
            .map_err(|e| format!("`metadata` failed: {}", Self::classify(&store, &e).message))?;
        convert_metadata(meta)
    }

    /// Asks the plugin whether `settings` are acceptable.
    pub(crate) fn validate_settings(&self, settings: &str) -> Result<(), String> {
        let mut store = self.new_store(Now::epoch());
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| format!("cannot instantiate: {}", Self::classify(&store, &e).message))?;
        match instance.call_validate_settings(&mut store, settings) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(msg)) => Err(msg),
            Err(e) => Err(format!(
                "`validate-settings` failed: {}",
                Self::classify(&store, &e).message
            )),
        }
    }

    /// Evaluates one input in a fresh instance, with `settings`; an input
    /// answered before gets the same answer from the [`Memo`].
    pub(crate) fn evaluate(&self, input: &mut CallInput, settings: &str) -> Call {
        input.wit.settings.clear();
        input.wit.settings.push_str(settings);
        let key = input.memo_key();
        if let Some(call) = key.as_deref().and_then(|k| self.memo.get(k)) {
            return call;
        }
        let mut store = self.new_store(input.now);
        let result = self.evaluate_in(&mut store, &input.wit);
        let fuel = self
            .limits
            .fuel
            .saturating_sub(store.get_fuel().unwrap_or(0));
        let logs = std::mem::take(&mut store.data_mut().logs);
        let call = Call { result, fuel, logs };
        if let Some(key) = key
            && call.result.is_ok()
            && answer_size(&call) <= MEMO_MAX_ANSWER
        {
            self.memo.put(key, &call);
        }
        call
    }

    fn evaluate_in(
        &self,
        store: &mut Store<Sandbox>,
        input: &wit::Input,
    ) -> Result<PluginOutput, CallError> {
        let instance = self.pre.instantiate(&mut *store).map_err(|e| {
            let mut err = Self::classify(store, &e);
            if err.kind == ErrorKind::Trap {
                err.kind = ErrorKind::Host;
                err.message = format!("cannot instantiate the plugin: {}", err.message);
            }
            err
        })?;
        let result = instance
            .call_evaluate(&mut *store, input)
            .map_err(|e| Self::classify(store, &e))?;
        let log_calls = store.data().log_calls;
        if log_calls > MAX_LOG_LINES {
            return Err(CallError {
                kind: ErrorKind::OutputLimit,
                message: format!(
                    "the plugin logged {log_calls} lines in one call; the host takes at most {MAX_LOG_LINES}"
                ),
            });
        }
        let evaluation = result.map_err(|mut msg| {
            truncate_on_char_boundary(&mut msg, MAX_ERROR_BYTES);
            CallError {
                kind: ErrorKind::PluginFailed,
                message: msg,
            }
        })?;
        check_output_size(&evaluation)?;
        Ok(self.check_output(evaluation))
    }

    fn check_output(&self, ev: wit::Evaluation) -> PluginOutput {
        let mut violations = Vec::new();
        let mut findings = Vec::with_capacity(ev.findings.len());
        for f in ev.findings {
            if !self.metadata.rules.contains_key(&f.rule_id) {
                let mut id = f.rule_id;
                truncate_on_char_boundary(&mut id, MAX_RULE_ID_BYTES);
                violations.push(format!(
                    "finding with rule id `{}` which the plugin's metadata does not declare",
                    id.escape_debug()
                ));
                continue;
            }
            if let Some(problem) = finding_field_problem(&f) {
                violations.push(format!("finding of rule `{}` {problem}", f.rule_id));
                continue;
            }
            if f.message.trim().is_empty() {
                violations.push(format!(
                    "finding of rule `{}` has an empty message",
                    f.rule_id
                ));
                continue;
            }
            findings.push(RawFinding {
                rule_id: f.rule_id,
                message: f.message,
                resource: f.resource,
                pointer: f.pointer,
                severity: f.severity.map(severity_from_wit),
            });
        }
        let mut facts = serde_json::Map::new();
        for fact in ev.facts {
            if !is_fact_name(&fact.name) {
                let mut name = fact.name;
                truncate_on_char_boundary(&mut name, MAX_NAME_BYTES);
                violations.push(format!(
                    "fact name `{}` is not an identifier ([A-Za-z_][A-Za-z0-9_]*)",
                    name.escape_debug()
                ));
                continue;
            }
            let value = match fact.value {
                wit::FactValue::Boolean(b) => serde_json::Value::Bool(b),
                wit::FactValue::Integer(i) => serde_json::Value::from(i),
                wit::FactValue::Text(s) => serde_json::Value::String(s),
                wit::FactValue::Texts(v) => {
                    serde_json::Value::Array(v.into_iter().map(serde_json::Value::String).collect())
                }
            };
            if facts.insert(fact.name.clone(), value).is_some() {
                violations.push(format!("fact `{}` reported twice", fact.name));
            }
        }
        // Each violation is an error in the decision: a thousand bad
        // findings make a few errors, not a thousand.
        if violations.len() > MAX_VIOLATIONS {
            let more = violations.len() - MAX_VIOLATIONS;
            violations.truncate(MAX_VIOLATIONS);
            violations.push(format!("and {more} more violations of the contract"));
        }
        PluginOutput {
            findings,
            facts,
            violations,
        }
    }
}

/// Refuses, before anything is copied out of it, an evaluation over the
/// host's per-call caps.
fn check_output_size(ev: &wit::Evaluation) -> Result<(), CallError> {
    let over = |message: String| CallError {
        kind: ErrorKind::OutputLimit,
        message,
    };
    if ev.findings.len() > MAX_FINDINGS {
        return Err(over(format!(
            "the plugin reported {} findings in one call; the host takes at most {MAX_FINDINGS}",
            ev.findings.len()
        )));
    }
    if ev.facts.len() > MAX_FACTS {
        return Err(over(format!(
            "the plugin reported {} facts in one call; the host takes at most {MAX_FACTS}",
            ev.facts.len()
        )));
    }
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    let findings: usize = ev
        .findings
        .iter()
        .map(|f| f.rule_id.len() + f.message.len() + opt(&f.resource) + opt(&f.pointer))
        .sum();
    let facts: usize = ev
        .facts
        .iter()
        .map(|f| {
            f.name.len()
                + match &f.value {
                    wit::FactValue::Text(t) => t.len(),
                    wit::FactValue::Texts(v) => v.iter().map(|t| t.len().max(1)).sum(),
                    wit::FactValue::Boolean(_) | wit::FactValue::Integer(_) => 8,
                }
        })
        .sum();
    let total = findings.saturating_add(facts);
    if total > MAX_OUTPUT_BYTES {
        return Err(over(format!(
            "the plugin's output is {total} bytes of text; the host takes at most {MAX_OUTPUT_BYTES} per call"
        )));
    }
    Ok(())
}

/// What is wrong with a finding's message, resource or pointer, if anything.
fn finding_field_problem(f: &wit::Finding) -> Option<String> {
    if f.message.len() > MAX_MESSAGE_BYTES {
        return Some(format!(
            "has a message of {} bytes (at most {MAX_MESSAGE_BYTES})",
            f.message.len()
        ));
    }
    if let Some(r) = &f.resource
        && let Err(e) = bounded_without_nul(r, MAX_RESOURCE_BYTES)
    {
        return Some(format!("has a resource that {e}"));
    }
    if let Some(p) = &f.pointer
        && let Err(e) = check_json_pointer(p)
    {
        return Some(format!("has a pointer that {e}"));
    }
    None
}

/// At most `max` bytes and no NUL. Other control characters are legal in
/// the names a template uses (people see them escaped); a NUL cuts strings
/// short in the tools that read SARIF and JUnit.
fn bounded_without_nul(s: &str, max: usize) -> Result<(), String> {
    if s.len() > max {
        return Err(format!("is {} bytes long (at most {max})", s.len()));
    }
    if s.contains('\0') {
        return Err("contains a NUL character".into());
    }
    Ok(())
}

/// Checks RFC 6901 syntax (empty, or `/`-separated tokens where `~` is only
/// `~0` or `~1`), a length cap and no NUL. Keys may hold other control
/// characters (JSON allows them), so pointers may too; whatever shows a
/// pointer to a person escapes them.
pub(crate) fn check_json_pointer(p: &str) -> Result<(), String> {
    bounded_without_nul(p, MAX_POINTER_BYTES)?;
    if !p.is_empty() && !p.starts_with('/') {
        return Err(format!(
            "is not a JSON pointer (RFC 6901): `{}` does not start with `/`",
            p.escape_debug()
        ));
    }
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "is not a JSON pointer (RFC 6901): in `{}`, `~` must be followed by `0` or `1`",
                p.escape_debug()
            ));
        }
    }
    Ok(())
}

fn is_fact_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn category_from_wit(c: wit::Category) -> Category {
    match c {
        wit::Category::Secrets => Category::Secrets,
        wit::Category::IamLeastPrivilege => Category::IamLeastPrivilege,
        wit::Category::Authentication => Category::Authentication,
        wit::Category::TransportEncryption => Category::TransportEncryption,
        wit::Category::EncryptionAtRest => Category::EncryptionAtRest,
        wit::Category::RateLimiting => Category::RateLimiting,
        wit::Category::Logging => Category::Logging,
        wit::Category::TracingMonitoring => Category::TracingMonitoring,
        wit::Category::RuntimePatching => Category::RuntimePatching,
        wit::Category::NetworkIsolation => Category::NetworkIsolation,
        wit::Category::Resilience => Category::Resilience,
        wit::Category::CodeIntegrity => Category::CodeIntegrity,
        wit::Category::Other => Category::Other,
    }
}

fn severity_from_wit(s: wit::Severity) -> Severity {
    match s {
        wit::Severity::Info => Severity::Info,
        wit::Severity::Low => Severity::Low,
        wit::Severity::Medium => Severity::Medium,
        wit::Severity::High => Severity::High,
        wit::Severity::Critical => Severity::Critical,
    }
}

/// Rule ids (of plugins and policies) are printed in headers, SARIF and
/// terminals: keep them plain.
pub(crate) fn is_rule_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_RULE_ID_BYTES
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '/'))
}

fn convert_metadata(meta: wit::Metadata) -> Result<PluginMetadata, String> {
    if meta.name.trim().is_empty() {
        return Err("the plugin's metadata has an empty name".into());
    }
    if meta.name.len() > MAX_NAME_BYTES || meta.version.len() > MAX_NAME_BYTES {
        return Err(format!(
            "the plugin's metadata has a name or version longer than {MAX_NAME_BYTES} bytes"
        ));
    }
    if meta.rules.len() > MAX_RULES {
        return Err(format!(
            "the plugin's metadata declares {} rules; at most {MAX_RULES} are allowed",
            meta.rules.len()
        ));
    }
    let mut rules = BTreeMap::new();
    for r in meta.rules {
        if !is_rule_id(&r.id) {
            let mut id = r.id;
            truncate_on_char_boundary(&mut id, MAX_RULE_ID_BYTES);
            return Err(format!(
                "the plugin's metadata declares rule id `{}`: rule ids are 1 to {MAX_RULE_ID_BYTES} \
                 characters of A-Z, a-z, 0-9 and `.-_:/`",
                id.escape_debug()
            ));
        }
        for (field, len, max) in [
            ("title", r.title.len(), MAX_TITLE_BYTES),
            ("remediation", r.remediation.len(), MAX_REMEDIATION_BYTES),
            (
                "control",
                r.control.as_ref().map_or(0, String::len),
                MAX_CONTROL_BYTES,
            ),
        ] {
            if len > max {
                return Err(format!(
                    "rule `{}` in the plugin's metadata has a {field} of {len} bytes; at most {max} are allowed",
                    r.id
                ));
            }
        }
        let info = RuleInfo {
            id: r.id.clone(),
            category: category_from_wit(r.category),
            severity: severity_from_wit(r.severity),
            title: r.title,
            remediation: r.remediation,
            control: r.control,
        };
        if rules.insert(r.id.clone(), info).is_some() {
            return Err(format!(
                "the plugin's metadata declares rule `{}` twice",
                r.id
            ));
        }
    }
    let mut applies_to: Vec<InputKind> = meta
        .applies_to
        .into_iter()
        .map(InputKind::from_wit)
        .collect();
    applies_to.sort();
    applies_to.dedup();
    Ok(PluginMetadata {
        name: meta.name,
        version: meta.version,
        applies_to,
        rules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest(host: &PluginHost, name: &str) -> LoadedPlugin {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../guests/dist")
            .join(name);
        let bytes = std::fs::read(&path).unwrap();
        host.load(&bytes, &crate::sha256_hex(&bytes), Limits::default())
            .unwrap()
    }

    fn input(document: &str, now: &str) -> CallInput {
        CallInput::new(
            InputKind::Request,
            PluginInput::new(document.to_owned()),
            Now::parse(now).unwrap(),
        )
    }

    #[test]
    fn a_call_seen_before_is_answered_from_the_memo_and_nothing_else_is() {
        let host = PluginHost::new(None, DEFAULT_CACHE_MAX_BYTES, 4, HashMap::new()).unwrap();
        let plugin = guest(&host, "secrets.wasm");
        let doc = r#"{"method":"GET","path":"/x","query":"key=AKIAIOSFODNN7EXAMPLE","headers":{}}"#;
        let first = plugin.evaluate(&mut input(doc, "2026-12-07T00:00:00Z"), "{}");
        let found = first.result.as_ref().unwrap();
        assert!(!found.findings.is_empty(), "{first:?}");
        assert_eq!(plugin.memo.len(), 1);
        let again = plugin.evaluate(&mut input(doc, "2026-12-07T00:00:00Z"), "{}");
        assert_eq!(again.result, first.result);
        assert_eq!(
            (again.fuel, again.logs.len()),
            (first.fuel, first.logs.len())
        );
        assert_eq!(plugin.memo.len(), 1, "the same input is one entry");
        // The answer comes from the memo, not from running the plugin: a
        // planted answer is what the next call with that input gets.
        let mut planted = input(doc, "2026-12-07T00:00:00Z");
        planted.wit.settings = "{}".into();
        let mut fake = first.clone();
        fake.fuel = 7;
        plugin.memo.put(planted.memo_key().unwrap(), &fake);
        let hit = plugin.evaluate(&mut input(doc, "2026-12-07T00:00:00Z"), "{}");
        assert_eq!(hit.fuel, 7);
        plugin.memo.put(planted.memo_key().unwrap(), &first);
        // Another second, other settings or another document: new calls.
        let _ = plugin.evaluate(&mut input(doc, "2026-12-07T00:00:01Z"), "{}");
        assert_eq!(plugin.memo.len(), 2);
        let _ = plugin.evaluate(&mut input(doc, "2026-12-07T00:00:00Z"), "{ }");
        assert_eq!(plugin.memo.len(), 3);
        let clean = r#"{"method":"GET","path":"/x","query":"","headers":{}}"#;
        let other = plugin.evaluate(&mut input(clean, "2026-12-07T00:00:00Z"), "{}");
        assert!(other.result.unwrap().findings.is_empty());
        assert_eq!(plugin.memo.len(), 4);
        // Too long to remember: answered, not kept.
        let long = format!(
            r#"{{"method":"GET","path":"/{}","headers":{{}}}}"#,
            "a".repeat(MEMO_MAX_INPUT)
        );
        assert!(
            plugin
                .evaluate(&mut input(&long, "2026-12-07T00:00:00Z"), "{}")
                .result
                .is_ok()
        );
        assert_eq!(plugin.memo.len(), 4);
    }

    #[test]
    fn failed_calls_are_not_remembered() {
        let host = PluginHost::new(None, DEFAULT_CACHE_MAX_BYTES, 4, HashMap::new()).unwrap();
        let plugin = guest(&host, "hostile-trap.wasm");
        let call = plugin.evaluate(&mut input("{}", "2026-12-07T00:00:00Z"), "{}");
        assert!(call.result.is_err(), "{call:?}");
        assert_eq!(plugin.memo.len(), 0);
    }

    #[test]
    fn large_answers_are_not_remembered() {
        let host = PluginHost::new(None, DEFAULT_CACHE_MAX_BYTES, 4, HashMap::new()).unwrap();
        let plugin = guest(&host, "hostile-flood.wasm");
        let at = "2026-12-07T00:00:00Z";
        let small = plugin.evaluate(&mut input("{}", at), r#"{"fact_bytes":1000}"#);
        assert!(small.result.is_ok(), "{small:?}");
        assert_eq!(plugin.memo.len(), 1);
        let big = format!(r#"{{"fact_bytes":{}}}"#, MEMO_MAX_ANSWER + 1);
        let large = plugin.evaluate(&mut input("{}", at), &big);
        assert!(large.result.is_ok(), "{large:?}");
        assert!(answer_size(&large) > MEMO_MAX_ANSWER);
        assert_eq!(plugin.memo.len(), 1, "a large answer is not kept");
    }

    #[test]
    fn memo_keys_keep_the_fields_apart() {
        let mut a = input("ab", "2026-12-07T00:00:00Z");
        a.wit.settings = "c".into();
        let mut b = input("a", "2026-12-07T00:00:00Z");
        b.wit.settings = "bc".into();
        assert_ne!(a.memo_key(), b.memo_key());
        let mut c = input("ab", "2026-12-07T00:00:00Z");
        c.wit.settings = "c".into();
        assert_eq!(a.memo_key(), c.memo_key());
        let mut d = CallInput::new(
            InputKind::Deployment,
            PluginInput::new("ab"),
            Now::parse("2026-12-07T00:00:00Z").unwrap(),
        );
        d.wit.settings = "c".into();
        assert_ne!(a.memo_key(), d.memo_key(), "the kind is part of the input");
        let with = |pointer: &str| {
            CallInput::new(
                InputKind::Deployment,
                PluginInput::new("{}").with_resources(vec![DeployedResource::new(
                    "AWS::Lambda::Function",
                    "Fn",
                    "{}",
                    pointer,
                )]),
                Now::epoch(),
            )
            .memo_key()
        };
        assert_ne!(with("/Resources/Fn"), with("/Resources/Other"));
        assert_eq!(with("/Resources/Fn"), with("/Resources/Fn"));
    }

    #[test]
    fn fact_names_are_identifiers() {
        assert!(is_fact_name("has_secrets"));
        assert!(is_fact_name("_x1"));
        assert!(!is_fact_name(""));
        assert!(!is_fact_name("1x"));
        assert!(!is_fact_name("a-b"));
    }

    #[test]
    fn pointers_are_checked() {
        // A key may hold a newline or an escape: JSON allows it, and people
        // see it escaped.
        for ok in [
            "",
            "/",
            "/Resources/Fn/Properties",
            "/a~0b/c~1d",
            "/0/x",
            "/a\nb\u{1b}",
        ] {
            assert!(check_json_pointer(ok).is_ok(), "{ok}");
        }
        let long = format!("/{}", "a".repeat(200_000));
        for bad in [
            "Resources/x",
            "/a~2",
            "/a~",
            "/a\0b",
            "not a pointer",
            long.as_str(),
        ] {
            assert!(check_json_pointer(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn finding_resources_are_bounded_and_without_nul() {
        let finding = |resource: &str| wit::Finding {
            rule_id: "r".into(),
            message: "m".into(),
            resource: Some(resource.into()),
            pointer: None,
            severity: None,
        };
        // Names a template may use, controls included, pass.
        assert_eq!(finding_field_problem(&finding("Fn\u{1b}[2J")), None);
        let long = "a".repeat(MAX_RESOURCE_BYTES + 1);
        for bad in ["Fn\0x", long.as_str()] {
            let why = finding_field_problem(&finding(bad)).unwrap_or_default();
            assert!(why.starts_with("has a resource that "), "{bad:.20?}: {why}");
        }
    }

    #[test]
    fn rule_ids_are_plain() {
        assert!(is_rule_id("secrets.aws-access-key-id"));
        assert!(!is_rule_id(""));
        assert!(!is_rule_id("a b"));
        assert!(!is_rule_id("a\nb"));
        assert!(!is_rule_id(&"a".repeat(MAX_RULE_ID_BYTES + 1)));
    }

    #[test]
    fn eviction_removes_the_oldest_files_first() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
            let path = dir.path().join(format!("{name}.cwasm"));
            std::fs::write(&path, [0u8; 100]).unwrap();
            let f = std::fs::File::options().write(true).open(&path).unwrap();
            f.set_modified(t0 + std::time::Duration::from_secs(i as u64))
                .unwrap();
        }
        // `a` is the oldest but is the file just written: kept.
        evict(dir.path(), 250, &dir.path().join("a.cwasm"));
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["a.cwasm", "d.cwasm"]);
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let mut s = "ééééé".to_string();
        truncate_on_char_boundary(&mut s, 3);
        assert_eq!(s, "é…");
    }
}
