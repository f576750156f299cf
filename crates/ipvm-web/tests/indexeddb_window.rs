//! The IndexedDB store in a window (headless Chromium).
#![cfg(target_arch = "wasm32")]

#[macro_use]
mod indexeddb;

use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

indexeddb_suite!();
