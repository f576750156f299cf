//! Coordination between runtimes that share one store: the tabs and workers
//! of an origin today, peers later. Two small capabilities, implemented by
//! the platform (Web Locks and a BroadcastChannel in the browser) and used
//! by the scheduler, which holds the rule:
//!
//! 1. Before a task runs, take the [`InstructionLock`] of its instruction,
//!    then look in the memo again: if another runtime finished the
//!    instruction meanwhile, reuse its receipt and run nothing.
//! 2. Once the receipt is written, tell the others ([`Announcer`]), then
//!    release the lock. So an instruction never runs twice at the same time
//!    anywhere the lock reaches.
//!
//! [`Uncoordinated`] does neither: a runtime that shares its store with no
//! one (the CLI, an in-memory store).

use cid::Cid;

/// A lock per instruction, shared by the runtimes of one store.
#[allow(
    async_fn_in_trait,
    reason = "the futures are used in single-threaded contexts; Send is not wanted"
)]
pub trait InstructionLock {
    /// Held while the instruction runs; dropping it releases the lock.
    type Guard;
    /// Waits for the lock of `instruction`. `None` if this platform has no
    /// lock to take (the task then runs uncoordinated, and the memo is not
    /// looked up again).
    async fn acquire(&self, instruction: &Cid) -> Option<Self::Guard>;
    /// Takes the lock of `instruction` only if no one holds it now:
    /// `Ok(guard)` as [`InstructionLock::acquire`] would give, or
    /// `Err(Busy)` at once if another runtime holds it (the scheduler then
    /// waits for it with `acquire`). The scheduler claims a batch of ready
    /// tasks this way, every request made at once.
    async fn try_acquire(&self, instruction: &Cid) -> Result<Option<Self::Guard>, Busy> {
        Ok(self.acquire(instruction).await)
    }
}

/// Another runtime holds the lock ([`InstructionLock::try_acquire`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// Tells the other runtimes of a store that a receipt was written.
pub trait Announcer {
    /// `receipt` was stored for `instruction`.
    fn announce(&self, instruction: &Cid, receipt: &Cid);
    /// Every `(instruction, receipt)` of a group commit, in one message
    /// where the platform can.
    fn announce_many(&self, written: &[(Cid, Cid)]) {
        for (instruction, receipt) in written {
            self.announce(instruction, receipt);
        }
    }
}

/// No lock, no announcements.
#[derive(Debug, Clone, Copy, Default)]
pub struct Uncoordinated;

impl InstructionLock for Uncoordinated {
    type Guard = ();
    async fn acquire(&self, _: &Cid) -> Option<()> {
        None
    }
}

impl Announcer for Uncoordinated {
    fn announce(&self, _: &Cid, _: &Cid) {}
}
