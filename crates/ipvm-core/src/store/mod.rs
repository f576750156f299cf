//! Storage capabilities as traits, and an in-memory implementation.
//!
//! A [`BlockStore`] holds content-addressed bytes (modules, data). A
//! [`ReceiptStore`] holds receipt rows under their CID and three indexes:
//! the memo (reusable rows by instruction), instruction, and input (the
//! reverse index). The browser crate implements both on IndexedDB;
//! [`MemoryStore`] serves tests and the CLI. Reads of receipts go through
//! [`crate::store::memo`], which checks each row and holds the memo rule.
//!
//! Methods are `async` because the real backends are; the futures need not
//! be `Send` (a browser is single-threaded).

use cid::Cid;

use crate::model::address::verify_block;
use crate::store::record::{Provenance, ReceiptRecord};
use crate::CoreError;

pub mod car;
pub mod fetch;
mod files;
pub mod memo;
mod memory;
pub mod record;
pub mod seen;
pub mod settings;
pub mod vouching;

pub use files::{add_file, read_file_within};
pub use memory::MemoryStore;

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
/// row is trusted until [`crate::store::memo`] has checked it against the receipt's
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
/// row is what it claims) is in [`crate::store::memo`], the same for every store.
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
    /// computed (a group commit, [`crate::store::memo::store_computed_many`]): a
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
