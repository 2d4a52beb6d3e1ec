//! Where bundles come from on the command line, and the engine the CLI uses.

use palisade_engine::{Bundle, BundleError, DirSource, Engine, MemorySource};
use std::path::{Path, PathBuf};

/// The compiled-plugin cache: `$PALISADE_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/palisade`, else `~/.cache/palisade`. `PALISADE_CACHE_DIR=off`
/// disables it.
fn cache_dir() -> Option<PathBuf> {
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
    let mut b = Engine::builder().max_concurrent_instances(8);
    if let Some(dir) = cache_dir() {
        b = b.cache_dir(dir);
    }
    b.build().map_err(|e| e.to_string())
}

/// Loads `--bundle` (a directory; `builtin:NAME` names a built-in bundle).
pub fn load_bundle(engine: &Engine, spec: &str) -> Result<Bundle, LoadError> {
    if let Some(name) = spec.strip_prefix("builtin:") {
        let Some(src) = crate::builtin::source(name) else {
            return Err(LoadError::Usage(format!(
                "unknown built-in bundle `{name}`; built-in bundles: {}",
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
        return Err(LoadError::Usage(format!("bundle `{spec}` does not exist")));
    }
    if path.is_file() {
        return Err(LoadError::Usage(format!(
            "bundle `{spec}` is a file; pass the directory that holds `palisade.toml`"
        )));
    }
    engine
        .load_bundle_from(&DirSource::new(path))
        .map_err(LoadError::Bundle)
}

/// Why a bundle could not be had.
pub enum LoadError {
    Usage(String),
    Bundle(BundleError),
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
            .map_err(|e| format!("cannot read `{}`: {e}", policies.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "cedar"))
            .collect();
        list.sort();
        if list.is_empty() {
            return Err(format!("`{}` holds no .cedar files", policies.display()));
        }
        list
    } else if policies.is_file() {
        vec![policies.to_owned()]
    } else {
        return Err(format!("`{}` does not exist", policies.display()));
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
        let bytes = std::fs::read(p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))?;
        source = source.file(p.display().to_string(), bytes);
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
pub fn engine_and_bundle(spec: &str) -> Result<(Engine, Bundle), u8> {
    let engine = engine().map_err(|e| {
        crate::output::error(&e);
        crate::exit::ERROR
    })?;
    let bundle = load_bundle(&engine, spec).map_err(|e| {
        match e {
            LoadError::Usage(m) => crate::output::error(&m),
            LoadError::Bundle(b) => crate::output::bundle_error(&b),
        }
        crate::exit::ERROR
    })?;
    Ok((engine, bundle))
}
