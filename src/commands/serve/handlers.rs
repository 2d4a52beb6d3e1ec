//! The HTTP endpoints: JSON API, forward-auth, bundle info, health.

use super::*;

pub(super) async fn timeout(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(r) => r,
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "request timed out\n").into_response(),
    }
}

pub(super) fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, format!("{body}\n")).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub(super) fn error_response(status: StatusCode, message: &str) -> Response {
    json_response(status, serde_json::json!({ "error": message }).to_string())
}

pub(super) fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", palisade_engine::sha256_hex(bytes))
}

pub(super) fn outcome_of(d: &Decision) -> &'static str {
    if d.is_allowed() { "allow" } else { "deny" }
}

/// `?now=` for evaluations that need a fixed time (tests, replays).
pub(super) fn now_param(q: &HashMap<String, String>) -> Result<Now, String> {
    q.get("now")
        .map_or_else(|| Ok(Now::system_second()), |s| Now::parse(s))
}

/// Runs a decision on the pool; 503 when it is full.
pub(super) async fn offload(
    app: Arc<App>,
    endpoint: &'static str,
    work: impl FnOnce(&App) -> Response + Send + 'static,
) -> Response {
    let started = Instant::now();
    let worker_app = Arc::clone(&app);
    match app.workers.run(move || work(&worker_app)).await {
        Ok(r) => r,
        Err(crate::workers::Refused::Failed) => {
            app.record(endpoint, "error", started, None);
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the decision failed; this is a bug in palisade",
            )
        }
        Err(crate::workers::Refused::Busy) => {
            app.record(endpoint, "overloaded", started, None);
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

/// `/v1/authorize` bodies up to this size are decided on the reactor
/// thread, as forward-auth is: their cost is bounded by their size and the
/// bundle's plugin limits, and the pool's two thread handoffs cost more
/// than such a decision (164 -> 79 us of server CPU per request, 7.8k ->
/// 19.2k requests/s: `NO_PLUGIN=1 CONNECTIONS=16 scripts/loadtest.sh`).
/// Larger ones (long entity lists) go to the pool.
const INLINE_BODY: usize = 4 << 10;

pub(super) async fn authorize(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if body.len() <= INLINE_BODY {
        return authorize_now(&app, &q, &body);
    }
    offload(app, "authorize", move |app| authorize_now(app, &q, &body)).await
}

pub(super) fn authorize_now(app: &App, q: &HashMap<String, String>, body: &Bytes) -> Response {
    let started = Instant::now();
    let now = match now_param(q) {
        Ok(n) => n,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, &e),
    };
    let text = String::from_utf8_lossy(body);
    let request = match AuthorizationRequest::from_json(&text) {
        Ok(r) => r,
        Err(e) => {
            app.record("authorize", "bad-request", started, None);
            return error_response(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    let current = app.current.load();
    let decision = match current.bundle.authorize(&request, now) {
        Ok(d) => d,
        Err(e) => {
            app.record("authorize", "bad-request", started, None);
            return error_response(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    app.record("authorize", outcome_of(&decision), started, Some(&decision));
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
    app.log(&id, &current, body, subject, Some(&decision), started);
    let mut r = json_response(StatusCode::OK, decision.to_json());
    if let Ok(v) = HeaderValue::from_str(&id) {
        r.headers_mut().insert("x-palisade-decision-id", v);
    }
    r
}

pub(super) async fn check(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    offload(app, "check", move |app| check_now(app, &q, &body)).await
}

pub(super) fn check_now(app: &App, q: &HashMap<String, String>, body: &Bytes) -> Response {
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
            app.record("check", "bad-request", started, None);
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
    app.record("check", outcome_of(&decision), started, Some(&decision));
    let subject = Subject {
        endpoint: "check",
        allowed: decision.is_allowed(),
        reason: decision.basis.describe(),
        ..Subject::default()
    };
    app.log(
        &app.next_id(),
        &current,
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
pub(super) fn forward_auth_endpoint(
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
pub(super) fn original_request(
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

pub(super) async fn forward_auth(
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
            app.record("forward-auth", "bad-request", started, None);
            let id = app.next_id();
            let subject = Subject {
                endpoint: "forward-auth",
                reason: &e,
                status: Some(400),
                ..Subject::default()
            };
            let input = format!("{method} {uri}");
            app.log(&id, &current, input.as_bytes(), subject, None, started);
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
    forward_auth_now(&app, &req, started).await
}

/// Decides an original request that forward-auth read exactly.
pub(super) async fn forward_auth_now(app: &App, req: &HttpRequest, started: Instant) -> Response {
    let current = app.current.load_full();
    let buckets = match &app.redis {
        Some(redis) => palisade_gateway::Buckets::Shared(redis, &current.limiter, app.elapsed()),
        None => palisade_gateway::Buckets::Local(&current.limiter, app.elapsed()),
    };
    let d =
        palisade_gateway::decide_with(&current.bundle, req, Now::system_second(), Some(buckets))
            .await;
    let outcome = match d.outcome {
        HttpOutcome::Allow => "allow",
        HttpOutcome::Unauthenticated => "unauthenticated",
        HttpOutcome::Forbidden => "deny",
        HttpOutcome::RateLimited => "rate-limited",
        HttpOutcome::BadRequest => "bad-request",
    };
    app.record("forward-auth", outcome, started, d.decision.as_ref());
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
        app.log(&id, &current, &input, subject, d.decision.as_ref(), started);
    }
    http_answer(&d, &id)
}

/// What the decision log says instead of a path that holds a secret.
pub(super) const REDACTED: &str = "[redacted: a plugin flagged the path]";

/// The HTTP answer gateways act on, with the decision id.
pub(super) fn http_answer(d: &HttpDecision, id: &str) -> Response {
    let mut r: Response = d.to_response();
    if let Ok(v) = HeaderValue::from_str(id) {
        r.headers_mut().insert("x-palisade-decision-id", v);
    }
    r
}

pub(super) async fn bundle_info(State(app): State<Arc<App>>) -> Response {
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
            "signer": c.signed.as_ref().map(|v| v.keyid.as_str()),
            "signed_revision": c.signed.as_ref().map(|v| v.statement.revision),
            "release": c.release.as_ref().map(|r| r.pinned.as_str()),
        })
        .to_string(),
    )
}

/// What this replica serves and how it is doing, for `palisade fleet`.
pub(super) async fn status(State(app): State<Arc<App>>) -> Response {
    json_response(StatusCode::OK, status_document(&app).to_string())
}

/// The document of `/v1/status` (and of `--status-url`).
pub(super) fn status_document(app: &App) -> serde_json::Value {
    let c = app.current.load();
    let limits = match &app.redis {
        Some(r) => serde_json::json!({ "store": "redis", "redis": r.health() }),
        None => serde_json::json!({ "store": "local" }),
    };
    let last_reload = app.last_reload.lock().ok().and_then(|l| l.clone());
    serde_json::json!({
            "instance": app.id_prefix,
            "palisade": env!("CARGO_PKG_VERSION"),
            "started_at": app.started_at,
            "ready": app.ready.load(Ordering::SeqCst),
            "bundle": {
                "name": c.bundle.name(),
                "version": c.bundle.version(),
                "digest": c.bundle.digest(),
                "loaded_at": c.loaded_at,
                "revision": c.revision,
                "signer": c.signed.as_ref().map(|v| v.keyid.as_str()),
                "signed_revision": c.signed.as_ref().map(|v| v.statement.revision),
                "release": c.release.as_ref().map(|r| r.pinned.as_str()),
            },
            "last_reload": last_reload,
            "rate_limits": limits,
    })
}

pub(super) async fn ready(State(app): State<Arc<App>>) -> Response {
    if app.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    }
}
