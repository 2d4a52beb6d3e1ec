//! The scanner: walks a JSON document and reports hard-coded secrets.
//!
//! Pure logic over `serde_json::Value`; it knows nothing about the component
//! model, so it is unit-tested on the build machine
//! (`cargo test -p palisade-secrets --target x86_64-unknown-linux-gnu`).

use std::collections::{BTreeMap, BTreeSet};

use palisade_plugin_sdk::json::{cloudformation_resource, tokens, walk};
use palisade_plugin_sdk::serde_json::{Map, Value};
use palisade_plugin_sdk::settings;

use crate::keys;
use crate::matchers;

/// Rule id: an AWS access key id.
pub const AWS_ACCESS_KEY_ID: &str = "secrets.aws-access-key-id";
/// Rule id: an AWS secret access key.
pub const AWS_SECRET_ACCESS_KEY: &str = "secrets.aws-secret-access-key";
/// Rule id: a PEM private key.
pub const PRIVATE_KEY: &str = "secrets.private-key";
/// Rule id: a plain value in a field whose name says it is secret.
pub const SECRET_NAMED_FIELD: &str = "secrets.secret-named-field";
/// Rule id: a random-looking string.
pub const HIGH_ENTROPY: &str = "secrets.high-entropy";

/// Keys (lowercase) skipped in HTTP request inputs: the headers that carry
/// a request's own credentials (an AWS SigV4 `Authorization` header even
/// names the access key id).
pub const REQUEST_CREDENTIAL_HEADERS: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "x-amz-security-token",
];

/// The settings the plugin accepts, in the order error messages list them.
pub const SETTING_NAMES: [&str; 4] = ["min_length", "min_entropy", "ignore_keys", "allow_values"];

/// The scanner's configuration, from the plugin's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Shortest string the high-entropy rule looks at.
    pub min_length: usize,
    /// Entropy (bits per character) from which a base64-ish string is
    /// reported; pure hex strings use three quarters of it.
    pub min_entropy: f64,
    /// Keys (lowercased) whose values, and everything below them, are skipped.
    pub ignore_keys: BTreeSet<String>,
    /// Values that are never reported.
    pub allow_values: BTreeSet<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            min_length: 20,
            min_entropy: 4.0,
            ignore_keys: BTreeSet::new(),
            allow_values: BTreeSet::new(),
        }
    }
}

impl Config {
    /// Reads and checks the plugin's settings (`null` means defaults):
    ///
    /// * `min_length`: integer >= 8 (default 20)
    /// * `min_entropy`: number from 1.0 to 8.0 (default 4.0)
    /// * `ignore_keys`: array of strings, matched case-insensitively
    /// * `allow_values`: array of strings, matched exactly
    pub fn from_settings(raw: &Value) -> Result<Self, String> {
        let settings = settings::object(raw, &SETTING_NAMES)?;
        let mut config = Self::default();
        if let Some(value) = settings.get("min_length").filter(|v| !v.is_null()) {
            config.min_length = value
                .as_u64()
                .filter(|&n| n >= 8)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    format!("setting `min_length` must be an integer >= 8, got {value}")
                })?;
        }
        if let Some(value) = settings.get("min_entropy").filter(|v| !v.is_null()) {
            config.min_entropy = value
                .as_f64()
                .filter(|e| (1.0..=8.0).contains(e))
                .ok_or_else(|| {
                    format!(
                        "setting `min_entropy` must be a number from 1.0 to 8.0 (bits per character), got {value}"
                    )
                })?;
        }
        if let Some(keys) = settings.get_strings("ignore_keys")? {
            config.ignore_keys = keys.iter().map(|k| k.to_lowercase()).collect();
        }
        if let Some(values) = settings.get_strings("allow_values")? {
            config.allow_values = values.into_iter().collect();
        }
        Ok(config)
    }

    /// The entropy threshold for pure-hex strings, whose alphabet carries at
    /// most 4 bits per character.
    fn min_hex_entropy(&self) -> f64 {
        self.min_entropy * 0.75
    }

    fn ignores_key(&self, key: &str) -> bool {
        !self.ignore_keys.is_empty() && self.ignore_keys.contains(&key.to_lowercase())
    }
}

/// One secret found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The rule id (one of the constants above).
    pub rule: &'static str,
    /// What was found and where, without the secret itself.
    pub message: String,
    /// JSON pointer of the string holding the secret.
    pub pointer: String,
    /// The CloudFormation logical id the value belongs to, if any.
    pub resource: Option<String>,
}

/// What the scanner remembers about an object for its members' sake.
#[derive(Debug, Default)]
struct ObjectContext {
    /// A member's string value holds an AWS access key id (only computed
    /// when another member is shaped like a secret access key).
    has_access_key_id: bool,
    /// `{"Name": "DB_PASSWORD", "Value": "..."}`: the name that gives the
    /// `Value` member its meaning (ECS environment, Elastic Beanstalk option
    /// settings, CloudFormation parameter lists, tags...).
    value_name: Option<String>,
    /// `/Parameters/<name>`: the parameter's name gives `Default` its meaning.
    parameter_name: Option<String>,
    /// The parameter is SSM-typed: its `Default` is a parameter path, not a value.
    ssm_parameter: bool,
}

/// Keys naming a sibling `Value`: `{"Name": "X", "Value": "..."}`.
const VALUE_NAME_KEYS: [&str; 6] = [
    "name",
    "key",
    "parametername",
    "parameterkey",
    "optionname",
    "variable",
];

/// What a key name says, computed once per distinct key.
#[derive(Debug, Clone, Copy)]
struct KeyInfo {
    /// The kind of secret the name announces.
    secret: Option<keys::SecretKind>,
    /// The name marks ids, hashes, paths...: no high-entropy findings.
    non_secret_context: bool,
    /// The name contains `secret` (any case): a 40-character base64 value
    /// is taken for an AWS secret access key.
    mentions_secret: bool,
}

/// The scanner's state during one walk.
struct Scanner<'c> {
    config: &'c Config,
    hits: Vec<Hit>,
    /// Contexts of the objects on the path to the current value (only those
    /// that have one), outermost first, with their pointers.
    contexts: Vec<(String, ObjectContext)>,
    /// Pointers of values under an ignored key.
    ignored: Vec<String>,
    /// [`KeyInfo`] by key name.
    key_infos: KeyInfoCache,
}

/// Scans `document` and returns the secrets found, in document order (for
/// one string: private key, access key id, secret access key, then the
/// weaker rules, which only apply when none of those matched).
pub fn scan(document: &Value, config: &Config) -> Vec<Hit> {
    let mut scanner = Scanner {
        config,
        hits: Vec::new(),
        contexts: Vec::new(),
        ignored: Vec::new(),
        key_infos: KeyInfoCache::default(),
    };
    walk(document, &mut |pointer, key, value| {
        scanner.visit(pointer, key, value);
    });
    scanner.hits
}

/// Whether `pointer` is `ancestor` or below it.
fn is_within(pointer: &str, ancestor: &str) -> bool {
    pointer
        .strip_prefix(ancestor)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl Scanner<'_> {
    fn visit(&mut self, pointer: &str, key: Option<&str>, value: &Value) {
        if !self.ignored.is_empty() && self.ignored.iter().any(|p| is_within(pointer, p)) {
            return;
        }
        if key.is_some_and(|k| self.config.ignores_key(k)) {
            self.ignored.push(pointer.to_owned());
            return;
        }
        // Leave the contexts of objects the walk has left.
        while self
            .contexts
            .last()
            .is_some_and(|(p, _)| !is_within(pointer, p))
        {
            self.contexts.pop();
        }
        match value {
            Value::Object(members) => {
                if let Some(context) = object_context(pointer, members) {
                    self.contexts.push((pointer.to_owned(), context));
                }
            }
            Value::String(text) => {
                let parent = match (key, parent_pointer(pointer), self.contexts.last()) {
                    (Some(_), Some(parent), Some((p, context))) if p == parent => Some(context),
                    _ => None,
                };
                let found =
                    check_string(self.config, &mut self.key_infos, pointer, key, text, parent);
                self.hits.extend(found);
            }
            _ => {}
        }
    }
}

/// The pointer of the parent of `pointer` (`None` for the root).
fn parent_pointer(pointer: &str) -> Option<&str> {
    pointer.rfind('/').and_then(|at| pointer.get(..at))
}

fn object_context(pointer: &str, members: &Map<String, Value>) -> Option<ObjectContext> {
    // Whether a member holds an access key id matters only to a member
    // shaped like a secret access key; most objects have none.
    let strings = || members.values().filter_map(Value::as_str);
    let mut context = ObjectContext {
        has_access_key_id: strings().any(|s| matchers::is_secret_key_shaped(matchers::trim(s)))
            && strings().any(matchers::has_access_key_id),
        ..ObjectContext::default()
    };
    let has_value = members.keys().any(|k| k.eq_ignore_ascii_case("value"));
    if has_value {
        context.value_name = members
            .iter()
            .find(|(k, v)| {
                v.is_string()
                    && VALUE_NAME_KEYS
                        .iter()
                        .any(|name| k.eq_ignore_ascii_case(name))
            })
            .and_then(|(_, v)| v.as_str())
            .map(str::to_owned);
    }
    if pointer.starts_with("/Parameters/")
        && let [_, name] = tokens(pointer).as_slice()
    {
        context.parameter_name = Some(name.clone());
        context.ssm_parameter = members
            .get("Type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.starts_with("AWS::SSM::Parameter"));
    }
    let interesting = context.has_access_key_id
        || context.value_name.is_some()
        || context.parameter_name.is_some();
    interesting.then_some(context)
}

/// [`KeyInfo`]s by key name. Documents repeat a few hundred key names at
/// most, and classifying one is far dearer than a lookup.
#[derive(Default)]
struct KeyInfoCache {
    /// FNV-1a hash of the name → (name, info).
    by_hash: BTreeMap<u64, Vec<(String, KeyInfo)>>,
}

impl KeyInfoCache {
    fn get(&mut self, name: &str) -> KeyInfo {
        let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let bucket = self.by_hash.entry(hash).or_default();
        if let Some((_, info)) = bucket.iter().find(|(n, _)| n == name) {
            return *info;
        }
        let info = KeyInfo {
            secret: keys::secret_kind(name),
            non_secret_context: keys::is_non_secret_context(name),
            mentions_secret: name.to_ascii_lowercase().contains("secret"),
        };
        bucket.push((name.to_owned(), info));
        info
    }
}

/// Applies every rule to one string value; returns its hits.
fn check_string(
    config: &Config,
    key_infos: &mut KeyInfoCache,
    pointer: &str,
    key: Option<&str>,
    text: &str,
    parent: Option<&ObjectContext>,
) -> Vec<Hit> {
    let trimmed = matchers::trim(text);
    if trimmed.is_empty()
        || (!config.allow_values.is_empty()
            && (config.allow_values.contains(text) || config.allow_values.contains(trimmed)))
        || matchers::is_reference(trimmed)
    {
        return Vec::new();
    }

    // The name that says what this value is: its key, or the sibling `Name`
    // of a `Value`, or the parameter of a `Default`.
    let mut name = key;
    if let (Some(k), Some(parent)) = (key, parent) {
        if k.eq_ignore_ascii_case("value") {
            if let Some(value_name) = &parent.value_name {
                name = Some(value_name);
            }
        } else if k == "Default"
            && let Some(parameter) = &parent.parameter_name
        {
            if parent.ssm_parameter {
                return Vec::new();
            }
            name = Some(parameter);
        }
    }
    if name != key && name.is_some_and(|n| config.ignores_key(n)) {
        return Vec::new();
    }
    // Array items take their meaning from the array's key.
    let nearest = if name.is_none() {
        nearest_key(pointer)
    } else {
        None
    };
    let context_name = name.or(nearest.as_deref());
    let info = context_name.map(|n| key_infos.get(n));

    let mut found: Vec<(&'static str, String)> = Vec::new();
    let subject = || describe_subject(context_name, pointer);

    // The specific, critical rules look at the content itself.
    if let Some(label) = matchers::private_key_label(text) {
        found.push((
            PRIVATE_KEY,
            format!(
                "{} contains a PEM private key (`-----BEGIN {label}-----`)",
                subject()
            ),
        ));
    }
    let ids = matchers::access_key_ids(text);
    if let Some(first) = ids.first() {
        let what = if ids.len() == 1 {
            format!("an AWS access key id (`{}`)", matchers::preview(first))
        } else {
            format!(
                "{} AWS access key ids (`{}`, ...)",
                ids.len(),
                matchers::preview(first)
            )
        };
        found.push((AWS_ACCESS_KEY_ID, format!("{} contains {what}", subject())));
    }
    let secret_key = if matchers::is_secret_key_shaped(trimmed) {
        if info.is_some_and(|i| i.mentions_secret) {
            Some((trimmed, ""))
        } else if parent.is_some_and(|p| p.has_access_key_id) {
            Some((trimmed, ", next to an AWS access key id"))
        } else {
            None
        }
    } else {
        matchers::embedded_secret_key(text).map(|k| (k, ", assigned in the text"))
    };
    if let Some((key_found, why)) = secret_key {
        found.push((
            AWS_SECRET_ACCESS_KEY,
            format!(
                "{} holds an AWS secret access key (`{}`, 40 characters{why})",
                subject(),
                matchers::preview(key_found)
            ),
        ));
    }

    // The weaker rules never report templates or placeholders (checked only
    // for a candidate, as most strings are neither).
    let plain = || !matchers::contains_reference(text) && !matchers::is_placeholder(trimmed);
    if found.is_empty() {
        if let Some(kind) = info.and_then(|i| i.secret) {
            // A field whose name says it is secret, holding a plain value
            // (array items take the array's name: `"ApiKeys": ["..."]`).
            if !matchers::is_arn(trimmed) && plain() {
                found.push((
                    SECRET_NAMED_FIELD,
                    format!(
                        "{} holds a hard-coded {} (`{}`)",
                        subject(),
                        kind.noun(),
                        matchers::preview(trimmed)
                    ),
                ));
            }
        } else if !info.is_some_and(|i| i.non_secret_context)
            && let Some(entropy) = high_entropy(config, text)
            && plain()
        {
            // Finally: random-looking strings.
            found.push((
                HIGH_ENTROPY,
                format!(
                    "{} holds a random-looking string (`{}`, {} characters, {} bits of entropy per character) that may be a secret",
                    subject(),
                    matchers::preview(text),
                    text.len(),
                    one_decimal(entropy),
                ),
            ));
        }
    }

    if found.is_empty() {
        return Vec::new();
    }
    let resource = cloudformation_resource(pointer);
    found
        .into_iter()
        .map(|(rule, message)| Hit {
            rule,
            message,
            pointer: pointer.to_owned(),
            resource: resource.clone(),
        })
        .collect()
}

/// The entropy of `text` if the high-entropy rule reports it.
fn high_entropy(config: &Config, text: &str) -> Option<f64> {
    let long_enough = text.len() >= config.min_length;
    if !long_enough {
        return None;
    }
    // Printable ASCII only (no whitespace, control or non-ASCII characters),
    // with both letters and digits: words and numbers are not secrets.
    let mut has_digit = false;
    let mut has_letter = false;
    for b in text.bytes() {
        if !b.is_ascii_graphic() {
            return None;
        }
        has_digit |= b.is_ascii_digit();
        has_letter |= b.is_ascii_alphabetic();
    }
    if !has_digit || !has_letter || matchers::is_arn(text) || matchers::is_benign_shape(text) {
        return None;
    }
    let entropy = matchers::shannon_entropy(text);
    let threshold = if matchers::is_hex(text) {
        config.min_hex_entropy()
    } else {
        config.min_entropy
    };
    (entropy >= threshold).then_some(entropy)
}

/// Formats a small non-negative number with one decimal (`4.7`) without
/// pulling float formatting into the component.
fn one_decimal(x: f64) -> String {
    // Entropy is 0..=8 bits per character, so the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let tenths = (x * 10.0).round().max(0.0) as u64;
    format!("{}.{}", tenths / 10, tenths % 10)
}

/// The key of the nearest enclosing object member, for array items
/// (`/Resources/X/Properties/ApiKeys/0` → `ApiKeys`).
fn nearest_key(pointer: &str) -> Option<String> {
    pointer
        .strip_prefix('/')?
        .rsplit('/')
        .find(|token| token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()))
        .map(palisade_plugin_sdk::json::unescape_token)
}

/// How a message names the value: `` `DbPassword` ``, or its pointer.
fn describe_subject(name: Option<&str>, pointer: &str) -> String {
    match name {
        Some(name) => format!("`{name}`"),
        None if pointer.is_empty() => "the document".to_owned(),
        None => format!("the value at `{pointer}`"),
    }
}
