//! The pool's two halves, shared by the window and dedicated-worker suites
//! (`pool_window.rs`, `pool_worker.rs`): `TaskWorker` (what runs in each
//! worker) executing jobs sent as DAG-JSON, and the runtime's pool executor
//! sending jobs through a `dispatch` function and turning a `{timeout: true}`
//! rejection into a time-limit receipt; a long job yielding between fuel
//! slices so that `cancel()` reaches it. The real workers, their termination
//! and replacement are tested end to end (tests/e2e/workers.test.mjs).

use ipvm_core::address::to_dag_json;
use ipvm_core::workflow::parse_dag_json;
use ipvm_core::{Execution, Ipld, Job, Outcome, Workflow};
use ipvm_web::{Runtime, TaskWorker};
use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

const GUESTS: &[u8] = include_bytes!(env!("IPVM_GUESTS_WASM"));
const SAMPLE_WORKFLOW: &str = include_str!(env!("IPVM_SAMPLE_WORKFLOW"));
const NATIVE_RECEIPTS: &str = include_str!(env!("IPVM_SAMPLE_RECEIPTS"));

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", js_sys::Math::random().to_bits())
}

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// Stores the guest module in `name`; returns its CID.
async fn store_with_module(name: &str) -> ipvm_core::Cid {
    let rt = Runtime::open(name).await.unwrap_or_else(|e| panic!("{e}"));
    let cid = JsFuture::from(rt.add_module(GUESTS.to_vec()))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    rt.close();
    ipvm_core::parse_cid(&cid.as_string().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"))
}

fn job_json(
    module: ipvm_core::Cid,
    func: &str,
    args: Vec<Ipld>,
    limits: ipvm_core::Limits,
) -> String {
    let run = ipvm_core::Instruction::new(module, "wasm/run", func, args.clone(), Ipld::Null)
        .unwrap_or_else(|e| panic!("{e}"));
    let job = Job {
        task: 0,
        instruction: run.cid(),
        module,
        op: "wasm/run".into(),
        func: func.into(),
        args,
        limits,
        receipt: None,
        engine: None,
    };
    to_dag_json(&job.to_ipld()).unwrap_or_default()
}

/// Runs a job (DAG-JSON) on `worker`; the execution it answers.
async fn execute(worker: &TaskWorker, job: &str) -> Execution {
    let answer = JsFuture::from(worker.execute(job))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    Execution::from_ipld(
        &parse_dag_json(answer.as_string().unwrap_or_default().as_bytes()).unwrap_or(Ipld::Null),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) async fn a_long_job_yields_between_fuel_slices_and_stops_when_cancelled() {
    let name = unique("wbt-cancel");
    let module = store_with_module(&name).await;
    // On wasmi, which pauses between fuel slices (a call on the browser's
    // engine cannot: the pool terminates that worker instead).
    let worker = TaskWorker::new(&name, "wasmi", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // About 2^32 rounds: minutes of work, unless it is cancelled.
    let limits = ipvm_core::Limits {
        time: Some(20_000),
        ..Default::default()
    };
    let long = job_json(
        module,
        "xorshift",
        vec![Ipld::Integer(u32::MAX.into())],
        limits,
    );
    let running = JsFuture::from(worker.execute(&long));
    // The timer fires only if the job gives the event loop a turn.
    let cancel = async {
        gloo_timers::future::TimeoutFuture::new(100).await;
        worker.cancel();
    };
    let (answer, ()) = futures::join!(running, cancel);
    let err = answer.expect_err("a cancelled job rejects");
    assert_eq!(
        get(&err, "code").as_string().as_deref(),
        Some("ERR_CANCELLED")
    );
    // The worker is still usable: the next job runs to its result.
    let short = job_json(
        module,
        "add_one",
        vec![Ipld::Integer(41)],
        Default::default(),
    );
    let ex = execute(&worker, &short).await;
    assert_eq!(ex.out, Outcome::Ok(Ipld::Integer(42)));
}

pub(crate) async fn a_task_worker_signs_each_receipt_with_the_runtime_s_key_from_the_store() {
    let name = unique("wbt-sign");
    let module = store_with_module(&name).await;
    // The page makes the runtime's key when it opens the runtime.
    let rt = Runtime::open(&name).await.unwrap_or_else(|e| panic!("{e}"));
    let did = JsFuture::from(rt.identity())
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .as_string()
        .unwrap_or_default();
    rt.close();
    let worker = TaskWorker::new(&name, "auto", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let run = ipvm_core::Instruction::new(
        module,
        "wasm/run",
        "add_one",
        vec![Ipld::Integer(1)],
        Ipld::Null,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (ran, _) = ipvm_core::Task::new(run.clone())
        .invocation()
        .unwrap_or_else(|e| panic!("{e}"));
    let job = |receipt| Job {
        task: 0,
        instruction: run.cid(),
        module,
        op: "wasm/run".into(),
        func: "add_one".into(),
        args: vec![Ipld::Integer(1)],
        limits: Default::default(),
        receipt,
        engine: None,
    };
    let signed = execute(
        &worker,
        &to_dag_json(&job(Some((ran, vec![]))).to_ipld()).unwrap_or_default(),
    )
    .await;
    let cid = ipvm_core::Receipt::of_execution(ran, &signed, vec![])
        .cid()
        .unwrap_or_else(|e| panic!("{e}"));
    let envelope =
        ipvm_core::Envelope::check_for(signed.envelope.as_deref().expect("the worker signs"), &cid)
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(envelope.signer.to_string(), did, "the runtime's own key");
    // A job that names no invocation is not signed.
    let unsigned = execute(
        &worker,
        &to_dag_json(&job(None).to_ipld()).unwrap_or_default(),
    )
    .await;
    assert_eq!(unsigned.envelope, None);
}

pub(crate) async fn a_task_worker_executes_a_job_sent_as_dag_json() {
    let name = unique("wbt-worker");
    store_with_module(&name).await;
    let worker = TaskWorker::new(&name, "auto", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let wf = Workflow::from_dag_json(SAMPLE_WORKFLOW.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let t = &wf.tasks[0];
    let job = Job {
        task: 0,
        instruction: t.run.cid(),
        module: t.run.module,
        op: t.run.op.clone(),
        func: t.run.func.clone(),
        args: t.run.args.clone(),
        limits: t.limits,
        receipt: None,
        engine: None,
    };
    let ex = execute(&worker, &to_dag_json(&job.to_ipld()).unwrap_or_default()).await;
    assert_eq!(ex.out, Outcome::Ok(Ipld::Integer(2)));
    // The native CLI's receipt for the same task is the oracle.
    assert_eq!(ex.fuel, native_fuel(0));
    let bad = JsFuture::from(worker.execute("{not json"))
        .await
        .expect_err("a malformed job must reject");
    assert_eq!(
        get(&bad, "code").as_string().as_deref(),
        Some("ERR_WORKFLOW_DECODE")
    );
}

type Dispatch = Closure<dyn Fn(JsValue, JsValue) -> Promise>;

/// Opens a runtime on `name` whose jobs go through `dispatch`, and runs the sample.
async fn run_with_dispatch(name: &str, dispatch: &Dispatch) -> (Runtime, JsValue) {
    let f = dispatch.as_ref().unchecked_ref::<Function>().clone();
    let rt = Runtime::open_with_dispatch(name, f)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let reports = JsFuture::from(rt.run(SAMPLE_WORKFLOW, None, JsValue::UNDEFINED))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    (rt, reports)
}

pub(crate) async fn the_pool_executor_gives_the_same_receipts_through_dispatch() {
    let name = unique("wbt-dispatch");
    store_with_module(&name).await;
    let worker = TaskWorker::new(&name, "auto", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let calls = std::rc::Rc::new(std::cell::Cell::new(0));
    let counter = calls.clone();
    // A dispatch that runs each job on a TaskWorker, as pool.js does in a worker.
    let dispatch = Dispatch::new(move |job: JsValue, _time: JsValue| {
        counter.set(counter.get() + 1);
        worker.execute(&job.as_string().unwrap_or_default())
    });
    let (rt, reports) = run_with_dispatch(&name, &dispatch).await;
    let json: Vec<String> = Array::from(&reports)
        .iter()
        .map(|r| get(&r, "dagJson").as_string().unwrap_or_default())
        .collect();
    assert_eq!(json, NATIVE_RECEIPTS.lines().collect::<Vec<_>>());
    assert_eq!(calls.get(), 2, "both tasks went through dispatch");
    rt.close();
    drop(dispatch);
}

pub(crate) async fn a_dispatch_that_times_out_gives_a_time_limit_receipt() {
    let name = unique("wbt-timeout");
    store_with_module(&name).await;
    let dispatch = Dispatch::new(|_job: JsValue, _time: JsValue| {
        let reason = js_sys::Object::new();
        let _ = Reflect::set(&reason, &JsValue::from_str("timeout"), &JsValue::TRUE);
        Promise::reject(&reason)
    });
    let (rt, reports) = run_with_dispatch(&name, &dispatch).await;
    let first = Array::from(&reports).get(0);
    let json = get(&first, "dagJson").as_string().unwrap_or_default();
    assert!(json.contains("\"kind\":\"time_limit\""), "{json}");
    assert!(json.contains("\"nondeterministic\":true"), "{json}");
    assert_eq!(
        get(&Array::from(&reports).get(1), "status")
            .as_string()
            .as_deref(),
        Some("skipped")
    );
    rt.close();
    drop(dispatch);
}

/// One `#[wasm_bindgen_test]` per test above; the window and the worker
/// suites expand it after choosing where they run.
macro_rules! pool_suite {
    () => {
        #[wasm_bindgen_test]
        async fn a_task_worker_signs_each_receipt_with_the_runtime_s_key_from_the_store() {
            pool::a_task_worker_signs_each_receipt_with_the_runtime_s_key_from_the_store().await;
        }
        #[wasm_bindgen_test]
        async fn a_task_worker_executes_a_job_sent_as_dag_json() {
            pool::a_task_worker_executes_a_job_sent_as_dag_json().await;
        }
        #[wasm_bindgen_test]
        async fn the_pool_executor_gives_the_same_receipts_through_dispatch() {
            pool::the_pool_executor_gives_the_same_receipts_through_dispatch().await;
        }
        #[wasm_bindgen_test]
        async fn a_long_job_yields_between_fuel_slices_and_stops_when_cancelled() {
            pool::a_long_job_yields_between_fuel_slices_and_stops_when_cancelled().await;
        }
        #[wasm_bindgen_test]
        async fn a_dispatch_that_times_out_gives_a_time_limit_receipt() {
            pool::a_dispatch_that_times_out_gives_a_time_limit_receipt().await;
        }
    };
}

/// `meta.fuel` of the native CLI's receipt for task `i` of the sample workflow.
fn native_fuel(i: usize) -> u64 {
    const NATIVE_RECEIPTS: &str = include_str!(env!("IPVM_SAMPLE_RECEIPTS"));
    let line = NATIVE_RECEIPTS.lines().nth(i).unwrap_or_default();
    let receipt = ipvm_core::workflow::parse_dag_json(line.as_bytes())
        .and_then(|v| ipvm_core::Receipt::from_ipld(&v))
        .unwrap_or_else(|e| panic!("native receipt {i}: {e}"));
    receipt.fuel()
}
