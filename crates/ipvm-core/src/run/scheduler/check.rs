//! Spot-checks: re-running a receipt only another signer vouches for, and
//! settling the task by the verdict.

#[allow(
    clippy::wildcard_imports,
    reason = "a part of the scheduler: it shares the parent's names"
)]
use super::*;

impl<'a, E: Executor, S: ReceiptStore, L: InstructionLock, A: Announcer> Scheduler<'a, E, S, L, A> {
    /// Re-runs the task of a receipt another signer vouched for, as
    /// `verify` does (its own invocation, compared by receipt CID): a
    /// mismatch distrusts the signers that vouched for it.
    pub(super) async fn check(
        &self,
        q: &Quarantine,
        i: usize,
        rec: Box<ReceiptRecord>,
    ) -> (usize, Done, Option<L::Guard>) {
        let attestor = match (self.signer, self.trust) {
            (Some(s), Some(t)) => Some((s, t)),
            _ => None,
        };
        let verification =
            crate::run::verify::verify(self.executor, self.store, q, attestor, &rec.cid).await;
        (i, Done::Checked(rec, Box::new(verification)), None)
    }

    /// Settles a spot-check. A match: the receipt is now verified here and
    /// answers the task. A mismatch: its signers are distrusted (the
    /// verification did it), and the task goes back to the ready queue,
    /// where the lie no longer answers. A verification that could not
    /// compare (or failed to run) never serves the receipt either: a signer
    /// could otherwise make every check of its lie incomparable; the task
    /// runs here, and its report says why.
    pub(super) fn checked(
        &self,
        st: &mut RunState,
        i: usize,
        rec: ReceiptRecord,
        verification: Result<Verification, CoreError>,
        on_event: &mut dyn FnMut(&Event),
    ) {
        let (verdict, distrusted) = match verification {
            Ok(v) => (v.verdict, v.distrusted),
            Err(e) => (Verdict::Incomparable(e.to_string()), Vec::new()),
        };
        on_event(&Event::SpotChecked {
            task: i,
            instruction: rec.instruction,
            receipt: rec.cid,
            verdict: verdict.clone(),
        });
        for did in distrusted {
            on_event(&Event::Distrusted {
                signer: did.to_string(),
                receipt: rec.cid,
                reason: format!(
                    "a re-run here of the task of receipt {} did not write that receipt",
                    rec.cid
                ),
            });
        }
        let rerun = |st: &mut RunState, why: String| {
            st.must_run.insert(i, why);
            st.ready.push_front(i);
        };
        match verdict {
            Verdict::Mismatch => rerun(
                st,
                format!(
                    "a spot-check of receipt {} (signed elsewhere) wrote another receipt: it ran here",
                    rec.cid
                ),
            ),
            Verdict::Match => memo_hit(
                st,
                i,
                ReceiptRecord {
                    provenance: Provenance::Verified,
                    ..rec
                },
                on_event,
            ),
            Verdict::Incomparable(why) => rerun(
                st,
                format!(
                    "a spot-check of receipt {} (signed elsewhere) could not compare ({why}): it ran here instead of serving it",
                    rec.cid
                ),
            ),
        }
    }
}
