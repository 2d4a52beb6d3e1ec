//! Keys from a JWKS URL (`[gateway.jwt] jwks_url`): fetched when a token
//! first needs them, kept for `jwks_refresh_seconds`, then refreshed in the
//! background while the old keys keep verifying. A token whose key id the
//! cached set does not know (the identity provider rotated its keys)
//! triggers one fetch at once, and such fetches happen at most once per
//! [`UNKNOWN_KID_COOLDOWN`], so tokens with made-up key ids cannot flood the
//! identity provider. Decisions never wait on the network except for that
//! one fetch and the very first.

use super::keys::KeySet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How long one fetch may take, body included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest JWKS accepted.
#[cfg_attr(not(feature = "jwks-http"), allow(dead_code))]
const MAX_JWKS_BYTES: u64 = 1024 * 1024;
/// Fetches for unknown key ids happen at most this often.
const UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(10);
/// After a failed fetch, the next one waits this long: requests with no
/// keys at all are refused with the fetch's error meanwhile, and stale
/// keys are not refreshed again until then.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(2);
/// The default of `jwks_refresh_seconds`.
pub(crate) const DEFAULT_REFRESH_SECONDS: u64 = 300;

#[derive(Default)]
struct State {
    unknown_kid_at: Option<Instant>,
    last_text: Option<String>,
    last_error: Option<String>,
}

/// A JWKS URL and the keys last fetched from it.
pub(crate) struct RemoteKeys {
    url: String,
    refresh: Duration,
    current: RwLock<Option<Arc<KeySet>>>,
    /// Bumped when a fetch brings a different key set: tokens verified
    /// with the old set are verified again.
    generation: AtomicU64,
    state: Mutex<State>,
    in_flight: AtomicBool,
    /// When keys were last fetched, in ms since `epoch` (`u64::MAX`:
    /// never): read on every request, so without a lock.
    fetched_ms: AtomicU64,
    /// When a fetch last failed, likewise: background refreshes of a
    /// provider that is down are spaced by [`RETRY_AFTER_FAILURE`].
    failed_ms: AtomicU64,
    epoch: Instant,
}

/// Checks a `jwks_url`: HTTPS, or plain HTTP to this machine only (a
/// sidecar, a test identity provider).
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    if let Some(rest) = url.strip_prefix("https://") {
        return if rest.is_empty() || rest.starts_with('/') {
            Err(format!("`{url}` has no host"))
        } else {
            Ok(())
        };
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(format!("`{url}` is not an https:// URL"));
    };
    let authority = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "`{url}`: keys must be fetched over HTTPS (plain http:// only to localhost)"
        ))
    }
}

impl RemoteKeys {
    pub(crate) fn new(url: &str, refresh_seconds: u64) -> RemoteKeys {
        RemoteKeys {
            url: url.to_owned(),
            refresh: Duration::from_secs(refresh_seconds),
            current: RwLock::new(None),
            generation: AtomicU64::new(0),
            state: Mutex::new(State::default()),
            in_flight: AtomicBool::new(false),
            fetched_ms: AtomicU64::new(u64::MAX),
            failed_ms: AtomicU64::new(u64::MAX),
            epoch: Instant::now(),
        }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The keys to verify a token whose header names `kid`.
    pub(crate) fn keys(self: &Arc<Self>, kid: Option<&str>) -> Result<Arc<KeySet>, String> {
        let current = self.current.read().ok().and_then(|c| c.clone());
        let Some(keys) = current else {
            // Nothing yet: one thread fetches, the others wait for it.
            return self.fetch_unless(|_| true, false).map_err(|e| {
                format!(
                    "the token's keys cannot be fetched from `{}`: {e}",
                    self.url
                )
            });
        };
        if let Some(kid) = kid
            && !keys.has_kid(kid)
            && self.may_fetch_for_unknown_kid()
            && let Ok(fresh) = self.fetch_unless(|k| k.has_kid(kid), true)
        {
            return Ok(fresh);
        }
        Ok(keys)
    }

    /// Fetches the keys unless some are there already.
    pub(crate) fn prefetch(&self) -> Result<(), KeysError> {
        self.fetch_unless(|_| true, true)
            .map(|_| ())
            .map_err(|reason| KeysError {
                url: self.url.clone(),
                reason,
            })
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// Milliseconds since the time in `at`, if there is one.
    fn since(&self, at: &AtomicU64) -> Option<Duration> {
        match at.load(Ordering::Acquire) {
            u64::MAX => None,
            at => Some(Duration::from_millis(self.elapsed_ms().saturating_sub(at))),
        }
    }

    /// A fetch failed less than [`RETRY_AFTER_FAILURE`] ago.
    fn failed_recently(&self) -> bool {
        self.since(&self.failed_ms)
            .is_some_and(|t| t < RETRY_AFTER_FAILURE)
    }

    /// Older than the refresh interval, and no fetch failed just now.
    fn stale(&self) -> bool {
        self.since(&self.fetched_ms)
            .is_some_and(|age| age >= self.refresh)
            && !self.failed_recently()
    }

    /// Starts a background refresh when the keys are older than the
    /// refresh interval; the old keys keep verifying meanwhile. Called on
    /// every request (two atomic loads), cached tokens included, so that a
    /// key the provider retired stops verifying within the interval.
    pub(crate) fn refresh_if_stale(self: &Arc<Self>) {
        if self.stale() {
            self.refresh_in_background();
        }
    }

    /// Claims the one fetch per cooldown that unknown key ids may cause.
    fn may_fetch_for_unknown_kid(&self) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return false;
        };
        if s.unknown_kid_at
            .is_some_and(|at| at.elapsed() < UNKNOWN_KID_COOLDOWN)
        {
            return false;
        }
        s.unknown_kid_at = Some(Instant::now());
        true
    }

    fn refresh_in_background(self: &Arc<Self>) {
        if self.in_flight.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("palisade-jwks".into())
            .spawn(move || {
                let _ = me.fetch_unless(|_| false, true);
                me.in_flight.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.in_flight.store(false, Ordering::Release);
        }
    }

    /// Fetches the key set, unless `enough` says the keys another thread
    /// fetched meanwhile will do. Without `force`, a recent failure is
    /// returned as it is instead of fetching again.
    fn fetch_unless(
        &self,
        enough: impl Fn(&KeySet) -> bool,
        force: bool,
    ) -> Result<Arc<KeySet>, String> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| "the key cache is unusable".to_owned())?;
        if let Some(k) = self.current.read().ok().and_then(|c| c.clone())
            && enough(&k)
        {
            return Ok(k);
        }
        if !force
            && self.failed_recently()
            && let Some(e) = &s.last_error
        {
            return Err(e.clone());
        }
        let fetched = fetch(&self.url).and_then(|text| KeySet::parse(&text).map(|k| (text, k)));
        match fetched {
            Ok((text, keys)) => {
                let keys = Arc::new(keys);
                if s.last_text.as_deref() != Some(text.as_str()) {
                    if let Ok(mut c) = self.current.write() {
                        *c = Some(Arc::clone(&keys));
                    }
                    self.generation.fetch_add(1, Ordering::AcqRel);
                    s.last_text = Some(text);
                }
                self.fetched_ms.store(self.elapsed_ms(), Ordering::Release);
                s.last_error = None;
                Ok(keys)
            }
            Err(e) => {
                self.failed_ms.store(self.elapsed_ms(), Ordering::Release);
                s.last_error = Some(e.clone());
                Err(e)
            }
        }
    }
}

/// The keys of a JWKS URL could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot fetch the keys from `{url}`: {reason}")]
pub struct KeysError {
    /// `[gateway.jwt] jwks_url`.
    pub url: String,
    /// What went wrong: the network error, the HTTP status, or why the
    /// document is not a usable key set.
    pub reason: String,
}

/// GET `url`: a JWKS document of at most [`MAX_JWKS_BYTES`].
#[cfg(feature = "jwks-http")]
fn fetch(url: &str) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(FETCH_TIMEOUT))
        .https_only(url.starts_with("https://"))
        .build()
        .new_agent();
    let mut response = agent
        .get(url)
        .header("accept", "application/json")
        .call()
        .map_err(|e| match e {
            ureq::Error::StatusCode(code) => format!("HTTP status {code}"),
            e => e.to_string(),
        })?;
    response
        .body_mut()
        .with_config()
        .limit(MAX_JWKS_BYTES)
        .read_to_string()
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "jwks-http"))]
fn fetch(_url: &str) -> Result<String, String> {
    let _ = FETCH_TIMEOUT;
    Err("this build cannot fetch URLs (palisade-gateway's `jwks-http` feature is off)".into())
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn keys_come_over_https_or_from_this_machine() {
        for ok in [
            "https://id.example.com/.well-known/jwks.json",
            "http://127.0.0.1:8080/jwks",
            "http://localhost/jwks",
            "http://[::1]:9000/jwks",
        ] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://id.example.com/jwks",
            "http://10.0.0.1/jwks",
            "ftp://id.example.com/jwks",
            "https://",
            "id.example.com/jwks",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
