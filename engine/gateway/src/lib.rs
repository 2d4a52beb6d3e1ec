//! Request-time decisions for gateways: an HTTP request in, a status out.
//!
//! A bundle's `[gateway]` section maps routes (`GET /orders/{id}`) to a
//! Cedar action and resource (`Action::"viewOrder"`, `Order::"{id}"`),
//! says how bearer tokens are verified (`[gateway.jwt]`, a JWKS) and which
//! rate limits apply. [`decide`] then answers what nginx `auth_request`, Envoy `ext_authz` or Traefik
//! `ForwardAuth` need: 200 (with the principal), 400 (a path that does
//! not name one resource exactly), 401 (no or bad credentials), 403
//! (denied, with the reason) or 429 (rate limited).
//! [`HttpRequest::from_forward_auth`] reads the request such a gateway
//! asks about from the one protocol it trusts.
//!
//! The principal is `<principal_type>::"<sub>"` with the token's groups and
//! roles as parents (`Group::"admins"`, `Role::"support"`) and its tenant as
//! an attribute, merged with what the bundle's entities say about the same
//! principal, so a reload that puts `User::"mallory"` in
//! `Group::"suspended"` takes effect at once. The context has `now`,
//! `request`, `route`, `params`, `authenticated`, `token` (scopes, `amr`,
//! `mfa`, `age`, `id` as `Token::"<jti>"`, tenant) and `plugins`.

pub(crate) mod crypto;
mod decide;
mod forward;
mod jwks;
mod jwt;
mod keys;
#[cfg(feature = "tower")]
mod layer;
mod limit;
mod routes;

pub use decide::{
    GatewayExtension, decide, decide_as, engine, engine_builder, fetch_remote_keys, rate_limits,
};
pub use forward::{ForwardAuth, ForwardAuthError};
pub use jwt::TokenError;
#[cfg(feature = "tower")]
pub use layer::{GatewayFuture, GatewayLayer, GatewayService};
pub use limit::{LimitScope, RateLimit, RateLimiter};

use cedar_policy::{EntityTypeName, EntityUid, RestrictedExpression};
use jwt::{Claims, Verifier};
use palisade_engine::{Decision, Now};
use routes::{Route, RouteTable};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;

/// `[gateway]` of `palisade.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// The entity type of authenticated principals (default `User`).
    #[serde(default)]
    pub principal_type: Option<String>,
    /// How bearer tokens are verified.
    #[serde(default)]
    pub jwt: Option<JwtSection>,
    /// The route table, matched in order.
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteSection>,
    /// Rate limits.
    #[serde(default, rename = "rate_limit")]
    pub rate_limits: Vec<RateLimit>,
}

/// `[gateway.jwt]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSection {
    /// A JWK set file in the bundle.
    #[serde(default)]
    pub jwks: Option<String>,
    /// Or the identity provider's JWKS URL (`https://`, or `http://` to
    /// localhost): fetched when first needed, cached, refreshed in the
    /// background, and fetched again when a token names an unknown key id.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// How long keys from `jwks_url` are used before they are fetched
    /// again (default 300, from 1 to 86400).
    #[serde(default)]
    pub jwks_refresh_seconds: Option<u64>,
    /// Accepted `iss` values (none: any).
    #[serde(default)]
    pub issuers: Vec<String>,
    /// Accepted `aud` values (none: any).
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Accepted algorithms (default RS256, ES256, EdDSA).
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    /// Clock skew allowed on `exp`, `nbf` and `iat` (default 60, at most 300).
    #[serde(default)]
    pub leeway_seconds: Option<u64>,
    /// The claim with the principal's groups (default `groups`).
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// The claim with the principal's roles (default `roles`).
    #[serde(default)]
    pub roles_claim: Option<String>,
    /// The claim with the OAuth scopes (default `scope`; `scp` is read too).
    #[serde(default)]
    pub scope_claim: Option<String>,
    /// The claim with the principal's tenant (default `tenant`).
    #[serde(default)]
    pub tenant_claim: Option<String>,
}

/// `[[gateway.route]]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    /// HTTP method, or `*` (default).
    #[serde(default)]
    pub method: Option<String>,
    /// Path template: `/orders/{id}`, `/files/{path*}`.
    pub path: String,
    /// The Cedar action id (`viewOrder` is `Action::"viewOrder"`).
    pub action: String,
    /// The Cedar resource, with path parameters: `Order::"{id}"`.
    pub resource: String,
    /// No credentials needed (Cedar still decides, with an anonymous
    /// principal).
    #[serde(default)]
    pub public: bool,
    /// Path parameters may hold an encoded `/` (`%2F`) or `\` (`%5C`),
    /// decoded into the parameter. Off by default: such a request is
    /// refused (400), since the application may split it where Palisade
    /// did not.
    #[serde(default)]
    pub allow_encoded_slash: bool,
}

/// One thing wrong with `[gateway]`: what is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SectionProblem {
    /// The table or key it is about.
    pub at: At,
    /// What is wrong.
    pub message: String,
}

/// A place in `[gateway]`, which the extension turns into a line of
/// `palisade.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At {
    /// A key of `[gateway]` itself.
    Key(&'static str),
    /// `[gateway.jwt]`, or one of its keys.
    Jwt(Option<&'static str>),
    /// The i-th `[[gateway.route]]` (from 0), or one of its keys.
    Route(usize, Option<&'static str>),
    /// The i-th `[[gateway.rate_limit]]` (from 0), or one of its keys.
    RateLimit(usize, Option<&'static str>),
}

impl SectionProblem {
    fn new(at: At, message: impl Into<String>) -> SectionProblem {
        SectionProblem {
            at,
            message: message.into(),
        }
    }
}

/// A bundle's compiled gateway configuration.
#[derive(Debug, Clone)]
pub(crate) struct Gateway {
    routes: RouteTable,
    verifier: Option<Verifier>,
    principal_type: EntityTypeName,
    groups_claim: String,
    roles_claim: String,
    scope_claim: String,
    tenant_claim: String,
    pub(crate) rate_limits: Vec<RateLimit>,
}

impl Gateway {
    /// Compiles `[gateway]`; `read` reads a bundle file. Errors name what
    /// is wrong.
    pub(crate) fn new(
        section: &GatewaySection,
        read: &mut dyn FnMut(&str) -> Result<String, String>,
    ) -> Result<Gateway, Vec<SectionProblem>> {
        let mut problems = Vec::new();
        let mut table = RouteTable::default();
        for (i, r) in section.routes.iter().enumerate() {
            match Route::new(
                r.method.as_deref().unwrap_or("*"),
                &r.path,
                &r.action,
                &r.resource,
                r.public,
            ) {
                Ok(mut route) => {
                    route.allow_encoded_slash = r.allow_encoded_slash;
                    table.routes.push(route);
                }
                Err(e) => problems.push(SectionProblem::new(
                    At::Route(i, None),
                    format!("[[gateway.route]] {}: {e}", i + 1),
                )),
            }
        }
        let principal_type = section.principal_type.as_deref().unwrap_or("User");
        let principal_type = EntityTypeName::from_str(principal_type).unwrap_or_else(|e| {
            problems.push(SectionProblem::new(
                At::Key("principal_type"),
                format!("gateway.principal_type `{principal_type}`: {e}"),
            ));
            palisade_engine::values::known_type("User")
        });
        let jwt = section.jwt.as_ref();
        let verifier = jwt.and_then(|j| {
            let algorithms: Result<Vec<_>, String> = j
                .algorithms
                .clone()
                .unwrap_or_else(|| vec!["RS256".into(), "ES256".into(), "EdDSA".into()])
                .iter()
                .map(|a| jwt::algorithm(a))
                .collect();
            let algorithms = match algorithms {
                Ok(a) => a,
                Err(e) => {
                    problems.push(SectionProblem::new(
                        At::Jwt(Some("algorithms")),
                        format!("gateway.jwt.algorithms: {e}"),
                    ));
                    return None;
                }
            };
            let keys = match jwt_keys(j, read) {
                Ok(k) => k,
                Err(e) => {
                    problems.push(e);
                    return None;
                }
            };
            Verifier::new(
                keys,
                j.issuers.clone(),
                j.audiences.clone(),
                algorithms,
                j.leeway_seconds.unwrap_or(60),
            )
            .map_err(|e| {
                problems.push(SectionProblem::new(
                    At::Jwt(Some("leeway_seconds")),
                    format!("gateway.jwt: {e}"),
                ))
            })
            .ok()
        });
        for (i, l) in section.rate_limits.iter().enumerate() {
            if !(l.rate >= 0.0 && l.rate.is_finite()) || l.burst == 0 {
                problems.push(SectionProblem::new(
                    At::RateLimit(i, Some(if l.burst == 0 { "burst" } else { "rate" })),
                    format!(
                        "[[gateway.rate_limit]] {}: rate must be a number >= 0 and burst at least 1",
                        i + 1
                    ),
                ));
            }
            if let Some(r) = &l.route
                && !table.routes.iter().any(|t| &t.template == r)
            {
                problems.push(SectionProblem::new(
                    At::RateLimit(i, Some("route")),
                    format!(
                        "[[gateway.rate_limit]] {}: route `{r}` is not in the route table",
                        i + 1
                    ),
                ));
            }
        }
        let claim = |c: Option<&String>, d: &str| c.cloned().unwrap_or_else(|| d.to_owned());
        if problems.is_empty() {
            Ok(Gateway {
                routes: table,
                verifier,
                principal_type,
                groups_claim: claim(jwt.and_then(|j| j.groups_claim.as_ref()), "groups"),
                roles_claim: claim(jwt.and_then(|j| j.roles_claim.as_ref()), "roles"),
                scope_claim: claim(jwt.and_then(|j| j.scope_claim.as_ref()), "scope"),
                tenant_claim: claim(jwt.and_then(|j| j.tenant_claim.as_ref()), "tenant"),
                rate_limits: section.rate_limits.clone(),
            })
        } else {
            Err(problems)
        }
    }
}

/// Where `[gateway.jwt]` takes its keys from: the bundle's JWKS file or
/// the identity provider's URL. The error names the setting that is wrong.
fn jwt_keys(
    j: &JwtSection,
    read: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<jwt::Keys, SectionProblem> {
    match (&j.jwks, &j.jwks_url) {
        (Some(file), None) => {
            let text = read(file).map_err(|why| {
                SectionProblem::new(
                    At::Jwt(Some("jwks")),
                    format!("gateway.jwt.jwks: cannot read `{file}`: {why}"),
                )
            })?;
            let keys = keys::KeySet::parse(&text).map_err(|e| {
                SectionProblem::new(At::Jwt(Some("jwks")), format!("gateway.jwt ({file}): {e}"))
            })?;
            Ok(jwt::Keys::Fixed(std::sync::Arc::new(keys)))
        }
        (None, Some(url)) => {
            jwks::check_url(url).map_err(|e| {
                SectionProblem::new(
                    At::Jwt(Some("jwks_url")),
                    format!("gateway.jwt.jwks_url {e}"),
                )
            })?;
            if !cfg!(feature = "jwks-http") {
                return Err(SectionProblem::new(
                    At::Jwt(Some("jwks_url")),
                    format!(
                        "gateway.jwt.jwks_url `{url}`: this build cannot fetch keys (palisade-gateway's `jwks-http` feature is off)"
                    ),
                ));
            }
            let refresh = j
                .jwks_refresh_seconds
                .unwrap_or(jwks::DEFAULT_REFRESH_SECONDS);
            if !(1..=86_400).contains(&refresh) {
                return Err(SectionProblem::new(
                    At::Jwt(Some("jwks_refresh_seconds")),
                    format!("gateway.jwt.jwks_refresh_seconds `{refresh}` must be from 1 to 86400"),
                ));
            }
            Ok(jwt::Keys::Remote(std::sync::Arc::new(
                jwks::RemoteKeys::new(url, refresh),
            )))
        }
        (Some(file), Some(url)) => Err(SectionProblem::new(
            At::Jwt(Some("jwks_url")),
            format!(
                "gateway.jwt: `jwks` (`{file}`) and `jwks_url` (`{url}`) are both set; keep one"
            ),
        )),
        (None, None) => Err(SectionProblem::new(
            At::Jwt(None),
            "gateway.jwt: set `jwks` (a JWK set file of the bundle) or `jwks_url` (your identity provider's)",
        )),
    }
}

/// An HTTP request as a gateway saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// Query parameters, in order.
    #[serde(default)]
    pub query: Vec<(String, String)>,
    /// Headers, names lowercase, in order.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The client's address, when known.
    #[serde(default)]
    pub client: Option<String>,
}

impl HttpRequest {
    /// A request from a method and a URI (`/orders/42?x=1`).
    pub fn new(method: &str, uri: &str) -> HttpRequest {
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        HttpRequest {
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            query: query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
            headers: Vec::new(),
            client: None,
        }
    }

    /// Adds a header (the name is lowercased).
    pub fn header(mut self, name: &str, value: &str) -> HttpRequest {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// The first value of a header.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The bearer token of the `Authorization` header.
    pub fn bearer(&self) -> Option<&str> {
        let value = self.header_value("authorization")?.trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim())
            .filter(|t| !t.is_empty())
    }

    /// The client address the closest proxy appended to `X-Forwarded-For`:
    /// the last entry of the last such header, if it is an IP address. The
    /// entries before it are whatever the client wrote.
    pub fn forwarded_for(&self) -> Option<String> {
        forward::last_forwarded_for(
            self.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-for"))
                .map(|(_, v)| v.as_str()),
        )
    }

    /// A request from the parts of an `http` request: its method, path
    /// and query, and its headers.
    #[cfg(feature = "tower")]
    pub fn from_http(
        method: &http::Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
    ) -> HttpRequest {
        let target = uri.path_and_query().map_or("/", |p| p.as_str());
        HttpRequest::new(method.as_str(), target).headers_from(headers)
    }

    /// Adds every header of `headers` whose value is text.
    #[cfg(feature = "tower")]
    pub fn headers_from(mut self, headers: &http::HeaderMap) -> HttpRequest {
        self.headers.extend(
            headers
                .iter()
                .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned()))),
        );
        self
    }

    /// What plugins of kind `request` see.
    fn to_json(&self, route: Option<&str>) -> Value {
        let mut query = Map::new();
        for (k, v) in &self.query {
            query
                .entry(k.clone())
                .or_insert_with(|| Value::String(v.clone()));
        }
        let mut headers = Map::new();
        for (k, v) in &self.headers {
            headers
                .entry(k.clone())
                .or_insert_with(|| Value::String(v.clone()));
        }
        json!({
            "method": self.method,
            "path": self.path,
            "route": route,
            "query": query,
            "headers": headers,
            "client": self.client,
        })
    }
}

/// `application/x-www-form-urlencoded` decoding of a query component:
/// `%XX` escapes and `+` for a space; invalid escapes stay as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How a gateway should answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HttpOutcome {
    /// 200: let the request through.
    Allow,
    /// 401: no credentials, or bad ones.
    Unauthenticated,
    /// 403: the policies (or the route table) deny it.
    Forbidden,
    /// 429: over a rate limit.
    RateLimited,
    /// 400: the request does not name one path exactly (a dot segment,
    /// an encoded `/` in a route parameter, bad percent-encoding).
    BadRequest,
}

/// The answer to an [`HttpRequest`].
#[derive(Debug, Clone, Serialize)]
pub struct HttpDecision {
    /// 200, 400, 401, 403 or 429.
    pub status: u16,
    /// What the status means.
    pub outcome: HttpOutcome,
    /// Why, in a few words: the deciding policies or rule ids, `no-route`,
    /// `missing-token`, the token problem, `rate-limited`.
    pub reason: String,
    /// The principal, as a Cedar entity uid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The matched route template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The Cedar action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The Cedar resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The token id (`jti`), when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// Seconds to wait, for 429.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// The engine's decision, when Cedar ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
}

impl HttpDecision {
    fn early(outcome: HttpOutcome, reason: impl Into<String>) -> HttpDecision {
        HttpDecision {
            status: match outcome {
                HttpOutcome::Allow => 200,
                HttpOutcome::Unauthenticated => 401,
                HttpOutcome::Forbidden => 403,
                HttpOutcome::RateLimited => 429,
                HttpOutcome::BadRequest => 400,
            },
            outcome,
            reason: reason.into(),
            principal: None,
            route: None,
            action: None,
            resource: None,
            token_id: None,
            retry_after: None,
            decision: None,
        }
    }

    /// The headers a gateway answers with: `X-Palisade-Principal` on 200,
    /// `WWW-Authenticate: Bearer` (RFC 6750, with the token problem) on
    /// 401, `Retry-After` on 429 and `X-Palisade-Reason` on every denial.
    /// Values hold no control characters.
    ///
    /// # Examples
    /// ```
    /// # use palisade_engine::Now;
    /// # use palisade_gateway::HttpRequest;
    /// # let engine = palisade_gateway::engine()?;
    /// # let bundle = engine.load_bundle_from(&palisade_engine::MemorySource::new("g")
    /// #     .file("palisade.toml", b"[bundle]\nname = \"g\"\nversion = \"1.0.0\"\n".as_slice())
    /// #     .file("policies/p.cedar", b"permit(principal, action, resource);".as_slice()))?;
    /// let d = palisade_gateway::decide(&bundle, &HttpRequest::new("GET", "/nowhere"), Now::epoch(), None);
    /// assert_eq!(d.status, 403);
    /// assert_eq!(d.headers(), [("x-palisade-reason", "no-route".to_owned())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let clean = |v: &str| -> String { v.chars().filter(|c| !c.is_control()).collect() };
        let mut out = Vec::with_capacity(2);
        match self.outcome {
            HttpOutcome::Allow => {
                if let Some(p) = &self.principal {
                    out.push(("x-palisade-principal", clean(p)));
                }
                return out;
            }
            HttpOutcome::Unauthenticated => {
                let www = if self.reason == "missing-token" {
                    r#"Bearer realm="palisade""#.to_owned()
                } else {
                    format!(
                        r#"Bearer realm="palisade", error="invalid_token", error_description="{}""#,
                        self.reason.replace('"', "'")
                    )
                };
                out.push(("www-authenticate", clean(&www)));
            }
            HttpOutcome::RateLimited => {
                out.push(("retry-after", self.retry_after.unwrap_or(1).to_string()));
            }
            HttpOutcome::Forbidden | HttpOutcome::BadRequest => {}
        }
        out.push(("x-palisade-reason", clean(&self.reason)));
        out
    }

    /// The JSON body of the answer: status, reason, principal and route
    /// (never the token or the request's headers); a 400 also has
    /// `error`, the reason.
    pub fn body_json(&self) -> String {
        let mut body = json!({
            "status": self.status,
            "reason": self.reason,
            "principal": self.principal,
            "route": self.route,
        });
        if self.outcome == HttpOutcome::BadRequest
            && let Some(o) = body.as_object_mut()
        {
            o.insert("error".into(), Value::String(self.reason.clone()));
        }
        body.to_string()
    }

    /// The whole answer as an `http` response: the status, the
    /// [`headers`](HttpDecision::headers) and the JSON
    /// [`body`](HttpDecision::body_json).
    #[cfg(feature = "tower")]
    pub fn to_response<B: From<String>>(&self) -> http::Response<B> {
        let mut r = http::Response::new(B::from(format!("{}\n", self.body_json())));
        *r.status_mut() =
            http::StatusCode::from_u16(self.status).unwrap_or(http::StatusCode::FORBIDDEN);
        let headers = r.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        for (name, value) in self.headers() {
            if let Ok(v) = http::HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        r
    }
}

/// Everything known about the caller before Cedar decides.
pub(crate) struct Identified<'b> {
    pub route: &'b Route,
    pub params: BTreeMap<String, String>,
    pub principal: EntityUid,
    pub claims: Option<Claims>,
}

/// Strings of a claim that is a list or a space-separated string.
fn claim_strings(claims: &Claims, name: &str) -> Vec<String> {
    match claims.get(name) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// `amr` values that mean a second factor (RFC 8176).
const MFA_METHODS: [&str; 6] = ["mfa", "otp", "hwk", "swk", "sms", "sc"];

impl Gateway {
    /// Route, credentials and rate limits: who calls what. `Err` is the
    /// early answer.
    ///
    /// Rate limits are taken before any signature check: an anonymous
    /// caller, and a token not verified before, pay from the client
    /// address's buckets (so a flood of bad tokens gets 429 and costs no
    /// signature check); a verified principal then pays from its own.
    pub(crate) fn identify<'b>(
        &'b self,
        req: &HttpRequest,
        now: Now,
        limiter: Option<(&RateLimiter, std::time::Duration)>,
    ) -> Result<Identified<'b>, Box<HttpDecision>> {
        let m = self.find(req)?;
        let route = m.route;
        let limit = |key: &str, which: &dyn Fn(&RateLimit) -> bool| match limiter {
            Some((l, elapsed)) => l
                .take_matching(key, &route.template, elapsed, which)
                .map_err(|wait| {
                    let mut d = rate_limited(wait);
                    d.route = Some(route.template.clone());
                    Box::new(d)
                }),
            None => Ok(()),
        };
        let mut paid = false;
        let claims = match (req.bearer(), &self.verifier) {
            (Some(token), Some(v)) => Some(
                match v.verify_cached(token, now) {
                    Some(verified) => verified,
                    None => {
                        // Limits on the client address, and on the route.
                        limit(&anonymous(req).to_string(), &|l| {
                            l.per == LimitScope::Route || l.route.is_none()
                        })?;
                        paid = true;
                        v.verify(token, now)
                    }
                }
                .map_err(|e| unauthenticated(e.0, route))?,
            ),
            (Some(_), None) => {
                return Err(unauthenticated(
                    "the bundle accepts no bearer tokens".into(),
                    route,
                ));
            }
            (None, _) => None,
        };
        let who = self.identified(m, req, claims)?;
        let principal = who.principal.to_string();
        let rate = if paid {
            limit(&principal, &|l| l.per == LimitScope::Principal)
        } else {
            limit(&principal, &|_| true)
        };
        match rate {
            Ok(()) => Ok(who),
            Err(d) => Err(Box::new(describe(*d, &who))),
        }
    }

    /// The route of a request; a path that does not name one route
    /// exactly is a 400, no route a 403.
    fn find(&self, req: &HttpRequest) -> Result<routes::Matched<'_>, Box<HttpDecision>> {
        match self.routes.find(&req.method, &req.path) {
            Ok(Some(m)) => Ok(m),
            Ok(None) => Err(Box::new(no_route())),
            Err(why) => Err(Box::new(HttpDecision::early(HttpOutcome::BadRequest, why))),
        }
    }

    /// Like [`Gateway::identify`], with claims taken as verified (policy
    /// tests); `None` is an anonymous caller.
    pub(crate) fn identify_as<'b>(
        &'b self,
        req: &HttpRequest,
        claims: Option<Claims>,
    ) -> Result<Identified<'b>, Box<HttpDecision>> {
        let m = self.find(req)?;
        self.identified(m, req, claims)
    }

    /// The principal of a matched request: the token's subject, or an
    /// anonymous caller named by its address.
    fn identified<'b>(
        &'b self,
        m: routes::Matched<'b>,
        req: &HttpRequest,
        claims: Option<Claims>,
    ) -> Result<Identified<'b>, Box<HttpDecision>> {
        let principal = match &claims {
            Some(c) => {
                let sub = c
                    .get("sub")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        unauthenticated("the token has no subject (`sub`)".into(), m.route)
                    })?;
                EntityUid::from_type_name_and_id(
                    self.principal_type.clone(),
                    cedar_policy::EntityId::new(sub),
                )
            }
            None => anonymous(req),
        };
        Ok(Identified {
            route: m.route,
            params: m.params,
            principal,
            claims,
        })
    }

    /// The principal entity (claims merged with the bundle's entity of the
    /// same uid) and the Cedar context, without plugin facts.
    pub(crate) fn cedar_inputs(
        &self,
        who: &Identified<'_>,
        req: &HttpRequest,
        bundle_entities: &cedar_policy::Entities,
        now: Now,
    ) -> (
        Option<cedar_policy::Entity>,
        Vec<(String, RestrictedExpression)>,
        Vec<EntityUid>,
    ) {
        let s = |v: &str| RestrictedExpression::new_string(v.to_owned());
        let mut context = vec![
            (
                "now".to_owned(),
                RestrictedExpression::new_long(now.unix_seconds()),
            ),
            (
                "request".to_owned(),
                record([
                    ("method", s(&req.method)),
                    ("path", s(&req.path)),
                    ("host", s(req.header_value("host").unwrap_or(""))),
                    ("client", s(req.client.as_deref().unwrap_or(""))),
                ]),
            ),
            (
                "route".to_owned(),
                record([
                    ("path", s(&who.route.template)),
                    ("public", RestrictedExpression::new_bool(who.route.public)),
                ]),
            ),
            (
                "params".to_owned(),
                RestrictedExpression::new_record(who.params.iter().map(|(k, v)| (k.clone(), s(v))))
                    .unwrap_or_else(|_| RestrictedExpression::new_set([])),
            ),
            (
                "authenticated".to_owned(),
                RestrictedExpression::new_bool(who.claims.is_some()),
            ),
        ];
        let Some(claims) = &who.claims else {
            return (None, context, Vec::new());
        };
        let strings = |v: Vec<String>| RestrictedExpression::new_set(v.into_iter().map(|x| s(&x)));
        let mut scopes = claim_strings(claims, &self.scope_claim);
        scopes.extend(claim_strings(claims, "scp"));
        let amr = claim_strings(claims, "amr");
        let mfa = amr.iter().any(|m| MFA_METHODS.contains(&m.as_str()));
        let time = |name: &str| claims.get(name).and_then(jwt::numeric_date);
        let since = time("auth_time").or_else(|| time("iat"));
        let tenant = claims.get(&self.tenant_claim).and_then(Value::as_str);
        let mut token = vec![
            ("scopes", strings(scopes)),
            ("amr", strings(amr)),
            ("mfa", RestrictedExpression::new_bool(mfa)),
            (
                "issuer",
                s(claims.get("iss").and_then(Value::as_str).unwrap_or("")),
            ),
        ];
        if let Some(since) = since {
            token.push((
                "age",
                RestrictedExpression::new_long(now.unix_seconds().saturating_sub(since)),
            ));
        }
        if let Some(at) = time("auth_time") {
            token.push(("auth_time", RestrictedExpression::new_long(at)));
        }
        // Entities the context names, for the request's entity store.
        let mut refs = Vec::new();
        if let Some(jti) = claims.get("jti").and_then(Value::as_str) {
            let token_uid = palisade_engine::values::uid("Token", jti);
            refs.push(token_uid.clone());
            token.push(("id", RestrictedExpression::new_entity_uid(token_uid)));
        }
        if let Some(t) = tenant {
            token.push(("tenant", s(t)));
        }
        context.push(("token".to_owned(), record(token)));

        // The principal: claims, merged with the bundle's view of it.
        let mut parents: HashSet<EntityUid> = HashSet::new();
        for g in claim_strings(claims, &self.groups_claim) {
            parents.insert(palisade_engine::values::uid("Group", &g));
        }
        for r in claim_strings(claims, &self.roles_claim) {
            parents.insert(palisade_engine::values::uid("Role", &r));
        }
        let mut attrs = std::collections::HashMap::new();
        if let Some(t) = tenant {
            attrs.insert("tenant".to_owned(), s(t));
        }
        if let Some(known) = bundle_entities.get(&who.principal) {
            let (_, known_attrs, known_parents) = known.clone().into_inner();
            parents.extend(known_parents);
            for (k, v) in known_attrs {
                attrs.insert(k, v);
            }
        }
        let entity = cedar_policy::Entity::new(who.principal.clone(), attrs, parents).ok();
        (entity, context, refs)
    }

    /// See [`fetch_remote_keys`].
    pub(crate) fn fetch_remote_keys(&self) -> Result<(), String> {
        self.verifier
            .as_ref()
            .map_or(Ok(()), Verifier::fetch_remote_keys)
    }

    /// The document plugins of kind `request` evaluate.
    pub(crate) fn plugin_input(req: &HttpRequest, route: Option<&str>) -> String {
        req.to_json(route).to_string()
    }
}

/// The principal of a caller without a token: its client address.
fn anonymous(req: &HttpRequest) -> EntityUid {
    palisade_engine::values::uid("Anonymous", req.client.as_deref().unwrap_or("anonymous"))
}

fn record<'a>(
    pairs: impl IntoIterator<Item = (&'a str, RestrictedExpression)>,
) -> RestrictedExpression {
    RestrictedExpression::new_record(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)))
        .unwrap_or_else(|_| RestrictedExpression::new_set([]))
}

/// Fills an early or Cedar-based answer with what was identified.
pub(crate) fn describe(mut d: HttpDecision, who: &Identified<'_>) -> HttpDecision {
    d.principal = Some(who.principal.to_string());
    d.route = Some(who.route.template.clone());
    d.action = Some(who.route.action_uid().to_string());
    d.resource = Some(who.route.resource_uid(&who.params).to_string());
    d.token_id = who
        .claims
        .as_ref()
        .and_then(|c| c.get("jti"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    d
}

/// The answer for a Cedar decision about `who`. An anonymous caller of a
/// route that is not public gets 401 whatever Cedar says (fail closed),
/// with Cedar's findings attached.
pub(crate) fn answer(decision: Decision, who: &Identified<'_>) -> HttpDecision {
    let mut d = from_decision(decision);
    if who.claims.is_none() && !who.route.public {
        d.status = 401;
        d.outcome = HttpOutcome::Unauthenticated;
        d.reason = "missing-token".into();
    }
    describe(d, who)
}

/// The answer for a Cedar decision.
pub(crate) fn from_decision(decision: Decision) -> HttpDecision {
    let allowed = decision.is_allowed();
    let reason = if allowed {
        "allowed".to_owned()
    } else {
        let mut ids: Vec<String> = decision
            .findings
            .iter()
            .filter(|f| f.suppressed.is_none())
            .map(|f| f.rule_id.clone())
            .collect();
        if ids.is_empty() {
            ids.clone_from(&decision.reasons);
        }
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            decision.basis.describe().to_owned()
        } else {
            ids.join(",")
        }
    };
    let mut d = HttpDecision::early(
        if allowed {
            HttpOutcome::Allow
        } else {
            HttpOutcome::Forbidden
        },
        reason,
    );
    d.decision = Some(decision);
    d
}

/// A 401 on a matched route.
fn unauthenticated(reason: String, route: &Route) -> Box<HttpDecision> {
    let mut d = HttpDecision::early(HttpOutcome::Unauthenticated, reason);
    d.route = Some(route.template.clone());
    Box::new(d)
}

/// The answer when no route matches (or the bundle has no route table).
pub(crate) fn no_route() -> HttpDecision {
    HttpDecision::early(HttpOutcome::Forbidden, "no-route")
}

/// The rate-limit answer.
pub(crate) fn rate_limited(retry_after: u64) -> HttpDecision {
    let mut d = HttpDecision::early(HttpOutcome::RateLimited, "rate-limited");
    d.retry_after = Some(retry_after);
    d
}
