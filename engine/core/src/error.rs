//! Typed errors. Policy outcomes are data ([`crate::Decision`]); these are
//! for infrastructure failures: a bundle that cannot load, a request that
//! cannot be read, an engine that cannot start.

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceSpan};
use std::fmt;

/// One thing wrong with a bundle, located in a file when possible.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The file, as a path relative to the bundle directory when it is in it.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong, lowercase, user input in backticks.
    pub message: String,
    /// What to do about it, when there is something to say.
    pub help: Option<String>,
    source: Option<NamedSource<String>>,
    span: Option<SourceSpan>,
}

impl Problem {
    /// A problem with a whole file.
    pub fn file(file: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            file: file.into(),
            line: None,
            column: None,
            message: message.into(),
            help: None,
            source: None,
            span: None,
        }
    }

    /// A problem at a byte offset of `text`; keeps the text for rendering.
    pub fn at(
        file: impl Into<String>,
        text: &str,
        span: Option<std::ops::Range<usize>>,
        message: impl Into<String>,
    ) -> Problem {
        let file = file.into();
        let mut p = Problem::file(file.clone(), message);
        if let Some(span) = span {
            let start = span.start.min(text.len());
            let (line, column) = line_col(text, start);
            p.line = Some(line);
            p.column = Some(column);
            p.span = Some(SourceSpan::from(start..span.end.clamp(start, text.len())));
            p.source = Some(NamedSource::new(file, text.to_owned()));
        }
        p
    }

    /// A problem at a known line (1-based) of `text`.
    pub fn at_line(
        file: impl Into<String>,
        text: &str,
        line: usize,
        message: impl Into<String>,
    ) -> Problem {
        let start = line_start(text, line);
        let end = text
            .get(start..)
            .and_then(|rest| rest.find('\n'))
            .map_or(text.len(), |n| start + n);
        Problem::at(file, text, Some(start..end), message)
    }

    /// The problem with what to do about it.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Problem {
        self.help = Some(help.into());
        self
    }

    /// `file:line:column` (as much as is known).
    pub fn location(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}", self.file),
            (Some(l), None) => format!("{}:{l}", self.file),
            _ => self.file.clone(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location(), self.message)
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.span.map(|s| {
            Box::new(std::iter::once(LabeledSpan::new_with_span(
                Some("here".into()),
                s,
            ))) as Box<dyn Iterator<Item = LabeledSpan>>
        })
    }
}

/// `text` cut to `max_chars` characters, with `…` when cut: input quoted in
/// a message stays readable whatever its length.
///
/// ```
/// assert_eq!(palisade_engine::shorten("abcdef", 3), "abc…");
/// assert_eq!(palisade_engine::shorten("abc", 3), "abc");
/// ```
pub fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", text.get(..i).unwrap_or_default()),
        None => text.to_owned(),
    }
}

/// An error and its causes, joined with `: ` (each cause said once).
pub fn full_message(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !msg.contains(&s) {
            msg.push_str(": ");
            msg.push_str(&s);
        }
        cur = c.source();
    }
    msg
}

/// Byte offset where 1-based `line` starts (the end of the text past the
/// last line).
pub(crate) fn line_start(text: &str, line: usize) -> usize {
    text.split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum()
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    let column = before
        .get(line_start..)
        .map_or(1, |s| s.chars().count() + 1);
    (line, column)
}

/// A bundle that cannot be loaded, with every problem found.
#[derive(Debug, thiserror::Error)]
#[error("cannot load bundle `{dir}`: {}", summarize(.problems))]
pub struct BundleError {
    /// The bundle directory (or name, for built-in bundles).
    pub dir: String,
    /// Everything that is wrong, in file order.
    pub problems: Vec<Problem>,
}

fn summarize(problems: &[Problem]) -> String {
    match problems {
        [one] => one.to_string(),
        many => format!(
            "{} problems, the first: {}",
            many.len(),
            many.first().map(|p| p.to_string()).unwrap_or_default()
        ),
    }
}

impl Diagnostic for BundleError {
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.problems.iter().map(|p| p as &dyn Diagnostic)))
    }
}

/// A request that cannot be evaluated: malformed input, not a decision.
///
/// When Cedar refused the request, its own typed error is kept as the
/// [`source`](std::error::Error::source); `reason` is its text.
#[derive(Debug, Clone, thiserror::Error, Diagnostic)]
#[non_exhaustive]
pub enum RequestError {
    /// An entity uid that does not parse (`Type::"id"` or `{"type", "id"}`).
    #[error("invalid {field} `{value}`: {reason}")]
    #[diagnostic(help(
        "write entity uids as `Type::\"id\"`, e.g. `User::\"alice\"`, or as {{\"type\": \"User\", \"id\": \"alice\"}}"
    ))]
    EntityUid {
        /// `principal`, `action` or `resource`.
        field: &'static str,
        /// What was given.
        value: String,
        /// Why it does not parse (the first line of Cedar's message).
        reason: String,
        /// Cedar's parse error, when Cedar parsed it.
        #[source]
        source: Option<CedarError>,
    },
    /// The request JSON is not what `authorize` expects.
    #[error("invalid request: {0}")]
    Malformed(String),
    /// The context is not a JSON object or does not match the schema.
    #[error("invalid context: {reason}")]
    Context {
        /// What is wrong.
        reason: String,
        /// Cedar's error, when Cedar refused the context.
        #[source]
        source: Option<CedarError>,
    },
    /// Extra entities in the request are invalid.
    #[error("invalid entities in the request: {reason}")]
    Entities {
        /// What is wrong.
        reason: String,
        /// Cedar's error, when Cedar refused the entities.
        #[source]
        source: Option<CedarError>,
    },
    /// The request does not match the bundle's schema.
    #[error("the request does not match the bundle's schema: {source}")]
    Schema {
        /// Cedar's validation error.
        #[source]
        source: CedarError,
    },
}

impl RequestError {
    pub(crate) fn context(reason: impl Into<String>) -> RequestError {
        RequestError::Context {
            reason: reason.into(),
            source: None,
        }
    }

    pub(crate) fn entities(reason: impl Into<String>) -> RequestError {
        RequestError::Entities {
            reason: reason.into(),
            source: None,
        }
    }
}

/// An error that Cedar returned, shared so that [`RequestError`] stays
/// `Clone`; downcast [`CedarError::get`] to Cedar's type to inspect it.
#[derive(Debug, Clone)]
pub struct CedarError(std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>);

impl CedarError {
    pub(crate) fn new(e: impl std::error::Error + Send + Sync + 'static) -> CedarError {
        CedarError(std::sync::Arc::new(e))
    }

    /// Cedar's error, e.g. a `cedar_policy::RequestValidationError`.
    pub fn get(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl std::fmt::Display for CedarError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for CedarError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// The engine could not be created (the WebAssembly runtime refused its
/// configuration, for example when the address space is exhausted).
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("cannot start the plugin runtime: {}", full_message(&**.source))]
pub struct EngineError {
    /// What wasmtime said, with its causes.
    #[source]
    source: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl EngineError {
    pub(crate) fn runtime(e: wasmtime::Error) -> EngineError {
        EngineError { source: e.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let t = "ab\ncdé\nf";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 3), (2, 1));
        assert_eq!(line_col(t, 5), (2, 3));
        assert_eq!(line_col(t, 8), (3, 1));
    }

    #[test]
    fn problems_print_their_location() {
        let p = Problem::at(
            "p.cedar",
            "permit(\n  oops",
            Some(10..14),
            "unexpected token",
        );
        assert_eq!(p.to_string(), "p.cedar:2:3: unexpected token");
        let q = Problem::at_line("m.toml", "a\nb\nc", 3, "bad");
        assert_eq!(q.to_string(), "m.toml:3:1: bad");
    }
}
