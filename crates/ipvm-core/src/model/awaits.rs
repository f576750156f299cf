//! Awaits: an argument that stands for another task's result.
//!
//! `{"await/ok": {"/": cid}}` is the awaited instruction's output (and fails
//! the awaiting task if that one failed), `{"await/error": …}` is its error
//! (and fails the awaiting task if that one succeeded), `{"await/*": …}` is
//! its whole `out` (`["ok", v]` or `["error", e]`) either way.

use std::collections::BTreeMap;

use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::model::receipt::Outcome;
use crate::ValidationError;

/// Which part of the awaited result is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AwaitKind {
    /// `await/ok`: the output; the awaiting task fails if the awaited one failed.
    Ok,
    /// `await/error`: the error; the awaiting task fails if the awaited one succeeded.
    Error,
    /// `await/*`: the whole result, `["ok", v]` or `["error", e]`.
    Any,
}

impl AwaitKind {
    /// The DAG-JSON key of this kind.
    pub fn key(self) -> &'static str {
        match self {
            AwaitKind::Ok => "await/ok",
            AwaitKind::Error => "await/error",
            AwaitKind::Any => "await/*",
        }
    }

    fn from_key(key: &str) -> Option<Self> {
        match key {
            "await/ok" => Some(AwaitKind::Ok),
            "await/error" => Some(AwaitKind::Error),
            "await/*" => Some(AwaitKind::Any),
            _ => None,
        }
    }
}

/// One await found in a task's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Await {
    /// What is wanted.
    pub kind: AwaitKind,
    /// The instruction whose result is awaited.
    pub target: Cid,
}

/// Whether `value` is an await (a map keyed `await/…`), well formed or not
/// (what a task's fetch leaves out: feature `fetch`).
#[cfg(feature = "fetch")]
pub(crate) fn is_await(value: &Ipld) -> bool {
    !matches!(as_await(value, 0, ""), Ok(None))
}

/// Recognises an await in a single value, or `Ok(None)` if it is not one.
fn as_await(value: &Ipld, task: usize, field: &str) -> Result<Option<Await>, ValidationError> {
    let Ipld::Map(map) = value else {
        return Ok(None);
    };
    if map.len() != 1 {
        if let Some(key) = map.keys().find(|k| k.starts_with("await/")) {
            return Err(ValidationError::new(
                task,
                field,
                format!("`{key}` must be the only key of its map"),
            ));
        }
        return Ok(None);
    }
    let Some((key, target)) = map.iter().next() else {
        return Ok(None);
    };
    if !key.starts_with("await/") {
        return Ok(None);
    }
    let kind = AwaitKind::from_key(key).ok_or_else(|| {
        ValidationError::new(
            task,
            field,
            format!("unknown await `{key}`; use await/ok, await/error or await/*"),
        )
    })?;
    match target {
        Ipld::Link(cid) => Ok(Some(Await { kind, target: *cid })),
        other => Err(ValidationError::new(
            task,
            format!("{field}.{key}"),
            format!(
                "a link {{\"/\": \"<instruction CID>\"}} is required, found {}",
                kind_name(other)
            ),
        )),
    }
}

/// Collects every await inside `value` (at any depth), validating their shape.
pub fn collect(
    value: &Ipld,
    task: usize,
    field: &str,
    out: &mut Vec<Await>,
) -> Result<(), ValidationError> {
    if let Some(a) = as_await(value, task, field)? {
        out.push(a);
        return Ok(());
    }
    match value {
        Ipld::List(items) => {
            for (i, v) in items.iter().enumerate() {
                collect(v, task, &format!("{field}[{i}]"), out)?;
            }
        }
        Ipld::Map(map) => {
            for (k, v) in map {
                collect(v, task, &format!("{field}.{k}"), out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Why an await could not be resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsatisfied {
    /// The await that failed.
    pub r#await: Await,
    /// The awaited result.
    pub found: Outcome,
}

/// Replaces every await in `value` with the result it stands for.
/// `results` gives the outcome of each awaited instruction (all must be present).
pub fn substitute(
    value: &Ipld,
    results: &dyn Fn(&Cid) -> Option<Outcome>,
) -> Result<Ipld, Box<Unsatisfied>> {
    if let Ok(Some(a)) = as_await(value, 0, "") {
        let found = results(&a.target)
            .unwrap_or_else(|| Outcome::Err(Ipld::String("awaited result missing".into())));
        return match (a.kind, &found) {
            (AwaitKind::Ok, Outcome::Ok(v)) | (AwaitKind::Error, Outcome::Err(v)) => Ok(v.clone()),
            (AwaitKind::Any, _) => Ok(found.to_ipld()),
            _ => Err(Box::new(Unsatisfied { r#await: a, found })),
        };
    }
    Ok(match value {
        Ipld::List(items) => Ipld::List(
            items
                .iter()
                .map(|v| substitute(v, results))
                .collect::<Result<_, _>>()?,
        ),
        Ipld::Map(map) => Ipld::Map(
            map.iter()
                .map(|(k, v)| Ok::<_, Box<Unsatisfied>>((k.clone(), substitute(v, results)?)))
                .collect::<Result<BTreeMap<_, _>, _>>()?,
        ),
        other => other.clone(),
    })
}

/// `value` with each await on `target` that `outcome` satisfies replaced by
/// the value it stands for; every other await is left as it is.
pub fn fill(value: &Ipld, target: &Cid, outcome: &Outcome) -> Ipld {
    rewrite(value, &|a| {
        if a.target != *target {
            return None;
        }
        match (a.kind, outcome) {
            (AwaitKind::Ok, Outcome::Ok(v)) | (AwaitKind::Error, Outcome::Err(v)) => {
                Some(v.clone())
            }
            (AwaitKind::Any, o) => Some(o.to_ipld()),
            _ => None,
        }
    })
}

/// `value` with each await on `from` pointed at `to` instead (same kind).
pub fn retarget(value: &Ipld, from: &Cid, to: &Cid) -> Ipld {
    rewrite(value, &|a| {
        (a.target == *from).then(|| {
            Ipld::Map(BTreeMap::from([(
                a.kind.key().to_string(),
                Ipld::Link(*to),
            )]))
        })
    })
}

/// `value` with each await that `with` has a replacement for replaced.
fn rewrite(value: &Ipld, with: &dyn Fn(&Await) -> Option<Ipld>) -> Ipld {
    if let Ok(Some(a)) = as_await(value, 0, "") {
        return with(&a).unwrap_or_else(|| value.clone());
    }
    match value {
        Ipld::List(items) => Ipld::List(items.iter().map(|v| rewrite(v, with)).collect()),
        Ipld::Map(map) => Ipld::Map(
            map.iter()
                .map(|(k, v)| (k.clone(), rewrite(v, with)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A short name for the IPLD kind of a value, for error messages.
pub fn kind_name(value: &Ipld) -> &'static str {
    match value {
        Ipld::Null => "null",
        Ipld::Bool(_) => "a boolean",
        Ipld::Integer(_) => "an integer",
        Ipld::Float(_) => "a float",
        Ipld::String(_) => "a string",
        Ipld::Bytes(_) => "bytes",
        Ipld::List(_) => "a list",
        Ipld::Map(_) => "a map",
        Ipld::Link(_) => "a link",
    }
}
