//! `palisade check` on the shipped examples with the built-in bundle.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)] // test code: a panic is a failure report

mod common;

use common::{palisade, root};
use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

const NOW: &str = "2026-11-29T00:00:00Z";

fn check_json(path: &Path, extra: &[&str], cache: &Path) -> (i32, serde_json::Value) {
    let mut args = vec![
        "check",
        path.to_str().unwrap(),
        "--format",
        "json",
        "--now",
        NOW,
    ];
    args.extend_from_slice(extra);
    let out = palisade(&args, cache);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), v)
}

fn rules(v: &serde_json::Value) -> BTreeSet<(String, String)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_owned(),
                f["resource"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_insecure_example_gets_the_findings_a_reviewer_expects() {
    let cache = tempfile::tempdir().unwrap();
    let (code, v) = check_json(
        &root().join("examples/sam/insecure.yaml"),
        &[],
        cache.path(),
    );
    assert_eq!(code, 1, "{v}");
    let expected: BTreeSet<(String, String)> = [
        ("auth.route-without-authorizer", "ListOrders"),
        ("auth.sam-function-url-public", "OrdersFunction"),
        ("enc.dynamodb-default-key", "OrdersTable"),
        ("enc.lambda-env-without-cmk", "OrdersFunction"),
        ("enc.log-group-without-kms", "OrdersLogs"),
        ("enc.s3-bucket-without-encryption", "ReceiptsBucket"),
        ("enc.sqs-unencrypted", "OrdersQueue"),
        ("iam.admin-managed-policy", "WorkerRole"),
        ("iam.lambda-permission-public", "PublicInvoke"),
        ("iam.shared-role", "ListOrders"),
        ("iam.shared-role", "ReceiptWorker"),
        ("iam.wildcard-action", "WorkerRole"),
        ("iam.wildcard-resource-write", "WorkerRole"),
        ("integrity.lambda-without-code-signing", "ListOrders"),
        ("integrity.lambda-without-code-signing", "OrdersFunction"),
        ("integrity.lambda-without-code-signing", "ReceiptWorker"),
        ("log.api-stage-without-access-logs", "OrdersApi"),
        ("log.api-stage-without-execution-logs", "OrdersApi"),
        ("log.log-group-without-retention", "OrdersLogs"),
        ("log.s3-bucket-without-access-logs", "ReceiptsBucket"),
        ("net.api-without-waf", "OrdersApi"),
        ("net.function-not-in-vpc", "ListOrders"),
        ("net.function-not-in-vpc", "OrdersFunction"),
        ("net.function-not-in-vpc", "ReceiptWorker"),
        ("patch.deprecated-runtime", "ListOrders"),
        ("patch.deprecated-runtime", "OrdersFunction"),
        ("patch.deprecated-runtime", "ReceiptWorker"),
        ("rate.api-stage-without-throttling", "OrdersApi"),
        ("rate.lambda-without-reserved-concurrency", "ListOrders"),
        ("rate.lambda-without-reserved-concurrency", "OrdersFunction"),
        ("rate.lambda-without-reserved-concurrency", "ReceiptWorker"),
        ("res.async-function-without-dlq", "ReceiptWorker"),
        ("res.dynamodb-without-pitr", "OrdersTable"),
        ("res.queue-without-dlq", "OrdersQueue"),
        ("res.s3-bucket-without-versioning", "ReceiptsBucket"),
        ("secrets.aws-access-key-id", "OrdersFunction"),
        ("secrets.secret-named-field", "OrdersFunction"),
        (
            "tls.bucket-without-secure-transport-policy",
            "ReceiptsBucket",
        ),
        ("tls.domain-below-tls-1-2", "OrdersApi"),
        ("tls.policy-without-secure-transport", "OrdersQueuePolicy"),
        ("trace.api-stage-without-xray", "OrdersApi"),
        ("trace.sam-function-without-xray", "ListOrders"),
        ("trace.sam-function-without-xray", "OrdersFunction"),
        ("trace.sam-function-without-xray", "ReceiptWorker"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(rules(&v), expected);
    assert!(v["errors"].as_array().unwrap().is_empty(), "{v}");
    // Every finding names its file and line.
    for f in v["findings"].as_array().unwrap() {
        assert!(
            f["file"]
                .as_str()
                .unwrap()
                .ends_with("examples/sam/insecure.yaml"),
            "{f}"
        );
        assert!(f["line"].as_u64().unwrap() > 0, "{f}");
    }
    let url = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "auth.sam-function-url-public")
        .unwrap();
    assert_eq!(url["line"], 12);
    assert_eq!(url["category"], "authentication");
    let key = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "secrets.aws-access-key-id")
        .unwrap();
    assert_eq!(key["line"], 23);
}

#[test]
fn the_secure_example_has_no_findings() {
    let cache = tempfile::tempdir().unwrap();
    let (code, v) = check_json(
        &root().join("examples/sam/secure.yaml"),
        &["--fail-on", "info"],
        cache.path(),
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["findings"].as_array().unwrap().len(), 0, "{v}");
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["bundle"]["name"], "serverless-baseline");
}

fn expected(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn the_serverless_framework_example_gets_its_findings() {
    let cache = tempfile::tempdir().unwrap();
    let (code, v) = check_json(
        &root().join("examples/serverless/insecure.yml"),
        &[],
        cache.path(),
    );
    assert_eq!(code, 1, "{v}");
    assert_eq!(
        rules(&v),
        expected(&[
            ("auth.function-url-public", "GetOrderLambdaFunctionUrl"),
            ("auth.route-without-authorizer", "CreateOrderLambdaFunction"),
            ("auth.route-without-authorizer", "ListOrdersLambdaFunction"),
            ("enc.lambda-env-without-cmk", "CreateOrderLambdaFunction"),
            ("enc.lambda-env-without-cmk", "GetOrderLambdaFunction"),
            ("enc.lambda-env-without-cmk", "ListOrdersLambdaFunction"),
            ("enc.lambda-env-without-cmk", "ReceiptsLambdaFunction"),
            ("enc.sqs-unencrypted", "OrdersQueue"),
            ("iam.shared-role", "CreateOrderLambdaFunction"),
            ("iam.shared-role", "GetOrderLambdaFunction"),
            ("iam.shared-role", "ListOrdersLambdaFunction"),
            ("iam.shared-role", "ReceiptsLambdaFunction"),
            ("iam.wildcard-action", "IamRoleLambdaExecution"),
            ("iam.wildcard-resource-write", "IamRoleLambdaExecution"),
            (
                "integrity.lambda-without-code-signing",
                "CreateOrderLambdaFunction"
            ),
            (
                "integrity.lambda-without-code-signing",
                "GetOrderLambdaFunction"
            ),
            (
                "integrity.lambda-without-code-signing",
                "ListOrdersLambdaFunction"
            ),
            (
                "integrity.lambda-without-code-signing",
                "ReceiptsLambdaFunction"
            ),
            ("log.api-stage-without-access-logs", "ApiGatewayStage"),
            ("log.api-stage-without-access-logs", "HttpApiStage"),
            ("log.api-stage-without-execution-logs", "ApiGatewayStage"),
            ("net.api-without-waf", "ApiGatewayStage"),
            ("net.function-not-in-vpc", "CreateOrderLambdaFunction"),
            ("net.function-not-in-vpc", "GetOrderLambdaFunction"),
            ("net.function-not-in-vpc", "ListOrdersLambdaFunction"),
            ("net.function-not-in-vpc", "ReceiptsLambdaFunction"),
            ("patch.deprecated-runtime", "CreateOrderLambdaFunction"),
            ("patch.deprecated-runtime", "GetOrderLambdaFunction"),
            ("patch.deprecated-runtime", "ListOrdersLambdaFunction"),
            ("patch.deprecated-runtime", "ReceiptsLambdaFunction"),
            ("rate.api-stage-without-throttling", "ApiGatewayStage"),
            ("rate.api-stage-without-throttling", "HttpApiStage"),
            (
                "rate.lambda-without-reserved-concurrency",
                "CreateOrderLambdaFunction"
            ),
            (
                "rate.lambda-without-reserved-concurrency",
                "GetOrderLambdaFunction"
            ),
            (
                "rate.lambda-without-reserved-concurrency",
                "ListOrdersLambdaFunction"
            ),
            (
                "rate.lambda-without-reserved-concurrency",
                "ReceiptsLambdaFunction"
            ),
            ("res.async-function-without-dlq", "ReceiptsLambdaFunction"),
            ("res.queue-without-dlq", "OrdersQueue"),
            ("secrets.secret-named-field", ""),
            ("trace.api-stage-without-xray", "ApiGatewayStage"),
            ("trace.lambda-without-xray", "CreateOrderLambdaFunction"),
            ("trace.lambda-without-xray", "GetOrderLambdaFunction"),
            ("trace.lambda-without-xray", "ListOrdersLambdaFunction"),
            ("trace.lambda-without-xray", "ReceiptsLambdaFunction"),
        ])
    );
    assert!(v["errors"].as_array().unwrap().is_empty(), "{v}");
    let role = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "iam.wildcard-action")
        .unwrap();
    assert_eq!(role["line"], 12, "the provider's statements: {role}");
}

#[test]
fn the_terraform_plan_example_gets_its_findings() {
    let cache = tempfile::tempdir().unwrap();
    let (code, v) = check_json(
        &root().join("examples/terraform/insecure.tfplan.json"),
        &[],
        cache.path(),
    );
    assert_eq!(code, 1, "{v}");
    assert_eq!(
        rules(&v),
        expected(&[
            (
                "auth.api-method-without-authorizer",
                "aws_api_gateway_method.get"
            ),
            ("auth.function-url-public", "aws_lambda_function_url.orders"),
            (
                "auth.http-api-route-without-authorizer",
                "aws_apigatewayv2_route.get_orders"
            ),
            ("enc.dynamodb-default-key", "aws_dynamodb_table.orders"),
            ("enc.lambda-env-without-cmk", "aws_lambda_function.admin"),
            ("enc.lambda-env-without-cmk", "aws_lambda_function.orders"),
            (
                "enc.log-group-without-kms",
                "aws_cloudwatch_log_group.orders"
            ),
            ("enc.s3-bucket-without-encryption", "aws_s3_bucket.uploads"),
            ("enc.sns-unencrypted", "aws_sns_topic.events"),
            ("enc.sqs-unencrypted", "aws_sqs_queue.jobs"),
            (
                "iam.admin-managed-policy",
                "aws_iam_role_policy_attachment.admin"
            ),
            (
                "iam.lambda-permission-public",
                "aws_lambda_permission.public"
            ),
            ("iam.shared-role", "aws_lambda_function.admin"),
            ("iam.shared-role", "aws_lambda_function.orders"),
            ("iam.wildcard-action", "aws_iam_role.lambda"),
            ("iam.wildcard-resource-write", "aws_iam_role.lambda"),
            (
                "integrity.lambda-without-code-signing",
                "aws_lambda_function.admin"
            ),
            (
                "integrity.lambda-without-code-signing",
                "aws_lambda_function.orders"
            ),
            (
                "integrity.lambda-without-code-signing",
                "module.reports.aws_lambda_function.report"
            ),
            (
                "log.api-stage-without-access-logs",
                "aws_api_gateway_stage.v1"
            ),
            (
                "log.api-stage-without-access-logs",
                "aws_apigatewayv2_stage.prod"
            ),
            (
                "log.api-stage-without-execution-logs",
                "aws_api_gateway_stage.v1"
            ),
            (
                "log.log-group-without-retention",
                "aws_cloudwatch_log_group.orders"
            ),
            ("log.s3-bucket-without-access-logs", "aws_s3_bucket.uploads"),
            ("net.api-without-waf", "aws_api_gateway_stage.v1"),
            ("net.function-not-in-vpc", "aws_lambda_function.admin"),
            (
                "net.function-not-in-vpc",
                "module.reports.aws_lambda_function.report"
            ),
            (
                "net.function-open-security-group",
                "aws_lambda_function.orders"
            ),
            ("patch.deprecated-runtime", "aws_lambda_function.orders"),
            (
                "patch.deprecated-runtime",
                "module.reports.aws_lambda_function.report"
            ),
            (
                "rate.api-stage-without-throttling",
                "aws_api_gateway_stage.v1"
            ),
            (
                "rate.api-stage-without-throttling",
                "aws_apigatewayv2_stage.prod"
            ),
            (
                "rate.lambda-without-reserved-concurrency",
                "aws_lambda_function.admin"
            ),
            (
                "rate.lambda-without-reserved-concurrency",
                "aws_lambda_function.orders"
            ),
            (
                "rate.lambda-without-reserved-concurrency",
                "module.reports.aws_lambda_function.report"
            ),
            ("res.dynamodb-without-pitr", "aws_dynamodb_table.orders"),
            ("res.queue-without-dlq", "aws_sqs_queue.jobs"),
            ("res.s3-bucket-without-versioning", "aws_s3_bucket.uploads"),
            ("secrets.aws-access-key-id", "aws_lambda_function.orders"),
            ("secrets.secret-named-field", "aws_lambda_function.orders"),
            (
                "tls.bucket-without-secure-transport-policy",
                "aws_s3_bucket.uploads"
            ),
            (
                "tls.domain-below-tls-1-2",
                "aws_apigatewayv2_domain_name.api"
            ),
            (
                "tls.plain-http-integration",
                "aws_apigatewayv2_integration.legacy"
            ),
            (
                "tls.policy-without-secure-transport",
                "aws_sqs_queue_policy.jobs"
            ),
            ("trace.api-stage-without-xray", "aws_api_gateway_stage.v1"),
            ("trace.lambda-without-xray", "aws_lambda_function.orders"),
            (
                "trace.lambda-without-xray",
                "module.reports.aws_lambda_function.report"
            ),
        ])
    );
    assert!(v["errors"].as_array().unwrap().is_empty(), "{v}");
    // Each value appears once although a plan repeats it (planned values,
    // resource changes, configuration), and lines point into the file.
    let key = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule_id"] == "secrets.aws-access-key-id")
        .collect::<Vec<_>>();
    assert_eq!(key.len(), 1, "{key:?}");
    assert_eq!(key[0]["line"], 584);
}

#[test]
fn a_bundle_that_permits_nothing_says_how_to_permit() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("b");
    std::fs::create_dir_all(bundle.join("policies")).unwrap();
    std::fs::write(
        bundle.join("palisade.toml"),
        "[bundle]\nname = \"mine\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    let out = palisade(
        &[
            "check",
            root().join("examples/sam/secure.yaml").to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
            "--now",
            NOW,
        ],
        cache.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("no policy permits this request"),
        "{stdout}"
    );
    assert!(
        stdout.contains("permit (principal, action, resource);"),
        "{stdout}"
    );
}

#[test]
fn openapi_definitions_in_other_files_are_read_beside_the_template() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template.yaml");
    std::fs::write(
        &template,
        r#"Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: prod
      DefinitionBody:
        Fn::Transform: { Name: AWS::Include, Parameters: { Location: api/openapi.yaml } }
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: app.handler
      CodeUri: src/
      Events:
        Get: { Type: Api, Properties: { RestApiId: !Ref Api, Path: /orders, Method: get } }
"#,
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("api")).unwrap();
    let definition = |security: &str| {
        std::fs::write(
            dir.path().join("api/openapi.yaml"),
            format!(
                "openapi: \"3.0.1\"\nsecurity: {security}\ncomponents:\n  securitySchemes:\n    Jwt: {{ type: apiKey, name: Authorization, in: header, x-amazon-apigateway-authtype: cognito_user_pools }}\npaths:\n  /orders:\n    get: {{}}\n"
            ),
        )
        .unwrap();
    };
    let open_route = |extra: &[&str]| {
        let (_, v) = check_json(&template, extra, cache.path());
        rules(&v).contains(&("auth.route-without-authorizer".to_owned(), "Fn".to_owned()))
    };
    // The included definition requires a Cognito authorizer: not open.
    definition("[{ Jwt: [] }]");
    assert!(!open_route(&[]));
    // It requires nothing: open.
    definition("[]");
    assert!(open_route(&[]));
    // Missing (or too large, or elsewhere): its routes cannot be judged,
    // so the check does not pass (exit 2, a deny with the error).
    std::fs::remove_file(dir.path().join("api/openapi.yaml")).unwrap();
    let out = palisade(
        &["check", template.to_str().unwrap(), "--format", "json"],
        cache.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("the OpenAPI definition of `Api` (api/openapi.yaml) cannot be read"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decision"], "deny");
    // In S3: said, and the template alone decides (the route is open).
    let s3 = std::fs::read_to_string(&template).unwrap().replace(
        "Location: api/openapi.yaml",
        "Location: s3://bucket/openapi.yaml",
    );
    std::fs::write(&template, s3).unwrap();
    let out = palisade(
        &["check", template.to_str().unwrap(), "--format", "json"],
        cache.path(),
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("its routes are judged by the template alone"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(open_route(&[]));

    // A definition outside the template's directory (and the working
    // directory) is not read, and no error quotes it.
    let inner = dir.path().join("app");
    std::fs::create_dir_all(&inner).unwrap();
    std::fs::write(
        dir.path().join("outside.yaml"),
        "TOPSECRET_KEY: 1\nTOPSECRET_KEY: 2\n",
    )
    .unwrap();
    let template = inner.join("template.yaml");
    std::fs::write(
        &template,
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Api:\n    Type: AWS::Serverless::Api\n    Properties: { StageName: prod, DefinitionUri: ../outside.yaml }\n",
    )
    .unwrap();
    let out = palisade(
        &["check", template.to_str().unwrap(), "--format", "json"],
        cache.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("outside the template's directory"), "{err}");
    assert!(!err.contains("TOPSECRET"), "{err}");
    // An HTTP API's file, and an AWS::Include in a REST API's Body, are
    // read too.
    std::fs::write(
        inner.join("open.yaml"),
        "openapi: \"3.0.1\"\npaths:\n  /open:\n    get: {}\n",
    )
    .unwrap();
    std::fs::write(
        &template,
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Http:\n    Type: AWS::Serverless::HttpApi\n    Properties: { DefinitionUri: open.yaml }\n  Rest:\n    Type: AWS::ApiGateway::RestApi\n    Properties:\n      Body: { \"Fn::Transform\": { Name: AWS::Include, Parameters: { Location: open.yaml } } }\n",
    )
    .unwrap();
    let (_, v) = check_json(&template, &[], cache.path());
    let open: BTreeSet<(String, String)> = rules(&v)
        .into_iter()
        .filter(|(r, _)| r == "auth.route-without-authorizer")
        .collect();
    assert_eq!(
        open,
        BTreeSet::from([
            (
                "auth.route-without-authorizer".to_owned(),
                "Http".to_owned()
            ),
            (
                "auth.route-without-authorizer".to_owned(),
                "Rest".to_owned()
            )
        ]),
        "{v}"
    );
}

#[test]
fn conditions_are_judged_in_every_branch_and_say_when() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template.yaml");
    std::fs::write(
        &template,
        r#"Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      SqsManagedSseEnabled: !If [IsProd, true, false]
      RedrivePolicy: { deadLetterTargetArn: !GetAtt Dlq.Arn, maxReceiveCount: 3 }
  Dlq:
    Type: AWS::SQS::Queue
    Condition: IsDev
    Properties:
      SqsManagedSseEnabled: false
"#,
    )
    .unwrap();
    let (code, v) = check_json(&template, &["--fail-on", "medium"], cache.path());
    assert_eq!(code, 1, "{v}");
    let messages: Vec<(String, String)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["resource"].as_str().unwrap().to_owned(),
                f["message"].as_str().unwrap().to_owned(),
            )
        })
        .filter(|(_, m)| m.contains("encryption"))
        .collect();
    // Each finding once; the queue fails only when IsProd is false, and so
    // does the dead-letter queue, which exists only then (IsDev follows
    // IsProd: never both).
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages
            .iter()
            .all(|(_, m)| m.ends_with("(when IsProd is false)")),
        "{messages:?}"
    );
    // More free conditions than can be judged: an error, and a deny.
    let mut many =
        String::from("Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n");
    for i in 0..11 {
        many.push_str(&format!("      P{i}: !If [C{i}, 1, 2]\n"));
    }
    std::fs::write(&template, many).unwrap();
    let (code, v) = check_json(&template, &[], cache.path());
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["decision"], "deny");
    assert!(v["errors"].to_string().contains("11 conditions"), "{v}");
}

#[test]
fn the_secure_examples_of_every_format_have_no_findings() {
    let cache = tempfile::tempdir().unwrap();
    for file in [
        "examples/serverless/secure.yml",
        "examples/terraform/secure.tfplan.json",
    ] {
        let (code, v) = check_json(&root().join(file), &["--fail-on", "info"], cache.path());
        assert_eq!(code, 0, "{file}: {v}");
        assert_eq!(v["findings"], serde_json::json!([]), "{file}");
    }
}

#[test]
fn fail_on_decides_the_exit_code_but_every_finding_is_reported() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let only_low = dir.path().join("t.yaml");
    std::fs::write(
        &only_low,
        "Resources:\n  Logs:\n    Type: AWS::Logs::LogGroup\n",
    )
    .unwrap();
    let (code, v) = check_json(&only_low, &[], cache.path());
    assert_eq!(
        code, 0,
        "a low finding does not fail at the default --fail-on high: {v}"
    );
    assert_eq!(
        rules(&v),
        expected(&[
            ("enc.log-group-without-kms", "Logs"),
            ("log.log-group-without-retention", "Logs")
        ])
    );
    let (code, _) = check_json(&only_low, &["--fail-on", "low"], cache.path());
    assert_eq!(code, 1);
}

#[test]
fn deployer_aware_policy_lets_the_security_team_keep_a_public_url() {
    let cache = tempfile::tempdir().unwrap();
    let file = root().join("examples/sam/insecure.yaml");
    let (_, anyone) = check_json(&file, &[], cache.path());
    let (_, security) = check_json(
        &file,
        &["--principal", r#"Deployer::"security-pipeline""#],
        cache.path(),
    );
    assert!(rules(&anyone).contains(&(
        "auth.sam-function-url-public".into(),
        "OrdersFunction".into()
    )));
    assert!(!rules(&security).contains(&(
        "auth.sam-function-url-public".into(),
        "OrdersFunction".into()
    )));
}

#[test]
fn runtime_support_is_judged_against_now() {
    let cache = tempfile::tempdir().unwrap();
    let file = root().join("examples/sam/insecure.yaml");
    let mut args = vec![
        "check",
        file.to_str().unwrap(),
        "--format",
        "json",
        "--now",
        "2024-01-01T00:00:00Z",
    ];
    let before = palisade(&args, cache.path());
    let before: serde_json::Value = serde_json::from_slice(&before.stdout).unwrap();
    assert!(
        !rules(&before)
            .iter()
            .any(|(r, _)| r == "patch.deprecated-runtime"),
        "python3.8 was supported until 2024-10-14"
    );
    args[5] = "2024-10-15T00:00:00Z";
    let after = palisade(&args, cache.path());
    let after: serde_json::Value = serde_json::from_slice(&after.stdout).unwrap();
    assert!(
        rules(&after)
            .iter()
            .any(|(r, _)| r == "patch.deprecated-runtime")
    );
}

#[test]
fn a_broken_file_is_reported_and_the_others_are_still_checked() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a-broken.yaml"),
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: [oops\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b-queue.yaml"),
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: { SqsManagedSseEnabled: false }\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("c-notes.yaml"), "just: notes\n").unwrap();
    std::fs::write(dir.path().join("readme.txt"), "not even yaml: [").unwrap();
    let out = palisade(
        &[
            "check",
            dir.path().to_str().unwrap(),
            "--format",
            "json",
            "--now",
            NOW,
        ],
        cache.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a-broken.yaml:5:1:"), "{err}");
    assert!(err.contains("expected"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        rules(&v),
        BTreeSet::from([
            ("enc.sqs-unencrypted".to_string(), "Q".to_string()),
            ("res.queue-without-dlq".to_string(), "Q".to_string())
        ])
    );

    // The human summary never says PASS when a file could not be read.
    std::fs::write(
        dir.path().join("b-queue.yaml"),
        "Resources:\n  T:\n    Type: AWS::SNS::Topic\n    Properties: { KmsMasterKeyId: alias/events }\n",
    )
    .unwrap();
    let out = palisade(
        &["check", dir.path().to_str().unwrap(), "--now", NOW],
        cache.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(human.contains("ERROR  0 findings"), "{human}");
    assert!(
        human.contains("1 file could not be read or parsed"),
        "{human}"
    );
    // Nor does the JSON report: a reader that ignores the exit code sees a
    // deny, with the file that could not be parsed among the errors.
    let out = palisade(
        &[
            "check",
            dir.path().to_str().unwrap(),
            "--format",
            "json",
            "--now",
            NOW,
        ],
        cache.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decision"], "deny", "{v}");
    let errors = v["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e["kind"] == "invalid-request"
            && e["message"]
                .as_str()
                .unwrap()
                .contains("a-broken.yaml:5:1:")),
        "{v}"
    );
}

#[test]
fn standard_input_works_and_bad_arguments_exit_2() {
    let cache = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["check", "-", "--format", "json", "--now", NOW])
        .env("PALISADE_CACHE_DIR", cache.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Resources:\n  T:\n    Type: AWS::SNS::Topic\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"][0]["rule_id"], "enc.sns-unencrypted");
    assert_eq!(v["findings"][0]["file"], "-");

    for args in [
        vec!["check", "/no/such/file.yaml"],
        vec![
            "check",
            "examples/sam/secure.yaml",
            "--bundle",
            "builtin:nope",
        ],
        vec![
            "check",
            "examples/sam/secure.yaml",
            "--principal",
            "not-an-entity",
        ],
        vec!["check", "examples/sam/secure.yaml", "--fail-on", "severe"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(&args)
            .current_dir(root())
            .env("PALISADE_CACHE_DIR", cache.path())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn output_goes_to_a_file_when_asked() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let file = root().join("examples/sam/insecure.yaml");
    let out = palisade(
        &[
            "check",
            file.to_str().unwrap(),
            "--format",
            "json",
            "--now",
            NOW,
            "--output",
            report.to_str().unwrap(),
        ],
        cache.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(v["decision"], "deny");
}

#[test]
fn human_output_groups_by_file_and_resource_with_fixes() {
    let cache = tempfile::tempdir().unwrap();
    let file = root().join("examples/sam/insecure.yaml");
    let out = palisade(
        &["check", file.to_str().unwrap(), "--now", NOW],
        cache.path(),
    );
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("\n  PublicInvoke\n    critical iam.lambda-permission-public"),
        "{s}"
    );
    assert!(
        s.contains("fix: set Principal to the calling service"),
        "{s}"
    );
    assert!(
        s.contains("FAIL  44 findings (11 at high or above) in 1 file"),
        "{s}"
    );
    assert!(!s.contains('\u{1b}'), "plain when NO_COLOR is set");
}

/// The official SARIF 2.1.0 schema, except for one pattern: the published
/// `run.language` pattern has a stray `]` that is not a valid regex.
fn sarif_validator() -> jsonschema::Validator {
    let schema_text =
        std::fs::read_to_string(root().join("tests/fixtures/sarif-schema-2.1.0.json"))
            .unwrap()
            .replace(
                r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#,
                r#""^[a-zA-Z]{2}(-[a-zA-Z]{2})?$""#,
            );
    let schema: serde_json::Value = serde_json::from_str(&schema_text).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

#[test]
fn suppressions_are_reported_marked_and_never_fail_the_run() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.yaml");
    std::fs::write(
        &file,
        r#"Resources:
  # palisade:skip=log.log-group-without-retention audit logs are kept forever (AUD-7)
  Logs:
    Type: AWS::Logs::LogGroup
    Properties: { KmsKeyId: k }
  Queue:
    Type: AWS::SQS::Queue
    Properties: { SqsManagedSseEnabled: false, RedriveAllowPolicy: { redrivePermission: allowAll } }
    Metadata:
      palisade:
        skip:
          - rule: enc.sqs-unencrypted
            reason: public events only
  Topic:
    Type: AWS::SNS::Topic  # palisade:skip=enc.sns-unencrypted
  Perm:
    Type: AWS::Lambda::Permission
    Properties: { Principal: "*", FunctionName: f, Action: lambda:InvokeFunction }
  Open:
    Type: AWS::Lambda::Url
    Properties: { AuthType: NONE, TargetFunctionArn: f }
"#,
    )
    .unwrap();
    let waivers = dir.path().join("waivers.yaml");
    std::fs::write(
        &waivers,
        "waivers:\n  - rule: iam.lambda-permission-public\n    resource: Perm\n    owner: alice@example.com\n    reason: signed webhook (SEC-12)\n    expires: 2027-01-31\n  - rule: auth.function-url-public\n    owner: bob@example.com\n    reason: expired\n    expires: 2026-11-28\n",
    )
    .unwrap();
    let w = waivers.to_str().unwrap();
    let args = ["--waivers", w, "--format", "json"];
    let out = palisade(
        &[&["check", file.to_str().unwrap(), "--now", NOW], &args[..]].concat(),
        cache.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The expired waiver no longer suppresses: the public URL fails the run.
    assert_eq!(out.status.code(), Some(1), "{v}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{w}:7: the waiver of `auth.function-url-public` (owner bob@example.com) expired on 2026-11-28")),
        "{stderr}"
    );
    let by_rule = |id: &str| {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule_id"] == id)
            .unwrap_or_else(|| panic!("{id}: {v}"))
            .clone()
    };
    let file_name = file.to_str().unwrap();
    assert_eq!(
        by_rule("log.log-group-without-retention")["suppressed"],
        serde_json::json!({"kind": "inline", "reason": "audit logs are kept forever (AUD-7)", "location": format!("{file_name}:2")})
    );
    assert_eq!(
        by_rule("enc.sqs-unencrypted")["suppressed"]["reason"],
        "public events only"
    );
    assert_eq!(
        by_rule("iam.lambda-permission-public")["suppressed"],
        serde_json::json!({"kind": "waiver", "reason": "signed webhook (SEC-12)", "owner": "alice@example.com", "expires": "2027-01-31", "location": format!("{w}:2")})
    );
    assert!(
        by_rule("auth.function-url-public")
            .get("suppressed")
            .is_none()
    );
    // A marker without a reason suppresses nothing and says so.
    assert!(by_rule("enc.sns-unencrypted").get("suppressed").is_none());
    assert_eq!(v["errors"][0]["kind"], "invalid-suppression", "{v}");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "{file_name}:15: `palisade:skip=enc.sns-unencrypted` has no reason"
            )),
        "{v}"
    );

    // Without the failing URL the run passes although a critical finding
    // (waived) remains; the human summary counts what was suppressed.
    std::fs::write(
        &file,
        std::fs::read_to_string(&file)
            .unwrap()
            .replace("AuthType: NONE", "AuthType: AWS_IAM"),
    )
    .unwrap();
    let out = palisade(
        &[
            "check",
            file.to_str().unwrap(),
            "--now",
            NOW,
            "--waivers",
            w,
        ],
        cache.path(),
    );
    let s = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{s}");
    assert!(s.contains("3 suppressed)"), "{s}");
    assert!(
        s.contains("signed webhook (SEC-12) (waiver by alice@example.com, until 2027-01-31)"),
        "{s}"
    );

    // SARIF: suppressions with their kind and justification, still valid.
    let out = palisade(
        &[
            "check",
            file.to_str().unwrap(),
            "--now",
            NOW,
            "--waivers",
            w,
            "--format",
            "sarif",
        ],
        cache.path(),
    );
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(sarif_validator().is_valid(&log));
    let results = log["runs"][0]["results"].as_array().unwrap();
    let kinds: BTreeSet<&str> = results
        .iter()
        .filter_map(|r| r["suppressions"][0]["kind"].as_str())
        .collect();
    assert_eq!(kinds, BTreeSet::from(["external", "inSource"]));

    // A broken waivers file is a usage error that names the line.
    std::fs::write(
        &waivers,
        "waivers:\n  - rule: x\n    owner: o\n    reason: r\n    expires: next week\n",
    )
    .unwrap();
    let out = palisade(
        &["check", file.to_str().unwrap(), "--waivers", w],
        cache.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("{w}:5:")));
}

#[test]
fn no_progress_bar_when_standard_error_is_not_a_terminal() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for i in 0..25 {
        std::fs::copy(
            root().join("examples/sam/secure.yaml"),
            dir.path().join(format!("t{i}.yaml")),
        )
        .unwrap();
    }
    let out = palisade(
        &["check", dir.path().to_str().unwrap(), "--now", NOW],
        cache.path(),
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("in 25 files"));
}

#[test]
fn sarif_is_valid_sarif_2_1_0_and_complete_for_code_scanning() {
    let cache = tempfile::tempdir().unwrap();
    let file = root().join("examples/sam/insecure.yaml");
    let out = palisade(
        &[
            "check",
            file.to_str().unwrap(),
            "--format",
            "sarif",
            "--now",
            NOW,
        ],
        cache.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let validator = sarif_validator();
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The validator does catch a broken log.
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    assert!(!validator.is_valid(&broken));

    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    let rules: BTreeSet<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 44);
    for r in results {
        assert!(
            rules.contains(r["ruleId"].as_str().unwrap()),
            "result without a rule: {r}"
        );
        let loc = &r["locations"][0]["physicalLocation"];
        assert!(
            loc["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .ends_with("insecure.yaml")
        );
        assert!(loc["region"]["startLine"].as_u64().unwrap() > 0);
    }
    for rule in run["tool"]["driver"]["rules"].as_array().unwrap() {
        assert!(
            !rule["help"]["text"].as_str().unwrap().is_empty(),
            "rule without help: {rule}"
        );
        assert!(
            rule["properties"]["security-severity"]
                .as_str()
                .unwrap()
                .parse::<f64>()
                .is_ok()
        );
    }
    let public = results
        .iter()
        .find(|r| r["ruleId"] == "iam.lambda-permission-public")
        .unwrap();
    assert_eq!(public["level"], "error");
    assert_eq!(
        public["locations"][0]["physicalLocation"]["region"]["startLine"],
        41
    );
}

#[test]
fn junit_has_a_case_per_rule_and_resource_and_fails_only_from_fail_on() {
    let cache = tempfile::tempdir().unwrap();
    let insecure = root().join("examples/sam/insecure.yaml");
    let secure = root().join("examples/sam/secure.yaml");
    let out = palisade(
        &[
            "check",
            insecure.to_str().unwrap(),
            secure.to_str().unwrap(),
            "--format",
            "junit",
            "--now",
            NOW,
        ],
        cache.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let xml = String::from_utf8(out.stdout).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(
        xml.contains(
            r#"<testsuites name="palisade" tests="45" skipped="0" failures="11" errors="0">"#
        ),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<testcase name="iam.lambda-permission-public PublicInvoke""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<testcase name="no findings""#),
        "the secure file passes: {xml}"
    );
}

#[test]
fn serverless_framework_functions_inherit_provider_settings_and_are_checked() {
    let cache = tempfile::tempdir().unwrap();
    let (code, v) = check_json(
        &root().join("examples/serverless/insecure.yml"),
        &[],
        cache.path(),
    );
    assert_eq!(code, 1, "{v}");
    let found = rules(&v);
    for expected in [
        ("auth.function-url-public", "GetOrderLambdaFunctionUrl"),
        ("patch.deprecated-runtime", "GetOrderLambdaFunction"),
        ("patch.deprecated-runtime", "ListOrdersLambdaFunction"),
        ("enc.sqs-unencrypted", "OrdersQueue"),
        ("secrets.secret-named-field", ""),
    ] {
        assert!(
            found.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "missing {expected:?} in {found:?}"
        );
    }
    let findings = v["findings"].as_array().unwrap();
    let url = findings
        .iter()
        .find(|f| f["rule_id"] == "auth.function-url-public")
        .unwrap();
    assert_eq!(url["line"], 20);
    let secret = findings
        .iter()
        .find(|f| f["rule_id"] == "secrets.secret-named-field")
        .unwrap();
    assert_eq!(
        secret["line"], 9,
        "the plaintext Stripe key, not the ${{ssm:...}} reference: {secret}"
    );
    assert_eq!(
        findings
            .iter()
            .filter(|f| f["rule_id"] == "secrets.secret-named-field")
            .count(),
        1
    );
}

#[test]
fn serverless_list_forms_are_read_and_malformed_parts_are_errors() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // `functions` and `resources` as lists (one entry per included file).
    let listed = dir.path().join("serverless.yml");
    std::fs::write(
        &listed,
        "service: s\nprovider: { name: aws, runtime: python3.8 }\nfunctions:\n  - admin:\n      handler: h.admin\n      url: true\nresources:\n  - Resources:\n      Bucket: { Type: AWS::S3::Bucket, Properties: { AccessControl: PublicReadWrite } }\n",
    )
    .unwrap();
    let (code, v) = check_json(&listed, &[], cache.path());
    assert_eq!(code, 1, "{v}");
    let found = rules(&v);
    for want in [
        ("auth.function-url-public", "AdminLambdaFunctionUrl"),
        ("patch.deprecated-runtime", "AdminLambdaFunction"),
        ("iam.s3-bucket-public-acl", "Bucket"),
    ] {
        assert!(
            found.contains(&(want.0.to_owned(), want.1.to_owned())),
            "{want:?} in {found:?}"
        );
    }
    // Parts of the wrong shape are errors at their line, never a pass.
    for (name, text, line) in [
        (
            "a.yml",
            "service: s\nprovider: { name: aws }\nfunctions: [a, b]\n",
            3,
        ),
        (
            "b.yml",
            "service: s\nprovider: { name: aws }\nresources: oops\n",
            3,
        ),
        (
            "c.json",
            "{\"format_version\": \"1.2\", \"planned_values\": {\"root_module\": {\"resources\": \"x\"}}}",
            1,
        ),
        (
            "e.yaml",
            "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: [1, 2]\n",
            4,
        ),
    ] {
        let f = dir.path().join(name);
        std::fs::write(&f, text).unwrap();
        let (code, v) = check_json(&f, &[], cache.path());
        assert_eq!(code, 2, "{name}: {v}");
        assert_eq!(v["decision"], "deny", "{name}: {v}");
        let message = v["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("{name}:{line}:")) && message.contains("must be"),
            "{name}: {message}"
        );
    }
    // Functions included from other files cannot be seen: an error that
    // says so and how to check them, never an empty service that passes.
    let included = dir.path().join("d.yml");
    std::fs::write(
        &included,
        "service: s\nprovider: { name: aws }\nfunctions:\n  - ${file(./services/api.yml)}\n",
    )
    .unwrap();
    let (code, v) = check_json(&included, &[], cache.path());
    assert_eq!(code, 2, "{v}");
    let message = v["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("`${file(./services/api.yml)}` is in another file")
            && message.contains("serverless print"),
        "{message}"
    );
}
