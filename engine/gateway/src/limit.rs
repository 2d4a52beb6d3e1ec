//! Rate limiting at the edge: token buckets per principal (per client
//! address when anonymous) and per route, as the bundle configures them.
//!
//! Counters are local to one [`RateLimiter`] (one process): N instances
//! behind a load balancer allow up to N times the configured rate, unless
//! they share their buckets in Redis ([`Buckets::Shared`], feature `redis`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LimitScope {
    /// One bucket per principal (per client address when anonymous).
    Principal,
    /// One bucket per route template.
    Route,
}

/// `[[gateway.rate_limit]]`
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// What one bucket counts.
    pub per: LimitScope,
    /// Requests per second, sustained.
    pub rate: f64,
    /// Requests allowed at once.
    pub burst: u32,
    /// Only this route template (default: every route).
    #[serde(default)]
    pub route: Option<String>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: u64,
}

/// Token buckets; shared by every request of a bundle.
#[derive(Debug)]
pub struct RateLimiter {
    limits: Vec<RateLimit>,
    buckets: Mutex<HashMap<(usize, String), Bucket>>,
}

/// Which of a bundle's limits one take pays from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    /// Every limit.
    All,
    /// Before a token's signature is checked: the limits on routes and
    /// the limits of every route (paid by the client address).
    Unverified,
    /// The per-principal limits (the address already paid the others).
    Principal,
}

impl Which {
    pub(crate) fn applies(self, limit: &RateLimit) -> bool {
        match self {
            Which::All => true,
            Which::Unverified => limit.per == LimitScope::Route || limit.route.is_none(),
            Which::Principal => limit.per == LimitScope::Principal,
        }
    }
}

/// Where the buckets of a request's rate limits are kept.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Buckets<'a> {
    /// This process's buckets; the duration is a monotonic clock (the time
    /// since the limiter was made).
    Local(&'a RateLimiter, Duration),
    /// Buckets in Redis, shared by every replica that names the same
    /// Redis; this process's buckets (same limits) while Redis does not
    /// answer in time.
    #[cfg(feature = "redis")]
    Shared(&'a crate::RedisLimiter, &'a RateLimiter, Duration),
}

impl Buckets<'_> {
    /// Takes one token from every bucket of `which` limits that this
    /// request falls in; the seconds to wait when one is empty.
    /// `namespace` (the bundle's name) keeps bundles' shared buckets apart.
    pub(crate) async fn take(
        self,
        namespace: &str,
        key: &str,
        route: &str,
        which: Which,
    ) -> Result<(), u64> {
        match self {
            Buckets::Local(l, elapsed) => {
                let _ = namespace;
                l.take_matching(key, route, elapsed, which)
            }
            #[cfg(feature = "redis")]
            Buckets::Shared(redis, l, elapsed) => {
                if l.is_empty() {
                    return Ok(());
                }
                match redis.take(namespace, &l.limits, key, route, which).await {
                    Some(answer) => answer,
                    None => l.take_matching(key, route, elapsed, which),
                }
            }
        }
    }
}

/// Buckets kept before idle ones are dropped.
const MAX_BUCKETS: usize = 100_000;

impl RateLimiter {
    /// A limiter for these limits.
    pub fn new(limits: Vec<RateLimit>) -> RateLimiter {
        RateLimiter {
            limits,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// True when there is nothing to limit.
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty()
    }

    /// Takes one token from every bucket this request falls in; when one is
    /// empty, returns the seconds to wait (for `Retry-After`). `elapsed` is
    /// a monotonic clock: the time since the limiter was made (a fixed value
    /// in tests).
    pub fn take(&self, principal: &str, route: &str, elapsed: Duration) -> Result<(), u64> {
        self.take_matching(principal, route, elapsed, Which::All)
    }

    /// The limits.
    pub fn limits(&self) -> &[RateLimit] {
        &self.limits
    }

    /// [`RateLimiter::take`] from the limits `which` selects only.
    pub(crate) fn take_matching(
        &self,
        principal: &str,
        route: &str,
        elapsed: Duration,
        which: Which,
    ) -> Result<(), u64> {
        let now_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        if self.limits.is_empty() {
            return Ok(());
        }
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() > MAX_BUCKETS {
            buckets.retain(|_, b| now_ms.saturating_sub(b.at_ms) < 60_000);
        }
        let mut wait: Option<u64> = None;
        let mut taken = Vec::new();
        for (i, limit) in self.limits.iter().enumerate() {
            if limit.route.as_deref().is_some_and(|r| r != route) || !which.applies(limit) {
                continue;
            }
            let key = match limit.per {
                LimitScope::Principal => principal.to_owned(),
                LimitScope::Route => route.to_owned(),
            };
            let burst = f64::from(limit.burst.max(1));
            let b = buckets.entry((i, key.clone())).or_insert(Bucket {
                tokens: burst,
                at_ms: now_ms,
            });
            let elapsed = now_ms.saturating_sub(b.at_ms) as f64 / 1000.0;
            b.tokens = (b.tokens + elapsed * limit.rate).min(burst);
            b.at_ms = now_ms;
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                taken.push((i, key));
            } else {
                let secs = if limit.rate > 0.0 {
                    ((1.0 - b.tokens) / limit.rate).ceil() as u64
                } else {
                    60
                };
                wait = Some(wait.map_or(secs.max(1), |w| w.max(secs.max(1))));
            }
        }
        match wait {
            None => Ok(()),
            Some(w) => {
                // A refused request costs nothing in the other buckets.
                for key in taken {
                    if let Some(b) = buckets.get_mut(&key) {
                        b.tokens += 1.0;
                    }
                }
                Err(w)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    use super::*;

    #[test]
    fn buckets_refill_at_their_rate() {
        let l = RateLimiter::new(vec![RateLimit {
            per: LimitScope::Principal,
            rate: 2.0,
            burst: 3,
            route: None,
        }]);
        for _ in 0..3 {
            assert_eq!(l.take("alice", "/a", ms(0)), Ok(()));
        }
        assert_eq!(l.take("alice", "/a", ms(0)), Err(1));
        assert_eq!(
            l.take("bob", "/a", ms(0)),
            Ok(()),
            "one bucket per principal"
        );
        assert_eq!(
            l.take("alice", "/a", ms(500)),
            Ok(()),
            "2/s refills one in 500 ms"
        );
        assert_eq!(l.take("alice", "/a", ms(500)), Err(1));
    }

    #[test]
    fn route_limits_apply_to_their_route_only() {
        let l = RateLimiter::new(vec![RateLimit {
            per: LimitScope::Route,
            rate: 0.0,
            burst: 1,
            route: Some("/pay".into()),
        }]);
        assert_eq!(l.take("a", "/pay", ms(0)), Ok(()));
        assert_eq!(l.take("b", "/pay", ms(0)), Err(60));
        assert_eq!(l.take("b", "/other", ms(0)), Ok(()));
    }
}
