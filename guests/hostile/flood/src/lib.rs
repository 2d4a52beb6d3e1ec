//! Hostile guest `flood`: floods the host with output, as much as its
//! settings ask for, while staying inside its own memory.
//!
//! Settings (all optional):
//!
//! | key             | what the guest does                                        |
//! |-----------------|------------------------------------------------------------|
//! | `findings`      | reports rule `hostile.flood` this many times               |
//! | `message_bytes` | each finding's message is this many bytes (default 16)     |
//! | `pointer`       | each finding carries this pointer                          |
//! | `facts`         | reports this many facts `f0`, `f1`, ...                    |
//! | `fact_bytes`    | fact `big` holds a text of this many bytes                 |
//! | `logs`          | calls the host's `log` this many times                     |
//!
//! Proves the host caps what one call may hand it (findings, facts, log
//! lines, bytes) and fails closed past the caps.

use palisade_plugin_sdk::{Category, 
    Evaluation, Input, InputKind, Metadata, Plugin, Rule, Severity, Value, export_plugin, log,
    settings,
};

const KEYS: &[&str] = &[
    "findings",
    "message_bytes",
    "pointer",
    "facts",
    "fact_bytes",
    "logs",
];

/// The guest.
struct Hostile;

fn count(s: &settings::Settings<'_>, key: &str) -> Result<usize, String> {
    Ok(usize::try_from(s.get_u64(key)?.unwrap_or(0)).unwrap_or(usize::MAX))
}

impl Plugin for Hostile {
    type Settings = Value;

    fn metadata() -> Metadata {
        Metadata::new("hostile-flood", "0.1.0")
            .applies_to(&InputKind::ALL)
            .rule(
                Rule::new(
                    "hostile.flood",
                    Category::Other,
                    Severity::High,
                    "Floods the host with output",
                    "Do not load this plugin outside the sandbox tests",
                )
                .control("sandbox tests"),
            )
    }

    fn validate_settings(settings: &Value) -> Result<(), String> {
        if settings.is_null() {
            return Ok(());
        }
        settings::object(settings, KEYS).map(|_| ())
    }

    fn evaluate(_input: &Input, settings: &Value) -> Result<Evaluation, String> {
        let mut eval = Evaluation::new();
        if settings.is_null() {
            return Ok(eval);
        }
        let s = settings::object(settings, KEYS)?;
        let message_bytes = match s.get_u64("message_bytes")? {
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => 16,
        };
        let message = "m".repeat(message_bytes.max(1));
        let pointer = s.get_str("pointer")?;
        for _ in 0..count(&s, "findings")? {
            let f = eval.finding("hostile.flood", message.clone());
            if let Some(p) = pointer {
                f.pointer(p);
            }
        }
        for i in 0..count(&s, "facts")? {
            eval.fact(format!("f{i}"), true);
        }
        let fact_bytes = count(&s, "fact_bytes")?;
        if fact_bytes > 0 {
            eval.fact("big", "b".repeat(fact_bytes));
        }
        for i in 0..count(&s, "logs")? {
            log::info(&format!("line {i}"));
        }
        Ok(eval)
    }
}

export_plugin!(Hostile);
