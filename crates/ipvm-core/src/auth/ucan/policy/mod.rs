//! The UCAN 1.0 policy language (ucan-wg/delegation, "Policy"): statements
//! over an invocation's `args`, evaluated to true or false.
//!
//! The choices where the specification leaves room (docs/spec.md §5c):
//! - a selector that cannot be resolved (a missing key without `?`, an
//!   index out of range, a field of a non-map) makes its statement
//!   *unresolved*, and unresolved propagates: `not` keeps it, `and` is
//!   false if any part is false, else unresolved if any is; `or` is true
//!   if any part is true, else unresolved if any is; `all`/`any` likewise
//!   over their elements (so `any` still finds its witness among elements
//!   that lack the field, as the fixtures require). Only true grants: a
//!   grant never widens because an argument is missing, however the
//!   policy is phrased;
//! - an optional selector (`?`) that cannot be resolved yields `null`;
//! - `any` over an empty list or map is false (no witness), `all` true;
//! - `and []` and `or []` are true (the fixtures require `or []`);
//! - numbers compare by exact value whatever their kind (`1 == 1.0`;
//!   integers never through f64, so `2^53 + 1 > 2^53`); a bool is not a
//!   number (`true != 1`);
//! - `like` is linear in the pattern and the string ([`like_steps`]), and
//!   evaluation spends from a [`Budget`] of steps.

use std::cmp::Ordering;

use ipld_core::ipld::Ipld;

use crate::auth::ucan::limits::{MAX_POLICY_DEPTH, MAX_POLICY_STEPS};

mod compare;
mod select;

pub use compare::like_steps;
use compare::*;
use select::*;

/// Why a policy could not be evaluated (it is refused as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// The policy is not well formed: an unknown operator, a bad selector,
    /// a statement of the wrong arity, statements nested too deep.
    Malformed(String),
    /// Evaluating it would take more than `limit` steps ([`Budget`]).
    TooCostly {
        /// The budget it exceeded.
        limit: u64,
    },
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) => f.write_str(why),
            Self::TooCostly { limit } => write!(
                f,
                "evaluating it takes more than {limit} steps, the most this runtime spends"
            ),
        }
    }
}

fn malformed(why: impl Into<String>) -> PolicyError {
    PolicyError::Malformed(why.into())
}

/// What evaluation may still spend, in steps: one per statement, per
/// selector byte, per element a quantifier visits, per value and per byte
/// of a string or bytes compared, per character `like` reads or compares.
/// Every part of evaluation is linear in what it reads, so steps bound the
/// time (docs/spec.md §5c, "Bounds").
#[derive(Debug, Clone)]
pub struct Budget {
    limit: u64,
    left: u64,
}

impl Budget {
    /// A budget of `limit` steps.
    pub fn new(limit: u64) -> Self {
        Self { limit, left: limit }
    }

    /// The steps spent so far.
    pub fn spent(&self) -> u64 {
        self.limit - self.left
    }

    fn take(&mut self, n: u64) -> Result<(), PolicyError> {
        match self.left.checked_sub(n) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => {
                self.left = 0;
                Err(PolicyError::TooCostly { limit: self.limit })
            }
        }
    }
}

fn string<'a>(v: &'a Ipld, what: &str) -> Result<&'a str, PolicyError> {
    match v {
        Ipld::String(s) => Ok(s),
        other => Err(malformed(format!("{what} must be a string, not {other:?}"))),
    }
}

/// A statement's value: true, false, or unresolved (a selector in it did
/// not resolve; it counts as false, and `not` keeps it unresolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Truth {
    True,
    False,
    Unresolved,
}

impl Truth {
    fn of(b: bool) -> Self {
        if b {
            Truth::True
        } else {
            Truth::False
        }
    }

    fn holds(self) -> bool {
        self == Truth::True
    }
}

/// `and`: false if any is false, else unresolved if any is, else true.
fn conjunction(results: &[Truth]) -> Truth {
    if results.contains(&Truth::False) {
        Truth::False
    } else if results.contains(&Truth::Unresolved) {
        Truth::Unresolved
    } else {
        Truth::True
    }
}

/// `or`: true if any is true, else unresolved if any is, else false.
fn disjunction(results: &[Truth]) -> Truth {
    if results.contains(&Truth::True) {
        Truth::True
    } else if results.contains(&Truth::Unresolved) {
        Truth::Unresolved
    } else {
        Truth::False
    }
}

/// Evaluates one statement on `args`, at nesting `depth` (1 for a
/// statement of the policy's own list).
fn statement(
    stmt: &Ipld,
    args: &Ipld,
    depth: usize,
    budget: &mut Budget,
) -> Result<Truth, PolicyError> {
    budget.take(1)?;
    if depth > MAX_POLICY_DEPTH {
        return Err(malformed(format!(
            "statements nest more than {MAX_POLICY_DEPTH} deep"
        )));
    }
    let Ipld::List(parts) = stmt else {
        return Err(malformed(format!(
            "a statement must be a list, not {stmt:?}"
        )));
    };
    let op = string(
        parts
            .first()
            .ok_or_else(|| malformed("an empty statement"))?,
        "an operator",
    )?;
    let arity = |n: usize| match parts.len() == n {
        true => Ok(()),
        false => Err(malformed(format!("`{op}` takes {} operands", n - 1))),
    };
    match op {
        "==" | "!=" | "<" | "<=" | ">" | ">=" | "like" => {
            arity(3)?;
            let Some(selected) = select(string(&parts[1], "a selector")?, args, budget)? else {
                return Ok(Truth::Unresolved);
            };
            let value = &parts[2];
            let mut steps = 0;
            let truth = match op {
                "==" => equal_sel(selected, value, &mut steps),
                "!=" => !equal_sel(selected, value, &mut steps),
                "like" => match selected {
                    Sel::Value(Ipld::String(s)) => {
                        let pattern = string(value, "a `like` pattern")?;
                        // Reading both into runs, then the comparisons.
                        steps += (s.len() + pattern.len()) as u64;
                        let (m, compared) = like_steps(pattern, s);
                        steps += compared;
                        m
                    }
                    _ => false,
                },
                cmp => match (selected.number(), Number::of(value)) {
                    (Some(a), Some(b)) => {
                        let o = a.cmp(b);
                        match cmp {
                            "<" => o == Some(Ordering::Less),
                            "<=" => matches!(o, Some(Ordering::Less | Ordering::Equal)),
                            ">" => o == Some(Ordering::Greater),
                            _ => matches!(o, Some(Ordering::Greater | Ordering::Equal)),
                        }
                    }
                    // Not numbers: false, as the specification says.
                    _ => false,
                },
            };
            budget.take(steps)?;
            Ok(Truth::of(truth))
        }
        "not" => {
            arity(2)?;
            Ok(match statement(&parts[1], args, depth + 1, budget)? {
                Truth::True => Truth::False,
                Truth::False => Truth::True,
                Truth::Unresolved => Truth::Unresolved,
            })
        }
        "and" | "or" => {
            arity(2)?;
            let Ipld::List(stmts) = &parts[1] else {
                return Err(malformed(format!("`{op}` takes a list of statements")));
            };
            let mut results = Vec::with_capacity(stmts.len());
            for s in stmts {
                results.push(statement(s, args, depth + 1, budget)?);
            }
            Ok(match op {
                "and" => conjunction(&results),
                // `or []` is true (ucan-wg/spec fixtures/1.0.0/policy.json).
                _ if results.is_empty() => Truth::True,
                _ => disjunction(&results),
            })
        }
        "all" | "any" => {
            arity(3)?;
            let Some(selected) = select(string(&parts[1], "a selector")?, args, budget)? else {
                return Ok(Truth::Unresolved);
            };
            let Some(items) = selected.elements() else {
                return Ok(Truth::False);
            };
            let mut results = Vec::with_capacity(items.len());
            for item in items {
                budget.take(1)?;
                results.push(statement(&parts[2], item, depth + 1, budget)?);
            }
            Ok(match op {
                "all" => conjunction(&results),
                // No witness in an empty list: false.
                _ => disjunction(&results),
            })
        }
        other => Err(malformed(format!("unknown operator `{other}`"))),
    }
}

/// Evaluates a policy (a list of statements, all of which must hold) with
/// a budget of [`MAX_POLICY_STEPS`]. An error is a malformed policy, or
/// one too costly to evaluate (it grants nothing).
pub fn holds(policy: &Ipld, args: &Ipld) -> Result<bool, PolicyError> {
    holds_within(policy, args, &mut Budget::new(MAX_POLICY_STEPS))
}

/// [`holds`], spending from `budget` (shared by the policies of a chain).
pub fn holds_within(policy: &Ipld, args: &Ipld, budget: &mut Budget) -> Result<bool, PolicyError> {
    let Ipld::List(stmts) = policy else {
        return Err(malformed("a policy must be a list of statements"));
    };
    for s in stmts {
        if !statement(s, args, 1, budget)?.holds() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The size of a policy, as admission bounds it ([`crate::auth::ucan::limits`]):
/// its statements (nested ones included), how deep they nest, and its
/// longest `like` pattern in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shape {
    /// Statements, nested ones included.
    pub statements: usize,
    /// The deepest nesting (1: a statement of the policy's own list).
    pub depth: usize,
    /// The longest `like` pattern, in bytes.
    pub pattern: usize,
}

/// Measures a policy without evaluating it. A value that is not a
/// statement counts as one (evaluation refuses it); the walk stops one
/// level past [`MAX_POLICY_DEPTH`], so it is linear in the policy.
pub fn shape(policy: &Ipld) -> Shape {
    fn walk(stmt: &Ipld, depth: usize, shape: &mut Shape) {
        shape.statements += 1;
        shape.depth = shape.depth.max(depth);
        if depth > MAX_POLICY_DEPTH {
            return;
        }
        let Ipld::List(parts) = stmt else { return };
        match (parts.first(), parts.get(1), parts.get(2)) {
            (Some(Ipld::String(op)), Some(inner), _) if op == "not" => {
                walk(inner, depth + 1, shape)
            }
            (Some(Ipld::String(op)), Some(Ipld::List(inner)), _) if op == "and" || op == "or" => {
                inner.iter().for_each(|s| walk(s, depth + 1, shape))
            }
            (Some(Ipld::String(op)), _, Some(inner)) if op == "all" || op == "any" => {
                walk(inner, depth + 1, shape)
            }
            (Some(Ipld::String(op)), _, Some(Ipld::String(p))) if op == "like" => {
                shape.pattern = shape.pattern.max(p.len())
            }
            _ => {}
        }
    }
    let mut shape = Shape::default();
    if let Ipld::List(stmts) = policy {
        stmts.iter().for_each(|s| walk(s, 1, &mut shape));
    }
    shape
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(like("Alice\\*, Bob*, Carol.", "Alice*, Bob, Carol."));
        assert!(like(
            "Alice\\*, Bob*, Carol.",
            "Alice*, Bob, Dan, Erin, Carol."
        ));
        assert!(!like("Alice\\*, Bob*, Carol.", "Alice*, Bob, Carol"));
        assert!(!like("Alice\\*, Bob*, Carol.", " Alice*, Bob, Carol. "));
        assert!(like("*@example.com", "alice@example.com"));
        assert!(!like("*@example.com", "carol@elsewhere.example.comx"));
        assert!(like("*", ""));
    }

    /// A selection as an owned value (for the assertions).
    fn select(text: &str, args: &Ipld) -> Result<Option<Ipld>, PolicyError> {
        let sel = super::select(text, args, &mut Budget::new(MAX_POLICY_STEPS))?;
        Ok(sel.map(|s| match s {
            Sel::Value(v) => v.clone(),
            Sel::List(l) => Ipld::List(l.to_vec()),
            Sel::Bytes(b) => Ipld::Bytes(b.to_vec()),
            Sel::Byte(b) => Ipld::Integer(b.into()),
            Sel::Null => Ipld::Null,
        }))
    }

    #[test]
    fn selectors() {
        let args = Ipld::Map(
            [(
                "a".to_string(),
                Ipld::List(vec![Ipld::Integer(1), Ipld::Integer(2), Ipld::Integer(3)]),
            )]
            .into(),
        );
        assert_eq!(select(".a[0]", &args), Ok(Some(Ipld::Integer(1))));
        assert_eq!(select(".a[-1]", &args), Ok(Some(Ipld::Integer(3))));
        assert_eq!(
            select(".a[1:]", &args),
            Ok(Some(Ipld::List(vec![Ipld::Integer(2), Ipld::Integer(3)])))
        );
        assert_eq!(select(".b?", &args), Ok(Some(Ipld::Null)));
        assert_eq!(select(".b", &args), Ok(None));
        assert!(select(".a..b", &args).is_err());
        assert_eq!(select(".[\"a\"][0]", &args), Ok(Some(Ipld::Integer(1))));
    }

    #[test]
    fn a_missing_argument_never_widens_a_grant() {
        let args = Ipld::Map(Default::default());
        let p = |s: &str| crate::model::workflow::parse_dag_json(s.as_bytes()).unwrap();
        assert_eq!(holds(&p(r#"[["!=", ".fuel", 1]]"#), &args), Ok(false));
        assert_eq!(
            holds(&p(r#"[["not", ["==", ".fuel", 1]]]"#), &args),
            Ok(false)
        );
        assert_eq!(holds(&p(r#"[["<=", ".fuel", 1000]]"#), &args), Ok(false));
        assert_eq!(holds(&p(r#"[["==", ".fuel?", null]]"#), &args), Ok(true));
        // However the bound is phrased (review finding: `not` over `or`/`any`).
        let not_or = r#"[["not", ["or", [[">", ".fuel", 1000], [">", ".memory", 65536]]]]]"#;
        assert_eq!(holds(&p(not_or), &args), Ok(false));
        let not_any = r#"[["not", ["any", ".", [">", ".fuel", 1000]]]]"#;
        let task = p(r#"{"func": "add_one", "args": [1]}"#);
        assert_eq!(holds(&p(not_any), &task), Ok(false));
        let not_and = r#"[["not", ["and", [[">", ".fuel", 1000]]]]]"#;
        assert_eq!(holds(&p(not_and), &args), Ok(false));
        let not_all = r#"[["not", ["all", ".xs?", [">", ".", 1]]]]"#;
        assert_eq!(
            holds(&p(not_all), &args),
            Ok(true),
            "`?` gives null: all over null is false, not false is true"
        );
    }
}
