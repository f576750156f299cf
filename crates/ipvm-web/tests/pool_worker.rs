//! The pool's Rust halves inside a dedicated worker, where `TaskWorker` really
//! lives (headless Chromium); see `pool/mod.rs`.
#![cfg(target_arch = "wasm32")]

#[macro_use]
mod pool;

use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

pool_suite!();
