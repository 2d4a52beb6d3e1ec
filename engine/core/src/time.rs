//! Evaluation time: always an explicit input, never the ambient clock.

use chrono::{DateTime, SecondsFormat, Utc};

/// A point in time given to an evaluation (`--now`, or the caller's clock).
///
/// Plugins see it as their only clock; policies see it as `context.now`
/// (seconds since the UNIX epoch) only when the caller puts it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Now(DateTime<Utc>);

impl Now {
    /// Parses an RFC 3339 timestamp such as `2026-11-29T12:00:00Z`.
    ///
    /// # Errors
    /// A message saying what was expected when `s` is not RFC 3339.
    ///
    /// # Examples
    /// ```
    /// let now = palisade_engine::Now::parse("2026-11-29T13:00:00+01:00").unwrap();
    /// assert_eq!(now.to_string(), "2026-11-29T12:00:00Z");
    /// ```
    pub fn parse(s: &str) -> Result<Now, String> {
        DateTime::parse_from_rfc3339(s.trim())
            .map(|d| Now(d.with_timezone(&Utc)))
            .map_err(|e| {
                format!(
                    "`{s}` is not an RFC 3339 timestamp ({e}); expected e.g. 2026-11-29T12:00:00Z"
                )
            })
    }

    /// The UNIX epoch, the fixed default of tests.
    pub fn epoch() -> Now {
        Now(DateTime::<Utc>::UNIX_EPOCH)
    }

    /// The host's current time. Use it at the edge (CLI, server), never
    /// inside an evaluation.
    pub fn system() -> Now {
        Now(DateTime::<Utc>::from(std::time::SystemTime::now()))
    }

    /// The host's current time to the whole second: what servers decide
    /// with. It is the resolution of token times and `context.now`, and it
    /// lets a plugin's answer to an input be reused for the rest of that
    /// second (see the plugin memo) instead of never, as a clock in
    /// nanoseconds would.
    ///
    /// # Examples
    /// ```
    /// let now = palisade_engine::Now::system_second();
    /// assert!(!now.to_string().contains('.'));
    /// ```
    pub fn system_second() -> Now {
        let now = DateTime::<Utc>::from(std::time::SystemTime::now());
        Now(DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now))
    }

    /// The day (UTC), for dates such as waiver expiries.
    pub fn date(self) -> chrono::NaiveDate {
        self.0.date_naive()
    }

    /// Seconds since the UNIX epoch.
    pub fn unix_seconds(self) -> i64 {
        self.0.timestamp()
    }
}

impl std::fmt::Display for Now {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_normalize_to_utc() {
        assert_eq!(
            Now::parse("2026-01-01T01:00:00+01:00").map(|n| n.to_string()),
            Ok("2026-01-01T00:00:00Z".into())
        );
        assert_eq!(
            Now::parse("1970-01-01T00:01:00Z").map(Now::unix_seconds),
            Ok(60)
        );
        assert!(Now::parse("yesterday").is_err());
    }
}
