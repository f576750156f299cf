//! Storage capabilities as traits, and an in-memory implementation.
//!
//! A [`BlockStore`] holds content-addressed bytes (modules, data). A
//! [`ReceiptStore`] holds receipt rows under their CID and three indexes:
//! the memo (reusable rows by instruction), instruction, and input (the
//! reverse index). The browser crate implements both on IndexedDB;
//! [`MemoryStore`] serves tests and the CLI. Reads of receipts go through
//! [`crate::memo`], which checks each row and holds the memo rule.
//!
//! Methods are `async` because the real backends are; the futures need not
//! be `Send` (a browser is single-threaded).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use cid::Cid;

use crate::address::verify_block;
use crate::receipt::{Provenance, ReceiptRecord};
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
    /// storing it twice). [`read_file_within`] verifies the bytes when it follows one.
    async fn put_alias(&self, alias: Cid, root: Cid) -> Result<(), CoreError>;
    /// The UnixFS root an alias stands for, if any.
    async fn get_alias(&self, alias: &Cid) -> Result<Option<Cid>, CoreError>;
    /// The CID of a metered module cached under `key` (`<module CID>:<meter
    /// version>`), if this store keeps that cache. Only the executor writes
    /// it ([`BlockStore::put_metered`]); nothing imported does, so a stored
    /// mapping was made here. The bytes are a block, verified when read.
    async fn get_metered(&self, key: &str) -> Result<Option<Cid>, CoreError> {
        let _ = key;
        Ok(None)
    }
    /// Caches a metered module: its block, and `key` → its CID, together.
    /// A store without the cache keeps nothing.
    async fn put_metered(&self, key: &str, metered: Cid, bytes: Vec<u8>) -> Result<(), CoreError> {
        let _ = (key, metered, bytes);
        Ok(())
    }
}

/// A block: its CID and its bytes.
pub type Block = (Cid, Vec<u8>);

/// One row of a store's receipts table, as the store keeps it. Nothing in a
/// row is trusted until [`crate::memo`] has checked it against the receipt's
/// bytes and its invocation block: a row may be damaged, or written by
/// another version of the package.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptRow {
    /// The row's key: the receipt's CID.
    pub cid: Cid,
    /// The instruction the row is filed under (the memo key).
    pub instruction: Cid,
    /// The reverse-index keys: every input of the instruction.
    pub inputs: Vec<Cid>,
    /// Where the receipt came from.
    pub provenance: Provenance,
    /// Whether the row is in the memo index: only receipts that may be
    /// reused are, so a lookup reads few rows and decodes one.
    pub reusable: bool,
    /// When the row was written, in the store's own order (milliseconds
    /// since the epoch in IndexedDB, a counter in memory). Set by the store
    /// on write; ignored in a row given to [`ReceiptStore::put_batch`].
    pub stored: u64,
    /// The receipt's DAG-CBOR bytes.
    pub bytes: Vec<u8>,
    /// A copy of the invocation block the receipt names (`ran`), kept in
    /// the row so that checking it takes one read, not two. Rows written
    /// before it existed have none: the block is read from the store.
    pub invocation: Option<Vec<u8>>,
    /// The receipt's envelopes (DAG-CBOR), each checked against this
    /// receipt when it was stored.
    pub envelopes: Vec<Vec<u8>>,
    /// The signers of `envelopes`, in the same order (the signer index).
    pub signers: Vec<String>,
    /// Whether a signer this runtime trusts vouches for the receipt: decided
    /// when the row is written and when the trust policy changes, so that a
    /// lookup never checks a signature.
    pub vouched: bool,
}

impl ReceiptRow {
    /// The row for a checked record, with a copy of its invocation block
    /// if `blocks` holds it.
    pub fn with_invocation(record: &ReceiptRecord, blocks: &[Block]) -> Result<Self, CoreError> {
        let mut row = Self::new(record)?;
        row.invocation = blocks
            .iter()
            .find(|(cid, _)| *cid == record.receipt.ran)
            .map(|(_, bytes)| bytes.clone());
        Ok(row)
    }

    /// Keeps the envelopes of `old` (the row this one replaces) that this
    /// one lacks: a row never loses an attestation. If some are added, a
    /// trusted signer that vouched for the old row still does.
    pub fn keep_envelopes_of(&mut self, old: &ReceiptRow) {
        let mut added = false;
        for (signer, envelope) in old.signers.iter().zip(&old.envelopes) {
            if !self.signers.contains(signer) {
                self.signers.push(signer.clone());
                self.envelopes.push(envelope.clone());
                added = true;
            }
        }
        if added {
            self.vouched |= old.vouched;
        }
    }

    /// The row for a checked record.
    pub fn new(record: &ReceiptRecord) -> Result<Self, CoreError> {
        let (cid, bytes) = record.receipt.block()?;
        if cid != record.cid {
            return Err(CoreError::HashMismatch {
                cid: Box::new(record.cid),
                actual: Box::new(cid),
            });
        }
        Ok(Self {
            cid,
            instruction: record.instruction,
            inputs: record.inputs.clone(),
            provenance: record.provenance,
            reusable: record.receipt.is_reusable(),
            stored: 0,
            bytes,
            invocation: None,
            envelopes: record.envelopes.iter().map(|e| e.bytes.clone()).collect(),
            signers: record
                .envelopes
                .iter()
                .map(|e| e.signer.to_string())
                .collect(),
            vouched: record.vouched,
        })
    }
}

/// A row a store could not read as a row at all (a missing field, a value
/// of the wrong type): `key` is its key as text, `reason` what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// The row's key, as text.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A row as read: a row, or why it is not one.
pub type RowRead = Result<ReceiptRow, BadRow>;

/// The indexes of the receipts table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowIndex<'a> {
    /// Rows that may answer this instruction (`reusable` rows only).
    Memo(&'a Cid),
    /// Every row filed under this instruction.
    Instruction(&'a Cid),
    /// Every row whose instruction read this input.
    Input(&'a Cid),
    /// Every row with an envelope by this signer (a DID).
    Signer(&'a str),
}

/// Receipt storage: rows of the receipts table under three indexes (memo,
/// instruction, input), and the blocks beside them. The store only keeps
/// rows; every rule about them (which row answers an instruction, whether a
/// row is what it claims) is in [`crate::memo`], the same for every store.
#[allow(
    async_fn_in_trait,
    reason = "the futures are used in single-threaded contexts; Send is not wanted"
)]
pub trait ReceiptStore: BlockStore {
    /// Writes blocks and receipt rows together: all or nothing where the
    /// store can (one transaction in IndexedDB). A row replaces the row with
    /// the same CID, keeping its envelopes ([`ReceiptRow::keep_envelopes_of`],
    /// in the same transaction), and the store sets its `stored` time. Every
    /// block is verified against its CID before anything is written.
    async fn put_batch(&self, blocks: Vec<Block>, rows: Vec<ReceiptRow>) -> Result<(), CoreError>;
    /// [`ReceiptStore::put_batch`] of receipts this runtime has just
    /// computed (a group commit, [`crate::memo::store_computed_many`]): a
    /// store that keeps the records of runs in progress may write them in
    /// the same transaction, marking these receipts' tasks. Imports and
    /// other writes go through `put_batch`, so they never mark a task.
    async fn put_computed(
        &self,
        blocks: Vec<Block>,
        rows: Vec<ReceiptRow>,
    ) -> Result<(), CoreError> {
        self.put_batch(blocks, rows).await
    }
    /// The row with this key, if present.
    async fn row(&self, cid: &Cid) -> Result<Option<RowRead>, CoreError>;
    /// Every row under an index key.
    async fn rows(&self, index: RowIndex<'_>) -> Result<Vec<RowRead>, CoreError>;
    /// The rows of each memo key (an instruction), in the order asked: one
    /// read for many instructions (one transaction in IndexedDB), as the
    /// scheduler looks up a batch of ready tasks.
    async fn memo_rows(&self, instructions: &[Cid]) -> Result<Vec<Vec<RowRead>>, CoreError> {
        let mut out = Vec::with_capacity(instructions.len());
        for i in instructions {
            out.push(self.rows(RowIndex::Memo(i)).await?);
        }
        Ok(out)
    }
    /// Changes the provenance of a stored row (a verified receipt is
    /// promoted). Nothing happens if the row is absent.
    async fn set_provenance(&self, cid: &Cid, provenance: Provenance) -> Result<(), CoreError>;
    /// Changes whether a trusted signer vouches for a stored row (the trust
    /// policy changed). Nothing happens if the row is absent.
    async fn set_vouched(&self, cid: &Cid, vouched: bool) -> Result<(), CoreError>;
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

/// Reads a whole UnixFS file (or raw block) from the store, producing at
/// most `limit` bytes. A raw-block CID recorded as an alias of a UnixFS file
/// is read through the file, and the bytes are checked against it.
///
/// A larger file is a [`CoreError::TooLarge`] as soon as the read passes the
/// limit, whatever the file's nodes declare (a small DAG can describe a huge
/// file by repeating links), so memory stays bounded by the limit and one
/// block. There is deliberately no unbounded form: every caller names the
/// most it will hold.
pub async fn read_file_within<S: BlockStore + ?Sized>(
    store: &S,
    root: &Cid,
    limit: u64,
) -> Result<Vec<u8>, CoreError> {
    if root.codec() == crate::address::RAW {
        // A raw block is the whole file; read it once.
        match store.get_block(root).await? {
            Some(bytes) if bytes.len() as u64 > limit => {
                return Err(CoreError::TooLarge {
                    cid: Box::new(*root),
                    limit,
                })
            }
            Some(bytes) => return Ok(bytes),
            None => {
                if let Some(target) = store.get_alias(root).await? {
                    let bytes = read_tree(store, &target, limit).await?;
                    verify_block(root, &bytes)?;
                    return Ok(bytes);
                }
            }
        }
    }
    read_tree(store, root, limit).await
}

/// A step of a file read: visit a block (expecting it to produce a size,
/// if its parent declared one), or check that a node produced what it declared.
enum Step {
    Visit(Cid, usize, Option<u64>),
    Check(Cid, usize, u64),
}

async fn read_tree<S: BlockStore + ?Sized>(
    store: &S,
    root: &Cid,
    limit: u64,
) -> Result<Vec<u8>, CoreError> {
    let bad = |cid: Cid, reason: String| CoreError::UnixFs {
        cid: Box::new(cid),
        reason,
    };
    let too_large = || CoreError::TooLarge {
        cid: Box::new(*root),
        limit,
    };
    let mut out = Vec::new();
    // Depth-first, left to right; a node's check comes after its children.
    let mut stack = vec![Step::Visit(*root, 0, None)];
    while let Some(step) = stack.pop() {
        let (cid, depth, expected) = match step {
            Step::Check(cid, start, declared) => {
                let held = (out.len() - start) as u64;
                if held != declared {
                    return Err(bad(
                        cid,
                        format!("declares {declared} bytes but holds {held}"),
                    ));
                }
                continue;
            }
            Step::Visit(cid, depth, expected) => (cid, depth, expected),
        };
        if depth > 32 {
            return Err(bad(cid, "DAG deeper than 32 levels".into()));
        }
        let block = store
            .get_block(&cid)
            .await?
            .ok_or_else(|| CoreError::MissingBlock(Box::new(cid)))?;
        let node = unixfs::decode_file_node(&cid, &block)?;
        // What the node declares must add up, and match what its parent
        // declared for it; a file declared larger than the limit fails at once.
        let declared = match (node.filesize, node.blocksizes.is_empty()) {
            (Some(size), false) => {
                if node.blocksizes.len() != node.links.len() {
                    return Err(bad(
                        cid,
                        format!(
                            "{} blocksizes for {} links",
                            node.blocksizes.len(),
                            node.links.len()
                        ),
                    ));
                }
                let sum = node
                    .blocksizes
                    .iter()
                    .fold(node.inline.len() as u64, |a, b| a.saturating_add(*b));
                if sum != size {
                    return Err(bad(
                        cid,
                        format!("declares {size} bytes, but its parts add up to {sum}"),
                    ));
                }
                Some(size)
            }
            _ => None,
        };
        // A leaf (raw, or DAG-PB without links) produces its inline bytes,
        // and must hold what it declares.
        let produces = if node.links.is_empty() {
            let held = node.inline.len() as u64;
            if node.filesize.is_some_and(|size| size != held) {
                return Err(bad(
                    cid,
                    format!("declares {:?} bytes but holds {held}", node.filesize),
                ));
            }
            Some(held)
        } else {
            declared
        };
        if let (Some(expected), Some(produces)) = (expected, produces) {
            if expected != produces {
                return Err(bad(
                    cid,
                    format!("its parent declares {expected} bytes for it, it holds {produces}"),
                ));
            }
        }
        if (out.len() as u64).saturating_add(produces.unwrap_or(0)) > limit
            || (out.len() as u64).saturating_add(node.inline.len() as u64) > limit
        {
            return Err(too_large());
        }
        if let Some(size) = declared.filter(|_| !node.links.is_empty()) {
            stack.push(Step::Check(cid, out.len(), size));
        }
        out.extend_from_slice(&node.inline);
        let sizes = node
            .blocksizes
            .iter()
            .map(|s| Some(*s))
            .chain(std::iter::repeat(None));
        let children: Vec<Step> = node
            .links
            .iter()
            .zip(sizes)
            .map(|(c, size)| Step::Visit(*c, depth + 1, size))
            .collect();
        stack.extend(children.into_iter().rev());
    }
    Ok(out)
}

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
            async fn get_metered(&self, key: &str) -> Result<Option<Cid>, CoreError> {
                (**self).get_metered(key).await
            }
            async fn put_metered(&self, key: &str, metered: Cid, bytes: Vec<u8>) -> Result<(), CoreError> {
                (**self).put_metered(key, metered, bytes).await
            }
            async fn get_alias(&self, alias: &Cid) -> Result<Option<Cid>, CoreError> {
                (**self).get_alias(alias).await
            }
        }
        impl<T: ReceiptStore + ?Sized> ReceiptStore for $ptr {
            async fn put_batch(&self, blocks: Vec<Block>, rows: Vec<ReceiptRow>) -> Result<(), CoreError> {
                (**self).put_batch(blocks, rows).await
            }
            async fn put_computed(&self, blocks: Vec<Block>, rows: Vec<ReceiptRow>) -> Result<(), CoreError> {
                (**self).put_computed(blocks, rows).await
            }
            async fn row(&self, cid: &Cid) -> Result<Option<RowRead>, CoreError> {
                (**self).row(cid).await
            }
            async fn rows(&self, index: RowIndex<'_>) -> Result<Vec<RowRead>, CoreError> {
                (**self).rows(index).await
            }
            async fn memo_rows(&self, instructions: &[Cid]) -> Result<Vec<Vec<RowRead>>, CoreError> {
                (**self).memo_rows(instructions).await
            }
            async fn set_provenance(&self, cid: &Cid, provenance: Provenance) -> Result<(), CoreError> {
                (**self).set_provenance(cid, provenance).await
            }
            async fn set_vouched(&self, cid: &Cid, vouched: bool) -> Result<(), CoreError> {
                (**self).set_vouched(cid, vouched).await
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
        assert_eq!(
            block_on(read_file_within(&store, &root, 1 << 20)).unwrap(),
            data
        );
        let raw = crate::address::raw_cid(&data);
        assert_eq!(
            block_on(read_file_within(&store, &raw, 1 << 20)).unwrap(),
            data
        );
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
