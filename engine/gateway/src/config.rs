//! `[gateway]` of `palisade.toml`, as written: routes, token verification
//! and rate limits. [`crate::gateway`] builds it.

use crate::limit::RateLimit;
use serde::{Deserialize, Serialize};

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
