//! The exported `Runtime` class: a store, an executor and a scheduler.

use std::rc::Rc;

use ipvm_core::store::{add_file, ReceiptStore};
use ipvm_core::{parse_cid, MemoryStore, Scheduler, Workflow};
use ipvm_exec::{WasmExecutor, WasmiEngine};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::convert;
use crate::coordinate::Coordinated;
use crate::indexeddb::IndexedDbStore;
use crate::pacer::YieldingPacer;
use crate::pool::{AnyExecutor, PoolExecutor};
use crate::runlog::RunLog;
use crate::store::AnyStore;

struct Inner {
    store: Rc<AnyStore>,
    executor: Coordinated<AnyExecutor>,
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
        Self::with_store(AnyStore::Memory(Box::new(MemoryStore::new())), None, None)
    }

    /// `scope` names the locks shared with other runtimes on the same store;
    /// `dispatch` sends jobs to a worker pool (else they run in this thread).
    fn with_store(store: AnyStore, scope: Option<String>, dispatch: Option<Function>) -> Runtime {
        let store = Rc::new(store);
        let runner = match dispatch {
            Some(f) => AnyExecutor::Pool(PoolExecutor::new(f)),
            None => AnyExecutor::Local(WasmExecutor::with_pacer(
                store.clone(),
                WasmiEngine::default(),
                YieldingPacer::default(),
            )),
        };
        let executor = Coordinated::new(runner, store.clone(), scope);
        Runtime {
            inner: Rc::new(Inner { store, executor }),
        }
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
    ) -> Promise {
        future_to_promise(async move {
            let store = IndexedDbStore::open(&name)
                .await
                .map_err(|e| convert::core_error(&e))?;
            Ok(Self::with_store(AnyStore::IndexedDb(store), Some(name), dispatch).into())
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
            let scheduler = Scheduler::new(&inner.executor, &*inner.store);
            let log = RunLog::start(inner.store.clone(), &workflow);
            let mut emit = |e: &ipvm_core::Event| {
                // The receipt is written: other tabs may now reuse it.
                if let ipvm_core::Event::Finished { instruction, .. }
                | ipvm_core::Event::Failed { instruction, .. } = e
                {
                    inner.executor.release(instruction);
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
            inner.executor.release_all();
            if let Some(log) = &log {
                log.end(match &report {
                    Ok(r) if r.succeeded() => "done",
                    Ok(_) => "failed",
                    Err(ipvm_core::CoreError::Cancelled) => "cancelled",
                    Err(_) => "failed",
                })
                .await;
            }
            convert::task_reports(&report.map_err(|e| convert::core_error(&e))?.tasks)
        })
    }

    /// The receipt with this CID, or `null`.
    #[wasm_bindgen(unchecked_return_type = "Promise<StoredReceipt | null>")]
    pub fn receipt(&self, cid: &str) -> Promise {
        let (inner, cid) = (self.inner.clone(), cid_arg(cid));
        future_to_promise(async move {
            let rec = inner
                .store
                .receipt(&cid?)
                .await
                .map_err(|e| convert::core_error(&e))?;
            rec.map_or(Ok(JsValue::NULL), |r| convert::record(&r))
        })
    }

    /// The receipt of an instruction (the memo), or `null`.
    #[wasm_bindgen(js_name = receiptFor, unchecked_return_type = "Promise<StoredReceipt | null>")]
    pub fn receipt_for(&self, instruction: &str) -> Promise {
        let (inner, cid) = (self.inner.clone(), cid_arg(instruction));
        future_to_promise(async move {
            let rec = inner
                .store
                .receipt_for(&cid?)
                .await
                .map_err(|e| convert::core_error(&e))?;
            rec.map_or(Ok(JsValue::NULL), |r| convert::record(&r))
        })
    }

    /// Every receipt computed from `input` (a module or a data CID).
    #[wasm_bindgen(js_name = receiptsUsing, unchecked_return_type = "Promise<StoredReceipt[]>")]
    pub fn receipts_using(&self, input: &str) -> Promise {
        let (inner, cid) = (self.inner.clone(), cid_arg(input));
        future_to_promise(async move {
            let recs = inner
                .store
                .receipts_using(&cid?)
                .await
                .map_err(|e| convert::core_error(&e))?;
            let out = js_sys::Array::new();
            for r in &recs {
                out.push(&convert::record(r)?);
            }
            Ok(out.into())
        })
    }

    /// Re-runs the task of a stored receipt and compares output and fuel.
    #[wasm_bindgen(unchecked_return_type = "Promise<Verification>")]
    pub fn verify(&self, receipt: &str) -> Promise {
        let (inner, cid) = (self.inner.clone(), cid_arg(receipt));
        future_to_promise(async move {
            let v = ipvm_core::verify(inner.executor.inner(), &*inner.store, &cid?)
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

    /// Imports a CARv1 archive: verifies and stores every block, and indexes
    /// the receipts in it. Resolves to `{blocks, receipts}` counts.
    #[wasm_bindgen(js_name = importCar, unchecked_return_type = "Promise<{blocks: number, receipts: number}>")]
    pub fn import_car(&self, bytes: Vec<u8>) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let n = ipvm_core::car::import(&*inner.store, &bytes)
                .await
                .map_err(|e| convert::core_error(&e))?;
            Ok(convert::counts(n.blocks as u32, n.receipts as u32))
        })
    }

    /// Whether the file (module or data) `cid` is in the store, complete and intact.
    #[wasm_bindgen(js_name = hasFile, unchecked_return_type = "Promise<boolean>")]
    pub fn has_file(&self, cid: &str) -> Promise {
        let (inner, cid) = (self.inner.clone(), cid_arg(cid));
        future_to_promise(async move {
            Ok(JsValue::from_bool(
                ipvm_core::store::read_file(&*inner.store, &cid?)
                    .await
                    .is_ok(),
            ))
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
        ))
    }

    /// [`Runtime::open_indexed_db`] for Rust callers.
    pub async fn open(name: &str) -> Result<Runtime, ipvm_core::CoreError> {
        let store = IndexedDbStore::open(name).await?;
        Ok(Self::with_store(
            AnyStore::IndexedDb(store),
            Some(name.to_string()),
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
