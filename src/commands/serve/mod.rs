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

mod decision_log;
mod handlers;
mod metrics;
mod reload;
mod ship;
pub(crate) use ship::http_agent;
mod tls;

use decision_log::{LogLine, Subject, decision_log};
use handlers::{
    authorize, bundle_info, check, digest, error_response, forward_auth, ready, status, timeout,
};
use metrics::{BundleLabel, Metrics, ReloadLabel};
use reload::{follow_tag, reload_on_sighup, watch};
use tls::tls_acceptor;

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
/// How long shutdown waits for the decision-log shipper's last batches.
const SHIP_AT_EXIT: Duration = Duration::from_secs(5);

/// Where decision-log lines go: the file (or standard output) and the
/// collector of `--decision-log-url`.
struct LogSinks {
    file: Option<mpsc::SyncSender<String>>,
    ship: Option<ship::Shipper>,
}

/// What became of the last reload tried.
#[derive(Debug, Clone, Serialize)]
struct LastReload {
    at: String,
    /// What started it (SIGHUP, a file change, a new release).
    trigger: String,
    /// `ok` or `error`.
    result: &'static str,
    error: Option<String>,
}

/// One loaded bundle and what belongs to it.
struct Loaded {
    bundle: Bundle,
    limiter: RateLimiter,
    loaded_at: String,
    revision: u64,
    /// Who signed the bundle, with `--verify-key`.
    signed: Option<crate::signing::Verified>,
    /// For `oci://`: the release (manifest digest) serving.
    release: Option<source::Release>,
}

struct App {
    engine: Engine,
    spec: String,
    current: ArcSwap<Loaded>,
    metrics: Metrics,
    log: Option<LogSinks>,
    /// Where decisions run (never on the reactor threads).
    workers: crate::workers::Workers,
    ready: AtomicBool,
    ids: AtomicU64,
    id_prefix: String,
    started: Instant,
    reloading: tokio::sync::Mutex<()>,
    /// The gateway protocol `--forward-auth` trusts.
    forward_auth: Option<ForwardAuth>,
    /// `--plugin-logs`: plugins' log lines go to standard error.
    plugin_logs: bool,
    /// `--rate-limit-redis`: the buckets shared by the replicas.
    redis: Option<palisade_gateway::RedisLimiter>,
    /// The last reload tried (`/v1/status`).
    last_reload: std::sync::Mutex<Option<LastReload>>,
    /// When the server started (`/v1/status`).
    started_at: String,
    /// `--verify-key`: every bundle served, reloads included, is a signed
    /// archive, and its signed revision never goes down.
    verify_keys: Vec<std::path::PathBuf>,
}

impl App {
    /// Counts a request in the metrics and, with `--plugin-logs`, prints
    /// what the plugins logged while deciding it.
    fn record(
        &self,
        endpoint: &'static str,
        outcome: &'static str,
        started: Instant,
        d: Option<&palisade_engine::Decision>,
    ) {
        self.metrics.record(endpoint, outcome, started, d);
        if self.plugin_logs
            && let Some(d) = d
        {
            output::plugin_logs(&d.plugin_logs);
        }
    }

    fn reloaded(&self, trigger: &str, error: Option<String>) {
        if let Ok(mut last) = self.last_reload.lock() {
            *last = Some(LastReload {
                at: Now::system_second().to_string(),
                trigger: trigger.to_owned(),
                result: if error.is_none() { "ok" } else { "error" },
                error,
            });
        }
    }

    fn next_id(&self) -> String {
        format!(
            "{}-{:x}",
            self.id_prefix,
            self.ids.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// The rate limiters' clock: time since the server started.
    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Writes one decision-log line. Nothing is built (no digest, no
    /// serialization) when the log is off.
    fn log(
        &self,
        id: &str,
        serving: &Loaded,
        input: &[u8],
        subject: Subject<'_>,
        decision: Option<&Decision>,
        started: Instant,
    ) {
        let Some(sinks) = &self.log else { return };
        let line = LogLine {
            id,
            time: Now::system().to_string(),
            endpoint: subject.endpoint,
            bundle: serving.bundle.digest(),
            signer: serving.signed.as_ref().map(|v| v.keyid.as_str()),
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
        let Ok(text) = serde_json::to_string(&line) else {
            return;
        };
        if let Some(ship) = &sinks.ship {
            ship.send(text.clone());
        }
        if let Some(tx) = &sinks.file
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

fn loaded(l: source::Loaded, revision: u64) -> Loaded {
    Loaded {
        limiter: RateLimiter::new(palisade_gateway::rate_limits(&l.bundle).to_vec()),
        bundle: l.bundle,
        loaded_at: Now::system().to_string(),
        revision,
        signed: l.signed,
        release: l.release,
    }
}

pub fn execute(args: &ServeArgs) -> u8 {
    let engine = match source::engine() {
        Ok(e) => e,
        Err(e) => {
            output::error(&e);
            return exit::ERROR;
        }
    };
    let first = match source::load_verified(&engine, &args.bundle, &args.verify_keys) {
        Ok(b) => b,
        Err(e) => {
            e.print();
            return exit::ERROR;
        }
    };
    warm_up(&first.bundle);
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
    let file = match decision_log(&args.decision_log) {
        Ok(l) => l,
        Err(e) => {
            output::error(&e);
            return exit::ERROR;
        }
    };
    let redis = match &args.rate_limit_redis {
        None => None,
        Some(url) => {
            let _in_runtime = runtime.enter();
            let timeout = Duration::from_millis(args.rate_limit_timeout_ms);
            match palisade_gateway::RedisLimiter::new(url, timeout) {
                Ok(r) => Some(r.on_change(|up, why| {
                    if up {
                        eprintln!("palisade: the rate limits' Redis answers again: limits are shared");
                    } else {
                        eprintln!(
                            "palisade: the rate limits' Redis does not answer or fails ({}): each replica counts in its own buckets until it answers",
                            output::escape(why)
                        );
                    }
                })),
                Err(e) => {
                    output::error(&e);
                    return exit::ERROR;
                }
            }
        }
    };
    let metrics = Metrics::new();
    let ship = match &args.decision_log_url {
        None => None,
        Some(url) => {
            let token = std::env::var("PALISADE_DECISION_LOG_TOKEN").ok();
            let counters = metrics.shipping.clone();
            match ship::Shipper::start(
                url,
                usize::try_from(args.decision_log_buffer).unwrap_or(10_000),
                token,
                counters,
            ) {
                Ok(s) => Some(s),
                Err(e) => {
                    output::error(&e);
                    return exit::ERROR;
                }
            }
        }
    };
    let log = (file.is_some() || ship.is_some()).then_some(LogSinks { file, ship });
    if let Some(url) = &args.status_url
        && let Err(e) = ship::http_url("--status-url", url)
    {
        output::error(&e);
        return exit::ERROR;
    }
    let app = Arc::new(App {
        redis,
        last_reload: std::sync::Mutex::new(None),
        started_at: Now::system_second().to_string(),
        engine,
        spec: args.bundle.clone(),
        current: ArcSwap::from_pointee(loaded(first, 0)),
        verify_keys: args.verify_keys.clone(),
        metrics,
        log,
        workers: crate::workers::Workers::for_this_machine(),
        ready: AtomicBool::new(true),
        ids: AtomicU64::new(0),
        id_prefix: instance_id(),
        started: Instant::now(),
        reloading: tokio::sync::Mutex::new(()),
        plugin_logs: args.plugin_logs,
        forward_auth: args.forward_auth.map(|p| match p {
            crate::cli::ForwardAuthProtocol::Nginx => ForwardAuth::Nginx,
            crate::cli::ForwardAuthProtocol::Traefik => ForwardAuth::Traefik,
            crate::cli::ForwardAuthProtocol::Envoy => ForwardAuth::Envoy,
        }),
    });
    app.set_bundle_metrics(&app.current.load().bundle, 0);
    // Every reload outcome has a series from the start, for alerts.
    for result in ["ok", "error", "poll_error"] {
        drop(app.metrics.reloads.get_or_create(&ReloadLabel { result }));
    }
    let code = runtime.block_on(serve(Arc::clone(&app), args));
    // The last decisions are made: what the shipper holds goes now, within
    // a grace period's share.
    if let Some(url) = &args.status_url {
        ship::push_last_status(&app, url);
    }
    if let Some(ship) = app.log.as_ref().and_then(|l| l.ship.as_ref()) {
        match ship.finish(SHIP_AT_EXIT) {
            Some(0) => {}
            Some(lost) => eprintln!(
                "palisade: {lost} decision-log lines were not taken by the collector at shutdown and are lost"
            ),
            None => eprintln!(
                "palisade: decision-log lines still unshipped after {} s are lost",
                SHIP_AT_EXIT.as_secs()
            ),
        }
    }
    // Requests are drained; a registry poll or pull still running (up to
    // its 120 s limit) is dropped rather than waited for: dropping the
    // runtime would wait for its blocking tasks, past an orchestrator's
    // grace period. Cache files are written whole or not at all.
    runtime.shutdown_background();
    code
}

/// This process's name in decision ids and its status: the start time
/// (milliseconds, hex) then 32 random bits, so that replicas started in
/// the same millisecond (a fleet's rollout) still differ.
fn instance_id() -> String {
    use ring::rand::SecureRandom as _;
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut random = [0u8; 4];
    let tail = match ring::rand::SystemRandom::new().fill(&mut random) {
        Ok(()) => u32::from_be_bytes(random),
        Err(_) => std::process::id(),
    };
    format!("{ms:x}{tail:08x}")
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
        .route("/v1/status", get(status))
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics::metrics))
        .layer(axum::middleware::from_fn(timeout))
        .layer(DefaultBodyLimit::max(args.max_body))
        .with_state(Arc::clone(&app));

    if let Some(url) = &args.status_url {
        ship::push_status(Arc::clone(&app), url.clone());
    }
    if app.redis.is_some() {
        // An idle replica still knows (and reports) whether Redis answers.
        let pinger = Arc::clone(&app);
        tokio::spawn(async move {
            loop {
                if let Some(redis) = &pinger.redis {
                    let _ = redis.ping().await;
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
    }
    let signals = Signals::register();
    tokio::spawn(reload_on_sighup(Arc::clone(&app), signals.hup));
    if crate::oci::is_oci(&app.spec) {
        if !args.poll.is_zero() {
            tokio::spawn(follow_tag(Arc::clone(&app), args.poll));
        }
    } else if args.watch > 0 && !app.spec.starts_with("builtin:") {
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
