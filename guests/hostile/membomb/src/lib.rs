//! Hostile guest `membomb`: `evaluate` allocates memory until it dies.
//!
//! Proves the host caps a plugin's linear memory: each 1 MiB chunk is written
//! to (so it is really committed) and kept alive, so the instance hits the
//! host's memory limit and traps instead of exhausting the machine.

use palisade_plugin_sdk::{
    Evaluation, Input, InputKind, Metadata, Plugin, Rule, Severity, export_plugin,
};

/// Metadata shared by every hostile guest: one rule, all input kinds.
fn hostile_metadata(name: &str) -> Metadata {
    Metadata::new(format!("hostile-{name}"), "0.1.0")
        .applies_to(&InputKind::ALL)
        .rule(Rule::new(
            format!("hostile.{name}"),
            "other",
            Severity::High,
            "Allocates memory without bound",
            "Do not load this plugin outside the sandbox tests",
        ))
}

/// The guest.
struct Hostile;

impl Plugin for Hostile {
    fn metadata() -> Metadata {
        hostile_metadata("membomb")
    }

    fn evaluate(_input: &Input) -> Result<Evaluation, String> {
        const CHUNK: usize = 1024 * 1024;
        const PAGE: usize = 4096;
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        let mut round: u8 = 0;
        loop {
            let mut chunk = vec![0_u8; CHUNK];
            // Touch every page so the memory is really used.
            for byte in chunk.iter_mut().step_by(PAGE) {
                *byte = round;
            }
            round = round.wrapping_add(1);
            hoard.push(core::hint::black_box(chunk));
            core::hint::black_box(&hoard);
        }
    }
}

export_plugin!(Hostile);
