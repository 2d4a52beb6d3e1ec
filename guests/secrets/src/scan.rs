//! The scanner: walks a JSON document and reports hard-coded secrets.
//!
//! Pure logic over the SDK's [`Document`]; it knows nothing about the
//! component model, so it is unit-tested on the build machine
//! (`cargo test -p palisade-secrets --target x86_64-unknown-linux-gnu`).
//!
//! Every call runs in a fresh instance, so the scan is written to do as
//! little as possible per value: no allocation unless something is found
//! (pointers and messages are built only for findings), key names are
//! classified only for strings that need it, behind cheap byte-level
//! pre-checks, and the expensive content checks (entropy, shapes) only run
//! on strings long enough to matter.

use std::borrow::Cow;
use std::collections::BTreeSet;

use palisade_plugin_sdk::json::{Document, Kind, Node, Path, Segment, Walk};
use serde::Deserialize;

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

/// The plugin's settings as `palisade.toml` writes them (all optional).
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Shortest string the high-entropy rule looks at: an integer >= 8.
    pub min_length: Option<u64>,
    /// Bits per character from which a string is random-looking: 1.0 to 8.0.
    pub min_entropy: Option<f64>,
    /// Keys whose values are skipped, matched case-insensitively.
    pub ignore_keys: Vec<String>,
    /// Values that are never reported, matched exactly.
    pub allow_values: Vec<String>,
}

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
    /// Checks the settings' ranges (the types are serde's business):
    ///
    /// * `min_length`: integer >= 8 (default 20)
    /// * `min_entropy`: number from 1.0 to 8.0 (default 4.0)
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        let mut config = Self::default();
        if let Some(n) = settings.min_length {
            config.min_length = usize::try_from(n)
                .ok()
                .filter(|&n| n >= 8)
                .ok_or_else(|| format!("setting `min_length` must be an integer >= 8, got {n}"))?;
        }
        if let Some(e) = settings.min_entropy {
            if !(1.0..=8.0).contains(&e) {
                return Err(format!(
                    "setting `min_entropy` must be a number from 1.0 to 8.0 (bits per character), got {e}"
                ));
            }
            config.min_entropy = e;
        }
        config.ignore_keys = settings
            .ignore_keys
            .iter()
            .map(|k| k.to_lowercase())
            .collect();
        config.allow_values = settings.allow_values.iter().cloned().collect();
        Ok(config)
    }

    /// The entropy threshold for pure-hex strings, whose alphabet carries at
    /// most 4 bits per character.
    fn min_hex_entropy(&self) -> f64 {
        self.min_entropy * 0.75
    }

    fn ignores_key(&self, key: &str) -> bool {
        if self.ignore_keys.is_empty() {
            return false;
        }
        // The ignored keys are lowercase; compare without allocating unless
        // the key needs Unicode case folding.
        if key.is_ascii() {
            self.ignore_keys
                .iter()
                .any(|ignored| ignored.eq_ignore_ascii_case(key))
        } else {
            self.ignore_keys.contains(&key.to_lowercase())
        }
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

/// Keys naming a sibling `Value`: `{"Name": "X", "Value": "..."}`.
const VALUE_NAME_KEYS: [&str; 6] = [
    "name",
    "key",
    "parametername",
    "parameterkey",
    "optionname",
    "variable",
];

/// The scanner's state during one walk.
struct Scanner<'c, 'd> {
    config: &'c Config,
    hits: Vec<Hit>,
    /// The objects on the path to the current value, outermost first, with
    /// their depths: what an object's other members say about a member
    /// (`{"Name": "DB_PASSWORD", "Value": "..."}`) is looked up only for the
    /// few strings that need it.
    objects: Vec<(usize, Node<'d>)>,
    /// Scanning a Terraform plan: only `planned_values` and `variables`
    /// are read (the plan repeats each value in `resource_changes`,
    /// `configuration` and `prior_state`; one finding per value is enough).
    terraform_plan: bool,
}

/// `terraform show -json` output.
fn is_terraform_plan(document: &Document) -> bool {
    let root = document.root();
    root.get("format_version").is_some()
        && (root.get("planned_values").is_some() || root.get("resource_changes").is_some())
}

/// Scans `document` and returns the secrets found, in document order (for
/// one string: private key, access key id, secret access key, then the
/// weaker rules, which only apply when none of those matched). A key that
/// appears twice in one object has both its values scanned.
pub fn scan(document: &Document, config: &Config) -> Vec<Hit> {
    let mut scanner = Scanner {
        config,
        hits: Vec::new(),
        objects: Vec::with_capacity(16),
        terraform_plan: is_terraform_plan(document),
    };
    document.walk(&mut |path, node| scanner.visit(path, node));
    scanner.hits
}

impl<'d> Scanner<'_, 'd> {
    fn visit(&mut self, path: &Path<'d>, node: Node<'d>) -> Walk {
        let key = path.key();
        if self.terraform_plan
            && path.len() == 1
            && !matches!(key, Some("planned_values" | "variables"))
        {
            return Walk::Skip;
        }
        if !self.config.ignore_keys.is_empty() && key.is_some_and(|k| self.config.ignores_key(k)) {
            return Walk::Skip;
        }
        // Leave the objects the walk has left: in document order, an object
        // at this depth or deeper is not an ancestor.
        let depth = path.len();
        while self.objects.last().is_some_and(|(d, _)| *d >= depth) {
            self.objects.pop();
        }
        match node.kind() {
            Kind::Object => self.objects.push((depth, node)),
            Kind::String => {
                let parent = match (key, self.objects.last()) {
                    (Some(_), Some(&(d, object))) if d + 1 == depth => Some(object),
                    _ => None,
                };
                let text = node.as_str().unwrap_or_default();
                check_string(self.config, path, key, text, parent, &mut self.hits);
            }
            _ => {}
        }
        Walk::Continue
    }
}

/// A path segment as text: the key, or the index in decimal.
fn segment_text<'d>(segment: Segment<'d>) -> Cow<'d, str> {
    match segment {
        Segment::Key(key) => Cow::Borrowed(key),
        Segment::Index(index) => Cow::Owned(index.to_string()),
    }
}

/// `{"Name": "DB_PASSWORD", "Value": "..."}`: the name that gives the
/// `Value` member of `object` its meaning (ECS environment, Elastic
/// Beanstalk option settings, CloudFormation parameter lists, tags...).
fn value_name<'d>(object: Node<'d>) -> Option<&'d str> {
    object
        .members()
        .find(|(key, value)| {
            value.kind() == Kind::String
                && VALUE_NAME_KEYS
                    .iter()
                    .any(|name| key.eq_ignore_ascii_case(name))
        })
        .and_then(|(_, value)| value.as_str())
}

/// Whether a string member of `object` holds an AWS access key id.
fn has_access_key_id(object: Node<'_>) -> bool {
    object
        .members()
        .filter_map(|(_, value)| value.as_str())
        .any(matchers::has_access_key_id)
}

/// Applies every rule to one string value; adds its hits to `hits`.
///
/// `parent` is the object the string is a member of (`None` for array
/// items and the root).
fn check_string<'d>(
    config: &Config,
    path: &Path<'d>,
    key: Option<&'d str>,
    text: &str,
    parent: Option<Node<'d>>,
    hits: &mut Vec<Hit>,
) {
    // Step Functions: a field whose name ends in `.$` holds a JSONPath or
    // an intrinsic function (`States.Format(...)`), never a literal.
    if key.is_some_and(|k| k.ends_with(".$")) {
        return;
    }
    // CloudFormation intrinsics: what `Ref`, `Fn::GetAtt` and the like
    // hold are names, as are `Fn::If`'s condition and the separator of
    // `Fn::Join`; the other strings in an intrinsic (`Fn::Sub`, `Fn::If`'s
    // branches, `Fn::Join`'s parts) are values of the key that holds it.
    if names_something(path) {
        return;
    }
    let key = match key {
        Some(k) if is_intrinsic(k) => nearest_key(path),
        k => k,
    };
    let trimmed = matchers::trim(text);
    if trimmed.is_empty()
        || (!config.allow_values.is_empty()
            && (config.allow_values.contains(text) || config.allow_values.contains(trimmed)))
        || matchers::is_reference(trimmed)
    {
        return;
    }

    // The name that says what this value is: its key, or the sibling `Name`
    // of a `Value`, or the parameter of a `Default`
    // (`/Parameters/<name>/Default`), or the Terraform variable of a
    // `value` (`/variables/<name>/value`).
    let mut name: Option<Cow<'d, str>> = key.map(Cow::Borrowed);
    if let (Some(k), Some(parent)) = (key, parent) {
        if k.eq_ignore_ascii_case("value") {
            if let Some(value_name) = value_name(parent) {
                name = Some(Cow::Borrowed(value_name));
            } else if let [Segment::Key("variables"), variable, _] = path.segments() {
                // A Terraform plan's input variable: `variables.db_password.value`.
                name = Some(segment_text(*variable));
            }
        } else if k == "Default"
            && let [Segment::Key("Parameters"), parameter, _] = path.segments()
        {
            // An SSM-typed parameter's `Default` is a parameter path, not a value.
            let ssm = parent
                .get("Type")
                .and_then(Node::as_str)
                .is_some_and(|t| t.starts_with("AWS::SSM::Parameter"));
            if ssm {
                return;
            }
            name = Some(segment_text(*parameter));
        }
    }
    let name = name.as_deref();
    if name != key && name.is_some_and(|n| config.ignores_key(n)) {
        return;
    }
    // Array items take their meaning from the array's key.
    let context_name = name.or_else(|| nearest_key(path));

    // Messages are built by concatenation: `format!` costs more than the
    // whole scan of a typical string.
    let mut found: Vec<(&'static str, String)> = Vec::new();
    let subject = || describe_subject(context_name, path);

    // The specific, critical rules look at the content itself.
    if let Some(label) = matchers::private_key_label(text) {
        found.push((
            PRIVATE_KEY,
            concat(&[
                &subject(),
                " contains a PEM private key (`-----BEGIN ",
                label,
                "-----`)",
            ]),
        ));
    }
    let ids = matchers::access_key_ids(text);
    if let Some(first) = ids.first() {
        let preview = matchers::preview(first);
        let message = if ids.len() == 1 {
            concat(&[
                &subject(),
                " contains an AWS access key id (`",
                &preview,
                "`)",
            ])
        } else {
            concat(&[
                &subject(),
                " contains ",
                &decimal(ids.len() as u64),
                " AWS access key ids (`",
                &preview,
                "`, ...)",
            ])
        };
        found.push((AWS_ACCESS_KEY_ID, message));
    }
    let secret_key = if matchers::is_secret_key_shaped(trimmed) {
        if context_name.is_some_and(keys::mentions_secret) {
            Some((trimmed, ""))
        } else if parent.is_some_and(has_access_key_id) {
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
            concat(&[
                &subject(),
                " holds an AWS secret access key (`",
                &matchers::preview(key_found),
                "`, 40 characters",
                why,
                ")",
            ]),
        ));
    }

    // A password written in a value's own syntax: a connection URL
    // (`DATABASE_URL`) or a connection string (`Server=db;Password=...;`),
    // on one line, where `$X`, `%X%` and `{X}` stand for what is filled in
    // later; or HTTP Basic credentials (`Authorization: Basic dXNlcjpwYXNz`,
    // base64, so taken as written).
    if found.is_empty() {
        let one_line = !text.contains('\n');
        let templated = |p: &str| p.starts_with(['$', '%', '{']);
        let url = (one_line && !matchers::contains_reference(text))
            .then(|| matchers::url_password(trimmed))
            .flatten();
        let connection = one_line
            .then(|| matchers::connection_string_password(trimmed))
            .flatten();
        let written = [
            (url, " holds a connection URL with a hard-coded password (`"),
            (connection, " holds a connection string with a hard-coded password (`"),
        ]
        .into_iter()
        .find_map(|(p, what)| {
            p.filter(|p| plain_password(p) && !templated(p))
                .map(|p| (Cow::Borrowed(p), what))
        })
        .or_else(|| {
            matchers::basic_password(text)
                .filter(|p| plain_password(p))
                .map(|p| (Cow::Owned(p), " holds hard-coded HTTP Basic credentials (password `"))
        });
        if let Some((password, what)) = written {
            found.push((
                SECRET_NAMED_FIELD,
                concat(&[&subject(), what, &matchers::preview(&password), "`)"]),
            ));
        }
    }

    // JSON held as text (`CONFIG: '{"db": {"password": "..."}}'`): its
    // secret-named members.
    if found.is_empty()
        && ((trimmed.starts_with('{') && trimmed.ends_with('}'))
            || (trimmed.starts_with('[') && trimmed.ends_with(']')))
        && trimmed.len() <= MAX_JSON_TEXT
        && let Some((member, kind, value)) = json_secret(trimmed)
    {
        found.push((
            SECRET_NAMED_FIELD,
            concat(&[
                &subject(),
                " holds JSON whose `",
                &member,
                "` is a hard-coded ",
                kind.noun(),
                " (`",
                &matchers::preview(&value),
                "`)",
            ]),
        ));
    }

    // Code or configuration inline (a function's `ZipFile`, `InlineCode`):
    // literals assigned to secret-named variables.
    if found.is_empty() && text.contains('\n') && !matchers::is_mapping_template(text) {
        for (var, value) in matchers::quoted_assignments(text) {
            let Some(kind) = keys::secret_kind(var) else {
                continue;
            };
            let value = matchers::trim(value);
            if value.len() < 4
                || matchers::is_reference(value)
                || matchers::contains_reference(value)
                || matchers::is_placeholder(value)
                || matchers::is_arn(value)
            {
                continue;
            }
            found.push((
                SECRET_NAMED_FIELD,
                concat(&[
                    &subject(),
                    " assigns a hard-coded ",
                    kind.noun(),
                    " to `",
                    var,
                    "` (`",
                    &matchers::preview(value),
                    "`)",
                ]),
            ));
        }
    }

    // The weaker rules never report templates or placeholders (checked only
    // for a candidate, as most strings are neither).
    let plain = || !matchers::contains_reference(text) && !matchers::is_placeholder(trimmed);
    if found.is_empty() {
        if let Some(kind) = context_name.and_then(keys::secret_kind) {
            // A field whose name says it is secret, holding a plain value
            // (array items take the array's name: `"ApiKeys": ["..."]`).
            if !matchers::is_arn(trimmed)
                && !matchers::is_file_path(trimmed)
                && !matchers::is_unit_word(trimmed)
                && !echoes_its_name(context_name, trimmed)
                && plain()
            {
                found.push((
                    SECRET_NAMED_FIELD,
                    concat(&[
                        &subject(),
                        " holds a hard-coded ",
                        kind.noun(),
                        " (`",
                        &matchers::preview(trimmed),
                        "`)",
                    ]),
                ));
            }
        } else if let Some(entropy) = high_entropy(config, text)
            && !context_name.is_some_and(keys::is_non_secret_context)
            && plain()
        {
            // Finally: random-looking strings.
            found.push((
                HIGH_ENTROPY,
                concat(&[
                    &subject(),
                    " holds a random-looking string (`",
                    &matchers::preview(text),
                    "`, ",
                    &decimal(text.len() as u64),
                    " characters, ",
                    &one_decimal(entropy),
                    " bits of entropy per character) that may be a secret",
                ]),
            ));
        }
    }

    if found.is_empty() {
        return;
    }
    let mut location = Some((path.pointer(), cloudformation_resource(path)));
    let count = found.len();
    for (i, (rule, message)) in found.into_iter().enumerate() {
        // The last hit takes the pointer and resource; the others copy them.
        let (pointer, resource) = if i + 1 == count {
            location.take()
        } else {
            location.clone()
        }
        .unwrap_or_default();
        hits.push(Hit {
            rule,
            message,
            pointer,
            resource,
        });
    }
}

/// Whether a value only repeats the last word of its name
/// (`REDIS_PASSWORD: PASSWORD`, `apiKey: key`): a placeholder.
/// Whether a password found inside a value is written out: long enough,
/// and no reference, template or placeholder.
fn plain_password(p: &str) -> bool {
    p.len() >= 3
        && !matchers::is_reference(p)
        && !matchers::contains_reference(p)
        && !matchers::is_placeholder(p)
}

/// JSON text longer than this is not parsed for secret-named members.
const MAX_JSON_TEXT: usize = 256 << 10;
/// How deep into JSON text (objects and arrays) members are looked for.
const MAX_JSON_DEPTH: usize = 32;

/// The first secret-named member of the JSON object `text` (nested up to
/// [`MAX_JSON_DEPTH`] levels, array items named by their array) that holds
/// a plain value: (member, kind, value).
fn json_secret(text: &str) -> Option<(String, keys::SecretKind, String)> {
    use palisade_plugin_sdk::serde_json::{self, Value};
    let mut pending: Vec<(String, Value, usize)> = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(members)) => members.into_iter().rev().map(|(k, v)| (k, v, 0)).collect(),
        // A list of objects: their members count.
        Ok(Value::Array(items)) => items.into_iter().rev().map(|v| (String::new(), v, 0)).collect(),
        _ => return None,
    };
    while let Some((member, value, depth)) = pending.pop() {
        match value {
            // Items take their meaning from the array's member.
            Value::Array(items) if depth < MAX_JSON_DEPTH => {
                pending.extend(items.into_iter().rev().map(|v| (member.clone(), v, depth + 1)));
            }
            Value::String(v) => {
                let Some(kind) = keys::secret_kind(&member) else {
                    continue;
                };
                let v = matchers::trim(&v).to_owned();
                // `$DB_PASSWORD`, `%DB_PASSWORD%`: filled in by whoever
                // reads the JSON, as in a connection URL.
                if v.len() >= 4
                    && !v.starts_with(['$', '%'])
                    && plain_password(&v)
                    && !matchers::is_arn(&v)
                    && !matchers::is_file_path(&v)
                    && !matchers::is_unit_word(&v)
                    && !echoes_its_name(Some(&member), &v)
                {
                    return Some((member, kind, v));
                }
            }
            Value::Object(inner) if depth < MAX_JSON_DEPTH => {
                pending.extend(inner.into_iter().rev().map(|(k, v)| (k, v, depth + 1)));
            }
            _ => {}
        }
    }
    None
}

fn echoes_its_name(name: Option<&str>, value: &str) -> bool {
    name.and_then(keys::last_word)
        .is_some_and(|last| last.eq_ignore_ascii_case(value))
}

/// The CloudFormation logical id a value falls under: `MyBucket` for
/// `/Resources/MyBucket/...` (anything below the resource itself).
fn cloudformation_resource(path: &Path<'_>) -> Option<String> {
    match path.segments() {
        [Segment::Key("Resources"), id, _, ..] => {
            Some(segment_text(*id).into_owned()).filter(|id| !id.is_empty())
        }
        _ => None,
    }
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
    // The distinct bytes (all below 128).
    let mut seen = [0_u64; 2];
    for b in text.bytes() {
        if !b.is_ascii_graphic() {
            return None;
        }
        has_digit |= b.is_ascii_digit();
        has_letter |= b.is_ascii_alphabetic();
        if let Some(bits) = seen.get_mut(usize::from(b >> 6)) {
            *bits |= 1 << (b & 63);
        }
    }
    if !has_digit || !has_letter || matchers::is_arn(text) {
        return None;
    }
    let threshold = if matchers::is_hex(text) {
        config.min_hex_entropy()
    } else {
        config.min_entropy
    };
    // The entropy is at most log2(number of distinct bytes): when even that
    // is below the threshold (with a margin far above rounding errors), the
    // shape checks and the entropy itself are not needed.
    let distinct: u32 = seen.iter().map(|bits| bits.count_ones()).sum();
    if f64::from(distinct).log2() + 1e-9 < threshold || matchers::is_benign_shape(text) {
        return None;
    }
    let entropy = matchers::shannon_entropy(text);
    (entropy >= threshold).then_some(entropy)
}

/// Formats a small non-negative number with one decimal (`4.7`) without
/// pulling float formatting into the component.
fn one_decimal(x: f64) -> String {
    // Entropy is 0..=8 bits per character, so the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let tenths = (x * 10.0).round().max(0.0) as u64;
    concat(&[&decimal(tenths / 10), ".", &decimal(tenths % 10)])
}

/// `n` in decimal, without `format!`.
fn decimal(mut n: u64) -> String {
    let mut digits = Vec::with_capacity(20);
    loop {
        // `n % 10` is a single digit.
        #[allow(clippy::cast_possible_truncation)]
        digits.push(b'0' + (n % 10) as u8);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// The concatenation of `parts`.
fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|part| part.len()).sum());
    for part in parts {
        out.push_str(part);
    }
    out
}

/// The key of the nearest enclosing object member, for array items
/// (`/Resources/X/Properties/ApiKeys/0` → `ApiKeys`). Keys made of digits
/// only are passed over, like array indices.
fn nearest_key<'d>(path: &Path<'d>) -> Option<&'d str> {
    path.segments()
        .iter()
        .rev()
        .find_map(|segment| match segment {
            Segment::Key(key)
                if (key.is_empty() || !key.bytes().all(|b| b.is_ascii_digit()))
                    && !is_intrinsic(key) =>
            {
                Some(*key)
            }
            _ => None,
        })
}

/// A CloudFormation intrinsic function's key (`Fn::Sub`, `Fn::If`, ...).
fn is_intrinsic(key: &str) -> bool {
    key.starts_with("Fn::")
}

/// Whether the string at `path` names something inside an intrinsic: in
/// `Ref`, `Fn::GetAtt`, `Fn::ImportValue`, `Fn::FindInMap`, `Fn::GetAZs`,
/// `Condition`, or `Fn::If`'s condition, or the separator of `Fn::Join` and
/// `Fn::Split`.
fn names_something(path: &Path<'_>) -> bool {
    let segments = path.segments();
    if let [.., Segment::Key("Fn::If" | "Fn::Join" | "Fn::Split"), Segment::Index(0)] = segments {
        return true;
    }
    segments.iter().any(|s| {
        matches!(
            s,
            Segment::Key(
                "Ref" | "Fn::GetAtt" | "Fn::ImportValue" | "Fn::FindInMap" | "Fn::GetAZs" | "Condition"
            )
        )
    })
}

/// How a message names the value: `` `DbPassword` ``, or its pointer.
fn describe_subject(name: Option<&str>, path: &Path<'_>) -> String {
    match name {
        Some(name) => concat(&["`", name, "`"]),
        None if path.is_empty() => "the document".to_owned(),
        None => concat(&["the value at `", &path.pointer(), "`"]),
    }
}
