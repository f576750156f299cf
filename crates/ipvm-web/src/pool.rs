//! Executing on a pool of Web Workers: `PoolExecutor` sends each job, as
//! DAG-JSON, through a `dispatch(job, timeMs)` function that the JS facade
//! provides (`pkg/pool.js` owns the workers). A worker that overruns the time
//! limit is terminated and replaced by the pool; the job then ends in a
//! `time_limit` error, as it would have in the worker. A worker that fails
//! gives a `worker` error receipt: a failure of the environment, never
//! reused. Both are built by the executor's own rule (`ipvm_exec::execution`).

use ipvm_core::address::to_dag_json;
use ipvm_core::model::op::Ops;
use ipvm_core::workflow::parse_dag_json;
use ipvm_core::{Execution, Executor, Job};
use ipvm_exec::{execution, ExecError, WasmExecutor, WasmiEngine};
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::convert::js_error_text;
use crate::pacer::YieldingPacer;
use crate::store::AnyStore;

/// Jobs to the worker pool.
pub(crate) struct PoolExecutor {
    dispatch: Function,
}

impl PoolExecutor {
    pub(crate) fn new(dispatch: Function) -> Self {
        Self { dispatch }
    }
}

fn failed(message: String) -> Execution {
    execution(Err(ExecError::Worker(message)), 0, Default::default())
}

impl Executor for PoolExecutor {
    fn ops(&self) -> &Ops {
        ipvm_exec::ops()
    }

    async fn execute(&self, job: Job) -> Execution {
        if let Err(e) = ipvm_exec::check_nesting(&job) {
            return execution(Err(e), 0, Default::default());
        }
        let time_ms = job.limits.time_ms();
        let json = match to_dag_json(&job.to_ipld()) {
            Ok(j) => j,
            Err(e) => return failed(e.to_string()),
        };
        let promise = match self.dispatch.call2(
            &JsValue::NULL,
            &JsValue::from_str(&json),
            &JsValue::from(time_ms as f64),
        ) {
            Ok(p) => p
                .dyn_into::<Promise>()
                .unwrap_or_else(|v| Promise::resolve(&v)),
            Err(e) => return failed(format!("dispatch failed: {}", js_error_text(&e))),
        };
        match JsFuture::from(promise).await {
            Ok(text) => match parse_dag_json(text.as_string().unwrap_or_default().as_bytes())
                .and_then(|v| Execution::from_ipld(&v))
            {
                Ok(ex) => ex,
                Err(e) => failed(format!("bad answer from the worker: {e}")),
            },
            Err(e)
                if Reflect::get(&e, &JsValue::from_str("timeout"))
                    .map(|v| v.is_truthy())
                    .unwrap_or(false) =>
            {
                let err = ExecError::TimeLimit { limit_ms: time_ms };
                execution(Err(err), 0, Default::default())
            }
            Err(e) => failed(js_error_text(&e)),
        }
    }
}

/// Where a runtime executes: in this thread, or on the pool.
pub(crate) enum AnyExecutor {
    Local(WasmExecutor<std::rc::Rc<AnyStore>, WasmiEngine, YieldingPacer>),
    Pool(PoolExecutor),
}

impl AnyExecutor {
    /// How many tasks a run keeps in flight: on the page's thread, a few
    /// (they share it, slice by slice); on the pool, enough that ready
    /// tasks are claimed and sent in batches and the workers never wait
    /// for the page (the pool queues what it cannot start yet).
    pub(crate) fn parallelism(&self) -> usize {
        match self {
            AnyExecutor::Local(_) => 8,
            AnyExecutor::Pool(_) => 64,
        }
    }
}

impl Executor for AnyExecutor {
    fn ops(&self) -> &Ops {
        match self {
            AnyExecutor::Local(e) => e.ops(),
            AnyExecutor::Pool(e) => e.ops(),
        }
    }

    async fn execute(&self, job: Job) -> Execution {
        match self {
            AnyExecutor::Local(e) => e.execute(job).await,
            AnyExecutor::Pool(e) => e.execute(job).await,
        }
    }
}
