//! `palisade plugin inspect FILE.wasm`

use super::read_wasm;
use crate::cli::Format;
use crate::exit;
use crate::output::{self, escape};
use crate::source;
use palisade_engine::{Limits, PluginInspection};
use std::fmt::Write as _;
use std::path::Path;

pub(super) fn execute(path: &Path, format: Format, limits: Limits) -> u8 {
    let inspection = read_wasm(path).and_then(|bytes| {
        let engine = source::engine()?;
        engine
            .inspect_plugin(&bytes, limits)
            .map_err(|e| format!("{}: {e}", output::path(path)))
    });
    let inspection = match inspection {
        Ok(i) => i,
        Err(e) => {
            output::error(&e);
            return exit::ERROR;
        }
    };
    let code = if inspection.refused.is_some() {
        exit::ERROR
    } else {
        exit::OK
    };
    match format {
        Format::Json => match serde_json::to_string_pretty(&inspection) {
            Ok(text) => output::print_or_error(&format!("{text}\n"), false, code),
            Err(e) => {
                output::error(&format!("cannot write JSON: {e}"));
                exit::ERROR
            }
        },
        Format::Human => output::print_or_error(&human(path, &inspection), true, code),
    }
}

fn human(path: &Path, i: &PluginInspection) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", output::path(path));
    let _ = writeln!(s, "  size      {} bytes", i.size);
    let _ = writeln!(s, "  sha256    {}", i.sha256);
    let _ = writeln!(
        s,
        "  contract  palisade:policy {}{}",
        i.contract
            .as_deref()
            .map_or("(none imported)".into(), escape),
        if i.contract.as_deref() == Some(palisade_engine::CONTRACT_VERSION) {
            String::new()
        } else {
            format!(" (this host runs {})", palisade_engine::CONTRACT_VERSION)
        }
    );
    match &i.refused {
        Some(why) => {
            let _ = writeln!(s, "  REFUSED   {}", escape(why));
        }
        None => {
            let _ = writeln!(s, "  loads     yes");
        }
    }
    let _ = writeln!(s, "  imports");
    for imp in &i.imports {
        let _ = writeln!(
            s,
            "    {} {}",
            if imp.allowed { "ok     " } else { "REFUSED" },
            escape(&imp.name)
        );
    }
    let _ = writeln!(s, "  exports   {}", escape(&i.exports.join(", ")));
    if let Some(m) = &i.metadata {
        let kinds: Vec<String> = m.applies_to.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            s,
            "  metadata  {} {}, applies to {}",
            escape(&m.name),
            escape(&m.version),
            kinds.join(", ")
        );
        let _ = writeln!(s, "  rules");
        for r in m.rules.values() {
            let _ = writeln!(
                s,
                "    {:<8} {:<22} {}  {}",
                r.severity,
                r.category.as_str(),
                escape(&r.id),
                escape(&r.title)
            );
        }
    }
    if let Some(t) = &i.trial {
        let _ = writeln!(
            s,
            "  trial     {} input `{{}}`: instantiate {} µs, call {} µs, fuel {}, peak memory {} KiB",
            t.kind,
            t.instantiate_us,
            t.call_us,
            t.fuel,
            t.peak_memory_bytes >> 10
        );
        if let Some(summary) = &t.returned {
            let _ = writeln!(s, "            {}", escape(summary));
        }
        if let Some(e) = &t.error {
            let _ = writeln!(s, "            failed: {}", escape(e));
        }
    }
    s
}
