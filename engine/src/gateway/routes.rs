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
    /// The action id (`viewOrder` for `Action::"viewOrder"`).
    pub action: String,
    /// `Order::"{id}"`: the type and the id template.
    resource_type: EntityTypeName,
    resource_id: String,
    /// No credentials needed.
    pub public: bool,
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
            rest = after.get(close + 1..).unwrap_or_default();
        }
        Ok(Route {
            method,
            template: path.to_owned(),
            segments,
            action: action.to_owned(),
            resource_type,
            resource_id: id.to_owned(),
            public,
        })
    }

    fn matches(&self, method: &str, path: &str) -> Option<BTreeMap<String, String>> {
        if self.method != "*" && !self.method.eq_ignore_ascii_case(method) {
            return None;
        }
        let mut params = BTreeMap::new();
        let mut parts = path.split('/').skip(1);
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Rest(name) => {
                    let rest: Vec<&str> = path.split('/').skip(1 + i).collect();
                    params.insert(name.clone(), rest.join("/"));
                    return Some(params);
                }
                Segment::Literal(l) => {
                    if parts.next()? != l {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    let value = parts.next().filter(|v| !v.is_empty())?;
                    params.insert(name.clone(), value.to_owned());
                }
            }
        }
        parts.next().is_none().then_some(params)
    }

    /// The Cedar action.
    pub fn action_uid(&self) -> EntityUid {
        crate::policies::uid("Action", &self.action)
    }

    /// The Cedar resource for these parameters.
    pub fn resource_uid(&self, params: &BTreeMap<String, String>) -> EntityUid {
        let mut id = self.resource_id.clone();
        for (name, value) in params {
            id = id.replace(&format!("{{{name}}}"), value);
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
    pub fn find(&self, method: &str, path: &str) -> Option<Matched<'_>> {
        self.routes.iter().find_map(|route| {
            route
                .matches(method, path)
                .map(|params| Matched { route, params })
        })
    }
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
        let m = t.find("GET", "/orders/42").unwrap();
        assert_eq!(m.route.action, "viewOrder");
        assert_eq!(
            m.route.resource_uid(&m.params).to_string(),
            r#"Order::"42""#
        );
        assert_eq!(
            t.find("GET", "/orders/export").unwrap().route.action,
            "exportOrders"
        );
        assert!(t.find("POST", "/orders/42").is_none());
        assert!(t.find("GET", "/orders/42/items").is_none());
        assert!(t.find("GET", "/orders/").is_none());
        let f = t.find("DELETE", "/files/a/b.txt").unwrap();
        assert_eq!(
            f.route.resource_uid(&f.params).to_string(),
            r#"File::"a/b.txt""#
        );
        assert!(t.find("GET", "/").unwrap().route.public);
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
}
