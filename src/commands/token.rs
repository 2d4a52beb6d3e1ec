//! `palisade token`: signs a test JWT with a local key.

use crate::cli::TokenArgs;
use crate::exit;
use crate::output;
use crate::source;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value};

/// The algorithm a PKCS#8 key signs with, by its algorithm identifier.
fn algorithm(der: &[u8]) -> Option<Algorithm> {
    const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    const ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
    let has = |needle: &[u8]| der.windows(needle.len()).any(|w| w == needle);
    if has(P256) {
        Some(Algorithm::ES256)
    } else if has(ED25519) {
        Some(Algorithm::EdDSA)
    } else {
        None
    }
}

fn sign(args: &TokenArgs) -> Result<String, String> {
    let now = source::now(args.now.as_deref()).map_err(|_| "--now".to_owned())?;
    let pem = std::fs::read_to_string(&args.key)
        .map_err(|e| format!("cannot read `{}`: {e}", args.key.display()))?;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    if !pem.contains("-----BEGIN PRIVATE KEY-----") {
        return Err(format!(
            "`{}` is not a PKCS#8 private key (-----BEGIN PRIVATE KEY-----); convert it with `openssl pkcs8 -topk8 -nocrypt`",
            args.key.display()
        ));
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .map_err(|e| format!("`{}`: bad PEM: {e}", args.key.display()))?;
    let alg = algorithm(&der).ok_or_else(|| {
        format!(
            "`{}` is neither a P-256 nor an Ed25519 key",
            args.key.display()
        )
    })?;
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_der(&der),
        _ => EncodingKey::from_ed_der(&der),
    };
    let iat = now.unix_seconds();
    let mut claims = Map::new();
    claims.insert("sub".into(), Value::String(args.sub.clone()));
    claims.insert("iat".into(), iat.into());
    claims.insert("exp".into(), (iat + args.ttl).into());
    claims.insert("jti".into(), Value::String(format!("{}-{iat}", args.sub)));
    for c in &args.claims {
        let (name, value) = c
            .split_once('=')
            .ok_or_else(|| format!("--claim `{c}`: expected NAME=VALUE"))?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        claims.insert(name.to_owned(), value);
    }
    let mut header = Header::new(alg);
    header.kid = Some(args.kid.clone());
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| format!("cannot sign: {e}"))
}

pub fn execute(args: &TokenArgs) -> u8 {
    match sign(args) {
        Ok(t) => output::print_or_error(&format!("{t}\n"), false, exit::OK),
        Err(e) => {
            output::error(&e);
            exit::ERROR
        }
    }
}
