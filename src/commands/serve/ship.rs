//! Decision logs shipped to a collector (`--decision-log-url`): the lines
//! of the decision log, batched, as OPA uploads its decision logs (a
//! gzip-compressed JSON array per `POST`), from a thread of their own.
//!
//! A decision never waits: lines go through a bounded queue and, when it
//! is full (the collector is down or slow for long), are dropped and
//! counted. A batch that fails is sent again with a growing pause (0.5 s
//! doubling to 30 s) and lines wait in the queue meanwhile; it is sent at
//! most 10 times, then dropped and counted. At shutdown what is queued
//! gets one try, within a few seconds, before the process exits.

use super::*;
use prometheus_client::metrics::counter::Counter;
use std::io::Write as _;
use std::sync::Mutex;

/// Lines in one batch, at most.
const BATCH_LINES: usize = 1_000;
/// Bytes of JSON in one batch, at most (before compression).
const BATCH_BYTES: usize = 4 * 1024 * 1024;
/// How long a line may wait for its batch to fill.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// The longest one upload may take.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Tries of one batch before it is dropped.
const MAX_TRIES: u32 = 10;
const FIRST_PAUSE: Duration = Duration::from_millis(500);
const LONGEST_PAUSE: Duration = Duration::from_secs(30);

/// What the shipper counts, for `/metrics`.
#[derive(Clone, Default)]
pub(super) struct ShipCounters {
    pub(super) sent: Counter,
    pub(super) dropped: Counter,
    pub(super) failures: Counter,
}

/// The queue of the shipping thread.
pub(super) struct Shipper {
    tx: mpsc::SyncSender<String>,
    counters: ShipCounters,
    /// Set at shutdown: ship what is queued, once, and stop.
    closing: Arc<AtomicBool>,
    /// Told when the thread stopped.
    stopped: Mutex<mpsc::Receiver<()>>,
}

impl Shipper {
    /// Starts the thread that ships to `url` (http or https), holding up
    /// to `buffer` lines while the collector does not take them. With
    /// `token`, each upload carries `Authorization: Bearer <token>`.
    pub(super) fn start(
        url: &str,
        buffer: usize,
        token: Option<String>,
        counters: ShipCounters,
    ) -> Result<Shipper, String> {
        http_url("--decision-log-url", url)?;
        let (tx, rx) = mpsc::sync_channel::<String>(buffer.max(1));
        let (stopped_tx, stopped) = mpsc::channel();
        let closing = Arc::new(AtomicBool::new(false));
        let url = url.to_owned();
        let c = counters.clone();
        let closed = Arc::clone(&closing);
        std::thread::Builder::new()
            .name("decision-log-shipper".into())
            .spawn(move || {
                run(&url, token.as_deref(), &rx, &c, &closed);
                let _ = stopped_tx.send(());
            })
            .map_err(|e| format!("cannot start the decision-log shipper: {e}"))?;
        Ok(Shipper {
            tx,
            counters,
            closing,
            stopped: Mutex::new(stopped),
        })
    }

    /// At shutdown, after the last decision: sends what is queued (one try
    /// per batch, no pauses) and waits for it at most `within`. The lines
    /// the collector did not take meanwhile; `None` when time ran out
    /// (lines may be left too).
    pub(super) fn finish(&self, within: Duration) -> Option<u64> {
        let dropped = self.counters.dropped.get();
        self.closing.store(true, Ordering::SeqCst);
        let stopped = self
            .stopped
            .lock()
            .is_ok_and(|stopped| stopped.recv_timeout(within).is_ok());
        stopped.then(|| self.counters.dropped.get().saturating_sub(dropped))
    }

    /// Queues a line; a full queue drops it (counted).
    pub(super) fn send(&self, line: String) {
        if self.tx.try_send(line).is_err() {
            self.counters.dropped.inc();
        }
    }
}

/// The HTTP client of the fleet's plumbing: every call within `timeout`,
/// statuses as answers, and no redirects (a collector's or replica's
/// answer is its own; a redirect would carry a bearer token elsewhere).
pub(crate) fn http_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// Checks that `url` is an http:// or https:// URL with a host.
pub(super) fn http_url(flag: &str, url: &str) -> Result<(), String> {
    let shown = redact_url(url);
    let parsed: ureq::http::Uri = url.parse().map_err(|e| format!("{flag} `{shown}`: {e}"))?;
    if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
        return Err(format!(
            "{flag} `{shown}`: an http:// or https:// URL is needed"
        ));
    }
    Ok(())
}

/// A URL as messages show it: no user or password, no query (where
/// tokens go), control characters escaped.
pub(super) fn redact_url(url: &str) -> String {
    output::escape(&palisade_gateway::redact_url(url)).into_owned()
}

/// How often an idle or pausing shipper looks whether shutdown began.
const LOOK_EVERY: Duration = Duration::from_millis(50);

fn run(
    url: &str,
    token: Option<&str>,
    rx: &mpsc::Receiver<String>,
    c: &ShipCounters,
    closing: &AtomicBool,
) {
    let agent = http_agent(UPLOAD_TIMEOUT);
    loop {
        // One batch: the first line waits as long as it takes (until
        // shutdown); the rest until the batch is full or FLUSH_EVERY has
        // passed. At shutdown nothing waits: what is queued goes.
        let first = loop {
            let open = !closing.load(Ordering::SeqCst);
            match rx.recv_timeout(if open { LOOK_EVERY } else { Duration::ZERO }) {
                Ok(line) => break line,
                Err(mpsc::RecvTimeoutError::Timeout) if open => {}
                Err(_) => return,
            }
        };
        let until = Instant::now() + FLUSH_EVERY;
        let mut lines = vec![first];
        let mut bytes = lines.iter().map(String::len).sum::<usize>();
        while lines.len() < BATCH_LINES && bytes < BATCH_BYTES {
            let left = until.saturating_duration_since(Instant::now());
            let left = if closing.load(Ordering::SeqCst) {
                Duration::ZERO
            } else {
                left.min(LOOK_EVERY)
            };
            match rx.recv_timeout(left) {
                Ok(line) => {
                    bytes += line.len();
                    lines.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout)
                    if left > Duration::ZERO && Instant::now() < until => {}
                Err(_) => break,
            }
        }
        let count = lines.len() as u64;
        let Ok(body) = gzip_array(&lines) else {
            c.dropped.inc_by(count);
            continue;
        };
        let mut pause = FIRST_PAUSE;
        let mut delivered = false;
        for _ in 0..MAX_TRIES {
            if upload(&agent, url, token, &body) {
                delivered = true;
                break;
            }
            c.failures.inc();
            // At shutdown, one try; a batch waiting to be tried again when
            // shutdown begins gets one more.
            if closing.load(Ordering::SeqCst) {
                break;
            }
            if !pause_unless_closing(pause, closing) {
                delivered = upload(&agent, url, token, &body);
                if !delivered {
                    c.failures.inc();
                }
                break;
            }
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
        if delivered {
            c.sent.inc_by(count);
        } else {
            c.dropped.inc_by(count);
        }
    }
}

/// Sleeps `pause`, unless shutdown begins (false) meanwhile.
fn pause_unless_closing(pause: Duration, closing: &AtomicBool) -> bool {
    let until = Instant::now() + pause;
    loop {
        if closing.load(Ordering::SeqCst) {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(LOOK_EVERY));
    }
}

/// `[line, line, ...]`, gzip-compressed. Each line is already a JSON
/// object.
fn gzip_array(lines: &[String]) -> std::io::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"[")?;
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            gz.write_all(b",")?;
        }
        gz.write_all(line.as_bytes())?;
    }
    gz.write_all(b"]")?;
    gz.finish()
}

/// One `POST`; true when the collector took it (2xx).
fn upload(agent: &ureq::Agent, url: &str, token: Option<&str>, body: &[u8]) -> bool {
    let mut req = agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip");
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    req.send(body).is_ok_and(|r| r.status().is_success())
}

/// How often `--status-url` is sent the status when nothing changed.
const STATUS_HEARTBEAT: Duration = Duration::from_secs(60);

/// What in a status document is a change worth sending at once: all but
/// the counters.
fn status_shape(status: &serde_json::Value) -> String {
    let mut s = status.clone();
    if let Some(redis) = s
        .pointer_mut("/rate_limits/redis")
        .and_then(serde_json::Value::as_object_mut)
    {
        redis.remove("fallbacks");
        redis.remove("errors");
        redis.remove("last_error");
    }
    s.to_string()
}

/// Starts the thread that sends the status to `url` when it changes and
/// every [`STATUS_HEARTBEAT`]; a failed send is tried again each second.
pub(super) fn push_status(app: Arc<App>, url: String) {
    let spawned = std::thread::Builder::new()
        .name("status-push".into())
        .spawn(move || {
            let agent = http_agent(Duration::from_secs(5));
            let mut sent: Option<(String, Instant)> = None;
            let mut failing = false;
            loop {
                let status = super::handlers::status_document(&app);
                let shape = status_shape(&status);
                let due = sent.as_ref().is_none_or(|(last, at)| {
                    *last != shape || at.elapsed() >= STATUS_HEARTBEAT
                });
                if due {
                    match send_status(&agent, &url, &status) {
                        Ok(()) => {
                            sent = Some((shape, Instant::now()));
                            failing = false;
                        }
                        Err(why) if !failing => {
                            failing = true;
                            output::warning(&format!(
                                "--status-url `{}`: the status could not be sent ({}); trying again each second",
                                redact_url(&url),
                                output::escape(&why)
                            ));
                        }
                        Err(_) => {}
                    }
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        });
    if let Err(e) = spawned {
        output::warning(&format!("cannot start the status push: {e}"));
    }
}

/// The last status, at shutdown (`ready: false`): a dashboard learns the
/// replica left rather than seeing it go quiet. One try, within 2 s.
pub(super) fn push_last_status(app: &App, url: &str) {
    let status = super::handlers::status_document(app);
    if let Err(why) = send_status(&http_agent(Duration::from_secs(2)), url, &status) {
        output::warning(&format!(
            "--status-url `{}`: the last status could not be sent ({})",
            redact_url(url),
            output::escape(&why)
        ));
    }
}

fn send_status(agent: &ureq::Agent, url: &str, status: &serde_json::Value) -> Result<(), String> {
    let answer = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(status.to_string().as_bytes());
    match answer {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("the collector answered {}", r.status())),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn a_batch_is_one_gzip_json_array() {
        let lines = vec![r#"{"id":"a"}"#.to_owned(), r#"{"id":"b"}"#.to_owned()];
        let body = gzip_array(&lines).unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(body.as_slice())
            .read_to_string(&mut text)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v, serde_json::json!([{"id": "a"}, {"id": "b"}]));
    }

    #[test]
    fn urls_in_messages_hide_credentials() {
        assert_eq!(
            redact_url("https://u:pw@logs.example/in?token=t"),
            "https://***@logs.example/in"
        );
        assert_eq!(redact_url("http://logs:8080/in"), "http://logs:8080/in");
        let e = http_url("--status-url", "ftp://u:pw@host/x?k=v").unwrap_err();
        assert!(!e.contains("pw") && !e.contains("k=v"), "{e}");
    }
}
