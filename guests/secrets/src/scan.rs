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
    /// A member's string value holds an AWS access key id.
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

/// Scans `document` and returns the secrets found, in document order (for
/// one string: private key, access key id, secret access key, then the
/// weaker rules, which only apply when none of those matched).
pub fn scan(document: &Value, config: &Config) -> Vec<Hit> {
    let mut hits = Vec::new();
    let mut contexts: BTreeMap<String, ObjectContext> = BTreeMap::new();
    let mut ignored: Vec<String> = Vec::new();

    walk(document, &mut |pointer, key, value| {
        if ignored.iter().any(|p| {
            pointer
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        }) {
            return;
        }
        if key.is_some_and(|k| config.ignores_key(k)) {
            ignored.push(pointer.to_owned());
            return;
        }
        match value {
            Value::Object(members) => {
                if let Some(context) = object_context(pointer, members) {
                    contexts.insert(pointer.to_owned(), context);
                }
            }
            Value::String(text) => {
                let parent = parent_pointer(pointer);
                let context = key.and(parent).and_then(|p| contexts.get(p));
                check_string(config, pointer, key, text, context, &mut hits);
            }
            _ => {}
        }
    });
    hits
}

/// The pointer of the parent of `pointer` (`None` for the root).
fn parent_pointer(pointer: &str) -> Option<&str> {
    pointer.rfind('/').and_then(|at| pointer.get(..at))
}

fn object_context(pointer: &str, members: &Map<String, Value>) -> Option<ObjectContext> {
    let mut context = ObjectContext {
        has_access_key_id: members
            .values()
            .filter_map(Value::as_str)
            .any(matchers::has_access_key_id),
        ..ObjectContext::default()
    };
    let has_value = members.keys().any(|k| k.eq_ignore_ascii_case("value"));
    if has_value {
        context.value_name = members
            .iter()
            .find(|(k, v)| {
                v.is_string() && VALUE_NAME_KEYS.contains(&k.to_ascii_lowercase().as_str())
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

/// Applies every rule to one string value.
fn check_string(
    config: &Config,
    pointer: &str,
    key: Option<&str>,
    text: &str,
    parent: Option<&ObjectContext>,
    hits: &mut Vec<Hit>,
) {
    if text.trim().is_empty()
        || config.allow_values.contains(text)
        || config.allow_values.contains(text.trim())
        || matchers::is_reference(text)
    {
        return;
    }

    // The name that says what this value is: its key, or the sibling `Name`
    // of a `Value`, or the parameter of a `Default`.
    let mut name = key.map(str::to_owned);
    if let (Some(k), Some(parent)) = (key, parent) {
        if k.eq_ignore_ascii_case("value") {
            if let Some(value_name) = &parent.value_name {
                name = Some(value_name.clone());
            }
        } else if k == "Default"
            && let Some(parameter) = &parent.parameter_name
        {
            if parent.ssm_parameter {
                return;
            }
            name = Some(parameter.clone());
        }
    }
    if name.as_deref().is_some_and(|n| config.ignores_key(n)) {
        return;
    }
    // Array items take their meaning from the array's key.
    let context_name = name.clone().or_else(|| nearest_key(pointer));
    let subject = describe_subject(context_name.as_deref(), pointer);

    let resource = cloudformation_resource(pointer);
    let mut report = |rule: &'static str, message: String| {
        hits.push(Hit {
            rule,
            message,
            pointer: pointer.to_owned(),
            resource: resource.clone(),
        });
    };

    // The specific, critical rules look at the content itself.
    let mut critical = false;
    if let Some(label) = matchers::private_key_label(text) {
        report(
            PRIVATE_KEY,
            format!("{subject} contains a PEM private key (`-----BEGIN {label}-----`)"),
        );
        critical = true;
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
        report(AWS_ACCESS_KEY_ID, format!("{subject} contains {what}"));
        critical = true;
    }
    let trimmed = text.trim();
    let secret_key = if matchers::is_secret_key_shaped(trimmed) {
        let named = context_name
            .as_deref()
            .is_some_and(|n| n.to_ascii_lowercase().contains("secret"));
        let beside_id = parent.is_some_and(|p| p.has_access_key_id);
        if named {
            Some((trimmed, ""))
        } else if beside_id {
            Some((trimmed, ", next to an AWS access key id"))
        } else {
            None
        }
    } else {
        matchers::embedded_secret_key(text).map(|k| (k, ", assigned in the text"))
    };
    if let Some((found, why)) = secret_key {
        report(
            AWS_SECRET_ACCESS_KEY,
            format!(
                "{subject} holds an AWS secret access key (`{}`, 40 characters{why})",
                matchers::preview(found)
            ),
        );
        critical = true;
    }
    if critical || matchers::contains_reference(text) || matchers::is_placeholder(text) {
        return;
    }

    // A field whose name says it is secret, holding a plain value (array
    // items take the array's name: `"ApiKeys": ["..."]`).
    if let Some(kind) = context_name.as_deref().and_then(keys::secret_kind)
        && !matchers::is_arn(trimmed)
    {
        report(
            SECRET_NAMED_FIELD,
            format!(
                "{subject} holds a hard-coded {} (`{}`)",
                kind.noun(),
                matchers::preview(trimmed)
            ),
        );
        return;
    }

    // Finally: random-looking strings.
    if let Some(entropy) = high_entropy(config, text, context_name.as_deref()) {
        report(
            HIGH_ENTROPY,
            format!(
                "{subject} holds a random-looking string (`{}`, {} characters, {} bits of entropy per character) that may be a secret",
                matchers::preview(text),
                text.len(),
                one_decimal(entropy),
            ),
        );
    }
}

/// The entropy of `text` if the high-entropy rule reports it.
fn high_entropy(config: &Config, text: &str, context: Option<&str>) -> Option<f64> {
    let long_enough = text.len() >= config.min_length;
    // Printable ASCII only: no whitespace, no control or non-ASCII characters.
    let token_like = text.bytes().all(|b| b.is_ascii_graphic());
    if !long_enough || !token_like {
        return None;
    }
    let has_digit = text.bytes().any(|b| b.is_ascii_digit());
    let has_letter = text.bytes().any(|b| b.is_ascii_alphabetic());
    if !has_digit || !has_letter {
        // Words, or numbers (account ids, timestamps): not secrets.
        return None;
    }
    if matchers::is_arn(text)
        || matchers::is_benign_shape(text)
        || context.is_some_and(keys::is_non_secret_context)
    {
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
    tokens(pointer)
        .into_iter()
        .rev()
        .find(|token| token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()))
}

/// How a message names the value: `` `DbPassword` ``, or its pointer.
fn describe_subject(name: Option<&str>, pointer: &str) -> String {
    match name {
        Some(name) => format!("`{name}`"),
        None if pointer.is_empty() => "the document".to_owned(),
        None => format!("the value at `{pointer}`"),
    }
}
