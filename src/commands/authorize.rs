//! `palisade authorize`

use crate::cli::{AuthorizeArgs, Format};
use crate::exit;
use crate::output;
use crate::source::{self, LoadError};
use palisade_engine::AuthorizationRequest;
use std::io::Read as _;
use std::path::Path;

fn read_text(path: &Path) -> Result<String, String> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        return Ok(s);
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

fn request(args: &AuthorizeArgs) -> Result<AuthorizationRequest, String> {
    if let Some(path) = &args.request_json {
        let text = read_text(path)?;
        return AuthorizationRequest::from_json(&text)
            .map_err(|e| format!("{}: {e}", path.display()));
    }
    let (Some(p), Some(a), Some(r)) = (&args.principal, &args.action, &args.resource) else {
        return Err("give --request-json FILE, or --principal, --action and --resource".into());
    };
    let mut req = AuthorizationRequest::new(p, a, r).map_err(|e| e.to_string())?;
    if let Some(path) = &args.context {
        let text = read_text(path)?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}:{}:{}: invalid JSON: {e}",
                path.display(),
                e.line(),
                e.column()
            )
        })?;
        req = req
            .with_context(v)
            .map_err(|e| format!("{}: {e}", path.display()))?;
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
    let engine = match source::engine() {
        Ok(e) => e,
        Err(e) => {
            output::error(&e);
            return exit::ERROR;
        }
    };
    let bundle = if let Some(spec) = &args.bundle {
        source::load_bundle(&engine, spec)
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
        Err(LoadError::Usage(e)) => {
            output::error(&e);
            return exit::ERROR;
        }
        Err(LoadError::Bundle(e)) => {
            output::bundle_error(&e);
            return exit::ERROR;
        }
    };
    let decision = match engine.authorize(&bundle, &req, now) {
        Ok(d) => d,
        Err(e) => {
            output::error(&e.to_string());
            return exit::ERROR;
        }
    };
    match args.format {
        Format::Json => println!("{}", decision.to_json()),
        Format::Human => {
            let subject = format!("{} → {} → {}", req.principal, req.action, req.resource);
            anstream::print!("{}", output::decision_human(&decision, &subject));
        }
    }
    if decision.is_allowed() {
        exit::OK
    } else {
        exit::DENY
    }
}
