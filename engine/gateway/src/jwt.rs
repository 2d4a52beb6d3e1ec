//! OAuth 2.0 bearer tokens: JWT verification against a JWKS.
//!
//! Only asymmetric algorithms are accepted (RS256/384/512, PS256/384/512,
//! ES256/384, EdDSA), each only with a key of its own family and of the
//! `alg` the key names, so `alg: none` and algorithm confusion (an HMAC
//! token "signed" with a public key) are refused. Time claims (`exp`,
//! `nbf`, `iat`) are judged against the evaluation's `now`, with a bounded
//! leeway, never against the host clock.
//!
//! Claims are checked whatever the library would let pass: `exp` and
//! `sub` are required, `iss` and `aud` too when the bundle names issuers
//! or audiences, and `exp`, `nbf` and `iat` must be numbers (a string
//! `nbf` is refused, not ignored).

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use palisade_engine::Now;
use palisade_engine::json::StrictObject;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The most clock skew a bundle may allow.
pub(crate) const MAX_LEEWAY_SECONDS: u64 = 300;

/// Asymmetric algorithms a bundle may list.
const ALLOWED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Why a token was refused (the `error_description` of `WWW-Authenticate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError(pub String);

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Tokens whose signature was verified, kept so that a client's next
/// requests skip the signature check (ES256 verification is most of a
/// decision's cost). Keyed by the whole token, signature included; time
/// claims are still judged on every request, and a reload (new JWKS)
/// starts an empty cache.
const CACHE_ENTRIES: usize = 10_000;

/// The largest token accepted (bytes, base64url as sent), before any
/// decoding.
pub(crate) const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Where a verifier's keys come from.
#[derive(Clone)]
pub(crate) enum Keys {
    /// A JWKS file of the bundle.
    Fixed(Arc<super::keys::KeySet>),
    /// A JWKS URL, fetched when needed and cached.
    Remote(Arc<super::jwks::RemoteKeys>),
}

/// A verifier built from a bundle's `[gateway.jwt]` and its JWKS.
pub(crate) struct Verifier {
    /// Verified tokens, with the generation of the keys that verified them.
    verified: std::sync::Mutex<HashMap<String, (u64, Arc<Verified>)>>,
    keys: Keys,
    issuers: Vec<String>,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    leeway: u64,
}

impl Clone for Verifier {
    fn clone(&self) -> Verifier {
        Verifier {
            verified: std::sync::Mutex::new(HashMap::new()),
            keys: self.keys.clone(),
            issuers: self.issuers.clone(),
            audiences: self.audiences.clone(),
            algorithms: self.algorithms.clone(),
            leeway: self.leeway,
        }
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field(
                "keys",
                &match &self.keys {
                    Keys::Fixed(k) => format!("{} keys", k.keys.len()),
                    Keys::Remote(r) => r.url().to_owned(),
                },
            )
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("algorithms", &self.algorithms)
            .field("leeway", &self.leeway)
            .finish()
    }
}

/// The verified claims.
pub(crate) type Claims = Map<String, Value>;

/// A token's verified claims, and what the bundle derives from them once
/// (its principal entity and entity store), kept with the token in the
/// verifier's cache: the cache belongs to one bundle's gateway, so what
/// is derived is always derived from that bundle.
pub(crate) struct Verified {
    pub(crate) claims: Claims,
    pub(crate) principal: std::sync::OnceLock<crate::gateway::Principal>,
}

impl Verified {
    pub(crate) fn new(claims: Claims) -> Verified {
        Verified {
            claims,
            principal: std::sync::OnceLock::new(),
        }
    }
}

impl std::ops::Deref for Verified {
    type Target = Claims;
    fn deref(&self) -> &Claims {
        &self.claims
    }
}

/// Parses an algorithm name of the manifest.
pub(crate) fn algorithm(name: &str) -> Result<Algorithm, String> {
    let alg: Algorithm = name
        .parse()
        .map_err(|_| format!("`{name}` is not a JWT algorithm"))?;
    if ALLOWED.contains(&alg) {
        Ok(alg)
    } else {
        Err(format!(
            "`{name}` is not allowed: only asymmetric algorithms (RS*, PS*, ES256, ES384, EdDSA) verify tokens"
        ))
    }
}

impl Keys {
    /// Changes when the keys do (a JWKS URL served a different set).
    fn generation(&self) -> u64 {
        match self {
            Keys::Fixed(_) => 0,
            Keys::Remote(r) => r.generation(),
        }
    }

    /// Starts a background refresh of stale remote keys.
    fn refresh_if_stale(&self) {
        if let Keys::Remote(r) = self {
            r.refresh_if_stale();
        }
    }
}

impl Verifier {
    /// Builds a verifier from its keys.
    pub fn new(
        keys: Keys,
        issuers: Vec<String>,
        audiences: Vec<String>,
        algorithms: Vec<Algorithm>,
        leeway: u64,
    ) -> Result<Verifier, String> {
        if leeway > MAX_LEEWAY_SECONDS {
            return Err(format!(
                "leeway_seconds {leeway} is more than {MAX_LEEWAY_SECONDS}"
            ));
        }
        Ok(Verifier {
            verified: std::sync::Mutex::new(HashMap::new()),
            keys,
            issuers,
            audiences,
            algorithms,
            leeway,
        })
    }

    /// Fetches the keys of a JWKS URL now (nothing for a JWKS file).
    pub(crate) fn fetch_remote_keys(&self) -> Result<(), crate::jwks::KeysError> {
        match &self.keys {
            Keys::Fixed(_) => Ok(()),
            Keys::Remote(r) => r.prefetch(),
        }
    }

    /// The answer for a token verified before (its times judged again),
    /// or `None` when its signature has not been checked with these keys:
    /// no signature check here.
    pub(crate) fn verify_cached(
        &self,
        token: &str,
        now: Now,
    ) -> Option<Result<Arc<Verified>, TokenError>> {
        if token.len() > MAX_TOKEN_BYTES {
            return Some(Err(too_large()));
        }
        self.keys.refresh_if_stale();
        let generation = self.keys.generation();
        let cached = self
            .verified
            .lock()
            .ok()
            .and_then(|c| c.get(token).cloned())
            .filter(|(g, _)| *g == generation)?;
        Some(self.check_times(&cached.1, now).map(|()| cached.1))
    }

    /// Verifies a compact JWT; returns its claims.
    pub fn verify(&self, token: &str, now: Now) -> Result<Arc<Verified>, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(too_large());
        }
        if let Some(answer) = self.verify_cached(token, now) {
            return answer;
        }
        let generation = self.keys.generation();
        let claims = self.verify_signature(token)?;
        self.check_claims(&claims)?;
        let verified = Arc::new(Verified::new(claims));
        if let Ok(mut cache) = self.verified.lock() {
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
            // Keyed by the generation read before verifying: keys fetched
            // meanwhile make the next request verify again.
            cache.insert(token.to_owned(), (generation, Arc::clone(&verified)));
        }
        self.check_times(&verified, now).map(|()| verified)
    }

    /// Checks the signature, algorithm, issuer and audience.
    fn verify_signature(&self, token: &str) -> Result<Claims, TokenError> {
        let bad = |m: &str| TokenError(m.to_owned());
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| bad("the token is not a JWT"))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(TokenError(format!(
                "the token's algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let keys = match &self.keys {
            Keys::Fixed(k) => Arc::clone(k),
            Keys::Remote(r) => r.keys(header.kid.as_deref()).map_err(TokenError)?,
        };
        let candidates: Vec<&(Option<String>, Algorithm, DecodingKey)> = match &header.kid {
            Some(kid) => keys
                .by_kid
                .get(kid)
                .and_then(|&i| keys.keys.get(i))
                .into_iter()
                .collect(),
            None => keys.keys.iter().collect(),
        };
        if candidates.is_empty() {
            return Err(bad("the token's key id is unknown"));
        }
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        // Time is judged below against `now`, not the host clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        // Required claims are checked again in `check_claims`, with their
        // types (`exp` only there, so that a string `exp` is named as such).
        validation.required_spec_claims = ["sub"].map(str::to_owned).into();
        if !self.issuers.is_empty() {
            validation.required_spec_claims.insert("iss".to_owned());
        }
        if !self.audiences.is_empty() {
            validation.required_spec_claims.insert("aud".to_owned());
        }
        validation.validate_aud = !self.audiences.is_empty();
        if !self.audiences.is_empty() {
            validation.set_audience(&self.audiences);
        }
        if !self.issuers.is_empty() {
            validation.set_issuer(&self.issuers);
        }
        let mut last = bad("the token's signature does not verify");
        for (_, alg, key) in candidates {
            // A key verifies only tokens of its own algorithm.
            if *alg != header.alg {
                last = bad("the token's algorithm does not match its key");
                continue;
            }
            // Claims that name a key twice could mean one thing to the
            // issuer and another here: refused.
            match jsonwebtoken::decode::<StrictObject>(token, key, &validation) {
                Ok(data) => return Ok(data.claims.0),
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind as K;
                    last = match e.kind() {
                        K::MissingRequiredClaim(c) => missing(c),
                        K::InvalidIssuer => bad("the token's issuer is not accepted"),
                        K::InvalidAudience => bad("the token is not for this audience"),
                        K::InvalidSignature => bad("the token's signature does not verify"),
                        _ => TokenError(format!("the token is invalid: {e}")),
                    }
                }
            }
        }
        Err(last)
    }

    /// The claims every token must have, with the types they must have,
    /// whatever the JWT library let through.
    fn check_claims(&self, claims: &Claims) -> Result<(), TokenError> {
        if claims
            .get("sub")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(missing("sub"));
        }
        match claims.get("exp") {
            None => return Err(missing("exp")),
            Some(v) if numeric_date(v).is_none() => return Err(not_a_date("exp")),
            Some(_) => {}
        }
        for name in ["nbf", "iat", "auth_time"] {
            if claims.get(name).is_some_and(|v| numeric_date(v).is_none()) {
                return Err(not_a_date(name));
            }
        }
        if !self.issuers.is_empty() {
            match claims.get("iss") {
                None => return Err(missing("iss")),
                Some(Value::String(i)) if self.issuers.contains(i) => {}
                Some(_) => return Err(TokenError("the token's issuer is not accepted".into())),
            }
        }
        if !self.audiences.is_empty() {
            let accepted = |a: &Value| {
                a.as_str()
                    .is_some_and(|a| self.audiences.iter().any(|x| x == a))
            };
            match claims.get("aud") {
                None => return Err(missing("aud")),
                Some(Value::Array(list)) if list.iter().any(accepted) => {}
                Some(a @ Value::String(_)) if accepted(a) => {}
                Some(_) => return Err(TokenError("the token is not for this audience".into())),
            }
        }
        Ok(())
    }

    fn check_times(&self, claims: &Claims, now: Now) -> Result<(), TokenError> {
        let now = now.unix_seconds();
        let leeway = i64::try_from(self.leeway).unwrap_or(0);
        let time = |name: &str| claims.get(name).and_then(numeric_date);
        match time("exp") {
            None => return Err(TokenError("the token has no expiry (`exp`)".into())),
            Some(exp) if now > exp.saturating_add(leeway) => {
                return Err(TokenError("the token has expired".into()));
            }
            _ => {}
        }
        if time("nbf").is_some_and(|nbf| now < nbf.saturating_sub(leeway)) {
            return Err(TokenError("the token is not valid yet (`nbf`)".into()));
        }
        if time("iat").is_some_and(|iat| now < iat.saturating_sub(leeway)) {
            return Err(TokenError(
                "the token was issued in the future (`iat`)".into(),
            ));
        }
        Ok(())
    }
}

/// A NumericDate (RFC 7519): seconds, possibly with a fraction, as a JSON
/// number; `None` for anything else (a string, a boolean).
pub(crate) fn numeric_date(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite() && f.abs() < 1e15)
            .map(|f| f.floor() as i64)
    })
}

fn missing(claim: &str) -> TokenError {
    let what = match claim {
        "exp" => "expiry",
        "sub" => "subject",
        "iss" => "issuer",
        "aud" => "audience",
        _ => "required claim",
    };
    TokenError(format!("the token has no {what} (`{claim}`)"))
}

fn not_a_date(claim: &str) -> TokenError {
    TokenError(format!("the token's `{claim}` is not a number of seconds"))
}

fn too_large() -> TokenError {
    TokenError(format!("the token is larger than {MAX_TOKEN_BYTES} bytes"))
}
