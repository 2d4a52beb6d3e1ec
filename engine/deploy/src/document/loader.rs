//! A YAML loader with bounded cost: it turns the parser's events into JSON
//! with an explicit stack, so no input can make it recurse, and it stops at
//! a depth, a node count and an alias-expansion budget before memory or
//! the stack run out.
//!
//! It also does what the YAML tools that deployments are written for do
//! (PyYAML, js-yaml): merge keys (`<<: *base`) are merged, and duplicate
//! keys are refused rather than silently resolved one way or the other.

use saphyr::Scalar;
use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;

/// How deep, how big and how self-referential a document may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Deepest nesting of sequences and mappings.
    pub max_depth: usize,
    /// Most nodes (scalars, sequences, mappings), aliases counted expanded.
    pub max_nodes: usize,
}

impl Default for ParseLimits {
    fn default() -> ParseLimits {
        ParseLimits {
            max_depth: 100,
            max_nodes: 1_000_000,
        }
    }
}

/// Where and why loading stopped.
#[derive(Debug)]
pub(crate) struct LoadError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl LoadError {
    fn at(mark: Marker, message: impl Into<String>) -> LoadError {
        LoadError {
            line: mark.line(),
            column: mark.col() + 1,
            message: message.into(),
        }
    }
}

/// A loaded document.
pub(crate) struct Loaded {
    pub value: Value,
    pub lines: HashMap<String, u32>,
    /// For each position asked about (see [`load`]), whether it lies inside
    /// a scalar (a string or a block scalar) rather than in a comment.
    pub inside_scalar: Vec<bool>,
}

struct Key {
    text: String,
    at: Marker,
    merge: bool,
}

enum Kind {
    Seq(Vec<Value>),
    Map {
        map: Map<String, Value>,
        key: Option<Key>,
        merges: Vec<Value>,
    },
}

struct Frame {
    kind: Kind,
    anchor: usize,
    /// A CloudFormation short form (`!GetAtt`): its long name.
    intrinsic: Option<String>,
    /// Length of `pointer` for this node's content.
    pointer_len: usize,
    /// Whether the lines of this node's members are recorded (not in keys).
    record: bool,
    nodes_at_start: usize,
    start: Marker,
}

struct Loader<'p> {
    limits: ParseLimits,
    stack: Vec<Frame>,
    pointer: String,
    lines: HashMap<String, u32>,
    anchors: HashMap<usize, (Value, usize)>,
    nodes: usize,
    root: Option<Value>,
    documents: usize,
    probes: &'p [(usize, usize)],
    inside: Vec<bool>,
}

/// Loads one YAML (or JSON) document.
///
/// `probes` are `(line, column)` positions, sorted, 1-based line and
/// 0-based column in characters; the answer says which lie inside scalars.
pub(crate) fn load(
    text: &str,
    limits: ParseLimits,
    probes: &[(usize, usize)],
) -> Result<Loaded, LoadError> {
    let mut loader = Loader {
        limits,
        stack: Vec::new(),
        pointer: String::new(),
        lines: HashMap::new(),
        anchors: HashMap::new(),
        nodes: 0,
        root: None,
        documents: 0,
        probes,
        inside: vec![false; probes.len()],
    };
    let mut parser = Parser::new_from_str(text);
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| LoadError::at(*e.marker(), e.info()))?;
        if loader.on_event(event, span)? {
            break;
        }
    }
    Ok(Loaded {
        value: loader.root.unwrap_or(Value::Null),
        lines: loader.lines,
        inside_scalar: loader.inside,
    })
}

fn intrinsic_name(tag: &Tag) -> Option<String> {
    if tag.handle != "!" {
        return None;
    }
    Some(match tag.suffix.as_str() {
        "Ref" => "Ref".to_owned(),
        "Condition" => "Condition".to_owned(),
        other => format!("Fn::{other}"),
    })
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
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

/// A scalar as the YAML 1.2 core schema reads it; a core tag that does not
/// fit (`!!int abc`) reads as null.
fn resolve(v: Cow<'_, str>, style: ScalarStyle, tag: Option<&Cow<'_, Tag>>) -> Value {
    let core = tag.filter(|t| t.is_yaml_core_schema());
    Scalar::parse_from_cow_and_metadata(v, style, core).map_or(Value::Null, |s| scalar_json(&s))
}

/// The text a key stands for in JSON.
fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

fn line_of(mark: Marker) -> u32 {
    u32::try_from(mark.line()).unwrap_or(u32::MAX)
}

fn wrap(intrinsic: Option<String>, content: Value) -> Value {
    let Some(name) = intrinsic else {
        return content;
    };
    let arg = match content {
        Value::String(s) if name == "Fn::GetAtt" => match s.split_once('.') {
            Some((resource, attribute)) => Value::Array(vec![
                Value::String(resource.to_owned()),
                Value::String(attribute.to_owned()),
            ]),
            None => Value::String(s),
        },
        other => other,
    };
    let mut m = Map::new();
    m.insert(name, arg);
    Value::Object(m)
}

impl Loader<'_> {
    /// Handles one event; true when the document is complete.
    fn on_event(&mut self, event: Event<'_>, span: Span) -> Result<bool, LoadError> {
        match event {
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => {}
            Event::StreamEnd => return Ok(true),
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(LoadError::at(
                        span.start,
                        "several YAML documents in one file; expected one deployment description per file",
                    ));
                }
            }
            Event::Scalar(v, style, anchor, tag) => {
                self.probe(span);
                let is_merge = style == ScalarStyle::Plain && tag.is_none() && v == "<<";
                let record = self.enter(span.start)?;
                self.count(1, span.start)?;
                if record {
                    let p = self.pointer.clone();
                    self.record_at(&p, span);
                }
                let intrinsic = tag.as_ref().and_then(|t| intrinsic_name(t));
                let value = resolve(v, style, tag.as_ref());
                let value = match intrinsic {
                    Some(name) => {
                        if record {
                            self.record_at(&format!("{}/{}", self.pointer, escape(&name)), span);
                        }
                        wrap(Some(name), value)
                    }
                    None => value,
                };
                self.complete(value, anchor, 1, span.start, is_merge)?;
            }
            Event::Alias(id) => {
                if self.enter(span.start)? {
                    let p = self.pointer.clone();
                    self.record_at(&p, span);
                }
                let Some((value, nodes)) = self.anchors.get(&id) else {
                    return Err(LoadError::at(span.start, "alias to an unknown anchor"));
                };
                let (value, nodes) = (value.clone(), *nodes);
                self.count(nodes, span.start)?;
                self.complete(value, 0, nodes, span.start, false)?;
            }
            Event::SequenceStart(anchor, tag) => {
                self.open(Kind::Seq(Vec::new()), anchor, tag.as_deref(), span)?;
            }
            Event::MappingStart(anchor, tag) => {
                let kind = Kind::Map {
                    map: Map::new(),
                    key: None,
                    merges: Vec::new(),
                };
                self.open(kind, anchor, tag.as_deref(), span)?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Err(LoadError::at(span.start, "unbalanced collection end"));
                };
                let content = match frame.kind {
                    Kind::Seq(items) => Value::Array(items),
                    Kind::Map {
                        mut map, merges, ..
                    } => {
                        for source in merges {
                            if let Value::Object(m) = source {
                                for (k, v) in m {
                                    map.entry(k).or_insert(v);
                                }
                            }
                        }
                        Value::Object(map)
                    }
                };
                let nodes = self.nodes - frame.nodes_at_start;
                let value = wrap(frame.intrinsic, content);
                self.complete(value, frame.anchor, nodes, frame.start, false)?;
            }
        }
        Ok(false)
    }

    /// Marks the probes that the scalar at `span` covers.
    fn probe(&mut self, span: Span) {
        if self.probes.is_empty() {
            return;
        }
        let start = (span.start.line(), span.start.col());
        let end = (span.end.line(), span.end.col());
        let first = self.probes.partition_point(|p| *p < start);
        for (i, p) in self.probes.iter().enumerate().skip(first) {
            if *p >= end {
                break;
            }
            if let Some(slot) = self.inside.get_mut(i) {
                *slot = true;
            }
        }
    }

    fn count(&mut self, nodes: usize, at: Marker) -> Result<(), LoadError> {
        self.nodes = self.nodes.saturating_add(nodes);
        if self.nodes > self.limits.max_nodes {
            return Err(LoadError::at(
                at,
                format!(
                    "more than {} nodes (aliases counted expanded); the document is too large",
                    self.limits.max_nodes
                ),
            ));
        }
        Ok(())
    }

    /// Sets `pointer` to the next node's and says whether its line is
    /// recorded (not for mapping keys).
    fn enter(&mut self, at: Marker) -> Result<bool, LoadError> {
        let Some(parent) = self.stack.last() else {
            if self.root.is_some() {
                return Err(LoadError::at(at, "content after the document's root node"));
            }
            self.pointer.clear();
            return Ok(true);
        };
        self.pointer.truncate(parent.pointer_len);
        match &parent.kind {
            Kind::Seq(items) => {
                self.pointer.push('/');
                self.pointer.push_str(&items.len().to_string());
                Ok(parent.record)
            }
            Kind::Map { key: None, .. } => Ok(false),
            Kind::Map { key: Some(k), .. } => {
                self.pointer.push('/');
                self.pointer.push_str(&escape(&k.text));
                Ok(parent.record)
            }
        }
    }

    fn record_at(&mut self, pointer: &str, span: Span) {
        self.lines
            .entry(pointer.to_owned())
            .or_insert(line_of(span.start));
    }

    fn open(
        &mut self,
        kind: Kind,
        anchor: usize,
        tag: Option<&Tag>,
        span: Span,
    ) -> Result<(), LoadError> {
        let record = self.enter(span.start)?;
        if self.stack.len() >= self.limits.max_depth {
            return Err(LoadError::at(
                span.start,
                format!(
                    "nesting deeper than {} levels; the document is too deep",
                    self.limits.max_depth
                ),
            ));
        }
        let nodes_at_start = self.nodes;
        self.count(1, span.start)?;
        if record {
            let p = self.pointer.clone();
            self.record_at(&p, span);
        }
        let intrinsic = tag.and_then(intrinsic_name);
        if let Some(name) = &intrinsic {
            self.pointer.push('/');
            self.pointer.push_str(&escape(name));
            if record {
                let p = self.pointer.clone();
                self.record_at(&p, span);
            }
        }
        self.stack.push(Frame {
            kind,
            anchor,
            intrinsic,
            pointer_len: self.pointer.len(),
            record,
            nodes_at_start,
            start: span.start,
        });
        Ok(())
    }

    /// Puts a finished node where it belongs.
    fn complete(
        &mut self,
        value: Value,
        anchor: usize,
        nodes: usize,
        at: Marker,
        is_merge_key: bool,
    ) -> Result<(), LoadError> {
        if anchor > 0 {
            // Keeping the anchored copy costs as much as the node itself.
            self.count(nodes, at)?;
            self.anchors.insert(anchor, (value.clone(), nodes));
        }
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(value);
            return Ok(());
        };
        match &mut parent.kind {
            Kind::Seq(items) => items.push(value),
            Kind::Map { key, map, merges } => match key.take() {
                None => {
                    let text = key_text(&value);
                    if parent.record && !is_merge_key {
                        self.pointer.truncate(parent.pointer_len);
                        self.pointer.push('/');
                        self.pointer.push_str(&escape(&text));
                        self.lines
                            .entry(self.pointer.clone())
                            .or_insert(line_of(at));
                    }
                    *key = Some(Key {
                        text,
                        at,
                        merge: is_merge_key,
                    });
                }
                Some(k) if k.merge && !merges.is_empty() => {
                    // PyYAML lets the later of two `<<` keys win, and the
                    // first of one `<<` list: refused rather than guessed.
                    return Err(LoadError::at(
                        k.at,
                        "a second merge key `<<` in one mapping; merge several with one `<<: [*first, *second]`, the first winning",
                    ));
                }
                Some(k) if k.merge => match value {
                    Value::Object(_) => merges.push(value),
                    Value::Array(list) if list.iter().all(Value::is_object) => merges.extend(list),
                    _ => {
                        return Err(LoadError::at(
                            k.at,
                            "a merge key `<<` takes a mapping or a list of mappings",
                        ));
                    }
                },
                Some(k) => {
                    if map.contains_key(&k.text) {
                        return Err(LoadError::at(
                            k.at,
                            format!("duplicate key `{}` in a mapping", k.text),
                        ));
                    }
                    map.insert(k.text, value);
                }
            },
        }
        Ok(())
    }
}
