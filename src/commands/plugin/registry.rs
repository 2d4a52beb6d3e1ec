//! `palisade plugin push|pull`: plugins alone in OCI registries, as CNCF
//! Wasm artifacts.

use super::read_wasm;
use crate::exit;
use crate::output::{self, escape};
use crate::source;
use std::path::Path;

/// The CNCF Wasm artifact config of a component: what it imports and
/// exports. No time, so the same component gives the same artifact.
fn wasm_config(i: &palisade_engine::PluginInspection) -> Vec<u8> {
    let config = serde_json::json!({
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [format!("sha256:{}", i.sha256)],
        "component": {
            "exports": i.exports,
            "imports": i.imports.iter().map(|im| im.name.as_str()).collect::<Vec<_>>(),
            "target": format!("palisade:policy/plugin@{}", palisade_engine::CONTRACT_VERSION),
        },
    });
    serde_json::to_vec(&config).unwrap_or_default()
}

/// `plugin push FILE.wasm oci://...:TAG`.
pub(super) fn push(path: &Path, target: &str) -> u8 {
    let pushed = read_wasm(path).and_then(|bytes| {
        let engine = source::engine()?;
        let inspection = engine
            .inspect_plugin(&bytes, palisade_engine::Limits::default())
            .map_err(|e| format!("{}: {e}", output::path(path)))?;
        if let Some(why) = &inspection.refused {
            return Err(format!(
                "{} is not pushed: this host would refuse it: {}",
                output::path(path),
                escape(why)
            ));
        }
        let title = path
            .file_name()
            .map_or("plugin.wasm".into(), |n| n.to_string_lossy().into_owned());
        crate::oci::push_plugin(target, &bytes, &wasm_config(&inspection), &title)
            .map_err(|e| format!("cannot push to `{}`: {e}", escape(target)))
            .map(|p| (p, inspection.sha256))
    });
    match pushed {
        Ok((p, sha)) => output::print_or_error(
            &format!(
                "pushed {} to {}\n  release {}\n  in palisade.toml:\n    source = \"oci://{}\"\n    sha256 = \"{sha}\"\n",
                output::path(path),
                escape(target),
                p.digest,
                p.pinned,
            ),
            true,
            exit::OK,
        ),
        Err(e) => {
            output::error(&e);
            exit::ERROR
        }
    }
}

/// `plugin pull oci://... -o FILE`.
pub(super) fn pull(spec: &str, out: &Path) -> u8 {
    let pulled = source::check_download_target(out, b"\0asm", "a WebAssembly file")
        .and_then(|()| {
            crate::oci::pull_plugin(spec)
                .map_err(|e| format!("cannot pull `{}`: {e}", escape(spec)))
        })
        .and_then(|(wasm, digest)| {
            // Only a component this host would load is written.
            let inspection = source::engine()?
                .inspect_plugin(&wasm, palisade_engine::Limits::default())
                .map_err(|e| format!("`{}` is not a plugin: {e}", escape(spec)))?;
            if let Some(why) = &inspection.refused {
                return Err(format!(
                    "`{}` is not written: this host would refuse it: {}",
                    escape(spec),
                    escape(why)
                ));
            }
            source::write_atomically(out, &wasm)?;
            Ok((palisade_engine::sha256_hex(&wasm), digest, wasm.len()))
        });
    match pulled {
        Ok((sha, digest, len)) => output::print_or_error(
            &format!(
                "wrote {} ({len} bytes) from {}\n  release {digest}\n  sha256  {sha}\n",
                output::path(out),
                escape(spec)
            ),
            true,
            exit::OK,
        ),
        Err(e) => {
            output::error(&e);
            exit::ERROR
        }
    }
}
