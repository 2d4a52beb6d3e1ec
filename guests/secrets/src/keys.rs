//! What a key name says about its value.
//!
//! Key names are split into words at `_`, `-`, `.`, `:`, spaces and
//! camelCase boundaries (`DBMasterPassword` → `db master password`,
//! `x-api-key` → `x api key`), then matched word by word, ignoring ASCII
//! case. Every string value's name is classified, so this is written not to
//! allocate: words are slices of the key, and a cheap pre-check rules out
//! the many keys that cannot name a secret before any splitting.

/// What kind of secret a key name announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// `password`, `passwd`, `pwd`, `pass`, `passphrase`, ...
    Password,
    /// `secret`, `client_secret`, `secret_key`, ...
    Secret,
    /// `token`, `auth_token`, `githubToken`, ...
    Token,
    /// `api_key`, `apikey`, `x-api-key`, ...
    ApiKey,
    /// `access_key`, `private_key`, `signing_key`, `encryption_key`, ...
    Key,
    /// `credentials`, `creds`.
    Credentials,
}

impl SecretKind {
    /// How a finding message names the value.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Secret => "secret",
            Self::Token => "token",
            Self::ApiKey => "API key",
            Self::Key => "key",
            Self::Credentials => "credential",
        }
    }
}

/// Words that, after the secret word, make the key describe the secret
/// rather than hold it: `PasswordLength`, `SecretArn`, `ApiKeyName`,
/// `TokenValidityUnits`, `SecretStringTemplate`, `AccessKeyId`...
const DESCRIPTORS: &[&str] = &[
    "account",
    "action",
    "actions",
    "age",
    "algorithm",
    "arn",
    "arns",
    "at",
    "attribute",
    "attributes",
    "audience",
    "changed",
    "characters",
    "chars",
    "checksum",
    "complexity",
    "config",
    "configuration",
    "count",
    "date",
    "desc",
    "description",
    "digest",
    "disabled",
    "duration",
    "enabled",
    "encoding",
    "endpoint",
    "endpoints",
    "env",
    "expiration",
    "expire",
    "expired",
    "expires",
    "expiry",
    "expression",
    "field",
    "fields",
    "file",
    "filename",
    "files",
    "fingerprint",
    "flag",
    "format",
    "group",
    "handler",
    "hash",
    "header",
    "headers",
    "hint",
    "history",
    "id",
    "ids",
    "issuer",
    "kind",
    "label",
    "len",
    "length",
    "location",
    "lowercase",
    "manager",
    "max",
    "maximum",
    "md5",
    "method",
    "methods",
    "min",
    "minimum",
    "mode",
    "name",
    "names",
    "numbers",
    "options",
    "output",
    "outputs",
    "owner",
    "param",
    "parameter",
    "parameters",
    "path",
    "paths",
    "pattern",
    "policies",
    "policy",
    "prefix",
    "prevention",
    "provider",
    "ref",
    "reference",
    "regex",
    "region",
    "required",
    "reset",
    "reuse",
    "role",
    "rotate",
    "rotation",
    "schedule",
    "scope",
    "scopes",
    "selection",
    "service",
    "settings",
    "sha",
    "sha1",
    "sha256",
    "sha512",
    "size",
    "source",
    "spec",
    "specs",
    "state",
    "status",
    "store",
    "strategy",
    "strength",
    "suffix",
    "symbols",
    "table",
    "template",
    "thumbprint",
    "time",
    "timestamp",
    "ttl",
    "type",
    "types",
    "unit",
    "units",
    "uppercase",
    "uri",
    "url",
    "usage",
    "used",
    "user",
    "username",
    "validity",
    "var",
    "variable",
    "variables",
    "vars",
    "version",
    "versions",
];

/// Words that, before the secret word, make the key a flag or a setting
/// about secrets, or a non-secret token: `NextToken`, `ClientRequestToken`,
/// `ManageMasterUserPassword`, `MinimumPasswordLength`, `GenerateSecret`...
const QUALIFIERS: &[&str] = &[
    "allow",
    "allows",
    "continuation",
    "disable",
    "enable",
    "exclude",
    "generate",
    "has",
    "hide",
    "idempotency",
    "ignore",
    "include",
    "is",
    "manage",
    "managed",
    "max",
    "maximum",
    "min",
    "minimum",
    "next",
    "no",
    "page",
    "pagination",
    "public",
    "request",
    "require",
    "requires",
    "reset",
    "rotate",
    "show",
    "use",
    "uses",
    "validate",
    "verify",
];

/// Extra words that mark a value as not secret for the high-entropy rule:
/// hashes, ids, object keys, certificates and public keys, CloudFormation
/// intrinsic-function arguments.
const NON_SECRET_CONTEXT: &[&str] = &[
    "address",
    "bucket",
    "ca",
    "cert",
    "certificate",
    "certificates",
    "condition",
    "depends",
    "etag",
    "fn",
    "object",
    "public",
    "s3",
    "tag",
    "tags",
];

/// Whether byte `b` separates words: ASCII, but neither a letter nor a digit.
fn is_separator(b: u8) -> bool {
    b.is_ascii() && !b.is_ascii_alphanumeric()
}

/// The words of a key name, as slices of it (compare them with
/// `eq_ignore_ascii_case`). Words are split at ASCII characters other than
/// letters and digits, and before an uppercase letter that follows a
/// lowercase letter or a digit, or that starts a capitalised word after an
/// acronym (`DBMaster` → `DB`, `Master`). Splitting is ASCII-only (key names
/// are identifiers); other characters stay inside their word.
#[derive(Debug, Clone)]
struct Words<'k> {
    key: &'k str,
    at: usize,
}

fn words_of(key: &str) -> Words<'_> {
    Words { key, at: 0 }
}

impl<'k> Iterator for Words<'k> {
    type Item = &'k str;

    fn next(&mut self) -> Option<&'k str> {
        let bytes = self.key.as_bytes();
        while bytes.get(self.at).is_some_and(|&b| is_separator(b)) {
            self.at += 1;
        }
        let start = self.at;
        let mut prev = *bytes.get(start)?;
        let mut end = start + 1;
        while let Some(&b) = bytes.get(end) {
            if is_separator(b) {
                break;
            }
            if b.is_ascii_uppercase() {
                let next = bytes.get(end + 1).copied().unwrap_or(0);
                let boundary = prev.is_ascii_lowercase()
                    || prev.is_ascii_digit()
                    || (prev.is_ascii_uppercase() && next.is_ascii_lowercase());
                if boundary {
                    break;
                }
            }
            prev = b;
            end += 1;
        }
        self.at = end;
        // Words start and end next to ASCII bytes: always char boundaries.
        self.key.get(start..end)
    }
}

/// Splits a key name into lowercase words (see [`Words`]).
/// The last word of a key (`PASSWORD` of `REDIS_PASSWORD`, `Key` of
/// `apiKey`).
pub fn last_word(key: &str) -> Option<&str> {
    words_of(key).last()
}

#[cfg(test)]
pub fn words(key: &str) -> Vec<String> {
    words_of(key).map(str::to_ascii_lowercase).collect()
}

/// A word of at most 16 bytes as a number: its bytes little-endian,
/// zero-padded. Words never contain NUL (it separates words), so distinct
/// words give distinct numbers, and comparing two words is comparing two
/// numbers. For the word lists, evaluated at compile time.
#[allow(clippy::indexing_slicing)] // const evaluation: out of bounds fails the build
const fn pack(word: &[u8]) -> u128 {
    assert!(word.len() <= 16);
    let mut packed = 0;
    let mut i = 0;
    while i < word.len() {
        packed |= (word[i] as u128) << (8 * i);
        i += 1;
    }
    packed
}

/// `words` packed (see [`pack`]) and sorted, for [`is_one_of`].
#[allow(clippy::indexing_slicing)] // const evaluation: out of bounds fails the build
const fn packed_sorted<const N: usize>(words: &[&str]) -> [u128; N] {
    let mut out = [0; N];
    let mut i = 0;
    while i < N {
        out[i] = pack(words[i].as_bytes());
        let mut j = i;
        while j > 0 && out[j - 1] > out[j] {
            let swap = out[j - 1];
            out[j - 1] = out[j];
            out[j] = swap;
            j -= 1;
        }
        i += 1;
    }
    out
}

const DESCRIPTORS_PACKED: [u128; DESCRIPTORS.len()] = packed_sorted(DESCRIPTORS);
const QUALIFIERS_PACKED: [u128; QUALIFIERS.len()] = packed_sorted(QUALIFIERS);
const NON_SECRET_CONTEXT_PACKED: [u128; NON_SECRET_CONTEXT.len()] =
    packed_sorted(NON_SECRET_CONTEXT);

/// `word` lowercased (ASCII) and packed (see [`pack`]), or `None` if it is
/// longer than 16 bytes (and so longer than every word in the lists).
fn pack_lowercase(word: &str) -> Option<u128> {
    let mut buffer = [0; 16];
    let target = buffer.get_mut(..word.len())?;
    for (out, b) in target.iter_mut().zip(word.bytes()) {
        *out = b.to_ascii_lowercase();
    }
    Some(u128::from_le_bytes(buffer))
}

/// Whether the packed word `word` is in `list` (packed and sorted).
fn is_one_of(word: Option<u128>, list: &[u128]) -> bool {
    word.is_some_and(|word| list.binary_search(&word).is_ok())
}

/// Whether `haystack` contains `needle` (lowercase ASCII), ignoring ASCII case.
fn contains_ignore_case(haystack: &str, needle: &[u8]) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
}

/// Whether `haystack` ends with `needle` (lowercase ASCII), ignoring ASCII case.
fn ends_with_ignore_case(haystack: &str, needle: &[u8]) -> bool {
    haystack
        .len()
        .checked_sub(needle.len())
        .and_then(|start| haystack.as_bytes().get(start..))
        .is_some_and(|tail| tail.eq_ignore_ascii_case(needle))
}

/// The secret phrase starting at `word` (followed by `next`), as its kind
/// and its length in words.
fn secret_phrase(word: &str, next: Option<&str>) -> Option<(SecretKind, usize)> {
    const PASSWORD: [u128; 7] = packed_sorted(&[
        "password",
        "passwords",
        "passwd",
        "pwd",
        "pass",
        "passphrase",
        "passcode",
    ]);
    const SECRET: [u128; 2] = packed_sorted(&["secret", "secrets"]);
    const TOKEN: [u128; 2] = packed_sorted(&["token", "tokens"]);
    const CREDENTIALS: [u128; 3] = packed_sorted(&["credential", "credentials", "creds"]);
    const API_KEY: [u128; 2] = packed_sorted(&["apikey", "apikeys"]);
    const API: u128 = pack(b"api");
    /// Words that make a key with a following `key`/`keys`.
    const KEY_PREFIX: [u128; 9] = packed_sorted(&[
        "access",
        "private",
        "signing",
        "encryption",
        "master",
        "shared",
        "auth",
        "hmac",
        "session",
    ]);
    let packed = pack_lowercase(word);
    let next_is_key =
        || next.is_some_and(|n| n.eq_ignore_ascii_case("key") || n.eq_ignore_ascii_case("keys"));
    if is_one_of(packed, &PASSWORD) {
        Some((SecretKind::Password, 1))
    } else if is_one_of(packed, &SECRET) {
        Some((SecretKind::Secret, 1))
    } else if is_one_of(packed, &TOKEN) {
        Some((SecretKind::Token, 1))
    } else if is_one_of(packed, &CREDENTIALS) {
        Some((SecretKind::Credentials, 1))
    } else if is_one_of(packed, &API_KEY) {
        Some((SecretKind::ApiKey, 1))
    } else if packed == Some(API) && next_is_key() {
        Some((SecretKind::ApiKey, 2))
    } else if is_one_of(packed, &KEY_PREFIX) && next_is_key() {
        Some((SecretKind::Key, 2))
    } else if contains_ignore_case(word, b"password") || contains_ignore_case(word, b"passwd") {
        Some((SecretKind::Password, 1))
    } else if contains_ignore_case(word, b"secret") {
        Some((SecretKind::Secret, 1))
    } else if contains_ignore_case(word, b"apikey") {
        Some((SecretKind::ApiKey, 1))
    } else if ends_with_ignore_case(word, b"accesskey")
        || ends_with_ignore_case(word, b"privatekey")
    {
        Some((SecretKind::Key, 1))
    } else if ends_with_ignore_case(word, b"token") {
        Some((SecretKind::Token, 1))
    } else {
        None
    }
}

/// The kind of secret a key name says its value is, or `None` when the name
/// is not secret-like or describes a secret rather than holding one
/// (`PasswordLength`, `SecretArn`, `NextToken`, `AccessKeyId`).
///
/// Matches `password`, `passwd`, `pwd`, `pass`, `passphrase`, `secret`,
/// `token`, `api_key`/`apikey`/`api-key`/`apiKey`, `access_key`,
/// `private_key`, `client_secret`, `auth_token`, `credentials`,
/// `db_pass`, `DBPassword`, `MYSQL_ROOT_PASSWORD`, ... case-insensitively:
/// the first secret phrase among the key's words counts, unless a word
/// before it is a qualifier or a word after it a descriptor.
pub fn secret_kind(key: &str) -> Option<SecretKind> {
    if !might_name_a_secret(key) {
        return None;
    }
    let mut words = words_of(key).peekable();
    let mut qualified = false;
    while let Some(word) = words.next() {
        if let Some((kind, len)) = secret_phrase(word, words.peek().copied()) {
            if len == 2 {
                words.next();
            }
            let described = words.any(|w| is_one_of(pack_lowercase(w), &DESCRIPTORS_PACKED));
            return (!qualified && !described).then_some(kind);
        }
        qualified |= is_one_of(pack_lowercase(word), &QUALIFIERS_PACKED);
    }
    None
}

/// A cheap pre-check for [`secret_kind`]: every secret phrase it matches
/// contains `pass`, `pwd`, `secr(et)`, `toke(n)`, `cred` or `key` (any case),
/// so a key without any of them (most keys) needs no word splitting.
fn might_name_a_secret(key: &str) -> bool {
    /// Whether `bytes` starts with `letters` (lowercase ASCII letters),
    /// ignoring case: for a letter, `| 0x20` is exactly ASCII lowercasing.
    #[inline(always)]
    fn starts(bytes: &[u8], letters: &[u8]) -> bool {
        bytes.len() >= letters.len() && bytes.iter().zip(letters).all(|(b, l)| b | 0x20 == *l)
    }
    let bytes = key.as_bytes();
    (0..bytes.len()).any(|at| {
        let rest = bytes.get(at..).unwrap_or_default();
        match rest.first().map_or(0, |b| b | 0x20) {
            b'p' => starts(rest, b"pass") || starts(rest, b"pwd"),
            b's' => starts(rest, b"secr"),
            b't' => starts(rest, b"toke"),
            b'c' => starts(rest, b"cred"),
            b'k' => starts(rest, b"key"),
            _ => false,
        }
    })
}

/// Whether a key name contains `secret` (any case): a 40-character base64
/// value in it is taken for an AWS secret access key.
pub fn mentions_secret(key: &str) -> bool {
    contains_ignore_case(key, b"secret")
}

/// Whether a key name marks its values as identifiers, hashes, paths or
/// other non-secrets, for the high-entropy rule (`ImageId`, `CodeSha256`,
/// `S3Key`, `DependsOn`, `Fn::GetAtt`, `CertificateBody`...).
pub fn is_non_secret_context(key: &str) -> bool {
    if secret_kind(key).is_some() {
        return false;
    }
    words_of(key).any(|w| {
        let packed = pack_lowercase(w);
        is_one_of(packed, &DESCRIPTORS_PACKED) || is_one_of(packed, &NON_SECRET_CONTEXT_PACKED)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn splits_words() {
        assert_eq!(words("DBMasterPassword"), ["db", "master", "password"]);
        assert_eq!(words("x-api-key"), ["x", "api", "key"]);
        assert_eq!(words("apiKey"), ["api", "key"]);
        assert_eq!(words("MYSQL_ROOT_PASSWORD"), ["mysql", "root", "password"]);
        assert_eq!(words("CodeSha256"), ["code", "sha256"]);
        assert_eq!(words("Fn::GetAtt"), ["fn", "get", "att"]);
        assert_eq!(words("aws:cdk:path"), ["aws", "cdk", "path"]);
        assert_eq!(words("S3Key"), ["s3", "key"]);
        assert!(words("").is_empty());
    }

    #[test]
    fn secret_names() {
        for (key, kind) in [
            ("password", SecretKind::Password),
            ("Password", SecretKind::Password),
            ("DBPassword", SecretKind::Password),
            ("MasterUserPassword", SecretKind::Password),
            ("db_pass", SecretKind::Password),
            ("DB_PASSWD", SecretKind::Password),
            ("pwd", SecretKind::Password),
            ("dbpassword", SecretKind::Password),
            ("secret", SecretKind::Secret),
            ("client_secret", SecretKind::Secret),
            ("clientSecret", SecretKind::Secret),
            ("SecretString", SecretKind::Secret),
            ("token", SecretKind::Token),
            ("auth_token", SecretKind::Token),
            ("githubToken", SecretKind::Token),
            ("slacktoken", SecretKind::Token),
            ("api_key", SecretKind::ApiKey),
            ("apikey", SecretKind::ApiKey),
            ("api-key", SecretKind::ApiKey),
            ("X-API-KEY", SecretKind::ApiKey),
            ("stripeApiKey", SecretKind::ApiKey),
            ("access_key", SecretKind::Key),
            ("private_key", SecretKind::Key),
            ("privateKey", SecretKind::Key),
            ("SigningKey", SecretKind::Key),
            ("credentials", SecretKind::Credentials),
        ] {
            assert_eq!(secret_kind(key), Some(kind), "{key}");
        }
    }

    #[test]
    fn non_secret_names() {
        for key in [
            "PasswordLength",
            "MinimumPasswordLength",
            "SecretArn",
            "SecretName",
            "SecretStringTemplate",
            "GenerateSecretString",
            "ManageMasterUserPassword",
            "NextToken",
            "ClientRequestToken",
            "AccessKeyId",
            "ApiKeyRequired",
            "TokenValidityUnits",
            "PasswordResetRequired",
            "passthrough",
            "compass",
            "bypass",
            "Key",
            "KeyName",
            "PublicKey",
            "Description",
            "",
        ] {
            assert_eq!(secret_kind(key), None, "{key}");
        }
    }

    #[test]
    fn word_lists_are_lowercase_and_short() {
        for (list, packed) in [
            (DESCRIPTORS, &DESCRIPTORS_PACKED[..]),
            (QUALIFIERS, &QUALIFIERS_PACKED[..]),
            (NON_SECRET_CONTEXT, &NON_SECRET_CONTEXT_PACKED[..]),
        ] {
            assert_eq!(list.len(), packed.len());
            assert!(packed.windows(2).all(|w| w[0] < w[1]), "{list:?}");
            for word in list {
                assert!(
                    word.len() <= 16 && *word == word.to_ascii_lowercase(),
                    "{word}"
                );
                assert!(is_one_of(pack_lowercase(word), packed));
                assert!(is_one_of(pack_lowercase(&word.to_uppercase()), packed));
            }
        }
        assert!(!is_one_of(pack_lowercase("nope"), &DESCRIPTORS_PACKED));
        assert!(!is_one_of(
            pack_lowercase("averyveryverylongword"),
            &DESCRIPTORS_PACKED
        ));
        assert_eq!(pack_lowercase("AbC"), Some(pack(b"abc")));
    }

    #[test]
    fn pre_check_never_hides_a_secret_name() {
        // Every word `secret_phrase` knows, alone and embedded.
        for key in [
            "password",
            "passwords",
            "passwd",
            "pwd",
            "pass",
            "passphrase",
            "passcode",
            "secret",
            "secrets",
            "token",
            "tokens",
            "credential",
            "credentials",
            "creds",
            "apikey",
            "apikeys",
            "api_key",
            "api-keys",
            "access_key",
            "private_keys",
            "signing_key",
            "encryption_key",
            "master_key",
            "shared_key",
            "auth_key",
            "hmac_key",
            "session_key",
            "DBPASSWORD",
            "mysecretvalue",
            "myapikeyvalue",
            "awsaccesskey",
            "myprivatekey",
            "slacktoken",
        ] {
            assert!(might_name_a_secret(key), "{key}");
            assert!(secret_kind(key).is_some(), "{key}");
        }
        for key in [
            "Type",
            "Properties",
            "Handler",
            "",
            "é",
            "TableName",
            "Runtime",
        ] {
            assert!(!might_name_a_secret(key), "{key}");
        }
        assert!(mentions_secret("AWS_SECRET_ACCESS_KEY"));
        assert!(mentions_secret("clientSecret"));
        assert!(!mentions_secret("secre"));
    }

    #[test]
    fn non_secret_contexts() {
        for key in [
            "ImageId",
            "CodeSha256",
            "S3Key",
            "DependsOn",
            "Fn::GetAtt",
            "Ref",
            "CertificateBody",
            "ThumbprintList",
            "FunctionName",
        ] {
            assert!(is_non_secret_context(key), "{key}");
        }
        for key in ["Value", "Default", "password", "data", "Analytics"] {
            assert!(!is_non_secret_context(key), "{key}");
        }
    }
}
