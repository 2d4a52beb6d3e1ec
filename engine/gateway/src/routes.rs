//! The route table: method and path template to a Cedar action and
//! resource.

use cedar_policy::{EntityTypeName, EntityUid};
use std::collections::BTreeMap;
use std::str::FromStr;

/// One route of the table, compiled.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    /// `GET`, or `*` for every method.
    pub method: String,
    /// `/orders/{id}` as written.
    pub template: String,
    segments: Vec<Segment>,
    /// The action (`Action::"viewOrder"`).
    action_uid: EntityUid,
    /// The same, printed once for every answer that names it.
    action_text: String,
    /// The context's `route` record, built once.
    record: palisade_engine::values::Val,
    /// `Order::"{id}"`: the type and the id template.
    resource_type: EntityTypeName,
    /// The id template in pieces: text, and parameters to fill in.
    resource_id: Vec<Segment>,
    /// No credentials needed.
    pub public: bool,
    /// Parameters may hold an encoded `/` or `\`.
    pub allow_encoded_slash: bool,
}

/// The context's `route` record of a route.
fn route_record(template: &str, public: bool) -> palisade_engine::values::Val {
    use palisade_engine::values::Val;
    Val::record([
        ("path", Val::string(template)),
        ("public", Val::bool(public)),
    ])
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    /// `{rest*}`: the rest of the path.
    Rest(String),
}

/// A matched route: the route and its path parameters.
#[derive(Debug, Clone)]
pub(crate) struct Matched<'r> {
    pub route: &'r Route,
    pub params: BTreeMap<String, String>,
}

impl Route {
    /// Compiles a route; the error says what is wrong with which field.
    pub fn new(
        method: &str,
        path: &str,
        action: &str,
        resource: &str,
        public: bool,
    ) -> Result<Route, String> {
        if !path.starts_with('/') {
            return Err(format!("route path `{path}` must start with `/`"));
        }
        let mut segments = Vec::new();
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        for (i, part) in parts.iter().enumerate() {
            let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if name.ends_with('*') => {
                    if i + 1 != parts.len() {
                        return Err(format!(
                            "in `{path}`, `{{{name}}}` must be the last segment"
                        ));
                    }
                    Segment::Rest(name.trim_end_matches('*').to_owned())
                }
                Some(name)
                    if !name.is_empty()
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                {
                    Segment::Param(name.to_owned())
                }
                Some(name) => {
                    return Err(format!(
                        "in `{path}`, `{{{name}}}` is not a parameter name (letters, digits, `_`)"
                    ));
                }
                None if part.contains(['{', '}']) => {
                    return Err(format!(
                        "in `{path}`, a parameter must be a whole segment (`/{{id}}`)"
                    ));
                }
                None => Segment::Literal((*part).to_owned()),
            };
            segments.push(segment);
        }
        let params: Vec<&str> = segments
            .iter()
            .filter_map(|s| match s {
                Segment::Param(n) | Segment::Rest(n) => Some(n.as_str()),
                Segment::Literal(_) => None,
            })
            .collect();
        let method = method.to_ascii_uppercase();
        if method != "*" && !method.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(format!(
                "route method `{method}` is not an HTTP method (or `*`)"
            ));
        }
        let action_uid = format!("Action::{}", quote(action));
        EntityUid::from_str(&action_uid).map_err(|e| format!("route action `{action}`: {e}"))?;
        let (type_name, id) = resource.split_once("::").ok_or_else(|| {
            format!("route resource `{resource}` must look like `Order::\"{{id}}\"`")
        })?;
        let resource_type = EntityTypeName::from_str(type_name)
            .map_err(|e| format!("route resource type `{type_name}`: {e}"))?;
        let id = id
            .strip_prefix('"')
            .and_then(|i| i.strip_suffix('"'))
            .ok_or_else(|| {
                format!("route resource `{resource}`: the id must be quoted, `Order::\"{{id}}\"`")
            })?;
        let mut rest = id;
        let mut resource_id = Vec::new();
        while let Some(open) = rest.find('{') {
            let after = rest.get(open + 1..).unwrap_or_default();
            let Some(close) = after.find('}') else {
                return Err(format!("route resource `{resource}`: unclosed `{{`"));
            };
            let name = after.get(..close).unwrap_or_default();
            if !params.contains(&name) {
                return Err(format!(
                    "route resource `{resource}` uses `{{{name}}}`, which the path `{path}` does not define"
                ));
            }
            resource_id.push(Segment::Literal(
                rest.get(..open).unwrap_or_default().to_owned(),
            ));
            resource_id.push(Segment::Param(name.to_owned()));
            rest = after.get(close + 1..).unwrap_or_default();
        }
        resource_id.push(Segment::Literal(rest.to_owned()));
        let action_uid = palisade_engine::values::uid("Action", action);
        Ok(Route {
            method,
            template: path.to_owned(),
            segments,
            action_text: action_uid.to_string(),
            action_uid,
            record: route_record(path, public),
            resource_type,
            resource_id,
            public,
            allow_encoded_slash: false,
        })
    }

    /// The parameters if the route matches; `Err` when it matches only
    /// with an encoded `/` in a parameter and the route does not allow it.
    fn matches(
        &self,
        method: &str,
        path: &[PathSegment<'_>],
    ) -> Result<Option<BTreeMap<String, String>>, String> {
        if self.method != "*" && !self.method.eq_ignore_ascii_case(method) {
            return Ok(None);
        }
        let mut params = BTreeMap::new();
        let mut parts = path.iter();
        let slash = |s: &PathSegment<'_>| -> Result<(), String> {
            if s.slash && !self.allow_encoded_slash {
                Err(format!(
                    "the path segment `{}` holds an encoded `/` or `\\`, which route `{}` does not allow (allow_encoded_slash)",
                    s.raw, self.template
                ))
            } else {
                Ok(())
            }
        };
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Rest(name) => {
                    let rest = path.get(i..).unwrap_or_default();
                    rest.iter().try_for_each(slash)?;
                    let values: Vec<&str> = rest.iter().map(|s| s.text.as_ref()).collect();
                    params.insert(name.clone(), values.join("/"));
                    return Ok(Some(params));
                }
                Segment::Literal(l) => match parts.next() {
                    Some(p) if p.text == l.as_str() => {}
                    _ => return Ok(None),
                },
                Segment::Param(name) => match parts.next() {
                    Some(p) if !p.text.is_empty() => {
                        slash(p)?;
                        params.insert(name.clone(), p.text.clone().into_owned());
                    }
                    _ => return Ok(None),
                },
            }
        }
        Ok(parts.next().is_none().then_some(params))
    }

    /// The Cedar action.
    pub fn action_uid(&self) -> &EntityUid {
        &self.action_uid
    }

    /// The Cedar action, printed.
    pub fn action_text(&self) -> &str {
        &self.action_text
    }

    /// The context's `route` record: `{path, public}`.
    pub fn record(&self) -> palisade_engine::values::Val {
        self.record.clone()
    }

    /// The Cedar resource for these parameters.
    pub fn resource_uid(&self, params: &BTreeMap<String, String>) -> EntityUid {
        // One pass: a parameter's value is never read as a template, so
        // `{tenant}` sent as an id stays that text.
        let mut id = String::new();
        for piece in &self.resource_id {
            match piece {
                Segment::Literal(text) => id.push_str(text),
                Segment::Param(name) | Segment::Rest(name) => {
                    id.push_str(params.get(name).map_or("", String::as_str));
                }
            }
        }
        EntityUid::from_type_name_and_id(
            self.resource_type.clone(),
            cedar_policy::EntityId::new(id),
        )
    }
}

fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// The routes, matched in order: the first that fits wins, so list
/// literal paths before templates that would also match them.
#[derive(Debug, Clone, Default)]
pub(crate) struct RouteTable {
    pub routes: Vec<Route>,
}

impl RouteTable {
    /// The first route that matches. `Err` (the reason, for a 400) when the
    /// path does not name one resource exactly: it does not start with
    /// `/`, has a dot segment (`.`, `..`, also percent-encoded), bad
    /// percent-encoding, an encoded control character or non-UTF-8 text,
    /// or an encoded `/` in a parameter of a route that does not allow it.
    pub fn find(&self, method: &str, path: &str) -> Result<Option<Matched<'_>>, String> {
        let segments = segments(path)?;
        for route in &self.routes {
            if let Some(params) = route.matches(method, &segments)? {
                return Ok(Some(Matched { route, params }));
            }
        }
        Ok(None)
    }
}

/// One segment of a request path, percent-decoded.
#[derive(Debug)]
pub(crate) struct PathSegment<'a> {
    raw: &'a str,
    text: std::borrow::Cow<'a, str>,
    /// The decoded text holds `/` or `\`: it would split differently.
    slash: bool,
}

/// The decoded segments of a path; the error says why the path is refused.
fn segments(path: &str) -> Result<Vec<PathSegment<'_>>, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!(
            "the path `{}` does not start with `/`",
            path.escape_debug()
        ));
    };
    rest.split('/').map(segment).collect()
}

fn segment(raw: &str) -> Result<PathSegment<'_>, String> {
    let text = if raw.contains('%') {
        let bytes = raw.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            if b == b'%' {
                let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
                let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                    return Err(format!(
                        "the path segment `{}` has a `%` that is not followed by two hex digits",
                        raw.escape_debug()
                    ));
                };
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            } else {
                out.push(b);
                i += 1;
            }
        }
        std::borrow::Cow::Owned(String::from_utf8(out).map_err(|_| {
            format!(
                "the path segment `{}` does not decode to UTF-8 text",
                raw.escape_debug()
            )
        })?)
    } else {
        std::borrow::Cow::Borrowed(raw)
    };
    if text == "." || text == ".." {
        return Err(format!(
            "the path has a dot segment (`{}`), which the application may resolve to another path",
            raw.escape_debug()
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(format!(
            "the path segment `{}` holds a control character",
            raw.escape_debug()
        ));
    }
    let slash = text.contains(['/', '\\']);
    Ok(PathSegment { raw, text, slash })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_and_fill_the_resource() {
        let t = RouteTable {
            routes: vec![
                Route::new(
                    "GET",
                    "/orders/export",
                    "exportOrders",
                    "Orders::\"all\"",
                    false,
                )
                .unwrap(),
                Route::new("get", "/orders/{id}", "viewOrder", "Order::\"{id}\"", false).unwrap(),
                Route::new("*", "/files/{path*}", "readFile", "File::\"{path}\"", false).unwrap(),
                Route::new("GET", "/", "home", "Page::\"home\"", true).unwrap(),
            ],
        };
        let m = t.find("GET", "/orders/42").unwrap().unwrap();
        assert_eq!(m.route.action_uid().to_string(), r#"Action::"viewOrder""#);
        assert_eq!(
            m.route.resource_uid(&m.params).to_string(),
            r#"Order::"42""#
        );
        assert_eq!(
            t.find("GET", "/orders/export")
                .unwrap()
                .unwrap()
                .route
                .action_uid()
                .to_string(),
            r#"Action::"exportOrders""#
        );
        assert!(t.find("POST", "/orders/42").unwrap().is_none());
        assert!(t.find("GET", "/orders/42/items").unwrap().is_none());
        assert!(t.find("GET", "/orders/").unwrap().is_none());
        let f = t.find("DELETE", "/files/a/b.txt").unwrap().unwrap();
        assert_eq!(
            f.route.resource_uid(&f.params).to_string(),
            r#"File::"a/b.txt""#
        );
        assert!(t.find("GET", "/").unwrap().unwrap().route.public);
    }

    #[test]
    fn bad_routes_say_what_is_wrong() {
        let err = |m, p, a, r| Route::new(m, p, a, r, false).unwrap_err();
        assert!(err("GET", "orders", "a", "O::\"x\"").contains("must start with `/`"));
        assert!(err("GET", "/o/{id}", "a", "O::\"{oid}\"").contains("does not define"));
        assert!(err("GET", "/o/x{id}", "a", "O::\"x\"").contains("whole segment"));
        assert!(err("G T", "/o", "a", "O::\"x\"").contains("not an HTTP method"));
        assert!(err("GET", "/o", "a", "O::x").contains("must be quoted"));
        assert!(err("GET", "/o", "a", "not a type::\"x\"").contains("route resource type"));
    }

    fn table(allow_encoded_slash: bool) -> RouteTable {
        let mut files = Route::new(
            "GET",
            "/files/{path*}",
            "readFile",
            "File::\"{path}\"",
            false,
        )
        .unwrap();
        files.allow_encoded_slash = allow_encoded_slash;
        let mut order = Route::new(
            "GET",
            "/t/{tenant}/orders/{id}",
            "viewOrder",
            "Order::\"{tenant}/{id}\"",
            false,
        )
        .unwrap();
        order.allow_encoded_slash = allow_encoded_slash;
        RouteTable {
            routes: vec![order, files],
        }
    }

    #[test]
    fn parameters_are_decoded_and_ambiguous_paths_refused() {
        let t = table(false);
        let m = t.find("GET", "/t/acm%65/orders/1").unwrap().unwrap();
        assert_eq!(
            m.route.resource_uid(&m.params).to_string(),
            r#"Order::"acme/1""#
        );
        // A parameter's value is not a template: `{tenant}` as the id
        // stays that text (it once became the tenant's value).
        let m = t
            .find("GET", "/t/acme/orders/%7Btenant%7D")
            .unwrap()
            .unwrap();
        assert_eq!(
            m.route.resource_uid(&m.params).to_string(),
            r#"Order::"acme/{tenant}""#
        );
        for bad in [
            "/t/acme%2Fx/orders/1",
            "/t/acme/orders/..%2fglobex%2f1",
            "/t/acme%5cx/orders/1",
            "/files/a%2F..%2Fb",
        ] {
            assert!(
                t.find("GET", bad).unwrap_err().contains("encoded `/`"),
                "{bad}"
            );
        }
        for bad in [
            "/t/acme/../globex/orders/1",
            "/t/./orders/1",
            "/files/a/%2e%2E/secret",
            "/files/.%2e",
        ] {
            assert!(
                t.find("GET", bad).unwrap_err().contains("dot segment"),
                "{bad}"
            );
        }
        assert!(
            t.find("GET", "/files/%zz")
                .unwrap_err()
                .contains("two hex digits")
        );
        assert!(t.find("GET", "/files/%ff").unwrap_err().contains("UTF-8"));
        assert!(
            t.find("GET", "/files/a%0Ab")
                .unwrap_err()
                .contains("control")
        );
        assert!(
            t.find("GET", "files/a")
                .unwrap_err()
                .contains("start with `/`")
        );
        // A route that allows it gets the decoded value.
        let t = table(true);
        let m = t.find("GET", "/files/a%2Fb/c").unwrap().unwrap();
        assert_eq!(m.params["path"], "a/b/c");
        assert!(
            t.find("GET", "/files/%2e%2e").is_err(),
            "dot segments stay refused"
        );
    }
}
