//! `# palisade:skip=RULE reason` comments: where a deployment file says
//! that a finding is accepted. The suppression rules that use them are in
//! `crate::suppress`.

const MARKER: &str = "palisade:skip=";

/// A `# palisade:skip=RULE reason` comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Marker {
    pub line: u32,
    /// 0-based column, in characters, of the comment's `#`.
    pub column: usize,
    pub rule: String,
    pub reason: String,
}

/// Whether a reason, owner or rule says anything a reviewer can read: at
/// least one letter or digit, not only spaces, invisible or control
/// characters.
pub(crate) fn says_something(text: &str) -> bool {
    text.chars().any(char::is_alphanumeric)
}

/// The skip markers that look like comments in a YAML text, in order.
///
/// A `#` inside a string or block scalar looks the same line by line; the
/// loader, which knows where scalars are, drops those
/// ([`Document::parse`](super::Document::parse)).
pub(crate) fn markers(text: &str) -> Vec<Marker> {
    if !text.contains(MARKER) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some(at) = line.find(MARKER) else {
            continue;
        };
        let Some(hash) = line.get(..at).and_then(|before| before.rfind('#')) else {
            continue;
        };
        // Only whitespace between `#` and the marker.
        if !line.get(hash + 1..at).is_some_and(|s| s.trim().is_empty()) {
            continue;
        }
        let rest = line.get(at + MARKER.len()..).unwrap_or_default();
        let end = rest
            .find(|c: char| c.is_whitespace() || c == ':' || c == ',')
            .unwrap_or(rest.len());
        let rule = rest.get(..end).unwrap_or_default().to_owned();
        let reason = rest
            .get(end..)
            .unwrap_or_default()
            .trim_start_matches([':', ',', ' ', '\t', '-'])
            .trim()
            .to_owned();
        // A reason of invisible characters (U+200B, a lone escape) is no
        // reason: the marker then suppresses nothing and is reported.
        let reason = if says_something(&reason) {
            reason
        } else {
            String::new()
        };
        out.push(Marker {
            line: u32::try_from(i + 1).unwrap_or(u32::MAX),
            column: line.get(..hash).map_or(0, |b| b.chars().count()),
            rule,
            reason,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_comments_with_a_rule_and_a_reason() {
        let m = markers(
            "a: 1 # palisade:skip=iam.shared-role shared by design\n# palisade:skip=x.y: because\nb: \"palisade:skip=not.a.comment\"\n#palisade:skip=no.reason\n# palisade:skip=zero.width \u{200b}\n# palisade:skip=escape \u{1b}\n",
        );
        let got: Vec<_> = m
            .iter()
            .map(|m| (m.line, m.rule.as_str(), m.reason.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (1, "iam.shared-role", "shared by design"),
                (2, "x.y", "because"),
                (4, "no.reason", ""),
                // Invisible reasons are no reasons (found by a hostile review).
                (5, "zero.width", ""),
                (6, "escape", "")
            ]
        );
    }
}
