//! The attribute index: inside one scope slice, the policies a request
//! need not evaluate because a test at the front of their conditions is
//! certainly false.
//!
//! Cedar evaluates a policy's scope, then its `when`/`unless` clauses in
//! order, each a left-to-right, short-circuiting `&&`. So a policy is false
//! **without error** when some test at the front of that chain is false and
//! every test before it evaluates without error. Skipping such a policy
//! changes nothing in the answer: not the decision, not the reasons, not the
//! errors. The tests this module understands are:
//!
//! - `path == literal` (either order), where the path is `principal`,
//!   `resource`, or an attribute path from `principal`, `resource` or
//!   `context` through records, and the literal is a string, integer,
//!   boolean or entity. Its value is read from the request; when the entity
//!   or an attribute is missing, or the value is not concrete, Cedar would
//!   raise an error there, so the policy is **kept** and Cedar reports it.
//!   A value of another type is unequal without error, as in Cedar.
//! - `principal in E` / `resource in E` with a literal entity, and the
//!   scope's `principal == E` / `in E`: these never raise an error.
//! - `var has a.b`: never raises an error, so it may stand before a test.
//! - `path like "pattern"`: false without error when the path's value is a
//!   string the pattern does not match (Cedar's own matcher); an error,
//!   so the policy is kept, when the value is missing or not a string.
//! - `a || b || ...` of `==` and `like` tests: false without error when
//!   each is, in order; true as soon as one is true (Cedar evaluates no
//!   further); kept when one before the first true one would err.
//!
//! A policy's *key* is the `==` or `in` test of its chain that splits the
//! slice finest (the one whose path carries the most distinct literals,
//! the first on ties); policies are bucketed by key, so a request looks at
//! the buckets its values select instead of at every policy, then checks
//! the rest of each candidate's chain. A policy with an `==` test on the
//! same path before its key is also a candidate when that path's value is
//! unknown, so its error is still reported. Keys are taken from the tests
//! before the first `like` or `||`. A policy without a key whose chain
//! holds a `like` or `||` test (a forbid on a path prefix, a host) is
//! checked on every request and skipped when its chain is certainly false;
//! other policies without a key are evaluated on every request.

use crate::cedar_core::{Prepared, authorize};
use cedar_policy::pst;
use cedar_policy::{
    Entities, EntityId, EntityTypeName, EntityUid, Policy, PrincipalConstraint, Request,
    ResourceConstraint, Response,
};
use cedar_policy_core::ast;
use cedar_policy_core::entities::Dereference;
use ref_cast::RefCast;
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, RwLock};

/// Where a test's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Root {
    Principal,
    Resource,
    Context,
}

/// `principal`, `resource.dept`, `context.token.iss`, ...
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Path {
    root: Root,
    attrs: Vec<String>,
}

/// A literal a test compares with; the value kinds whose equality in Cedar
/// is plain equality.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Bool(bool),
    Long(i64),
    String(String),
    Entity(EntityUid),
}

/// One test at the front of a policy's condition chain.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Test<P> {
    /// `path == literal`: an error when the path does not resolve.
    Eq(P, Key),
    /// `principal in E` or `resource in E`: never an error.
    In(Root, EntityUid),
    /// `var has a`: never an error; its value does not matter here.
    Guard,
    /// `path like pattern`: an error when the path does not resolve to a
    /// string.
    Like(P, ast::Pattern),
    /// `a || b || ...`, each an `Eq` or a `Like`.
    Any(Vec<Test<P>>),
}

/// The tests at the front of a policy, in evaluation order: the scope's
/// entity constraints, then the leading conjuncts of its conditions up to
/// the first that is not a test this module understands.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chain(Vec<Test<Path>>);

impl Chain {
    pub(crate) fn of(policy: &Policy) -> Chain {
        // The scope: `== E` is an equality test of the variable itself.
        let var = |root| Path {
            root,
            attrs: Vec::new(),
        };
        let principal = match policy.principal_constraint() {
            PrincipalConstraint::Eq(e) => Some(Test::Eq(var(Root::Principal), Key::Entity(e))),
            PrincipalConstraint::In(e) | PrincipalConstraint::IsIn(_, e) => {
                Some(Test::In(Root::Principal, e))
            }
            PrincipalConstraint::Any | PrincipalConstraint::Is(_) => None,
        };
        let resource = match policy.resource_constraint() {
            ResourceConstraint::Eq(e) => Some(Test::Eq(var(Root::Resource), Key::Entity(e))),
            ResourceConstraint::In(e) | ResourceConstraint::IsIn(_, e) => {
                Some(Test::In(Root::Resource, e))
            }
            ResourceConstraint::Any | ResourceConstraint::Is(_) => None,
        };
        let mut tests: Vec<Test<Path>> = principal.into_iter().chain(resource).collect();
        // Linked policies' conditions may name slots; bundles have none,
        // and their scope tests above are already exact. Cedar builds the
        // tree recursively, so a policy too deep to read safely keeps its
        // scope tests only (Cedar evaluates it, with its own depth limit).
        if shallow(policy)
            && let Ok(pst::Policy::Static(p)) = policy.to_pst()
        {
            'clauses: for clause in p.body().clauses() {
                let pst::Clause::When(body) = clause else {
                    break;
                };
                let mut conjuncts = Vec::new();
                flatten(body, pst::BinaryOp::And, &mut conjuncts);
                for c in conjuncts {
                    match test_of(c) {
                        Some(t) => tests.push(t),
                        None => break 'clauses,
                    }
                }
            }
        }
        // Trailing guards decide nothing.
        while tests.last() == Some(&Test::Guard) {
            tests.pop();
        }
        Chain(tests)
    }

    /// The tests a key may be taken from: those before the first `like`
    /// or `||`.
    fn keyed(&self) -> &[Test<Path>] {
        let end = self
            .0
            .iter()
            .position(|t| matches!(t, Test::Like(..) | Test::Any(_)))
            .unwrap_or(self.0.len());
        self.0.get(..end).unwrap_or_default()
    }

    /// Whether the chain has a key to bucket the policy by.
    fn has_key(&self) -> bool {
        self.keyed()
            .iter()
            .any(|t| matches!(t, Test::Eq(..) | Test::In(..)))
    }

    /// Whether the chain holds a test only a whole check of it uses.
    fn filters(&self) -> bool {
        self.0.len() > self.keyed().len()
    }
}

/// Most operators a policy's text may hold for its conditions to be read.
const MAX_OPERATORS: usize = 128;

/// Whether a policy's expression tree is certainly shallow enough to walk:
/// each level of the tree is an operator, and each operator shows in the
/// text as one of these characters or words (counted in strings too, which
/// only errs on the safe side).
fn shallow(policy: &Policy) -> bool {
    let Some(text) = policy.to_cedar() else {
        return false;
    };
    let symbols = text
        .bytes()
        .filter(|b| b"&|!=<>+-*.([{,".contains(b))
        .count();
    let words = text
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| matches!(*w, "if" | "in" | "has" | "like" | "is"))
        .count();
    symbols + words <= MAX_OPERATORS
}

/// The operands of `a && b && c` (or of `||`) in evaluation order,
/// however nested; without recursion, so a policy of thousands of
/// conjuncts cannot overflow the stack.
fn flatten<'e>(e: &'e pst::Expr, op: pst::BinaryOp, out: &mut Vec<&'e pst::Expr>) {
    let mut todo = vec![e];
    while let Some(e) = todo.pop() {
        match e {
            pst::Expr::BinaryOp { op: o, left, right } if *o == op => {
                todo.push(right);
                todo.push(left);
            }
            other => out.push(other),
        }
    }
}

fn test_of(e: &pst::Expr) -> Option<Test<Path>> {
    match e {
        pst::Expr::BinaryOp {
            op: pst::BinaryOp::Eq,
            left,
            right,
        } => match (path_of(left), key_of(right)) {
            (Some(p), Some(k)) => Some(Test::Eq(p, k)),
            _ => match (key_of(left), path_of(right)) {
                (Some(k), Some(p)) => Some(Test::Eq(p, k)),
                _ => None,
            },
        },
        pst::Expr::BinaryOp {
            op: pst::BinaryOp::In,
            left,
            right,
        } => {
            let root = match &**left {
                pst::Expr::Var(pst::Var::Principal) => Root::Principal,
                pst::Expr::Var(pst::Var::Resource) => Root::Resource,
                _ => return None,
            };
            match key_of(right)? {
                Key::Entity(e) => Some(Test::In(root, e)),
                _ => None,
            }
        }
        // `has` on a variable looks at an entity or a record: never an error.
        pst::Expr::HasAttr { expr, .. } if matches!(&**expr, pst::Expr::Var(_)) => {
            Some(Test::Guard)
        }
        pst::Expr::Like { expr, pattern } => {
            let pattern = pattern.iter().map(|p| match p {
                pst::PatternElem::Char(c) => ast::PatternElem::Char(*c),
                pst::PatternElem::Wildcard => ast::PatternElem::Wildcard,
            });
            Some(Test::Like(path_of(expr)?, ast::Pattern::from_iter(pattern)))
        }
        pst::Expr::BinaryOp {
            op: pst::BinaryOp::Or,
            ..
        } => {
            let mut operands = Vec::new();
            flatten(e, pst::BinaryOp::Or, &mut operands);
            let tests = operands.into_iter().map(|o| match o {
                pst::Expr::BinaryOp {
                    op: pst::BinaryOp::Eq,
                    ..
                }
                | pst::Expr::Like { .. } => test_of(o),
                _ => None,
            });
            Some(Test::Any(tests.collect::<Option<_>>()?))
        }
        _ => None,
    }
}

fn path_of(e: &pst::Expr) -> Option<Path> {
    let mut attrs = Vec::new();
    let mut e = e;
    loop {
        match e {
            pst::Expr::GetAttr { expr, attr } => {
                attrs.push(attr.to_string());
                e = expr;
            }
            pst::Expr::Var(v) => {
                let root = match v {
                    pst::Var::Principal => Root::Principal,
                    pst::Var::Resource => Root::Resource,
                    pst::Var::Context if !attrs.is_empty() => Root::Context,
                    _ => return None,
                };
                attrs.reverse();
                return Some(Path { root, attrs });
            }
            _ => return None,
        }
    }
}

fn key_of(e: &pst::Expr) -> Option<Key> {
    let pst::Expr::Literal(l) = e else {
        return None;
    };
    Some(match l {
        pst::Literal::Bool(b) => Key::Bool(*b),
        pst::Literal::Long(n) => Key::Long(*n),
        pst::Literal::String(s) => Key::String(s.to_string()),
        pst::Literal::EntityUID(uid) => Key::Entity(EntityUid::from_type_name_and_id(
            EntityTypeName::from_str(&uid.ty.to_string()).ok()?,
            EntityId::new(uid.eid.as_str()),
        )),
        _ => return None,
    })
}

/// What a request gives for a path.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    /// Evaluating the path raises an error (or its value is not concrete):
    /// the policy must be evaluated for Cedar to report it.
    Unknown,
    /// A value; `None` for one of a kind no literal here can equal.
    Known(Option<Key>),
}

fn value_of(path: &Path, request: &Request, entities: &Entities) -> Value {
    let uid = match path.root {
        Root::Principal => request.principal(),
        Root::Resource => request.resource(),
        Root::Context => None,
    };
    let Some((first, rest)) = path.attrs.split_first() else {
        return uid.map_or(Value::Unknown, |u| {
            Value::Known(Some(Key::Entity(u.clone())))
        });
    };
    // Cedar's own values, read in place: the API would convert each
    // record it passes through into a copy.
    let top = match path.root {
        Root::Context => {
            let q: &ast::Request = request.as_ref();
            match q.context() {
                Some(ast::Context::Value(record)) => record.get(first.as_str()),
                _ => None,
            }
        }
        Root::Principal | Root::Resource => {
            let store: &cedar_policy_core::entities::Entities = entities.as_ref();
            match uid.map(|u| store.entity(u.as_ref())) {
                Some(Dereference::Data(e)) => match e.get(first) {
                    Some(ast::PartialValue::Value(v)) => Some(v),
                    _ => None,
                },
                _ => None,
            }
        }
    };
    let Some(mut v) = top else {
        return Value::Unknown;
    };
    for attr in rest {
        // Through records only: an entity would be looked up again.
        let ast::ValueKind::Record(r) = v.value_kind() else {
            return Value::Unknown;
        };
        let Some(next) = r.get(attr.as_str()) else {
            return Value::Unknown;
        };
        v = next;
    }
    Value::Known(match v.value_kind() {
        ast::ValueKind::Lit(ast::Literal::Bool(b)) => Some(Key::Bool(*b)),
        ast::ValueKind::Lit(ast::Literal::Long(n)) => Some(Key::Long(*n)),
        ast::ValueKind::Lit(ast::Literal::String(s)) => Some(Key::String(s.to_string())),
        ast::ValueKind::Lit(ast::Literal::EntityUID(e)) => {
            Some(Key::Entity(EntityUid::ref_cast(e.as_ref()).clone()))
        }
        _ => None,
    })
}

/// `test` with its paths numbered in `paths` (added when new).
fn number(paths: &mut Vec<Path>, ids: &mut HashMap<Path, usize>, test: &Test<Path>) -> Test<usize> {
    let mut id = |p: &Path| {
        *ids.entry(p.clone()).or_insert_with(|| {
            paths.push(p.clone());
            paths.len() - 1
        })
    };
    match test {
        Test::Eq(p, k) => Test::Eq(id(p), k.clone()),
        Test::Like(p, pattern) => Test::Like(id(p), pattern.clone()),
        Test::In(root, e) => Test::In(*root, e.clone()),
        Test::Guard => Test::Guard,
        Test::Any(tests) => Test::Any(tests.iter().map(|t| number(paths, ids, t)).collect()),
    }
}

/// Which of `by_ancestor` a side uses.
fn side(root: Root) -> usize {
    usize::from(root == Root::Resource)
}

/// Whether `uid` is `target` or one of its descendants in `entities`.
fn is_in(uid: Option<&EntityUid>, target: &EntityUid, entities: &Entities) -> bool {
    uid.is_some_and(|u| {
        u == target
            || entities
                .ancestors(u)
                .is_some_and(|mut a| a.any(|x| x == target))
    })
}

/// What the index concludes about one policy for one request.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// False without error: skip it.
    Skip,
    /// Cedar must evaluate it.
    Keep,
}

/// A policy of a slice that has a key.
#[derive(Debug)]
struct Indexed {
    /// Position in the bundle's policy list.
    position: usize,
    chain: Vec<Test<usize>>,
}

/// The policies keyed on `path == literal` for one path: by literal, and
/// all of them (for when the path does not resolve).
type ByValue = (HashMap<Key, Vec<u32>>, Vec<u32>);

/// Past this many selections a slice builds the set for a request instead
/// of caching it.
const MAX_CACHED_SELECTIONS: usize = 1024;

/// One scope slice with its attribute index.
pub(crate) struct Slice {
    /// Policies with a key.
    indexed: Vec<Indexed>,
    /// The paths the indexed policies read (tests refer to them by number).
    paths: Vec<Path>,
    /// For each path, its policies keyed on `path == literal`.
    by_value: Vec<ByValue>,
    /// For each path, the policies that compare it before their key: they
    /// are candidates when it does not resolve.
    before_key: Vec<Vec<u32>>,
    /// Policies keyed on `principal in E` / `resource in E`, by E.
    by_ancestor: [HashMap<EntityUid, Vec<u32>>; 2],
    /// Policies without a key whose chains hold `like` or `||` tests:
    /// checked whole on every request. In selections, numbered after the
    /// indexed ones.
    checked: Vec<Indexed>,
    /// The indexed and checked policies' sets, by selection.
    chosen: RwLock<HashMap<Vec<u32>, Arc<[usize]>>>,
    /// The positions in the bundle of the policies without a key, which
    /// every request evaluates.
    always_at: Vec<usize>,
}

impl Slice {
    /// A slice of `policies` (in bundle order); `min_indexed`: below this
    /// many policies with a key, the slice evaluates everything.
    pub(crate) fn new<'a>(
        policies: impl IntoIterator<Item = (usize, &'a Chain)>,
        min_indexed: usize,
    ) -> Slice {
        let all: Vec<(usize, &Chain)> = policies.into_iter().collect();
        let with_key = all.iter().filter(|(_, c)| c.has_key()).count();
        let mut always = Vec::new();
        let mut keyed = Vec::new();
        let mut checked = Vec::new();
        for (position, chain) in all {
            if with_key >= min_indexed && chain.has_key() {
                keyed.push((position, chain.keyed()));
            } else if chain.filters() {
                checked.push((position, &chain.0[..]));
            } else {
                always.push(position);
            }
        }
        let mut slice = Slice {
            indexed: Vec::new(),
            paths: Vec::new(),
            by_value: Vec::new(),
            before_key: Vec::new(),
            by_ancestor: [HashMap::new(), HashMap::new()],
            checked: Vec::new(),
            chosen: RwLock::new(HashMap::new()),
            always_at: Vec::new(),
        };
        // Tests by path number; how many literals each path and side is
        // compared with (the more, the smaller a bucket).
        let mut path_ids: HashMap<Path, usize> = HashMap::new();
        let mut literals: Vec<HashSet<Key>> = Vec::new();
        let mut entities: [HashSet<EntityUid>; 2] = [HashSet::new(), HashSet::new()];
        let mut chains = Vec::with_capacity(keyed.len());
        for (position, chain) in &keyed {
            let tests: Vec<Test<usize>> = chain
                .iter()
                .map(|t| number(&mut slice.paths, &mut path_ids, t))
                .collect();
            for t in &tests {
                match t {
                    Test::Eq(id, k) => {
                        literals.resize_with(slice.paths.len(), HashSet::new);
                        if let Some(l) = literals.get_mut(*id) {
                            l.insert(k.clone());
                        }
                    }
                    Test::In(root, e) => {
                        if let Some(set) = entities.get_mut(side(*root)) {
                            set.insert(e.clone());
                        }
                    }
                    Test::Guard | Test::Like(..) | Test::Any(_) => {}
                }
            }
            chains.push((*position, tests));
        }
        for (position, chain) in checked {
            let chain = chain
                .iter()
                .map(|t| number(&mut slice.paths, &mut path_ids, t))
                .collect();
            slice.checked.push(Indexed { position, chain });
        }
        let spread = |t: &Test<usize>| match t {
            Test::Eq(p, _) => literals.get(*p).map_or(0, HashSet::len),
            Test::In(root, _) => entities.get(side(*root)).map_or(0, HashSet::len),
            Test::Guard | Test::Like(..) | Test::Any(_) => 0,
        };
        slice.by_value = vec![Default::default(); slice.paths.len()];
        slice.before_key = vec![Vec::new(); slice.paths.len()];
        for (n, (position, tests)) in chains.into_iter().enumerate() {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            // The key: the test that splits the slice finest (the first of
            // equals). Every `==` before it must resolve for the skip to
            // hold, so the policy is a candidate whenever one does not.
            let key = tests
                .iter()
                .enumerate()
                .rev()
                .max_by_key(|(_, t)| spread(t))
                .map_or(0, |(i, _)| i);
            for (i, t) in tests.iter().enumerate() {
                match (t, i.cmp(&key)) {
                    (Test::Eq(p, _), std::cmp::Ordering::Less) => {
                        if let Some(v) = slice.before_key.get_mut(*p) {
                            v.push(n);
                        }
                    }
                    (Test::Eq(p, k), std::cmp::Ordering::Equal) => {
                        if let Some((values, all)) = slice.by_value.get_mut(*p) {
                            values.entry(k.clone()).or_default().push(n);
                            all.push(n);
                        }
                    }
                    (Test::In(root, e), std::cmp::Ordering::Equal) => {
                        if let Some(m) = slice.by_ancestor.get_mut(side(*root)) {
                            m.entry(e.clone()).or_default().push(n);
                        }
                    }
                    _ => {}
                }
            }
            slice.indexed.push(Indexed {
                position,
                chain: tests,
            });
        }
        slice.always_at = always;
        slice
    }

    /// Cedar's answer for `request` from this slice's policies.
    pub(crate) fn is_authorized(
        &self,
        request: &Request,
        entities: &Entities,
        policies: &[Prepared],
    ) -> Response {
        let chosen = self.select(request, entities);
        let at = self.positions(chosen);
        authorize(
            request,
            entities,
            at.iter().filter_map(|&n| policies.get(n)),
        )
    }

    /// The indexed policies `request` must evaluate, in bundle order.
    fn select(&self, request: &Request, entities: &Entities) -> Vec<u32> {
        if self.indexed.is_empty() && self.checked.is_empty() {
            return Vec::new();
        }
        let values: Vec<Value> = self
            .paths
            .iter()
            .map(|p| value_of(p, request, entities))
            .collect();
        let mut candidates: Vec<u32> = Vec::new();
        for (((by_value, all), before), value) in
            self.by_value.iter().zip(&self.before_key).zip(&values)
        {
            match value {
                Value::Unknown => {
                    candidates.extend_from_slice(all);
                    candidates.extend_from_slice(before);
                }
                Value::Known(Some(k)) => {
                    candidates.extend(by_value.get(k).into_iter().flatten().copied());
                }
                Value::Known(None) => {}
            }
        }
        for (side, uid) in [request.principal(), request.resource()]
            .into_iter()
            .enumerate()
        {
            let Some((map, uid)) = self.by_ancestor.get(side).zip(uid) else {
                continue;
            };
            if map.is_empty() {
                continue;
            }
            let ancestors = entities.ancestors(uid).into_iter().flatten();
            for e in std::iter::once(uid).chain(ancestors) {
                candidates.extend(map.get(e).into_iter().flatten().copied());
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates.retain(|&n| {
            self.indexed
                .get(n as usize)
                .is_some_and(|p| verdict(&p.chain, &values, request, entities) == Verdict::Keep)
        });
        // Numbered after the indexed policies, in order: the selection
        // stays sorted, one key per set for the cache.
        let kept = self
            .checked
            .iter()
            .enumerate()
            .filter(|(_, p)| verdict(&p.chain, &values, request, entities) == Verdict::Keep);
        candidates.extend(kept.filter_map(|(i, _)| u32::try_from(self.indexed.len() + i).ok()));
        candidates
    }

    /// The positions of the policies every request evaluates and of the
    /// chosen ones, in bundle order.
    fn positions(&self, chosen: Vec<u32>) -> Arc<[usize]> {
        if let Ok(cache) = self.chosen.read()
            && let Some(set) = cache.get(&chosen)
        {
            return Arc::clone(set);
        }
        let policy = |n: usize| match n.checked_sub(self.indexed.len()) {
            None => self.indexed.get(n),
            Some(i) => self.checked.get(i),
        };
        let mut at: Vec<usize> = chosen
            .iter()
            .filter_map(|&n| Some(policy(n as usize)?.position))
            .chain(self.always_at.iter().copied())
            .collect();
        at.sort_unstable();
        let set: Arc<[usize]> = at.into();
        if let Ok(mut cache) = self.chosen.write()
            && cache.len() < MAX_CACHED_SELECTIONS
        {
            cache.insert(chosen, Arc::clone(&set));
        }
        set
    }
}

fn verdict(chain: &[Test<usize>], values: &[Value], request: &Request, e: &Entities) -> Verdict {
    for t in chain {
        match t {
            Test::Guard => {}
            Test::Eq(..) | Test::Like(..) => match holds(t, values) {
                Some(true) => {}
                Some(false) => return Verdict::Skip,
                None => return Verdict::Keep,
            },
            // Cedar stops at the first true operand; an error before it is
            // the policy's error.
            Test::Any(tests) => {
                let mut any = false;
                for t in tests {
                    match holds(t, values) {
                        Some(true) => {
                            any = true;
                            break;
                        }
                        Some(false) => {}
                        None => return Verdict::Keep,
                    }
                }
                if !any {
                    return Verdict::Skip;
                }
            }
            Test::In(root, target) => {
                let uid = match root {
                    Root::Principal => request.principal(),
                    Root::Resource => request.resource(),
                    Root::Context => None,
                };
                if !is_in(uid, target, e) {
                    return Verdict::Skip;
                }
            }
        }
    }
    Verdict::Keep
}

/// Whether an `==` or `like` test holds; `None` when Cedar would raise an
/// error evaluating it (or for another kind of test).
fn holds(test: &Test<usize>, values: &[Value]) -> Option<bool> {
    match test {
        Test::Eq(path, key) => match values.get(*path)? {
            Value::Known(v) => Some(v.as_ref() == Some(key)),
            Value::Unknown => None,
        },
        Test::Like(path, pattern) => match values.get(*path)? {
            Value::Known(Some(Key::String(s))) => Some(pattern.wildcard_match(s)),
            // Cedar: `like` takes a string; anything else is a type error.
            _ => None,
        },
        Test::In(..) | Test::Guard | Test::Any(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(text: &str) -> Vec<Test<Path>> {
        let p: Policy = text.parse().unwrap_or_else(|e| panic!("{e}"));
        Chain::of(&p).0
    }

    fn path(root: Root, attrs: &[&str]) -> Path {
        Path {
            root,
            attrs: attrs.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_policy_too_deep_to_walk_keeps_its_scope_tests_only() {
        // 3,000 conjuncts overflowed the stack in Cedar's tree conversion.
        let conjuncts: Vec<String> = (0..3000)
            .map(|i| format!("principal.r == \"x{i}\""))
            .collect();
        let text = format!(
            "permit (principal == User::\"a\", action, resource) when {{ {} }};",
            conjuncts.join(" && ")
        );
        let deep = std::thread::Builder::new()
            .stack_size(64 << 20) // for Cedar's parser, in a debug build
            .spawn(move || {
                let p: Policy = text.parse().unwrap_or_else(|e| panic!("{e}"));
                Chain::of(&p).0
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(deep.len(), 1, "{deep:?}");
        assert!(matches!(deep[0], Test::Eq(_, Key::Entity(_))));
        // A policy of ordinary size is read whole.
        let conjuncts: Vec<String> = (0..20)
            .map(|i| format!("principal.r == \"x{i}\""))
            .collect();
        let text = format!(
            "permit (principal, action, resource) when {{ {} }};",
            conjuncts.join(" && ")
        );
        assert_eq!(chain(&text).len(), 20);
    }

    #[test]
    fn chains_read_the_tests_at_the_front_in_evaluation_order() {
        assert_eq!(
            chain(
                r#"permit (principal in Group::"g", action, resource == Doc::"d")
                   when { principal has role && "admin" == principal.role && (context.a.b == 3 && resource.ok == true) }
                   when { context.x > 1 && resource.y == "z" };"#
            ),
            [
                Test::In(Root::Principal, r#"Group::"g""#.parse().unwrap()),
                Test::Eq(
                    path(Root::Resource, &[]),
                    Key::Entity(r#"Doc::"d""#.parse().unwrap())
                ),
                Test::Guard,
                Test::Eq(
                    path(Root::Principal, &["role"]),
                    Key::String("admin".into())
                ),
                Test::Eq(path(Root::Context, &["a", "b"]), Key::Long(3)),
                Test::Eq(path(Root::Resource, &["ok"]), Key::Bool(true)),
            ]
        );
        // A leading `unless`, comparison, or `||` of anything but `==` and
        // `like` ends the chain; so does a test on something that is not a
        // plain path.
        for text in [
            r#"permit (principal, action, resource) unless { principal.role == "a" };"#,
            r#"permit (principal, action, resource) when { principal.role == "a" || principal.level > 1 };"#,
            r#"permit (principal, action, resource) when { (principal.role == "a" && principal.x == 1) || principal.role == "b" };"#,
            r#"permit (principal, action, resource) when { "abc" like "a*" };"#,
            r#"permit (principal, action, resource) when { principal.level > 1 && principal.role == "a" };"#,
            r#"permit (principal, action, resource) when { resource.owner.role == principal.role };"#,
            r#"permit (principal, action, resource) when { context == {"a": 1} };"#,
            r#"permit (principal, action, resource) when { resource.owner in Group::"g" };"#,
            r#"permit (principal, action, resource) when { principal has role };"#,
        ] {
            assert_eq!(chain(text), [], "{text}");
        }
        // `like` and `||` of `==` and `like`, however grouped.
        let like = |p: &str| {
            ast::Pattern::from_iter(p.chars().map(|c| match c {
                '*' => ast::PatternElem::Wildcard,
                c => ast::PatternElem::Char(c),
            }))
        };
        let request_path = path(Root::Context, &["request", "path"]);
        assert_eq!(
            chain(
                r#"forbid (principal, action, resource)
                   when { context.request.path like "/a/*" && (context.request.path like "/b\*" || (context.host == "h" || context.request.path like "*")) };"#
            ),
            [
                Test::Like(request_path.clone(), like("/a/*")),
                Test::Any(vec![
                    Test::Like(
                        request_path.clone(),
                        ast::Pattern::from_iter("/b*".chars().map(ast::PatternElem::Char))
                    ),
                    Test::Eq(path(Root::Context, &["host"]), Key::String("h".into())),
                    Test::Like(request_path, like("*")),
                ]),
            ]
        );
        assert_eq!(
            chain(r#"permit (principal, action, resource) when { principal in NS::Team::"a b" };"#),
            [Test::In(
                Root::Principal,
                r#"NS::Team::"a b""#.parse().unwrap()
            )]
        );
    }
}
