//! wasmi behind the [`Engine`] and [`Guest`] traits: instantiation with
//! host functions and store limits, and calls run in fuel slices so that the
//! wall clock can be checked, and a [`Pacer`] awaited, between them. The only module that names wasmi.

use futures::FutureExt;
use ipvm_core::Limits;
use wasmi::errors::ErrorKind;
use wasmi::{
    Caller, CompilationMode, Config, Engine, Extern, FuncType, Instance, Linker, Memory, Module,
    ResumableCall, Store, StoreLimits, StoreLimitsBuilder, TrapCode, Val, ValType,
};
use web_time::Instant;

use crate::abi::{self, CoreTy, CoreVal, Guest, GuestMemory};
use crate::engine::{Engine as EngineTrait, Instance as InstanceTrait, InstantiateError, Pacer};
use crate::host::{self, HostEffects};
use crate::wit::WitWorld;
use crate::ExecError;

/// Fuel given to the guest per slice, unless the pacer asks for another
/// size; the clock is checked between slices. The fuel a task uses does not
/// depend on the slice size: an instruction runs only when its whole cost fits.
pub const FUEL_SLICE: u64 = 20_000_000;

/// The most fuel a module's start function may use: it runs inside
/// instantiation, which cannot be paused, so neither the clock nor a cancel
/// is checked while it runs. Beyond this it ends in `out_of_fuel` (limit:
/// the smaller of this and the task's budget). The same on every platform.
pub const MAX_START_FUEL: u64 = 20_000_000;

/// Maximum nesting of Wasm calls before a task fails with a stack overflow.
const MAX_RECURSION_DEPTH: usize = 4096;

/// wasmi, configured for deterministic, metered execution: fuel on, eager
/// validation and compilation, bounded recursion.
#[derive(Clone)]
pub struct WasmiEngine {
    engine: Engine,
}

impl Default for WasmiEngine {
    fn default() -> Self {
        let mut config = Config::default();
        config
            .consume_fuel(true)
            .compilation_mode(CompilationMode::Eager)
            .set_max_recursion_depth(MAX_RECURSION_DEPTH);
        Self {
            engine: Engine::new(&config),
        }
    }
}

impl EngineTrait for WasmiEngine {
    type Module = Module;
    type Instance = WasmiGuest;

    fn compile(&self, name: &str, bytes: &[u8]) -> Result<Module, ExecError> {
        Module::new(&self.engine, bytes).map_err(|e| ExecError::Compile {
            cid: name.into(),
            reason: e.to_string(),
        })
    }

    fn instantiate(
        &self,
        module: &Module,
        world: Option<&WitWorld>,
        limits: Limits,
    ) -> Result<WasmiGuest, InstantiateError> {
        WasmiGuest::new(&self.engine, module, world, limits)
    }
}

/// What the store carries for host functions.
pub(crate) struct HostState {
    limits: StoreLimits,
    effects: HostEffects,
    /// Fuel host calls charged beyond what their slice had left.
    debt: u64,
}

/// Counts fuel across slices and calls.
struct Meter {
    budget: u64,
    used: u64,
    given: u64,
    overdrawn: bool,
}

impl Meter {
    fn left(&self) -> u64 {
        self.budget - self.used
    }

    /// The error once host calls charged more than the budget had left.
    fn overdrawn(&self) -> Result<(), ExecError> {
        match self.overdrawn {
            true => Err(ExecError::OutOfFuel {
                used: self.used,
                limit: self.budget,
            }),
            false => Ok(()),
        }
    }

    fn refill(&mut self, store: &mut Store<HostState>, slice: u64) -> Result<(), ExecError> {
        self.given = slice.max(1).min(self.left());
        store
            .set_fuel(self.given)
            .map_err(|e| ExecError::Instantiate(format!("fuel metering is off: {e}")))
    }

    fn settle(&mut self, store: &mut Store<HostState>) -> u64 {
        let remaining = store.get_fuel().unwrap_or(0);
        let debt = std::mem::take(&mut store.data_mut().debt);
        self.used += self.given.saturating_sub(remaining) + debt;
        if self.used > self.budget {
            // A host call's charge went past the budget: the task used it all.
            self.used = self.budget;
            self.overdrawn = true;
        }
        self.given = remaining;
        self.used
    }
}

/// One wasmi instance of a module, with its limits.
pub struct WasmiGuest {
    store: Store<HostState>,
    instance: Instance,
    memory: Option<Memory>,
    meter: Meter,
    started: Instant,
    limits: Limits,
}

fn to_core(v: &Val) -> CoreVal {
    match v {
        Val::I32(x) => CoreVal::I32(*x),
        Val::I64(x) => CoreVal::I64(*x),
        Val::F32(x) => CoreVal::F32(x.to_bits()),
        Val::F64(x) => CoreVal::F64(x.to_bits()),
        _ => CoreVal::I32(0),
    }
}

fn from_core(v: CoreVal) -> Val {
    match v {
        CoreVal::I32(x) => Val::I32(x),
        CoreVal::I64(x) => Val::I64(x),
        CoreVal::F32(b) => Val::F32(wasmi::F32::from_bits(b)),
        CoreVal::F64(b) => Val::F64(wasmi::F64::from_bits(b)),
    }
}

fn val_type(t: CoreTy) -> ValType {
    match t {
        CoreTy::I32 => ValType::I32,
        CoreTy::I64 => ValType::I64,
        CoreTy::F32 => ValType::F32,
        CoreTy::F64 => ValType::F64,
    }
}

/// Linear memory as seen from inside a host function.
struct HostMemory<'a>(&'a mut [u8]);

impl GuestMemory for HostMemory<'_> {
    fn memory(&self) -> Result<&[u8], ExecError> {
        Ok(self.0)
    }
    fn memory_mut(&mut self) -> Result<&mut [u8], ExecError> {
        Ok(self.0)
    }
    fn realloc(&mut self, _: u32, _: u32) -> Result<u32, ExecError> {
        Err(ExecError::Abi(
            "host functions cannot return strings or lists".into(),
        ))
    }
}

fn host_error(e: ExecError) -> wasmi::Error {
    wasmi::Error::new(format!("host function: {e}"))
}

/// Charges a host call's fuel to the running slice. What the slice cannot
/// cover becomes a debt: the slice ends at the guest's next instruction, and
/// the debt is counted when the meter settles, so a host call costs the same
/// fuel wherever a slice happens to end.
fn charge(caller: &mut Caller<'_, HostState>, fuel: u64) -> Result<(), wasmi::Error> {
    let left = caller.get_fuel()?;
    if left >= fuel {
        caller.set_fuel(left - fuel)
    } else {
        caller.data_mut().debt += fuel - left;
        caller.set_fuel(0)
    }
}

fn link_host_functions(
    linker: &mut Linker<HostState>,
    module: &Module,
    world: Option<&WitWorld>,
) -> Result<(), ExecError> {
    for import in module.imports() {
        let (m, n) = (import.module(), import.name());
        let unknown = || ExecError::UnknownImport(format!("{m}.{n}"));
        let f = host::lookup(m, n).ok_or_else(unknown)?;
        let sig = world
            .and_then(|w| w.import(m, n))
            .cloned()
            .ok_or_else(unknown)?;
        let (params, results) = abi::import_signature(&sig);
        let ty = FuncType::new(
            params.into_iter().map(val_type),
            results.into_iter().map(val_type),
        );
        linker
            .func_new(
                m,
                n,
                ty,
                move |mut caller: Caller<'_, HostState>, params: &[Val], results: &mut [Val]| {
                    let core: Vec<CoreVal> = params.iter().map(to_core).collect();
                    let memory = caller
                        .get_export("memory")
                        .and_then(Extern::into_memory)
                        .ok_or_else(|| {
                            host_error(ExecError::Abi("the module exports no memory".into()))
                        })?;
                    let args =
                        abi::import_args(memory.data(&caller), &sig, &core).map_err(host_error)?;
                    charge(&mut caller, host::call_fuel(&args))?;
                    let value = host::call(f, &sig, &args, &mut caller.data_mut().effects)
                        .map_err(host_error)?;
                    let out = abi::import_result(
                        &mut HostMemory(memory.data_mut(&mut caller)),
                        &sig,
                        &core,
                        value.as_ref(),
                    )
                    .map_err(host_error)?;
                    for (slot, v) in results.iter_mut().zip(out) {
                        *slot = from_core(v);
                    }
                    Ok(())
                },
            )
            .map_err(|e| ExecError::Instantiate(e.to_string()))?;
    }
    Ok(())
}

impl WasmiGuest {
    /// Instantiates `module` under `limits`. On failure, also returns the fuel used.
    fn new(
        engine: &Engine,
        module: &Module,
        world: Option<&WitWorld>,
        limits: Limits,
    ) -> Result<Self, InstantiateError> {
        let memory_limit = usize::try_from(limits.memory_bytes()).unwrap_or(usize::MAX);
        let store_limits = StoreLimitsBuilder::new()
            .memory_size(memory_limit)
            .memories(1)
            .tables(4)
            .table_elements(100_000)
            .instances(1)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(
            engine,
            HostState {
                limits: store_limits,
                effects: HostEffects::default(),
                debt: 0,
            },
        );
        store.limiter(|s| &mut s.limits);
        let mut meter = Meter {
            budget: limits.fuel_budget(),
            used: 0,
            given: 0,
            overdrawn: false,
        };
        let mut linker = Linker::<HostState>::new(engine);
        link_host_functions(&mut linker, module, world)?;
        // The start function cannot be paused: it gets one bounded slice,
        // the same on every platform, and its fuel counts like any other.
        meter.refill(&mut store, MAX_START_FUEL)?;
        let started = Instant::now();
        let instance = match linker.instantiate_and_start(&mut store, module) {
            Ok(i) => {
                meter.settle(&mut store);
                if let Err(error) = meter.overdrawn() {
                    return Err(InstantiateError {
                        error,
                        fuel: meter.used,
                        effects: store.into_data().effects,
                    });
                }
                i
            }
            Err(e) => {
                let fuel = meter.settle(&mut store);
                let error = match classify(&e, &limits, &meter) {
                    // The start function's own bound may be what applied.
                    Some(ExecError::OutOfFuel { used, limit }) => ExecError::OutOfFuel {
                        used,
                        limit: limit.min(MAX_START_FUEL),
                    },
                    Some(other) => other,
                    None => ExecError::Instantiate(e.to_string()),
                };
                return Err(InstantiateError {
                    error,
                    fuel,
                    effects: store.into_data().effects,
                });
            }
        };
        let memory = instance.get_memory(&store, "memory");
        Ok(Self {
            store,
            instance,
            memory,
            meter,
            started,
            limits,
        })
    }

    fn time_left(&self) -> bool {
        (self.started.elapsed().as_millis() as u64) < self.limits.time_ms()
    }
}

impl InstanceTrait for WasmiGuest {
    fn exports(&self) -> Vec<(String, Vec<CoreTy>)> {
        self.instance
            .exports(&self.store)
            .filter_map(|e| {
                let name = e.name().to_string();
                let f = e.into_func()?;
                let params = f
                    .ty(&self.store)
                    .params()
                    .iter()
                    .filter_map(|t| core_ty(*t))
                    .collect();
                Some((name, params))
            })
            .collect()
    }

    /// Calls `export` in fuel slices. Between slices: the fuel budget and the
    /// clock are checked, then `pacer` is awaited.
    async fn call_paced<P: Pacer>(
        &mut self,
        export: &str,
        args: &[CoreVal],
        pacer: &P,
    ) -> Result<Vec<CoreVal>, ExecError> {
        let func = self.instance.get_func(&self.store, export).ok_or_else(|| {
            ExecError::NoSuchFunction {
                func: export.into(),
                tried: export.into(),
            }
        })?;
        let ty = func.ty(&self.store);
        if ty.params().len() != args.len() {
            return Err(ExecError::Abi(format!(
                "`{export}` takes {} core values, {} given",
                ty.params().len(),
                args.len()
            )));
        }
        let params: Vec<Val> = args.iter().copied().map(from_core).collect();
        let mut results: Vec<Val> = ty
            .results()
            .iter()
            .map(|t| Val::default_for_ty(*t))
            .collect();
        self.meter.refill(&mut self.store, pacer.fuel_slice())?;
        let mut state = func.call_resumable(&mut self.store, &params, &mut results);
        loop {
            match state {
                Ok(ResumableCall::Finished) => break,
                Ok(ResumableCall::OutOfFuel(call)) => {
                    self.meter.settle(&mut self.store);
                    if self.meter.left() < call.required_fuel().max(1) {
                        return Err(ExecError::OutOfFuel {
                            used: self.meter.used,
                            limit: self.meter.budget,
                        });
                    }
                    if !self.time_left() {
                        return Err(ExecError::TimeLimit {
                            limit_ms: self.limits.time_ms(),
                        });
                    }
                    pacer.between_slices().await?;
                    // wasmi charges a whole basic block up front: a slice
                    // smaller than that block would never let it run.
                    let slice = pacer.fuel_slice().max(call.required_fuel());
                    self.meter.refill(&mut self.store, slice)?;
                    state = call.resume(&mut self.store, &mut results);
                }
                Ok(ResumableCall::HostTrap(trap)) => {
                    return Err(ExecError::Trap(trap.host_error().to_string()))
                }
                Err(e) => {
                    self.meter.settle(&mut self.store);
                    return Err(classify(&e, &self.limits, &self.meter)
                        .unwrap_or_else(|| ExecError::Trap(e.to_string())));
                }
            }
        }
        self.meter.settle(&mut self.store);
        self.meter.overdrawn()?;
        Ok(results.iter().map(to_core).collect())
    }

    fn finish(mut self) -> (u64, HostEffects) {
        let used = self.meter.settle(&mut self.store);
        (used, self.store.into_data().effects)
    }
}

fn core_ty(t: ValType) -> Option<CoreTy> {
    Some(match t {
        ValType::I32 => CoreTy::I32,
        ValType::I64 => CoreTy::I64,
        ValType::F32 => CoreTy::F32,
        ValType::F64 => CoreTy::F64,
        _ => return None,
    })
}

impl GuestMemory for WasmiGuest {
    fn memory(&self) -> Result<&[u8], ExecError> {
        let m = self
            .memory
            .ok_or_else(|| ExecError::Abi("the module exports no memory".into()))?;
        Ok(m.data(&self.store))
    }

    fn memory_mut(&mut self) -> Result<&mut [u8], ExecError> {
        let m = self
            .memory
            .ok_or_else(|| ExecError::Abi("the module exports no memory".into()))?;
        Ok(m.data_mut(&mut self.store))
    }

    fn realloc(&mut self, align: u32, size: u32) -> Result<u32, ExecError> {
        if !self.has_export("cabi_realloc") {
            return Err(ExecError::Abi(
                "the module must export cabi_realloc to receive strings or lists".into(),
            ));
        }
        let out = self.call(
            "cabi_realloc",
            &[
                CoreVal::I32(0),
                CoreVal::I32(0),
                CoreVal::I32(align as i32),
                CoreVal::I32(size as i32),
            ],
        )?;
        match out.as_slice() {
            [CoreVal::I32(p)] => Ok(*p as u32),
            _ => Err(ExecError::Abi("cabi_realloc must return one i32".into())),
        }
    }
}

impl Guest for WasmiGuest {
    fn has_export(&self, name: &str) -> bool {
        self.instance.get_func(&self.store, name).is_some()
    }

    fn call(&mut self, export: &str, args: &[CoreVal]) -> Result<Vec<CoreVal>, ExecError> {
        // With the no-op pacer the call never waits, so it completes in one poll.
        self.call_paced(export, args, &())
            .now_or_never()
            .unwrap_or_else(|| Err(ExecError::Abi("a synchronous call was suspended".into())))
    }
}

/// Maps wasmi errors that mean "a limit was hit" or "the guest trapped".
fn classify(e: &wasmi::Error, limits: &Limits, meter: &Meter) -> Option<ExecError> {
    let text = e.to_string();
    match e.kind() {
        ErrorKind::Memory(_) | ErrorKind::Table(_)
            if text.contains("limit") || text.contains("grow") || text.contains("alloc") =>
        {
            return Some(ExecError::MemoryLimit {
                limit: limits.memory_bytes(),
            })
        }
        ErrorKind::Instantiation(_) => return Some(ExecError::Instantiate(text)),
        ErrorKind::Host(_) | ErrorKind::Message(_) => return Some(ExecError::Trap(text)),
        _ => {}
    }
    match e.as_trap_code()? {
        TrapCode::OutOfFuel => Some(ExecError::OutOfFuel {
            used: meter.used,
            limit: meter.budget,
        }),
        TrapCode::StackOverflow => Some(ExecError::StackOverflow),
        TrapCode::GrowthOperationLimited => Some(ExecError::MemoryLimit {
            limit: limits.memory_bytes(),
        }),
        code => Some(ExecError::Trap(code.to_string())),
    }
}
