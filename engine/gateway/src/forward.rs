//! Forward-auth: which request a gateway asks about.
//!
//! A gateway that delegates authorization (nginx `auth_request`, Traefik
//! `ForwardAuth`, Envoy `ext_authz` over HTTP) sends Palisade a request of
//! its own and names the original request in headers or in the path. Each
//! gateway has its own protocol, and the headers of the others are nothing
//! but what the client wrote, so the server is told which protocol to
//! trust and reads only that one:
//!
//! | protocol  | method                                  | original path and query              | host                |
//! |-----------|-----------------------------------------|--------------------------------------|---------------------|
//! | `nginx`   | `X-Original-Method` (else the request's) | `X-Original-URI` (required)          | `Host`              |
//! | `traefik` | `X-Forwarded-Method` (required)         | `X-Forwarded-Uri` (required)         | `X-Forwarded-Host`, else `Host` |
//! | `envoy`   | the request's                           | the path after the forward-auth path | `Host`              |
//!
//! The original request is exact or refused: a header of the trusted
//! protocol that is sent twice or is not plain ASCII, a path that does not
//! start with `/`, or a header of another protocol (`X-Original-*`,
//! `X-Forwarded-Method`, `X-Forwarded-Uri`, `X-Envoy-Original-Path`) that
//! names another method or path is a [`ForwardAuthError`] (HTTP 400); no
//! header is ever replaced by another one. Without a trusted protocol
//! ([`HttpRequest::from_forward_auth`] with `None`) the protocol is the one
//! whose headers are present, and headers of two protocols are refused.
//!
//! The client address is the last `X-Forwarded-For` entry: the one the
//! gateway appended, not one the client wrote in front of it.

use crate::http::{HttpRequest, last_forwarded_for};
use serde::{Deserialize, Serialize};

/// A gateway's forward-auth protocol, and what
/// [`HttpRequest::from_forward_auth`] reads of it:
///
/// | protocol  | method | original path and query | host |
/// |-----------|--------|-------------------------|------|
/// | `nginx`   | `X-Original-Method` (else the request's) | `X-Original-URI` (required) | `Host` |
/// | `traefik` | `X-Forwarded-Method` (required) | `X-Forwarded-Uri` (required) | `X-Forwarded-Host`, else `Host` |
/// | `envoy`   | the request's | the path after the forward-auth path | `Host` |
///
/// Headers of the other protocols (`X-Original-*`, `X-Forwarded-Method`,
/// `X-Forwarded-Uri`, `X-Envoy-Original-Path`) are what a client wrote:
/// one that names another method or path is refused, never used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ForwardAuth {
    /// nginx `auth_request`: `X-Original-URI` and `X-Original-Method`.
    Nginx,
    /// Traefik `ForwardAuth`: `X-Forwarded-Method`, `X-Forwarded-Uri` and
    /// `X-Forwarded-Host`.
    Traefik,
    /// Envoy `ext_authz` over HTTP: the original path follows the
    /// forward-auth path (`path_prefix`), with the original method.
    Envoy,
}

impl ForwardAuth {
    /// Every protocol, in the order of the documentation.
    pub const ALL: [ForwardAuth; 3] =
        [ForwardAuth::Nginx, ForwardAuth::Traefik, ForwardAuth::Envoy];

    /// `nginx`, `traefik` or `envoy`.
    pub fn name(self) -> &'static str {
        match self {
            ForwardAuth::Nginx => "nginx",
            ForwardAuth::Traefik => "traefik",
            ForwardAuth::Envoy => "envoy",
        }
    }

    /// The header that names the original method, if the protocol has one.
    fn method_header(self) -> Option<&'static str> {
        match self {
            ForwardAuth::Nginx => Some(X_ORIGINAL_METHOD),
            ForwardAuth::Traefik => Some(X_FORWARDED_METHOD),
            ForwardAuth::Envoy => None,
        }
    }

    /// The header that names the original path, if the protocol has one.
    fn target_header(self) -> Option<&'static str> {
        match self {
            ForwardAuth::Nginx => Some(X_ORIGINAL_URI),
            ForwardAuth::Traefik => Some(X_FORWARDED_URI),
            ForwardAuth::Envoy => None,
        }
    }
}

impl std::fmt::Display for ForwardAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ForwardAuth {
    type Err = String;

    fn from_str(s: &str) -> Result<ForwardAuth, String> {
        ForwardAuth::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!(
                    "`{}` is not a forward-auth protocol (nginx, traefik or envoy)",
                    printable(s.as_bytes())
                )
            })
    }
}

/// Why a forward-auth request does not name one original request exactly
/// (the gateway should answer 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardAuthError {
    /// A header of the trusted protocol, or one that decides, is not valid.
    #[error("header `{name}` is not valid: {why}")]
    Invalid {
        /// The header.
        name: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// A header that decides is sent more than once.
    #[error("header `{0}` is sent more than once")]
    Repeated(&'static str),
    /// A header of another protocol names another request.
    #[error(
        "header `{header}` (`{value}`) conflicts with the {protocol} original request (`{trusted}`); the gateway must remove it"
    )]
    Conflict {
        /// The header of another protocol.
        header: &'static str,
        /// Its value, printable and shortened.
        value: String,
        /// The trusted protocol.
        protocol: ForwardAuth,
        /// What the trusted protocol says.
        trusted: String,
    },
    /// The trusted protocol's original request is not there.
    #[error("no original request: {0}")]
    Missing(String),
    /// Headers of more than one protocol, and none is trusted.
    #[error(
        "the request has headers of more than one gateway protocol ({0}); start the server with `--forward-auth PROTOCOL` or call /v1/forward-auth/PROTOCOL"
    )]
    Ambiguous(String),
}

const X_ORIGINAL_METHOD: &str = "x-original-method";
const X_ORIGINAL_URI: &str = "x-original-uri";
const X_FORWARDED_METHOD: &str = "x-forwarded-method";
const X_FORWARDED_URI: &str = "x-forwarded-uri";
const X_FORWARDED_HOST: &str = "x-forwarded-host";
const X_ENVOY_ORIGINAL_PATH: &str = "x-envoy-original-path";
const AUTHORIZATION: &str = "authorization";
const HOST: &str = "host";

/// Headers that name the original request, and headers that decide: each
/// may appear once.
const SINGLE: [&str; 8] = [
    X_ORIGINAL_METHOD,
    X_ORIGINAL_URI,
    X_FORWARDED_METHOD,
    X_FORWARDED_URI,
    X_FORWARDED_HOST,
    X_ENVOY_ORIGINAL_PATH,
    AUTHORIZATION,
    HOST,
];

/// Headers that name the original method.
const METHOD_HEADERS: [&str; 2] = [X_ORIGINAL_METHOD, X_FORWARDED_METHOD];
/// Headers that name the original path.
const TARGET_HEADERS: [&str; 3] = [X_ORIGINAL_URI, X_FORWARDED_URI, X_ENVOY_ORIGINAL_PATH];

/// The longest original method accepted.
const MAX_METHOD: usize = 32;

/// A header value as text, if every byte is visible ASCII, a space or a
/// tab (what `http::HeaderValue::to_str` accepts).
fn visible(bytes: &[u8]) -> Option<&str> {
    // Every byte, without stopping at the first bad one: that loop
    // vectorizes, and a bearer token is most of a request's head.
    bytes
        .iter()
        .fold(true, |ok, &b| {
            ok & (b == b'\t' || (0x20..0x7f).contains(&b))
        })
        .then(|| std::str::from_utf8(bytes).ok())
        .flatten()
}

/// A value to show in an error: printable ASCII, at most 200 bytes.
fn printable(bytes: &[u8]) -> String {
    let mut s: String = bytes
        .iter()
        .take(200)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                char::from(b).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect();
    if bytes.len() > 200 {
        s.push_str("...");
    }
    s
}

/// Checks an original method: an HTTP token of letters.
fn check_method(name: &'static str, bytes: &[u8]) -> Result<String, ForwardAuthError> {
    let ok =
        !bytes.is_empty() && bytes.len() <= MAX_METHOD && bytes.iter().all(u8::is_ascii_alphabetic);
    if ok {
        Ok(String::from_utf8_lossy(bytes).to_ascii_uppercase())
    } else {
        Err(ForwardAuthError::Invalid {
            name,
            why: format!("`{}` is not an HTTP method", printable(bytes)),
        })
    }
}

/// Checks an original request target: an absolute path with an optional
/// query, in visible ASCII only (no spaces, no control characters, no
/// fragment), as a request line carries it.
pub(crate) fn check_target(name: &'static str, bytes: &[u8]) -> Result<String, ForwardAuthError> {
    let invalid = |why: String| ForwardAuthError::Invalid { name, why };
    if let Some(&b) = bytes.iter().find(|&&b| !(0x21..0x7f).contains(&b)) {
        return Err(invalid(format!(
            "byte 0x{b:02x} in `{}`: only visible ASCII may name a path (percent-encode the rest)",
            printable(bytes)
        )));
    }
    if bytes.first() != Some(&b'/') {
        return Err(invalid(format!(
            "`{}` is not a path (it must start with `/`; a full URL or `*` is not one)",
            printable(bytes)
        )));
    }
    if bytes.contains(&b'#') {
        return Err(invalid(format!(
            "`{}` has a fragment (`#`), which a request never sends",
            printable(bytes)
        )));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// What the header scan found.
#[derive(Default)]
struct Seen<'a> {
    /// The first value of each of [`SINGLE`], and how often it came.
    single: [(Option<&'a [u8]>, usize); SINGLE.len()],
    /// `X-Forwarded-For` values, in order.
    forwarded_for: Vec<&'a str>,
}

impl<'a> Seen<'a> {
    fn get(&self, name: &str) -> Option<&'a [u8]> {
        SINGLE
            .iter()
            .zip(&self.single)
            .find(|(n, _)| **n == name)
            .and_then(|(_, (v, _))| *v)
    }
}

impl HttpRequest {
    /// The original request of a forward-auth call.
    ///
    /// `protocol` is the gateway protocol to trust (`None`: the one whose
    /// headers are present, refusing headers of more than one). `method`
    /// is the method of the forward-auth request itself; `target` is the
    /// path and query that follow the forward-auth path (Envoy's original
    /// request; `None` when nothing follows it). `headers` are the
    /// forward-auth request's headers, names in any case, values as bytes.
    ///
    /// The result has the original method, path and query, the headers
    /// (without the forward-auth protocol's own and `Content-Length`; the
    /// host from `X-Forwarded-Host` for Traefik) and the client address
    /// (the last `X-Forwarded-For` entry).
    ///
    /// # Errors
    /// [`ForwardAuthError`] when the headers do not name one original
    /// request exactly; [`ForwardAuth`] says what each protocol reads.
    ///
    /// # Examples
    /// ```
    /// use palisade_gateway::{ForwardAuth, ForwardAuthError, HttpRequest};
    /// let headers = [
    ///     ("x-original-uri", b"/orders/1?x=1".as_slice()),
    ///     ("x-original-method", b"DELETE".as_slice()),
    ///     ("x-forwarded-for", b"203.0.113.9, 192.0.2.7".as_slice()),
    /// ];
    /// let req = HttpRequest::from_forward_auth(Some(ForwardAuth::Nginx), "GET", None, headers)?;
    /// assert_eq!((req.method.as_str(), req.path.as_str()), ("DELETE", "/orders/1"));
    /// assert_eq!(req.client.as_deref(), Some("192.0.2.7"));
    ///
    /// // A Traefik header that names another method is refused, not used.
    /// let spoofed = [
    ///     ("x-original-uri", b"/orders/1".as_slice()),
    ///     ("x-forwarded-method", b"GET".as_slice()),
    /// ];
    /// let err = HttpRequest::from_forward_auth(Some(ForwardAuth::Nginx), "DELETE", None, spoofed);
    /// assert!(matches!(err, Err(ForwardAuthError::Conflict { .. })));
    /// # Ok::<(), ForwardAuthError>(())
    /// ```
    pub fn from_forward_auth<'a>(
        protocol: Option<ForwardAuth>,
        method: &str,
        target: Option<&str>,
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<HttpRequest, ForwardAuthError> {
        let headers: Vec<(&str, &[u8])> = headers.into_iter().collect();
        let mut seen = Seen::default();
        for (name, value) in &headers {
            if let Some(i) = SINGLE.iter().position(|n| name.eq_ignore_ascii_case(n))
                && let Some(slot) = seen.single.get_mut(i)
            {
                slot.0 = slot.0.or(Some(value));
                slot.1 += 1;
            } else if name.eq_ignore_ascii_case("x-forwarded-for")
                && let Some(v) = visible(value)
            {
                seen.forwarded_for.push(v);
            }
        }
        if let Some((name, _)) = SINGLE.iter().zip(&seen.single).find(|(_, (_, n))| *n > 1) {
            return Err(ForwardAuthError::Repeated(name));
        }

        let protocol = match protocol {
            Some(p) => p,
            None => detect(&seen, target)?,
        };
        if target.is_some() && protocol != ForwardAuth::Envoy {
            return Err(ForwardAuthError::Missing(format!(
                "a path after the forward-auth path is Envoy's protocol, but this endpoint trusts {protocol}"
            )));
        }

        // The trusted method and target.
        let method = match protocol.method_header() {
            Some(h) => match seen.get(h) {
                Some(v) => check_method(h, v)?,
                None if protocol == ForwardAuth::Traefik => {
                    return Err(ForwardAuthError::Missing(format!(
                        "traefik sends `{X_FORWARDED_METHOD}`, and it is not there"
                    )));
                }
                None => check_method("method", method.as_bytes())?,
            },
            None => check_method("method", method.as_bytes())?,
        };
        let target = match (protocol.target_header(), target) {
            (Some(h), _) => match seen.get(h) {
                Some(v) => check_target(h, v)?,
                None => {
                    return Err(ForwardAuthError::Missing(format!(
                        "{protocol} sends `{h}`, and it is not there"
                    )));
                }
            },
            (None, Some(t)) => check_target("path", t.as_bytes())?,
            (None, None) => {
                return Err(ForwardAuthError::Missing(
                    "envoy's original path follows the forward-auth path (`path_prefix`), and none does"
                        .into(),
                ));
            }
        };

        // Headers of the other protocols must agree, or be absent.
        for h in METHOD_HEADERS {
            if Some(h) != protocol.method_header()
                && let Some(v) = seen.get(h)
                && !v.eq_ignore_ascii_case(method.as_bytes())
            {
                return Err(conflict(h, v, protocol, &method));
            }
        }
        for h in TARGET_HEADERS {
            if Some(h) != protocol.target_header()
                && let Some(v) = seen.get(h)
                && v != target.as_bytes()
            {
                return Err(conflict(h, v, protocol, &target));
            }
        }

        let host = match (protocol, seen.get(X_FORWARDED_HOST)) {
            (ForwardAuth::Traefik, Some(v)) => {
                Some(visible(v).ok_or_else(|| ForwardAuthError::Invalid {
                    name: X_FORWARDED_HOST,
                    why: format!("`{}` is not ASCII text", printable(v)),
                })?)
            }
            _ => None,
        };
        let mut req = HttpRequest::new(&method, &target);
        let dropped = |name: &str| {
            METHOD_HEADERS.contains(&name)
                || TARGET_HEADERS.contains(&name)
                || name == "content-length"
                || (host.is_some() && name == HOST)
        };
        for (name, value) in &headers {
            let name = name.to_ascii_lowercase();
            if !dropped(&name)
                && let Some(v) = visible(value)
            {
                req.headers.push((name, v.to_owned()));
            }
        }
        if let Some(h) = host {
            req.headers.push((HOST.to_owned(), h.to_owned()));
        }
        req.client = last_forwarded_for(seen.forwarded_for.into_iter());
        Ok(req)
    }
}

fn conflict(
    header: &'static str,
    value: &[u8],
    protocol: ForwardAuth,
    trusted: &str,
) -> ForwardAuthError {
    ForwardAuthError::Conflict {
        header,
        value: printable(value),
        protocol,
        trusted: printable(trusted.as_bytes()),
    }
}

/// The protocol whose headers a request carries, when none is trusted:
/// exactly one, or an error.
fn detect(seen: &Seen<'_>, target: Option<&str>) -> Result<ForwardAuth, ForwardAuthError> {
    let has = |p: ForwardAuth| match p {
        ForwardAuth::Envoy => target.is_some(),
        _ => [p.method_header(), p.target_header()]
            .into_iter()
            .flatten()
            .any(|h| seen.get(h).is_some()),
    };
    let present: Vec<ForwardAuth> = ForwardAuth::ALL.into_iter().filter(|p| has(*p)).collect();
    match present.as_slice() {
        [one] => Ok(*one),
        [] => Err(ForwardAuthError::Missing(format!(
            "send `{X_ORIGINAL_URI}` (nginx), `{X_FORWARDED_URI}` (traefik) or the path after the forward-auth path (envoy)"
        ))),
        many => Err(ForwardAuthError::Ambiguous(
            many.iter().map(|p| p.name()).collect::<Vec<_>>().join(", "),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fa(
        p: Option<ForwardAuth>,
        method: &str,
        target: Option<&str>,
        headers: &[(&'static str, &'static [u8])],
    ) -> Result<HttpRequest, ForwardAuthError> {
        HttpRequest::from_forward_auth(p, method, target, headers.iter().copied())
    }

    #[test]
    fn a_visible_value_is_printable_ascii_a_space_or_a_tab() {
        assert_eq!(visible(b"Bearer a.b-c_d~ \t"), Some("Bearer a.b-c_d~ \t"));
        assert_eq!(visible(b""), Some(""));
        // Controls, DEL and non-ASCII, anywhere in a long value.
        for bad in [0x00, 0x1f, b'\n', b'\r', 0x7f, 0x80, 0xff] {
            for at in [0, 37, 799] {
                let mut v = vec![b'x'; 800];
                v[at] = bad;
                assert_eq!(visible(&v), None, "byte {bad:#x} at {at}");
            }
        }
    }

    #[test]
    fn each_protocol_reads_its_own_headers() {
        let n = fa(
            Some(ForwardAuth::Nginx),
            "GET",
            None,
            &[
                ("X-Original-URI", b"/a/b?q=1"),
                ("X-Original-Method", b"post"),
                ("Host", b"palisade"),
            ],
        )
        .unwrap();
        assert_eq!((n.method.as_str(), n.path.as_str()), ("POST", "/a/b"));
        assert_eq!(n.query, [("q".to_owned(), "1".to_owned())]);
        assert!(n.header_value("x-original-uri").is_none());
        assert_eq!(n.header_value("host"), Some("palisade"));

        let t = fa(
            Some(ForwardAuth::Traefik),
            "GET",
            None,
            &[
                ("x-forwarded-method", b"DELETE"),
                ("x-forwarded-uri", b"/a"),
                ("x-forwarded-host", b"api.example.com"),
                ("host", b"palisade:8181"),
            ],
        )
        .unwrap();
        assert_eq!((t.method.as_str(), t.path.as_str()), ("DELETE", "/a"));
        assert_eq!(t.header_value("host"), Some("api.example.com"));

        let e = fa(Some(ForwardAuth::Envoy), "PUT", Some("/x/y"), &[]).unwrap();
        assert_eq!((e.method.as_str(), e.path.as_str()), ("PUT", "/x/y"));
    }

    #[test]
    fn headers_of_another_protocol_that_disagree_are_refused() {
        // Behind Traefik, a client adds X-Original-*.
        let err = fa(
            Some(ForwardAuth::Traefik),
            "GET",
            None,
            &[
                ("x-original-method", b"GET"),
                ("x-original-uri", b"/tenants/acme/orders/1"),
                ("x-forwarded-method", b"DELETE"),
                ("x-forwarded-uri", b"/tenants/globex/orders/1"),
            ],
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                ForwardAuthError::Conflict {
                    header: "x-original-method",
                    ..
                }
            ),
            "{err}"
        );
        // Behind Envoy, a client adds X-Forwarded-Method.
        let err = fa(
            Some(ForwardAuth::Envoy),
            "DELETE",
            Some("/o/1"),
            &[("x-forwarded-method", b"GET")],
        )
        .unwrap_err();
        assert!(err.to_string().contains("x-forwarded-method"), "{err}");
        let err = fa(
            Some(ForwardAuth::Envoy),
            "GET",
            Some("/o/1"),
            &[("x-envoy-original-path", b"/public")],
        )
        .unwrap_err();
        assert!(matches!(err, ForwardAuthError::Conflict { .. }), "{err}");
        // The same values are harmless.
        fa(
            Some(ForwardAuth::Nginx),
            "GET",
            None,
            &[
                ("x-original-uri", b"/a"),
                ("x-forwarded-uri", b"/a"),
                ("x-forwarded-method", b"get"),
            ],
        )
        .unwrap();
    }

    #[test]
    fn without_a_trusted_protocol_one_protocol_must_be_present() {
        let err = fa(
            None,
            "GET",
            None,
            &[
                ("x-original-uri", b"/a"),
                ("x-forwarded-uri", b"/b"),
                ("x-forwarded-method", b"GET"),
            ],
        )
        .unwrap_err();
        assert!(matches!(err, ForwardAuthError::Ambiguous(_)), "{err}");
        let err = fa(None, "GET", Some("/a"), &[("x-original-uri", b"/a")]).unwrap_err();
        assert!(matches!(err, ForwardAuthError::Ambiguous(_)), "{err}");
        assert!(matches!(
            fa(None, "GET", None, &[]),
            Err(ForwardAuthError::Missing(_))
        ));
        assert_eq!(
            fa(None, "GET", None, &[("x-original-uri", b"/a")])
                .unwrap()
                .path,
            "/a"
        );
    }

    #[test]
    fn unreadable_targets_are_refused_never_replaced() {
        for bad in [
            b"/tenants/globex/orders/1?x=\xff".as_slice(),
            b"http://evil.example/a",
            b"*",
            b"",
            b"relative/path",
            b"/a b",
            b"/a\r\nx: y",
            b"/a#frag",
        ] {
            let headers = [("x-original-uri", bad)];
            let err =
                HttpRequest::from_forward_auth(Some(ForwardAuth::Nginx), "GET", None, headers)
                    .unwrap_err();
            assert!(
                matches!(
                    err,
                    ForwardAuthError::Invalid {
                        name: "x-original-uri",
                        ..
                    }
                ),
                "{err}"
            );
        }
        let err = fa(Some(ForwardAuth::Envoy), "GET", Some("/\u{e9}"), &[]).unwrap_err();
        assert!(matches!(err, ForwardAuthError::Invalid { .. }), "{err}");
        let err = fa(
            Some(ForwardAuth::Nginx),
            "GET",
            None,
            &[("x-original-uri", b"/a"), ("x-original-method", b"G T")],
        )
        .unwrap_err();
        assert!(err.to_string().contains("not an HTTP method"), "{err}");
    }

    #[test]
    fn repeated_headers_are_refused() {
        for name in ["x-original-uri", "authorization", "x-forwarded-method"] {
            let err = fa(
                Some(ForwardAuth::Nginx),
                "GET",
                None,
                &[("x-original-uri", b"/a"), (name, b"/a"), (name, b"/a")],
            )
            .unwrap_err();
            assert!(
                matches!(err, ForwardAuthError::Repeated(_)),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn the_client_is_the_last_forwarded_for_entry() {
        let r = fa(
            Some(ForwardAuth::Nginx),
            "GET",
            None,
            &[
                ("x-original-uri", b"/a"),
                ("x-forwarded-for", b"10.9.9.9"),
                ("x-forwarded-for", b"1.2.3.4, 198.51.100.7"),
            ],
        )
        .unwrap();
        assert_eq!(r.client.as_deref(), Some("198.51.100.7"));
        assert_eq!(
            last_forwarded_for(["[2001:db8::1]:443"].into_iter()).as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(last_forwarded_for(["1.2.3.4, unknown"].into_iter()), None);
    }
}
