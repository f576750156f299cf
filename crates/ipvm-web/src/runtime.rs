//! The exported `Runtime` class: a store, an executor and a scheduler.

use std::rc::Rc;

use ipvm_core::store::add_file;
use ipvm_core::{CancelToken, MemoryStore, Scheduler, Workflow};
use ipvm_exec::WasmExecutor;
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::convert;

struct Inner {
    store: Rc<MemoryStore>,
    executor: WasmExecutor<Rc<MemoryStore>>,
}

/// An IPVM runtime: stores modules and receipts, and runs workflows.
#[wasm_bindgen]
pub struct Runtime {
    inner: Rc<Inner>,
}

#[wasm_bindgen]
impl Runtime {
    /// A runtime with an in-memory store.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Runtime {
        let store = Rc::new(MemoryStore::new());
        let executor = WasmExecutor::new(store.clone());
        Runtime {
            inner: Rc::new(Inner { store, executor }),
        }
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
    ) -> Promise {
        let inner = self.inner.clone();
        let parsed = Workflow::from_dag_json(workflow.as_bytes());
        future_to_promise(async move {
            let workflow = parsed.map_err(|e| convert::core_error(&e))?;
            let scheduler = Scheduler::new(&inner.executor, &*inner.store);
            let mut emit = |e: &ipvm_core::Event| {
                if let Some(f) = &on_event {
                    // A throwing listener must not abort the run.
                    let _ = f.call1(&JsValue::NULL, &convert::event(e));
                }
            };
            let report = scheduler
                .run(&workflow, &mut emit, &CancelToken::new())
                .await
                .map_err(|e| convert::core_error(&e))?;
            convert::task_reports(&report.tasks)
        })
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
