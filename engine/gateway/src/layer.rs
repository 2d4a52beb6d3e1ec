//! A [`tower`](https://docs.rs/tower) layer that makes an axum or hyper
//! service enforce a bundle's `[gateway]` section in process: the same
//! route table, JWT verification, rate limits, Cedar policies and plugins
//! as `palisade serve`, with no network hop per decision.
//!
//! ```
//! use palisade_engine::MemorySource;
//! use palisade_gateway::{GatewayLayer, HttpDecision};
//! use std::convert::Infallible;
//! use tower_layer::Layer;
//! use tower_service::Service;
//!
//! let engine = palisade_gateway::engine()?;
//! let bundle = engine.load_bundle_from(
//!     &MemorySource::new("demo")
//!         .file("palisade.toml", br#"
//! [bundle]
//! name = "demo"
//! version = "1.0.0"
//! [[gateway.route]]
//! method = "GET"
//! path = "/status"
//! action = "viewStatus"
//! resource = 'Service::"demo"'
//! public = true
//! "#.as_slice())
//!         .file("policies/p.cedar", br#"permit (principal, action, resource) when { context.route.public };"#.as_slice()),
//! )?;
//! let layer = GatewayLayer::new(bundle);
//!
//! // Any tower service of `http` requests: here one that greets the principal.
//! let app = tower_service_fn(|req: http::Request<String>| {
//!     let who = req.extensions().get::<HttpDecision>().and_then(|d| d.principal.clone());
//!     Ok::<_, Infallible>(http::Response::new(format!("hello {}", who.unwrap_or_default())))
//! });
//! let mut guarded = layer.layer(app);
//!
//! let ok = block_on(guarded.call(http::Request::get("/status").body(String::new())?))?;
//! assert_eq!(ok.status(), 200);
//! let denied = block_on(guarded.call(http::Request::get("/admin").body(String::new())?))?;
//! assert_eq!(denied.status(), 403);
//! assert_eq!(denied.headers()["x-palisade-reason"], "no-route");
//! # fn tower_service_fn<F>(f: F) -> ServiceFn<F> { ServiceFn(f) }
//! # #[derive(Clone)] struct ServiceFn<F>(F);
//! # impl<F, Req, Res, E> Service<Req> for ServiceFn<F> where F: FnMut(Req) -> Result<Res, E> {
//! #     type Response = Res; type Error = E; type Future = std::future::Ready<Result<Res, E>>;
//! #     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), E>> { std::task::Poll::Ready(Ok(())) }
//! #     fn call(&mut self, r: Req) -> Self::Future { std::future::ready((self.0)(r)) }
//! # }
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let mut f = std::pin::pin!(f);
//! #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! An allowed request reaches the inner service with its [`HttpDecision`](crate::HttpDecision)
//! in the request's extensions (the principal, route, action, resource and
//! token id); any other answer (401, 403, 429) is made by the layer:
//! [`HttpDecision::to_response`](crate::HttpDecision::to_response), as forward-auth answers.

use crate::http::HttpRequest;
use crate::limit::RateLimiter;
use arc_swap::ArcSwap;
use palisade_engine::{Bundle, Now};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// The bundle a layer enforces, with its rate-limit counters.
struct Active {
    bundle: Bundle,
    limiter: RateLimiter,
}

struct Shared {
    current: ArcSwap<Active>,
    started: Instant,
    trust_forwarded_for: std::sync::atomic::AtomicBool,
    /// Buckets shared with other replicas, when set.
    #[cfg(feature = "redis")]
    redis: arc_swap::ArcSwapOption<crate::RedisLimiter>,
}

/// A [`tower_layer::Layer`] that decides every request with a bundle's
/// gateway section before the inner service sees it.
///
/// Cloning is cheap and clones share the bundle: [`GatewayLayer::replace_bundle`]
/// on any clone swaps it for all of them, atomically (requests in flight
/// finish with the bundle they started with).
#[derive(Clone)]
pub struct GatewayLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for GatewayLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let current = self.shared.current.load();
        f.debug_struct("GatewayLayer")
            .field("bundle", &current.bundle.name())
            .field("digest", &current.bundle.digest())
            .finish()
    }
}

impl GatewayLayer {
    /// A layer enforcing `bundle` (loaded by an engine with the
    /// [`GatewayExtension`](crate::GatewayExtension), e.g.
    /// [`engine`](crate::engine())). Rate-limit counters live in the layer
    /// (one process, one set of counters). With a `jwks_url`, call
    /// [`fetch_remote_keys`](crate::fetch_remote_keys) first (here and
    /// before [`GatewayLayer::replace_bundle`]) so that no request waits
    /// for the keys.
    pub fn new(bundle: Bundle) -> GatewayLayer {
        GatewayLayer {
            shared: Arc::new(Shared {
                current: ArcSwap::from_pointee(active(bundle)),
                started: Instant::now(),
                trust_forwarded_for: std::sync::atomic::AtomicBool::new(false),
                #[cfg(feature = "redis")]
                redis: arc_swap::ArcSwapOption::empty(),
            }),
        }
    }

    /// Takes the client address of anonymous callers, and of tokens not
    /// verified before (who share a rate limit per address), from the last
    /// `X-Forwarded-For` entry: the one the proxy in front of the service
    /// appended. Entries before it are what the client wrote and are never
    /// used. Only for services behind exactly one proxy that appends to
    /// (or sets) that header; without it, every such caller shares one
    /// bucket.
    #[must_use]
    pub fn trust_forwarded_for(self, trust: bool) -> GatewayLayer {
        self.shared
            .trust_forwarded_for
            .store(trust, std::sync::atomic::Ordering::Relaxed);
        self
    }

    /// Keeps the rate limits' buckets in Redis, shared with every replica
    /// (layer or `palisade serve`) that names the same Redis and bundle,
    /// instead of in this process (feature `redis`). A request waits at
    /// most the limiter's timeout for Redis; when it does not answer, the
    /// request is counted in this layer's own buckets, as
    /// [`RedisLimiter`](crate::RedisLimiter) describes. Call it within a
    /// tokio runtime, and call [`RedisLimiter::ping`](crate::RedisLimiter::ping)
    /// every few seconds if its health is reported.
    #[cfg(feature = "redis")]
    #[must_use]
    pub fn share_limits(self, redis: Arc<crate::RedisLimiter>) -> GatewayLayer {
        self.shared.redis.store(Some(redis));
        self
    }

    /// Swaps in a new bundle for every service made by this layer and its
    /// clones (incident response: a suspended principal takes effect at
    /// once). Rate-limit counters start afresh.
    pub fn replace_bundle(&self, bundle: Bundle) {
        self.shared.current.store(Arc::new(active(bundle)));
    }
}

fn active(bundle: Bundle) -> Active {
    Active {
        limiter: RateLimiter::new(crate::rate_limits(&bundle).to_vec()),
        bundle,
    }
}

impl<S> tower_layer::Layer<S> for GatewayLayer {
    type Service = GatewayService<S>;

    fn layer(&self, inner: S) -> GatewayService<S> {
        GatewayService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service a [`GatewayLayer`] wraps around an inner service.
#[derive(Clone)]
pub struct GatewayService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for GatewayService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayService").finish_non_exhaustive()
    }
}

/// The inner service is `Clone` and `Send` (as axum's and hyper's
/// services are): with shared limits the decision waits for Redis, and the
/// ready service is taken into the call's future until it is decided.
impl<S, ReqBody, ResBody> tower_service::Service<http::Request<ReqBody>> for GatewayService<S>
where
    S: tower_service::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = GatewayFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        let shared = &self.shared;
        let mut seen = HttpRequest::from_http(req.method(), req.uri(), req.headers());
        if shared
            .trust_forwarded_for
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            seen.client = seen.forwarded_for();
        }
        #[cfg(feature = "redis")]
        if let Some(redis) = shared.redis.load_full() {
            let current = shared.current.load_full();
            let elapsed = shared.started.elapsed();
            // The ready service goes with the request; a clone waits for
            // the next `poll_ready`.
            let clone = self.inner.clone();
            let mut inner = std::mem::replace(&mut self.inner, clone);
            return GatewayFuture::deciding(Box::pin(async move {
                let buckets = crate::Buckets::Shared(&redis, &current.limiter, elapsed);
                let d =
                    crate::decide_with(&current.bundle, &seen, Now::system_second(), Some(buckets))
                        .await;
                if d.status == 200 {
                    req.extensions_mut().insert(d);
                    Ok(inner.call(req))
                } else {
                    Err(d.to_response())
                }
            }));
        }
        let current = shared.current.load();
        let d = crate::decide(
            &current.bundle,
            &seen,
            Now::system_second(),
            Some((&current.limiter, shared.started.elapsed())),
        );
        if d.status == 200 {
            req.extensions_mut().insert(d);
            GatewayFuture::allowed(self.inner.call(req))
        } else {
            GatewayFuture::answered(d.to_response())
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`GatewayService`] call: the inner service's, or
    /// the layer's own answer (401, 403, 429).
    pub struct GatewayFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Allowed { #[pin] inner: F },
        Answered { response: Option<http::Response<B>> },
        Deciding { decision: Deciding<F, B> },
    }
}

/// A decision that waits for shared buckets: the inner service's future
/// when allowed, the layer's answer otherwise.
type Deciding<F, B> = Pin<Box<dyn Future<Output = Result<F, http::Response<B>>> + Send>>;

impl<F, B> GatewayFuture<F, B> {
    #[cfg(feature = "redis")]
    fn deciding(decision: Deciding<F, B>) -> Self {
        GatewayFuture {
            state: State::Deciding { decision },
        }
    }

    fn allowed(inner: F) -> Self {
        GatewayFuture {
            state: State::Allowed { inner },
        }
    }

    fn answered(response: http::Response<B>) -> Self {
        GatewayFuture {
            state: State::Answered {
                response: Some(response),
            },
        }
    }
}

impl<F, B, E> Future for GatewayFuture<F, B>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        // Deciding turns into Allowed or Answered, polled at once.
        loop {
            match state.as_mut().project() {
                StateProj::Deciding { decision } => match decision.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(inner)) => state.set(State::Allowed { inner }),
                    Poll::Ready(Err(answer)) => state.set(State::Answered {
                        response: Some(answer),
                    }),
                },
                StateProj::Allowed { inner } => return inner.poll(cx),
                // Polled again after it completed: it never completes again.
                StateProj::Answered { response } => {
                    return match response.take() {
                        Some(r) => Poll::Ready(Ok(r)),
                        None => Poll::Pending,
                    };
                }
            }
        }
    }
}
