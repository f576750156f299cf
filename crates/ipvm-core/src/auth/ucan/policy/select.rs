//! Selectors (`.`, `.a.b?`, `["a b"]`, `[0]`, `[-1]`, `[1:3]`): parsed,
//! and resolved against the arguments without copying them.

#[allow(
    clippy::wildcard_imports,
    reason = "a part of the policy evaluator: it shares its names"
)]
use super::*;

/// One step of a selector.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Step {
    Field(String, bool),
    Index(i64, bool),
    Slice(Option<i64>, Option<i64>, bool),
}

/// Parses a selector (`.`, `.a`, `.a.b?`, `["a b"]`, `[0]`, `[-1]`, `[1:3]`).
pub(super) fn parse_selector(text: &str) -> Result<Vec<Step>, PolicyError> {
    let bad = |why: &str| malformed(format!("selector `{text}`: {why}"));
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

pub(super) fn take_optional(b: &[u8], i: &mut usize) -> bool {
    let mut optional = false;
    while *i < b.len() && b[*i] == b'?' {
        optional = true;
        *i += 1;
    }
    optional
}

pub(super) fn index(len: usize, n: i64) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let at = if n < 0 { len + n } else { n };
    (0..len).contains(&at).then_some(at as usize)
}

/// What a selector selected: a value of the arguments, or a part of one
/// (a slice, a byte), borrowed: selecting copies nothing.
#[derive(Debug, Clone, Copy)]
pub(super) enum Sel<'a> {
    Value(&'a Ipld),
    List(&'a [Ipld]),
    Bytes(&'a [u8]),
    Byte(u8),
    Null,
}

impl<'a> Sel<'a> {
    /// One selector step; `None` if it does not resolve.
    pub(super) fn step(self, step: &Step) -> Option<Sel<'a>> {
        let list = |s: Sel<'a>| match s {
            Sel::Value(Ipld::List(l)) => Some(l.as_slice()),
            Sel::List(l) => Some(l),
            _ => None,
        };
        let bytes = |s: Sel<'a>| match s {
            Sel::Value(Ipld::Bytes(b)) => Some(b.as_slice()),
            Sel::Bytes(b) => Some(b),
            _ => None,
        };
        match step {
            Step::Field(k, _) => match self {
                Sel::Value(Ipld::Map(m)) => m.get(k).map(Sel::Value),
                _ => None,
            },
            Step::Index(n, _) => match (list(self), bytes(self)) {
                (Some(l), _) => index(l.len(), *n).map(|i| Sel::Value(&l[i])),
                (_, Some(b)) => index(b.len(), *n).map(|i| Sel::Byte(b[i])),
                _ => None,
            },
            Step::Slice(from, to, _) => match (list(self), bytes(self)) {
                (Some(l), _) => {
                    let (a, z) = bounds(l.len(), *from, *to);
                    Some(Sel::List(&l[a..z]))
                }
                (_, Some(b)) => {
                    let (a, z) = bounds(b.len(), *from, *to);
                    Some(Sel::Bytes(&b[a..z]))
                }
                _ => None,
            },
        }
    }

    /// The elements `all`/`any` range over: a list's, or a map's values.
    pub(super) fn elements(self) -> Option<Vec<&'a Ipld>> {
        match self {
            Sel::Value(Ipld::List(l)) => Some(l.iter().collect()),
            Sel::List(l) => Some(l.iter().collect()),
            Sel::Value(Ipld::Map(m)) => Some(m.values().collect()),
            _ => None,
        }
    }

    pub(super) fn number(self) -> Option<Number> {
        match self {
            Sel::Value(v) => Number::of(v),
            Sel::Byte(b) => Some(Number::Int(b.into())),
            _ => None,
        }
    }
}

/// Resolves a selector against `value`: `Ok(Some(selection))`, `Ok(None)`
/// if it cannot be resolved (and no `?` covers it), or an error if the
/// selector itself is malformed.
pub(super) fn select<'a>(
    text: &str,
    value: &'a Ipld,
    budget: &mut Budget,
) -> Result<Option<Sel<'a>>, PolicyError> {
    budget.take(text.len() as u64)?;
    let mut current = Sel::Value(value);
    for step in parse_selector(text)? {
        let optional = match &step {
            Step::Field(_, o) | Step::Index(_, o) | Step::Slice(_, _, o) => *o,
        };
        match (current.step(&step), optional) {
            (Some(next), _) => current = next,
            // An optional step that misses ends the selection with null.
            (None, true) => return Ok(Some(Sel::Null)),
            (None, false) => return Ok(None),
        }
    }
    Ok(Some(current))
}

pub(super) fn bounds(len: usize, from: Option<i64>, to: Option<i64>) -> (usize, usize) {
    let clamp = |n: i64| -> usize {
        let len_i = len as i64;
        let at = if n < 0 { len_i + n } else { n };
        at.clamp(0, len_i) as usize
    };
    let a = from.map_or(0, clamp);
    let z = to.map_or(len, clamp);
    (a, z.max(a))
}
