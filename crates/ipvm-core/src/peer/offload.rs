//! Task offload, the asker's side and the rules both sides share: the
//! policy that decides whether a ready task goes to a peer
//! ([`OffloadMode`], [`choose`]), the invocation that asks a peer to run a
//! workflow's task ([`invocation`]: `/wasm/run` with the task's
//! instruction written whole, so that the peer's receipt answers the
//! workflow's own instruction), the caps a runner puts on an offloaded
//! task's limits ([`within`]), and who issued a request ([`issuer`], for
//! per-issuer quotas). The runner's side is
//! `Runtime::answer_offload`.

use crate::auth::identity::{Did, Signer};
use crate::auth::ucan::wasm::{offload_args, WASM_RUN};
use crate::auth::ucan::{Invocation, Payload, Token};
use crate::model::workflow::{Limits, Task};
use crate::peer::messages::{Capacity, OffloadRequest};
use crate::CoreError;

/// When a run hands its ready tasks to peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffloadMode {
    /// Never: every task runs here (the default).
    #[default]
    Never,
    /// When this runtime's own workers are all busy and a peer has a free
    /// worker.
    Auto,
    /// Every task that the memo and the peers' receipts do not answer;
    /// one the peer refuses or is too busy for runs here.
    Always,
}

impl std::str::FromStr for OffloadMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "never" => Ok(Self::Never),
            "auto" => Ok(Self::Auto),
            "always" => Ok(Self::Always),
            other => Err(format!(
                "`{other}`: the offload policy is never (the default), auto or always"
            )),
        }
    }
}

/// What the asker knows of one peer it may offload to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    /// Its last capacity message, if it sent one.
    pub capacity: Option<Capacity>,
    /// Tasks this asker has in flight on it now.
    pub in_flight: u32,
}

/// Which peer (an index into `offers`) a ready task goes to, if any:
/// `Always`, the peer with the most free workers left (the first if none
/// said); `Auto`, only when this runtime's workers are `saturated`, the
/// peer with the most free workers left, if it has one. `Never`: none.
pub fn choose(mode: OffloadMode, saturated: bool, offers: &[Offer]) -> Option<usize> {
    let free = |o: &Offer| {
        o.capacity
            .map(|c| i64::from(c.free) - i64::from(o.in_flight))
    };
    let best =
        (0..offers.len()).max_by_key(|&k| (free(&offers[k]).unwrap_or(i64::MIN), -(k as i64)));
    match mode {
        OffloadMode::Never => None,
        OffloadMode::Always => best,
        OffloadMode::Auto if !saturated => None,
        OffloadMode::Auto => best.filter(|&k| free(&offers[k]).is_some_and(|f| f > 0)),
    }
}

/// The invocation that asks `aud` to run `task` of a workflow: signed by
/// `signer`, under `sub`'s authority (the signer's own, self-issued, if
/// `proofs` is empty; else the root delegation's subject), expiring at
/// `exp` (so that a runner refuses its replay), with `nonce`.
pub async fn invocation(
    signer: &dyn Signer,
    task: &Task,
    aud: Did,
    proofs: &[Token],
    exp: i64,
    nonce: Vec<u8>,
) -> Result<Token, CoreError> {
    let iss = signer.did().clone();
    let sub = match proofs.first().map(|t| &t.payload) {
        Some(Payload::Delegation(d)) => d.sub.clone().unwrap_or_else(|| aud.clone()),
        _ => iss.clone(),
    };
    let payload = Payload::Invocation(Invocation {
        iss,
        aud: Some(aud),
        sub,
        cmd: WASM_RUN.into(),
        args: offload_args(task),
        prf: proofs.iter().map(|t| t.cid).collect(),
        nonce,
        exp: Some(exp),
        iat: None,
        meta: None,
        cause: None,
    });
    Token::sign_payload(signer, &payload).await
}

/// Whether a task's limits in force fit a runner's `max`imums; `Err` names
/// the limit past its maximum.
pub fn within(limits: &Limits, max: &Limits) -> Result<(), String> {
    let pairs = [
        ("fuel", limits.fuel_budget(), max.fuel_budget(), "units"),
        ("memory", limits.memory_bytes(), max.memory_bytes(), "bytes"),
        ("time", limits.time_ms(), max.time_ms(), "ms"),
    ];
    for (name, asked, most, unit) in pairs {
        if asked > most {
            return Err(format!(
                "limits.{name}: the task may use {asked} {unit}; this runner runs offloaded tasks with at most {most}"
            ));
        }
    }
    Ok(())
}

/// Who issued an offload request's invocation (its signature unchecked:
/// for quotas only; admission checks everything), or why it cannot be
/// read.
pub fn issuer(request: &OffloadRequest) -> Result<Did, String> {
    match Token::decode(&request.invocation) {
        Ok(Token {
            payload: Payload::Invocation(inv),
            ..
        }) => Ok(inv.iss),
        Ok(_) => Err("offload.invocation: a delegation, not an invocation".into()),
        Err(e) => Err(format!("offload.invocation: {e}")),
    }
}
