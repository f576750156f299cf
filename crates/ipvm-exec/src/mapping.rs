//! IPLD to WIT and back, by Homestar's rules (see `docs/spec.md`, "IPLD and
//! WIT"). Lowering is strict: an integer that does not fit is an error, not
//! a wrap, and every error names the argument and the path inside it. In
//! [`Mode::Exact`] (a task admitted from a UCAN invocation) it accepts one
//! form per guest value: none of the conversions below, so the value a
//! policy compared is the value the guest receives.
//!
//! Past 600 lines with its tests (about 590 of code): the tests of every
//! row of the spec's IPLD/WIT table in both directions sit beside it.

use std::collections::{BTreeMap, HashMap};

use ipvm_core::awaits::kind_name;
use ipvm_core::dagjson::base64_encode;
use ipvm_core::{Cid, Ipld};

use crate::abi::WitValue;
use crate::wit::WitType;
use crate::ExecError;

/// How arguments are read: by Homestar's rules, or exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every form of the table in docs/spec.md §8 ("IPLD and WIT") and
    /// every spelling of the export name (workflows).
    Lenient,
    /// The export named exactly, and one form per guest value: no bool for
    /// an integer, no bytes, null or link for a string, no list of integers
    /// or link for `list<u8>`, no number the guest would receive rounded,
    /// flags in declaration order, every record field given, a variant as
    /// `{case: payload}`, a result as `[ok, null]` / `[null, err]`, a
    /// `list<tuple<string, T>>` as its list of pairs (docs/spec.md §8,
    /// "Exact mode"). For tasks admitted from UCAN invocations.
    Exact,
}

/// Links inside `v` whose WIT type is `list<u8>`: their content must be
/// fetched before the call (this is how images are passed by CID).
pub fn byte_links(v: &Ipld, t: &WitType, out: &mut Vec<Cid>) {
    match (v, t) {
        (Ipld::Link(c), WitType::List(e)) if **e == WitType::U8 => out.push(*c),
        (Ipld::List(items), WitType::List(e)) => items.iter().for_each(|i| byte_links(i, e, out)),
        (Ipld::List(items), WitType::Tuple(ts)) => items
            .iter()
            .zip(ts)
            .for_each(|(i, t)| byte_links(i, t, out)),
        (Ipld::Map(m), WitType::Record(fs)) => fs.iter().for_each(|(n, t)| {
            if let Some(i) = m.get(n) {
                byte_links(i, t, out)
            }
        }),
        (v, WitType::Option(t)) if *v != Ipld::Null => byte_links(v, t, out),
        _ => {}
    }
}

/// Where in an argument a value sits, for error messages.
struct At<'a> {
    index: usize,
    name: &'a str,
    path: String,
    mode: Mode,
}

impl At<'_> {
    fn err(&self, reason: String) -> ExecError {
        let place = if self.path.is_empty() {
            String::new()
        } else {
            format!(" at `{}`", self.path)
        };
        ExecError::Argument {
            index: self.index,
            reason: format!("(`{}`){place}: {reason}", self.name),
        }
    }
    /// An error for a form exact mode refuses: what was sent, and why.
    fn inexact(&self, what: &str) -> ExecError {
        self.err(format!(
            "{what} (an invocation's arguments reach the guest as sent: one form per value, \
             docs/spec.md §8 \"Exact mode\")"
        ))
    }
    fn exact(&self) -> bool {
        self.mode == Mode::Exact
    }
    fn down(&self, seg: &str) -> At<'_> {
        At {
            index: self.index,
            name: self.name,
            mode: self.mode,
            path: if self.path.is_empty() {
                seg.to_string()
            } else {
                format!("{}{seg}", self.path)
            },
        }
    }
}

/// Converts argument `index` (parameter `name` of type `t`) to a WIT value,
/// in `mode`. `fetched` holds the bytes of the links found by [`byte_links`].
pub fn to_wit(
    index: usize,
    name: &str,
    v: &Ipld,
    t: &WitType,
    fetched: &HashMap<Cid, Vec<u8>>,
    mode: Mode,
) -> Result<WitValue, ExecError> {
    lower(
        &At {
            index,
            name,
            path: String::new(),
            mode,
        },
        v,
        t,
        fetched,
    )
}

fn int(at: &At<'_>, v: &Ipld, t: &WitType, lo: i128, hi: i128) -> Result<i128, ExecError> {
    match v {
        Ipld::Integer(i) if (lo..=hi).contains(i) => Ok(*i),
        Ipld::Integer(i) => Err(at.err(format!("{i} does not fit {} ({lo}..={hi})", t.describe()))),
        other => Err(at.err(format!(
            "expected an integer for {}, found {}",
            t.describe(),
            kind_name(other)
        ))),
    }
}

fn lower(
    at: &At<'_>,
    v: &Ipld,
    t: &WitType,
    fetched: &HashMap<Cid, Vec<u8>>,
) -> Result<WitValue, ExecError> {
    let found = || kind_name(v);
    Ok(match t {
        WitType::Bool => match v {
            Ipld::Bool(b) => WitValue::Bool(*b),
            _ => return Err(at.err(format!("expected a boolean, found {}", found()))),
        },
        WitType::S8 => WitValue::S8(int(at, v, t, i8::MIN.into(), i8::MAX.into())? as i8),
        WitType::U8 => WitValue::U8(int(at, v, t, 0, u8::MAX.into())? as u8),
        WitType::S16 => WitValue::S16(int(at, v, t, i16::MIN.into(), i16::MAX.into())? as i16),
        WitType::U16 => WitValue::U16(int(at, v, t, 0, u16::MAX.into())? as u16),
        WitType::S32 => WitValue::S32(int(at, v, t, i32::MIN.into(), i32::MAX.into())? as i32),
        WitType::U32 => WitValue::U32(int(at, v, t, 0, u32::MAX.into())? as u32),
        WitType::S64 => WitValue::S64(int(at, v, t, i64::MIN.into(), i64::MAX.into())? as i64),
        WitType::U64 => WitValue::U64(int(at, v, t, 0, u64::MAX.into())? as u64),
        WitType::F32 | WitType::F64 => {
            let f = match v {
                Ipld::Float(f) => *f,
                Ipld::Integer(i) => *i as f64,
                _ => return Err(at.err(format!("expected a number, found {}", found()))),
            };
            if at.exact() {
                if let Some(why) = rounded(v, f, *t == WitType::F32) {
                    return Err(at.inexact(&why));
                }
            }
            if *t == WitType::F32 {
                WitValue::F32(f as f32)
            } else {
                WitValue::F64(f)
            }
        }
        WitType::Char => match v {
            Ipld::String(s) if s.chars().count() == 1 => {
                WitValue::Char(s.chars().next().unwrap_or_default())
            }
            Ipld::String(s) => {
                return Err(at.err(format!(
                    "a char must be a string of one character, found {s:?}"
                )))
            }
            _ => {
                return Err(at.err(format!(
                    "expected a one-character string, found {}",
                    found()
                )))
            }
        },
        WitType::String => WitValue::String(match v {
            Ipld::String(s) => s.clone(),
            _ if at.exact() => {
                return Err(at.inexact(&format!("expected a string, found {}", found())))
            }
            Ipld::Bytes(b) => base64_encode(b),
            Ipld::Null => "null".into(),
            Ipld::Link(c) => c.to_string(),
            _ => {
                return Err(at.err(format!(
                    "expected a string (or bytes, null, a link), found {}",
                    found()
                )))
            }
        }),
        WitType::Enum(cases) => match v {
            Ipld::String(s) => match cases.iter().position(|c| c == s) {
                Some(i) => WitValue::Enum(i as u32),
                None => return Err(at.err(format!("`{s}` is not a case of {}", t.describe()))),
            },
            _ => {
                return Err(at.err(format!(
                    "expected a case name of {}, found {}",
                    t.describe(),
                    found()
                )))
            }
        },
        WitType::Flags(names) => match v {
            Ipld::List(items) => {
                let mut set = vec![false; names.len()];
                let mut last = None;
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Ipld::String(s) => match names.iter().position(|n| n == s) {
                            Some(k) if at.exact() && last.is_some_and(|l| l >= k) => {
                                return Err(at.down(&format!("[{i}]")).inexact(&format!(
                                    "flag `{s}` repeated or out of order: flags are listed once each, in the order {} declares them",
                                    t.describe()
                                )))
                            }
                            Some(k) => {
                                set[k] = true;
                                last = Some(k);
                            }
                            None => {
                                return Err(at
                                    .down(&format!("[{i}]"))
                                    .err(format!("`{s}` is not a flag of {}", t.describe())))
                            }
                        },
                        other => {
                            return Err(at
                                .down(&format!("[{i}]"))
                                .err(format!("expected a flag name, found {}", kind_name(other))))
                        }
                    }
                }
                WitValue::Flags(set)
            }
            _ => return Err(at.err(format!("expected a list of flag names, found {}", found()))),
        },
        WitType::List(e) if **e == WitType::U8 => match v {
            Ipld::Bytes(b) => WitValue::Bytes(b.clone()),
            Ipld::Link(_) if at.exact() => {
                return Err(at.inexact(
                    "expected bytes, found a link (its content would reach the guest, not the link a policy saw: pass the bytes)",
                ))
            }
            _ if at.exact() => {
                return Err(at.inexact(&format!("expected bytes, found {}", found())))
            }
            Ipld::Link(c) => WitValue::Bytes(
                fetched
                    .get(c)
                    .cloned()
                    .ok_or_else(|| at.err(format!("the content of {c} is not in the store")))?,
            ),
            Ipld::List(items) => WitValue::Bytes(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| int(&at.down(&format!("[{i}]")), x, e, 0, 255).map(|b| b as u8))
                    .collect::<Result<_, _>>()?,
            ),
            _ => {
                return Err(at.err(format!(
                    "expected bytes, a list of integers or a link, found {}",
                    found()
                )))
            }
        },
        WitType::List(e) => match (v, &**e) {
            (Ipld::List(items), _) => WitValue::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| lower(&at.down(&format!("[{i}]")), x, e, fetched))
                    .collect::<Result<_, _>>()?,
            ),
            (Ipld::Map(_), WitType::Tuple(_)) if at.exact() => {
                return Err(at.inexact(&format!(
                    "expected the list of pairs for {}, found a map",
                    t.describe()
                )))
            }
            (Ipld::Map(m), WitType::Tuple(kv)) if kv.len() == 2 && kv[0] == WitType::String => {
                WitValue::List(
                    m.iter()
                        .map(|(k, x)| {
                            Ok(WitValue::Tuple(vec![
                                WitValue::String(k.clone()),
                                lower(&at.down(&format!(".{k}")), x, &kv[1], fetched)?,
                            ]))
                        })
                        .collect::<Result<_, ExecError>>()?,
                )
            }
            _ => {
                return Err(at.err(format!(
                    "expected a list for {}, found {}",
                    t.describe(),
                    found()
                )))
            }
        },
        WitType::Tuple(ts) => match v {
            Ipld::List(items) if items.len() == ts.len() => WitValue::Tuple(
                items
                    .iter()
                    .zip(ts)
                    .enumerate()
                    .map(|(i, (x, t))| lower(&at.down(&format!("[{i}]")), x, t, fetched))
                    .collect::<Result<_, _>>()?,
            ),
            Ipld::List(items) => {
                return Err(at.err(format!(
                    "{} needs {} elements, found {}",
                    t.describe(),
                    ts.len(),
                    items.len()
                )))
            }
            _ => {
                return Err(at.err(format!(
                    "expected a list for {}, found {}",
                    t.describe(),
                    found()
                )))
            }
        },
        WitType::Record(fs) => match v {
            Ipld::Map(m) => {
                if let Some(k) = m.keys().find(|k| !fs.iter().any(|(n, _)| n == *k)) {
                    return Err(at.err(format!("unknown field `{k}` for {}", t.describe())));
                }
                WitValue::Record(
                    fs.iter()
                        .map(|(n, ft)| match m.get(n) {
                            Some(x) => lower(&at.down(&format!(".{n}")), x, ft, fetched),
                            None if at.exact() => Err(at.inexact(&format!(
                                "missing field `{n}` of {}: every field is given (null for none)",
                                t.describe()
                            ))),
                            None if matches!(ft, WitType::Option(_)) => Ok(WitValue::Option(None)),
                            None => Err(at.err(format!("missing field `{n}` of {}", t.describe()))),
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            _ => {
                return Err(at.err(format!(
                    "expected a map for {}, found {}",
                    t.describe(),
                    found()
                )))
            }
        },
        WitType::Variant(cases) => {
            let (name, payload) = match v {
                Ipld::String(s) if at.exact() => {
                    return Err(at.inexact(&format!(
                        "expected {{\"{s}\": payload}} for {} (null for no payload), found a string",
                        t.describe()
                    )))
                }
                Ipld::String(s) => (s.as_str(), None),
                Ipld::Map(m) if m.len() == 1 => m
                    .iter()
                    .next()
                    .map(|(k, x)| (k.as_str(), Some(x)))
                    .unwrap_or(("", None)),
                _ => {
                    return Err(at.err(format!(
                        "expected {{\"<case>\": payload}} or \"<case>\" for {}, found {}",
                        t.describe(),
                        found()
                    )))
                }
            };
            let Some(i) = cases.iter().position(|(c, _)| c == name) else {
                return Err(at.err(format!("`{name}` is not a case of {}", t.describe())));
            };
            let sub = at.down(&format!(".{name}"));
            let payload = match (&cases[i].1, payload) {
                (Some(pt), Some(x)) => Some(Box::new(lower(&sub, x, pt, fetched)?)),
                (Some(_), None) => return Err(sub.err("this case needs a payload".into())),
                (None, None | Some(Ipld::Null)) => None,
                (None, Some(_)) => return Err(sub.err("this case takes no payload".into())),
            };
            WitValue::Variant(i as u32, payload)
        }
        WitType::Option(inner) => match v {
            Ipld::Null => WitValue::Option(None),
            x => WitValue::Option(Some(Box::new(lower(at, x, inner, fetched)?))),
        },
        WitType::Result(ok, err) => {
            let side = |x: &Ipld,
                        ty: &Option<Box<WitType>>,
                        seg: &str|
             -> Result<Option<Box<WitValue>>, ExecError> {
                match (ty, x) {
                    (Some(ty), x) => Ok(Some(Box::new(lower(&at.down(seg), x, ty, fetched)?))),
                    (None, Ipld::Null) => Ok(None),
                    (None, _) => Err(at
                        .down(seg)
                        .err("this side of the result takes no value".into())),
                }
            };
            match v {
                Ipld::List(pair) if pair.len() == 2 => match (&pair[0], &pair[1]) {
                    (x, Ipld::Null) if *x != Ipld::Null || ok.is_none() => {
                        WitValue::Result(Ok(side(x, ok, "[0]")?))
                    }
                    (Ipld::Null, y) if *y != Ipld::Null || err.is_none() => {
                        WitValue::Result(Err(side(y, err, "[1]")?))
                    }
                    _ => {
                        return Err(at.err("a result is [value, null] (ok) or [null, error]".into()))
                    }
                },
                Ipld::Map(_) if at.exact() => {
                    return Err(at.inexact(
                        "expected [value, null] (ok) or [null, error] for a result, found a map",
                    ))
                }
                Ipld::Map(m) if m.len() == 1 => match m.iter().next() {
                    Some((k, x)) if k == "ok" => WitValue::Result(Ok(side(x, ok, ".ok")?)),
                    Some((k, x)) if k == "error" || k == "err" => {
                        WitValue::Result(Err(side(x, err, ".error")?))
                    }
                    _ => return Err(at.err("a result map is {\"ok\": v} or {\"error\": e}".into())),
                },
                _ => {
                    return Err(at.err(format!(
                        "expected [ok, null] or [null, error] for {}, found {}",
                        t.describe(),
                        found()
                    )))
                }
            }
        }
    })
}

/// Why `v` (read as the f64 `f`) would not reach the guest as itself as an
/// `f64` (or an `f32`): an integer no f64 holds exactly, or a value an
/// `f32` rounds. `None`: it arrives exactly.
pub(crate) fn rounded(v: &Ipld, f: f64, single: bool) -> Option<String> {
    if let Ipld::Integer(i) = v {
        // An integral f64 within ±2^64 converts back exactly.
        if f as i128 != *i {
            return Some(format!(
                "{i} is not exactly a float: the guest would receive {f}"
            ));
        }
    }
    if single && f64::from(f as f32) != f {
        return Some(format!(
            "{f} is not exactly an f32: the guest would receive {}",
            f as f32
        ));
    }
    None
}

/// A returned float as IPLD: NaN and infinities have no IPLD form.
pub(crate) fn finite(f: f64) -> Result<Ipld, ExecError> {
    if f.is_finite() {
        Ok(Ipld::Float(f))
    } else {
        Err(ExecError::Abi(format!(
            "the function returned {f}, which IPLD cannot represent"
        )))
    }
}

/// A returned `f32` as IPLD: the shortest decimal that reads back as the
/// same `f32`, so `0.1f32` is `0.1`, not `0.10000000149011612`.
pub(crate) fn f32_to_ipld(x: f32) -> Result<Ipld, ExecError> {
    finite(x.to_string().parse::<f64>().unwrap_or(f64::from(x)))
}

/// Converts a returned WIT value to IPLD.
pub fn to_ipld(v: &WitValue, t: &WitType) -> Result<Ipld, ExecError> {
    Ok(match (v, t) {
        (WitValue::Bool(b), _) => Ipld::Bool(*b),
        (WitValue::S8(x), _) => Ipld::Integer((*x).into()),
        (WitValue::U8(x), _) => Ipld::Integer((*x).into()),
        (WitValue::S16(x), _) => Ipld::Integer((*x).into()),
        (WitValue::U16(x), _) => Ipld::Integer((*x).into()),
        (WitValue::S32(x), _) => Ipld::Integer((*x).into()),
        (WitValue::U32(x), _) => Ipld::Integer((*x).into()),
        (WitValue::S64(x), _) => Ipld::Integer((*x).into()),
        (WitValue::U64(x), _) => Ipld::Integer((*x).into()),
        // The shortest decimal that reads back as the same f32, so 0.1f32 is 0.1.
        (WitValue::F32(x), _) => f32_to_ipld(*x)?,
        (WitValue::F64(x), _) => finite(*x)?,
        (WitValue::Char(c), _) => Ipld::String(c.to_string()),
        (WitValue::String(s), _) if s == "null" => Ipld::Null,
        (WitValue::String(s), _) => match Cid::try_from(s.as_str()) {
            Ok(c) => Ipld::Link(c),
            Err(_) => Ipld::String(s.clone()),
        },
        (WitValue::Bytes(b), _) => Ipld::Bytes(b.clone()),
        (WitValue::List(items), WitType::List(e)) => {
            if let WitType::Tuple(kv) = &**e {
                if kv.len() == 2 && kv[0] == WitType::String {
                    let mut m = BTreeMap::new();
                    for item in items {
                        if let WitValue::Tuple(pair) = item {
                            if let [WitValue::String(k), x] = pair.as_slice() {
                                m.insert(k.clone(), to_ipld(x, &kv[1])?);
                            }
                        }
                    }
                    if m.len() == items.len() {
                        return Ok(Ipld::Map(m));
                    }
                }
            }
            Ipld::List(
                items
                    .iter()
                    .map(|x| to_ipld(x, e))
                    .collect::<Result<_, _>>()?,
            )
        }
        (WitValue::Tuple(items), WitType::Tuple(ts)) => Ipld::List(
            items
                .iter()
                .zip(ts)
                .map(|(x, t)| to_ipld(x, t))
                .collect::<Result<_, _>>()?,
        ),
        (WitValue::Record(items), WitType::Record(fs)) => Ipld::Map(
            items
                .iter()
                .zip(fs)
                .map(|(x, (n, t))| Ok((n.clone(), to_ipld(x, t)?)))
                .collect::<Result<_, ExecError>>()?,
        ),
        (WitValue::Flags(set), WitType::Flags(names)) => Ipld::List(
            set.iter()
                .zip(names)
                .filter(|(on, _)| **on)
                .map(|(_, n)| Ipld::String(n.clone()))
                .collect(),
        ),
        (WitValue::Enum(i), WitType::Enum(names)) => {
            Ipld::String(names.get(*i as usize).cloned().unwrap_or_default())
        }
        (WitValue::Variant(i, p), WitType::Variant(cases)) => {
            let (name, pt) = cases
                .get(*i as usize)
                .ok_or_else(|| ExecError::Abi(format!("case {i} out of range")))?;
            let payload = match (p, pt) {
                (Some(p), Some(pt)) => to_ipld(p, pt)?,
                _ => Ipld::Null,
            };
            Ipld::Map(BTreeMap::from([(name.clone(), payload)]))
        }
        (WitValue::Option(None), _) => Ipld::Null,
        (WitValue::Option(Some(x)), WitType::Option(inner)) => to_ipld(x, inner)?,
        (WitValue::Result(r), WitType::Result(ok, err)) => {
            let side = |p: &Option<Box<WitValue>>, t: &Option<Box<WitType>>| match (p, t) {
                (Some(p), Some(t)) => to_ipld(p, t),
                _ => Ok(Ipld::Null),
            };
            match r {
                Ok(p) => Ipld::List(vec![side(p, ok)?, Ipld::Null]),
                Err(p) => Ipld::List(vec![Ipld::Null, side(p, err)?]),
            }
        }
        (v, t) => {
            return Err(ExecError::Abi(format!(
                "value {v:?} does not match {}",
                t.describe()
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each form exact mode refuses, beside the one it takes: the value a
    /// policy compared is the value the guest receives.
    #[test]
    fn exact_mode_takes_one_form_per_value() {
        let none = HashMap::new();
        let exact = |v: Ipld, t: &WitType| to_wit(0, "x", &v, t, &none, Mode::Exact);
        let lenient = |v: Ipld, t: &WitType| to_wit(0, "x", &v, t, &none, Mode::Lenient);
        let text = |t: &str| Ipld::String(t.into());
        let map = |pairs: Vec<(&str, Ipld)>| {
            Ipld::Map(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
        };
        let link = Ipld::Link(ipvm_core::address::raw_cid(b"x"));
        let bytes_t = WitType::List(Box::new(WitType::U8));
        let record = WitType::Record(vec![
            ("a".into(), WitType::S32),
            ("b".into(), WitType::Option(Box::new(WitType::S32))),
        ]);
        let flags = WitType::Flags(vec!["r".into(), "w".into()]);
        let variant =
            WitType::Variant(vec![("dot".into(), None), ("n".into(), Some(WitType::S32))]);
        let result = WitType::Result(Some(Box::new(WitType::S32)), None);
        let pairs = WitType::List(Box::new(WitType::Tuple(vec![
            WitType::String,
            WitType::S32,
        ])));
        // (refused form, why, the form taken), each with its type.
        let cases = [
            (
                Ipld::Bytes(vec![1]),
                "found bytes",
                text("AQ"),
                WitType::String,
            ),
            (Ipld::Null, "found null", text("null"), WitType::String),
            (link.clone(), "found a link", text("x"), WitType::String),
            (
                Ipld::List(vec![Ipld::Integer(1)]),
                "found a list",
                Ipld::Bytes(vec![1]),
                bytes_t.clone(),
            ),
            (
                Ipld::Float(0.1),
                "not exactly an f32",
                Ipld::Float(0.5),
                WitType::F32,
            ),
            (
                Ipld::Integer((1 << 53) + 1),
                "not exactly a float",
                Ipld::Integer(1 << 53),
                WitType::F64,
            ),
            (
                map(vec![("a", Ipld::Integer(1))]),
                "missing field `b`",
                map(vec![("a", Ipld::Integer(1)), ("b", Ipld::Null)]),
                record,
            ),
            (
                Ipld::List(vec![text("w"), text("r")]),
                "out of order",
                Ipld::List(vec![text("r"), text("w")]),
                flags.clone(),
            ),
            (
                Ipld::List(vec![text("r"), text("r")]),
                "repeated",
                Ipld::List(vec![text("r")]),
                flags,
            ),
            (
                text("dot"),
                "found a string",
                map(vec![("dot", Ipld::Null)]),
                variant,
            ),
            (
                map(vec![("ok", Ipld::Integer(1))]),
                "found a map",
                Ipld::List(vec![Ipld::Integer(1), Ipld::Null]),
                result,
            ),
            (
                map(vec![("k", Ipld::Integer(1))]),
                "found a map",
                Ipld::List(vec![Ipld::List(vec![text("k"), Ipld::Integer(1)])]),
                pairs,
            ),
        ];
        for (refused, why, taken, t) in cases {
            let e = exact(refused.clone(), &t).unwrap_err().to_string();
            assert!(
                e.contains(why) && e.contains("Exact mode"),
                "{refused:?} for {}: {e}",
                t.describe()
            );
            let got = exact(taken.clone(), &t).unwrap_or_else(|e| panic!("{taken:?}: {e}"));
            assert_eq!(lenient(taken, &t).unwrap(), got);
        }
        // A link for `list<u8>` (its content would reach the guest).
        let e = exact(link, &bytes_t).unwrap_err().to_string();
        assert!(e.contains("found a link"), "{e}");
        // `true` is not an integer.
        assert!(exact(Ipld::Bool(true), &WitType::S32).is_err());
    }

    #[test]
    fn integers_are_range_checked_not_wrapped() {
        let e = to_wit(
            2,
            "x",
            &Ipld::Integer(256),
            &WitType::U8,
            &HashMap::new(),
            Mode::Lenient,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "argument 2: (`x`): 256 does not fit u8 (0..=255)"
        );
        let e = to_wit(
            0,
            "x",
            &Ipld::Integer(-1),
            &WitType::U64,
            &HashMap::new(),
            Mode::Lenient,
        )
        .unwrap_err();
        assert!(e.to_string().contains("-1 does not fit u64"), "{e}");
    }
}
