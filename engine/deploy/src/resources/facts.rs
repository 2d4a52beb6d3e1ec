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

use super::refs::{get, list, mentions, target, text, truthy};
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

/// Actions that AWS only lets you grant on `*`; granting them so is not a
/// finding.
const RESOURCE_STAR_ONLY: [&str; 8] = [
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "cloudwatch:PutMetricData",
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
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
        } = &mut g;
        for r in resources {
            let p = &r.properties;
            match r.kind.as_str() {
                k if FUNCTIONS.contains(&k) => {
                    if let Some(role) = role_key(p) {
                        *role_users.entry(role).or_default() += 1;
                    }
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
                    default_auth.insert(r.logical_id.clone(), api_default_auth(p));
                }
                _ => {}
            }
        }
        g
    }
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
    endpoint_facts(kind, &r.properties, &mut facts);
    grant_facts(kind, &r.properties, &mut facts);
    (facts, sam_routes)
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
    if let Some(events) = get(p, "Events").and_then(Value::as_object) {
        for event in events.values() {
            let t = get(event, "Type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let ep = get(event, "Properties").unwrap_or(&Value::Null);
            if ASYNC_EVENTS.contains(&t) {
                sources.insert(t.to_owned());
            } else if t == "Api" || t == "HttpApi" {
                let api = get(ep, if t == "Api" { "RestApiId" } else { "ApiId" }).and_then(target);
                let fallback = api
                    .and_then(|a| default_auth.get(a).copied())
                    .unwrap_or(RouteAuth::None);
                sam_routes.push(Trigger::Route {
                    method: get(ep, "Method")
                        .and_then(Value::as_str)
                        .unwrap_or("ANY")
                        .to_uppercase(),
                    path: get(ep, "Path")
                        .and_then(Value::as_str)
                        .unwrap_or("/")
                        .to_owned(),
                    auth: event_auth(get(ep, "Auth"), fallback),
                });
            }
        }
    }
    for t in &r.triggers {
        if let Trigger::Async(source) = t {
            sources.insert(source.clone());
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

/// Facts about what an endpoint speaks and where it sends requests: TLS
/// policy, integration URI, resource policies that deny plain HTTP.
fn endpoint_facts(kind: &str, p: &Value, facts: &mut Map<String, Value>) {
    if let Some(policy) = tls_policy(kind, p) {
        facts.insert("tls_policy".into(), Value::String(policy));
    }
    let uri = match kind {
        "AWS::ApiGateway::Method" => get(p, "Integration").and_then(|i| get(i, "Uri")),
        "AWS::ApiGateway::Integration" => get(p, "Uri"),
        "AWS::ApiGatewayV2::Integration" => get(p, "IntegrationUri"),
        _ => None,
    };
    if let Some(uri) = uri.and_then(text) {
        facts.insert("integration_uri".into(), Value::String(uri.to_owned()));
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
            insert_set(
                facts,
                "trusts_any_principal",
                open_trust(get(p, "AssumeRolePolicyDocument")),
            );
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
            get(s, "Effect").and_then(Value::as_str) == Some("Deny")
                && ["Bool", "BoolIfExists"].iter().any(|op| {
                    let v = get(s, "Condition")
                        .and_then(|c| get(c, op))
                        .and_then(|b| get(b, "aws:SecureTransport"));
                    matches!(v, Some(Value::Bool(false)))
                        || v.and_then(Value::as_str)
                            .is_some_and(|s| s.eq_ignore_ascii_case("false"))
                })
        })
}

/// The methods (`HTTPMETHOD /path`) of a REST API stage whose response
/// cache is on and not encrypted (`MethodSettings` with `CachingEnabled`
/// and no `CacheDataEncrypted: true`).
fn unencrypted_caches(p: &Value) -> BTreeSet<String> {
    let on = |v: Option<&Value>| match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    list(get(p, "MethodSettings"))
        .iter()
        .filter(|m| on(get(m, "CachingEnabled")) && !on(get(m, "CacheDataEncrypted")))
        .map(|m| {
            format!(
                "{} {}",
                get(m, "HttpMethod").and_then(Value::as_str).unwrap_or("*"),
                get(m, "ResourcePath")
                    .and_then(Value::as_str)
                    .unwrap_or("/*")
            )
        })
        .collect()
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
    let mut open = BTreeSet::new();
    for s in list(document.and_then(|d| get(d, "Statement"))) {
        if get(s, "Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        let narrowed = get(s, "Condition")
            .and_then(Value::as_object)
            .is_some_and(|ops| {
                ops.values().filter_map(Value::as_object).any(|keys| {
                    keys.keys()
                        .any(|k| WHO_CONDITIONS.contains(&k.to_ascii_lowercase().as_str()))
                })
            });
        if narrowed {
            continue;
        }
        if get(s, "NotPrincipal").is_some() {
            open.insert("NotPrincipal".to_owned());
        }
        let principal = get(s, "Principal");
        let anyone = principal.and_then(Value::as_str) == Some("*")
            || list(principal.and_then(|p| get(p, "AWS")))
                .iter()
                .any(|a| a.as_str() == Some("*"));
        if anyone {
            open.insert("*".to_owned());
        }
    }
    open
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
}

impl Grants {
    fn document(&mut self, document: Option<&Value>) {
        for s in list(document.and_then(|d| get(d, "Statement"))) {
            if get(s, "Effect").and_then(Value::as_str) != Some("Allow") {
                continue;
            }
            if get(s, "NotAction").is_some() {
                self.wildcard_actions.insert("NotAction".into());
            }
            let any_resource = list(get(s, "Resource")).iter().any(|r| r == "*")
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
                }
            }
        }
    }

    fn managed(&mut self, arn: &Value) {
        let Some(arn) = text(arn) else { return };
        let name = arn.rsplit('/').next().unwrap_or(arn);
        if ADMIN_POLICIES.contains(&name) && (arn == name || arn.contains(":iam::aws:policy/")) {
            self.admin.insert(name.to_owned());
        }
    }
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
            json!({"wildcard_actions": ["s3:*"], "wildcard_resource_writes": ["dynamodb:PutItem", "s3:*"], "admin_policies": ["AdministratorAccess"]})
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
        assert_eq!(trust(0), Some(json!(["*"])));
        assert_eq!(trust(1), Some(json!(["*", "NotPrincipal"])));
        assert_eq!(trust(2), None, "narrowed by an external id");
        assert_eq!(trust(3), None, "a service principal; a Deny");
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
            json!({"throttled": false, "waf": false, "private": false})
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
            json!({"throttled": true, "waf": true, "private": false})
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
            json!({"requires_secure_transport": false})
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
