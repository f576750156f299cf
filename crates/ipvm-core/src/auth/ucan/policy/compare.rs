//! Comparisons: numbers by exact value (integers over the full DAG-CBOR
//! range, an integer against a float exactly, a bool never a number),
//! equality, and `like` in linear time (literal segments between the stars,
//! each found once), every comparison counted against the step budget.

#[allow(
    clippy::wildcard_imports,
    reason = "a part of the policy evaluator: it shares its names"
)]
use super::*;

/// A number of the policy language: a DAG-CBOR integer (i128 holds its
/// whole range, -2^64 … 2^64 − 1) or a float. A bool is not a number.
#[derive(Debug, Clone, Copy)]
pub(super) enum Number {
    Int(i128),
    Float(f64),
}

impl Number {
    pub(super) fn of(v: &Ipld) -> Option<Self> {
        match v {
            Ipld::Integer(i) => Some(Self::Int(*i)),
            Ipld::Float(f) => Some(Self::Float(*f)),
            _ => None,
        }
    }

    /// Compares by exact value: integers as integers, never through f64;
    /// an integer and a float by their exact values (`2^53 + 1 > 2^53`
    /// whichever is the float). `None` for NaN (not in DAG-CBOR anyway).
    pub(super) fn cmp(self, other: Self) -> Option<Ordering> {
        match (self, other) {
            (Self::Int(a), Self::Int(b)) => Some(a.cmp(&b)),
            (Self::Float(a), Self::Float(b)) => a.partial_cmp(&b),
            (Self::Int(a), Self::Float(b)) => int_float(a, b),
            (Self::Float(a), Self::Int(b)) => int_float(b, a).map(Ordering::reverse),
        }
    }
}

/// How the integer `i` compares with the float `f`, exactly.
pub(super) fn int_float(i: i128, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    // 2^127 is exact as an f64; every float at or past it is beyond i128.
    const EDGE: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;
    let whole = f.trunc();
    if whole >= EDGE {
        return Some(Ordering::Less);
    }
    if whole < -EDGE {
        return Some(Ordering::Greater);
    }
    // `whole` is an integer within i128 (-2^127 included): exact.
    match i.cmp(&(whole as i128)) {
        Ordering::Equal => (0.0).partial_cmp(&(f - whole)),
        other => Some(other),
    }
}

/// Deep equality, numbers by exact value (`1 == 1.0`, `true != 1`);
/// `steps` counts the values and bytes compared.
pub(super) fn equal(a: &Ipld, b: &Ipld, steps: &mut u64) -> bool {
    *steps += 1;
    match (a, b) {
        (Ipld::List(x), Ipld::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q, steps))
        }
        (Ipld::Map(x), Ipld::Map(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    *steps += k.len() as u64;
                    y.get(k).is_some_and(|w| equal(v, w, steps))
                })
        }
        (Ipld::String(x), Ipld::String(y)) => {
            *steps += x.len().min(y.len()) as u64;
            x == y
        }
        (Ipld::Bytes(x), Ipld::Bytes(y)) => {
            *steps += x.len().min(y.len()) as u64;
            x == y
        }
        (x, y) => match (Number::of(x), Number::of(y)) {
            (Some(p), Some(q)) => p.cmp(q) == Some(Ordering::Equal),
            _ => x == y,
        },
    }
}

/// [`equal`] for a selection.
pub(super) fn equal_sel(a: Sel<'_>, b: &Ipld, steps: &mut u64) -> bool {
    match a {
        Sel::Value(v) => equal(v, b, steps),
        Sel::List(x) => {
            *steps += 1;
            matches!(b, Ipld::List(y) if x.len() == y.len()
                && x.iter().zip(y).all(|(p, q)| equal(p, q, steps)))
        }
        Sel::Bytes(x) => {
            *steps += 1 + x.len() as u64;
            matches!(b, Ipld::Bytes(y) if x == y.as_slice())
        }
        Sel::Byte(n) => equal(&Ipld::Integer(n.into()), b, steps),
        Sel::Null => equal(&Ipld::Null, b, steps),
    }
}

/// A `like` pattern as its literal runs between unescaped stars: `*`
/// separates two runs, `\*` is a literal star, any other `\` is literal.
pub(super) fn segments(pattern: &str) -> Vec<Vec<char>> {
    let mut segs = vec![Vec::new()];
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        let last = segs.len() - 1;
        match c {
            '\\' => match chars.next() {
                Some('*') => segs[last].push('*'),
                Some(other) => segs[last].extend(['\\', other]),
                None => segs[last].push('\\'),
            },
            '*' => segs.push(Vec::new()),
            c => segs[last].push(c),
        }
    }
    segs
}

/// Whole-string glob: `*` matches any run, `\*` a literal star.
#[cfg(test)]
pub(super) fn like(pattern: &str, text: &str) -> bool {
    like_steps(pattern, text).0
}

/// Whole-string glob (`*` any run, `\*` a literal star), with the number
/// of character comparisons it made. Linear: the first run must be a
/// prefix, the last a suffix, and each run between is found once,
/// leftmost, in order (Knuth–Morris–Pratt), which is exact for globs whose
/// only wildcard is `*`. At most 2·(text + pattern) comparisons.
pub fn like_steps(pattern: &str, text: &str) -> (bool, u64) {
    let mut steps = 0;
    let segs = segments(pattern);
    let text: Vec<char> = text.chars().collect();
    let matched = match segs.as_slice() {
        [] => text.is_empty(),
        [only] => same(&text, only, &mut steps),
        [first, middle @ .., last] => 'm: {
            if text.len() < first.len() + last.len() {
                break 'm false;
            }
            let end = text.len() - last.len();
            if !same(&text[..first.len()], first, &mut steps)
                || !same(&text[end..], last, &mut steps)
            {
                break 'm false;
            }
            let mut at = first.len();
            for seg in middle {
                match find(&text[at..end], seg, &mut steps) {
                    Some(i) => at += i + seg.len(),
                    None => break 'm false,
                }
            }
            true
        }
    };
    (matched, steps)
}

pub(super) fn same(a: &[char], b: &[char], steps: &mut u64) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            *steps += 1;
            x == y
        })
}

/// The first occurrence of `needle` in `hay` (Knuth–Morris–Pratt: at most
/// 2·(hay + needle) comparisons).
pub(super) fn find(hay: &[char], needle: &[char], steps: &mut u64) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    if hay.len() < needle.len() {
        return None;
    }
    let mut eq = |x: char, y: char| {
        *steps += 1;
        x == y
    };
    // Each comparison either extends the match (and ends the loop) or
    // shortens it: at most one ending comparison per character, and no
    // more shortenings than extensions.
    let mut fail = vec![0usize; needle.len()];
    let mut k = 0;
    for i in 1..needle.len() {
        loop {
            if eq(needle[i], needle[k]) {
                k += 1;
                break;
            }
            if k == 0 {
                break;
            }
            k = fail[k - 1];
        }
        fail[i] = k;
    }
    k = 0;
    for (i, &c) in hay.iter().enumerate() {
        loop {
            if eq(c, needle[k]) {
                k += 1;
                break;
            }
            if k == 0 {
                break;
            }
            k = fail[k - 1];
        }
        if k == needle.len() {
            return Some(i + 1 - k);
        }
    }
    None
}
