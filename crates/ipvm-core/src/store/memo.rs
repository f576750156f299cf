//! The memo, and the checks every read of a stored receipt goes through.
//!
//! A store keeps rows ([`ReceiptRow`]); this module decides what they mean,
//! the same way for every store (memory, IndexedDB, later a peer's):
//!
//! - **Self-consistency.** A row is believed only if its bytes are the
//!   canonical DAG-CBOR of a receipt that hashes to the row's key, the
//!   receipt's invocation block is in the store, and that invocation's
//!   instruction and inputs are the ones the row is filed under. A row that
//!   fails is skipped and reported as a [`Rejection`]; it never fails a run.
//!   A runtime keeps a [`Quarantine`] of the rows it rejected, so each is
//!   reported once and never checked again.
//! - **The memo rule** ([`lookup`]). Among the rows filed under an
//!   instruction in the memo index (reusable receipts only), those this
//!   runtime trusts (computed or verified here, or vouched for by a signer
//!   its policy trusts) are tried in a fixed order: by provenance (computed
//!   here before verified here before the rest), then by the order they
//!   were written, then by CID. The first that checks out answers. Rows are
//!   ranked before any is decoded, so a lookup decodes one receipt in the
//!   common case, and the choice is made by facts an outsider cannot grind:
//!   a receipt from a CAR or a peer is a candidate only with a trusted
//!   signer's envelope, and ranks after everything computed or verified.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::Mutex;

use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::auth::envelope::Envelope;
use crate::auth::trust::Trust;
use crate::model::address::decode_dag_cbor;
use crate::model::address::verify_block;
use crate::model::receipt::Receipt;
use crate::model::workflow::Task;
use crate::store::record::{Provenance, ReceiptRecord};
use crate::store::{BlockStore, ReceiptRow, ReceiptStore, RowIndex, RowRead};
use crate::CoreError;

/// A stored row that was skipped because it is not what it claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The row's key (the receipt CID it claims), as text.
    pub receipt: String,
    /// Why it was skipped.
    pub reason: String,
}

/// The rows a runtime found not to be what they claim (by key), so that each
/// is reported once and skipped, unread, from then on.
#[derive(Debug, Default)]
pub struct Quarantine(Mutex<BTreeSet<String>>);

impl Quarantine {
    /// An empty quarantine.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the row `key` was rejected before.
    pub fn holds(&self, key: &str) -> bool {
        self.0.lock().map(|s| s.contains(key)).unwrap_or(false)
    }

    /// Adds a rejected row; true if it was not there yet (report it).
    fn admit(&self, rejection: &Rejection) -> bool {
        self.0
            .lock()
            .map(|mut s| s.insert(rejection.receipt.clone()))
            .unwrap_or(true)
    }

    /// How many rows are held.
    pub fn len(&self) -> usize {
        self.0.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where a reader's rejections go: newly rejected rows are kept to report.
struct Rejected<'q> {
    quarantine: &'q Quarantine,
    new: Vec<Rejection>,
}

impl Rejected<'_> {
    fn push(&mut self, r: Rejection) {
        if self.quarantine.admit(&r) {
            self.new.push(r);
        }
    }

    /// The rows that are readable and not quarantined.
    fn readable(&mut self, reads: Vec<RowRead>) -> Vec<ReceiptRow> {
        reads
            .into_iter()
            .filter_map(|r| match r {
                Ok(row) if self.quarantine.holds(&row.cid.to_string()) => None,
                Ok(row) => Some(row),
                Err(bad) => {
                    self.push(Rejection {
                        receipt: bad.key,
                        reason: bad.reason,
                    });
                    None
                }
            })
            .collect()
    }
}

/// A value read from the store, with the rows skipped on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked<T> {
    /// What was asked for.
    pub value: T,
    /// Rows that failed their checks, skipped and quarantined by this read
    /// (rows quarantined before are skipped silently).
    pub rejected: Vec<Rejection>,
}

fn reject(row: &ReceiptRow, reason: impl Into<String>) -> Rejection {
    Rejection {
        receipt: row.cid.to_string(),
        reason: reason.into(),
    }
}

/// Decodes a row and checks it against what it claims. A store failure is
/// an `Err`; a row that is not what it claims is an `Ok(Err(rejection))`.
pub async fn check<S: BlockStore + ?Sized>(
    store: &S,
    mut row: ReceiptRow,
) -> Result<Result<ReceiptRecord, Rejection>, CoreError> {
    // The bytes hash to the key, and are the canonical encoding of a receipt.
    if let Err(e) = verify_block(&row.cid, &row.bytes) {
        return Ok(Err(reject(&row, e.to_string())));
    }
    let receipt = match decode_dag_cbor(&row.bytes).and_then(|v| Receipt::from_ipld(&v)) {
        Ok(r) => r,
        Err(e) => return Ok(Err(reject(&row, e.to_string()))),
    };
    match receipt.block() {
        Ok((_, canonical)) if canonical == row.bytes => {}
        _ => {
            return Ok(Err(reject(
                &row,
                "its bytes are not the canonical encoding of a receipt",
            )))
        }
    }
    // The invocation it ran is the instruction the row is filed under.
    let ran = receipt.ran;
    let inline = row
        .invocation
        .take()
        .map(|bytes| match verify_block(&ran, &bytes) {
            Ok(()) => Ok(Some(bytes)),
            Err(e) => Err(e),
        });
    let read = match inline {
        Some(read) => read,
        None => store.get_block(&ran).await,
    };
    let invocation = match read {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            return Ok(Err(reject(
                &row,
                format!("its invocation block {ran} is not in the store"),
            )))
        }
        Err(e @ (CoreError::HashMismatch { .. } | CoreError::Decode { .. })) => {
            return Ok(Err(reject(
                &row,
                format!("its invocation block {ran}: {e}"),
            )))
        }
        Err(e) => return Err(e),
    };
    let task = match decode_dag_cbor(&invocation) {
        Ok(Ipld::Map(m)) => m.get("task").map(Task::from_ipld),
        _ => None,
    };
    let task = match task {
        Some(Ok(task)) => task,
        Some(Err(e)) => return Ok(Err(reject(&row, format!("its invocation {ran}: {e}")))),
        None => {
            return Ok(Err(reject(
                &row,
                format!("its invocation {ran} is not a map {{task}}"),
            )))
        }
    };
    let instruction = task.run.cid();
    if instruction != row.instruction {
        return Ok(Err(reject(
            &row,
            format!(
                "it is filed under instruction {}, but its invocation ran {instruction}",
                row.instruction
            ),
        )));
    }
    let mut claimed = row.inputs.clone();
    let mut actual = task.run.inputs();
    claimed.sort();
    claimed.dedup();
    actual.sort();
    actual.dedup();
    if claimed != actual {
        return Ok(Err(reject(
            &row,
            "it is filed under inputs its instruction does not read",
        )));
    }
    if row.reusable && !receipt.is_reusable() {
        return Ok(Err(reject(
            &row,
            format!(
                "it is in the memo index, but may not be reused: {}",
                receipt.not_reusable_because().unwrap_or_default()
            ),
        )));
    }
    let envelopes = match row
        .signers
        .iter()
        .map(|d| crate::auth::identity::Did::parse(d))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(s) if s.len() == row.envelopes.len() => s
            .into_iter()
            .zip(row.envelopes)
            .map(|(signer, bytes)| Envelope {
                signer,
                receipt: row.cid,
                bytes,
            })
            .collect(),
        Ok(_) => return Ok(Err(reject(&row, "its signers do not match its envelopes"))),
        Err(e) => return Ok(Err(reject(&row, format!("a signer of it: {e}")))),
    };
    Ok(Ok(ReceiptRecord {
        cid: row.cid,
        receipt,
        instruction,
        inputs: task.run.inputs(),
        provenance: row.provenance,
        envelopes,
        vouched: row.vouched,
    }))
}

/// The order in which trusted candidates are tried.
fn rank(a: &ReceiptRow, b: &ReceiptRow) -> Ordering {
    a.provenance
        .cmp(&b.provenance)
        .then(a.stored.cmp(&b.stored))
        .then_with(|| a.cid.to_bytes().cmp(&b.cid.to_bytes()))
}

/// The memo lookup: the receipt that answers `instruction`, if this runtime
/// vouches for one (see the module's documentation for the rule). A row
/// vouched for by a signer answers only if `trust` trusts one of its
/// signers now (a set lookup, no signature check): the `vouched` bit is
/// shared by every runtime of the store, the policy is this runtime's, and
/// a row decided under another policy (another tab's, or before a
/// distrust) never answers here. Without `trust`, only receipts computed or
/// verified here answer.
pub async fn lookup<S: ReceiptStore + ?Sized>(
    store: &S,
    quarantine: &Quarantine,
    trust: Option<&Trust>,
    instruction: &Cid,
) -> Result<Checked<Option<ReceiptRecord>>, CoreError> {
    let reads = store.rows(RowIndex::Memo(instruction)).await?;
    choose(store, quarantine, trust, instruction, reads).await
}

/// [`lookup`] for many instructions at once, in the order given: their rows
/// are read together ([`ReceiptStore::memo_rows`]), then each instruction's
/// answer is chosen by the same rule as [`lookup`]'s.
pub async fn lookup_many<S: ReceiptStore + ?Sized>(
    store: &S,
    quarantine: &Quarantine,
    trust: Option<&Trust>,
    instructions: &[Cid],
) -> Result<Vec<Checked<Option<ReceiptRecord>>>, CoreError> {
    let reads = store.memo_rows(instructions).await?;
    if reads.len() != instructions.len() {
        return Err(CoreError::Store(format!(
            "the store answered {} memo reads for {} instructions",
            reads.len(),
            instructions.len()
        )));
    }
    let mut out = Vec::with_capacity(instructions.len());
    for (instruction, reads) in instructions.iter().zip(reads) {
        out.push(choose(store, quarantine, trust, instruction, reads).await?);
    }
    Ok(out)
}

/// The receipt among `reads` (the memo rows of `instruction`) that answers
/// it: the rule of [`lookup`].
async fn choose<S: ReceiptStore + ?Sized>(
    store: &S,
    quarantine: &Quarantine,
    trust: Option<&Trust>,
    instruction: &Cid,
    reads: Vec<RowRead>,
) -> Result<Checked<Option<ReceiptRecord>>, CoreError> {
    let mut rejected = Rejected {
        quarantine,
        new: Vec::new(),
    };
    let mut rows = rejected.readable(reads);
    rows.retain(|r| {
        let vouched = r.vouched && trust.is_some_and(|t| t.vouches(&r.signers));
        (r.provenance.is_trusted() || vouched) && r.instruction == *instruction
    });
    rows.sort_by(rank);
    for row in rows {
        match check(store, row).await? {
            Ok(record) => {
                return Ok(Checked {
                    value: Some(record),
                    rejected: rejected.new,
                })
            }
            Err(r) => rejected.push(r),
        }
    }
    Ok(Checked {
        value: None,
        rejected: rejected.new,
    })
}

/// Checks every row read, keeping those that pass.
async fn check_all<S: ReceiptStore + ?Sized>(
    store: &S,
    quarantine: &Quarantine,
    reads: Vec<RowRead>,
) -> Result<Checked<Vec<ReceiptRecord>>, CoreError> {
    let mut rejected = Rejected {
        quarantine,
        new: Vec::new(),
    };
    let mut value = Vec::new();
    for row in rejected.readable(reads) {
        match check(store, row).await? {
            Ok(record) => value.push(record),
            Err(r) => rejected.push(r),
        }
    }
    Ok(Checked {
        value,
        rejected: rejected.new,
    })
}

/// The stored receipt with this CID, whatever its provenance, if its row
/// checks out.
pub async fn receipt<S: ReceiptStore + ?Sized>(
    store: &S,
    quarantine: &Quarantine,
    cid: &Cid,
) -> Result<Checked<Option<ReceiptRecord>>, CoreError> {
    let reads = store.row(cid).await?.into_iter().collect();
    let Checked { value, rejected } = check_all(store, quarantine, reads).await?;
    Ok(Checked {
        value: value.into_iter().find(|r| r.cid == *cid),
        rejected,
    })
}

/// Every stored receipt of `instruction`, whatever its provenance or class.
pub async fn receipts_for<S: ReceiptStore + ?Sized>(
    store: &S,
    quarantine: &Quarantine,
    instruction: &Cid,
) -> Result<Checked<Vec<ReceiptRecord>>, CoreError> {
    let reads = store.rows(RowIndex::Instruction(instruction)).await?;
    check_all(store, quarantine, reads).await
}

/// Every stored receipt whose instruction read `input` (the reverse index).
pub async fn receipts_using<S: ReceiptStore + ?Sized>(
    store: &S,
    quarantine: &Quarantine,
    input: &Cid,
) -> Result<Checked<Vec<ReceiptRecord>>, CoreError> {
    let reads = store.rows(RowIndex::Input(input)).await?;
    check_all(store, quarantine, reads).await
}

/// Stores a receipt this runtime computed, with the blocks it links to (its
/// invocation) and this runtime's envelope for it, in one write.
pub async fn store_computed<S: ReceiptStore + ?Sized>(
    store: &S,
    record: &ReceiptRecord,
    blocks: Vec<(Cid, Vec<u8>)>,
    envelope: Option<Envelope>,
) -> Result<(), CoreError> {
    store_computed_many(store, vec![(record, blocks, envelope)]).await
}

/// A receipt computed here, the blocks it links to, and this runtime's
/// envelope for it: what [`store_computed_many`] stores.
pub type Computed<'a> = (&'a ReceiptRecord, Vec<(Cid, Vec<u8>)>, Option<Envelope>);

/// [`store_computed`] for many receipts in one write (a group commit): all
/// of them are stored, or none.
pub async fn store_computed_many<S: ReceiptStore + ?Sized>(
    store: &S,
    computed: Vec<Computed<'_>>,
) -> Result<(), CoreError> {
    let mut all_blocks = Vec::new();
    let mut rows = Vec::with_capacity(computed.len());
    for (record, blocks, envelope) in computed {
        // A result this run received from another principal keeps its
        // provenance and its envelope's trust decision; anything else is
        // this runtime's own.
        let received = record.provenance == Provenance::Received;
        let mut row = ReceiptRow::with_invocation(
            &ReceiptRecord {
                provenance: match received {
                    true => Provenance::Received,
                    false => Provenance::Computed,
                },
                ..record.clone()
            },
            &blocks,
        )?;
        if let Some(env) = envelope {
            row.signers = vec![env.signer.to_string()];
            row.envelopes = vec![env.bytes];
            row.vouched = !received || record.vouched;
        }
        rows.push(row);
        all_blocks.extend(blocks);
    }
    // The same receipt may be stored already (imported, not trusted): the
    // store keeps its envelopes (`put_batch`).
    store.put_computed(all_blocks, rows).await
}

pub async fn promote<S: ReceiptStore + ?Sized>(
    store: &S,
    record: &ReceiptRecord,
) -> Result<(), CoreError> {
    if record.provenance.is_trusted() {
        return Ok(());
    }
    store
        .set_provenance(&record.cid, Provenance::Verified)
        .await
}
