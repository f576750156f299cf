//! The store a runtime uses: in memory, or IndexedDB. An enum rather than a
//! trait object because the store traits are `async` (not object-safe).

use ipvm_core::store::{Block, BlockStore, ReceiptRow, ReceiptStore, RowIndex, RowRead};
use ipvm_core::{Cid, CoreError, MemoryStore, Provenance};

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
    async fn get_metered(&self, key: &str) -> Result<Option<Cid>, CoreError> {
        each!(self, s => s.get_metered(key).await)
    }
    async fn put_metered(&self, key: &str, metered: Cid, bytes: Vec<u8>) -> Result<(), CoreError> {
        each!(self, s => s.put_metered(key, metered, bytes).await)
    }
}

impl ReceiptStore for AnyStore {
    async fn put_batch(&self, blocks: Vec<Block>, rows: Vec<ReceiptRow>) -> Result<(), CoreError> {
        each!(self, s => s.put_batch(blocks, rows).await)
    }
    async fn put_computed(
        &self,
        blocks: Vec<Block>,
        rows: Vec<ReceiptRow>,
    ) -> Result<(), CoreError> {
        each!(self, s => s.put_computed(blocks, rows).await)
    }
    async fn row(&self, cid: &Cid) -> Result<Option<RowRead>, CoreError> {
        each!(self, s => s.row(cid).await)
    }
    async fn rows(&self, index: RowIndex<'_>) -> Result<Vec<RowRead>, CoreError> {
        each!(self, s => s.rows(index).await)
    }
    async fn memo_rows(&self, instructions: &[Cid]) -> Result<Vec<Vec<RowRead>>, CoreError> {
        each!(self, s => s.memo_rows(instructions).await)
    }
    async fn set_provenance(&self, cid: &Cid, provenance: Provenance) -> Result<(), CoreError> {
        each!(self, s => s.set_provenance(cid, provenance).await)
    }
    async fn set_vouched(&self, cid: &Cid, vouched: bool) -> Result<(), CoreError> {
        each!(self, s => s.set_vouched(cid, vouched).await)
    }
}
