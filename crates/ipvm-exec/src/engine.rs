//! The engine trait: what the executor needs from a WebAssembly engine.
//! The canonical ABI ([`crate::abi`]), the host functions ([`crate::host`])
//! and the executor are written against it; wasmi implements it
//! ([`crate::WasmiEngine`]), and a later engine (the browser's own, with
//! injected fuel counting) can implement it without touching them.

use ipvm_core::Limits;

use crate::abi::{CoreTy, Guest};
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
    /// also returns the fuel the start function used.
    fn instantiate(
        &self,
        module: &Self::Module,
        world: Option<&WitWorld>,
        limits: Limits,
    ) -> Result<Self::Instance, (ExecError, u64)>;
}

/// An instantiated module: calls and memory (through [`Guest`]), its exports,
/// and what the run cost.
pub trait Instance: Guest {
    /// The exported functions and their core parameter types.
    fn exports(&self) -> Vec<(String, Vec<CoreTy>)>;
    /// Ends the instance: fuel used, and what host functions did.
    fn finish(self) -> (u64, HostEffects);
}
