//! Hostile guest `panic`: `evaluate` panics.
//!
//! Guests are built with `panic = "abort"`, so the panic message goes to the
//! (unconnected) stderr and the instance traps. Proves the host reports a
//! panicking plugin as an error without crashing.

use palisade_plugin_sdk::{Evaluation, Input, Metadata, Plugin, export_plugin};

/// The guest.
struct Hostile;

impl Plugin for Hostile {
    type Settings = ();

    fn metadata() -> Metadata {
        hostile_common::metadata("panic", "Panics in evaluate")
    }

    #[allow(clippy::panic, reason = "panicking is this guest's purpose")]
    fn evaluate(_input: &Input, _settings: &()) -> Result<Evaluation, String> {
        panic!("hostile guest panicked on purpose")
    }
}

export_plugin!(Hostile);
