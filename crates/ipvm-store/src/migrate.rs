//! Carries a store written by an earlier version to this schema, inside
//! the transaction that opens it (all of it, or none: a process killed
//! half-way leaves the earlier file as it was).

use rusqlite::{params, Transaction};

use crate::db::SCHEMA;
use crate::receipts::{encode_envelopes, encode_inputs};

/// Version 1 to 2: receipt rows take their inputs and envelopes in, keep
/// their place in the store's order (`stored`, now the rowid), and the
/// indexes version 2 no longer keeps (memo, stored) go.
pub(crate) fn from_v1(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "DROP INDEX IF EXISTS receipts_by_instruction;
         DROP INDEX IF EXISTS receipts_memo;
         DROP INDEX IF EXISTS receipts_by_stored;
         DROP INDEX IF EXISTS receipt_inputs_by_input;
         DROP INDEX IF EXISTS envelopes_by_signer;
         ALTER TABLE receipts RENAME TO receipts_v1;
         ALTER TABLE receipt_inputs RENAME TO receipt_inputs_v1;
         ALTER TABLE envelopes RENAME TO envelopes_v1;",
    )?;
    tx.execute_batch(SCHEMA)?;
    let mut rows = tx.prepare(
        "SELECT stored, cid, instruction, provenance, reusable, bytes, invocation, vouched
         FROM receipts_v1 ORDER BY stored",
    )?;
    let mut inputs_of =
        tx.prepare("SELECT input FROM receipt_inputs_v1 WHERE receipt = ?1 ORDER BY position")?;
    let mut envelopes_of =
        tx.prepare("SELECT signer, bytes FROM envelopes_v1 WHERE receipt = ?1 ORDER BY position")?;
    let mut insert = tx.prepare(
        "INSERT INTO receipts (stored, cid, instruction, provenance, reusable, bytes, invocation, vouched, inputs, envelopes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    let mut input_entry =
        tx.prepare("INSERT OR IGNORE INTO receipt_inputs (input, receipt) VALUES (?1, ?2)")?;
    let mut signer_entry =
        tx.prepare("INSERT OR IGNORE INTO receipt_signers (signer, receipt) VALUES (?1, ?2)")?;
    let mut found = rows.query([])?;
    while let Some(r) = found.next()? {
        let cid: Vec<u8> = r.get(1)?;
        let inputs: Vec<Vec<u8>> = inputs_of
            .query_map([&cid], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let envelopes: Vec<(String, Vec<u8>)> = envelopes_of
            .query_map([&cid], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        insert.execute(params![
            r.get::<_, i64>(0)?,
            cid,
            r.get::<_, Vec<u8>>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, bool>(4)?,
            r.get::<_, Vec<u8>>(5)?,
            r.get::<_, Option<Vec<u8>>>(6)?,
            r.get::<_, bool>(7)?,
            encode_inputs(inputs.iter().cloned()),
            encode_envelopes(envelopes.iter().map(|(s, b)| (s.as_str(), b.as_slice()))),
        ])?;
        for input in &inputs {
            input_entry.execute(params![input, cid])?;
        }
        for (signer, _) in &envelopes {
            signer_entry.execute(params![signer, cid])?;
        }
    }
    drop(found);
    drop((
        rows,
        inputs_of,
        envelopes_of,
        insert,
        input_entry,
        signer_entry,
    ));
    tx.execute_batch(
        "DROP TABLE receipts_v1;
         DROP TABLE receipt_inputs_v1;
         DROP TABLE envelopes_v1;",
    )
}
