//! `palisade authorize`

use crate::cli::{AuthorizeArgs, Format};
use crate::exit;
use crate::output;
use crate::source::{self, LoadError};
use output::escape;
use palisade_engine::AuthorizationRequest;
use std::path::Path;

/// A request or context file (`-`: standard input), bounded in size.
fn read_text(path: &Path) -> Result<String, String> {
    source::read_side_file(path)
}

fn request(args: &AuthorizeArgs) -> Result<AuthorizationRequest, String> {
    if let Some(path) = &args.request_json {
        let text = read_text(path)?;
        return AuthorizationRequest::from_json(&text)
            .map_err(|e| format!("{}: {}", output::path(path), escape(&e.to_string())));
    }
    let (Some(p), Some(a), Some(r)) = (&args.principal, &args.action, &args.resource) else {
        return Err("give --request-json FILE, or --principal, --action and --resource".into());
    };
    let mut req =
        AuthorizationRequest::new(p, a, r).map_err(|e| escape(&e.to_string()).into_owned())?;
    if let Some(path) = &args.context {
        let text = read_text(path)?;
        let v = palisade_engine::json::parse(&text).map_err(|e| {
            format!(
                "{}:{}:{}: invalid JSON: {}",
                output::path(path),
                e.line(),
                e.column(),
                palisade_engine::json::message(&e)
            )
        })?;
        req = req
            .with_context(v)
            .map_err(|e| format!("{}: {}", output::path(path), escape(&e.to_string())))?;
    }
    Ok(req)
}

pub fn execute(args: &AuthorizeArgs) -> u8 {
    let now = match source::now(args.now.as_deref()) {
        Ok(n) => n,
        Err(code) => return code,
    };
    let req = match request(args) {
        Ok(r) => r,
        Err(e) => {
            output::error(&e);
            return exit::ERROR;
        }
    };
    // Only a bundle archive carries a signature: policies named on the
    // command line would run unverified.
    if !args.verify_keys.is_empty() && args.bundle.is_none() {
        output::error("--verify-key needs --bundle (a signed archive)");
        return exit::ERROR;
    }
    let engine = match source::engine() {
        Ok(e) => e,
        Err(e) => {
            output::error(&e);
            return exit::ERROR;
        }
    };
    let bundle = if let Some(spec) = &args.bundle {
        source::load_verified(&engine, spec, &args.verify_keys).map(|l| l.bundle)
    } else if let Some(p) = &args.policies {
        match source::ad_hoc_bundle(p, args.schema.as_deref(), args.entities.as_deref()) {
            Ok(src) => engine.load_bundle_from(&src).map_err(LoadError::Bundle),
            Err(e) => Err(LoadError::Usage(e)),
        }
    } else {
        Err(LoadError::Usage(
            "give --bundle DIR or --policies FILE|DIR".into(),
        ))
    };
    let bundle = match bundle {
        Ok(b) => b,
        Err(e) => {
            e.print();
            return exit::ERROR;
        }
    };
    let decision = match bundle.authorize(&req, now) {
        Ok(d) => d,
        Err(e) => {
            output::error(&escape(&e.to_string()));
            return exit::ERROR;
        }
    };
    // JSON byte for byte on a raw handle; the human output escapes every
    // part that came from the request or the bundle.
    if args.plugin_logs {
        output::plugin_logs(&decision.plugin_logs);
    }
    let written = match args.format {
        Format::Json if args.plugin_logs => {
            output::to_stdout(&format!("{}\n", decision.to_json_with_plugin_logs()), false)
        }
        Format::Json => output::to_stdout(&format!("{}\n", decision.to_json()), false),
        Format::Human => {
            let subject = format!(
                "{} → {} → {}",
                escape(&req.principal.to_string()),
                escape(&req.action.to_string()),
                escape(&req.resource.to_string())
            );
            output::to_stdout(&output::decision_human(&decision, &subject), true)
        }
    };
    if let Err(e) = written {
        output::error(&e);
        return exit::ERROR;
    }
    if decision.is_allowed() {
        exit::OK
    } else {
        exit::DENY
    }
}
