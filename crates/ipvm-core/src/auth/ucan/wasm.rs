//! IPVM tasks as UCAN invocations (docs/spec.md §5c): `cmd "/wasm/run"`,
//! `args {module, func, args, fuel?, memory?, time?}`. The limits are in the
//! arguments so that a delegation's policy can bound them; a missing one is
//! the runtime's default, so a task never runs with more than its
//! invocation allows.
//!
//! [`Authority`] admits an invocation for this runtime: a valid chain, this
//! runtime as its audience, a subject it accepts (itself, or a DID it was
//! told to accept), and no replay: an invocation from another principal
//! must carry `exp`, and is accepted once until then.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::auth::identity::Did;
use crate::auth::ucan::{validate_with, Invocation, Token, UcanError, UcanErrorKind};
use crate::model::address::parse_cid;
use crate::model::workflow::{Instruction, Limits, Task};

/// The command that runs a Wasm function.
pub const WASM_RUN: &str = "/wasm/run";

/// The operation of the instruction an invocation's task runs: `wasm/run`
/// in exact mode (docs/spec.md §8, "Exact mode"). The executor resolves the
/// export named exactly `func` (no kebab, snake or camel spelling) and
/// lowers each argument only from the one form that gives the guest that
/// value, so the call the policies judged is the call that runs. The mode is
/// in the instruction, and so in its CID: a receipt of a lenient
/// `wasm/run` is never a memo hit for an invocation, and a re-run (verify,
/// spot-check, a worker) runs in the same mode. One of the standard ops
/// ([`crate::model::op::Ops::standard`]).
pub const EXACT_RUN_OP: &str = crate::model::op::WASM_RUN_EXACT;

fn malformed(detail: impl Into<String>) -> UcanError {
    UcanError {
        kind: UcanErrorKind::Malformed,
        detail: detail.into(),
    }
}

fn limit(args: &BTreeMap<String, Ipld>, key: &str) -> Result<Option<u64>, UcanError> {
    match args.get(key) {
        None => Ok(None),
        Some(Ipld::Integer(n)) => u64::try_from(*n)
            .map(Some)
            .map_err(|_| malformed(format!("args.{key} must be a non-negative integer"))),
        Some(_) => Err(malformed(format!("args.{key} must be an integer"))),
    }
}

/// The `args` of a `/wasm/run` invocation (the inverse of [`task_of`]):
/// `module` as its canonical CID string, the limits that are set, `nnc` if
/// given.
pub fn run_args(
    module: &Cid,
    func: &str,
    args: Vec<Ipld>,
    limits: Limits,
    nnc: Option<String>,
) -> BTreeMap<String, Ipld> {
    let mut m = BTreeMap::from([
        ("module".to_string(), Ipld::String(module.to_string())),
        ("func".to_string(), Ipld::String(func.to_string())),
        ("args".to_string(), Ipld::List(args)),
    ]);
    for (k, v) in [
        ("fuel", limits.fuel),
        ("memory", limits.memory),
        ("time", limits.time),
    ] {
        if let Some(n) = v {
            m.insert(k.to_string(), Ipld::Integer(n.into()));
        }
    }
    if let Some(n) = nnc {
        m.insert("nnc".to_string(), Ipld::String(n));
    }
    m
}

/// The task a `/wasm/run` invocation asks for: an instruction of op
/// [`EXACT_RUN_OP`]; its proofs become the task's `prf`. The invocation's nonce makes the *invocation* unique (its
/// CID, for replay); the *instruction* is the function call, so two
/// invocations of the same call share a memo key. `args.nnc` (a string)
/// gives the instruction a nonce of its own when a caller wants one.
pub fn task_of(inv: &Invocation) -> Result<Task, UcanError> {
    if inv.cmd != WASM_RUN {
        return Err(UcanError {
            kind: UcanErrorKind::InvalidCommand,
            detail: format!("this runtime runs `{WASM_RUN}`, not `{}`", inv.cmd),
        });
    }
    let a = &inv.args;
    if let Some(k) = a.keys().find(|k| {
        !["module", "func", "args", "fuel", "memory", "time", "nnc"].contains(&k.as_str())
    }) {
        return Err(malformed(format!(
            "args.{k}: unknown (known: module, func, args, fuel, memory, time, nnc)"
        )));
    }
    let module = match a.get("module") {
        Some(Ipld::Link(c)) => *c,
        Some(Ipld::String(s)) => {
            parse_cid(s).map_err(|e| malformed(format!("args.module: {e}")))?
        }
        _ => {
            return Err(malformed(
                "args.module must be the module's CID (a string or a link)",
            ))
        }
    };
    let Some(Ipld::String(func)) = a.get("func") else {
        return Err(malformed("args.func must be a string"));
    };
    let call_args = match a.get("args") {
        None => Vec::new(),
        Some(Ipld::List(l)) => l.clone(),
        Some(_) => return Err(malformed("args.args must be a list")),
    };
    let nnc = match a.get("nnc") {
        None => String::new(),
        Some(Ipld::String(n)) => n.clone(),
        Some(_) => return Err(malformed("args.nnc must be a string")),
    };
    let run = Instruction::new(module, EXACT_RUN_OP, func, call_args, Ipld::String(nnc))
        .map_err(|e| malformed(format!("args: {e}")))?;
    // An invocation carries values, not promises: an await would be filled
    // from this runtime's own receipts, after the policy saw only the await.
    if !run.awaits().is_empty() {
        return Err(malformed(
            "args.args must not contain awaits: an invocation carries values",
        ));
    }
    Ok(Task {
        limits: Limits {
            fuel: limit(a, "fuel")?,
            memory: limit(a, "memory")?,
            time: limit(a, "time")?,
        },
        prf: inv.prf.clone(),
        ..Task::new(run)
    })
}

/// The arguments as `/wasm/run` reads them: `module` in the one spelling
/// of its CID (the string CIDv1 form, whatever form was sent: a link, an
/// `ipfs://` prefix, another base). Policies see this view. `func` and
/// `args` need no rewriting: the task runs in exact mode
/// ([`EXACT_RUN_OP`]), where the export is the one named and each argument
/// reaches the guest as the value sent, or the task is refused.
fn canonical_args(args: &BTreeMap<String, Ipld>) -> Ipld {
    let mut view = args.clone();
    let canonical = match args.get("module") {
        Some(Ipld::Link(c)) => Some(*c),
        Some(Ipld::String(s)) => parse_cid(s).ok(),
        _ => None,
    };
    if let Some(c) = canonical {
        let v1 = if c.version() == cid::Version::V0 {
            Cid::new_v1(crate::model::address::DAG_PB, *c.hash())
        } else {
            c
        };
        view.insert("module".into(), Ipld::String(v1.to_string()));
    }
    Ipld::Map(view)
}

/// Who may have this runtime run a task, and the invocations it has seen.
#[derive(Debug)]
pub struct Authority {
    own: Did,
    accepted: BTreeSet<Did>,
    /// Invocations from others accepted so far, with their `exp`.
    seen: Mutex<BTreeMap<Cid, i64>>,
}

impl Authority {
    /// Accepts tasks under this runtime's own authority.
    pub fn new(own: Did) -> Self {
        Self {
            own,
            accepted: BTreeSet::new(),
            seen: Mutex::new(BTreeMap::new()),
        }
    }

    /// Accepts tasks under these authorities too (`trust.authorities`).
    pub fn with_authorities(mut self, dids: impl IntoIterator<Item = Did>) -> Self {
        self.accepted.extend(dids);
        self
    }

    /// Adds invocations accepted before (kept by the adapter across reloads
    /// and tabs), with their `exp`.
    pub fn remember(&self, seen: impl IntoIterator<Item = (Cid, i64)>) {
        let mut set = match self.seen.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        set.extend(seen);
    }

    /// The invocations from others accepted and not yet expired at `now`.
    pub fn seen(&self, now: i64) -> BTreeMap<Cid, i64> {
        let set = match self.seen.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        set.iter()
            .filter(|(_, exp)| **exp >= now)
            .map(|(c, e)| (*c, *e))
            .collect()
    }

    /// Admits `invocation` (with its proofs looked up by CID) at time `now`
    /// (seconds): the task to run, or why not. Refused means nothing runs.
    pub fn admit(
        &self,
        invocation: &Token,
        proof: &dyn Fn(&Cid) -> Option<Token>,
        now: i64,
    ) -> Result<Task, UcanError> {
        let inv = validate_with(invocation, proof, now, &canonical_args)?;
        let aud = inv.aud.as_ref().unwrap_or(&inv.sub);
        if *aud != self.own {
            return Err(UcanError {
                kind: UcanErrorKind::InvalidAudience,
                detail: format!(
                    "the invocation is for {aud}, and this runtime is {}",
                    self.own
                ),
            });
        }
        if inv.sub != self.own && !self.accepted.contains(&inv.sub) {
            return Err(UcanError {
                kind: UcanErrorKind::InvalidSubject,
                detail: format!(
                    "{} is not an authority this runtime accepts (itself, or trust.authorities)",
                    inv.sub
                ),
            });
        }
        let task = task_of(&inv)?;
        if inv.iss != self.own {
            let Some(exp) = inv.exp else {
                return Err(UcanError {
                    kind: UcanErrorKind::InvalidClaim,
                    detail: "an invocation from another principal must carry `exp` (so that its replay can be refused)".into(),
                });
            };
            let mut seen = match self.seen.lock() {
                Ok(s) => s,
                Err(poisoned) => poisoned.into_inner(),
            };
            seen.retain(|_, until| *until >= now);
            if seen.contains_key(&invocation.cid) {
                return Err(UcanError {
                    kind: UcanErrorKind::Replay,
                    detail: format!("invocation {} was accepted already", invocation.cid),
                });
            }
            seen.insert(invocation.cid, exp);
        }
        Ok(task)
    }
}
