//! The decision log: one JSON line per decision, written off the
//! request path through a bounded queue (drops are counted).

use super::*;

/// One line of the decision log. Never holds tokens, headers, query
/// strings or bodies: the input is identified by its digest.
#[derive(Serialize)]
pub(super) struct LogLine<'a> {
    pub(super) id: &'a str,
    pub(super) time: String,
    pub(super) endpoint: &'a str,
    pub(super) bundle: &'a str,
    /// The key id that signed the bundle, with `--verify-key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) signer: Option<&'a str>,
    pub(super) input_digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) principal: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) action: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) resource: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) route: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) path: Option<&'a str>,
    pub(super) decision: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) status: Option<u16>,
    pub(super) reason: &'a str,
    pub(super) reasons: &'a [String],
    pub(super) findings: Vec<&'a str>,
    pub(super) errors: Vec<String>,
    pub(super) latency_us: u128,
}

/// What a decision-log line says about the request, beyond the decision.
#[derive(Default)]
pub(super) struct Subject<'a> {
    pub(super) endpoint: &'static str,
    pub(super) allowed: bool,
    pub(super) reason: &'a str,
    pub(super) principal: Option<&'a str>,
    pub(super) action: Option<&'a str>,
    pub(super) resource: Option<&'a str>,
    pub(super) route: Option<&'a str>,
    pub(super) path: Option<&'a str>,
    pub(super) status: Option<u16>,
}

/// Decision-log lines that may wait for the writer; more are dropped and
/// counted in `palisade_decision_log_dropped_total`.
pub(super) const LOG_QUEUE: usize = 16_384;

/// The decision log writer: a thread that owns the output, fed by a
/// bounded channel so that requests never wait on it.
pub(super) fn decision_log(target: &str) -> Result<Option<mpsc::SyncSender<String>>, String> {
    let mut out: Box<dyn std::io::Write + Send> = match target {
        "off" => return Ok(None),
        "-" => Box::new(std::io::stdout()),
        path => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("--decision-log `{path}`: {e}"))?,
        ),
    };
    let (tx, rx) = mpsc::sync_channel::<String>(LOG_QUEUE);
    std::thread::Builder::new()
        .name("decision-log".into())
        .spawn(move || {
            let mut buf = std::io::BufWriter::new(&mut out);
            while let Ok(line) = rx.recv() {
                let _ = writeln!(buf, "{line}");
                // Flush when nothing else is waiting.
                while let Ok(more) = rx.try_recv() {
                    let _ = writeln!(buf, "{more}");
                }
                let _ = buf.flush();
            }
        })
        .map_err(|e| format!("cannot start the decision log: {e}"))?;
    Ok(Some(tx))
}
