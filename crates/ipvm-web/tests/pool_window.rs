//! The pool's Rust halves in a window (headless Chromium); see `pool/mod.rs`.
#![cfg(target_arch = "wasm32")]

mod pool;

use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn a_task_worker_executes_a_job_sent_as_dag_json() {
    pool::a_task_worker_executes_a_job_sent_as_dag_json().await;
}

#[wasm_bindgen_test]
async fn the_pool_executor_gives_the_same_receipts_through_dispatch() {
    pool::the_pool_executor_gives_the_same_receipts_through_dispatch().await;
}

#[wasm_bindgen_test]
async fn a_dispatch_that_times_out_gives_a_time_limit_receipt() {
    pool::a_dispatch_that_times_out_gives_a_time_limit_receipt().await;
}
