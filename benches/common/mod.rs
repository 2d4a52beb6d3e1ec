//! Fixtures the benchmarks share.

#![allow(clippy::unwrap_used, dead_code)] // bench setup: a panic is a failure report

/// `entities_json` (a bundle's entities.json) with a directory of 10,000
/// users in 100 teams added: what a request's entities join.
pub fn with_10k_users(entities_json: &str) -> String {
    let mut all: Vec<serde_json::Value> = serde_json::from_str(entities_json).unwrap();
    for i in 0..10_000 {
        all.push(serde_json::json!({"uid": {"type": "User", "id": format!("user{i}")},
            "attrs": {"tenant": "acme"}, "parents": [{"type": "Group", "id": format!("team{}", i % 100)}]}));
    }
    for t in 0..100 {
        all.push(serde_json::json!({"uid": {"type": "Group", "id": format!("team{t}")}, "attrs": {}, "parents": []}));
    }
    serde_json::to_string(&all).unwrap()
}

/// 4,096 distinct times, a second apart. A bench that gives each call the
/// next one measures the plugin running: the plugin memo answers only an
/// input it has seen, and starts over after 1,024.
pub fn distinct_nows() -> Vec<palisade_engine::Now> {
    (0..4096)
        .map(|i| {
            let (h, m, s) = (i / 3600, i / 60 % 60, i % 60);
            palisade_engine::Now::parse(&format!("2026-01-01T{h:02}:{m:02}:{s:02}Z")).unwrap()
        })
        .collect()
}
