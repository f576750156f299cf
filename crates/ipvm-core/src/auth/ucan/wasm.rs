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
/// An instruction written whole (`args.run`) is refused here: only
/// admission knows whether the chain allows it ([`task_under`]).
pub fn task_of(inv: &Invocation) -> Result<Task, UcanError> {
    task_under(inv, false)
}

/// [`task_of`], knowing whether the invocation's chain is `unconstrained`
/// (no delegation in it has a policy): only then may it name its
/// instruction whole (`args.run`, [`offload_args`]).
pub fn task_under(inv: &Invocation, unconstrained: bool) -> Result<Task, UcanError> {
    if inv.cmd != WASM_RUN {
        return Err(UcanError {
            kind: UcanErrorKind::InvalidCommand,
            detail: format!("this runtime runs `{WASM_RUN}`, not `{}`", inv.cmd),
        });
    }
    let a = &inv.args;
    if a.contains_key("run") {
        return whole_task(inv, unconstrained);
    }
    if let Some(k) = a.keys().find(|k| {
        !["module", "func", "args", "fuel", "memory", "time", "nnc"].contains(&k.as_str())
    }) {
        return Err(malformed(format!(
            "args.{k}: unknown (known: module, func, args, fuel, memory, time, nnc; or run with the limits)"
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
    task_with(run, inv)
}

/// The task of `run` under the invocation's limits (`args.fuel`, `memory`,
/// `time`), its proofs as the task's `prf`.
fn task_with(run: Instruction, inv: &Invocation) -> Result<Task, UcanError> {
    let a = &inv.args;
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

/// The `args` of a `/wasm/run` invocation that names a workflow's task
/// whole: `{run: <its instruction as written>, fuel?, memory?, time?}`.
/// Its receipt answers the task's own instruction (its op, `rsc`, nonce
/// and awaits as written), so a task handed to a peer (offload) is a memo
/// hit everywhere its workflow runs. A runtime admits this form only when
/// no delegation of the chain has a policy ([`task_under`]): a policy
/// judges the call of exact mode, and an instruction written whole may
/// call a function by another spelling, or await values the policy never
/// saw.
pub fn offload_args(task: &Task) -> BTreeMap<String, Ipld> {
    let mut m = BTreeMap::from([("run".to_string(), task.run.to_ipld())]);
    for (k, v) in [
        ("fuel", task.limits.fuel),
        ("memory", task.limits.memory),
        ("time", task.limits.time),
    ] {
        if let Some(n) = v {
            m.insert(k.to_string(), Ipld::Integer(n.into()));
        }
    }
    m
}

/// The task of an invocation whose `args.run` is an instruction written
/// whole ([`offload_args`]): a pure op this runtime knows, awaits filled
/// from its own receipts when it runs.
fn whole_task(inv: &Invocation, unconstrained: bool) -> Result<Task, UcanError> {
    let a = &inv.args;
    if let Some(k) = a
        .keys()
        .find(|k| !["run", "fuel", "memory", "time"].contains(&k.as_str()))
    {
        return Err(malformed(format!(
            "args.{k}: not with args.run (a task written whole takes only run, fuel, memory, time)"
        )));
    }
    if !unconstrained {
        return Err(UcanError {
            kind: UcanErrorKind::MatchError,
            detail: "args.run (an instruction written whole) is admitted only when no delegation of the chain has a policy: a policy judges the call of module, func and args".into(),
        });
    }
    let run = Instruction::from_ipld(&a["run"])
        .map_err(|e| malformed(format!("args.{}: {}", e.field, e.reason)))?;
    let effectful = crate::model::op::Ops::standard()
        .lookup(0, &run.op)
        .map(|op| op.class.is_effectful())
        .unwrap_or(true);
    if effectful {
        return Err(malformed(format!(
            "args.run.op: `{}` has effects; an invocation runs pure tasks only",
            run.op
        )));
    }
    task_with(run, inv)
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
        self.admit_also(invocation, proof, now, None)
    }

    /// [`Authority::admit`], accepting `also` as a subject too for this
    /// one invocation (a development node's self-issued invocations).
    pub fn admit_also(
        &self,
        invocation: &Token,
        proof: &dyn Fn(&Cid) -> Option<Token>,
        now: i64,
        also: Option<&Did>,
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
        if inv.sub != self.own && !self.accepted.contains(&inv.sub) && also != Some(&inv.sub) {
            return Err(UcanError {
                kind: UcanErrorKind::InvalidSubject,
                detail: format!(
                    "{} is not an authority this runtime accepts (itself, or trust.authorities)",
                    inv.sub
                ),
            });
        }
        // Every proof was found and checked above; none may have a policy
        // for the instruction to be written whole.
        let unconstrained = inv.prf.iter().all(|c| {
            matches!(proof(c).map(|t| t.payload),
                Some(crate::auth::ucan::Payload::Delegation(d)) if d.pol == Ipld::List(Vec::new()))
        });
        let task = task_under(&inv, unconstrained)?;
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
