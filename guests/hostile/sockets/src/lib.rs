//! Hostile guest `sockets`: imports a capability the host never grants.
//!
//! `evaluate` calls `wasi:sockets/instance-network.instance-network`, so the
//! component imports `wasi:sockets/instance-network@0.2.x`. Proves the host's
//! linker refuses a plugin that asks for the network: loading (or at the
//! latest instantiating) it must fail, naming the missing import.

use palisade_plugin_sdk::{
    Evaluation, Input, InputKind, Metadata, Plugin, Rule, Severity, export_plugin,
};

/// The guest.
struct Hostile;

impl Plugin for Hostile {
    fn metadata() -> Metadata {
        Metadata::new("hostile-sockets", "0.1.0")
            .applies_to(&InputKind::ALL)
            .rule(Rule::new(
                "hostile.sockets",
                "other",
                Severity::High,
                "Imports the network",
                "Do not load this plugin outside the sandbox tests",
            ))
    }

    fn evaluate(_input: &Input) -> Result<Evaluation, String> {
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
