//! Deployable resources: what a deployment file creates, as Cedar entities.
//!
//! Each resource becomes one entity whose type is the CloudFormation type
//! (`AWS::Lambda::Function::"Orders"` is a valid Cedar entity uid) and one
//! Cedar request `deploy` by the deployer. Its attributes are the resource's
//! `Properties` as written (SAM `Globals` applied), so policies read them
//! directly: `resource.properties.Runtime`, `resource.properties has
//! TracingConfig`.

use crate::document::{Document, DocumentFormat};
use crate::policies::{json_to_cedar, known_type};
use cedar_policy::{Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;

/// One resource a deployment creates.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resource {
    /// Logical id, e.g. `OrdersFunction`.
    pub logical_id: String,
    /// CloudFormation type, e.g. `AWS::Serverless::Function`.
    pub kind: String,
    /// Properties, with SAM globals merged in.
    pub properties: Value,
    /// JSON pointer of the resource in its document.
    pub pointer: String,
}

/// The resources of a document, in document order.
pub(crate) fn resources(doc: &Document) -> Vec<Resource> {
    match doc.format {
        DocumentFormat::CloudFormation => cloudformation(&doc.value, "/Resources"),
        DocumentFormat::ServerlessFramework => serverless(&doc.value),
        _ => Vec::new(),
    }
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Serverless Framework: each function becomes the `AWS::Lambda::Function`
/// (and `AWS::Lambda::Url`) the framework would generate, with provider
/// settings inherited; `resources.Resources` is plain CloudFormation.
/// Unresolved `${...}` variables stay as they are.
fn serverless(doc: &Value) -> Vec<Resource> {
    let provider = doc.get("provider").and_then(Value::as_object);
    let from_provider = |key: &str| provider.and_then(|p| p.get(key)).cloned();
    let mut out = Vec::new();
    if let Some(functions) = doc.get("functions").and_then(Value::as_object) {
        for (name, f) in functions {
            let own = |key: &str| f.get(key).cloned();
            let mut props = Map::new();
            if let Some(runtime) = own("runtime").or_else(|| from_provider("runtime")) {
                props.insert("Runtime".into(), runtime);
            }
            let mut env = Map::new();
            for source in [from_provider("environment"), own("environment")]
                .into_iter()
                .flatten()
            {
                if let Value::Object(vars) = source {
                    env.extend(vars);
                }
            }
            if !env.is_empty() {
                props.insert(
                    "Environment".into(),
                    serde_json::json!({ "Variables": env }),
                );
            }
            if let Some(key) = own("kmsKeyArn").or_else(|| from_provider("kmsKeyArn")) {
                props.insert("KmsKeyArn".into(), key);
            }
            if let Some(n) = own("reservedConcurrency") {
                props.insert("ReservedConcurrentExecutions".into(), n);
            }
            let tracing = provider
                .and_then(|p| p.get("tracing"))
                .and_then(|t| t.get("lambda"))
                .cloned()
                .or_else(|| own("tracing"));
            if matches!(tracing, Some(Value::Bool(true)))
                || tracing.as_ref().and_then(Value::as_str) == Some("Active")
            {
                props.insert(
                    "TracingConfig".into(),
                    serde_json::json!({ "Mode": "Active" }),
                );
            }
            let pointer = format!("/functions/{}", escape(name));
            let logical = logical_id(name);
            if let Some(url) = own("url") {
                let iam = url.get("authorizer").and_then(Value::as_str) == Some("aws_iam");
                if url != Value::Bool(false) {
                    out.push(Resource {
                        logical_id: format!("{logical}LambdaFunctionUrl"),
                        kind: "AWS::Lambda::Url".into(),
                        properties: serde_json::json!({
                            "AuthType": if iam { "AWS_IAM" } else { "NONE" },
                            "TargetFunctionArn": format!("{logical}LambdaFunction"),
                        }),
                        pointer: format!("{pointer}/url"),
                    });
                }
            }
            out.push(Resource {
                logical_id: format!("{logical}LambdaFunction"),
                kind: "AWS::Lambda::Function".into(),
                properties: Value::Object(props),
                pointer,
            });
        }
    }
    if let Some(resources) = doc.get("resources") {
        out.extend(cloudformation(resources, "/resources/Resources"));
    }
    out
}

/// The logical id the Serverless Framework gives a function: its name with
/// the first letter upper-cased, `-` as `Dash` and `_` as `Underscore`.
fn logical_id(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        match c {
            '-' => out.push_str("Dash"),
            '_' => out.push_str("Underscore"),
            c if i == 0 => out.extend(c.to_uppercase()),
            c => out.push(c),
        }
    }
    out
}

fn cloudformation(template: &Value, base: &str) -> Vec<Resource> {
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
        out.push(Resource {
            logical_id: id.clone(),
            kind: kind.to_owned(),
            properties,
            pointer: format!("{base}/{}", escape(id)),
        });
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

/// A Cedar entity type for a CloudFormation type (`AWS::Lambda::Function`);
/// types that are not valid Cedar names become `Resource`.
pub(crate) fn entity_type(kind: &str) -> EntityTypeName {
    EntityTypeName::from_str(kind).unwrap_or_else(|_| known_type("Resource"))
}

pub(crate) fn uid(r: &Resource) -> EntityUid {
    EntityUid::from_type_name_and_id(entity_type(&r.kind), EntityId::new(&r.logical_id))
}

/// The entities of the resources of one document: attributes `logical_id`,
/// `type` and `properties`.
pub(crate) fn entities(resources: &[Resource]) -> Vec<Entity> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for r in resources {
        let uid = uid(r);
        if !seen.insert(uid.clone()) {
            continue;
        }
        let mut attrs = HashMap::new();
        attrs.insert(
            "logical_id".to_owned(),
            RestrictedExpression::new_string(r.logical_id.clone()),
        );
        attrs.insert(
            "type".to_owned(),
            RestrictedExpression::new_string(r.kind.clone()),
        );
        if let Some(p) = json_to_cedar(&r.properties) {
            attrs.insert("properties".to_owned(), p);
        }
        if let Ok(e) = Entity::new(uid, attrs, HashSet::new()) {
            out.push(e);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sam_globals_apply_to_every_function_and_the_function_wins() {
        let doc = Document::parse(
            "t.yaml",
            "Transform: AWS::Serverless-2016-10-31\nGlobals:\n  Function:\n    Runtime: python3.12\n    Tracing: Active\n    Environment:\n      Variables:\n        A: '1'\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: nodejs20.x\n      Environment:\n        Variables:\n          B: '2'\n  Q:\n    Type: AWS::SQS::Queue\n",
        )
        .unwrap();
        let r = resources(&doc);
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0].properties,
            json!({"Runtime": "nodejs20.x", "Environment": {"Variables": {"B": "2", "A": "1"}}, "Tracing": "Active"})
        );
        assert_eq!(
            r[1].properties,
            json!({}),
            "globals are for SAM resources only"
        );
        assert_eq!(uid(&r[0]).to_string(), r#"AWS::Serverless::Function::"F""#);
        assert_eq!(r[1].pointer, "/Resources/Q");
    }

    #[test]
    fn serverless_functions_inherit_provider_settings() {
        let doc = Document::parse(
            "serverless.yml",
            "service: orders\nprovider:\n  name: aws\n  runtime: nodejs16.x\n  environment:\n    STAGE: ${sls:stage}\n  tracing:\n    lambda: true\nfunctions:\n  get-order:\n    handler: h.get\n    url: true\n    environment:\n      DB_PASSWORD: ${ssm:/orders/db}\n  list_orders:\n    handler: h.list\n    runtime: nodejs22.x\n    reservedConcurrency: 5\n    url:\n      authorizer: aws_iam\nresources:\n  Resources:\n    Queue:\n      Type: AWS::SQS::Queue\n",
        )
        .unwrap();
        let r = resources(&doc);
        let ids: Vec<&str> = r.iter().map(|r| r.logical_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "GetDashorderLambdaFunctionUrl",
                "GetDashorderLambdaFunction",
                "ListUnderscoreordersLambdaFunctionUrl",
                "ListUnderscoreordersLambdaFunction",
                "Queue"
            ]
        );
        assert_eq!(r[0].properties["AuthType"], "NONE");
        assert_eq!(r[2].properties["AuthType"], "AWS_IAM");
        assert_eq!(
            r[1].properties,
            json!({"Runtime": "nodejs16.x", "Environment": {"Variables": {"STAGE": "${sls:stage}", "DB_PASSWORD": "${ssm:/orders/db}"}}, "TracingConfig": {"Mode": "Active"}})
        );
        assert_eq!(r[3].properties["Runtime"], "nodejs22.x");
        assert_eq!(r[3].properties["ReservedConcurrentExecutions"], 5);
        assert_eq!(r[1].pointer, "/functions/get-order");
        assert_eq!(doc.line_of(&r[1].pointer), Some(10));
        assert_eq!(r[4].pointer, "/resources/Resources/Queue");
    }

    #[test]
    fn odd_types_fall_back_to_resource() {
        assert_eq!(entity_type("Custom::My-Thing").to_string(), "Resource");
        assert_eq!(
            entity_type("AWS::SNS::Topic").to_string(),
            "AWS::SNS::Topic"
        );
    }
}
