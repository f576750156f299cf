//! [`Either`]: two engines behind one. A fast engine (the browser's own)
//! runs what it accepts; a reference engine (wasmi) runs the rest, re-runs
//! what the fast one could not decide, and runs whatever a caller asks it
//! for by name. Both run the same metered module, so the choice changes
//! nothing in a receipt. Names no engine.

use std::cell::OnceCell;
use std::future::Future;
use std::rc::Rc;

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
    /// Runs the rest.
    pub reference: R,
    /// What [`Prefer::Default`] means here: [`Prefer::Fast`] (`auto`) or
    /// [`Prefer::Reference`] (`wasmi`).
    pub default: Prefer,
}

/// A module compiled by the fast engine (if it accepted it), and by the
/// reference engine when it is first needed.
pub struct EitherModule<F, R> {
    fast: Option<F>,
    reference: Rc<OnceCell<R>>,
    metered: Rc<Metered>,
}

impl<F: Clone, R> Clone for EitherModule<F, R> {
    fn clone(&self) -> Self {
        Self {
            fast: self.fast.clone(),
            reference: self.reference.clone(),
            metered: self.metered.clone(),
        }
    }
}

impl<F: Engine, R: Engine> Engine for Either<F, R> {
    type Module = EitherModule<F::Module, R::Module>;
    type Instance = EitherInstance<F::Instance, R::Instance>;

    async fn compile(&self, name: &str, metered: &Metered) -> Result<Self::Module, ExecError> {
        let fast = self.fast.compile(name, metered).await;
        let reference = Rc::new(OnceCell::new());
        let fast = match fast {
            Ok(m) => Some(m),
            // The fast engine refused the metered module: the reference
            // engine decides whether the module compiles.
            Err(_) => {
                let _ = reference.set(self.reference.compile(name, metered).await?);
                None
            }
        };
        Ok(EitherModule {
            fast,
            reference,
            metered: Rc::new(Metered {
                bytes: metered.bytes.clone(),
                ..metered.clone()
            }),
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
            let compiled = match module.reference.get() {
                Some(m) => m.clone(),
                None => {
                    let m = self.reference.compile("module", &module.metered).await?;
                    let _ = module.reference.set(m.clone());
                    m
                }
            };
            self.reference
                .instantiate(&compiled, world, limits, prefer)
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
