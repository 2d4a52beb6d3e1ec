//! The arrows of ARCHITECTURE.md that must never exist, read off the
//! crates' manifests and `Cargo.lock`: a dependency that breaks one fails
//! here, not in a review.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read_toml(path: &str) -> toml::Table {
    let text = std::fs::read_to_string(root().join(path)).unwrap();
    text.parse().unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Package name -> the names of what it depends on, from `Cargo.lock`
/// (which records normal and build dependencies of registry packages).
fn lock_graph() -> BTreeMap<String, BTreeSet<String>> {
    let lock = read_toml("Cargo.lock");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for package in lock["package"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap().to_owned();
        let deps = package
            .get("dependencies")
            .and_then(|d| d.as_array())
            .into_iter()
            .flatten()
            // "name" or "name version" when two versions are locked.
            .map(|d| d.as_str().unwrap().split(' ').next().unwrap().to_owned());
        graph.entry(name).or_default().extend(deps);
    }
    graph
}

/// Everything a workspace crate's normal dependencies (optional ones
/// included) pull in, by name.
fn normal_closure(manifest: &str, graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    let manifest = read_toml(manifest);
    let mut todo: Vec<String> = manifest
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    let mut seen = BTreeSet::new();
    while let Some(name) = todo.pop() {
        if seen.insert(name.clone()) {
            todo.extend(graph.get(&name).into_iter().flatten().cloned());
        }
    }
    seen
}

fn assert_never(krate: &str, manifest: &str, forbidden: &[&str]) {
    let closure = normal_closure(manifest, &lock_graph());
    assert!(
        closure.len() > 20,
        "{krate}: the dependency walk found too little to be real: {closure:?}"
    );
    let found: Vec<&&str> = forbidden.iter().filter(|f| closure.contains(**f)).collect();
    assert!(found.is_empty(), "{krate} depends on {found:?}");
}

#[test]
fn the_core_has_no_front_end_and_no_async_runtime() {
    assert_never(
        "palisade-engine",
        "engine/core/Cargo.toml",
        &[
            "palisade-deploy",
            "palisade-gateway",
            "palisade",
            "tokio",
            "hyper",
            "ring",
            "jsonwebtoken",
            "saphyr",
            "wasmtime-wasi",
        ],
    );
}

#[test]
fn the_front_ends_do_not_depend_on_each_other_or_the_binary() {
    assert_never(
        "palisade-deploy",
        "engine/deploy/Cargo.toml",
        &[
            "palisade-gateway",
            "palisade",
            "hyper",
            "jsonwebtoken",
            "tokio",
        ],
    );
    assert_never(
        "palisade-gateway",
        "engine/gateway/Cargo.toml",
        &["palisade-deploy", "palisade", "saphyr"],
    );
}

#[test]
fn the_walk_sees_what_is_there() {
    // The check above is only as good as the walk: the gateway does reach
    // ring and the core does reach wasmtime.
    let graph = lock_graph();
    assert!(normal_closure("engine/gateway/Cargo.toml", &graph).contains("ring"));
    assert!(normal_closure("engine/core/Cargo.toml", &graph).contains("wasmtime"));
    assert!(normal_closure("engine/core/Cargo.toml", &graph).contains("cranelift-codegen"));
}
