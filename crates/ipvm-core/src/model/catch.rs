//! A workflow's failure handler (`catch`) and its limit `defaults`: the IPVM
//! Workflow draft (ipvm-wg/workflow v0.1, §2.1.5, §2.1.7, §5) on top of
//! Homestar's `{"tasks": [...]}`.
//!
//! ```json
//! {"tasks": [...],
//!  "defaults": {"fuel": 1000000, "time": 5000},
//!  "catch": {"rsc": "ipfs://bafk…", "func": "handle", "args": ["ok", "0"],
//!            "meta": {"fuel": 100000}}}
//! ```
//!
//! The handler is a pure `wasm/run` call. When a pure task fails, it runs as
//! a task of its own: `func(failure, ...args)`, where the failure is
//! `{"instruction": <link to the failed instruction>, "error": <its error
//! value>}`. Its output must be a `Handle`, a map with one key: `{"ok": v}`
//! (the task is taken as having given `v`), `{"rewire": "<instruction CID>"}`
//! (it is taken as having given what that task of the workflow gives) or
//! `{"msg": "…"}` (its failure stands, with this message).

use std::collections::BTreeMap;

use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::model::awaits::{self, kind_name};
use crate::model::limits::{parse_limits, Limits};
use crate::model::workflow::{Instruction, Task};
use crate::CoreError;

/// The handler of a workflow's failed pure tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct Catch {
    /// The handler's module.
    pub module: Cid,
    /// The function to call.
    pub func: String,
    /// Arguments given after the failure.
    pub args: Vec<Ipld>,
    /// The handler's own limits (its `meta`; the workflow's `defaults` fill
    /// what it does not say).
    pub limits: Limits,
}

/// What a handler said to do with a failure (the draft's `Handle` union).
#[derive(Debug, Clone, PartialEq)]
pub enum Handle {
    /// The failed task is taken as having given this value.
    Ok(Ipld),
    /// The failed task is taken as having given what this instruction (a
    /// task of the workflow) gives.
    Rewire(Cid),
    /// The failure stands, with this message.
    Msg(String),
}

impl Catch {
    /// Reads `catch` (`defaults` are applied by the caller).
    pub(crate) fn parse(value: &Ipld) -> Result<Self, CoreError> {
        let bad = |field: &str, why: String| CoreError::Shape(format!("`catch.{field}`: {why}"));
        let Ipld::Map(map) = value else {
            return Err(CoreError::Shape(format!(
                "`catch` must be a map {{rsc, func, args?, meta?}}, found {}",
                kind_name(value)
            )));
        };
        if let Some(k) = map
            .keys()
            .find(|k| !["rsc", "func", "args", "meta"].contains(&k.as_str()))
        {
            return Err(bad(
                k,
                "unknown field (expected one of: rsc, func, args, meta)".into(),
            ));
        }
        let rsc = match map.get("rsc") {
            Some(Ipld::String(s)) => s,
            Some(other) => {
                return Err(bad(
                    "rsc",
                    format!("must be a string, found {}", kind_name(other)),
                ))
            }
            None => {
                return Err(bad(
                    "rsc",
                    "is missing: ipfs://<CID of the handler's module>".into(),
                ))
            }
        };
        let module = rsc
            .strip_prefix("ipfs://")
            .and_then(|c| crate::model::address::parse_cid(c).ok())
            .ok_or_else(|| bad("rsc", format!("`{rsc}` must be ipfs://<CID of the module>")))?;
        let func = match map.get("func") {
            Some(Ipld::String(s)) if !s.is_empty() => s.clone(),
            Some(Ipld::String(_)) => return Err(bad("func", "must not be empty".into())),
            Some(other) => {
                return Err(bad(
                    "func",
                    format!("must be a string, found {}", kind_name(other)),
                ))
            }
            None => return Err(bad("func", "is missing".into())),
        };
        let args = match map.get("args") {
            None => Vec::new(),
            Some(Ipld::List(items)) => items.clone(),
            Some(other) => {
                return Err(bad(
                    "args",
                    format!("must be a list, found {}", kind_name(other)),
                ))
            }
        };
        let mut found = Vec::new();
        for (i, a) in args.iter().enumerate() {
            awaits::collect(a, 0, &format!("args[{i}]"), &mut found)
                .map_err(|e| bad("args", e.reason))?;
        }
        if !found.is_empty() {
            return Err(bad(
                "args",
                "must not await: the handler runs on the failure alone (and these values)".into(),
            ));
        }
        let limits = match map.get("meta") {
            None | Some(Ipld::Null) => Limits::default(),
            Some(meta) => parse_limits(0, meta).map_err(|e| bad(&e.field, e.reason))?,
        };
        Ok(Self {
            module,
            func,
            args,
            limits,
        })
    }

    /// `catch` as IPLD, as it was read.
    pub fn to_ipld(&self) -> Ipld {
        Ipld::Map(BTreeMap::from([
            (
                "rsc".to_string(),
                Ipld::String(format!("ipfs://{}", self.module)),
            ),
            ("func".to_string(), Ipld::String(self.func.clone())),
            ("args".to_string(), Ipld::List(self.args.clone())),
            ("meta".to_string(), self.limits.to_ipld()),
        ]))
    }

    /// The handler's task for a failure of `instruction` with `error`: an
    /// instruction of its own (so its receipt is memoized by its own CID,
    /// and indexed under the failed instruction as an input).
    pub fn task_for(&self, instruction: Cid, error: &Ipld) -> Result<Task, CoreError> {
        let failure = Ipld::Map(BTreeMap::from([
            ("instruction".to_string(), Ipld::Link(instruction)),
            ("error".to_string(), error.clone()),
        ]));
        let mut args = vec![failure];
        args.extend(self.args.iter().cloned());
        let run = Instruction::new(
            self.module,
            "wasm/run",
            &self.func,
            args,
            Ipld::String(String::new()),
        )?;
        Ok(Task {
            limits: self.limits,
            ..Task::new(run)
        })
    }
}

impl Handle {
    /// Reads a handler's output: a map with one key, `ok`, `rewire` (an
    /// instruction CID, as a string or a link) or `msg` (a string).
    pub fn from_output(out: &Ipld) -> Result<Self, String> {
        let Ipld::Map(map) = out else {
            return Err(format!(
                "its output must be a Handle ({{\"ok\": v}}, {{\"rewire\": cid}} or {{\"msg\": text}}), found {}",
                kind_name(out)
            ));
        };
        let mut entries = map.iter();
        let (Some((key, value)), None) = (entries.next(), entries.next()) else {
            return Err(format!(
                "its output must be a map with exactly one key (ok, rewire or msg), found {} keys",
                map.len()
            ));
        };
        match (key.as_str(), value) {
            ("ok", v) => Ok(Self::Ok(v.clone())),
            ("rewire", Ipld::Link(c)) => Ok(Self::Rewire(*c)),
            ("rewire", Ipld::String(s)) => crate::model::address::parse_cid(s)
                .map(Self::Rewire)
                .map_err(|e| format!("`rewire` must name an instruction CID: {e}")),
            ("msg", Ipld::String(s)) => Ok(Self::Msg(s.clone())),
            ("rewire" | "msg", other) => Err(format!(
                "`{key}` must be a string, found {}",
                kind_name(other)
            )),
            (other, _) => Err(format!(
                "unknown Handle case `{other}` (expected ok, rewire or msg)"
            )),
        }
    }
}

/// `defaults` applied to limits: each field the task's own `meta` does not
/// give (`given`: the keys it has) is taken from the workflow's defaults. A
/// key given stands, "no fuel limit" (2^64-1) included.
pub(crate) fn with_defaults(own: Limits, defaults: &Limits, given: Vec<String>) -> Limits {
    let has = |k: &str| given.iter().any(|g| g == k);
    Limits {
        fuel: if has("fuel") { own.fuel } else { defaults.fuel },
        memory: if has("memory") {
            own.memory
        } else {
            defaults.memory
        },
        time: if has("time") { own.time } else { defaults.time },
    }
}
