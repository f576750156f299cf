//! The engines the executor's suites run on, for parity: natively wasmi and
//! wasmtime (`ipvm-wasmtime`, composed with wasmi by `Either` as the native
//! node composes them), in a browser wasmi only (the browser's own engine is
//! checked by `crates/ipvm-web/tests`). A suite runs its workflows on each
//! and asserts byte-identical receipts.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test file uses a different subset"
)]

use ipvm_core::run::report::RunReport;
use ipvm_core::BlockStore;
use ipvm_exec::WasmExecutor;

/// The executor's engines in these suites: one type, the engine chosen by name.
#[cfg(not(target_arch = "wasm32"))]
pub type Engines = ipvm_exec::Either<ipvm_wasmtime::WasmtimeEngine, ipvm_exec::WasmiEngine>;
/// The executor's engines in these suites: wasmi alone in a browser.
#[cfg(target_arch = "wasm32")]
pub type Engines = ipvm_exec::WasmiEngine;

/// The engines to run each workflow on; the last one's report is returned.
#[cfg(not(target_arch = "wasm32"))]
pub const ENGINES: &[&str] = &["wasmi", "wasmtime"];
/// The engines to run each workflow on; the last one's report is returned.
#[cfg(target_arch = "wasm32")]
pub const ENGINES: &[&str] = &["wasmi"];

/// An executor reading `store` whose tasks run on `engine` (`wasmi`, or
/// natively `wasmtime`, which falls back to wasmi only after an
/// inconclusive ending).
#[cfg(not(target_arch = "wasm32"))]
pub fn executor<S: BlockStore>(store: S, engine: &str) -> WasmExecutor<S, Engines> {
    let prefer = match engine {
        "wasmi" => ipvm_exec::Prefer::Reference,
        _ => ipvm_exec::Prefer::Fast,
    };
    let engines = ipvm_wasmtime::engines(prefer, None).expect("wasmtime starts");
    WasmExecutor::with_engine(store, engines)
}

/// An executor reading `store` whose tasks run on wasmi.
#[cfg(target_arch = "wasm32")]
pub fn executor<S: BlockStore>(store: S, _: &str) -> WasmExecutor<S, Engines> {
    WasmExecutor::new(store)
}

/// Asserts that two engines' reports hold the same receipts, byte for
/// byte, except where a receipt says it depends on the machine
/// (`nondeterministic`: a clock read, a time limit); and that every task
/// that ran on `engine` ran there, not on the fallback.
pub fn assert_same_receipts(reference: &RunReport, other: &RunReport, engine: &str) {
    assert_eq!(reference.tasks.len(), other.tasks.len());
    for (a, b) in reference.tasks.iter().zip(&other.tasks) {
        let (Some(ra), Some(rb)) = (a.receipt(), b.receipt()) else {
            assert_eq!(
                a.receipt().is_some(),
                b.receipt().is_some(),
                "task {}: {:?} vs {:?}",
                a.task,
                a.status,
                b.status
            );
            continue;
        };
        if let Some(e) = &b.engine {
            assert_eq!(e, engine, "task {} ran on {e}, not {engine}", b.task);
        }
        let machine = ra.receipt.meta.get("nondeterministic") == Some(&ipvm_core::Ipld::Bool(true))
            || rb.receipt.meta.get("nondeterministic") == Some(&ipvm_core::Ipld::Bool(true));
        if machine {
            continue;
        }
        assert_eq!(
            ra.receipt.to_dag_json().unwrap(),
            rb.receipt.to_dag_json().unwrap(),
            "task {}: the receipt on {engine} differs from wasmi's",
            a.task
        );
    }
}
