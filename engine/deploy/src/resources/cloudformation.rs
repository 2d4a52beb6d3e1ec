//! CloudFormation and SAM templates: every resource as written, with SAM
//! `Globals` merged into the resources they apply to.

use super::{Resource, escape};
use serde_json::{Map, Value};

pub(crate) fn resources(template: &Value, base: &str) -> Vec<Resource> {
    let Some(resources) = template.get("Resources").and_then(Value::as_object) else {
        return Vec::new();
    };
    let globals = template.get("Globals").and_then(Value::as_object);
    let mut out = Vec::new();
    // Where the first event that needs SAM's implicit REST and HTTP APIs is.
    let mut implicit: [Option<String>; 2] = [None, None];
    for (id, res) in resources {
        let Some(kind) = res.get("Type").and_then(Value::as_str) else {
            continue;
        };
        // `Properties:` left empty (null) is no properties.
        let mut properties = res
            .get("Properties")
            .filter(|p| !p.is_null())
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()));
        // SAM: `Globals.Function` applies to every AWS::Serverless::Function
        // (the resource's own values win; maps merge), likewise Api/HttpApi.
        let section = match kind {
            "AWS::Serverless::Function" => Some("Function"),
            "AWS::Serverless::Api" => Some("Api"),
            "AWS::Serverless::HttpApi" => Some("HttpApi"),
            "AWS::Serverless::SimpleTable" => Some("SimpleTable"),
            _ => None,
        };
        if let (Some(section), Some(globals)) = (section, globals)
            && let Some(defaults) = globals.get(section)
        {
            properties = merge_defaults(defaults, properties);
        }
        parse_policy_strings(&mut properties);
        let pointer = format!("{base}/{}", escape(id));
        if kind == "AWS::Serverless::Function" {
            note_implicit_apis(&properties, &pointer, &mut implicit);
        }
        if kind == "AWS::ApiGateway::Deployment"
            && let Some(stage) = deployment_stage(id, &properties, &pointer)
        {
            out.push(stage);
        }
        out.push(Resource::new(id.clone(), kind, properties, pointer));
    }
    // SAM creates `ServerlessRestApi` and `ServerlessHttpApi` for events
    // that name no API, with `Globals.Api` / `Globals.HttpApi` applied: the
    // stage rules judge them as the APIs they are.
    for ((id, kind, section), at) in IMPLICIT_APIS.iter().zip(implicit) {
        let Some(at) = at else { continue };
        if resources.contains_key(*id) {
            continue;
        }
        let mut properties = serde_json::json!({ "StageName": "Prod" });
        if let Some(defaults) = globals.and_then(|g| g.get(*section)) {
            properties = merge_defaults(defaults, properties);
        }
        let mut r = Resource::new((*id).to_owned(), kind, properties, at);
        r.generated = true;
        out.push(r);
    }
    out
}

/// Policy documents that CloudFormation also takes as JSON text
/// (`PolicyDocument: '{"Statement": [...]}'`), parsed so that the rules
/// read them as they read the YAML form.
fn parse_policy_strings(properties: &mut Value) {
    const DOCUMENTS: [&str; 5] = [
        "PolicyDocument",
        "AssumeRolePolicyDocument",
        "KeyPolicy",
        "ResourcePolicy",
        "Policy",
    ];
    let parse = |v: &mut Value| {
        if let Value::String(text) = v
            && text.trim_start().starts_with('{')
            && let Ok(doc @ Value::Object(_)) = serde_json::from_str::<Value>(text)
        {
            *v = doc;
        }
    };
    let Value::Object(p) = properties else { return };
    for key in DOCUMENTS {
        if let Some(v) = p.get_mut(key) {
            parse(v);
        }
    }
    if let Some(Value::Array(policies)) = p.get_mut("Policies") {
        for policy in policies {
            if let Some(v) = policy.get_mut("PolicyDocument") {
                parse(v);
            }
        }
    }
}

/// SAM's implicit APIs: (logical id, type, `Globals` section).
const IMPLICIT_APIS: [(&str, &str, &str); 2] = [
    ("ServerlessRestApi", "AWS::Serverless::Api", "Api"),
    ("ServerlessHttpApi", "AWS::Serverless::HttpApi", "HttpApi"),
];

/// Notes where a function's first `Api` / `HttpApi` event without an API
/// of its own is, the first time one is met.
fn note_implicit_apis(properties: &Value, pointer: &str, implicit: &mut [Option<String>; 2]) {
    let Some(events) = properties.get("Events").and_then(Value::as_object) else {
        return;
    };
    for (name, event) in events {
        let (slot, api_key) = match event.get("Type").and_then(Value::as_str) {
            Some("Api") => (0, "RestApiId"),
            Some("HttpApi") => (1, "ApiId"),
            _ => continue,
        };
        let own_api = event
            .get("Properties")
            .and_then(|p| p.get(api_key))
            .is_some();
        if let Some(s) = implicit.get_mut(slot)
            && s.is_none()
            && !own_api
        {
            *s = Some(format!("{pointer}/Properties/Events/{}", escape(name)));
        }
    }
}

/// The stage a REST API deployment with a `StageName` creates, described
/// by its `StageDescription` (logging, tracing, caching, throttling), so
/// that the stage rules judge it as they judge an `AWS::ApiGateway::Stage`.
/// Settings that `StageDescription` gives for every method
/// (`LoggingLevel`, `CachingEnabled`, `ThrottlingRateLimit`, ...) become a
/// `*` `/*` entry of `MethodSettings`, as on a stage.
fn deployment_stage(id: &str, p: &Value, pointer: &str) -> Option<Resource> {
    let name = p.get("StageName")?;
    let description = p.get("StageDescription").and_then(Value::as_object);
    let mut stage = Map::new();
    stage.insert("StageName".into(), name.clone());
    if let Some(api) = p.get("RestApiId") {
        stage.insert("RestApiId".into(), api.clone());
    }
    const EVERY_METHOD: [&str; 8] = [
        "CacheDataEncrypted",
        "CacheTtlInSeconds",
        "CachingEnabled",
        "DataTraceEnabled",
        "LoggingLevel",
        "MetricsEnabled",
        "ThrottlingBurstLimit",
        "ThrottlingRateLimit",
    ];
    let mut every = Map::new();
    let mut settings = Vec::new();
    for (k, v) in description.into_iter().flatten() {
        if EVERY_METHOD.contains(&k.as_str()) {
            every.insert(k.clone(), v.clone());
        } else if k == "MethodSettings" {
            settings.extend(v.as_array().into_iter().flatten().cloned());
        } else {
            stage.insert(k.clone(), v.clone());
        }
    }
    if !every.is_empty() {
        every.insert("HttpMethod".into(), Value::String("*".into()));
        every.insert("ResourcePath".into(), Value::String("/*".into()));
        settings.insert(0, Value::Object(every));
    }
    if !settings.is_empty() {
        stage.insert("MethodSettings".into(), Value::Array(settings));
    }
    let at = if description.is_some() {
        format!("{pointer}/Properties/StageDescription")
    } else {
        format!("{pointer}/Properties/StageName")
    };
    let mut r = Resource::new(
        format!("{id}.Stage"),
        "AWS::ApiGateway::Stage",
        Value::Object(stage),
        at,
    );
    r.generated = true;
    Some(r)
}

/// SAM's merge: maps merge key by key (the resource wins), anything else
/// is replaced by the resource's value.
fn merge_defaults(defaults: &Value, own: Value) -> Value {
    match (defaults, own) {
        (Value::Object(d), Value::Object(mut o)) => {
            for (k, dv) in d {
                let merged = match o.remove(k) {
                    Some(ov) => merge_defaults(dv, ov),
                    None => dv.clone(),
                };
                o.insert(k.clone(), merged);
            }
            Value::Object(o)
        }
        (_, own) => own,
    }
}
