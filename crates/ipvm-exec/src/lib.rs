//! # ipvm-exec: run one task's Wasm function, within its limits
//!
//! [`WasmExecutor`] implements the core's [`ipvm_core::Executor`] for the
//! standard ops ([`ops`]: `wasm/run`, `wasm/run-exact`, routed by the job's
//! op): it loads a module by CID from a block store (analysing and compiling
//! each module once), calls the named export with IPLD arguments, and
//! reports the output or a precise error, with the fuel used.
//!
//! Fuel is not an engine's: it is the project's own cost model, which the
//! metering rewriter ([`meter`]) injects into the module before any engine
//! compiles it (a counter charged per region, bulk operations by size, a
//! call-depth counter, memory checks, canonical NaNs; docs/spec.md §8
//! "Fuel"). Every engine (wasmi natively and in a tab, the browser's own)
//! runs that metered module, so results and fuel are identical bit for bit
//! on every platform; wasmi's own fuel only cuts a call into slices.
//!
//! Three module shapes are accepted ([`wit::classify`]): a plain core module
//! (numbers in, numbers out); a core module built by wit-bindgen, whose WIT
//! world is read from its `component-type` section; and a component that
//! wraps one core module. For the last two, arguments and results cross the
//! canonical ABI ([`abi`]) under Homestar's IPLD-to-WIT mapping ([`mapping`]).
//!
//! The ABI, the host functions and the executor are written against the
//! small [`Engine`] / [`Instance`] / [`abi::Guest`] traits; [`WasmiEngine`]
//! implements them, and nothing above those traits names wasmi.
//!
//! Limits: fuel (`meta.fuel`), linear memory (`meta.memory`, via a store
//! limiter that also caps tables and instances), a bounded recursion depth,
//! wall-clock time (`meta.time`, checked between fuel slices of a resumable
//! call), and the size of returned strings and lists
//! ([`abi::MAX_OUTPUT_BYTES`]). Between fuel slices a [`Pacer`] may pause the
//! call (a browser worker yields to its event loop there) or cancel it.

pub mod abi;
mod either;
mod engine;
mod error;
mod executor;
pub mod host;
pub mod mapping;
pub mod meter;
mod values;
mod wasmi_engine;
pub mod wit;

pub use either::{Either, EitherInstance, EitherModule};
pub use engine::{Engine, Instance, Pacer, Prefer};
pub use error::{ExecError, Trap};
pub use executor::{check_nesting, execution, ops, WasmExecutor, MAX_MODULE_BYTES};
pub use wasmi_engine::{WasmiEngine, WasmiGuest, FUEL_SLICE};
