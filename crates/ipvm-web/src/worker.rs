//! The exported `TaskWorker` class: what runs inside each worker of the pool
//! (`pkg/worker.js`). It opens the same IndexedDB store as the page, reads
//! modules from it, and executes jobs sent as DAG-JSON, answering with the
//! execution as DAG-JSON. A job yields to the worker's event loop between
//! fuel slices, so `cancel()` (called from a message) stops it at the next
//! slice and the worker stays usable. The worker loads the runtime's key
//! from the store (the same non-extractable `CryptoKey`, structured-cloned,
//! never exported) and signs the receipt of each job it runs, so signing
//! happens off the page's thread.

use std::rc::Rc;

use ipvm_core::address::to_dag_json;
use ipvm_core::workflow::parse_dag_json;
use ipvm_core::{Envelope, Executor, Job, Receipt};
use ipvm_exec::{Either, Prefer, WasmExecutor, WasmiEngine};
use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::convert;
use crate::fast_engine::FastEngine;
use crate::identity::WebSigner;
use crate::indexeddb::IndexedDbStore;
use crate::pacer::YieldingPacer;
use crate::store::AnyStore;

/// The engines of a worker: the browser's own for what it accepts, wasmi
/// for the rest and for what it cannot decide.
type Engines = Either<FastEngine, WasmiEngine>;

/// What `Runtime.open({engine})` names: `auto` (the default) or `fast`
/// prefer the browser's engine, `wasmi` runs everything on wasmi.
pub(crate) fn preference(engine: &str) -> Result<Prefer, String> {
    match engine {
        "" | "auto" | "fast" => Ok(Prefer::Fast),
        "wasmi" => Ok(Prefer::Reference),
        other => Err(format!(
            "engine must be \"auto\", \"fast\" or \"wasmi\", not {other:?}"
        )),
    }
}

/// Executes jobs for a worker pool. Lives in a dedicated worker.
#[wasm_bindgen]
pub struct TaskWorker {
    executor: Rc<WasmExecutor<Rc<AnyStore>, Engines, YieldingPacer>>,
    pacer: YieldingPacer,
    /// The runtime's key, if the store has one yet (the page makes it when
    /// it opens the runtime, before any job is sent).
    signer: Option<Rc<WebSigner>>,
}

impl TaskWorker {
    /// [`TaskWorker::open`] for Rust callers.
    pub async fn new(
        name: &str,
        engine: &str,
        on_unpausable: Option<js_sys::Function>,
    ) -> Result<TaskWorker, ipvm_core::CoreError> {
        let default = preference(engine).map_err(ipvm_core::CoreError::Store)?;
        let store = IndexedDbStore::open(name).await?;
        let signer = WebSigner::load(&store).await?.map(Rc::new);
        let pacer = YieldingPacer::for_worker();
        let executor = Rc::new(WasmExecutor::with_pacer(
            Rc::new(AnyStore::IndexedDb(store)),
            Either {
                fast: FastEngine { on_unpausable },
                reference: WasmiEngine::default(),
                default,
            },
            pacer.clone(),
        ));
        Ok(TaskWorker {
            executor,
            pacer,
            signer,
        })
    }
}

#[wasm_bindgen]
impl TaskWorker {
    /// Opens the IndexedDB store `name` (the page's) for this worker, which
    /// runs tasks on `engine` (`auto`, `fast` or `wasmi`; see `Runtime.open`).
    /// `onUnpausable` is called when a task's call starts on the browser's
    /// engine, which cannot pause between fuel slices.
    #[wasm_bindgen(unchecked_return_type = "Promise<TaskWorker>")]
    pub fn open(
        name: String,
        engine: Option<String>,
        #[wasm_bindgen(js_name = onUnpausable)] on_unpausable: Option<js_sys::Function>,
    ) -> Promise {
        future_to_promise(async move {
            let worker = Self::new(&name, engine.as_deref().unwrap_or("auto"), on_unpausable)
                .await
                .map_err(|e| convert::core_error(&e))?;
            Ok(worker.into())
        })
    }

    /// Executes one job (DAG-JSON of `Job`); resolves to the execution
    /// (DAG-JSON, with the runtime's envelope of its receipt if the job
    /// names its invocation and the store has a key), or rejects with
    /// `ERR_CANCELLED` if [`TaskWorker::cancel`] was called meanwhile. One
    /// job at a time.
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn execute(&self, job: &str) -> Promise {
        let executor = self.executor.clone();
        let pacer = self.pacer.clone();
        pacer.reset();
        let signer = self.signer.clone();
        let job = parse_dag_json(job.as_bytes()).and_then(|j| Job::from_ipld(&j));
        future_to_promise(async move {
            let job = job.map_err(|e| convert::core_error(&e))?;
            let receipt = job.receipt.clone();
            let mut ex = executor.execute(job).await;
            if pacer.is_cancelled() {
                return Err(convert::core_error(&ipvm_core::CoreError::Cancelled));
            }
            // A signature that fails here is made by the page instead.
            if let (Some(signer), Some((ran, prf))) = (signer, receipt) {
                if let Ok(cid) = Receipt::of_execution(ran, &ex, prf).cid() {
                    ex.envelope = Envelope::sign(&*signer, &cid).await.ok().map(|e| e.bytes);
                }
            }
            to_dag_json(&ex.to_ipld())
                .map(|s| JsValue::from_str(&s))
                .map_err(|e| convert::core_error(&e))
        })
    }

    /// Stops the running job at its next fuel slice (it rejects with
    /// `ERR_CANCELLED`); nothing of it is kept.
    pub fn cancel(&self) {
        self.pacer.cancel();
    }
}
