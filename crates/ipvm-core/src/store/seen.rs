//! The invocations from other principals a runtime has accepted, kept until
//! their `exp` so that a replay is refused (docs/spec.md §5c), across
//! restarts and across the runtimes of one store. A claim is one atomic
//! step (read, drop the expired, check, add, write): two runtimes that
//! claim one invocation at once cannot both find it new. The browser claims
//! in one IndexedDB transaction (`settings.seen`), the CLI under an
//! exclusive file lock; [`MemorySeen`] for as long as it lives.

use std::cell::RefCell;
use std::collections::BTreeMap;

use cid::Cid;

use crate::CoreError;

/// Where a runtime claims the invocations it accepts.
#[allow(
    async_fn_in_trait,
    reason = "the futures are used in single-threaded contexts; Send is not wanted"
)]
pub trait SeenInvocations {
    /// Claims `invocation`, accepted until `exp`, at time `now` (seconds),
    /// in one atomic step that also forgets claims expired before `now`.
    /// True if this is its first claim; false if it was claimed before
    /// (a replay).
    async fn claim(&self, invocation: &Cid, exp: i64, now: i64) -> Result<bool, CoreError>;
}

/// Claims held in memory.
#[derive(Debug, Default)]
pub struct MemorySeen {
    seen: RefCell<BTreeMap<Cid, i64>>,
}

impl MemorySeen {
    /// No claims yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The claims not expired at `now`, with their `exp`.
    pub fn claims(&self, now: i64) -> BTreeMap<Cid, i64> {
        let mut seen = self.seen.borrow().clone();
        seen.retain(|_, exp| *exp >= now);
        seen
    }
}

/// The one claim rule every implementation keeps: drops what expired
/// before `now`, then adds `invocation` unless it is there; true if added.
pub fn claim_in(seen: &mut BTreeMap<Cid, i64>, invocation: &Cid, exp: i64, now: i64) -> bool {
    seen.retain(|_, until| *until >= now);
    if seen.contains_key(invocation) {
        return false;
    }
    seen.insert(*invocation, exp);
    true
}

impl SeenInvocations for MemorySeen {
    async fn claim(&self, invocation: &Cid, exp: i64, now: i64) -> Result<bool, CoreError> {
        Ok(claim_in(&mut self.seen.borrow_mut(), invocation, exp, now))
    }
}

impl<T: SeenInvocations + ?Sized> SeenInvocations for &T {
    async fn claim(&self, invocation: &Cid, exp: i64, now: i64) -> Result<bool, CoreError> {
        (**self).claim(invocation, exp, now).await
    }
}

impl<T: SeenInvocations + ?Sized> SeenInvocations for std::rc::Rc<T> {
    async fn claim(&self, invocation: &Cid, exp: i64, now: i64) -> Result<bool, CoreError> {
        (**self).claim(invocation, exp, now).await
    }
}
