//! The engine trait: what the executor needs from a WebAssembly engine.
//! The canonical ABI ([`crate::abi`]), the host functions ([`crate::host`])
//! and the executor are written against it; wasmi implements it
//! ([`crate::WasmiEngine`]), and a later engine (the browser's own, with
//! injected fuel counting) can implement it without touching them.

use std::future::Future;

use ipvm_core::Limits;

use crate::abi::{CoreTy, CoreVal, Guest};
use crate::host::HostEffects;
use crate::wit::WitWorld;
use crate::ExecError;

/// Compiles modules and instantiates them under limits.
pub trait Engine {
    /// A compiled module, cheap to clone.
    type Module: Clone;
    /// An instance, with its store and limits.
    type Instance: Instance;

    /// Validates and compiles a core module. `name` (the module CID) is for messages.
    fn compile(&self, name: &str, bytes: &[u8]) -> Result<Self::Module, ExecError>;

    /// Instantiates a module, providing the host functions its `world`
    /// imports (any other import is an `unknown_import` error). On failure,
    /// also returns what the start function did before it failed.
    fn instantiate(
        &self,
        module: &Self::Module,
        world: Option<&WitWorld>,
        limits: Limits,
    ) -> Result<Self::Instance, InstantiateError>;
}

/// A failed instantiation, with what the start function did before it
/// failed: the fuel it used, and its host effects (a clock it read makes the
/// receipt nondeterministic, whatever the outcome).
#[derive(Debug)]
pub struct InstantiateError {
    /// Why it failed.
    pub error: ExecError,
    /// Fuel the start function used.
    pub fuel: u64,
    /// What host functions did.
    pub effects: HostEffects,
}

impl From<ExecError> for InstantiateError {
    fn from(error: ExecError) -> Self {
        Self {
            error,
            fuel: 0,
            effects: HostEffects::default(),
        }
    }
}

/// What a running task does between two fuel slices of its main call.
///
/// Natively nothing (`()`). In a browser worker the pacer yields to the
/// worker's event loop, so that a cancel message is received while a long
/// task runs, and then ends the task if it was cancelled.
pub trait Pacer {
    /// Awaited between fuel slices; an error ends the call with that error.
    fn between_slices(&self) -> impl Future<Output = Result<(), ExecError>>;
    /// The fuel of one slice: how long the guest runs between two pauses.
    fn fuel_slice(&self) -> u64 {
        crate::FUEL_SLICE
    }
}

/// Never pauses, never cancels.
impl Pacer for () {
    async fn between_slices(&self) -> Result<(), ExecError> {
        Ok(())
    }
}

/// An instantiated module: calls and memory (through [`Guest`]), its exports,
/// and what the run cost.
pub trait Instance: Guest {
    /// Calls an export like [`Guest::call`], awaiting `pacer` between fuel
    /// slices. Used for a task's main call; short helper calls
    /// (`cabi_realloc`, `cabi_post_*`) use [`Guest::call`].
    fn call_paced<P: Pacer>(
        &mut self,
        export: &str,
        args: &[CoreVal],
        pacer: &P,
    ) -> impl Future<Output = Result<Vec<CoreVal>, ExecError>>;
    /// The exported functions and their core parameter types.
    fn exports(&self) -> Vec<(String, Vec<CoreTy>)>;
    /// Ends the instance: fuel used, and what host functions did.
    fn finish(self) -> (u64, HostEffects);
}
