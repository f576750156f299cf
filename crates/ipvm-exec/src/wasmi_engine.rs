//! wasmi behind the [`Engine`] and [`Guest`] traits: the reference engine.
//! It runs metered modules ([`crate::meter`]), whose own counter is the
//! task's fuel; wasmi's fuel only cuts calls into slices, so that the wall
//! clock can be checked, and a [`Pacer`] awaited (a cancel seen), between
//! them. The only module that names wasmi.

use futures::FutureExt;
use ipvm_core::Limits;
use wasmi::errors::ErrorKind;
use wasmi::{
    AsContext, AsContextMut, Caller, CompilationMode, Config, Engine, Extern, FuncType, Global,
    Instance, Linker, Memory, Module, ResumableCall, Store, StoreLimits, StoreLimitsBuilder,
    TrapCode, Val, ValType,
};
use web_time::Instant;

use crate::abi::{self, CoreTy, CoreVal, Guest, GuestMemory, MemoryView};
use crate::engine::{Engine as EngineTrait, Instance as InstanceTrait, Pacer, Prefer};
use crate::error::Trap;
use crate::host::{self, HostContext, HostEffects};
use crate::meter::{self, Metered};
use crate::wit::WitWorld;
use crate::ExecError;

/// wasmi instructions run per slice (wasmi's own fuel, used only to pause
/// the call, never for receipts), unless the pacer asks for another size;
/// the clock is checked and the pacer awaited between slices.
pub const FUEL_SLICE: u64 = 20_000_000;

/// The most cells (8 bytes each) a frame of a metered function takes on
/// wasmi's value stack: wasmi counts params and locals twice (their slots
/// and its registry of them), then the operand stack; the metered function
/// has 4 locals more than the original, and a taller stack. 16 spare.
const MAX_FRAME_CELLS: usize = 2 * (meter::MAX_PARAMS as usize + meter::MAX_LOCALS as usize + 4)
    + meter::MAX_STACK_HEIGHT as usize
    + meter::INJECTED_STACK_HEIGHT as usize
    + 16;

/// Bytes of wasmi's value stack: enough for the frames of every call wasmi
/// allows ([`meter::MAX_DEPTH`] and 64 more) at the largest frame a module
/// may have, so that the injected depth counter, not wasmi's own stack,
/// ends deep recursion (about 102 MiB, allocated as a call needs it).
const MAX_STACK_BYTES: usize = (meter::MAX_DEPTH as usize + 64) * MAX_FRAME_CELLS * 8;

/// wasmi, configured to run metered modules: its own fuel on (to pause
/// calls between slices), eager validation and compilation, and its own
/// recursion and stack bounds above those the metered module enforces.
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
            .set_max_recursion_depth(meter::MAX_DEPTH as usize + 64)
            .set_max_stack_height(MAX_STACK_BYTES);
        Self {
            engine: Engine::new(&config),
        }
    }
}

impl EngineTrait for WasmiEngine {
    type Module = Module;
    type Instance = WasmiGuest;

    async fn compile(&self, name: &str, metered: &Metered) -> Result<Module, ExecError> {
        Module::new(&self.engine, &metered.bytes).map_err(|e| ExecError::Compile {
            cid: name.into(),
            reason: e.to_string(),
        })
    }

    async fn instantiate(
        &self,
        module: &Module,
        world: Option<&WitWorld>,
        limits: Limits,
        _: Prefer,
    ) -> Result<WasmiGuest, ExecError> {
        WasmiGuest::new(&self.engine, module, world, limits)
    }
}

/// What the store carries for host functions.
pub(crate) struct HostState {
    store_limits: StoreLimits,
    limits: Limits,
    effects: HostEffects,
    /// The error a host function or the metering trap ended the call with.
    pending: Option<ExecError>,
}

/// One wasmi instance of a metered module, with its limits.
pub struct WasmiGuest {
    store: Store<HostState>,
    instance: Instance,
    memory: Option<Memory>,
    fuel: Global,
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

/// A host call's view of its caller: memory, fuel counter, effects.
struct CallerContext<'a, 'b> {
    caller: &'a mut Caller<'b, HostState>,
    memory: Memory,
    fuel: Global,
}

impl GuestMemory for CallerContext<'_, '_> {
    fn view(&self) -> Result<Box<dyn MemoryView + '_>, ExecError> {
        Ok(Box::new(self.memory.data(&*self.caller)))
    }
    fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<bool, ExecError> {
        Ok(write_slice(
            self.memory.data_mut(&mut *self.caller),
            ptr,
            bytes,
        ))
    }
    fn realloc(&mut self, _: u32, _: u32) -> Result<u32, ExecError> {
        Err(ExecError::Abi(
            "host functions cannot return strings or lists".into(),
        ))
    }
}

impl HostContext for CallerContext<'_, '_> {
    fn charge(&mut self, fuel: u64) -> Result<(), ExecError> {
        let left = fuel_left(&*self.caller, self.fuel);
        let left = meter::charge(left, fuel, &self.caller.data().limits)?;
        // The slice pays for the host's work too, so that a task of costly
        // host calls reaches its next pause (and clock check) as soon.
        if let Ok(slice) = self.caller.get_fuel() {
            let _ = self.caller.set_fuel(slice.saturating_sub(fuel));
        }
        set_fuel(&mut *self.caller, self.fuel, left)
    }
    fn effects(&mut self) -> &mut HostEffects {
        &mut self.caller.data_mut().effects
    }
}

fn write_slice(mem: &mut [u8], ptr: u32, bytes: &[u8]) -> bool {
    let start = ptr as usize;
    match start
        .checked_add(bytes.len())
        .and_then(|end| mem.get_mut(start..end))
    {
        Some(dst) => {
            dst.copy_from_slice(bytes);
            true
        }
        None => false,
    }
}

fn fuel_left(store: impl AsContext, fuel: Global) -> u64 {
    match fuel.get(store) {
        Val::I64(left) => left as u64,
        _ => 0,
    }
}

fn set_fuel(store: impl AsContextMut, fuel: Global, left: u64) -> Result<(), ExecError> {
    fuel.set(store, Val::I64(left as i64))
        .map_err(|e| ExecError::Instantiate(format!("the fuel counter cannot be set: {e}")))
}

/// Ends the call with `error`: kept in the store, and read back by
/// [`WasmiGuest::failed`] when the call returns.
fn fail(caller: &mut Caller<'_, HostState>, error: ExecError) -> wasmi::Error {
    let text = error.to_string();
    caller.data_mut().pending = Some(error);
    wasmi::Error::new(text)
}

fn link_host_functions(
    linker: &mut Linker<HostState>,
    module: &Module,
    world: Option<&WitWorld>,
) -> Result<(), ExecError> {
    let mut linked = std::collections::HashSet::new();
    for import in module.imports() {
        let (m, n) = (import.module(), import.name());
        // A module may import the same function twice; it is linked once.
        if !linked.insert((m.to_string(), n.to_string())) {
            continue;
        }
        if (m, n) == (meter::METER_MODULE, meter::TRAP_IMPORT) {
            linker
                .func_wrap(
                    m,
                    n,
                    |mut caller: Caller<'_, HostState>,
                     code: i32,
                     _: i64|
                     -> Result<(), wasmi::Error> {
                        let left = caller
                            .get_export(meter::FUEL_EXPORT)
                            .and_then(Extern::into_global)
                            .map_or(0, |g| fuel_left(&caller, g));
                        let error = meter::trap_error(code, left, &caller.data().limits);
                        Err(fail(&mut caller, error))
                    },
                )
                .map_err(|e| ExecError::Instantiate(e.to_string()))?;
            continue;
        }
        let (f, sig) = host::provided(m, n, world)?;
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
                    let memory = caller.get_export("memory").and_then(Extern::into_memory);
                    let fuel = caller
                        .get_export(meter::FUEL_EXPORT)
                        .and_then(Extern::into_global);
                    let (Some(memory), Some(fuel)) = (memory, fuel) else {
                        let e = ExecError::Abi("the module exports no memory".into());
                        return Err(fail(&mut caller, e));
                    };
                    let mut cx = CallerContext {
                        caller: &mut caller,
                        memory,
                        fuel,
                    };
                    match host::import(f, &sig, &core, &mut cx) {
                        Ok(out) => {
                            for (slot, v) in results.iter_mut().zip(out) {
                                *slot = from_core(v);
                            }
                            Ok(())
                        }
                        Err(e) => Err(fail(&mut caller, e)),
                    }
                },
            )
            .map_err(|e| ExecError::Instantiate(e.to_string()))?;
    }
    Ok(())
}

impl WasmiGuest {
    /// Instantiates `module` under `limits`, its fuel counter set to the
    /// budget. The metered module has no start section: nothing runs yet.
    fn new(
        engine: &Engine,
        module: &Module,
        world: Option<&WitWorld>,
        limits: Limits,
    ) -> Result<Self, ExecError> {
        let memory_limit = usize::try_from(limits.memory_bytes()).unwrap_or(usize::MAX);
        // A safety net: the metered module checks these limits itself first.
        let store_limits = StoreLimitsBuilder::new()
            .memory_size(memory_limit)
            .memories(1)
            .tables(meter::MAX_TABLES)
            .table_elements(meter::MAX_TABLE_ELEMENTS as usize)
            .instances(1)
            .build();
        let mut store = Store::new(
            engine,
            HostState {
                store_limits,
                limits,
                effects: HostEffects::default(),
                pending: None,
            },
        );
        store.limiter(|s| &mut s.store_limits);
        let mut linker = Linker::<HostState>::new(engine);
        link_host_functions(&mut linker, module, world)?;
        // Imports are linked and limits checked: what is left to fail is an
        // active segment that does not fit (the metered module has no start).
        let instance = linker
            .instantiate_and_start(&mut store, module)
            .map_err(|_| ExecError::Instantiate(meter::SEGMENT_MESSAGE.into()))?;
        let global = |name: &str| {
            instance.get_global(&store, name).ok_or_else(|| {
                ExecError::Instantiate(format!("the module is not metered (no `{name}`)"))
            })
        };
        let fuel = global(meter::FUEL_EXPORT)?;
        let pages = global(meter::MEMORY_PAGES_EXPORT)?;
        set_fuel(&mut store, fuel, limits.fuel_budget())?;
        pages
            .set(&mut store, Val::I64(meter::memory_pages(&limits) as i64))
            .map_err(|e| ExecError::Instantiate(e.to_string()))?;
        let memory = instance.get_memory(&store, "memory");
        Ok(Self {
            store,
            instance,
            memory,
            fuel,
            started: Instant::now(),
            limits,
        })
    }

    fn time_left(&self) -> bool {
        (self.started.elapsed().as_millis() as u64) < self.limits.time_ms()
    }

    /// The error a call ended with: the one a host function or the metering
    /// trap left, or the trap wasmi reports.
    fn failed(&mut self, e: &wasmi::Error) -> ExecError {
        self.store
            .data_mut()
            .pending
            .take()
            .or_else(|| classify(e))
            .unwrap_or_else(|| ExecError::Trap(e.to_string()))
    }
}

impl InstanceTrait for WasmiGuest {
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
                exports: String::new(),
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
        self.store
            .set_fuel(pacer.fuel_slice().max(1))
            .map_err(|e| ExecError::Instantiate(format!("fuel metering is off: {e}")))?;
        let mut state = func.call_resumable(&mut self.store, &params, &mut results);
        loop {
            match state {
                Ok(ResumableCall::Finished) => break,
                // wasmi's own fuel only paces the call: the task's fuel is
                // the metered module's counter.
                Ok(ResumableCall::OutOfFuel(call)) => {
                    if !self.time_left() {
                        return Err(ExecError::TimeLimit {
                            limit_ms: self.limits.time_ms(),
                        });
                    }
                    pacer.between_slices().await?;
                    let slice = pacer.fuel_slice().max(call.required_fuel());
                    self.store.set_fuel(slice).map_err(|e| {
                        ExecError::Instantiate(format!("fuel metering is off: {e}"))
                    })?;
                    state = call.resume(&mut self.store, &mut results);
                }
                Ok(ResumableCall::HostTrap(trap)) => {
                    let e = wasmi::Error::new(trap.host_error().to_string());
                    return Err(self.failed(&e));
                }
                Err(e) => return Err(self.failed(&e)),
            }
        }
        Ok(results.iter().map(to_core).collect())
    }

    fn finish(self) -> (u64, HostEffects) {
        let left = fuel_left(&self.store, self.fuel);
        let used = meter::used(left, &self.limits);
        (used, self.store.into_data().effects)
    }

    fn engine(&self) -> &'static str {
        "wasmi"
    }
}

impl GuestMemory for WasmiGuest {
    fn view(&self) -> Result<Box<dyn MemoryView + '_>, ExecError> {
        let m = self
            .memory
            .ok_or_else(|| ExecError::Abi("the module exports no memory".into()))?;
        Ok(Box::new(m.data(&self.store)))
    }

    fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<bool, ExecError> {
        let m = self
            .memory
            .ok_or_else(|| ExecError::Abi("the module exports no memory".into()))?;
        Ok(write_slice(m.data_mut(&mut self.store), ptr, bytes))
    }

    fn realloc(&mut self, align: u32, size: u32) -> Result<u32, ExecError> {
        abi::call_realloc(self, align, size)
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

/// Maps a wasmi trap to the error every engine gives for it.
fn classify(e: &wasmi::Error) -> Option<ExecError> {
    if let ErrorKind::Instantiation(_) = e.kind() {
        return Some(ExecError::Instantiate(e.to_string()));
    }
    Some(match e.as_trap_code()? {
        TrapCode::UnreachableCodeReached => Trap::Unreachable.error(),
        TrapCode::MemoryOutOfBounds => Trap::MemoryOutOfBounds.error(),
        TrapCode::TableOutOfBounds => Trap::TableOutOfBounds.error(),
        TrapCode::IndirectCallToNull | TrapCode::BadSignature => Trap::IndirectCall.error(),
        TrapCode::IntegerDivisionByZero => Trap::DivisionByZero.error(),
        TrapCode::IntegerOverflow => Trap::IntegerOverflow.error(),
        TrapCode::BadConversionToInteger => Trap::BadConversion.error(),
        // The metered module's own depth counter binds first.
        TrapCode::StackOverflow => ExecError::StackOverflow,
        code => ExecError::Trap(code.to_string()),
    })
}
