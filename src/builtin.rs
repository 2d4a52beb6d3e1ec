//! Bundles embedded in the binary, so `palisade check` works with no files
//! around it: `--bundle builtin:NAME`.

use palisade_engine::MemorySource;

macro_rules! embed {
    ($dir:literal: $($file:literal),+ $(,)?) => {
        &[$(($file, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/policies/", $dir, "/", $file)) as &'static [u8])),+]
    };
}

/// The files of `serverless-baseline` (a test checks nothing is missing).
pub const SERVERLESS_BASELINE: &[(&str, &[u8])] = embed!("serverless-baseline":
    "palisade.toml",
    "entities.json",
    "runtimes.json",
    "controls.json",
    "plugins/secrets.wasm",
    "policies/00-deploy.cedar",
    "policies/authentication.cedar",
    "policies/encryption.cedar",
    "policies/iam.cedar",
    "policies/network.cedar",
    "policies/observability.cedar",
    "policies/resilience.cedar",
    "policies/runtimes.cedar",
    "policies/transport.cedar",
);

/// The files of `gateway-baseline` (a test checks nothing is missing).
pub const GATEWAY_BASELINE: &[(&str, &[u8])] = embed!("gateway-baseline":
    "palisade.toml",
    "entities.json",
    "jwks.json",
    "plugins/secrets.wasm",
    "policies/access.cedar",
    "policies/incident.cedar",
);

/// The built-in bundles' plugin, compiled for x86-64-v2 Linux by this
/// program's engine (`precompiled/`), so that a first `palisade check`
/// does not spend half a second compiling it. Code that does not fit the
/// running engine is ignored and the plugin is compiled as usual. A test
/// keeps it current: `PALISADE_BLESS=1 cargo test -p palisade precompiled`
/// rewrites it after the plugin changes.
const PRECOMPILED_SECRETS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/precompiled/secrets.cwasm"
));

/// `builder` with the built-in plugins' shipped code.
pub fn with_precompiled(builder: palisade_engine::EngineBuilder) -> palisade_engine::EngineBuilder {
    let wasm = SERVERLESS_BASELINE
        .iter()
        .find(|(p, _)| *p == "plugins/secrets.wasm")
        .map(|(_, b)| *b)
        .unwrap_or_default();
    builder.precompiled(&palisade_engine::sha256_hex(wasm), PRECOMPILED_SECRETS)
}

/// Names of the built-in bundles.
pub const NAMES: &[&str] = &["serverless-baseline", "gateway-baseline"];

/// A built-in bundle by name.
pub fn source(name: &str) -> Option<MemorySource> {
    let files = match name {
        "serverless-baseline" => SERVERLESS_BASELINE,
        "gateway-baseline" => GATEWAY_BASELINE,
        _ => return None,
    };
    Some(files.iter().fold(
        MemorySource::new(format!("builtin:{name}")),
        |s, (path, bytes)| s.file(*path, *bytes),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_on_disk(dir: &std::path::Path, rel: &str, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if e.path().is_dir() {
                if child != "tests" {
                    files_on_disk(&e.path(), &child, out);
                }
            } else {
                out.push(child);
            }
        }
    }

    /// The shipped code is the plugin's, compiled by this engine; and a
    /// start with an empty cache uses it. On a host whose engine compiles
    /// for other features (not x86-64-v2 Linux) there is nothing to check.
    #[test]
    fn precompiled_plugins_are_current() {
        let plain = palisade_gateway::engine_builder()
            .max_concurrent_instances(2)
            .build()
            .unwrap();
        let wasm = SERVERLESS_BASELINE
            .iter()
            .find(|(p, _)| *p == "plugins/secrets.wasm")
            .unwrap()
            .1;
        let fresh = plain.precompile(wasm).unwrap();
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("precompiled/secrets.cwasm");
        if std::env::var_os("PALISADE_BLESS").is_some() {
            std::fs::write(&path, &fresh).unwrap();
            return;
        }
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        let portable = std::arch::is_x86_feature_detected!("sse3")
            && std::arch::is_x86_feature_detected!("ssse3")
            && std::arch::is_x86_feature_detected!("sse4.1")
            && std::arch::is_x86_feature_detected!("sse4.2")
            && std::arch::is_x86_feature_detected!("popcnt");
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        let portable = false;
        if !portable {
            return;
        }
        assert!(
            fresh == PRECOMPILED_SECRETS,
            "precompiled/secrets.cwasm is stale: run `PALISADE_BLESS=1 cargo test -p palisade precompiled`"
        );
        let engine =
            with_precompiled(palisade_gateway::engine_builder().max_concurrent_instances(2))
                .build()
                .unwrap();
        let bundle = engine
            .load_bundle_from(&source("serverless-baseline").unwrap())
            .unwrap();
        for p in bundle.plugins() {
            assert_eq!(
                p.code_cache(),
                palisade_engine::CodeCache::Precompiled,
                "{}",
                p.name
            );
        }
    }

    #[test]
    fn every_bundle_file_is_embedded() {
        for (name, files) in [
            ("serverless-baseline", SERVERLESS_BASELINE),
            ("gateway-baseline", GATEWAY_BASELINE),
        ] {
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("policies")
                .join(name);
            let mut on_disk = Vec::new();
            files_on_disk(&root, "", &mut on_disk);
            on_disk.sort();
            let mut embedded: Vec<String> = files.iter().map(|(p, _)| (*p).to_owned()).collect();
            embedded.sort();
            assert_eq!(
                embedded, on_disk,
                "update src/builtin.rs to embed exactly the files of {name}"
            );
        }
    }
}
