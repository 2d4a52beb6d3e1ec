//! Scanner tests on realistic documents. Run on the build machine:
//! `cargo test -p palisade-secrets --target x86_64-unknown-linux-gnu`.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use palisade_plugin_sdk::serde_json::{self, Value, json};
use palisade_plugin_sdk::{FactValue, Input, InputKind, Plugin, settings};

use crate::Secrets;
use crate::scan::{
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, Config, HIGH_ENTROPY, Hit, PRIVATE_KEY,
    SECRET_NAMED_FIELD, Settings,
};

/// Scans a `serde_json::Value` (member order kept) as the plugin scans the
/// document text it receives.
fn scan(doc: &Value, config: &Config) -> Vec<Hit> {
    crate::scan::scan(&doc.clone().into(), config)
}

const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const PEM: &str =
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx9v\n-----END RSA PRIVATE KEY-----\n";

fn hits(doc: &Value) -> Vec<Hit> {
    scan(doc, &Config::default())
}

fn summary(doc: &Value) -> Vec<(&'static str, String)> {
    hits(doc).into_iter().map(|h| (h.rule, h.pointer)).collect()
}

fn evaluate(doc: &Value, settings: Value) -> Result<palisade_plugin_sdk::Evaluation, String> {
    let settings: Settings = settings::parse(&settings.to_string())?;
    Secrets::evaluate(
        &Input {
            kind: InputKind::Deployment,
            document: doc.clone().into(),
            resources: Vec::new(),
            now: "2025-01-01T00:00:00Z".into(),
        },
        &settings,
    )
}

/// The settings `value` as the host hands them over.
fn config_of(value: Value) -> Result<Config, String> {
    Config::from_settings(&settings::parse(&value.to_string())?)
}

#[test]
fn cloudformation_template_end_to_end() {
    let template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {
            "DbPassword": {"Type": "String", "NoEcho": true, "Default": "hunter2hunter2"},
            "DbPasswordParam": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/prod/db/password"},
            "DbPasswordSsm": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/prod/db/pw"}
        },
        "Resources": {
            "Db": {
                "Type": "AWS::RDS::DBInstance",
                "Properties": {
                    "MasterUsername": "admin",
                    "MasterUserPassword": "changeme",
                    "ManageMasterUserPassword": "false",
                    "DBInstanceClass": "db.t3.micro"
                }
            },
            "SafeDb": {
                "Type": "AWS::RDS::DBInstance",
                "Properties": {
                    "MasterUserPassword": "{{resolve:secretsmanager:prod/db:SecretString:password}}"
                }
            },
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Handler": "src/handlers/index.handler",
                    "Role": {"Fn::GetAtt": ["FnServiceRole3C357FF2", "Arn"]},
                    "Environment": {"Variables": {
                        "AWS_ACCESS_KEY_ID": KEY_ID,
                        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                        "STRIPE_KEY": "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
                        "TABLE": {"Ref": "Table"},
                        "API_TOKEN": "${ssm:/prod/api/token}"
                    }}
                }
            },
            "Task": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {"ContainerDefinitions": [{
                    "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "Environment": [
                        {"Name": "DB_PASSWORD", "Value": "s3cr3t-pa55"},
                        {"Name": "LOG_LEVEL", "Value": "debug"}
                    ],
                    "Secrets": [{"Name": "API_KEY", "ValueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:api-AbCdEf"}]
                }]}
            },
            "Server": {
                "Type": "AWS::EC2::Instance",
                "Properties": {
                    "ImageId": "ami-0abcdef1234567890",
                    "UserData": {"Fn::Base64": {"Fn::Sub": "#!/bin/bash\necho hi\n"}},
                    "Tags": [{"Key": "Name", "Value": "web"}]
                }
            },
            "Cert": {
                "Type": "Custom::Cert",
                "Properties": {"Key": PEM}
            }
        }
    });
    let expected = vec![
        (
            SECRET_NAMED_FIELD,
            "/Parameters/DbPassword/Default".to_owned(),
        ),
        (
            SECRET_NAMED_FIELD,
            "/Resources/Db/Properties/MasterUserPassword".to_owned(),
        ),
        (
            AWS_ACCESS_KEY_ID,
            "/Resources/Fn/Properties/Environment/Variables/AWS_ACCESS_KEY_ID".to_owned(),
        ),
        (
            AWS_SECRET_ACCESS_KEY,
            "/Resources/Fn/Properties/Environment/Variables/AWS_SECRET_ACCESS_KEY".to_owned(),
        ),
        (
            HIGH_ENTROPY,
            "/Resources/Fn/Properties/Environment/Variables/STRIPE_KEY".to_owned(),
        ),
        (
            SECRET_NAMED_FIELD,
            "/Resources/Task/Properties/ContainerDefinitions/0/Environment/0/Value".to_owned(),
        ),
        (PRIVATE_KEY, "/Resources/Cert/Properties/Key".to_owned()),
    ];
    // `DbPasswordSsm` is SSM-typed: its Default is a parameter name, not a value.
    assert_eq!(summary(&template), expected);

    let found = hits(&template);
    assert_eq!(found[0].resource, None);
    assert_eq!(found[1].resource.as_deref(), Some("Db"));
    assert_eq!(
        found[1].message,
        "`MasterUserPassword` holds a hard-coded password (`chan…`)"
    );
    assert_eq!(
        found[5].message,
        "`DB_PASSWORD` holds a hard-coded password (`s3cr…`)"
    );
    assert_eq!(found[5].resource.as_deref(), Some("Task"));
    for hit in &found {
        assert!(!hit.message.contains(SECRET_KEY), "{}", hit.message);
        assert!(!hit.message.contains(KEY_ID), "{}", hit.message);
        assert!(!hit.message.contains("changeme"), "{}", hit.message);
    }
}

#[test]
fn access_key_ids_anywhere() {
    let doc = json!({"notes": ["rotate AKIAIOSFODNN7EXAMPLE soon"], "id": "ASIAY34FZKBOKMUTVV7A"});
    assert_eq!(
        summary(&doc),
        [
            (AWS_ACCESS_KEY_ID, "/notes/0".to_owned()),
            (AWS_ACCESS_KEY_ID, "/id".to_owned())
        ]
    );
    let found = hits(&doc);
    assert_eq!(
        found[0].message,
        "`notes` contains an AWS access key id (`AKIA…`)"
    );
    assert!(summary(&json!({"x": "AKIAIOSFODNN7EXAMPLEX"})).is_empty());
    assert!(summary(&json!({"x": "xAKIAIOSFODNN7EXAMPLE"})).is_empty());
}

#[test]
fn secret_access_keys() {
    // By name.
    assert_eq!(
        summary(&json!({"aws_secret_access_key": SECRET_KEY})),
        [(AWS_SECRET_ACCESS_KEY, "/aws_secret_access_key".to_owned())]
    );
    assert_eq!(
        summary(&json!({"SecretKey": SECRET_KEY})),
        [(AWS_SECRET_ACCESS_KEY, "/SecretKey".to_owned())]
    );
    // Next to an access key id.
    let found = hits(&json!({"id": KEY_ID, "value": SECRET_KEY}));
    assert_eq!(found.len(), 2);
    assert_eq!(found[1].rule, AWS_SECRET_ACCESS_KEY);
    assert!(found[1].message.contains("next to an AWS access key id"));
    // Assigned in free text, together with the id.
    let script = format!(
        "#!/bin/sh\nexport AWS_ACCESS_KEY_ID={KEY_ID}\nexport AWS_SECRET_ACCESS_KEY={SECRET_KEY}\n"
    );
    assert_eq!(
        summary(&json!({"UserData": script})),
        [
            (AWS_ACCESS_KEY_ID, "/UserData".to_owned()),
            (AWS_SECRET_ACCESS_KEY, "/UserData".to_owned())
        ]
    );
    // A 40-character base64 string elsewhere is only a high-entropy finding.
    assert_eq!(
        summary(&json!({"value": SECRET_KEY})),
        [(HIGH_ENTROPY, "/value".to_owned())]
    );
}

#[test]
fn private_keys() {
    for label in ["RSA", "EC", "OPENSSH", "DSA"] {
        let pem =
            format!("-----BEGIN {label} PRIVATE KEY-----\nabc\n-----END {label} PRIVATE KEY-----");
        let found = hits(&json!({"tls": {"key": pem}}));
        assert_eq!(found.len(), 1, "{label}");
        assert_eq!(found[0].rule, PRIVATE_KEY);
        assert_eq!(found[0].pointer, "/tls/key");
        assert_eq!(
            found[0].message,
            format!("`key` contains a PEM private key (`-----BEGIN {label} PRIVATE KEY-----`)")
        );
    }
    // A private key in a secret-named field is reported once, as a private key.
    let found =
        hits(&json!({"private_key": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----"}));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].rule, PRIVATE_KEY);
    // Certificates are public.
    assert!(
        hits(&json!({"cert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"}))
            .is_empty()
    );
}

#[test]
fn secret_named_fields() {
    for key in [
        "password",
        "Password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "api-key",
        "apiKey",
        "access_key",
        "private_key",
        "client_secret",
        "clientSecret",
        "auth_token",
        "credentials",
        "db_pass",
        "DB_PASSWORD",
        "MysqlRootPassword",
    ] {
        let found = hits(&json!({ key: "changeme" }));
        assert_eq!(found.len(), 1, "{key}");
        assert_eq!(found[0].rule, SECRET_NAMED_FIELD, "{key}");
    }
    for key in [
        "PasswordLength",
        "SecretArn",
        "SecretName",
        "NextToken",
        "ClientRequestToken",
        "AccessKeyId",
        "KeyName",
        "username",
        "description",
    ] {
        assert!(hits(&json!({ key: "changeme" })).is_empty(), "{key}");
    }
    // Array items take the array's name.
    assert_eq!(
        summary(&json!({"ApiKeys": ["k1-abc", "k2-def"]})),
        [
            (SECRET_NAMED_FIELD, "/ApiKeys/0".to_owned()),
            (SECRET_NAMED_FIELD, "/ApiKeys/1".to_owned())
        ]
    );
}

#[test]
fn references_and_placeholders_are_fine() {
    for value in [
        "{{resolve:secretsmanager:prod/db:SecretString:password}}",
        "{{resolve:ssm-secure:/prod/db/password:1}}",
        "{{resolve:ssm:/prod/db/password}}",
        "${ssm:/prod/db/password~true}",
        "${secretsmanager:prod/db}",
        "${aws:username}",
        "${self:custom.dbPassword}",
        "${var.db_password}",
        "${file(./secrets.yml):password}",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
        "arn:aws:ssm:us-east-1:123456789012:parameter/prod/db/password",
        "",
        "   ",
        "<password>",
        "REPLACE_ME",
        "xxxxxxxxxxxx",
        "********",
        "postgres://admin:{{resolve:secretsmanager:db:SecretString:password}}@db:5432/app",
    ] {
        assert!(hits(&json!({"password": value})).is_empty(), "{value}");
    }
    // Objects (intrinsic functions) are not strings.
    assert!(hits(&json!({"password": {"Ref": "DbPassword"}})).is_empty());
    assert!(hits(&json!({"password": {"Fn::GetAtt": ["Secret", "Value"]}})).is_empty());
    assert!(hits(&json!({"password": ["{{resolve:ssm-secure:/x}}"]})).is_empty());
}

#[test]
fn high_entropy_strings() {
    let doc = json!({
        "slack": "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx",
        "github": "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "hex_key": "8f14e45fceea167a5a36dedd4bea2543",
        "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "Resources": {"A": {"Properties": {"Data": "c2VjcmV0LXZhbHVlLXRoYXQtaXMtbG9uZw9Xk2Lq"}}}
    });
    let found = hits(&doc);
    let pointers: Vec<&str> = found.iter().map(|h| h.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/slack",
            "/github",
            "/hex_key",
            "/jwt",
            "/Resources/A/Properties/Data"
        ]
    );
    assert!(found.iter().all(|h| h.rule == HIGH_ENTROPY));
    assert_eq!(found[4].resource.as_deref(), Some("A"));
    assert!(
        found[0]
            .message
            .starts_with("`slack` holds a random-looking string (`xoxb…`, 51 characters, "),
        "{}",
        found[0].message
    );

    // Things that look random but are not secrets.
    let benign = json!({
        "Arn": "arn:aws:iam::123456789012:role/service-role/MyRole-AbC123XyZ789",
        "Url": "https://abc123def456.execute-api.us-east-1.amazonaws.com/prod/items?x=Y7z",
        "Path": "/usr/local/lib/python3.12/site-packages/pkg",
        "Uuid": "123e4567-e89b-12d3-a456-426614174000",
        "Handler": "com.example.handlers.Order2Handler::handleRequest",
        "Host": "my-bucket-12345.s3.us-east-1.amazonaws.com",
        "ImageId": "ami-0abcdef1234567890abcdef",
        "CodeSha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        "DependsOn": ["MyFunctionServiceRoleDefaultPolicy5D2B2F8F"],
        "Role": {"Fn::GetAtt": ["MyFunctionServiceRole3C357FF2", "Arn"]},
        "S3Key": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.zip",
        "Analytics": "v2:deflate64:H4sIAAAAAAAA/zPSMzTUM1BMLC7WTc7P0tGkAAAqFf6kDAAAAA==",
        "Words": "ThisIsJustAVeryLongCamelCaseIdentifierName",
        "Number": "12345678901234567890123",
        "Short": "aB3$xY9!",
        "Spaces": "Zq8 Lm2 Xk9 Pw4 Rt7 Vb1 Nc6 Hd5",
        "Sub": "arn:${AWS::Partition}:s3:::${Bucket}/Zq8Lm2Xk9Pw4Rt7Vb1Nc6Hd5"
    });
    assert_eq!(summary(&benign), []);
}

#[test]
fn settings_change_the_scan() {
    let doc = json!({"a": "Zq8Lm2Xk9Pw4Rt7Vb1", "password": "hunter2", "Resources": {"X": {"Metadata": {"token": "abc"}}}});
    // Default min_length 20: the 18-char string is too short.
    assert_eq!(
        summary(&doc),
        [
            (SECRET_NAMED_FIELD, "/password".to_owned()),
            (SECRET_NAMED_FIELD, "/Resources/X/Metadata/token".to_owned())
        ]
    );
    let config = config_of(json!({
        "min_length": 12,
        "min_entropy": 3.5,
        "ignore_keys": ["METADATA"],
        "allow_values": ["hunter2"]
    }))
    .unwrap();
    let found: Vec<_> = scan(&doc, &config)
        .into_iter()
        .map(|h| (h.rule, h.pointer))
        .collect();
    assert_eq!(found, [(HIGH_ENTROPY, "/a".to_owned())]);
    // ignore_keys also matches the `Name` of a Name/Value pair.
    let config = config_of(json!({"ignore_keys": ["db_password"]})).unwrap();
    assert!(scan(&json!([{"Name": "DB_PASSWORD", "Value": "x1"}]), &config).is_empty());
}

#[test]
fn settings_validation() {
    let ok = |v: Value| {
        settings::parse::<Settings>(&v.to_string()).and_then(|s| Secrets::validate_settings(&s))
    };
    assert_eq!(ok(Value::Null), Ok(()));
    assert_eq!(ok(json!({})), Ok(()));
    assert_eq!(
        ok(json!({"min_length": 8, "min_entropy": 1.0, "ignore_keys": [], "allow_values": ["x"]})),
        Ok(())
    );
    assert_eq!(ok(json!({"min_entropy": 8})), Ok(()));
    let err = |v: Value| ok(v).unwrap_err();
    assert_eq!(
        err(json!({"foo": 1})),
        "invalid settings: unknown field `foo`, expected one of `min_length`, `min_entropy`, \
         `ignore_keys`, `allow_values` at line 1 column 6"
    );
    assert_eq!(
        err(json!("all")),
        "invalid settings: invalid type: string \"all\", expected struct Settings at line 1 column 5"
    );
    assert_eq!(
        err(json!({"min_length": 7})),
        "setting `min_length` must be an integer >= 8, got 7"
    );
    assert!(
        err(json!({"min_length": "20"}))
            .starts_with("invalid settings: invalid type: string \"20\", expected u64"),
    );
    assert!(
        err(json!({"min_length": 20.5}))
            .starts_with("invalid settings: invalid type: floating point `20.5`, expected u64"),
    );
    assert_eq!(
        err(json!({"min_entropy": 0.5})),
        "setting `min_entropy` must be a number from 1.0 to 8.0 (bits per character), got 0.5"
    );
    assert!(
        err(json!({"ignore_keys": "password"}))
            .starts_with("invalid settings: invalid type: string \"password\", expected a sequence"),
    );
    assert!(
        err(json!({"allow_values": ["a", 1]}))
            .starts_with("invalid settings: invalid type: integer `1`, expected a string"),
    );
}

#[test]
fn facts_and_findings() {
    let doc = json!({"Resources": {"Fn": {"Properties": {
        "password": "hunter2",
        "k": KEY_ID,
        "k2": "AKIAI44QH8DHBEXAMPLE"
    }}}});
    let eval = evaluate(&doc, Value::Null).unwrap();
    assert_eq!(eval.findings.len(), 3);
    let first = &eval.findings[0];
    assert_eq!(first.rule_id, SECRET_NAMED_FIELD);
    assert_eq!(
        first.pointer.as_deref(),
        Some("/Resources/Fn/Properties/password")
    );
    assert_eq!(first.resource.as_deref(), Some("Fn"));
    assert_eq!(first.severity, None);
    let facts: Vec<(&str, &FactValue)> = eval
        .facts
        .iter()
        .map(|f| (f.name.as_str(), &f.value))
        .collect();
    assert_eq!(
        facts,
        [
            ("secret_count", &FactValue::Integer(3)),
            ("has_secrets", &FactValue::Boolean(true)),
            (
                "rules_hit",
                &FactValue::Texts(vec![
                    AWS_ACCESS_KEY_ID.to_owned(),
                    SECRET_NAMED_FIELD.to_owned()
                ])
            ),
        ]
    );

    let clean = evaluate(&json!({"Resources": {}}), json!({})).unwrap();
    assert!(clean.findings.is_empty());
    assert_eq!(clean.facts[0].value, FactValue::Integer(0));
    assert_eq!(clean.facts[1].value, FactValue::Boolean(false));
    assert_eq!(clean.facts[2].value, FactValue::Texts(vec![]));

    assert_eq!(
        evaluate(&doc, json!({"nope": 1})).unwrap_err(),
        "invalid settings: unknown field `nope`, expected one of `min_length`, `min_entropy`, \
         `ignore_keys`, `allow_values` at line 1 column 7"
    );
}

#[test]
fn metadata_declares_every_rule() {
    let metadata = Secrets::metadata();
    assert_eq!(metadata.name, "secrets");
    assert_eq!(metadata.version, "0.1.0");
    assert_eq!(metadata.applies_to, InputKind::ALL);
    let ids: Vec<&str> = metadata.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            AWS_ACCESS_KEY_ID,
            AWS_SECRET_ACCESS_KEY,
            PRIVATE_KEY,
            SECRET_NAMED_FIELD,
            HIGH_ENTROPY
        ]
    );
    for rule in &metadata.rules {
        assert_eq!(rule.category, palisade_plugin_sdk::Category::Secrets);
        assert_eq!(
            rule.control.as_deref(),
            Some("no hard-coded secrets; use a secrets manager")
        );
        assert!(
            rule.remediation.contains("{{resolve:secretsmanager:...}}"),
            "{}",
            rule.remediation
        );
        assert!(
            rule.remediation.contains("${ssm:...}"),
            "{}",
            rule.remediation
        );
    }
}

#[test]
fn deterministic_document_order() {
    let text = r#"{"z": {"password": "b-value"}, "a": {"password": "a-value"}, "m": ["AKIAIOSFODNN7EXAMPLE"]}"#;
    let doc: Value = serde_json::from_str(text).unwrap();
    let first = hits(&doc);
    assert_eq!(
        first.iter().map(|h| h.pointer.as_str()).collect::<Vec<_>>(),
        ["/z/password", "/a/password", "/m/0"]
    );
    assert_eq!(hits(&doc), first);
}

#[test]
fn never_panics_on_odd_input() {
    let odd = [
        json!(null),
        json!("AKIAIOSFODNN7EXAMPLE"),
        json!(42),
        json!([[[[]]]]),
        json!({"": "", "~/": "é€𝄞", "password": "é", "k": "-----BEGIN ", "s": "aws_secret_access_key="}),
        json!({"Parameters": {"P": "x"}, "Resources": {"": {"a": "AKIAIOSFODNN7EXAMPLE"}}}),
        json!({"Resources": {"X": "ghp_16C7e42F292c6912E7710c838347Ae178B4a"}}),
    ];
    for doc in odd {
        let _ = hits(&doc);
    }
    let root = hits(&json!("AKIAIOSFODNN7EXAMPLE"));
    assert_eq!(root[0].pointer, "");
    assert_eq!(
        root[0].message,
        "the document contains an AWS access key id (`AKIA…`)"
    );
    assert_eq!(root[0].resource, None);
}

#[test]
fn request_credential_headers_are_not_secrets() {
    let request = json!({
        "method": "GET",
        "path": "/items",
        "headers": {
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
            "X-Api-Key": "Zq8Lm2Xk9Pw4Rt7Vb1Nc6Hd5",
            "Cookie": "session=Zq8Lm2Xk9Pw4Rt7Vb1Nc6Hd5",
            "X-Debug-Token": "hunter2"
        },
        "query": {"api_key": "Zq8Lm2Xk9Pw4Rt7Vb1Nc6Hd5"}
    });
    let input = Input {
        kind: InputKind::Request,
        document: request.clone().into(),
        resources: Vec::new(),
        now: "2025-01-01T00:00:00Z".into(),
    };
    let eval = Secrets::evaluate(&input, &Settings::default()).unwrap();
    let pointers: Vec<_> = eval
        .findings
        .iter()
        .map(|f| f.pointer.as_deref().unwrap())
        .collect();
    assert_eq!(pointers, ["/headers/X-Debug-Token", "/query/api_key"]);
    // The same document as a deployment: the headers count.
    let eval = evaluate(&request, json!({})).unwrap();
    assert_eq!(eval.findings.len(), 5);
}

#[test]
fn large_benign_template_has_no_findings() {
    let mut resources = serde_json::Map::new();
    for i in 0..500 {
        resources.insert(
            format!("Fn{i}"),
            json!({
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": format!("my-stack-fn-{i}"),
                    "Handler": "src/index.handler",
                    "Runtime": "nodejs20.x",
                    "MemorySize": 512,
                    "Role": {"Fn::GetAtt": [format!("Fn{i}ServiceRole3C357FF2"), "Arn"]},
                    "Environment": {"Variables": {
                        "TABLE": {"Ref": "Table"},
                        "API_URL": "https://api.example.com/v1/items",
                        "DB_PASSWORD": "{{resolve:secretsmanager:db:SecretString:password}}",
                        "API_KEY": "${ssm:/prod/api-key}"
                    }},
                    "Tags": [{"Key": "owner", "Value": "team-a"}, {"Key": "Name", "Value": format!("fn-{i}")}],
                    "Description": "A function that does something useful for the business"
                },
                "Metadata": {"aws:cdk:path": format!("MyStack/Fn{i}/Resource")}
            }),
        );
    }
    let template = json!({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources});
    assert_eq!(hits(&template), []);
}

#[test]
fn repeated_keys_are_all_scanned() {
    // A JSON parser keeps only the last `password`; the first one is still
    // written in the file, so both are reported, in document order.
    let text = r#"{"db": {"password": "first-secret-value", "password": "second-secret-value"}}"#;
    let document = palisade_plugin_sdk::json::Document::parse(text).unwrap();
    let found: Vec<_> = crate::scan::scan(&document, &Config::default())
        .into_iter()
        .map(|h| (h.rule, h.pointer, h.message))
        .collect();
    assert_eq!(
        found,
        [
            (
                SECRET_NAMED_FIELD,
                "/db/password".to_owned(),
                "`password` holds a hard-coded password (`firs…`)".to_owned()
            ),
            (
                SECRET_NAMED_FIELD,
                "/db/password".to_owned(),
                "`password` holds a hard-coded password (`seco…`)".to_owned()
            ),
        ]
    );
}

#[test]
fn terraform_plans_are_scanned_once_per_value() {
    // A plan repeats each value in planned_values, resource_changes,
    // configuration and prior_state: only planned_values and variables
    // are read.
    let values = json!({"environment": [{"variables": {"AWS_ACCESS_KEY_ID": KEY_ID}}]});
    let plan = json!({
        "format_version": "1.2",
        "variables": {"db_password": {"value": "hunter2hunter2"}},
        "planned_values": {"root_module": {"resources": [{"address": "aws_lambda_function.f", "values": values}]}},
        "resource_changes": [{"address": "aws_lambda_function.f", "change": {"after": values}}],
        "configuration": {"root_module": {"resources": [{"expressions": {"environment": [{"variables": {"constant_value": {"AWS_ACCESS_KEY_ID": KEY_ID}}}]}}]}},
    });
    assert_eq!(
        summary(&plan),
        [
            (SECRET_NAMED_FIELD, "/variables/db_password/value".to_owned()),
            (
                AWS_ACCESS_KEY_ID,
                "/planned_values/root_module/resources/0/values/environment/0/variables/AWS_ACCESS_KEY_ID".to_owned()
            ),
        ]
    );
}

#[test]
fn plan_identifiers_and_expressions_are_not_secrets() {
    let doc = json!({
        "address": "aws_s3_bucket_server_side_encryption_configuration.uploads",
        "subnet_ids": ["subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"],
        "vpc_id": "vpc-0c2f4e6a8b1d3f5a7",
        "security_group": "sg-1234abcd",
        "bucket": "orders-uploads-123456789012",
        "name": "orders-prod-eu-west-1",
        "api_key_selection_expression": "$request.header.x-api-key",
        "route_selection_expression": "$request.method $request.path",
    });
    assert_eq!(summary(&doc), []);
    // A token with mixed letters and digits in one part still is one.
    assert_eq!(
        summary(&json!({"value": "x7Kq9-Lm2Pz8Rt4-Vw6Yb3Nc5"})),
        [(HIGH_ENTROPY, "/value".to_owned())]
    );
}

#[test]
fn inline_code_with_assigned_secrets_is_reported() {
    let code = "import os\nDB_PASSWORD = \"Tr0ub4dor&3xyz\"\nconst apiKey = 'sk_live_abcdef123456'\nTABLE = \"orders\"\nif password == \"x\":\n    pass\nTOKEN = os.environ[\"TOKEN\"]\nSECRET = \"{{resolve:secretsmanager:s}}\"\npassword: \"<password>\"\n";
    let doc = json!({"Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"ZipFile": code}}}}});
    let found: Vec<_> = hits(&doc).into_iter().map(|h| (h.rule, h.message)).collect();
    assert_eq!(
        found,
        [
            (SECRET_NAMED_FIELD, "`ZipFile` assigns a hard-coded password to `DB_PASSWORD` (`Tr0u…`)".to_owned()),
            (SECRET_NAMED_FIELD, "`ZipFile` assigns a hard-coded API key to `apiKey` (`sk_l…`)".to_owned()),
        ]
    );
}

/// Values that public templates hold under secret-sounding names, which
/// are references, paths or templates rather than secrets (found by
/// running the plugin on public SAM and serverless.yml projects).
#[test]
fn public_template_forms_are_not_secrets() {
    let doc = json!({
        "Resources": {
            "Fn": {"Type": "AWS::Serverless::Function", "Properties": {
                "Handler": "com.example.orders.OrderHandler2::handleRequest",
                "Environment": {"Variables": {
                    "GOOGLE_APPLICATION_CREDENTIALS": "/var/task/creds/service-account2.json",
                    "CREDENTIALS_FILE": "~/.gcloud/keyfile.json",
                    "TOKEN_CERT": "./certs/client-cert.pem",
                    "SECRETS_FILE": "file://secrets/prod.json"
                }}
            }},
            "Integration": {"Type": "AWS::ApiGatewayV2::Integration", "Properties": {
                "RequestTemplates": {
                    "token": "{\"action\": \"$request.body.action\", \"token\": \"$context.authorizer.token\"}"
                }
            }},
            "Method": {"Type": "AWS::ApiGateway::Method", "Properties": {
                "Integration": {"RequestTemplates": {
                    "application/json": "#set($token = $input.params('token'))\n{\"token\": \"$token\", \"secret\": \"$util.escapeJavaScript($input.path('$.secret'))\"}"
                }}
            }},
            "Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
                "Definition": {"States": {"Wait": {"Type": "Task", "Parameters": {
                    "Payload": {
                        "task_token.$": "$$.Task.Token",
                        "token.$": "$.token",
                        "secret_key.$": "States.Format('{}-{}', $.secretKey, $.suffix)"
                    },
                    "ApiKey": "$.apiKey"
                }}}}
            }}
        }
    });
    assert_eq!(summary(&doc), Vec::new());

    // More forms from public projects: IAM actions, package paths and
    // globs, JVM options (high entropy); token units, values that repeat
    // their name, test dummies (named like secrets).
    let more = json!({
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [{"PolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress2"], "Resource": "*"}
            ]}}]}},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
                "Code": "./PollLifx/bin/Release/netcoreapp2.0/PollLifx.zip",
                "Environment": {"Variables": {
                    "LAMBDA_JAVA_OPTS": "-agentlib:jdwp=transport=dt_socket,server=y,suspend=y,address=5050",
                    "REDIS_PASSWORD": "PASSWORD",
                    "AWS_SECRET_ACCESS_KEY": "test"
                }}
            }},
            "Pool": {"Type": "AWS::Cognito::UserPoolClient", "Properties": {
                "TokenValidityUnits": {"AccessToken": "hours", "IdToken": "hours", "RefreshToken": "days"}
            }}
        },
        "package": {"patterns": ["create-s3-upload-policy-document/node_modules/**"]}
    });
    assert_eq!(summary(&more), Vec::new());

    // Names that describe a secret setting rather than hold one (a
    // Terraform plan's KMS key has `customer_master_key_spec` in every plan).
    let described = json!({
        "planned_values": {"root_module": {"resources": [{"address": "aws_kms_key.k", "type": "aws_kms_key",
            "values": {"customer_master_key_spec": "SYMMETRIC_DEFAULT", "key_usage": "ENCRYPT_DECRYPT"}}]}},
        "Env": {
            "SIGNING_KEY_SPEC": "RSA_2048",
            "TOKEN_ISSUER": "https://id.example.com",
            "TOKEN_SCOPE": "openid profile email",
            "SECRET_ACTION": "secretsmanager:GetSecretValue",
            "PASSWORD_ACTION": "iam:ChangePassword"
        }
    });
    assert_eq!(summary(&described), Vec::new());

    // Connection URLs: a password in them is reported, whatever the name;
    // a reference or no password is not.
    let urls = json!({"Env": {
        "DATABASE_URL": "postgres://admin:S3cr3tP4ss@db.internal:5432/orders",
        "CACHE": "redis://:hunter22@cache:6379/0",
        "READER_URL": "postgres://reader:${DB_PASSWORD}@db.internal/orders",
        "RESOLVED_URL": "postgres://app:{{resolve:secretsmanager:db:SecretString:password}}@db/x",
        "SITE": "https://user@example.com/path",
        "DOCS": "https://example.com/a:b@c"
    }});
    let found: Vec<String> = summary(&urls).into_iter().map(|(_, p)| p).collect();
    assert_eq!(found, ["/Env/DATABASE_URL", "/Env/CACHE"]);

    // The same names with real values are still reported.
    let real = json!({"Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {
        "Environment": {"Variables": {
            "CREDENTIALS": "s3cr3t-Pa55word!",
            "API_TOKEN": "tok_9f8e7d6c5b4a3f2e1d0c"
        }}
    }}}});
    let rules: Vec<&str> = summary(&real).iter().map(|(r, _)| *r).collect();
    assert_eq!(rules, [SECRET_NAMED_FIELD, SECRET_NAMED_FIELD]);
}

#[test]
fn json_text_and_basic_credentials_are_read_inside_strings() {
    let doc = json!({"Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {
        "Environment": {"Variables": {
            "CONFIG": "{\"db\": {\"host\": \"db.internal\", \"password\": \"S3cr3tP4ss!\"}}",
            "UPSTREAM_HEADERS": "Authorization: Basic YWRtaW46aHVudGVyMjI=",
            "SAFE_CONFIG": "{\"db\": {\"password\": \"{{resolve:secretsmanager:db:SecretString:password}}\"}}",
            "FEATURES": "{\"token_ttl\": \"3600\", \"mode\": \"fast\"}",
            "TEMPLATED": "{\"password\": \"$DB_PASSWORD\", \"token\": \"%API_TOKEN%\"}",
            "USERS": "{\"users\": [{\"name\": \"app\", \"password\": \"Hunter2Hunter2\"}]}",
            "ADO": "Server=db.internal;Database=orders;User Id=app;Password=S3cr3tP4ss!;",
            "NOT_JSON": "{not json: password = x}",
            "DOC": "Basic authentication is required"
        }}
    }}}});
    let found = summary(&doc);
    let at: Vec<&str> = found.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(
        at,
        [
            "/Resources/Fn/Properties/Environment/Variables/CONFIG",
            "/Resources/Fn/Properties/Environment/Variables/UPSTREAM_HEADERS",
            "/Resources/Fn/Properties/Environment/Variables/USERS",
            "/Resources/Fn/Properties/Environment/Variables/ADO"
        ],
        "{found:?}"
    );
    assert!(found.iter().all(|(r, _)| *r == SECRET_NAMED_FIELD));
    let messages: Vec<String> = hits(&doc).into_iter().map(|h| h.message).collect();
    assert!(messages[0].contains("JSON whose `password` is a hard-coded password"), "{messages:?}");
    assert!(messages[1].contains("HTTP Basic credentials (password `hunt…`)"), "{messages:?}");
}

#[test]
fn values_inside_intrinsics_are_judged_under_their_key() {
    let doc = json!({"Resources": {
        "G": {"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": {
            "DB_PASSWORD": {"Fn::If": ["IsProd", "{{resolve:secretsmanager:db:SecretString:password}}", "Zq8#mVt2pLk"]}
        }}}},
        "H": {"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": {
            "DB_PASSWORD": {"Fn::Sub": "Zq8#mVt2pLk"},
            "USERS": "[{\"password\": \"Zq8#mVt2pLk\"}]"
        }}}},
        "Safe": {"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": {
            "DB_PASSWORD": {"Ref": "DbPasswordParameter"},
            "API_TOKEN": {"Fn::GetAtt": ["TokenSecret", "SecretString"]},
            "SECRET_ARN": {"Fn::Join": [":", ["arn:aws:secretsmanager", {"Ref": "AWS::Region"}]]},
            "PASSWORD_FROM": {"Fn::If": ["UseSsm", "{{resolve:ssm-secure:/db/password}}", {"Ref": "AWS::NoValue"}]}
        }}}}
    }});
    let found: Vec<String> = summary(&doc).into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        found,
        [
            "/Resources/G/Properties/Environment/Variables/DB_PASSWORD/Fn::If/2",
            "/Resources/H/Properties/Environment/Variables/DB_PASSWORD/Fn::Sub",
            "/Resources/H/Properties/Environment/Variables/USERS"
        ]
    );
    let messages: Vec<String> = hits(&doc).into_iter().map(|h| h.message).collect();
    assert!(messages.iter().all(|m| !m.contains("Fn::")), "{messages:?}");
}
