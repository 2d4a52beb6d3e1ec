//! Checking a large SAM template (500 functions with their APIs, roles and
//! log groups: 1,500 resources) with serverless-baseline: parsing with line
//! numbers, the secrets plugin over the whole file, one Cedar request per
//! resource.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // bench setup: a panic is a failure report

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_deploy::{CheckOptions, Document};
use palisade_engine::{Engine, Now};
use std::hint::black_box;
use std::path::Path;

fn benches(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("benches/data/sam-500-functions.yaml")).unwrap();
    let engine = Engine::new().unwrap();
    let bundle = engine
        .load_bundle(root.join("policies/serverless-baseline"))
        .unwrap();
    let now = Now::parse("2026-11-29T00:00:00Z").unwrap();
    let options = CheckOptions::default();
    let doc = Document::parse("template.yaml", &text).unwrap();
    let d = palisade_deploy::check(&bundle, std::slice::from_ref(&doc), &options, now);
    assert_eq!(
        d.findings.len(),
        2500,
        "five findings per function (code signing, reserved concurrency, env key, log key, route authorizer): {}",
        d.findings.len()
    );

    let mut g = c.benchmark_group("check/sam-500-functions");
    g.sample_size(20);
    g.bench_function("parse", |b| {
        b.iter(|| black_box(Document::parse("template.yaml", black_box(&text)).unwrap()))
    });
    g.bench_function("evaluate", |b| {
        b.iter(|| {
            black_box(palisade_deploy::check(
                &bundle,
                std::slice::from_ref(&doc),
                &options,
                now,
            ))
        })
    });
    g.finish();
}

criterion_group!(check, benches);
criterion_main!(check);
