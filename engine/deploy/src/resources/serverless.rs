//! Serverless Framework services (`serverless.yml`): the CloudFormation
//! resources the framework would generate for them.
//!
//! Each function becomes an `AWS::Lambda::Function` (and `AWS::Lambda::Url`)
//! with provider settings inherited; the service's IAM statements become the
//! shared `IamRoleLambdaExecution` role (or a role per function with
//! function-level `iamRoleStatements`); `http` and `httpApi` events become
//! routes and the APIs' stages; `resources.Resources` is plain
//! CloudFormation. `${self:...}` variables are resolved from the file
//! (see `variables`); the others stay as they are.

use super::refs::{falsy, get, truthy};
use super::{Resource, RouteAuth, Trigger, escape};
use serde_json::{Map, Value, json};

/// Serverless events that invoke a function asynchronously, with the SAM
/// name of their kind.
const ASYNC: [(&str, &str); 7] = [
    ("s3", "S3"),
    ("sns", "SNS"),
    ("schedule", "Schedule"),
    ("eventBridge", "EventBridgeRule"),
    ("cloudwatchEvent", "CloudWatchEvent"),
    ("cloudwatchLog", "CloudWatchLogs"),
    ("iot", "IoTRule"),
];

const SHARED_ROLE: &str = "IamRoleLambdaExecution";

/// The resources a `serverless.yml` makes: per function, the function (with
/// the provider's settings applied), its role when it has statements of
/// its own, and its URL; the shared role, the REST and HTTP API stages
/// when functions use them; `resources.extensions` applied; and the
/// CloudFormation of `resources.Resources`.
pub(crate) fn resources(doc: &Value) -> Vec<Resource> {
    // `${self:...}` answered from the file (the structure, and so every
    // pointer, stays the same).
    let resolved = super::variables::resolve(doc);
    let doc: &Value = &resolved;
    let provider = doc.get("provider").unwrap_or(&Value::Null);
    let mut out = Vec::new();
    let mut shared_role_used = false;
    let mut rest_api = false;
    let mut http_api = false;
    let mut websocket_routes = Vec::new();
    let provider_role = get(provider, "iam")
        .and_then(|i| get(i, "role"))
        .filter(|r| r.is_string() || r.get("Fn::GetAtt").is_some())
        .or_else(|| get(provider, "role"))
        .map(role_value);
    // `functions` is a mapping, or a list of mappings (one per included
    // file: `- ${file(./orders.yml)}`, resolved).
    let functions: Vec<(&String, &Value, String)> = match doc.get("functions") {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(n, f)| (n, f, format!("/functions/{}", escape(n))))
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .flat_map(|(i, item)| {
                item.as_object()
                    .into_iter()
                    .flatten()
                    .map(move |(n, f)| (n, f, format!("/functions/{i}/{}", escape(n))))
            })
            .collect(),
        _ => Vec::new(),
    };
    for (name, f, pointer) in functions {
        let own = |key: &str| get(f, key).cloned();
        let logical = logical_id(name);
        let mut props = function_properties(f, provider);
        // The role: the function's own, one made for its own statements,
        // the provider's, or the service's shared one.
        let role = if let Some(role) = own("role") {
            role_value(&role)
        } else if let Some(statements) = own("iamRoleStatements") {
            let id = format!("{logical}IamRoleLambdaExecution");
            out.push(role_resource(
                &id,
                &statements,
                None,
                format!("{pointer}/iamRoleStatements"),
            ));
            json!({ "Fn::GetAtt": [id, "Arn"] })
        } else if let Some(role) = &provider_role {
            role.clone()
        } else {
            shared_role_used = true;
            json!({ "Fn::GetAtt": [SHARED_ROLE, "Arn"] })
        };
        props.insert("Role".into(), role);

        let mut function = Resource::new(
            format!("{logical}LambdaFunction"),
            "AWS::Lambda::Function",
            Value::Object(props),
            pointer.clone(),
        );
        let (rest, http) = add_events(&mut function, f, &pointer, &mut websocket_routes);
        rest_api |= rest;
        http_api |= http;
        if let Some(url) = own("url")
            && url != Value::Bool(false)
        {
            let iam = get(&url, "authorizer").and_then(Value::as_str) == Some("aws_iam");
            let mut props = Map::new();
            props.insert(
                "AuthType".into(),
                json!(if iam { "AWS_IAM" } else { "NONE" }),
            );
            props.insert(
                "TargetFunctionArn".into(),
                json!({ "Fn::GetAtt": [format!("{logical}LambdaFunction"), "Arn"] }),
            );
            if let Some(origins) = cors_origins(get(&url, "cors")) {
                props.insert("Cors".into(), json!({ "AllowOrigins": origins }));
            }
            out.push(Resource::new(
                format!("{logical}LambdaFunctionUrl"),
                "AWS::Lambda::Url",
                Value::Object(props),
                format!("{pointer}/url"),
            ));
        }
        out.push(function);
    }
    if shared_role_used {
        out.push(shared_role(provider));
    }
    if rest_api {
        out.push(rest_api_stage(provider));
    }
    if http_api {
        out.extend(http_api_resources(provider));
    }
    if !websocket_routes.is_empty() {
        out.extend(websocket_api_resources(provider));
        out.append(&mut websocket_routes);
    }
    apply_extensions(doc, &mut out);
    // `resources` is a mapping, or a list of them (one per included file).
    match doc.get("resources") {
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                out.extend(super::cloudformation::resources(
                    item,
                    &format!("/resources/{i}/Resources"),
                ));
            }
        }
        Some(resources) => out.extend(super::cloudformation::resources(
            resources,
            "/resources/Resources",
        )),
        None => {}
    }
    out
}

/// A function's properties as CloudFormation's, the provider's settings
/// (runtime, environment, KMS key, tracing, VPC) applied under its own.
fn function_properties(f: &Value, provider: &Value) -> Map<String, Value> {
    let own = |key: &str| get(f, key).cloned();
    let from_provider = |key: &str| get(provider, key).cloned();
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
        props.insert("Environment".into(), json!({ "Variables": env }));
    }
    if let Some(key) = own("kmsKeyArn").or_else(|| from_provider("kmsKeyArn")) {
        props.insert("KmsKeyArn".into(), key);
    }
    if let Some(n) = own("reservedConcurrency") {
        props.insert("ReservedConcurrentExecutions".into(), n);
    }
    // The function's own setting wins over the provider's.
    let tracing = own("tracing").or_else(|| {
        get(provider, "tracing")
            .and_then(|t| get(t, "lambda"))
            .cloned()
    });
    if truthy(tracing.as_ref()) || tracing.as_ref().and_then(Value::as_str) == Some("Active") {
        props.insert("TracingConfig".into(), json!({ "Mode": "Active" }));
    }
    match own("vpc").or_else(|| from_provider("vpc")) {
        Some(Value::Object(vpc)) => {
            let mut config = Map::new();
            for (from, to) in [
                ("securityGroupIds", "SecurityGroupIds"),
                ("subnetIds", "SubnetIds"),
            ] {
                if let Some(v) = vpc.get(from) {
                    config.insert(to.into(), v.clone());
                }
            }
            props.insert("VpcConfig".into(), Value::Object(config));
        }
        // A variable (`vpc: ${self:custom.vpc}`) names both, resolved at
        // deploy time: the function is in a VPC whose groups are unknown.
        Some(v @ Value::String(_)) => {
            props.insert(
                "VpcConfig".into(),
                json!({ "SubnetIds": v.clone(), "SecurityGroupIds": v }),
            );
        }
        _ => {}
    }
    if let Some(target) = own("onError") {
        props.insert("DeadLetterConfig".into(), json!({ "TargetArn": target }));
    }
    if let Some(dest) = get(f, "destinations").and_then(|d| get(d, "onFailure")) {
        props.insert(
            "EventInvokeConfig".into(),
            json!({ "DestinationConfig": { "OnFailure": { "Destination": dest } } }),
        );
    }
    props
}

/// The function's events as its triggers (its `websocket` events as the
/// routes the framework makes, into `websocket_routes`); whether it uses a
/// REST API and an HTTP API.
fn add_events(
    function: &mut Resource,
    f: &Value,
    pointer: &str,
    websocket_routes: &mut Vec<Resource>,
) -> (bool, bool) {
    let (mut rest_api, mut http_api) = (false, false);
    for (i, event) in get(f, "events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some((kind, spec)) = event.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        match kind.as_str() {
            "http" => {
                rest_api = true;
                function.triggers.extend(route(spec, rest_auth(spec)));
                function
                    .triggers
                    .extend(http_cors_origin(spec).map(Trigger::CorsOrigin));
            }
            "httpApi" => {
                http_api = true;
                let auth = if has_authorizer(spec) {
                    RouteAuth::Authorizer
                } else {
                    RouteAuth::None
                };
                function.triggers.extend(route(spec, auth));
            }
            "websocket" => {
                let key = match spec {
                    Value::String(s) => Some(s.as_str()),
                    _ => get(spec, "route").and_then(Value::as_str),
                };
                if let Some(key) = key {
                    websocket_routes.push(websocket_route(
                        key,
                        has_authorizer(spec),
                        format!("{pointer}/events/{i}/websocket"),
                    ));
                }
            }
            k => {
                if let Some((_, source)) = ASYNC.iter().find(|(name, _)| *name == k) {
                    function.triggers.push(Trigger::Async((*source).to_owned()));
                }
            }
        }
    }
    (rest_api, http_api)
}

/// The role the framework makes for functions without one of their own,
/// with the provider's statements and managed policies.
fn shared_role(provider: &Value) -> Resource {
    let iam_role = get(provider, "iam").and_then(|i| get(i, "role"));
    let (statements, at) = match (
        iam_role.and_then(|r| get(r, "statements")),
        get(provider, "iamRoleStatements"),
    ) {
        (Some(s), _) => (Some(s), "/provider/iam/role/statements"),
        (None, Some(s)) => (Some(s), "/provider/iamRoleStatements"),
        (None, None) => (None, "/provider"),
    };
    let managed = iam_role
        .and_then(|r| get(r, "managedPolicies"))
        .or_else(|| get(provider, "iamManagedPolicies"));
    let mut role = role_resource(
        SHARED_ROLE,
        statements.unwrap_or(&Value::Null),
        managed,
        at.to_owned(),
    );
    role.generated = true;
    role
}

/// The REST API stage the framework makes: access logs, tracing and the
/// usage plan's throttle as the provider sets them.
fn rest_api_stage(provider: &Value) -> Resource {
    // `logs.restApi: true`, or an object whose `accessLogging` and
    // `executionLogging` default to true (execution logs at `level`, INFO
    // by default).
    let logs = get(provider, "logs").and_then(|l| get(l, "restApi"));
    let mut stage = Map::new();
    let mut settings = Vec::new();
    if truthy(logs) || logs.is_some_and(Value::is_object) {
        let off = |key: &str| {
            logs.and_then(|l| get(l, key))
                .is_some_and(|v| falsy(Some(v)))
        };
        if !off("accessLogging") {
            stage.insert("AccessLogSetting".into(), json!({ "Format": "serverless" }));
        }
        if !off("executionLogging") {
            let level = logs
                .and_then(|l| get(l, "level"))
                .cloned()
                .unwrap_or_else(|| json!("INFO"));
            settings
                .push(json!({ "HttpMethod": "*", "ResourcePath": "/*", "LoggingLevel": level }));
        }
    }
    if truthy(get(provider, "tracing").and_then(|t| get(t, "apiGateway"))) {
        stage.insert("TracingEnabled".into(), Value::Bool(true));
    }
    let throttle = get(provider, "apiGateway")
        .and_then(|a| get(a, "usagePlan"))
        .and_then(|u| get(u, "throttle"));
    if let Some(t) = throttle {
        settings.push(
            json!({ "ThrottlingRateLimit": get(t, "rateLimit"), "ThrottlingBurstLimit": get(t, "burstLimit") }),
        );
    }
    if !settings.is_empty() {
        stage.insert("MethodSettings".into(), Value::Array(settings));
    }
    let at = if get(provider, "apiGateway").is_some() {
        "/provider/apiGateway"
    } else {
        "/provider"
    };
    stage.insert("RestApiId".into(), json!({ "Ref": "ApiGatewayRestApi" }));
    generated(
        "ApiGatewayStage",
        "AWS::ApiGateway::Stage",
        Value::Object(stage),
        at,
    )
}

/// The HTTP API the framework makes (with the provider's CORS) and its
/// stage (with access logs when the provider turns them on).
fn http_api_resources(provider: &Value) -> [Resource; 2] {
    let at = if get(provider, "httpApi").is_some() {
        "/provider/httpApi"
    } else {
        "/provider"
    };
    let mut api = Map::new();
    api.insert("Name".into(), json!("HttpApi"));
    api.insert("ProtocolType".into(), json!("HTTP"));
    if let Some(origins) = cors_origins(get(provider, "httpApi").and_then(|h| get(h, "cors"))) {
        api.insert(
            "CorsConfiguration".into(),
            json!({ "AllowOrigins": origins }),
        );
    }
    [
        generated("HttpApi", "AWS::ApiGatewayV2::Api", Value::Object(api), at),
        api_v2_stage(provider, "httpApi", "HttpApiStage", "HttpApi", at),
    ]
}

/// The WebSocket API the framework makes for `websocket` events, and its
/// stage (access logs with `logs.websocket`).
fn websocket_api_resources(provider: &Value) -> [Resource; 2] {
    let at = if get(provider, "websocketsApiName").is_some() {
        "/provider/websocketsApiName"
    } else {
        "/provider"
    };
    let selection = get(provider, "websocketsApiRouteSelectionExpression")
        .cloned()
        .unwrap_or_else(|| json!("$request.body.action"));
    let api = json!({
        "Name": "WebsocketsApi",
        "ProtocolType": "WEBSOCKET",
        "RouteSelectionExpression": selection,
    });
    [
        generated("WebsocketsApi", "AWS::ApiGatewayV2::Api", api, at),
        api_v2_stage(
            provider,
            "websocket",
            "WebsocketsDeploymentStage",
            "WebsocketsApi",
            at,
        ),
    ]
}

/// An API Gateway v2 stage of the framework's, with access logs when
/// `provider.logs.<logs>` turns them on.
fn api_v2_stage(provider: &Value, logs: &str, id: &str, api: &str, at: &str) -> Resource {
    let logs = get(provider, "logs").and_then(|l| get(l, logs));
    let mut stage = Map::new();
    stage.insert("ApiId".into(), json!({ "Ref": api }));
    if truthy(logs) || logs.is_some_and(Value::is_object) {
        stage.insert(
            "AccessLogSettings".into(),
            json!({ "Format": "serverless" }),
        );
    }
    generated(id, "AWS::ApiGatewayV2::Stage", Value::Object(stage), at)
}

/// A resource the framework makes from settings spread over the file.
fn generated(id: &str, kind: &str, properties: Value, at: &str) -> Resource {
    let mut resource = Resource::new(id.to_owned(), kind, properties, at.to_owned());
    resource.generated = true;
    resource
}

/// The route a `websocket` event makes: `$connect` with an authorizer is
/// `CUSTOM` (a Lambda authorizer, the only kind WebSocket APIs take).
fn websocket_route(key: &str, authorized: bool, pointer: String) -> Resource {
    // The framework's logical id: `$connect` is `SconnectWebsocketsRoute`.
    let mut id: String = key
        .replace('$', "S")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    if let Some(first) = id.get(..1) {
        id = format!(
            "{}{}",
            first.to_uppercase(),
            id.get(1..).unwrap_or_default()
        );
    }
    Resource::new(
        format!("{id}WebsocketsRoute"),
        "AWS::ApiGatewayV2::Route",
        json!({
            "ApiId": { "Ref": "WebsocketsApi" },
            "RouteKey": key,
            "AuthorizationType": if authorized { "CUSTOM" } else { "NONE" },
        }),
        pointer,
    )
}

/// The origins a `cors` setting allows (`url.cors`, `provider.httpApi.cors`):
/// `true`, or an object without `allowedOrigins`, is the framework's
/// default, any origin.
fn cors_origins(cors: Option<&Value>) -> Option<Value> {
    match cors? {
        Value::Object(o) => Some(
            o.get("allowedOrigins")
                .cloned()
                .unwrap_or_else(|| json!(["*"])),
        ),
        v if truthy(Some(v)) => Some(json!(["*"])),
        _ => None,
    }
}

/// The wildcard origin an `http` event's CORS allows: `cors: true` is the
/// framework's default, `*`; an object's `origin` or `origins` may name
/// it (its default is `*` too).
fn http_cors_origin(spec: &Value) -> Option<String> {
    let cors = get(spec, "cors")?;
    let wildcard = |o: &str| matches!(o.trim(), "*" | "http://*" | "https://*");
    match cors {
        Value::Object(c) => match (c.get("origin"), c.get("origins")) {
            (None, None) => Some("*".into()),
            (origin, origins) => origin
                .into_iter()
                .chain(origins.into_iter().flat_map(|o| super::refs::list(Some(o))))
                .filter_map(Value::as_str)
                .find(|o| wildcard(o))
                .map(str::to_owned),
        },
        v if truthy(Some(v)) => Some("*".into()),
        _ => None,
    }
}

/// Whether an event names an authorizer (`authorizer: ~` or `false` does
/// not: the route is open).
fn has_authorizer(spec: &Value) -> bool {
    match get(spec, "authorizer") {
        None | Some(Value::Null | Value::Bool(false)) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(_) => true,
    }
}

/// `resources.extensions` adds properties to the generated resources
/// (`GetOrderLambdaFunction: {Properties: {CodeSigningConfigArn: ...}}`).
fn apply_extensions(doc: &Value, out: &mut [Resource]) {
    let extensions = doc
        .get("resources")
        .and_then(|r| r.get("extensions"))
        .and_then(Value::as_object);
    for (id, ext) in extensions.into_iter().flatten() {
        let props = ext.get("Properties").and_then(Value::as_object);
        if let Some(r) = out.iter_mut().find(|r| &r.logical_id == id)
            && let (Value::Object(mine), Some(more)) = (&mut r.properties, props)
        {
            mine.extend(more.clone());
        }
    }
}

/// A role given by name (a resource of the service), ARN or reference.
fn role_value(role: &Value) -> Value {
    match role.as_str() {
        Some(name) if !name.contains(':') && !name.contains("${") => {
            json!({ "Fn::GetAtt": [name, "Arn"] })
        }
        _ => role.clone(),
    }
}

fn role_resource(
    id: &str,
    statements: &Value,
    managed: Option<&Value>,
    pointer: String,
) -> Resource {
    let mut props = Map::new();
    props.insert(
        "Policies".into(),
        json!([{ "PolicyName": id, "PolicyDocument": { "Statement": statements } }]),
    );
    if let Some(m) = managed {
        props.insert("ManagedPolicyArns".into(), m.clone());
    }
    Resource::new(
        id.to_owned(),
        "AWS::IAM::Role",
        Value::Object(props),
        pointer,
    )
}

/// How an `http` event authenticates: an authorizer (name, ARN, object,
/// `aws_iam`), an API key only (`private: true`), or nothing.
fn rest_auth(spec: &Value) -> RouteAuth {
    if has_authorizer(spec) {
        RouteAuth::Authorizer
    } else if truthy(get(spec, "private")) {
        RouteAuth::ApiKeyOnly
    } else {
        RouteAuth::None
    }
}

/// The route of an `http`/`httpApi` event: `GET /orders` as a string, or
/// an object with `method` and `path`; `*` is every method and path.
fn route(spec: &Value, auth: RouteAuth) -> Option<Trigger> {
    let (method, path) = match spec {
        Value::String(s) if s == "*" => ("ANY".to_owned(), "/*".to_owned()),
        Value::String(s) => {
            let (m, p) = s.split_once(' ')?;
            (m.to_owned(), p.trim().to_owned())
        }
        Value::Object(_) => (
            get(spec, "method")
                .and_then(Value::as_str)
                .unwrap_or("ANY")
                .to_owned(),
            get(spec, "path")
                .and_then(Value::as_str)
                .unwrap_or("/")
                .to_owned(),
        ),
        _ => return None,
    };
    let method = match method.to_uppercase() {
        m if m == "*" => "ANY".to_owned(),
        m => m,
    };
    let path = if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    };
    Some(Trigger::Route { method, path, auth })
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
