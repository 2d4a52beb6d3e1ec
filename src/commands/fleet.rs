//! `palisade fleet`: what each replica serves, from its `/v1/status`.

use crate::cli::{FleetArgs, FleetFormat};
use crate::exit;
use crate::output;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// The largest status document read from a replica.
const MAX_STATUS_BYTES: u64 = 64 * 1024;

pub fn execute(args: &FleetArgs) -> u8 {
    let timeout = Duration::from_secs(args.timeout.max(1));
    // Asked 32 at a time: a fleet of slow replicas takes one timeout per
    // 32 replicas, not one each.
    let mut answers: Vec<Result<Value, String>> = Vec::with_capacity(args.replicas.len());
    for group in args.replicas.chunks(32) {
        std::thread::scope(|s| {
            let asks: Vec<_> = group
                .iter()
                .map(|r| s.spawn(move || fetch(r, timeout)))
                .collect();
            answers.extend(
                asks.into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err("internal error".into()))),
            );
        });
    }
    let rows = judge(&args.replicas, answers);
    let in_line = rows.iter().all(|r| r["state"] == "ok");
    match args.format {
        FleetFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        ),
        FleetFormat::Table => print_table(&rows),
    }
    if in_line { exit::OK } else { exit::DENY }
}

/// `host:port` or a URL, to the status URL.
fn status_url(replica: &str) -> String {
    let base = if replica.starts_with("http://") || replica.starts_with("https://") {
        replica.trim_end_matches('/').to_owned()
    } else {
        format!("http://{replica}")
    };
    format!("{base}/v1/status")
}

fn fetch(replica: &str, timeout: Duration) -> Result<Value, String> {
    let agent = super::serve::http_agent(timeout);
    let mut r = agent
        .get(&status_url(replica))
        .call()
        .map_err(|e| e.to_string())?;
    if r.status() != 200 {
        return Err(format!("/v1/status answered {}", r.status()));
    }
    let text = r
        .body_mut()
        .with_config()
        .limit(MAX_STATUS_BYTES)
        .read_to_string()
        .map_err(|e| e.to_string())?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| format!("not a status document: {e}"))?;
    if v.pointer("/bundle/digest")
        .and_then(Value::as_str)
        .is_none()
    {
        return Err("not a status document: no bundle digest".into());
    }
    Ok(v)
}

/// Each replica's status with its `replica` and `state`: `ok`, `stale`
/// (another digest than most replicas serve), `reload failed`, `limits
/// down` (Redis does not answer), `not ready`, or `unreachable: why`.
fn judge(replicas: &[String], answers: Vec<Result<Value, String>>) -> Vec<Value> {
    let digest = |v: &Value| {
        v.pointer("/bundle/digest")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    for d in answers.iter().flatten().filter_map(digest) {
        *counts.entry(d).or_default() += 1;
    }
    // The digest most replicas serve; on a tie, the one named first.
    let mut majority: Option<(String, usize)> = None;
    for d in answers.iter().flatten().filter_map(digest) {
        let n = counts.get(&d).copied().unwrap_or(0);
        if majority.as_ref().is_none_or(|(_, m)| n > *m) {
            majority = Some((d, n));
        }
    }
    replicas
        .iter()
        .zip(answers)
        .map(|(replica, answer)| match answer {
            Err(why) => json!({ "replica": replica, "state": format!("unreachable: {why}") }),
            Ok(mut v) => {
                let state = if majority.as_ref().map(|(d, _)| d.as_str())
                    != v.pointer("/bundle/digest").and_then(Value::as_str)
                {
                    "stale"
                } else if v.pointer("/last_reload/result").and_then(Value::as_str) == Some("error")
                {
                    "reload failed"
                } else if v.pointer("/rate_limits/redis/healthy") == Some(&Value::Bool(false)) {
                    "limits down"
                } else if v.get("ready") == Some(&Value::Bool(false)) {
                    "not ready"
                } else {
                    "ok"
                };
                if let Some(o) = v.as_object_mut() {
                    o.insert("replica".into(), json!(replica));
                    o.insert("state".into(), json!(state));
                }
                v
            }
        })
        .collect()
}

fn print_table(rows: &[Value]) {
    let text = |v: &Value, p: &str| match v.pointer(p) {
        Some(Value::String(s)) => output::escape(s).into_owned(),
        Some(Value::Null) | None => "-".to_owned(),
        Some(other) => other.to_string(),
    };
    let mut table = vec![
        [
            "REPLICA", "BUNDLE", "VERSION", "DIGEST", "REV", "LOADED", "LIMITS", "STATE",
        ]
        .map(str::to_owned),
    ];
    for r in rows {
        let digest = text(r, "/bundle/digest");
        let short = digest
            .strip_prefix("sha256:")
            .unwrap_or(&digest)
            .chars()
            .take(12)
            .collect::<String>();
        let limits = match r.pointer("/rate_limits/store").and_then(Value::as_str) {
            Some("redis") => {
                if r.pointer("/rate_limits/redis/healthy") == Some(&Value::Bool(true)) {
                    "redis".to_owned()
                } else {
                    "redis (down)".to_owned()
                }
            }
            Some(other) => output::escape(other).into_owned(),
            None => "-".to_owned(),
        };
        table.push([
            text(r, "/replica"),
            text(r, "/bundle/name"),
            text(r, "/bundle/version"),
            short,
            text(r, "/bundle/revision"),
            text(r, "/bundle/loaded_at"),
            limits,
            text(r, "/state"),
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|i| {
            table
                .iter()
                .map(|row| row.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &table {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(digest: &str) -> Value {
        json!({"ready": true, "bundle": {"digest": digest}, "rate_limits": {"store": "local"}})
    }

    #[test]
    fn the_odd_digest_out_is_stale_and_failures_are_named() {
        let replicas: Vec<String> = ["a", "b", "c", "d"].map(str::to_owned).to_vec();
        let mut failed = status("sha256:new");
        failed["last_reload"] = json!({"result": "error"});
        let rows = judge(
            &replicas,
            vec![
                Ok(status("sha256:old")),
                Ok(status("sha256:new")),
                Ok(failed),
                Err("connection refused".into()),
            ],
        );
        let states: Vec<&str> = rows.iter().map(|r| r["state"].as_str().unwrap()).collect();
        assert_eq!(
            states,
            [
                "stale",
                "ok",
                "reload failed",
                "unreachable: connection refused"
            ]
        );
        assert_eq!(
            status_url("10.0.0.1:8181"),
            "http://10.0.0.1:8181/v1/status"
        );
        assert_eq!(status_url("https://gw/"), "https://gw/v1/status");
    }
}
