//! The IPVM protocols between peers, with no I/O: the messages of receipt
//! lookup, receipt announce, task offload and capacity ([`messages`]), the
//! bounded reading of every message from the network ([`wire`]), the rules
//! for what a runtime gives a peer and takes from one ([`deliver`]) and for
//! the announcements it takes ([`announce`]), and
//! the [`Peers`] a run asks before it executes ([`ask`]). The native node
//! and the tab carry the bytes; what they mean and whether they are
//! accepted is decided here, the same for both.

pub mod announce;
pub mod ask;
pub mod deliver;
pub mod messages;
pub mod wire;

use futures::future::LocalBoxFuture;

use crate::peer::messages::{LookupAnswer, LookupRequest};

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
}

/// What came of asking peers about one task: which peer's receipt answers
/// it, if any, and why each other receipt offered was not used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerNote {
    /// The peer whose receipt was taken (stored as `received`).
    pub from: Option<String>,
    /// `"<peer>: <reason>"` for each receipt or answer not used.
    pub unused: Vec<String>,
}
