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
//! - numbers compare as numbers whatever their kind (`1 == 1.0`).

use std::cmp::Ordering;

use ipld_core::ipld::Ipld;

/// Why a policy could not be evaluated (it is refused as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(pub String);

/// One step of a selector.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String, bool),
    Index(i64, bool),
    Slice(Option<i64>, Option<i64>, bool),
}

/// Parses a selector (`.`, `.a`, `.a.b?`, `["a b"]`, `[0]`, `[-1]`, `[1:3]`).
fn parse_selector(text: &str) -> Result<Vec<Step>, PolicyError> {
    let bad = |why: &str| PolicyError(format!("selector `{text}`: {why}"));
    if !text.starts_with('.') {
        return Err(bad("must start with `.`"));
    }
    if text.contains("..") {
        return Err(bad("`..` is not allowed"));
    }
    let b = text.as_bytes();
    let mut i = 0;
    let mut steps = Vec::new();
    if text == "." {
        return Ok(steps);
    }
    while i < b.len() {
        match b[i] {
            b'.' if i + 1 < b.len() && b[i + 1] == b'[' => i += 1,
            b'.' => {
                let start = i + 1;
                let mut end = start;
                while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                    end += 1;
                }
                if end == start {
                    return Err(bad("empty field name"));
                }
                let name = text[start..end].to_string();
                i = end;
                let optional = take_optional(b, &mut i);
                steps.push(Step::Field(name, optional));
            }
            b'[' => {
                let close = text[i..]
                    .find(']')
                    .map(|c| c + i)
                    .ok_or_else(|| bad("unclosed `[`"))?;
                let inner = &text[i + 1..close];
                i = close + 1;
                let optional = take_optional(b, &mut i);
                if let Some(key) = inner.strip_prefix('"').and_then(|k| k.strip_suffix('"')) {
                    steps.push(Step::Field(key.to_string(), optional));
                } else if let Some((from, to)) = inner.split_once(':') {
                    let num = |s: &str| -> Result<Option<i64>, PolicyError> {
                        match s.trim() {
                            "" => Ok(None),
                            n => n.parse().map(Some).map_err(|_| bad("bad slice bound")),
                        }
                    };
                    steps.push(Step::Slice(num(from)?, num(to)?, optional));
                } else if inner.is_empty() {
                    return Err(bad(
                        "`[]` (every element) is only meaningful in `all`/`any`",
                    ));
                } else {
                    let n = inner.parse().map_err(|_| bad("bad index"))?;
                    steps.push(Step::Index(n, optional));
                }
            }
            _ => return Err(bad("unexpected character")),
        }
    }
    Ok(steps)
}

fn take_optional(b: &[u8], i: &mut usize) -> bool {
    let mut optional = false;
    while *i < b.len() && b[*i] == b'?' {
        optional = true;
        *i += 1;
    }
    optional
}

fn index(len: usize, n: i64) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let at = if n < 0 { len + n } else { n };
    (0..len).contains(&at).then_some(at as usize)
}

/// Resolves a selector against `value`: `Ok(Some(value))`, `Ok(None)` if it
/// cannot be resolved (and no `?` covers it), or an error if the selector
/// itself is malformed.
fn select(text: &str, value: &Ipld) -> Result<Option<Ipld>, PolicyError> {
    let mut current = value.clone();
    for step in parse_selector(text)? {
        let (next, optional) = match (&step, &current) {
            (Step::Field(k, o), Ipld::Map(m)) => (m.get(k).cloned(), *o),
            (Step::Index(n, o), Ipld::List(l)) => (index(l.len(), *n).map(|i| l[i].clone()), *o),
            (Step::Index(n, o), Ipld::Bytes(b)) => {
                (index(b.len(), *n).map(|i| Ipld::Integer(b[i].into())), *o)
            }
            (Step::Slice(from, to, o), Ipld::List(l)) => {
                let (a, z) = bounds(l.len(), *from, *to);
                (Some(Ipld::List(l[a..z].to_vec())), *o)
            }
            (Step::Slice(from, to, o), Ipld::Bytes(b)) => {
                let (a, z) = bounds(b.len(), *from, *to);
                (Some(Ipld::Bytes(b[a..z].to_vec())), *o)
            }
            (Step::Field(_, o) | Step::Index(_, o) | Step::Slice(_, _, o), _) => (None, *o),
        };
        match (next, optional) {
            (Some(v), _) => current = v,
            // An optional step that misses ends the selection with null.
            (None, true) => return Ok(Some(Ipld::Null)),
            (None, false) => return Ok(None),
        }
    }
    Ok(Some(current))
}

fn bounds(len: usize, from: Option<i64>, to: Option<i64>) -> (usize, usize) {
    let clamp = |n: i64| -> usize {
        let len_i = len as i64;
        let at = if n < 0 { len_i + n } else { n };
        at.clamp(0, len_i) as usize
    };
    let a = from.map_or(0, clamp);
    let z = to.map_or(len, clamp);
    (a, z.max(a))
}

fn number(v: &Ipld) -> Option<f64> {
    match v {
        Ipld::Integer(i) => Some(*i as f64),
        Ipld::Float(f) => Some(*f),
        _ => None,
    }
}

/// Deep equality, numbers by value.
fn equal(a: &Ipld, b: &Ipld) -> bool {
    match (a, b) {
        (Ipld::Integer(x), Ipld::Integer(y)) => x == y,
        (x, y) if number(x).is_some() && number(y).is_some() => number(x) == number(y),
        (Ipld::List(x), Ipld::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q))
        }
        (Ipld::Map(x), Ipld::Map(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        (x, y) => x == y,
    }
}

/// Whole-string glob: `*` matches any run, `\*` a literal star.
fn like(pattern: &str, text: &str) -> bool {
    // Tokens: Some(c) a literal, None a wildcard.
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('*') => tokens.push(Some('*')),
                Some(other) => {
                    tokens.push(Some('\\'));
                    tokens.push(Some(other));
                }
                None => tokens.push(Some('\\')),
            },
            '*' => tokens.push(None),
            c => tokens.push(Some(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // Classic two-pointer glob match with backtracking to the last star.
    let (mut t, mut p) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        match tokens.get(p) {
            Some(Some(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            Some(None) => {
                star = Some(p);
                mark = t;
                p += 1;
            }
            _ => match star {
                Some(s) => {
                    p = s + 1;
                    mark += 1;
                    t = mark;
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(Option::is_none)
}

fn string(v: &Ipld, what: &str) -> Result<String, PolicyError> {
    match v {
        Ipld::String(s) => Ok(s.clone()),
        other => Err(PolicyError(format!(
            "{what} must be a string, not {other:?}"
        ))),
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

/// Evaluates one statement on `args`.
fn statement(stmt: &Ipld, args: &Ipld) -> Result<Truth, PolicyError> {
    let Ipld::List(parts) = stmt else {
        return Err(PolicyError(format!(
            "a statement must be a list, not {stmt:?}"
        )));
    };
    let op = string(
        parts
            .first()
            .ok_or_else(|| PolicyError("an empty statement".into()))?,
        "an operator",
    )?;
    let arity = |n: usize| match parts.len() == n {
        true => Ok(()),
        false => Err(PolicyError(format!("`{op}` takes {} operands", n - 1))),
    };
    match op.as_str() {
        "==" | "!=" | "<" | "<=" | ">" | ">=" | "like" => {
            arity(3)?;
            let Some(selected) = select(&string(&parts[1], "a selector")?, args)? else {
                return Ok(Truth::Unresolved);
            };
            let value = &parts[2];
            Ok(Truth::of(match op.as_str() {
                "==" => equal(&selected, value),
                "!=" => !equal(&selected, value),
                "like" => match selected {
                    Ipld::String(s) => like(&string(value, "a `like` pattern")?, &s),
                    _ => false,
                },
                cmp => match (number(&selected), number(value)) {
                    (Some(a), Some(b)) => {
                        let o = a.partial_cmp(&b);
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
            }))
        }
        "not" => {
            arity(2)?;
            Ok(match statement(&parts[1], args)? {
                Truth::True => Truth::False,
                Truth::False => Truth::True,
                Truth::Unresolved => Truth::Unresolved,
            })
        }
        "and" | "or" => {
            arity(2)?;
            let Ipld::List(stmts) = &parts[1] else {
                return Err(PolicyError(format!("`{op}` takes a list of statements")));
            };
            let mut results = Vec::with_capacity(stmts.len());
            for s in stmts {
                results.push(statement(s, args)?);
            }
            Ok(match op.as_str() {
                "and" => conjunction(&results),
                // `or []` is true (ucan-wg/spec fixtures/1.0.0/policy.json).
                _ if results.is_empty() => Truth::True,
                _ => disjunction(&results),
            })
        }
        "all" | "any" => {
            arity(3)?;
            let Some(selected) = select(&string(&parts[1], "a selector")?, args)? else {
                return Ok(Truth::Unresolved);
            };
            let items: Vec<Ipld> = match selected {
                Ipld::List(l) => l,
                Ipld::Map(m) => m.into_values().collect(),
                _ => return Ok(Truth::False),
            };
            let mut results = Vec::with_capacity(items.len());
            for item in &items {
                results.push(statement(&parts[2], item)?);
            }
            Ok(match op.as_str() {
                "all" => conjunction(&results),
                // No witness in an empty list: false.
                _ => disjunction(&results),
            })
        }
        other => Err(PolicyError(format!("unknown operator `{other}`"))),
    }
}

/// Evaluates a policy (a list of statements, all of which must hold). An
/// error is a malformed policy (it grants nothing).
pub fn holds(policy: &Ipld, args: &Ipld) -> Result<bool, PolicyError> {
    let Ipld::List(stmts) = policy else {
        return Err(PolicyError("a policy must be a list of statements".into()));
    };
    for s in stmts {
        if !statement(s, args)?.holds() {
            return Ok(false);
        }
    }
    Ok(true)
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
        let p = |s: &str| crate::workflow::parse_dag_json(s.as_bytes()).unwrap();
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
