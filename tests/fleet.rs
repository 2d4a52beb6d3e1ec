//! Several `palisade serve` replicas as a fleet: rate limits shared through
//! a real Redis (Debian's `redis-server` on a loopback port), what happens
//! when it stops and comes back. Tests skip without `redis-server` unless
//! `PALISADE_REQUIRE_REDIS` is set (as `.ci/run` does).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
#[path = "common/server.rs"]
mod server;

use common::{copy_dir, installed, palisade, root};
use serde_json::Value;
use server::{Server, http};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `redis-server` on a loopback port, without persistence; killed on drop.
struct Redis {
    child: Option<Child>,
    port: u16,
}

impl Redis {
    fn start() -> Option<Redis> {
        if !installed("redis-server", "PALISADE_REQUIRE_REDIS") {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut r = Redis { child: None, port };
        r.restart();
        Some(r)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < until, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGSTOP (`true`) or SIGCONT: a Redis that accepts and never answers.
    fn pause(&self, paused: bool) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let sig = if paused { "-STOP" } else { "-CONT" };
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn cli(&self, args: &[&str]) {
        let ok = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "redis-cli {args:?}");
    }

    /// The keys Palisade wrote.
    fn keys(&self) -> Vec<String> {
        let out = Command::new("redis-cli")
            .args([
                "-p",
                &self.port.to_string(),
                "--scan",
                "--pattern",
                "palisade:*",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

const RATE: f64 = 2.0;
const BURST: u32 = 5;

/// gateway-baseline with one limit: `/health` (public), RATE per second
/// and BURST at once, for all its callers together.
fn limited_bundle(dir: &Path) -> PathBuf {
    let bundle = dir.join("limited");
    copy_dir(&root().join("policies/gateway-baseline"), &bundle);
    let toml = std::fs::read_to_string(bundle.join("palisade.toml")).unwrap();
    let cut = toml.find("[[gateway.rate_limit]]").unwrap();
    let toml = format!(
        "{}[[gateway.rate_limit]]\nper = \"route\"\nroute = \"/health\"\nrate = {RATE:.1}\nburst = {BURST}\n",
        &toml[..cut]
    );
    std::fs::write(bundle.join("palisade.toml"), toml).unwrap();
    bundle
}

/// Asks `server` about `GET /health` as nginx does; the status and how
/// long the answer took.
fn health(server: &Server) -> (u16, Duration) {
    let (r, took) = ask(
        server,
        &[("X-Original-URI", "/health"), ("X-Original-Method", "GET")],
    );
    (r.status, took)
}

/// Asks `server` about the request these forward-auth headers describe;
/// the answer and how long it took.
fn ask(server: &Server, headers: &[(&str, &str)]) -> (server::Response, Duration) {
    let started = Instant::now();
    let r = http(&server.addr, "GET", "/v1/forward-auth", headers, "");
    (r, started.elapsed())
}

fn metric(server: &Server, name: &str) -> f64 {
    let body = http(&server.addr, "GET", "/metrics", &[], "").body;
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

/// Sends requests to the replicas in turn for `secs`; the number of 200s,
/// after checking that each answer was 200 or 429 and came within `slowest`.
fn load(servers: &[&Server], secs: f64, slowest: Duration) -> (u32, Duration) {
    let started = Instant::now();
    let mut ok = 0;
    let mut i = 0;
    while started.elapsed().as_secs_f64() < secs {
        let (status, took) = health(servers[i % servers.len()]);
        assert!(status == 200 || status == 429, "status {status}");
        assert!(took < slowest, "an answer took {took:?}");
        ok += u32::from(status == 200);
        i += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    (ok, started.elapsed())
}

/// The most 200s a limit of RATE and BURST allows in `elapsed`.
fn allowed(elapsed: Duration) -> u32 {
    BURST + (RATE * elapsed.as_secs_f64()).ceil() as u32 + 1
}

#[test]
fn replicas_share_one_limit_through_redis_and_fall_back_when_it_stops() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let bundle = limited_bundle(tmp.path());
    let bundle = bundle.to_str().unwrap();
    let flags = [
        "--decision-log",
        "off",
        "--rate-limit-redis",
        &redis.url(),
        "--rate-limit-timeout-ms",
        "50",
    ];
    let a = Server::start(bundle, &tmp.path().join("cache-a"), &flags);
    let b = Server::start(bundle, &tmp.path().join("cache-b"), &flags);

    // One request each first: the first call loads the script into Redis
    // (more round trips), which a busy machine may not finish within the
    // timeout; that replica then counts alone for a second. Past it, the
    // buckets are full again.
    health(&a);
    health(&b);
    std::thread::sleep(Duration::from_millis(2600));

    // Shared: both replicas together stay within one limit. (Each alone
    // would allow BURST at once, so two unshared would pass 2 x BURST.)
    let fallbacks = || {
        metric(&a, "palisade_rate_limit_fallbacks_total")
            + metric(&b, "palisade_rate_limit_fallbacks_total")
    };
    let before = fallbacks();
    let (ok, elapsed) = load(&[&a, &b], 1.5, Duration::from_secs(2));
    assert!(
        ok >= BURST && ok <= allowed(elapsed),
        "{ok} allowed in {elapsed:?} by two replicas sharing {BURST} + {RATE}/s ({} fallbacks)",
        fallbacks() - before
    );
    assert!(
        redis
            .keys()
            .iter()
            .any(|k| k.starts_with("palisade:{gateway-baseline}:rl:0:route:")),
        "{:?}",
        redis.keys()
    );
    assert_eq!(metric(&a, "palisade_rate_limit_store_up"), 1.0);
    let (code, rows) = fleet(&[&a, &b]);
    assert_eq!(code, 0, "{rows}");
    // Replicas started together are still told apart (decision ids too).
    assert_ne!(rows[0]["instance"], rows[1]["instance"], "{rows}");
    for row in rows.as_array().unwrap() {
        assert_eq!(row["state"], "ok", "{row}");
        assert_eq!(row["rate_limits"]["redis"]["healthy"], true, "{row}");
        assert_eq!(row["bundle"]["name"], "gateway-baseline", "{row}");
    }

    // Redis stalls: the first request waits the timeout (50 ms), then
    // Redis is left alone and one request a second tries it.
    redis.pause(true);
    let started = Instant::now();
    let mut slow = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        let (status, took) = health(&a);
        assert!(status == 200 || status == 429, "status {status}");
        assert!(took < Duration::from_secs(1), "an answer took {took:?}");
        slow += u32::from(took >= Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(5));
    }
    // (None when the server's own ping found the stall first.)
    assert!(slow <= 3, "{slow} requests waited for a stalled Redis");
    redis.pause(false);

    // Redis stops: no answer waits much longer than the timeout, each
    // replica counts in its own buckets, and says so.
    redis.stop();
    let (ok, elapsed) = load(&[&a, &b], 1.5, Duration::from_secs(1));
    assert!(ok >= 1, "the fallback buckets allow requests");
    assert!(ok <= 2 * allowed(elapsed), "{ok} in {elapsed:?}");
    assert!(
        a.wait_for_log("Redis does not answer", Duration::from_secs(5)),
        "{}",
        a.stderr.lock().unwrap()
    );
    assert!(metric(&a, "palisade_rate_limit_fallbacks_total") >= 1.0);
    assert_eq!(metric(&a, "palisade_rate_limit_store_up"), 0.0);
    // Both say so.
    std::thread::sleep(Duration::from_millis(2500));
    let (code, rows) = fleet(&[&a, &b]);
    assert_eq!(code, 1, "{rows}");
    for row in rows.as_array().unwrap() {
        assert_eq!(row["state"], "limits down", "{row}");
    }

    // Redis is back (empty): the replicas reconnect on their own and share
    // the limit again.
    redis.restart();
    let until = Instant::now() + Duration::from_secs(20);
    while !(a.stderr.lock().unwrap().contains("answers again")
        && b.stderr.lock().unwrap().contains("answers again"))
    {
        assert!(Instant::now() < until, "{}", a.stderr.lock().unwrap());
        let _ = health(&a);
        let _ = health(&b);
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let the buckets fill again, then measure a fresh window.
    std::thread::sleep(Duration::from_secs_f64(f64::from(BURST) / RATE + 0.5));
    let (ok, elapsed) = load(&[&a, &b], 1.5, Duration::from_secs(2));
    assert!(
        ok >= BURST && ok <= allowed(elapsed),
        "{ok} allowed in {elapsed:?} after Redis came back"
    );
    assert!(!redis.keys().is_empty());
    assert_eq!(metric(&b, "palisade_rate_limit_store_up"), 1.0);

    // A bucket someone overwrote (an infinite count, another type) is
    // started afresh, not a reason to stop sharing.
    let key = redis
        .keys()
        .into_iter()
        .find(|k| k.contains(":route:"))
        .unwrap();
    let fallbacks = metric(&a, "palisade_rate_limit_fallbacks_total");
    redis.cli(&["HSET", &key, "t", "-inf", "at", "99999999999999"]);
    (0..3).for_each(|_| assert!([200, 429].contains(&health(&a).0)));
    redis.cli(&["SET", &key, "garbage"]);
    (0..3).for_each(|_| assert!([200, 429].contains(&health(&a).0)));
    assert_eq!(metric(&a, "palisade_rate_limit_fallbacks_total"), fallbacks);
    assert_eq!(metric(&a, "palisade_rate_limit_store_up"), 1.0);

    // A replica with another bundle is stale; one that is gone is
    // unreachable; the table names them.
    let other = tmp.path().join("other");
    copy_dir(Path::new(bundle), &other);
    std::fs::write(
        other.join("policies/extra.cedar"),
        "forbid (principal, action, resource) when { context.request.path == \"/nope\" };\n",
    )
    .unwrap();
    let c = Server::start(
        other.to_str().unwrap(),
        &tmp.path().join("cache-c"),
        &["--decision-log", "off"],
    );
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let out = palisade(&["fleet", &a.addr, &b.addr, &c.addr, &gone], tmp.path());
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{table}");
    let line = |addr: &str| {
        table
            .lines()
            .find(|l| l.starts_with(addr))
            .unwrap_or_else(|| panic!("{table}"))
            .to_owned()
    };
    assert!(
        line(&a.addr).ends_with("ok") && line(&a.addr).contains("redis"),
        "{table}"
    );
    assert!(
        line(&c.addr).ends_with("stale") && line(&c.addr).contains("local"),
        "{table}"
    );
    assert!(line(&gone).contains("unreachable"), "{table}");
}

/// `palisade fleet --format json` on the servers: its exit code and rows.
fn fleet(servers: &[&Server]) -> (i32, Value) {
    let mut args = vec!["fleet", "--format", "json"];
    args.extend(servers.iter().map(|s| s.addr.as_str()));
    let out = palisade(&args, &std::env::temp_dir());
    let rows = serde_json::from_slice(&out.stdout).unwrap();
    (out.status.code().unwrap(), rows)
}

/// A decision-log collector on `addr`: takes each POST (a gzip JSON
/// array) and keeps its events; stopped (its port closed) by `stop`.
struct Collector {
    addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Collector {
    fn start(addr: &str, events: Arc<Mutex<Vec<Value>>>) -> Collector {
        let listener = std::net::TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, sink) = (Arc::clone(&stop), Arc::clone(&events));
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => receive(conn, &sink),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Collector {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop();
    }
}

fn receive(conn: std::net::TcpStream, sink: &Mutex<Vec<Value>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    conn.set_nonblocking(false).unwrap();
    let mut reader = BufReader::new(&conn);
    let mut length = 0;
    let mut gzip = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let lower = line.trim().to_ascii_lowercase();
        if lower.is_empty() {
            break;
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
        gzip |= lower == "content-encoding: gzip";
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let mut text = String::new();
    if gzip {
        flate2::read::GzDecoder::new(body.as_slice())
            .read_to_string(&mut text)
            .unwrap();
    } else {
        text = String::from_utf8(body).unwrap();
    }
    // A batch of decision-log lines (always gzip), or one status document.
    match serde_json::from_str(&text).unwrap() {
        Value::Array(batch) => {
            assert!(gzip, "batches are gzip-compressed");
            sink.lock().unwrap().extend(batch);
        }
        status => sink.lock().unwrap().push(status),
    }
    let _ = (&conn).write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
}

/// A forward-auth request that carries a (bad) token; its decision id.
fn logged_request(server: &Server) -> (String, Duration) {
    let (r, took) = ask(
        server,
        &[
            ("X-Original-URI", "/tenants/acme/orders/1"),
            ("Authorization", "Bearer not-a-jwt-but-secret-7f3a"),
        ],
    );
    // Unauthenticated, or rate limited by address after the first 40.
    assert!(r.status == 401 || r.status == 429, "{}", r.status);
    (r.header("x-palisade-decision-id").unwrap().to_owned(), took)
}

fn wait_for_ids(events: &Mutex<Vec<Value>>, ids: &[String], secs: u64) {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        let have: Vec<String> = events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| e["id"].as_str().map(str::to_owned))
            .collect();
        if ids.iter().all(|id| have.contains(id)) {
            return;
        }
        assert!(Instant::now() < until, "{ids:?} not shipped; got {have:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn decision_logs_are_shipped_in_batches_and_a_dead_collector_blocks_nothing() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut collector = Collector::start("127.0.0.1:0", Arc::clone(&events));
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("http://{}/logs", collector.addr);
    let server = Server::start(
        "builtin:gateway-baseline",
        &tmp.path().join("cache"),
        &[
            "--decision-log",
            "off",
            "--decision-log-url",
            &url,
            "--decision-log-buffer",
            "20",
        ],
    );

    let ids: Vec<String> = (0..5).map(|_| logged_request(&server).0).collect();
    wait_for_ids(&events, &ids, 10);
    for e in events.lock().unwrap().iter() {
        assert_eq!(e["endpoint"], "forward-auth", "{e}");
        assert!(e["bundle"].as_str().unwrap().starts_with("sha256:"), "{e}");
        assert!(
            !e.to_string().contains("secret-7f3a"),
            "no token in the log: {e}"
        );
    }

    // The collector is gone: requests are answered at once, lines past the
    // buffer are dropped and counted, failed uploads too.
    collector.stop();
    let answered_at_once = || {
        let (_, took) = logged_request(&server);
        assert!(took < Duration::from_secs(1), "a request waited {took:?}");
    };
    (0..10).for_each(|_| answered_at_once());
    let until = Instant::now() + Duration::from_secs(10);
    while metric(&server, "palisade_decision_log_ship_failures_total") < 1.0 {
        assert!(Instant::now() < until, "no failed upload counted");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The shipper holds its failed batch; the queue (20 lines) fills.
    (0..100).for_each(|_| answered_at_once());
    assert!(metric(&server, "palisade_decision_log_ship_dropped_total") >= 50.0);

    // Back on the same address: later decisions arrive.
    // First what was held (the failed batch, then the queue), at the next
    // retry; then what comes after.
    let mut collector = Collector::start(&collector.addr.clone(), Arc::clone(&events));
    let until = Instant::now() + Duration::from_secs(60);
    // Every line is either shipped or counted as dropped: 5 + 10 + 100.
    let accounted = || {
        metric(&server, "palisade_decision_log_shipped_total")
            + metric(&server, "palisade_decision_log_ship_dropped_total")
    };
    while accounted() < 115.0 {
        assert!(
            Instant::now() < until,
            "lines unaccounted for: {}",
            accounted()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(accounted(), 115.0);
    assert!(
        metric(&server, "palisade_decision_log_shipped_total") > 5.0,
        "held lines shipped"
    );
    let later: Vec<String> = (0..3).map(|_| logged_request(&server).0).collect();
    wait_for_ids(&events, &later, 10);

    // SIGTERM right after decisions: their lines are shipped before the
    // process exits, not lost with the batch that was filling.
    let last: Vec<String> = (0..3).map(|_| logged_request(&server).0).collect();
    server.signal("TERM");
    assert!(server.wait_for_log("shutting down", Duration::from_secs(5)));
    wait_for_ids(&events, &last, 10);
    collector.stop();
}

#[test]
fn status_is_pushed_when_a_reload_changes_it() {
    let pushed = Arc::new(Mutex::new(Vec::new()));
    let _collector = Collector::start("127.0.0.1:0", Arc::clone(&pushed));
    let addr = _collector.addr.clone();
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    copy_dir(&root().join("policies/gateway-baseline"), &bundle);
    let server = Server::start(
        bundle.to_str().unwrap(),
        &tmp.path().join("cache"),
        &[
            "--decision-log",
            "off",
            "--watch",
            "0",
            "--status-url",
            &format!("http://{addr}/status"),
        ],
    );
    let wait_for = |what: &str, test: &dyn Fn(&Value) -> bool| {
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(s) = pushed.lock().unwrap().iter().find(|s| test(s)) {
                return s.clone();
            }
            assert!(
                Instant::now() < until,
                "no status with {what}: {:?}",
                pushed.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let first = wait_for("revision 0", &|s| s["bundle"]["revision"] == 0);
    assert_eq!(first["rate_limits"]["store"], "local", "{first}");

    std::fs::write(
        bundle.join("policies/extra.cedar"),
        "forbid (principal, action, resource) when { context.request.path == \"/nope\" };\n",
    )
    .unwrap();
    server.signal("HUP");
    let swapped = wait_for("revision 1", &|s| s["bundle"]["revision"] == 1);
    assert_eq!(swapped["last_reload"]["result"], "ok", "{swapped}");
    assert_eq!(swapped["last_reload"]["trigger"], "SIGHUP", "{swapped}");
    assert_ne!(swapped["bundle"]["digest"], first["bundle"]["digest"]);

    std::fs::write(bundle.join("policies/extra.cedar"), "forbid (principal,").unwrap();
    server.signal("HUP");
    let refused = wait_for("a failed reload", &|s| {
        s["last_reload"]["result"] == "error"
    });
    assert_eq!(refused["bundle"]["revision"], 1, "still serving: {refused}");
    assert!(
        refused["last_reload"]["error"]
            .as_str()
            .unwrap()
            .contains("extra.cedar"),
        "{refused}"
    );

    // Stopped: the last status says the replica is no longer ready.
    server.signal("TERM");
    let last = wait_for("the last status", &|s| s["ready"] == false);
    assert_eq!(last["bundle"]["revision"], 1, "{last}");
}

#[test]
fn a_replica_says_its_redis_is_unreachable_before_any_request() {
    let nobody = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("redis://127.0.0.1:{}", nobody.port());
    let server = Server::start(
        "builtin:gateway-baseline",
        tmp.path(),
        &["--decision-log", "off", "--rate-limit-redis", &url],
    );
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, rows) = fleet(&[&server]);
        if rows[0]["state"] == "limits down" {
            assert_eq!(code, 1);
            assert_eq!(rows[0]["rate_limits"]["redis"]["healthy"], false);
            break;
        }
        assert!(Instant::now() < until, "{rows}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A gateway-baseline replica that signs in to `redis` as `user:password`,
/// with time enough for a busy CI machine to hear Redis's answers.
fn replica_as(redis: &Redis, credentials: &str) -> (tempfile::TempDir, Server) {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("redis://{credentials}@127.0.0.1:{}", redis.port);
    let server = Server::start(
        "builtin:gateway-baseline",
        tmp.path(),
        &[
            "--decision-log",
            "off",
            "--rate-limit-redis",
            &url,
            "--rate-limit-timeout-ms",
            "500",
        ],
    );
    (tmp, server)
}

#[test]
fn a_wrong_redis_password_is_reported_as_such() {
    let Some(redis) = Redis::start() else {
        return;
    };
    redis.cli(&["CONFIG", "SET", "requirepass", "right-one"]);
    let (_tmp, server) = replica_as(&redis, "default:wrong-one");
    // Not "no answer within 25 ms": what Redis said.
    assert!(
        server.wait_for_log("authentication failed", Duration::from_secs(10)),
        "{}",
        server.stderr.lock().unwrap()
    );
    let status = http(&server.addr, "GET", "/v1/status", &[], "").json();
    let redis_health = &status["rate_limits"]["redis"];
    assert_eq!(redis_health["healthy"], false, "{status}");
    assert!(
        redis_health["last_error"]
            .as_str()
            .unwrap()
            .contains("authentication failed"),
        "{status}"
    );
    assert!(!status.to_string().contains("wrong-one"), "{status}");
}

#[test]
fn a_redis_that_answers_ping_but_refuses_the_script_is_down() {
    // An ACL that allows PING but not EVALSHA (as a full or read-only
    // Redis refuses the script): not a working limit store, whatever
    // PING says.
    let Some(redis) = Redis::start() else {
        return;
    };
    redis.cli(&["ACL", "SETUSER", "pingonly", "on", ">pw", "~*", "+ping"]);
    let (_tmp, server) = replica_as(&redis, "pingonly:pw");
    // Past the server's pings (every 2 s), it still says so.
    std::thread::sleep(Duration::from_millis(2500));
    let (code, rows) = fleet(&[&server]);
    assert_eq!(code, 1, "{rows}");
    assert_eq!(rows[0]["state"], "limits down", "{rows}");
    assert_eq!(metric(&server, "palisade_rate_limit_store_up"), 0.0);
}

#[test]
fn a_bucket_from_the_future_refills_from_now() {
    // Redis's clock stepped back (a failover to a replica behind): a
    // bucket written "later" must not refuse its subject until then.
    let Some(redis) = Redis::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let bundle = limited_bundle(tmp.path());
    let server = Server::start(
        bundle.to_str().unwrap(),
        &tmp.path().join("cache"),
        &["--decision-log", "off", "--rate-limit-redis", &redis.url()],
    );
    assert_eq!(health(&server).0, 200);
    let key = redis.keys().into_iter().next().unwrap();
    redis.cli(&["HSET", &key, "t", "0", "at", "99999999999999"]);
    assert_eq!(health(&server).0, 429);
    // RATE is 2 a second: a token within a second.
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(health(&server).0, 200);
}

#[test]
fn a_redis_whose_answer_never_ends_is_cut_off() {
    // Whatever listens at the Redis URL (a wrong port, a hostile peer on
    // the path) announces a reply of a terabyte and keeps sending. A
    // connection kept past its timeout would read it into memory without
    // end; each one must be closed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let open = Arc::new(Mutex::new(Vec::<(Instant, Option<Instant>)>::new()));
    let seen = Arc::clone(&open);
    std::thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let i = {
                    let mut s = seen.lock().unwrap();
                    s.push((Instant::now(), None));
                    s.len() - 1
                };
                let mut conn = conn;
                let _ = conn.read(&mut [0; 4096]);
                let chunk = vec![b'x'; 64 * 1024];
                let _ = conn.write_all(b"$999999999999\r\n");
                while conn.write_all(&chunk).is_ok() {}
                seen.lock().unwrap()[i].1 = Some(Instant::now());
            });
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("redis://127.0.0.1:{port}");
    let server = Server::start(
        "builtin:gateway-baseline",
        tmp.path(),
        &["--decision-log", "off", "--rate-limit-redis", &url],
    );
    let (status, took) = health(&server);
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(1), "{took:?}");
    std::thread::sleep(Duration::from_secs(6));
    let conns = open.lock().unwrap().clone();
    assert!(!conns.is_empty(), "the server never connected");
    // Each is given up at its call's timeout (25 ms) and closed; kept, the
    // first was read from for seconds.
    for (at, closed) in &conns {
        if at.elapsed() > Duration::from_millis(2500) {
            let held = closed.map(|c| c.duration_since(*at));
            assert!(
                held.is_some_and(|h| h < Duration::from_secs(1)),
                "a connection was held {held:?}"
            );
        }
    }
}

#[test]
fn a_bad_redis_url_is_refused_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let out = palisade(
        &[
            "serve",
            "--bundle",
            "builtin:gateway-baseline",
            "--rate-limit-redis",
            "http://user:hunter2@cache:6379",
        ],
        tmp.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("is not a Redis URL"), "{err}");
    assert!(
        !err.contains("hunter2"),
        "the password is not printed: {err}"
    );
}

/// `count` requests for `GET /health` sent at once through `app`; how
/// many were allowed, and how many took at least `slow`.
async fn burst(app: &axum::Router, count: usize, slow: Duration) -> (u32, u32) {
    use tower::ServiceExt;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..count {
        let app = app.clone();
        set.spawn(async move {
            let req = axum::http::Request::get("/health")
                .body(axum::body::Body::empty())
                .unwrap();
            let started = Instant::now();
            let status = app.oneshot(req).await.unwrap().status().as_u16();
            assert!(status == 200 || status == 429, "status {status}");
            (status == 200, started.elapsed())
        });
    }
    let (mut ok, mut slowed) = (0, 0);
    while let Some(r) = set.join_next().await {
        let (allowed, took) = r.unwrap();
        assert!(took < Duration::from_secs(1), "an answer took {took:?}");
        ok += u32::from(allowed);
        slowed += u32::from(took >= slow);
    }
    (ok, slowed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tower_layers_share_one_limit_and_one_request_probes_a_stalled_redis() {
    let Some(redis) = Redis::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = limited_bundle(tmp.path());
    let engine = palisade_gateway::engine_builder()
        .cache_dir(tmp.path().join("cache"))
        .build()
        .unwrap();
    let timeout = Duration::from_millis(100);
    // Two replicas in one process: two layers, each with its own
    // connection to Redis and its own fallback buckets.
    let replica = || {
        let limiter = palisade_gateway::RedisLimiter::new(&redis.url(), timeout).unwrap();
        let layer = palisade_gateway::GatewayLayer::new(engine.load_bundle(&dir).unwrap())
            .share_limits(Arc::new(limiter));
        axum::Router::new()
            .route("/health", axum::routing::get(|| async { "ok" }))
            .layer(layer)
    };
    let (a, b) = (replica(), replica());

    // Shared: bursts through both layers together stay within one limit.
    let started = Instant::now();
    let mut ok = 0;
    for i in 0..15 {
        ok += burst(if i % 2 == 0 { &a } else { &b }, 4, timeout).await.0;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    assert!(
        ok >= BURST && ok <= allowed(elapsed),
        "{ok} allowed in {elapsed:?} by two layers sharing {BURST} + {RATE}/s"
    );
    assert!(
        redis
            .keys()
            .iter()
            .any(|k| k.starts_with("palisade:{gateway-baseline}:rl:0:route:"))
    );

    // Redis stalls. The first request finds out (it waits the timeout);
    // then, of bursts of 20 requests at once, one request a second tries
    // Redis again and the others count locally without waiting.
    redis.pause(true);
    let (_, slowed) = burst(&a, 1, timeout).await;
    assert_eq!(
        slowed, 1,
        "the first request after the stall waits the timeout"
    );
    let started = Instant::now();
    let (mut ok, mut slowed, mut sent) = (0, 0, 0);
    while started.elapsed() < Duration::from_millis(2500) {
        let (o, s) = burst(&a, 20, timeout).await;
        (ok, slowed, sent) = (ok + o, slowed + s, sent + 20);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    redis.pause(false);
    assert!(ok >= 1, "the fallback buckets allow requests");
    assert!(
        (1..=4).contains(&slowed),
        "{slowed} of {sent} requests waited for a stalled Redis in {:?}",
        started.elapsed()
    );
}
