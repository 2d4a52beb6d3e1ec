//! Plugins: one evaluation in a fresh instance (~1 KB of JSON), and loading
//! a bundle with two plugins when the compiled-code cache is warm.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_engine::{Engine, InputKind, Now};
use std::hint::black_box;
use std::path::Path;

fn bundle_dir(cache_plugins: &[(&str, &str)]) -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = String::from("[bundle]\nname = \"bench\"\nversion = \"1\"\n");
    for (name, wasm) in cache_plugins {
        let bytes = std::fs::read(root.join("guests/dist").join(wasm)).unwrap();
        std::fs::write(dir.path().join(format!("{name}.wasm")), &bytes).unwrap();
        manifest.push_str(&format!(
            "[[plugin]]\nname = \"{name}\"\npath = \"{name}.wasm\"\nsha256 = \"{}\"\n",
            palisade_engine::sha256_hex(&bytes)
        ));
    }
    std::fs::write(dir.path().join("palisade.toml"), manifest).unwrap();
    dir
}

fn benches(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let document = std::fs::read_to_string(root.join("benches/data/function-1k.json")).unwrap();
    assert!(
        (900..1400).contains(&document.len()),
        "input should be about 1 KB"
    );

    let engine = Engine::new().unwrap();
    let dir = bundle_dir(&[("secrets", "secrets.wasm")]);
    let bundle = engine.load_bundle(dir.path()).unwrap();
    let d = bundle.evaluate_document(InputKind::Deployment, &document, Now::epoch());
    assert!(d.errors.is_empty(), "{}", d.to_json());
    assert!(!d.findings.is_empty(), "the input has a secret to find");

    c.bench_function("plugin/secrets-1kb-fresh-instance", |b| {
        b.iter(|| {
            black_box(bundle.evaluate_document(
                InputKind::Deployment,
                black_box(&document),
                Now::epoch(),
            ))
        })
    });

    let cache = tempfile::tempdir().unwrap();
    let cached = Engine::builder().cache_dir(cache.path()).build().unwrap();
    let two = bundle_dir(&[("secrets", "secrets.wasm"), ("snoop", "hostile-snoop.wasm")]);
    cached.load_bundle(two.path()).unwrap(); // warms the cache
    c.bench_function("bundle/load-two-plugins-warm-cache", |b| {
        b.iter(|| black_box(cached.load_bundle(two.path()).unwrap()))
    });
}

criterion_group! {
    name = plugin;
    config = Criterion::default().sample_size(50);
    targets = benches
}
criterion_main!(plugin);
