//! CARv1 archives: carry receipts and the blocks behind them (invocations,
//! modules, data) to another store, another browser, or an IPFS node.
//!
//! [`export`] writes, for each root: a receipt with its invocation block and
//! its module's UnixFS blocks; or a block with every block below it.
//! [`import`] verifies every block against its CID and stores the blocks and
//! the receipts whose invocation is in the archive or the store, all in one
//! write. Imported receipts are data from outside: they are stored with
//! provenance `imported` and answer no memo lookup until `verify` re-runs
//! them here, unless an envelope in the archive from a signer this runtime
//! trusts vouches for them. Envelopes travel as blocks of their own and are
//! kept in their receipt's row.

use std::collections::{BTreeMap, HashMap, HashSet};

use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::auth::envelope::{check_receipt, Envelope, ReceiptCheck, Refusal};
use crate::auth::identity::Did;
use crate::auth::trust::Trust;
use crate::model::address::decode_dag_cbor;
use crate::model::address::{cid_of, encode_dag_cbor, DAG_CBOR, DAG_PB, SHA2_256};
use crate::model::receipt::Receipt;
use crate::model::unixfs;
use crate::model::workflow::Task;
use crate::store::record::{Provenance, ReceiptRecord};
use crate::store::{BlockStore, ReceiptRow, ReceiptStore};
use crate::CoreError;

pub use crate::store::Block;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(buf: &[u8], pos: &mut usize) -> Result<u64, CoreError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or_else(|| bad("truncated varint"))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(bad("varint too long"))
}

fn bad(why: &str) -> CoreError {
    CoreError::Decode {
        format: "CAR",
        reason: why.to_string(),
    }
}

/// The next `varint(len) bytes` section at `pos`, moving `pos` past it:
/// `None` if the archive ends before it does. Lengths come from the
/// archive, so every step is checked (a length may not fit a 32-bit `usize`).
fn section<'a>(bytes: &'a [u8], pos: &mut usize) -> Option<Result<&'a [u8], CoreError>> {
    let len = match get_varint(bytes, pos) {
        Ok(len) => usize::try_from(len).ok()?,
        Err(e) => return Some(Err(e)),
    };
    let end = pos.checked_add(len)?;
    let out = bytes.get(*pos..end)?;
    *pos = end;
    Some(Ok(out))
}

/// Encodes a CARv1 archive.
pub fn encode(roots: &[Cid], blocks: &[Block]) -> Result<Vec<u8>, CoreError> {
    let header = Ipld::Map(BTreeMap::from([
        (
            "roots".to_string(),
            Ipld::List(roots.iter().copied().map(Ipld::Link).collect()),
        ),
        ("version".to_string(), Ipld::Integer(1)),
    ]));
    let header = encode_dag_cbor(&header)?;
    let mut out = Vec::new();
    put_varint(&mut out, header.len() as u64);
    out.extend_from_slice(&header);
    for (cid, data) in blocks {
        let cid_bytes = cid.to_bytes();
        put_varint(&mut out, (cid_bytes.len() + data.len()) as u64);
        out.extend_from_slice(&cid_bytes);
        out.extend_from_slice(data);
    }
    Ok(out)
}

/// Decodes a CARv1 archive into its roots and blocks (not yet verified).
pub fn decode(bytes: &[u8]) -> Result<(Vec<Cid>, Vec<Block>), CoreError> {
    let mut pos = 0;
    let header = section(bytes, &mut pos).ok_or_else(|| bad("truncated header"))??;
    let Ipld::Map(h) = decode_dag_cbor(header)? else {
        return Err(bad("header is not a map"));
    };
    if h.get("version") != Some(&Ipld::Integer(1)) {
        return Err(bad("only CARv1 is supported"));
    }
    let roots = match h.get("roots") {
        Some(Ipld::List(r)) => r
            .iter()
            .filter_map(|v| {
                if let Ipld::Link(c) = v {
                    Some(*c)
                } else {
                    None
                }
            })
            .collect(),
        _ => return Err(bad("header has no roots")),
    };
    let mut blocks = Vec::new();
    while pos < bytes.len() {
        let section = section(bytes, &mut pos).ok_or_else(|| bad("truncated block"))??;
        let mut reader = std::io::Cursor::new(section);
        let cid =
            Cid::read_bytes(&mut reader).map_err(|e| bad(&format!("bad CID in block: {e}")))?;
        let data = section[reader.position() as usize..].to_vec();
        blocks.push((cid, data));
    }
    Ok((roots, blocks))
}

/// Collects `cid` and, for DAG-PB nodes, every block below it.
async fn collect_file<S: BlockStore + ?Sized>(
    store: &S,
    root: Cid,
    seen: &mut HashSet<Cid>,
    out: &mut Vec<Block>,
) -> Result<(), CoreError> {
    let mut stack = vec![root];
    while let Some(cid) = stack.pop() {
        if !seen.insert(cid) {
            continue;
        }
        let cid = match store.get_block(&cid).await? {
            Some(_) => cid,
            None => store
                .get_alias(&cid)
                .await?
                .ok_or_else(|| CoreError::MissingBlock(Box::new(cid)))?,
        };
        let data = store
            .get_block(&cid)
            .await?
            .ok_or_else(|| CoreError::MissingBlock(Box::new(cid)))?;
        if cid.codec() == DAG_PB {
            stack.extend(unixfs::decode_node(&cid, &data)?.1);
        }
        out.push((cid, data));
    }
    Ok(())
}

/// What [`check`] says of an archive: each envelope that does not check out
/// on its own (its block's CID and why), and each receipt with the check of
/// the envelopes that name it, in archive order.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveCheck {
    /// Envelopes refused before they could be matched to a receipt.
    pub refused: Vec<(Cid, Refusal)>,
    /// Every receipt of the archive, with its check.
    pub receipts: Vec<(Cid, ReceiptCheck)>,
}

/// Checks every receipt of a CAR archive with the envelopes the archive
/// holds for it, against `trusts`, without storing anything. An archive that
/// holds no receipt is an error.
pub fn check(archive: &[u8], trusts: &dyn Fn(&Did) -> bool) -> Result<ArchiveCheck, CoreError> {
    let (_, blocks) = decode(archive)?;
    let mut by_receipt: HashMap<Cid, Vec<Vec<u8>>> = HashMap::new();
    let mut refused = Vec::new();
    let mut receipts = Vec::new();
    for (cid, bytes) in &blocks {
        if Envelope::looks_like(cid, bytes) {
            match Envelope::check(bytes) {
                Ok(env) => by_receipt
                    .entry(env.receipt)
                    .or_default()
                    .push(bytes.clone()),
                Err(e) => refused.push((*cid, e)),
            }
        } else if decode_dag_cbor(bytes)
            .and_then(|v| Receipt::from_ipld(&v))
            .is_ok()
        {
            receipts.push((*cid, bytes));
        }
    }
    if receipts.is_empty() {
        return Err(CoreError::Decode {
            format: "CAR",
            reason: "the archive holds no receipt".into(),
        });
    }
    Ok(ArchiveCheck {
        refused,
        receipts: receipts
            .into_iter()
            .map(|(cid, bytes)| {
                let envelopes = by_receipt.remove(&cid).unwrap_or_default();
                (cid, check_receipt(bytes, &envelopes, trusts))
            })
            .collect(),
    })
}

/// Writes a CAR of `roots`: receipts (with their invocation and module) or blocks (with their DAG).
pub async fn export<S: BlockStore + ReceiptStore + ?Sized>(
    store: &S,
    roots: &[Cid],
) -> Result<Vec<u8>, CoreError> {
    let mut seen = HashSet::new();
    let mut blocks = Vec::new();
    for root in roots {
        if let Some(rec) =
            crate::store::memo::receipt(store, &crate::store::memo::Quarantine::new(), root)
                .await?
                .value
        {
            let (cid, bytes) = rec.receipt.block()?;
            if seen.insert(cid) {
                blocks.push((cid, bytes));
            }
            // Its envelopes, each a block of its own.
            if let Some(Ok(row)) = store.row(&cid).await? {
                for env in row.envelopes {
                    let env_cid = cid_of(DAG_CBOR, SHA2_256, &env);
                    if seen.insert(env_cid) {
                        blocks.push((env_cid, env));
                    }
                }
            }
            let ran = rec.receipt.ran;
            let invocation = store
                .get_block(&ran)
                .await?
                .ok_or_else(|| CoreError::MissingBlock(Box::new(ran)))?;
            if let Ipld::Map(m) = decode_dag_cbor(&invocation)? {
                if let Some(task) = m.get("task") {
                    collect_file(
                        store,
                        Task::from_ipld(task)?.run.module,
                        &mut seen,
                        &mut blocks,
                    )
                    .await?;
                }
            }
            if seen.insert(ran) {
                blocks.push((ran, invocation));
            }
        } else {
            collect_file(store, *root, &mut seen, &mut blocks).await?;
        }
    }
    encode(roots, &blocks)
}

/// What an import brought in.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Imported {
    /// Blocks stored (verified).
    pub blocks: usize,
    /// Receipts indexed, with provenance `imported`: listed, exported and
    /// verifiable here; memo hits only if a trusted signer vouches for
    /// them, or once `verify` has re-run them.
    pub receipts: usize,
    /// Receipts in the archive that the store already held (their
    /// provenance is kept: an import never lowers what this runtime knows).
    pub known: usize,
    /// Every receipt of the archive that was indexed or already known, in
    /// archive order: what a report of the import lists.
    pub listed: Vec<Cid>,
    /// Envelopes kept (valid, and new to their receipt).
    pub envelopes: usize,
    /// Receipts of the archive that a trusted signer vouches for: memo
    /// hits from now on.
    pub vouched: Vec<Cid>,
    /// Envelopes refused, by block CID, with why (not kept).
    pub refused: Vec<(Cid, Refusal)>,
}

/// Reads a CAR: verifies every block, finds the receipts whose invocation is
/// in the archive or the store, and writes the blocks and those receipts
/// (provenance `imported`) in one write: if any block fails to verify, any
/// receipt's invocation cannot be read, or the write fails, nothing is
/// stored.
pub async fn import<S: BlockStore + ReceiptStore + ?Sized>(
    store: &S,
    trust: &Trust,
    bytes: &[u8],
) -> Result<Imported, CoreError> {
    let (_, blocks) = decode(bytes)?;
    for (cid, data) in &blocks {
        crate::model::address::verify_block(cid, data)?;
    }
    let in_archive: std::collections::HashMap<Cid, &[u8]> =
        blocks.iter().map(|(c, d)| (*c, d.as_slice())).collect();
    let mut rows = Vec::new();
    let mut receipts = std::collections::HashSet::new();
    let mut imported = Imported::default();
    // Envelopes first: checked on their own, kept in their receipt's row.
    let mut envelopes: HashMap<Cid, Vec<Vec<u8>>> = HashMap::new();
    let mut envelope_blocks = HashSet::new();
    for (cid, data) in &blocks {
        if !Envelope::looks_like(cid, data) {
            continue;
        }
        envelope_blocks.insert(*cid);
        match Envelope::check(data) {
            Ok(env) => envelopes.entry(env.receipt).or_default().push(env.bytes),
            Err(refusal) => imported.refused.push((*cid, refusal)),
        }
    }
    let mut known = Vec::new();
    for (cid, data) in &blocks {
        if cid.codec() != DAG_CBOR || envelope_blocks.contains(cid) {
            continue;
        }
        let Ok(receipt) = decode_dag_cbor(data).and_then(|v| Receipt::from_ipld(&v)) else {
            continue;
        };
        let invocation = match in_archive.get(&receipt.ran) {
            Some(bytes) => bytes.to_vec(),
            None => match store.get_block(&receipt.ran).await? {
                Some(bytes) => bytes,
                // Kept as a plain block: without its invocation it cannot
                // be checked, so it is not indexed.
                None => continue,
            },
        };
        let not_a_task = |why: String| CoreError::Decode {
            format: "CAR",
            reason: format!("receipt {cid}: its invocation {} {why}", receipt.ran),
        };
        let task = match decode_dag_cbor(&invocation) {
            Ok(Ipld::Map(m)) => m.get("task").map(Task::from_ipld),
            _ => None,
        }
        .ok_or_else(|| not_a_task("is not a map {task}".into()))?
        .map_err(|e| not_a_task(format!("is not a map {{task}}: {e}")))?;
        if receipts.insert(*cid) {
            imported.listed.push(*cid);
        }
        if store.row(cid).await?.is_some() {
            imported.known += 1;
            known.push(*cid);
            continue;
        }
        let record = ReceiptRecord {
            cid: *cid,
            receipt,
            instruction: task.run.cid(),
            inputs: task.run.inputs(),
            provenance: Provenance::Imported,
            envelopes: Vec::new(),
            vouched: false,
        };
        let mut row = ReceiptRow::new(&record).map_err(|e| CoreError::Decode {
            format: "CAR",
            reason: format!("receipt {cid}: {e}"),
        })?;
        row.invocation = Some(invocation);
        for env in envelopes.remove(cid).unwrap_or_default() {
            if let Ok(checked) = Envelope::check_for(&env, cid) {
                if !row.signers.contains(&checked.signer.to_string()) {
                    row.signers.push(checked.signer.to_string());
                    row.envelopes.push(env);
                    imported.envelopes += 1;
                }
            }
        }
        row.vouched = trust.vouches(&row.signers);
        if row.vouched {
            imported.vouched.push(*cid);
        }
        rows.push(row);
    }
    // A receipt's bytes live in its row, not in the blocks table, and so do
    // its envelopes.
    let blocks: Vec<Block> = blocks
        .into_iter()
        .filter(|(c, _)| !receipts.contains(c) && !envelope_blocks.contains(c))
        .collect();
    imported.blocks = blocks.len();
    imported.receipts = rows.len();
    store.put_batch(blocks, rows).await?;
    // Envelopes for receipts the store held already join their rows.
    // The archive is stored by now: a row that cannot take them refuses its
    // envelopes, it does not fail the import.
    for cid in known {
        if let Some(envs) = envelopes.remove(&cid) {
            match crate::store::vouching::attach(store, trust, &cid, &envs).await {
                Ok(attached) => {
                    imported.envelopes += attached.added;
                    if attached.vouched {
                        imported.vouched.push(cid);
                    }
                }
                Err(e) => {
                    for env in envs {
                        imported.refused.push((
                            cid_of(DAG_CBOR, SHA2_256, &env),
                            Refusal::Malformed(format!(
                                "its receipt {cid} is stored, but its row cannot take envelopes: {e}"
                            )),
                        ));
                    }
                }
            }
        }
    }
    // Envelopes of receipts neither in the archive nor in the store: not
    // kept (nothing to attach them to), and said so.
    for (receipt, envs) in envelopes {
        for env in envs {
            let cid = cid_of(DAG_CBOR, SHA2_256, &env);
            imported
                .refused
                .push((cid, Refusal::NoReceipt(Box::new(receipt))));
        }
    }
    Ok(imported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_from_the_archive_never_overflow() {
        let header = encode(&[], &[]).unwrap();
        for len in [u64::MAX, u64::MAX - 3, 1 << 40, (1 << 32) + 5] {
            let mut car = header.clone();
            put_varint(&mut car, len);
            car.extend_from_slice(&[1, 2, 3]);
            let err = decode(&car).unwrap_err();
            assert!(err.to_string().contains("truncated block"), "{len}: {err}");
        }
        let mut bad_header = Vec::new();
        put_varint(&mut bad_header, u64::MAX);
        assert!(decode(&bad_header).is_err());
    }
}
