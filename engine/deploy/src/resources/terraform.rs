//! Terraform plans (`terraform show -json`): the planned resources of the
//! AWS provider, as the CloudFormation resources they correspond to, so
//! that one rule covers both (`aws_lambda_function` is an
//! `AWS::Lambda::Function` with `Runtime`, `Environment`, `KmsKeyArn`...).
//!
//! The logical id of a resource is its Terraform address
//! (`module.api.aws_lambda_function.orders`); references to other
//! resources, which a plan leaves unknown until apply, are read from the
//! plan's configuration and become `{"Ref": address}`. Resource types
//! without a counterpart keep their Terraform name as their type
//! (`aws_s3_bucket_public_access_block`), so policies can still name them.

use super::Resource;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

pub(crate) fn resources(plan: &Value) -> Vec<Resource> {
    let mut refs = HashMap::new();
    if let Some(root) = plan.pointer("/configuration/root_module") {
        config_refs(root, "", &mut refs);
    }
    let mut out = Vec::new();
    if let Some(root) = plan.pointer("/planned_values/root_module") {
        walk(root, "/planned_values/root_module", &refs, &mut out);
    }
    // A bucket's encryption, versioning and access logging are resources
    // of their own since provider v4: fold them into the bucket, as
    // CloudFormation has them.
    let folds: Vec<(String, &str, Value)> = out
        .iter()
        .filter_map(|r| {
            let (property, value) = match r.kind.as_str() {
                "aws_s3_bucket_server_side_encryption_configuration" => (
                    "BucketEncryption",
                    json!({ "ServerSideEncryptionConfiguration": r.properties.get("rule").cloned().unwrap_or(Value::Null) }),
                ),
                "aws_s3_bucket_versioning" => {
                    let status = r
                        .properties
                        .pointer("/versioning_configuration/0/status")
                        .cloned()
                        .unwrap_or(Value::Null);
                    ("VersioningConfiguration", json!({ "Status": status }))
                }
                "aws_s3_bucket_acl" => match r.properties.get("acl").and_then(Value::as_str) {
                    Some(acl) => ("AccessControl", json!(canned_acl(acl))),
                    None => return None,
                },
                "aws_s3_bucket_public_access_block" => {
                    let flag = |k: &str| r.properties.get(k).cloned().unwrap_or(Value::Bool(false));
                    (
                        "PublicAccessBlockConfiguration",
                        json!({
                            "BlockPublicAcls": flag("block_public_acls"),
                            "BlockPublicPolicy": flag("block_public_policy"),
                            "IgnorePublicAcls": flag("ignore_public_acls"),
                            "RestrictPublicBuckets": flag("restrict_public_buckets"),
                        }),
                    )
                }
                "aws_s3_bucket_logging" => {
                    let target = match r.properties.get("target_bucket") {
                        Some(Value::String(t)) if !t.is_empty() => json!(t),
                        _ => refs
                            .get(&r.logical_id)
                            .and_then(|a| a.get("target_bucket"))
                            .map_or(Value::Null, |a| json!({ "Ref": a })),
                    };
                    ("LoggingConfiguration", json!({ "DestinationBucketName": target }))
                }
                _ => return None,
            };
            let bucket = match r.properties.get("bucket").and_then(Value::as_str) {
                Some(name) if !name.is_empty() => name.to_owned(),
                _ => refs.get(&r.logical_id)?.get("bucket")?.clone(),
            };
            Some((bucket, property, value))
        })
        .collect();
    for (bucket, property, value) in folds {
        for r in out.iter_mut().filter(|r| {
            r.kind == "AWS::S3::Bucket"
                && (r.logical_id == bucket
                    || r.properties.get("BucketName") == Some(&json!(bucket)))
        }) {
            if let Value::Object(p) = &mut r.properties {
                p.insert(property.into(), value.clone());
            }
        }
    }
    out
}

/// `address -> attribute -> referenced resource address`, from the
/// configuration's expressions, modules included.
fn config_refs(module: &Value, prefix: &str, refs: &mut HashMap<String, HashMap<String, String>>) {
    for r in module
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(address) = r.get("address").and_then(Value::as_str) else {
            continue;
        };
        let mut attrs = HashMap::new();
        for (attr, expr) in r
            .get("expressions")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if let Some(target) = reference(expr, prefix) {
                attrs.insert(attr.clone(), target);
            } else if let Some(block) = expr.as_array().and_then(|b| b.first()) {
                // Nested blocks: `vpc_config.0.security_group_ids`.
                for (inner, e) in block.as_object().into_iter().flatten() {
                    if let Some(target) = reference(e, prefix) {
                        attrs.insert(format!("{attr}.{inner}"), target);
                    }
                }
            }
        }
        refs.insert(format!("{prefix}{address}"), attrs);
    }
    for (name, call) in module
        .get("module_calls")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(inner) = call.get("module") {
            config_refs(inner, &format!("{prefix}module.{name}."), refs);
        }
    }
}

/// The resource address an expression references (`aws_iam_role.lambda`
/// from `["aws_iam_role.lambda.arn", "aws_iam_role.lambda"]`).
fn reference(expr: &Value, prefix: &str) -> Option<String> {
    let list = expr.get("references")?.as_array()?;
    list.iter()
        .filter_map(Value::as_str)
        .filter(|r| !r.starts_with("var.") && !r.starts_with("local.") && !r.starts_with("data."))
        .filter_map(|r| {
            let parts: Vec<&str> = r.split('.').collect();
            let n = if parts.first() == Some(&"module") {
                4
            } else {
                2
            };
            parts.get(..n).map(|p| p.join("."))
        })
        .next()
        .map(|a| format!("{prefix}{a}"))
}

fn walk(
    module: &Value,
    pointer: &str,
    refs: &HashMap<String, HashMap<String, String>>,
    out: &mut Vec<Resource>,
) {
    for (i, r) in module
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if r.get("mode").and_then(Value::as_str) != Some("managed") {
            continue;
        }
        let (Some(address), Some(kind)) = (
            r.get("address").and_then(Value::as_str),
            r.get("type").and_then(Value::as_str),
        ) else {
            continue;
        };
        let values = r.get("values").cloned().unwrap_or_else(|| json!({}));
        let no_refs = HashMap::new();
        let refs = refs.get(address).unwrap_or(&no_refs);
        let (cfn, properties) = convert(kind, &values, refs);
        out.push(Resource::new(
            address.to_owned(),
            cfn.unwrap_or(kind),
            properties,
            format!("{pointer}/resources/{i}"),
        ));
    }
    for (i, child) in module
        .get("child_modules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        walk(child, &format!("{pointer}/child_modules/{i}"), refs, out);
    }
}

/// Reads the planned values of one resource.
struct Values<'a> {
    values: &'a Value,
    refs: &'a HashMap<String, String>,
    out: Map<String, Value>,
}

impl Values<'_> {
    fn get(&self, path: &str) -> Option<Value> {
        let mut v = self.values;
        for part in path.split('.') {
            v = match v {
                Value::Array(a) => a.first()?.get(part)?,
                _ => v.get(part)?,
            };
        }
        match v {
            Value::Null => None,
            Value::Array(a) if a.is_empty() => None,
            Value::String(s) if s.is_empty() => None,
            v => Some(v.clone()),
        }
    }

    /// The planned value, or a reference to the resource it comes from.
    fn value_or_ref(&self, path: &str) -> Option<Value> {
        self.get(path)
            .or_else(|| self.refs.get(path).map(|a| json!({ "Ref": a })))
    }

    fn set(&mut self, cfn: &str, v: Option<Value>) {
        if let Some(v) = v {
            self.out.insert(cfn.to_owned(), v);
        }
    }

    fn copy(&mut self, tf: &str, cfn: &str) {
        let v = self.value_or_ref(tf);
        self.set(cfn, v);
    }

    /// A policy document, which a plan holds as JSON text.
    fn document(&mut self, tf: &str, cfn: &str) {
        let v = self.get(tf).map(|v| match v {
            Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
            v => v,
        });
        self.set(cfn, v);
    }
}

/// How one Terraform resource type becomes the CloudFormation type the
/// rules know: the attributes copied under their CloudFormation names, the
/// policy documents (JSON text in a plan) parsed, and what needs code.
struct Mapping {
    terraform: &'static str,
    cloudformation: &'static str,
    /// `(terraform attribute, CloudFormation property)`; a dotted path
    /// reads into nested blocks. An unknown value becomes a `Ref` to the
    /// resource it comes from.
    copies: &'static [(&'static str, &'static str)],
    /// Policy documents: `(terraform attribute, CloudFormation property)`.
    documents: &'static [(&'static str, &'static str)],
    /// Properties that are not one attribute renamed.
    build: Option<fn(&mut Values<'_>)>,
}

const fn map(
    terraform: &'static str,
    cloudformation: &'static str,
    copies: &'static [(&'static str, &'static str)],
) -> Mapping {
    Mapping {
        terraform,
        cloudformation,
        copies,
        documents: &[],
        build: None,
    }
}

const fn with_documents(
    mut m: Mapping,
    documents: &'static [(&'static str, &'static str)],
) -> Mapping {
    m.documents = documents;
    m
}

const fn with_build(mut m: Mapping, build: fn(&mut Values<'_>)) -> Mapping {
    m.build = Some(build);
    m
}

/// A canned ACL as CloudFormation names it (`public-read` is `PublicRead`).
fn canned_acl(acl: &str) -> String {
    acl.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Every Terraform type Palisade reads, and how.
const MAPPINGS: &[Mapping] = &[
    with_build(
        map(
            "aws_lambda_function",
            "AWS::Lambda::Function",
            &[
                ("runtime", "Runtime"),
                ("role", "Role"),
                ("kms_key_arn", "KmsKeyArn"),
                ("code_signing_config_arn", "CodeSigningConfigArn"),
            ],
        ),
        lambda_function,
    ),
    map(
        "aws_lambda_function_url",
        "AWS::Lambda::Url",
        &[
            ("authorization_type", "AuthType"),
            ("function_name", "TargetFunctionArn"),
        ],
    ),
    map(
        "aws_lambda_permission",
        "AWS::Lambda::Permission",
        &[
            ("action", "Action"),
            ("principal", "Principal"),
            ("source_arn", "SourceArn"),
            ("source_account", "SourceAccount"),
            ("function_name", "FunctionName"),
        ],
    ),
    with_build(
        map(
            "aws_lambda_function_event_invoke_config",
            "AWS::Lambda::EventInvokeConfig",
            &[("function_name", "FunctionName")],
        ),
        |v| {
            if let Some(d) = v.value_or_ref("destination_config.on_failure.destination") {
                v.set(
                    "DestinationConfig",
                    Some(json!({ "OnFailure": { "Destination": d } })),
                );
            }
        },
    ),
    with_build(
        with_documents(
            map(
                "aws_iam_role",
                "AWS::IAM::Role",
                &[("managed_policy_arns", "ManagedPolicyArns")],
            ),
            &[("assume_role_policy", "AssumeRolePolicyDocument")],
        ),
        iam_role_inline_policies,
    ),
    with_documents(
        map(
            "aws_iam_role_policy",
            "AWS::IAM::RolePolicy",
            &[("role", "RoleName")],
        ),
        &[("policy", "PolicyDocument")],
    ),
    with_documents(
        map("aws_iam_policy", "AWS::IAM::ManagedPolicy", &[]),
        &[("policy", "PolicyDocument")],
    ),
    map(
        "aws_iam_role_policy_attachment",
        "AWS::IAM::RolePolicyAttachment",
        &[("policy_arn", "PolicyArn"), ("role", "Role")],
    ),
    map(
        "aws_api_gateway_method",
        "AWS::ApiGateway::Method",
        &[
            ("authorization", "AuthorizationType"),
            ("http_method", "HttpMethod"),
            ("api_key_required", "ApiKeyRequired"),
            ("rest_api_id", "RestApiId"),
        ],
    ),
    map(
        "aws_api_gateway_integration",
        "AWS::ApiGateway::Integration",
        &[("type", "Type"), ("uri", "Uri")],
    ),
    with_build(
        map("aws_api_gateway_rest_api", "AWS::ApiGateway::RestApi", &[]),
        |v| {
            if let Some(types) = v.get("endpoint_configuration.types") {
                v.set("EndpointConfiguration", Some(json!({ "Types": types })));
            }
        },
    ),
    with_build(
        map(
            "aws_api_gateway_stage",
            "AWS::ApiGateway::Stage",
            &[
                ("rest_api_id", "RestApiId"),
                ("stage_name", "StageName"),
                ("xray_tracing_enabled", "TracingEnabled"),
            ],
        ),
        |v| {
            if let Some(d) = v.value_or_ref("access_log_settings.destination_arn") {
                v.set("AccessLogSetting", Some(json!({ "DestinationArn": d })));
            }
        },
    ),
    with_build(
        map(
            "aws_api_gateway_method_settings",
            "AWS::ApiGateway::MethodSettings",
            &[("rest_api_id", "RestApiId"), ("stage_name", "StageName")],
        ),
        |v| {
            let rate = v.get("settings.throttling_rate_limit");
            let burst = v.get("settings.throttling_burst_limit");
            let caching = v.get("settings.caching_enabled");
            let encrypted = v.get("settings.cache_data_encrypted");
            let logging = v.get("settings.logging_level");
            // `method_path` is `RESOURCE/METHOD`; `*/*` is every method.
            let (path, method) = match v.get("method_path") {
                Some(Value::String(p)) => match p.rsplit_once('/') {
                    Some(("*", m)) => ("/*".to_owned(), m.to_owned()),
                    Some((r, m)) => (format!("/{}", r.trim_start_matches('/')), m.to_owned()),
                    None => ("/*".to_owned(), "*".to_owned()),
                },
                _ => ("/*".to_owned(), "*".to_owned()),
            };
            v.set(
                "MethodSettings",
                Some(json!([{
                    "HttpMethod": method,
                    "ResourcePath": path,
                    "ThrottlingRateLimit": rate,
                    "ThrottlingBurstLimit": burst,
                    "CachingEnabled": caching,
                    "CacheDataEncrypted": encrypted,
                    "LoggingLevel": logging,
                }])),
            );
        },
    ),
    with_build(
        map(
            "aws_api_gateway_usage_plan",
            "AWS::ApiGateway::UsagePlan",
            &[
                ("throttle_settings", "Throttle"),
                ("quota_settings", "Quota"),
            ],
        ),
        usage_plan_stages,
    ),
    map(
        "aws_api_gateway_domain_name",
        "AWS::ApiGateway::DomainName",
        &[
            ("security_policy", "SecurityPolicy"),
            ("domain_name", "DomainName"),
        ],
    ),
    map(
        "aws_apigatewayv2_api",
        "AWS::ApiGatewayV2::Api",
        &[("protocol_type", "ProtocolType")],
    ),
    map(
        "aws_apigatewayv2_route",
        "AWS::ApiGatewayV2::Route",
        &[
            ("route_key", "RouteKey"),
            ("authorization_type", "AuthorizationType"),
            ("api_key_required", "ApiKeyRequired"),
            ("authorizer_id", "AuthorizerId"),
        ],
    ),
    map(
        "aws_apigatewayv2_integration",
        "AWS::ApiGatewayV2::Integration",
        &[
            ("integration_type", "IntegrationType"),
            ("integration_uri", "IntegrationUri"),
        ],
    ),
    with_build(
        map(
            "aws_apigatewayv2_stage",
            "AWS::ApiGatewayV2::Stage",
            &[("name", "StageName")],
        ),
        http_api_stage,
    ),
    with_build(
        map(
            "aws_apigatewayv2_domain_name",
            "AWS::ApiGatewayV2::DomainName",
            &[("domain_name", "DomainName")],
        ),
        |v| {
            if let Some(policy) = v.get("domain_name_configuration.security_policy") {
                v.set(
                    "DomainNameConfigurations",
                    Some(json!([{ "SecurityPolicy": policy }])),
                );
            }
        },
    ),
    with_build(
        map(
            "aws_cloudwatch_log_group",
            "AWS::Logs::LogGroup",
            &[("kms_key_id", "KmsKeyId")],
        ),
        |v| match v.get("retention_in_days") {
            Some(n) if n.as_i64().is_some_and(|n| n > 0) => v.set("RetentionInDays", Some(n)),
            _ => {}
        },
    ),
    with_build(
        with_documents(
            map(
                "aws_sqs_queue",
                "AWS::SQS::Queue",
                &[
                    ("name", "QueueName"),
                    ("kms_master_key_id", "KmsMasterKeyId"),
                    ("sqs_managed_sse_enabled", "SqsManagedSseEnabled"),
                ],
            ),
            &[
                ("redrive_policy", "RedrivePolicy"),
                ("redrive_allow_policy", "RedriveAllowPolicy"),
            ],
        ),
        // A redrive policy whose target is created in the same apply is
        // unknown in the plan: the configuration names the target.
        |v| {
            if v.get("redrive_policy").is_none()
                && let Some(target) = v.value_or_ref("redrive_policy")
            {
                v.set(
                    "RedrivePolicy",
                    Some(json!({ "deadLetterTargetArn": target })),
                );
            }
        },
    ),
    with_documents(
        map("aws_sqs_queue_policy", "AWS::SQS::QueuePolicy", &[]),
        &[("policy", "PolicyDocument")],
    ),
    map(
        "aws_sns_topic",
        "AWS::SNS::Topic",
        &[("kms_master_key_id", "KmsMasterKeyId")],
    ),
    with_documents(
        map("aws_sns_topic_policy", "AWS::SNS::TopicPolicy", &[]),
        &[("policy", "PolicyDocument")],
    ),
    map(
        "aws_sns_topic_subscription",
        "AWS::SNS::Subscription",
        &[("protocol", "Protocol"), ("endpoint", "Endpoint")],
    ),
    with_build(
        map("aws_dynamodb_table", "AWS::DynamoDB::Table", &[]),
        |v| {
            dynamodb_encryption(v);
            if let Some(on) = v.get("point_in_time_recovery.enabled") {
                v.set(
                    "PointInTimeRecoverySpecification",
                    Some(json!({ "PointInTimeRecoveryEnabled": on })),
                );
            }
        },
    ),
    with_build(
        map(
            "aws_s3_bucket",
            "AWS::S3::Bucket",
            &[("bucket", "BucketName")],
        ),
        |v| {
            if let Some(rule) = v.get("server_side_encryption_configuration.rule") {
                v.set(
                    "BucketEncryption",
                    Some(json!({ "ServerSideEncryptionConfiguration": [rule] })),
                );
            }
            // Provider v3's inline ACL, versioning and logging blocks.
            if let Some(Value::String(acl)) = v.get("acl") {
                v.set("AccessControl", Some(json!(canned_acl(&acl))));
            }
            if v.get("versioning.enabled") == Some(Value::Bool(true)) {
                v.set(
                    "VersioningConfiguration",
                    Some(json!({ "Status": "Enabled" })),
                );
            }
            if let Some(target) = v.get("logging.target_bucket") {
                v.set(
                    "LoggingConfiguration",
                    Some(json!({ "DestinationBucketName": target })),
                );
            }
        },
    ),
    with_documents(
        map(
            "aws_s3_bucket_policy",
            "AWS::S3::BucketPolicy",
            &[("bucket", "Bucket")],
        ),
        &[("policy", "PolicyDocument")],
    ),
    with_documents(
        map(
            "aws_kms_key",
            "AWS::KMS::Key",
            &[
                ("enable_key_rotation", "EnableKeyRotation"),
                ("customer_master_key_spec", "KeySpec"),
                ("key_usage", "KeyUsage"),
            ],
        ),
        &[("policy", "KeyPolicy")],
    ),
    map(
        "aws_lambda_layer_version_permission",
        "AWS::Lambda::LayerVersionPermission",
        &[
            ("principal", "Principal"),
            ("organization_id", "OrganizationId"),
            ("action", "Action"),
        ],
    ),
    with_documents(
        map(
            "aws_secretsmanager_secret_policy",
            "AWS::SecretsManager::ResourcePolicy",
            &[("secret_arn", "SecretId")],
        ),
        &[("policy", "ResourcePolicy")],
    ),
    with_documents(
        map(
            "aws_cloudwatch_event_bus_policy",
            "AWS::Events::EventBusPolicy",
            &[],
        ),
        &[("policy", "Policy")],
    ),
    map(
        "aws_cognito_user_pool",
        "AWS::Cognito::UserPool",
        &[("mfa_configuration", "MfaConfiguration")],
    ),
    map(
        "aws_cognito_identity_pool",
        "AWS::Cognito::IdentityPool",
        &[(
            "allow_unauthenticated_identities",
            "AllowUnauthenticatedIdentities",
        )],
    ),
    with_build(
        map(
            "aws_appsync_graphql_api",
            "AWS::AppSync::GraphQLApi",
            &[("authentication_type", "AuthenticationType")],
        ),
        |v| {
            let role = v.value_or_ref("log_config.cloudwatch_logs_role_arn");
            if let Some(level) = v.get("log_config.field_log_level") {
                let mut config = serde_json::Map::new();
                config.insert("FieldLogLevel".into(), level);
                if let Some(role) = role {
                    config.insert("CloudWatchLogsRoleArn".into(), role);
                }
                v.set("LogConfig", Some(Value::Object(config)));
            }
        },
    ),
    with_build(
        map(
            "aws_sfn_state_machine",
            "AWS::StepFunctions::StateMachine",
            &[],
        ),
        |v| {
            if let Some(level) = v.get("logging_configuration.level") {
                // AWS requires a destination for every level but OFF; a log
                // group made in the same apply is unknown in the plan.
                let group = v
                    .value_or_ref("logging_configuration.log_destination")
                    .unwrap_or_else(|| json!("(known after apply)"));
                let destinations = json!([{ "CloudWatchLogsLogGroup": { "LogGroupArn": group } }]);
                v.set(
                    "LoggingConfiguration",
                    Some(json!({ "Level": level, "Destinations": destinations })),
                );
            }
            if let Some(on) = v.get("tracing_configuration.enabled") {
                v.set("TracingConfiguration", Some(json!({ "Enabled": on })));
            }
        },
    ),
    with_build(
        map("aws_security_group", "AWS::EC2::SecurityGroup", &[]),
        security_group_ingress,
    ),
    map(
        "aws_vpc_security_group_ingress_rule",
        "AWS::EC2::SecurityGroupIngress",
        &[
            ("cidr_ipv4", "CidrIp"),
            ("cidr_ipv6", "CidrIpv6"),
            ("security_group_id", "GroupId"),
        ],
    ),
    map(
        "aws_secretsmanager_secret",
        "AWS::SecretsManager::Secret",
        &[("kms_key_id", "KmsKeyId")],
    ),
    map(
        "aws_wafv2_web_acl",
        "AWS::WAFv2::WebACL",
        &[("rule", "Rules")],
    ),
    map(
        "aws_wafv2_rule_group",
        "AWS::WAFv2::RuleGroup",
        &[("rule", "Rules")],
    ),
    map(
        "aws_appsync_api_cache",
        "AWS::AppSync::ApiCache",
        &[
            ("at_rest_encryption_enabled", "AtRestEncryptionEnabled"),
            ("transit_encryption_enabled", "TransitEncryptionEnabled"),
        ],
    ),
    map(
        "aws_wafv2_web_acl_association",
        "AWS::WAFv2::WebACLAssociation",
        &[
            ("resource_arn", "ResourceArn"),
            ("web_acl_arn", "WebACLArn"),
        ],
    ),
    with_build(
        map("aws_cloudwatch_event_target", "AWS::Events::Rule", &[]),
        |v| {
            if let Some(arn) = v.value_or_ref("arn") {
                v.set("Targets", Some(json!([{ "Arn": arn }])));
            }
        },
    ),
];

/// A Terraform resource's planned values as the properties of the
/// CloudFormation type the rules know (`None` for a type Palisade does
/// not read: its values are kept as they are).
fn convert(
    kind: &str,
    values: &Value,
    refs: &HashMap<String, String>,
) -> (Option<&'static str>, Value) {
    let Some(m) = MAPPINGS.iter().find(|m| m.terraform == kind) else {
        return (None, values.clone());
    };
    let mut v = Values {
        values,
        refs,
        out: Map::new(),
    };
    for (tf, cfn) in m.documents {
        v.document(tf, cfn);
    }
    for (tf, cfn) in m.copies {
        v.copy(tf, cfn);
    }
    if let Some(build) = m.build {
        build(&mut v);
    }
    (Some(m.cloudformation), Value::Object(v.out))
}

fn lambda_function(v: &mut Values<'_>) {
    if let Some(vars) = v.get("environment.variables") {
        v.set("Environment", Some(json!({ "Variables": vars })));
    }
    if let Some(mode) = v.get("tracing_config.mode") {
        v.set("TracingConfig", Some(json!({ "Mode": mode })));
    }
    match v.get("reserved_concurrent_executions") {
        Some(n) if n.as_i64().is_some_and(|n| n >= 0) => {
            v.set("ReservedConcurrentExecutions", Some(n));
        }
        _ => {}
    }
    if let Some(t) = v.value_or_ref("dead_letter_config.target_arn") {
        v.set("DeadLetterConfig", Some(json!({ "TargetArn": t })));
    }
    let groups = v.get("vpc_config.security_group_ids").or_else(|| {
        v.refs
            .get("vpc_config.security_group_ids")
            .map(|a| json!([{ "Ref": a }]))
    });
    if let Some(g) = groups {
        v.set("VpcConfig", Some(json!({ "SecurityGroupIds": g })));
    }
}

fn iam_role_inline_policies(v: &mut Values<'_>) {
    let inline: Vec<Value> = v
        .values
        .get("inline_policy")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let text = p.get("policy")?.as_str()?;
            let doc: Value = serde_json::from_str(text).ok()?;
            Some(json!({ "PolicyName": p.get("name"), "PolicyDocument": doc }))
        })
        .collect();
    if !inline.is_empty() {
        v.set("Policies", Some(Value::Array(inline)));
    }
}

fn usage_plan_stages(v: &mut Values<'_>) {
    if let Some(stages) = v.values.get("api_stages").and_then(Value::as_array) {
        let s: Vec<Value> = stages
            .iter()
            .map(|s| json!({ "ApiId": s.get("api_id"), "Stage": s.get("stage") }))
            .collect();
        v.set("ApiStages", Some(Value::Array(s)));
    }
    if let Some(r) = v.refs.get("api_stages.api_id") {
        v.set("ApiStages", Some(json!([{ "ApiId": { "Ref": r } }])));
    }
}

fn http_api_stage(v: &mut Values<'_>) {
    if let Some(d) = v.value_or_ref("access_log_settings.destination_arn") {
        v.set("AccessLogSettings", Some(json!({ "DestinationArn": d })));
    }
    let rate = v.get("default_route_settings.throttling_rate_limit");
    let burst = v.get("default_route_settings.throttling_burst_limit");
    // A plan shows 0 for "not set".
    let set = |x: &Option<Value>| x.as_ref().and_then(Value::as_f64).is_some_and(|n| n > 0.0);
    if set(&rate) || set(&burst) {
        v.set(
            "DefaultRouteSettings",
            Some(json!({ "ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst })),
        );
    }
}

fn dynamodb_encryption(v: &mut Values<'_>) {
    let enabled = v.get("server_side_encryption.enabled");
    let key = v.value_or_ref("server_side_encryption.kms_key_arn");
    if let Some(enabled) = enabled {
        let mut sse = json!({ "SSEEnabled": enabled, "SSEType": "KMS" });
        if let (Some(k), Value::Object(o)) = (key, &mut sse) {
            o.insert("KMSMasterKeyId".into(), k);
        }
        v.set("SSESpecification", Some(sse));
    }
}

fn security_group_ingress(v: &mut Values<'_>) {
    // One CloudFormation ingress per address range, under `CidrIp` or
    // `CidrIpv6`.
    let port = |rule: &Value, key: &str, cidr: &Value| {
        json!({
            key: cidr,
            "FromPort": rule.get("from_port"),
            "ToPort": rule.get("to_port"),
        })
    };
    let ingress: Vec<Value> = v
        .values
        .get("ingress")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|rule| {
            let cidrs = |k: &str| {
                rule.get(k)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            };
            cidrs("cidr_blocks")
                .iter()
                .map(|c| port(rule, "CidrIp", c))
                .chain(
                    cidrs("ipv6_cidr_blocks")
                        .iter()
                        .map(|c| port(rule, "CidrIpv6", c)),
                )
                .collect::<Vec<_>>()
        })
        .collect();
    v.set("SecurityGroupIngress", Some(Value::Array(ingress)));
}

#[cfg(test)]
mod tests {
    use crate::document::Document;
    use serde_json::json;

    #[test]
    fn each_terraform_type_is_mapped_once() {
        let mut seen = std::collections::HashSet::new();
        for m in super::MAPPINGS {
            assert!(seen.insert(m.terraform), "{} twice", m.terraform);
            assert!(
                m.cloudformation.starts_with("AWS::"),
                "{}",
                m.cloudformation
            );
        }
    }

    #[test]
    fn security_group_rules_become_one_ingress_per_address_range() {
        let values = json!({"ingress": [
            {"from_port": 22, "to_port": 22, "cidr_blocks": ["0.0.0.0/0"], "ipv6_cidr_blocks": ["::/0"]},
            {"from_port": 443, "to_port": 443, "cidr_blocks": [], "ipv6_cidr_blocks": []}
        ]});
        let (kind, props) = super::convert(
            "aws_security_group",
            &values,
            &std::collections::HashMap::new(),
        );
        assert_eq!(kind, Some("AWS::EC2::SecurityGroup"));
        assert_eq!(
            props,
            json!({"SecurityGroupIngress": [
                {"CidrIp": "0.0.0.0/0", "FromPort": 22, "ToPort": 22},
                {"CidrIpv6": "::/0", "FromPort": 22, "ToPort": 22}
            ]})
        );
        // A type Palisade does not read keeps its values.
        let (kind, props) = super::convert(
            "aws_kinesis_stream",
            &values,
            &std::collections::HashMap::new(),
        );
        assert_eq!((kind, props), (None, values));
    }

    #[test]
    fn plans_become_cloudformation_resources_with_references() {
        let plan = json!({
            "format_version": "1.2",
            "planned_values": {"root_module": {
                "resources": [
                    {"address": "aws_lambda_function.f", "mode": "managed", "type": "aws_lambda_function", "name": "f",
                     "values": {"runtime": "python3.8", "environment": [{"variables": {"A": "1"}}], "tracing_config": [{"mode": "PassThrough"}], "reserved_concurrent_executions": -1}},
                    {"address": "aws_iam_role.r", "mode": "managed", "type": "aws_iam_role", "name": "r",
                     "values": {"inline_policy": [{"name": "p", "policy": "{\"Statement\":[{\"Action\":\"*\",\"Effect\":\"Allow\",\"Resource\":\"*\"}]}"}]}},
                    {"address": "data.aws_caller_identity.me", "mode": "data", "type": "aws_caller_identity", "name": "me", "values": {}}
                ],
                "child_modules": [{"address": "module.m", "resources": [
                    {"address": "module.m.aws_sqs_queue.q", "mode": "managed", "type": "aws_sqs_queue", "name": "q", "values": {"sqs_managed_sse_enabled": false}}
                ]}]
            }},
            "configuration": {"root_module": {"resources": [
                {"address": "aws_lambda_function.f", "expressions": {"role": {"references": ["aws_iam_role.r.arn", "aws_iam_role.r"]}}}
            ]}}
        });
        let doc = Document::from_value("plan.json", plan);
        let r = super::super::resources(&doc);
        let ids: Vec<_> = r
            .iter()
            .map(|r| (r.logical_id.as_str(), r.kind.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("aws_lambda_function.f", "AWS::Lambda::Function"),
                ("aws_iam_role.r", "AWS::IAM::Role"),
                ("module.m.aws_sqs_queue.q", "AWS::SQS::Queue")
            ]
        );
        assert_eq!(
            r[0].properties,
            json!({"Runtime": "python3.8", "Role": {"Ref": "aws_iam_role.r"}, "Environment": {"Variables": {"A": "1"}}, "TracingConfig": {"Mode": "PassThrough"}})
        );
        assert_eq!(r[0].facts["role_shared_with"], 0);
        assert_eq!(r[1].facts["wildcard_actions"], json!(["*"]));
        assert_eq!(
            r[2].pointer,
            "/planned_values/root_module/child_modules/0/resources/0"
        );
    }
}
