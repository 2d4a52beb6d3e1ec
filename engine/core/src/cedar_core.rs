//! Cedar's evaluator, driven below `cedar-policy`'s API where that API
//! makes every request pay again for what does not change.
//!
//! - `Context::from_pairs` takes expressions and evaluates the whole record
//!   on each call: a context of literals is rebuilt value by value. A
//!   [`Val`] is already a value; [`context`] wraps a record of them.
//! - `Authorizer::is_authorized` asks each policy for its condition, and
//!   Cedar builds that expression anew each time (a clone of the policy's
//!   tree). [`Prepared`] builds it once per bundle; [`authorize`] is
//!   Cedar's own authorizer loop over the prepared conditions, with the
//!   response Cedar's `PartialResponse::concretize` would give.
//!
//! Both go through the types `cedar-policy` exposes for this (`AsRef` to
//! its core types, `RefCast` back), at the version it pins.

use cedar_policy::{Context, Entities, Policy, Request, Response, RestrictedExpression};
use cedar_policy_core::ast::PolicyID;
use cedar_policy_core::ast::{self, Effect, PartialValue};
use cedar_policy_core::authorizer::{
    self, AuthorizationError, Decision, ErrorState, PartialResponse,
};
use cedar_policy_core::evaluator::Evaluator;
use cedar_policy_core::extensions::Extensions;
use cedar_policy_core::pst::SmolStr;
use ref_cast::RefCast;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// A Cedar value: what a literal expression evaluates to, built without
/// the expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Val(ast::Value);

impl Val {
    /// A string.
    pub fn string(s: &str) -> Val {
        Val(ast::Value::from(s))
    }

    /// A `Long`.
    pub fn long(n: i64) -> Val {
        Val(ast::Value::from(n))
    }

    /// A boolean.
    pub fn bool(b: bool) -> Val {
        Val(ast::Value::from(b))
    }

    /// An entity reference.
    pub fn entity(uid: &cedar_policy::EntityUid) -> Val {
        Val(ast::Value::from(
            AsRef::<ast::EntityUID>::as_ref(uid).clone(),
        ))
    }

    /// A set (equal elements kept once, as Cedar's set literals do).
    pub fn set(items: impl IntoIterator<Item = Val>) -> Val {
        Val(ast::Value::set(items.into_iter().map(|v| v.0), None))
    }

    /// A record; of two equal keys the last is kept (callers pass
    /// distinct keys: Cedar's record literals refuse duplicates).
    pub fn record<K: AsRef<str>>(fields: impl IntoIterator<Item = (K, Val)>) -> Val {
        Val(ast::Value::record_arc(Arc::new(record(fields)), None))
    }

    /// The same value as an expression, for APIs that take one.
    pub fn into_expression(self) -> RestrictedExpression {
        RestrictedExpression::ref_cast(&ast::RestrictedExpr::from(self.0)).clone()
    }
}

/// A context record of `fields`; of two equal keys the last is kept.
pub fn context<K: AsRef<str>>(fields: impl IntoIterator<Item = (K, Val)>) -> Context {
    Context::ref_cast(&ast::Context::Value(Arc::new(record(fields)))).clone()
}

/// A record's fields as Cedar keeps them; of two equal keys the last.
/// Inserted one by one: `collect` would buffer, sort and deduplicate
/// them first, which costs more than the handful of fields a record has.
fn record<K: AsRef<str>>(
    fields: impl IntoIterator<Item = (K, Val)>,
) -> BTreeMap<SmolStr, ast::Value> {
    let mut record = BTreeMap::new();
    for (k, v) in fields {
        record.insert(SmolStr::from(k.as_ref()), v.0);
    }
    record
}

/// A policy with its condition built once.
pub(crate) struct Prepared {
    policy: ast::Policy,
    condition: ast::Expr,
}

impl Prepared {
    pub(crate) fn new(policy: &Policy) -> Prepared {
        let policy: &ast::Policy = policy.as_ref();
        let condition = policy.condition();
        Prepared {
            condition: one_action_group(&condition).unwrap_or(condition),
            policy: policy.clone(),
        }
    }
}

/// The condition with the scope's `action in [A]` (how Cedar writes
/// `action in A`) as `action in A`. The answer is the same: the action is
/// always an entity, so neither raises an error, and `in` a set of one is
/// `in` that one. Cedar would build that set, hashing it, on every
/// evaluation. `None` when the scope is not of that shape.
fn one_action_group(condition: &ast::Expr) -> Option<ast::Expr> {
    // Cedar's condition: `principal && (action && (resource && body))`.
    let (principal, rest) = and_operands(condition)?;
    let (action, after) = and_operands(rest)?;
    let ast::ExprKind::BinaryApp {
        op: ast::BinaryOp::In,
        arg1: var,
        arg2: group,
    } = action.expr_kind()
    else {
        return None;
    };
    let ast::ExprKind::Set(groups) = group.expr_kind() else {
        return None;
    };
    let ([one], ast::ExprKind::Var(ast::Var::Action)) = (groups.as_slice(), var.expr_kind()) else {
        return None;
    };
    let loc = |e: &ast::Expr| e.source_loc().cloned();
    let action =
        ast::Expr::is_in(ast::Expr::clone(var), one.clone()).with_maybe_source_loc(loc(action));
    let rest = ast::Expr::and(action, ast::Expr::clone(after)).with_maybe_source_loc(loc(rest));
    Some(ast::Expr::and(ast::Expr::clone(principal), rest).with_maybe_source_loc(loc(condition)))
}

/// `left` and `right` of `left && right`.
fn and_operands(e: &ast::Expr) -> Option<(&ast::Expr, &ast::Expr)> {
    match e.expr_kind() {
        ast::ExprKind::And { left, right } => Some((left, right)),
        _ => None,
    }
}

/// How one policy's condition came out.
enum Outcome {
    Satisfied,
    /// False, or skipped because it erred.
    Unsatisfied(ErrorState),
    /// Not a value: only with unknowns, which a concrete request has none of.
    Residual(Arc<ast::Expr>),
}

/// Cedar's answer to `request` from `policies`: the loop of
/// `cedar_policy_core::authorizer::Authorizer::is_authorized_core`, each
/// policy's condition evaluated as `Evaluator::partial_evaluate` does.
///
/// The response is `PartialResponse::concretize`'s: allow when a permit
/// holds and no forbid does; the reasons are the true forbids, or if there
/// are none the true permits; the errors are the policies that erred, in
/// order. Without residuals that is built here directly, since Cedar's
/// conversion hashes every policy id twice and rebuilds each satisfied
/// policy to read its id back; with residuals, Cedar builds it.
pub(crate) fn authorize<'p>(
    request: &Request,
    entities: &Entities,
    policies: impl IntoIterator<Item = &'p Prepared>,
) -> Response {
    let q: &ast::Request = request.as_ref();
    let eval = Evaluator::new(q.clone(), entities.as_ref(), Extensions::all_available());
    let mut outcomes: Vec<(&ast::Policy, Outcome)> = vec![];
    let mut errors = vec![];
    for Prepared {
        policy: p,
        condition,
    } in policies
    {
        let outcome = match eval.partial_interpret(condition, p.env()) {
            Ok(PartialValue::Value(v)) => match v.value_kind() {
                ast::ValueKind::Lit(ast::Literal::Bool(b)) => Ok(Ok(*b)),
                // A condition is a conjunction: it is a boolean or an
                // error. Cedar's own call phrases any other case.
                _ => eval
                    .partial_evaluate(p)
                    .map(|e| e.either(Ok, |r| Err(Arc::new(r)))),
            },
            Ok(PartialValue::Residual(e)) => Ok(Err(Arc::new(e))),
            Err(e) => Err(e),
        };
        let outcome = match outcome {
            Ok(Ok(true)) => Outcome::Satisfied,
            Ok(Ok(false)) => Outcome::Unsatisfied(ErrorState::NoError),
            Ok(Err(residual)) => Outcome::Residual(residual),
            // Cedar skips a policy that errs (`ErrorHandling::Skip`).
            Err(error) => {
                errors.push(AuthorizationError::PolicyEvaluationError {
                    id: p.id().clone(),
                    error,
                });
                Outcome::Unsatisfied(ErrorState::Error)
            }
        };
        outcomes.push((p, outcome));
    }
    if outcomes
        .iter()
        .any(|(_, o)| matches!(o, Outcome::Residual(_)))
    {
        return by_cedar(outcomes, errors, q);
    }
    let satisfied = |effect| {
        outcomes
            .iter()
            .filter(move |(p, o)| p.effect() == effect && matches!(o, Outcome::Satisfied))
            .map(|(p, _)| p.id().clone())
    };
    let forbids: HashSet<PolicyID> = satisfied(Effect::Forbid).collect();
    let (decision, reason) = if forbids.is_empty() {
        let permits: HashSet<PolicyID> = satisfied(Effect::Permit).collect();
        let decision = if permits.is_empty() {
            Decision::Deny
        } else {
            Decision::Allow
        };
        (decision, permits)
    } else {
        (Decision::Deny, forbids)
    };
    authorizer::Response::new(decision, reason, errors).into()
}

/// The response as Cedar builds it from the same outcomes.
fn by_cedar(
    outcomes: Vec<(&ast::Policy, Outcome)>,
    errors: Vec<AuthorizationError>,
    q: &ast::Request,
) -> Response {
    let mut true_permits = vec![];
    let mut true_forbids = vec![];
    let mut false_permits = vec![];
    let mut false_forbids = vec![];
    let mut residual_permits = vec![];
    let mut residual_forbids = vec![];
    for (p, outcome) in outcomes {
        let (id, annotations) = (p.id().clone(), p.annotations_arc().clone());
        match (outcome, p.effect()) {
            (Outcome::Satisfied, Effect::Permit) => true_permits.push((id, annotations)),
            (Outcome::Satisfied, Effect::Forbid) => true_forbids.push((id, annotations)),
            (Outcome::Unsatisfied(e), Effect::Permit) => false_permits.push((id, (e, annotations))),
            (Outcome::Unsatisfied(e), Effect::Forbid) => false_forbids.push((id, (e, annotations))),
            (Outcome::Residual(r), Effect::Permit) => residual_permits.push((id, (r, annotations))),
            (Outcome::Residual(r), Effect::Forbid) => residual_forbids.push((id, (r, annotations))),
        }
    }
    PartialResponse::new(
        true_permits,
        false_permits,
        residual_permits,
        true_forbids,
        false_forbids,
        residual_forbids,
        errors,
        Arc::new(q.clone()),
    )
    .concretize()
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cedar_policy::EntityUid;
    use std::str::FromStr;

    #[test]
    fn one_action_group_is_tested_without_a_set() -> Result<(), Box<dyn std::error::Error>> {
        let prepared = |text: &str| -> Result<String, Box<dyn std::error::Error>> {
            Ok(Prepared::new(&Policy::from_str(text)?)
                .condition
                .to_string())
        };
        let one = prepared(
            r#"permit (principal, action in Action::"read", resource) when { context.x };"#,
        )?;
        assert!(one.contains(r#"action in Action::"read""#), "{one}");
        assert!(!one.contains('['), "{one}");
        // Two groups stay a set; a scope without a group is Cedar's own.
        let two =
            prepared(r#"permit (principal, action in [Action::"a", Action::"b"], resource);"#)?;
        assert!(
            two.contains(r#"action in [Action::"a", Action::"b"]"#),
            "{two}"
        );
        let text = r#"forbid (principal, action == Action::"a", resource) when { 1 in [] };"#;
        let policy = Policy::from_str(text)?;
        let ast: &ast::Policy = policy.as_ref();
        assert_eq!(prepared(text)?, ast.condition().to_string());
        Ok(())
    }

    #[test]
    fn values_are_what_cedar_evaluates_from_the_same_literals()
    -> Result<(), Box<dyn std::error::Error>> {
        let uid = EntityUid::from_str(r#"Token::"t-1""#)?;
        let ours = context([
            ("s", Val::string("ünï \"q\"")),
            ("n", Val::long(i64::MIN)),
            ("b", Val::bool(false)),
            ("e", Val::entity(&uid)),
            ("set", Val::set([Val::long(2), Val::long(1), Val::long(2)])),
            (
                "r",
                Val::record([("inner", Val::set([])), ("x", Val::string(""))]),
            ),
        ]);
        let e = RestrictedExpression::new_string;
        let cedars = Context::from_pairs([
            ("s".to_owned(), e("ünï \"q\"".to_owned())),
            ("n".to_owned(), RestrictedExpression::new_long(i64::MIN)),
            ("b".to_owned(), RestrictedExpression::new_bool(false)),
            ("e".to_owned(), RestrictedExpression::new_entity_uid(uid)),
            (
                "set".to_owned(),
                RestrictedExpression::new_set([2, 1, 2].map(RestrictedExpression::new_long)),
            ),
            (
                "r".to_owned(),
                RestrictedExpression::new_record([
                    ("inner".to_owned(), RestrictedExpression::new_set([])),
                    ("x".to_owned(), e(String::new())),
                ])?,
            ),
        ])?;
        assert_eq!(ours, cedars);
        assert_eq!(ours.to_string(), cedars.to_string());
        // Back to an expression, it evaluates to itself.
        let round = Context::from_pairs([(
            "v".to_owned(),
            Val::set([Val::string("a"), Val::long(1)]).into_expression(),
        )])?;
        assert_eq!(
            round,
            context([("v", Val::set([Val::long(1), Val::string("a")]))])
        );
        Ok(())
    }
}
