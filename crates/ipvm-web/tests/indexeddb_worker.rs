//! The IndexedDB store in a dedicated worker (headless Chromium): the worker global scope has
//! `indexedDB`, and wasmi and the whole runtime run off the main thread.
#![cfg(target_arch = "wasm32")]

#[macro_use]
mod indexeddb;

use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

indexeddb_suite!();
