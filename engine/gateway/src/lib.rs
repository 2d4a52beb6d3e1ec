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

mod config;
pub(crate) mod crypto;
mod decide;
mod forward;
mod gateway;
mod http;
mod jwks;
mod jwt;
mod keys;
#[cfg(feature = "tower")]
mod layer;
mod limit;
mod routes;
#[cfg(feature = "redis")]
mod shared_limit;

pub use config::{GatewaySection, JwtSection, RouteSection};
pub use decide::{
    GatewayExtension, decide, decide_as, decide_with, engine, engine_builder, fetch_remote_keys,
    rate_limits,
};
pub use forward::{ForwardAuth, ForwardAuthError};
pub use http::{HttpDecision, HttpOutcome, HttpRequest};
pub use jwks::KeysError;
pub use jwt::TokenError;
#[cfg(feature = "tower")]
pub use layer::{GatewayFuture, GatewayLayer, GatewayService};
pub use limit::{Buckets, LimitScope, RateLimit, RateLimiter};
#[cfg(feature = "redis")]
pub use shared_limit::{LimiterHealth, RedisLimiter, redact_url};
