//! Shared fixtures: temporary bundles around the guests in `guests/dist`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs,
    dead_code
)] // test code: a panic is a failure report

use palisade_engine::{AuthorizationRequest, Bundle, BundleError, Engine};
use std::path::{Path, PathBuf};

pub fn dist(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../guests/dist")
        .join(name)
}

pub fn sha256(path: &Path) -> String {
    palisade_engine::sha256_hex(&std::fs::read(path).unwrap())
}

/// A bundle directory with one permit-all policy and the given plugins
/// (`(name, wasm file in guests/dist, extra manifest lines)`).
pub struct TempBundle {
    pub dir: tempfile::TempDir,
}

impl TempBundle {
    pub fn new(plugins: &[(&str, &str, &str)], limits: &str) -> TempBundle {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = String::from("[bundle]\nname = \"t\"\nversion = \"1\"\n");
        std::fs::create_dir(dir.path().join("policies")).unwrap();
        std::fs::write(
            dir.path().join("policies/all.cedar"),
            "@id(\"allow-all\") permit(principal, action, resource);\n",
        )
        .unwrap();
        for (name, wasm, extra) in plugins {
            let src = dist(wasm);
            std::fs::copy(&src, dir.path().join(wasm)).unwrap();
            manifest.push_str(&format!(
                "\n[[plugin]]\nname = \"{name}\"\npath = \"{wasm}\"\nsha256 = \"{}\"\n{extra}\n",
                sha256(&src)
            ));
        }
        manifest.push_str(limits);
        std::fs::write(dir.path().join("palisade.toml"), manifest).unwrap();
        TempBundle { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn load(&self, engine: &Engine) -> Result<Bundle, BundleError> {
        engine.load_bundle(self.path())
    }
}

pub fn request() -> AuthorizationRequest {
    AuthorizationRequest::new(r#"User::"alice""#, r#"Action::"view""#, r#"Doc::"d1""#)
        .unwrap()
        .with_context(serde_json::json!({"note": "hello"}))
        .unwrap()
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
