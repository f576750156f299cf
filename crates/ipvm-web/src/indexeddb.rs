//! `IndexedDbStore`: the core's `BlockStore` and `ReceiptStore` on IndexedDB.
//! This is the browser's platform adapter (as `MemoryStore` is the core's);
//! it works in a window and in a worker (it finds `indexedDB` on the global).
//!
//! Schema, version 4 (see also `docs/spec.md`, "IndexedDB schema"):
//! - `blocks`: key = CID string, value = the block's bytes (`Uint8Array`).
//!   Bytes are verified against the CID on write and on read.
//! - `aliases`: key = raw-block CID string, value = UnixFS root CID string.
//! - `runs` (since version 2): key path `id` (the workflow's CID); value
//!   `{id, state, started, updated, tasks: [{instruction, status}]}`, written
//!   as the run progresses, so a page can see which runs were interrupted.
//!   A record may ride on a group commit ([`Rider`]): then it is
//!   written in the same transaction, and never lags the receipts it marks.
//! - `receipts`: key path `cid`; value `{cid, instruction, inputs, bytes,
//!   provenance, stored, memo?}` with the receipt's DAG-CBOR `bytes`, where
//!   it came from (`computed`, `verified`, `imported`, `received`; a row
//!   without it was written by version 2 and is `unproven`), when it was
//!   written (ms), and `memo` (the instruction again) only if the receipt may
//!   be reused. Indexes: `memo` (since version 3: the memo lookup reads only
//!   reusable rows), `instruction` (every receipt of an instruction) and
//!   multi-entry `inputs` (the reverse index). A receipt and its index
//!   entries are one `put` in one transaction: IndexedDB maintains the
//!   indexes atomically, so an entry never points at nothing.
//!   Since version 4 a row also has `envelopes` (each a `Uint8Array`,
//!   checked when stored), `signers` (their DIDs, multi-entry index
//!   `signers`) and `vouched` (a trusted signer vouches for it); a row
//!   without them has none and is not vouched for.
//! - `settings` (since version 4): key = name, value = anything
//!   structured-cloneable: `identity` holds `{privateKey, did}` (a
//!   non-extractable WebCrypto `CryptoKey`), `trust` holds `{distrusted,
//!   applied}` (signers spot-checks caught, and the trusted set the rows'
//!   `vouched` were last decided for).
//!
//! This adapter only translates rows; what a row means, and whether it is
//! believed, is decided by `ipvm_core::memo`.
//!
//! One file, past 600 lines, on purpose: every object store and index is
//! opened, upgraded, written and read through the same few transaction
//! helpers, and a schema change must be read against all of them at once.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use idb::{
    Database, DatabaseEvent, Factory, IndexParams, KeyPath, ObjectStoreParams, Query,
    TransactionMode,
};
use ipvm_core::address::verify_block;
use ipvm_core::store::{BadRow, Block, BlockStore, ReceiptRow, ReceiptStore, RowIndex, RowRead};
use ipvm_core::{parse_cid, Cid, CoreError, Provenance};
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

/// The schema version this code creates and reads.
pub(crate) const SCHEMA_VERSION: u32 = 5;
const BLOCKS: &str = "blocks";
const ALIASES: &str = "aliases";
const RECEIPTS: &str = "receipts";
const RUNS: &str = "runs";
const SETTINGS: &str = "settings";
/// The metered-module cache: `<module CID>:<meter version>` → the metered
/// module's CID (its bytes are a block). Written only by the executor.
const METERED: &str = "metered";
/// The signer index of `receipts`, and the field it indexes.
const SIGNERS: &str = "signers";
/// The memo index of `receipts`, and the field it indexes.
const MEMO: &str = "memo";

/// Maps an IndexedDB failure to the core's error, by DOMException name.
fn store_error(what: &str, e: impl std::fmt::Debug + std::fmt::Display) -> CoreError {
    // The Debug form names the variant and the DOMException; the Display form reads well.
    let text = format!("{e:?}");
    let message = format!("{what}: {}", e.to_string().trim_end_matches("\nundefined"));
    if text.contains("QuotaExceededError") {
        CoreError::QuotaExceeded(message)
    } else if text.contains("VersionError") {
        CoreError::VersionConflict(message)
    } else if text.contains("connection is closing") {
        // Closed on `versionchange`: another connection deleted or upgraded the store.
        CoreError::Store(format!(
            "{message} (this store was closed because another tab deleted or upgraded it: open the runtime again)"
        ))
    } else if text.contains("SecurityError")
        || text.contains("InvalidStateError")
        || text.contains("IndexedDbNotFound")
        || text.contains("UnknownError")
    {
        CoreError::StorageUnavailable(message)
    } else {
        CoreError::Store(message)
    }
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// One write of a transaction: `value` under `key` (or its key path) in `store`.
struct Put {
    store: &'static str,
    value: JsValue,
    key: Option<JsValue>,
}

/// Something written in the same transaction as a group commit of receipts
/// this runtime computed (`put_computed`; never an import): a run's record,
/// so that the record on disk never lags the receipts the run reports, and
/// costs no transaction of its own.
pub(crate) trait Rider {
    /// The `runs` value to write with these receipt rows, if one is due.
    fn ride(&self, rows: &[ReceiptRow]) -> Option<JsValue>;
    /// The write carrying the receipts of these instructions failed:
    /// nothing of it was stored.
    fn fell(&self, instructions: &[Cid]);
}

/// Block and receipt storage in one IndexedDB database.
pub(crate) struct IndexedDbStore {
    db: Database,
    /// The riders of receipt batches (the records of runs in progress).
    riders: RefCell<Vec<Weak<dyn Rider>>>,
}

impl IndexedDbStore {
    /// Opens (creating or upgrading) the database `name`.
    pub(crate) async fn open(name: &str) -> Result<Self, CoreError> {
        let factory =
            Factory::new().map_err(|e| store_error("IndexedDB is not available here", e))?;
        let mut request = factory
            .open(name, Some(SCHEMA_VERSION))
            .map_err(|e| store_error("cannot open the database", e))?;
        request.on_upgrade_needed(|event| {
            let Ok(db) = event.database() else { return };
            let names = db.store_names();
            // Each step creates what is missing, so any older version upgrades in order.
            // Version 1: blocks, aliases, receipts. Version 2: runs.
            if !names.iter().any(|n| n == BLOCKS) {
                let _ = db.create_object_store(BLOCKS, ObjectStoreParams::new());
            }
            if !names.iter().any(|n| n == ALIASES) {
                let _ = db.create_object_store(ALIASES, ObjectStoreParams::new());
            }
            if !names.iter().any(|n| n == RECEIPTS) {
                let mut params = ObjectStoreParams::new();
                params.key_path(Some(KeyPath::new_single("cid")));
                if let Ok(store) = db.create_object_store(RECEIPTS, params) {
                    let _ =
                        store.create_index("instruction", KeyPath::new_single("instruction"), None);
                    let mut multi = IndexParams::new();
                    multi.multi_entry(true);
                    let _ =
                        store.create_index("inputs", KeyPath::new_single("inputs"), Some(multi));
                }
            }
            if !names.iter().any(|n| n == RUNS) {
                let mut params = ObjectStoreParams::new();
                params.key_path(Some(KeyPath::new_single("id")));
                let _ = db.create_object_store(RUNS, params);
            }
            // Version 3: the memo index on `receipts` (a store that exists
            // is reached through the upgrade's own transaction).
            let event = JsValue::from(event);
            add_index(&event, RECEIPTS, MEMO, MEMO, false);
            // Version 4: settings (the identity, the trust state), and the
            // signer index.
            if !names.iter().any(|n| n == SETTINGS) {
                let _ = db.create_object_store(SETTINGS, ObjectStoreParams::new());
            }
            add_index(&event, RECEIPTS, SIGNERS, SIGNERS, true);
            // Version 5: the metered-module cache.
            if !names.iter().any(|n| n == METERED) {
                let _ = db.create_object_store(METERED, ObjectStoreParams::new());
            }
        });
        let mut db = request
            .await
            .map_err(|e| store_error("cannot open the database", e))?;
        // Another connection wants the database deleted or upgraded (`Runtime.clear` in another
        // tab): this one closes so that it can, and its later calls fail with a store error.
        db.on_version_change(|event| {
            if let Some(target) = event.target() {
                let target = JsValue::from(target);
                if let Ok(close) = js_sys::Reflect::get(&target, &JsValue::from_str("close")) {
                    if let Some(close) = close.dyn_ref::<js_sys::Function>() {
                        let _ = close.call0(&target);
                    }
                }
            }
        });
        Ok(Self {
            db,
            riders: RefCell::new(Vec::new()),
        })
    }

    /// Lets `rider` ride on every group commit from now on, until it is
    /// dropped.
    pub(crate) fn carry(&self, rider: Weak<dyn Rider>) {
        self.riders.borrow_mut().push(rider);
    }

    /// The live riders (the dropped ones are forgotten).
    fn riders(&self) -> Vec<Rc<dyn Rider>> {
        let mut riders = self.riders.borrow_mut();
        riders.retain(|r| r.strong_count() > 0);
        riders.iter().filter_map(Weak::upgrade).collect()
    }

    /// Closes the connection.
    pub(crate) fn close(&self) {
        self.db.close();
    }

    /// How many blocks and receipts are stored.
    pub(crate) async fn counts(&self) -> Result<(u32, u32), CoreError> {
        let tx = self
            .db
            .transaction(&[BLOCKS, RECEIPTS], TransactionMode::ReadOnly)
            .map_err(|e| store_error("count", e))?;
        let count = |name: &str| tx.object_store(name).and_then(|s| s.count(None));
        let blocks = count(BLOCKS)
            .map_err(|e| store_error("count", e))?
            .await
            .map_err(|e| store_error("count", e))?;
        let receipts = count(RECEIPTS)
            .map_err(|e| store_error("count", e))?
            .await
            .map_err(|e| store_error("count", e))?;
        Ok((blocks, receipts))
    }

    /// Writes (replaces) a run record `{id, …}`.
    pub(crate) async fn put_run(&self, record: &JsValue) -> Result<(), CoreError> {
        self.put_value(RUNS, record, None).await
    }

    /// Every run record.
    pub(crate) async fn runs(&self) -> Result<Vec<JsValue>, CoreError> {
        let tx = self
            .db
            .transaction(&[RUNS], TransactionMode::ReadOnly)
            .map_err(|e| store_error("read", e))?;
        let s = tx.object_store(RUNS).map_err(|e| store_error("read", e))?;
        s.get_all(None, None)
            .map_err(|e| store_error("read", e))?
            .await
            .map_err(|e| store_error("read", e))
    }

    /// A stored `receipts` value as a row, or why it is not one.
    fn read_row(value: &JsValue) -> RowRead {
        let key = get(value, "cid")
            .as_string()
            .unwrap_or_else(|| "(a row without a `cid` string)".into());
        let bad = |reason: String| BadRow {
            key: key.clone(),
            reason,
        };
        let cid_field = |k: &str| -> Result<Cid, BadRow> {
            let text = get(value, k)
                .as_string()
                .ok_or_else(|| bad(format!("`{k}` is not a string")))?;
            parse_cid(&text).map_err(|e| bad(format!("`{k}`: {e}")))
        };
        let cid = cid_field("cid")?;
        let instruction = cid_field("instruction")?;
        let inputs = get(value, "inputs");
        if !Array::is_array(&inputs) {
            return Err(bad("`inputs` is not a list".into()));
        }
        let inputs = Array::from(&inputs)
            .iter()
            .map(|v| {
                v.as_string()
                    .ok_or_else(|| bad("`inputs` holds a value that is not a string".into()))
                    .and_then(|t| parse_cid(&t).map_err(|e| bad(format!("`inputs`: {e}"))))
            })
            .collect::<Result<_, _>>()?;
        let provenance = match get(value, "provenance") {
            // Written before version 3: where it came from cannot be proven.
            v if v.is_undefined() => Provenance::Unproven,
            v => v
                .as_string()
                .and_then(|t| Provenance::parse(&t))
                .ok_or_else(|| bad(format!("unknown provenance {v:?}")))?,
        };
        let bytes = get(value, "bytes")
            .dyn_into::<Uint8Array>()
            .map_err(|_| bad("`bytes` is not a Uint8Array".into()))?
            .to_vec();
        let memo = get(value, MEMO);
        let invocation = match get(value, "invocation") {
            v if v.is_undefined() => None,
            v => Some(
                v.dyn_into::<Uint8Array>()
                    .map_err(|_| bad("`invocation` is not a Uint8Array".into()))?
                    .to_vec(),
            ),
        };
        // Rows written before version 4 have no envelopes.
        let list = |k: &str| -> Result<Vec<JsValue>, BadRow> {
            match get(value, k) {
                v if v.is_undefined() => Ok(Vec::new()),
                v if Array::is_array(&v) => Ok(Array::from(&v).to_vec()),
                _ => Err(bad(format!("`{k}` is not a list"))),
            }
        };
        let envelopes = list("envelopes")?
            .into_iter()
            .map(|v| {
                v.dyn_into::<Uint8Array>()
                    .map(|a| a.to_vec())
                    .map_err(|_| bad("`envelopes` holds a value that is not a Uint8Array".into()))
            })
            .collect::<Result<_, _>>()?;
        let signers = list(SIGNERS)?
            .into_iter()
            .map(|v| {
                v.as_string()
                    .ok_or_else(|| bad("`signers` holds a value that is not a string".into()))
            })
            .collect::<Result<_, _>>()?;
        Ok(ReceiptRow {
            cid,
            reusable: memo.as_string() == Some(instruction.to_string()),
            instruction,
            inputs,
            provenance,
            stored: get(value, "stored").as_f64().unwrap_or(0.0) as u64,
            bytes,
            invocation,
            envelopes,
            signers,
            vouched: get(value, "vouched").is_truthy(),
        })
    }

    async fn get_value(&self, store: &str, key: &str) -> Result<Option<JsValue>, CoreError> {
        let tx = self
            .db
            .transaction(&[store], TransactionMode::ReadOnly)
            .map_err(|e| store_error("read", e))?;
        let s = tx.object_store(store).map_err(|e| store_error("read", e))?;
        s.get(Query::Key(JsValue::from_str(key)))
            .map_err(|e| store_error("read", e))?
            .await
            .map_err(|e| store_error("read", e))
    }

    async fn put_value(
        &self,
        store: &'static str,
        value: &JsValue,
        key: Option<&str>,
    ) -> Result<(), CoreError> {
        self.put_all(vec![Put {
            store,
            value: value.clone(),
            key: key.map(JsValue::from_str),
        }])
        .await
    }

    /// Makes these writes in one transaction: all of them, or none if it aborts.
    async fn put_all(&self, puts: Vec<Put>) -> Result<(), CoreError> {
        self.write(puts, Vec::new()).await
    }

    /// Writes receipt rows (each keeping the envelopes of the row it
    /// replaces, read in the same transaction) and `puts`, in one
    /// transaction: all of them, or none if it aborts.
    async fn write(&self, puts: Vec<Put>, rows: Vec<ReceiptRow>) -> Result<(), CoreError> {
        let mut names: Vec<&str> = puts.iter().map(|p| p.store).collect();
        if !rows.is_empty() {
            names.push(RECEIPTS);
        }
        names.sort_unstable();
        names.dedup();
        let what = names.join("`, `");
        let tx = self
            .db
            .transaction(&names, TransactionMode::ReadWrite)
            .map_err(|e| store_error("write", e))?;
        let mut handle = None;
        let requests = async {
            if !rows.is_empty() {
                let s = tx
                    .object_store(RECEIPTS)
                    .map_err(|e| store_error("write", e))?;
                handle = Some(s.transaction());
                // The rows replaced are read first, every request made before
                // the first is awaited (one round trip for a group commit).
                let reads = rows
                    .iter()
                    .map(|row| s.get(Query::Key(JsValue::from_str(&row.cid.to_string()))))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| store_error("write", e))?;
                let mut olds = Vec::with_capacity(reads.len());
                for read in reads {
                    olds.push(read.await.map_err(|e| store_error("write", e))?);
                }
                let mut written: std::collections::HashMap<Cid, ReceiptRow> =
                    std::collections::HashMap::new();
                for (mut row, old) in rows.into_iter().zip(olds) {
                    // A stored row that cannot be read as one has no envelopes
                    // to keep; a row twice in the batch keeps the first's.
                    if let Some(Ok(old)) = old.as_ref().map(Self::read_row) {
                        row.keep_envelopes_of(&old);
                    }
                    if let Some(first) = written.get(&row.cid) {
                        row.keep_envelopes_of(first);
                    }
                    s.put(&Self::row_put(&row)?.value, None)
                        .map_err(|e| store_error("write", e))?;
                    written.insert(row.cid, row);
                }
            }
            for put in &puts {
                let s = tx
                    .object_store(put.store)
                    .map_err(|e| store_error("write", e))?;
                // Kept to read why the transaction aborted: a quota exhausted at
                // commit aborts it with a QuotaExceededError and no error event.
                handle.get_or_insert_with(|| s.transaction());
                // The request is made here; the transaction's outcome says how it went.
                s.put(&put.value, put.key.as_ref())
                    .map_err(|e| store_error("write", e))?;
            }
            Ok::<(), CoreError>(())
        }
        .await;
        if let Err(e) = requests {
            // Nothing of a write that failed half-way is kept.
            let _ = tx.abort();
            return Err(e);
        }
        let aborted = format!("the write to `{what}` was aborted; nothing was stored");
        match tx.await.map_err(|e| store_error("write", e))? {
            idb::TransactionResult::Committed => Ok(()),
            idb::TransactionResult::Aborted => Err(match handle.and_then(|h| h.error()) {
                Some(reason) => store_error(
                    &aborted,
                    match reason.message() {
                        m if m.is_empty() => reason.name(),
                        m => format!("{}: {m}", reason.name()),
                    },
                ),
                None => CoreError::Store(aborted),
            }),
        }
    }

    /// The `receipts` value of a row: `{cid, instruction, inputs, bytes,
    /// provenance, stored, memo?}`, stamped with the time of writing.
    fn row_put(row: &ReceiptRow) -> Result<Put, CoreError> {
        let value: JsValue = Object::new().into();
        let set = |k: &str, v: &JsValue| Reflect::set(&value, &JsValue::from_str(k), v).map(|_| ());
        let text = |c: &Cid| JsValue::from_str(&c.to_string());
        let inputs: Array = row.inputs.iter().map(text).collect();
        set("cid", &text(&row.cid))
            .and_then(|_| set("instruction", &text(&row.instruction)))
            .and_then(|_| set("inputs", &inputs.into()))
            .and_then(|_| set("bytes", &Uint8Array::from(&row.bytes[..]).into()))
            .and_then(|_| set("provenance", &JsValue::from_str(row.provenance.as_str())))
            .and_then(|_| set("stored", &JsValue::from(js_sys::Date::now())))
            .and_then(|_| match &row.invocation {
                Some(bytes) => set("invocation", &Uint8Array::from(&bytes[..]).into()),
                None => Ok(()),
            })
            .and_then(|_| match row.reusable {
                true => set(MEMO, &text(&row.instruction)),
                false => Ok(()),
            })
            .and_then(|_| match row.envelopes.is_empty() {
                true => Ok(()),
                false => {
                    let envelopes: Array = row
                        .envelopes
                        .iter()
                        .map(|e| JsValue::from(Uint8Array::from(&e[..])))
                        .collect();
                    let signers: Array = row.signers.iter().map(|d| JsValue::from_str(d)).collect();
                    set("envelopes", &envelopes.into()).and_then(|_| set(SIGNERS, &signers.into()))
                }
            })
            .and_then(|_| match row.vouched {
                true => set("vouched", &JsValue::TRUE),
                false => Ok(()),
            })
            .map_err(|e| store_error("build receipt record", format_args!("{e:?}")))?;
        Ok(Put {
            store: RECEIPTS,
            value,
            key: None,
        })
    }

    /// The `blocks` entries of verified blocks.
    fn block_puts(blocks: &[(Cid, Vec<u8>)]) -> Result<Vec<Put>, CoreError> {
        blocks
            .iter()
            .map(|(cid, bytes)| {
                verify_block(cid, bytes)?;
                Ok(Put {
                    store: BLOCKS,
                    value: Uint8Array::from(&bytes[..]).into(),
                    key: Some(JsValue::from_str(&cid.to_string())),
                })
            })
            .collect()
    }

    /// Sets one field of a stored row: the read and the write in one
    /// transaction, so a concurrent write of the row (another tab adding an
    /// envelope) is never overwritten with a stale copy.
    async fn update_row(&self, cid: &Cid, field: &str, v: &JsValue) -> Result<(), CoreError> {
        let what = "update a receipt row";
        let tx = self
            .db
            .transaction(&[RECEIPTS], TransactionMode::ReadWrite)
            .map_err(|e| store_error(what, e))?;
        let s = tx
            .object_store(RECEIPTS)
            .map_err(|e| store_error(what, e))?;
        let found = s
            .get(Query::Key(JsValue::from_str(&cid.to_string())))
            .map_err(|e| store_error(what, e))?
            .await
            .map_err(|e| store_error(what, e))?;
        if let Some(value) = found {
            Reflect::set(&value, &JsValue::from_str(field), v)
                .map_err(|e| store_error(what, format_args!("{e:?}")))?;
            s.put(&value, None).map_err(|e| store_error(what, e))?;
        }
        match tx.await.map_err(|e| store_error(what, e))? {
            idb::TransactionResult::Committed => Ok(()),
            idb::TransactionResult::Aborted => Err(CoreError::Store(format!(
                "{what}: the transaction was aborted; nothing was changed"
            ))),
        }
    }

    /// Claims a UCAN invocation for this store (`settings.seen`), once
    /// until its `exp`: true if it was not claimed before. The read, the
    /// pruning of expired entries and the write are one transaction, so two
    /// tabs never both claim it and no claim is lost.
    pub(crate) async fn claim_invocation(
        &self,
        cid: &Cid,
        exp: i64,
        now: i64,
    ) -> Result<bool, CoreError> {
        let what = "keep the invocations seen";
        let tx = self
            .db
            .transaction(&[SETTINGS], TransactionMode::ReadWrite)
            .map_err(|e| store_error(what, e))?;
        let s = tx
            .object_store(SETTINGS)
            .map_err(|e| store_error(what, e))?;
        let found = s
            .get(Query::Key(JsValue::from_str("seen")))
            .map_err(|e| store_error(what, e))?
            .await
            .map_err(|e| store_error(what, e))?;
        let seen = Object::new();
        let mut claimed_before = false;
        if let Some(v) = found {
            if let Ok(entries) = Object::entries(&v.unchecked_into()).dyn_into::<Array>() {
                for e in entries.iter() {
                    let e = Array::from(&e);
                    let (key, until) = (e.get(0), e.get(1).as_f64().unwrap_or(0.0));
                    if until >= now as f64 {
                        claimed_before |= key.as_string() == Some(cid.to_string());
                        let _ = Reflect::set(&seen, &key, &JsValue::from_f64(until));
                    }
                }
            }
        }
        if !claimed_before {
            let _ = Reflect::set(
                &seen,
                &JsValue::from_str(&cid.to_string()),
                &JsValue::from_f64(exp as f64),
            );
        }
        s.put(&seen.into(), Some(&JsValue::from_str("seen")))
            .map_err(|e| store_error(what, e))?;
        match tx.await.map_err(|e| store_error(what, e))? {
            idb::TransactionResult::Committed => Ok(!claimed_before),
            idb::TransactionResult::Aborted => Err(CoreError::Store(format!(
                "{what}: the transaction was aborted"
            ))),
        }
    }

    /// A setting (see the schema), if present.
    pub(crate) async fn setting(&self, name: &str) -> Result<Option<JsValue>, CoreError> {
        self.get_value(SETTINGS, name).await
    }

    /// Writes a setting, replacing it.
    pub(crate) async fn put_setting(&self, name: &str, value: &JsValue) -> Result<(), CoreError> {
        self.put_value(SETTINGS, value, Some(name)).await
    }

    /// Writes a setting unless one is there already; resolves to the one
    /// stored (this value, or the one another tab wrote first).
    pub(crate) async fn setting_or_insert(
        &self,
        name: &str,
        value: &JsValue,
    ) -> Result<JsValue, CoreError> {
        let tx = self
            .db
            .transaction(&[SETTINGS], TransactionMode::ReadWrite)
            .map_err(|e| store_error("write", e))?;
        let s = tx
            .object_store(SETTINGS)
            .map_err(|e| store_error("write", e))?;
        // `add` fails (and aborts the transaction) if the key exists.
        let _ = s.add(value, Some(&JsValue::from_str(name)));
        let _ = tx.await;
        self.setting(name)
            .await?
            .ok_or_else(|| CoreError::Store(format!("the setting `{name}` could not be written")))
    }

    async fn index_all(&self, index: &str, key: &str) -> Result<Vec<RowRead>, CoreError> {
        let mut rows = self.index_all_many(index, &[key.to_string()]).await?;
        Ok(rows.pop().unwrap_or_default())
    }

    /// The rows under each of `keys` in `index`, in order: one transaction,
    /// every request made before the first is awaited (one round trip).
    async fn index_all_many(
        &self,
        index: &str,
        keys: &[String],
    ) -> Result<Vec<Vec<RowRead>>, CoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let tx = self
            .db
            .transaction(&[RECEIPTS], TransactionMode::ReadOnly)
            .map_err(|e| store_error("read", e))?;
        let idx = tx
            .object_store(RECEIPTS)
            .and_then(|s| s.index(index))
            .map_err(|e| store_error("read", e))?;
        let requests = keys
            .iter()
            .map(|k| idx.get_all(Some(Query::Key(JsValue::from_str(k))), None))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| store_error("read", e))?;
        let mut out = Vec::with_capacity(requests.len());
        for request in requests {
            let values = request.await.map_err(|e| store_error("read", e))?;
            out.push(values.iter().map(Self::read_row).collect());
        }
        Ok(out)
    }
}

impl BlockStore for IndexedDbStore {
    async fn get_block(&self, cid: &Cid) -> Result<Option<Vec<u8>>, CoreError> {
        let Some(value) = self.get_value(BLOCKS, &cid.to_string()).await? else {
            return Ok(None);
        };
        let bytes = value
            .dyn_into::<Uint8Array>()
            .map_err(|_| CoreError::Store(format!("block {cid} is not bytes")))?
            .to_vec();
        verify_block(cid, &bytes)?;
        Ok(Some(bytes))
    }

    async fn put_block(&self, cid: Cid, bytes: Vec<u8>) -> Result<(), CoreError> {
        self.put_blocks(vec![(cid, bytes)]).await
    }

    async fn put_blocks(&self, blocks: Vec<(Cid, Vec<u8>)>) -> Result<(), CoreError> {
        self.put_all(Self::block_puts(&blocks)?).await
    }

    async fn put_file_blocks(
        &self,
        blocks: Vec<(Cid, Vec<u8>)>,
        alias: Option<(Cid, Cid)>,
    ) -> Result<(), CoreError> {
        let mut puts = Self::block_puts(&blocks)?;
        if let Some((alias, root)) = alias {
            puts.push(Put {
                store: ALIASES,
                value: JsValue::from_str(&root.to_string()),
                key: Some(JsValue::from_str(&alias.to_string())),
            });
        }
        self.put_all(puts).await
    }

    async fn put_alias(&self, alias: Cid, root: Cid) -> Result<(), CoreError> {
        self.put_value(
            ALIASES,
            &JsValue::from_str(&root.to_string()),
            Some(&alias.to_string()),
        )
        .await
    }

    async fn get_metered(&self, key: &str) -> Result<Option<Cid>, CoreError> {
        match self.get_value(METERED, key).await? {
            Some(v) => Ok(Some(parse_cid(&v.as_string().unwrap_or_default())?)),
            None => Ok(None),
        }
    }

    async fn put_metered(&self, key: &str, metered: Cid, bytes: Vec<u8>) -> Result<(), CoreError> {
        let mut puts = Self::block_puts(&[(metered, bytes)])?;
        puts.push(Put {
            store: METERED,
            value: JsValue::from_str(&metered.to_string()),
            key: Some(JsValue::from_str(key)),
        });
        self.put_all(puts).await
    }

    async fn get_alias(&self, alias: &Cid) -> Result<Option<Cid>, CoreError> {
        match self.get_value(ALIASES, &alias.to_string()).await? {
            Some(v) => Ok(Some(parse_cid(&v.as_string().unwrap_or_default())?)),
            None => Ok(None),
        }
    }
}

impl ReceiptStore for IndexedDbStore {
    async fn put_batch(&self, blocks: Vec<Block>, rows: Vec<ReceiptRow>) -> Result<(), CoreError> {
        self.write(Self::block_puts(&blocks)?, rows).await
    }

    /// A group commit: the records of runs in progress ride on it.
    async fn put_computed(
        &self,
        blocks: Vec<Block>,
        rows: Vec<ReceiptRow>,
    ) -> Result<(), CoreError> {
        let mut puts = Self::block_puts(&blocks)?;
        let riders = if rows.is_empty() {
            Vec::new()
        } else {
            self.riders()
        };
        let mut carried = Vec::new();
        for rider in riders {
            if let Some(value) = rider.ride(&rows) {
                puts.push(Put {
                    store: RUNS,
                    value,
                    key: None,
                });
            }
            carried.push(rider);
        }
        if carried.is_empty() {
            return self.write(puts, rows).await;
        }
        // The rows are moved into the write; the riders are told what fell if it fails.
        let instructions: Vec<Cid> = rows.iter().map(|r| r.instruction).collect();
        let result = self.write(puts, rows).await;
        if result.is_err() {
            carried.iter().for_each(|r| r.fell(&instructions));
        }
        result
    }

    async fn row(&self, cid: &Cid) -> Result<Option<RowRead>, CoreError> {
        Ok(self
            .get_value(RECEIPTS, &cid.to_string())
            .await?
            .map(|v| Self::read_row(&v)))
    }

    async fn rows(&self, index: RowIndex<'_>) -> Result<Vec<RowRead>, CoreError> {
        let (name, key) = match index {
            RowIndex::Memo(k) => (MEMO, k),
            RowIndex::Instruction(k) => ("instruction", k),
            RowIndex::Input(k) => ("inputs", k),
            RowIndex::Signer(did) => return self.index_all(SIGNERS, did).await,
        };
        self.index_all(name, &key.to_string()).await
    }

    async fn memo_rows(&self, instructions: &[Cid]) -> Result<Vec<Vec<RowRead>>, CoreError> {
        let keys: Vec<String> = instructions.iter().map(Cid::to_string).collect();
        self.index_all_many(MEMO, &keys).await
    }

    async fn set_provenance(&self, cid: &Cid, provenance: Provenance) -> Result<(), CoreError> {
        self.update_row(cid, "provenance", &JsValue::from_str(provenance.as_str()))
            .await
    }

    async fn set_vouched(&self, cid: &Cid, vouched: bool) -> Result<(), CoreError> {
        self.update_row(cid, "vouched", &JsValue::from_bool(vouched))
            .await
    }
}

/// Creates index `index` on `store` during an upgrade, if the store exists
/// and lacks it. `event` is the `upgradeneeded` event: its request's
/// `transaction` reaches stores created by earlier versions.
fn add_index(event: &JsValue, store: &str, index: &str, key_path: &str, multi_entry: bool) {
    let call = |target: &JsValue, method: &str, args: &[&JsValue]| -> Option<JsValue> {
        let f: js_sys::Function = Reflect::get(target, &JsValue::from_str(method))
            .ok()?
            .dyn_into()
            .ok()?;
        let args: Array = args.iter().map(|a| (*a).clone()).collect();
        f.apply(target, &args).ok()
    };
    let Some(tx) = Reflect::get(event, &JsValue::from_str("target"))
        .and_then(|t| Reflect::get(&t, &JsValue::from_str("transaction")))
        .ok()
    else {
        return;
    };
    let Some(os) = call(&tx, "objectStore", &[&JsValue::from_str(store)]) else {
        return;
    };
    let names = get(&os, "indexNames");
    let has = call(&names, "contains", &[&JsValue::from_str(index)]).is_some_and(|v| v.is_truthy());
    if !has {
        let options = Object::new();
        let _ = Reflect::set(
            &options,
            &JsValue::from_str("multiEntry"),
            &JsValue::from_bool(multi_entry),
        );
        let _ = call(
            &os,
            "createIndex",
            &[
                &JsValue::from_str(index),
                &JsValue::from_str(key_path),
                &options.into(),
            ],
        );
    }
}
