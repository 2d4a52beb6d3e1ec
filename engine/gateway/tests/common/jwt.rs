//! Test identity provider: signing keys made by the test (ES256, EdDSA) or
//! read from a fixture (RS256), their JWK set, and signed tokens.
//! Shared by the engine's tests, the server's tests and the benches
//! (`#[path]`-included).

#![allow(dead_code, clippy::unwrap_used)]

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::hash::{BuildHasher, Hasher};

/// 32 bytes from the OS-seeded hasher state: random enough for test keys.
fn random_32() -> [u8; 32] {
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos(),
        );
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

/// A signing key and its public JWK.
pub struct Key {
    pub alg: Algorithm,
    pub kid: String,
    pub encoding: EncodingKey,
    pub jwk: Jwk,
}

impl Key {
    /// A fresh P-256 key (ES256): PKCS#8 around a random scalar.
    pub fn es256(kid: &str) -> Key {
        let mut der =
            hex_bytes("3041020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420");
        let mut scalar = random_32();
        scalar[0] &= 0x7f; // below the group order
        der.extend_from_slice(&scalar);
        Key::new(Algorithm::ES256, kid, EncodingKey::from_ec_der(&der))
    }

    /// A fresh Ed25519 key (EdDSA).
    pub fn ed25519(kid: &str) -> Key {
        let mut der = hex_bytes("302e020100300506032b657004220420");
        der.extend_from_slice(&random_32());
        Key::new(Algorithm::EdDSA, kid, EncodingKey::from_ed_der(&der))
    }

    /// The RS256 fixture key (generating RSA keys is slow).
    pub fn rs256_fixture() -> Key {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = if dir.join("tests/fixtures/rsa-test-key.der").exists() {
            dir.join("tests/fixtures")
        } else {
            dir.join("engine/gateway/tests/fixtures")
        };
        let der = std::fs::read(dir.join("rsa-test-key.der")).unwrap();
        Key::new(
            Algorithm::RS256,
            "rsa-test",
            EncodingKey::from_rsa_der(&der),
        )
    }

    fn new(alg: Algorithm, kid: &str, encoding: EncodingKey) -> Key {
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.key_algorithm = Some(match alg {
            Algorithm::ES256 => KeyAlgorithm::ES256,
            Algorithm::EdDSA => KeyAlgorithm::EdDSA,
            _ => KeyAlgorithm::RS256,
        });
        Key {
            alg,
            kid: kid.to_owned(),
            encoding,
            jwk,
        }
    }

    /// A token with these claims, signed by this key.
    pub fn sign(&self, claims: &serde_json::Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    /// A token whose claims are these entries in this order, a key twice
    /// if it is listed twice (what `serde_json::Value` cannot hold).
    #[allow(dead_code)] // not every test binary that includes this uses it
    pub fn sign_entries(&self, entries: &[(&str, serde_json::Value)]) -> String {
        struct Entries<'a>(&'a [(&'a str, serde_json::Value)]);
        impl serde::Serialize for Entries<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (k, v) in self.0 {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &Entries(entries), &self.encoding).unwrap()
    }
}

/// The JWK set of these keys, as JSON text.
pub fn jwks(keys: &[&Key]) -> String {
    serde_json::to_string(&JwkSet {
        keys: keys.iter().map(|k| k.jwk.clone()).collect(),
    })
    .unwrap()
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// gateway-baseline's claims for `bob` of `acme`, issued at `iat`, valid
/// for an hour, then `extra` over them (a `null` removes a claim).
#[allow(dead_code)] // not every test binary that includes this uses it
pub fn baseline_claims(iat: i64, jti: &str, extra: &serde_json::Value) -> serde_json::Value {
    let mut c = serde_json::json!({
        "iss": "https://id.example.com",
        "aud": "orders-api",
        "sub": "bob",
        "tenant": "acme",
        "scope": "orders:read orders:write",
        "iat": iat,
        "exp": iat + 3600,
        "jti": jti,
    });
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            if v.is_null() {
                c.remove(k);
            } else {
                c.insert(k.clone(), v.clone());
            }
        }
    }
    c
}

/// `header.payload.` with `alg: none`.
pub fn unsigned(claims: &serde_json::Value) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(claims.to_string())
    )
}
