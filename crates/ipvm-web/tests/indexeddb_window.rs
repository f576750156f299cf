//! The IndexedDB store in a window (headless Chromium).
#![cfg(target_arch = "wasm32")]

mod indexeddb;

use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn receipts_persist_across_runtimes() {
    indexeddb::receipts_persist_across_runtimes().await;
}

#[wasm_bindgen_test]
async fn bad_cids_are_rejected_with_a_code() {
    indexeddb::bad_cids_are_rejected_with_a_code().await;
}
