//! JSON documents: the fast [`Document`] a plugin receives, helpers for
//! walking JSON values and building JSON pointers.
//!
//! Findings point at the offending value with a JSON pointer (RFC 6901); the
//! host maps the pointer back to a file and line. [`Document::walk`] hands
//! every value its [`Path`] (and [`walk`] every `serde_json::Value` its
//! pointer), so a plugin rarely builds one by hand.

use serde_json::Value;

pub use crate::document::{Document, Items, Kind, Members, Node, ParseError, Path, Segment, Walk};

/// Visits every value of `document` depth-first in document order (a value
/// before its children; object members in the order they appear in the
/// source, array items by index), starting with the document itself.
///
/// For each value the visitor gets:
/// 1. its JSON pointer (RFC 6901, with `~` and `/` in keys escaped as `~0`
///    and `~1`; the root is `""`),
/// 2. its key in the parent object, if the parent is an object (`None` for
///    the root and for array items),
/// 3. the value.
///
/// The walk uses an explicit stack, so arbitrarily deep documents cannot
/// overflow the call stack.
///
/// ```
/// use palisade_plugin_sdk::{walk, serde_json::json};
///
/// let doc = json!({"a/b": [1, {"c": true}]});
/// let mut seen = Vec::new();
/// walk(&doc, &mut |pointer, key, _value| seen.push((pointer.to_owned(), key.map(str::to_owned))));
/// assert_eq!(
///     seen,
///     [
///         ("".to_owned(), None),
///         ("/a~1b".to_owned(), Some("a/b".to_owned())),
///         ("/a~1b/0".to_owned(), None),
///         ("/a~1b/1".to_owned(), None),
///         ("/a~1b/1/c".to_owned(), Some("c".to_owned())),
///     ]
/// );
/// ```
pub fn walk(document: &Value, visit: &mut impl FnMut(&str, Option<&str>, &Value)) {
    /// The children still to visit of one container, and the length of the
    /// container's own pointer.
    enum Frame<'a> {
        Object(serde_json::map::Iter<'a>, usize),
        Array(core::iter::Enumerate<core::slice::Iter<'a, Value>>, usize),
    }

    fn frame_of(value: &Value, base: usize) -> Option<Frame<'_>> {
        match value {
            Value::Object(map) => Some(Frame::Object(map.iter(), base)),
            Value::Array(items) => Some(Frame::Array(items.iter().enumerate(), base)),
            _ => None,
        }
    }

    let mut pointer = String::new();
    visit(&pointer, None, document);
    let mut stack: Vec<Frame<'_>> = frame_of(document, 0).into_iter().collect();

    while let Some(frame) = stack.last_mut() {
        let (key, child) = match frame {
            Frame::Object(members, base) => match members.next() {
                Some((key, child)) => {
                    pointer.truncate(*base);
                    pointer.push('/');
                    push_escaped(&mut pointer, key);
                    (Some(key.as_str()), child)
                }
                None => {
                    stack.pop();
                    continue;
                }
            },
            Frame::Array(items, base) => match items.next() {
                Some((index, child)) => {
                    pointer.truncate(*base);
                    pointer.push('/');
                    push_index(&mut pointer, index);
                    (None, child)
                }
                None => {
                    stack.pop();
                    continue;
                }
            },
        };
        visit(&pointer, key, child);
        if let Some(frame) = frame_of(child, pointer.len()) {
            stack.push(frame);
        }
    }
}

/// Escapes one reference token for a JSON pointer: `~` becomes `~0` and `/`
/// becomes `~1`.
///
/// ```
/// assert_eq!(palisade_plugin_sdk::json::escape_token("a/b~c"), "a~1b~0c");
/// ```
pub fn escape_token(token: &str) -> String {
    let mut escaped = String::with_capacity(token.len());
    push_escaped(&mut escaped, token);
    escaped
}

/// Undoes [`escape_token`]: `~1` becomes `/` and `~0` becomes `~`.
///
/// ```
/// assert_eq!(palisade_plugin_sdk::json::unescape_token("a~1b~0c"), "a/b~c");
/// ```
pub fn unescape_token(token: &str) -> String {
    if token.contains('~') {
        token.replace("~1", "/").replace("~0", "~")
    } else {
        token.to_owned()
    }
}

/// Splits a JSON pointer into its unescaped reference tokens (`""` has none).
///
/// ```
/// let tokens = palisade_plugin_sdk::json::tokens("/Resources/My~1Fn/0");
/// assert_eq!(tokens, ["Resources", "My/Fn", "0"]);
/// ```
pub fn tokens(pointer: &str) -> Vec<String> {
    match pointer.strip_prefix('/') {
        Some(rest) => rest.split('/').map(unescape_token).collect(),
        None => Vec::new(),
    }
}

/// The CloudFormation logical id a pointer falls under: `Some("MyBucket")`
/// for `/Resources/MyBucket/...` (anything below the resource itself),
/// `None` otherwise.
///
/// ```
/// use palisade_plugin_sdk::json::cloudformation_resource;
///
/// assert_eq!(cloudformation_resource("/Resources/Db/Properties/Password").as_deref(), Some("Db"));
/// assert_eq!(cloudformation_resource("/Parameters/DbPassword/Default"), None);
/// assert_eq!(cloudformation_resource("/Resources/Db"), None);
/// ```
pub fn cloudformation_resource(pointer: &str) -> Option<String> {
    let rest = pointer.strip_prefix("/Resources/")?;
    let (id, _below) = rest.split_once('/')?;
    if id.is_empty() {
        return None;
    }
    Some(unescape_token(id))
}

/// Appends `index` in decimal, without allocating.
pub(crate) fn push_index(out: &mut String, mut index: usize) {
    let mut digits = [0_u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        if let Some(slot) = digits.get_mut(start) {
            // `index % 10` is a single digit, so the cast cannot truncate.
            #[allow(clippy::cast_possible_truncation)]
            let digit = (index % 10) as u8;
            *slot = b'0' + digit;
        }
        index /= 10;
        if index == 0 || start == 0 {
            break;
        }
    }
    for &d in digits.get(start..).unwrap_or_default() {
        out.push(char::from(d));
    }
}

/// Appends `token` escaped for a JSON pointer.
pub(crate) fn push_escaped(out: &mut String, token: &str) {
    if !token.bytes().any(|b| b == b'~' || b == b'/') {
        out.push_str(token);
        return;
    }
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn collect(doc: &Value) -> Vec<(String, Option<String>, Value)> {
        let mut seen = Vec::new();
        walk(doc, &mut |p, k, v| {
            seen.push((p.to_owned(), k.map(str::to_owned), v.clone()));
        });
        seen
    }

    #[test]
    fn walks_in_document_order() {
        let doc: Value =
            serde_json::from_str(r#"{"z": 1, "a": {"y": [true, null], "b": "s"}, "m": []}"#)
                .unwrap_or(Value::Null);
        let pointers: Vec<String> = collect(&doc).into_iter().map(|(p, _, _)| p).collect();
        assert_eq!(
            pointers,
            ["", "/z", "/a", "/a/y", "/a/y/0", "/a/y/1", "/a/b", "/m"]
        );
    }

    #[test]
    fn escapes_keys_and_reports_parent_keys() {
        let doc = json!({"a~b": {"c/d": 1}, "": 2});
        let seen = collect(&doc);
        assert_eq!(seen[1].0, "/a~0b");
        assert_eq!(seen[1].1.as_deref(), Some("a~b"));
        assert_eq!(seen[2].0, "/a~0b/c~1d");
        assert_eq!(seen[2].1.as_deref(), Some("c/d"));
        assert_eq!(seen[3].0, "/");
        assert_eq!(seen[3].1.as_deref(), Some(""));
    }

    #[test]
    fn array_indices_are_decimal() {
        let doc = Value::Array(vec![Value::Null; 12]);
        let pointers: Vec<String> = collect(&doc).into_iter().map(|(p, _, _)| p).collect();
        assert_eq!(pointers[1], "/0");
        assert_eq!(pointers[10], "/9");
        assert_eq!(pointers[12], "/11");
        for n in [0, 7, 10, 99, 100, 4_294_967_296, usize::MAX] {
            let mut s = String::from("/");
            push_index(&mut s, n);
            assert_eq!(s, format!("/{n}"));
        }
    }

    #[test]
    fn scalars_visit_once() {
        assert_eq!(collect(&json!("x")).len(), 1);
    }

    #[test]
    fn survives_deep_documents() {
        let mut doc = json!(0);
        for _ in 0..100_000 {
            doc = Value::Array(vec![doc]);
        }
        let mut count = 0_usize;
        walk(&doc, &mut |_, _, _| count += 1);
        assert_eq!(count, 100_001);
        // Dropping a 100k-deep Value recurses; leak it to keep the test
        // about `walk` only.
        core::mem::forget(doc);
    }

    #[test]
    fn cloudformation_resources() {
        assert_eq!(
            cloudformation_resource("/Resources/A~1B/Properties").as_deref(),
            Some("A/B")
        );
        assert_eq!(cloudformation_resource("/Resources//x"), None);
        assert_eq!(cloudformation_resource("/Outputs/A/Value"), None);
    }

    #[test]
    fn tokens_roundtrip() {
        assert_eq!(tokens(""), Vec::<String>::new());
        assert_eq!(tokens("/"), [""]);
        assert_eq!(tokens("/a~01"), ["a~1"]);
        assert_eq!(escape_token("~1"), "~01");
        assert_eq!(unescape_token("~01"), "~1");
    }
}
