//! Documents: deployment files parsed into JSON with a source map, so every
//! finding can name the file and line it is about.
//!
//! YAML and JSON go through the same YAML 1.2 parser (JSON is YAML), which
//! records where each node starts. CloudFormation's short-form intrinsic
//! tags (`!Ref`, `!Sub`, `!GetAtt`, ...) become their long form
//! (`{"Ref": ...}`, `{"Fn::Sub": ...}`), exactly as CloudFormation reads them.

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// What kind of deployment description a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
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
    markers: Vec<crate::suppress::Marker>,
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
    /// use palisade_engine::{Document, DocumentFormat};
    /// let doc = Document::parse("template.yaml", "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Role: !GetAtt FnRole.Arn\n")?;
    /// assert_eq!(doc.format, DocumentFormat::CloudFormation);
    /// assert_eq!(doc.value["Resources"]["Fn"]["Properties"]["Role"], serde_json::json!({"Fn::GetAtt": ["FnRole", "Arn"]}));
    /// assert_eq!(doc.line_of("/Resources/Fn/Properties/Role"), Some(5));
    /// # Ok::<(), palisade_engine::ParseError>(())
    /// ```
    pub fn parse(file: &str, text: &str) -> Result<Document, ParseError> {
        let docs = MarkedYaml::load_from_str(text).map_err(|e| {
            let m = e.marker();
            ParseError {
                file: file.to_owned(),
                line: m.line(),
                column: m.col() + 1,
                message: e.info().to_owned(),
            }
        })?;
        let mut lines = HashMap::new();
        let value = match docs.as_slice() {
            [] => Value::Null,
            [one] => convert(one, &mut String::new(), &mut lines),
            [_, second, ..] => {
                return Err(ParseError {
                    file: file.to_owned(),
                    line: second.span.start.line(),
                    column: 1,
                    message: "several YAML documents in one file; expected one deployment description per file".into(),
                });
            }
        };
        let format = detect(&value);
        Ok(Document {
            file: file.to_owned(),
            value,
            format,
            lines,
            markers: crate::suppress::markers(text),
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

    /// The `# palisade:skip=RULE reason` comments of the file.
    pub(crate) fn markers(&self) -> &[crate::suppress::Marker] {
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

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn key_string(node: &MarkedYaml<'_>) -> String {
    match &node.data {
        YamlData::Value(s) => scalar_string(s),
        YamlData::Representation(s, _, _) => s.to_string(),
        YamlData::Tagged(_, inner) => key_string(inner),
        _ => String::new(),
    }
}

fn scalar_string(s: &Scalar<'_>) -> String {
    match s {
        Scalar::Null => "null".into(),
        Scalar::Boolean(b) => b.to_string(),
        Scalar::Integer(i) => i.to_string(),
        Scalar::FloatingPoint(f) => f.to_string(),
        Scalar::String(s) => s.to_string(),
    }
}

fn scalar_json(s: &Scalar<'_>) -> Value {
    match s {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::from(*i),
        Scalar::FloatingPoint(f) => {
            serde_json::Number::from_f64(f.into_inner()).map_or(Value::Null, Value::Number)
        }
        Scalar::String(s) => Value::String(s.to_string()),
    }
}

fn convert(node: &MarkedYaml<'_>, pointer: &mut String, lines: &mut HashMap<String, u32>) -> Value {
    let line = u32::try_from(node.span.start.line()).unwrap_or(u32::MAX);
    if line > 0 {
        lines.entry(pointer.clone()).or_insert(line);
    }
    match &node.data {
        YamlData::Value(s) => scalar_json(s),
        YamlData::Representation(s, _, _) => Value::String(s.to_string()),
        YamlData::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                out.push(convert(item, pointer, lines));
                pointer.truncate(len);
            }
            Value::Array(out)
        }
        YamlData::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = key_string(k);
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape(&key));
                // A member is where its key is: `Orders:` rather than the
                // first line of the mapping under it.
                if let Ok(line) = u32::try_from(k.span.start.line())
                    && line > 0
                {
                    lines.entry(pointer.clone()).or_insert(line);
                }
                let value = convert(v, pointer, lines);
                pointer.truncate(len);
                out.insert(key, value);
            }
            Value::Object(out)
        }
        YamlData::Tagged(tag, inner) => {
            if tag.handle != "!" {
                // Core tags (`!!str`, ...) change nothing we care about.
                return convert(inner, pointer, lines);
            }
            let name = match tag.suffix.as_str() {
                "Ref" => "Ref".to_owned(),
                "Condition" => "Condition".to_owned(),
                other => format!("Fn::{other}"),
            };
            let len = pointer.len();
            pointer.push('/');
            pointer.push_str(&escape(&name));
            let mut arg = convert(inner, pointer, lines);
            pointer.truncate(len);
            if name == "Fn::GetAtt"
                && let Value::String(s) = &arg
                && let Some((resource, attribute)) = s.split_once('.')
            {
                arg = Value::Array(vec![
                    Value::String(resource.to_owned()),
                    Value::String(attribute.to_owned()),
                ]);
            }
            let mut m = Map::new();
            m.insert(name, arg);
            Value::Object(m)
        }
        // CloudFormation has no anchors; elsewhere an alias is rare enough
        // to read as null rather than to fail the file.
        YamlData::Alias(_) | YamlData::BadValue => Value::Null,
    }
}

fn detect(v: &Value) -> DocumentFormat {
    let Value::Object(top) = v else {
        return DocumentFormat::Unknown;
    };
    if top.contains_key("format_version")
        && (top.contains_key("planned_values") || top.contains_key("resource_changes"))
    {
        return DocumentFormat::TerraformPlan;
    }
    if top.contains_key("service") && top.contains_key("provider") {
        return DocumentFormat::ServerlessFramework;
    }
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
    if top.contains_key("AWSTemplateFormatVersion") || typed_resources {
        return DocumentFormat::CloudFormation;
    }
    DocumentFormat::Unknown
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
}
