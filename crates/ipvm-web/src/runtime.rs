//! The exported `Runtime` class: a store, an executor and a scheduler, with
//! the browser's lock and announcer. It translates; the rules (the memo, the
//! checks on stored rows, coordination) are `ipvm_core`'s.

use std::cell::RefCell;
use std::rc::Rc;

use ipvm_core::memo::{self, Checked, Quarantine, Rejection};
use ipvm_core::store::add_file;
use ipvm_core::{parse_cid, MemoryStore, Scheduler, Workflow};
use ipvm_exec::{WasmExecutor, WasmiEngine};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::convert;
use crate::coordinate::{ChannelAnnouncer, WebLock, Yielding};
use crate::indexeddb::IndexedDbStore;
use crate::pacer::YieldingPacer;
use crate::pool::{AnyExecutor, PoolExecutor};
use crate::runlog::RunLog;
use crate::store::AnyStore;

struct Inner {
    store: Rc<AnyStore>,
    executor: Yielding<AnyExecutor>,
    lock: WebLock,
    announcer: ChannelAnnouncer,
    /// Stored rows found not to be what they claim: each is reported once.
    quarantine: Quarantine,
    /// Hears each rejected row once (`setRejectedListener`).
    on_rejected: RefCell<Option<Function>>,
}

impl Inner {
    /// Passes rows skipped by a read to the listener, and returns the value.
    fn report<T>(&self, checked: Checked<T>) -> T {
        self.rejected(&checked.rejected);
        checked.value
    }

    fn rejected(&self, rejections: &[Rejection]) {
        if let Some(f) = &*self.on_rejected.borrow() {
            for r in rejections {
                // A throwing listener must not break the read.
                let _ = f.call1(&JsValue::NULL, &convert::rejection(r));
            }
        }
    }
}

/// An IPVM runtime: stores modules and receipts, and runs workflows.
#[wasm_bindgen]
pub struct Runtime {
    inner: Rc<Inner>,
}

fn cid_arg(text: &str) -> Result<ipvm_core::Cid, JsValue> {
    parse_cid(text).map_err(|e| convert::core_error(&e))
}

#[wasm_bindgen]
impl Runtime {
    /// A runtime with an in-memory store (nothing survives the page).
    #[wasm_bindgen(constructor)]
    pub fn new() -> Runtime {
        Self::with_store(
            AnyStore::Memory(Box::new(MemoryStore::new())),
            None,
            None,
            None,
        )
    }

    /// `scope` names the locks shared with other runtimes on the same store;
    /// `dispatch` sends jobs to a worker pool (else they run in this thread);
    /// `channel` is the BroadcastChannel receipts are announced on.
    fn with_store(
        store: AnyStore,
        scope: Option<String>,
        dispatch: Option<Function>,
        channel: Option<JsValue>,
    ) -> Runtime {
        let store = Rc::new(store);
        let runner = match dispatch {
            Some(f) => AnyExecutor::Pool(PoolExecutor::new(f)),
            None => AnyExecutor::Local(WasmExecutor::with_pacer(
                store.clone(),
                WasmiEngine::default(),
                YieldingPacer::default(),
            )),
        };
        Runtime {
            inner: Rc::new(Inner {
                store,
                executor: Yielding(runner),
                lock: WebLock::new(scope),
                announcer: ChannelAnnouncer::new(channel),
                quarantine: Quarantine::new(),
                on_rejected: RefCell::new(None),
            }),
        }
    }

    /// Sets the function that hears each stored receipt row found not to be
    /// what it claims (damaged, or written by another version): `{receipt,
    /// reason}`, once per row. Such rows are skipped; they never fail a run.
    #[wasm_bindgen(js_name = setRejectedListener)]
    pub fn set_rejected_listener(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "((rejection: {receipt: string, reason: string}) => void) | undefined"
        )]
        listener: Option<Function>,
    ) {
        *self.inner.on_rejected.borrow_mut() = listener;
    }

    /// A runtime whose modules and receipts live in the IndexedDB database
    /// `name`: they survive reloads and are shared by the tabs of the origin.
    #[wasm_bindgen(js_name = openIndexedDb, unchecked_return_type = "Promise<Runtime>")]
    pub fn open_indexed_db(
        name: String,
        #[wasm_bindgen(
            unchecked_param_type = "((job: string, timeMs: number) => Promise<string>) | undefined"
        )]
        dispatch: Option<Function>,
        #[wasm_bindgen(unchecked_param_type = "BroadcastChannel | undefined")] channel: JsValue,
    ) -> Promise {
        future_to_promise(async move {
            let store = IndexedDbStore::open(&name)
                .await
                .map_err(|e| convert::core_error(&e))?;
            let channel = Some(channel);
            Ok(Self::with_store(AnyStore::IndexedDb(store), Some(name), dispatch, channel).into())
        })
    }

    /// Stores a module (or any file) and resolves to its CID, the one
    /// `ipfs add --cid-version 1` gives.
    #[wasm_bindgen(js_name = addModule, unchecked_return_type = "Promise<string>")]
    pub fn add_module(&self, bytes: Vec<u8>) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let cid = add_file(&*inner.store, &bytes)
                .await
                .map_err(|e| convert::core_error(&e))?;
            Ok(JsValue::from_str(&cid.to_string()))
        })
    }

    /// Runs a workflow given as DAG-JSON text. Resolves to one report per
    /// task, in workflow order. `onEvent` receives progress events.
    #[wasm_bindgen(unchecked_return_type = "Promise<TaskReport[]>")]
    pub fn run(
        &self,
        workflow: &str,
        #[wasm_bindgen(js_name = onEvent)] on_event: Option<Function>,
        #[wasm_bindgen(unchecked_param_type = "AbortSignal | undefined")] signal: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        let parsed = Workflow::from_dag_json(workflow.as_bytes());
        let cancel = convert::cancel_token(&signal);
        future_to_promise(async move {
            let workflow = parsed.map_err(|e| convert::core_error(&e))?;
            let scheduler = Scheduler::new(&inner.executor, &*inner.store)
                .with_coordination(&inner.lock, &inner.announcer)
                .with_quarantine(&inner.quarantine);
            let log = RunLog::start(inner.store.clone(), &workflow);
            let mut emit = |e: &ipvm_core::Event| {
                if let ipvm_core::Event::Rejected {
                    receipt, reason, ..
                } = e
                {
                    inner.rejected(&[Rejection {
                        receipt: receipt.clone(),
                        reason: reason.clone(),
                    }]);
                }
                if let Some(log) = &log {
                    log.event(e);
                }
                if let Some(f) = &on_event {
                    // A throwing listener must not abort the run.
                    let _ = f.call1(&JsValue::NULL, &convert::event(e));
                }
            };
            let report = scheduler.run(&workflow, &mut emit, &cancel).await;
            if let Some(log) = &log {
                log.end(&report).await;
            }
            convert::task_reports(&report.map_err(|e| convert::core_error(&e))?.tasks)
        })
    }

    /// The receipt with this CID, or `null`.
    #[wasm_bindgen(unchecked_return_type = "Promise<StoredReceipt | null>")]
    pub fn receipt(&self, cid: &str) -> Promise {
        let (inner, cid) = (self.inner.clone(), cid_arg(cid));
        future_to_promise(async move {
            let rec = memo::receipt(&*inner.store, &inner.quarantine, &cid?)
                .await
                .map_err(|e| convert::core_error(&e))?;
            inner
                .report(rec)
                .map_or(Ok(JsValue::NULL), |r| convert::record(&r))
        })
    }

    /// The receipt that answers an instruction (the memo lookup: a receipt
    /// this runtime computed or verified), or `null`.
    #[wasm_bindgen(js_name = receiptFor, unchecked_return_type = "Promise<StoredReceipt | null>")]
    pub fn receipt_for(&self, instruction: &str) -> Promise {
        let (inner, cid) = (self.inner.clone(), cid_arg(instruction));
        future_to_promise(async move {
            let rec = memo::lookup(&*inner.store, &inner.quarantine, &cid?)
                .await
                .map_err(|e| convert::core_error(&e))?;
            inner
                .report(rec)
                .map_or(Ok(JsValue::NULL), |r| convert::record(&r))
        })
    }

    /// Every stored receipt of an instruction, whatever its provenance or
    /// class (imported ones, failures of the environment, older versions).
    #[wasm_bindgen(js_name = receiptsFor, unchecked_return_type = "Promise<StoredReceipt[]>")]
    pub fn receipts_for(&self, instruction: &str) -> Promise {
        let (inner, cid) = (self.inner.clone(), cid_arg(instruction));
        future_to_promise(async move {
            let recs = memo::receipts_for(&*inner.store, &inner.quarantine, &cid?)
                .await
                .map_err(|e| convert::core_error(&e))?;
            convert::records(&inner.report(recs))
        })
    }

    /// Every receipt computed from `input` (a module or a data CID).
    #[wasm_bindgen(js_name = receiptsUsing, unchecked_return_type = "Promise<StoredReceipt[]>")]
    pub fn receipts_using(&self, input: &str) -> Promise {
        let (inner, cid) = (self.inner.clone(), cid_arg(input));
        future_to_promise(async move {
            let recs = memo::receipts_using(&*inner.store, &inner.quarantine, &cid?)
                .await
                .map_err(|e| convert::core_error(&e))?;
            convert::records(&inner.report(recs))
        })
    }

    /// Re-runs the task of a stored receipt and compares the receipt it
    /// writes with the stored one; a matching receipt from elsewhere is
    /// promoted to `verified` and answers memo lookups from then on.
    #[wasm_bindgen(unchecked_return_type = "Promise<Verification>")]
    pub fn verify(&self, receipt: &str) -> Promise {
        let (inner, cid) = (self.inner.clone(), cid_arg(receipt));
        future_to_promise(async move {
            let v = ipvm_core::verify(&inner.executor.0, &*inner.store, &inner.quarantine, &cid?)
                .await
                .map_err(|e| convert::core_error(&e))?;
            convert::verification(&v)
        })
    }

    /// The records of runs on this store (IndexedDB only): `{id, state,
    /// started, updated, tasks: [{instruction, status}]}`. A run whose state
    /// is still `running` after a reload was interrupted.
    #[wasm_bindgen(unchecked_return_type = "Promise<RunRecord[]>")]
    pub fn runs(&self) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let out = js_sys::Array::new();
            if let AnyStore::IndexedDb(db) = &*inner.store {
                for r in db.runs().await.map_err(|e| convert::core_error(&e))? {
                    out.push(&r);
                }
            }
            Ok(out.into())
        })
    }

    /// Counts of stored blocks and receipts: `{blocks, receipts}`.
    #[wasm_bindgen(unchecked_return_type = "Promise<{blocks: number, receipts: number}>")]
    pub fn counts(&self) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let (blocks, receipts) = match &*inner.store {
                AnyStore::IndexedDb(s) => s.counts().await.map_err(|e| convert::core_error(&e))?,
                AnyStore::Memory(s) => (s.block_count() as u32, s.receipt_count() as u32),
            };
            Ok(convert::counts(blocks, receipts))
        })
    }

    /// A CARv1 archive of `roots`: receipts (with their invocations and
    /// modules) or blocks (with their DAGs), to import elsewhere.
    #[wasm_bindgen(js_name = exportCar, unchecked_return_type = "Promise<Uint8Array>")]
    pub fn export_car(&self, roots: Vec<String>) -> Promise {
        let inner = self.inner.clone();
        let roots: Result<Vec<_>, _> = roots.iter().map(|r| cid_arg(r)).collect();
        future_to_promise(async move {
            let bytes = ipvm_core::car::export(&*inner.store, &roots?)
                .await
                .map_err(|e| convert::core_error(&e))?;
            Ok(js_sys::Uint8Array::from(&bytes[..]).into())
        })
    }

    /// Imports a CARv1 archive, all or nothing: verifies every block, and
    /// stores the blocks and the receipts (provenance `imported`: listed and
    /// verifiable, no memo hits until verified here).
    #[wasm_bindgen(js_name = importCar, unchecked_return_type = "Promise<ImportReport>")]
    pub fn import_car(&self, bytes: Vec<u8>) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let n = ipvm_core::car::import(&*inner.store, &bytes)
                .await
                .map_err(|e| convert::core_error(&e))?;
            Ok(convert::imported(&n))
        })
    }

    /// Resolves to `cid` if the file (a module) it names is in the store,
    /// complete and intact; rejects with `ERR_BAD_CID` or `ERR_MISSING_BLOCK`.
    #[wasm_bindgen(js_name = storedModule, unchecked_return_type = "Promise<string>")]
    pub fn stored_module(&self, cid: &str) -> Promise {
        let (inner, cid) = (self.inner.clone(), cid_arg(cid));
        future_to_promise(async move {
            let cid = cid?;
            match ipvm_core::store::read_file(&*inner.store, &cid).await {
                Ok(_) => Ok(JsValue::from_str(&cid.to_string())),
                Err(ipvm_core::CoreError::MissingBlock(_)) => Err(convert::error(
                    "ERR_MISSING_BLOCK",
                    &format!("module {cid} is not in the store (add its bytes first, or import a CAR that holds it)"),
                )),
                Err(e) => Err(convert::core_error(&e)),
            }
        })
    }

    /// Closes the store. The runtime must not be used afterwards.
    pub fn close(&self) {
        if let AnyStore::IndexedDb(s) = &*self.inner.store {
            s.close();
        }
    }
}

impl Runtime {
    /// [`Runtime::open_indexed_db`] with a worker pool's `dispatch`, for Rust callers.
    pub async fn open_with_dispatch(
        name: &str,
        dispatch: Function,
    ) -> Result<Runtime, ipvm_core::CoreError> {
        let store = IndexedDbStore::open(name).await?;
        let scope = Some(name.to_string());
        Ok(Self::with_store(
            AnyStore::IndexedDb(store),
            scope,
            Some(dispatch),
            None,
        ))
    }

    /// [`Runtime::open_indexed_db`] for Rust callers.
    pub async fn open(name: &str) -> Result<Runtime, ipvm_core::CoreError> {
        let store = IndexedDbStore::open(name).await?;
        Ok(Self::with_store(
            AnyStore::IndexedDb(store),
            Some(name.to_string()),
            None,
            None,
        ))
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

/// The CID of an instruction given as DAG-JSON text
/// `{"rsc", "op", "input": {"func", "args"}, "nnc"}`: the key under which its
/// receipt is memoized, and what `{"await/ok": {"/": cid}}` refers to.
#[wasm_bindgen(js_name = instructionCid)]
pub fn instruction_cid(instruction: &str) -> Result<String, JsValue> {
    ipvm_core::workflow::instruction_cid_from_dag_json(instruction.as_bytes())
        .map(|c| c.to_string())
        .map_err(|e| convert::core_error(&e))
}

/// Whether `text` is a CID (optionally `ipfs://`-prefixed): how the facade
/// tells a stored module's CID from a URL.
#[wasm_bindgen(js_name = isCid)]
pub fn is_cid(text: &str) -> bool {
    parse_cid(text).is_ok()
}
