//! The generated component bindings and the adapter that maps them onto
//! [`Plugin`]. Nothing in here is meant for plugin authors.

use core::marker::PhantomData;

use crate::json::Document;
use crate::model::{
    Category, Evaluation, Fact, FactValue, Finding, Input, InputKind, Metadata, Resource, Rule,
    Severity,
};
use crate::{Plugin, settings};

/// The bindings `wit-bindgen` generates for `wit/policy.wit`.
#[doc(hidden)]
#[allow(unsafe_code, missing_docs, clippy::all, clippy::pedantic)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugin_world",
        default_bindings_module: "palisade_plugin_sdk::__private::bindings",
    });
}

use bindings::palisade::policy::types as wit;

/// Implements the generated `Guest` trait for any [`Plugin`].
#[doc(hidden)]
pub struct Adapter<P>(PhantomData<P>);

impl<P: Plugin> bindings::Guest for Adapter<P> {
    fn metadata() -> wit::Metadata {
        P::metadata().into()
    }

    fn validate_settings(settings: String) -> Result<(), String> {
        let settings = settings::parse::<P::Settings>(&settings)?;
        P::validate_settings(&settings)
    }

    fn evaluate(input: wit::Input) -> Result<wit::Evaluation, String> {
        // The host evaluates only with settings that `validate-settings`
        // accepted when the bundle loaded: they are read, not checked again.
        let settings = settings::parse::<P::Settings>(&input.settings)?;
        let input = Input {
            kind: input.kind.into(),
            document: Document::parse(input.document)
                .map_err(|err| format!("the document is not valid JSON: {err}"))?,
            resources: input
                .resources
                .into_iter()
                .map(|r| Resource::new(r.resource_type, r.logical_id, r.properties, r.pointer))
                .collect(),
            now: input.now,
        };
        let result = P::evaluate(&input, &settings).map(Into::into);
        // Every call runs in a fresh instance that the host discards
        // afterwards, so freeing the parsed document (a walk over every
        // node) would only burn fuel.
        core::mem::forget(input);
        core::mem::forget(settings);
        result
    }
}

impl From<Category> for wit::Category {
    fn from(category: Category) -> Self {
        match category {
            Category::Secrets => Self::Secrets,
            Category::IamLeastPrivilege => Self::IamLeastPrivilege,
            Category::Authentication => Self::Authentication,
            Category::TransportEncryption => Self::TransportEncryption,
            Category::EncryptionAtRest => Self::EncryptionAtRest,
            Category::RateLimiting => Self::RateLimiting,
            Category::Logging => Self::Logging,
            Category::TracingMonitoring => Self::TracingMonitoring,
            Category::RuntimePatching => Self::RuntimePatching,
            Category::NetworkIsolation => Self::NetworkIsolation,
            Category::Resilience => Self::Resilience,
            Category::CodeIntegrity => Self::CodeIntegrity,
            Category::Other => Self::Other,
        }
    }
}

impl From<Severity> for wit::Severity {
    fn from(severity: Severity) -> Self {
        match severity {
            Severity::Info => Self::Info,
            Severity::Low => Self::Low,
            Severity::Medium => Self::Medium,
            Severity::High => Self::High,
            Severity::Critical => Self::Critical,
        }
    }
}

impl From<InputKind> for wit::InputKind {
    fn from(kind: InputKind) -> Self {
        match kind {
            InputKind::Authorization => Self::Authorization,
            InputKind::Request => Self::Request,
            InputKind::Deployment => Self::Deployment,
        }
    }
}

impl From<wit::InputKind> for InputKind {
    fn from(kind: wit::InputKind) -> Self {
        match kind {
            wit::InputKind::Authorization => Self::Authorization,
            wit::InputKind::Request => Self::Request,
            wit::InputKind::Deployment => Self::Deployment,
        }
    }
}

impl From<Rule> for wit::Rule {
    fn from(rule: Rule) -> Self {
        Self {
            id: rule.id,
            category: rule.category.into(),
            severity: rule.severity.into(),
            title: rule.title,
            remediation: rule.remediation,
            control: rule.control,
        }
    }
}

impl From<Metadata> for wit::Metadata {
    fn from(metadata: Metadata) -> Self {
        Self {
            name: metadata.name,
            version: metadata.version,
            applies_to: metadata.applies_to.into_iter().map(Into::into).collect(),
            rules: metadata.rules.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<Finding> for wit::Finding {
    fn from(finding: Finding) -> Self {
        Self {
            rule_id: finding.rule_id,
            message: finding.message,
            resource: finding.resource,
            pointer: finding.pointer,
            severity: finding.severity.map(Into::into),
        }
    }
}

impl From<FactValue> for wit::FactValue {
    fn from(value: FactValue) -> Self {
        match value {
            FactValue::Boolean(b) => Self::Boolean(b),
            FactValue::Integer(i) => Self::Integer(i),
            FactValue::Text(s) => Self::Text(s),
            FactValue::Texts(v) => Self::Texts(v),
        }
    }
}

impl From<Fact> for wit::Fact {
    fn from(fact: Fact) -> Self {
        Self {
            name: fact.name,
            value: fact.value.into(),
        }
    }
}

impl From<Evaluation> for wit::Evaluation {
    fn from(evaluation: Evaluation) -> Self {
        Self {
            findings: evaluation.findings.into_iter().map(Into::into).collect(),
            facts: evaluation.facts.into_iter().map(Into::into).collect(),
        }
    }
}

/// The host's `log` import.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn host_log(level: crate::log::Level, message: &str) {
    use bindings::palisade::policy::host;
    let level = match level {
        crate::log::Level::Debug => host::Level::Debug,
        crate::log::Level::Info => host::Level::Info,
        crate::log::Level::Warn => host::Level::Warn,
        crate::log::Level::Error => host::Level::Error,
    };
    host::log(level, message);
}
