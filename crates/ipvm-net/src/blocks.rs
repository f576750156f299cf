//! The project's native store as bitswap's block store (the hashes bitswap
//! checks blocks with are [`ipvm_p2p::hashes`], shared with the tab).
//!
//! One copy of each block: bitswap reads and writes the same SQLite store
//! that `ipvm run` uses, so a block fetched here is an input of the next run
//! and a receipt a run wrote is served here. Every block is verified against
//! its CID before it is stored ([`ipvm_core::BlockStore::put_block`] does),
//! and what is read is checked again before it is served. A receipt the
//! store keeps as a row (not a block) is served as the block of its CID.

use cid::CidGeneric;
use ipvm_core::address::verify_block;
use ipvm_core::{BlockStore as _, ReceiptStore as _};
use ipvm_p2p::hashes::{store_error as io, to_core};
use ipvm_store::SqliteStore;

/// The native store seen by bitswap. The store's calls are synchronous
/// SQLite under a mutex; they run to completion when polled.
#[derive(Clone)]
pub struct StoreBlocks {
    store: SqliteStore,
}

impl StoreBlocks {
    /// Bitswap over this store.
    pub fn new(store: SqliteStore) -> Self {
        Self { store }
    }

    /// The store.
    pub fn store(&self) -> &SqliteStore {
        &self.store
    }
}

impl blockstore::Blockstore for StoreBlocks {
    async fn get<const S: usize>(
        &self,
        cid: &CidGeneric<S>,
    ) -> Result<Option<Vec<u8>>, blockstore::Error> {
        let cid = to_core(cid)?;
        let mut bytes = futures::executor::block_on(self.store.get_block(&cid)).map_err(io)?;
        if bytes.is_none() {
            // A receipt is a row of its own (with its indexes), not a block:
            // its DAG-CBOR bytes are the block of its CID. A bad row is none.
            let row = futures::executor::block_on(self.store.row(&cid)).map_err(io)?;
            bytes = row.and_then(Result::ok).map(|row| row.bytes);
        }
        match bytes {
            // A block that does not match its CID is never served.
            Some(b) if verify_block(&cid, &b).is_err() => Ok(None),
            other => Ok(other),
        }
    }

    async fn put_keyed<const S: usize>(
        &self,
        cid: &CidGeneric<S>,
        data: &[u8],
    ) -> Result<(), blockstore::Error> {
        let cid = to_core(cid)?;
        futures::executor::block_on(self.store.put_block(cid, data.to_vec())).map_err(io)
    }

    async fn remove<const S: usize>(&self, _cid: &CidGeneric<S>) -> Result<(), blockstore::Error> {
        // The store's blocks are the runs' inputs and receipts: a peer never
        // removes them.
        Err(blockstore::Error::FatalDatabaseError(
            "the node's store does not remove blocks".into(),
        ))
    }

    async fn close(self) -> Result<(), blockstore::Error> {
        Ok(())
    }
}
