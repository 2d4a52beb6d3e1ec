//! Hostile guest `snoop`: reads whatever ambient state it can reach and
//! reports it as facts.
//!
//! A correctly sandboxed host gives it nothing real: the file read fails (no
//! preopened directories), the environment and arguments are empty, and the
//! clocks and randomness are the host's virtual ones. The host's tests assert
//! on the facts:
//!
//! | fact              | type    | what it holds                                            |
//! |-------------------|---------|----------------------------------------------------------|
//! | `file`            | text    | `/etc/hostname`'s content, or `error: <err>`             |
//! | `env_count`       | integer | `std::env::vars().count()`                               |
//! | `args_count`      | integer | `std::env::args().count()`                               |
//! | `wall_clock_secs` | integer | seconds since the UNIX epoch from `SystemTime::now()` (negative if before it) |
//! | `monotonic_nanos` | integer | `wasi:clocks/monotonic-clock.now()` (saturates at `i64::MAX`) |
//! | `random_hex`      | text    | 16 bytes of `wasi:random/random.get-random-bytes`, hex    |
//!
//! It returns no findings.

use std::time::{SystemTime, UNIX_EPOCH};

use palisade_plugin_sdk::{Evaluation, Input, Metadata, Plugin, export_plugin};

/// The guest.
struct Hostile;

impl Plugin for Hostile {
    type Settings = ();

    fn metadata() -> Metadata {
        hostile_common::metadata("snoop", "Reads ambient state")
    }

    fn evaluate(_input: &Input, _settings: &()) -> Result<Evaluation, String> {
        let mut eval = Evaluation::new();

        let file = match std::fs::read_to_string("/etc/hostname") {
            Ok(content) => content,
            Err(err) => format!("error: {err}"),
        };
        eval.fact("file", file);
        eval.fact("env_count", std::env::vars().count());

        let wall_clock_secs = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
        };
        eval.fact("wall_clock_secs", wall_clock_secs);
        eval.fact("monotonic_nanos", monotonic_nanos());
        eval.fact("random_hex", random_hex());
        eval.fact("args_count", std::env::args().count());
        Ok(eval)
    }
}

/// `wasi:clocks/monotonic-clock.now()` in nanoseconds.
fn monotonic_nanos() -> i64 {
    #[cfg(target_arch = "wasm32")]
    let now = wasi::clocks::monotonic_clock::now();
    #[cfg(not(target_arch = "wasm32"))]
    let now: u64 = 0;
    i64::try_from(now).unwrap_or(i64::MAX)
}

/// 16 bytes from `wasi:random/random.get-random-bytes`, lowercase hex.
fn random_hex() -> String {
    #[cfg(target_arch = "wasm32")]
    let bytes = wasi::random::random::get_random_bytes(16);
    #[cfg(not(target_arch = "wasm32"))]
    let bytes: Vec<u8> = Vec::new();
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

export_plugin!(Hostile);
