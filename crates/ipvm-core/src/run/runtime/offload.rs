//! Task offload, the runner's side: a peer's [`OffloadRequest`] is read,
//! its task's limits held to this runtime's maximums, its invocation
//! admitted as any other (`run_invocation`: a valid chain from this
//! runtime or an authority it accepts, this runtime as audience, no
//! replay), and run; the answer is the signed receipt as a lookup would
//! give it, or the refusal with its reason. A refusal leaves no receipt
//! (a stranger must not make the runner write). A development runner also
//! admits an invocation its issuer made on its own authority (no proofs).

use crate::auth::ucan::wasm::task_under;
use crate::auth::ucan::{Payload, Token};
use crate::model::workflow::Limits;
use crate::peer::deliver::answer_lookup;
use crate::peer::messages::{
    LookupEntry, LookupRequest, OffloadAnswer, OffloadRequest, MAX_FETCH_BYTES,
};
use crate::peer::offload::within;
use crate::run::cancel::CancelToken;
use crate::run::coordinate::{Announcer, InstructionLock};
use crate::run::job::Executor;
use crate::run::records::RunRecords;
use crate::run::runtime::{InvocationError, Runtime};
use crate::store::seen::SeenInvocations;
use crate::store::settings::Settings;
use crate::store::{BlockStore, ReceiptStore};
use crate::CoreError;

/// How a runner treats offload requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffloadRules {
    /// The most a task may use (each limit in force).
    pub max: Limits,
    /// Development mode: an invocation with no proofs whose issuer is its
    /// subject is admitted too (a node on loopback only).
    pub dev: bool,
}

impl<S, E, K, N, R, L, A> Runtime<S, E, K, N, R, L, A>
where
    S: BlockStore + ReceiptStore,
    E: Executor,
    K: Settings,
    N: SeenInvocations,
    R: RunRecords,
    L: InstructionLock,
    A: Announcer,
{
    /// Answers a peer's offload request at `now` (seconds): the receipt
    /// of its task with this runtime's envelope (`done`), where to fetch a
    /// receipt too large for the answer (`fetch`), or why it was not run
    /// (`refused`). Nothing runs for a refused request. `Err` only if this
    /// runtime failed (its store, its key).
    pub async fn answer_offload(
        &self,
        request: &OffloadRequest,
        now: i64,
        rules: &OffloadRules,
    ) -> Result<OffloadAnswer, CoreError> {
        let refuse = |why: String| Ok(OffloadAnswer::Refused(why));
        let token = match Token::decode(&request.invocation) {
            Ok(t) => t,
            Err(e) => return refuse(format!("offload.invocation: {e}")),
        };
        let mut proofs = Vec::with_capacity(request.proofs.len());
        for (i, bytes) in request.proofs.iter().enumerate() {
            match Token::decode(bytes) {
                Ok(t) => proofs.push(t),
                Err(e) => return refuse(format!("offload.proofs[{i}]: {e}")),
            }
        }
        let Payload::Invocation(inv) = &token.payload else {
            return refuse("offload.invocation: a delegation, not an invocation".into());
        };
        // The limits are judged before anything is admitted or claimed.
        if let Ok(task) = task_under(inv, true) {
            if let Err(why) = within(&task.limits, &rules.max) {
                return refuse(why);
            }
        }
        let also = (rules.dev && inv.prf.is_empty() && inv.iss == inv.sub).then_some(&inv.iss);
        let report = match self
            .admit_and_run(
                &token,
                proofs,
                now,
                also,
                false,
                &mut |_| {},
                &CancelToken::new(),
            )
            .await
        {
            Ok(report) => report,
            Err(InvocationError::Refused { error, .. }) => {
                return refuse(format!("{}: {}", error.kind.name(), error.detail))
            }
            Err(InvocationError::Core(CoreError::Invalid(v))) => {
                return refuse(format!("the task cannot run here: {v}"))
            }
            Err(InvocationError::Core(e)) => return Err(e),
        };
        let Some(task) = report.tasks.first() else {
            return refuse("the invocation named no task".into());
        };
        let request = LookupRequest {
            instructions: vec![task.instruction],
        };
        let answer = answer_lookup(self.store(), &request).await?;
        Ok(match answer.entries.into_iter().next() {
            Some(LookupEntry::Found(mut found)) if !found.is_empty() => {
                OffloadAnswer::Done(found.swap_remove(0))
            }
            Some(LookupEntry::TooLarge(named)) if !named.is_empty() => {
                let cids: Vec<cid::Cid> = named.iter().map(|o| o.receipt).collect();
                let envelope = self.envelope_of(&task.instruction, &cids[0]).await?;
                match envelope {
                    Some((_, size)) if size > MAX_FETCH_BYTES => OffloadAnswer::Refused(format!(
                        "ran task {}, but its receipt {} of {size} bytes is larger than bitswap carries ({MAX_FETCH_BYTES} bytes)",
                        task.instruction, cids[0]
                    )),
                    Some((envelope, _)) => OffloadAnswer::Fetch {
                        receipt: cids[0],
                        envelope,
                    },
                    None => OffloadAnswer::Refused(format!(
                        "ran task {}, but its receipt {} carries no envelope of this runner",
                        task.instruction, cids[0]
                    )),
                }
            }
            _ => OffloadAnswer::Refused(match &task.status {
                crate::run::report::TaskStatus::Skipped(why) => {
                    format!("task {} did not run: {why}", task.instruction)
                }
                _ => format!(
                    "ran task {}, but has no signed receipt of it to give",
                    task.instruction
                ),
            }),
        })
    }

    /// This runtime's own envelope for `receipt`, an answer to
    /// `instruction`, and the receipt's size.
    async fn envelope_of(
        &self,
        instruction: &cid::Cid,
        receipt: &cid::Cid,
    ) -> Result<Option<(Vec<u8>, usize)>, CoreError> {
        let own = self.identity().await?.did().to_string();
        let rows = self.store().memo_rows(&[*instruction]).await?;
        Ok(rows
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .find(|r| r.cid == *receipt)
            .and_then(|r| {
                let k = r.signers.iter().position(|s| *s == own)?;
                Some((r.envelopes.get(k)?.clone(), r.bytes.len()))
            }))
    }
}
