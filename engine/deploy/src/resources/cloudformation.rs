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
    for (id, res) in resources {
        let Some(kind) = res.get("Type").and_then(Value::as_str) else {
            continue;
        };
        let mut properties = res
            .get("Properties")
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
        out.push(Resource::new(
            id.clone(),
            kind,
            properties,
            format!("{base}/{}", escape(id)),
        ));
    }
    out
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
