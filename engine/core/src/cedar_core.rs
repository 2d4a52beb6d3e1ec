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
//!   response built by Cedar's code (`PartialResponse::concretize`).
//!
//! Both go through the types `cedar-policy` exposes for this (`AsRef` to
//! its core types, `RefCast` back), at the version it pins.

use cedar_policy::{Context, Entities, Policy, Request, Response, RestrictedExpression};
use cedar_policy_core::ast::{self, Effect, PartialValue};
use cedar_policy_core::authorizer::{AuthorizationError, ErrorState, PartialResponse};
use cedar_policy_core::evaluator::Evaluator;
use cedar_policy_core::extensions::Extensions;
use ref_cast::RefCast;
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
        Val(ast::Value::record_arc(
            Arc::new(
                fields
                    .into_iter()
                    .map(|(k, v)| (k.as_ref().into(), v.0))
                    .collect(),
            ),
            None,
        ))
    }

    /// The same value as an expression, for APIs that take one.
    pub fn into_expression(self) -> RestrictedExpression {
        RestrictedExpression::ref_cast(&ast::RestrictedExpr::from(self.0)).clone()
    }
}

/// A context record of `fields`; of two equal keys the last is kept.
pub fn context<K: AsRef<str>>(fields: impl IntoIterator<Item = (K, Val)>) -> Context {
    let record = fields
        .into_iter()
        .map(|(k, v)| (k.as_ref().into(), v.0))
        .collect();
    Context::ref_cast(&ast::Context::Value(Arc::new(record))).clone()
}

/// A policy with its condition built once.
pub(crate) struct Prepared {
    policy: ast::Policy,
    condition: ast::Expr,
}

impl Prepared {
    pub(crate) fn new(policy: &Policy) -> Prepared {
        let policy: &ast::Policy = policy.as_ref();
        Prepared {
            condition: policy.condition(),
            policy: policy.clone(),
        }
    }
}

/// Cedar's answer to `request` from `policies`: the loop of
/// `cedar_policy_core::authorizer::Authorizer::is_authorized_core`, each
/// policy's condition evaluated as `Evaluator::partial_evaluate` does, and
/// the response built by Cedar (`PartialResponse::concretize`).
pub(crate) fn authorize<'p>(
    request: &Request,
    entities: &Entities,
    policies: impl IntoIterator<Item = &'p Prepared>,
) -> Response {
    let q: &ast::Request = request.as_ref();
    let eval = Evaluator::new(q.clone(), entities.as_ref(), Extensions::all_available());
    let mut true_permits = vec![];
    let mut true_forbids = vec![];
    let mut false_permits = vec![];
    let mut false_forbids = vec![];
    let mut residual_permits = vec![];
    let mut residual_forbids = vec![];
    let mut errors = vec![];
    for Prepared {
        policy: p,
        condition,
    } in policies
    {
        let (id, annotations) = (p.id().clone(), p.annotations_arc().clone());
        let outcome = match eval.partial_interpret(condition, p.env()) {
            Ok(PartialValue::Value(v)) => match v.value_kind() {
                ast::ValueKind::Lit(ast::Literal::Bool(b)) => Ok(Ok(*b)),
                // A condition is a conjunction: it is a boolean or an
                // error. Cedar's own call phrases any other case.
                _ => eval
                    .partial_evaluate(p)
                    .map(|e| e.either(Ok, |r| Err(Box::new(r)))),
            },
            Ok(PartialValue::Residual(e)) => Ok(Err(Box::new(e))),
            Err(e) => Err(e),
        };
        match (outcome, p.effect()) {
            (Ok(Ok(true)), Effect::Permit) => true_permits.push((id, annotations)),
            (Ok(Ok(true)), Effect::Forbid) => true_forbids.push((id, annotations)),
            (Ok(Ok(false)), Effect::Permit) => {
                false_permits.push((id, (ErrorState::NoError, annotations)));
            }
            (Ok(Ok(false)), Effect::Forbid) => {
                false_forbids.push((id, (ErrorState::NoError, annotations)));
            }
            (Ok(Err(residual)), Effect::Permit) => {
                residual_permits.push((id, (Arc::new(*residual), annotations)));
            }
            (Ok(Err(residual)), Effect::Forbid) => {
                residual_forbids.push((id, (Arc::new(*residual), annotations)));
            }
            // Cedar skips a policy that errs (`ErrorHandling::Skip`).
            (Err(error), effect) => {
                errors.push(AuthorizationError::PolicyEvaluationError {
                    id: id.clone(),
                    error,
                });
                let skipped = (id, (ErrorState::Error, annotations));
                match effect {
                    Effect::Permit => false_permits.push(skipped),
                    Effect::Forbid => false_forbids.push(skipped),
                }
            }
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
