//! Blocks and receipt rows in SQLite: the same indexes as the core's
//! `MemoryStore` (the reference) and the browser's IndexedDB store (the
//! tables: `db.rs`).
//! A row that cannot be read as a row (a CID that does not parse, a
//! provenance this version does not know) is returned as a [`BadRow`], for
//! the memo to report and skip.

use cid::Cid;
use ipvm_core::address::verify_block;
use ipvm_core::store::{BadRow, Block, RowIndex, RowRead};
use ipvm_core::{BlockStore, CoreError, Provenance, ReceiptRow, ReceiptStore};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::db::SqliteStore;

const ROW_COLUMNS: &str =
    "cid, instruction, provenance, reusable, stored, bytes, invocation, vouched, inputs, envelopes";

/// A row's columns, as stored.
struct Columns {
    cid: Vec<u8>,
    instruction: Vec<u8>,
    provenance: String,
    reusable: bool,
    stored: i64,
    bytes: Vec<u8>,
    invocation: Option<Vec<u8>>,
    vouched: bool,
    inputs: Vec<u8>,
    envelopes: Vec<u8>,
}

fn columns(r: &Row<'_>) -> rusqlite::Result<Columns> {
    Ok(Columns {
        cid: r.get(0)?,
        instruction: r.get(1)?,
        provenance: r.get(2)?,
        reusable: r.get(3)?,
        stored: r.get(4)?,
        bytes: r.get(5)?,
        invocation: r.get(6)?,
        vouched: r.get(7)?,
        inputs: r.get(8)?,
        envelopes: r.get(9)?,
    })
}

fn cid_text(bytes: &[u8]) -> String {
    Cid::try_from(bytes).map_or_else(|_| format!("0x{}", hex(bytes)), |c| c.to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A row's inputs as one value: their binary CIDs, one after another (a
/// CID says its own length).
pub(crate) fn encode_inputs(inputs: impl IntoIterator<Item = Vec<u8>>) -> Vec<u8> {
    inputs.into_iter().flatten().collect()
}

fn decode_inputs(mut bytes: &[u8]) -> Result<Vec<Cid>, String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        out.push(Cid::read_bytes(&mut bytes).map_err(|e| format!("an input: {e}"))?);
    }
    Ok(out)
}

/// A row's envelopes as one value: for each, its signer's DID and its
/// bytes, each after its length (4 bytes, little-endian).
pub(crate) fn encode_envelopes<'a>(
    envelopes: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for (signer, bytes) in envelopes {
        for part in [signer.as_bytes(), bytes] {
            out.extend_from_slice(&(part.len() as u32).to_le_bytes());
            out.extend_from_slice(part);
        }
    }
    out
}

fn decode_envelopes(mut bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    fn part(bytes: &mut &[u8]) -> Result<Vec<u8>, String> {
        let short = || "its envelopes end early".to_string();
        let (len, rest) = bytes.split_first_chunk::<4>().ok_or_else(short)?;
        let len = u32::from_le_bytes(*len) as usize;
        let (part, rest) = rest.split_at_checked(len).ok_or_else(short)?;
        *bytes = rest;
        Ok(part.to_vec())
    }
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let signer = String::from_utf8(part(&mut bytes)?)
            .map_err(|_| "a signer of its envelopes is not UTF-8".to_string())?;
        out.push((signer, part(&mut bytes)?));
    }
    Ok(out)
}

/// The full row, or why it is not one.
fn assemble(col: Columns) -> RowRead {
    let bad = |reason: String| BadRow {
        key: cid_text(&col.cid),
        reason,
    };
    let cid = Cid::try_from(col.cid.as_slice()).map_err(|e| bad(format!("its key: {e}")))?;
    let instruction = Cid::try_from(col.instruction.as_slice())
        .map_err(|e| bad(format!("its instruction: {e}")))?;
    let inputs = decode_inputs(&col.inputs).map_err(bad)?;
    let provenance = Provenance::parse(&col.provenance)
        .ok_or_else(|| bad(format!("unknown provenance `{}`", col.provenance)))?;
    let (signers, envelopes) = decode_envelopes(&col.envelopes)
        .map_err(bad)?
        .into_iter()
        .unzip();
    Ok(ReceiptRow {
        cid,
        instruction,
        inputs,
        provenance,
        reusable: col.reusable,
        stored: u64::try_from(col.stored).map_err(|_| bad("a negative `stored`".into()))?,
        bytes: col.bytes,
        invocation: col.invocation,
        envelopes,
        signers,
        vouched: col.vouched,
    })
}

/// The row with this key, read in `c`.
fn read_row(c: &Connection, cid: &[u8]) -> rusqlite::Result<Option<RowRead>> {
    let mut q = c.prepare_cached(&format!(
        "SELECT {ROW_COLUMNS} FROM receipts WHERE cid = ?1"
    ))?;
    Ok(q.query_row([cid], columns).optional()?.map(assemble))
}

/// Every row under an index key, in key order. The reverse indexes (inputs,
/// signers) are kept exact by every write; a row read through one is kept
/// only if it still has that key, so that an entry left by a row that could
/// not be read when it was replaced never finds the row that replaced it.
fn read_index(c: &Connection, index: RowIndex<'_>) -> rusqlite::Result<Vec<RowRead>> {
    let (sql, key): (String, rusqlite::types::Value) = match index {
        RowIndex::Memo(i) => (
            format!("SELECT {ROW_COLUMNS} FROM receipts WHERE instruction = ?1 AND reusable = 1 ORDER BY cid"),
            i.to_bytes().into(),
        ),
        RowIndex::Instruction(i) => (
            format!("SELECT {ROW_COLUMNS} FROM receipts WHERE instruction = ?1 ORDER BY cid"),
            i.to_bytes().into(),
        ),
        RowIndex::Input(i) => (
            format!("SELECT {ROW_COLUMNS} FROM receipts WHERE cid IN (SELECT receipt FROM receipt_inputs WHERE input = ?1) ORDER BY cid"),
            i.to_bytes().into(),
        ),
        RowIndex::Signer(did) => (
            format!("SELECT {ROW_COLUMNS} FROM receipts WHERE cid IN (SELECT receipt FROM receipt_signers WHERE signer = ?1) ORDER BY cid"),
            did.to_string().into(),
        ),
    };
    let mut q = c.prepare_cached(&sql)?;
    let rows = q.query_map([key], columns)?.map(|r| r.map(assemble));
    let still_has = |row: &RowRead| match (row, index) {
        (Ok(row), RowIndex::Input(i)) => row.inputs.contains(i),
        (Ok(row), RowIndex::Signer(did)) => row.signers.iter().any(|s| s == did),
        _ => true,
    };
    let mut out = Vec::new();
    for row in rows {
        let row = row?;
        if still_has(&row) {
            out.push(row);
        }
    }
    Ok(out)
}

fn insert_blocks(c: &Connection, blocks: &[Block]) -> rusqlite::Result<()> {
    let mut q = c.prepare_cached("INSERT OR IGNORE INTO blocks (cid, bytes) VALUES (?1, ?2)")?;
    for (cid, bytes) in blocks {
        q.execute(params![cid.to_bytes(), bytes])?;
    }
    Ok(())
}

/// Puts a row in `c` (inside a write transaction), replacing the row with
/// the same key and its index entries, keeping the old one's envelopes.
/// The row takes the next place in the store's order (`stored`).
fn put_row(c: &Connection, mut row: ReceiptRow) -> rusqlite::Result<()> {
    let key = row.cid.to_bytes();
    // An old row that cannot be read is replaced whole (an entry of its
    // that cannot be known any more is ignored by reads: `read_index`).
    if let Some(Ok(old)) = read_row(c, &key)? {
        row.keep_envelopes_of(&old);
        // The old row's reverse-index entries go; the new row's come back below.
        let mut q =
            c.prepare_cached("DELETE FROM receipt_inputs WHERE input = ?1 AND receipt = ?2")?;
        for input in &old.inputs {
            q.execute(params![input.to_bytes(), key])?;
        }
        let mut q =
            c.prepare_cached("DELETE FROM receipt_signers WHERE signer = ?1 AND receipt = ?2")?;
        for signer in &old.signers {
            q.execute(params![signer, key])?;
        }
    }
    let inputs = encode_inputs(row.inputs.iter().map(Cid::to_bytes));
    let envelopes = encode_envelopes(
        row.signers
            .iter()
            .map(String::as_str)
            .zip(row.envelopes.iter().map(Vec::as_slice)),
    );
    c.prepare_cached(
        "INSERT OR REPLACE INTO receipts (cid, instruction, provenance, reusable, bytes, invocation, vouched, inputs, envelopes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        key,
        row.instruction.to_bytes(),
        row.provenance.as_str(),
        row.reusable,
        row.bytes,
        row.invocation,
        row.vouched,
        inputs,
        envelopes
    ])?;
    let mut q =
        c.prepare_cached("INSERT OR IGNORE INTO receipt_inputs (input, receipt) VALUES (?1, ?2)")?;
    for input in &row.inputs {
        q.execute(params![input.to_bytes(), key])?;
    }
    let mut q = c.prepare_cached(
        "INSERT OR IGNORE INTO receipt_signers (signer, receipt) VALUES (?1, ?2)",
    )?;
    for signer in &row.signers {
        q.execute(params![signer, key])?;
    }
    Ok(())
}

impl SqliteStore {
    /// The rows computed here that were written after `after` (in the
    /// store's write order, a row's `stored`), oldest first, at most
    /// `limit`, each with its write order: what a node announces. Every
    /// process on the store writes in one order, so a node sees what an
    /// `ipvm run` beside it wrote.
    pub fn computed_since(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, RowRead)>, CoreError> {
        self.read(|c| {
            let mut q = c.prepare_cached(&format!(
                "SELECT {ROW_COLUMNS} FROM receipts WHERE stored > ?1 AND provenance = 'computed' ORDER BY stored LIMIT ?2"
            ))?;
            let rows = q
                .query_map(
                    params![i64::try_from(after).unwrap_or(i64::MAX), limit as i64],
                    columns,
                )?
                .map(|r| r.map(|col| (col.stored.max(0) as u64, assemble(col))))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// How many rows came from peers (provenance `received`), and their
    /// receipts' bytes: what a node's cap on received rows counts.
    pub fn received_totals(&self) -> Result<(u64, u64), CoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(bytes)), 0) FROM receipts WHERE provenance = 'received'",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )
        })
        .map(|(n, b)| (n.max(0) as u64, b.max(0) as u64))
    }

    /// The write order of the last row written (0 if none).
    pub fn last_stored(&self) -> Result<u64, CoreError> {
        self.read(|c| {
            c.query_row("SELECT COALESCE(MAX(stored), 0) FROM receipts", [], |r| {
                r.get::<_, i64>(0)
            })
        })
        .map(|n| n.max(0) as u64)
    }

    fn put_rows(&self, blocks: Vec<Block>, rows: Vec<ReceiptRow>) -> Result<(), CoreError> {
        for (cid, bytes) in &blocks {
            verify_block(cid, bytes)?;
        }
        self.write(|tx| {
            insert_blocks(tx, &blocks).map_err(|e| self.error(e))?;
            for row in rows {
                put_row(tx, row).map_err(|e| self.error(e))?;
            }
            Ok(())
        })
    }
}

impl BlockStore for SqliteStore {
    async fn get_block(&self, cid: &Cid) -> Result<Option<Vec<u8>>, CoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT bytes FROM blocks WHERE cid = ?1")?
                .query_row([cid.to_bytes()], |r| r.get(0))
                .optional()
        })
    }

    async fn put_block(&self, cid: Cid, bytes: Vec<u8>) -> Result<(), CoreError> {
        self.put_blocks(vec![(cid, bytes)]).await
    }

    async fn put_blocks(&self, blocks: Vec<(Cid, Vec<u8>)>) -> Result<(), CoreError> {
        self.put_file_blocks(blocks, None).await
    }

    async fn put_file_blocks(
        &self,
        blocks: Vec<(Cid, Vec<u8>)>,
        alias: Option<(Cid, Cid)>,
    ) -> Result<(), CoreError> {
        for (cid, bytes) in &blocks {
            verify_block(cid, bytes)?;
        }
        self.write(|tx| {
            insert_blocks(tx, &blocks).map_err(|e| self.error(e))?;
            if let Some((alias, root)) = alias {
                tx.execute(
                    "INSERT OR REPLACE INTO aliases (alias, root) VALUES (?1, ?2)",
                    params![alias.to_bytes(), root.to_bytes()],
                )
                .map_err(|e| self.error(e))?;
            }
            Ok(())
        })
    }

    async fn put_alias(&self, alias: Cid, root: Cid) -> Result<(), CoreError> {
        self.put_file_blocks(vec![], Some((alias, root))).await
    }

    async fn get_alias(&self, alias: &Cid) -> Result<Option<Cid>, CoreError> {
        let root: Option<Vec<u8>> = self.read(|c| {
            c.prepare_cached("SELECT root FROM aliases WHERE alias = ?1")?
                .query_row([alias.to_bytes()], |r| r.get(0))
                .optional()
        })?;
        // A damaged mapping is no mapping: the file is then read by its own CID.
        Ok(root.and_then(|r| Cid::try_from(r.as_slice()).ok()))
    }

    async fn get_metered(&self, key: &str) -> Result<Option<Cid>, CoreError> {
        let cid: Option<Vec<u8>> = self.read(|c| {
            c.prepare_cached("SELECT cid FROM metered WHERE key = ?1")?
                .query_row([key], |r| r.get(0))
                .optional()
        })?;
        Ok(cid.and_then(|r| Cid::try_from(r.as_slice()).ok()))
    }

    async fn put_metered(&self, key: &str, metered: Cid, bytes: Vec<u8>) -> Result<(), CoreError> {
        verify_block(&metered, &bytes)?;
        self.write(|tx| {
            insert_blocks(tx, &[(metered, bytes)]).map_err(|e| self.error(e))?;
            tx.execute(
                "INSERT OR REPLACE INTO metered (key, cid) VALUES (?1, ?2)",
                params![key, metered.to_bytes()],
            )
            .map_err(|e| self.error(e))?;
            Ok(())
        })
    }
}

impl ReceiptStore for SqliteStore {
    async fn put_batch(&self, blocks: Vec<Block>, rows: Vec<ReceiptRow>) -> Result<(), CoreError> {
        self.put_rows(blocks, rows)
    }

    async fn row(&self, cid: &Cid) -> Result<Option<RowRead>, CoreError> {
        self.read(|c| read_row(c, &cid.to_bytes()))
    }

    async fn rows(&self, index: RowIndex<'_>) -> Result<Vec<RowRead>, CoreError> {
        self.read(|c| read_index(c, index))
    }

    async fn memo_rows(&self, instructions: &[Cid]) -> Result<Vec<Vec<RowRead>>, CoreError> {
        // One read transaction: every answer from the same snapshot.
        self.read(|c| {
            let tx = c.unchecked_transaction()?;
            let out = instructions
                .iter()
                .map(|i| read_index(&tx, RowIndex::Memo(i)))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            tx.finish()?;
            Ok(out)
        })
    }

    async fn set_provenance(&self, cid: &Cid, provenance: Provenance) -> Result<(), CoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE receipts SET provenance = ?2 WHERE cid = ?1",
                params![cid.to_bytes(), provenance.as_str()],
            )
            .map(drop)
            .map_err(|e| self.error(e))
        })
    }

    async fn set_vouched(&self, cid: &Cid, vouched: bool) -> Result<(), CoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE receipts SET vouched = ?2 WHERE cid = ?1",
                params![cid.to_bytes(), vouched],
            )
            .map(drop)
            .map_err(|e| self.error(e))
        })
    }
}
