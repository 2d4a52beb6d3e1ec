//! Bundles through a real OCI registry (Debian's `docker-registry` on a
//! loopback port): push, pull, `--bundle oci://` in `check` and `serve`,
//! skopeo reading and copying what Palisade pushed, and every refusal:
//! tampered layer, tampered signature, wrong key, unsigned, a manifest that
//! is not the pinned digest, an oversized layer, an older revision, a
//! registry that is down.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
#[path = "common/pki.rs"]
mod pki;
#[path = "common/registry.rs"]
mod registry;
#[path = "common/server.rs"]
mod server;

use common::{copy_dir, root, text};
use registry::Registry;
use serde_json::Value;
use server::{Server, http};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// A scratch directory with a compiled-code cache (and the OCI cache in
/// it) and helpers to run `palisade` there.
struct Work {
    tmp: tempfile::TempDir,
    cache: PathBuf,
}

impl Work {
    fn new() -> Work {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        Work { tmp, cache }
    }

    fn p(&self, name: &str) -> String {
        self.tmp.path().join(name).to_str().unwrap().to_owned()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    /// Runs `palisade ARGS` with its own caches, none of the registry
    /// settings of the machine running the tests (credentials, a CA,
    /// `docker login`), and `env` on top.
    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"));
        c.args(args)
            .env("PALISADE_CACHE_DIR", &self.cache)
            .env("NO_COLOR", "1")
            .env("DOCKER_CONFIG", self.tmp.path().join("no-docker-config"))
            .env_remove("PALISADE_REGISTRY_USERNAME")
            .env_remove("PALISADE_REGISTRY_PASSWORD")
            .env_remove("PALISADE_REGISTRY_CA");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    /// Runs and expects exit 0; standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Runs and expects exit 2 with `needle` in standard error.
    fn refused(&self, args: &[&str], needle: &str) {
        let out = self.run(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: wanted `{needle}` in: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }

    /// Builds `dir` into NAME.bundle and signs it with `key` at `revision`
    /// (no signature when `revision` is None); the archive's path.
    fn release(&self, dir: &Path, name: &str, key: &str, revision: Option<u64>) -> String {
        let archive = self.p(&format!("{name}.bundle"));
        self.ok(&["bundle", "build", dir.to_str().unwrap(), "-o", &archive]);
        if let Some(r) = revision {
            self.ok(&[
                "bundle",
                "sign",
                &archive,
                "--key",
                &self.p(&format!("{key}.key")),
                "--revision",
                &r.to_string(),
            ]);
        }
        archive
    }

    /// `bundle push`; the release digest it printed.
    fn push(&self, archive: &str, target: &str) -> String {
        let out = self.ok(&["bundle", "push", archive, target]);
        out.lines()
            .find_map(|l| l.trim().strip_prefix("release "))
            .unwrap_or_else(|| panic!("no release digest in: {out}"))
            .to_owned()
    }
}

/// A copy of `examples/authz` (a policy set and the secrets plugin) with
/// another version, as a team's next release.
fn authz_version(work: &Work, version: &str) -> PathBuf {
    let dir = work.tmp.path().join(format!("authz-{version}"));
    copy_dir(&root().join("examples/authz"), &dir);
    let manifest = dir.join("palisade.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let current = text
        .lines()
        .find(|l| l.starts_with("version"))
        .unwrap()
        .to_owned();
    std::fs::write(
        &manifest,
        text.replacen(&current, &format!("version = \"{version}\""), 1),
    )
    .unwrap();
    dir
}

/// A team's CI path: build, sign, push; `check --bundle oci://...:TAG`
/// names the release it resolved to; the gateway's pinned
/// `@sha256:...` gives the same decision, byte for byte, as the archive;
/// skopeo reads and copies the artifact, and Palisade pulls the copy.
#[test]
fn push_pull_check_and_skopeo_agree_on_one_digest() {
    let Some(reg) = Registry::start() else { return };
    let w = Work::new();
    w.ok(&["bundle", "keygen", &w.p("team")]);
    let archive = w.release(
        &root().join("policies/serverless-baseline"),
        "sb",
        "team",
        Some(1),
    );
    let tag = format!("{}/rules:1.0", reg.oci("platform"));
    let release = w.push(&archive, &tag);
    assert!(
        release.starts_with("sha256:") && release.len() == 71,
        "{release}"
    );
    // Pushing the same archive again gives the same release digest.
    assert_eq!(w.push(&archive, &tag), release);

    // CI: check with the tag; the release and the bundle digest are named.
    let template = root().join("examples/sam/insecure.yaml");
    let template = template.to_str().unwrap();
    let by_tag = w.run(&[
        "check",
        template,
        "--bundle",
        &tag,
        "--verify-key",
        &w.p("team.pub"),
        "--format",
        "json",
    ]);
    assert_eq!(by_tag.status.code(), Some(1), "{}", text(&by_tag.stderr));
    let err = text(&by_tag.stderr);
    let pinned = format!("{}/platform/rules@{release}", reg.addr);
    assert!(err.contains(&pinned), "{err}");
    let decision: Value = serde_json::from_slice(&by_tag.stdout).unwrap();
    assert!(err.contains(decision["bundle"]["digest"].as_str().unwrap()));

    // The gateway pins the digest; the archive itself decides the same.
    let by_digest = w.run(&[
        "check",
        template,
        "--bundle",
        &format!("oci://{pinned}"),
        "--format",
        "json",
        "--now",
        "2026-12-01T00:00:00Z",
    ]);
    let by_file = w.run(&[
        "check",
        template,
        "--bundle",
        &archive,
        "--format",
        "json",
        "--now",
        "2026-12-01T00:00:00Z",
    ]);
    assert_eq!(by_digest.status.code(), Some(1));
    assert_eq!(by_digest.stdout, by_file.stdout, "same bundle, same bytes");

    // SARIF carries the bundle digest.
    let sarif: Value = serde_json::from_str(
        &w.ok_or_findings(&["check", template, "--bundle", &tag, "--format", "sarif"]),
    )
    .unwrap();
    assert_eq!(
        sarif["runs"][0]["tool"]["driver"]["properties"]["bundleDigest"],
        decision["bundle"]["digest"]
    );

    // The bundle's own test cases run from the registry too.
    assert!(w.ok(&["test", &tag]).contains(" passed, 0 failed"));

    // `bundle inspect` names the release, the archive and the signer
    // (verified with a key, else marked unverified).
    let inspected: Value = serde_json::from_str(&w.ok(&[
        "bundle",
        "inspect",
        &tag,
        "--key",
        &w.p("team.pub"),
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(inspected["release"], pinned.as_str());
    assert_eq!(inspected["signature"]["verified"], true);
    assert_eq!(inspected["signature"]["revision"], 1);
    let human = w.ok(&["bundle", "inspect", &tag]);
    assert!(human.contains("(not verified: give --key PUB)"), "{human}");

    // The registry holds what `bundle push` says: an OCI manifest whose
    // one layer is the archive.
    let (digest, manifest) = reg.manifest("platform/rules:1.0");
    assert_eq!(digest, release);
    let manifest: Value = serde_json::from_slice(&manifest).unwrap();
    let archive_sha = format!(
        "sha256:{}",
        palisade_engine::sha256_hex(&std::fs::read(&archive).unwrap())
    );
    assert_eq!(manifest["layers"][0]["digest"], archive_sha.as_str());

    if !registry::have("skopeo") {
        return;
    }
    let skopeo = |args: &[&str]| {
        let out = std::process::Command::new("skopeo")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo {args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    };
    let raw: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{}/platform/rules:1.0", reg.addr),
    ]))
    .unwrap();
    assert_eq!(raw["artifactType"], "application/vnd.palisade.bundle.v1");
    // skopeo copies the release and its signature tag to another
    // repository; Palisade pulls the copy and verifies it.
    let sig_tag = format!("sha256-{}.sig", &release["sha256:".len()..]);
    for t in ["1.0", sig_tag.as_str()] {
        skopeo(&[
            "copy",
            "-q",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("docker://{}/platform/rules:{t}", reg.addr),
            &format!("docker://{}/mirror/rules:{t}", reg.addr),
        ]);
    }
    let fresh = Work::new();
    std::fs::copy(w.p("team.pub"), fresh.p("team.pub")).unwrap();
    let out = fresh.ok(&[
        "bundle",
        "pull",
        &format!("{}/rules:1.0", reg.oci("mirror")),
        "-o",
        &fresh.p("pulled.bundle"),
        "--key",
        &fresh.p("team.pub"),
    ]);
    assert!(out.contains(&release), "same manifest bytes: {out}");
    assert!(registry::same_bytes(
        Path::new(&fresh.p("pulled.bundle")),
        &std::fs::read(&archive).unwrap()
    ));
    fresh.ok(&[
        "bundle",
        "verify",
        &fresh.p("pulled.bundle"),
        "--key",
        &fresh.p("team.pub"),
    ]);
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

impl Work {
    /// Runs `check`, which exits 1 on findings; standard output.
    fn ok_or_findings(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }
}

/// What must not get through: another key, no signature, a changed
/// signature, a changed layer, a manifest that is not the pinned digest,
/// a layer declared too large; a registry that is down serves from the
/// cache or fails with exit 2.
#[test]
fn tampered_unsigned_and_unreachable_releases_are_refused() {
    let Some(mut reg) = Registry::start() else {
        return;
    };
    let w = Work::new();
    w.ok(&["bundle", "keygen", &w.p("team")]);
    w.ok(&["bundle", "keygen", &w.p("other")]);
    let authz = root().join("examples/authz");
    let signed = w.release(&authz, "a", "team", Some(1));
    let tag = format!("{}/authz:1", reg.oci("team"));
    let release = w.push(&signed, &tag);
    let template = root().join("examples/sam/insecure.yaml");
    let template = template.to_str().unwrap();
    let check = |work: &Work, bundle: &str, key: &str| -> Vec<String> {
        vec![
            "check".into(),
            template.into(),
            "--bundle".into(),
            bundle.into(),
            "--verify-key".into(),
            work.p(key),
        ]
    };
    let refused = |work: &Work, v: Vec<String>, needle: &str| work.refused(&strs(&v), needle);

    // Another key.
    refused(
        &w,
        check(&w, &tag, "other.pub"),
        "no signature by a trusted key",
    );

    // Unsigned, with keys configured (another version: the same archive
    // would be the same release, signed above).
    let unsigned = w.release(&authz_version(&w, "0.0.1"), "u", "team", None);
    let unsigned_tag = format!("{}/authz:unsigned", reg.oci("team"));
    w.push(&unsigned, &unsigned_tag);
    refused(&w, check(&w, &unsigned_tag, "team.pub"), "is not signed");

    // A changed signature (one byte of the Ed25519 signature).
    let forged = w.release(&authz_version(&w, "0.0.2"), "f", "team", Some(7));
    let sig = format!("{forged}.sig");
    let mut envelope: Value =
        serde_json::from_str(&std::fs::read_to_string(&sig).unwrap()).unwrap();
    let s = envelope["signatures"][0]["sig"]
        .as_str()
        .unwrap()
        .to_owned();
    let flipped = if s.starts_with('A') { "B" } else { "A" };
    envelope["signatures"][0]["sig"] = Value::String(format!("{flipped}{}", &s[1..]));
    std::fs::write(&sig, envelope.to_string()).unwrap();
    let forged_tag = format!("{}/authz:forged", reg.oci("team"));
    w.push(&forged, &forged_tag);
    refused(&w, check(&w, &forged_tag, "team.pub"), "does not verify");

    // A changed layer in the registry's storage: a fresh cache must read
    // it, and refuses it.
    let (_, manifest) = reg.manifest("team/authz:1");
    let manifest: Value = serde_json::from_slice(&manifest).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    let blob = reg.blob_file(&layer);
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let original = std::fs::read(&blob).unwrap();
    std::fs::write(&blob, &bytes).unwrap();
    let fresh = Work::new();
    std::fs::copy(w.p("team.pub"), fresh.p("team.pub")).unwrap();
    refused(
        &fresh,
        check(&fresh, &tag, "team.pub"),
        "Invalid digest. Expected sha256:",
    );
    std::fs::write(&blob, &original).unwrap();

    // A manifest that is not the digest pinned: the registry's copy of it
    // changed on disk (a byte of whitespace added).
    let manifest_blob = reg.blob_file(&release);
    let original_manifest = std::fs::read(&manifest_blob).unwrap();
    let mut changed = original_manifest.clone();
    changed.push(b'\n');
    std::fs::write(&manifest_blob, &changed).unwrap();
    let pinned = format!("{}/authz@{release}", reg.oci("team"));
    let fresh = Work::new();
    fresh.refused(
        &["bundle", "pull", &pinned, "-o", &fresh.p("x.bundle")],
        &format!("not {release}: refused"),
    );
    assert!(!Path::new(&fresh.p("x.bundle")).exists(), "nothing written");

    // A manifest that declares a layer beyond the archive limit is
    // refused before any of the layer is read.
    std::fs::write(&manifest_blob, &original_manifest).unwrap();
    let mut huge: Value = serde_json::from_slice(&original_manifest).unwrap();
    huge["layers"][0]["size"] = Value::from(300u64 << 20);
    reg.put_manifest("team/authz:huge", &serde_json::to_vec(&huge).unwrap());
    let fresh = Work::new();
    fresh.refused(
        &[
            "bundle",
            "pull",
            &format!("{}/authz:huge", reg.oci("team")),
            "-o",
            &fresh.p("x.bundle"),
        ],
        "archives may be at most 256 MiB",
    );

    // A layer larger than its manifest declares is cut off at the
    // declared size.
    let mut small: Value = serde_json::from_slice(&original_manifest).unwrap();
    small["layers"][0]["size"] = Value::from(100u64);
    reg.put_manifest("team/authz:small", &serde_json::to_vec(&small).unwrap());
    let fresh = Work::new();
    fresh.refused(
        &[
            "bundle",
            "pull",
            &format!("{}/authz:small", reg.oci("team")),
            "-o",
            &fresh.p("x.bundle"),
        ],
        "larger than the 100 bytes its manifest declares",
    );

    // The same archive pushed unsigned to another repository, pulled there
    // first, does not make the signed release look unsigned when pinned.
    let fresh = Work::new();
    std::fs::copy(w.p("team.pub"), fresh.p("team.pub")).unwrap();
    let copy = w.p("copy.bundle");
    std::fs::copy(&signed, &copy).unwrap();
    let elsewhere = format!("{}/unsigned-copy:1", reg.oci("other"));
    w.push(&copy, &elsewhere);
    fresh.ok_or_findings(&["check", template, "--bundle", &elsewhere]);
    fresh.ok_or_findings(&strs(&check(&fresh, &pinned, "team.pub")));

    // Where a signature goes is not a push target; `pull -o` writes
    // neither over a signature file nor over a trusted key.
    w.refused(
        &[
            "bundle",
            "push",
            &signed,
            &format!(
                "{}/authz:{}",
                reg.oci("team"),
                release.replacen(':', "-", 1) + ".sig"
            ),
        ],
        "is where a release's signature goes",
    );
    w.refused(
        &["bundle", "pull", &tag, "-o", &format!("{signed}.sig")],
        "looks like a signature file",
    );
    w.refused(
        &[
            "bundle",
            "pull",
            &tag,
            "-o",
            &w.p("team.pub"),
            "--key",
            &w.p("team.pub"),
        ],
        "exists and is not a bundle archive",
    );
    w.refused(
        &["bundle", "pull", &tag, "-o", &w.p("team.key")],
        "exists and is not a bundle archive",
    );
    assert!(
        std::fs::read_to_string(w.p("team.key"))
            .unwrap()
            .contains("PRIVATE KEY")
    );
    assert!(
        std::fs::read_to_string(w.p("team.pub"))
            .unwrap()
            .contains("PUBLIC KEY")
    );

    // The registry goes down: the tag's last release serves from the
    // cache (with a warning); without a cache, exit 2 and why.
    w.ok_or_findings(&strs(&check(&w, &tag, "team.pub")));
    reg.stop();
    let out = w.run(&strs(&check(&w, &tag, "team.pub")));
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "findings, from the cache: {err}"
    );
    assert!(
        err.contains("cannot be reached") && err.contains("using the cached"),
        "{err}"
    );
    assert!(err.contains(&release), "{err}");
    let fresh = Work::new();
    std::fs::copy(w.p("team.pub"), fresh.p("team.pub")).unwrap();
    refused(&fresh, check(&fresh, &tag, "team.pub"), "no copy of");
    // A digest already pulled needs no registry at all.
    w.ok(&["bundle", "pull", &pinned, "-o", &w.p("offline.bundle")]);
    // A FIFO where the cache keeps a tag's last release blocks nothing.
    let fifo_cache = Work::new();
    let tags = fifo_cache.cache.join("oci/tags");
    std::fs::create_dir_all(&tags).unwrap();
    let name = palisade_engine::sha256_hex(format!("{}/team/authz:1", reg.addr).as_bytes());
    let made = std::process::Command::new("mkfifo")
        .arg(tags.join(name))
        .status()
        .unwrap();
    assert!(made.success());
    fifo_cache.refused(
        &["bundle", "pull", &tag, "-o", &fifo_cache.p("x.bundle")],
        "no copy of",
    );
}

/// A fake registry on loopback: `answer` gets each request's first line
/// and writes the whole response.
fn fake_registry(
    answer: impl Fn(&str, &mut std::net::TcpStream) + Send + Sync + 'static,
) -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let answer = std::sync::Arc::clone(&answer);
            std::thread::spawn(move || {
                let mut first = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let _ = reader.read_line(&mut first);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                answer(&first, &mut stream);
            });
        }
    });
    addr
}

/// A registry that answers with a huge manifest (declared, or streamed
/// without a length) is cut off at 1 MiB and refused, not read whole.
#[test]
fn a_huge_manifest_is_refused_without_reading_it() {
    use std::io::Write;
    let addr = fake_registry(|first, stream| {
        if first.starts_with("GET /v2/ ") {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
            return;
        }
        // Declared: 2 GB. Streamed: until the client hangs up.
        let header = if first.contains("/declared/") {
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 2000000000\r\n\r\n"
        } else {
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n"
        };
        let _ = stream.write_all(header.as_bytes());
        let chunk = vec![b' '; 64 << 10];
        while stream.write_all(&chunk).is_ok() {}
    });
    let w = Work::new();
    for repo in ["declared", "streamed"] {
        let started = Instant::now();
        w.refused(
            &[
                "bundle",
                "pull",
                &format!("oci://{addr}/{repo}/x:1"),
                "-o",
                &w.p("x.bundle"),
            ],
            "larger than 1048576 bytes: refused",
        );
        assert!(started.elapsed() < Duration::from_secs(60), "{repo}");
    }
}

/// Credentials are not handed to a token server over plain HTTP off this
/// machine, whatever the registry's challenge says.
#[test]
fn credentials_never_go_to_a_plain_http_token_server() {
    use std::io::Write;
    // Every spelling of a plain-HTTP realm off this machine (the HTTP
    // client normalizes them all to http://).
    for realm in [
        "http://192.0.2.1/token",
        "HTTP://192.0.2.1/token",
        "http:/192.0.2.1/token",
        " http://192.0.2.1/token",
    ] {
        let challenge = format!(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"{realm}\",service=\"r\"\r\nContent-Length: 0\r\n\r\n"
        );
        let addr = fake_registry(move |_, stream| {
            let _ = stream.write_all(challenge.as_bytes());
        });
        let w = Work::new();
        let out = w.run_env(
            &[
                "bundle",
                "pull",
                &format!("oci://{addr}/team/x:1"),
                "-o",
                &w.p("x.bundle"),
            ],
            &[
                ("PALISADE_REGISTRY_USERNAME", "team"),
                ("PALISADE_REGISTRY_PASSWORD", "s3cret"),
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{realm}");
        assert!(
            text(&out.stderr).contains("sends credentials to a token server"),
            "{realm}: {}",
            text(&out.stderr)
        );
    }
}

/// A gateway follows a tag: a new signed release pushed to it is pulled,
/// verified and served; an older revision and a forged signature pushed
/// to it are refused while the running bundle keeps serving; a registry
/// that goes down is counted in /metrics and changes nothing.
#[test]
fn serve_follows_a_tag_forward_only() {
    let Some(mut reg) = Registry::start() else {
        return;
    };
    let w = Work::new();
    w.ok(&["bundle", "keygen", &w.p("team")]);
    let tag = format!("{}/authz:prod", reg.oci("team"));
    let v1 = w.release(&authz_version(&w, "1.0.0"), "v1", "team", Some(1));
    let first = w.push(&v1, &tag);
    let s = Server::start(
        &tag,
        &w.cache,
        &[
            "--verify-key",
            &w.p("team.pub"),
            "--poll",
            "1s",
            "--decision-log",
            "off",
        ],
    );
    let info = || http(&s.addr, "GET", "/v1/bundle", &[], "").json();
    let wait_for = |what: &str, cond: &dyn Fn(&Value) -> bool| {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let i = info();
            if cond(&i) {
                return i;
            }
            assert!(
                Instant::now() < until,
                "{what}: {i}\n{}",
                s.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let i = info();
    assert_eq!(i["signed_revision"], 1);
    assert!(i["release"].as_str().unwrap().ends_with(&first), "{i}");
    // Every reload outcome has its series before any reload, for alerts.
    let metrics = http(&s.addr, "GET", "/metrics", &[], "").body;
    for result in ["ok", "error", "poll_error"] {
        assert!(
            metrics.contains(&format!(
                "palisade_bundle_reloads_total{{result=\"{result}\"}} 0"
            )),
            "{metrics}"
        );
    }

    // A new release: pushed to the tag, served within a few polls.
    let v2 = w.release(&authz_version(&w, "2.0.0"), "v2", "team", Some(2));
    let second = w.push(&v2, &tag);
    let i = wait_for("release 2 serves", &|i| i["signed_revision"] == 2);
    assert_eq!(i["version"], "2.0.0");
    assert!(i["release"].as_str().unwrap().ends_with(&second));

    // An older revision pushed to the tag: refused, 2 keeps serving.
    w.push(&v1, &tag);
    assert!(
        s.wait_for_log("older than the serving revision 2", Duration::from_secs(30)),
        "{}",
        s.stderr.lock().unwrap()
    );
    assert_eq!(info()["signed_revision"], 2);

    // The registry goes down: polls fail, are counted, nothing changes.
    reg.stop();
    assert!(s.wait_for_log("poll of", Duration::from_secs(30)));
    let metrics = http(&s.addr, "GET", "/metrics", &[], "").body;
    assert!(metrics.contains("result=\"poll_error\""), "{metrics}");
    assert_eq!(info()["signed_revision"], 2);
    assert_eq!(http(&s.addr, "GET", "/health", &[], "").status, 200);

    // Back up, release 3 goes out.
    reg.restart();
    let v3 = w.release(&authz_version(&w, "3.0.0"), "v3", "team", Some(3));
    w.push(&v3, &tag);
    wait_for("release 3 serves", &|i| i["signed_revision"] == 3);
}

/// A server whose registry hangs mid-poll still stops at once on SIGTERM
/// (the poll is dropped, not waited for), and a release refused for its
/// signature is not kept in the cache.
#[test]
fn a_hung_poll_never_holds_up_shutdown_and_refused_releases_are_not_cached() {
    let Some(mut reg) = Registry::start() else {
        return;
    };
    let w = Work::new();
    w.ok(&["bundle", "keygen", &w.p("team")]);
    w.ok(&["bundle", "keygen", &w.p("other")]);
    let tag = format!("{}/authz:prod", reg.oci("team"));
    let v1 = w.release(&authz_version(&w, "1.0.0"), "v1", "team", Some(1));
    w.push(&v1, &tag);

    // Signed by a key the caller does not trust: refused, and its archive
    // is not left in the cache.
    let other = format!("{}/authz:other", reg.oci("team"));
    let stranger = w.release(&authz_version(&w, "9.0.0"), "v9", "other", Some(1));
    let refused = w.push(&stranger, &other);
    let template = root().join("examples/sam/secure.yaml");
    w.refused(
        &[
            "check",
            template.to_str().unwrap(),
            "--bundle",
            &other,
            "--verify-key",
            &w.p("team.pub"),
        ],
        "no signature by a trusted key",
    );
    let hex = refused.trim_start_matches("sha256:");
    assert!(!w.cache.join(format!("oci/{hex}.bundle")).exists());

    let mut s = Server::start(
        &tag,
        &w.cache,
        &[
            "--verify-key",
            &w.p("team.pub"),
            "--poll",
            "1s",
            "--decision-log",
            "off",
        ],
    );
    // The registry's port now accepts and never answers.
    let addr = reg.addr.clone();
    reg.stop();
    let hang = std::net::TcpListener::bind(&addr).unwrap();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = std::sync::Arc::clone(&held);
    std::thread::spawn(move || {
        for c in hang.incoming().flatten() {
            keep.lock().unwrap().push(c);
        }
    });
    // A poll is under way (its connection is held).
    let until = Instant::now() + Duration::from_secs(20);
    while held.lock().unwrap().is_empty() {
        assert!(Instant::now() < until, "no poll reached the registry");
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    s.signal("TERM");
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "still running {:?} after SIGTERM: {}",
            started.elapsed(),
            s.stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{}", s.stderr.lock().unwrap());
}

/// A plugin alone travels as a CNCF Wasm artifact: `plugin push` writes
/// what skopeo sees as `application/wasm`, `plugin pull` reads it back,
/// and a bundle that names it by digest (`source = "oci://...@sha256:..."`)
/// gets it at `bundle build`, checked against its sha256 pin.
#[test]
fn plugins_travel_as_wasm_artifacts_and_bundles_pin_them() {
    let Some(reg) = Registry::start() else { return };
    let w = Work::new();
    let wasm = root().join("guests/dist/no-debug.wasm");
    let wasm_bytes = std::fs::read(&wasm).unwrap();
    let sha = palisade_engine::sha256_hex(&wasm_bytes);
    let out = w.ok(&[
        "plugin",
        "push",
        wasm.to_str().unwrap(),
        &format!("{}/no-debug:1", reg.oci("plugins")),
    ]);
    let source = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("source = \""))
        .unwrap_or_else(|| panic!("{out}"))
        .trim_end_matches('"')
        .to_owned();
    assert!(source.contains("@sha256:"), "{source}");
    assert!(out.contains(&sha), "{out}");

    // The CNCF layout, as other tools read it.
    let (_, manifest) = reg.manifest("plugins/no-debug:1");
    let manifest: Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(manifest["layers"][0]["digest"], format!("sha256:{sha}"));

    w.ok(&["plugin", "pull", &source, "-o", &w.p("pulled.wasm")]);
    assert!(registry::same_bytes(
        Path::new(&w.p("pulled.wasm")),
        &wasm_bytes
    ));
    // Pulled again over itself is fine; over anything else it is refused.
    w.ok(&["plugin", "pull", &source, "-o", &w.p("pulled.wasm")]);
    std::fs::write(w.p("notes.txt"), "keep me").unwrap();
    w.refused(
        &["plugin", "pull", &source, "-o", &w.p("notes.txt")],
        "exists and is not a WebAssembly file",
    );
    assert_eq!(
        std::fs::read_to_string(w.p("notes.txt")).unwrap(),
        "keep me"
    );
    // A bundle artifact is not a plugin.
    let archive = w.release(&root().join("examples/authz"), "a", "team", None);
    let bundle_tag = format!("{}/not-a-plugin:1", reg.oci("plugins"));
    w.push(&archive, &bundle_tag);
    w.refused(
        &["plugin", "pull", &bundle_tag, "-o", &w.p("b.wasm")],
        "this is not a Wasm artifact",
    );

    // A bundle that names the plugin by digest, without the file.
    let bundle = w.tmp.path().join("b");
    std::fs::create_dir_all(bundle.join("policies")).unwrap();
    std::fs::write(
        bundle.join("policies/p.cedar"),
        "@id(\"deploy\") permit(principal, action, resource);\n",
    )
    .unwrap();
    let manifest = |source: &str, pin: &str| {
        std::fs::write(
            bundle.join("palisade.toml"),
            format!(
                "[bundle]\nname = \"nd\"\nversion = \"1.0.0\"\n\n[[plugin]]\nname = \"no-debug\"\n\
                 path = \"plugins/no-debug.wasm\"\nsha256 = \"{pin}\"\nsource = \"{source}\"\n"
            ),
        )
        .unwrap();
    };
    manifest(&source, &sha);
    let b = bundle.to_str().unwrap();
    // The directory alone lacks the file, and says where it comes from.
    w.refused(&["bundle", "validate", b], "palisade plugin pull");
    let out = w.run(&["bundle", "build", b, "-o", &w.p("nd.bundle")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("fetched plugin `no-debug`"));
    let template = w.tmp.path().join("debug.yaml");
    std::fs::write(&template, common::DEBUG_TEMPLATE).unwrap();
    let out = w.run(&[
        "check",
        template.to_str().unwrap(),
        "--bundle",
        &w.p("nd.bundle"),
        "--format",
        "json",
        "--fail-on",
        "medium",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["findings"][0]["rule_id"],
        "no-debug.function-debug-env"
    );

    // A pin that is not the artifact's, and a tag instead of a digest.
    manifest(&source, &"0".repeat(64));
    w.refused(
        &["bundle", "build", b, "-o", &w.p("bad.bundle")],
        "but palisade.toml pins",
    );
    manifest(&format!("{}/no-debug:1", reg.oci("plugins")), &sha);
    w.refused(
        &["bundle", "validate", b],
        "must be oci://REGISTRY/REPO@sha256:",
    );
    // ... and `bundle build` refuses it without fetching anything first.
    let out = w.run(&["bundle", "build", b, "-o", &w.p("tag.bundle")]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("must be oci://REGISTRY/REPO@sha256:"), "{err}");
    assert!(!err.contains("fetched plugin"), "{err}");
}

/// A registry that asks for a password: refused without credentials (with
/// the registry's reason), accepted with `PALISADE_REGISTRY_USERNAME` and
/// `_PASSWORD`, and with what `docker login` stores in `config.json`.
#[test]
fn credentials_come_from_the_environment_or_docker_config() {
    // bcrypt of "s3cret-pass" (htpasswd -Bbn team s3cret-pass).
    let hash = "$2y$05$hPgYFd2SRg32My4X1V7vdOBhQjv7uxC3kbjDxIo642f5OzAv71G8G";
    let Some(reg) = Registry::start_with_password("team", hash) else {
        return;
    };
    let w = Work::new();
    let archive = w.release(&root().join("examples/authz"), "a", "team", None);
    let tag = format!("{}/authz:1", reg.oci("team"));
    let run_env = |args: &[&str], env: &[(&str, &str)]| w.run_env(args, env);
    let out = run_env(&["bundle", "push", &archive, &tag], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("UNAUTHORIZED"),
        "{}",
        text(&out.stderr)
    );
    let creds = [
        ("PALISADE_REGISTRY_USERNAME", "team"),
        ("PALISADE_REGISTRY_PASSWORD", "s3cret-pass"),
    ];
    let out = run_env(&["bundle", "push", &archive, &tag], &creds);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let wrong = [
        ("PALISADE_REGISTRY_USERNAME", "team"),
        ("PALISADE_REGISTRY_PASSWORD", "guess"),
    ];
    let out = run_env(&["bundle", "pull", &tag, "-o", &w.p("x.bundle")], &wrong);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("Not authorized"),
        "{}",
        text(&out.stderr)
    );
    // `docker login`'s file: {"auths": {"REGISTRY": {"auth": base64(user:pass)}}}.
    let docker = w.tmp.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!(
            "{{\"auths\":{{\"{}\":{{\"auth\":\"dGVhbTpzM2NyZXQtcGFzcw==\"}}}}}}",
            reg.addr
        ),
    )
    .unwrap();
    let out = run_env(
        &["bundle", "pull", &tag, "-o", &w.p("y.bundle")],
        &[("DOCKER_CONFIG", docker.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// A registry that is not on loopback is spoken to over HTTPS only: with
/// its CA in `PALISADE_REGISTRY_CA` the push and pull work; without it the
/// certificate is refused (no silent fallback to plain HTTP).
#[test]
fn a_remote_registry_needs_tls_and_takes_a_custom_ca() {
    // An address of this machine that is not loopback (the interface a
    // route out would use); a machine without one skips.
    let Some(host) = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("192.0.2.1:9")?;
            s.local_addr()
        })
        .ok()
        .map(|a| a.ip())
        .filter(|ip| ip.is_ipv4() && !ip.is_loopback() && !ip.is_unspecified())
    else {
        eprintln!("skipped: no non-loopback IPv4 address");
        return;
    };
    let host = host.to_string();
    let ca = pki::Pki::new("registry CA");
    let Some(reg) = Registry::start_tls(&host, ca.issue(false, &[host.as_str()])) else {
        return;
    };
    let w = Work::new();
    std::fs::write(w.p("ca.pem"), &ca.ca_pem).unwrap();
    let archive = w.release(&root().join("examples/authz"), "a", "team", None);
    let tag = format!("oci://{}/team/authz:1", reg.addr);
    let run = |args: &[&str], ca: Option<&str>| match ca {
        Some(ca) => w.run_env(args, &[("PALISADE_REGISTRY_CA", ca)]),
        None => w.run(args),
    };
    let out = run(&["bundle", "push", &archive, &tag], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).to_lowercase().contains("certificate"),
        "{}",
        text(&out.stderr)
    );
    let ca_path = w.p("ca.pem");
    let out = run(&["bundle", "push", &archive, &tag], Some(&ca_path));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(
        &["bundle", "pull", &tag, "-o", &w.p("x.bundle")],
        Some(&ca_path),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// With the registry down, a run with keys falls back to the last release
/// of the tag that was verified, not to a later unsigned one that a run
/// without keys loaded on the same machine; a run without keys takes the
/// last one loaded.
#[test]
fn the_offline_fallback_with_keys_is_the_last_verified_release() {
    let Some(mut reg) = Registry::start() else {
        return;
    };
    let w = Work::new();
    w.ok(&["bundle", "keygen", &w.p("team")]);
    let tag = format!("{}/authz:live", reg.oci("team"));
    let signed = w.release(&authz_version(&w, "1.0.0"), "v1", "team", Some(1));
    let unsigned = w.release(&authz_version(&w, "2.0.0"), "v2", "team", None);
    let template = root().join("examples/sam/insecure.yaml");
    let template = template.to_str().unwrap();
    let keyed = [
        "check",
        template,
        "--bundle",
        &tag,
        "--verify-key",
        &w.p("team.pub"),
        "--format",
        "json",
    ];
    let keyless = ["check", template, "--bundle", &tag, "--format", "json"];
    w.push(&signed, &tag);
    w.ok_or_findings(&keyed);
    w.push(&unsigned, &tag);
    w.ok_or_findings(&keyless);
    reg.stop();
    let version = |args: &[&str]| {
        let out: Value = serde_json::from_str(&w.ok_or_findings(args)).unwrap();
        out["bundle"]["version"].as_str().unwrap().to_owned()
    };
    assert_eq!(version(&keyed), "1.0.0", "the last verified release");
    assert_eq!(version(&keyless), "2.0.0", "the last loaded release");
}

/// A poll interval under a second would keep a core and the registry busy
/// (each poll sets up a client): refused; 0 turns polling off.
#[test]
fn polls_are_at_least_a_second_apart() {
    let w = Work::new();
    for poll in ["1ms", "999ms"] {
        let out = w.run(&[
            "serve",
            "--bundle",
            "oci://r.example.com/a:1",
            "--poll",
            poll,
        ]);
        assert_eq!(out.status.code(), Some(2), "{poll}");
        assert!(
            text(&out.stderr).contains("at least 1s"),
            "{}",
            text(&out.stderr)
        );
    }
}
