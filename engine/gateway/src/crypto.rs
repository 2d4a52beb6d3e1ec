//! JWT signature checks with ring.
//!
//! `jsonwebtoken` takes its cryptography from a process-wide
//! [`CryptoProvider`]. Its RustCrypto provider spends about 170 µs on an
//! ES256 check on this kind of machine, most of a decision for a token not
//! seen before; ring's P-256, P-384, Ed25519 and RSA verification is a few
//! times faster. The gateway's extension installs this provider when it is made, unless
//! the embedding program installed one of its own first (then that one is
//! used). Signing (test tokens) stays with RustCrypto.

use jsonwebtoken::crypto::{CryptoProvider, JwtVerifier};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};
use ring::signature::{self as ring_sig, RsaPublicKeyComponents, UnparsedPublicKey};
use std::sync::LazyLock;

/// Signing and JWK helpers from RustCrypto, verification with ring.
static PROVIDER: LazyLock<CryptoProvider> = LazyLock::new(|| {
    let rust_crypto = &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
    CryptoProvider {
        signer_factory: rust_crypto.signer_factory,
        verifier_factory: new_verifier,
        key_utils: rust_crypto.key_utils.clone(),
    }
});

/// Installs the provider for this process; a provider installed before
/// (by the embedding program) stays.
pub(crate) fn install() {
    let _ = PROVIDER.install_default();
}

/// What ring verifies with: a public key in the form ring reads.
enum Key {
    /// SEC1 point (ECDSA), raw 32 bytes (Ed25519) or PKCS#1 DER (RSA).
    Bytes(Vec<u8>),
    /// RSA modulus and exponent (RSA keys from a JWK).
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

struct RingVerifier {
    algorithm: Algorithm,
    ring: &'static dyn ring_sig::VerificationAlgorithm,
    rsa: Option<&'static ring_sig::RsaParameters>,
    key: Key,
}

fn new_verifier(
    algorithm: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    use Algorithm as A;
    let (ring, rsa): (
        &'static dyn ring_sig::VerificationAlgorithm,
        Option<&'static ring_sig::RsaParameters>,
    ) = match algorithm {
        A::ES256 => (&ring_sig::ECDSA_P256_SHA256_FIXED, None),
        A::ES384 => (&ring_sig::ECDSA_P384_SHA384_FIXED, None),
        A::EdDSA => (&ring_sig::ED25519, None),
        A::RS256 => rsa(&ring_sig::RSA_PKCS1_2048_8192_SHA256),
        A::RS384 => rsa(&ring_sig::RSA_PKCS1_2048_8192_SHA384),
        A::RS512 => rsa(&ring_sig::RSA_PKCS1_2048_8192_SHA512),
        A::PS256 => rsa(&ring_sig::RSA_PSS_2048_8192_SHA256),
        A::PS384 => rsa(&ring_sig::RSA_PSS_2048_8192_SHA384),
        A::PS512 => rsa(&ring_sig::RSA_PSS_2048_8192_SHA512),
        // HMAC: never accepted by a bundle; RustCrypto's answer.
        _ => {
            return (jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.verifier_factory)(
                algorithm, key,
            );
        }
    };
    let key = match key.kind() {
        DecodingKeyKind::SecretOrDer(bytes) => Key::Bytes(bytes.clone()),
        DecodingKeyKind::RsaModulusExponent { n, e } => Key::Rsa {
            n: n.clone(),
            e: e.clone(),
        },
    };
    Ok(Box::new(RingVerifier {
        algorithm: *algorithm,
        ring,
        rsa,
        key,
    }))
}

fn rsa(
    p: &'static ring_sig::RsaParameters,
) -> (
    &'static dyn ring_sig::VerificationAlgorithm,
    Option<&'static ring_sig::RsaParameters>,
) {
    (p, Some(p))
}

impl jsonwebtoken::signature::Verifier<Vec<u8>> for RingVerifier {
    fn verify(
        &self,
        msg: &[u8],
        signature: &Vec<u8>,
    ) -> Result<(), jsonwebtoken::signature::Error> {
        let verified = match (&self.key, self.rsa) {
            (Key::Bytes(bytes), _) => {
                UnparsedPublicKey::new(self.ring, bytes).verify(msg, signature)
            }
            (Key::Rsa { n, e }, Some(params)) => {
                RsaPublicKeyComponents { n, e }.verify(params, msg, signature)
            }
            // RSA components for an algorithm that is not RSA.
            (Key::Rsa { .. }, None) => return Err(jsonwebtoken::signature::Error::new()),
        };
        verified.map_err(|_| jsonwebtoken::signature::Error::new())
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_gateway_extension_installs_ring_for_jwt_checks() {
        let _engine = crate::engine().unwrap();
        let installed = jsonwebtoken::crypto::CryptoProvider::try_get_default().unwrap();
        assert!(std::ptr::eq(installed, &*super::PROVIDER));
    }
}
