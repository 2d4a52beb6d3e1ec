//! Signed bundle archives: Ed25519 keys, and a DSSE envelope
//! (<https://github.com/secure-systems-lab/dsse>, as in-toto and Sigstore
//! use) beside the archive, `NAME.bundle.sig`.
//!
//! The signed payload (type [`PAYLOAD_TYPE`]) is JSON: the archive's
//! sha256, the bundle's digest, name and version, and a revision that only
//! grows, so that a gateway can refuse to roll back:
//!
//! ```json
//! {"archive_sha256": "sha256:…", "digest": "sha256:…", "name": "orders-api",
//!  "version": "1.2.0", "revision": 7}
//! ```
//!
//! The signature is over DSSE's pre-authentication encoding of the payload
//! type and bytes. Keys are PEM files: PKCS#8 v1 private keys and SPKI
//! public keys (what `openssl pkey` reads and writes); a key's id is the
//! first 16 hex digits of the sha256 of its raw public key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use std::path::{Path, PathBuf};

/// What the envelope says it carries.
pub const PAYLOAD_TYPE: &str = "application/vnd.palisade.bundle.v1+json";
/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410).
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// DER prefix of a PKCS#8 v1 Ed25519 private key (RFC 8410), before the
/// 32-byte seed.
const PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// Largest key or signature file read.
const MAX_SMALL_FILE: u64 = 64 << 10;

/// What a signature vouches for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// `sha256:` of the archive file.
    pub archive_sha256: String,
    /// The bundle digest (the same for the directory and its archive).
    pub digest: String,
    /// The bundle's name.
    pub name: String,
    /// The bundle's version.
    pub version: String,
    /// Grows with every release of the bundle; a gateway refuses a lower
    /// one than it runs.
    pub revision: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    payload: String,
    #[serde(rename = "payloadType")]
    payload_type: String,
    signatures: Vec<EnvelopeSignature>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeSignature {
    keyid: String,
    sig: String,
}

/// A public key that signatures are checked against.
#[derive(Debug, Clone)]
pub struct PublicKey {
    raw: Vec<u8>,
    /// Its id: the first 16 hex digits of the sha256 of the raw key.
    pub id: String,
    /// Where it came from, for messages.
    pub file: PathBuf,
}

/// A verified signature: who signed what.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The signer's key id.
    pub keyid: String,
    /// What was signed.
    pub statement: Statement,
}

fn key_id(raw: &[u8]) -> String {
    palisade_engine::sha256_hex(raw)
        .get(..16)
        .unwrap_or_default()
        .to_owned()
}

/// The signature file of an archive: `FILE.sig` beside it.
pub fn signature_path(archive: &Path) -> PathBuf {
    let mut name = archive.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

/// DSSE's pre-authentication encoding.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn unpem(label: &str, text: &str, file: &Path) -> Result<Vec<u8>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = text
        .split_once(&begin)
        // One block, and nothing but white space around it: a second key
        // in the file would otherwise be ignored without a word.
        .filter(|(before, _)| before.trim().is_empty())
        .and_then(|(_, rest)| rest.split_once(&end))
        .filter(|(_, after)| after.trim().is_empty())
        .map(|(body, _)| body)
        .ok_or_else(|| {
            format!(
                "{} is not a PEM `{label}` file (one block, nothing around it)",
                crate::output::path(file)
            )
        })?;
    let joined: String = body.split_whitespace().collect();
    B64.decode(joined)
        .map_err(|e| format!("{}: bad base64: {e}", crate::output::path(file)))
}

fn read_small(path: &Path) -> Result<String, String> {
    crate::source::read_bounded(path, MAX_SMALL_FILE)
        .map_err(|e| e.describe(&path.display().to_string(), None))
}

/// Writes a new key pair: `PREFIX.key` (private, mode 0600) and
/// `PREFIX.pub`. Refuses to overwrite either.
pub fn keygen(prefix: &Path) -> Result<(PathBuf, PublicKey), String> {
    let with = |ext: &str| {
        let mut name = prefix.as_os_str().to_owned();
        name.push(ext);
        PathBuf::from(name)
    };
    let (private, public) = (with(".key"), with(".pub"));
    for p in [&private, &public] {
        // A dangling symlink counts: writing through it would put the key
        // somewhere else.
        if p.symlink_metadata().is_ok() {
            return Err(format!(
                "{} exists: keys are never overwritten",
                crate::output::path(p)
            ));
        }
    }
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| "cannot generate a key")?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| "cannot read the new key")?;
    let raw = pair.public_key().as_ref().to_vec();
    // ring writes PKCS#8 v2 (with the public key), which OpenSSL refuses;
    // the v1 form (RFC 8410) holds the same 32-byte seed.
    let seed = pkcs8
        .as_ref()
        .get(16..48)
        .ok_or("cannot read the new key")?;
    let mut v1 = PKCS8_V1_PREFIX.to_vec();
    v1.extend_from_slice(seed);
    if !Ed25519KeyPair::from_pkcs8_maybe_unchecked(&v1)
        .is_ok_and(|p| p.public_key().as_ref() == raw.as_slice())
    {
        return Err("cannot encode the new key".into());
    }
    let mut spki = SPKI_PREFIX.to_vec();
    spki.extend_from_slice(&raw);
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&private)
            .map_err(|e| format!("cannot write {}: {e}", crate::output::path(&private)))?;
        f.write_all(pem("PRIVATE KEY", &v1).as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", crate::output::path(&private)))?;
    }
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::File::options()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&public)
            .map_err(|e| format!("cannot write {}: {e}", crate::output::path(&public)))?;
        f.write_all(pem("PUBLIC KEY", &spki).as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", crate::output::path(&public)))?;
    }
    let id = key_id(&raw);
    Ok((
        private,
        PublicKey {
            raw,
            id,
            file: public,
        },
    ))
}

/// Reads a public key (`PUBLIC KEY` PEM, Ed25519).
pub fn read_public_key(path: &Path) -> Result<PublicKey, String> {
    let der = unpem("PUBLIC KEY", &read_small(path)?, path)?;
    let raw = der
        .strip_prefix(SPKI_PREFIX.as_slice())
        .filter(|k| k.len() == 32)
        .ok_or_else(|| format!("{} is not an Ed25519 public key", crate::output::path(path)))?
        .to_vec();
    Ok(PublicKey {
        id: key_id(&raw),
        raw,
        file: path.to_path_buf(),
    })
}

/// The keys of `--verify-key`: each a public key file, or a directory of
/// them (its `*.pub` files: a trust directory that a team keeps in one
/// place).
pub fn read_trusted_keys(paths: &[PathBuf]) -> Result<Vec<PublicKey>, String> {
    let mut keys = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| format!("cannot read {}: {e}", crate::output::path(path)))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "pub"))
                .collect();
            if files.is_empty() {
                return Err(format!(
                    "{} holds no public key (*.pub)",
                    crate::output::path(path)
                ));
            }
            files.sort();
            for f in files {
                keys.push(read_public_key(&f)?);
            }
        } else {
            keys.push(read_public_key(path)?);
        }
    }
    Ok(keys)
}

/// Signs `statement` with the private key in `key`; the envelope's JSON.
pub fn sign(statement: &Statement, key: &Path) -> Result<(String, String), String> {
    let der = unpem("PRIVATE KEY", &read_small(key)?, key)?;
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
        .map_err(|_| format!("{} is not an Ed25519 private key", crate::output::path(key)))?;
    let payload = serde_json::to_vec(statement).map_err(|e| e.to_string())?;
    let sig = pair.sign(&pae(PAYLOAD_TYPE, &payload));
    let keyid = key_id(pair.public_key().as_ref());
    let envelope = Envelope {
        payload: B64.encode(&payload),
        payload_type: PAYLOAD_TYPE.to_owned(),
        signatures: vec![EnvelopeSignature {
            keyid: keyid.clone(),
            sig: B64.encode(sig.as_ref()),
        }],
    };
    let json = serde_json::to_string_pretty(&envelope).map_err(|e| e.to_string())?;
    Ok((format!("{json}\n"), keyid))
}

/// What an envelope says it vouches for, without checking any signature:
/// only to see which archive a signature file belongs to (never to trust).
pub fn statement_unverified(text: &str) -> Result<Statement, String> {
    claimed(text).map(|(s, _)| s)
}

/// What an envelope claims, unverified: the statement and the key ids
/// its signatures name (for `bundle inspect`; never to trust).
pub fn claimed(text: &str) -> Result<(Statement, Vec<String>), String> {
    let envelope: Envelope =
        serde_json::from_str(text).map_err(|e| format!("not a DSSE envelope: {e}"))?;
    let payload = B64
        .decode(&envelope.payload)
        .map_err(|e| format!("the signed payload is not base64: {e}"))?;
    let statement = serde_json::from_slice(&payload)
        .map_err(|e| format!("the signed payload is not a bundle statement: {e}"))?;
    Ok((
        statement,
        envelope.signatures.into_iter().map(|s| s.keyid).collect(),
    ))
}

/// Checks the envelope `text` against `keys`: the first signature by one
/// of them that verifies, and what it vouches for.
pub fn verify(text: &str, keys: &[PublicKey]) -> Result<Verified, String> {
    let envelope: Envelope = serde_json::from_str(text)
        .map_err(|e| format!("the signature file is not a DSSE envelope: {e}"))?;
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(format!(
            "the signature is of a `{}`, not a Palisade bundle",
            envelope.payload_type.escape_debug()
        ));
    }
    let payload = B64
        .decode(&envelope.payload)
        .map_err(|e| format!("the signed payload is not base64: {e}"))?;
    let message = pae(&envelope.payload_type, &payload);
    for s in &envelope.signatures {
        let Ok(sig) = B64.decode(&s.sig) else {
            continue;
        };
        for key in keys {
            if UnparsedPublicKey::new(&ED25519, &key.raw)
                .verify(&message, &sig)
                .is_ok()
            {
                let statement: Statement = serde_json::from_slice(&payload)
                    .map_err(|e| format!("the signed payload is not a bundle statement: {e}"))?;
                return Ok(Verified {
                    keyid: key.id.clone(),
                    statement,
                });
            }
        }
    }
    if let Some(id) = envelope
        .signatures
        .iter()
        .map(|s| s.keyid.as_str())
        .find(|id| keys.iter().any(|k| k.id == *id))
    {
        return Err(format!(
            "the signature that names trusted key {} does not verify: the signature or the statement was changed",
            id.escape_debug()
        ));
    }
    Err(format!(
        "no signature by a trusted key (trusted: {}; the envelope's key ids: {})",
        keys.iter()
            .map(|k| k.id.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        envelope
            .signatures
            .iter()
            .map(|s| s.keyid.escape_debug().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}
