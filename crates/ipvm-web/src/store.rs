//! The store a runtime uses: in memory, or IndexedDB. An enum rather than a
//! trait object because the store traits are `async` (not object-safe).

use ipvm_core::store::{BlockStore, ReceiptStore};
use ipvm_core::{Cid, CoreError, MemoryStore, ReceiptRecord};

use crate::indexeddb::IndexedDbStore;

/// Either store behind one type.
pub(crate) enum AnyStore {
    Memory(Box<MemoryStore>),
    IndexedDb(IndexedDbStore),
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyStore::Memory($s) => $e,
            AnyStore::IndexedDb($s) => $e,
        }
    };
}

impl BlockStore for AnyStore {
    async fn get_block(&self, cid: &Cid) -> Result<Option<Vec<u8>>, CoreError> {
        each!(self, s => s.get_block(cid).await)
    }
    async fn put_block(&self, cid: Cid, bytes: Vec<u8>) -> Result<(), CoreError> {
        each!(self, s => s.put_block(cid, bytes).await)
    }
    async fn put_blocks(&self, blocks: Vec<(Cid, Vec<u8>)>) -> Result<(), CoreError> {
        each!(self, s => s.put_blocks(blocks).await)
    }
    async fn put_file_blocks(
        &self,
        blocks: Vec<(Cid, Vec<u8>)>,
        alias: Option<(Cid, Cid)>,
    ) -> Result<(), CoreError> {
        each!(self, s => s.put_file_blocks(blocks, alias).await)
    }
    async fn put_alias(&self, alias: Cid, root: Cid) -> Result<(), CoreError> {
        each!(self, s => s.put_alias(alias, root).await)
    }
    async fn get_alias(&self, alias: &Cid) -> Result<Option<Cid>, CoreError> {
        each!(self, s => s.get_alias(alias).await)
    }
}

impl ReceiptStore for AnyStore {
    async fn put_receipt(&self, record: ReceiptRecord) -> Result<(), CoreError> {
        each!(self, s => s.put_receipt(record).await)
    }
    async fn put_receipt_with_blocks(
        &self,
        record: ReceiptRecord,
        blocks: Vec<(Cid, Vec<u8>)>,
    ) -> Result<(), CoreError> {
        each!(self, s => s.put_receipt_with_blocks(record, blocks).await)
    }
    async fn receipt(&self, cid: &Cid) -> Result<Option<ReceiptRecord>, CoreError> {
        each!(self, s => s.receipt(cid).await)
    }
    async fn receipt_for(&self, instruction: &Cid) -> Result<Option<ReceiptRecord>, CoreError> {
        each!(self, s => s.receipt_for(instruction).await)
    }
    async fn receipts_using(&self, input: &Cid) -> Result<Vec<ReceiptRecord>, CoreError> {
        each!(self, s => s.receipts_using(input).await)
    }
}
