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

use crate::bundle::{MemorySource, is_hidden, sha256_hex, walk_bundle_dir};
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

/// The archive of the bundle directory `dir`: every file but hidden ones,
/// reproducibly.
///
/// # Errors
/// When the directory cannot be read, holds something that is not a
/// regular file (a FIFO, a device, a link out of it), or is too large.
pub fn build(dir: &Path) -> Result<Vec<u8>, String> {
    build_with(dir, Vec::new())
}

/// [`build`], with `extra` files (path, bytes) that are not in the
/// directory: plugins fetched from their `source`. A path both in the
/// directory and in `extra` is an error.
///
/// # Errors
/// As [`build`]; also a bad or duplicate extra path.
pub fn build_with(dir: &Path, extra: Vec<(String, Vec<u8>)>) -> Result<Vec<u8>, String> {
    let entries = walk_bundle_dir(dir, ".")?;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut total = 0_u64;
    for e in entries.into_iter().filter(|e| !is_hidden(&e.path)) {
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
    for (path, bytes) in extra {
        let path = path.strip_prefix("./").unwrap_or(&path).to_owned();
        let plain = path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains(['\\', '\0']));
        if !plain || is_hidden(&path) {
            return Err(format!(
                "`{}` cannot be a file of an archive",
                path.escape_debug()
            ));
        }
        if files.iter().any(|(p, _)| *p == path) {
            return Err(format!(
                "`{}` is both in the directory and fetched",
                path.escape_debug()
            ));
        }
        total = total.saturating_add(bytes.len() as u64);
        files.push((path, bytes));
    }
    if total > MAX_UNPACKED_BYTES || files.len() > MAX_FILES {
        return Err(format!(
            "the bundle is larger than an archive may be ({} MiB, {MAX_FILES} files)",
            MAX_UNPACKED_BYTES >> 20
        ));
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
    // One gzip member and nothing after it; bounded, so that a gzip bomb
    // stops at the limit whatever its headers say.
    let mut gz = flate2::bufread::GzDecoder::new(archive);
    let limit = MAX_UNPACKED_BYTES + (1 << 20);
    let (manifest, mut files) = {
        let mut tar = tar::Archive::new((&mut gz).take(limit));
        let entries = tar
            .entries()
            .map_err(|e| format!("not a readable archive: {e}"))?;
        // Raw: GNU long names are read here, bounded, not by the tar
        // library (which would read a long name of any size).
        read_entries(entries.raw(true))?
    };
    // What follows the tar's end is its zero padding, then the gzip
    // trailer (whose CRC is checked by reading to the end), then nothing.
    let mut rest = Vec::new();
    gz.by_ref()
        .take(1 << 20)
        .read_to_end(&mut rest)
        .map_err(|e| format!("the archive is damaged: {e}"))?;
    if rest.len() >= 1 << 20 || rest.iter().any(|b| *b != 0) {
        return Err("the archive holds data after its end: refused".into());
    }
    if !gz.into_inner().is_empty() {
        return Err("the archive has bytes after its compressed stream: refused".into());
    }
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
                shown(&listed.path)
            )
        })?;
        let actual = sha256_hex(&bytes);
        if bytes.len() as u64 != listed.size || actual != listed.sha256 {
            return Err(format!(
                "`{}` does not match the archive's manifest (sha256 {actual}, the manifest says {}): the archive was modified",
                shown(&listed.path),
                shown(&listed.sha256)
            ));
        }
        source = source.file(listed.path, bytes);
    }
    Ok(source)
}

/// Longest GNU long name read.
const MAX_NAME_BYTES: u64 = 4096;
/// Largest manifest read (10,000 files of long names).
const MAX_MANIFEST_BYTES: u64 = 8 << 20;

/// The manifest and the files of a tar's raw entries.
fn read_entries<R: std::io::Read>(
    entries: tar::Entries<'_, R>,
) -> Result<(Manifest, BTreeMap<String, Vec<u8>>), String> {
    let mut manifest: Option<Manifest> = None;
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut long_name: Option<String> = None;
    let mut total = 0_u64;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("not a readable archive: {e}"))?;
        let kind = entry.header().entry_type();
        let size = entry.header().size().map_err(|e| e.to_string())?;
        total = total.saturating_add(size);
        if total > MAX_UNPACKED_BYTES {
            return Err(format!(
                "the archive unpacks to more than {} MiB",
                MAX_UNPACKED_BYTES >> 20
            ));
        }
        if kind == tar::EntryType::GNULongName {
            if size > MAX_NAME_BYTES || long_name.is_some() {
                return Err("the archive has a long name that is too long, or two in a row".into());
            }
            let mut name = Vec::new();
            entry
                .read_to_end(&mut name)
                .map_err(|e| format!("not a readable archive: {e}"))?;
            let name =
                String::from_utf8(name).map_err(|_| "the archive has a name that is not UTF-8")?;
            long_name = Some(name.trim_end_matches('\0').to_owned());
            continue;
        }
        let path = match long_name.take() {
            Some(n) => n,
            None => String::from_utf8(entry.header().path_bytes().into_owned())
                .map_err(|_| "the archive has a name that is not UTF-8")?,
        };
        if kind != tar::EntryType::Regular {
            return Err(format!(
                "entry `{}` is a {kind:?}, not a regular file: archives hold files only",
                shown(&path)
            ));
        }
        check_path(&path)?;
        if files.len() >= MAX_FILES {
            return Err(format!("the archive holds more than {MAX_FILES} files"));
        }
        let is_manifest = manifest.is_none() && files.is_empty();
        if is_manifest && size > MAX_MANIFEST_BYTES {
            return Err(format!("`{MANIFEST_ENTRY}` is too large"));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size.min(1 << 20)).unwrap_or(0));
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read `{}` from the archive: {e}", shown(&path)))?;
        if bytes.len() as u64 != size {
            return Err(format!("`{}` is cut short in the archive", shown(&path)));
        }
        if is_manifest {
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
                    shown(&m.format)
                ));
            }
            if m.files.len() > MAX_FILES {
                return Err(format!("the manifest lists more than {MAX_FILES} files"));
            }
            manifest = Some(m);
            continue;
        }
        if path == MANIFEST_ENTRY || is_hidden(&path) {
            return Err(format!(
                "entry `{}` is hidden: hidden files are not part of a bundle",
                shown(&path)
            ));
        }
        if files.insert(path.clone(), bytes).is_some() {
            return Err(format!("`{}` is in the archive twice", shown(&path)));
        }
    }
    if long_name.is_some() {
        return Err("the archive ends with a long name and no file".into());
    }
    let manifest = manifest.ok_or("the archive is empty")?;
    Ok((manifest, files))
}

/// A path or value from an archive for a message: escaped, and cut.
fn shown(s: &str) -> String {
    crate::shorten(&s.escape_debug().to_string(), 200)
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
            shown(path)
        ));
    }
    Ok(())
}
