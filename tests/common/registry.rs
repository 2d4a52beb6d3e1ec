//! A real OCI registry for tests: Debian's `docker-registry` (the CNCF
//! distribution registry) on a loopback port, with filesystem storage in a
//! temporary directory. Tests skip without it unless
//! `PALISADE_REQUIRE_REGISTRY` is set (as `.ci/run` does).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = "docker-registry";

/// Whether a command is on PATH; when it is not and `PALISADE_REQUIRE_REGISTRY`
/// is set, the test fails instead of skipping.
pub fn have(command: &str) -> bool {
    crate::common::installed(command, "PALISADE_REQUIRE_REGISTRY")
}

/// A running registry, stopped on drop.
pub struct Registry {
    child: Option<Child>,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    dir: tempfile::TempDir,
    htpasswd: String,
    tls: Option<(String, String)>,
}

impl Registry {
    /// Starts a registry, or `None` when `docker-registry` is missing (and
    /// not required).
    pub fn start() -> Option<Registry> {
        Registry::start_with("", "127.0.0.1", None)
    }

    /// A registry that asks for `user`/`password` (HTTP basic, htpasswd
    /// with the bcrypt `hash` of the password).
    pub fn start_with_password(user: &str, hash: &str) -> Option<Registry> {
        Registry::start_with(&format!("{user}:{hash}\n"), "127.0.0.1", None)
    }

    /// A registry on `host` (an address of this machine) serving HTTPS with
    /// `tls` (certificate and key, PEM).
    pub fn start_tls(host: &str, tls: (String, String)) -> Option<Registry> {
        Registry::start_with("", host, Some(tls))
    }

    /// `htpasswd`: the lines of an htpasswd file, or empty for none.
    fn start_with(htpasswd: &str, host: &str, tls: Option<(String, String)>) -> Option<Registry> {
        if !have(BINARY) {
            return None;
        }
        // A free port, taken again by the registry (another process may
        // win the race: then try another).
        for _ in 0..5 {
            let port = std::net::TcpListener::bind((host, 0))
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut r = Registry {
                child: None,
                addr: format!("{host}:{port}"),
                dir: tempfile::tempdir().unwrap(),
                htpasswd: htpasswd.to_owned(),
                tls: tls.clone(),
            };
            r.run();
            if r.wait_ready() {
                return Some(r);
            }
        }
        panic!("the registry did not start");
    }

    fn config(&self) -> PathBuf {
        let path = self.dir.path().join("config.yml");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
             delete:\n    enabled: true\nhttp:\n  addr: {}\n",
            self.storage().display(),
            self.addr
        );
        if !self.htpasswd.is_empty() {
            let file = self.dir.path().join("htpasswd");
            std::fs::write(&file, &self.htpasswd).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: palisade-tests\n    path: {}\n",
                file.display()
            ));
        }
        if let Some((cert, key)) = &self.tls {
            let (c, k) = (
                self.dir.path().join("cert.pem"),
                self.dir.path().join("key.pem"),
            );
            std::fs::write(&c, cert).unwrap();
            std::fs::write(&k, key).unwrap();
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                c.display(),
                k.display()
            ));
        }
        std::fs::write(&path, config).unwrap();
        path
    }

    fn run(&mut self) {
        let config = self.config();
        self.child = Some(
            Command::new(BINARY)
                .args(["serve", config.to_str().unwrap()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }

    fn wait_ready(&mut self) -> bool {
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if let Some(c) = &mut self.child.as_mut()
                && c.try_wait().is_ok_and(|s| s.is_some())
            {
                return false;
            }
            if std::net::TcpStream::connect(&self.addr).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Where the registry keeps its data.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The file holding the blob `digest` (`sha256:...`), to tamper with.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// `oci://ADDR/REPO`.
    pub fn oci(&self, repo: &str) -> String {
        format!("oci://{}/{repo}", self.addr)
    }

    /// Stops it (as a registry that went down).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and storage.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
        assert!(self.wait_ready(), "the registry did not come back");
    }

    /// Puts `manifest` (OCI) under `REPO:TAG`, by HTTP, as any client may.
    pub fn put_manifest(&self, reference: &str, manifest: &[u8]) {
        let (repo, tag) = reference.rsplit_once(':').unwrap();
        let url = format!("http://{}/v2/{repo}/manifests/{tag}", self.addr);
        let resp = ureq::put(&url)
            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            .send(manifest)
            .unwrap();
        assert_eq!(resp.status(), 201);
    }

    /// The raw manifest a reference names (`REPO:TAG`), by HTTP.
    pub fn manifest(&self, reference: &str) -> (String, Vec<u8>) {
        let (repo, tag) = reference.rsplit_once(':').unwrap();
        let url = format!("http://{}/v2/{repo}/manifests/{tag}", self.addr);
        let mut resp = ureq::get(&url)
            .header("Accept", "application/vnd.oci.image.manifest.v1+json")
            .call()
            .unwrap();
        let digest = resp
            .headers()
            .get("docker-content-digest")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        (digest, resp.body_mut().read_to_vec().unwrap())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether `path` holds the bytes `bytes`.
pub fn same_bytes(path: &Path, bytes: &[u8]) -> bool {
    std::fs::read(path).is_ok_and(|b| b == bytes)
}
