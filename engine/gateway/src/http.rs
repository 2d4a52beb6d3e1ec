//! HTTP requests as a gateway saw them, and the answers it gives.

use palisade_engine::Decision;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// An HTTP request as a gateway saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// Query parameters, in order.
    #[serde(default)]
    pub query: Vec<(String, String)>,
    /// Headers, names lowercase, in order.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The client's address, when known.
    #[serde(default)]
    pub client: Option<String>,
}

impl HttpRequest {
    /// A request from a method and a URI (`/orders/42?x=1`).
    pub fn new(method: &str, uri: &str) -> HttpRequest {
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        HttpRequest {
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            query: query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
            headers: Vec::new(),
            client: None,
        }
    }

    /// Adds a header (the name is lowercased).
    pub fn header(mut self, name: &str, value: &str) -> HttpRequest {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// The first value of a header.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The bearer token of the `Authorization` header.
    pub fn bearer(&self) -> Option<&str> {
        let value = self.header_value("authorization")?.trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim())
            .filter(|t| !t.is_empty())
    }

    /// The client address the closest proxy appended to `X-Forwarded-For`:
    /// the last entry of the last such header, if it is an IP address. The
    /// entries before it are whatever the client wrote.
    pub fn forwarded_for(&self) -> Option<String> {
        last_forwarded_for(
            self.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-for"))
                .map(|(_, v)| v.as_str()),
        )
    }

    /// A request from the parts of an `http` request: its method, path
    /// and query, and its headers.
    #[cfg(feature = "tower")]
    pub fn from_http(
        method: &http::Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
    ) -> HttpRequest {
        let target = uri.path_and_query().map_or("/", |p| p.as_str());
        HttpRequest::new(method.as_str(), target).headers_from(headers)
    }

    /// Adds every header of `headers` whose value is text.
    #[cfg(feature = "tower")]
    pub fn headers_from(mut self, headers: &http::HeaderMap) -> HttpRequest {
        self.headers.extend(
            headers
                .iter()
                .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned()))),
        );
        self
    }

    /// What plugins of kind `request` see.
    pub(crate) fn to_json(&self, route: Option<&str>) -> Value {
        let mut query = Map::new();
        for (k, v) in &self.query {
            query
                .entry(k.clone())
                .or_insert_with(|| Value::String(v.clone()));
        }
        let mut headers = Map::new();
        for (k, v) in &self.headers {
            headers
                .entry(k.clone())
                .or_insert_with(|| Value::String(v.clone()));
        }
        json!({
            "method": self.method,
            "path": self.path,
            "route": route,
            "query": query,
            "headers": headers,
            "client": self.client,
        })
    }
}

/// `application/x-www-form-urlencoded` decoding of a query component:
/// `%XX` escapes and `+` for a space; invalid escapes stay as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How a gateway should answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HttpOutcome {
    /// 200: let the request through.
    Allow,
    /// 401: no credentials, or bad ones.
    Unauthenticated,
    /// 403: the policies (or the route table) deny it.
    Forbidden,
    /// 429: over a rate limit.
    RateLimited,
    /// 400: the request does not name one path exactly (a dot segment,
    /// an encoded `/` in a route parameter, bad percent-encoding).
    BadRequest,
}

/// The answer to an [`HttpRequest`].
#[derive(Debug, Clone, Serialize)]
pub struct HttpDecision {
    /// 200, 400, 401, 403 or 429.
    pub status: u16,
    /// What the status means.
    pub outcome: HttpOutcome,
    /// Why, in a few words: the deciding policies or rule ids, `no-route`,
    /// `missing-token`, the token problem, `rate-limited`.
    pub reason: String,
    /// The principal, as a Cedar entity uid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The matched route template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The Cedar action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The Cedar resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The token id (`jti`), when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// Seconds to wait, for 429.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// The engine's decision, when Cedar ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
}

impl HttpDecision {
    pub(crate) fn early(outcome: HttpOutcome, reason: impl Into<String>) -> HttpDecision {
        HttpDecision {
            status: match outcome {
                HttpOutcome::Allow => 200,
                HttpOutcome::Unauthenticated => 401,
                HttpOutcome::Forbidden => 403,
                HttpOutcome::RateLimited => 429,
                HttpOutcome::BadRequest => 400,
            },
            outcome,
            reason: reason.into(),
            principal: None,
            route: None,
            action: None,
            resource: None,
            token_id: None,
            retry_after: None,
            decision: None,
        }
    }

    /// The headers a gateway answers with: `X-Palisade-Principal` on 200,
    /// `WWW-Authenticate: Bearer` (RFC 6750, with the token problem) on
    /// 401, `Retry-After` on 429 and `X-Palisade-Reason` on every denial.
    /// Values hold no control characters.
    ///
    /// # Examples
    /// ```
    /// # use palisade_engine::Now;
    /// # use palisade_gateway::HttpRequest;
    /// # let engine = palisade_gateway::engine()?;
    /// # let bundle = engine.load_bundle_from(&palisade_engine::MemorySource::new("g")
    /// #     .file("palisade.toml", b"[bundle]\nname = \"g\"\nversion = \"1.0.0\"\n".as_slice())
    /// #     .file("policies/p.cedar", b"permit(principal, action, resource);".as_slice()))?;
    /// let d = palisade_gateway::decide(&bundle, &HttpRequest::new("GET", "/nowhere"), Now::epoch(), None);
    /// assert_eq!(d.status, 403);
    /// assert_eq!(d.headers(), [("x-palisade-reason", "no-route".to_owned())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let clean = |v: &str| -> String { v.chars().filter(|c| !c.is_control()).collect() };
        let mut out = Vec::with_capacity(2);
        match self.outcome {
            HttpOutcome::Allow => {
                if let Some(p) = &self.principal {
                    out.push(("x-palisade-principal", clean(p)));
                }
                return out;
            }
            HttpOutcome::Unauthenticated => {
                let www = if self.reason == "missing-token" {
                    r#"Bearer realm="palisade""#.to_owned()
                } else {
                    format!(
                        r#"Bearer realm="palisade", error="invalid_token", error_description="{}""#,
                        self.reason.replace('"', "'")
                    )
                };
                out.push(("www-authenticate", clean(&www)));
            }
            HttpOutcome::RateLimited => {
                out.push(("retry-after", self.retry_after.unwrap_or(1).to_string()));
            }
            HttpOutcome::Forbidden | HttpOutcome::BadRequest => {}
        }
        out.push(("x-palisade-reason", clean(&self.reason)));
        out
    }

    /// The JSON body of the answer: status, reason, principal and route
    /// (never the token or the request's headers); a 400 also has
    /// `error`, the reason.
    pub fn body_json(&self) -> String {
        /// The body's fields in their order, written without building a
        /// JSON tree first.
        #[derive(serde::Serialize)]
        struct Body<'a> {
            status: u16,
            reason: &'a str,
            principal: Option<&'a str>,
            route: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<&'a str>,
        }
        serde_json::to_string(&Body {
            status: self.status,
            reason: &self.reason,
            principal: self.principal.as_deref(),
            route: self.route.as_deref(),
            error: (self.outcome == HttpOutcome::BadRequest).then_some(self.reason.as_str()),
        })
        .unwrap_or_default()
    }

    /// The whole answer as an `http` response: the status, the
    /// [`headers`](HttpDecision::headers) and the JSON
    /// [`body`](HttpDecision::body_json).
    #[cfg(feature = "tower")]
    pub fn to_response<B: From<String>>(&self) -> http::Response<B> {
        let mut body = self.body_json();
        body.push('\n');
        let mut r = http::Response::new(B::from(body));
        *r.status_mut() =
            http::StatusCode::from_u16(self.status).unwrap_or(http::StatusCode::FORBIDDEN);
        let headers = r.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        for (name, value) in self.headers() {
            if let Ok(v) = http::HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        r
    }
}

/// The client address in `X-Forwarded-For` values: the last entry of the
/// last header, which the proxy closest to us appended. `None` when it is
/// not an IP address.
pub(crate) fn last_forwarded_for<'a>(
    values: impl DoubleEndedIterator<Item = &'a str>,
) -> Option<String> {
    let last = values.rev().find(|v| !v.trim().is_empty())?;
    let entry = last.rsplit(',').next()?.trim();
    client_address(entry)
}

/// An IP address (`192.0.2.1`, `2001:db8::1`, `[2001:db8::1]:443`,
/// `192.0.2.1:443`) in its canonical form.
fn client_address(entry: &str) -> Option<String> {
    if let Ok(ip) = entry.parse::<std::net::IpAddr>() {
        return Some(ip.to_string());
    }
    entry
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|s| s.ip().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_the_documented_object_in_its_order() {
        let mut allow = HttpDecision::early(HttpOutcome::Allow, "allowed");
        allow.principal = Some("User::\"b\\\"o\"".to_owned());
        allow.route = Some("/orders/{id}".to_owned());
        assert_eq!(
            allow.body_json(),
            r#"{"status":200,"reason":"allowed","principal":"User::\"b\\\"o\"","route":"/orders/{id}"}"#
        );
        let bad = HttpDecision::early(HttpOutcome::BadRequest, "a \"dot\" segment");
        assert_eq!(
            bad.body_json(),
            r#"{"status":400,"reason":"a \"dot\" segment","principal":null,"route":null,"error":"a \"dot\" segment"}"#
        );
    }
}
