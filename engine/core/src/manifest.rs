//! The bundle manifest, `palisade.toml`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Enforce (deny on findings and errors) or monitor (report only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Findings and errors deny.
    #[default]
    Enforce,
    /// Findings and errors are reported but never deny.
    Monitor,
}

impl Mode {
    /// `enforce` or `monitor`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Monitor => "monitor",
        }
    }
}

/// The parsed `palisade.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Name, version, mode.
    pub bundle: BundleSection,
    /// Cedar policies, schema and entities.
    #[serde(default)]
    pub cedar: CedarSection,
    /// Plugins, in evaluation order.
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<PluginSection>,
    /// Sandbox limits for every plugin call.
    #[serde(default)]
    pub limits: Limits,
    /// Routes, bearer tokens and rate limits for request-time decisions:
    /// raw here, read by the gateway's [`Extension`](crate::Extension).
    #[serde(default)]
    pub gateway: Option<toml::Table>,
}

/// `[bundle]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleSection {
    /// Bundle name, e.g. `serverless-baseline`.
    pub name: String,
    /// Bundle version, e.g. `1.2.0`.
    pub version: String,
    /// One line saying what the bundle is for.
    #[serde(default)]
    pub description: Option<String>,
    /// `enforce` (default) or `monitor`.
    #[serde(default)]
    pub mode: Mode,
    /// The controls table (a JSON file in the bundle): the practice each
    /// rule enforces and the peer checks it covers; compliance reports
    /// are made from it.
    #[serde(default)]
    pub controls: Option<String>,
}

/// `[cedar]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CedarSection {
    /// `.cedar` files or directories of them, relative to the bundle
    /// directory. Default: `["policies"]`.
    #[serde(default)]
    pub policies: Option<Vec<String>>,
    /// A `.cedarschema` or `.json` schema; when present, policies are
    /// validated strictly at load and requests are validated against it.
    #[serde(default)]
    pub schema: Option<String>,
    /// Cedar entities JSON (users, groups, resources known in advance):
    /// one file, or a list of files whose entities are merged (for
    /// example teams in one, a data table of runtimes in another).
    #[serde(default)]
    pub entities: Option<Files>,
    /// What a policy that fails to evaluate does (an attribute of the wrong
    /// type, a missing entity, an overflow): `deny` (default) makes the
    /// decision deny and names the policy; `ignore` skips the policy, as
    /// Cedar itself does, so a `forbid` that errors no longer forbids.
    #[serde(default)]
    pub on_policy_error: OnPolicyError,
}

/// `[cedar] on_policy_error`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum OnPolicyError {
    /// A policy that errors denies the decision (fail closed).
    #[default]
    Deny,
    /// A policy that errors is skipped (Cedar's own behaviour); the error
    /// is still reported.
    Ignore,
}

/// One file or a list of files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Files {
    /// `entities = "entities.json"`
    One(String),
    /// `entities = ["entities.json", "runtimes.json"]`
    Many(Vec<String>),
}

impl Files {
    /// The files, in order.
    pub fn paths(&self) -> &[String] {
        match self {
            Files::One(p) => std::slice::from_ref(p),
            Files::Many(v) => v,
        }
    }
}

/// `[[plugin]]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSection {
    /// Name the bundle uses for the plugin: findings say `plugin:NAME` and
    /// Cedar sees its facts as `context.plugins.NAME`.
    pub name: String,
    /// Path to the `.wasm` component, relative to the bundle directory.
    pub path: String,
    /// Hex sha256 of the `.wasm` file; a mismatch refuses the bundle.
    pub sha256: String,
    /// Where the `.wasm` comes from: `oci://REGISTRY/REPO@sha256:DIGEST`, a
    /// Wasm OCI artifact (CNCF layout). `palisade bundle build` fetches it
    /// into the archive at `path` (checked against `sha256`); the engine
    /// itself reads `path` only.
    #[serde(default)]
    pub source: Option<String>,
    /// `enforce` or `monitor`; default: the bundle's mode.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Settings handed to the plugin, validated by it at load.
    #[serde(default)]
    pub settings: Option<toml::Value>,
    /// Limits of this plugin's calls, each one replacing the bundle's
    /// `[limits]` value: an interpreted plugin (Python, JavaScript) needs
    /// more fuel and memory than a compiled one.
    #[serde(default)]
    pub limits: PluginLimits,
}

/// `limits = { .. }` of one `[[plugin]]`: what differs from `[limits]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginLimits {
    /// Fuel per call.
    pub fuel: Option<u64>,
    /// Linear memory, in MiB.
    pub memory_mib: Option<u32>,
    /// Wall-clock backstop per call, in milliseconds.
    pub timeout_ms: Option<u64>,
}

impl Limits {
    /// These limits with a plugin's own values in place of the bundle's.
    #[must_use]
    pub fn with(self, own: PluginLimits) -> Limits {
        Limits {
            fuel: own.fuel.unwrap_or(self.fuel),
            memory_mib: own.memory_mib.unwrap_or(self.memory_mib),
            timeout_ms: own.timeout_ms.unwrap_or(self.timeout_ms),
        }
    }

    /// The first value that would switch a backstop off (above its
    /// maximum) or fail every call (0): its key and what is wrong.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        let checks: [(&str, u64, u64, &str); 3] = [
            ("fuel", self.fuel, MAX_FUEL, ""),
            (
                "memory_mib",
                u64::from(self.memory_mib),
                u64::from(MAX_MEMORY_MIB),
                " MiB",
            ),
            ("timeout_ms", self.timeout_ms, MAX_TIMEOUT_MS, " ms"),
        ];
        checks.into_iter().find_map(|(key, value, max, unit)| {
            if value == 0 {
                Some((
                    key,
                    format!("`limits.{key}` must be at least 1 (0 would fail every plugin call)"),
                ))
            } else if value > max {
                Some((
                    key,
                    format!(
                        "`limits.{key}` is {value}{unit}, above the maximum of {max}{unit}: \
                         larger values would switch off the sandbox's backstop"
                    ),
                ))
            } else {
                None
            }
        })
    }
}

/// `[limits]`: the sandbox of every plugin call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Fuel per call (about one unit per WebAssembly instruction);
    /// deterministic, so a plugin runs out at the same point everywhere.
    pub fuel: u64,
    /// Linear memory a plugin instance may grow to, in MiB.
    pub memory_mib: u32,
    /// Wall-clock backstop per call, in milliseconds.
    pub timeout_ms: u64,
}

/// The largest `fuel` a bundle may set: about a minute of WebAssembly at
/// full speed. Past it the fuel budget no longer bounds a call.
pub const MAX_FUEL: u64 = 100_000_000_000;
/// The largest `memory_mib` a bundle may set (1 GiB, what the host
/// reserves per instance).
pub const MAX_MEMORY_MIB: u32 = 1024;
/// The largest `timeout_ms` a bundle may set (one minute).
pub const MAX_TIMEOUT_MS: u64 = 60_000;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 1_000_000_000,
            memory_mib: 64,
            timeout_ms: 2_000,
        }
    }
}

impl Manifest {
    /// Parses manifest text. Errors carry the byte span of the problem.
    pub(crate) fn parse(text: &str) -> Result<Manifest, (String, Option<std::ops::Range<usize>>)> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| (e.message().to_owned(), e.span()))?;
        check_limits(text, &manifest.limits)?;
        Ok(manifest)
    }

    /// Whether the manifest has this front end's table (one of
    /// [`EXTENSION_TABLES`](crate::EXTENSION_TABLES)).
    pub(crate) fn has_table(&self, table: &str) -> bool {
        match table {
            "gateway" => self.gateway.is_some(),
            _ => false,
        }
    }

    /// The plugin settings as JSON, `{}` when none are given.
    pub(crate) fn settings_json(settings: Option<&toml::Value>) -> serde_json::Value {
        match settings {
            None => serde_json::Value::Object(serde_json::Map::new()),
            Some(v) => toml_to_json(v),
        }
    }
}

/// Where each `[limits]` value is written, for messages.
#[derive(Deserialize)]
struct LimitSpans {
    #[serde(default)]
    limits: Option<LimitFields>,
}

#[derive(Deserialize)]
struct LimitFields {
    fuel: Option<toml::Spanned<toml::Value>>,
    memory_mib: Option<toml::Spanned<toml::Value>>,
    timeout_ms: Option<toml::Spanned<toml::Value>>,
}

/// Refuses limits that would switch the sandbox's backstops off (or make
/// every call fail), pointing at the value in `palisade.toml`.
fn check_limits(
    text: &str,
    limits: &Limits,
) -> Result<(), (String, Option<std::ops::Range<usize>>)> {
    let spans = toml::from_str::<LimitSpans>(text)
        .ok()
        .and_then(|s| s.limits);
    let span = |f: fn(&LimitFields) -> &Option<toml::Spanned<toml::Value>>| {
        spans
            .as_ref()
            .and_then(|l| f(l).as_ref())
            .map(toml::Spanned::span)
    };
    match limits.problem() {
        None => Ok(()),
        Some((key, message)) => Err((
            message,
            match key {
                "fuel" => span(|l| &l.fuel),
                "memory_mib" => span(|l| &l.memory_mib),
                _ => span(|l| &l.timeout_ms),
            },
        )),
    }
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => {
            let m: BTreeMap<String, J> = t
                .iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect();
            J::Object(m.into_iter().collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_manifest_parses_with_defaults() {
        let m = Manifest::parse("[bundle]\nname = \"x\"\nversion = \"1\"\n");
        let m = m.map_err(|e| e.0);
        assert!(m.is_ok(), "{m:?}");
        if let Ok(m) = m {
            assert_eq!(m.bundle.mode, Mode::Enforce);
            assert_eq!(m.limits, Limits::default());
            assert!(m.plugins.is_empty());
        }
    }

    #[test]
    fn unknown_keys_are_refused_with_a_span() {
        let text = "[bundle]\nname = \"x\"\nversion = \"1\"\nmood = \"happy\"\n";
        match Manifest::parse(text) {
            Ok(_) => panic!("unknown key accepted"),
            Err((msg, span)) => {
                assert!(msg.contains("mood"), "{msg}");
                assert!(span.is_some());
            }
        }
    }

    #[test]
    fn limits_above_their_maxima_are_refused_at_their_line() {
        for (key, value) in [
            ("fuel", "9_223_372_036_854_775_807"),
            ("timeout_ms", "9_223_372_036_854_775_807"),
            ("memory_mib", "4096"),
            ("fuel", "0"),
        ] {
            let text =
                format!("[bundle]\nname = \"x\"\nversion = \"1\"\n[limits]\n{key} = {value}\n");
            match Manifest::parse(&text) {
                Ok(_) => panic!("{key} = {value} accepted"),
                Err((msg, span)) => {
                    assert!(msg.contains(&format!("`limits.{key}`")), "{msg}");
                    let span = span.unwrap();
                    assert_eq!(crate::error::line_col(&text, span.start).0, 5, "{msg}");
                }
            }
        }
        let ok = format!(
            "[bundle]\nname = \"x\"\nversion = \"1\"\n[limits]\nfuel = {MAX_FUEL}\ntimeout_ms = {MAX_TIMEOUT_MS}\nmemory_mib = {MAX_MEMORY_MIB}\n"
        );
        assert!(Manifest::parse(&ok).is_ok());
    }

    #[test]
    fn settings_become_json() {
        let v: toml::Value =
            toml::from_str("a = 1\nb = [\"x\"]\n").unwrap_or(toml::Value::Boolean(false));
        assert_eq!(
            Manifest::settings_json(Some(&v)),
            serde_json::json!({"a": 1, "b": ["x"]})
        );
    }
}
