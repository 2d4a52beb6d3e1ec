//! Hostile guest `membomb`: `evaluate` allocates memory until it dies.
//!
//! Proves the host caps a plugin's linear memory: each 1 MiB chunk is written
//! to (so it is really committed) and kept alive, so the instance hits the
//! host's memory limit and traps instead of exhausting the machine.

use palisade_plugin_sdk::{Evaluation, Input, Metadata, Plugin, export_plugin};

/// The guest.
struct Hostile;

impl Plugin for Hostile {
    type Settings = ();

    fn metadata() -> Metadata {
        hostile_common::metadata("membomb", "Allocates memory without bound")
    }

    fn evaluate(_input: &Input, _settings: &()) -> Result<Evaluation, String> {
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
