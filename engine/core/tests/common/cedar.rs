//! The engine next to plain cedar-policy: in-memory bundles, and the check
//! that a decision has exactly Cedar's effect, reasons and errors.

#![allow(clippy::unwrap_used, dead_code)] // test code: a panic is a failure report

use palisade_engine::{Bundle, Decision, Effect, Engine, MemorySource};
use proptest::prelude::*;
use std::collections::BTreeSet;

/// Loads a bundle made of `files` (path, contents).
pub fn memory_bundle<'a>(
    engine: &Engine,
    files: impl IntoIterator<Item = (&'a str, Vec<u8>)>,
) -> Bundle {
    let source = files
        .into_iter()
        .fold(MemorySource::new("memory"), |s, (p, b)| s.file(p, b));
    engine.load_bundle_from(&source).unwrap()
}

/// Fails the property unless `ours` has the decision, reasons and errors of
/// `plain`; `input` names the case in the failure.
pub fn same_as_cedar(
    ours: &Decision,
    plain: &cedar_policy::Response,
    input: &str,
) -> Result<(), TestCaseError> {
    let plain_effect = match plain.decision() {
        cedar_policy::Decision::Allow => Effect::Allow,
        cedar_policy::Decision::Deny => Effect::Deny,
    };
    prop_assert_eq!(ours.decision, plain_effect, "{}", input);
    let plain_reasons: BTreeSet<String> = plain
        .diagnostics()
        .reason()
        .map(|r| r.to_string())
        .collect();
    let our_reasons: BTreeSet<String> = ours.reasons.iter().cloned().collect();
    prop_assert_eq!(our_reasons, plain_reasons, "{}", input);
    let plain_errors: BTreeSet<(String, String)> = plain
        .diagnostics()
        .errors()
        .map(|e| {
            let cedar_policy::AuthorizationError::PolicyEvaluationError(pe) = e;
            (pe.policy_id().to_string(), pe.inner().to_string())
        })
        .collect();
    let our_errors: BTreeSet<(String, String)> = ours
        .errors
        .iter()
        .map(|e| (e.policy.clone().unwrap_or_default(), e.message.clone()))
        .collect();
    prop_assert_eq!(our_errors, plain_errors, "{}", input);
    Ok(())
}
