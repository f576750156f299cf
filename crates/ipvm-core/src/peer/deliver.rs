//! Receipts between peers: what a runtime gives when a peer asks
//! ([`answer_lookup`]), and how it takes what a peer sends ([`accept`]).
//!
//! A runtime gives only receipts it would answer its own memo with
//! (computed or verified here, or vouched for by a signer it trusts), each
//! checked against its bytes and its invocation as every memo read is,
//! with its envelopes, so that the asker can decide by its own policy.
//!
//! It takes a receipt from a peer only if the receipt is what it claims
//! (canonical bytes, its invocation block, the instruction it was asked
//! or announced for) and a signer it trusts vouches for it in a valid
//! envelope. Such a receipt is stored with provenance `received`, vouched,
//! so that it answers the memo under the trust policy, and stops answering
//! when its signers are distrusted. Anything else is not stored, and the
//! reason ([`Unused`]) is the one the report gives.

use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::auth::envelope::{Envelope, Refusal};
use crate::auth::trust::Trust;
use crate::model::address::{cid_of, decode_dag_cbor, DAG_CBOR, MAX_DOCUMENT_DEPTH, SHA3_256};
use crate::model::workflow::Task;
use crate::peer::messages::{
    Delivery, LookupAnswer, LookupEntry, LookupRequest, Oversized, MAX_DELIVERY_BYTES,
    MAX_ENVELOPES, MAX_LOOKUP_ANSWER_BYTES, MAX_RECEIPTS_PER_INSTRUCTION,
};
use crate::peer::wire::scan_within;
use crate::store::memo;
use crate::store::record::Provenance;
use crate::store::{ReceiptRow, ReceiptStore};
use crate::CoreError;

/// Why a receipt from a peer is not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unused {
    /// The receipt is not what it claims: not canonical, its invocation
    /// does not match, it answers another instruction than the one asked.
    #[error("receipt {receipt} is not what it claims: {reason}")]
    Bad {
        /// The CID of the bytes received.
        receipt: Box<Cid>,
        /// What is wrong.
        reason: String,
    },
    /// No valid envelope from a trusted signer: unsigned, forged, for
    /// another receipt, or signed by someone this runtime does not trust.
    #[error("receipt {receipt} is not used: {refusal}")]
    Envelope {
        /// The receipt.
        receipt: Box<Cid>,
        /// Why its envelopes do not vouch for it here.
        refusal: Refusal,
    },
    /// An announcement its signer made before (a replay).
    #[error("receipt {receipt} was announced by {signer} before: a replay")]
    Replayed {
        /// The receipt.
        receipt: Box<Cid>,
        /// The signer.
        signer: crate::auth::identity::Did,
    },
}

impl Unused {
    /// The reason's code: `bad_receipt`, or the envelope refusal's code
    /// (`untrusted`, `bad_signature`, `unsigned`, …), or `replayed`.
    pub fn code(&self) -> &'static str {
        match self {
            Unused::Bad { .. } => "bad_receipt",
            Unused::Envelope { refusal, .. } => refusal.code(),
            Unused::Replayed { .. } => "replayed",
        }
    }
}

/// Checks a receipt a peer sent for `instruction` (asked in a lookup, or
/// announced). `Ok(Ok(row))`: the row to store (provenance `received`,
/// vouched, its valid envelopes kept); `Ok(Err(unused))`: why it is not
/// stored; `Err`: the store failed.
pub async fn accept<S: ReceiptStore + ?Sized>(
    store: &S,
    trust: &Trust,
    instruction: &Cid,
    delivery: &Delivery,
) -> Result<Result<ReceiptRow, Unused>, CoreError> {
    let cid = cid_of(DAG_CBOR, SHA3_256, &delivery.receipt);
    let bad = |reason: String| {
        Ok(Err(Unused::Bad {
            receipt: Box::new(cid),
            reason,
        }))
    };
    if delivery.envelopes.len() > MAX_ENVELOPES {
        return bad(format!("more than {MAX_ENVELOPES} envelopes"));
    }
    // What the message carries as bytes is bounded before it is decoded too.
    for (what, bytes) in [
        ("receipt", &delivery.receipt),
        ("invocation", &delivery.invocation),
    ] {
        if let Err(e) = scan_within(bytes, MAX_DOCUMENT_DEPTH, usize::MAX) {
            return bad(format!("its {what}: {e}"));
        }
    }
    // The inputs it is filed under come from its invocation; the memo's own
    // check then holds the row to every claim, as it does on each read.
    let task = match decode_dag_cbor(&delivery.invocation) {
        Ok(Ipld::Map(m)) => match m.get("task").map(Task::from_ipld) {
            Some(Ok(task)) => task,
            Some(Err(e)) => return bad(format!("its invocation: {e}")),
            None => return bad("its invocation is not a map {task}".into()),
        },
        Ok(_) => return bad("its invocation is not a map {task}".into()),
        Err(e) => return bad(format!("its invocation: {e}")),
    };
    let row = ReceiptRow {
        cid,
        instruction: *instruction,
        inputs: task.run.inputs(),
        provenance: Provenance::Received,
        reusable: false,
        stored: 0,
        bytes: delivery.receipt.clone(),
        invocation: Some(delivery.invocation.clone()),
        envelopes: Vec::new(),
        signers: Vec::new(),
        vouched: false,
    };
    let mut record = match memo::check(store, row).await? {
        Ok(record) => record,
        Err(rejection) => return bad(rejection.reason),
    };
    // Its envelopes: each checked for this receipt; the first refusal is the
    // reason if none is valid.
    let mut refusal = None;
    for bytes in &delivery.envelopes {
        match Envelope::check_for(bytes, &cid) {
            Ok(env) if record.envelopes.iter().any(|e| e.signer == env.signer) => {}
            Ok(env) => record.envelopes.push(env),
            Err(r) => {
                refusal.get_or_insert(r);
            }
        }
    }
    let signers: Vec<String> = record
        .envelopes
        .iter()
        .map(|e| e.signer.to_string())
        .collect();
    if !trust.vouches(&signers) {
        let refusal = match record.envelopes.first() {
            Some(env) => Refusal::Untrusted(env.signer.clone()),
            None => refusal.unwrap_or(Refusal::Unsigned),
        };
        return Ok(Err(Unused::Envelope {
            receipt: Box::new(cid),
            refusal,
        }));
    }
    record.vouched = true;
    let mut row = ReceiptRow::new(&record)?;
    row.invocation = Some(delivery.invocation.clone());
    Ok(Ok(row))
}

/// Stores rows [`accept`] gave, with their invocation blocks, in one write.
pub async fn store_received<S: ReceiptStore + ?Sized>(
    store: &S,
    rows: Vec<ReceiptRow>,
) -> Result<(), CoreError> {
    let mut blocks = Vec::new();
    for row in &rows {
        if let (Some(inv), Ok(v)) = (&row.invocation, decode_dag_cbor(&row.bytes)) {
            if let Ok(receipt) = crate::model::receipt::Receipt::from_ipld(&v) {
                blocks.push((receipt.ran, inv.clone()));
            }
        }
    }
    store.put_batch(blocks, rows).await
}

/// The answer to a peer's lookup: for each instruction, the receipts this
/// runtime would answer its own memo with that carry an envelope, those
/// computed or verified here first, at most
/// [`MAX_RECEIPTS_PER_INSTRUCTION`]; one past [`MAX_DELIVERY_BYTES`], or
/// past what the answer has room for, is named `too_large` with its
/// envelopes (the asker fetches it by bitswap). A row that
/// fails its check is skipped (the memo's own reads quarantine it).
pub async fn answer_lookup<S: ReceiptStore + ?Sized>(
    store: &S,
    request: &LookupRequest,
) -> Result<LookupAnswer, CoreError> {
    let reads = store.memo_rows(&request.instructions).await?;
    if reads.len() != request.instructions.len() {
        return Err(CoreError::Store(format!(
            "the store answered {} memo reads for {} instructions",
            reads.len(),
            request.instructions.len()
        )));
    }
    // Room left in the answer, with a margin for its framing.
    let mut room = MAX_LOOKUP_ANSWER_BYTES - 64 * request.instructions.len() - 1024;
    let mut entries = Vec::with_capacity(reads.len());
    for rows in reads {
        let mut rows: Vec<ReceiptRow> = rows
            .into_iter()
            .filter_map(Result::ok)
            .filter(|r| !r.envelopes.is_empty())
            .collect();
        rows.sort_by(|a, b| {
            a.provenance
                .cmp(&b.provenance)
                .then(a.stored.cmp(&b.stored))
        });
        let mut found = Vec::new();
        let mut too_large = Vec::new();
        for row in rows {
            if found.len() + too_large.len() == MAX_RECEIPTS_PER_INSTRUCTION {
                break;
            }
            let (cid, envelopes, inline) = (row.cid, row.envelopes.clone(), row.invocation.clone());
            let record = match memo::check(store, row).await? {
                Ok(record) if record.is_trusted() => record,
                _ => continue,
            };
            let invocation = match inline {
                Some(bytes) => bytes,
                None => match store.get_block(&record.receipt.ran).await? {
                    Some(bytes) => bytes,
                    None => continue,
                },
            };
            let delivery = Delivery {
                receipt: record.receipt.block()?.1,
                invocation,
                envelopes: envelopes.into_iter().take(MAX_ENVELOPES).collect(),
            };
            let size = delivery.size();
            if size > MAX_DELIVERY_BYTES || size > room {
                too_large.push(Oversized {
                    receipt: cid,
                    envelopes: delivery.envelopes,
                });
            } else {
                room -= size;
                found.push(delivery);
            }
        }
        entries.push(match (found.is_empty(), too_large.is_empty()) {
            (false, _) => LookupEntry::Found(found),
            (true, false) => LookupEntry::TooLarge(too_large),
            (true, true) => LookupEntry::None,
        });
    }
    Ok(LookupAnswer { entries })
}
