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
const ACCEPTED_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
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
/// A manifest, signature or login answer must be complete within this.
const SMALL_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// No registry operation (a whole pull or push) takes longer than this.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(120);
const USER_AGENT: &str = concat!("palisade/", env!("CARGO_PKG_VERSION"));

/// Whether `spec` names a registry (`oci://...`).
pub fn is_oci(spec: &str) -> bool {
    spec.get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("oci://"))
}

/// `oci://REGISTRY/REPO:TAG` or `oci://REGISTRY/REPO@sha256:HEX`, parsed.
/// The registry must be named (no implicit Docker Hub), and a digest must
/// be a sha256.
///
/// The grammar is the distribution spec's, checked by hand (the regex
/// `oci-spec` compiles for it costs tens of milliseconds per process):
/// `HOST[:PORT]/COMPONENT(/COMPONENT)*` with lowercase components
/// (`[a-z0-9]+` joined by `.`, `_`, `__` or dashes), then `:TAG`,
/// `@sha256:HEX` or both; neither means `:latest`.
pub fn parse(spec: &str) -> Result<Reference, String> {
    let shown = crate::output::escape(&crate::output::shorten(spec, 200)).into_owned();
    let Some(rest) = spec.strip_prefix("oci://") else {
        return Err(format!(
            "`{shown}` is not an oci:// reference (the scheme is written in lowercase)"
        ));
    };
    let bad = |what: &str| format!("`{shown}` is not a valid OCI reference: {what}");
    if rest.split('/').next().is_some_and(|h| h.contains('@')) {
        return Err(format!(
            "`{shown}`: credentials do not go in a reference; set PALISADE_REGISTRY_USERNAME and PALISADE_REGISTRY_PASSWORD, or use docker login"
        ));
    }
    let (rest, digest) = match rest.split_once('@') {
        Some((r, d)) if is_sha256(d) => (r, Some(d)),
        Some(_) => {
            return Err(format!(
                "`{shown}`: a digest must be sha256:<64 hex digits>"
            ));
        }
        None => (rest, None),
    };
    let Some((host, path)) = rest.split_once('/') else {
        return Err(format!(
            "`{shown}`: name the registry and the repository, as in oci://registry.example.com/team/rules:1.0"
        ));
    };
    let (name, tag) = match path.rsplit_once(':') {
        Some((n, t)) => (n, Some(t)),
        None => (path, None),
    };
    if host.starts_with('[') {
        return Err(bad(
            "IPv6 registry addresses are not supported; use a host name",
        ));
    }
    let (hostname, port) = match host.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (host, None),
    };
    if let Some(p) = port
        && (p.is_empty()
            || !p.bytes().all(|b| b.is_ascii_digit())
            || p.starts_with('0')
            || p.parse::<u16>().is_err())
    {
        return Err(format!("`{shown}`: `{}` is not a port", p.escape_debug()));
    }
    // One spelling per registry: a host the HTTP client would rewrite
    // (`127.1`, `0x7f.0.0.1`, `LOCALHOST`) would be cached and shown under a
    // name other than the one contacted.
    let numeric = hostname
        .rsplit('.')
        .next()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()) || l.starts_with("0x"));
    if hostname.bytes().any(|b| b.is_ascii_uppercase())
        || (numeric && hostname.parse::<std::net::Ipv4Addr>().is_err())
    {
        return Err(bad(
            "write the registry host in lowercase, or as a dotted IPv4 address",
        ));
    }
    let host_ok = !hostname.is_empty()
        && hostname.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if !host_ok {
        return Err(bad("the registry is not a host name or address"));
    }
    if !(hostname.contains('.') || port.is_some() || hostname == "localhost") {
        return Err(format!(
            "`{shown}`: name the registry, as in oci://registry.example.com/team/rules:1.0"
        ));
    }
    if name.len() > 255 {
        return Err(bad("the repository name is longer than 255 characters"));
    }
    if name.is_empty() || !name.split('/').all(is_path_component) {
        return Err(bad(
            "the repository is lowercase letters and digits, joined by `.`, `_`, `__` or `-`, in `/`-separated parts",
        ));
    }
    if let Some(t) = tag
        && !is_tag(t)
    {
        return Err(bad(
            "a tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
        ));
    }
    let (host, name) = (host.to_owned(), name.to_owned());
    Ok(match (tag, digest) {
        (Some(t), Some(d)) => {
            Reference::with_tag_and_digest(host, name, t.to_owned(), d.to_owned())
        }
        (None, Some(d)) => Reference::with_digest(host, name, d.to_owned()),
        (Some(t), None) => Reference::with_tag(host, name, t.to_owned()),
        (None, None) => Reference::with_tag(host, name, "latest".to_owned()),
    })
}

/// `[a-z0-9]+` joined by one separator (`.`, `_`, `__`, or dashes).
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: &u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !b.first().is_some_and(alnum) || !b.last().is_some_and(alnum) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if b.get(i).is_some_and(alnum) {
            i += 1;
            continue;
        }
        // A separator: `.`, `_`, `__`, or a run of `-`.
        let start = i;
        match b.get(i) {
            Some(b'.') => i += 1,
            Some(b'_') => {
                i += 1;
                if b.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            Some(b'-') => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || !b.get(i).is_some_and(alnum) {
            return false;
        }
    }
    true
}

/// `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
fn is_tag(t: &str) -> bool {
    let ok = |x: u8| x.is_ascii_alphanumeric() || x == b'_' || x == b'.' || x == b'-';
    t.len() <= 128
        && t.bytes()
            .next()
            .is_some_and(|x| x.is_ascii_alphanumeric() || x == b'_')
        && t.bytes().all(ok)
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

/// One operation's connection to a registry: `oci-client` for the
/// protocol, and a plain HTTP client (the same TLS settings) for the reads
/// whose size `oci-client` does not bound (manifests) and for checking
/// where credentials would go.
struct Session {
    oci: Client,
    http: reqwest::Client,
    auth: RegistryAuth,
    /// `http` for loopback, else `https`.
    scheme: &'static str,
}

impl Session {
    /// HTTPS (with the extra CA in `PALISADE_REGISTRY_CA`, a PEM file, if
    /// set), plain HTTP for loopback.
    fn new(reference: &Reference) -> Result<Session, String> {
        // reqwest's rustls takes the process's provider; the server's TLS
        // uses ring too, so installing it twice is harmless (the second fails).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let registry = reference.resolve_registry().to_owned();
        let loopback = is_loopback(&registry);
        let ca = match std::env::var_os("PALISADE_REGISTRY_CA") {
            Some(ca) => {
                let path = PathBuf::from(ca);
                let pem = crate::source::read_bounded(&path, 1 << 20).map_err(|e| {
                    e.describe(&path.display().to_string(), Some("PALISADE_REGISTRY_CA"))
                })?;
                Some(pem.into_bytes())
            }
            None => None,
        };
        let mut config = ClientConfig {
            protocol: if loopback {
                ClientProtocol::HttpsExcept(vec![registry.clone()])
            } else {
                ClientProtocol::Https
            },
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            user_agent: USER_AGENT,
            platform_resolver: None,
            ..ClientConfig::default()
        };
        let mut http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::limited(5));
        if let Some(pem) = ca {
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| format!("PALISADE_REGISTRY_CA: not a PEM certificate: {e}"))?;
            http = http.tls_certs_merge([cert]);
            config.extra_root_certificates.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data: pem,
            });
        }
        Ok(Session {
            oci: Client::try_from(config)
                .map_err(|e| format!("cannot set up the registry client: {e}"))?,
            http: http
                .build()
                .map_err(|e| format!("cannot set up the registry client: {e}"))?,
            auth: credentials(&registry),
            scheme: if loopback { "http" } else { "https" },
        })
    }

    /// Logs in for `op` on `reference`'s repository: the token (if the
    /// registry uses them) is kept for the requests that follow. Refuses
    /// to hand credentials to a token server over plain HTTP off this
    /// machine.
    async fn login(
        &self,
        reference: &Reference,
        op: oci_client::RegistryOperation,
    ) -> Result<Option<String>, Failure> {
        if !matches!(self.auth, RegistryAuth::Anonymous) {
            let url = format!("{}://{}/v2/", self.scheme, reference.resolve_registry());
            let probe = self
                .http
                .get(&url)
                .timeout(SMALL_READ_TIMEOUT)
                .send()
                .await
                .map_err(|e| request_failure("cannot reach the registry", &e))?;
            if let Some(realm) = probe
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(bearer_realm)
                && !realm_is_safe(realm)
            {
                return Err(Failure::Refused(format!(
                    "the registry sends credentials to a token server that is not HTTPS, or not on this machine over HTTP ({}): refused",
                    realm.escape_debug()
                )));
            }
        }
        self.oci
            .auth(reference, &self.auth, op)
            .await
            .map_err(|e| failure("cannot log in to the registry", e))
    }

    /// A request for the manifest `reference` names, and its URL. Other
    /// kinds than an OCI image manifest are asked for too, so that a
    /// registry answers with what the tag is and a refusal can name it.
    fn manifest_request(
        &self,
        method: reqwest::Method,
        reference: &Reference,
    ) -> (String, reqwest::RequestBuilder) {
        let which = reference.digest().or(reference.tag()).unwrap_or("latest");
        let url = format!(
            "{}://{}/v2/{}/manifests/{which}",
            self.scheme,
            reference.resolve_registry(),
            reference.repository()
        );
        let request = self
            .http
            .request(method, &url)
            .header(reqwest::header::ACCEPT, ACCEPTED_MANIFESTS)
            .timeout(SMALL_READ_TIMEOUT);
        (url, request)
    }

    /// The digest of the manifest `reference` names, by one HEAD request
    /// with the session's own credentials (basic ones, which go only to
    /// the registry itself); `None` when that does not answer it (a token
    /// is wanted, or no digest header came back).
    async fn head_digest(&self, reference: &Reference) -> Result<Option<String>, Failure> {
        let (url, mut request) = self.manifest_request(reqwest::Method::HEAD, reference);
        match &self.auth {
            RegistryAuth::Basic(u, p) => request = request.basic_auth(u, Some(p)),
            RegistryAuth::Anonymous => {}
            // An identity token is exchanged at login.
            RegistryAuth::Bearer(_) => return Ok(None),
        }
        let response = request
            .send()
            .await
            .map_err(|e| request_failure("cannot read the manifest", &e))?;
        let status = response.status();
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(Failure::Unreachable(format!(
                "cannot read the manifest: {url} answered {status}"
            )));
        }
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(Failure::Refused(format!(
                "`{}` is not in the registry",
                reference.whole()
            )));
        }
        if !status.is_success() {
            return Ok(None);
        }
        Ok(response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .filter(|d| is_sha256(d))
            .map(str::to_owned))
    }

    /// The manifest `reference` names, at most [`MAX_SMALL_BLOB`] bytes
    /// (refused as soon as a larger one shows, before it is read), or
    /// `None` when the registry has none.
    async fn manifest(
        &self,
        reference: &Reference,
        token: Option<&str>,
    ) -> Result<Option<Vec<u8>>, Failure> {
        let (url, mut request) = self.manifest_request(reqwest::Method::GET, reference);
        request = match (token, &self.auth) {
            (Some(t), _) => request.bearer_auth(t),
            (None, RegistryAuth::Basic(u, p)) => request.basic_auth(u, Some(p)),
            (None, RegistryAuth::Bearer(t)) => request.bearer_auth(t),
            (None, RegistryAuth::Anonymous) => request,
        };
        let response = request
            .send()
            .await
            .map_err(|e| request_failure("cannot read the manifest", &e))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        // A registry that fails or asks to slow down (429) may be served
        // from the cache.
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(Failure::Unreachable(format!(
                "cannot read the manifest: {url} answered {status}"
            )));
        }
        if !status.is_success() {
            return Err(Failure::Refused(format!(
                "cannot read the manifest: {url} answered {status}{}",
                if status == reqwest::StatusCode::UNAUTHORIZED
                    || status == reqwest::StatusCode::FORBIDDEN
                {
                    " (Not authorized: check PALISADE_REGISTRY_USERNAME/_PASSWORD or docker login)"
                } else {
                    ""
                }
            )));
        }
        read_capped(response, MAX_SMALL_BLOB, "the manifest")
            .await
            .map(Some)
    }
}

/// Whether credentials may go to the token server `realm`: HTTPS, or plain
/// HTTP on loopback, judged on the URL as the HTTP client will read it
/// (`HTTP://`, `http:/host` and a leading space all normalize to http).
fn realm_is_safe(realm: &str) -> bool {
    match reqwest::Url::parse(realm) {
        Ok(url) => match url.scheme() {
            "https" => true,
            "http" => url.host_str().is_some_and(|h| {
                h == "localhost"
                    || h.trim_matches(['[', ']'])
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }),
            _ => false,
        },
        Err(_) => false,
    }
}

/// `realm` of a `Bearer` challenge.
fn bearer_realm(challenge: &str) -> Option<&str> {
    let rest = challenge.trim_start();
    if !rest.get(..6)?.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let at = rest.find("realm=\"")? + "realm=\"".len();
    let realm = rest.get(at..)?;
    realm.split('"').next()
}

/// Reads a response body of at most `limit` bytes: refused as soon as
/// the declared length or the bytes read pass it.
async fn read_capped(
    mut response: reqwest::Response,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, Failure> {
    let too_large = || Failure::Refused(format!("{what} is larger than {limit} bytes: refused"));
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| request_failure(&format!("cannot read {what}"), &e))?
    {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > limit {
            return Err(too_large());
        }
    }
    Ok(body)
}

fn request_failure(what: &str, e: &reqwest::Error) -> Failure {
    let message = format!("{what}: {}", error_chain(e));
    if e.is_connect() || e.is_timeout() || e.is_request() {
        Failure::Unreachable(message)
    } else {
        Failure::Refused(message)
    }
}

/// Credentials for `registry`: `PALISADE_REGISTRY_USERNAME` and
/// `PALISADE_REGISTRY_PASSWORD`, else what `docker login` stored
/// (`~/.docker/config.json` or `$DOCKER_CONFIG`, credential helpers
/// included), else anonymous.
fn credentials(registry: &str) -> RegistryAuth {
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
        OciDistributionError::ServerError { code, .. } if *code >= 500 || *code == 429 => {
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
    if let Some(tag) = reference.tag()
        && tag.starts_with("sha256-")
        && tag.ends_with(".sig")
    {
        return Err(Failure::Refused(format!(
            "`{}` is where a release's signature goes: push to another tag",
            tag.escape_debug()
        )));
    }
    let session = Session::new(reference).map_err(Failure::Refused)?;
    let client = &session.oci;
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
        // A push token (none for an open registry), kept for what follows.
        session
            .login(reference, oci_client::RegistryOperation::Push)
            .await?;
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
    let session = Session::new(&reference).map_err(Failure::Refused)?;
    block_on(async {
        let token = session
            .login(&reference, oci_client::RegistryOperation::Pull)
            .await?;
        let (manifest, digest) = pull_manifest(&session, &reference, token.as_deref()).await?;
        let m = image_manifest(&manifest).map_err(Failure::Refused)?;
        if m.config.media_type != WASM_CONFIG {
            return Err(Failure::Refused(format!(
                "this is not a Wasm artifact (its config is `{}`, not {WASM_CONFIG})",
                m.config.media_type.escape_debug()
            )));
        }
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
        let wasm = pull_blob(&session.oci, &reference, layer, MAX_PLUGIN).await?;
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

/// The file that remembers which release a tag named last when it was
/// loaded; with `verified`, the last one whose signature was verified
/// (what a run with keys falls back to).
fn tag_path(dir: &std::path::Path, reference: &Reference, verified: bool) -> PathBuf {
    let name = palisade_engine::sha256_hex(reference.whole().as_bytes());
    dir.join("tags").join(if verified {
        format!("{name}.verified")
    } else {
        name
    })
}

/// A manifest's JSON as an OCI image manifest: an image index (several
/// platforms) or another media type is refused with its name.
fn image_manifest(bytes: &[u8]) -> Result<oci_client::manifest::OciImageManifest, String> {
    #[derive(serde::Deserialize)]
    struct Kind {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    let kind: Kind = serde_json::from_slice(bytes)
        .map_err(|e| format!("the manifest is not JSON of an OCI manifest: {e}"))?;
    if let Some(t) = kind.media_type.filter(|t| t != MANIFEST_TYPE) {
        return Err(format!(
            "the manifest is a `{}`, not an OCI image manifest ({MANIFEST_TYPE}) as a bundle or a plugin is",
            t.escape_debug()
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| format!("the manifest is not an OCI image manifest: {e}"))
}

/// The archive layer a bundle manifest names, checked: one layer of the
/// bundle type, within the archive size limit, a bundle config.
fn bundle_layer(manifest: &[u8]) -> Result<OciDescriptor, String> {
    let m = image_manifest(manifest)?;
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

/// Writes a cache file by a new file renamed over the old name: whatever
/// was there (a FIFO, a link) is replaced, never written through. A cache
/// that cannot be written is no error: the pull itself worked.
fn write_cache_file(path: &std::path::Path, bytes: &[u8]) {
    use std::io::Write as _;
    let Some(name) = path.file_name() else { return };
    let mut temp = name.to_owned();
    temp.push(format!(".{}.tmp", std::process::id()));
    let temp = path.with_file_name(temp);
    let _ = std::fs::remove_file(&temp);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()));
    if written.is_err() || std::fs::rename(&temp, path).is_err() {
        let _ = std::fs::remove_file(&temp);
    }
}

/// A cached release: its manifest (checked against `digest`) and archive
/// (checked against the manifest), and the signature last seen with it.
fn read_cached(dir: &std::path::Path, digest: &str) -> Option<(Vec<u8>, Option<String>)> {
    let [manifest_path, archive_path, sig_path] = cached_paths(dir, digest);
    let read = |path: &std::path::Path, limit| crate::source::read_bounded_bytes(path, limit).ok();
    let manifest = read(&manifest_path, MAX_SMALL_BLOB)?;
    if sha256(&manifest) != digest {
        return None;
    }
    let layer = bundle_layer(&manifest).ok()?;
    let archive = read(&archive_path, palisade_engine::archive::MAX_ARCHIVE_BYTES)?;
    if sha256(&archive) != layer.digest {
        return None;
    }
    let signature = crate::source::read_bounded(&sig_path, MAX_SIGNATURE).ok();
    Some((archive, signature))
}

fn write_cache(dir: &std::path::Path, pulled: &Pulled, manifest: &[u8]) {
    let [manifest_path, archive_path, sig_path] = cached_paths(dir, &pulled.digest);
    if std::fs::create_dir_all(dir.join("tags")).is_err() {
        return;
    }
    write_cache_file(&archive_path, &pulled.archive);
    write_cache_file(&manifest_path, manifest);
    match &pulled.signature {
        Some(s) => write_cache_file(&sig_path, s.as_bytes()),
        None => {
            let _ = std::fs::remove_file(&sig_path);
        }
    }
}

/// Removes the cached files of the release `digest`, which was refused:
/// a refused release is not kept (archives may be 256 MiB each).
/// One that a tag remembers (it loaded before, say with other keys) stays.
pub fn forget(digest: &str) {
    let Some(dir) = cache_dir() else { return };
    if !is_sha256(digest) {
        return;
    }
    let remembered = std::fs::read_dir(dir.join("tags"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .take(10_000)
        .any(|e| {
            crate::source::read_bounded(&e.path(), 64 << 10)
                .is_ok_and(|record| record.lines().any(|l| l == digest))
        });
    if remembered {
        return;
    }
    for path in cached_paths(&dir, digest) {
        let _ = std::fs::remove_file(path);
    }
}

/// Records that the tag `spec` named the release `digest`, once it was
/// loaded (and whether its signature was `verified`): the release it falls
/// back to when the registry cannot be reached. A refused release is never
/// recorded, and a run with keys falls back only to a verified one.
pub fn remember(spec: &str, digest: &str, verified: bool) {
    let (Ok(reference), Some(dir)) = (parse(spec), cache_dir()) else {
        return;
    };
    if reference.digest().is_some() || !is_sha256(digest) {
        return;
    }
    if std::fs::create_dir_all(dir.join("tags")).is_ok() {
        let record = format!("{}\n{digest}\n", reference.whole());
        write_cache_file(&tag_path(&dir, &reference, false), record.as_bytes());
        if verified {
            write_cache_file(&tag_path(&dir, &reference, true), record.as_bytes());
        }
    }
}

/// Reads at most `limit` bytes of a blob, and no more than its descriptor
/// declares, checking its digest.
async fn pull_blob(
    client: &Client,
    reference: &Reference,
    layer: &OciDescriptor,
    limit: u64,
) -> Result<Vec<u8>, Failure> {
    use futures_util::StreamExt as _;
    let declared = u64::try_from(layer.size).unwrap_or(0);
    let too_large = || {
        Failure::Refused(if declared > limit {
            format!(
                "the layer {} declares {declared} bytes; at most {limit} are read: refused",
                layer.digest
            )
        } else {
            format!(
                "the layer {} is larger than the {declared} bytes its manifest declares: refused",
                layer.digest
            )
        })
    };
    if declared > limit {
        return Err(too_large());
    }
    let limit = declared;
    let mut stream = client
        .pull_blob_stream(reference, layer)
        .await
        .map_err(|e| failure("cannot download a layer", e))?;
    if stream.content_length.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.stream.next().await {
        let chunk = chunk.map_err(|e| {
            Failure::Refused(format!("cannot download the layer {}: {e}", layer.digest))
        })?;
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > limit {
            return Err(too_large());
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
/// and equal to the reference's digest when it has one), with the pull
/// `token` of [`Session::login`].
async fn pull_manifest(
    session: &Session,
    reference: &Reference,
    token: Option<&str>,
) -> Result<(Vec<u8>, String), Failure> {
    let Some(body) = session.manifest(reference, token).await? else {
        return Err(Failure::Refused(format!(
            "`{}` is not in the registry",
            reference.whole()
        )));
    };
    let digest = sha256(&body);
    if let Some(pinned) = reference.digest()
        && pinned != digest
    {
        return Err(Failure::Refused(format!(
            "the registry sent a manifest whose digest is {digest}, not {pinned}: refused"
        )));
    }
    Ok((body, digest))
}

/// The signature envelope of the release `digest`, if there is one (the
/// same repository: the same pull `token`).
async fn pull_signature(
    session: &Session,
    reference: &Reference,
    token: Option<&str>,
    digest: &str,
) -> Result<Option<String>, Failure> {
    let sig_ref = Reference::with_tag(
        reference.registry().to_owned(),
        reference.repository().to_owned(),
        signature_tag(digest),
    );
    let Some(manifest) = session.manifest(&sig_ref, token).await? else {
        return Ok(None);
    };
    let m = image_manifest(&manifest)
        .map_err(|e| Failure::Refused(format!("the signature's manifest: {e}")))?;
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
    let bytes = pull_blob(&session.oci, &sig_ref, layer, MAX_SIGNATURE).await?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| Failure::Refused("the signature is not UTF-8".into()))
}

/// The release digest a tag names now, for polls: one manifest request
/// (HEAD, after the login probe). A digest reference is its own answer.
pub fn resolve(spec: &str) -> Result<String, Failure> {
    let reference = parse(spec).map_err(Failure::Refused)?;
    if let Some(d) = reference.digest() {
        return Ok(d.to_owned());
    }
    let session = Session::new(&reference).map_err(Failure::Refused)?;
    block_on(async {
        // One request when the registry answers it as it is (anonymous or
        // basic credentials); a registry that wants a token gets a login.
        if let Some(digest) = session.head_digest(&reference).await? {
            return Ok(digest);
        }
        session
            .login(&reference, oci_client::RegistryOperation::Pull)
            .await?;
        let digest = tokio::time::timeout(
            SMALL_READ_TIMEOUT,
            session.oci.fetch_manifest_digest(&reference, &session.auth),
        )
        .await
        .map_err(|_| Failure::Unreachable("no answer to the manifest request".into()))?
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

/// Pulls the bundle `spec` names with its signature (if any). The archive
/// of a release cached before is not downloaded again. When the registry
/// cannot be reached, a digest reference is served from the cache, and a
/// tag from the release it named when last loaded (`verified_only`: last
/// loaded with its signature verified); a registry that
/// answers with an error or a wrong digest never falls back.
pub fn pull_bundle(spec: &str, verified_only: bool) -> Result<Pulled, Failure> {
    let reference = parse(spec).map_err(Failure::Refused)?;
    let cache = cache_dir();
    let repo = format!("{}/{}", reference.registry(), reference.repository());
    let session = Session::new(&reference).map_err(Failure::Refused)?;
    let online = block_on(async {
        let token = session
            .login(&reference, oci_client::RegistryOperation::Pull)
            .await?;
        let (manifest, digest) = pull_manifest(&session, &reference, token.as_deref()).await?;
        let layer = bundle_layer(&manifest).map_err(Failure::Refused)?;
        let cached = cache.as_deref().and_then(|d| read_cached(d, &digest));
        let archive = match cached {
            Some((archive, _)) => archive,
            None => {
                pull_blob(
                    &session.oci,
                    &reference,
                    &layer,
                    palisade_engine::archive::MAX_ARCHIVE_BYTES,
                )
                .await?
            }
        };
        let signature = pull_signature(&session, &reference, token.as_deref(), &digest).await?;
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
                write_cache(dir, &pulled, &manifest);
            }
            Ok(pulled)
        }
        Err(Failure::Unreachable(why)) => {
            let fallback = cache.as_deref().and_then(|dir| {
                let digest = match reference.digest() {
                    Some(d) => d.to_owned(),
                    None => {
                        let path = tag_path(dir, &reference, verified_only);
                        let text = crate::source::read_bounded(&path, 4096).ok()?;
                        let mut lines = text.lines();
                        (lines.next()? == reference.whole()).then_some(())?;
                        lines.next().filter(|d| is_sha256(d))?.to_owned()
                    }
                };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_follow_the_distribution_grammar() {
        let hex = "a".repeat(64);
        for (spec, whole) in [
            (
                "oci://r.example.com/team/rules:1.0",
                "r.example.com/team/rules:1.0",
            ),
            ("oci://localhost:5000/a/b", "localhost:5000/a/b:latest"),
            (
                "oci://127.0.0.1:5000/a__b/c-d.e:v_1",
                "127.0.0.1:5000/a__b/c-d.e:v_1",
            ),
            (
                &format!("oci://r.io/x@sha256:{hex}"),
                &format!("r.io/x@sha256:{hex}"),
            ),
            (
                &format!("oci://r.io/x:1@sha256:{hex}"),
                &format!("r.io/x:1@sha256:{hex}"),
            ),
        ] {
            let r = parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(r.whole(), whole, "{spec}");
        }
        for bad in [
            "oci://",
            "OCI://r.io/x:1",
            "oci://r.io",
            "oci://rules:1",
            "oci://r.io/Team/x:1",
            "oci://r.io/a//b:1",
            "oci://r.io/../b:1",
            "oci://r.io/a-/b:1",
            "oci://r.io/a:.tag",
            "oci://r.io/a:",
            "oci://r.io:99999/a:1",
            "oci://r.io:0/a:1",
            "oci://user:pw@r.io/a:1",
            "oci://r.io/a@sha256:abc",
            "oci://r.io/a@sha512:abc",
            "oci://-r.io/a:1",
            "oci://r.io/a b:1",
            "oci://127.0.0.1:+5088/a:1",
            "oci://127.0.0.1:05088/a:1",
            "oci://127.1:5088/a:1",
            "oci://0x7f.0.0.1:5088/a:1",
            "oci://2130706433:5088/a:1",
            "oci://LOCALHOST:5088/a:1",
            "oci://[::1]:5088/a:1",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
        let long = format!("oci://r.io/{}:1", "a".repeat(256));
        assert!(parse(&long).is_err());
        assert!(parse(&format!("oci://r.io/a:{}", "t".repeat(129))).is_err());
    }

    #[test]
    fn loopback_is_recognised_and_nothing_else() {
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("127.1.2.3"));
        assert!(!is_loopback("192.0.2.1:5000"));
        assert!(!is_loopback("localhost.example.com"));
        assert!(!is_loopback("registry.example.com"));
    }

    #[test]
    fn credentials_go_to_https_or_loopback_realms_only() {
        for safe in [
            "https://auth.example/token",
            "http://127.0.0.1:5000/token",
            "http://localhost/token",
        ] {
            assert!(realm_is_safe(safe), "{safe}");
        }
        for unsafe_realm in [
            "http://192.0.2.1/token",
            "HTTP://192.0.2.1/token",
            "Http://192.0.2.1/token",
            "http:/192.0.2.1/token",
            "http:192.0.2.1/token",
            " http://192.0.2.1/token",
            "http://localhost.evil.example/token",
            "ftp://192.0.2.1/token",
            "not a url",
        ] {
            assert!(!realm_is_safe(unsafe_realm), "{unsafe_realm}");
        }
    }

    #[test]
    fn a_bearer_realm_is_read_from_the_challenge() {
        assert_eq!(
            bearer_realm(r#"Bearer realm="https://auth.example/token",service="r""#),
            Some("https://auth.example/token")
        );
        assert_eq!(bearer_realm(r#"Basic realm="x""#), None);
    }
}
