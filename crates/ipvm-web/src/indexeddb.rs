//! `IndexedDbStore`: the core's `BlockStore` and `ReceiptStore` on IndexedDB.
//! This is the browser's platform adapter (as `MemoryStore` is the core's);
//! it works in a window and in a worker (it finds `indexedDB` on the global).
//!
//! Schema, version 2 (see also `docs/spec.md`, "IndexedDB schema"):
//! - `blocks`: key = CID string, value = the block's bytes (`Uint8Array`).
//!   Bytes are verified against the CID on write and on read.
//! - `aliases`: key = raw-block CID string, value = UnixFS root CID string.
//! - `runs` (since version 2): key path `id` (the workflow's CID); value
//!   `{id, state, started, updated, tasks: [{instruction, status}]}`, written
//!   as the run progresses, so a page can see which runs were interrupted.
//! - `receipts`: key path `cid`; value `{cid, instruction, inputs, bytes}`
//!   with the receipt's DAG-CBOR `bytes`; index `instruction` (the memo) and
//!   multi-entry index `inputs` (the reverse index). A receipt and its index
//!   entries are one `put` in one transaction: IndexedDB maintains the
//!   indexes atomically, so an entry never points at nothing.

use idb::{
    Database, DatabaseEvent, Factory, IndexParams, KeyPath, ObjectStoreParams, Query,
    TransactionMode,
};
use ipvm_core::address::verify_block;
use ipvm_core::store::{BlockStore, ReceiptStore};
use ipvm_core::{decode_dag_cbor, parse_cid, Cid, CoreError, Receipt, ReceiptRecord};
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

/// The schema version this code creates and reads.
pub(crate) const SCHEMA_VERSION: u32 = 2;
const BLOCKS: &str = "blocks";
const ALIASES: &str = "aliases";
const RECEIPTS: &str = "receipts";
const RUNS: &str = "runs";

/// Maps an IndexedDB failure to the core's error, by DOMException name.
fn store_error(what: &str, e: impl std::fmt::Debug + std::fmt::Display) -> CoreError {
    // The Debug form names the variant and the DOMException; the Display form reads well.
    let text = format!("{e:?}");
    let message = format!("{what}: {}", e.to_string().trim_end_matches("\nundefined"));
    if text.contains("QuotaExceededError") {
        CoreError::QuotaExceeded(message)
    } else if text.contains("VersionError") {
        CoreError::VersionConflict(message)
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

/// Block and receipt storage in one IndexedDB database.
pub(crate) struct IndexedDbStore {
    db: Database,
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
        });
        let db = request
            .await
            .map_err(|e| store_error("cannot open the database", e))?;
        Ok(Self { db })
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

    async fn read_record(value: JsValue) -> Result<ReceiptRecord, CoreError> {
        let text = |k: &str| get(&value, k).as_string().unwrap_or_default();
        let cid = parse_cid(&text("cid"))?;
        let bytes = Uint8Array::new(&get(&value, "bytes")).to_vec();
        let receipt = Receipt::from_ipld(&decode_dag_cbor(&bytes)?)?;
        let actual = receipt.cid()?;
        if actual != cid {
            return Err(CoreError::HashMismatch {
                cid: Box::new(cid),
                actual: Box::new(actual),
            });
        }
        let inputs = Array::from(&get(&value, "inputs"))
            .iter()
            .filter_map(|v| v.as_string())
            .map(|s| parse_cid(&s))
            .collect::<Result<_, _>>()?;
        Ok(ReceiptRecord {
            cid,
            receipt,
            instruction: parse_cid(&text("instruction"))?,
            inputs,
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
        let mut names: Vec<&str> = puts.iter().map(|p| p.store).collect();
        names.sort_unstable();
        names.dedup();
        let what = names.join("`, `");
        let tx = self
            .db
            .transaction(&names, TransactionMode::ReadWrite)
            .map_err(|e| store_error("write", e))?;
        let mut handle = None;
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

    /// The `receipts` entry of a record: `{cid, instruction, inputs, bytes}`.
    fn receipt_put(record: &ReceiptRecord) -> Result<Put, CoreError> {
        let (cid, bytes) = record.receipt.block()?;
        if cid != record.cid {
            return Err(CoreError::HashMismatch {
                cid: Box::new(record.cid),
                actual: Box::new(cid),
            });
        }
        let value: JsValue = Object::new().into();
        let set = |k: &str, v: &JsValue| Reflect::set(&value, &JsValue::from_str(k), v).map(|_| ());
        let inputs: Array = record
            .inputs
            .iter()
            .map(|c| JsValue::from_str(&c.to_string()))
            .collect();
        set("cid", &JsValue::from_str(&cid.to_string()))
            .and_then(|_| {
                set(
                    "instruction",
                    &JsValue::from_str(&record.instruction.to_string()),
                )
            })
            .and_then(|_| set("inputs", &inputs.into()))
            .and_then(|_| set("bytes", &Uint8Array::from(&bytes[..]).into()))
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

    async fn index_all(&self, index: &str, key: &str) -> Result<Vec<ReceiptRecord>, CoreError> {
        let tx = self
            .db
            .transaction(&[RECEIPTS], TransactionMode::ReadOnly)
            .map_err(|e| store_error("read", e))?;
        let s = tx
            .object_store(RECEIPTS)
            .map_err(|e| store_error("read", e))?;
        let idx = s.index(index).map_err(|e| store_error("read", e))?;
        let values = idx
            .get_all(Some(Query::Key(JsValue::from_str(key))), None)
            .map_err(|e| store_error("read", e))?
            .await
            .map_err(|e| store_error("read", e))?;
        let mut out = Vec::with_capacity(values.len());
        for v in values {
            out.push(Self::read_record(v).await?);
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

    async fn get_alias(&self, alias: &Cid) -> Result<Option<Cid>, CoreError> {
        match self.get_value(ALIASES, &alias.to_string()).await? {
            Some(v) => Ok(Some(parse_cid(&v.as_string().unwrap_or_default())?)),
            None => Ok(None),
        }
    }
}

impl ReceiptStore for IndexedDbStore {
    async fn put_receipt(&self, record: ReceiptRecord) -> Result<(), CoreError> {
        self.put_all(vec![Self::receipt_put(&record)?]).await
    }

    async fn put_receipt_with_blocks(
        &self,
        record: ReceiptRecord,
        blocks: Vec<(Cid, Vec<u8>)>,
    ) -> Result<(), CoreError> {
        let mut puts = Self::block_puts(&blocks)?;
        puts.push(Self::receipt_put(&record)?);
        self.put_all(puts).await
    }

    async fn receipt(&self, cid: &Cid) -> Result<Option<ReceiptRecord>, CoreError> {
        match self.get_value(RECEIPTS, &cid.to_string()).await? {
            Some(v) => Ok(Some(Self::read_record(v).await?)),
            None => Ok(None),
        }
    }

    async fn receipt_for(&self, instruction: &Cid) -> Result<Option<ReceiptRecord>, CoreError> {
        let all = self
            .index_all("instruction", &instruction.to_string())
            .await?;
        // Prefer a receipt that may be reused; otherwise any.
        let reusable = all.iter().position(|r| r.receipt.is_reusable());
        Ok(match reusable {
            Some(i) => all.into_iter().nth(i),
            None => all.into_iter().last(),
        })
    }

    async fn receipts_using(&self, input: &Cid) -> Result<Vec<ReceiptRecord>, CoreError> {
        self.index_all("inputs", &input.to_string()).await
    }
}
