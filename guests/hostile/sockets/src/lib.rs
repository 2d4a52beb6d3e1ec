//! Hostile guest `sockets`: imports a capability the host never grants.
//!
//! `evaluate` calls `wasi:sockets/instance-network.instance-network`, so the
//! component imports `wasi:sockets/instance-network@0.2.x`. Proves the host's
//! linker refuses a plugin that asks for the network: loading (or at the
//! latest instantiating) it must fail, naming the missing import.

use palisade_plugin_sdk::{Evaluation, Input, Metadata, Plugin, export_plugin};

/// The guest.
struct Hostile;

impl Plugin for Hostile {
    type Settings = ();

    fn metadata() -> Metadata {
        hostile_common::metadata("sockets", "Imports the network")
    }

    fn evaluate(_input: &Input, _settings: &()) -> Result<Evaluation, String> {
        #[cfg(target_arch = "wasm32")]
        {
            let network = wasi::sockets::instance_network::instance_network();
            // `black_box` keeps the call (and so the import) from being
            // optimized away.
            drop(core::hint::black_box(network));
        }
        let mut eval = Evaluation::new();
        eval.fact("network_acquired", true);
        Ok(eval)
    }
}

export_plugin!(Hostile);
