//! Storage capabilities as traits, and an in-memory implementation.
//!
//! A [`BlockStore`] holds content-addressed bytes (modules, data). A
//! [`ReceiptStore`] holds receipts under three keys: receipt CID, instruction
//! CID (the memo) and input CID (the reverse index). The browser crate
//! implements both on IndexedDB; [`MemoryStore`] serves tests and the CLI.
//!
//! Methods are `async` because the real backends are; the futures need not
//! be `Send` (a browser is single-threaded).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use cid::Cid;

use crate::address::verify_block;
use crate::receipt::ReceiptRecord;
use crate::{unixfs, CoreError};

/// Content-addressed block storage.
#[allow(
    async_fn_in_trait,
    reason = "the futures are used in single-threaded contexts; Send is not wanted"
)]
pub trait BlockStore {
    /// The bytes of a block, if present.
    async fn get_block(&self, cid: &Cid) -> Result<Option<Vec<u8>>, CoreError>;
    /// Stores a block. Implementations must verify the bytes against the CID.
    async fn put_block(&self, cid: Cid, bytes: Vec<u8>) -> Result<(), CoreError>;
    /// Stores several blocks, all or nothing where the store can (one
    /// transaction in IndexedDB): a failed write (a full quota, say) leaves
    /// no part of them behind. Every block is verified before any is written.
    async fn put_blocks(&self, blocks: Vec<(Cid, Vec<u8>)>) -> Result<(), CoreError> {
        for (cid, bytes) in &blocks {
            verify_block(cid, bytes)?;
        }
        for (cid, bytes) in blocks {
            self.put_block(cid, bytes).await?;
        }
        Ok(())
    }
    /// Stores a file's blocks and, if given, the alias `(raw CID, root)` of
    /// its whole bytes: all or nothing where the store can.
    async fn put_file_blocks(
        &self,
        blocks: Vec<(Cid, Vec<u8>)>,
        alias: Option<(Cid, Cid)>,
    ) -> Result<(), CoreError> {
        self.put_blocks(blocks).await?;
        if let Some((alias, root)) = alias {
            self.put_alias(alias, root).await?;
        }
        Ok(())
    }
    /// Records that the raw-block CID `alias` names the same bytes as the
    /// UnixFS file `root` (so a module can be named either way without
    /// storing it twice). [`read_file`] verifies the bytes when it follows one.
    async fn put_alias(&self, alias: Cid, root: Cid) -> Result<(), CoreError>;
    /// The UnixFS root an alias stands for, if any.
    async fn get_alias(&self, alias: &Cid) -> Result<Option<Cid>, CoreError>;
}

/// Receipt storage with the memo and the reverse index.
#[allow(
    async_fn_in_trait,
    reason = "the futures are used in single-threaded contexts; Send is not wanted"
)]
pub trait ReceiptStore: BlockStore {
    /// Stores a receipt and its index entries, all or nothing.
    async fn put_receipt(&self, record: ReceiptRecord) -> Result<(), CoreError>;
    /// Stores blocks the receipt links to (its invocation) and the receipt,
    /// all or nothing where the store can (one transaction in IndexedDB).
    async fn put_receipt_with_blocks(
        &self,
        record: ReceiptRecord,
        blocks: Vec<(Cid, Vec<u8>)>,
    ) -> Result<(), CoreError> {
        self.put_blocks(blocks).await?;
        self.put_receipt(record).await
    }
    /// A receipt by its CID.
    async fn receipt(&self, cid: &Cid) -> Result<Option<ReceiptRecord>, CoreError>;
    /// The receipt of an instruction (the memo lookup).
    async fn receipt_for(&self, instruction: &Cid) -> Result<Option<ReceiptRecord>, CoreError>;
    /// Every receipt whose instruction read `input` (the reverse index).
    async fn receipts_using(&self, input: &Cid) -> Result<Vec<ReceiptRecord>, CoreError>;
}

/// Stores `data` as a UnixFS file and returns its root CID (as `ipfs add
/// --cid-version 1` would). The file's raw-block CID (`bafkrei…` of the
/// whole bytes) resolves to it too.
pub async fn add_file<S: BlockStore + ?Sized>(store: &S, data: &[u8]) -> Result<Cid, CoreError> {
    let file = unixfs::import(data);
    let root = file.root;
    let whole = crate::address::raw_cid(data);
    let alias = (whole != root).then_some((whole, root));
    store.put_file_blocks(file.blocks, alias).await?;
    Ok(root)
}

/// Reads a whole UnixFS file (or raw block) from the store. A raw-block CID
/// recorded as an alias of a UnixFS file is read through the file, and the
/// bytes are checked against it.
pub async fn read_file<S: BlockStore + ?Sized>(
    store: &S,
    root: &Cid,
) -> Result<Vec<u8>, CoreError> {
    if root.codec() == crate::address::RAW && store.get_block(root).await?.is_none() {
        if let Some(target) = store.get_alias(root).await? {
            let bytes = read_tree(store, &target).await?;
            verify_block(root, &bytes)?;
            return Ok(bytes);
        }
    }
    read_tree(store, root).await
}

async fn read_tree<S: BlockStore + ?Sized>(store: &S, root: &Cid) -> Result<Vec<u8>, CoreError> {
    let mut out = Vec::new();
    let mut stack = vec![(*root, 0usize)];
    while let Some((cid, depth)) = stack.pop() {
        if depth > 32 {
            return Err(CoreError::UnixFs {
                cid: Box::new(cid),
                reason: "DAG deeper than 32 levels".into(),
            });
        }
        let block = store
            .get_block(&cid)
            .await?
            .ok_or_else(|| CoreError::MissingBlock(Box::new(cid)))?;
        let (inline, links) = unixfs::decode_node(&cid, &block)?;
        out.extend_from_slice(&inline);
        stack.extend(links.into_iter().rev().map(|c| (c, depth + 1)));
    }
    Ok(out)
}

#[derive(Default)]
struct Tables {
    blocks: HashMap<Cid, Vec<u8>>,
    aliases: HashMap<Cid, Cid>,
    receipts: HashMap<Cid, ReceiptRecord>,
    by_instruction: HashMap<Cid, Cid>,
    by_input: HashMap<Cid, BTreeMap<Cid, ()>>,
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
        self.with(|t| t.receipts.len()).unwrap_or(0)
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
}

impl ReceiptStore for MemoryStore {
    async fn put_receipt(&self, record: ReceiptRecord) -> Result<(), CoreError> {
        self.with(|t| {
            t.by_instruction.insert(record.instruction, record.cid);
            for input in &record.inputs {
                t.by_input.entry(*input).or_default().insert(record.cid, ());
            }
            t.receipts.insert(record.cid, record);
        })
    }

    async fn receipt(&self, cid: &Cid) -> Result<Option<ReceiptRecord>, CoreError> {
        self.with(|t| t.receipts.get(cid).cloned())
    }

    async fn receipt_for(&self, instruction: &Cid) -> Result<Option<ReceiptRecord>, CoreError> {
        self.with(|t| {
            t.by_instruction
                .get(instruction)
                .and_then(|c| t.receipts.get(c))
                .cloned()
        })
    }

    async fn receipts_using(&self, input: &Cid) -> Result<Vec<ReceiptRecord>, CoreError> {
        self.with(|t| {
            t.by_input
                .get(input)
                .map(|set| {
                    set.keys()
                        .filter_map(|c| t.receipts.get(c).cloned())
                        .collect()
                })
                .unwrap_or_default()
        })
    }
}

/// Stores shared by reference or by pointer are stores too.
macro_rules! forward_stores {
    ($($ptr:ty),*) => {$(
        impl<T: BlockStore + ?Sized> BlockStore for $ptr {
            async fn get_block(&self, cid: &Cid) -> Result<Option<Vec<u8>>, CoreError> {
                (**self).get_block(cid).await
            }
            async fn put_block(&self, cid: Cid, bytes: Vec<u8>) -> Result<(), CoreError> {
                (**self).put_block(cid, bytes).await
            }
            async fn put_blocks(&self, blocks: Vec<(Cid, Vec<u8>)>) -> Result<(), CoreError> {
                (**self).put_blocks(blocks).await
            }
            async fn put_file_blocks(
                &self,
                blocks: Vec<(Cid, Vec<u8>)>,
                alias: Option<(Cid, Cid)>,
            ) -> Result<(), CoreError> {
                (**self).put_file_blocks(blocks, alias).await
            }
            async fn put_alias(&self, alias: Cid, root: Cid) -> Result<(), CoreError> {
                (**self).put_alias(alias, root).await
            }
            async fn get_alias(&self, alias: &Cid) -> Result<Option<Cid>, CoreError> {
                (**self).get_alias(alias).await
            }
        }
        impl<T: ReceiptStore + ?Sized> ReceiptStore for $ptr {
            async fn put_receipt(&self, record: ReceiptRecord) -> Result<(), CoreError> {
                (**self).put_receipt(record).await
            }
            async fn put_receipt_with_blocks(
                &self,
                record: ReceiptRecord,
                blocks: Vec<(Cid, Vec<u8>)>,
            ) -> Result<(), CoreError> {
                (**self).put_receipt_with_blocks(record, blocks).await
            }
            async fn receipt(&self, cid: &Cid) -> Result<Option<ReceiptRecord>, CoreError> {
                (**self).receipt(cid).await
            }
            async fn receipt_for(&self, instruction: &Cid) -> Result<Option<ReceiptRecord>, CoreError> {
                (**self).receipt_for(instruction).await
            }
            async fn receipts_using(&self, input: &Cid) -> Result<Vec<ReceiptRecord>, CoreError> {
                (**self).receipts_using(input).await
            }
        }
    )*};
}
forward_stores!(&T, std::rc::Rc<T>, std::sync::Arc<T>);

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    #[test]
    fn a_file_resolves_by_its_unixfs_cid_and_by_its_raw_cid() {
        let store = MemoryStore::new();
        let data: Vec<u8> = (0..unixfs::CHUNK_SIZE * 2 + 5)
            .map(|i| (i % 253) as u8)
            .collect();
        let root = block_on(add_file(&store, &data)).unwrap();
        assert_eq!(root.codec(), crate::address::DAG_PB);
        assert_eq!(block_on(read_file(&store, &root)).unwrap(), data);
        let raw = crate::address::raw_cid(&data);
        assert_eq!(block_on(read_file(&store, &raw)).unwrap(), data);
    }

    #[test]
    fn blocks_that_do_not_match_their_cid_are_refused() {
        let store = MemoryStore::new();
        let cid = crate::address::raw_cid(b"right");
        let err = block_on(store.put_block(cid, b"wrong".to_vec())).unwrap_err();
        assert!(matches!(err, CoreError::HashMismatch { .. }), "{err}");
        assert!(block_on(store.get_block(&cid)).unwrap().is_none());
    }
}
