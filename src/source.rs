//! Where bundles come from on the command line, and the engine the CLI uses.

use palisade_engine::{Bundle, BundleError, DirSource, Engine, MemorySource};
use std::path::{Path, PathBuf};

/// The compiled-plugin cache: `$PALISADE_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/palisade`, else `~/.cache/palisade`. `PALISADE_CACHE_DIR=off`
/// disables it.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("PALISADE_CACHE_DIR") {
        return (d != "off").then(|| PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("palisade"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("palisade"))
}

/// The engine, with the on-disk compiled-code cache.
pub fn engine() -> Result<Engine, String> {
    // Every bundle's `[gateway]` table is built (and checked) at load.
    let mut b = crate::builtin::with_precompiled(
        palisade_gateway::engine_builder().max_concurrent_instances(8),
    );
    if let Some(dir) = cache_dir() {
        b = b.cache_dir(dir);
    }
    b.build().map_err(|e| e.to_string())
}

/// Loads a bundle directory or `builtin:NAME` (archives and `oci://` are
/// [`load_verified`]'s).
fn load_unsigned(engine: &Engine, spec: &str) -> Result<Bundle, LoadError> {
    if let Some(name) = spec.strip_prefix("builtin:") {
        let Some(src) = crate::builtin::source(name) else {
            return Err(LoadError::Usage(format!(
                "unknown built-in bundle `{}`; built-in bundles: {}",
                crate::output::escape(name),
                crate::builtin::NAMES
                    .iter()
                    .map(|n| format!("builtin:{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        return engine.load_bundle_from(&src).map_err(LoadError::Bundle);
    }
    let path = Path::new(spec);
    if !path.exists() {
        return Err(LoadError::Usage(format!(
            "bundle `{}` does not exist",
            crate::output::escape(spec)
        )));
    }
    if !path.is_file() && !path.is_dir() {
        return Err(LoadError::Usage(format!(
            "bundle `{}` is neither a directory nor a regular file (an archive)",
            crate::output::escape(spec)
        )));
    }
    engine
        .load_bundle_from(&DirSource::new(path))
        .map_err(LoadError::Bundle)
}

/// The bytes of a bundle archive: a regular file of bounded size (the size
/// is checked before reading, and again while reading).
pub fn read_archive(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let shown = crate::output::path(path);
    let limit = palisade_engine::archive::MAX_ARCHIVE_BYTES;
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    if meta.len() > limit {
        return Err(format!(
            "bundle archive {shown} is {} MiB; archives may be at most {} MiB",
            meta.len() >> 20,
            limit >> 20
        ));
    }
    let mut bytes = Vec::new();
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    // Again on what was opened: a FIFO swapped in would block the read.
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(format!("{shown} is not a regular file"));
    }
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "bundle archive {shown} grew past {} MiB while read",
            limit >> 20
        ));
    }
    Ok(bytes)
}

/// A bundle loaded from `--bundle`, and what vouches for it.
pub struct Loaded {
    pub bundle: Bundle,
    /// The signature that was verified, when keys were given.
    pub signed: Option<crate::signing::Verified>,
    /// For `oci://`: the release that was pulled.
    pub release: Option<Release>,
    /// An archive's sha256 (`sha256:...`), and the signature envelope
    /// beside it (FILE.sig, or the registry's), verified or not.
    pub archive: Option<(String, Option<String>)>,
}

/// Where an `oci://` bundle came from.
#[derive(Debug, Clone)]
pub struct Release {
    /// The manifest digest (what a gateway pins with `@sha256:...`).
    pub digest: String,
    /// `REGISTRY/REPO@sha256:...`.
    pub pinned: String,
}

/// Loads `--bundle` and, when `keys` are given, accepts it only as an
/// archive (a file, or pulled from a registry) whose signature (FILE.sig,
/// or the registry's `sha256-<digest>.sig` tag) is by one of them, whose
/// signed statement names this very archive, and whose bundle is the one
/// signed (digest, name, version).
pub fn load_verified(engine: &Engine, spec: &str, keys: &[PathBuf]) -> Result<Loaded, LoadError> {
    let shown = crate::output::escape(spec);
    let keys = if keys.is_empty() {
        Vec::new()
    } else {
        crate::signing::read_trusted_keys(keys).map_err(LoadError::Usage)?
    };
    if crate::oci::is_oci(spec) {
        let pulled = crate::oci::pull_bundle(spec, !keys.is_empty()).map_err(|e| {
            let m = format!("bundle `{shown}`: {e}");
            match e {
                crate::oci::Failure::Unreachable(_) => LoadError::Unreachable(m),
                crate::oci::Failure::Refused(_) => LoadError::Usage(m),
            }
        })?;
        let loaded = load_pulled(engine, spec, &pulled, &keys);
        if matches!(loaded, Err(LoadError::Usage(_) | LoadError::Bundle(_))) {
            crate::oci::forget(&pulled.digest);
        }
        return loaded;
    }
    let path = Path::new(spec);
    if spec.starts_with("builtin:") || !path.is_file() {
        if !keys.is_empty() {
            return Err(LoadError::Usage(format!(
                "bundle `{shown}` cannot be verified: only a signed archive can (`palisade bundle build`, then `bundle sign`)"
            )));
        }
        return load_unsigned(engine, spec).map(|bundle| Loaded {
            bundle,
            signed: None,
            release: None,
            archive: None,
        });
    }
    // An archive (`palisade bundle build`), read once: checked against its
    // manifest before the loader sees a file of it, and against its
    // signature (FILE.sig, required with keys).
    let bytes = read_archive(path).map_err(LoadError::Usage)?;
    let sig_path = crate::signing::signature_path(path);
    let envelope = match read_bounded(&sig_path, 64 << 10) {
        Ok(text) => Some(text),
        Err(_) if keys.is_empty() => None,
        Err(e) => {
            return Err(LoadError::Usage(format!(
                "bundle `{shown}` is not signed: {}",
                e.describe(&sig_path.display().to_string(), None)
            )));
        }
    };
    let (bundle, signed) = load_archive(engine, spec, &bytes, envelope.as_deref(), &keys)?;
    Ok(Loaded {
        bundle,
        signed,
        release: None,
        archive: Some((
            format!("sha256:{}", palisade_engine::sha256_hex(&bytes)),
            envelope,
        )),
    })
}

/// Loads a bundle pulled from a registry (`spec`, for messages); with
/// `keys`, only when the registry's signature is by one of them.
pub fn load_pulled(
    engine: &Engine,
    spec: &str,
    pulled: &crate::oci::Pulled,
    keys: &[crate::signing::PublicKey],
) -> Result<Loaded, LoadError> {
    let shown = crate::output::escape(spec);
    if let Some(why) = &pulled.from_cache {
        crate::output::warning(&format!(
            "{why}; using the cached {} for `{shown}`",
            pulled.pinned
        ));
    }
    let signature = match (&pulled.signature, keys.is_empty()) {
        (_, true) => None,
        (Some(s), false) => Some(s.as_str()),
        (None, false) => {
            return Err(LoadError::Usage(format!(
                "bundle `{shown}` is not signed: the registry has no `{}` for {}",
                crate::oci::signature_tag(&pulled.digest),
                pulled.pinned
            )));
        }
    };
    let (bundle, signed) = load_archive(engine, spec, &pulled.archive, signature, keys)?;
    // Only a release that loaded (and verified) is the one a tag falls
    // back to when the registry is down.
    if pulled.from_cache.is_none() {
        crate::oci::remember(spec, &pulled.digest, !keys.is_empty());
    }
    Ok(Loaded {
        bundle,
        signed,
        release: Some(Release {
            digest: pulled.digest.clone(),
            pinned: pulled.pinned.clone(),
        }),
        archive: Some((
            format!("sha256:{}", palisade_engine::sha256_hex(&pulled.archive)),
            pulled.signature.clone(),
        )),
    })
}

/// Loads an archive's bytes; with `keys`, only when `envelope` is a
/// signature by one of them over these bytes and this bundle.
fn load_archive(
    engine: &Engine,
    spec: &str,
    bytes: &[u8],
    envelope: Option<&str>,
    keys: &[crate::signing::PublicKey],
) -> Result<(Bundle, Option<crate::signing::Verified>), LoadError> {
    let shown = crate::output::escape(spec);
    let verified = match envelope {
        Some(envelope) if !keys.is_empty() => {
            let verified = crate::signing::verify(envelope, keys)
                .map_err(|e| LoadError::Usage(format!("bundle `{shown}`: {e}")))?;
            let actual = format!("sha256:{}", palisade_engine::sha256_hex(bytes));
            if verified.statement.archive_sha256 != actual {
                return Err(LoadError::Usage(format!(
                    "bundle `{shown}` is not the archive that was signed (it is {actual}; the signature is for {}): refused",
                    crate::output::escape(&verified.statement.archive_sha256)
                )));
            }
            Some(verified)
        }
        _ => None,
    };
    let source = palisade_engine::archive::read(spec, bytes)
        .map_err(|e| LoadError::Usage(format!("bundle archive `{shown}`: {e}")))?;
    let bundle = engine
        .load_bundle_from(&source)
        .map_err(LoadError::Bundle)?;
    if let Some(v) = &verified {
        let s = &v.statement;
        if (s.digest.as_str(), s.name.as_str(), s.version.as_str())
            != (bundle.digest(), bundle.name(), bundle.version())
        {
            return Err(LoadError::Usage(format!(
                "bundle `{shown}` is not the bundle that was signed: refused"
            )));
        }
    }
    Ok((bundle, verified))
}

/// Why a bundle could not be had.
pub enum LoadError {
    Usage(String),
    Bundle(BundleError),
    /// The registry could not be reached (and no cached copy served).
    Unreachable(String),
}

impl LoadError {
    /// Prints the error on standard error.
    pub fn print(&self) {
        match self {
            LoadError::Usage(m) | LoadError::Unreachable(m) => crate::output::error(m),
            LoadError::Bundle(b) => crate::output::bundle_error(b),
        }
    }
}

/// An ad-hoc bundle made of `--policies`, `--schema`, `--entities` files,
/// with a manifest that lists them.
pub fn ad_hoc_bundle(
    policies: &Path,
    schema: Option<&Path>,
    entities: Option<&Path>,
) -> Result<MemorySource, String> {
    let policy_files: Vec<PathBuf> = if policies.is_dir() {
        let mut list: Vec<PathBuf> = std::fs::read_dir(policies)
            .map_err(|e| format!("cannot read `{}`: {e}", crate::output::path(policies)))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "cedar"))
            .collect();
        list.sort();
        if list.is_empty() {
            return Err(format!(
                "`{}` holds no .cedar files",
                crate::output::path(policies)
            ));
        }
        list
    } else if policies.is_file() {
        vec![policies.to_owned()]
    } else {
        return Err(format!(
            "`{}` does not exist",
            crate::output::path(policies)
        ));
    };
    let quote = |p: &Path| serde_json::Value::String(p.display().to_string()).to_string();
    let mut manifest = String::from("[bundle]\nname = \"ad-hoc\"\nversion = \"0\"\n[cedar]\n");
    manifest.push_str(&format!(
        "policies = [{}]\n",
        policy_files
            .iter()
            .map(|p| quote(p))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    for (key, path) in [("schema", schema), ("entities", entities)] {
        if let Some(p) = path {
            manifest.push_str(&format!("{key} = {}\n", quote(p)));
        }
    }
    let mut source = MemorySource::new("command-line policies")
        .file(palisade_engine::MANIFEST_FILE, manifest.into_bytes());
    for p in policy_files
        .iter()
        .map(PathBuf::as_path)
        .chain(schema)
        .chain(entities)
    {
        let text = read_side_file(p)?;
        source = source.file(p.display().to_string(), text.into_bytes());
    }
    Ok(source)
}

/// `--now`, or the system clock; prints the error and gives the exit code.
pub fn now(arg: Option<&str>) -> Result<palisade_engine::Now, u8> {
    match arg {
        None => Ok(palisade_engine::Now::system()),
        Some(s) => palisade_engine::Now::parse(s).map_err(|e| {
            crate::output::error(&format!("--now: {e}"));
            crate::exit::ERROR
        }),
    }
}

/// The engine and the bundle `spec` names; prints any error and gives the
/// exit code.
/// [`engine_and_bundle`], accepting only a bundle signed by one of `keys`
/// when there are any ([`load_verified`]).
/// `--principal`, or the exit code after saying why it is not an entity.
pub fn principal(arg: &str) -> Result<palisade_engine::cedar_policy::EntityUid, u8> {
    use std::str::FromStr as _;
    palisade_engine::cedar_policy::EntityUid::from_str(arg).map_err(|e| {
        crate::output::error(&format!(
            "--principal `{}`: {}",
            crate::output::escape(arg),
            e.to_string().lines().next().unwrap_or("invalid")
        ));
        crate::exit::ERROR
    })
}

pub fn engine_and_verified_bundle(spec: &str, keys: &[PathBuf]) -> Result<(Engine, Bundle), u8> {
    let engine = engine().map_err(|e| {
        crate::output::error(&e);
        crate::exit::ERROR
    })?;
    let loaded = load_verified(&engine, spec, keys).map_err(|e| {
        e.print();
        crate::exit::ERROR
    })?;
    if let Some(r) = &loaded.release {
        // What CI records and a gateway pins: the release behind a tag.
        crate::output::note(&format!(
            "bundle `{}` is {} (bundle digest {})",
            crate::output::escape(spec),
            r.pinned,
            loaded.bundle.digest()
        ));
    }
    Ok((engine, loaded.bundle))
}

pub fn engine_and_bundle(spec: &str) -> Result<(Engine, Bundle), u8> {
    engine_and_verified_bundle(spec, &[])
}

// ---------------------------------------------------------------------------
// Reading input files: bounded, regular files only.

/// The largest waivers file, test-case file, or `authorize` input (request,
/// context, policies, schema, entities) the CLI reads: 16 MiB.
pub const MAX_SIDE_FILE_SIZE: u64 = 16 * MIB;

/// Directories deeper than this below a `check` argument are refused.
pub const MAX_DEPTH: usize = 64;

/// At most this many files are checked in one run.
pub const MAX_FILES: usize = 20_000;

const MIB: u64 = 1024 * 1024;

/// A size for people: `32 MiB` when it is a whole number of MiB, else bytes.
pub fn size(bytes: u64) -> String {
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// Why a file could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The operating system said no.
    Io(std::io::Error),
    /// A FIFO, socket, device or directory: reading it could block forever
    /// or never end.
    NotRegular(&'static str),
    /// Larger than the limit.
    TooLarge(u64),
    /// Not UTF-8 text.
    NotUtf8,
}

impl ReadError {
    /// The error for people, naming the file (`name` is escaped here) and,
    /// for a size, the limit and how to change it (`flag`, when there is one).
    pub fn describe(&self, name: &str, flag: Option<&str>) -> String {
        let name = crate::output::escape(name);
        match self {
            ReadError::Io(e) => format!("cannot read `{name}`: {e}"),
            ReadError::NotRegular(kind) => format!(
                "`{name}` is {kind}, not a regular file; give a file or a directory (or `-` and pipe it to standard input)"
            ),
            ReadError::TooLarge(limit) => format!(
                "`{name}` is larger than the maximum input file size of {}{}",
                size(*limit),
                flag.map(|f| format!(" (raise it with {f})"))
                    .unwrap_or_default()
            ),
            ReadError::NotUtf8 => format!("`{name}` is not UTF-8 text"),
        }
    }
}

/// What kind of special file `t` is, for error messages; `None` for a
/// regular file.
fn special_kind(t: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt as _;
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_block_device() || t.is_char_device() {
        Some("a device")
    } else {
        Some("a special file")
    }
}

/// Reads at most `limit` bytes of `reader`; more is [`ReadError::TooLarge`].
fn read_limited(reader: impl std::io::Read, limit: u64) -> Result<Vec<u8>, ReadError> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge(limit));
    }
    Ok(bytes)
}

/// Reads the text of `path` (`-`: standard input), refusing anything but a
/// regular file (a FIFO would block) and anything over `limit` bytes, which
/// is never read into memory: the size is checked before reading and the
/// read stops one byte past the limit.
pub fn read_bounded(path: &Path, limit: u64) -> Result<String, ReadError> {
    String::from_utf8(read_bounded_bytes(path, limit)?).map_err(|_| ReadError::NotUtf8)
}

/// [`read_bounded`], as bytes.
pub fn read_bounded_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    if path == Path::new("-") {
        return read_limited(std::io::stdin().lock(), limit);
    }
    // Before opening: opening a FIFO for reading blocks until a writer comes.
    let meta = std::fs::metadata(path).map_err(ReadError::Io)?;
    if let Some(kind) = special_kind(meta.file_type()) {
        return Err(ReadError::NotRegular(kind));
    }
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    // Again on what was opened, in case the path changed in between.
    let meta = file.metadata().map_err(ReadError::Io)?;
    if let Some(kind) = special_kind(meta.file_type()) {
        return Err(ReadError::NotRegular(kind));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge(limit));
    }
    read_limited(file, limit)
}

/// [`read_bounded`] with the error as a message.
pub fn read_side_file(path: &Path) -> Result<String, String> {
    read_bounded(path, MAX_SIDE_FILE_SIZE).map_err(|e| {
        let name = if path == Path::new("-") {
            "standard input".to_owned()
        } else {
            path.display().to_string()
        };
        e.describe(&name, None)
    })
}

// ---------------------------------------------------------------------------
// Finding the files `check` reads.

/// A file's identity: device and inode. Two paths to one file (hard links,
/// symbolic links, `a/../a`) have the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    fn of(meta: &std::fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt as _;
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    /// The identity of whatever standard input reads from, when it can be had.
    fn stdin() -> Option<FileId> {
        use std::os::fd::AsFd as _;
        let fd = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
        let meta = std::fs::File::from(fd).metadata().ok()?;
        Some(FileId::of(&meta))
    }
}

/// A file to check.
#[derive(Debug, Clone)]
pub struct Input {
    /// As given, or as found under a directory given; `-` is standard input.
    pub path: PathBuf,
    /// Named on the command line (as opposed to found in a directory).
    pub explicit: bool,
    /// The file's identity (none for standard input).
    pub id: Option<FileId>,
}

/// Extensions of the files looked at in directories.
const EXTENSIONS: &[&str] = &["yaml", "yml", "json", "template"];

/// The files to check: explicit files as given, directories walked (sorted)
/// for YAML/JSON files. A file reached twice (given twice, hard-linked,
/// through a symbolic link) is checked once. Walking does not follow
/// symbolic links to directories (so a link loop ends), skips hidden
/// entries, `node_modules`, `target`, and anything but regular files, and
/// stops at [`MAX_DEPTH`] and [`MAX_FILES`] with an error. A FIFO, socket
/// or device named on the command line is refused rather than read.
pub fn collect_inputs(paths: &[PathBuf]) -> Result<Vec<Input>, String> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut stdin = false;
    for p in paths {
        if p == Path::new("-") {
            if std::mem::replace(&mut stdin, true) {
                return Err("`-` (standard input) is given more than once".into());
            }
            out.push(Input {
                path: p.clone(),
                explicit: true,
                id: None,
            });
            continue;
        }
        let meta = std::fs::metadata(p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("`{}` does not exist", crate::output::path(p))
            } else {
                format!("cannot read `{}`: {e}", crate::output::path(p))
            }
        })?;
        if meta.is_dir() {
            let mut found = walk(p, &meta)?;
            found.sort();
            for (path, id) in found {
                if seen.insert(id) {
                    out.push(Input {
                        path,
                        explicit: false,
                        id: Some(id),
                    });
                }
            }
        } else if let Some(kind) = special_kind(meta.file_type()) {
            return Err(ReadError::NotRegular(kind).describe(&p.display().to_string(), None));
        } else {
            let id = FileId::of(&meta);
            if seen.insert(id) {
                out.push(Input {
                    path: p.clone(),
                    explicit: true,
                    id: Some(id),
                });
            }
        }
        if out.len() > MAX_FILES {
            return Err(too_many(p));
        }
    }
    Ok(out)
}

fn too_many(p: &Path) -> String {
    format!(
        "more than {MAX_FILES} files to check (at `{}`); check fewer at a time",
        crate::output::path(p)
    )
}

/// The deployment files under `root`, without recursion: an explicit stack
/// of directories with their depth, each directory entered once.
fn walk(root: &Path, root_meta: &std::fs::Metadata) -> Result<Vec<(PathBuf, FileId)>, String> {
    let mut found = Vec::new();
    let mut entered = std::collections::HashSet::from([FileId::of(root_meta)]);
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let rd = std::fs::read_dir(&dir)
            .map_err(|e| format!("cannot read directory `{}`: {e}", crate::output::path(&dir)))?;
        for entry in rd {
            let entry = entry.map_err(|e| {
                format!("cannot read directory `{}`: {e}", crate::output::path(&dir))
            })?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name == "node_modules" || name == "target" {
                continue;
            }
            let path = entry.path();
            // The entry itself: a symbolic link is not followed here.
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                let meta = entry.metadata().map_err(|e| {
                    format!(
                        "cannot read directory `{}`: {e}",
                        crate::output::path(&path)
                    )
                })?;
                if depth + 1 > MAX_DEPTH {
                    return Err(format!(
                        "`{}` is nested more than {MAX_DEPTH} directories deep below `{}`",
                        crate::output::path(&path),
                        crate::output::path(root)
                    ));
                }
                if entered.insert(FileId::of(&meta)) {
                    stack.push((path, depth + 1));
                }
                continue;
            }
            let wanted = path
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| EXTENSIONS.contains(&x));
            if !wanted {
                continue;
            }
            // A link to a file is followed (to a directory, not: no loops);
            // only regular files are kept, never a FIFO, socket or device.
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            found.push((path, FileId::of(&meta)));
            if found.len() > MAX_FILES {
                return Err(too_many(root));
            }
        }
    }
    Ok(found)
}

// ---------------------------------------------------------------------------
// Writing `--output`.

/// Refuses an `--output` that is one of the inputs (same file by device and
/// inode, or by canonical path), so a report never overwrites a template.
pub fn refuse_input_as_output(
    output: &Path,
    inputs: &[Input],
    others: &[&Path],
) -> Result<(), String> {
    let Ok(meta) = std::fs::metadata(output) else {
        // Not there (yet): it cannot be an input, which all exist.
        return Ok(());
    };
    if !meta.is_file() {
        // `/dev/null`, `/dev/stdout`, a FIFO: nothing to overwrite.
        return Ok(());
    }
    let out_id = FileId::of(&meta);
    let out_canonical = std::fs::canonicalize(output).ok();
    let clash = inputs.iter().any(|i| {
        let id = if i.path == Path::new("-") {
            FileId::stdin()
        } else {
            i.id
        };
        id == Some(out_id)
            || (i.path != Path::new("-")
                && out_canonical.is_some()
                && std::fs::canonicalize(&i.path).ok() == out_canonical)
    }) || others.iter().any(|p| {
        std::fs::metadata(p).is_ok_and(|m| FileId::of(&m) == out_id)
            || (out_canonical.is_some() && std::fs::canonicalize(p).ok() == out_canonical)
    });
    if clash {
        return Err(format!(
            "--output `{}` is one of the input files; it would be overwritten: write the report elsewhere",
            crate::output::path(output)
        ));
    }
    Ok(())
}

/// Refuses an `--output` inside the bundle being used (a directory
/// bundle's files, an archive, its signature) or that is a trusted key: a
/// report written there would break the bundle or the trust. A bundle that
/// is no local path (`builtin:`, `oci://`) has nothing to protect.
pub fn refuse_output_in_bundle(
    output: &Path,
    bundle: &str,
    keys: &[PathBuf],
) -> Result<(), String> {
    let out = match output.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => std::fs::canonicalize(dir)
            .ok()
            .and_then(|d| output.file_name().map(|n| d.join(n))),
        None => std::env::current_dir()
            .ok()
            .and_then(|d| std::fs::canonicalize(d).ok())
            .map(|d| d.join(output)),
    };
    let Some(out) = out else { return Ok(()) };
    // The output itself may be a link into the bundle.
    let out = std::fs::canonicalize(&out).unwrap_or(out);
    let refuse = || {
        Err(format!(
            "--output `{}` is part of the bundle or its keys; it would be overwritten: write the report elsewhere",
            crate::output::path(output)
        ))
    };
    if !bundle.starts_with("builtin:")
        && !crate::oci::is_oci(bundle)
        && let Ok(b) = std::fs::canonicalize(bundle)
        && (out.starts_with(&b) || out.as_os_str() == format!("{}.sig", b.display()).as_str())
    {
        return refuse();
    }
    for k in keys {
        if let Ok(k) = std::fs::canonicalize(k)
            && (out == k || (k.is_dir() && out.starts_with(&k)))
        {
            return refuse();
        }
    }
    Ok(())
}

/// Refuses a download target that exists and is not a file of the kind
/// being downloaded (its first bytes are not `magic`): a pull must not
/// write over a key, a template or a device. A missing file is fine.
pub fn check_download_target(path: &Path, magic: &[u8], what: &str) -> Result<(), String> {
    use std::io::Read as _;
    let shown = crate::output::path(path);
    let Ok(meta) = path.symlink_metadata() else {
        return Ok(());
    };
    if !meta.is_file() {
        return Err(format!(
            "{shown} exists and is not a regular file: choose another --output"
        ));
    }
    let mut head = vec![0; magic.len()];
    let same_kind = std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head == magic);
    if !same_kind {
        return Err(format!(
            "{shown} exists and is not {what}: choose another --output, or remove it first"
        ));
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: into a new file beside it, synced,
/// then renamed over it, so a crash never leaves half a report. A path that
/// is not a regular file (`/dev/stdout`, a FIFO) is written directly.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write as _;
    let fail = |e: std::io::Error| format!("cannot write `{}`: {e}", crate::output::path(path));
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return std::fs::write(path, bytes).map_err(fail);
    }
    let Some(file_name) = path.file_name() else {
        return Err(format!(
            "cannot write `{}`: not a file name",
            crate::output::path(path)
        ));
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // A name of our own beside the target (a leftover of a killed run is
    // never reused: the next name is tried).
    let mut attempt = 0u32;
    let (tmp, mut file) = loop {
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(file_name);
        tmp_name.push(format!(".{}.{attempt}.tmp", std::process::id()));
        let tmp = dir.join(tmp_name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                attempt += 1;
            }
            Err(e) => return Err(fail(e)),
        }
    };
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    Ok(())
}
