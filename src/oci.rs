//! Bundles in OCI registries: `bundle push`, `bundle pull`, and
//! `--bundle oci://REGISTRY/REPO:TAG` (or `@sha256:...`) wherever a bundle
//! is taken.
//!
//! A bundle is an OCI artifact that any registry stores:
//! - the manifest (`application/vnd.oci.image.manifest.v1+json`, artifact
//!   type [`BUNDLE_ARTIFACT`]), whose sha256 is the *release digest* that
//!   CI records and a gateway pins with `@sha256:...`;
//! - its config ([`BUNDLE_CONFIG`]): the bundle's name, version, digest and
//!   the archive's sha256;
//! - one layer ([`BUNDLE_LAYER`]): the archive, the bytes `bundle build`
//!   wrote.
//!
//! The signature sits beside it under the tag `sha256-<hex>.sig` (`<hex>`:
//! the release digest), as cosign does, since common registries lack the
//! referrers API: a manifest whose one layer ([`SIGNATURE_LAYER`]) is the
//! DSSE envelope of `bundle sign`.
//!
//! Every pull checks every digest (manifest, then layers) and the size a
//! manifest declares before reading a layer. What was pulled is cached by
//! digest (`<cache>/oci`): a digest-pinned bundle is read from the cache
//! without asking the registry, and a tag falls back to the last digest it
//! named when the registry cannot be reached (never when the registry
//! answers with an error or a wrong digest).

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use std::path::PathBuf;
use std::time::Duration;

/// The artifact type of a bundle manifest.
pub const BUNDLE_ARTIFACT: &str = "application/vnd.palisade.bundle.v1";
/// The media type of a bundle's config blob.
pub const BUNDLE_CONFIG: &str = "application/vnd.palisade.bundle.config.v1+json";
/// The media type of the archive layer.
pub const BUNDLE_LAYER: &str = "application/vnd.palisade.bundle.layer.v1.tar+gzip";
/// The media type of a signature layer (a DSSE envelope).
pub const SIGNATURE_LAYER: &str = "application/vnd.dsse.envelope.v1+json";
/// The artifact type of a signature manifest.
pub const SIGNATURE_ARTIFACT: &str = "application/vnd.palisade.bundle.signature.v1";
/// A plugin alone, as the CNCF Wasm OCI artifact layout has it: this
/// config media type and one [`WASM_LAYER`].
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The media type of a Wasm component layer.
pub const WASM_LAYER: &str = "application/wasm";
/// The largest plugin pulled (the engine refuses larger ones).
const MAX_PLUGIN: u64 = 64 << 20;
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The OCI empty descriptor's media type, and its two bytes.
const EMPTY_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY: &[u8] = b"{}";

/// Manifests and configs larger than this are refused.
const MAX_SMALL_BLOB: u64 = 1 << 20;
/// A signature envelope larger than this is refused (as `bundle verify`
/// does for FILE.sig).
const MAX_SIGNATURE: u64 = 64 << 10;
/// Connecting gives up after this long, and a read that stalls after
/// [`READ_TIMEOUT`].
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// No registry operation takes longer than this in all.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(300);

/// Whether `spec` names a registry (`oci://...`).
pub fn is_oci(spec: &str) -> bool {
    spec.starts_with("oci://")
}

/// `oci://REGISTRY/REPO:TAG` or `oci://REGISTRY/REPO@sha256:HEX`, parsed.
/// The registry must be named (no implicit Docker Hub), and a digest must
/// be a sha256.
pub fn parse(spec: &str) -> Result<Reference, String> {
    let shown = crate::output::escape(spec);
    let Some(rest) = spec.strip_prefix("oci://") else {
        return Err(format!("`{shown}` is not an oci:// reference"));
    };
    let first = rest.split('/').next().unwrap_or_default();
    if !rest.contains('/') || !(first.contains('.') || first.contains(':') || first == "localhost")
    {
        return Err(format!(
            "`{shown}`: name the registry, as in oci://registry.example.com/team/rules:1.0"
        ));
    }
    let reference: Reference = rest
        .parse()
        .map_err(|e| format!("`{shown}` is not a valid OCI reference: {e}"))?;
    if let Some(d) = reference.digest()
        && !is_sha256(d)
    {
        return Err(format!(
            "`{shown}`: a digest must be sha256:<64 hex digits>"
        ));
    }
    Ok(reference)
}

fn is_sha256(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", palisade_engine::sha256_hex(bytes))
}

/// Whether the registry's host is this machine: plain HTTP is allowed for
/// loopback only.
fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => registry.split(':').next().unwrap_or_default(),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A client for `reference`'s registry: HTTPS (with the extra CA in
/// `PALISADE_REGISTRY_CA`, a PEM file, if set), plain HTTP for loopback.
fn client(reference: &Reference) -> Result<Client, String> {
    // reqwest's rustls takes the process's provider; the server's TLS
    // uses ring too, so installing it twice is harmless (the second fails).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let registry = reference.resolve_registry().to_owned();
    let mut config = ClientConfig {
        protocol: if is_loopback(&registry) {
            ClientProtocol::HttpsExcept(vec![registry])
        } else {
            ClientProtocol::Https
        },
        connect_timeout: Some(CONNECT_TIMEOUT),
        read_timeout: Some(READ_TIMEOUT),
        user_agent: concat!("palisade/", env!("CARGO_PKG_VERSION")),
        platform_resolver: None,
        ..ClientConfig::default()
    };
    if let Some(ca) = std::env::var_os("PALISADE_REGISTRY_CA") {
        let path = PathBuf::from(ca);
        let pem = crate::source::read_bounded(&path, 1 << 20)
            .map_err(|e| e.describe(&path.display().to_string(), Some("PALISADE_REGISTRY_CA")))?;
        config.extra_root_certificates.push(Certificate {
            encoding: CertificateEncoding::Pem,
            data: pem.into_bytes(),
        });
    }
    Client::try_from(config).map_err(|e| format!("cannot set up the registry client: {e}"))
}

/// Credentials for `registry`: `PALISADE_REGISTRY_USERNAME` and
/// `PALISADE_REGISTRY_PASSWORD`, else what `docker login` stored
/// (`~/.docker/config.json` or `$DOCKER_CONFIG`, credential helpers
/// included), else anonymous.
fn auth(registry: &str) -> RegistryAuth {
    if let (Ok(user), Ok(password)) = (
        std::env::var("PALISADE_REGISTRY_USERNAME"),
        std::env::var("PALISADE_REGISTRY_PASSWORD"),
    ) {
        return RegistryAuth::Basic(user, password);
    }
    match docker_credential::get_credential(registry) {
        Ok(docker_credential::DockerCredential::UsernamePassword(u, p)) => {
            RegistryAuth::Basic(u, p)
        }
        Ok(docker_credential::DockerCredential::IdentityToken(t)) => RegistryAuth::Bearer(t),
        Err(_) => RegistryAuth::Anonymous,
    }
}

/// Runs `work` to completion on a runtime of its own, on a thread of its
/// own (so that it may be called from anywhere, a server's blocking pool
/// included), within [`OPERATION_TIMEOUT`].
fn block_on<T: Send>(
    work: impl std::future::Future<Output = Result<T, Failure>> + Send,
) -> Result<T, Failure> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Failure::Refused(format!("cannot start the registry client: {e}")))?;
            rt.block_on(async {
                tokio::time::timeout(OPERATION_TIMEOUT, work)
                    .await
                    .unwrap_or_else(|_| {
                        Err(Failure::Unreachable(format!(
                            "no answer within {} s",
                            OPERATION_TIMEOUT.as_secs()
                        )))
                    })
            })
        })
        .join()
        .unwrap_or_else(|_| Err(Failure::Refused("the registry client failed".into())))
    })
}

/// Why a registry operation failed.
#[derive(Debug)]
pub enum Failure {
    /// The registry could not be reached (connection, timeout, 5xx): a
    /// cached copy may serve.
    Unreachable(String),
    /// The registry answered, and the answer is refused (not found,
    /// denied, a wrong digest, a malformed artifact): nothing may serve in
    /// its place.
    Refused(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unreachable(m) => write!(f, "the registry cannot be reached: {m}"),
            Failure::Refused(m) => f.write_str(m),
        }
    }
}

/// Sorts a client error: unreachable or refused.
fn failure(what: &str, e: OciDistributionError) -> Failure {
    match &e {
        OciDistributionError::RequestError(r) if r.is_connect() || r.is_timeout() => {
            Failure::Unreachable(format!("{what}: {}", error_chain(r)))
        }
        OciDistributionError::RequestError(r) if r.is_request() || r.is_body() => {
            Failure::Unreachable(format!("{what}: {}", error_chain(r)))
        }
        OciDistributionError::ServerError { code, .. } if *code >= 500 => {
            Failure::Unreachable(format!("{what}: {e}"))
        }
        _ => Failure::Refused(format!("{what}: {e}")),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

fn is_not_found(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NotFound | OciErrorCode::NameUnknown
            )
        }),
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        _ => false,
    }
}

/// The bundle facts a bundle artifact's config carries.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BundleConfig {
    /// The bundle's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The bundle digest (of its files).
    pub digest: String,
    /// `sha256:` of the archive (the layer).
    pub archive_sha256: String,
}

fn descriptor(media_type: &str, bytes: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "mediaType": media_type,
        "digest": sha256(bytes),
        "size": bytes.len(),
    })
}

/// The manifest of an artifact with one layer, as bytes (their sha256 is
/// its digest). Deterministic: the same blobs give the same manifest.
fn artifact_manifest(
    artifact_type: Option<&str>,
    config: (&str, &[u8]),
    layer: (&str, &[u8], &str),
    annotations: serde_json::Value,
) -> Vec<u8> {
    let (media_type, bytes, title) = layer;
    let mut m = serde_json::Map::new();
    m.insert("schemaVersion".into(), 2.into());
    m.insert("mediaType".into(), MANIFEST_TYPE.into());
    if let Some(t) = artifact_type {
        m.insert("artifactType".into(), t.into());
    }
    m.insert("config".into(), descriptor(config.0, config.1));
    let mut layer = descriptor(media_type, bytes);
    if let Some(l) = layer.as_object_mut() {
        l.insert(
            "annotations".into(),
            serde_json::json!({ "org.opencontainers.image.title": title }),
        );
    }
    m.insert("layers".into(), serde_json::Value::Array(vec![layer]));
    m.insert("annotations".into(), annotations);
    serde_json::to_vec(&m).unwrap_or_default()
}

/// What `bundle push` did.
#[derive(Debug)]
pub struct Pushed {
    /// The reference pushed to, pinned: `REGISTRY/REPO@sha256:...`.
    pub pinned: String,
    /// The release digest (of the manifest).
    pub digest: String,
    /// The signature's tag, when a signature was pushed.
    pub signature_tag: Option<String>,
}

/// The tag of the signature of the artifact with `digest`.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

/// Pushes a bundle archive (and its signature envelope, when given) to the
/// tag or digest `spec` names.
pub fn push_bundle(
    spec: &str,
    archive: &[u8],
    config: &BundleConfig,
    signature: Option<&str>,
) -> Result<Pushed, Failure> {
    let reference = parse(spec).map_err(Failure::Refused)?;
    let config_bytes = serde_json::to_vec(config).unwrap_or_default();
    let title = format!("{}-{}.bundle", config.name, config.version);
    let manifest = artifact_manifest(
        Some(BUNDLE_ARTIFACT),
        (BUNDLE_CONFIG, &config_bytes),
        (BUNDLE_LAYER, archive, &title),
        serde_json::json!({
            "org.opencontainers.image.title": config.name,
            "org.opencontainers.image.version": config.version,
        }),
    );
    let digest = sha256(&manifest);
    if let Some(pinned) = reference.digest()
        && pinned != digest
    {
        return Err(Failure::Refused(format!(
            "`{}` pins {pinned}, but this bundle's manifest is {digest}",
            crate::output::escape(spec)
        )));
    }
    push_artifact(&reference, &manifest, &[&config_bytes, archive], signature)
}

/// Pushes the Wasm component `wasm` as a CNCF Wasm OCI artifact (config
/// [`WASM_CONFIG`], one [`WASM_LAYER`]) that other Wasm tools read; `config`
/// is the config blob.
pub fn push_plugin(spec: &str, wasm: &[u8], config: &[u8], title: &str) -> Result<Pushed, Failure> {
    let reference = parse(spec).map_err(Failure::Refused)?;
    let manifest = artifact_manifest(
        None,
        (WASM_CONFIG, config),
        (WASM_LAYER, wasm, title),
        serde_json::json!({ "org.opencontainers.image.title": title }),
    );
    if let Some(pinned) = reference.digest()
        && pinned != sha256(&manifest)
    {
        return Err(Failure::Refused(format!(
            "`{}` pins {pinned}, but this plugin's manifest is {}",
            crate::output::escape(spec),
            sha256(&manifest)
        )));
    }
    push_artifact(&reference, &manifest, &[config, wasm], None)
}

/// Uploads `blobs`, then the signature (when given) under its tag, then
/// `manifest` under `reference`: a follower of the tag never sees a
/// release whose signature is not there yet.
fn push_artifact(
    reference: &Reference,
    manifest: &[u8],
    blobs: &[&[u8]],
    signature: Option<&str>,
) -> Result<Pushed, Failure> {
    let client = client(reference).map_err(Failure::Refused)?;
    let auth = auth(reference.resolve_registry());
    let digest = sha256(manifest);
    let pinned = format!(
        "{}/{}@{digest}",
        reference.registry(),
        reference.repository()
    );
    let signature_tag = signature.map(|_| signature_tag(&digest));
    let content_type = || {
        MANIFEST_TYPE
            .parse::<axum::http::HeaderValue>()
            .map_err(|_| Failure::Refused("bad media type".into()))
    };
    block_on(async {
        client
            .store_auth_if_needed(reference.resolve_registry(), &auth)
            .await;
        // `auth` asks the registry for a push token (a no-op for an open one).
        client
            .auth(reference, &auth, oci_client::RegistryOperation::Push)
            .await
            .map_err(|e| failure("cannot log in to the registry", e))?;
        for blob in blobs {
            client
                .push_blob(reference, blob.to_vec(), &sha256(blob))
                .await
                .map_err(|e| failure("cannot upload a blob", e))?;
        }
        if let (Some(envelope), Some(tag)) = (signature, &signature_tag) {
            let sig_ref = Reference::with_tag(
                reference.registry().to_owned(),
                reference.repository().to_owned(),
                tag.clone(),
            );
            let sig_manifest = artifact_manifest(
                Some(SIGNATURE_ARTIFACT),
                (EMPTY_TYPE, EMPTY),
                (SIGNATURE_LAYER, envelope.as_bytes(), "bundle.sig"),
                serde_json::json!({ "dev.palisade.signature.subject": digest }),
            );
            for blob in [EMPTY, envelope.as_bytes()] {
                client
                    .push_blob(&sig_ref, blob.to_vec(), &sha256(blob))
                    .await
                    .map_err(|e| failure("cannot upload the signature", e))?;
            }
            client
                .push_manifest_raw(&sig_ref, sig_manifest, content_type()?)
                .await
                .map_err(|e| failure("cannot upload the signature", e))?;
        }
        client
            .push_manifest_raw(reference, manifest.to_vec(), content_type()?)
            .await
            .map_err(|e| failure("cannot upload the manifest", e))?;
        Ok(())
    })?;
    Ok(Pushed {
        pinned,
        digest,
        signature_tag,
    })
}

/// Pulls the Wasm component `spec` names (a CNCF Wasm OCI artifact, as
/// `plugin push` writes and other tools do): the manifest is checked
/// against a pinned digest, then the one `application/wasm` layer against
/// its own; at most 64 MiB.
pub fn pull_plugin(spec: &str) -> Result<(Vec<u8>, String), Failure> {
    let reference = parse(spec).map_err(Failure::Refused)?;
    let client = client(&reference).map_err(Failure::Refused)?;
    let auth = auth(reference.resolve_registry());
    block_on(async {
        client
            .store_auth_if_needed(reference.resolve_registry(), &auth)
            .await;
        let (manifest, digest) = pull_manifest(&client, &reference).await?;
        let m: oci_client::manifest::OciImageManifest =
            serde_json::from_slice(&manifest).map_err(|e| {
                Failure::Refused(format!("the manifest is not an OCI image manifest: {e}"))
            })?;
        let wasm_layers: Vec<&OciDescriptor> = m
            .layers
            .iter()
            .filter(|l| l.media_type == WASM_LAYER)
            .collect();
        let [layer] = wasm_layers[..] else {
            return Err(Failure::Refused(format!(
                "a Wasm artifact has one `{WASM_LAYER}` layer; this one has {}",
                wasm_layers.len()
            )));
        };
        if !is_sha256(&layer.digest) || layer.size < 0 || layer.size as u64 > MAX_PLUGIN {
            return Err(Failure::Refused(format!(
                "the Wasm layer `{}` of {} bytes is refused (a sha256 digest and at most {} MiB)",
                layer.digest.escape_debug(),
                layer.size,
                MAX_PLUGIN >> 20
            )));
        }
        let wasm = pull_blob(&client, &reference, layer, MAX_PLUGIN).await?;
        Ok((wasm, digest))
    })
}

/// A bundle had from a registry (or its cache).
#[derive(Debug)]
pub struct Pulled {
    /// The archive's bytes, checked against the manifest.
    pub archive: Vec<u8>,
    /// The signature envelope, when the registry has one for it.
    pub signature: Option<String>,
    /// The release digest (of the manifest).
    pub digest: String,
    /// `REGISTRY/REPO@sha256:...`.
    pub pinned: String,
    /// Why the cache served instead of the registry, if it did.
    pub from_cache: Option<String>,
}

/// The cache of pulled artifacts: `<palisade cache>/oci`.
fn cache_dir() -> Option<PathBuf> {
    crate::source::cache_dir().map(|d| d.join("oci"))
}

/// The cache files of the release `digest`: manifest, archive, signature.
fn cached_paths(dir: &std::path::Path, digest: &str) -> [PathBuf; 3] {
    let hex = digest.trim_start_matches("sha256:");
    [
        dir.join(format!("{hex}.manifest.json")),
        dir.join(format!("{hex}.bundle")),
        dir.join(format!("{hex}.bundle.sig")),
    ]
}

/// The file that remembers which digest a tag named last.
fn tag_path(dir: &std::path::Path, reference: &Reference) -> PathBuf {
    dir.join("tags")
        .join(palisade_engine::sha256_hex(reference.whole().as_bytes()))
}

/// The archive layer a bundle manifest names, checked: one layer of the
/// bundle type, within the archive size limit, a bundle config.
fn bundle_layer(manifest: &[u8]) -> Result<OciDescriptor, String> {
    let m: oci_client::manifest::OciImageManifest = serde_json::from_slice(manifest)
        .map_err(|e| format!("the manifest is not an OCI image manifest: {e}"))?;
    if m.config.media_type != BUNDLE_CONFIG {
        return Err(format!(
            "this is not a Palisade bundle (its config is `{}`, not {BUNDLE_CONFIG})",
            m.config.media_type.escape_debug()
        ));
    }
    let [layer] = &m.layers[..] else {
        return Err(format!(
            "a bundle has one layer; this manifest has {}",
            m.layers.len()
        ));
    };
    if layer.media_type != BUNDLE_LAYER || !is_sha256(&layer.digest) {
        return Err(format!(
            "the bundle layer is `{}` with digest `{}`; expected {BUNDLE_LAYER} with a sha256",
            layer.media_type.escape_debug(),
            layer.digest.escape_debug()
        ));
    }
    let limit = palisade_engine::archive::MAX_ARCHIVE_BYTES;
    if layer.size < 0 || layer.size as u64 > limit {
        return Err(format!(
            "the bundle layer declares {} bytes; archives may be at most {} MiB",
            layer.size,
            limit >> 20
        ));
    }
    Ok(layer.clone())
}

/// Reads a cached release, checking every digest again (a cache file that
/// was changed is not used).
fn read_cached(dir: &std::path::Path, digest: &str) -> Option<(Vec<u8>, Option<String>)> {
    let [manifest_path, archive_path, sig_path] = cached_paths(dir, digest);
    let manifest = std::fs::read(&manifest_path).ok()?;
    if sha256(&manifest) != digest {
        return None;
    }
    let layer = bundle_layer(&manifest).ok()?;
    let archive = crate::source::read_archive(&archive_path).ok()?;
    if sha256(&archive) != layer.digest {
        return None;
    }
    let signature = crate::source::read_bounded(&sig_path, MAX_SIGNATURE).ok();
    Some((archive, signature))
}

fn write_cache(dir: &std::path::Path, reference: &Reference, pulled: &Pulled, manifest: &[u8]) {
    let [manifest_path, archive_path, sig_path] = cached_paths(dir, &pulled.digest);
    let tags = dir.join("tags");
    if std::fs::create_dir_all(&tags).is_err() {
        return;
    }
    // A cache that cannot be written is no error: the pull worked.
    let _ = crate::source::write_atomically(&archive_path, &pulled.archive)
        .and_then(|()| crate::source::write_atomically(&manifest_path, manifest));
    match &pulled.signature {
        Some(s) => {
            let _ = crate::source::write_atomically(&sig_path, s.as_bytes());
        }
        None => {
            let _ = std::fs::remove_file(&sig_path);
        }
    }
    if reference.tag().is_some() && reference.digest().is_none() {
        let _ = crate::source::write_atomically(
            &tag_path(dir, reference),
            format!("{}\n{}\n", reference.whole(), pulled.digest).as_bytes(),
        );
    }
}

/// Reads at most `limit` bytes of a blob, checking its digest.
async fn pull_blob(
    client: &Client,
    reference: &Reference,
    layer: &OciDescriptor,
    limit: u64,
) -> Result<Vec<u8>, Failure> {
    use futures_util::StreamExt as _;
    let mut stream = client
        .pull_blob_stream(reference, layer)
        .await
        .map_err(|e| failure("cannot download a layer", e))?;
    if stream.content_length.is_some_and(|n| n > limit) {
        return Err(Failure::Refused(format!(
            "the layer {} is larger than {limit} bytes: refused",
            layer.digest
        )));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.stream.next().await {
        let chunk = chunk.map_err(|e| {
            Failure::Refused(format!("cannot download the layer {}: {e}", layer.digest))
        })?;
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > limit {
            return Err(Failure::Refused(format!(
                "the layer {} is larger than {limit} bytes: refused",
                layer.digest
            )));
        }
    }
    if sha256(&bytes) != layer.digest {
        return Err(Failure::Refused(format!(
            "the layer downloaded is {}, not {} as its manifest says: refused",
            sha256(&bytes),
            layer.digest
        )));
    }
    Ok(bytes)
}

/// The manifest `reference` names, as bytes, with its digest (computed,
/// and equal to the reference's digest when it has one).
async fn pull_manifest(
    client: &Client,
    reference: &Reference,
) -> Result<(Vec<u8>, String), Failure> {
    let (body, _) = client
        .pull_manifest_raw(reference, &RegistryAuth::Anonymous, &[MANIFEST_TYPE])
        .await
        .map_err(|e| {
            if is_not_found(&e) {
                Failure::Refused(format!("`{}` is not in the registry", reference.whole()))
            } else {
                failure("cannot read the manifest", e)
            }
        })?;
    if body.len() as u64 > MAX_SMALL_BLOB {
        return Err(Failure::Refused(format!(
            "the manifest of `{}` is larger than {MAX_SMALL_BLOB} bytes: refused",
            reference.whole()
        )));
    }
    let digest = sha256(&body);
    if let Some(pinned) = reference.digest()
        && pinned != digest
    {
        return Err(Failure::Refused(format!(
            "the registry sent a manifest whose digest is {digest}, not {pinned}: refused"
        )));
    }
    Ok((body.to_vec(), digest))
}

/// The signature envelope of the release `digest`, if there is one.
async fn pull_signature(
    client: &Client,
    reference: &Reference,
    digest: &str,
) -> Result<Option<String>, Failure> {
    let sig_ref = Reference::with_tag(
        reference.registry().to_owned(),
        reference.repository().to_owned(),
        signature_tag(digest),
    );
    let manifest = match client
        .pull_manifest_raw(&sig_ref, &RegistryAuth::Anonymous, &[MANIFEST_TYPE])
        .await
    {
        Ok((body, _)) => body,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(failure("cannot read the signature", e)),
    };
    let m: oci_client::manifest::OciImageManifest = serde_json::from_slice(&manifest)
        .map_err(|e| Failure::Refused(format!("the signature manifest is malformed: {e}")))?;
    let [layer] = &m.layers[..] else {
        return Err(Failure::Refused(
            "the signature manifest must have one layer".into(),
        ));
    };
    if layer.media_type != SIGNATURE_LAYER || !is_sha256(&layer.digest) {
        return Err(Failure::Refused(format!(
            "the signature layer is `{}`, not {SIGNATURE_LAYER}",
            layer.media_type.escape_debug()
        )));
    }
    let bytes = pull_blob(client, &sig_ref, layer, MAX_SIGNATURE).await?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| Failure::Refused("the signature is not UTF-8".into()))
}

/// The release digest a tag names now: one manifest request (HEAD), for
/// polls. A digest reference is its own answer.
pub fn resolve(spec: &str) -> Result<String, Failure> {
    let reference = parse(spec).map_err(Failure::Refused)?;
    if let Some(d) = reference.digest() {
        return Ok(d.to_owned());
    }
    let client = client(&reference).map_err(Failure::Refused)?;
    let auth = auth(reference.resolve_registry());
    block_on(async {
        let digest = client
            .fetch_manifest_digest(&reference, &auth)
            .await
            .map_err(|e| {
                if is_not_found(&e) {
                    Failure::Refused(format!("`{}` is not in the registry", reference.whole()))
                } else {
                    failure("cannot read the manifest", e)
                }
            })?;
        if !is_sha256(&digest) {
            return Err(Failure::Refused(format!(
                "the registry names `{}` by `{}`, not a sha256 digest",
                reference.whole(),
                digest.escape_debug()
            )));
        }
        Ok(digest)
    })
}

/// Pulls the bundle `spec` names (with its signature, if any), or reads it
/// from the cache: a digest reference that was pulled before never asks
/// the registry; a tag does, and uses the digest it named last only when
/// the registry cannot be reached.
pub fn pull_bundle(spec: &str) -> Result<Pulled, Failure> {
    let reference = parse(spec).map_err(Failure::Refused)?;
    let cache = cache_dir();
    let repo = format!("{}/{}", reference.registry(), reference.repository());
    if let (Some(dir), Some(digest)) = (&cache, reference.digest())
        && let Some((archive, signature)) = read_cached(dir, digest)
    {
        return Ok(Pulled {
            archive,
            signature,
            digest: digest.to_owned(),
            pinned: format!("{repo}@{digest}"),
            from_cache: None,
        });
    }
    let client = client(&reference).map_err(Failure::Refused)?;
    let auth = auth(reference.resolve_registry());
    let online = block_on(async {
        client
            .store_auth_if_needed(reference.resolve_registry(), &auth)
            .await;
        let (manifest, digest) = pull_manifest(&client, &reference).await?;
        let layer = bundle_layer(&manifest).map_err(Failure::Refused)?;
        let cached = cache.as_deref().and_then(|d| read_cached(d, &digest));
        let archive = match cached {
            Some((archive, _)) => archive,
            None => {
                pull_blob(
                    &client,
                    &reference,
                    &layer,
                    palisade_engine::archive::MAX_ARCHIVE_BYTES,
                )
                .await?
            }
        };
        let signature = pull_signature(&client, &reference, &digest).await?;
        Ok((manifest, digest, archive, signature))
    });
    match online {
        Ok((manifest, digest, archive, signature)) => {
            let pulled = Pulled {
                archive,
                signature,
                pinned: format!("{repo}@{digest}"),
                digest,
                from_cache: None,
            };
            if let Some(dir) = &cache {
                write_cache(dir, &reference, &pulled, &manifest);
            }
            Ok(pulled)
        }
        Err(Failure::Unreachable(why)) => {
            let fallback = cache.as_deref().and_then(|dir| {
                let text = std::fs::read_to_string(tag_path(dir, &reference)).ok()?;
                let mut lines = text.lines();
                (lines.next()? == reference.whole()).then_some(())?;
                let digest = lines.next()?.to_owned();
                let (archive, signature) = read_cached(dir, &digest)?;
                Some(Pulled {
                    archive,
                    signature,
                    pinned: format!("{repo}@{digest}"),
                    digest,
                    from_cache: Some(format!("the registry cannot be reached: {why}")),
                })
            });
            fallback.ok_or_else(|| {
                Failure::Unreachable(format!(
                    "{why} (and no copy of `{}` is cached)",
                    reference.whole()
                ))
            })
        }
        Err(refused) => Err(refused),
    }
}
