//! The engine trait: what the executor needs from a WebAssembly engine.
//! The canonical ABI ([`crate::abi`]), the host functions ([`crate::host`])
//! and the executor are written against it; wasmi implements it
//! ([`crate::WasmiEngine`]), the browser's own engine implements it in the
//! browser crate, and [`crate::Either`] puts two of them behind one.

use std::future::Future;

use ipvm_core::Limits;

use crate::abi::{CoreVal, Guest};
use crate::host::HostEffects;
use crate::meter::Metered;
use crate::wit::WitWorld;
use crate::ExecError;

/// Which engine a task should run on, when a runtime has more than one.
/// Engines that have only one ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prefer {
    /// The runtime's own choice (`Runtime.open({engine})`).
    #[default]
    Default,
    /// The fastest engine that accepts the module.
    Fast,
    /// The reference engine (the one that can pause between fuel slices):
    /// a re-run after an inconclusive answer, or a check on another engine.
    Reference,
}

/// Compiles metered modules and instantiates them under limits. Every
/// engine runs the same metered module ([`crate::meter`]), so the fuel, the
/// results and the errors of a task do not depend on the engine.
pub trait Engine {
    /// A compiled module, cheap to clone.
    type Module: Clone;
    /// An instance, with its store and limits.
    type Instance: Instance;

    /// Compiles a metered module. `name` (the module CID) is for messages.
    fn compile(
        &self,
        name: &str,
        metered: &Metered,
    ) -> impl Future<Output = Result<Self::Module, ExecError>>;

    /// Instantiates a module, providing the host functions its `world`
    /// imports (any other import is an `unknown_import` error), with its
    /// fuel counter set to the budget of `limits`. Runs no guest code: the
    /// start function is called by the executor, metered like any call.
    fn instantiate(
        &self,
        module: &Self::Module,
        world: Option<&WitWorld>,
        limits: Limits,
        prefer: Prefer,
    ) -> impl Future<Output = Result<Self::Instance, ExecError>>;
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
///
/// A call that ends in an error the engine cannot map to the error every
/// engine gives ([`ExecError::Inconclusive`], e.g. the browser engine's own
/// stack overflow) is re-run by the executor on the reference engine.
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
    /// Ends the instance: fuel used, and what host functions did.
    fn finish(self) -> (u64, HostEffects);
    /// The engine's name, for reports (never for receipts): `wasmi` or `fast`.
    fn engine(&self) -> &'static str;
}
