//! The tab's store as bitswap's block store, and the hashes bitswap may
//! check blocks with (SHA2-256 and SHA3-256, computed by the core).
//!
//! One copy of each block: bitswap reads and writes the runtime's own store
//! (IndexedDB), so a block fetched here is an input of the next run. Every
//! block is verified against its CID before it is stored
//! ([`ipvm_core::BlockStore::put_block`] does), and what is read is checked
//! again before it is served.

use std::rc::Rc;

use cid::CidGeneric;
use ipvm_core::address::{cid_of, verify_block, SHA2_256, SHA3_256};
use ipvm_core::{BlockStore, Cid};
use multihash::Multihash;

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

/// A CID of any multihash size as the core's CID (64-byte multihashes).
fn to_core<const S: usize>(cid: &CidGeneric<S>) -> Result<Cid, blockstore::Error> {
    Cid::try_from(cid.to_bytes()).map_err(|_| blockstore::Error::CidTooLarge)
}

fn io(e: ipvm_core::CoreError) -> blockstore::Error {
    blockstore::Error::StoredDataError(e.to_string())
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

/// SHA2-256 and SHA3-256, the two hashes the core accepts, for bitswap's
/// check of every block it receives.
pub(crate) struct CoreHashes;

impl<const S: usize> beetswap::multihasher::Multihasher<S> for CoreHashes {
    async fn hash(
        &self,
        multihash_code: u64,
        input: &[u8],
    ) -> Result<Multihash<S>, beetswap::multihasher::MultihasherError> {
        use beetswap::multihasher::MultihasherError;
        if multihash_code != SHA2_256 && multihash_code != SHA3_256 {
            return Err(MultihasherError::UnknownMultihashCode);
        }
        let cid = cid_of(ipvm_core::address::RAW, multihash_code, input);
        Multihash::<S>::wrap(cid.hash().code(), cid.hash().digest())
            .map_err(|_| MultihasherError::InvalidMultihashSize)
    }
}
