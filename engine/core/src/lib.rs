//! # Palisade engine
//!
//! Palisade decides whether a request or a deployment is allowed by a
//! **bundle**: Cedar policies plus sandboxed WebAssembly **plugins**. The same
//! bundle and input give the same [`Decision`], byte for byte, in CI and at
//! request time.
//!
//! ```
//! use palisade_engine::{AuthorizationRequest, Engine, Now};
//!
//! # let dir = tempfile::tempdir()?;
//! # std::fs::write(dir.path().join("palisade.toml"), "[bundle]\nname = \"demo\"\nversion = \"1.0.0\"\n")?;
//! # std::fs::create_dir(dir.path().join("policies"))?;
//! # std::fs::write(dir.path().join("policies/p.cedar"), r#"
//! #   @id("admins") permit(principal in Group::"admins", action, resource);
//! #   @id("no-deletes") @category("iam-least-privilege") @severity("high")
//! #   forbid(principal, action == Action::"delete", resource);
//! # "#)?;
//! let engine = Engine::new()?;                       // one per process
//! let bundle = engine.load_bundle(dir.path())?;      // validated completely, then immutable
//!
//! let request = AuthorizationRequest::new(r#"User::"bob""#, r#"Action::"delete""#, r#"Doc::"d1""#)?;
//! let decision = bundle.authorize(&request, Now::epoch())?;
//!
//! assert!(!decision.is_allowed());
//! assert_eq!(decision.reasons, ["no-deletes"]);       // explicitly forbidden, not just "no permit"
//! assert_eq!(decision.findings[0].category.as_str(), "iam-least-privilege");
//! println!("{}", decision.to_json());                // canonical JSON
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Concepts
//! - [`Engine`]: the runtime. Holds the WebAssembly engine (fuel, memory
//!   limits, epoch deadlines, pooling allocator, compiled-code cache).
//! - [`Bundle`]: a loaded `palisade.toml` with its policies, schema,
//!   entities and plugins, validated at load ([`BundleError`] lists every
//!   problem with file and line) and immutable afterwards.
//! - [`AuthorizationRequest`]: principal, action, resource, context.
//! - [`Decision`]: allow or deny, the [`Basis`] of it, the reasons (policy
//!   ids), [`Finding`]s and [`DecisionError`]s. A failing plugin is a deny
//!   (fail closed) unless it runs in monitor mode.
//!
//! - [`Evaluation`]: one evaluation of a bundle, as front ends drive it.
//!   This crate decides authorization requests with it; two front ends
//!   build on it: `palisade-deploy` checks deployment files
//!   (CloudFormation, SAM, serverless.yml, Terraform plans) and
//!   `palisade-gateway` decides HTTP requests (routes, JWT, rate limits,
//!   forward-auth, a tower layer) through an [`Extension`] that owns the
//!   manifest's `[gateway]` table.
//!
//! Plugins are WebAssembly components of the `palisade:policy` world (see
//! `wit/policy.wit`); each call runs in a fresh instance with no ambient
//! authority.

pub mod archive;
mod attr_index;
mod bundle;
mod cedar_core;
pub mod controls;
mod decision;
mod engine;
mod error;
pub mod json;
mod manifest;
mod plugin;
mod policies;
mod request;
mod scope;
mod time;

pub use bundle::{
    Bundle, BundlePlugin, BundleSource, DirSource, EXTENSION_TABLES, Extension, ExtensionContext,
    KEPT_STORE_ENTITIES, MANIFEST_FILE, MemorySource, WalkEntry, is_hidden, sha256_hex,
    walk_bundle_dir,
};
pub use decision::{
    Basis, BundleRef, Category, Decision, DecisionError, Effect, ErrorKind, Finding, LogLevel,
    PluginLog, Severity, Source, Suppression, SuppressionKind,
};
pub use engine::{Engine, EngineBuilder, Evaluation};
pub use error::{
    BundleError, CedarError, EngineError, Problem, RequestError, full_message, shorten,
};
pub use manifest::{
    Limits, MAX_FUEL, MAX_MEMORY_MIB, MAX_TIMEOUT_MS, Mode, OnPolicyError, PluginLimits,
};
pub use plugin::{
    CONTRACT_VERSION, CodeCache, DeployedResource, ImportInfo, InputKind, PluginInput,
    PluginInspection, PluginMetadata, RuleInfo, TrialCall,
};
pub use policies::PolicyInfo;
pub use request::AuthorizationRequest;
pub use time::Now;

/// Turning JSON and names into Cedar values, the one way every front end
/// does it.
pub mod values {
    pub use crate::cedar_core::{Val, context};
    pub use crate::policies::{json_to_cedar as from_json, json_to_value, known_type, uid};
}

/// Re-exported so embedders can name Cedar types without a version skew.
pub use cedar_policy;

#[cfg(test)]
mod tests {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn shared_types_can_cross_threads() {
        // Gateways share one engine and one bundle across worker threads.
        assert_send_sync::<crate::Engine>();
        assert_send_sync::<crate::Bundle>();
        assert_send_sync::<crate::Decision>();
    }
}
