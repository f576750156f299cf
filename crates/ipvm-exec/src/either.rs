//! [`Either`]: two engines behind one. A fast engine (the browser's own)
//! runs what it accepts; a reference engine (wasmi) runs the rest, re-runs
//! what the fast one could not decide, and runs whatever a caller asks it
//! for by name. Both run the same metered module, so the choice changes
//! nothing in a receipt. Names no engine.
//!
//! **Whether a module compiles is the reference engine's answer**, on every
//! platform: it is the engine every runtime has (a native node has no
//! other). So the reference engine compiles every module, eagerly: a module
//! it refuses is a `compile` error here too, with its message, even if the
//! fast engine accepted it; a module only the fast engine refuses runs on
//! the reference engine. The rewriter's validator refuses first what either
//! engine is known to refuse (`meter::MAX_*`); this rule holds for what it
//! did not foresee.

use std::future::Future;

use ipvm_core::Limits;

use crate::abi::{CoreVal, Guest, GuestMemory, MemoryView};
use crate::engine::{Engine, Instance, Pacer, Prefer};
use crate::host::HostEffects;
use crate::meter::Metered;
use crate::wit::WitWorld;
use crate::ExecError;

/// A fast engine and a reference engine, and which one runs by default.
pub struct Either<F, R> {
    /// Runs what it accepts, when it is preferred.
    pub fast: F,
    /// Runs the rest, and decides whether a module compiles.
    pub reference: R,
    /// What [`Prefer::Default`] means here: [`Prefer::Fast`] (`auto`) or
    /// [`Prefer::Reference`] (`wasmi`).
    pub default: Prefer,
}

/// A module compiled by the reference engine, and by the fast engine if it
/// accepted it.
#[derive(Clone)]
pub struct EitherModule<F, R> {
    fast: Option<F>,
    reference: R,
}

impl<F: Engine, R: Engine> Engine for Either<F, R> {
    type Module = EitherModule<F::Module, R::Module>;
    type Instance = EitherInstance<F::Instance, R::Instance>;

    async fn compile(&self, name: &str, metered: &Metered) -> Result<Self::Module, ExecError> {
        // Both at once: the fast engine's compile is started first (the
        // browser compiles in the background while wasmi compiles here).
        // The reference engine's refusal is the module's, whatever the fast
        // engine says; the fast engine's alone only means it is not used.
        let (fast, reference) = futures::join!(
            self.fast.compile(name, metered),
            self.reference.compile(name, metered)
        );
        Ok(EitherModule {
            fast: fast.ok(),
            reference: reference?,
        })
    }

    fn instantiate(
        &self,
        module: &Self::Module,
        world: Option<&WitWorld>,
        limits: Limits,
        prefer: Prefer,
    ) -> impl Future<Output = Result<Self::Instance, ExecError>> {
        let prefer = match prefer {
            Prefer::Default => self.default,
            p => p,
        };
        async move {
            if let (Prefer::Fast, Some(fast)) = (prefer, &module.fast) {
                return self
                    .fast
                    .instantiate(fast, world, limits, prefer)
                    .await
                    .map(EitherInstance::Fast);
            }
            self.reference
                .instantiate(&module.reference, world, limits, prefer)
                .await
                .map(EitherInstance::Reference)
        }
    }
}

/// An instance on one engine or the other.
pub enum EitherInstance<F, R> {
    /// On the fast engine.
    Fast(F),
    /// On the reference engine.
    Reference(R),
}

impl<F: GuestMemory, R: GuestMemory> GuestMemory for EitherInstance<F, R> {
    fn view(&self) -> Result<Box<dyn MemoryView + '_>, ExecError> {
        match self {
            Self::Fast(g) => g.view(),
            Self::Reference(g) => g.view(),
        }
    }
    fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<bool, ExecError> {
        match self {
            Self::Fast(g) => g.write(ptr, bytes),
            Self::Reference(g) => g.write(ptr, bytes),
        }
    }
    fn realloc(&mut self, align: u32, size: u32) -> Result<u32, ExecError> {
        match self {
            Self::Fast(g) => g.realloc(align, size),
            Self::Reference(g) => g.realloc(align, size),
        }
    }
}

impl<F: Guest, R: Guest> Guest for EitherInstance<F, R> {
    fn call(&mut self, export: &str, args: &[CoreVal]) -> Result<Vec<CoreVal>, ExecError> {
        match self {
            Self::Fast(g) => g.call(export, args),
            Self::Reference(g) => g.call(export, args),
        }
    }
    fn has_export(&self, name: &str) -> bool {
        match self {
            Self::Fast(g) => g.has_export(name),
            Self::Reference(g) => g.has_export(name),
        }
    }
}

impl<F: Instance, R: Instance> Instance for EitherInstance<F, R> {
    async fn call_paced<P: Pacer>(
        &mut self,
        export: &str,
        args: &[CoreVal],
        pacer: &P,
    ) -> Result<Vec<CoreVal>, ExecError> {
        match self {
            Self::Fast(g) => g.call_paced(export, args, pacer).await,
            Self::Reference(g) => g.call_paced(export, args, pacer).await,
        }
    }
    fn finish(self) -> (u64, HostEffects) {
        match self {
            Self::Fast(g) => g.finish(),
            Self::Reference(g) => g.finish(),
        }
    }
    fn engine(&self) -> &'static str {
        match self {
            Self::Fast(g) => g.engine(),
            Self::Reference(g) => g.engine(),
        }
    }
}
