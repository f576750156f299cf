//! The tab's seen-set for the core's runtime
//! ([`ipvm_core::SeenInvocations`]): an IndexedDB runtime claims in one
//! transaction of `settings.seen` ([`crate::indexeddb::IndexedDbStore::claim_invocation`]),
//! so a replay is refused across tabs and reloads; a memory runtime claims
//! in memory ([`MemorySeen`]). When to claim is the core's.

use std::rc::Rc;

use ipvm_core::{Cid, CoreError, MemorySeen, SeenInvocations};

use crate::store::AnyStore;

/// The seen-set of a runtime on `store`.
pub(crate) struct TabSeen {
    store: Rc<AnyStore>,
    memory: MemorySeen,
}

impl TabSeen {
    pub(crate) fn new(store: Rc<AnyStore>) -> Self {
        Self {
            store,
            memory: MemorySeen::new(),
        }
    }
}

impl SeenInvocations for TabSeen {
    async fn claim(&self, invocation: &Cid, exp: i64, now: i64) -> Result<bool, CoreError> {
        match &*self.store {
            AnyStore::IndexedDb(db) => db.claim_invocation(invocation, exp, now).await,
            AnyStore::Memory(_) => self.memory.claim(invocation, exp, now).await,
        }
    }
}
