//! # ipvm-exec: run one task's Wasm function in wasmi, within its limits
//!
//! [`WasmExecutor`] implements the core's [`ipvm_core::Executor`]: it loads a
//! module by CID from a block store (compiling each module once), calls the
//! named export with IPLD arguments, and reports the output or a precise
//! error together with the fuel used. The same code runs natively and inside
//! a browser tab, so results are identical bit for bit: wasmi's
//! `deterministic` feature canonicalises NaNs, and fuel is counted by wasmi's
//! cost model on every platform.
//!
//! Limits: fuel (`meta.fuel`), linear memory (`meta.memory`, via a store
//! limiter that also caps tables and instances), a bounded recursion depth,
//! and wall-clock time (`meta.time`), checked between fuel slices of a
//! resumable call.

mod error;
mod executor;
mod values;

pub use error::ExecError;
pub use executor::{WasmExecutor, FUEL_SLICE};
