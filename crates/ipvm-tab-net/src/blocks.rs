//! The tab's store as bitswap's block store (the hashes bitswap checks
//! blocks with are [`ipvm_p2p::hashes`], shared with the node).
//!
//! One copy of each block: bitswap reads and writes the runtime's own store
//! (IndexedDB), so a block fetched here is an input of the next run. Every
//! block is verified against its CID before it is stored
//! ([`ipvm_core::BlockStore::put_block`] does), and what is read is checked
//! again before it is served.

use std::rc::Rc;

use cid::CidGeneric;
use ipvm_core::address::verify_block;
use ipvm_core::BlockStore;
use ipvm_p2p::hashes::{store_error as io, to_core};

/// A store seen by bitswap. The tab is one thread: the store is shared by
/// `Rc`, and bitswap's futures never leave the page's thread.
pub(crate) struct TabBlocks<S> {
    store: Rc<S>,
}

impl<S> TabBlocks<S> {
    pub(crate) fn new(store: Rc<S>) -> Self {
        Self { store }
    }
}

impl<S: BlockStore + 'static> blockstore::Blockstore for TabBlocks<S> {
    async fn get<const N: usize>(
        &self,
        cid: &CidGeneric<N>,
    ) -> Result<Option<Vec<u8>>, blockstore::Error> {
        let cid = to_core(cid)?;
        match self.store.get_block(&cid).await.map_err(io)? {
            // A block that does not match its CID is never served.
            Some(b) if verify_block(&cid, &b).is_err() => Ok(None),
            other => Ok(other),
        }
    }

    async fn put_keyed<const N: usize>(
        &self,
        cid: &CidGeneric<N>,
        data: &[u8],
    ) -> Result<(), blockstore::Error> {
        let cid = to_core(cid)?;
        self.store.put_block(cid, data.to_vec()).await.map_err(io)
    }

    async fn remove<const N: usize>(&self, _cid: &CidGeneric<N>) -> Result<(), blockstore::Error> {
        // The store's blocks are the runs' inputs and receipts: a peer never
        // removes them.
        Err(blockstore::Error::FatalDatabaseError(
            "the tab's store does not remove blocks".into(),
        ))
    }

    async fn close(self) -> Result<(), blockstore::Error> {
        Ok(())
    }
}
