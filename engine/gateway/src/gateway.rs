//! A bundle's `[gateway]` table built: the route table, the token
//! verifier and the rate limits, and how a request is identified and
//! turned into Cedar inputs.

use crate::config::{GatewaySection, JwtSection};
use crate::http::{HttpDecision, HttpOutcome, HttpRequest};
use crate::jwt::{self, Claims, Verified, Verifier};
use crate::limit::{Buckets, RateLimit, Which};
use crate::routes::{Route, RouteTable};
use crate::{jwks, keys};
use cedar_policy::{EntityTypeName, EntityUid, RestrictedExpression};
use palisade_engine::values::Val;
use palisade_engine::{Decision, Now};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

/// One thing wrong with `[gateway]`: what is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SectionProblem {
    /// The table or key it is about.
    pub at: At,
    /// What is wrong.
    pub message: String,
}

/// A place in `[gateway]`, which the extension turns into a line of
/// `palisade.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At {
    /// A key of `[gateway]` itself.
    Key(&'static str),
    /// `[gateway.jwt]`, or one of its keys.
    Jwt(Option<&'static str>),
    /// The i-th `[[gateway.route]]` (from 0), or one of its keys.
    Route(usize, Option<&'static str>),
    /// The i-th `[[gateway.rate_limit]]` (from 0), or one of its keys.
    RateLimit(usize, Option<&'static str>),
}

impl SectionProblem {
    fn new(at: At, message: impl Into<String>) -> SectionProblem {
        SectionProblem {
            at,
            message: message.into(),
        }
    }
}

/// A bundle's compiled gateway configuration.
#[derive(Debug, Clone)]
pub(crate) struct Gateway {
    routes: RouteTable,
    verifier: Option<Verifier>,
    principal_type: EntityTypeName,
    groups_claim: String,
    roles_claim: String,
    scope_claim: String,
    tenant_claim: String,
    pub(crate) rate_limits: Vec<RateLimit>,
    /// The route table's actions, each once: a principal's kept store
    /// holds them, so that it serves a request on any route.
    actions: Vec<EntityUid>,
}

impl Gateway {
    /// Compiles `[gateway]`; `read` reads a bundle file. Errors name what
    /// is wrong.
    pub(crate) fn new(
        section: &GatewaySection,
        read: &mut dyn FnMut(&str) -> Result<String, String>,
    ) -> Result<Gateway, Vec<SectionProblem>> {
        let mut problems = Vec::new();
        let mut table = RouteTable::default();
        for (i, r) in section.routes.iter().enumerate() {
            match Route::new(
                r.method.as_deref().unwrap_or("*"),
                &r.path,
                &r.action,
                &r.resource,
                r.public,
            ) {
                Ok(mut route) => {
                    route.allow_encoded_slash = r.allow_encoded_slash;
                    // Routes match in order: one that an earlier route
                    // takes every request of would never decide anything.
                    if let Some(j) = table.routes.iter().position(|t| {
                        t.template == route.template
                            && (t.method == "*" || t.method == route.method)
                    }) {
                        problems.push(SectionProblem::new(
                            At::Route(i, None),
                            format!(
                                "[[gateway.route]] {} (`{} {}`) never matches: route {} (`{} {}`) comes first and takes its requests",
                                i + 1,
                                route.method,
                                route.template,
                                j + 1,
                                table.routes.get(j).map_or("", |t| t.method.as_str()),
                                route.template,
                            ),
                        ));
                    }
                    table.routes.push(route);
                }
                Err(e) => problems.push(SectionProblem::new(
                    At::Route(i, None),
                    format!("[[gateway.route]] {}: {e}", i + 1),
                )),
            }
        }
        let principal_type = section.principal_type.as_deref().unwrap_or("User");
        let principal_type = EntityTypeName::from_str(principal_type).unwrap_or_else(|e| {
            problems.push(SectionProblem::new(
                At::Key("principal_type"),
                format!("gateway.principal_type `{principal_type}`: {e}"),
            ));
            palisade_engine::values::known_type("User")
        });
        let jwt = section.jwt.as_ref();
        let verifier = jwt.and_then(|j| {
            let algorithms: Result<Vec<_>, String> = j
                .algorithms
                .clone()
                .unwrap_or_else(|| vec!["RS256".into(), "ES256".into(), "EdDSA".into()])
                .iter()
                .map(|a| jwt::algorithm(a))
                .collect();
            let algorithms = match algorithms {
                Ok(a) => a,
                Err(e) => {
                    problems.push(SectionProblem::new(
                        At::Jwt(Some("algorithms")),
                        format!("gateway.jwt.algorithms: {e}"),
                    ));
                    return None;
                }
            };
            let keys = match jwt_keys(j, read) {
                Ok(k) => k,
                Err(e) => {
                    problems.push(e);
                    return None;
                }
            };
            Verifier::new(
                keys,
                j.issuers.clone(),
                j.audiences.clone(),
                algorithms,
                j.leeway_seconds.unwrap_or(60),
            )
            .map_err(|e| {
                problems.push(SectionProblem::new(
                    At::Jwt(Some("leeway_seconds")),
                    format!("gateway.jwt: {e}"),
                ))
            })
            .ok()
        });
        for (i, l) in section.rate_limits.iter().enumerate() {
            if !(l.rate >= 0.0 && l.rate.is_finite()) || l.burst == 0 {
                problems.push(SectionProblem::new(
                    At::RateLimit(i, Some(if l.burst == 0 { "burst" } else { "rate" })),
                    format!(
                        "[[gateway.rate_limit]] {}: rate must be a number >= 0 and burst at least 1",
                        i + 1
                    ),
                ));
            }
            if let Some(r) = &l.route
                && !table.routes.iter().any(|t| &t.template == r)
            {
                problems.push(SectionProblem::new(
                    At::RateLimit(i, Some("route")),
                    format!(
                        "[[gateway.rate_limit]] {}: route `{r}` is not in the route table",
                        i + 1
                    ),
                ));
            }
        }
        let claim = |c: Option<&String>, d: &str| c.cloned().unwrap_or_else(|| d.to_owned());
        if problems.is_empty() {
            let mut actions: Vec<EntityUid> = table
                .routes
                .iter()
                .map(|r| r.action_uid().clone())
                .collect();
            actions.sort();
            actions.dedup();
            Ok(Gateway {
                actions,
                routes: table,
                verifier,
                principal_type,
                groups_claim: claim(jwt.and_then(|j| j.groups_claim.as_ref()), "groups"),
                roles_claim: claim(jwt.and_then(|j| j.roles_claim.as_ref()), "roles"),
                scope_claim: claim(jwt.and_then(|j| j.scope_claim.as_ref()), "scope"),
                tenant_claim: claim(jwt.and_then(|j| j.tenant_claim.as_ref()), "tenant"),
                rate_limits: section.rate_limits.clone(),
            })
        } else {
            Err(problems)
        }
    }
}

/// Where `[gateway.jwt]` takes its keys from: the bundle's JWKS file or
/// the identity provider's URL. The error names the setting that is wrong.
fn jwt_keys(
    j: &JwtSection,
    read: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<jwt::Keys, SectionProblem> {
    match (&j.jwks, &j.jwks_url) {
        (Some(file), None) => {
            let text = read(file).map_err(|why| {
                SectionProblem::new(At::Jwt(Some("jwks")), format!("gateway.jwt.jwks: {why}"))
            })?;
            let keys = keys::KeySet::parse(&text).map_err(|e| {
                SectionProblem::new(At::Jwt(Some("jwks")), format!("gateway.jwt ({file}): {e}"))
            })?;
            Ok(jwt::Keys::Fixed(std::sync::Arc::new(keys)))
        }
        (None, Some(url)) => {
            jwks::check_url(url).map_err(|e| {
                SectionProblem::new(
                    At::Jwt(Some("jwks_url")),
                    format!("gateway.jwt.jwks_url {e}"),
                )
            })?;
            if !cfg!(feature = "jwks-http") {
                return Err(SectionProblem::new(
                    At::Jwt(Some("jwks_url")),
                    format!(
                        "gateway.jwt.jwks_url `{url}`: this build cannot fetch keys (palisade-gateway's `jwks-http` feature is off)"
                    ),
                ));
            }
            let refresh = j
                .jwks_refresh_seconds
                .unwrap_or(jwks::DEFAULT_REFRESH_SECONDS);
            if !(1..=86_400).contains(&refresh) {
                return Err(SectionProblem::new(
                    At::Jwt(Some("jwks_refresh_seconds")),
                    format!("gateway.jwt.jwks_refresh_seconds `{refresh}` must be from 1 to 86400"),
                ));
            }
            Ok(jwt::Keys::Remote(std::sync::Arc::new(
                jwks::RemoteKeys::new(url, refresh),
            )))
        }
        (Some(file), Some(url)) => Err(SectionProblem::new(
            At::Jwt(Some("jwks_url")),
            format!(
                "gateway.jwt: `jwks` (`{file}`) and `jwks_url` (`{url}`) are both set; keep one"
            ),
        )),
        (None, None) => Err(SectionProblem::new(
            At::Jwt(None),
            "gateway.jwt: set `jwks` (a JWK set file of the bundle) or `jwks_url` (your identity provider's)",
        )),
    }
}

/// Everything known about the caller before Cedar decides.
pub(crate) struct Identified<'b> {
    pub route: &'b Route,
    pub params: BTreeMap<String, String>,
    pub principal: EntityUid,
    /// The principal, printed once for the rate limit and the answer.
    pub principal_text: String,
    /// The route's resource for these parameters.
    pub resource: EntityUid,
    pub claims: Option<Arc<Verified>>,
}

/// What a bundle derives from a verified token, once per token: the
/// principal's entity (claims merged with the bundle's entity of that
/// uid), the entities the context names (the token, by its `jti`), and the
/// entity store of a request by this principal.
pub(crate) struct Principal {
    entity: Option<cedar_policy::Entity>,
    refs: Vec<EntityUid>,
    /// The store of the entity, of what the policies name and of what
    /// both reach; `None` when it holds more than
    /// [`palisade_engine::KEPT_STORE_ENTITIES`] (built per request then, so
    /// that the token cache does not hold 10,000 copies of a large graph).
    store: Option<Result<cedar_policy::Entities, String>>,
    token: TokenRecord,
}

/// The context's `token` record of one token, but `age`, which depends on
/// `now`.
struct TokenRecord {
    fields: Vec<(&'static str, Val)>,
    /// When the caller authenticated (`auth_time`, else `iat`): `age` is
    /// counted from it.
    since: Option<i64>,
}

impl TokenRecord {
    /// The record at `now`.
    fn at(&self, now: Now) -> Val {
        let age = self
            .since
            .map(|since| ("age", Val::long(now.unix_seconds().saturating_sub(since))));
        Val::record(self.fields.iter().cloned().chain(age))
    }
}

impl Principal {
    fn new(
        entity: Option<cedar_policy::Entity>,
        refs: Vec<EntityUid>,
        bundle: &palisade_engine::Bundle,
        token: TokenRecord,
    ) -> Principal {
        let store = entity.as_ref().and_then(|e| {
            match bundle.entities_with(vec![e.clone()], refs.iter().cloned()) {
                Ok(s) if s.len() > palisade_engine::KEPT_STORE_ENTITIES => None,
                Ok(s) => Some(Ok(s)),
                Err(e) => Some(Err(palisade_engine::full_message(&*e))),
            }
        });
        Principal {
            entity,
            refs,
            store,
            token,
        }
    }

    /// The entity store of a request about `action` and `resource`: the
    /// cached store when neither names a bundle entity it lacks (what a
    /// store built for this request would hold), else one built now.
    /// The bundle's own store when the principal has no entity. The error
    /// is Cedar's, when the entities do not make a valid store.
    pub(crate) fn store<'a>(
        &'a self,
        bundle: &'a palisade_engine::Bundle,
        action: &EntityUid,
        resource: &EntityUid,
    ) -> Result<Cow<'a, cedar_policy::Entities>, String> {
        let Some(entity) = &self.entity else {
            return Ok(Cow::Borrowed(bundle.entities()));
        };
        if let Some(store) = &self.store {
            let store = store.as_ref().map_err(Clone::clone)?;
            if bundle.store_serves(store, [action, resource]) {
                return Ok(Cow::Borrowed(store));
            }
        }
        let roots = self.refs.iter().cloned();
        bundle
            .entities_with(
                vec![entity.clone()],
                roots.chain([action.clone(), resource.clone()]),
            )
            .map(Cow::Owned)
            .map_err(|e| palisade_engine::full_message(&*e))
    }
}

/// Strings of a claim that is a list or a space-separated string.
fn claim_strings(claims: &Claims, name: &str) -> Vec<String> {
    match claims.get(name) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// `amr` values that mean a second factor (RFC 8176).
const MFA_METHODS: [&str; 6] = ["mfa", "otp", "hwk", "swk", "sms", "sc"];

impl Gateway {
    /// Route, credentials and rate limits: who calls what. `Err` is the
    /// early answer.
    ///
    /// Rate limits are taken before any signature check: an anonymous
    /// caller, and a token not verified before, pay from the client
    /// address's buckets (so a flood of bad tokens gets 429 and costs no
    /// signature check); a verified principal then pays from its own.
    pub(crate) async fn identify<'b>(
        &'b self,
        req: &HttpRequest,
        now: Now,
        buckets: Option<Buckets<'_>>,
        namespace: &str,
    ) -> Result<Identified<'b>, Box<HttpDecision>> {
        let m = self.find(req)?;
        let route = m.route;
        let limit = async |key: &str, which: Which| match buckets {
            Some(b) => b
                .take(namespace, key, &route.template, which)
                .await
                .map_err(|wait| {
                    let mut d = rate_limited(wait);
                    d.route = Some(route.template.clone());
                    Box::new(d)
                }),
            None => Ok(()),
        };
        let mut paid = false;
        let claims = match (req.bearer(), &self.verifier) {
            (Some(token), Some(v)) => Some(
                match v.verify_cached(token, now) {
                    Some(verified) => verified,
                    None => {
                        // Limits on the client address, and on the route.
                        limit(&anonymous(req).to_string(), Which::Unverified).await?;
                        paid = true;
                        v.verify(token, now)
                    }
                }
                .map_err(|e| unauthenticated(e.0, route))?,
            ),
            (Some(_), None) => {
                return Err(unauthenticated(
                    "the bundle accepts no bearer tokens".into(),
                    route,
                ));
            }
            (None, _) => None,
        };
        let who = self.identified(m, req, claims)?;
        let which = if paid { Which::Principal } else { Which::All };
        let rate = limit(&who.principal_text, which).await;
        match rate {
            Ok(()) => Ok(who),
            Err(d) => Err(Box::new(describe(*d, &who))),
        }
    }

    /// The route of a request; a path that does not name one route
    /// exactly is a 400, no route a 403.
    fn find(&self, req: &HttpRequest) -> Result<crate::routes::Matched<'_>, Box<HttpDecision>> {
        match self.routes.find(&req.method, &req.path) {
            Ok(Some(m)) => Ok(m),
            Ok(None) => Err(Box::new(no_route())),
            Err(why) => Err(Box::new(HttpDecision::early(HttpOutcome::BadRequest, why))),
        }
    }

    /// Like [`Gateway::identify`], with claims taken as verified (policy
    /// tests); `None` is an anonymous caller.
    pub(crate) fn identify_as<'b>(
        &'b self,
        req: &HttpRequest,
        claims: Option<Claims>,
    ) -> Result<Identified<'b>, Box<HttpDecision>> {
        let m = self.find(req)?;
        self.identified(m, req, claims.map(|c| Arc::new(Verified::new(c))))
    }

    /// The principal of a matched request: the token's subject, or an
    /// anonymous caller named by its address.
    fn identified<'b>(
        &'b self,
        m: crate::routes::Matched<'b>,
        req: &HttpRequest,
        claims: Option<Arc<Verified>>,
    ) -> Result<Identified<'b>, Box<HttpDecision>> {
        let principal = match &claims {
            Some(c) => {
                let sub = c
                    .get("sub")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        unauthenticated("the token has no subject (`sub`)".into(), m.route)
                    })?;
                EntityUid::from_type_name_and_id(
                    self.principal_type.clone(),
                    cedar_policy::EntityId::new(sub),
                )
            }
            None => anonymous(req),
        };
        Ok(Identified {
            resource: m.route.resource_uid(&m.params),
            route: m.route,
            params: m.params,
            principal_text: principal.to_string(),
            principal,
            claims,
        })
    }

    /// The principal entity (claims merged with the bundle's entity of the
    /// same uid) and the Cedar context, without plugin facts.
    pub(crate) fn context(
        &self,
        who: &Identified<'_>,
        req: &HttpRequest,
        now: Now,
        principal: Option<&Principal>,
    ) -> Vec<(&'static str, Val)> {
        let s = Val::string;
        let mut context = vec![
            ("now", Val::long(now.unix_seconds())),
            (
                "request",
                Val::record([
                    ("method", s(&req.method)),
                    ("path", s(&req.path)),
                    ("host", s(req.header_value("host").unwrap_or(""))),
                    ("client", s(req.client.as_deref().unwrap_or(""))),
                ]),
            ),
            ("route", who.route.record()),
            (
                "params",
                Val::record(who.params.iter().map(|(k, v)| (k, s(v)))),
            ),
            ("authenticated", Val::bool(who.claims.is_some())),
        ];
        if let Some(p) = principal {
            context.push(("token", p.token.at(now)));
        }
        context
    }

    /// The context's `token` record of `claims`.
    fn token_record(&self, claims: &Claims) -> TokenRecord {
        let s = Val::string;
        let strings = |v: Vec<String>| Val::set(v.iter().map(|x| s(x)));
        let mut scopes = claim_strings(claims, &self.scope_claim);
        scopes.extend(claim_strings(claims, "scp"));
        let amr = claim_strings(claims, "amr");
        let mfa = amr.iter().any(|m| MFA_METHODS.contains(&m.as_str()));
        let time = |name: &str| claims.get(name).and_then(jwt::numeric_date);
        let since = time("auth_time").or_else(|| time("iat"));
        let tenant = claims.get(&self.tenant_claim).and_then(Value::as_str);
        let mut token = vec![
            ("scopes", strings(scopes)),
            ("amr", strings(amr)),
            ("mfa", Val::bool(mfa)),
            (
                "issuer",
                s(claims.get("iss").and_then(Value::as_str).unwrap_or("")),
            ),
        ];
        if let Some(at) = time("auth_time") {
            token.push(("auth_time", Val::long(at)));
        }
        if let Some(token_uid) = token_uid(claims) {
            token.push(("id", Val::entity(&token_uid)));
        }
        if let Some(t) = tenant {
            token.push(("tenant", s(t)));
        }
        TokenRecord {
            fields: token,
            since,
        }
    }

    /// What `bundle` (this gateway's) derives from a caller's verified
    /// token; see [`Principal`].
    pub(crate) fn principal(
        &self,
        who: &Identified<'_>,
        claims: &Claims,
        bundle: &palisade_engine::Bundle,
    ) -> Principal {
        let s = |v: &str| RestrictedExpression::new_string(v.to_owned());
        let tenant = claims.get(&self.tenant_claim).and_then(Value::as_str);
        let mut parents: HashSet<EntityUid> = HashSet::new();
        for g in claim_strings(claims, &self.groups_claim) {
            parents.insert(palisade_engine::values::uid("Group", &g));
        }
        for r in claim_strings(claims, &self.roles_claim) {
            parents.insert(palisade_engine::values::uid("Role", &r));
        }
        let mut attrs = std::collections::HashMap::new();
        if let Some(t) = tenant {
            attrs.insert("tenant".to_owned(), s(t));
        }
        if let Some(known) = bundle.entities().get(&who.principal) {
            let (_, known_attrs, known_parents) = known.clone().into_inner();
            parents.extend(known_parents);
            for (k, v) in known_attrs {
                attrs.insert(k, v);
            }
        }
        let entity = cedar_policy::Entity::new(who.principal.clone(), attrs, parents).ok();
        // Entities the context names, for the request's entity store, and
        // the routes' actions: without them, a request whose action is a
        // bundle entity (an action group's member) would need a store of
        // its own each time.
        let refs = token_uid(claims)
            .into_iter()
            .chain(self.actions.iter().cloned())
            .collect();
        Principal::new(entity, refs, bundle, self.token_record(claims))
    }

    /// See [`fetch_remote_keys`].
    pub(crate) fn fetch_remote_keys(&self) -> Result<(), crate::jwks::KeysError> {
        self.verifier
            .as_ref()
            .map_or(Ok(()), Verifier::fetch_remote_keys)
    }

    /// The document plugins of kind `request` evaluate.
    pub(crate) fn plugin_input(req: &HttpRequest, route: Option<&str>) -> String {
        req.to_json(route).to_string()
    }
}

/// The entity of the token itself (`Token::"<jti>"`), when it has an id.
fn token_uid(claims: &Claims) -> Option<EntityUid> {
    let jti = claims.get("jti").and_then(Value::as_str)?;
    Some(palisade_engine::values::uid("Token", jti))
}

/// The principal of a caller without a token: its client address.
fn anonymous(req: &HttpRequest) -> EntityUid {
    palisade_engine::values::uid("Anonymous", req.client.as_deref().unwrap_or("anonymous"))
}

/// Fills an early or Cedar-based answer with what was identified.
pub(crate) fn describe(mut d: HttpDecision, who: &Identified<'_>) -> HttpDecision {
    d.principal = Some(who.principal_text.clone());
    d.route = Some(who.route.template.clone());
    d.action = Some(who.route.action_text().to_owned());
    d.resource = Some(who.resource.to_string());
    d.token_id = who
        .claims
        .as_ref()
        .and_then(|c| c.get("jti"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    d
}

/// The answer for a Cedar decision about `who`. An anonymous caller of a
/// route that is not public gets 401 whatever Cedar says (fail closed),
/// with Cedar's findings attached.
pub(crate) fn answer(decision: Decision, who: &Identified<'_>) -> HttpDecision {
    let mut d = from_decision(decision);
    if who.claims.is_none() && !who.route.public {
        d.status = 401;
        d.outcome = HttpOutcome::Unauthenticated;
        d.reason = "missing-token".into();
    }
    describe(d, who)
}

/// The answer for a Cedar decision.
pub(crate) fn from_decision(decision: Decision) -> HttpDecision {
    let allowed = decision.is_allowed();
    let reason = if allowed {
        "allowed".to_owned()
    } else {
        let mut ids: Vec<String> = decision
            .findings
            .iter()
            .filter(|f| f.suppressed.is_none())
            .map(|f| f.rule_id.clone())
            .collect();
        if ids.is_empty() {
            ids.clone_from(&decision.reasons);
        }
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            decision.basis.describe().to_owned()
        } else {
            ids.join(",")
        }
    };
    let mut d = HttpDecision::early(
        if allowed {
            HttpOutcome::Allow
        } else {
            HttpOutcome::Forbidden
        },
        reason,
    );
    d.decision = Some(decision);
    d
}

/// A 401 on a matched route.
fn unauthenticated(reason: String, route: &Route) -> Box<HttpDecision> {
    let mut d = HttpDecision::early(HttpOutcome::Unauthenticated, reason);
    d.route = Some(route.template.clone());
    Box::new(d)
}

/// The answer when no route matches (or the bundle has no route table).
pub(crate) fn no_route() -> HttpDecision {
    HttpDecision::early(HttpOutcome::Forbidden, "no-route")
}

/// The rate-limit answer.
pub(crate) fn rate_limited(retry_after: u64) -> HttpDecision {
    let mut d = HttpDecision::early(HttpOutcome::RateLimited, "rate-limited");
    d.retry_after = Some(retry_after);
    d
}
