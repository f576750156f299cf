//! The IPVM protocols between peers, with no I/O: who speaks on a
//! connection ([`binding`]: a DID's signed binding to a libp2p peer id),
//! the messages of receipt
//! lookup, receipt announce, task offload and capacity ([`messages`]), the
//! bounded reading of every message from the network ([`wire`]), the rules
//! for what a runtime gives a peer and takes from one ([`deliver`]) and for
//! the announcements it takes ([`announce`]), and
//! the [`Peers`] a run asks before it executes ([`ask`]) and may hand a
//! task to ([`offload`]). The native node
//! and the tab carry the bytes; what they mean and whether they are
//! accepted is decided here, the same for both.

pub mod announce;
pub mod ask;
pub mod binding;
pub mod deliver;
pub mod messages;
pub mod offload;
pub mod wire;

use futures::future::LocalBoxFuture;

use crate::model::workflow::Task;
use crate::peer::messages::{Delivery, LookupAnswer, LookupRequest};

/// One peer's answer to a lookup, or why none came (no answer in time, a
/// refused or malformed answer, `busy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAnswer {
    /// The peer, as its carrier names it (a libp2p peer id).
    pub peer: String,
    /// Its answer, one entry per instruction asked, or why there is none.
    pub answer: Result<LookupAnswer, String>,
}

/// The peers a run asks for receipts of the tasks its own memo cannot
/// answer, one request per ready set (the carrier: the native node, the
/// tab's libp2p node). It never fails a run: a peer that does not answer
/// is a [`PeerAnswer`] with its reason.
pub trait Peers {
    /// Sends `request` to the peers, and gives each one's answer.
    fn lookup<'s>(&'s self, request: LookupRequest) -> LocalBoxFuture<'s, Vec<PeerAnswer>>;

    /// Offers `task`, which neither the memo nor the peers' receipts
    /// answer, to a peer under the carrier's offload policy
    /// ([`offload::choose`]); `saturated`: this runtime's own workers are
    /// all busy. `None`: the policy keeps it here. None by default.
    fn offload<'s>(
        &'s self,
        task: &'s Task,
        saturated: bool,
    ) -> LocalBoxFuture<'s, Option<PeerOffload>> {
        let _ = (task, saturated);
        Box::pin(async { None })
    }

    /// How many tasks the peers may run for this runtime at once beside its
    /// own workers (their free workers, as they last said): a run keeps
    /// that many more tasks in flight. None by default.
    fn offload_slots(&self) -> usize {
        0
    }
}

/// What came of offering a task to a peer: the receipt it sent (checked
/// by the asker under its trust policy like any other), or why none came
/// (a refusal with its reason, `busy`, no answer in time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerOffload {
    /// The peer, as its carrier names it.
    pub peer: String,
    /// Its receipt, or why there is none.
    pub answer: Result<Delivery, String>,
}

/// What came of asking peers about one task: which peer's receipt answers
/// it, if any, and why each other receipt offered was not used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerNote {
    /// The peer whose receipt was taken (stored as `received`).
    pub from: Option<String>,
    /// The peer the task was offloaded to, which ran it (its receipt is
    /// then `from` it too).
    pub ran_on: Option<String>,
    /// `"<peer>: <reason>"` for each receipt or answer not used.
    pub unused: Vec<String>,
}
