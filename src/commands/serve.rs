//! `palisade serve`: decisions over HTTP.
//!
//! - `POST /v1/authorize`: the request JSON of `palisade authorize`; answers
//!   its JSON.
//! - `POST /v1/check`: a deployment file; answers `check --format json`.
//! - `GET|POST /v1/forward-auth`: for gateways. The original request is
//!   read from the headers of one gateway protocol only
//!   ([`palisade_gateway::ForwardAuth`]): the one `--forward-auth` names, or
//!   the one of the path (`/v1/forward-auth/nginx`,
//!   `/v1/forward-auth/traefik`, `/v1/forward-auth/envoy/<original path>`),
//!   or, at the bare `/v1/forward-auth` without the flag, the one whose
//!   headers are present (headers of two are refused). With
//!   `--forward-auth envoy`, everything after `/v1/forward-auth` is the
//!   original path. The answer is 200 (with `X-Palisade-Principal`), 400
//!   (the original request is not named exactly), 401
//!   (`WWW-Authenticate: Bearer`), 403 (`X-Palisade-Reason`) or 429
//!   (`Retry-After`).
//! - `GET /v1/bundle`, `GET /health`, `GET /ready`, `GET /metrics`.
//!
//! With `--tls-cert`/`--tls-key` it serves HTTPS (rustls), and with
//! `--tls-client-ca` only clients with a certificate from that CA get in.
//!
//! The bundle is swapped atomically on SIGHUP or when its files change; a
//! bundle that does not load is refused with a logged error and the old one
//! keeps serving. SIGTERM and SIGINT stop accepting, drain in-flight
//! requests (up to 10 s) and exit.

use crate::cli::ServeArgs;
use crate::exit;
use crate::output;
use crate::source;
use arc_swap::ArcSwap;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use palisade_deploy::{CheckOptions, Document};
use palisade_engine::{AuthorizationRequest, Bundle, Decision, Engine, Now};
use palisade_gateway::{ForwardAuth, HttpDecision, HttpOutcome, HttpRequest, RateLimiter};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// Longest a request may take, body included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a client may take to send its headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head: the request line, the header lines and the empty
/// line, as received. hyper answers a larger one with 431 and closes the
/// connection (`max_header_size`; `max_buf_size` alone lets the last read
/// overshoot it, up to about twice the size).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long shutdown waits for in-flight requests.
const DRAIN: Duration = Duration::from_secs(10);

/// One loaded bundle and what belongs to it.
struct Loaded {
    bundle: Bundle,
    limiter: RateLimiter,
    loaded_at: String,
    revision: u64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    endpoint: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Endpoint {
    endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabel {
    plugin: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginName {
    plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BundleLabel {
    name: String,
    version: String,
    digest: String,
}

struct Metrics {
    registry: Registry,
    decisions: Family<Outcome, Counter>,
    latency: Family<Endpoint, Histogram>,
    plugin_errors: Family<PluginLabel, Counter>,
    plugin_calls: Family<PluginName, Counter>,
    plugin_fuel: Family<PluginName, Counter>,
    reloads: Family<ReloadLabel, Counter>,
    revision: Gauge,
    info: Family<BundleLabel, Gauge>,
    log_dropped: Counter,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("palisade");
        let decisions = Family::<Outcome, Counter>::default();
        let latency = Family::<Endpoint, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_005, 2.0, 20))
        });
        let plugin_errors = Family::<PluginLabel, Counter>::default();
        let plugin_calls = Family::<PluginName, Counter>::default();
        let plugin_fuel = Family::<PluginName, Counter>::default();
        let reloads = Family::<ReloadLabel, Counter>::default();
        let revision = Gauge::default();
        let info = Family::<BundleLabel, Gauge>::default();
        registry.register(
            "decisions",
            "Decisions by endpoint and outcome",
            decisions.clone(),
        );
        registry.register(
            "decision_duration_seconds",
            "Time to decide, by endpoint",
            latency.clone(),
        );
        registry.register(
            "plugin_errors",
            "Plugin failures (trap, fuel, memory, deadline, bad output) by plugin and kind",
            plugin_errors.clone(),
        );
        registry.register(
            "plugin_calls",
            "Plugin calls by plugin",
            plugin_calls.clone(),
        );
        registry.register(
            "plugin_fuel",
            "Fuel (deterministic instruction budget) used by plugin calls, by plugin",
            plugin_fuel.clone(),
        );
        registry.register(
            "bundle_reloads",
            "Bundle reloads by result",
            reloads.clone(),
        );
        registry.register(
            "bundle_revision",
            "Reloads applied since start",
            revision.clone(),
        );
        registry.register("bundle_info", "The bundle serving now", info.clone());
        let log_dropped = Counter::default();
        registry.register(
            "decision_log_dropped",
            "Decision-log lines dropped because the writer was behind",
            log_dropped.clone(),
        );
        Metrics {
            registry,
            decisions,
            latency,
            plugin_errors,
            plugin_calls,
            plugin_fuel,
            reloads,
            revision,
            info,
            log_dropped,
        }
    }

    fn record(
        &self,
        endpoint: &'static str,
        outcome: &'static str,
        started: Instant,
        d: Option<&Decision>,
    ) {
        self.decisions
            .get_or_create(&Outcome { endpoint, outcome })
            .inc();
        self.latency
            .get_or_create(&Endpoint { endpoint })
            .observe(started.elapsed().as_secs_f64());
        for (plugin, fuel) in d.map(|d| d.plugin_fuel.as_slice()).unwrap_or_default() {
            let label = PluginName {
                plugin: plugin.clone(),
            };
            self.plugin_calls.get_or_create(&label).inc();
            self.plugin_fuel.get_or_create(&label).inc_by(*fuel);
        }
        for e in d.map(|d| d.errors.as_slice()).unwrap_or_default() {
            if let palisade_engine::Source::Plugin(name) = &e.source {
                self.plugin_errors
                    .get_or_create(&PluginLabel {
                        plugin: name.clone(),
                        kind: e.kind.to_string(),
                    })
                    .inc();
            }
        }
    }
}

/// One line of the decision log. Never holds tokens, headers, query
/// strings or bodies: the input is identified by its digest.
#[derive(Serialize)]
struct LogLine<'a> {
    id: &'a str,
    time: String,
    endpoint: &'a str,
    bundle: &'a str,
    input_digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
    decision: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    reason: &'a str,
    reasons: &'a [String],
    findings: Vec<&'a str>,
    errors: Vec<String>,
    latency_us: u128,
}

/// What a decision-log line says about the request, beyond the decision.
#[derive(Default)]
struct Subject<'a> {
    endpoint: &'static str,
    allowed: bool,
    reason: &'a str,
    principal: Option<&'a str>,
    action: Option<&'a str>,
    resource: Option<&'a str>,
    route: Option<&'a str>,
    path: Option<&'a str>,
    status: Option<u16>,
}

struct App {
    engine: Engine,
    spec: String,
    current: ArcSwap<Loaded>,
    metrics: Metrics,
    log: Option<mpsc::SyncSender<String>>,
    /// Where decisions run (never on the reactor threads).
    workers: crate::workers::Workers,
    ready: AtomicBool,
    ids: AtomicU64,
    id_prefix: String,
    started: Instant,
    reloading: tokio::sync::Mutex<()>,
    /// The gateway protocol `--forward-auth` trusts.
    forward_auth: Option<ForwardAuth>,
}

impl App {
    fn next_id(&self) -> String {
        format!(
            "{}-{:x}",
            self.id_prefix,
            self.ids.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Writes one decision-log line. Nothing is built (no digest, no
    /// serialization) when the log is off.
    fn log(
        &self,
        id: &str,
        bundle: &Bundle,
        input: &[u8],
        subject: Subject<'_>,
        decision: Option<&Decision>,
        started: Instant,
    ) {
        let Some(tx) = &self.log else { return };
        let line = LogLine {
            id,
            time: Now::system().to_string(),
            endpoint: subject.endpoint,
            bundle: bundle.digest(),
            input_digest: digest(input),
            principal: subject.principal,
            action: subject.action,
            resource: subject.resource,
            route: subject.route,
            path: subject.path,
            decision: if subject.allowed { "allow" } else { "deny" },
            status: subject.status,
            reason: subject.reason,
            reasons: decision.map_or(&[], |d| d.reasons.as_slice()),
            findings: decision
                .map(|d| d.findings.iter().map(|f| f.rule_id.as_str()).collect())
                .unwrap_or_default(),
            errors: decision
                .map(|d| d.errors.iter().map(|e| e.kind.to_string()).collect())
                .unwrap_or_default(),
            latency_us: started.elapsed().as_micros(),
        };
        if let Ok(text) = serde_json::to_string(&line)
            && tx.try_send(text).is_err()
        {
            // The writer is behind (a slow disk or pipe): a decision never
            // waits for its log line, and the loss is counted.
            self.metrics.log_dropped.inc();
        }
    }

    fn set_bundle_metrics(&self, b: &Bundle, revision: u64) {
        self.metrics.info.clear();
        self.metrics
            .info
            .get_or_create(&BundleLabel {
                name: b.name().to_owned(),
                version: b.version().to_owned(),
                digest: b.digest().to_owned(),
            })
            .set(1);
        self.metrics
            .revision
            .set(i64::try_from(revision).unwrap_or(i64::MAX));
    }
}

/// Fetches a bundle's remote JWT keys before it serves, so that its first
/// requests do not wait for them; a failure is logged and requests try
/// again.
fn warm_up(bundle: &Bundle) {
    if let Err(e) = palisade_gateway::fetch_remote_keys(bundle) {
        output::warning(&format!(
            "{e}; tokens are refused until the keys can be fetched"
        ));
    }
}

fn loaded(bundle: Bundle, revision: u64) -> Loaded {
    Loaded {
        limiter: RateLimiter::new(palisade_gateway::rate_limits(&bundle).to_vec()),
        bundle,
        loaded_at: Now::system().to_string(),
        revision,
    }
}

pub fn execute(args: &ServeArgs) -> u8 {
    let (engine, bundle) = match source::engine_and_bundle(&args.bundle) {
        Ok(eb) => eb,
        Err(code) => return code,
    };
    warm_up(&bundle);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            output::error(&format!("cannot start the server runtime: {e}"));
            return exit::ERROR;
        }
    };
    let log = match decision_log(&args.decision_log) {
        Ok(l) => l,
        Err(e) => {
            output::error(&e);
            return exit::ERROR;
        }
    };
    let metrics = Metrics::new();
    let app = Arc::new(App {
        engine,
        spec: args.bundle.clone(),
        current: ArcSwap::from_pointee(loaded(bundle, 0)),
        metrics,
        log,
        workers: crate::workers::Workers::for_this_machine(),
        ready: AtomicBool::new(true),
        ids: AtomicU64::new(0),
        id_prefix: format!(
            "{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0)
        ),
        started: Instant::now(),
        reloading: tokio::sync::Mutex::new(()),
        forward_auth: args.forward_auth.map(|p| match p {
            crate::cli::ForwardAuthProtocol::Nginx => ForwardAuth::Nginx,
            crate::cli::ForwardAuthProtocol::Traefik => ForwardAuth::Traefik,
            crate::cli::ForwardAuthProtocol::Envoy => ForwardAuth::Envoy,
        }),
    });
    app.set_bundle_metrics(&app.current.load().bundle, 0);
    runtime.block_on(serve(app, args))
}

/// Decision-log lines that may wait for the writer; more are dropped and
/// counted in `palisade_decision_log_dropped_total`.
const LOG_QUEUE: usize = 16_384;

/// The decision log writer: a thread that owns the output, fed by a
/// bounded channel so that requests never wait on it.
fn decision_log(target: &str) -> Result<Option<mpsc::SyncSender<String>>, String> {
    let mut out: Box<dyn std::io::Write + Send> = match target {
        "off" => return Ok(None),
        "-" => Box::new(std::io::stdout()),
        path => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("--decision-log `{path}`: {e}"))?,
        ),
    };
    let (tx, rx) = mpsc::sync_channel::<String>(LOG_QUEUE);
    std::thread::Builder::new()
        .name("decision-log".into())
        .spawn(move || {
            let mut buf = std::io::BufWriter::new(&mut out);
            while let Ok(line) = rx.recv() {
                let _ = writeln!(buf, "{line}");
                // Flush when nothing else is waiting.
                while let Ok(more) = rx.try_recv() {
                    let _ = writeln!(buf, "{more}");
                }
                let _ = buf.flush();
            }
        })
        .map_err(|e| format!("cannot start the decision log: {e}"))?;
    Ok(Some(tx))
}

async fn serve(app: Arc<App>, args: &ServeArgs) -> u8 {
    let tls = match tls_acceptor(args) {
        Ok(t) => t,
        Err(e) => {
            output::error(&e);
            return exit::ERROR;
        }
    };
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(l) => l,
        Err(e) => {
            output::error(&format!("cannot listen on `{}`: {e}", args.listen));
            return exit::ERROR;
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| args.listen.clone());
    let router = axum::Router::new()
        .route("/v1/authorize", post(authorize))
        .route("/v1/check", post(check))
        .route("/v1/forward-auth", any(forward_auth))
        .route("/v1/forward-auth/{*rest}", any(forward_auth))
        .route("/v1/bundle", get(bundle_info))
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn(timeout))
        .layer(DefaultBodyLimit::max(args.max_body))
        .with_state(Arc::clone(&app));

    let signals = Signals::register();
    tokio::spawn(reload_on_sighup(Arc::clone(&app), signals.hup));
    if args.watch > 0 && !app.spec.starts_with("builtin:") {
        tokio::spawn(watch(Arc::clone(&app), Duration::from_secs(args.watch)));
    }
    let b = &app.current.load().bundle;
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!(
        "palisade: serving bundle `{}` {} ({}) on {scheme}://{addr}",
        b.name(),
        b.version(),
        b.digest()
    );

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = std::pin::pin!(shutdown_signal(signals.term, signals.int));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let router = router.clone();
                let watcher = graceful.watcher();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => serve_connection(stream, router, watcher).await,
                        // The handshake gets the time a client has for its
                        // headers; a failed one is the client's problem.
                        Some(acceptor) => {
                            if let Ok(Ok(stream)) =
                                tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await
                            {
                                serve_connection(stream, router, watcher).await;
                            }
                        }
                    }
                });
            }
            () = &mut stop => break,
        }
    }
    app.ready.store(false, Ordering::SeqCst);
    drop(listener);
    eprintln!("palisade: shutting down, draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN) => eprintln!("palisade: drain timed out"),
    }
    exit::OK
}

/// One HTTP/1.1 connection, plain or TLS, that shutdown drains.
async fn serve_connection<I>(
    io: I,
    router: axum::Router,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(router);
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_header_size(MAX_HEAD_BYTES)
        .serve_connection(hyper_util::rt::TokioIo::new(io), service);
    let _ = watcher.watch(conn).await;
}

/// The TLS acceptor of `--tls-cert`/`--tls-key` (and `--tls-client-ca`
/// for mutual TLS), or none for plain HTTP. Errors name the file.
fn tls_acceptor(args: &ServeArgs) -> Result<Option<tokio_rustls::TlsAcceptor>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    let certs = |flag: &str, path: &std::path::Path| {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|i| i.collect::<Result<_, _>>())
            .map_err(|e| format!("{flag} `{}`: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "{flag} `{}`: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file",
                path.display()
            ));
        }
        Ok(certs)
    };
    let chain = certs("--tls-cert", cert)?;
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        format!(
            "--tls-key `{}`: {e} (expected a PEM PKCS#8, PKCS#1 or SEC1 private key)",
            key.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match &args.tls_client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs("--tls-client-ca", ca)? {
                roots
                    .add(c)
                    .map_err(|e| format!("--tls-client-ca `{}`: {e}", ca.display()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| format!("--tls-client-ca `{}`: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, private).map_err(|e| {
        format!(
            "--tls-cert `{}` and --tls-key `{}` do not make a certificate: {e}",
            cert.display(),
            key.display()
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
}

/// The signals the server acts on, registered before it says it serves:
/// a signal that arrives between that line and the first wait must not
/// take its default action (terminate) instead.
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn register() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
            hup: signal(SignalKind::hangup()).ok(),
        }
    }
}

/// SIGTERM or SIGINT.
async fn shutdown_signal(
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
) {
    match (term, int) {
        (Some(mut t), Some(mut i)) => {
            tokio::select! {
                _ = t.recv() => {}
                _ = i.recv() => {}
            }
        }
        _ => std::future::pending::<()>().await,
    }
}

async fn reload_on_sighup(app: Arc<App>, hup: Option<tokio::signal::unix::Signal>) {
    let Some(mut hup) = hup else {
        return;
    };
    while hup.recv().await.is_some() {
        reload(&app, "SIGHUP").await;
    }
}

/// Files up to this size are hashed whole by the fingerprint (policies,
/// schemas, manifests); larger ones (plugins) by size and time.
const FINGERPRINT_CONTENT_BYTES: u64 = 1 << 20;

/// A fingerprint of a bundle directory: every file's path, size and
/// modification time, and the content of the small ones (a rewrite of the
/// same size within one clock tick changes no time). The walk is the bundle
/// loader's own: symlinks are followed only inside the bundle and each
/// directory once (no loops), and FIFOs or devices are never opened.
fn fingerprint(dir: &std::path::Path) -> u64 {
    use std::hash::{Hash, Hasher};
    use std::io::Read as _;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match palisade_engine::walk_bundle_dir(dir, "") {
        Ok(entries) => {
            for e in entries {
                e.path.hash(&mut h);
                e.len.hash(&mut h);
                e.modified.hash(&mut h);
                e.is_file.hash(&mut h);
                if e.is_file && e.len <= FINGERPRINT_CONTENT_BYTES {
                    let mut bytes = Vec::new();
                    let read = std::fs::File::open(dir.join(&e.path))
                        .and_then(|f| f.take(FINGERPRINT_CONTENT_BYTES).read_to_end(&mut bytes));
                    if read.is_ok() {
                        bytes.hash(&mut h);
                    }
                }
            }
        }
        Err(e) => e.hash(&mut h),
    }
    h.finish()
}

/// How many polls in a row must see the same fingerprint after a change
/// before the bundle is loaded: files being written (a policy file written
/// in two halves, a copy in progress) are not loaded half done.
const STABLE_POLLS: u32 = 2;

/// Decides, poll after poll, when the bundle's files have changed and then
/// stayed unchanged long enough to load.
#[derive(Debug)]
struct Debounce {
    /// The fingerprint of the bundle that serves.
    serving: u64,
    /// A changed fingerprint, and how many polls in a row have seen it.
    pending: Option<(u64, u32)>,
}

impl Debounce {
    fn new(serving: u64) -> Debounce {
        Debounce {
            serving,
            pending: None,
        }
    }

    /// Takes one poll's fingerprint; says when it is time to load.
    fn observe(&mut self, now: u64) -> bool {
        match self.pending {
            // Unchanged, or changed back to what serves.
            _ if now == self.serving => {
                self.pending = None;
                false
            }
            Some((fp, seen)) if fp == now => {
                let seen = seen + 1;
                self.pending = Some((fp, seen));
                seen > STABLE_POLLS
            }
            _ => {
                // A new change (or a change on top of a change): start over.
                self.pending = Some((now, 1));
                false
            }
        }
    }

    /// The bundle with fingerprint `fp` now serves (or was refused: either
    /// way, the same files are not loaded again until they change).
    fn settled(&mut self, fp: u64) {
        self.serving = fp;
        self.pending = None;
    }
}

async fn watch(app: Arc<App>, every: Duration) {
    let dir = std::path::PathBuf::from(&app.spec);
    let poll = |dir: std::path::PathBuf| async move {
        tokio::task::spawn_blocking(move || fingerprint(&dir))
            .await
            .ok()
    };
    let Some(first) = poll(dir.clone()).await else {
        return;
    };
    let mut debounce = Debounce::new(first);
    loop {
        tokio::time::sleep(every).await;
        let Some(now) = poll(dir.clone()).await else {
            continue;
        };
        if !debounce.observe(now) {
            continue;
        }
        // Load, then check the files did not change while loading: only a
        // bundle whose files stood still from before the load to after it
        // is swapped in.
        let stable = {
            let dir = dir.clone();
            move || fingerprint(&dir) == now
        };
        if reload_if(&app, "the bundle's files changed", stable).await {
            debounce.settled(now);
        }
    }
}

/// Loads the bundle again and swaps it in; on failure logs why and keeps
/// the old one.
async fn reload(app: &Arc<App>, why: &str) {
    reload_if(app, why, || true).await;
}

/// Loads the bundle again and swaps it in if `still_stable()` holds after
/// the load (the files did not change during it). Returns false when the
/// files changed under the load: nothing was swapped or refused, and the
/// caller waits for them to settle again.
async fn reload_if(
    app: &Arc<App>,
    why: &str,
    still_stable: impl FnOnce() -> bool + Send + 'static,
) -> bool {
    let _one_at_a_time = app.reloading.lock().await;
    let worker = Arc::clone(app);
    let result = tokio::task::spawn_blocking(move || {
        let loaded = source::load_bundle(&worker.engine, &worker.spec);
        if !still_stable() {
            return None;
        }
        Some(loaded.inspect(warm_up))
    })
    .await;
    let result = match result {
        Ok(None) => return false,
        Ok(Some(r)) => Ok(r),
        Err(e) => Err(e),
    };
    match result {
        Ok(Ok(bundle)) => {
            let revision = app.current.load().revision + 1;
            eprintln!(
                "palisade: reloaded ({why}): bundle `{}` {} ({}), revision {revision}",
                bundle.name(),
                bundle.version(),
                bundle.digest()
            );
            app.set_bundle_metrics(&bundle, revision);
            app.current.store(Arc::new(loaded(bundle, revision)));
            app.metrics
                .reloads
                .get_or_create(&ReloadLabel { result: "ok" })
                .inc();
        }
        Ok(Err(e)) => {
            let message = match e {
                source::LoadError::Usage(m) => m,
                source::LoadError::Bundle(b) => b
                    .problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            };
            output::error(&format!(
                "reload ({why}) refused, still serving the previous bundle: {message}"
            ));
            app.metrics
                .reloads
                .get_or_create(&ReloadLabel { result: "error" })
                .inc();
        }
        Err(e) => output::error(&format!("reload ({why}) failed: {e}")),
    }
    true
}

async fn timeout(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(r) => r,
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "request timed out\n").into_response(),
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, format!("{body}\n")).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn error_response(status: StatusCode, message: &str) -> Response {
    json_response(status, serde_json::json!({ "error": message }).to_string())
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn outcome_of(d: &Decision) -> &'static str {
    if d.is_allowed() { "allow" } else { "deny" }
}

/// `?now=` for evaluations that need a fixed time (tests, replays).
fn now_param(q: &HashMap<String, String>) -> Result<Now, String> {
    q.get("now")
        .map_or_else(|| Ok(Now::system()), |s| Now::parse(s))
}

/// Runs a decision on the pool; 503 when it is full.
async fn offload(
    app: Arc<App>,
    endpoint: &'static str,
    work: impl FnOnce(&App) -> Response + Send + 'static,
) -> Response {
    let started = Instant::now();
    let worker_app = Arc::clone(&app);
    match app.workers.run(move || work(&worker_app)).await {
        Ok(r) => r,
        Err(crate::workers::Refused::Failed) => {
            app.metrics.record(endpoint, "error", started, None);
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the decision failed; this is a bug in palisade",
            )
        }
        Err(crate::workers::Refused::Busy) => {
            app.metrics.record(endpoint, "overloaded", started, None);
            let mut r = error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many decisions in progress; try again",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
    }
}

async fn authorize(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    offload(app, "authorize", move |app| authorize_now(app, &q, &body)).await
}

fn authorize_now(app: &App, q: &HashMap<String, String>, body: &Bytes) -> Response {
    let started = Instant::now();
    let now = match now_param(q) {
        Ok(n) => n,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, &e),
    };
    let text = String::from_utf8_lossy(body);
    let request = match AuthorizationRequest::from_json(&text) {
        Ok(r) => r,
        Err(e) => {
            app.metrics
                .record("authorize", "bad-request", started, None);
            return error_response(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    let current = app.current.load();
    let decision = match current.bundle.authorize(&request, now) {
        Ok(d) => d,
        Err(e) => {
            app.metrics
                .record("authorize", "bad-request", started, None);
            return error_response(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    app.metrics
        .record("authorize", outcome_of(&decision), started, Some(&decision));
    let id = app.next_id();
    let (principal, action, resource) = (
        request.principal.to_string(),
        request.action.to_string(),
        request.resource.to_string(),
    );
    let subject = Subject {
        endpoint: "authorize",
        allowed: decision.is_allowed(),
        reason: decision.basis.describe(),
        principal: Some(&principal),
        action: Some(&action),
        resource: Some(&resource),
        ..Subject::default()
    };
    app.log(
        &id,
        &current.bundle,
        body,
        subject,
        Some(&decision),
        started,
    );
    let mut r = json_response(StatusCode::OK, decision.to_json());
    if let Ok(v) = HeaderValue::from_str(&id) {
        r.headers_mut().insert("x-palisade-decision-id", v);
    }
    r
}

async fn check(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    offload(app, "check", move |app| check_now(app, &q, &body)).await
}

fn check_now(app: &App, q: &HashMap<String, String>, body: &Bytes) -> Response {
    let started = Instant::now();
    let now = match now_param(q) {
        Ok(n) => n,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, &e),
    };
    let file = q.get("file").map_or("request", String::as_str);
    let Ok(text) = std::str::from_utf8(body) else {
        return error_response(StatusCode::BAD_REQUEST, "the body is not UTF-8 text");
    };
    // What is not a deployment is refused, never checked as "no findings".
    let doc = match Document::parse(file, text).and_then(|d| d.require_deployment().map(|()| d)) {
        Ok(d) => d,
        Err(e) => {
            app.metrics.record("check", "bad-request", started, None);
            return error_response(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    let mut options = CheckOptions::default();
    if let Some(p) = q.get("principal") {
        match p.parse() {
            Ok(uid) => options.principal = uid,
            Err(e) => {
                return error_response(StatusCode::BAD_REQUEST, &format!("principal `{p}`: {e}"));
            }
        }
    }
    if let Some(f) = q.get("fail_on") {
        match f.parse() {
            Ok(s) => options.fail_on = s,
            Err(e) => return error_response(StatusCode::BAD_REQUEST, &format!("fail_on: {e}")),
        }
    }
    let current = app.current.load();
    let decision = palisade_deploy::check(&current.bundle, &[doc], &options, now);
    app.metrics
        .record("check", outcome_of(&decision), started, Some(&decision));
    let subject = Subject {
        endpoint: "check",
        allowed: decision.is_allowed(),
        reason: decision.basis.describe(),
        ..Subject::default()
    };
    app.log(
        &app.next_id(),
        &current.bundle,
        body,
        subject,
        Some(&decision),
        started,
    );
    json_response(StatusCode::OK, decision.to_json())
}

/// Which protocol a forward-auth URL trusts, and what follows the
/// forward-auth path (Envoy's original path and query).
///
/// With `--forward-auth envoy` every path below `/v1/forward-auth` is
/// Envoy's original path (its `path_prefix` is `/v1/forward-auth`). With
/// `--forward-auth nginx|traefik`, `/v1/forward-auth` (or the protocol's
/// own path) is the only endpoint. Without the flag, the path names the
/// protocol (`/nginx`, `/traefik`, `/envoy/<original path>`), and the bare
/// path finds it from the headers; any other path is refused, since an
/// original path like `/nginx` would be read as a protocol name.
fn forward_auth_endpoint(
    trusted: Option<ForwardAuth>,
    uri: &Uri,
) -> Result<(Option<ForwardAuth>, Option<String>), String> {
    let rest = uri.path().strip_prefix("/v1/forward-auth").unwrap_or("");
    let target = |path: &str| {
        (!path.is_empty()).then(|| match uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        })
    };
    match trusted {
        Some(ForwardAuth::Envoy) => Ok((trusted, target(rest))),
        Some(p) if rest.is_empty() || rest.strip_prefix('/') == Some(p.name()) => {
            Ok((trusted, None))
        }
        Some(p) => Err(format!(
            "this server trusts {p} forward-auth only (--forward-auth {p}): call /v1/forward-auth, not `{}`",
            uri.path()
        )),
        None if rest.is_empty() => Ok((None, None)),
        None => match rest {
            "/nginx" => Ok((Some(ForwardAuth::Nginx), None)),
            "/traefik" => Ok((Some(ForwardAuth::Traefik), None)),
            _ => match rest.strip_prefix("/envoy") {
                Some(path) if path.is_empty() || path.starts_with('/') => {
                    Ok((Some(ForwardAuth::Envoy), target(path)))
                }
                _ => Err(format!(
                    "`{}` names no forward-auth protocol: call /v1/forward-auth/nginx, /v1/forward-auth/traefik or /v1/forward-auth/envoy/<original path> (Envoy's path_prefix: /v1/forward-auth/envoy), or start the server with --forward-auth envoy to keep path_prefix /v1/forward-auth",
                    uri.path()
                )),
            },
        },
    }
}

/// The request a gateway asks about, read from the one protocol this
/// endpoint trusts; the error is the reason for a 400.
fn original_request(
    trusted: Option<ForwardAuth>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<HttpRequest, String> {
    let (protocol, target) = forward_auth_endpoint(trusted, uri)?;
    HttpRequest::from_forward_auth(
        protocol,
        method.as_str(),
        target.as_deref(),
        headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())),
    )
    .map_err(|e| e.to_string())
}

async fn forward_auth(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let current = app.current.load();
    let req = match original_request(app.forward_auth, &method, &uri, &headers) {
        Ok(r) => r,
        Err(e) => {
            app.metrics
                .record("forward-auth", "bad-request", started, None);
            let id = app.next_id();
            let subject = Subject {
                endpoint: "forward-auth",
                reason: &e,
                status: Some(400),
                ..Subject::default()
            };
            let input = format!("{method} {uri}");
            app.log(
                &id,
                &current.bundle,
                input.as_bytes(),
                subject,
                None,
                started,
            );
            let mut r = error_response(StatusCode::BAD_REQUEST, &e);
            if let Ok(v) = HeaderValue::from_str(&id) {
                r.headers_mut().insert("x-palisade-decision-id", v);
            }
            return r;
        }
    };
    drop(current);
    // Decided here, on the reactor thread, not on the pool: its cost is
    // bounded (64 KiB head, 16 KiB token, the bundle's plugin fuel and
    // deadline), and the pool's two thread handoffs halved forward-auth's
    // rate (12.9k -> 5.1k requests/s, 99 -> 211 us of CPU per request,
    // scripts/loadtest.sh with 16 connections).
    forward_auth_now(&app, &req, started)
}

/// Decides an original request that forward-auth read exactly.
fn forward_auth_now(app: &App, req: &HttpRequest, started: Instant) -> Response {
    let current = app.current.load();
    let d = palisade_gateway::decide(
        &current.bundle,
        req,
        Now::system(),
        Some((&current.limiter, app.now_ms())),
    );
    let outcome = match d.outcome {
        HttpOutcome::Allow => "allow",
        HttpOutcome::Unauthenticated => "unauthenticated",
        HttpOutcome::Forbidden => "deny",
        HttpOutcome::RateLimited => "rate-limited",
        HttpOutcome::BadRequest => "bad-request",
    };
    app.metrics
        .record("forward-auth", outcome, started, d.decision.as_ref());
    let id = app.next_id();
    if app.log.is_some() {
        // A path that a plugin flags (a key pasted into a URL) is not
        // written to the log: the route names the request instead, and
        // the resource, made of path parameters, is left out.
        let flagged = d.decision.as_ref().is_some_and(|dec| {
            dec.findings.iter().any(|f| {
                f.pointer
                    .as_deref()
                    .is_some_and(|p| p == "/path" || p.starts_with("/path/"))
            })
        });
        let subject = Subject {
            endpoint: "forward-auth",
            allowed: d.status == 200,
            reason: &d.reason,
            principal: d.principal.as_deref(),
            action: d.action.as_deref(),
            resource: if flagged { None } else { d.resource.as_deref() },
            route: d.route.as_deref(),
            path: Some(if flagged { REDACTED } else { &req.path }),
            status: Some(d.status),
        };
        let input = serde_json::to_vec(req).unwrap_or_default();
        app.log(
            &id,
            &current.bundle,
            &input,
            subject,
            d.decision.as_ref(),
            started,
        );
    }
    http_answer(&d, &id)
}

/// What the decision log says instead of a path that holds a secret.
const REDACTED: &str = "[redacted: a plugin flagged the path]";

/// The HTTP answer gateways act on, with the decision id.
fn http_answer(d: &HttpDecision, id: &str) -> Response {
    let mut r: Response = d.to_response();
    if let Ok(v) = HeaderValue::from_str(id) {
        r.headers_mut().insert("x-palisade-decision-id", v);
    }
    r
}

async fn bundle_info(State(app): State<Arc<App>>) -> Response {
    let c = app.current.load();
    json_response(
        StatusCode::OK,
        serde_json::json!({
            "name": c.bundle.name(),
            "version": c.bundle.version(),
            "digest": c.bundle.digest(),
            "loaded_at": c.loaded_at,
            "revision": c.revision,
            "routes": c.bundle.has_gateway(),
        })
        .to_string(),
    )
}

async fn ready(State(app): State<Arc<App>>) -> Response {
    if app.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &app.metrics.registry).is_err() {
        return error_response(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics");
    }
    let mut r = (StatusCode::OK, text).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_loads_only_once_it_has_stood_still() {
        let mut d = Debounce::new(1);
        assert!(!d.observe(1), "nothing changed");
        // A file is written in two halves, one poll apart.
        assert!(!d.observe(2), "first half: just seen");
        assert!(!d.observe(2), "first half: seen twice");
        assert!(!d.observe(3), "second half: starts over");
        assert!(!d.observe(3));
        assert!(d.observe(3), "stood still for two polls after the change");
        d.settled(3);
        assert!(!d.observe(3), "loaded: nothing to do");
    }

    #[test]
    fn a_change_undone_before_it_settles_is_forgotten() {
        let mut d = Debounce::new(1);
        assert!(!d.observe(2));
        assert!(!d.observe(1));
        assert!(!d.observe(1));
        assert!(!d.observe(1));
        assert!(d.pending.is_none());
    }

    #[test]
    fn the_fingerprint_survives_symlink_loops_and_fifos() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("policies")).unwrap();
        std::fs::write(
            dir.path().join("policies/a.cedar"),
            "permit(principal, action, resource);",
        )
        .unwrap();
        std::os::unix::fs::symlink("..", dir.path().join("policies/up")).unwrap();
        std::os::unix::fs::symlink("loop2", dir.path().join("loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", dir.path().join("loop2")).unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(dir.path().join("policies/pipe.cedar"))
            .status()
            .unwrap();
        assert!(fifo.success());
        let (tx, rx) = std::sync::mpsc::channel();
        let path = dir.path().to_owned();
        std::thread::spawn(move || {
            let _ = tx.send(fingerprint(&path));
        });
        let first = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the fingerprint walk must end");
        assert_eq!(first, fingerprint(dir.path()), "stable");
        std::fs::write(
            dir.path().join("policies/a.cedar"),
            "forbid(principal, action, resource);",
        )
        .unwrap();
        assert_ne!(first, fingerprint(dir.path()), "sees a change");
    }
}
