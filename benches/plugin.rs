//! Plugins: one evaluation in a fresh instance (~1 KB of JSON), and loading
//! a bundle with two plugins when the compiled-code cache is warm; the same
//! rule (`no-debug`) in Rust, Python and JavaScript, called in a fresh
//! instance each time, and a bundle of each loaded from a warm cache.
//!
//! The Python and JavaScript components are built into
//! `target/polyglot/` by their `build.sh` on the first run (which needs
//! python3 and npm; without them those benches are skipped).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_engine::{Engine, Evaluation, InputKind, Now};
use std::hint::black_box;
use std::path::{Path, PathBuf};

fn bundle_dir(cache_plugins: &[(&str, &str)]) -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = String::from("[bundle]\nname = \"bench\"\nversion = \"1\"\n");
    for (name, wasm) in cache_plugins {
        // A bare file name is one of guests/dist.
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

    let nows = common::distinct_nows();
    c.bench_function("plugin/secrets-1kb-fresh-instance", |b| {
        let mut next = nows.iter().cycle();
        b.iter(|| {
            black_box(bundle.evaluate_document(
                InputKind::Deployment,
                black_box(&document),
                *next.next().unwrap(),
            ))
        })
    });
    // The same input every time: answered by the plugin memo.
    c.bench_function("plugin/secrets-1kb-memo-hit", |b| {
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

/// The Python or JavaScript `no-debug` component, built on first use.
fn polyglot(lang: &str, file: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = root.join("target/polyglot");
    let wasm = out.join(file);
    if !wasm.is_file() {
        let status = std::process::Command::new("bash")
            .arg(root.join(format!("guests/{lang}/no-debug/build.sh")))
            .arg("--out")
            .arg(&out)
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("SKIPPED: the {lang} plugin does not build here");
            return None;
        }
    }
    Some(wasm)
}

/// The same rule in three languages: a fresh instance per call on a
/// SAM template of five functions (about 1.3 KB), and loading a bundle of
/// each from a warm compiled-code cache.
fn languages(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let template = std::fs::read_to_string(root.join("benches/data/five-functions.yaml")).unwrap();
    let doc = palisade_deploy::Document::parse("template.yaml", &template).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let engine = Engine::builder().cache_dir(cache.path()).build().unwrap();
    let nows = common::distinct_nows();
    let plugins = [
        ("rust", Some(root.join("guests/dist/no-debug.wasm"))),
        ("python", polyglot("python", "no-debug-py.wasm")),
        ("js", polyglot("js", "no-debug-js.wasm")),
    ];
    for (lang, wasm) in plugins {
        let Some(wasm) = wasm else { continue };
        let dir = bundle_dir(&[("no-debug", wasm.to_str().unwrap())]);
        let bundle = engine.load_bundle(dir.path()).unwrap(); // compiles, fills the cache
        let mut eval = Evaluation::new(&bundle);
        let facts = eval.run_plugins(InputKind::Deployment, || doc.plugin_input(), Now::epoch());
        let d = eval.finish(None);
        assert!(d.errors.is_empty(), "{lang}: {}", d.to_json());
        assert_eq!(d.findings.len(), 2, "{lang}: two functions have DEBUG on");
        assert_eq!(facts["no-debug"]["debug_functions"], 2, "{lang}");
        c.bench_function(&format!("plugin/no-debug-{lang}-fresh-instance"), |b| {
            let mut next = nows.iter().cycle();
            b.iter(|| {
                let mut eval = Evaluation::new(&bundle);
                black_box(eval.run_plugins(
                    InputKind::Deployment,
                    || doc.plugin_input(),
                    *next.next().unwrap(),
                ));
                black_box(eval.finish(None))
            })
        });
        c.bench_function(&format!("bundle/load-no-debug-{lang}-warm-cache"), |b| {
            b.iter(|| black_box(engine.load_bundle(dir.path()).unwrap()))
        });
    }
}

criterion_group! {
    name = plugin;
    config = Criterion::default().sample_size(50);
    targets = benches, languages
}
criterion_main!(plugin);
