//! Bundle archives: a bundle directory as one reproducible file.
//!
//! An archive is a gzip-compressed tar. Its first entry,
//! `.palisade-bundle.json`, lists every other file with its size and
//! sha256; then come the files, sorted by path. Every header is fixed
//! (mode 0644, uid and gid 0, mtime 0, no user or group names) and the gzip
//! header carries no name or time, so the same directory gives the same
//! bytes on any machine.
//!
//! Reading an archive trusts nothing in it: entries other than regular
//! files, paths that are absolute or climb out (`..`), duplicates, files
//! the manifest does not list (or lists with another sha256), and more
//! than the size limits are refused, before any file reaches the loader.
//!
//! The bundle digest ([`crate::Bundle::digest`]) is computed from the files
//! a bundle reads, whatever holds them, so a directory and the archive built
//! from it have the same digest; the archive's own sha256 names the file.

use crate::bundle::{MemorySource, sha256_hex, walk_bundle_dir};
use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

/// The manifest entry of an archive.
pub const MANIFEST_ENTRY: &str = ".palisade-bundle.json";
/// What the manifest says the archive is.
const FORMAT: &str = "palisade-bundle/1";
/// Largest archive file read.
pub const MAX_ARCHIVE_BYTES: u64 = 256 << 20;
/// Largest total of the files inside (a gzip bomb stops here).
const MAX_UNPACKED_BYTES: u64 = 512 << 20;
/// Most files in an archive.
const MAX_FILES: usize = 10_000;

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    format: String,
    files: Vec<FileEntry>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    path: String,
    size: u64,
    sha256: String,
}

/// Whether a bundle directory's file goes into its archive: everything but
/// hidden files and directories (`.git`, editor files).
fn archived(path: &str) -> bool {
    !path.split('/').any(|c| c.starts_with('.'))
}

/// The archive of the bundle directory `dir`: every file but hidden ones,
/// reproducibly.
///
/// # Errors
/// When the directory cannot be read, holds something that is not a
/// regular file (a FIFO, a device, a link out of it), or is too large.
pub fn build(dir: &Path) -> Result<Vec<u8>, String> {
    let entries = walk_bundle_dir(dir, ".")?;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut total = 0_u64;
    for e in entries.into_iter().filter(|e| archived(&e.path)) {
        if !e.is_file {
            return Err(format!(
                "`{}` is not a regular file (or leads out of the bundle): an archive holds files only",
                e.path.escape_debug()
            ));
        }
        total = total.saturating_add(e.len);
        if total > MAX_UNPACKED_BYTES || files.len() >= MAX_FILES {
            return Err(format!(
                "the bundle is larger than an archive may be ({} MiB, {MAX_FILES} files)",
                MAX_UNPACKED_BYTES >> 20
            ));
        }
        let bytes = std::fs::read(dir.join(&e.path))
            .map_err(|err| format!("cannot read `{}`: {err}", e.path.escape_debug()))?;
        files.push((e.path, bytes));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        files: files
            .iter()
            .map(|(path, bytes)| FileEntry {
                path: path.clone(),
                size: bytes.len() as u64,
                sha256: sha256_hex(bytes),
            })
            .collect(),
    };
    let manifest = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;

    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut append = |path: &str, bytes: &[u8]| -> Result<(), String> {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(bytes.len() as u64);
        tar.append_data(&mut header, path, bytes)
            .map_err(|e| format!("cannot archive `{}`: {e}", path.escape_debug()))
    };
    append(MANIFEST_ENTRY, &manifest)?;
    for (path, bytes) in &files {
        append(path, bytes)?;
    }
    let gz = tar.into_inner().map_err(|e| e.to_string())?;
    gz.finish().map_err(|e| e.to_string())
}

/// The files of an archive, checked against its manifest, as a bundle
/// source named `name`.
///
/// # Errors
/// What is wrong with the archive, for people.
pub fn read(name: &str, archive: &[u8]) -> Result<MemorySource, String> {
    if archive.len() as u64 > MAX_ARCHIVE_BYTES {
        return Err(format!(
            "the archive is larger than {} MiB",
            MAX_ARCHIVE_BYTES >> 20
        ));
    }
    if !archive.starts_with(&[0x1f, 0x8b]) {
        return Err(
            "not a bundle archive (not gzip-compressed; build one with `palisade bundle build`)"
                .into(),
        );
    }
    // Bounded: a gzip bomb stops at the limit, whatever its headers say.
    let gz = flate2::read::GzDecoder::new(archive).take(MAX_UNPACKED_BYTES + (1 << 20));
    let mut tar = tar::Archive::new(gz);
    let mut manifest: Option<Manifest> = None;
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let entries = tar
        .entries()
        .map_err(|e| format!("not a readable archive: {e}"))?;
    for (i, entry) in entries.enumerate() {
        let mut entry = entry.map_err(|e| format!("not a readable archive: {e}"))?;
        let kind = entry.header().entry_type();
        let path = entry
            .path()
            .map_err(|e| format!("an entry has an unreadable path: {e}"))?
            .to_string_lossy()
            .into_owned();
        if kind != tar::EntryType::Regular {
            return Err(format!(
                "entry `{}` is a {kind:?}, not a regular file: archives hold files only",
                path.escape_debug()
            ));
        }
        check_path(&path)?;
        if i > MAX_FILES {
            return Err(format!("the archive holds more than {MAX_FILES} files"));
        }
        let size = entry.header().size().map_err(|e| e.to_string())?;
        if size > MAX_UNPACKED_BYTES {
            return Err(format!("`{}` is too large", path.escape_debug()));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size.min(1 << 20)).unwrap_or(0));
        entry.read_to_end(&mut bytes).map_err(|e| {
            format!(
                "cannot read `{}` from the archive: {e}",
                path.escape_debug()
            )
        })?;
        if i == 0 {
            if path != MANIFEST_ENTRY {
                return Err(format!(
                    "the archive does not start with `{MANIFEST_ENTRY}`: not built by `palisade bundle build`"
                ));
            }
            let m: Manifest = serde_json::from_slice(&bytes)
                .map_err(|e| format!("`{MANIFEST_ENTRY}` is not a bundle manifest: {e}"))?;
            if m.format != FORMAT {
                return Err(format!(
                    "the archive is in format `{}`; this palisade reads `{FORMAT}`",
                    m.format.escape_debug()
                ));
            }
            manifest = Some(m);
            continue;
        }
        if path == MANIFEST_ENTRY || files.insert(path.clone(), bytes).is_some() {
            return Err(format!("`{}` is in the archive twice", path.escape_debug()));
        }
    }
    let manifest = manifest.ok_or("the archive is empty")?;
    if manifest.files.len() != files.len() {
        return Err(format!(
            "the archive holds {} files and its manifest lists {}",
            files.len(),
            manifest.files.len()
        ));
    }
    let mut source = MemorySource::new(name);
    for listed in manifest.files {
        let bytes = files.remove(&listed.path).ok_or_else(|| {
            format!(
                "the manifest lists `{}`, which the archive does not hold",
                listed.path.escape_debug()
            )
        })?;
        let actual = sha256_hex(&bytes);
        if bytes.len() as u64 != listed.size || actual != listed.sha256 {
            return Err(format!(
                "`{}` does not match the archive's manifest (sha256 {actual}, the manifest says {}): the archive was modified",
                listed.path.escape_debug(),
                listed.sha256.escape_debug()
            ));
        }
        source = source.file(listed.path, bytes);
    }
    Ok(source)
}

/// A path inside an archive: relative, `/`-separated, no `.` or `..`
/// component, nothing hidden but the manifest.
fn check_path(path: &str) -> Result<(), String> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.contains('\\')
        || path.contains('\0')
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        return Err(format!(
            "entry `{}` has a path that is absolute or leaves the bundle: refused",
            path.escape_debug()
        ));
    }
    Ok(())
}
