//! # ipvm-wasmtime: the native node's fast engine
//!
//! wasmtime (cranelift) behind the executor's engine traits
//! ([`ipvm_exec::Engine`]), natively only: the wasm32 builds never compile
//! it. It is to a native node what the browser's own engine is to a tab
//! (`ipvm-web`'s `fast_engine.rs`), and is composed with wasmi the same way,
//! by [`ipvm_exec::Either`] ([`engines`]): wasmi decides whether a module
//! compiles, wasmtime runs it, and an ending wasmtime cannot map to the
//! common error (its own stack overflow) re-runs the task on wasmi.
//!
//! It runs the **metered module** ([`ipvm_exec::meter`]): fuel, the depth
//! counter, canonical NaNs and the trap kinds come from the injected code,
//! so a receipt is byte for byte the one wasmi and the tab write. wasmtime's
//! own fuel is off. The time limit is an epoch deadline (a ticker thread
//! advances the epoch; no per-instruction check), the memory limit a
//! resource limiter, and compiled code is kept by wasmtime's own cache
//! (`Config::cache`) when a directory is given, so a module compiles once
//! per machine. No `unsafe`: `Module::deserialize` is not used.

mod engine;
mod ticker;

pub use engine::{engines, WasmtimeEngine, WasmtimeGuest};
