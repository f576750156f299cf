//! The pool's Rust halves in a window (headless Chromium); see `pool/mod.rs`.
#![cfg(target_arch = "wasm32")]

#[macro_use]
mod pool;

use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

pool_suite!();
