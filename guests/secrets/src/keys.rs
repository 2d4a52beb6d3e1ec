//! What a key name says about its value.
//!
//! Key names are split into lowercase words at `_`, `-`, `.`, `:`, spaces and
//! camelCase boundaries (`DBMasterPassword` → `db master password`,
//! `x-api-key` → `x api key`), then matched word by word.

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
    "age",
    "algorithm",
    "arn",
    "arns",
    "at",
    "attribute",
    "attributes",
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
    "field",
    "fields",
    "file",
    "filename",
    "files",
    "fingerprint",
    "flag",
    "format",
    "group",
    "hash",
    "header",
    "headers",
    "hint",
    "history",
    "id",
    "ids",
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
    "settings",
    "sha",
    "sha1",
    "sha256",
    "sha512",
    "size",
    "source",
    "state",
    "status",
    "store",
    "strategy",
    "strength",
    "suffix",
    "symbols",
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

/// Splits a key name into lowercase words. Splitting and case folding are
/// ASCII-only (key names are identifiers); other characters stay inside
/// their word.
pub fn words(key: &str) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii() && !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
        let next = chars.get(i + 1).copied();
        let boundary = c.is_ascii_uppercase()
            && !current.is_empty()
            && (prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
                || (prev.is_some_and(|p| p.is_ascii_uppercase())
                    && next.is_some_and(|n| n.is_ascii_lowercase())));
        if boundary {
            words.push(std::mem::take(&mut current));
        }
        current.push(c.to_ascii_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Finds the secret a word sequence announces, as (kind, index of the word
/// after the secret phrase).
fn find_secret(words: &[String]) -> Option<(SecretKind, usize, usize)> {
    for (i, word) in words.iter().enumerate() {
        let w = word.as_str();
        let next = words.get(i + 1).map(String::as_str);
        let kind_len = match w {
            "password" | "passwords" | "passwd" | "pwd" | "pass" | "passphrase" | "passcode" => {
                Some((SecretKind::Password, 1))
            }
            "secret" | "secrets" => Some((SecretKind::Secret, 1)),
            "token" | "tokens" => Some((SecretKind::Token, 1)),
            "credential" | "credentials" | "creds" => Some((SecretKind::Credentials, 1)),
            "apikey" | "apikeys" => Some((SecretKind::ApiKey, 1)),
            "api" if matches!(next, Some("key" | "keys")) => Some((SecretKind::ApiKey, 2)),
            "access" | "private" | "signing" | "encryption" | "master" | "shared" | "auth"
            | "hmac" | "session"
                if matches!(next, Some("key" | "keys")) =>
            {
                Some((SecretKind::Key, 2))
            }
            _ if w.contains("password") || w.contains("passwd") => Some((SecretKind::Password, 1)),
            _ if w.contains("secret") => Some((SecretKind::Secret, 1)),
            _ if w.contains("apikey") => Some((SecretKind::ApiKey, 1)),
            _ if w.ends_with("accesskey") || w.ends_with("privatekey") => {
                Some((SecretKind::Key, 1))
            }
            _ if w.ends_with("token") => Some((SecretKind::Token, 1)),
            _ => None,
        };
        if let Some((kind, len)) = kind_len {
            return Some((kind, i, i + len));
        }
    }
    None
}

/// The kind of secret a key name says its value is, or `None` when the name
/// is not secret-like or describes a secret rather than holding one
/// (`PasswordLength`, `SecretArn`, `NextToken`, `AccessKeyId`).
///
/// Matches `password`, `passwd`, `pwd`, `pass`, `passphrase`, `secret`,
/// `token`, `api_key`/`apikey`/`api-key`/`apiKey`, `access_key`,
/// `private_key`, `client_secret`, `auth_token`, `credentials`,
/// `db_pass`, `DBPassword`, `MYSQL_ROOT_PASSWORD`, ... case-insensitively.
pub fn secret_kind(key: &str) -> Option<SecretKind> {
    let words = words(key);
    let (kind, start, end) = find_secret(&words)?;
    let qualified = words
        .iter()
        .take(start)
        .any(|w| QUALIFIERS.contains(&w.as_str()));
    let described = words
        .iter()
        .skip(end)
        .any(|w| DESCRIPTORS.contains(&w.as_str()));
    (!qualified && !described).then_some(kind)
}

/// Whether a key name marks its values as identifiers, hashes, paths or
/// other non-secrets, for the high-entropy rule (`ImageId`, `CodeSha256`,
/// `S3Key`, `DependsOn`, `Fn::GetAtt`, `CertificateBody`...).
pub fn is_non_secret_context(key: &str) -> bool {
    if secret_kind(key).is_some() {
        return false;
    }
    words(key)
        .iter()
        .any(|w| DESCRIPTORS.contains(&w.as_str()) || NON_SECRET_CONTEXT.contains(&w.as_str()))
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
