//! `palisade bundle inspect|validate`

use crate::cli::{BundleCommand, Format};
use crate::exit;
use crate::output::{self, escape};
use crate::source;
use palisade_engine::Bundle;
use serde_json::json;
use std::fmt::Write as _;

fn load(spec: &str) -> Result<Bundle, u8> {
    source::engine_and_bundle(spec).map(|(_, bundle)| bundle)
}

pub fn execute(cmd: &BundleCommand) -> u8 {
    match cmd {
        BundleCommand::Validate { dir } => match load(dir) {
            Ok(b) => output::print_or_error(
                &format!(
                    "ok: bundle `{}` {} is valid ({} policies, {} plugins, {})\n",
                    escape(b.name()),
                    escape(b.version()),
                    b.policies().count(),
                    b.plugins().len(),
                    b.digest()
                ),
                true,
                exit::OK,
            ),
            Err(code) => code,
        },
        BundleCommand::Build { dir, output } => build(dir, output),
        BundleCommand::Keygen { prefix } => keygen(prefix),
        BundleCommand::Sign {
            archive,
            key,
            revision,
        } => sign(archive, key, *revision),
        BundleCommand::Verify { archive, keys } => verify(archive, keys),
        BundleCommand::Push { archive, target } => push(archive, target),
        BundleCommand::Pull {
            source,
            output,
            keys,
        } => pull(source, output, keys),
        BundleCommand::Inspect { dir, format, keys } => inspect(dir, *format, keys),
    }
}

/// `bundle inspect`: the bundle, and for an archive its sha256 and
/// signature (verified with `--key`, else the signer it names, marked
/// unverified), and for `oci://` the release.
fn inspect(spec: &str, format: Format, keys: &[std::path::PathBuf]) -> u8 {
    let loaded = source::engine()
        .map_err(source::LoadError::Usage)
        .and_then(|engine| source::load_verified(&engine, spec, keys));
    let l = match loaded {
        Ok(l) => l,
        Err(e) => {
            e.print();
            return exit::ERROR;
        }
    };
    let signature = match (&l.signed, &l.archive) {
        (Some(v), _) => Some(json!({
            "keyid": v.keyid,
            "revision": v.statement.revision,
            "verified": true,
        })),
        (None, Some((_, Some(envelope)))) => Some(match crate::signing::claimed(envelope) {
            Ok((statement, keyids)) => json!({
                "keyids": keyids,
                "revision": statement.revision,
                "verified": false,
            }),
            Err(e) => json!({ "error": e, "verified": false }),
        }),
        _ => None,
    };
    let archive = l.archive.as_ref().map(|(sha, _)| sha.clone());
    let release = l.release.as_ref().map(|r| r.pinned.clone());
    match format {
        Format::Json => {
            let mut j = inspect_json(&l.bundle);
            if let Some(o) = j.as_object_mut() {
                if let Some(a) = &archive {
                    o.insert("archive_sha256".into(), json!(a));
                }
                if let Some(r) = &release {
                    o.insert("release".into(), json!(r));
                }
                if archive.is_some() {
                    o.insert("signature".into(), json!(signature));
                }
            }
            output::print_or_error(&format!("{j}\n"), false, exit::OK)
        }
        // Every name, title and setting in it is escaped.
        Format::Human => {
            let mut text = String::new();
            if let Some(a) = &archive {
                let _ = writeln!(text, "archive  {a}");
            }
            if let Some(r) = &release {
                let _ = writeln!(text, "release  {}", escape(r));
            }
            if archive.is_some() {
                let line = match &signature {
                    None => "none (unsigned)".to_owned(),
                    Some(s) if s["verified"] == true => format!(
                        "key {} (verified), revision {}",
                        s["keyid"].as_str().unwrap_or_default(),
                        s["revision"]
                    ),
                    Some(s) if s.get("error").is_some() => {
                        format!("unreadable: {}", s["error"].as_str().unwrap_or_default())
                    }
                    Some(s) => format!(
                        "key {}, revision {} (not verified: give --key PUB)",
                        s["keyids"]
                            .as_array()
                            .map(|ids| ids
                                .iter()
                                .filter_map(|i| i.as_str())
                                .collect::<Vec<_>>()
                                .join(", "))
                            .unwrap_or_default(),
                        s["revision"]
                    ),
                };
                let _ = writeln!(text, "signer   {}", escape(&line));
            }
            text.push_str(&inspect_human(&l.bundle));
            output::print_or_error(&text, true, exit::OK)
        }
    }
}

fn inspect_json(b: &Bundle) -> serde_json::Value {
    json!({
        "name": b.name(),
        "version": b.version(),
        "description": b.description(),
        "digest": b.digest(),
        "mode": b.mode().as_str(),
        "limits": b.limits(),
        "schema": b.schema_file(),
        "entities": b.entity_count(),
        "policies": b.policies().collect::<Vec<_>>(),
        "plugins": b.plugins().iter().map(|p| json!({
            "name": p.name,
            "path": p.path,
            "sha256": p.sha256,
            "mode": p.mode.as_str(),
            "code_cache": p.code_cache(),
            "compile_ms": p.compile_time().map(|t| t.as_millis() as u64),
            "limits": p.limits(),
            "settings": serde_json::from_str::<serde_json::Value>(&p.settings).unwrap_or_default(),
            "metadata": p.metadata(),
        })).collect::<Vec<_>>(),
    })
}

fn inspect_human(b: &Bundle) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "bundle   {} {}", escape(b.name()), escape(b.version()));
    if let Some(d) = b.description() {
        let _ = writeln!(s, "         {}", escape(d));
    }
    let _ = writeln!(s, "digest   {}", escape(b.digest()));
    let _ = writeln!(s, "mode     {}", b.mode().as_str());
    let l = b.limits();
    let _ = writeln!(
        s,
        "limits   fuel {} · memory {} MiB · timeout {} ms",
        l.fuel, l.memory_mib, l.timeout_ms
    );
    let _ = writeln!(
        s,
        "schema   {}",
        escape(
            b.schema_file()
                .unwrap_or("(none: policies are not validated)")
        )
    );
    let _ = writeln!(s, "entities {}", b.entity_count());
    let _ = writeln!(s, "\npolicies ({})", b.policies().count());
    for p in b.policies() {
        let _ = writeln!(
            s,
            "  {:<7} {:<32} {:<8} {:<22} {}:{}",
            p.effect,
            escape(&p.id),
            p.severity,
            p.category,
            escape(&p.file),
            p.line
        );
    }
    let _ = writeln!(s, "\nplugins ({})", b.plugins().len());
    for p in b.plugins() {
        let m = p.metadata();
        let kinds: Vec<String> = m
            .applies_to
            .iter()
            .map(|k| {
                serde_json::to_value(k)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            })
            .collect();
        let _ = writeln!(
            s,
            "  {} ({} {}), {}",
            escape(&p.name),
            escape(&m.name),
            escape(&m.version),
            p.mode.as_str()
        );
        let _ = writeln!(s, "    file      {}", escape(&p.path));
        let _ = writeln!(s, "    sha256    {}", escape(&p.sha256));
        // What a start without the compiled-code cache (a fresh CI
        // container) costs for this plugin.
        let cold = p
            .compile_time()
            .map(|t| {
                format!(
                    "; a start without the cache compiles it: {} ms",
                    t.as_millis()
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "    code      {}{}",
            match p.code_cache() {
                palisade_engine::CodeCache::Precompiled =>
                    "shipped precompiled in palisade: no compilation",
                palisade_engine::CodeCache::Hit => "from the compiled-code cache",
                palisade_engine::CodeCache::Miss => "compiled now, cached for the next start",
                palisade_engine::CodeCache::Disabled => "compiled now (no cache)",
            },
            cold
        );
        let l = p.limits();
        if l != b.limits() {
            let _ = writeln!(
                s,
                "    limits    fuel {} · memory {} MiB · timeout {} ms",
                l.fuel, l.memory_mib, l.timeout_ms
            );
        }
        let _ = writeln!(s, "    applies   {}", escape(&kinds.join(", ")));
        let _ = writeln!(s, "    settings  {}", escape(&p.settings));
        let _ = writeln!(s, "    rules");
        for r in m.rules.values() {
            let _ = writeln!(
                s,
                "      {:<36} {:<8} {:<20} {}",
                escape(&r.id),
                r.severity,
                r.category,
                escape(&r.title)
            );
        }
    }
    s
}

/// `bundle build DIR -o FILE`: the archive, checked by loading it as a
/// gateway would, then written atomically.
fn build(dir: &std::path::Path, output: &std::path::Path) -> u8 {
    // Inside the bundle, the archive would archive itself next time (or
    // overwrite a file of the bundle).
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if let (Ok(d), Ok(p)) = (dir.canonicalize(), parent.canonicalize())
        && p.starts_with(&d)
    {
        return fail(&format!(
            "{} is inside the bundle {}: write the archive elsewhere",
            output::path(output),
            output::path(dir)
        ));
    }
    let built = fetch_sources(dir)
        .and_then(|extra| {
            palisade_engine::archive::build_with(dir, extra)
                .map_err(|e| format!("cannot build {}: {e}", output::path(dir)))
        })
        .and_then(|bytes| {
            let engine = source::engine()?;
            // Named after the directory: a problem is in its files.
            let archive = palisade_engine::archive::read(&dir.display().to_string(), &bytes)
                .map_err(|e| format!("the archive does not read back: {e}"))?;
            Ok((engine, archive, bytes))
        });
    let (engine, archive, bytes) = match built {
        Ok(b) => b,
        Err(e) => {
            output::error(&e);
            return exit::ERROR;
        }
    };
    // A bundle that would not load is not shipped.
    let bundle = match engine.load_bundle_from(&archive) {
        Ok(b) => b,
        Err(e) => {
            output::bundle_error(&e);
            return exit::ERROR;
        }
    };
    if let Err(e) = source::write_atomically(output, &bytes) {
        output::error(&e);
        return exit::ERROR;
    }
    output::print_or_error(
        &format!(
            "wrote {} ({} bytes)\n  archive sha256:{}\n  bundle  {} {}, digest {}\n",
            output::path(output),
            bytes.len(),
            palisade_engine::sha256_hex(&bytes),
            escape(bundle.name()),
            escape(bundle.version()),
            bundle.digest()
        ),
        true,
        exit::OK,
    )
}

/// The plugins of `dir`'s manifest that name a `source` and are not in
/// the directory, fetched from their registry and checked against their
/// `sha256` pin: (path, bytes) for the archive. A manifest that does not
/// parse fetches nothing (the load that follows says what is wrong).
fn fetch_sources(dir: &std::path::Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    #[derive(serde::Deserialize)]
    struct Manifest {
        #[serde(default)]
        plugin: Vec<Plugin>,
    }
    #[derive(serde::Deserialize)]
    struct Plugin {
        name: String,
        path: String,
        sha256: String,
        source: Option<String>,
    }
    let manifest_path = dir.join("palisade.toml");
    let Ok(text) = source::read_bounded(&manifest_path, 1 << 20) else {
        return Ok(Vec::new());
    };
    let Ok(manifest) = toml::from_str::<Manifest>(&text) else {
        return Ok(Vec::new());
    };
    let mut fetched = Vec::new();
    for p in manifest.plugin {
        let Some(src) = p.source else { continue };
        // Only a digest-pinned source into a plain relative path is
        // fetched; anything else is the loader's to refuse (with its line),
        // before any download.
        let plain_path = p.path.split('/').all(|c| {
            !c.is_empty() && c != "." && c != ".." && !c.starts_with('.') && !c.contains('\\')
        });
        let pinned = crate::oci::parse(&src).is_ok_and(|r| r.digest().is_some());
        if !plain_path || !pinned || dir.join(&p.path).symlink_metadata().is_ok() {
            continue;
        }
        let (wasm, _) = crate::oci::pull_plugin(&src).map_err(|e| {
            format!(
                "plugin `{}`: cannot fetch {}: {e}",
                escape(&p.name),
                escape(&src)
            )
        })?;
        let actual = palisade_engine::sha256_hex(&wasm);
        let pinned = p.sha256.trim().to_ascii_lowercase();
        if actual != pinned.strip_prefix("sha256:").unwrap_or(&pinned) {
            return Err(format!(
                "plugin `{}`: {} is sha256 {actual}, but palisade.toml pins {}",
                escape(&p.name),
                escape(&src),
                escape(&pinned)
            ));
        }
        output::note(&format!(
            "fetched plugin `{}` from {} into the archive as {} (the directory is unchanged; `palisade plugin pull` writes it there)",
            escape(&p.name),
            escape(&src),
            escape(&p.path)
        ));
        fetched.push((p.path, wasm));
    }
    Ok(fetched)
}

fn fail(e: &str) -> u8 {
    output::error(e);
    exit::ERROR
}

/// `bundle keygen PREFIX`.
fn keygen(prefix: &std::path::Path) -> u8 {
    match crate::signing::keygen(prefix) {
        Ok((private, public)) => output::print_or_error(
            &format!(
                "wrote {} (private: keep it secret) and {} (key id {})\n",
                output::path(&private),
                output::path(&public.file),
                public.id
            ),
            true,
            exit::OK,
        ),
        Err(e) => fail(&e),
    }
}

/// `bundle sign ARCHIVE --key KEY --revision N`: the archive is loaded
/// first, so only a bundle that loads is signed, with its real digest.
fn sign(archive: &std::path::Path, key: &std::path::Path, revision: u64) -> u8 {
    let spec = archive.display().to_string();
    let sig = crate::signing::signature_path(archive);
    if sig.symlink_metadata().is_ok_and(|m| !m.is_file()) {
        return fail(&format!(
            "{} exists and is not a regular file: remove it first",
            output::path(&sig)
        ));
    }
    let signed = source::read_archive(archive).and_then(|bytes| {
        // The bytes hashed are the bytes loaded: one read of the file.
        let engine = source::engine()?;
        let files = palisade_engine::archive::read(&spec, &bytes)?;
        let bundle = engine.load_bundle_from(&files).map_err(|e| e.to_string())?;
        let statement = crate::signing::Statement {
            archive_sha256: format!("sha256:{}", palisade_engine::sha256_hex(&bytes)),
            digest: bundle.digest().to_owned(),
            name: bundle.name().to_owned(),
            version: bundle.version().to_owned(),
            revision,
        };
        let (envelope, keyid) = crate::signing::sign(&statement, key)?;
        source::write_atomically(&sig, envelope.as_bytes())?;
        Ok((keyid, statement))
    });
    match signed {
        Ok((keyid, s)) => output::print_or_error(
            &format!(
                "wrote {}: {} {} revision {}, {} signed by key {keyid}\n",
                output::path(&sig),
                escape(&s.name),
                escape(&s.version),
                s.revision,
                s.archive_sha256
            ),
            true,
            exit::OK,
        ),
        Err(e) => fail(&e),
    }
}

/// `bundle verify ARCHIVE --key PUB...`.
fn verify(archive: &std::path::Path, keys: &[std::path::PathBuf]) -> u8 {
    let engine = match source::engine() {
        Ok(e) => e,
        Err(e) => return fail(&e),
    };
    match source::load_verified(&engine, &archive.display().to_string(), keys) {
        Ok(source::Loaded {
            bundle,
            signed: Some(v),
            ..
        }) => output::print_or_error(
            &format!(
                "ok: {} {} revision {}, digest {}, signed by key {}\n",
                escape(bundle.name()),
                escape(bundle.version()),
                v.statement.revision,
                bundle.digest(),
                v.keyid
            ),
            true,
            exit::OK,
        ),
        Ok(_) => fail("no key to verify with"),
        Err(e) => {
            e.print();
            exit::ERROR
        }
    }
}

/// `bundle push ARCHIVE oci://...:TAG`: only an archive that loads is
/// pushed, with its signature when FILE.sig is there.
fn push(archive: &std::path::Path, target: &str) -> u8 {
    let spec = archive.display().to_string();
    let pushed = source::read_archive(archive).and_then(|bytes| {
        let engine = source::engine()?;
        let files = palisade_engine::archive::read(&spec, &bytes)?;
        let bundle = engine.load_bundle_from(&files).map_err(|e| e.to_string())?;
        let sig_path = crate::signing::signature_path(archive);
        let signature = if sig_path.exists() {
            let envelope = source::read_bounded(&sig_path, 64 << 10)
                .map_err(|e| e.describe(&sig_path.display().to_string(), None))?;
            // A signature for another archive is not pushed beside this one.
            let statement = crate::signing::statement_unverified(&envelope)
                .map_err(|e| format!("{}: {e}", output::path(&sig_path)))?;
            let actual = format!("sha256:{}", palisade_engine::sha256_hex(&bytes));
            if statement.archive_sha256 != actual {
                return Err(format!(
                    "{} is the signature of another archive ({}): sign this one again",
                    output::path(&sig_path),
                    escape(&statement.archive_sha256)
                ));
            }
            Some(envelope)
        } else {
            None
        };
        let config = crate::oci::BundleConfig {
            name: bundle.name().to_owned(),
            version: bundle.version().to_owned(),
            digest: bundle.digest().to_owned(),
            archive_sha256: format!("sha256:{}", palisade_engine::sha256_hex(&bytes)),
        };
        crate::oci::push_bundle(target, &bytes, &config, signature.as_deref())
            .map_err(|e| format!("cannot push to `{}`: {e}", escape(target)))
            .map(|p| (p, config))
    });
    match pushed {
        Ok((p, config)) => output::print_or_error(
            &format!(
                "pushed {} {} to {}\n  release {}\n  pin     oci://{}\n  {}\n",
                escape(&config.name),
                escape(&config.version),
                escape(target),
                p.digest,
                p.pinned,
                match &p.signature_tag {
                    Some(tag) => format!("signature tag {tag}"),
                    None => "unsigned (no FILE.sig beside the archive)".to_owned(),
                }
            ),
            true,
            exit::OK,
        ),
        Err(e) => fail(&e),
    }
}

/// Where `bundle pull` may write FILE and FILE.sig: regular files (or
/// new ones), not a signature file, not a trusted key.
fn pull_target(output_path: &std::path::Path, keys: &[std::path::PathBuf]) -> Result<(), String> {
    let sig_path = crate::signing::signature_path(output_path);
    if output_path.extension().is_some_and(|e| e == "sig") {
        return Err(format!(
            "{} looks like a signature file: name the archive, its signature goes beside it",
            output::path(output_path)
        ));
    }
    // Only an earlier archive and its signature are written over.
    source::check_download_target(output_path, &[0x1f, 0x8b], "a bundle archive")?;
    source::check_download_target(&sig_path, b"{", "a signature envelope")?;
    let key_refs: Vec<&std::path::Path> = keys.iter().map(|k| k.as_path()).collect();
    for p in [output_path, sig_path.as_path()] {
        source::refuse_input_as_output(p, &[], &key_refs).map_err(|_| {
            format!(
                "{} is a trusted key: choose another --output",
                output::path(p)
            )
        })?;
    }
    Ok(())
}

/// `bundle pull oci://... -o FILE [--key PUB...]`.
fn pull(spec: &str, output_path: &std::path::Path, keys: &[std::path::PathBuf]) -> u8 {
    if let Err(e) = pull_target(output_path, keys) {
        return fail(&e);
    }
    let pulled = match crate::oci::pull_bundle(spec, !keys.is_empty()) {
        Ok(p) => p,
        Err(e) => return fail(&format!("cannot pull `{}`: {e}", escape(spec))),
    };
    // Loaded (and verified, with keys) before anything is written.
    let loaded = source::engine()
        .map_err(source::LoadError::Usage)
        .and_then(|engine| {
            let keys = if keys.is_empty() {
                Vec::new()
            } else {
                crate::signing::read_trusted_keys(keys).map_err(source::LoadError::Usage)?
            };
            source::load_pulled(&engine, spec, &pulled, &keys)
        });
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            e.print();
            return exit::ERROR;
        }
    };
    let sig_path = crate::signing::signature_path(output_path);
    let written = source::write_atomically(output_path, &pulled.archive).and_then(|()| {
        match &pulled.signature {
            Some(s) => source::write_atomically(&sig_path, s.as_bytes()),
            None => match std::fs::remove_file(&sig_path) {
                // A stale signature beside a new archive would mislead.
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!(
                    "cannot remove the old {}: {e}",
                    output::path(&sig_path)
                )),
                _ => Ok(()),
            },
        }
    });
    if let Err(e) = written {
        return fail(&e);
    }
    output::print_or_error(
        &format!(
            "wrote {}{}\n  release {}\n  bundle  {} {}, digest {}{}\n",
            output::path(output_path),
            if pulled.signature.is_some() {
                format!(" and {}", output::path(&sig_path))
            } else {
                " (unsigned)".to_owned()
            },
            pulled.pinned,
            escape(loaded.bundle.name()),
            escape(loaded.bundle.version()),
            loaded.bundle.digest(),
            loaded
                .signed
                .map(|v| format!(
                    ", signed by key {} (revision {})",
                    v.keyid, v.statement.revision
                ))
                .unwrap_or_default()
        ),
        true,
        exit::OK,
    )
}
