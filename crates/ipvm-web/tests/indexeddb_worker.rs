//! The IndexedDB store in a dedicated worker (headless Chromium): the worker global scope has
//! `indexedDB`, and wasmi and the whole runtime run off the main thread.
#![cfg(target_arch = "wasm32")]

mod indexeddb;

use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[wasm_bindgen_test]
async fn receipts_persist_across_runtimes() {
    indexeddb::receipts_persist_across_runtimes().await;
}

#[wasm_bindgen_test]
async fn bad_cids_are_rejected_with_a_code() {
    indexeddb::bad_cids_are_rejected_with_a_code().await;
}
