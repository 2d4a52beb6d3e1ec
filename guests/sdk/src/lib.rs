//! # Palisade plugin SDK
//!
//! Write Palisade policy plugins in plain Rust. A plugin
//! is a WebAssembly component (target `wasm32-wasip2`) that implements the
//! `plugin` world of `wit/policy.wit`; this crate hides every piece of the
//! generated component glue, so a plugin is one type implementing [`Plugin`]
//! plus one [`export_plugin!`] line:
//!
//! ```no_run
//! use palisade_plugin_sdk::json::Walk;
//! use palisade_plugin_sdk::{
//!     export_plugin, Category, Evaluation, Input, InputKind, Metadata, Plugin, Rule, Severity,
//! };
//!
//! /// Flags `"debug": true` anywhere in a deployment.
//! struct NoDebug;
//!
//! impl Plugin for NoDebug {
//!     /// This plugin takes no settings.
//!     type Settings = ();
//!
//!     fn metadata() -> Metadata {
//!         Metadata::new("no-debug", "0.1.0")
//!             .applies_to(&[InputKind::Deployment])
//!             .rule(
//!                 Rule::new(
//!                     "no-debug.enabled",
//!                     Category::Other,
//!                     Severity::Low,
//!                     "Debug mode is enabled",
//!                     "Set `debug` to false before deploying",
//!                 )
//!                 .control("no debug builds in production"),
//!             )
//!     }
//!
//!     fn evaluate(input: &Input, _settings: &()) -> Result<Evaluation, String> {
//!         let mut eval = Evaluation::new();
//!         let mut hits = 0_i64;
//!         input.document.walk(&mut |path, value| {
//!             if path.key() == Some("debug") && value.as_bool() == Some(true) {
//!                 eval.finding("no-debug.enabled", "`debug` is true").pointer(path.pointer());
//!                 hits += 1;
//!             }
//!             Walk::Continue
//!         });
//!         eval.fact("debug_count", hits);
//!         Ok(eval)
//!     }
//! }
//!
//! export_plugin!(NoDebug);
//! ```
//!
//! A deployment plugin can also read the deployment's resources as the
//! Cedar rules see them, whatever the format (CloudFormation, SAM,
//! serverless.yml, Terraform plan): [`Input::resources`].
//!
//! ## The contract, in short
//!
//! * The contract is `palisade:policy@0.2.0` (`wit/policy.wit`); this SDK's
//!   version is the contract's major.minor. A host refuses a plugin built
//!   for another version and says which one.
//! * The host calls [`Plugin::metadata`] once when a bundle loads,
//!   [`Plugin::validate_settings`] once per configured plugin, and
//!   [`Plugin::evaluate`] once per decision — every call in a **fresh
//!   instance**, so statics do not survive between calls. Settings are
//!   deserialized into [`Plugin::Settings`] for each call (see
//!   [`settings::parse`]) and checked by `validate_settings` once.
//! * A plugin has no ambient authority: no files, environment, network or
//!   real clock. The evaluation time arrives as [`Input::now`]. The only host
//!   service is the [`log`]: `palisade check --plugin-logs` shows the lines.
//! * Every [`Finding::rule_id`] must be one of the ids declared in
//!   [`Metadata::rules`]: the host drops a finding of an undeclared rule and
//!   reports a `bad-output` error, which denies the decision. Finding
//!   messages must not be empty and fact names are identifiers.
//! * Facts reach the Cedar policies as `context.plugins.<plugin>.<name>`.
//! * Return `Err(String)` for anything that goes wrong; never panic. A panic
//!   aborts the instance (guests are built with `panic = "abort"`) and the
//!   host reports it as a crashed plugin.
//! * Every call pays for reading its input: [`Input::document`] is a
//!   [`json::Document`], parsed once into a compact index of the text.
//!   Walk it with [`json::Document::walk`] and read values through
//!   [`json::Node`]s, which borrow from the text; build JSON pointers only
//!   for what you report. The `serde_json::Value` view (`&input.document`
//!   where a `&Value` is expected) is there for convenience and costs a
//!   full conversion on first use.
//!
//! ## Building
//!
//! Plugin crates are `cdylib`s built for `wasm32-wasip2`; the toolchain
//! links them straight into a component. See `guests/README.md` and
//! `guests/build.sh`.

#![deny(unsafe_code)]

mod document;
mod glue;
pub mod json;
pub mod log;
mod model;
pub mod settings;

pub use json::{Document, walk};
pub use model::{
    Category, Evaluation, Fact, FactValue, Finding, FindingBuilder, Input, InputKind, Metadata,
    Resource, Rule, Severity,
};
/// Serde, re-exported for `#[derive(Deserialize)]` on settings types
/// (with `#[serde(crate = "palisade_plugin_sdk::serde")]`, or depend on
/// `serde` directly).
pub use serde;
/// The JSON library the SDK hands documents and settings in, re-exported so a
/// plugin does not need its own (matching) dependency.
pub use serde_json;
/// A parsed JSON value (see [`serde_json::Value`]).
pub use serde_json::Value;

/// The contract a plugin implements. All functions are associated functions
/// (no `self`): the host creates a fresh instance for every call, so there is
/// no state to keep.
pub trait Plugin {
    /// The plugin's settings (the `settings` table of its `[[plugin]]`
    /// entry in `palisade.toml`), deserialized with serde: `()` for none,
    /// a struct deriving `Deserialize` (with `#[serde(default)]` for
    /// optional fields, `deny_unknown_fields` to refuse misspellings), or
    /// [`Value`] for free-form JSON. Settings that do not deserialize make
    /// the bundle fail to load, with serde's message.
    type Settings: serde::de::DeserializeOwned;

    /// Who the plugin is, which input kinds it wants and which rules it can
    /// report. Called once when a bundle loads; must be deterministic.
    fn metadata() -> Metadata;

    /// Checks what deserializing cannot (ranges, combinations) once, when a
    /// bundle loads. Return `Err` with a message that says precisely what
    /// is wrong; the bundle then fails to load. The default accepts any
    /// settings that deserialize.
    fn validate_settings(settings: &Self::Settings) -> Result<(), String> {
        let _ = settings;
        Ok(())
    }

    /// Evaluates one input with the settings `validate_settings` accepted.
    /// Return the findings and facts, or `Err` when the input cannot be
    /// evaluated at all.
    fn evaluate(input: &Input, settings: &Self::Settings) -> Result<Evaluation, String>;
}

/// Exports a [`Plugin`] implementation as the component's `plugin` world.
///
/// Invoke it exactly once, at the top level of the plugin crate (a `cdylib`):
///
/// ```ignore
/// struct MyPlugin;
/// impl palisade_plugin_sdk::Plugin for MyPlugin { /* ... */ }
/// palisade_plugin_sdk::export_plugin!(MyPlugin);
/// ```
///
/// It generates the adapter between the component ABI and [`Plugin`]:
/// it parses the JSON texts the host sends (a parse error becomes an `Err`
/// result, never a panic) and converts the SDK types to the WIT records.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            type __PalisadeExport = $crate::__private::Adapter<$plugin>;
            $crate::__private::bindings::__export_plugin_world!(
                __PalisadeExport with_types_in $crate::__private::bindings
            );
        };
    };
}

/// The examples of `guests/README.md`, compiled (and run natively) as this
/// crate's doctests, so that the walkthrough cannot drift from the SDK.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct GuestsReadme;

/// Implementation details of [`export_plugin!`]; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::glue::{Adapter, bindings};
}
