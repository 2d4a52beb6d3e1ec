//! Documents: deployment files parsed into JSON with a source map, so every
//! finding can name the file and line it is about.
//!
//! YAML and JSON go through the same YAML 1.2 parser (JSON is YAML), which
//! records where each node starts. CloudFormation's short-form intrinsic
//! tags (`!Ref`, `!Sub`, `!GetAtt`, ...) become their long form
//! (`{"Ref": ...}`, `{"Fn::Sub": ...}`), exactly as CloudFormation reads them.

mod loader;
pub(crate) mod markers;

pub use loader::ParseLimits;
use serde_json::Value;
use std::collections::HashMap;

/// What kind of deployment description a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum DocumentFormat {
    /// AWS CloudFormation, including SAM (`Transform: AWS::Serverless-2016-10-31`).
    CloudFormation,
    /// Serverless Framework `serverless.yml`.
    ServerlessFramework,
    /// `terraform show -json` of a plan.
    TerraformPlan,
    /// Parsed fine, but none of the above.
    Unknown,
}

/// A parsed file: its JSON value and the line of every node in it.
#[derive(Debug, Clone)]
pub struct Document {
    /// The file name as the user gave it (`-` for standard input).
    pub file: String,
    /// The content as JSON.
    pub value: Value,
    /// What the content looks like.
    pub format: DocumentFormat,
    lines: HashMap<String, u32>,
    markers: Vec<markers::Marker>,
}

/// A file that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ParseError {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl Document {
    /// Parses YAML or JSON text.
    ///
    /// # Errors
    /// [`ParseError`] with the file, line, column and what was expected.
    ///
    /// # Examples
    /// ```
    /// use palisade_deploy::{Document, DocumentFormat};
    /// let doc = Document::parse("template.yaml", "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Role: !GetAtt FnRole.Arn\n")?;
    /// assert_eq!(doc.format, DocumentFormat::CloudFormation);
    /// assert_eq!(doc.value["Resources"]["Fn"]["Properties"]["Role"], serde_json::json!({"Fn::GetAtt": ["FnRole", "Arn"]}));
    /// assert_eq!(doc.line_of("/Resources/Fn/Properties/Role"), Some(5));
    /// # Ok::<(), palisade_deploy::ParseError>(())
    /// ```
    pub fn parse(file: &str, text: &str) -> Result<Document, ParseError> {
        Document::parse_with_limits(file, text, ParseLimits::default())
    }

    /// Parses YAML or JSON text within `limits` (depth, node count,
    /// aliases counted expanded).
    ///
    /// # Errors
    /// [`ParseError`] with the file, line, column and what was expected,
    /// or which limit the text goes over and where.
    pub fn parse_with_limits(
        file: &str,
        text: &str,
        limits: ParseLimits,
    ) -> Result<Document, ParseError> {
        let candidates = markers::markers(text);
        let probes: Vec<(usize, usize)> = candidates
            .iter()
            .map(|m| (m.line as usize, m.column))
            .collect();
        let loaded = loader::load(text, limits, &probes).map_err(|e| ParseError {
            file: file.to_owned(),
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
        // A marker inside a string is data, not a comment.
        let markers = candidates
            .into_iter()
            .zip(loaded.inside_scalar)
            .filter_map(|(m, inside)| (!inside).then_some(m))
            .collect();
        let format = detect(&loaded.value);
        Ok(Document {
            file: file.to_owned(),
            value: loaded.value,
            format,
            lines: loaded.lines,
            markers,
        })
    }

    /// A document from an already parsed value (no line numbers), e.g. a
    /// template embedded in a test case.
    pub fn from_value(file: &str, value: Value) -> Document {
        let format = detect(&value);
        Document {
            file: file.to_owned(),
            value,
            format,
            lines: HashMap::new(),
            markers: Vec::new(),
        }
    }

    /// Refuses a document that is no deployment description, so that an
    /// empty file, a failed `terraform show` or a YAML file of another kind
    /// is an error rather than a check that passes.
    ///
    /// # Errors
    /// [`ParseError`] at line 1 saying what was found and what is expected.
    ///
    /// # Examples
    /// ```
    /// use palisade_deploy::Document;
    /// let empty = Document::parse("plan.json", "")?;
    /// assert!(empty.require_deployment().unwrap_err().message.starts_with("empty input"));
    /// # Ok::<(), palisade_deploy::ParseError>(())
    /// ```
    pub fn require_deployment(&self) -> Result<(), ParseError> {
        const EXPECTED: &str = "expected a CloudFormation or SAM template (`Resources` of typed resources or `AWSTemplateFormatVersion`), a serverless.yml (`service` and `provider`) or a Terraform plan from `terraform show -json` (`format_version` and `planned_values`)";
        let found = match (&self.value, self.format) {
            (_, f) if f != DocumentFormat::Unknown => return self.shape(),
            (Value::Null, _) => "empty input".to_owned(),
            (Value::Object(m), _) if m.is_empty() => "an empty mapping".to_owned(),
            (Value::Object(m), _) if looks_like(m).iter().filter(|k| **k).count() > 1 => {
                "a mapping that looks like more than one kind of deployment description".to_owned()
            }
            (Value::Object(_), _) => "a mapping that is no deployment description".to_owned(),
            (Value::Array(_), _) => "a list, not a deployment description".to_owned(),
            (Value::String(_), _) => "plain text, not a deployment description".to_owned(),
            (other, _) => format!("a lone scalar `{other}`, not a deployment description"),
        };
        Err(ParseError {
            file: self.file.clone(),
            line: 1,
            column: 1,
            message: format!("{found}; {EXPECTED}"),
        })
    }

    /// The OpenAPI definitions of this template's APIs that live in other
    /// files: a SAM REST or HTTP API's `DefinitionUri: api.yaml` (or
    /// `{Bucket, Key}`), and any API's definition (`DefinitionBody` of a SAM
    /// API, `Body` of a REST or v2 API) written as `{Fn::Transform: {Name:
    /// AWS::Include, Parameters: {Location: api.yaml}}}`, or a REST or v2
    /// API's `BodyS3Location`. Each is (the API's logical id, the location:
    /// a path relative to the template, or an `s3://` URI). Until one is
    /// given with [`Document::include_definition`], the rules see no
    /// definition, and judge the API's routes by the template alone.
    ///
    /// ```
    /// use palisade_deploy::Document;
    /// let doc = Document::parse("t.yaml", "Transform: AWS::Serverless-2016-10-31\nResources:\n  Api:\n    Type: AWS::Serverless::Api\n    Properties: { StageName: prod, DefinitionUri: openapi.yaml }\n")?;
    /// assert_eq!(doc.external_definitions(), [("Api".to_owned(), "openapi.yaml".to_owned())]);
    /// # Ok::<(), palisade_deploy::ParseError>(())
    /// ```
    pub fn external_definitions(&self) -> Vec<(String, String)> {
        if self.format != DocumentFormat::CloudFormation {
            return Vec::new();
        }
        let s3 = |v: &Value| -> Option<String> {
            match v {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => Some(format!(
                    "s3://{}/{}",
                    o.get("Bucket").and_then(Value::as_str).unwrap_or("?"),
                    o.get("Key").and_then(Value::as_str).unwrap_or("?")
                )),
                _ => None,
            }
        };
        let resources = self.value.get("Resources").and_then(Value::as_object);
        resources
            .into_iter()
            .flatten()
            .filter_map(|(id, r)| {
                let kind = r.get("Type").and_then(Value::as_str)?;
                let (body, uri) = definition_keys(kind)?;
                let p = r.get("Properties")?;
                let included = p
                    .get(body)
                    .and_then(|b| b.get("Fn::Transform"))
                    .filter(|t| t.get("Name").and_then(Value::as_str) == Some("AWS::Include"))
                    .and_then(|t| t.get("Parameters")?.get("Location"))
                    .and_then(s3);
                let location = included.or_else(|| p.get(uri).and_then(s3))?;
                Some((id.clone(), location))
            })
            .collect()
    }

    /// Gives the API `resource` its OpenAPI `definition`, read from the
    /// file [`Document::external_definitions`] named, as its
    /// `DefinitionBody` (a SAM API) or `Body`. False when there is no such
    /// API.
    pub fn include_definition(&mut self, resource: &str, definition: Value) -> bool {
        let Some(r) = self
            .value
            .get_mut("Resources")
            .and_then(|r| r.get_mut(resource))
        else {
            return false;
        };
        let Some((body, _)) = r
            .get("Type")
            .and_then(Value::as_str)
            .and_then(definition_keys)
        else {
            return false;
        };
        match r.get_mut("Properties").and_then(Value::as_object_mut) {
            Some(p) => {
                p.insert(body.into(), definition);
                true
            }
            None => false,
        }
    }

    /// A recognised format whose parts have the wrong shape (`functions: [a,
    /// b]`, `"resources": "x"`): an error at the part, never a file with
    /// nothing in it that passes.
    fn shape(&self) -> Result<(), ParseError> {
        fn mappings(v: &Value) -> bool {
            match v {
                Value::Null | Value::Object(_) => true,
                Value::Array(items) => items.iter().all(Value::is_object),
                _ => false,
            }
        }
        /// (where, what it must be, whether it is).
        type Part = (&'static str, &'static str, fn(&Value) -> bool);
        let wrong: &[Part] = match self.format {
            DocumentFormat::ServerlessFramework => &[
                (
                    "/functions",
                    "`functions` must be a mapping of functions, or a list of such mappings",
                    mappings,
                ),
                (
                    "/resources",
                    "`resources` must be a mapping (`Resources`, `Outputs`, ...), or a list of such mappings",
                    mappings,
                ),
            ],
            DocumentFormat::CloudFormation => &[(
                "/Resources",
                "`Resources` must be a mapping of logical ids to resources",
                |v| v.is_null() || v.is_object(),
            )],
            DocumentFormat::TerraformPlan => &[(
                "/planned_values/root_module/resources",
                "`planned_values.root_module.resources` must be a list of resources",
                |v| v.is_null() || v.is_array(),
            )],
            DocumentFormat::Unknown => &[],
        };
        for (pointer, message, ok) in wrong {
            if let Some(v) = self.value.pointer(pointer)
                && !ok(v)
            {
                // `- ${file(./functions.yml)}`: parts in other files, which
                // a check of this one cannot see.
                let include = v.as_array().and_then(|items| {
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .find(|t| t.contains("${file("))
                });
                let message = match include {
                    Some(inc) => format!(
                        "{message}: `{}` is in another file, which this check does not read; \
                         check the resolved configuration instead (`serverless print > resolved.yml`)",
                        inc.chars().take(120).collect::<String>()
                    ),
                    None => (*message).to_owned(),
                };
                return Err(ParseError {
                    file: self.file.clone(),
                    line: self.line_of(pointer).map_or(1, |l| l as usize),
                    column: 1,
                    message,
                });
            }
        }
        // Each resource's `Properties` is a mapping (or left empty).
        let tables: &[&str] = match self.format {
            DocumentFormat::CloudFormation => &["/Resources"],
            DocumentFormat::ServerlessFramework => &["/resources/Resources"],
            _ => &[],
        };
        for table in tables {
            let Some(resources) = self.value.pointer(table).and_then(Value::as_object) else {
                continue;
            };
            for (id, r) in resources {
                if let Some(p) = r.get("Properties")
                    && !(p.is_null() || p.is_object())
                {
                    let pointer = format!(
                        "{table}/{}/Properties",
                        id.replace('~', "~0").replace('/', "~1")
                    );
                    return Err(ParseError {
                        file: self.file.clone(),
                        line: self.line_of(&pointer).map_or(1, |l| l as usize),
                        column: 1,
                        message: format!("`Properties` of `{id}` must be a mapping"),
                    });
                }
            }
        }
        Ok(())
    }

    /// The `# palisade:skip=RULE reason` comments of the file.
    pub(crate) fn markers(&self) -> &[markers::Marker] {
        &self.markers
    }

    /// The line of the node at `pointer`, or of its nearest ancestor that
    /// has one.
    pub fn line_of(&self, pointer: &str) -> Option<u32> {
        let mut p = pointer;
        loop {
            if let Some(l) = self.lines.get(p) {
                return Some(*l);
            }
            match p.rfind('/') {
                Some(i) => p = p.get(..i).unwrap_or(""),
                None => return None,
            }
        }
    }
}

/// Which formats a document's top level looks like: Terraform plan,
/// serverless.yml, CloudFormation.
fn looks_like(top: &serde_json::Map<String, Value>) -> [bool; 3] {
    let terraform = top.contains_key("format_version")
        && (top.contains_key("planned_values") || top.contains_key("resource_changes"));
    let serverless = top.contains_key("service") && top.contains_key("provider");
    let typed_resources = top
        .get("Resources")
        .and_then(Value::as_object)
        .is_some_and(|r| {
            r.values().any(|res| {
                res.get("Type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.contains("::"))
            })
        });
    let cloudformation = top.contains_key("AWSTemplateFormatVersion") || typed_resources;
    [terraform, serverless, cloudformation]
}

/// The format, when exactly one fits: a document that looks like two (a
/// plan with CloudFormation `Resources` beside it) would be checked as one
/// and the other part dropped, so it is none.
/// Where an API type keeps its OpenAPI definition, and where it names a
/// file holding it: (inline key, file key).
fn definition_keys(kind: &str) -> Option<(&'static str, &'static str)> {
    match kind {
        "AWS::Serverless::Api" | "AWS::Serverless::HttpApi" => {
            Some(("DefinitionBody", "DefinitionUri"))
        }
        "AWS::ApiGateway::RestApi" | "AWS::ApiGatewayV2::Api" => Some(("Body", "BodyS3Location")),
        _ => None,
    }
}

fn detect(v: &Value) -> DocumentFormat {
    let Value::Object(top) = v else {
        return DocumentFormat::Unknown;
    };
    match looks_like(top) {
        [true, false, false] => DocumentFormat::TerraformPlan,
        [false, true, false] => DocumentFormat::ServerlessFramework,
        [false, false, true] => DocumentFormat::CloudFormation,
        _ => DocumentFormat::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SAM: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Environment:
        Variables:
          TABLE: !Ref OrdersTable
          URL: !Sub "https://${Api}.execute-api.${AWS::Region}.amazonaws.com"
          ARN: !GetAtt OrdersTable.Arn
          PICK: !Select [0, !GetAZs ""]
          MAYBE: !If [IsProd, "a", "b"]
"#;

    #[test]
    fn short_form_intrinsics_become_long_form() {
        let d = Document::parse("t.yaml", SAM).unwrap();
        assert_eq!(d.format, DocumentFormat::CloudFormation);
        let vars = &d.value["Resources"]["Orders"]["Properties"]["Environment"]["Variables"];
        assert_eq!(vars["TABLE"], json!({"Ref": "OrdersTable"}));
        assert_eq!(
            vars["URL"]["Fn::Sub"],
            "https://${Api}.execute-api.${AWS::Region}.amazonaws.com"
        );
        assert_eq!(vars["ARN"], json!({"Fn::GetAtt": ["OrdersTable", "Arn"]}));
        assert_eq!(vars["PICK"], json!({"Fn::Select": [0, {"Fn::GetAZs": ""}]}));
        assert_eq!(vars["MAYBE"], json!({"Fn::If": ["IsProd", "a", "b"]}));
    }

    #[test]
    fn every_node_has_its_line() {
        let d = Document::parse("t.yaml", SAM).unwrap();
        assert_eq!(d.line_of("/Resources/Orders"), Some(7));
        assert_eq!(d.line_of("/Resources/Orders/Properties/Handler"), Some(10));
        assert_eq!(
            d.line_of("/Resources/Orders/Properties/Environment/Variables/ARN"),
            Some(15)
        );
        // A pointer below a scalar falls back to the nearest ancestor.
        assert_eq!(
            d.line_of("/Resources/Orders/Properties/Handler/nothing"),
            Some(10)
        );
        assert_eq!(d.line_of("/Nope"), d.line_of(""));
    }

    #[test]
    fn json_files_parse_with_lines_too() {
        let text = "{\n  \"Resources\": {\n    \"Q\": {\n      \"Type\": \"AWS::SQS::Queue\"\n    }\n  }\n}\n";
        let d = Document::parse("t.json", text).unwrap();
        assert_eq!(d.format, DocumentFormat::CloudFormation);
        assert_eq!(d.line_of("/Resources/Q/Type"), Some(4));
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let e =
            Document::parse("bad.yaml", "Resources:\n  Fn:\n    Type: [unclosed\n").unwrap_err();
        assert_eq!(e.file, "bad.yaml");
        assert!(e.line >= 3, "{e}");
        assert!(e.to_string().starts_with("bad.yaml:"), "{e}");
    }

    #[test]
    fn formats_are_detected_by_content() {
        let sls = Document::parse("x.yml", "service: orders\nprovider:\n  name: aws\n").unwrap();
        assert_eq!(sls.format, DocumentFormat::ServerlessFramework);
        let tf = Document::parse(
            "plan.json",
            r#"{"format_version": "1.2", "planned_values": {}}"#,
        )
        .unwrap();
        assert_eq!(tf.format, DocumentFormat::TerraformPlan);
        let other = Document::parse("x.yml", "just: data\n").unwrap();
        assert_eq!(other.format, DocumentFormat::Unknown);
    }

    #[test]
    fn what_is_no_deployment_is_refused() {
        for (text, found) in [
            ("", "empty input"),
            ("# only a comment\n", "empty input"),
            ("{}", "an empty mapping"),
            ("just: data\n", "a mapping that is no deployment"),
            ("Error: plan failed\n", "a mapping that is no deployment"),
            ("terraform failed to run", "plain text"),
            ("[1, 2]", "a list"),
            ("42", "a lone scalar `42`"),
            // Found by a hostile review: read as an empty plan, the
            // CloudFormation part was dropped and the check passed.
            (
                r#"{"format_version": "1.2", "resource_changes": [], "Resources": {"F": {"Type": "AWS::Lambda::Url"}}}"#,
                "a mapping that looks like more than one kind",
            ),
        ] {
            let d = Document::parse("in.json", text).unwrap();
            let e = d.require_deployment().unwrap_err();
            assert!(e.message.starts_with(found), "{text:?}: {e}");
            assert!(e.to_string().starts_with("in.json:1:1: "), "{e}");
            assert!(e.message.contains("serverless.yml"), "{e}");
        }
        let ok =
            Document::parse("t.yaml", "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n").unwrap();
        assert!(ok.require_deployment().is_ok());
    }
}

#[cfg(test)]
mod hostile {
    //! Inputs an attacker would send: each once crashed, hung or fooled the
    //! loader (issue 9).
    use super::*;
    use serde_json::json;

    #[test]
    fn deep_block_nesting_is_an_error_not_a_stack_overflow() {
        // 4,000 levels in 8 KB aborted `palisade serve`.
        let text = format!("{}x\n", "- ".repeat(40_000));
        let e = Document::parse("deep.yaml", &text).unwrap_err();
        assert!(e.message.contains("nesting deeper than 100"), "{e}");
        assert_eq!((e.file.as_str(), e.line), ("deep.yaml", 1));
    }

    #[test]
    fn deep_flow_nesting_is_an_error_not_a_stack_overflow() {
        let text = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
        let e = Document::parse("deep.json", &text).unwrap_err();
        // The scanner's own flow limit (256) or ours, whichever comes first.
        assert!(
            e.message.contains("nesting deeper than") || e.message.contains("recursion limit"),
            "{e}"
        );
        assert_eq!(e.line, 1);
        let text = format!("a:\n{}", "  b: {c: ".repeat(50_000));
        assert!(Document::parse("deep.yaml", &text).is_err());
    }

    #[test]
    fn nesting_up_to_the_limit_loads() {
        let text = format!("{}x\n", "- ".repeat(99));
        let d = Document::parse("ok.yaml", &text).unwrap();
        let mut v = &d.value;
        for _ in 0..99 {
            v = &v[0];
        }
        assert_eq!(v, &json!("x"));
    }

    #[test]
    fn alias_expansion_is_bounded() {
        // Billion laughs: nine levels of ten aliases each.
        let mut text = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
            .iter()
            .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
        {
            let refs = vec![format!("*{prev}"); 10].join(",");
            text.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let started = std::time::Instant::now();
        let e = Document::parse("laughs.yaml", &text).unwrap_err();
        assert!(e.message.contains("nodes"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn merge_keys_are_merged_and_explicit_keys_win() {
        let text = "service: s\nprovider:\n  name: aws\n  iam:\n    role:\n      statements:\n        - &admin\n          Effect: Allow\n          Action: \"s3:GetObject\"\n          Resource: \"*\"\n        - <<: *admin\n          Action: \"*\"\n        - <<: [*admin, {Sid: x}]\n";
        let d = Document::parse("serverless.yml", text).unwrap();
        let st = &d.value["provider"]["iam"]["role"]["statements"];
        assert_eq!(
            st[1],
            json!({"Action": "*", "Effect": "Allow", "Resource": "*"})
        );
        assert_eq!(st[2]["Sid"], "x");
        assert_eq!(st[2]["Action"], "s3:GetObject");
        assert!(st[1].get("<<").is_none());
        assert_eq!(
            d.line_of("/provider/iam/role/statements/1/Action"),
            Some(12)
        );
    }

    #[test]
    fn two_merge_keys_in_one_mapping_are_refused() {
        // Read first-wins, this hid `AuthType: NONE` that PyYAML reads.
        let text = "safe: &safe {AuthType: AWS_IAM}\nbad: &bad {AuthType: NONE}\nF:\n  <<: *safe\n  <<: *bad\n";
        let e = Document::parse("t.yaml", text).unwrap_err();
        assert!(e.message.contains("second merge key"), "{e}");
        assert_eq!(e.line, 5);
        let inline = "F:\n  <<: {AuthType: AWS_IAM}\n  <<: {AuthType: NONE}\n";
        assert!(Document::parse("t.yaml", inline).is_err());
    }

    #[test]
    fn a_quoted_merge_key_is_an_ordinary_key() {
        let d = Document::parse("x.yaml", "\"<<\": {a: 1}\n").unwrap();
        assert_eq!(d.value, json!({"<<": {"a": 1}}));
    }

    #[test]
    fn merging_a_scalar_is_an_error() {
        let e = Document::parse("x.yaml", "a: &s 1\nb:\n  <<: *s\n").unwrap_err();
        assert!(e.message.contains("merge key"), "{e}");
        assert_eq!(e.line, 3);
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_line() {
        let e = Document::parse(
            "t.yaml",
            "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Type: AWS::SQS::Queue\n",
        )
        .unwrap_err();
        assert!(e.message.contains("duplicate key `Type`"), "{e}");
        assert_eq!(e.line, 4);
    }

    #[test]
    fn skip_markers_count_only_in_comments() {
        let text = "Resources:\n  A:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: \"q # palisade:skip=sqs.encryption in a string\"\n      Tags: |\n        # palisade:skip=sqs.encryption in a block scalar\n      Other: x#palisade:skip=sqs.encryption glued\n  # palisade:skip=sqs.encryption a real comment\n  B:\n    Type: AWS::SQS::Queue # palisade:skip=sqs.encryption trailing\n";
        let d = Document::parse("t.yaml", text).unwrap();
        let lines: Vec<u32> = d.markers().iter().map(|m| m.line).collect();
        assert_eq!(lines, [9, 11]);
        let json = r#"{"Resources": {"A": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "x # palisade:skip=sqs.encryption no"}}}}"#;
        assert!(
            Document::parse("t.json", json)
                .unwrap()
                .markers()
                .is_empty()
        );
    }

    #[test]
    fn flow_collections_spanning_lines_in_block_context_load() {
        // The style of many public SAM templates; PyYAML, cfn-lint and
        // Checkov read it.
        let text = "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      Policies:\n        - Statement: [{\n            \"Effect\": \"Allow\",\n            \"Action\": \"*\",\n            \"Resource\": \"*\"\n          }]\n      Layers: [\n        !Ref Layer\n      ]\n";
        let d = Document::parse("t.yaml", text).unwrap();
        let p = &d.value["Resources"]["Fn"]["Properties"];
        assert_eq!(p["Policies"][0]["Statement"][0]["Action"], "*");
        assert_eq!(p["Layers"], json!([{"Ref": "Layer"}]));
    }
}
