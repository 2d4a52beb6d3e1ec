//! `palisade report`

use crate::cli::{ComplianceArgs, ReportCommand, ReportFormat};
use crate::compliance::{Measured, Report};
use crate::exit;
use crate::output::{self, escape};
use crate::source;
use palisade_deploy::CheckOptions;

pub fn execute(cmd: &ReportCommand) -> u8 {
    match cmd {
        ReportCommand::Compliance(args) => compliance(args),
    }
}

fn compliance(args: &ComplianceArgs) -> u8 {
    let now = match source::now(args.now.as_deref()) {
        Ok(n) => n,
        Err(code) => return code,
    };
    let principal = match source::principal(&args.principal) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let files = if args.paths.is_empty() {
        Vec::new()
    } else {
        match source::collect_inputs(&args.paths) {
            Ok(f) => f,
            Err(e) => {
                output::error(&e);
                return exit::ERROR;
            }
        }
    };
    let others: Vec<&std::path::Path> = args.waivers.iter().map(|p| p.as_path()).collect();
    if let Some(out) = &args.output
        && let Err(e) = source::refuse_input_as_output(out, &files, &others)
            .and_then(|()| source::refuse_output_in_bundle(out, &args.bundle, &args.verify_keys))
    {
        output::error(&e);
        return exit::ERROR;
    }
    let waivers = match super::check::read_waivers(args.waivers.as_deref(), now) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let (_, bundle) = match source::engine_and_verified_bundle(&args.bundle, &args.verify_keys) {
        Ok(eb) => eb,
        Err(code) => return code,
    };
    super::check::warn_unknown_waivers(&waivers, args.waivers.as_deref(), &bundle);
    let Some(controls) = bundle.controls() else {
        output::error(&format!(
            "bundle `{}` has no controls table: name one in palisade.toml (`[bundle] controls = \"controls.json\"`); see README.md, \"Compliance report\"",
            escape(bundle.name())
        ));
        return exit::ERROR;
    };
    let (docs, unreadable) = super::check::parse_documents(&files, args.max_file_size, None);
    if !args.paths.is_empty() && docs.is_empty() && unreadable.is_empty() {
        output::error(
            "no deployment files found (CloudFormation/SAM templates in .yaml, .yml, .json or .template)",
        );
        return exit::ERROR;
    }
    let decision;
    let measured = if args.paths.is_empty() {
        None
    } else {
        let options = CheckOptions {
            principal,
            waivers,
            ..CheckOptions::default()
        };
        let mut d = palisade_deploy::check(&bundle, &docs, &options, now);
        for message in &unreadable {
            d.invalid_input(message.clone());
        }
        decision = d;
        Some(Measured {
            inventory: docs
                .iter()
                .map(|d| (d.file.clone(), palisade_deploy::inventory(d)))
                .collect(),
            decision: &decision,
        })
    };
    let report = Report::new(&bundle, controls, measured.as_ref());
    let text = match args.format {
        ReportFormat::Json => report.json(),
        ReportFormat::Markdown => report.markdown(),
        ReportFormat::Html => report.html(),
    };
    let written = match &args.output {
        Some(path) => source::write_atomically(path, text.as_bytes()),
        None => output::to_stdout(&text, false),
    };
    if let Err(e) = written {
        output::error(&e);
        return exit::ERROR;
    }
    if report.has_errors() {
        output::error(
            "plugins failed or inputs were invalid while measuring: the counts are incomplete (the errors are in the report)",
        );
        return exit::ERROR;
    }
    if !unreadable.is_empty() {
        return exit::ERROR;
    }
    exit::OK
}
