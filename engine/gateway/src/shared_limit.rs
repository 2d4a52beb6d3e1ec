//! Rate limits shared by every replica through Redis.
//!
//! One Lua script takes a token from every bucket a request falls in, all
//! or none, in one round trip (`EVALSHA`), with Redis's own clock, so
//! replicas with different clocks count the same. A bucket is a hash
//! (`t` tokens, `at` milliseconds) that expires once it would be full
//! again. Keys are `palisade:{<bundle>}:rl:<limit>:<subject>`: the bundle's
//! name as a hash tag (its keys stay in one slot), the limit's index and
//! numbers (a changed limit starts with full buckets), then the principal
//! or the route.
//!
//! When Redis does not answer within the timeout, or answers with an
//! error, the request is counted in this process's buckets (the same
//! limits, per replica) and Redis is left alone for a second; then one
//! request tries it again while the others keep counting locally. The
//! connection is re-established in the background. A request never waits
//! longer than the timeout for Redis.

use crate::limit::{LimitScope, RateLimit, Which};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Takes a token from each bucket (KEYS) with its rate and burst (ARGV,
/// two per key) or from none; 0, or the seconds to wait.
const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tokens = {}
local wait = 0
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local b = redis.pcall('HMGET', KEYS[i], 't', 'at')
  if type(b) ~= 'table' or b.err then
    -- Not a bucket (written by someone else): start a new one.
    redis.call('DEL', KEYS[i])
    b = {false, false}
  end
  local tk = tonumber(b[1])
  local at = tonumber(b[2])
  -- NaN and infinities are not token counts: a new bucket.
  if tk == nil or at == nil or tk ~= tk or at ~= at
      or tk == math.huge or tk == -math.huge or at == math.huge or at == -math.huge then
    tk = burst
    at = now
  end
  -- A bucket from the future (Redis's clock stepped back, a failover to
  -- a replica behind): it refills from now, not from then.
  if at > now then
    at = now
    redis.call('HSET', KEYS[i], 'at', now)
  end
  local elapsed = now - at
  tk = math.min(burst, tk + elapsed / 1000 * rate)
  tokens[i] = tk
  if tk < 1 then
    local secs = 60
    if rate > 0 then secs = math.ceil((1 - tk) / rate) end
    if secs < 1 then secs = 1 end
    if secs > wait then wait = secs end
  end
end
if wait > 0 then return wait end
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  redis.call('HSET', KEYS[i], 't', tostring(tokens[i] - 1), 'at', now)
  local ttl = 86400000
  if rate > 0 then ttl = math.ceil(burst / rate * 1000) + 1000 end
  redis.call('PEXPIRE', KEYS[i], ttl)
end
return 0
";

/// The time the health check gives the script (its first run loads it).
const SCRIPT_CHECK: Duration = Duration::from_millis(250);

/// How long Redis is left alone after it failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The longest subject kept as is in a key; longer ones are hashed.
const MAX_SUBJECT: usize = 200;

/// A change of Redis's health: `true` when it answers again, `false` with
/// the reason when it stopped.
type OnChange = Box<dyn Fn(bool, &str) + Send + Sync>;

/// Rate-limit buckets in Redis, shared by every process that names the
/// same Redis; see [`crate::Buckets::Shared`].
pub struct RedisLimiter {
    /// Replaced after a failed call: a connection that timed out may still
    /// be reading an answer Redis (or whatever listens there) never ends,
    /// into memory without a bound.
    conn: arc_swap::ArcSwap<redis::aio::ConnectionManager>,
    client: redis::Client,
    config: redis::aio::ConnectionManagerConfig,
    script: redis::Script,
    timeout: Duration,
    url: String,
    healthy: AtomicBool,
    down_until: Mutex<Option<Instant>>,
    last_error: Mutex<Option<String>>,
    fallbacks: AtomicU64,
    errors: AtomicU64,
    on_change: Option<OnChange>,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// What [`RedisLimiter::health`] reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LimiterHealth {
    /// The Redis URL, its password hidden.
    pub url: String,
    /// Whether the last call answered in time.
    pub healthy: bool,
    /// Takes counted in this process's buckets instead.
    pub fallbacks: u64,
    /// Calls that failed or timed out.
    pub errors: u64,
    /// Why the last failed call failed.
    pub last_error: Option<String>,
}

impl RedisLimiter {
    /// A limiter on the Redis at `url` (`redis://[user:password@]host:port[/db]`,
    /// or `rediss://` for TLS, checked against the system's roots), whose
    /// calls wait at most `timeout`. No connection is made here (the
    /// first request makes it), so a server starts while Redis is down.
    /// Call within a tokio runtime.
    ///
    /// # Errors
    /// The URL is not a Redis URL.
    pub fn new(url: &str, timeout: Duration) -> Result<RedisLimiter, String> {
        if url.starts_with("rediss://") {
            // rustls needs a process-wide provider; ring is the one the
            // rest of Palisade uses.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = redis::Client::open(url)
            .map_err(|e| format!("`{}` is not a Redis URL: {e}", redact_url(url)))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(timeout))
            .set_connection_timeout(Some(timeout.max(Duration::from_millis(500))))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn =
            redis::aio::ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
                .map_err(|e| format!("cannot use Redis at {}: {e}", redact_url(url)))?;
        Ok(RedisLimiter {
            conn: arc_swap::ArcSwap::from_pointee(conn),
            client,
            config,
            script: redis::Script::new(TAKE),
            timeout,
            url: redact_url(url),
            healthy: AtomicBool::new(true),
            down_until: Mutex::new(None),
            last_error: Mutex::new(None),
            fallbacks: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            on_change: None,
        })
    }

    /// Calls `f` when Redis stops answering (`false`, with the reason) and
    /// when it answers again (`true`), once per change: for a log line.
    #[must_use]
    pub fn on_change(mut self, f: impl Fn(bool, &str) + Send + Sync + 'static) -> RedisLimiter {
        self.on_change = Some(Box::new(f));
        self
    }

    /// Health and counters, for status pages and metrics.
    pub fn health(&self) -> LimiterHealth {
        LimiterHealth {
            url: self.url.clone(),
            healthy: self.healthy.load(Ordering::Relaxed),
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }

    /// Checks that Redis answers (a `PING` within the timeout) and records
    /// the answer in [`RedisLimiter::health`], so that an idle replica
    /// reports a Redis it cannot reach: call it every few seconds.
    ///
    /// # Errors
    /// Why it does not.
    pub async fn ping(&self) -> Result<(), String> {
        let mut conn = redis::aio::ConnectionManager::clone(&self.conn.load());
        let ping = redis::cmd("PING");
        let answer = tokio::time::timeout(self.timeout, ping.query_async::<String>(&mut conn));
        let failure = match answer.await {
            Ok(Ok(_)) => {
                // Then the script itself, with no bucket: a Redis that
                // answers PING but refuses the script (out of memory, an
                // ACL without EVALSHA, a read-only replica) is not a
                // working limit store. Its first run loads it (more round
                // trips), so it has more time, and a slow answer changes
                // nothing: only Redis's refusal counts.
                let invocation = self.script.prepare_invoke();
                let check = invocation.invoke_async::<i64>(&mut conn);
                match tokio::time::timeout(self.timeout.max(SCRIPT_CHECK), check).await {
                    Ok(Ok(_)) => {
                        self.up();
                        return Ok(());
                    }
                    Ok(Err(e)) => {
                        let why = e.to_string();
                        self.down(why.clone());
                        return Err(why);
                    }
                    Err(_) => return Ok(()),
                }
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} ms", self.timeout.as_millis()),
        };
        // The connection manager's retries outlast the timeout and hide
        // why it fails (a refused connection, a wrong password): a direct
        // connection says.
        let failure = self.why_not().await.unwrap_or(failure);
        self.down(failure.clone());
        Err(failure)
    }

    /// Why a new connection to Redis fails, if it does: what it answered
    /// (`WRONGPASS`, `NOAUTH`), or the network's error. Within the
    /// timeout, as every call: whatever answers may send without end.
    async fn why_not(&self) -> Option<String> {
        let attempt = async {
            let mut conn = self.client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!("no answer within {} ms", self.timeout.as_millis())),
        }
    }

    /// Takes from the shared buckets of the `which` limits that apply;
    /// `None` when Redis did not answer (the caller counts locally).
    pub(crate) async fn take(
        &self,
        namespace: &str,
        limits: &[RateLimit],
        key: &str,
        route: &str,
        which: Which,
    ) -> Option<Result<(), u64>> {
        let mut invocation = self.script.prepare_invoke();
        let mut any = false;
        for (i, limit) in limits.iter().enumerate() {
            if limit.route.as_deref().is_some_and(|r| r != route) || !which.applies(limit) {
                continue;
            }
            let subject = match limit.per {
                LimitScope::Principal => key,
                LimitScope::Route => route,
            };
            any = true;
            invocation
                .key(bucket_key(namespace, i, limit, subject))
                .arg(limit.rate.max(0.0))
                .arg(limit.burst.max(1));
        }
        if !any {
            return Some(Ok(()));
        }
        // While Redis is left alone, count locally; when the pause is
        // over, this request alone tries it (the others keep counting
        // locally until it answers), so a stalled Redis costs one timeout
        // per pause, not one per request.
        if let Ok(mut down) = self.down_until.lock()
            && let Some(until) = *down
        {
            let now = Instant::now();
            if now < until {
                drop(down);
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            *down = Some(now + RETRY_AFTER);
        }
        let mut conn = redis::aio::ConnectionManager::clone(&self.conn.load());
        let answer = tokio::time::timeout(self.timeout, invocation.invoke_async::<i64>(&mut conn));
        let failure = match answer.await {
            Ok(Ok(0)) => {
                self.up();
                return Some(Ok(()));
            }
            Ok(Ok(wait)) if wait > 0 => {
                self.up();
                return Some(Err(wait.unsigned_abs()));
            }
            Ok(Ok(other)) => format!("the script answered {other}"),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} ms", self.timeout.as_millis()),
        };
        self.down(failure);
        None
    }

    fn up(&self) {
        if !self.healthy.swap(true, Ordering::Relaxed) {
            if let Ok(mut d) = self.down_until.lock() {
                *d = None;
            }
            if let Some(f) = &self.on_change {
                f(true, "");
            }
        }
    }

    fn down(&self, why: String) {
        let why = palisade_engine::shorten(&why, MAX_ERROR);
        // A new connection for the next try; the old one closes when the
        // calls still using it end.
        if let Ok(fresh) = redis::aio::ConnectionManager::new_lazy_with_config(
            self.client.clone(),
            self.config.clone(),
        ) {
            self.conn.store(std::sync::Arc::new(fresh));
        }
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut d) = self.down_until.lock() {
            *d = Some(Instant::now() + RETRY_AFTER);
        }
        if self.healthy.swap(false, Ordering::Relaxed)
            && let Some(f) = &self.on_change
        {
            f(false, &why);
        }
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(why);
        }
    }
}

/// The longest error kept, in characters (whatever answers at the Redis
/// URL writes it): status pages and pushes stay small.
const MAX_ERROR: usize = 300;

/// The key of one bucket.
fn bucket_key(namespace: &str, index: usize, limit: &RateLimit, subject: &str) -> String {
    let per = match limit.per {
        LimitScope::Principal => "principal",
        LimitScope::Route => "route",
    };
    let subject = if subject.len() > MAX_SUBJECT {
        format!("sha256:{}", palisade_engine::sha256_hex(subject.as_bytes()))
    } else {
        subject.to_owned()
    };
    format!(
        "palisade:{{{namespace}}}:rl:{index}:{per}:{}:{}:{subject}",
        limit.rate, limit.burst
    )
}

/// A URL as logs and status pages may show it: without the user and
/// password before `@`, and without the query (`?password=`, `?pass=` of
/// `redis+unix://`, tokens of a collector's URL).
pub fn redact_url(url: &str) -> String {
    let url = url.split_once('?').map_or(url, |(before, _)| before);
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let head = url.get(..scheme).unwrap_or_default();
            let host = url.get(at + 1..).unwrap_or_default();
            format!("{head}://***@{host}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_and_long_subjects_hashed() {
        assert_eq!(
            redact_url("redis://user:secret@cache:6379/0"),
            "redis://***@cache:6379/0"
        );
        assert_eq!(redact_url("redis://cache:6379"), "redis://cache:6379");
        assert_eq!(
            redact_url("redis+unix:///run/redis.sock?pass=secret"),
            "redis+unix:///run/redis.sock"
        );
        assert_eq!(
            redact_url("redis://u:a@b@cache/0?password=x"),
            "redis://***@cache/0"
        );
        let limit = RateLimit {
            per: LimitScope::Principal,
            rate: 2.5,
            burst: 10,
            route: None,
        };
        assert_eq!(
            bucket_key("orders", 1, &limit, r#"User::"bob""#),
            r#"palisade:{orders}:rl:1:principal:2.5:10:User::"bob""#
        );
        let long = "x".repeat(MAX_SUBJECT + 1);
        let key = bucket_key("orders", 0, &limit, &long);
        assert!(
            key.ends_with(&palisade_engine::sha256_hex(long.as_bytes())),
            "{key}"
        );
        assert!(key.len() < 150, "{key}");
    }

    #[test]
    fn errors_are_kept_short() {
        // The limiter's connection is made lazily, on a runtime.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _inside = runtime.enter();
        let health = |why: &str| {
            let limiter =
                RedisLimiter::new("redis://127.0.0.1:1", Duration::from_millis(1)).unwrap();
            limiter.down(why.to_owned());
            limiter.health().last_error.unwrap()
        };
        assert_eq!(health("refused"), "refused");
        let long = health(&"é".repeat(1000));
        assert!(
            long.chars().count() <= MAX_ERROR + 1 && long.ends_with('…'),
            "{long}"
        );
    }
}
