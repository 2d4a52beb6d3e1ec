//! Hostile guest `loop`: `evaluate` spins forever.
//!
//! Proves the host interrupts a plugin that never returns (fuel or epoch
//! deadline) instead of hanging the decision.

use palisade_plugin_sdk::{Evaluation, Input, Metadata, Plugin, export_plugin};

/// The guest.
struct Hostile;

impl Plugin for Hostile {
    type Settings = ();

    fn metadata() -> Metadata {
        hostile_common::metadata("loop", "Never returns from evaluate")
    }

    fn evaluate(_input: &Input, _settings: &()) -> Result<Evaluation, String> {
        let mut counter: u64 = 0;
        loop {
            // `black_box` hides the counter from the optimizer, so the loop
            // cannot be proven side-effect free and removed.
            counter = core::hint::black_box(counter.wrapping_add(1));
        }
    }
}

export_plugin!(Hostile);
