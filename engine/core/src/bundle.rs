//! Bundles: the unit of distribution. Loaded and validated completely, then
//! immutable.

use crate::error::{BundleError, Problem};
use crate::manifest::{Files, Limits, Manifest, Mode};
use crate::plugin::{CodeCache, LoadedPlugin, PluginHost, PluginMetadata, SharedRule};
use crate::policies::{self, PolicyFile, PolicyIndex, PolicyInfo};
use cedar_policy::{Entities, PolicySet, Schema, ValidationMode, Validator};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// The name of the manifest file in a bundle directory.
pub const MANIFEST_FILE: &str = "palisade.toml";

/// The most entities in a per-request store that is kept for later
/// requests (see [`Bundle::store_serves`]).
pub const KEPT_STORE_ENTITIES: usize = 64;

/// A front end's part of a bundle: the manifest table it owns (the
/// gateway's `[gateway]`), validated and built when the bundle loads, so
/// that a bundle whose table is wrong never loads and the files the table
/// names count in the bundle's digest. Register one with
/// [`EngineBuilder::extension`](crate::EngineBuilder::extension); read what
/// it built with [`Bundle::extension`].
pub trait Extension: Send + Sync + std::fmt::Debug + 'static {
    /// The manifest table it reads: one of [`EXTENSION_TABLES`].
    fn table(&self) -> &'static str;

    /// Validates and builds the table, present in the manifest.
    ///
    /// # Errors
    /// Every problem found, located with [`ExtensionContext::problem_at`]
    /// or [`ExtensionContext::problem_near`].
    fn load(
        &self,
        cx: &mut ExtensionContext<'_>,
    ) -> Result<Box<dyn std::any::Any + Send + Sync>, Vec<Problem>>;
}

/// The manifest tables that front ends own; the core keeps them as raw TOML.
pub const EXTENSION_TABLES: [&str; 1] = ["gateway"];

/// What an [`Extension`] sees of the bundle it loads.
pub struct ExtensionContext<'a> {
    manifest_text: &'a str,
    table: &'static str,
    read: &'a mut dyn FnMut(&str) -> Result<String, String>,
}

impl std::fmt::Debug for ExtensionContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtensionContext")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl ExtensionContext<'_> {
    /// The text of `palisade.toml`: parse the table from it to keep spans.
    pub fn manifest_text(&self) -> &str {
        self.manifest_text
    }

    /// A file of the bundle as text (it counts in the digest).
    ///
    /// # Errors
    /// Why it cannot be read: it leaves the bundle, is missing, or is not
    /// UTF-8 text.
    pub fn read(&mut self, path: &str) -> Result<String, String> {
        (self.read)(path)
    }

    /// A problem at a byte range of `palisade.toml` (from a TOML error).
    pub fn problem_at(
        &self,
        span: Option<std::ops::Range<usize>>,
        message: impl Into<String>,
    ) -> Problem {
        Problem::at(MANIFEST_FILE, self.manifest_text, span, message)
    }

    /// A problem on the first line of `palisade.toml` that holds `needle`
    /// (a route, a key), else on the table's header.
    pub fn problem_near(&self, needle: &str, message: impl Into<String>) -> Problem {
        let line = find_line(self.manifest_text, needle)
            .or_else(|| find_line(self.manifest_text, &format!("[{}", self.table)))
            .unwrap_or(1);
        Problem::at_line(MANIFEST_FILE, self.manifest_text, line, message)
    }
}

/// Where a bundle's files come from: a directory, or files embedded in a
/// binary (built-in bundles).
pub trait BundleSource {
    /// A name for messages (`policies/foo`, `builtin:foo`).
    fn describe(&self) -> String;
    /// Reads a file by its path relative to the bundle root (`/`-separated).
    ///
    /// # Errors
    /// A message for people when the file cannot be read.
    fn read(&self, path: &str) -> Result<Vec<u8>, String>;
    /// Lists the files directly or recursively under a directory, relative
    /// to the bundle root, sorted; `None` when `path` is not a directory.
    fn list_dir(&self, path: &str) -> Option<Vec<String>>;
    /// Checks that `path` stays inside the bundle (for a directory: no
    /// absolute path, no `..` that leaves it, no symlink that points out of
    /// it). The default accepts every path: a source that holds its files
    /// in memory (built-in bundles, `authorize --policies`) has nothing
    /// else to read.
    ///
    /// # Errors
    /// A message for people saying where the path leads.
    fn confined(&self, path: &str) -> Result<(), String> {
        let _ = path;
        Ok(())
    }
}

/// Largest file a bundle may hold.
const MAX_FILE_BYTES: u64 = 256 << 20;
/// Largest plugin file: its compiled code (data segments included) is
/// held in memory and in the code cache.
const MAX_PLUGIN_BYTES: usize = 64 << 20;
/// Deepest directory nesting a walk of a bundle follows.
const MAX_WALK_DEPTH: usize = 32;
/// Most entries a walk of a bundle lists.
const MAX_WALK_ENTRIES: usize = 100_000;

/// `oci://REGISTRY/REPO@sha256:<64 lowercase hex>`: a plugin source
/// pinned by digest.
fn is_pinned_oci(source: &str) -> bool {
    source
        .strip_prefix("oci://")
        .and_then(|r| r.rsplit_once("@sha256:"))
        .is_some_and(|(repo, hex)| {
            repo.contains('/')
                && !repo.contains("..")
                && hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// Checks a path written in a bundle: relative, and not leaving the bundle
/// through `..`.
fn check_relative(path: &str) -> Result<(), String> {
    let shown = path.escape_debug();
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    if path.contains('\0') {
        return Err(format!("`{shown}` contains a NUL byte"));
    }
    let p = Path::new(path);
    if p.is_absolute() || path.starts_with('/') || path.starts_with('\\') || p.has_root() {
        return Err(format!(
            "`{shown}` is an absolute path: paths in a bundle are relative to its directory and stay inside it"
        ));
    }
    let mut depth = 0usize;
    for c in p.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                if depth == 0 {
                    return Err(format!(
                        "`{shown}` leaves the bundle directory (`..`): a bundle reads nothing outside it"
                    ));
                }
                depth -= 1;
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("`{shown}` is an absolute path"));
            }
        }
    }
    Ok(())
}

/// Whether a bundle path is hidden (a component starts with `.`, as
/// `.git/` or an editor's `.policy.cedar.swp`): hidden files are not part of
/// a bundle, in a directory or in its archive.
pub fn is_hidden(path: &str) -> bool {
    path.split('/')
        .any(|c| c.starts_with('.') && c != "." && c != "..")
}

/// A bundle in a directory on disk.
#[derive(Debug, Clone)]
pub struct DirSource {
    root: PathBuf,
}

impl DirSource {
    /// A bundle rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> DirSource {
        DirSource { root: root.into() }
    }
}

/// One entry met by [`walk_bundle_dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkEntry {
    /// Path relative to the bundle root, `/`-separated, as the walk reached it.
    pub path: String,
    /// Size in bytes (of the target, for a symlink inside the bundle).
    pub len: u64,
    /// Last modification time, when the platform has one.
    pub modified: Option<std::time::SystemTime>,
    /// True for regular files; other entries (FIFOs, sockets, devices)
    /// are listed so that reading them can be refused by name.
    pub is_file: bool,
}

/// Walks directory `rel` of the bundle rooted at `root` (both as given):
/// files in sorted order, each directory once. Symlinks are followed only
/// while they stay inside the bundle, so symlink loops end and a
/// Kubernetes ConfigMap mount (`..data` links) works; FIFOs and devices
/// are listed, never opened.
///
/// # Errors
/// When `root` cannot be opened or `rel` leaves the bundle.
pub fn walk_bundle_dir(root: &Path, rel: &str) -> Result<Vec<WalkEntry>, String> {
    let root = root
        .canonicalize()
        .map_err(|e| format!("cannot open the bundle directory: {e}"))?;
    let rel = rel.trim_end_matches('/');
    let start = if rel.is_empty() || rel == "." {
        root.clone()
    } else {
        check_relative(rel)?;
        root.join(rel)
            .canonicalize()
            .map_err(|e| format!("cannot read `{}`: {e}", rel.escape_debug()))?
    };
    if !start.starts_with(&root) {
        return Err(outside(rel));
    }
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    seen.insert(start.clone());
    let rel = if rel == "." { "" } else { rel };
    walk(&root, &start, rel, 0, &mut seen, &mut out);
    Ok(out)
}

fn outside(path: &str) -> String {
    format!(
        "`{}` resolves outside the bundle directory (through a symlink): a bundle reads nothing outside it",
        path.escape_debug()
    )
}

fn walk(
    root: &Path,
    dir: &Path,
    rel: &str,
    depth: usize,
    seen: &mut std::collections::HashSet<PathBuf>,
    out: &mut Vec<WalkEntry>,
) {
    if depth > MAX_WALK_DEPTH {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).take(MAX_WALK_ENTRIES).collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        if out.len() >= MAX_WALK_ENTRIES {
            return;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let Ok(kind) = e.file_type() else {
            continue;
        };
        let path = e.path();
        // A symlink counts as what it points to, when that is inside.
        let (target, meta) = if kind.is_symlink() {
            match path.canonicalize() {
                Ok(t) if t.starts_with(root) => match std::fs::metadata(&t) {
                    Ok(m) => (t, m),
                    Err(_) => continue,
                },
                // Outside or dangling: listed, so that reading it is
                // refused by name.
                _ => {
                    out.push(WalkEntry {
                        path: child,
                        len: 0,
                        modified: None,
                        is_file: false,
                    });
                    continue;
                }
            }
        } else {
            match e.metadata() {
                Ok(m) => (path, m),
                Err(_) => continue,
            }
        };
        if meta.is_dir() {
            let canonical = target.canonicalize().unwrap_or(target);
            if seen.insert(canonical.clone()) {
                walk(root, &canonical, &child, depth + 1, seen, out);
            }
        } else {
            out.push(WalkEntry {
                path: child,
                len: meta.len(),
                modified: meta.modified().ok(),
                is_file: meta.is_file(),
            });
        }
    }
}

/// Why a path of a bundle directory cannot be used.
enum Unresolved {
    /// It leads outside the bundle.
    Outside(String),
    /// It does not exist or cannot be read.
    Unreadable(String),
}

impl From<Unresolved> for String {
    fn from(u: Unresolved) -> String {
        match u {
            Unresolved::Outside(m) | Unresolved::Unreadable(m) => m,
        }
    }
}

impl DirSource {
    /// The file `path` of the bundle, after checking that it stays inside.
    fn resolve(&self, path: &str) -> Result<PathBuf, Unresolved> {
        check_relative(path).map_err(Unresolved::Outside)?;
        let root = self.root.canonicalize().map_err(|e| {
            Unresolved::Unreadable(format!("cannot open the bundle directory: {e}"))
        })?;
        let full = root.join(path).canonicalize().map_err(|e| {
            Unresolved::Unreadable(format!("cannot read `{}`: {e}", path.escape_debug()))
        })?;
        if full.starts_with(&root) {
            Ok(full)
        } else {
            Err(Unresolved::Outside(outside(path)))
        }
    }
}

impl BundleSource for DirSource {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        use std::io::Read as _;
        if is_hidden(path) {
            return Err(format!(
                "`{}` is hidden: hidden files are not part of a bundle (its archive leaves them out, so the two would differ); rename it",
                path.escape_debug()
            ));
        }
        let full = self.resolve(path).map_err(String::from)?;
        let shown = path.escape_debug();
        let cannot = |e: std::io::Error| format!("cannot read `{shown}`: {e}");
        // Checked before opening: opening a FIFO would wait for a writer.
        let regular = |m: &std::fs::Metadata| {
            if m.is_file() {
                Ok(())
            } else {
                Err(format!(
                    "cannot read `{shown}`: not a regular file (a directory, FIFO, socket or device)"
                ))
            }
        };
        regular(&std::fs::metadata(&full).map_err(cannot)?)?;
        let file = std::fs::File::open(&full).map_err(cannot)?;
        regular(&file.metadata().map_err(cannot)?)?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(cannot)?;
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_FILE_BYTES {
            return Err(format!(
                "cannot read `{shown}`: larger than {} MiB",
                MAX_FILE_BYTES >> 20
            ));
        }
        Ok(bytes)
    }
    fn list_dir(&self, path: &str) -> Option<Vec<String>> {
        let dir = self.resolve(path).ok()?;
        if !dir.is_dir() {
            return None;
        }
        let entries = walk_bundle_dir(&self.root, path).ok()?;
        Some(
            entries
                .into_iter()
                .map(|e| e.path)
                .filter(|p| !is_hidden(p))
                .collect(),
        )
    }
    fn confined(&self, path: &str) -> Result<(), String> {
        match self.resolve(path) {
            Err(Unresolved::Outside(e)) => Err(e),
            // Missing files are reported when they are read.
            Ok(_) | Err(Unresolved::Unreadable(_)) => Ok(()),
        }
    }
}

/// A bundle held in memory: files embedded in a binary (built-in bundles),
/// fetched over the network, or made by a test.
///
/// # Examples
/// ```
/// use palisade_engine::{Engine, MemorySource};
/// let source = MemorySource::new("demo")
///     .file("palisade.toml", b"[bundle]\nname = \"demo\"\nversion = \"1\"\n[cedar]\npolicies = [\"p.cedar\"]\n".as_slice())
///     .file("p.cedar", b"permit(principal, action, resource);".to_vec());
/// let bundle = Engine::new()?.load_bundle_from(&source)?;
/// assert_eq!(bundle.source(), "demo");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct MemorySource {
    name: String,
    files: BTreeMap<String, std::borrow::Cow<'static, [u8]>>,
}

impl MemorySource {
    /// An empty bundle called `name` in messages (e.g. `builtin:NAME`).
    pub fn new(name: impl Into<String>) -> MemorySource {
        MemorySource {
            name: name.into(),
            files: BTreeMap::new(),
        }
    }

    /// Adds a file at `path` (relative to the bundle root, `/`-separated).
    pub fn file(
        mut self,
        path: impl Into<String>,
        bytes: impl Into<std::borrow::Cow<'static, [u8]>>,
    ) -> MemorySource {
        self.files.insert(path.into(), bytes.into());
        self
    }
}

impl BundleSource for MemorySource {
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        self.files
            .get(path)
            .map(|b| b.to_vec())
            .ok_or_else(|| format!("`{path}` is not part of {}", self.name))
    }
    fn list_dir(&self, path: &str) -> Option<Vec<String>> {
        let prefix = format!("{}/", path.trim_end_matches('/'));
        let v: Vec<String> = self
            .files
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        (!v.is_empty()).then_some(v)
    }
}

/// A plugin as configured in a bundle.
#[derive(Debug)]
pub struct BundlePlugin {
    /// The name the bundle gives it.
    pub name: String,
    /// Path of the `.wasm` in the bundle.
    pub path: String,
    /// Hex sha256 of the `.wasm`, verified at load.
    pub sha256: String,
    /// Effective mode (the plugin's, else the bundle's).
    pub mode: Mode,
    /// Settings as canonical JSON text, accepted by the plugin.
    pub settings: String,
    pub(crate) loaded: LoadedPlugin,
}

impl BundlePlugin {
    /// The limits of this plugin's calls: the bundle's `[limits]` with the
    /// plugin's own `limits = { .. }` in place.
    pub fn limits(&self) -> Limits {
        self.loaded.limits()
    }

    /// What the plugin said about itself at load.
    pub fn metadata(&self) -> &PluginMetadata {
        &self.loaded.metadata
    }

    /// Whether the compiled code came from the on-disk cache.
    pub fn code_cache(&self) -> CodeCache {
        self.loaded.cache
    }

    /// How long compiling the plugin takes (what a start without the
    /// compiled-code cache costs): measured at this load, or when the
    /// cached code was compiled; `None` for precompiled code, or a cache
    /// entry of unknown age.
    pub fn compile_time(&self) -> Option<std::time::Duration> {
        self.loaded.compile_time
    }
}

/// A loaded, validated, immutable bundle.
///
/// Load one with [`crate::Engine::load_bundle`]; share it behind an `Arc`
/// and swap it whole to update.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir()?;
/// # std::fs::write(dir.path().join("palisade.toml"), "[bundle]\nname = \"photos\"\nversion = \"2.1.0\"\n")?;
/// # std::fs::create_dir(dir.path().join("policies"))?;
/// # std::fs::write(dir.path().join("policies/a.cedar"), "@id(\"viewers\") @category(\"iam-least-privilege\")\npermit(principal, action, resource);")?;
/// let engine = palisade_engine::Engine::new()?;
/// let bundle = engine.load_bundle(dir.path())?;
/// assert_eq!((bundle.name(), bundle.version()), ("photos", "2.1.0"));
/// let ids: Vec<&str> = bundle.policies().map(|p| p.id.as_str()).collect();
/// assert_eq!(ids, ["viewers"]);
/// assert!(bundle.digest().starts_with("sha256:"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Bundle {
    pub(crate) manifest: Manifest,
    pub(crate) source: String,
    pub(crate) digest: String,
    pub(crate) policies: PolicySet,
    pub(crate) policy_info: BTreeMap<String, PolicyInfo>,
    pub(crate) index: PolicyIndex,
    pub(crate) schema: Option<Schema>,
    pub(crate) schema_file: Option<String>,
    pub(crate) entities: Entities,
    /// What the entities and policies name, for per-request stores.
    pub(crate) refs: crate::scope::EntityRefs,
    /// Per-request stores kept by the entities a request brings.
    pub(crate) stores: crate::scope::StoreCache,
    pub(crate) plugins: Vec<BundlePlugin>,
    /// What each registered extension built from its table.
    pub(crate) extensions: Vec<Box<dyn std::any::Any + Send + Sync>>,
    /// Each policy's remediation and control, shared by its findings.
    pub(crate) policy_text: BTreeMap<String, SharedRule>,
    /// `[bundle] controls`, when the bundle has one.
    pub(crate) controls: Option<crate::controls::Controls>,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("name", &self.manifest.bundle.name)
            .field("version", &self.manifest.bundle.version)
            .field("digest", &self.digest)
            .field("policies", &self.index.len())
            .field("plugins", &self.plugins)
            .finish_non_exhaustive()
    }
}

impl Bundle {
    /// The bundle's name.
    pub fn name(&self) -> &str {
        &self.manifest.bundle.name
    }
    /// The bundle's version.
    pub fn version(&self) -> &str {
        &self.manifest.bundle.version
    }
    /// One line saying what it is for, when the manifest gives one.
    pub fn description(&self) -> Option<&str> {
        self.manifest.bundle.description.as_deref()
    }
    /// `sha256:` over the manifest and every file the bundle uses.
    pub fn digest(&self) -> &str {
        &self.digest
    }
    /// Where it was loaded from.
    pub fn source(&self) -> &str {
        &self.source
    }
    /// True when the manifest has a `[gateway]` table.
    pub fn has_gateway(&self) -> bool {
        self.manifest.gateway.is_some()
    }

    /// What an [`Extension`] registered with the engine built from its
    /// table, when the manifest has the table.
    pub fn extension<T: std::any::Any>(&self) -> Option<&T> {
        self.extensions.iter().find_map(|e| e.downcast_ref::<T>())
    }

    /// A store of `own` entities (which replace any bundle entity of the
    /// same uid) and the bundle's entities that a request about `roots`
    /// can reach: what a front end decides a request with when it brings
    /// its own principal.
    ///
    /// # Errors
    /// Cedar's error when the entities do not make a valid store.
    pub fn entities_with(
        &self,
        own: Vec<cedar_policy::Entity>,
        roots: impl IntoIterator<Item = cedar_policy::EntityUid>,
    ) -> Result<Entities, Box<cedar_policy::entities_errors::EntitiesError>> {
        self.refs.store(&self.entities, own, roots, None)
    }

    /// Whether `store`, made by [`Bundle::entities_with`] for some entities
    /// (and roots), decides a request that also names `uids` exactly as a
    /// store made for that request would: each uid is in it already, or
    /// names no bundle entity. What lets a front end keep the store of a
    /// principal for its next requests; keep only stores of at most
    /// [`KEPT_STORE_ENTITIES`] (larger ones cost memory for every key kept).
    pub fn store_serves<'a>(
        &self,
        store: &Entities,
        uids: impl IntoIterator<Item = &'a cedar_policy::EntityUid>,
    ) -> bool {
        crate::scope::serves(&self.entities, store, uids)
    }

    /// The bundle's mode.
    pub fn mode(&self) -> Mode {
        self.manifest.bundle.mode
    }
    /// Sandbox limits of plugin calls.
    pub fn limits(&self) -> Limits {
        self.manifest.limits
    }
    /// What a policy that fails to evaluate does (`[cedar] on_policy_error`).
    pub fn on_policy_error(&self) -> crate::manifest::OnPolicyError {
        self.manifest.cedar.on_policy_error
    }
    /// The policies, in file and line order.
    pub fn policies(&self) -> impl Iterator<Item = &PolicyInfo> {
        let mut v: Vec<&PolicyInfo> = self.policy_info.values().collect();
        v.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        v.into_iter()
    }
    /// The schema file, when the bundle has one.
    pub fn schema_file(&self) -> Option<&str> {
        self.schema_file.as_deref()
    }
    /// The Cedar schema, when the bundle has one.
    pub fn schema(&self) -> Option<&Schema> {
        self.schema.as_ref()
    }
    /// Number of static entities (including schema actions).
    pub fn entity_count(&self) -> usize {
        self.entities.len()
    }
    /// The controls table (`[bundle] controls`), when the bundle has one.
    pub fn controls(&self) -> Option<&crate::controls::Controls> {
        self.controls.as_ref()
    }
    /// The plugins, in evaluation order.
    pub fn plugins(&self) -> &[BundlePlugin] {
        &self.plugins
    }
    /// The plugins that evaluate inputs of `kind`, in evaluation order.
    pub fn plugins_for(&self, kind: crate::InputKind) -> impl Iterator<Item = &BundlePlugin> {
        self.plugins
            .iter()
            .filter(move |p| p.metadata().applies_to.contains(&kind))
    }
    /// The bundle's Cedar policy set (all policies, ids as in findings).
    pub fn policy_set(&self) -> &PolicySet {
        &self.policies
    }
    /// The bundle's static entities.
    pub fn entities(&self) -> &Entities {
        &self.entities
    }
}

fn text(source: &dyn BundleSource, path: &str, problems: &mut Vec<Problem>) -> Option<String> {
    read_text(source, path)
        .map_err(|e| problems.push(Problem::file(path, e)))
        .ok()
}

/// A bundle file as UTF-8 text, or why not (outside the bundle, missing,
/// not text).
fn read_text(source: &dyn BundleSource, path: &str) -> Result<String, String> {
    let bytes = source.read(path)?;
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())
}

/// Hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One bundle being loaded: what every section reads, the problems found
/// so far and the files the digest covers. Each manifest section has its
/// own method; [`load`] runs them in order and assembles the bundle.
struct Loader<'a> {
    source: &'a dyn BundleSource,
    manifest: &'a Manifest,
    manifest_text: &'a str,
    problems: Vec<Problem>,
    /// Everything the digest covers: (path, bytes), manifest first.
    digest_parts: Vec<(String, Vec<u8>)>,
}

impl Loader<'_> {
    /// `[cedar] policies`: every `.cedar` file named (or in `policies/`).
    fn policies(&mut self) -> (Vec<PolicyFile>, PolicySet, BTreeMap<String, PolicyInfo>) {
        let policy_paths: Vec<String> = self.manifest.cedar.policies.clone().unwrap_or_else(|| {
            if self.source.list_dir("policies").is_some() {
                vec!["policies".into()]
            } else {
                Vec::new()
            }
        });
        let mut files = Vec::new();
        for p in &policy_paths {
            let p = p.trim_end_matches('/');
            let names: Vec<String> = match self.source.list_dir(p) {
                Some(list) => list.into_iter().filter(|f| f.ends_with(".cedar")).collect(),
                None => vec![p.to_owned()],
            };
            for name in names {
                if let Some(t) = text(self.source, &name, &mut self.problems) {
                    self.digest_parts
                        .push((name.clone(), t.clone().into_bytes()));
                    files.push(PolicyFile { name, text: t });
                }
            }
        }
        let (policies, policy_info) = policies::parse_policies(&files, &mut self.problems);
        (files, policies, policy_info)
    }

    /// `[cedar] schema`, Cedar or JSON syntax.
    fn schema(&mut self) -> Option<Schema> {
        let path = self.manifest.cedar.schema.as_ref()?;
        {
            let t = text(self.source, path, &mut self.problems)?;
            self.digest_parts
                .push((path.clone(), t.clone().into_bytes()));
            if path.ends_with(".json") {
                match Schema::from_json_str(&t) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        self.problems.push(json_or_cedar_problem(path, &t, &e));
                        None
                    }
                }
            } else {
                match Schema::from_cedarschema_str(&t) {
                    Ok((s, _warnings)) => Some(s),
                    Err(e) => {
                        self.problems
                            .push(policies::diagnostic_problem(path, &t, &e));
                        None
                    }
                }
            }
        }
    }

    /// Strict validation of every policy against the schema.
    fn validate(
        &mut self,
        schema: &Schema,
        policies: &PolicySet,
        policy_info: &BTreeMap<String, PolicyInfo>,
        files: &[PolicyFile],
    ) {
        let schema_file = self.manifest.cedar.schema.clone();
        {
            let result = Validator::new(schema.clone()).validate(policies, ValidationMode::Strict);
            for e in result.validation_errors() {
                let id = e.policy_id().to_string();
                match policy_info
                    .get(&id)
                    .and_then(|info| files.iter().find(|f| f.name == info.file))
                {
                    Some(file) => self
                        .problems
                        .push(policies::diagnostic_problem(&file.name, &file.text, e)),
                    None => self.problems.push(Problem::file(
                        schema_file.clone().unwrap_or_default(),
                        e.to_string(),
                    )),
                }
            }
        }
    }

    /// `[cedar] entities` (static), plus the schema's action entities.
    fn entities(&mut self, schema: Option<&Schema>) -> Entities {
        let schema_file = self.manifest.cedar.schema.clone();
        let mut entities = Entities::empty();
        let entity_files = self.manifest.cedar.entities.as_ref().map(Files::paths);
        for path in entity_files.into_iter().flatten() {
            let Some(t) = text(self.source, path, &mut self.problems) else {
                continue;
            };
            self.digest_parts
                .push((path.clone(), t.clone().into_bytes()));
            match serde_json::from_str::<serde_json::Value>(&t) {
                Err(e) => self.problems.push(Problem::at(
                    path,
                    &t,
                    json_error_offset(&t, &e),
                    format!("invalid JSON: {e}"),
                )),
                Ok(v) => {
                    let merged = match Entities::from_json_value(v, schema) {
                        Ok(more) => entities.clone().add_entities(more, schema),
                        Err(e) => Err(e),
                    };
                    match merged {
                        Ok(e) => entities = e,
                        Err(e) => self.problems.push(entity_problem(path, &t, &e)),
                    }
                }
            }
        }
        if let Some(schema) = schema {
            match schema.action_entities() {
                Ok(actions) => {
                    let missing: Vec<_> = actions
                        .iter()
                        .filter(|a| entities.get(&a.uid()).is_none())
                        .cloned()
                        .collect();
                    if !missing.is_empty() {
                        match entities.clone().add_entities(missing, Some(schema)) {
                            Ok(e) => entities = e,
                            Err(e) => self.problems.push(Problem::file(
                                schema_file.clone().unwrap_or_default(),
                                format!("cannot add the schema's actions to the entities: {e}"),
                            )),
                        }
                    }
                }
                Err(e) => self.problems.push(Problem::file(
                    schema_file.clone().unwrap_or_default(),
                    e.to_string(),
                )),
            }
        }
        entities
    }

    /// `[[plugin]]`: each file read, pinned by sha256, compiled, asked for
    /// its metadata and its settings checked; rule ids unique in the bundle.
    fn plugins(
        &mut self,
        host: &PluginHost,
        policy_info: &BTreeMap<String, PolicyInfo>,
    ) -> Vec<BundlePlugin> {
        let mut plugins = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut rule_owners: BTreeMap<String, String> = BTreeMap::new();
        for (i, p) in self.manifest.plugins.iter().enumerate() {
            let line = manifest_line(self.manifest_text, &p.path);
            let at_manifest =
                |msg: String| Problem::at_line(MANIFEST_FILE, self.manifest_text, line, msg);
            if !seen.insert(p.name.clone()) {
                self.problems.push(at_manifest(format!(
                    "plugin name `{}` is used twice",
                    p.name
                )));
                continue;
            }
            if !is_plugin_name(&p.name) {
                self.problems.push(at_manifest(format!(
                    "plugin name `{}` must be an identifier ([A-Za-z_][A-Za-z0-9_-]*)",
                    p.name
                )));
                continue;
            }
            if let Some(src) = &p.source
                && !is_pinned_oci(src)
            {
                self.problems.push(at_manifest(format!(
                    "plugin `{}`: source `{}` must be oci://REGISTRY/REPO@sha256:<64 hex digits> \
                     (a tag could change under the bundle)",
                    p.name,
                    src.escape_debug()
                )));
                continue;
            }
            let bytes = match self.source.read(&p.path) {
                Ok(b) => b,
                Err(e) => {
                    let problem =
                        at_manifest(format!("plugin `{}` (plugin #{}): {e}", p.name, i + 1));
                    self.problems.push(match &p.source {
                        Some(src) => problem.with_help(format!(
                            "it comes from {}: `palisade bundle build` fetches it into the archive, \
                             and `palisade plugin pull {} -o {}` into this directory",
                            src.escape_debug(),
                            src.escape_debug(),
                            p.path.escape_debug()
                        )),
                        None => problem,
                    });
                    continue;
                }
            };
            if bytes.len() > MAX_PLUGIN_BYTES {
                self.problems.push(at_manifest(format!(
                    "plugin `{}`: `{}` is {} MiB; plugins may be at most {} MiB (compiled code \
                     grows with the file, data segments included)",
                    p.name,
                    p.path,
                    bytes.len() >> 20,
                    MAX_PLUGIN_BYTES >> 20
                )));
                continue;
            }
            let actual = sha256_hex(&bytes);
            let expected = p.sha256.trim().to_ascii_lowercase();
            let expected = expected
                .strip_prefix("sha256:")
                .unwrap_or(&expected)
                .to_owned();
            if actual != expected {
                self.problems.push(
                    at_manifest(format!(
                        "plugin `{}`: sha256 mismatch for `{}`: the manifest pins {expected}, the file is {actual}",
                        p.name, p.path
                    ))
                    .with_help("rebuild the plugin from its source, or update the pin if this file is the one you mean to ship"),
                );
                continue;
            }
            self.digest_parts.push((p.path.clone(), bytes.clone()));
            let limits = self.manifest.limits.with(p.limits);
            if let Some((_, problem)) = limits.problem() {
                self.problems
                    .push(at_manifest(format!("plugin `{}`: {problem}", p.name)));
                continue;
            }
            let loaded = match host.load(&bytes, &actual, limits) {
                Ok(l) => l,
                Err(e) => {
                    self.problems
                        .push(Problem::file(&p.path, format!("plugin `{}`: {e}", p.name)));
                    continue;
                }
            };
            let settings = Manifest::settings_json(p.settings.as_ref()).to_string();
            if let Err(e) = loaded.validate_settings(&settings) {
                self.problems.push(at_manifest(format!(
                    "plugin `{}` rejects its settings: {e}",
                    p.name
                )));
                continue;
            }
            // Rule ids are unique across the bundle: findings, waivers and
            // reports are keyed by them, so a plugin must not speak for a
            // policy or another plugin.
            let mut clash = false;
            for id in loaded.metadata.rules.keys() {
                let owner = match policy_info.get(id) {
                    Some(info) => Some(format!(
                        "the id of the policy at {}:{}",
                        info.file, info.line
                    )),
                    None => rule_owners
                        .get(id)
                        .map(|other| format!("declared by plugin `{other}`")),
                };
                if let Some(owner) = owner {
                    clash = true;
                    self.problems.push(at_manifest(format!(
                        "plugin `{}` declares rule `{id}`, which is already {owner}: rule ids must be unique in a bundle",
                        p.name
                    )));
                }
            }
            if clash {
                continue;
            }
            for id in loaded.metadata.rules.keys() {
                rule_owners.insert(id.clone(), p.name.clone());
            }
            let mut loaded = loaded;
            host.commit_cache(&mut loaded);
            plugins.push(BundlePlugin {
                name: p.name.clone(),
                path: p.path.clone(),
                sha256: actual,
                mode: p.mode.unwrap_or(self.manifest.bundle.mode),
                settings,
                loaded,
            });
        }
        plugins
    }

    /// `[bundle] controls`: read, counted in the digest, and checked
    /// against the rules of the policies and plugins.
    fn controls(
        &mut self,
        policy_info: &BTreeMap<String, PolicyInfo>,
        plugins: &[BundlePlugin],
    ) -> Option<crate::controls::Controls> {
        let path = self.manifest.bundle.controls.as_deref()?;
        let text = text(self.source, path, &mut self.problems)?;
        self.digest_parts
            .push((path.to_owned(), text.clone().into_bytes()));
        let mut ids: std::collections::BTreeSet<&str> = policy_info
            .values()
            .filter(|p| p.effect == "forbid")
            .map(|p| p.id.as_str())
            .collect();
        ids.extend(
            plugins
                .iter()
                .flat_map(|p| p.loaded.metadata.rules.keys().map(String::as_str)),
        );
        match crate::controls::Controls::load(path, &text, &ids) {
            Ok(c) => Some(c),
            Err(found) => {
                self.problems.extend(found);
                None
            }
        }
    }

    /// Front ends' tables (`[gateway]`), each by the extension that owns it.
    fn extensions(
        &mut self,
        extensions: &[Arc<dyn Extension>],
    ) -> Vec<Box<dyn std::any::Any + Send + Sync>> {
        let mut built = Vec::new();
        for table in EXTENSION_TABLES {
            if !self.manifest.has_table(table) {
                continue;
            }
            // A table nobody checks would load unchecked, and its files
            // would not count in the digest: the same bundle would then
            // have two digests. Refused instead.
            let line = table_line(self.manifest_text, table);
            let owners: Vec<&Arc<dyn Extension>> =
                extensions.iter().filter(|e| e.table() == table).collect();
            let [ext] = owners.as_slice() else {
                let message = if owners.is_empty() {
                    format!(
                        "`[{table}]` needs the {table} extension, which this engine does not have"
                    )
                } else {
                    format!(
                        "{} extensions of this engine claim `[{table}]`; register one",
                        owners.len()
                    )
                };
                self.problems.push(
                    Problem::at_line(MANIFEST_FILE, self.manifest_text, line, message).with_help(
                        format!(
                            "load the bundle with palisade_{table}::engine() (the palisade CLI does), or register palisade_{table}::GatewayExtension once"
                        ),
                    ),
                );
                continue;
            };
            let mut read = |path: &str| {
                let t = read_text(self.source, path)?;
                self.digest_parts
                    .push((path.to_owned(), t.clone().into_bytes()));
                Ok(t)
            };
            let mut cx = ExtensionContext {
                manifest_text: self.manifest_text,
                table,
                read: &mut read,
            };
            match ext.load(&mut cx) {
                Ok(b) => built.push(b),
                Err(found) => self.problems.extend(found),
            }
        }
        built
    }

    /// `sha256:` over every file read, sorted by path.
    fn digest(&mut self) -> String {
        let mut hasher = Sha256::new();
        self.digest_parts.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, bytes) in &self.digest_parts {
            hasher.update((path.len() as u64).to_le_bytes());
            hasher.update(path.as_bytes());
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        }
        format!("sha256:{}", hex::encode(hasher.finalize()))
    }
}

pub(crate) fn load(
    source: &dyn BundleSource,
    host: &PluginHost,
    extensions: &[Arc<dyn Extension>],
) -> Result<Bundle, BundleError> {
    let mut problems = Vec::new();
    let fail = |problems: Vec<Problem>| BundleError {
        dir: source.describe(),
        problems,
    };
    if let Err(e) = source.confined(MANIFEST_FILE) {
        return Err(fail(vec![Problem::file(MANIFEST_FILE, e)]));
    }
    let manifest_text = match source.read(MANIFEST_FILE) {
        Ok(b) => String::from_utf8(b)
            .map_err(|_| fail(vec![Problem::file(MANIFEST_FILE, "not UTF-8 text")]))?,
        Err(_) => {
            return Err(fail(vec![
                Problem::file(
                    MANIFEST_FILE,
                    "not found: a bundle is a directory with a `palisade.toml` manifest",
                )
                .with_help("see README.md, \"Bundles\", for a minimal manifest"),
            ]));
        }
    };
    let manifest = Manifest::parse(&manifest_text).map_err(|(msg, span)| {
        fail(vec![Problem::at(
            MANIFEST_FILE,
            &manifest_text,
            span,
            msg.trim_end().to_owned(),
        )])
    })?;

    // Every path the manifest names stays inside the bundle.
    let mut named: Vec<&str> = Vec::new();
    named.extend(manifest.cedar.policies.iter().flatten().map(String::as_str));
    named.extend(manifest.cedar.schema.as_deref());
    named.extend(
        manifest
            .cedar
            .entities
            .as_ref()
            .map(Files::paths)
            .into_iter()
            .flatten()
            .map(String::as_str),
    );
    named.extend(manifest.plugins.iter().map(|p| p.path.as_str()));
    named.extend(manifest.bundle.controls.as_deref());
    for path in named {
        if let Err(e) = source.confined(path) {
            let line = manifest_line(&manifest_text, path);
            problems.push(Problem::at_line(MANIFEST_FILE, &manifest_text, line, e));
        }
    }
    if !problems.is_empty() {
        return Err(fail(problems));
    }

    let mut l = Loader {
        source,
        manifest: &manifest,
        manifest_text: &manifest_text,
        problems,
        digest_parts: vec![(MANIFEST_FILE.into(), manifest_text.clone().into_bytes())],
    };
    let (files, policies, policy_info) = l.policies();
    let schema = l.schema();
    if let Some(schema) = &schema {
        l.validate(schema, &policies, &policy_info, &files);
    }
    let entities = l.entities(schema.as_ref());
    let plugins = l.plugins(host, &policy_info);
    let built = l.extensions(extensions);
    let controls = l.controls(&policy_info, &plugins);
    if !l.problems.is_empty() {
        return Err(fail(l.problems));
    }
    let digest = l.digest();
    let schema_file = manifest.cedar.schema.clone();
    let index = PolicyIndex::new(&policies);
    let refs = crate::scope::EntityRefs::new(&entities, &policies);
    let policy_text = policy_info
        .iter()
        .map(|(id, info)| {
            let shared = SharedRule {
                remediation: info.remediation.as_deref().map(Arc::from),
                control: info.control.as_deref().map(Arc::from),
            };
            (id.clone(), shared)
        })
        .collect();
    Ok(Bundle {
        manifest,
        source: source.describe(),
        digest,
        policies,
        policy_info,
        index,
        schema,
        schema_file,
        entities,
        refs,
        stores: crate::scope::StoreCache::default(),
        plugins,
        extensions: built,
        policy_text,
        controls,
    })
}

/// The line of `palisade.toml` that names `path` (1 when none does).
fn manifest_line(text: &str, path: &str) -> usize {
    find_line(text, &format!("\"{path}\""))
        .or_else(|| find_line(text, &format!("'{path}'")))
        .or_else(|| find_line(text, path))
        .unwrap_or(1)
}

fn is_plugin_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(x) if x.is_ascii_alphabetic() || x == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == '-')
}

fn find_line(text: &str, needle: &str) -> Option<usize> {
    text.find(needle)
        .map(|off| crate::error::line_col(text, off).0)
}

/// The line where `palisade.toml` defines top-level table `table` (its
/// header, key or first dotted key), from the TOML parser's spans; 1 when
/// the text does not parse.
fn table_line(text: &str, table: &str) -> usize {
    let Ok(doc) = toml::de::DeTable::parse(text) else {
        return 1;
    };
    doc.get_ref()
        .iter()
        .find(|(k, _)| k.get_ref() == table)
        .map_or(1, |(k, _)| crate::error::line_col(text, k.span().start).0)
}

/// Byte offset of a serde_json error (it reports line and column).
pub(crate) fn json_error_offset(
    text: &str,
    e: &serde_json::Error,
) -> Option<std::ops::Range<usize>> {
    if e.line() == 0 {
        return None;
    }
    let start = crate::error::line_start(text, e.line());
    let off = (start + e.column().saturating_sub(1)).min(text.len());
    Some(off..off)
}

fn json_or_cedar_problem(path: &str, text: &str, e: &cedar_policy::SchemaError) -> Problem {
    if let Err(je) = serde_json::from_str::<serde_json::Value>(text) {
        return Problem::at(
            path,
            text,
            json_error_offset(text, &je),
            format!("invalid JSON: {je}"),
        );
    }
    let mut p = policies::diagnostic_problem(path, text, e);
    if p.line.is_none() {
        p.message = format!("invalid schema: {}", p.message);
    }
    p
}

/// Locates an entities error at the first quoted entity id it mentions.
fn entity_problem(
    path: &str,
    text: &str,
    e: &cedar_policy::entities_errors::EntitiesError,
) -> Problem {
    let message = crate::error::full_message(e);
    let mut line = None;
    // Messages quote uids as Type::"id"; find that id in the file.
    for part in message.split('"').skip(1).step_by(2) {
        if let Some(l) = find_line(text, &format!("\"{part}\"")) {
            line = Some(l);
            break;
        }
    }
    let mut p = match line {
        Some(l) => Problem::at_line(path, text, l, message),
        None => Problem::file(path, message),
    };
    if let Some(help) = miette::Diagnostic::help(e) {
        p = p.with_help(help.to_string());
    }
    p
}
