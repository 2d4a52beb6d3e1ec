//! [`Document`]: a JSON document parsed once into a compact, borrowed tree.
//!
//! A plugin runs in a fresh instance for every call, so the time it takes to
//! read its input is paid on every decision. Parsing into a
//! [`serde_json::Value`] allocates a `String` for every key and string value
//! and hashes every key; a [`Document`] instead records each value in one
//! flat array (a "tape", in document order) that points back into the source
//! text. Strings without escapes are never copied, and walking the document
//! is a linear pass over the tape.
//!
//! ```
//! use palisade_plugin_sdk::json::{Document, Kind, Walk};
//!
//! let doc = Document::parse(r#"{"Resources": {"Db": {"Password": "hunter2", "Port": 5432}}}"#)
//!     .map_err(|e| e.to_string())?;
//! let mut found = Vec::new();
//! doc.walk(&mut |path, node| {
//!     if path.key() == Some("Password") && node.kind() == Kind::String {
//!         found.push(path.pointer());
//!     }
//!     Walk::Continue
//! });
//! assert_eq!(found, ["/Resources/Db/Password"]);
//!
//! let db = doc.root().get("Resources").and_then(|r| r.get("Db"));
//! assert_eq!(db.and_then(|db| db.get("Port")).and_then(|p| p.as_u64()), Some(5432));
//! # Ok::<(), String>(())
//! ```

use core::cell::OnceCell;
use core::fmt;
use core::str::FromStr;

use serde_json::{Map, Number, Value};

/// Containers nested deeper than this are rejected, as `serde_json` does:
/// it keeps [`Node::to_value`] (and the `Value` a plugin may ask for) safe
/// from stack overflows.
const MAX_DEPTH: usize = 127;

/// What a tape entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Null,
    False,
    True,
    /// `a`: offset of the number in the text, `b`: its length.
    Number,
    /// A string without escapes. `a`: offset of its first byte (after the
    /// opening quote) in the text, `b`: its length.
    Str,
    /// A string with escapes, unescaped into `Document::unescaped`. `a`:
    /// offset there, `b`: length.
    Escaped,
    /// `a`: index of the first entry after the array's last descendant,
    /// `b`: number of items. The items follow.
    Array,
    /// Like `Array`, with `b` members; each member is a key entry (`Str`
    /// or `Escaped`) followed by the value's entries.
    Object,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    tag: Tag,
    a: u32,
    b: u32,
}

impl Entry {
    const NULL: Entry = Entry {
        tag: Tag::Null,
        a: 0,
        b: 0,
    };

    /// `Document::parse` rejects texts longer than `u32::MAX` bytes, and
    /// there are at most as many entries as bytes, so offsets, lengths and
    /// counts all fit.
    #[allow(clippy::cast_possible_truncation)]
    fn new(tag: Tag, a: usize, b: usize) -> Entry {
        Entry {
            tag,
            a: a as u32,
            b: b as u32,
        }
    }
}

/// A parsed JSON document: the source text plus a compact index of its
/// values. Read it through [`Document::root`] (a [`Node`]) or
/// [`Document::walk`]; both borrow from the document and never copy strings.
///
/// For code written against [`serde_json::Value`], [`Document::value`] (and
/// `Deref<Target = Value>`, so `&document` works where a `&Value` is
/// expected) builds the equivalent `Value` on first use and keeps it. That
/// costs as much as parsing with `serde_json` in the first place, so prefer
/// the [`Node`] API in hot paths.
///
/// Objects keep their members in document order. A key that appears twice
/// in one object is kept twice (the walk visits both values); [`Node::get`]
/// and the `Value` view take the last one, as JSON parsers usually do.
#[derive(Clone)]
pub struct Document {
    text: String,
    tape: Vec<Entry>,
    unescaped: String,
    value: OnceCell<Value>,
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Document").field(&self.text).finish()
    }
}

/// Two documents are equal when their texts are.
impl PartialEq for Document {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Default for Document {
    /// The empty document, whose root is `null`.
    fn default() -> Self {
        Document {
            text: String::new(),
            tape: vec![Entry::NULL],
            unescaped: String::new(),
            value: OnceCell::new(),
        }
    }
}

impl From<Value> for Document {
    /// The document whose text is `value` serialized (objects keep their
    /// member order), for tests and tools. A value nested deeper than
    /// [`Document::parse`] accepts becomes the `null` document (its
    /// [`Document::value`] is still `value`).
    fn from(value: Value) -> Self {
        let mut document = Document::parse(value.to_string()).unwrap_or_default();
        document.value = OnceCell::from(value);
        document
    }
}

impl core::ops::Deref for Document {
    type Target = Value;

    /// The document as a [`serde_json::Value`]; see [`Document::value`].
    fn deref(&self) -> &Value {
        self.value()
    }
}

impl Document {
    /// Parses JSON text (RFC 8259), accepting and rejecting exactly what
    /// `serde_json` does, with the same error messages and positions. Empty
    /// or all-whitespace text is the `null` document. Containers may nest
    /// 127 deep.
    pub fn parse(text: impl Into<String>) -> Result<Document, ParseError> {
        let text = text.into();
        if text
            .bytes()
            .all(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
        {
            return Ok(Document {
                text,
                ..Document::default()
            });
        }
        if u32::try_from(text.len()).is_err() {
            return Err(ParseError::at(&text, 0, "document larger than 4 GiB"));
        }
        let mut parser = Parser {
            text: &text,
            bytes: text.as_bytes(),
            pos: 0,
            // Typical documents have one entry per 8 to 16 bytes.
            tape: Vec::with_capacity(text.len() / 8 + 8),
            unescaped: String::new(),
            open: Vec::with_capacity(16),
        };
        if let Err(fail) = parser.run() {
            return Err(ParseError::at(&text, parser.pos, fail.message()));
        }
        let Parser {
            tape, unescaped, ..
        } = parser;
        Ok(Document {
            text,
            tape,
            unescaped,
            value: OnceCell::new(),
        })
    }

    /// The JSON text the document was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The top-level value.
    pub fn root(&self) -> Node<'_> {
        Node {
            doc: self,
            index: 0,
        }
    }

    /// The document as a [`serde_json::Value`], built on first use and kept
    /// (same member order; for a repeated key the last value wins).
    pub fn value(&self) -> &Value {
        self.value.get_or_init(|| self.root().to_value())
    }

    /// Visits every value depth-first in document order (a value before its
    /// children; object members in the order they appear, array items by
    /// index), starting with the root, whose path is empty.
    ///
    /// The visitor gets the value's [`Path`] (build its JSON pointer with
    /// [`Path::pointer`] only when you need it) and the value, and returns
    /// [`Walk::Skip`] to leave out the value's children (for a scalar,
    /// `Skip` and `Continue` are the same).
    ///
    /// The walk uses an explicit stack and does not allocate per value.
    ///
    /// ```
    /// use palisade_plugin_sdk::json::{Document, Walk};
    ///
    /// let doc = Document::parse(r#"{"a/b": [1, {"c": true}], "skip": {"d": 1}}"#).unwrap();
    /// let mut seen = Vec::new();
    /// doc.walk(&mut |path, _node| {
    ///     seen.push((path.pointer(), path.key().map(str::to_owned)));
    ///     if path.key() == Some("skip") { Walk::Skip } else { Walk::Continue }
    /// });
    /// assert_eq!(
    ///     seen,
    ///     [
    ///         ("".to_owned(), None),
    ///         ("/a~1b".to_owned(), Some("a/b".to_owned())),
    ///         ("/a~1b/0".to_owned(), None),
    ///         ("/a~1b/1".to_owned(), None),
    ///         ("/a~1b/1/c".to_owned(), Some("c".to_owned())),
    ///         ("/skip".to_owned(), Some("skip".to_owned())),
    ///     ]
    /// );
    /// ```
    pub fn walk<'d>(&'d self, visit: &mut impl FnMut(&Path<'d>, Node<'d>) -> Walk) {
        /// A container whose children are being visited.
        struct Open {
            end: usize,
            object: bool,
            next_index: usize,
        }

        let mut path = Path {
            segments: Vec::with_capacity(16),
        };
        let root = self.root();
        let entry = root.entry();
        if visit(&path, root) == Walk::Skip || !matches!(entry.tag, Tag::Array | Tag::Object) {
            return;
        }
        let mut open = Vec::with_capacity(16);
        open.push(Open {
            end: entry.a as usize,
            object: entry.tag == Tag::Object,
            next_index: 0,
        });
        let mut at = 1;
        while let Some(top) = open.last_mut() {
            if at >= top.end {
                open.pop();
                // Every open container but the root has a path segment.
                if !open.is_empty() {
                    path.segments.pop();
                }
                continue;
            }
            let (segment, index) = if top.object {
                let key = self.str_at(at).unwrap_or_default();
                (Segment::Key(key), at + 1)
            } else {
                top.next_index += 1;
                (Segment::Index(top.next_index - 1), at)
            };
            path.segments.push(segment);
            let node = Node { doc: self, index };
            let entry = node.entry();
            let walk = visit(&path, node);
            match entry.tag {
                Tag::Array | Tag::Object if walk == Walk::Continue => {
                    open.push(Open {
                        end: entry.a as usize,
                        object: entry.tag == Tag::Object,
                        next_index: 0,
                    });
                    at = index + 1;
                }
                Tag::Array | Tag::Object => {
                    path.segments.pop();
                    at = entry.a as usize;
                }
                _ => {
                    path.segments.pop();
                    at = index + 1;
                }
            }
        }
    }

    fn entry(&self, index: usize) -> Entry {
        self.tape.get(index).copied().unwrap_or(Entry::NULL)
    }

    /// The string at tape entry `index`, if it is one.
    fn str_at(&self, index: usize) -> Option<&str> {
        let entry = self.entry(index);
        let (start, len) = (entry.a as usize, entry.b as usize);
        match entry.tag {
            Tag::Str => self.text.get(start..start + len),
            Tag::Escaped => self.unescaped.get(start..start + len),
            _ => None,
        }
    }

    /// The index of the entry after the value at `index` and its descendants.
    fn skip(&self, index: usize) -> usize {
        let entry = self.entry(index);
        match entry.tag {
            Tag::Array | Tag::Object => entry.a as usize,
            _ => index + 1,
        }
    }
}

/// Whether [`Document::walk`] visits a value's children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// Visit the children (if any) next.
    Continue,
    /// Leave out the value's children and go on with its next sibling.
    Skip,
}

/// The JSON type of a [`Node`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `null`
    Null,
    /// `true` or `false`
    Bool,
    /// A number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

/// One value of a [`Document`]. Cheap to copy; everything it returns borrows
/// from the document.
#[derive(Clone, Copy)]
pub struct Node<'d> {
    doc: &'d Document,
    index: usize,
}

impl fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Node({})", self.to_value())
    }
}

impl<'d> Node<'d> {
    fn entry(self) -> Entry {
        self.doc.entry(self.index)
    }

    /// The value's JSON type.
    pub fn kind(self) -> Kind {
        match self.entry().tag {
            Tag::Null => Kind::Null,
            Tag::False | Tag::True => Kind::Bool,
            Tag::Number => Kind::Number,
            Tag::Str | Tag::Escaped => Kind::String,
            Tag::Array => Kind::Array,
            Tag::Object => Kind::Object,
        }
    }

    /// Whether the value is `null`.
    pub fn is_null(self) -> bool {
        self.kind() == Kind::Null
    }

    /// The string, if the value is one (unescaped).
    pub fn as_str(self) -> Option<&'d str> {
        self.doc.str_at(self.index)
    }

    /// The boolean, if the value is one.
    pub fn as_bool(self) -> Option<bool> {
        match self.entry().tag {
            Tag::True => Some(true),
            Tag::False => Some(false),
            _ => None,
        }
    }

    /// The number as written in the document (`"1e3"`, `"-0.5"`), if the
    /// value is one.
    pub fn as_number_text(self) -> Option<&'d str> {
        let entry = self.entry();
        let (start, len) = (entry.a as usize, entry.b as usize);
        match entry.tag {
            Tag::Number => self.doc.text.get(start..start + len),
            _ => None,
        }
    }

    /// The number, as `serde_json` reads it.
    pub fn as_number(self) -> Option<Number> {
        self.as_number_text()
            .and_then(|text| Number::from_str(text).ok())
    }

    /// The number as a `u64`, if it is a non-negative integer that fits.
    pub fn as_u64(self) -> Option<u64> {
        self.as_number().and_then(|n| n.as_u64())
    }

    /// The number as an `i64`, if it is an integer that fits.
    pub fn as_i64(self) -> Option<i64> {
        self.as_number().and_then(|n| n.as_i64())
    }

    /// The number as an `f64`.
    pub fn as_f64(self) -> Option<f64> {
        self.as_number().and_then(|n| n.as_f64())
    }

    /// The number of items of an array or members of an object; 0 for
    /// anything else.
    pub fn len(self) -> usize {
        let entry = self.entry();
        match entry.tag {
            Tag::Array | Tag::Object => entry.b as usize,
            _ => 0,
        }
    }

    /// Whether [`Node::len`] is 0.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// An object's members (key, value) in document order; nothing for
    /// anything else.
    pub fn members(self) -> Members<'d> {
        let entry = self.entry();
        let (at, end) = match entry.tag {
            Tag::Object => (self.index + 1, entry.a as usize),
            _ => (0, 0),
        };
        Members {
            doc: self.doc,
            at,
            end,
        }
    }

    /// An array's items in order; nothing for anything else.
    pub fn items(self) -> Items<'d> {
        let entry = self.entry();
        let (at, end) = match entry.tag {
            Tag::Array => (self.index + 1, entry.a as usize),
            _ => (0, 0),
        };
        Items {
            doc: self.doc,
            at,
            end,
        }
    }

    /// The value of member `key` of an object (the last one if the key is
    /// repeated).
    pub fn get(self, key: &str) -> Option<Node<'d>> {
        self.members()
            .filter(|(k, _)| *k == key)
            .last()
            .map(|(_, v)| v)
    }

    /// Item `index` of an array.
    pub fn item(self, index: usize) -> Option<Node<'d>> {
        self.items().nth(index)
    }

    /// The value as a [`serde_json::Value`] (for a repeated key the last
    /// value wins, in the position of the first).
    pub fn to_value(self) -> Value {
        match self.kind() {
            Kind::Null => Value::Null,
            Kind::Bool => Value::Bool(self.as_bool().unwrap_or_default()),
            Kind::Number => self.as_number().map_or(Value::Null, Value::Number),
            Kind::String => Value::String(self.as_str().unwrap_or_default().to_owned()),
            Kind::Array => Value::Array(self.items().map(Node::to_value).collect()),
            Kind::Object => {
                let mut map = Map::new();
                for (key, value) in self.members() {
                    map.insert(key.to_owned(), value.to_value());
                }
                Value::Object(map)
            }
        }
    }
}

/// The members of an object node: see [`Node::members`].
#[derive(Clone)]
pub struct Members<'d> {
    doc: &'d Document,
    at: usize,
    end: usize,
}

impl<'d> Iterator for Members<'d> {
    type Item = (&'d str, Node<'d>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.end {
            return None;
        }
        let key = self.doc.str_at(self.at).unwrap_or_default();
        let value = Node {
            doc: self.doc,
            index: self.at + 1,
        };
        self.at = self.doc.skip(self.at + 1);
        Some((key, value))
    }
}

/// The items of an array node: see [`Node::items`].
#[derive(Clone)]
pub struct Items<'d> {
    doc: &'d Document,
    at: usize,
    end: usize,
}

impl<'d> Iterator for Items<'d> {
    type Item = Node<'d>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.end {
            return None;
        }
        let item = Node {
            doc: self.doc,
            index: self.at,
        };
        self.at = self.doc.skip(self.at);
        Some(item)
    }
}

/// One step of a [`Path`]: an object member's key or an array index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'d> {
    /// A member of an object, by its (unescaped) key.
    Key(&'d str),
    /// An item of an array.
    Index(usize),
}

/// Where a value sits in its document: the keys and indices from the root
/// down to it. [`Document::walk`] hands one to its visitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path<'d> {
    segments: Vec<Segment<'d>>,
}

impl<'d> Path<'d> {
    /// The steps from the root (empty for the root itself).
    pub fn segments(&self) -> &[Segment<'d>] {
        &self.segments
    }

    /// How deep the value is (0 for the root).
    pub fn len(&self) -> usize {
        self.segments.len()
    }

    /// Whether this is the root's path.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// The value's key in its parent, if the parent is an object.
    pub fn key(&self) -> Option<&'d str> {
        match self.segments.last() {
            Some(Segment::Key(key)) => Some(key),
            _ => None,
        }
    }

    /// The value's JSON pointer (RFC 6901): `/Resources/My~1Fn/0`, `""` for
    /// the root.
    pub fn pointer(&self) -> String {
        let capacity = self
            .segments
            .iter()
            .map(|segment| match segment {
                Segment::Key(key) => key.len() + 1,
                Segment::Index(_) => 4,
            })
            .sum();
        let mut pointer = String::with_capacity(capacity);
        for segment in &self.segments {
            pointer.push('/');
            match segment {
                Segment::Key(key) => crate::json::push_escaped(&mut pointer, key),
                Segment::Index(index) => crate::json::push_index(&mut pointer, *index),
            }
        }
        pointer
    }
}

/// Why a text is not valid JSON, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    message: &'static str,
    line: usize,
    column: usize,
}

impl ParseError {
    /// The error after reading `consumed` bytes of `text` (the offending
    /// byte included), positioned the way `serde_json` does it: the line,
    /// and the bytes read on it.
    fn at(text: &str, consumed: usize, message: &'static str) -> ParseError {
        let before = text.as_bytes().get(..consumed).unwrap_or_default();
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let column = before.iter().rev().take_while(|&&b| b != b'\n').count();
        ParseError {
            message,
            line,
            column,
        }
    }

    /// The line of the error, from 1.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The column of the error: the bytes read on its line, the offending
    /// one included (0 when it is the line's newline).
    pub fn column(&self) -> usize {
        self.column
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.message, self.line, self.column
        )
    }
}

impl core::error::Error for ParseError {}

/// `0x01` in every byte of a word.
const ONES: u64 = 0x0101_0101_0101_0101;
/// The high bit of every byte of a word.
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The bytes of `word` (little-endian) that end the fast path of a string
/// (`"`, `\`, control characters), as their high bits. Only the lowest
/// flagged byte is exact (borrows can flag bytes above it), which is all
/// the callers use.
fn string_stops(word: u64) -> u64 {
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x;
    (zero_byte(quote) | zero_byte(backslash) | (word.wrapping_sub(ONES * 0x20) & !word)) & HIGHS
}

/// The bytes of `word` that are not spaces, as their high bits (exact).
fn non_spaces(word: u64) -> u64 {
    let x = word ^ (ONES * u64::from(b' '));
    (((x & !HIGHS) + !HIGHS) | x) & HIGHS
}

/// Whether `b` ends the fast path of a string: `"`, `\` or a control
/// character.
fn is_string_stop(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Why parsing failed (at `Parser::pos`); a small code, so the parser's
/// functions return in registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fail {
    TrailingCharacters,
    EofList,
    EofObject,
    EofValue,
    EofString,
    ExpectedListSeparator,
    ExpectedObjectSeparator,
    ExpectedValue,
    ExpectedColon,
    ExpectedIdent,
    KeyMustBeString,
    UnexpectedEndOfHexEscape,
    TrailingComma,
    RecursionLimit,
    InvalidNumber,
    NumberOutOfRange,
    ControlCharacter,
    InvalidEscape,
    LoneLeadingSurrogate,
}

impl Fail {
    fn message(self) -> &'static str {
        match self {
            Fail::TrailingCharacters => "trailing characters",
            Fail::EofList => "EOF while parsing a list",
            Fail::EofObject => "EOF while parsing an object",
            Fail::EofValue => "EOF while parsing a value",
            Fail::EofString => "EOF while parsing a string",
            Fail::ExpectedListSeparator => "expected `,` or `]`",
            Fail::ExpectedObjectSeparator => "expected `,` or `}`",
            Fail::ExpectedValue => "expected value",
            Fail::ExpectedColon => "expected `:`",
            Fail::ExpectedIdent => "expected ident",
            Fail::KeyMustBeString => "key must be a string",
            Fail::TrailingComma => "trailing comma",
            Fail::RecursionLimit => "recursion limit exceeded",
            Fail::InvalidNumber => "invalid number",
            Fail::NumberOutOfRange => "number out of range",
            Fail::ControlCharacter => {
                "control character (\\u0000-\\u001F) found while parsing a string"
            }
            Fail::InvalidEscape => "invalid escape",
            Fail::UnexpectedEndOfHexEscape => "unexpected end of hex escape",
            // `serde_json`'s words, for a lone surrogate of either kind.
            Fail::LoneLeadingSurrogate => "lone leading surrogate in hex escape",
        }
    }
}

/// A container being filled.
struct Open {
    /// Its tape index.
    index: usize,
    /// Its children so far.
    count: usize,
    object: bool,
}

struct Parser<'t> {
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
    tape: Vec<Entry>,
    unescaped: String,
    open: Vec<Open>,
}

/// The eight bytes of `bytes` at `at`, as a little-endian word.
#[inline(always)]
fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk = bytes.get(at..at + 8)?;
    <[u8; 8]>::try_from(chunk).ok().map(u64::from_le_bytes)
}

/// The position of the first non-whitespace byte at or after `pos`; the
/// common no-whitespace case stays inline.
#[inline(always)]
fn skip_whitespace(bytes: &[u8], pos: usize) -> usize {
    match bytes.get(pos) {
        Some(b' ' | b'\n' | b'\r' | b'\t') => skip_whitespace_run(bytes, pos + 1),
        _ => pos,
    }
}

fn skip_whitespace_run(bytes: &[u8], mut pos: usize) -> usize {
    loop {
        // Indentation: runs of spaces, eight at a time.
        while let Some(word) = word_at(bytes, pos) {
            let other = non_spaces(word);
            if other != 0 {
                pos += (other.trailing_zeros() / 8) as usize;
                break;
            }
            pos += 8;
        }
        match bytes.get(pos) {
            Some(b' ' | b'\n' | b'\r' | b'\t') => pos += 1,
            _ => return pos,
        }
    }
}

/// The position of the first `"`, `\` or control character at or after
/// `pos` (the end of `bytes` if there is none).
#[inline(always)]
fn string_stop(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(word) = word_at(bytes, pos) {
        let stops = string_stops(word);
        if stops != 0 {
            return pos + (stops.trailing_zeros() / 8) as usize;
        }
        pos += 8;
    }
    while let Some(&b) = bytes.get(pos) {
        if is_string_stop(b) {
            return pos;
        }
        pos += 1;
    }
    pos
}

/// The position of the first byte at or after `pos` that is not an ASCII
/// digit.
#[inline(always)]
fn digits_end(bytes: &[u8], mut pos: usize) -> usize {
    while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
        pos += 1;
    }
    pos
}

/// Checks the number at `pos`: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE]
/// [+-]? [0-9]+)?`. Returns its end and whether it is unusual (an exponent
/// or hundreds of digits: only those can overflow an f64), or the position
/// of the error.
#[inline(always)]
fn number_end(bytes: &[u8], start: usize) -> Result<(usize, bool), usize> {
    let mut pos = start;
    if bytes.get(pos) == Some(&b'-') {
        pos += 1;
    }
    match bytes.get(pos) {
        Some(b'0') => {
            pos += 1;
            if bytes.get(pos).is_some_and(u8::is_ascii_digit) {
                return Err(pos);
            }
        }
        Some(b'1'..=b'9') => pos = digits_end(bytes, pos + 1),
        _ => return Err(pos),
    }
    let mut unusual = pos - start > 300;
    if bytes.get(pos) == Some(&b'.') {
        let end = digits_end(bytes, pos + 1);
        if end == pos + 1 {
            return Err(end);
        }
        pos = end;
    }
    if let Some(b'e' | b'E') = bytes.get(pos) {
        unusual = true;
        pos += 1;
        if let Some(b'+' | b'-') = bytes.get(pos) {
            pos += 1;
        }
        let end = digits_end(bytes, pos);
        if end == pos {
            return Err(end);
        }
        pos = end;
    }
    Ok((pos, unusual))
}

impl Parser<'_> {
    /// Fails at byte `at` (the end of the text for an unexpected end);
    /// `self.pos` becomes the number of bytes read, for [`ParseError::at`].
    fn fail<T>(&mut self, fail: Fail, at: usize) -> Result<T, Fail> {
        self.pos = (at + 1).min(self.bytes.len());
        Err(fail)
    }

    /// Parses the whole text into the tape. The position lives in a local;
    /// `self.pos` is only written for errors and escaped strings.
    fn run(&mut self) -> Result<(), Fail> {
        let bytes = self.bytes;
        let mut pos = 0;
        'value: loop {
            // A value.
            pos = skip_whitespace(bytes, pos);
            match bytes.get(pos) {
                Some(b'"') => pos = self.string(pos + 1)?,
                Some(&open @ (b'{' | b'[')) => {
                    let object = open == b'{';
                    if self.open.len() >= MAX_DEPTH {
                        return self.fail(Fail::RecursionLimit, pos);
                    }
                    let index = self.tape.len();
                    let tag = if object { Tag::Object } else { Tag::Array };
                    self.tape.push(Entry::new(tag, 0, 0));
                    pos = skip_whitespace(bytes, pos + 1);
                    let close = if object { b'}' } else { b']' };
                    if !object && pos == bytes.len() {
                        return self.fail(Fail::EofList, pos);
                    }
                    if bytes.get(pos) == Some(&close) {
                        pos += 1;
                        self.close(index, 0);
                    } else {
                        // Counting the first child, which comes next.
                        self.open.push(Open {
                            index,
                            count: 1,
                            object,
                        });
                        if object {
                            pos = self.key(pos, true)?;
                        }
                        continue 'value;
                    }
                }
                Some(b'-' | b'0'..=b'9') => {
                    let (end, unusual) = match number_end(bytes, pos) {
                        Ok(end) => end,
                        Err(at) if at == bytes.len() => return self.fail(Fail::EofValue, at),
                        Err(at) => return self.fail(Fail::InvalidNumber, at),
                    };
                    // `serde_json` rejects numbers that overflow an f64.
                    if unusual
                        && self
                            .text
                            .get(pos..end)
                            .is_none_or(|text| Number::from_str(text).is_err())
                    {
                        return self.fail(Fail::NumberOutOfRange, end - 1);
                    }
                    self.tape.push(Entry::new(Tag::Number, pos, end - pos));
                    pos = end;
                }
                Some(b't') => pos = self.literal(pos, b"true", Tag::True)?,
                Some(b'f') => pos = self.literal(pos, b"false", Tag::False)?,
                Some(b'n') => pos = self.literal(pos, b"null", Tag::Null)?,
                Some(_) => return self.fail(Fail::ExpectedValue, pos),
                None => return self.fail(Fail::EofValue, pos),
            }
            // After a value: a `,` or the ends of containers.
            loop {
                pos = skip_whitespace(bytes, pos);
                let Some(top) = self.open.last_mut() else {
                    if pos < bytes.len() {
                        return self.fail(Fail::TrailingCharacters, pos);
                    }
                    self.pos = pos;
                    return Ok(());
                };
                let object = top.object;
                match (bytes.get(pos), object) {
                    (Some(b','), _) => {
                        top.count += 1;
                        pos = skip_whitespace(bytes, pos + 1);
                        if object {
                            pos = self.key(pos, false)?;
                        } else if bytes.get(pos) == Some(&b']') {
                            return self.fail(Fail::TrailingComma, pos);
                        }
                        continue 'value;
                    }
                    (Some(b']'), false) | (Some(b'}'), true) => {
                        let (index, count) = (top.index, top.count);
                        self.open.pop();
                        self.close(index, count);
                        pos += 1;
                    }
                    (None, false) => return self.fail(Fail::EofList, pos),
                    (None, true) => return self.fail(Fail::EofObject, pos),
                    (Some(_), false) => return self.fail(Fail::ExpectedListSeparator, pos),
                    (Some(_), true) => return self.fail(Fail::ExpectedObjectSeparator, pos),
                }
            }
        }
    }

    /// Parses `"key"` at `pos` and the `:` after it; returns the position
    /// after the `:`. `first`: the object's first key (else one after a `,`).
    fn key(&mut self, pos: usize, first: bool) -> Result<usize, Fail> {
        let bytes = self.bytes;
        match bytes.get(pos) {
            Some(b'"') => {}
            Some(b'}') => return self.fail(Fail::TrailingComma, pos),
            Some(_) => return self.fail(Fail::KeyMustBeString, pos),
            None if first => return self.fail(Fail::EofObject, pos),
            None => return self.fail(Fail::EofValue, pos),
        }
        let pos = skip_whitespace(bytes, self.string(pos + 1)?);
        match bytes.get(pos) {
            Some(b':') => Ok(pos + 1),
            Some(_) => self.fail(Fail::ExpectedColon, pos),
            None => self.fail(Fail::EofObject, pos),
        }
    }

    /// Finishes the container at tape index `index` with `count` children.
    fn close(&mut self, index: usize, count: usize) {
        let end = self.tape.len();
        if let Some(entry) = self.tape.get_mut(index) {
            *entry = Entry::new(entry.tag, end, count);
        }
    }

    fn literal(&mut self, pos: usize, word: &[u8], tag: Tag) -> Result<usize, Fail> {
        let end = pos + word.len();
        if self.bytes.get(pos..end) == Some(word) {
            self.tape.push(Entry::new(tag, 0, 0));
            return Ok(end);
        }
        for (at, expected) in (pos..).zip(word) {
            match self.bytes.get(at) {
                Some(b) if b == expected => {}
                Some(_) => return self.fail(Fail::ExpectedIdent, at),
                None => return self.fail(Fail::EofValue, at),
            }
        }
        self.fail(Fail::ExpectedIdent, pos)
    }

    /// Parses a string starting at `start` (after its opening quote) onto
    /// the tape; returns the position after its closing quote.
    #[inline(always)]
    fn string(&mut self, start: usize) -> Result<usize, Fail> {
        let end = string_stop(self.bytes, start);
        match self.bytes.get(end) {
            Some(b'"') => {
                self.tape.push(Entry::new(Tag::Str, start, end - start));
                Ok(end + 1)
            }
            Some(b'\\') => {
                self.pos = end;
                self.escaped_string(start)?;
                Ok(self.pos)
            }
            Some(_) => self.fail(Fail::ControlCharacter, end),
            None => self.fail(Fail::EofString, end),
        }
    }

    /// The slow path of [`Parser::string`]: the string has escapes and is
    /// unescaped into `self.unescaped`. `self.pos` is at the first `\`.
    fn escaped_string(&mut self, start: usize) -> Result<(), Fail> {
        let offset = self.unescaped.len();
        let mut chunk = start;
        loop {
            let at = self.pos;
            let Some(b) = self.bytes.get(at).copied() else {
                return self.fail(Fail::EofString, at);
            };
            if !is_string_stop(b) {
                self.pos += 1;
                continue;
            }
            // Everything up to here is plain; splitting before an ASCII
            // byte keeps UTF-8 intact.
            self.unescaped
                .push_str(self.text.get(chunk..at).unwrap_or_default());
            match b {
                b'"' => {
                    self.pos = at + 1;
                    let len = self.unescaped.len() - offset;
                    self.tape.push(Entry::new(Tag::Escaped, offset, len));
                    return Ok(());
                }
                b'\\' => {
                    self.pos = at + 1;
                    self.escape()?;
                    chunk = self.pos;
                }
                _ => return self.fail(Fail::ControlCharacter, at),
            }
        }
    }

    /// Decodes one escape (after its `\`) into `self.unescaped`.
    fn escape(&mut self) -> Result<(), Fail> {
        let at = self.pos;
        let Some(b) = self.bytes.get(at).copied() else {
            return self.fail(Fail::EofString, at);
        };
        self.pos = at + 1;
        let c = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                let code = match first {
                    0xD800..=0xDBFF => {
                        // A trailing surrogate must follow, as `\uXXXX`.
                        for expected in [b'\\', b'u'] {
                            let at = self.pos;
                            match self.bytes.get(at) {
                                Some(&b) if b == expected => self.pos += 1,
                                Some(_) => return self.fail(Fail::UnexpectedEndOfHexEscape, at),
                                None => return self.fail(Fail::EofString, at),
                            }
                        }
                        let second = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&second) {
                            return self.fail(Fail::LoneLeadingSurrogate, self.pos - 1);
                        }
                        0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return self.fail(Fail::LoneLeadingSurrogate, self.pos - 1),
                    code => code,
                };
                // Surrogates are excluded above, so every code is a char.
                match char::from_u32(code) {
                    Some(c) => c,
                    None => return self.fail(Fail::InvalidEscape, self.pos - 1),
                }
            }
            _ => return self.fail(Fail::InvalidEscape, at),
        };
        self.unescaped.push(c);
        Ok(())
    }

    /// Reads the four hex digits of a `\u` escape.
    fn hex4(&mut self) -> Result<u32, Fail> {
        let start = self.pos;
        let Some(digits) = self.bytes.get(start..start + 4) else {
            return self.fail(Fail::EofString, self.bytes.len());
        };
        let mut code = 0;
        for &b in digits {
            match char::from(b).to_digit(16) {
                Some(digit) => code = code * 16 + digit,
                None => return self.fail(Fail::InvalidEscape, start + 3),
            }
        }
        self.pos = start + 4;
        Ok(code)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roundtrip(text: &str) {
        let ours = Document::parse(text).unwrap();
        let theirs: Value = serde_json::from_str(text).unwrap();
        assert_eq!(ours.root().to_value(), theirs, "{text}");
        assert_eq!(*ours.value(), theirs, "{text}");
    }

    #[test]
    fn parses_like_serde_json() {
        for text in [
            "null",
            " true ",
            "false",
            "0",
            "-0",
            "12.5e-3",
            "1E+2",
            "18446744073709551615",
            "-9223372036854775808",
            "123456789012345678901234567890",
            r#""""#,
            r#""plain""#,
            r#""esc\"aped\\ \/ \b\f\n\r\t \u00e9 \ud834\udd1e é€𝄞""#,
            "[]",
            "{}",
            "[1, [2, [3, []]], {}]",
            r#"{"z": 1, "a": {"y": [true, null], "b": "s"}, "m": [], "k\u0041": {}}"#,
            "\n{\r\n\t\"a\" : [ 1 , 2 ] }\n",
        ] {
            roundtrip(text);
        }
    }

    #[test]
    fn rejects_what_serde_json_rejects() {
        for text in [
            "{",
            "[",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{1: 2}",
            "[1 2]",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "+1",
            "tru",
            "nul",
            "\"abc",
            "\"a\\x\"",
            "\"\\u12\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"tab\there\"",
            "1 2",
            "{} x",
            "1e400",
            "NaN",
            "[}",
            "{]",
        ] {
            assert!(
                serde_json::from_str::<Value>(text).is_err(),
                "serde: {text}"
            );
            assert!(Document::parse(text).is_err(), "ours: {text}");
        }
    }

    #[test]
    fn word_at_a_time_scans_match_byte_scans() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let interesting = [
            b' ', b'"', b'\\', 0, 0x1f, 0x20, 0x21, 0x7f, 0x80, 0xa0, 0xff, b'a',
        ];
        for _ in 0..200_000 {
            let random = next();
            let picks = next();
            let mut bytes = random.to_le_bytes();
            for (i, byte) in bytes.iter_mut().enumerate() {
                if (picks >> (i * 8)) & 1 == 1 {
                    *byte = interesting[((picks >> (i * 8 + 1)) % 12) as usize];
                }
            }
            let word = u64::from_le_bytes(bytes);
            let first_stop = bytes.iter().position(|&b| is_string_stop(b));
            let stops = string_stops(word);
            assert_eq!(
                (stops != 0).then(|| (stops.trailing_zeros() / 8) as usize),
                first_stop,
                "{bytes:?}"
            );
            let first_other = bytes.iter().position(|&b| b != b' ');
            let others = non_spaces(word);
            assert_eq!(
                (others != 0).then(|| (others.trailing_zeros() / 8) as usize),
                first_other,
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn long_strings_and_indentation() {
        for text in [
            "\"0123456789abcdef0123456789abcdef\"",
            "\"0123456\"",
            "\"01234567\"",
            "\"012345678\"",
            "{\n                \"a\": \"x y z                    \",\n\t\t  \"b\":   [   ]\n}",
            "\"é€𝄞é€𝄞é€𝄞é€𝄞 \\n after escape, long enough to need words\"",
            "                                   1                  ",
        ] {
            roundtrip(text);
        }
        assert!(Document::parse("\"0123456789abcdef\u{1}0123\"").is_err());
        assert!(Document::parse("\"0123456789abcdef").is_err());
    }

    #[test]
    fn errors_read_like_serde_json() {
        let mut differ = Vec::new();
        for text in [
            "{not json",
            "[1,2",
            "{\"a\":1,}",
            "\"abc",
            "{\"a\" 1}",
            "[1e400]",
            "tru",
            "trux",
            "{\"a\":\"\\x\"}",
            "{}  x",
            "\n\n  {\"a\": [1, 2,, 3]}",
            "{\"a\":\"tab\there\"}",
            "{\n  \"a\": tru\n}",
            "[1,\n",
            "{\"a\"",
            "{\"a\":",
            "[",
            "{",
            "[1 2]",
            "-",
            "01",
            "1.",
            "1e",
            "\"\\u12G4\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "nul",
            "[}",
            "{]",
            "{\"a\":1 \"b\":2}",
            "[\"a\" \"b\"]",
            "[-]",
            "[--1]",
            "{1:2}",
            "\"\u{1}\"",
            "[1,]",
            "[\"a\",]",
            "{\"a\":1,\"b\"}",
            "{\"a\":}",
            "[1}",
            "{\"a\":1]",
            "[\"\\u00\"]",
            "\"\\ud800\\",
            "\"\\ud800\\u",
            "123abc",
            "1.5e+",
            "-01",
            "[true false]",
            "{\"\\u0000\":1,}",
            "[1.x]",
            "-x",
            "\n\n\n[\n1,\n",
            "{\"a\":[{\"b\":tr",
        ] {
            let ours = Document::parse(text).unwrap_err().to_string();
            let theirs = serde_json::from_str::<Value>(text).unwrap_err().to_string();
            if ours != theirs {
                differ.push(format!("{text:?}: ours {ours:?}, serde_json {theirs:?}"));
            }
        }
        assert!(differ.is_empty(), "{}", differ.join("\n"));
    }

    #[test]
    fn mutated_documents_parse_like_serde_json() {
        let samples = [
            r#"{"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"Fn": {"Type": "AWS::Lambda::Function",
              "Properties": {"Env": {"Variables": {"DB_PASSWORD": "hunter2", "N": -12.5e3, "T": true}},
              "Tags": [{"Key": "a\"b", "Value": "\u00e9\ud834\udd1e"}, null, false, []]}}}}"#,
            "[1, 0.5, -0, 1e-3, \"x\\ny\", {\"\": {}}, [[], [null]]]",
        ];
        let replacements = *b" \t\n\"\\/,:[]{}0-.eEtfnux\x01a";
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut cases = Vec::new();
        for sample in samples {
            let bytes = sample.as_bytes();
            for cut in 0..bytes.len() {
                cases.push(bytes[..cut].to_vec());
            }
            for _ in 0..3000 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let mut mutated = bytes.to_vec();
                let at = (state % bytes.len() as u64) as usize;
                mutated[at] = replacements[((state >> 32) % replacements.len() as u64) as usize];
                if state & (1 << 20) != 0 {
                    mutated.remove(((state >> 40) % mutated.len() as u64) as usize);
                }
                cases.push(mutated);
            }
        }
        for case in cases {
            let Ok(text) = String::from_utf8(case) else {
                continue;
            };
            if text.trim().is_empty() {
                continue;
            }
            let ours = Document::parse(text.as_str());
            let theirs = serde_json::from_str::<Value>(&text);
            match (ours, theirs) {
                (Ok(ours), Ok(theirs)) => assert_eq!(ours.root().to_value(), theirs, "{text}"),
                (Err(ours), Err(theirs)) => {
                    assert_eq!(ours.to_string(), theirs.to_string(), "{text}");
                }
                (ours, theirs) => panic!("{text}: ours {ours:?}, serde_json {theirs:?}"),
            }
        }
    }

    #[test]
    fn errors_say_where() {
        let err = Document::parse("{\n  \"a\": trUe\n}").unwrap_err();
        assert_eq!((err.line(), err.column()), (2, 10));
        assert_eq!(err.to_string(), "expected ident at line 2 column 10");
    }

    #[test]
    fn depth_limit_matches_serde_json() {
        let ok = format!("{}{}", "[".repeat(127), "]".repeat(127));
        let deep = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert!(serde_json::from_str::<Value>(&ok).is_ok());
        assert!(Document::parse(&ok).is_ok());
        assert!(serde_json::from_str::<Value>(&deep).is_err());
        assert_eq!(
            Document::parse(&deep).unwrap_err().to_string(),
            "recursion limit exceeded at line 1 column 128"
        );
    }

    #[test]
    fn empty_text_is_null() {
        for text in ["", "  \n\t"] {
            let doc = Document::parse(text).unwrap();
            assert_eq!(doc.root().kind(), Kind::Null);
            assert_eq!(*doc, Value::Null);
        }
    }

    #[test]
    fn nodes() {
        let doc = Document::parse(
            r#"{"s": "x\ny", "n": -1.5, "u": 7, "b": false, "a": [1, {"k": null}], "s": "last"}"#,
        )
        .unwrap();
        let root = doc.root();
        assert_eq!(root.kind(), Kind::Object);
        assert_eq!(root.len(), 6);
        assert_eq!(root.get("s").and_then(Node::as_str), Some("last"));
        assert_eq!(
            root.members().next().and_then(|(_, v)| v.as_str()),
            Some("x\ny")
        );
        assert_eq!(root.get("n").and_then(Node::as_f64), Some(-1.5));
        assert_eq!(root.get("n").and_then(Node::as_number_text), Some("-1.5"));
        assert_eq!(root.get("u").and_then(Node::as_u64), Some(7));
        assert_eq!(root.get("u").and_then(Node::as_i64), Some(7));
        assert_eq!(root.get("b").and_then(Node::as_bool), Some(false));
        let a = root.get("a").unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(
            a.item(1).and_then(|o| o.get("k")).map(Node::kind),
            Some(Kind::Null)
        );
        assert_eq!(a.item(2).map(Node::kind), None);
        assert!(root.get("missing").is_none());
        assert_eq!(root.get("s").map(Node::len), Some(0));
        assert_eq!(a.members().count(), 0);
        assert_eq!(root.items().count(), 0);
        assert_eq!(doc.value()["s"], json!("last"));
    }

    #[test]
    fn walks_in_document_order_with_paths() {
        let doc = Document::parse(
            r#"{"z": 1, "a": {"y": [true, null], "b": "s"}, "m": [], "e~/": {"": [{}]}}"#,
        )
        .unwrap();
        let mut seen = Vec::new();
        doc.walk(&mut |path, node| {
            seen.push((path.pointer(), path.len(), path.key(), node.kind()));
            Walk::Continue
        });
        let expected = [
            ("", 0, None, Kind::Object),
            ("/z", 1, Some("z"), Kind::Number),
            ("/a", 1, Some("a"), Kind::Object),
            ("/a/y", 2, Some("y"), Kind::Array),
            ("/a/y/0", 3, None, Kind::Bool),
            ("/a/y/1", 3, None, Kind::Null),
            ("/a/b", 2, Some("b"), Kind::String),
            ("/m", 1, Some("m"), Kind::Array),
            ("/e~0~1", 1, Some("e~/"), Kind::Object),
            ("/e~0~1/", 2, Some(""), Kind::Array),
            ("/e~0~1//0", 3, None, Kind::Object),
        ];
        assert_eq!(seen.len(), expected.len());
        for (got, want) in seen.iter().zip(expected) {
            assert_eq!((got.0.as_str(), got.1, got.2, got.3), want);
        }
    }

    #[test]
    fn walk_skips_children() {
        let doc = Document::parse(r#"{"a": {"b": [1, 2]}, "c": [3], "d": 4}"#).unwrap();
        let mut seen = Vec::new();
        doc.walk(&mut |path, _| {
            seen.push(path.pointer());
            if path.key() == Some("a") || path.key() == Some("c") {
                Walk::Skip
            } else {
                Walk::Continue
            }
        });
        assert_eq!(seen, ["", "/a", "/c", "/d"]);
        let mut count = 0;
        doc.walk(&mut |_, _| {
            count += 1;
            Walk::Skip
        });
        assert_eq!(count, 1);
    }

    #[test]
    fn scalar_roots_and_values() {
        let doc = Document::from(json!({"b": [1, "x"], "a": null}));
        assert_eq!(doc.text(), r#"{"b":[1,"x"],"a":null}"#);
        assert_eq!(doc.root().get("b").map(Node::len), Some(2));
        let mut count = 0;
        Document::parse("\"x\"").unwrap().walk(&mut |path, node| {
            assert!(path.is_empty());
            assert_eq!(node.as_str(), Some("x"));
            count += 1;
            Walk::Continue
        });
        assert_eq!(count, 1);
    }
}
