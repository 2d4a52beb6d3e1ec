//! Facts derived from a whole deployment, for the Cedar rules to read as
//! `resource.facts.<name>`: what an IAM policy grants, which functions
//! share a role, which routes have no authorizer, whether a stage is
//! throttled or behind a firewall. They need more than one resource's
//! properties (a stage is throttled by a usage plan elsewhere in the file)
//! or a walk over lists, which Cedar's language does not do.
//!
//! Facts are neutral descriptions; the rules decide what is wrong. Set
//! facts are present only when not empty (rules test `has`), the others
//! whenever the resource is of a kind they describe.

use super::refs::{falsy, get, list, mentions, target, text, truthy};
use super::{Resource, RouteAuth, Trigger};
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap};

const FUNCTIONS: [&str; 2] = ["AWS::Lambda::Function", "AWS::Serverless::Function"];

/// Managed policies that make a role an administrator.
const ADMIN_POLICIES: [&str; 3] = ["AdministratorAccess", "PowerUserAccess", "IAMFullAccess"];

/// Verbs of actions that only read.
const READ_VERBS: [&str; 11] = [
    "Get", "List", "Describe", "BatchGet", "Query", "Scan", "Lookup", "Search", "Select", "View",
    "Head",
];

/// Reads that return secrets, credentials or whole data sets: on every
/// resource they let a function read what other teams keep (Checkov's
/// credentials-exposure and data-exfiltration checks). Lowercase.
const SENSITIVE_READS: [&str; 18] = [
    "secretsmanager:getsecretvalue",
    "ssm:getparameter",
    "ssm:getparameters",
    "ssm:getparametersbypath",
    "s3:getobject",
    "s3:getobjectversion",
    "dynamodb:scan",
    "dynamodb:query",
    "dynamodb:batchgetitem",
    "dynamodb:getitem",
    "sts:getsessiontoken",
    "sts:getfederationtoken",
    "redshift:getclustercredentials",
    "rds-db:connect",
    "kms:decrypt",
    "lambda:getfunction",
    "kinesis:getrecords",
    "sqs:receivemessage",
];

/// SAM policy templates that grant only [`SENSITIVE_READS`]-style reads;
/// the others whose names say they read (`Read`, `Describe`, `Get`,
/// `List`) grant harmless reads, and all the rest grant writes
/// (`SQSPollerPolicy` deletes messages).
const SENSITIVE_READ_TEMPLATES: [&str; 7] = [
    "AWSSecretsManagerGetSecretValuePolicy",
    "SSMParameterReadPolicy",
    "SSMParameterWithSlashPrefixReadPolicy",
    "S3ReadPolicy",
    "DynamoDBReadPolicy",
    "KMSDecryptPolicy",
    "KinesisStreamReadPolicy",
];

/// Services whose `Get*` (and friends) includes one of [`SENSITIVE_READS`].
const SENSITIVE_READ_SERVICES: [&str; 4] = ["s3", "ssm", "secretsmanager", "dynamodb"];

/// Actions that AWS only lets you grant on `*` (or grants on `*` in its
/// own managed policies: a function writing its logs, as
/// AWSLambdaBasicExecutionRole does); granting them so is not a finding.
const RESOURCE_STAR_ONLY: &[&str] = &[
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "cloudwatch:PutMetricData",
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "bedrock:InvokeModel",
    "bedrock:InvokeModelWithResponseStream",
];

/// SAM event types and Serverless Framework events that invoke a function
/// asynchronously (so failures need a dead-letter queue or destination).
pub(crate) const ASYNC_EVENTS: [&str; 9] = [
    "S3",
    "SNS",
    "EventBridgeRule",
    "CloudWatchEvent",
    "Schedule",
    "ScheduleV2",
    "IoTRule",
    "CloudWatchLogs",
    "SES",
];

/// Services whose invoke permission means asynchronous invocation.
const ASYNC_PRINCIPALS: [(&str, &str); 6] = [
    ("s3.amazonaws.com", "S3"),
    ("sns.amazonaws.com", "SNS"),
    ("events.amazonaws.com", "EventBridgeRule"),
    ("scheduler.amazonaws.com", "ScheduleV2"),
    ("iot.amazonaws.com", "IoTRule"),
    ("logs.amazonaws.com", "CloudWatchLogs"),
];

/// What resources say about each other: the cross-resource indexes that
/// facts are derived from.
#[derive(Debug, Default)]
struct Graph {
    /// How many functions share each role.
    role_users: HashMap<String, usize>,
    /// The asynchronous event sources of each function.
    async_from: HashMap<String, BTreeSet<String>>,
    /// Functions with an on-failure destination set elsewhere.
    on_failure: BTreeSet<String>,
    /// APIs and stages a usage plan or method settings throttle.
    throttled: BTreeSet<String>,
    /// Resources a WAF web ACL is associated with.
    firewalled: BTreeSet<String>,
    /// Security groups open to the world.
    open_groups: BTreeSet<String>,
    /// APIs with a private endpoint.
    private_apis: BTreeSet<String>,
    /// The default authorizer of each SAM API.
    default_auth: HashMap<String, RouteAuth>,
    /// Buckets (logical ids and names) whose bucket policy denies
    /// requests without TLS.
    tls_only_buckets: BTreeSet<String>,
    /// Buckets (logical ids and names) other buckets send access logs to.
    log_buckets: BTreeSet<String>,
    /// Queues something sends its failures to: another queue's redrive
    /// policy, a function's dead-letter queue or on-failure destination.
    dead_letter_queues: BTreeSet<String>,
    /// API Gateway v2 APIs of protocol WEBSOCKET.
    websocket_apis: BTreeSet<String>,
    /// APIs and stages whose settings (a resource of their own, as in
    /// Terraform) write execution logs for every method.
    logged: BTreeSet<String>,
    /// The OpenAPI definition (`DefinitionBody`) of each SAM API that has
    /// one inline: its `security` says which routes need an authorizer.
    definitions: HashMap<String, Value>,
    /// The routes SAM function events declare, by API: (api, METHOD,
    /// path). The function reports them; its API does not again.
    event_routes: BTreeSet<(String, String, String)>,
}

impl Graph {
    fn of(resources: &[Resource]) -> Graph {
        let mut g = Graph::default();
        let Graph {
            role_users,
            async_from,
            on_failure,
            throttled,
            firewalled,
            open_groups,
            private_apis,
            default_auth,
            tls_only_buckets,
            log_buckets,
            dead_letter_queues,
            websocket_apis,
            logged,
            definitions,
            event_routes,
        } = &mut g;
        let mentioned = |v: Option<&Value>, into: &mut BTreeSet<String>| {
            let Some(v) = v else { return };
            if let Some(name) = v.as_str() {
                into.insert(name.to_owned());
                // `arn:aws:sqs:REGION:ACCOUNT:NAME`, `arn:aws:s3:::NAME`.
                if name.starts_with("arn:")
                    && let Some(last) = name.rsplit(':').next()
                {
                    into.insert(last.to_owned());
                }
            }
            let mut m = Vec::new();
            mentions(v, &mut m);
            into.extend(m);
        };
        for r in resources {
            let p = &r.properties;
            match r.kind.as_str() {
                k if FUNCTIONS.contains(&k) => {
                    if let Some(role) = role_key(p) {
                        *role_users.entry(role).or_default() += 1;
                    }
                    for failures in [
                        get(p, "DeadLetterConfig").and_then(|d| get(d, "TargetArn")),
                        get(p, "DeadLetterQueue").and_then(|d| get(d, "TargetArn")),
                        get(p, "EventInvokeConfig")
                            .and_then(|e| get(e, "DestinationConfig"))
                            .and_then(|d| get(d, "OnFailure")),
                    ] {
                        mentioned(failures, dead_letter_queues);
                    }
                }
                "AWS::ApiGatewayV2::Api"
                    if get(p, "ProtocolType")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.eq_ignore_ascii_case("WEBSOCKET")) =>
                {
                    websocket_apis.insert(r.logical_id.clone());
                }
                "AWS::SQS::Queue" => {
                    let redrive =
                        get(p, "RedrivePolicy").and_then(|r| get(r, "deadLetterTargetArn"));
                    mentioned(redrive, dead_letter_queues);
                }
                "AWS::S3::Bucket" => {
                    let logs = get(p, "LoggingConfiguration")
                        .and_then(|l| get(l, "DestinationBucketName"));
                    mentioned(logs, log_buckets);
                }
                "AWS::S3::BucketPolicy" if denies_insecure_transport(get(p, "PolicyDocument")) => {
                    mentioned(get(p, "Bucket"), tls_only_buckets);
                }
                "AWS::Lambda::Permission" => {
                    let principal = get(p, "Principal").and_then(Value::as_str);
                    let source = ASYNC_PRINCIPALS
                        .iter()
                        .find(|(svc, _)| Some(*svc) == principal);
                    if let (Some((_, source)), Some(f)) =
                        (source, get(p, "FunctionName").and_then(target))
                    {
                        invoked_by(async_from, f, source);
                    }
                }
                "AWS::SNS::Subscription"
                    if get(p, "Protocol").and_then(Value::as_str) == Some("lambda") =>
                {
                    if let Some(f) = get(p, "Endpoint").and_then(target) {
                        invoked_by(async_from, f, "SNS");
                    }
                }
                "AWS::Events::Rule" => {
                    for t in list(get(p, "Targets")) {
                        if let Some(f) = get(t, "Arn").and_then(target) {
                            invoked_by(async_from, f, "EventBridgeRule");
                        }
                    }
                }
                "AWS::Lambda::EventInvokeConfig" => {
                    mentioned(
                        get(p, "DestinationConfig").and_then(|d| get(d, "OnFailure")),
                        dead_letter_queues,
                    );
                    if has_on_failure(get(p, "DestinationConfig"))
                        && let Some(f) = get(p, "FunctionName").and_then(target)
                    {
                        on_failure.insert(f.to_owned());
                    }
                }
                "AWS::ApiGateway::UsagePlan"
                    if get(p, "Throttle").is_some() || get(p, "Quota").is_some() =>
                {
                    let mut m = Vec::new();
                    mentions(get(p, "ApiStages").unwrap_or(&Value::Null), &mut m);
                    throttled.extend(m);
                }
                // Terraform's aws_api_gateway_method_settings, a resource of its own.
                "AWS::ApiGateway::MethodSettings" => {
                    if execution_logs(p) {
                        let mut m = Vec::new();
                        mentions(get(p, "RestApiId").unwrap_or(&Value::Null), &mut m);
                        logged.extend(m);
                    }
                    let limited = list(get(p, "MethodSettings")).iter().any(|m| {
                        [
                            get(m, "ThrottlingRateLimit"),
                            get(m, "ThrottlingBurstLimit"),
                        ]
                        .into_iter()
                        .flatten()
                        .any(|v| v.as_f64().is_some_and(|n| n > 0.0))
                    });
                    if limited {
                        let mut m = Vec::new();
                        mentions(get(p, "RestApiId").unwrap_or(&Value::Null), &mut m);
                        throttled.extend(m);
                    }
                }
                "AWS::WAFv2::WebACLAssociation" | "AWS::WAFRegional::WebACLAssociation" => {
                    let mut m = Vec::new();
                    mentions(get(p, "ResourceArn").unwrap_or(&Value::Null), &mut m);
                    firewalled.extend(m);
                }
                "AWS::EC2::SecurityGroup"
                    if list(get(p, "SecurityGroupIngress"))
                        .iter()
                        .any(open_to_world) =>
                {
                    open_groups.insert(r.logical_id.clone());
                }
                "AWS::EC2::SecurityGroupIngress" => {
                    if open_to_world(p)
                        && let Some(g) = get(p, "GroupId").and_then(target)
                    {
                        open_groups.insert(g.to_owned());
                    }
                }
                "AWS::ApiGateway::RestApi" | "AWS::Serverless::Api" => {
                    if private_endpoint(get(p, "EndpointConfiguration")) {
                        private_apis.insert(r.logical_id.clone());
                    }
                    if r.kind == "AWS::Serverless::Api" {
                        if let Some(body @ Value::Object(_)) = get(p, "DefinitionBody") {
                            definitions.insert(r.logical_id.clone(), body.clone());
                        }
                        default_auth.insert(r.logical_id.clone(), api_default_auth(p));
                        if get(p, "Auth")
                            .and_then(|a| get(a, "UsagePlan"))
                            .is_some_and(|u| {
                                get(u, "CreateUsagePlan").and_then(Value::as_str) != Some("NONE")
                            })
                        {
                            throttled.insert(r.logical_id.clone());
                        }
                    }
                }
                "AWS::Serverless::HttpApi" => {
                    if let Some(body @ Value::Object(_)) = get(p, "DefinitionBody") {
                        definitions.insert(r.logical_id.clone(), body.clone());
                    }
                    default_auth.insert(r.logical_id.clone(), api_default_auth(p));
                }
                _ => {}
            }
            if FUNCTIONS.contains(&r.kind.as_str()) {
                for e in api_events(p) {
                    if let Some(api) = e.api {
                        event_routes.insert((
                            api.to_owned(),
                            e.method.to_ascii_uppercase(),
                            e.path.to_owned(),
                        ));
                    }
                }
            }
        }
        g
    }
}

/// A route a SAM function's `Api` or `HttpApi` event declares.
struct ApiEvent<'p> {
    /// The API's logical id: SAM's implicit API when the event names none,
    /// `None` when it names one otherwise than by reference (an ARN).
    api: Option<&'p str>,
    method: &'p str,
    path: &'p str,
    /// The event's `Properties` (its `Auth`).
    properties: &'p Value,
}

/// The routes a SAM function's events (its properties `p`) declare.
fn api_events(p: &Value) -> impl Iterator<Item = ApiEvent<'_>> {
    let events = get(p, "Events").and_then(Value::as_object);
    events
        .into_iter()
        .flat_map(Map::values)
        .filter_map(|event| {
            let t = get(event, "Type").and_then(Value::as_str)?;
            let properties = get(event, "Properties").unwrap_or(&Value::Null);
            let api = match (
                t,
                get(properties, if t == "Api" { "RestApiId" } else { "ApiId" }),
            ) {
                ("Api" | "HttpApi", Some(a)) => target(a),
                ("Api", None) => Some("ServerlessRestApi"),
                ("HttpApi", None) => Some("ServerlessHttpApi"),
                _ => return None,
            };
            Some(ApiEvent {
                api,
                method: get(properties, "Method")
                    .and_then(Value::as_str)
                    .unwrap_or("ANY"),
                path: get(properties, "Path")
                    .and_then(Value::as_str)
                    .unwrap_or("/"),
                properties,
            })
        })
}

/// The routes an API's own OpenAPI definition declares that need no
/// authorizer, and those an API key alone protects: a SAM API's
/// `DefinitionBody` (its `DefaultAuthorizer` covers what the definition
/// leaves open), a REST or HTTP API's `Body`. Routes a SAM function event
/// declares are its function's to report; CORS preflight (OPTIONS) may
/// stay open.
fn definition_routes(r: &Resource, g: &Graph, facts: &mut Map<String, Value>) {
    let (definition, default) = match r.kind.as_str() {
        "AWS::Serverless::Api" | "AWS::Serverless::HttpApi" => (
            g.definitions.get(&r.logical_id),
            g.default_auth
                .get(&r.logical_id)
                .copied()
                .unwrap_or(RouteAuth::None),
        ),
        "AWS::ApiGateway::RestApi" | "AWS::ApiGatewayV2::Api" => (
            get(&r.properties, "Body").filter(|b| b.is_object()),
            RouteAuth::None,
        ),
        _ => return,
    };
    let Some(definition) = definition else { return };
    if default == RouteAuth::Authorizer {
        return;
    }
    const METHODS: [&str; 8] = [
        "get",
        "put",
        "post",
        "delete",
        "patch",
        "head",
        "options",
        "x-amazon-apigateway-any-method",
    ];
    let (mut open, mut key_only) = (BTreeSet::new(), BTreeSet::new());
    let paths = get(definition, "paths").and_then(Value::as_object);
    for (path, item) in paths.into_iter().flatten().take(10_000) {
        for method in METHODS {
            if method == "options" || get(item, method).is_none() {
                continue;
            }
            let shown = if method.starts_with("x-") {
                "ANY".to_owned()
            } else {
                method.to_ascii_uppercase()
            };
            let declared = [shown.as_str(), "ANY"].into_iter().any(|m| {
                g.event_routes
                    .contains(&(r.logical_id.clone(), m.to_owned(), path.clone()))
            });
            if declared {
                continue;
            }
            match openapi_auth(definition, path, method).unwrap_or(default) {
                RouteAuth::None => open.insert(format!("{shown} {path}")),
                RouteAuth::ApiKeyOnly => key_only.insert(format!("{shown} {path}")),
                RouteAuth::Authorizer => false,
            };
        }
    }
    insert_set(facts, "unauthenticated_routes", open);
    insert_set(facts, "api_key_only_routes", key_only);
}

/// The facts of one resource (and the SAM routes its events declare).
fn facts_of(r: &Resource, g: &Graph) -> (Map<String, Value>, Vec<Trigger>) {
    let mut facts = Map::new();
    let mut sam_routes = Vec::new();
    let kind = r.kind.as_str();
    if FUNCTIONS.contains(&kind) {
        function_facts(r, g, &mut facts, &mut sam_routes);
    }
    stage_facts(r, g, &mut facts);
    definition_routes(r, g, &mut facts);
    endpoint_facts(kind, &r.properties, &mut facts);
    grant_facts(kind, &r.properties, &mut facts);
    storage_facts(r, g, &mut facts);
    // A Secrets Manager key that is the AWS-managed one, by alias or ARN
    // (`arn:aws:kms:...:alias/aws/secretsmanager`).
    if kind == "AWS::SecretsManager::Secret"
        && get(&r.properties, "KmsKeyId")
            .and_then(literal_text)
            .is_some_and(|k| k.ends_with("alias/aws/secretsmanager"))
    {
        facts.insert("aws_managed_key".into(), Value::Bool(true));
    }
    if kind == "AWS::ApiGatewayV2::Route" {
        let api = get(&r.properties, "ApiId").and_then(target);
        facts.insert(
            "websocket".into(),
            Value::Bool(api.is_some_and(|a| g.websocket_apis.contains(a))),
        );
    }
    insert_set(
        &mut facts,
        "public_statements",
        resource_policy(kind, &r.properties)
            .map(|doc| open_statements(doc, RESOURCE_WHO_CONDITIONS))
            .unwrap_or_default(),
    );
    if kind == "AWS::Lambda::LayerVersionPermission"
        && get(&r.properties, "Principal").and_then(Value::as_str) == Some("*")
        && get(&r.properties, "OrganizationId").is_none()
    {
        facts.insert("public_statements".into(), json!(["Principal *"]));
    }
    (facts, sam_routes)
}

/// Buckets and queues: whether a bucket policy requires TLS, whether a
/// bucket receives other buckets' access logs, whether a queue is some
/// resource's dead-letter queue.
fn storage_facts(r: &Resource, g: &Graph, facts: &mut Map<String, Value>) {
    let p = &r.properties;
    let named = |set: &BTreeSet<String>| {
        set.contains(&r.logical_id)
            || get(p, "BucketName")
                .or_else(|| get(p, "QueueName"))
                .and_then(Value::as_str)
                .is_some_and(|n| set.contains(n))
    };
    match r.kind.as_str() {
        "AWS::S3::Bucket" => {
            facts.insert(
                "tls_only_policy".into(),
                Value::Bool(named(&g.tls_only_buckets)),
            );
            let log_bucket = named(&g.log_buckets)
                || get(p, "AccessControl").and_then(Value::as_str) == Some("LogDeliveryWrite");
            facts.insert("log_bucket".into(), Value::Bool(log_bucket));
        }
        "AWS::SQS::Queue" => {
            let dlq = named(&g.dead_letter_queues) || get(p, "RedriveAllowPolicy").is_some();
            facts.insert("dead_letter_queue".into(), Value::Bool(dlq));
        }
        _ => {}
    }
}

/// The resource policy of a resource that has one: who else may use it.
fn resource_policy<'v>(kind: &str, p: &'v Value) -> Option<&'v Value> {
    match kind {
        "AWS::SQS::QueuePolicy"
        | "AWS::SQS::QueueInlinePolicy"
        | "AWS::SNS::TopicPolicy"
        | "AWS::SNS::TopicInlinePolicy"
        | "AWS::S3::BucketPolicy" => get(p, "PolicyDocument"),
        "AWS::KMS::Key" => get(p, "KeyPolicy"),
        "AWS::SecretsManager::ResourcePolicy" => get(p, "ResourcePolicy"),
        // A whole policy (Terraform's), or one statement as properties.
        "AWS::Events::EventBusPolicy" => get(p, "Policy").or(Some(p)),
        _ => None,
    }
}

/// A function's facts: shared role, asynchronous sources, routes without
/// authentication, failure destination, open security groups.
fn function_facts(
    r: &Resource,
    g: &Graph,
    facts: &mut Map<String, Value>,
    sam_routes: &mut Vec<Trigger>,
) {
    let Graph {
        role_users,
        async_from,
        on_failure,
        open_groups,
        default_auth,
        ..
    } = g;
    let p = &r.properties;
    if let Some(role) = role_key(p) {
        let others = role_users
            .get(&role)
            .copied()
            .unwrap_or(1)
            .saturating_sub(1);
        facts.insert("role_shared_with".into(), json!(others));
    }
    let mut sources = async_from.get(&r.logical_id).cloned().unwrap_or_default();
    for event in get(p, "Events")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(Map::values)
    {
        let t = get(event, "Type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if ASYNC_EVENTS.contains(&t) {
            sources.insert(t.to_owned());
        }
    }
    for ApiEvent {
        api,
        method,
        path,
        properties,
    } in api_events(p)
    {
        let fallback = api
            .and_then(|a| {
                let default = default_auth.get(a).copied();
                // SAM's DefaultAuthorizer covers every event route;
                // otherwise the definition's security decides.
                if default == Some(RouteAuth::Authorizer) {
                    return default;
                }
                g.definitions
                    .get(a)
                    .and_then(|d| openapi_auth(d, path, method))
                    .or(default)
            })
            .unwrap_or(RouteAuth::None);
        sam_routes.push(Trigger::Route {
            method: method.to_uppercase(),
            path: path.to_owned(),
            auth: event_auth(get(properties, "Auth"), fallback),
        });
    }
    for t in &r.triggers {
        match t {
            Trigger::Async(source) => {
                sources.insert(source.clone());
            }
            Trigger::CorsOrigin(origin) => {
                facts.insert("cors_any_origin".into(), Value::String(origin.clone()));
            }
            Trigger::Route { .. } => {}
        }
    }
    let mut unauthenticated = BTreeSet::new();
    let mut key_only = BTreeSet::new();
    for t in r.triggers.iter().chain(sam_routes.iter()) {
        if let Trigger::Route { method, path, auth } = t {
            if method == "OPTIONS" {
                continue;
            }
            match auth {
                RouteAuth::None => unauthenticated.insert(format!("{method} {path}")),
                RouteAuth::ApiKeyOnly => key_only.insert(format!("{method} {path}")),
                RouteAuth::Authorizer => false,
            };
        }
    }
    insert_set(facts, "unauthenticated_routes", unauthenticated);
    insert_set(facts, "api_key_only_routes", key_only);
    insert_set(facts, "async_sources", sources);
    let dlq = get(p, "DeadLetterConfig")
        .and_then(|d| get(d, "TargetArn"))
        .is_some()
        || get(p, "DeadLetterQueue").is_some()
        || has_on_failure(get(p, "EventInvokeConfig").and_then(|e| get(e, "DestinationConfig")))
        || on_failure.contains(&r.logical_id);
    facts.insert("on_failure".into(), Value::Bool(dlq));
    let groups: BTreeSet<String> =
        list(get(p, "VpcConfig").and_then(|v| get(v, "SecurityGroupIds")))
            .iter()
            .filter_map(target)
            .filter(|g| open_groups.contains(*g))
            .map(str::to_owned)
            .collect();
    insert_set(facts, "open_security_groups", groups);
}

/// An API stage's facts: throttled, behind a WAF, private.
fn stage_facts(r: &Resource, g: &Graph, facts: &mut Map<String, Value>) {
    let Graph {
        throttled,
        firewalled,
        private_apis,
        ..
    } = g;
    let p = &r.properties;
    let kind = r.kind.as_str();
    if matches!(
        kind,
        "AWS::ApiGateway::Stage" | "AWS::Serverless::Api" | "AWS::ApiGateway::MethodSettings"
    ) {
        insert_set(facts, "unencrypted_cache", unencrypted_caches(p));
    }
    match kind {
        "AWS::ApiGateway::Stage" | "AWS::Serverless::Api" => {
            let api = if kind == "AWS::Serverless::Api" {
                Some(r.logical_id.as_str())
            } else {
                get(p, "RestApiId").and_then(target)
            };
            let mentioned = |set: &BTreeSet<String>| {
                set.contains(&r.logical_id) || api.is_some_and(|a| set.contains(a))
            };
            let by_settings = list(get(p, "MethodSettings")).iter().any(|m| {
                get(m, "ThrottlingRateLimit").is_some() || get(m, "ThrottlingBurstLimit").is_some()
            });
            facts.insert(
                "throttled".into(),
                Value::Bool(by_settings || mentioned(throttled)),
            );
            facts.insert("waf".into(), Value::Bool(mentioned(firewalled)));
            facts.insert(
                "execution_logs".into(),
                Value::Bool(execution_logs(p) || mentioned(&g.logged)),
            );
            facts.insert(
                "private".into(),
                Value::Bool(api.is_some_and(|a| private_apis.contains(a))),
            );
        }
        "AWS::ApiGatewayV2::Stage" | "AWS::Serverless::HttpApi" => {
            let by_default = get(p, "DefaultRouteSettings").is_some_and(|d| {
                get(d, "ThrottlingRateLimit").is_some() || get(d, "ThrottlingBurstLimit").is_some()
            });
            let by_route = get(p, "RouteSettings")
                .and_then(Value::as_object)
                .is_some_and(|routes| {
                    routes.values().any(|d| {
                        get(d, "ThrottlingRateLimit").is_some()
                            || get(d, "ThrottlingBurstLimit").is_some()
                    })
                });
            facts.insert("throttled".into(), Value::Bool(by_default || by_route));
        }
        _ => {}
    }
}

/// Whether a REST stage writes execution logs: its settings for every
/// method (`*` on `/*`) log at ERROR or INFO, and no method turns them off.
fn execution_logs(p: &Value) -> bool {
    let level = |m: &Value| {
        get(m, "LoggingLevel")
            .and_then(Value::as_str)
            .map(str::to_ascii_uppercase)
    };
    let settings = list(get(p, "MethodSettings"));
    let every = settings
        .iter()
        .any(|m| every_method(m) && matches!(level(m).as_deref(), Some("ERROR" | "INFO")));
    every && !settings.iter().any(|m| level(m).as_deref() == Some("OFF"))
}

/// Whether a `MethodSettings` entry is for every method (`*` on `/*`,
/// which is also what an entry that names neither means).
fn every_method(m: &Value) -> bool {
    get(m, "HttpMethod").and_then(Value::as_str).unwrap_or("*") == "*"
        && get(m, "ResourcePath")
            .and_then(Value::as_str)
            .unwrap_or("/*")
            == "/*"
}

/// Whether an API Gateway invoke permission's source is every stage and
/// every route of an API (`arn:aws:execute-api:REGION:ACCOUNT:API/*/*`, or
/// `.../API/*`).
fn any_api_route(source_arn: &str) -> bool {
    let Some(resource) = source_arn.rsplit(':').next() else {
        return false;
    };
    let parts: Vec<&str> = resource.split('/').collect();
    source_arn.contains(":execute-api:")
        && match parts.as_slice() {
            [_api, "*"] | [_api, "*", "*"] | [_api, "*", "*", "*"] => true,
            [_api, "*", "*", rest @ ..] => rest.iter().all(|p| *p == "*"),
            _ => false,
        }
}

/// Facts about what an endpoint speaks and where it sends requests: TLS
/// policy, integration URI, resource policies that deny plain HTTP.
fn endpoint_facts(kind: &str, p: &Value, facts: &mut Map<String, Value>) {
    if let Some(policy) = tls_policy(kind, p) {
        facts.insert("tls_policy".into(), Value::String(policy));
    }
    if let Some(origin) = cors_any_origin(kind, p) {
        facts.insert("cors_any_origin".into(), Value::String(origin));
    }
    let uri = match kind {
        "AWS::ApiGateway::Method" => get(p, "Integration").and_then(|i| get(i, "Uri")),
        "AWS::ApiGateway::Integration" => get(p, "Uri"),
        "AWS::ApiGatewayV2::Integration" => get(p, "IntegrationUri"),
        _ => None,
    };
    if let Some(uri) = uri.and_then(text) {
        // Schemes are case-insensitive (`HTTP://` is plain HTTP too).
        let uri = match uri.split_once("://") {
            Some((scheme, rest)) => format!("{}://{rest}", scheme.to_ascii_lowercase()),
            None => uri.to_owned(),
        };
        facts.insert("integration_uri".into(), Value::String(uri));
    }
    // Text that rules match with `like`, which a property cannot offer
    // when it is an intrinsic function (`like` on a record is an error).
    match kind {
        "AWS::Lambda::Permission" => {
            if let Some(service) = get(p, "Principal")
                .and_then(text)
                .filter(|t| t.ends_with(".amazonaws.com"))
            {
                facts.insert(
                    "service_principal".into(),
                    Value::String(service.to_owned()),
                );
            }
            if let Some(arn) = get(p, "SourceArn")
                .and_then(text)
                .filter(|a| any_api_route(a))
            {
                facts.insert("any_api_route".into(), Value::String(arn.to_owned()));
            }
        }
        "AWS::ApiGatewayV2::Route" => {
            if let Some(key) = get(p, "RouteKey").and_then(text) {
                facts.insert("route_key".into(), Value::String(key.to_owned()));
            }
        }
        _ => {}
    }
    if matches!(
        kind,
        "AWS::SQS::QueuePolicy" | "AWS::SNS::TopicPolicy" | "AWS::S3::BucketPolicy"
    ) {
        facts.insert(
            "requires_secure_transport".into(),
            Value::Bool(denies_insecure_transport(get(p, "PolicyDocument"))),
        );
    }
}

/// What an IAM policy (of a role, a policy or a SAM function) grants.
fn grant_facts(kind: &str, p: &Value, facts: &mut Map<String, Value>) {
    let mut grants = Grants::default();
    match kind {
        "AWS::IAM::Role" => {
            let trust = get(p, "AssumeRolePolicyDocument");
            insert_set(facts, "trusts_any_principal", open_trust(trust));
            insert_set(facts, "trusts_whole_account", whole_accounts(trust));
            insert_set(facts, "assumable_without_mfa", assumable_without_mfa(trust));
            for policy in list(get(p, "Policies")) {
                grants.document(get(policy, "PolicyDocument"));
            }
            for arn in list(get(p, "ManagedPolicyArns")) {
                grants.managed(arn);
            }
        }
        "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" | "AWS::IAM::RolePolicy" => {
            grants.document(get(p, "PolicyDocument"));
        }
        "AWS::IAM::RolePolicyAttachment" => {
            if let Some(arn) = get(p, "PolicyArn") {
                grants.managed(arn);
            }
        }
        "AWS::Serverless::Function" => {
            for policy in list(get(p, "Policies")) {
                if get(policy, "Statement").is_some() {
                    grants.document(Some(policy));
                } else if let Some((name, params)) = policy
                    .as_object()
                    .filter(|o| o.len() == 1)
                    .and_then(|o| o.iter().next())
                {
                    grants.sam_template(name, params);
                } else {
                    grants.managed(policy);
                }
            }
        }
        _ => {}
    }
    insert_set(facts, "wildcard_actions", grants.wildcard_actions);
    insert_set(facts, "wildcard_resource_writes", grants.writes_on_any);
    insert_set(facts, "admin_policies", grants.admin);
    insert_set(
        facts,
        "sensitive_reads_on_any",
        grants.sensitive_reads_on_any,
    );
}

/// The origin by which a CORS configuration lets any web page call the
/// endpoint (`*`, `http://*`, `https://*`), wherever it is in the list:
/// function URLs (`Cors`, SAM `FunctionUrlConfig.Cors`), HTTP APIs
/// (`CorsConfiguration`; SAM's `true` is `*`) and SAM REST APIs (`Cors`,
/// a quoted header value, or its `AllowOrigin`). Origins given by an
/// intrinsic are not judged.
fn cors_any_origin(kind: &str, p: &Value) -> Option<String> {
    let any = |origin: &str| {
        let o = origin.trim().trim_matches('\'');
        matches!(o, "*" | "http://*" | "https://*").then(|| o.to_owned())
    };
    let in_list = |origins: Option<&Value>| {
        list(origins)
            .iter()
            .filter_map(literal_text)
            .find_map(|o| any(&o))
    };
    match kind {
        "AWS::Lambda::Url" => in_list(get(p, "Cors").and_then(|c| get(c, "AllowOrigins"))),
        "AWS::Serverless::Function" => in_list(
            get(p, "FunctionUrlConfig")
                .and_then(|u| get(u, "Cors"))
                .and_then(|c| get(c, "AllowOrigins")),
        ),
        "AWS::ApiGatewayV2::Api" | "AWS::Serverless::HttpApi" => {
            let cors = get(p, "CorsConfiguration")?;
            if kind == "AWS::Serverless::HttpApi" && truthy(Some(cors)) {
                return Some("*".into());
            }
            in_list(get(cors, "AllowOrigins"))
        }
        "AWS::Serverless::Api" => {
            let cors = get(p, "Cors")?;
            match literal_text(cors) {
                Some(origin) => any(&origin),
                None => get(cors, "AllowOrigin")
                    .and_then(literal_text)
                    .and_then(|o| any(&o)),
            }
        }
        _ => None,
    }
}

/// Whether a policy's `Resource` entry (or a SAM policy template's
/// parameter) means every resource of its kind: `*` (also `**`, or written
/// with `Fn::Sub` or `Fn::Join`), or an ARN whose resource part is only a
/// wildcard (`arn:aws:sqs:*:*:*`) or a type and a wildcard
/// (`arn:aws:dynamodb:*:*:table/*`, `...:secret:*`). An S3 ARN's resource
/// part is a bucket: `arn:aws:s3:::*` is every bucket, `bucket/*` one
/// bucket's objects.
fn is_any_resource(v: &Value) -> bool {
    let Some(text) = literal_text(v) else {
        return false;
    };
    // Wildcards only (`*`, `**`, `?*`, `*/*`): every resource.
    let stars = |t: &str| t.contains('*') && t.chars().all(|c| matches!(c, '*' | '?' | '/'));
    let text = text.trim();
    if stars(text) {
        return true;
    }
    let Some(rest) = text.strip_prefix("arn:") else {
        return false;
    };
    // `arn:*`, `arn:*:*:*:*:*`.
    if rest.contains('*') && rest.chars().all(|c| matches!(c, '*' | '?' | '/' | ':')) {
        return true;
    }
    // `${AWS::Region}` and the like stand for one value each.
    let mut plain = String::with_capacity(rest.len());
    let mut chars = rest.split("${");
    plain.push_str(chars.next().unwrap_or_default());
    for piece in chars {
        plain.push('x');
        plain.push_str(piece.split_once('}').map_or("", |(_, after)| after));
    }
    let parts: Vec<&str> = plain.splitn(5, ':').collect();
    let [_, service, _, _, resource] = parts[..] else {
        return false;
    };
    if stars(resource) {
        return true;
    }
    service != "s3"
        && resource.split_once(['/', ':']).is_some_and(|(kind, rest)| {
            !kind.is_empty()
                && kind
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && stars(rest)
        })
}

/// The text a value makes as far as it is written out: a string, an
/// `Fn::Sub` template, or an `Fn::Join` of such parts (references inside
/// stay as written, `${AWS::Region}`).
fn literal_text(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    // `Fn::Sub: [template, {X: value}]`: the variables given literally are
    // put in.
    if let Some([Value::String(template), Value::Object(vars)]) = get(v, "Fn::Sub")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        // One pass over the template (a replace per variable would scan it
        // once per variable, and substitute into what was substituted).
        let mut out = String::with_capacity(template.len());
        let mut rest = template.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(rest.get(..start).unwrap_or_default());
            let after = rest.get(start + 2..).unwrap_or_default();
            let Some(end) = after.find('}') else {
                out.push_str(rest.get(start..).unwrap_or_default());
                rest = "";
                break;
            };
            let name = after.get(..end).unwrap_or_default();
            match vars.get(name).and_then(literal_text) {
                Some(t) => out.push_str(&t),
                None => {
                    out.push_str("${");
                    out.push_str(name);
                    out.push('}');
                }
            }
            rest = after.get(end + 1..).unwrap_or_default();
        }
        out.push_str(rest);
        return Some(std::borrow::Cow::Owned(out));
    }
    if let Some(t) = text(v) {
        return Some(std::borrow::Cow::Borrowed(t));
    }
    // `Fn::Select: [0, [...]]` of a literal list.
    if let Some([index, Value::Array(items)]) = get(v, "Fn::Select")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        let i = index
            .as_u64()
            .or_else(|| index.as_str().and_then(|s| s.parse().ok()))?;
        return literal_text(items.get(usize::try_from(i).ok()?)?);
    }
    let join = get(v, "Fn::Join")?.as_array()?;
    let (sep, parts) = (join.first()?.as_str()?, join.get(1)?.as_array()?);
    let parts: Vec<String> = parts
        .iter()
        .map(|p| literal_text(p).map_or_else(|| "${}".to_owned(), |t| t.into_owned()))
        .collect();
    Some(std::borrow::Cow::Owned(parts.join(sep)))
}

/// Fills `facts` (and the SAM routes in `triggers`) of every resource.
pub(crate) fn derive(resources: &mut [Resource]) {
    let graph = Graph::of(resources);
    let all_facts: Vec<_> = resources.iter().map(|r| facts_of(r, &graph)).collect();
    for (r, (facts, routes)) in resources.iter_mut().zip(all_facts) {
        r.facts = facts;
        r.triggers.extend(routes);
    }
}

/// Records that `source` invokes function `f` asynchronously.
fn invoked_by(map: &mut HashMap<String, BTreeSet<String>>, f: &str, source: &str) {
    map.entry(f.to_owned())
        .or_default()
        .insert(source.to_owned());
}

fn insert_set(facts: &mut Map<String, Value>, name: &str, set: BTreeSet<String>) {
    if !set.is_empty() {
        facts.insert(
            name.to_owned(),
            Value::Array(set.into_iter().map(Value::String).collect()),
        );
    }
}

/// What identifies a function's role: the resource it references, or the
/// ARN as written. SAM functions without `Role` get a role of their own.
fn role_key(p: &Value) -> Option<String> {
    let role = get(p, "Role")?;
    match target(role) {
        Some(id) => Some(format!("ref:{id}")),
        None => text(role).map(str::to_owned),
    }
}

fn has_on_failure(destination: Option<&Value>) -> bool {
    destination
        .and_then(|d| get(d, "OnFailure"))
        .is_some_and(|f| get(f, "Destination").is_some() || get(f, "Type").is_some())
}

fn open_to_world(rule: &Value) -> bool {
    get(rule, "CidrIp").and_then(Value::as_str) == Some("0.0.0.0/0")
        || get(rule, "CidrIpv6").and_then(Value::as_str) == Some("::/0")
}

fn private_endpoint(config: Option<&Value>) -> bool {
    match config {
        Some(Value::String(s)) => s == "PRIVATE",
        Some(c) => {
            list(get(c, "Types")).iter().any(|t| t == "PRIVATE")
                || get(c, "Type").and_then(Value::as_str) == Some("PRIVATE")
        }
        None => false,
    }
}

/// How a SAM API protects routes that say nothing themselves.
/// What an OpenAPI definition requires of a route: the operation's
/// `security`, else the definition's (`[]` is none). `None` when it says
/// nothing. A scheme that API Gateway runs as an authorizer (Lambda,
/// Cognito, IAM: `x-amazon-apigateway-authorizer` or `-authtype`, or an
/// OAuth 2.0 / OpenID Connect / HTTP scheme) authenticates; a plain API key
/// does not.
fn openapi_auth(definition: &Value, path: &str, method: &str) -> Option<RouteAuth> {
    let operation = get(definition, "paths")
        .and_then(|p| get(p, path))
        .and_then(|p| {
            get(p, &method.to_ascii_lowercase())
                .or_else(|| get(p, "x-amazon-apigateway-any-method"))
        });
    let security = operation
        .and_then(|o| get(o, "security"))
        .or_else(|| get(definition, "security"))?;
    let schemes = get(definition, "components")
        .and_then(|c| get(c, "securitySchemes"))
        .or_else(|| get(definition, "securityDefinitions"));
    let authenticates = |name: &str| {
        schemes.and_then(|s| get(s, name)).is_some_and(|scheme| {
            get(scheme, "x-amazon-apigateway-authorizer").is_some()
                || get(scheme, "x-amazon-apigateway-authtype").is_some()
                || get(scheme, "type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t != "apiKey")
        })
    };
    let requirements = list(Some(security));
    if requirements.is_empty() {
        return Some(RouteAuth::None);
    }
    // Alternatives: the route is as weak as its weakest requirement.
    let mut weakest = RouteAuth::Authorizer;
    for req in requirements {
        let names: Vec<&String> = req
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        if names.is_empty() {
            return Some(RouteAuth::None);
        }
        if !names.iter().any(|n| authenticates(n)) {
            weakest = RouteAuth::ApiKeyOnly;
        }
    }
    Some(weakest)
}

fn api_default_auth(p: &Value) -> RouteAuth {
    let auth = get(p, "Auth");
    let authorizer = auth
        .and_then(|a| get(a, "DefaultAuthorizer"))
        .and_then(Value::as_str);
    match authorizer {
        Some(a) if a != "NONE" => RouteAuth::Authorizer,
        _ if truthy(auth.and_then(|a| get(a, "ApiKeyRequired"))) => RouteAuth::ApiKeyOnly,
        _ => RouteAuth::None,
    }
}

fn event_auth(auth: Option<&Value>, fallback: RouteAuth) -> RouteAuth {
    let authorizer = auth
        .and_then(|a| get(a, "Authorizer"))
        .and_then(Value::as_str);
    let api_key = auth.and_then(|a| get(a, "ApiKeyRequired"));
    match authorizer {
        Some("NONE") if truthy(api_key) => RouteAuth::ApiKeyOnly,
        Some("NONE") => RouteAuth::None,
        Some(_) => RouteAuth::Authorizer,
        None if truthy(api_key) && fallback == RouteAuth::None => RouteAuth::ApiKeyOnly,
        None => fallback,
    }
}

/// The TLS policy of a custom domain, `(default)` marked when unset: REST
/// API domains default to TLS 1.0, HTTP API domains to TLS 1.2.
fn tls_policy(kind: &str, p: &Value) -> Option<String> {
    let explicit = |v: Option<&Value>, default: &str| {
        v.and_then(Value::as_str)
            .map_or_else(|| format!("{default} (default)"), str::to_owned)
    };
    let weakest = |policies: Vec<String>| policies.into_iter().min();
    match kind {
        "AWS::ApiGateway::DomainName" => Some(explicit(get(p, "SecurityPolicy"), "TLS_1_0")),
        "AWS::ApiGatewayV2::DomainName" => weakest(
            list(get(p, "DomainNameConfigurations"))
                .iter()
                .map(|c| explicit(get(c, "SecurityPolicy"), "TLS_1_2"))
                .collect(),
        ),
        "AWS::Serverless::Api" => {
            get(p, "Domain").map(|d| explicit(get(d, "SecurityPolicy"), "TLS_1_0"))
        }
        "AWS::Serverless::HttpApi" => {
            get(p, "Domain").map(|d| explicit(get(d, "SecurityPolicy"), "TLS_1_2"))
        }
        _ => None,
    }
}

/// True when a resource policy denies every request made without TLS.
fn denies_insecure_transport(document: Option<&Value>) -> bool {
    list(document.and_then(|d| get(d, "Statement")))
        .iter()
        .any(|s| {
            // Denied to everyone, for every action of the service: a deny
            // for one role or one action leaves the others on plain HTTP.
            // (SNS's documented form denies Publish, the one write.)
            let everyone = anyone(get(s, "Principal"));
            let every_action = list(get(s, "Action"))
                .iter()
                .filter_map(Value::as_str)
                .any(|a| a == "*" || a.ends_with(":*") || a.eq_ignore_ascii_case("sns:Publish"));
            get(s, "Effect").and_then(Value::as_str) == Some("Deny")
                && everyone
                && every_action
                && ["Bool", "BoolIfExists"].iter().any(|op| {
                    let v = get(s, "Condition")
                        .and_then(|c| get(c, op))
                        .and_then(|b| get(b, "aws:SecureTransport"));
                    !list(v).is_empty() && list(v).iter().all(|x| falsy(Some(x)))
                })
        })
}

/// The methods (`HTTPMETHOD /path`) of a REST API stage whose response
/// cache is on and not encrypted (`MethodSettings` with `CachingEnabled`
/// and no `CacheDataEncrypted: true`).
fn unencrypted_caches(p: &Value) -> BTreeSet<String> {
    let settings = list(get(p, "MethodSettings"));
    let mut out: BTreeSet<String> = settings
        .iter()
        .filter(|m| truthy(get(m, "CachingEnabled")) && !truthy(get(m, "CacheDataEncrypted")))
        .map(|m| {
            format!(
                "{} {}",
                get(m, "HttpMethod").and_then(Value::as_str).unwrap_or("*"),
                get(m, "ResourcePath")
                    .and_then(Value::as_str)
                    .unwrap_or("/*")
            )
        })
        .collect();
    // A stage's cache cluster caches GET methods by default, unencrypted,
    // unless the settings for every method turn caching off or encrypt.
    if truthy(get(p, "CacheClusterEnabled")) {
        let every = settings.iter().find(|m| every_method(m));
        let caching_off = every
            .and_then(|m| get(m, "CachingEnabled"))
            .is_some_and(|v| falsy(Some(v)));
        let encrypted = every.is_some_and(|m| truthy(get(m, "CacheDataEncrypted")));
        if !caching_off && !encrypted {
            out.insert("GET /* (the cache cluster's default)".into());
        }
    }
    out
}

/// Condition keys that narrow who may assume a role (an external id, an
/// organization, an account, a source): a statement with one of them is
/// not open to anyone. Other conditions (`aws:SecureTransport`, a time)
/// restrict how, not who.
const WHO_CONDITIONS: &[&str] = &[
    "sts:externalid",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceorgid",
];

/// How a role's trust policy lets anyone assume it: `*` for an Allow with
/// `Principal: "*"` or an `AWS` principal `*`, `NotPrincipal` for an Allow
/// with `NotPrincipal`; a statement whose condition names who (see
/// [`WHO_CONDITIONS`]) does not count.
fn open_trust(document: Option<&Value>) -> BTreeSet<String> {
    document.map_or_else(BTreeSet::new, |d| open_statements(d, &[]))
}

/// Condition keys that also narrow who may use a resource through its
/// resource policy, besides [`WHO_CONDITIONS`]: the network or account the
/// call comes from.
const RESOURCE_WHO_CONDITIONS: &[&str] = &[
    "aws:sourceowner",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "kms:calleraccount",
];

/// Whether a statement's condition narrows it with one of `keys`
/// (case-insensitive): a positive operator (`StringEquals`, `ArnLike`, ...,
/// not `StringNotEquals`, which lets everyone else in) with a value that is
/// not `*`.
fn conditioned_on(statement: &Value, keys: &[&str]) -> bool {
    get(statement, "Condition")
        .and_then(Value::as_object)
        .is_some_and(|ops| {
            ops.iter()
                .filter(|(op, _)| !op.to_ascii_lowercase().contains("not"))
                .filter_map(|(_, ks)| ks.as_object())
                .any(|ks| {
                    ks.iter().any(|(k, v)| {
                        let k = k.to_ascii_lowercase();
                        let named = keys
                            .iter()
                            .any(|want| k == *want || (want.ends_with('/') && k.starts_with(want)));
                        named && !list(Some(v)).iter().any(|x| x.as_str() == Some("*"))
                    })
                })
        })
}

/// Whether a statement requires MFA: `Bool` (not `BoolIfExists`, which
/// passes a request made without MFA information, as with long-term
/// access keys) `aws:MultiFactorAuthPresent` true, or a
/// `NumericLessThan(Equals)` on `aws:MultiFactorAuthAge`.
fn requires_mfa(statement: &Value) -> bool {
    let Some(ops) = get(statement, "Condition").and_then(Value::as_object) else {
        return false;
    };
    ops.iter().any(|(op, ks)| {
        let op = op.to_ascii_lowercase();
        ks.as_object().is_some_and(|ks| {
            ks.iter().any(|(k, v)| {
                let k = k.to_ascii_lowercase();
                (op == "bool"
                    && k == "aws:multifactorauthpresent"
                    && list(Some(v)).iter().all(|x| truthy(Some(x))))
                    || (op.starts_with("numericlessthan") && k == "aws:multifactorauthage")
            })
        })
    })
}

/// The Allow statements of a policy (a document with `Statement`, or one
/// statement) that any AWS principal may use: `Principal *` for a
/// principal `*` (or an `AWS` principal `*`), `NotPrincipal` for an Allow
/// with `NotPrincipal`; a statement whose condition names who (a key of
/// [`WHO_CONDITIONS`] or `more_who`) does not count.
fn open_statements(document: &Value, more_who: &[&str]) -> BTreeSet<String> {
    let mut open = BTreeSet::new();
    // A document, or one statement on its own.
    let statements = match get(document, "Statement") {
        Some(s) => list(Some(s)),
        None => std::slice::from_ref(document),
    };
    for s in allows_in(statements) {
        if conditioned_on(s, WHO_CONDITIONS) || conditioned_on(s, more_who) {
            continue;
        }
        if get(s, "NotPrincipal").is_some() {
            open.insert("NotPrincipal".to_owned());
        }
        if anyone(get(s, "Principal")) {
            open.insert("Principal *".to_owned());
        }
    }
    open
}

/// The Allow statements of a policy document.
fn allows(document: Option<&Value>) -> impl Iterator<Item = &Value> {
    allows_in(list(document.and_then(|d| get(d, "Statement"))))
}

fn allows_in(statements: &[Value]) -> impl Iterator<Item = &Value> {
    statements
        .iter()
        .filter(|s| get(s, "Effect").and_then(Value::as_str) == Some("Allow"))
}

/// Whether a principal is anyone: `"*"`, or `*` among its `AWS` principals.
fn anyone(principal: Option<&Value>) -> bool {
    principal.and_then(Value::as_str) == Some("*")
        || list(principal.and_then(|p| get(p, "AWS")))
            .iter()
            .any(|a| a.as_str() == Some("*"))
}

/// Conditions that narrow which principals of an account may assume a
/// role: an external id, a principal ARN or tag, an organization (and MFA,
/// see [`requires_mfa`]).
const ACCOUNT_WHO_CONDITIONS: &[&str] = &[
    "sts:externalid",
    "aws:principalarn",
    "aws:principaltag/",
    "aws:principalorgid",
    "aws:principalorgpaths",
];

/// The accounts a trust policy trusts as a whole (`123456789012`,
/// `arn:aws:iam::123456789012:root`, `${AWS::AccountId}` through `Fn::Sub`
/// or `Ref`) in an Allow without a condition that narrows who in them:
/// every principal of the account whose own policy allows `sts:AssumeRole`
/// may assume the role.
fn whole_accounts(document: Option<&Value>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in allows(document) {
        if conditioned_on(s, ACCOUNT_WHO_CONDITIONS) || requires_mfa(s) {
            continue;
        }
        for p in list(get(s, "Principal").and_then(|p| get(p, "AWS"))) {
            if let Some(account) = account_principal(p) {
                out.insert(account);
            }
        }
    }
    out
}

/// The account an `AWS` principal names as a whole, if it does.
fn account_principal(p: &Value) -> Option<String> {
    if get(p, "Ref").and_then(Value::as_str) == Some("AWS::AccountId") {
        return Some("${AWS::AccountId}".into());
    }
    let t = text(p)?;
    if t.len() == 12 && t.bytes().all(|b| b.is_ascii_digit()) {
        return Some(t.to_owned());
    }
    if t == "${AWS::AccountId}" {
        return Some(t.to_owned());
    }
    // arn:PARTITION:iam::ACCOUNT:root (ACCOUNT may be `${AWS::AccountId}`).
    let rest = t.strip_prefix("arn:")?.strip_suffix(":root")?;
    let (_, account) = rest.split_once(":iam::")?;
    (!account.is_empty() && !account.contains('/')).then(|| account.to_owned())
}

/// The non-service principals a trust policy lets assume the role without
/// requiring MFA (`aws:MultiFactorAuthPresent` true or an
/// `aws:MultiFactorAuthAge`): accounts, users, roles and `*`.
fn assumable_without_mfa(document: Option<&Value>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in allows(document) {
        if requires_mfa(s) {
            continue;
        }
        let principal = get(s, "Principal");
        if principal.and_then(Value::as_str) == Some("*") {
            out.insert("*".to_owned());
        }
        for p in list(principal.and_then(|p| get(p, "AWS"))) {
            out.insert(
                account_principal(p)
                    .or_else(|| text(p).map(str::to_owned))
                    .unwrap_or_else(|| "(a reference)".to_owned()),
            );
        }
    }
    out
}

/// What identity policies grant, reduced to what the rules judge.
#[derive(Default)]
struct Grants {
    /// `*`, `service:*`, or `NotAction` in an Allow.
    wildcard_actions: BTreeSet<String>,
    /// Non-read actions (wildcards included) allowed on `Resource: "*"`.
    writes_on_any: BTreeSet<String>,
    /// Administrator managed policies attached.
    admin: BTreeSet<String>,
    /// [`SENSITIVE_READS`] (or a `Get*` of their services) on `Resource: "*"`.
    sensitive_reads_on_any: BTreeSet<String>,
}

impl Grants {
    fn document(&mut self, document: Option<&Value>) {
        for s in allows(document) {
            if get(s, "NotAction").is_some() {
                self.wildcard_actions.insert("NotAction".into());
            }
            let any_resource = list(get(s, "Resource")).iter().any(is_any_resource)
                || get(s, "NotResource").is_some();
            for action in list(get(s, "Action")).iter().filter_map(Value::as_str) {
                if action == "*" || action.ends_with(":*") {
                    self.wildcard_actions.insert(action.to_owned());
                    // Every action of a service includes its writes.
                    if any_resource {
                        self.writes_on_any.insert(action.to_owned());
                    }
                } else if any_resource && !is_read(action) && !RESOURCE_STAR_ONLY.contains(&action)
                {
                    self.writes_on_any.insert(action.to_owned());
                } else if any_resource && is_sensitive_read(action) {
                    self.sensitive_reads_on_any.insert(action.to_owned());
                }
            }
        }
    }

    /// A SAM policy template (`DynamoDBCrudPolicy: {TableName: orders}`):
    /// SAM scopes it to the resource its parameters name, so a parameter
    /// `"*"` grants its actions on every resource of that kind.
    fn sam_template(&mut self, name: &str, params: &Value) {
        let any = params
            .as_object()
            .is_some_and(|o| o.values().any(is_any_resource));
        if !any {
            return;
        }
        let shown = format!("{name} (a parameter is \"*\")");
        if SENSITIVE_READ_TEMPLATES.contains(&name) {
            self.sensitive_reads_on_any.insert(shown);
        } else if !["Read", "Describe", "Get", "List"]
            .iter()
            .any(|verb| name.contains(verb))
        {
            self.writes_on_any.insert(shown);
        }
    }

    fn managed(&mut self, arn: &Value) {
        let Some(arn) = text(arn) else { return };
        let name = arn.rsplit('/').next().unwrap_or(arn);
        let aws_managed = arn == name || arn.contains(":iam::aws:policy/");
        if ADMIN_POLICIES.contains(&name) && aws_managed {
            self.admin.insert(name.to_owned());
        } else if aws_managed && name.ends_with("FullAccess") {
            // `AmazonS3FullAccess`, `AmazonDynamoDBFullAccess`, ...: every
            // action of a service on every resource, as `s3:*` on `*` is.
            self.wildcard_actions.insert(name.to_owned());
            self.writes_on_any.insert(name.to_owned());
        }
    }
}

fn is_sensitive_read(action: &str) -> bool {
    let a = action.to_ascii_lowercase();
    if SENSITIVE_READS.contains(&a.as_str()) {
        return true;
    }
    // `s3:Get*`, `ssm:GetParameter*`, `dynamodb:BatchGet*`: a pattern that
    // matches one of the sensitive reads.
    let Some((service, verb)) = a.split_once(':') else {
        return false;
    };
    let Some(prefix) = verb.strip_suffix('*') else {
        return false;
    };
    !prefix.is_empty()
        && SENSITIVE_READ_SERVICES.contains(&service)
        && SENSITIVE_READS.iter().any(|r| {
            r.split_once(':')
                .is_some_and(|(svc, v)| svc == service && v.starts_with(prefix))
        })
}

fn is_read(action: &str) -> bool {
    let verb = action.split_once(':').map_or(action, |(_, v)| v);
    READ_VERBS.iter().any(|r| verb.starts_with(r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Document;
    use serde_json::json;

    fn facts_of(yaml: &str) -> Vec<(String, Value)> {
        let doc = Document::parse("t.yaml", yaml).unwrap();
        super::super::resources(&doc)
            .into_iter()
            .map(|r| (r.logical_id, Value::Object(r.facts)))
            .collect()
    }

    #[test]
    fn wildcard_resources_in_every_spelling() {
        for any in [
            json!("*"),
            json!("**"),
            json!({"Fn::Sub": "*"}),
            json!({"Fn::Join": ["", ["*"]]}),
            json!("arn:aws:sqs:*:*:*"),
            json!("arn:aws:s3:::*"),
            json!("arn:aws:dynamodb:*:*:table/*"),
            json!({"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*"}),
            json!({"Fn::Sub": "arn:aws:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"}),
            json!("arn:aws:lambda:*:*:function:*"),
            json!("arn:*"),
            json!("arn:aws:s3:::*/*"),
            json!("*/*"),
            json!("arn:aws:s3:::?*"),
            json!({"Fn::Sub": ["${X}", {"X": "*"}]}),
            json!({"Fn::Sub": ["${X}${Y}", {"X": "*", "Y": "*"}]}),
            json!({"Fn::Select": [0, ["*"]]}),
        ] {
            assert!(is_any_resource(&any), "{any}");
        }
        for named in [
            json!("arn:aws:s3:::uploads/*"),
            json!("arn:aws:dynamodb:*:*:table/orders"),
            json!("arn:aws:dynamodb:*:*:table/orders*"),
            json!("arn:aws:logs:*:*:log-group:/aws/lambda/*"),
            json!({"Fn::GetAtt": ["Table", "Arn"]}),
            json!({"Fn::Sub": "${Table.Arn}/index/*"}),
            json!({"Fn::Sub": ["${X}", {"X": "${Y}", "Y": "*"}]}),
            json!("orders"),
        ] {
            assert!(!is_any_resource(&named), "{named}");
        }
    }

    #[test]
    fn iam_grants_are_classified() {
        let f = facts_of(
            r#"
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      ManagedPolicyArns:
        - arn:aws:iam::aws:policy/AdministratorAccess
        - !Sub arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: ["s3:*", "dynamodb:PutItem", "s3:GetObject", "xray:PutTraceSegments"]
                Resource: "*"
              - Effect: Deny
                Action: "*"
                Resource: "*"
              - Effect: Allow
                Action: sqs:SendMessage
                Resource: !GetAtt Queue.Arn
"#,
        );
        assert_eq!(
            f[0].1,
            json!({"wildcard_actions": ["s3:*"], "wildcard_resource_writes": ["dynamodb:PutItem", "s3:*"], "admin_policies": ["AdministratorAccess"], "sensitive_reads_on_any": ["s3:GetObject"]})
        );
    }

    #[test]
    fn trust_policies_open_to_anyone_are_found() {
        let f = facts_of(
            r#"
Resources:
  Anyone:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - Effect: Allow
            Principal: { AWS: ["arn:aws:iam::123456789012:root", "*"] }
            Action: sts:AssumeRole
  Star:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - { Effect: Allow, Principal: "*", Action: sts:AssumeRole, Condition: { Bool: { aws:SecureTransport: true } } }
          - { Effect: Allow, NotPrincipal: { AWS: arn:aws:iam::1:root }, Action: sts:AssumeRole }
  ExternalId:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - { Effect: Allow, Principal: { AWS: "*" }, Action: sts:AssumeRole, Condition: { StringEquals: { sts:ExternalId: abc } } }
  Service:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - { Effect: Allow, Principal: { Service: lambda.amazonaws.com }, Action: sts:AssumeRole }
          - { Effect: Deny, Principal: "*", Action: sts:AssumeRole }
"#,
        );
        let trust = |i: usize| f[i].1.get("trusts_any_principal").cloned();
        assert_eq!(trust(0), Some(json!(["Principal *"])));
        assert_eq!(trust(1), Some(json!(["NotPrincipal", "Principal *"])));
        assert_eq!(trust(2), None, "narrowed by an external id");
        assert_eq!(trust(3), None, "a service principal; a Deny");
        // The whole account of the root ARN is trusted, and nobody needs MFA.
        assert_eq!(f[0].1["trusts_whole_account"], json!(["123456789012"]));
        assert_eq!(
            f[0].1["assumable_without_mfa"],
            json!(["*", "123456789012"])
        );
        assert_eq!(f[3].1.get("assumable_without_mfa"), None, "services only");
    }

    #[test]
    fn api_wide_invoke_sources() {
        for yes in [
            "arn:aws:execute-api:us-east-1:123456789012:abc123/*/*",
            "arn:aws:execute-api:us-east-1:123456789012:abc123/*",
            "arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/*/*/*",
        ] {
            assert!(any_api_route(yes), "{yes}");
        }
        for no in [
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/orders",
            "arn:aws:execute-api:us-east-1:123456789012:abc123/*/GET/orders",
            "arn:aws:s3:::bucket/*",
        ] {
            assert!(!any_api_route(no), "{no}");
        }
    }

    #[test]
    fn sensitive_reads_are_told_from_other_reads() {
        for yes in [
            "secretsmanager:GetSecretValue",
            "S3:GETOBJECT",
            "s3:Get*",
            "ssm:GetParameter*",
            "dynamodb:BatchGet*",
        ] {
            assert!(is_sensitive_read(yes), "{yes}");
        }
        for no in [
            "s3:ListBucket",
            "logs:GetLogEvents",
            "ec2:Describe*",
            "s3:*",
            "s3:List*",
            "cloudwatch:Get*",
        ] {
            assert!(!is_sensitive_read(no), "{no}");
        }
    }

    #[test]
    fn accounts_trusted_as_a_whole_and_mfa() {
        let f = facts_of(
            r#"
Resources:
  Sub:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - { Effect: Allow, Principal: { AWS: !Sub "arn:aws:iam::${AWS::AccountId}:root" }, Action: sts:AssumeRole }
  Bare:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - { Effect: Allow, Principal: { AWS: ["210987654321", !Ref AWS::AccountId] }, Action: sts:AssumeRole }
  Mfa:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - Effect: Allow
            Principal: { AWS: arn:aws:iam::123456789012:root }
            Action: sts:AssumeRole
            Condition: { Bool: { aws:MultiFactorAuthPresent: "true" } }
  Tagged:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - Effect: Allow
            Principal: { AWS: arn:aws:iam::123456789012:root }
            Action: sts:AssumeRole
            Condition: { StringEquals: { aws:PrincipalTag/team: ops } }
  User:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - { Effect: Allow, Principal: { AWS: arn:aws:iam::123456789012:user/alice }, Action: sts:AssumeRole }
"#,
        );
        let fact = |i: usize, name: &str| f[i].1.get(name).cloned();
        assert_eq!(
            fact(0, "trusts_whole_account"),
            Some(json!(["${AWS::AccountId}"]))
        );
        assert_eq!(
            fact(1, "trusts_whole_account"),
            Some(json!(["${AWS::AccountId}", "210987654321"]))
        );
        assert_eq!(fact(2, "trusts_whole_account"), None, "MFA narrows");
        assert_eq!(fact(2, "assumable_without_mfa"), None);
        assert_eq!(
            fact(3, "trusts_whole_account"),
            None,
            "a principal tag narrows"
        );
        assert_eq!(
            fact(3, "assumable_without_mfa"),
            Some(json!(["123456789012"]))
        );
        assert_eq!(fact(4, "trusts_whole_account"), None, "one user");
        assert_eq!(
            fact(4, "assumable_without_mfa"),
            Some(json!(["arn:aws:iam::123456789012:user/alice"]))
        );
    }

    #[test]
    fn resource_policies_buckets_and_queues() {
        let f = facts_of(
            r#"
Resources:
  Open:
    Type: AWS::SQS::QueuePolicy
    Properties:
      Queues: [!Ref Jobs]
      PolicyDocument:
        Statement:
          - { Effect: Allow, Principal: { AWS: "*" }, Action: sqs:SendMessage, Resource: "*" }
  FromTopic:
    Type: AWS::SQS::QueuePolicy
    Properties:
      PolicyDocument:
        Statement:
          - { Effect: Allow, Principal: "*", Action: sqs:SendMessage, Condition: { ArnEquals: { aws:SourceArn: !Ref Topic } } }
  Key:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Statement:
          - { Effect: Allow, Principal: { AWS: "*" }, Action: "kms:*", Condition: { StringEquals: { kms:CallerAccount: "1" } } }
          - { Effect: Allow, NotPrincipal: { AWS: arn:aws:iam::1:root }, Action: "kms:Decrypt" }
  Layer:
    Type: AWS::Lambda::LayerVersionPermission
    Properties: { Action: lambda:GetLayerVersion, LayerVersionArn: !Ref L, Principal: "*" }
  Bus:
    Type: AWS::Events::EventBusPolicy
    Properties: { StatementId: s, Statement: { Effect: Allow, Principal: "*", Action: events:PutEvents, Resource: x } }
  Jobs:
    Type: AWS::SQS::Queue
    Properties: { RedrivePolicy: { deadLetterTargetArn: !GetAtt JobsDlq.Arn, maxReceiveCount: 3 } }
  JobsDlq:
    Type: AWS::SQS::Queue
  Data:
    Type: AWS::S3::Bucket
    Properties: { BucketName: data, LoggingConfiguration: { DestinationBucketName: !Ref Logs } }
  Logs:
    Type: AWS::S3::Bucket
  DataPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: data
      PolicyDocument:
        Statement:
          - { Effect: Deny, Principal: "*", Action: "s3:*", Resource: "*", Condition: { Bool: { aws:SecureTransport: false } } }
"#,
        );
        let fact = |i: usize, name: &str| f[i].1.get(name).cloned();
        assert_eq!(fact(0, "public_statements"), Some(json!(["Principal *"])));
        assert_eq!(fact(1, "public_statements"), None, "narrowed to a source");
        assert_eq!(fact(2, "public_statements"), Some(json!(["NotPrincipal"])));
        assert_eq!(fact(3, "public_statements"), Some(json!(["Principal *"])));
        assert_eq!(fact(4, "public_statements"), Some(json!(["Principal *"])));
        assert_eq!(fact(5, "dead_letter_queue"), Some(json!(false)));
        assert_eq!(fact(6, "dead_letter_queue"), Some(json!(true)));
        assert_eq!(fact(7, "tls_only_policy"), Some(json!(true)), "by name");
        assert_eq!(fact(7, "log_bucket"), Some(json!(false)));
        assert_eq!(fact(8, "tls_only_policy"), Some(json!(false)));
        assert_eq!(fact(8, "log_bucket"), Some(json!(true)));
        assert_eq!(fact(9, "public_statements"), None, "a Deny is not public");
    }

    #[test]
    fn functions_sharing_a_role_and_async_sources() {
        let f = facts_of(
            r#"
Resources:
  A:
    Type: AWS::Lambda::Function
    Properties: { Role: !GetAtt Shared.Arn }
  B:
    Type: AWS::Lambda::Function
    Properties: { Role: !Sub "${Shared.Arn}", DeadLetterConfig: { TargetArn: arn } }
  C:
    Type: AWS::Lambda::Function
    Properties: { Role: arn:aws:iam::1:role/own }
  S3Invoke:
    Type: AWS::Lambda::Permission
    Properties: { FunctionName: !Ref A, Principal: s3.amazonaws.com, Action: lambda:InvokeFunction }
"#,
        );
        assert_eq!(
            f[0].1,
            json!({"role_shared_with": 1, "async_sources": ["S3"], "on_failure": false})
        );
        assert_eq!(f[1].1, json!({"role_shared_with": 1, "on_failure": true}));
        assert_eq!(f[2].1, json!({"role_shared_with": 0, "on_failure": false}));
    }

    #[test]
    fn sam_routes_use_the_api_default_authorizer() {
        let f = facts_of(
            r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: prod
      Auth: { DefaultAuthorizer: Jwt }
  F:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Covered: { Type: Api, Properties: { RestApiId: !Ref Api, Path: /a, Method: get } }
        OptOut: { Type: Api, Properties: { RestApiId: !Ref Api, Path: /b, Method: post, Auth: { Authorizer: NONE } } }
        Keyed: { Type: Api, Properties: { Path: /c, Method: get, Auth: { ApiKeyRequired: true } } }
        Implicit: { Type: HttpApi, Properties: { Path: /d, Method: put } }
        Preflight: { Type: Api, Properties: { Path: /d, Method: options } }
        Upload: { Type: S3, Properties: { Bucket: !Ref B, Events: s3:ObjectCreated:* } }
"#,
        );
        assert_eq!(
            f[1].1,
            json!({"unauthenticated_routes": ["POST /b", "PUT /d"], "api_key_only_routes": ["GET /c"], "async_sources": ["S3"], "on_failure": false})
        );
        assert_eq!(
            f[0].1,
            json!({"throttled": false, "waf": false, "execution_logs": false, "private": false})
        );
    }

    #[test]
    fn stages_usage_plans_firewalls_domains_and_transport() {
        let f = facts_of(
            r#"
Resources:
  Api: { Type: AWS::ApiGateway::RestApi, Properties: { Name: a } }
  Stage: { Type: AWS::ApiGateway::Stage, Properties: { RestApiId: !Ref Api, StageName: prod } }
  Plan:
    Type: AWS::ApiGateway::UsagePlan
    Properties: { ApiStages: [{ ApiId: !Ref Api, Stage: !Ref Stage }], Throttle: { RateLimit: 10 } }
  Acl:
    Type: AWS::WAFv2::WebACLAssociation
    Properties: { ResourceArn: !Sub "arn:aws:apigateway:${AWS::Region}::/restapis/${Api}/stages/prod", WebACLArn: arn }
  Domain: { Type: AWS::ApiGateway::DomainName, Properties: { DomainName: a.example.com } }
  Domain2:
    Type: AWS::ApiGatewayV2::DomainName
    Properties: { DomainNameConfigurations: [{ SecurityPolicy: TLS_1_2 }, {}] }
  Legacy: { Type: AWS::ApiGatewayV2::Integration, Properties: { IntegrationUri: "http://legacy" } }
  QueuePolicy:
    Type: AWS::SQS::QueuePolicy
    Properties:
      PolicyDocument:
        Statement: [{ Effect: Deny, Principal: "*", Action: "sqs:*", Condition: { Bool: { "aws:SecureTransport": false } } }]
  TopicPolicy:
    Type: AWS::SNS::TopicPolicy
    Properties: { PolicyDocument: { Statement: [{ Effect: Allow, Principal: "*", Action: "sns:Publish" }] } }
"#,
        );
        let by: HashMap<_, _> = f.into_iter().collect();
        assert_eq!(
            by["Stage"],
            json!({"throttled": true, "waf": true, "execution_logs": false, "private": false})
        );
        assert_eq!(by["Domain"], json!({"tls_policy": "TLS_1_0 (default)"}));
        assert_eq!(by["Domain2"], json!({"tls_policy": "TLS_1_2"}));
        assert_eq!(by["Legacy"], json!({"integration_uri": "http://legacy"}));
        assert_eq!(
            by["QueuePolicy"],
            json!({"requires_secure_transport": true})
        );
        assert_eq!(
            by["TopicPolicy"],
            json!({"requires_secure_transport": false, "public_statements": ["Principal *"]})
        );
    }

    #[test]
    fn functions_behind_open_security_groups() {
        let f = facts_of(
            r#"
Resources:
  Open:
    Type: AWS::EC2::SecurityGroup
    Properties: { SecurityGroupIngress: [{ IpProtocol: tcp, CidrIp: 0.0.0.0/0 }] }
  Closed:
    Type: AWS::EC2::SecurityGroup
    Properties: { SecurityGroupIngress: [{ IpProtocol: tcp, CidrIp: 10.0.0.0/8 }] }
  F:
    Type: AWS::Lambda::Function
    Properties: { VpcConfig: { SecurityGroupIds: [!Ref Open, !Ref Closed, sg-123] } }
"#,
        );
        assert_eq!(
            f[2].1,
            json!({"open_security_groups": ["Open"], "on_failure": false})
        );
    }
}
