//! Deployable resources: what a deployment file creates, as Cedar entities.
//!
//! Each resource becomes one entity whose type is the CloudFormation type
//! (`AWS::Lambda::Function::"Orders"` is a valid Cedar entity uid) and one
//! Cedar request `deploy` by the deployer. Its attributes are the resource's
//! `Properties` as written (SAM `Globals` applied), so policies read them
//! directly: `resource.properties.Runtime`, `resource.properties has
//! TracingConfig`.

mod cloudformation;
mod conditions;
mod facts;
mod refs;
mod serverless;
mod terraform;
mod variables;

use crate::document::{Document, DocumentFormat};
use cedar_policy::{Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression};
use palisade_engine::values::{from_json as json_to_cedar, known_type};
use palisade_engine::{DeployedResource, PluginInput};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;

/// One resource a deployment creates.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resource {
    /// Logical id, e.g. `OrdersFunction` (a Terraform address for plans).
    pub logical_id: String,
    /// CloudFormation type, e.g. `AWS::Serverless::Function`.
    pub kind: String,
    /// Properties, with SAM globals merged in.
    pub properties: Value,
    /// JSON pointer of the resource in its document.
    pub pointer: String,
    /// Facts derived from the whole deployment (see `facts`).
    pub facts: Map<String, Value>,
    /// What invokes a function, when the input format says it outside the
    /// function's properties (Serverless Framework events).
    pub triggers: Vec<Trigger>,
    /// Generated from settings spread over the file (the Serverless
    /// Framework's shared role and API stages): its pointer is where the
    /// settings are, not a block that holds everything about it.
    pub generated: bool,
}

impl Resource {
    fn new(logical_id: String, kind: &str, properties: Value, pointer: String) -> Resource {
        Resource {
            logical_id,
            kind: kind.to_owned(),
            properties,
            pointer,
            facts: Map::new(),
            triggers: Vec::new(),
            generated: false,
        }
    }
}

/// Something that invokes a function.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Trigger {
    /// An API route.
    Route {
        method: String,
        path: String,
        auth: RouteAuth,
    },
    /// An asynchronous event source (`S3`, `SNS`, `Schedule`, ...).
    Async(String),
    /// A Serverless Framework `http` event whose CORS lets this origin
    /// (a wildcard) call the route from any web page.
    CorsOrigin(String),
}

/// How an API route authenticates its callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteAuth {
    /// An authorizer (JWT, Cognito, Lambda, IAM).
    Authorizer,
    /// Only an API key, which identifies but does not authenticate.
    ApiKeyOnly,
    /// Nothing.
    None,
}

impl Document {
    /// The resources this document creates, as a check sees them: logical
    /// ids (Terraform addresses for plans) and CloudFormation types, in
    /// document order, including those that SAM and the Serverless
    /// Framework generate (`ApiLambdaFunction`).
    ///
    /// # Examples
    /// ```
    /// use palisade_deploy::Document;
    /// let doc = Document::parse("t.yaml", "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n")?;
    /// assert_eq!(doc.resources(), [("Q".to_owned(), "AWS::SQS::Queue".to_owned())]);
    /// # Ok::<(), palisade_deploy::ParseError>(())
    /// ```
    pub fn resources(&self) -> Vec<(String, String)> {
        resources(self)
            .into_iter()
            .map(|r| (r.logical_id, r.kind))
            .collect()
    }

    /// What a deployment plugin is given for this document: the document
    /// as JSON text and its normalized resources (what [`crate::check`]
    /// hands every plugin; `palisade plugin test` uses it to run one).
    ///
    /// # Examples
    /// ```
    /// use palisade_deploy::Document;
    /// let doc = Document::parse("t.yaml", "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n")?;
    /// let input = doc.plugin_input();
    /// assert_eq!(input.resources[0].logical_id, "Q");
    /// assert_eq!(input.resources[0].pointer, "/Resources/Q");
    /// # Ok::<(), palisade_deploy::ParseError>(())
    /// ```
    pub fn plugin_input(&self) -> PluginInput<'static> {
        plugin_input(self, &resources(self))
    }
}

/// The plugin input of `doc`, whose resources are `resources`.
pub(crate) fn plugin_input(doc: &Document, resources: &[Resource]) -> PluginInput<'static> {
    PluginInput::new(doc.value.to_string()).with_resources(
        resources
            .iter()
            .map(|r| {
                DeployedResource::new(
                    r.kind.clone(),
                    r.logical_id.clone(),
                    r.properties.to_string(),
                    r.pointer.clone(),
                )
            })
            .collect(),
    )
}

/// The resources of a document, in document order, with their facts.
pub(crate) fn resources(doc: &Document) -> Vec<Resource> {
    resources_of(doc.format, &doc.value)
}

fn resources_of(format: DocumentFormat, value: &Value) -> Vec<Resource> {
    let mut out = match format {
        DocumentFormat::CloudFormation => cloudformation::resources(value, "/Resources"),
        DocumentFormat::ServerlessFramework => serverless::resources(value),
        DocumentFormat::TerraformPlan => terraform::resources(value),
        DocumentFormat::Unknown => Vec::new(),
    };
    facts::derive(&mut out);
    out
}

/// Judges `doc` in each way it can deploy when it depends on
/// CloudFormation conditions (`Fn::If`, resource `Condition`s,
/// `AWS::NoValue`): `judge` gets, per combination of the conditions, the
/// resources that combination changes (all of them the first time) and
/// its index. Returns `Ok(None)` when the document depends on none, else
/// the conditions (to say when a finding holds).
pub(crate) fn each_variant(
    doc: &Document,
    mut judge: impl FnMut(&[Resource], usize),
) -> Result<Option<(conditions::Conditions<'_>, Vec<Judged>)>, String> {
    const CFN: &[&[&str]] = &[&["Resources"]];
    const SLS: &[&[&str]] = &[&["resources", "Resources"]];
    let (at, resources): (&[&str], &[&[&str]]) = match doc.format {
        DocumentFormat::CloudFormation => (&["Conditions"], CFN),
        DocumentFormat::ServerlessFramework => (&["resources", "Conditions"], SLS),
        DocumentFormat::TerraformPlan | DocumentFormat::Unknown => return Ok(None),
    };
    let Some(conditions) = conditions::Conditions::of(&doc.value, at, resources)? else {
        return Ok(None);
    };
    let mut judged = Vec::new();
    // The first variant's resources, and where each is by logical id.
    let mut first: Vec<Resource> = Vec::new();
    let mut first_at: HashMap<String, usize> = HashMap::new();
    for (i, bits) in conditions.combinations().iter().enumerate() {
        let mut variant = resources_of(doc.format, &conditions.variant(bits));
        let mut absent = BTreeSet::new();
        if i > 0 {
            let present: HashSet<&str> = variant.iter().map(|r| r.logical_id.as_str()).collect();
            absent = first
                .iter()
                .filter(|b| !present.contains(b.logical_id.as_str()))
                .map(|b| b.logical_id.clone())
                .collect();
            variant.retain(|r| first_at.get(&r.logical_id).and_then(|&j| first.get(j)) != Some(r));
        }
        judged.push(Judged {
            again: variant.iter().map(|r| r.logical_id.clone()).collect(),
            absent,
        });
        judge(&variant, i);
        if i == 0 {
            first_at = variant
                .iter()
                .enumerate()
                .map(|(j, r)| (r.logical_id.clone(), j))
                .collect();
            first = variant;
        }
    }
    Ok(Some((conditions, judged)))
}

/// What one variant judged: the resources it judged again (the first
/// variant: all), and those of the first that it does not have; its
/// other resources are as in the first variant.
pub(crate) struct Judged {
    pub again: BTreeSet<String>,
    pub absent: BTreeSet<String>,
}

/// `text` cut to 200 characters for a message.
pub(crate) fn shorten(text: &str) -> String {
    palisade_engine::shorten(text, 200)
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
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
        if let Some(f) = json_to_cedar(&Value::Object(r.facts.clone())) {
            attrs.insert("facts".to_owned(), f);
        }
        // `resource.runtime` is an entity, so a bundle can describe runtimes
        // in its entities (end of support dates) and rules can read them.
        if let Some(runtime) = r.properties.get("Runtime").and_then(Value::as_str) {
            attrs.insert(
                "runtime".to_owned(),
                RestrictedExpression::new_entity_uid(palisade_engine::values::uid(
                    "Runtime", runtime,
                )),
            );
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
                "IamRoleLambdaExecution",
                "Queue"
            ]
        );
        assert_eq!(r[0].properties["AuthType"], "NONE");
        assert_eq!(r[2].properties["AuthType"], "AWS_IAM");
        assert_eq!(
            r[1].properties,
            json!({"Runtime": "nodejs16.x", "Environment": {"Variables": {"STAGE": "${sls:stage}", "DB_PASSWORD": "${ssm:/orders/db}"}}, "TracingConfig": {"Mode": "Active"}, "Role": {"Fn::GetAtt": ["IamRoleLambdaExecution", "Arn"]}})
        );
        assert_eq!(r[3].properties["Runtime"], "nodejs22.x");
        assert_eq!(r[3].properties["ReservedConcurrentExecutions"], 5);
        assert_eq!(r[1].pointer, "/functions/get-order");
        assert_eq!(doc.line_of(&r[1].pointer), Some(10));
        assert_eq!(r[5].pointer, "/resources/Resources/Queue");
        assert_eq!(
            r[1].facts["role_shared_with"], 1,
            "one role for the service"
        );
    }

    #[test]
    fn serverless_roles_routes_and_stages() {
        let doc = Document::parse(
            "serverless.yml",
            r#"
service: orders
provider:
  name: aws
  logs: { restApi: true }
  iam:
    role:
      statements:
        - { Effect: Allow, Action: "*", Resource: "*" }
functions:
  api:
    handler: h.api
    events:
      - http: { path: orders, method: get, authorizer: aws_iam }
      - http: { path: orders, method: post }
      - http: { path: orders, method: options }
      - http: { path: keyed, method: get, private: true }
      - httpApi: "PUT /orders/{id}"
      - s3: uploads
  worker:
    handler: h.work
    iamRoleStatements:
      - { Effect: Allow, Action: ["sqs:SendMessage"], Resource: "*" }
    destinations: { onFailure: arn:aws:sqs:eu-west-1:1:dlq }
    events:
      - sns: topic
"#,
        )
        .unwrap();
        let r = resources(&doc);
        let by: HashMap<&str, &Resource> = r.iter().map(|r| (r.logical_id.as_str(), r)).collect();
        let api = &by["ApiLambdaFunction"].facts;
        assert_eq!(
            api["unauthenticated_routes"],
            json!(["POST /orders", "PUT /orders/{id}"])
        );
        assert_eq!(api["api_key_only_routes"], json!(["GET /keyed"]));
        assert_eq!(api["async_sources"], json!(["S3"]));
        assert_eq!(api["on_failure"], false);
        assert_eq!(api["role_shared_with"], 0);
        let worker = &by["WorkerLambdaFunction"];
        assert_eq!(worker.facts["on_failure"], true);
        assert_eq!(
            by["WorkerIamRoleLambdaExecution"].facts["wildcard_resource_writes"],
            json!(["sqs:SendMessage"])
        );
        let shared = by["IamRoleLambdaExecution"];
        assert_eq!(shared.facts["wildcard_actions"], json!(["*"]));
        assert_eq!(doc.line_of(&shared.pointer), Some(8));
        assert_eq!(
            by["ApiGatewayStage"].properties,
            json!({
                "AccessLogSetting": {"Format": "serverless"},
                "MethodSettings": [{"HttpMethod": "*", "ResourcePath": "/*", "LoggingLevel": "INFO"}],
                "RestApiId": {"Ref": "ApiGatewayRestApi"}
            })
        );
        assert!(by.contains_key("HttpApiStage"));
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
