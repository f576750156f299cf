//! [`MemoryStore`]: the in-memory block and receipt store, for tests and
//! the CLI. It keeps the same indexes as the browser's IndexedDB store.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use cid::Cid;

use super::{Block, BlockStore, ReceiptRow, ReceiptStore, RowIndex, RowRead};
use crate::model::address::verify_block;
use crate::store::record::Provenance;
use crate::CoreError;

#[derive(Default)]
struct Tables {
    blocks: HashMap<Cid, Vec<u8>>,
    aliases: HashMap<Cid, Cid>,
    metered: HashMap<String, Cid>,
    rows: HashMap<Cid, ReceiptRow>,
    by_memo: HashMap<Cid, BTreeSet<Cid>>,
    by_instruction: HashMap<Cid, BTreeSet<Cid>>,
    by_input: HashMap<Cid, BTreeSet<Cid>>,
    by_signer: HashMap<String, BTreeSet<Cid>>,
    /// The `stored` order of the next row.
    next: u64,
}

impl Tables {
    fn index_keys(row: &ReceiptRow) -> Vec<(IndexName, Cid)> {
        let mut keys = vec![(IndexName::Instruction, row.instruction)];
        if row.reusable {
            keys.push((IndexName::Memo, row.instruction));
        }
        keys.extend(row.inputs.iter().map(|i| (IndexName::Input, *i)));
        keys
    }

    fn index(&mut self, name: IndexName) -> &mut HashMap<Cid, BTreeSet<Cid>> {
        match name {
            IndexName::Memo => &mut self.by_memo,
            IndexName::Instruction => &mut self.by_instruction,
            IndexName::Input => &mut self.by_input,
        }
    }

    /// Puts a row, replacing the row with the same key and its index entries.
    fn put_row(&mut self, mut row: ReceiptRow) {
        if let Some(old) = self.rows.remove(&row.cid) {
            row.keep_envelopes_of(&old);
            for (name, key) in Self::index_keys(&old) {
                if let Some(set) = self.index(name).get_mut(&key) {
                    set.remove(&old.cid);
                }
            }
            for did in &old.signers {
                if let Some(set) = self.by_signer.get_mut(did) {
                    set.remove(&old.cid);
                }
            }
        }
        for did in &row.signers {
            self.by_signer
                .entry(did.clone())
                .or_default()
                .insert(row.cid);
        }
        row.stored = self.next;
        self.next += 1;
        for (name, key) in Self::index_keys(&row) {
            self.index(name).entry(key).or_default().insert(row.cid);
        }
        self.rows.insert(row.cid, row);
    }
}

#[derive(Clone, Copy)]
enum IndexName {
    Memo,
    Instruction,
    Input,
}

/// An in-memory block and receipt store.
#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Tables) -> R) -> Result<R, CoreError> {
        let mut guard = self
            .tables
            .lock()
            .map_err(|_| CoreError::Store("memory store lock poisoned".into()))?;
        Ok(f(&mut guard))
    }

    /// How many blocks are stored.
    pub fn block_count(&self) -> usize {
        self.with(|t| t.blocks.len()).unwrap_or(0)
    }

    /// How many receipts are stored.
    pub fn receipt_count(&self) -> usize {
        self.with(|t| t.rows.len()).unwrap_or(0)
    }
}

impl BlockStore for MemoryStore {
    async fn get_block(&self, cid: &Cid) -> Result<Option<Vec<u8>>, CoreError> {
        self.with(|t| t.blocks.get(cid).cloned())
    }

    async fn put_block(&self, cid: Cid, bytes: Vec<u8>) -> Result<(), CoreError> {
        verify_block(&cid, &bytes)?;
        self.with(|t| {
            t.blocks.insert(cid, bytes);
        })
    }

    async fn put_blocks(&self, blocks: Vec<(Cid, Vec<u8>)>) -> Result<(), CoreError> {
        for (cid, bytes) in &blocks {
            verify_block(cid, bytes)?;
        }
        self.with(|t| t.blocks.extend(blocks))
    }

    async fn put_alias(&self, alias: Cid, root: Cid) -> Result<(), CoreError> {
        self.with(|t| {
            t.aliases.insert(alias, root);
        })
    }

    async fn get_alias(&self, alias: &Cid) -> Result<Option<Cid>, CoreError> {
        self.with(|t| t.aliases.get(alias).copied())
    }

    async fn get_metered(&self, key: &str) -> Result<Option<Cid>, CoreError> {
        self.with(|t| t.metered.get(key).copied())
    }

    async fn put_metered(&self, key: &str, metered: Cid, bytes: Vec<u8>) -> Result<(), CoreError> {
        verify_block(&metered, &bytes)?;
        self.with(|t| {
            t.blocks.insert(metered, bytes);
            t.metered.insert(key.to_string(), metered);
        })
    }
}

impl ReceiptStore for MemoryStore {
    async fn put_batch(&self, blocks: Vec<Block>, rows: Vec<ReceiptRow>) -> Result<(), CoreError> {
        for (cid, bytes) in &blocks {
            verify_block(cid, bytes)?;
        }
        self.with(|t| {
            t.blocks.extend(blocks);
            rows.into_iter().for_each(|row| t.put_row(row));
        })
    }

    async fn row(&self, cid: &Cid) -> Result<Option<RowRead>, CoreError> {
        self.with(|t| t.rows.get(cid).cloned().map(Ok))
    }

    async fn rows(&self, index: RowIndex<'_>) -> Result<Vec<RowRead>, CoreError> {
        self.with(|t| {
            let (name, key) = match index {
                RowIndex::Memo(k) => (IndexName::Memo, k),
                RowIndex::Instruction(k) => (IndexName::Instruction, k),
                RowIndex::Input(k) => (IndexName::Input, k),
                RowIndex::Signer(did) => {
                    let keys = t.by_signer.get(did).cloned().unwrap_or_default();
                    return keys
                        .iter()
                        .filter_map(|c| t.rows.get(c).cloned().map(Ok))
                        .collect();
                }
            };
            let keys: Vec<Cid> = t
                .index(name)
                .get(key)
                .map(|set| set.iter().copied().collect())
                .unwrap_or_default();
            keys.iter()
                .filter_map(|c| t.rows.get(c).cloned().map(Ok))
                .collect()
        })
    }

    async fn set_provenance(&self, cid: &Cid, provenance: Provenance) -> Result<(), CoreError> {
        self.with(|t| {
            if let Some(row) = t.rows.get_mut(cid) {
                row.provenance = provenance;
            }
        })
    }

    async fn set_vouched(&self, cid: &Cid, vouched: bool) -> Result<(), CoreError> {
        self.with(|t| {
            if let Some(row) = t.rows.get_mut(cid) {
                row.vouched = vouched;
            }
        })
    }
}
