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
