//! Parsed JWK sets: the verification keys of a bundle's JWKS file or of
//! an identity provider's JWKS URL.

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;

/// Verification keys by key id.
pub(crate) struct KeySet {
    pub(crate) keys: Vec<(Option<String>, Algorithm, DecodingKey)>,
    pub(crate) by_kid: HashMap<String, usize>,
}

/// The algorithm a JWK is for: its `alg`, or the one its key type implies.
fn key_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, KeyAlgorithm};
    if let Some(alg) = jwk.common.key_algorithm {
        return match alg {
            KeyAlgorithm::RS256 => Some(Algorithm::RS256),
            KeyAlgorithm::RS384 => Some(Algorithm::RS384),
            KeyAlgorithm::RS512 => Some(Algorithm::RS512),
            KeyAlgorithm::PS256 => Some(Algorithm::PS256),
            KeyAlgorithm::PS384 => Some(Algorithm::PS384),
            KeyAlgorithm::PS512 => Some(Algorithm::PS512),
            KeyAlgorithm::ES256 => Some(Algorithm::ES256),
            KeyAlgorithm::ES384 => Some(Algorithm::ES384),
            KeyAlgorithm::EdDSA => Some(Algorithm::EdDSA),
            _ => None,
        };
    }
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Some(Algorithm::ES256),
            EllipticCurve::P384 => Some(Algorithm::ES384),
            _ => None,
        },
        AlgorithmParameters::OctetKeyPair(_) => Some(Algorithm::EdDSA),
        _ => None,
    }
}

impl KeySet {
    /// Parses a JWK set: every key must be an asymmetric signing key.
    pub(crate) fn parse(jwks: &str) -> Result<KeySet, String> {
        let set: JwkSet = serde_json::from_str(jwks).map_err(|e| format!("not a JWK set: {e}"))?;
        let mut keys = Vec::new();
        let mut by_kid = HashMap::new();
        for (i, jwk) in set.keys.iter().enumerate() {
            let Some(alg) = key_algorithm(jwk) else {
                return Err(format!(
                    "key {} (kid `{}`) is not an RSA, EC P-256/P-384 or Ed25519 signing key",
                    i + 1,
                    jwk.common.key_id.as_deref().unwrap_or("-")
                ));
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| {
                format!(
                    "key {} (kid `{}`): {e}",
                    i + 1,
                    jwk.common.key_id.as_deref().unwrap_or("-")
                )
            })?;
            if let Some(kid) = &jwk.common.key_id {
                by_kid.insert(kid.clone(), keys.len());
            }
            keys.push((jwk.common.key_id.clone(), alg, key));
        }
        if keys.is_empty() {
            return Err("the JWK set has no keys".into());
        }
        Ok(KeySet { keys, by_kid })
    }

    /// Whether a key has this id.
    pub(crate) fn has_kid(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }
}
