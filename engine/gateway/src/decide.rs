//! The gateway's part of a bundle (its [`Extension`]) and the one way to
//! decide an HTTP request with it.

use crate::config::GatewaySection;
use crate::gateway::{At, Gateway, Identified, answer, no_route};
use crate::http::{HttpDecision, HttpOutcome, HttpRequest};
use crate::limit::{Buckets, RateLimit, RateLimiter};
use cedar_policy::Request;
use palisade_engine::{
    Bundle, Engine, EngineBuilder, EngineError, Evaluation, Extension, ExtensionContext, InputKind,
    Now, PluginInput, Problem, values,
};
use std::collections::BTreeMap;
use std::future::Future as _;
use std::ops::Range;
use toml::Spanned;

/// The gateway's [`Extension`]: builds a bundle's `[gateway]` table (routes,
/// token verification, rate limits) when the bundle loads, and refuses the
/// bundle when the table is wrong. Register it with
/// [`EngineBuilder::extension`], or use [`engine`] / [`engine_builder`].
#[derive(Debug, Clone, Copy)]
pub struct GatewayExtension(());

impl GatewayExtension {
    /// The extension. JWT signatures are checked with ring from here on
    /// in this process, unless the program installed another
    /// `jsonwebtoken` crypto provider first.
    pub fn new() -> GatewayExtension {
        crate::crypto::install();
        GatewayExtension(())
    }
}

impl Default for GatewayExtension {
    fn default() -> Self {
        GatewayExtension::new()
    }
}

/// `palisade.toml` as the gateway reads it: its own table, the rest
/// ignored (the engine validates it).
#[derive(serde::Deserialize)]
struct Manifest {
    #[serde(default)]
    gateway: Option<GatewaySection>,
}

/// Where each part of `[gateway]` is written, to report problems at
/// their line.
#[derive(serde::Deserialize, Default)]
struct Spans {
    #[serde(default)]
    gateway: Option<Spanned<GatewaySpans>>,
}

type Keys = BTreeMap<String, Spanned<toml::Value>>;

#[derive(serde::Deserialize, Default)]
struct GatewaySpans {
    #[serde(default)]
    principal_type: Option<Spanned<toml::Value>>,
    #[serde(default)]
    jwt: Option<Spanned<Keys>>,
    #[serde(default)]
    route: Vec<Spanned<Keys>>,
    #[serde(default)]
    rate_limit: Vec<Spanned<Keys>>,
}

impl Spans {
    /// The bytes of `palisade.toml` that `at` names: the key when it is
    /// written, else its table, else `[gateway]`.
    fn of(&self, at: At) -> Option<Range<usize>> {
        let gateway = self.gateway.as_ref()?;
        let g = gateway.get_ref();
        let in_table = |table: Option<&Spanned<Keys>>, key: Option<&str>| {
            table.map(|t| {
                key.and_then(|k| t.get_ref().get(k))
                    .map_or_else(|| t.span(), Spanned::span)
            })
        };
        let found = match at {
            At::Key(_) => g.principal_type.as_ref().map(Spanned::span),
            At::Jwt(key) => in_table(g.jwt.as_ref(), key),
            At::Route(i, key) => in_table(g.route.get(i), key),
            At::RateLimit(i, key) => in_table(g.rate_limit.get(i), key),
        };
        found.or_else(|| Some(gateway.span()))
    }
}

impl Extension for GatewayExtension {
    fn table(&self) -> &'static str {
        "gateway"
    }

    fn load(
        &self,
        cx: &mut ExtensionContext<'_>,
    ) -> Result<Box<dyn std::any::Any + Send + Sync>, Vec<Problem>> {
        let manifest: Manifest = toml::from_str(cx.manifest_text())
            .map_err(|e| vec![cx.problem_at(e.span(), e.message().trim_end())])?;
        let section = manifest.gateway.unwrap_or_default();
        let mut read = |path: &str| cx.read(path);
        match Gateway::new(&section, &mut read) {
            Ok(g) => Ok(Box::new(g)),
            Err(problems) => {
                let spans: Spans = toml::from_str(cx.manifest_text()).unwrap_or_default();
                Err(problems
                    .into_iter()
                    .map(|p| match spans.of(p.at) {
                        Some(span) => cx.problem_at(Some(span), p.message),
                        None => cx.problem_near("[gateway", p.message),
                    })
                    .collect())
            }
        }
    }
}

/// A builder of engines whose bundles have their `[gateway]` table built.
pub fn engine_builder() -> EngineBuilder {
    Engine::builder().extension(GatewayExtension::new())
}

/// An engine with default settings whose bundles have their `[gateway]`
/// table built.
///
/// # Errors
/// [`EngineError`] when the WebAssembly runtime cannot be configured.
pub fn engine() -> Result<Engine, EngineError> {
    engine_builder().build()
}

/// What a bundle without a built gateway answers: no routes when it has
/// no `[gateway]` table. (One with the table cannot load without the
/// [`GatewayExtension`]; should it be decided anyway, it denies everything
/// with the reason `gateway-not-loaded`: fail closed.)
fn unbuilt(bundle: &Bundle) -> HttpDecision {
    let mut d = no_route();
    if bundle.has_gateway() {
        d.reason = "gateway-not-loaded".into();
    }
    d
}

/// Decides an HTTP request for a gateway: the bundle's route table maps
/// it to a Cedar action and resource, its bearer token (verified with
/// the bundle's JWKS) names the principal, the rate limits apply, the
/// plugins of kind `request` inspect it, and Cedar decides.
///
/// `limiter` is the rate limiter with a monotonic clock (the time since it
/// was made); `None` skips rate limiting (as in tests of the policies). Limits
/// are taken before a token's signature is checked: a token not seen
/// before pays from its client address's buckets first (see
/// [`HttpRequest::forwarded_for`]).
///
/// A path that does not name one resource exactly (a dot segment, an
/// encoded `/` in a route parameter, bad percent-encoding) is a 400.
///
/// # Examples
/// ```
/// use palisade_engine::{MemorySource, Now};
/// use palisade_gateway::{HttpRequest, decide};
/// let engine = palisade_gateway::engine()?;
/// let bundle = engine.load_bundle_from(
///     &MemorySource::new("demo")
///         .file("palisade.toml", br#"
/// [bundle]
/// name = "demo"
/// version = "1.0.0"
/// [[gateway.route]]
/// method = "GET"
/// path = "/status/{id}"
/// action = "viewStatus"
/// resource = 'Status::"{id}"'
/// public = true
/// "#.as_slice())
///         .file("policies/p.cedar", br#"permit (principal, action == Action::"viewStatus", resource) when { context.route.public };"#.as_slice()),
/// )?;
/// let now = Now::parse("2026-11-29T00:00:00Z")?;
/// let ok = decide(&bundle, &HttpRequest::new("GET", "/status/1"), now, None);
/// assert_eq!((ok.status, ok.resource.as_deref()), (200, Some(r#"Status::"1""#)));
/// let unknown = decide(&bundle, &HttpRequest::new("GET", "/admin"), now, None);
/// assert_eq!((unknown.status, unknown.reason.as_str()), (403, "no-route"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn decide(
    bundle: &Bundle,
    req: &HttpRequest,
    now: Now,
    limiter: Option<(&RateLimiter, std::time::Duration)>,
) -> HttpDecision {
    let buckets = limiter.map(|(l, elapsed)| Buckets::Local(l, elapsed));
    // With local buckets nothing waits: the future is ready when first
    // polled.
    let mut decided = std::pin::pin!(decide_with(bundle, req, now, buckets));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match decided.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(d) => d,
        std::task::Poll::Pending => {
            HttpDecision::early(HttpOutcome::Forbidden, "rate-limits-unavailable")
        }
    }
}

/// Decides an HTTP request as [`decide`] does, with the rate limits'
/// buckets where `buckets` says: [`Buckets::Shared`] (feature `redis`)
/// waits for Redis, at most its timeout. `None` skips rate limiting.
pub async fn decide_with(
    bundle: &Bundle,
    req: &HttpRequest,
    now: Now,
    buckets: Option<Buckets<'_>>,
) -> HttpDecision {
    let Some(gw) = bundle.extension::<Gateway>() else {
        return unbuilt(bundle);
    };
    let who = match gw.identify(req, now, buckets, bundle.name()).await {
        Ok(w) => w,
        Err(d) => return *d,
    };
    decide_identified(bundle, gw, who, req, now)
}

/// Decides an HTTP request as [`decide`] does, with the token's claims
/// given as already verified: for testing policies (`palisade test`)
/// without signing tokens. `None` is an anonymous caller.
pub fn decide_as(
    bundle: &Bundle,
    req: &HttpRequest,
    claims: Option<serde_json::Map<String, serde_json::Value>>,
    now: Now,
) -> HttpDecision {
    let Some(gw) = bundle.extension::<Gateway>() else {
        return unbuilt(bundle);
    };
    match gw.identify_as(req, claims) {
        Ok(who) => decide_identified(bundle, gw, who, req, now),
        Err(d) => *d,
    }
}

/// Fetches the keys of `[gateway.jwt] jwks_url` now, so that the first
/// requests decided with this bundle do not wait for them: servers call it
/// after loading a bundle and before swapping it in. Nothing to do for a
/// JWKS file or a bundle without a gateway section.
///
/// # Errors
/// Why the keys could not be fetched. The bundle still works: the first
/// token that needs the keys tries again.
pub fn fetch_remote_keys(bundle: &Bundle) -> Result<(), crate::KeysError> {
    bundle
        .extension::<Gateway>()
        .map_or(Ok(()), Gateway::fetch_remote_keys)
}

/// The bundle's rate limits (`[[gateway.rate_limit]]`).
pub fn rate_limits(bundle: &Bundle) -> &[RateLimit] {
    bundle
        .extension::<Gateway>()
        .map_or(&[], |g| g.rate_limits.as_slice())
}

fn decide_identified(
    bundle: &Bundle,
    gw: &Gateway,
    who: Identified<'_>,
    req: &HttpRequest,
    now: Now,
) -> HttpDecision {
    // The principal from the token replaces the bundle's entity of that
    // uid (its parents and attributes merged in); what it derives (and the
    // token's context record) is kept with the token, for its next
    // requests.
    let principal = who.claims.as_ref().map(|token| {
        token
            .principal
            .get_or_init(|| gw.principal(&who, token, bundle))
    });
    let mut pairs = gw.context(&who, req, now, principal);
    let mut eval = Evaluation::new(bundle);
    let facts = eval.run_plugins(
        InputKind::Request,
        || PluginInput::new(Gateway::plugin_input(req, Some(&who.route.template))),
        now,
    );
    if !facts.is_empty()
        && let Some(p) = values::json_to_value(&serde_json::Value::Object(facts))
    {
        pairs.push(("plugins", p));
    }
    let (action, resource) = (who.route.action_uid(), &who.resource);
    let entities = match principal {
        Some(principal) => match principal.store(bundle, action, resource) {
            Ok(store) => store,
            Err(why) => {
                eval.invalid(format!("cannot add the principal: {why}"));
                return answer(eval.finish(None), &who);
            }
        },
        None => std::borrow::Cow::Borrowed(bundle.entities()),
    };
    let request = Request::new(
        who.principal.clone(),
        action.clone(),
        resource.clone(),
        values::context(pairs),
        None,
    )
    .map_err(|e| e.to_string());
    match request {
        Ok(request) => {
            eval.ask_cedar(
                [&who.principal, action, resource],
                &request,
                &entities,
                true,
            );
        }
        Err(e) => eval.invalid(format!("cannot build the request: {e}")),
    }
    answer(eval.finish(None), &who)
}
