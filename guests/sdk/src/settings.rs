//! A plugin's settings.
//!
//! Settings come from the plugin's table in the bundle manifest, as JSON,
//! and arrive as the plugin's [`Plugin::Settings`](crate::Plugin::Settings)
//! type, deserialized with serde by [`parse`]: derive `Deserialize` (add
//! `#[serde(deny_unknown_fields)]` to refuse misspelt keys) and the host
//! refuses a bundle whose settings do not fit, with serde's message.
//!
//! ```
//! use palisade_plugin_sdk::serde::Deserialize;
//! use palisade_plugin_sdk::settings;
//!
//! #[derive(Debug, Default, Deserialize)]
//! #[serde(crate = "palisade_plugin_sdk::serde", default, deny_unknown_fields)]
//! struct Settings {
//!     tag: Option<String>,
//! }
//!
//! assert_eq!(settings::parse::<Settings>(r#"{"tag": "team"}"#)?.tag.as_deref(), Some("team"));
//! assert_eq!(settings::parse::<Settings>("{}")?.tag, None); // no settings in the manifest
//! settings::parse::<()>("{}")?; // a plugin without settings
//! let err = settings::parse::<Settings>(r#"{"tags": 1}"#).unwrap_err();
//! assert!(err.starts_with("invalid settings: unknown field `tags`, expected `tag`"), "{err}");
//! # Ok::<(), String>(())
//! ```
//!
//! A plugin whose settings are free-form JSON takes `type Settings =
//! Value;` and reads them with [`object`], which checks the overall shape,
//! and the typed getters of [`Settings`], each of which produces a precise
//! error message:
//!
//! ```
//! use palisade_plugin_sdk::{settings, serde_json::json};
//!
//! let raw = json!({"max_items": 10});
//! let settings = settings::object(&raw, &["max_items", "names"])?;
//! assert_eq!(settings.get_u64("max_items")?, Some(10));
//! assert_eq!(settings.get_strings("names")?, None);
//!
//! let err = settings::object(&json!({"mx_items": 1}), &["max_items"]).unwrap_err();
//! assert_eq!(err, "unknown setting `mx_items`; expected one of max_items");
//! # Ok::<(), String>(())
//! ```

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Reads settings of type `T` from the JSON text the host sends. No
/// settings (empty text, `null` or `{}`) read as `null` when `T` accepts it
/// (`()`, `Option`, [`Value`]), else as `{}` (a struct whose fields all have
/// defaults).
///
/// # Errors
/// `invalid settings: ` and serde's message, which names the field.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let text = text.trim();
    let invalid = |err: serde_json::Error| format!("invalid settings: {err}");
    let none = text.is_empty()
        || (text.len() < 16
            && match serde_json::from_str::<Value>(text) {
                Ok(Value::Null) => true,
                Ok(Value::Object(m)) => m.is_empty(),
                _ => false,
            });
    if none {
        return serde_json::from_str("null")
            .or_else(|_| serde_json::from_str("{}"))
            .map_err(invalid);
    }
    serde_json::from_str(text).map_err(invalid)
}

/// A plugin's settings object, checked by [`object`]; read it with the typed
/// getters, each of which returns `Ok(None)` for a missing (or `null`)
/// setting and a precise error for a value of the wrong type.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    members: Option<&'a Map<String, Value>>,
}

/// Checks that `settings` is a JSON object (or `null`, meaning no settings)
/// whose keys are all in `allowed`, and returns it for reading.
///
/// The error names the first unknown key and lists the allowed ones:
/// ``unknown setting `foo`; expected one of a, b``.
pub fn object<'a>(settings: &'a Value, allowed: &[&str]) -> Result<Settings<'a>, String> {
    let map = match settings {
        Value::Null => return Ok(Settings { members: None }),
        Value::Object(map) => map,
        other => {
            return Err(format!(
                "settings must be a JSON object, got {}",
                type_name(other)
            ));
        }
    };
    if let Some(unknown) = map.keys().find(|key| !allowed.contains(&key.as_str())) {
        return Err(if allowed.is_empty() {
            format!("unknown setting `{unknown}`; this plugin takes no settings")
        } else {
            format!(
                "unknown setting `{unknown}`; expected one of {}",
                allowed.join(", ")
            )
        });
    }
    Ok(Settings { members: Some(map) })
}

impl<'a> Settings<'a> {
    /// The raw value of setting `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.members.and_then(|members| members.get(key))
    }

    /// Reads optional setting `key` as a non-negative integer.
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>, String> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value.as_u64().map(Some).ok_or_else(|| {
                format!(
                    "setting `{key}` must be a non-negative integer, got {}",
                    describe(value)
                )
            }),
        }
    }

    /// Reads optional setting `key` as a number.
    pub fn get_f64(&self, key: &str) -> Result<Option<f64>, String> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value.as_f64().map(Some).ok_or_else(|| {
                format!("setting `{key}` must be a number, got {}", describe(value))
            }),
        }
    }

    /// Reads optional setting `key` as a boolean.
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, String> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value.as_bool().map(Some).ok_or_else(|| {
                format!(
                    "setting `{key}` must be true or false, got {}",
                    describe(value)
                )
            }),
        }
    }

    /// Reads optional setting `key` as a string.
    pub fn get_str(&self, key: &str) -> Result<Option<&'a str>, String> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value.as_str().map(Some).ok_or_else(|| {
                format!("setting `{key}` must be a string, got {}", describe(value))
            }),
        }
    }

    /// Reads optional setting `key` as an array of strings.
    pub fn get_strings(&self, key: &str) -> Result<Option<Vec<String>>, String> {
        let items = match self.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(format!(
                    "setting `{key}` must be an array of strings, got {}",
                    describe(other)
                ));
            }
        };
        let mut strings = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => strings.push(s.clone()),
                other => {
                    return Err(format!(
                        "setting `{key}` must be an array of strings, but item {index} is {}",
                        describe(other)
                    ));
                }
            }
        }
        Ok(Some(strings))
    }
}

/// The JSON type of a value, for error messages: `null`, `a boolean`,
/// `a number`, `a string`, `an array`, `an object`.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value for an error message: scalars as JSON (strings cut to 40
/// characters), containers by their type.
fn describe(value: &Value) -> String {
    match value {
        Value::Array(_) | Value::Object(_) => type_name(value).to_owned(),
        Value::String(s) if s.chars().count() > 40 => {
            let cut: String = s.chars().take(40).collect();
            format!("\"{cut}…\"")
        }
        other => other.to_string(),
    }
}
