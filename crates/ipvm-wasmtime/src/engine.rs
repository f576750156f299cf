//! [`WasmtimeEngine`]: wasmtime behind the executor's engine traits, and
//! [`engines`], the native node's pair (wasmtime fast, wasmi reference).
//! The only module that names wasmtime.
//!
//! What differs from wasmi: a call cannot pause between fuel slices (the
//! native pacer never pauses anyway), the clock is an epoch deadline set at
//! instantiation, and every call runs on a thread of its own with a stack of
//! [`CALL_STACK_BYTES`], so that the injected depth counter, not the
//! thread's stack, ends deep recursion, whichever thread the task runs on.
//! A trap wasmtime cannot map to the common error (its own stack overflow
//! the depth counter did not foresee, anything unknown) is `Inconclusive`:
//! the task runs again on wasmi.

use std::collections::HashSet;
use std::path::Path;

use ipvm_core::Limits;
use ipvm_exec::abi::{self, CoreTy, CoreVal, Guest, GuestMemory, MemoryView};
use ipvm_exec::host::{self, HostContext, HostEffects};
use ipvm_exec::meter::{self, Metered};
use ipvm_exec::wit::WitWorld;
use ipvm_exec::{
    Either, Engine as EngineTrait, ExecError, Instance as InstanceTrait, Pacer, Prefer, Trap,
    WasmiEngine,
};
use wasmtime::{
    AsContextMut, Cache, CacheConfig, Caller, Config, Engine, Extern, FuncType, Global, Instance,
    InstanceAllocationStrategy, Linker, Memory, Module, PoolingAllocationConfig, Store,
    StoreLimits, StoreLimitsBuilder, Val, ValType,
};

use crate::ticker::{deadline_ticks, Ticker};

/// The native stack of the thread each call runs on (reserved, not
/// committed: pages are used as a call needs them).
const CALL_STACK_BYTES: usize = 160 * 1024 * 1024;

/// The most stack wasm code may take on that thread: room for
/// [`meter::MAX_DEPTH`] frames of large functions (wasmi's own bound is of
/// the same order), and for the host functions below them.
const MAX_WASM_STACK: usize = 128 * 1024 * 1024;

/// Instances that may be alive at once in one engine's pool: far more than
/// the node's workers and `--parallelism` use. When every slot is taken,
/// instantiation fails, which is `Inconclusive`: the task runs on wasmi.
const POOL_SLOTS: u32 = 128;

/// Linear memory each pool slot keeps mapped when its instance ends, reset
/// to zeros with `memset` instead of being given back to the kernel: the
/// next task in that slot takes no page faults on it. A fresh mapping per
/// task cost rotate90 of the bench picture a third of its time (5 ms of
/// 15) in page faults; this is what a warm instance in a browser avoids.
const KEEP_RESIDENT: usize = 32 << 20;

/// wasmtime, configured to run metered modules: epoch interruption on,
/// its own fuel off, SIMD off (the metering rewriter refuses it), a deep
/// stack, instances from a pool of [`POOL_SLOTS`] whose memories stay
/// resident ([`KEEP_RESIDENT`]), and its compiled-code cache if a
/// directory was given.
#[derive(Clone)]
pub struct WasmtimeEngine {
    engine: Engine,
    _ticker: Ticker,
}

impl WasmtimeEngine {
    /// wasmtime without a compiled-code cache: every module compiles anew
    /// in each process.
    pub fn new() -> Result<Self, String> {
        Self::build(None)
    }

    /// wasmtime with its compiled-code cache in `dir` (created if missing):
    /// a module compiles once per machine. The cache is wasmtime's own
    /// (`Config::cache`), keyed by the module's bytes and the engine's
    /// settings; nothing here deserialises code itself.
    pub fn with_cache(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the cache `{}`: {e}", dir.display()))?;
        let dir = std::path::absolute(dir)
            .map_err(|e| format!("cannot resolve `{}`: {e}", dir.display()))?;
        let mut config = CacheConfig::new();
        config.with_directory(dir);
        let cache = Cache::new(config).map_err(|e| format!("wasmtime's cache: {e}"))?;
        Self::build(Some(cache))
    }

    fn build(cache: Option<Cache>) -> Result<Self, String> {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(POOL_SLOTS)
            .total_memories(POOL_SLOTS)
            .total_tables(POOL_SLOTS * meter::MAX_TABLES as u32)
            .total_gc_heaps(POOL_SLOTS)
            .max_memories_per_module(1)
            .max_tables_per_module(meter::MAX_TABLES as u32)
            .table_elements(meter::MAX_TABLE_ELEMENTS as usize)
            .max_memory_size(Limits::MAX_MEMORY as usize)
            // The instance's own metadata (its functions, globals, tables):
            // far past what a module within the rewriter's bounds needs.
            .max_core_instance_size(16 << 20)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(1 << 20);
        let mut config = Config::new();
        config
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .epoch_interruption(true)
            .consume_fuel(false)
            // Checked against the async stack even with async off.
            .async_stack_size(CALL_STACK_BYTES)
            .max_wasm_stack(MAX_WASM_STACK)
            .wasm_simd(false)
            .wasm_relaxed_simd(false)
            // Reference types (externref, which needs the `gc` feature), not
            // the GC proposal; the rewriter refuses what else this enables.
            .wasm_gc(false)
            .wasm_function_references(false)
            .wasm_exceptions(false)
            .collector(wasmtime::Collector::Null)
            .cache(cache);
        let engine = Engine::new(&config).map_err(|e| format!("wasmtime: {e}"))?;
        let ticker = Ticker::start(&engine);
        Ok(Self {
            engine,
            _ticker: ticker,
        })
    }
}

/// The native node's engines: wasmtime for what it runs, wasmi for the
/// rest, for re-runs after an inconclusive ending, and for what a caller
/// names; `default` says which runs a task that names none
/// ([`Prefer::Fast`]: wasmtime, `--engine auto`; [`Prefer::Reference`]:
/// wasmi). `cache`: wasmtime's compiled-code cache directory, if any.
pub fn engines(
    default: Prefer,
    cache: Option<&Path>,
) -> Result<Either<WasmtimeEngine, WasmiEngine>, String> {
    let fast = match cache {
        Some(dir) => WasmtimeEngine::with_cache(dir)?,
        None => WasmtimeEngine::new()?,
    };
    Ok(Either {
        fast,
        reference: WasmiEngine::default(),
        default,
    })
}

impl EngineTrait for WasmtimeEngine {
    type Module = Module;
    type Instance = WasmtimeGuest;

    async fn compile(&self, name: &str, metered: &Metered) -> Result<Module, ExecError> {
        Module::new(&self.engine, &metered.bytes).map_err(|e| ExecError::Compile {
            cid: name.into(),
            reason: format!("wasmtime refused the metered module: {e:#}"),
        })
    }

    async fn instantiate(
        &self,
        module: &Module,
        world: Option<&WitWorld>,
        limits: Limits,
        _: Prefer,
    ) -> Result<WasmtimeGuest, ExecError> {
        WasmtimeGuest::new(&self.engine, module, world, limits)
    }
}

/// What the store carries for host functions.
struct HostState {
    store_limits: StoreLimits,
    limits: Limits,
    effects: HostEffects,
    /// The error a host function or the metering trap ended the call with.
    pending: Option<ExecError>,
}

/// One wasmtime instance of a metered module, with its limits.
pub struct WasmtimeGuest {
    store: Store<HostState>,
    instance: Instance,
    module: Module,
    memory: Option<Memory>,
    fuel: Global,
    limits: Limits,
}

fn to_core(v: &Val) -> CoreVal {
    match v {
        Val::I32(x) => CoreVal::I32(*x),
        Val::I64(x) => CoreVal::I64(*x),
        Val::F32(b) => CoreVal::F32(*b),
        Val::F64(b) => CoreVal::F64(*b),
        _ => CoreVal::I32(0),
    }
}

fn from_core(v: CoreVal) -> Val {
    match v {
        CoreVal::I32(x) => Val::I32(x),
        CoreVal::I64(x) => Val::I64(x),
        CoreVal::F32(b) => Val::F32(b),
        CoreVal::F64(b) => Val::F64(b),
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

fn zero(t: &ValType) -> Val {
    match t {
        ValType::I64 => Val::I64(0),
        ValType::F32 => Val::F32(0),
        ValType::F64 => Val::F64(0),
        _ => Val::I32(0),
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

fn fuel_left(store: impl AsContextMut, fuel: Global) -> u64 {
    match fuel.get(store) {
        Val::I64(left) => left as u64,
        _ => 0,
    }
}

fn set_fuel(store: impl AsContextMut, fuel: Global, left: u64) -> Result<(), ExecError> {
    fuel.set(store, Val::I64(left as i64))
        .map_err(|e| ExecError::Instantiate(format!("the fuel counter cannot be set: {e}")))
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
        let left = fuel_left(&mut *self.caller, self.fuel);
        let left = meter::charge(left, fuel, &self.caller.data().limits)?;
        set_fuel(&mut *self.caller, self.fuel, left)
    }
    fn effects(&mut self) -> &mut HostEffects {
        &mut self.caller.data_mut().effects
    }
}

/// Ends the call with `error`: kept in the store, and read back by
/// [`WasmtimeGuest::failed`] when the call returns.
fn fail(caller: &mut Caller<'_, HostState>, error: ExecError) -> wasmtime::Error {
    let text = error.to_string();
    caller.data_mut().pending = Some(error);
    wasmtime::Error::msg(text)
}

fn instantiate_error(e: impl std::fmt::Display) -> ExecError {
    ExecError::Instantiate(e.to_string())
}

fn link_host_functions(
    linker: &mut Linker<HostState>,
    engine: &Engine,
    module: &Module,
    world: Option<&WitWorld>,
) -> Result<(), ExecError> {
    let mut linked = HashSet::new();
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
                     -> wasmtime::Result<()> {
                        let left = match caller
                            .get_export(meter::FUEL_EXPORT)
                            .and_then(Extern::into_global)
                        {
                            Some(g) => fuel_left(&mut caller, g),
                            None => 0,
                        };
                        let error = meter::trap_error(code, left, &caller.data().limits);
                        Err(fail(&mut caller, error))
                    },
                )
                .map_err(instantiate_error)?;
            continue;
        }
        let (f, sig) = host::provided(m, n, world)?;
        let (params, results) = abi::import_signature(&sig);
        let ty = FuncType::new(
            engine,
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
            .map_err(instantiate_error)?;
    }
    Ok(())
}

/// Runs `f` on a thread of its own with a stack of [`CALL_STACK_BYTES`],
/// and waits for it.
fn on_call_stack<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R, ExecError> {
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("ipvm-wasmtime-call".into())
            .stack_size(CALL_STACK_BYTES)
            .spawn_scoped(s, f)
            .map_err(|e| ExecError::Inconclusive(format!("no thread for the call: {e}")))?;
        handle
            .join()
            .map_err(|_| ExecError::Inconclusive("the call's thread panicked".into()))
    })
}

impl WasmtimeGuest {
    /// Instantiates `module` under `limits`, its fuel counter set to the
    /// budget and its clock started. The metered module has no start
    /// section: nothing runs yet.
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
        store.set_epoch_deadline(deadline_ticks(limits.time_ms()).min(u64::MAX / 4));
        store.epoch_deadline_trap();
        let mut linker = Linker::<HostState>::new(engine);
        link_host_functions(&mut linker, engine, module, world)?;
        // Imports are linked and limits checked: what is left to fail is an
        // active segment that does not fit (a trap); anything else (the
        // machine out of memory) is not the module's doing, and wasmi
        // decides.
        let instance = linker.instantiate(&mut store, module).map_err(|e| match e
            .downcast_ref::<wasmtime::Trap>()
        {
            Some(_) => ExecError::Instantiate(meter::SEGMENT_MESSAGE.into()),
            None => ExecError::Inconclusive(format!("instantiation: {e}")),
        })?;
        let global = |store: &mut Store<HostState>, name: &str| {
            instance.get_global(&mut *store, name).ok_or_else(|| {
                ExecError::Instantiate(format!("the module is not metered (no `{name}`)"))
            })
        };
        let fuel = global(&mut store, meter::FUEL_EXPORT)?;
        let pages = global(&mut store, meter::MEMORY_PAGES_EXPORT)?;
        set_fuel(&mut store, fuel, limits.fuel_budget())?;
        pages
            .set(&mut store, Val::I64(meter::memory_pages(&limits) as i64))
            .map_err(instantiate_error)?;
        let memory = instance.get_memory(&mut store, "memory");
        Ok(Self {
            store,
            instance,
            module: module.clone(),
            memory,
            fuel,
            limits,
        })
    }

    /// The error a call ended with: the one a host function or the metering
    /// trap left, or the trap wasmtime reports; `Inconclusive` for what
    /// wasmi must decide.
    fn failed(&mut self, e: &wasmtime::Error) -> ExecError {
        if let Some(pending) = self.store.data_mut().pending.take() {
            return pending;
        }
        use wasmtime::Trap as T;
        match e.downcast_ref::<T>() {
            Some(T::UnreachableCodeReached) => Trap::Unreachable.error(),
            Some(T::MemoryOutOfBounds) => Trap::MemoryOutOfBounds.error(),
            Some(T::TableOutOfBounds) => Trap::TableOutOfBounds.error(),
            Some(T::IndirectCallToNull | T::BadSignature) => Trap::IndirectCall.error(),
            Some(T::IntegerDivisionByZero) => Trap::DivisionByZero.error(),
            Some(T::IntegerOverflow) => Trap::IntegerOverflow.error(),
            Some(T::BadConversionToInteger) => Trap::BadConversion.error(),
            // The epoch deadline set at instantiation passed.
            Some(T::Interrupt) => ExecError::TimeLimit {
                limit_ms: self.limits.time_ms(),
            },
            // wasmtime's own stack, before the injected depth counter:
            // wasmi's frames differ, and it decides.
            Some(T::StackOverflow) => {
                ExecError::Inconclusive("wasmtime's own stack overflowed".into())
            }
            _ => ExecError::Inconclusive(format!("wasmtime: {e}")),
        }
    }
}

impl GuestMemory for WasmtimeGuest {
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

impl Guest for WasmtimeGuest {
    fn has_export(&self, name: &str) -> bool {
        matches!(
            self.module.get_export(name),
            Some(wasmtime::ExternType::Func(_))
        )
    }

    fn call(&mut self, export: &str, args: &[CoreVal]) -> Result<Vec<CoreVal>, ExecError> {
        let missing = || ExecError::NoSuchFunction {
            func: export.into(),
            tried: export.into(),
            exports: String::new(),
        };
        let func = self
            .instance
            .get_func(&mut self.store, export)
            .ok_or_else(missing)?;
        let ty = func.ty(&self.store);
        if ty.params().len() != args.len() {
            return Err(ExecError::Abi(format!(
                "`{export}` takes {} core values, {} given",
                ty.params().len(),
                args.len()
            )));
        }
        let params: Vec<Val> = args.iter().copied().map(from_core).collect();
        let mut results: Vec<Val> = ty.results().map(|t| zero(&t)).collect();
        let store = &mut self.store;
        let ended = on_call_stack(|| func.call(store, &params, &mut results))?;
        match ended {
            Ok(()) => Ok(results.iter().map(to_core).collect()),
            Err(e) => Err(self.failed(&e)),
        }
    }
}

impl InstanceTrait for WasmtimeGuest {
    /// One call, never paused: the clock is the epoch deadline, and the
    /// native pacer has nothing to wait for.
    async fn call_paced<P: Pacer>(
        &mut self,
        export: &str,
        args: &[CoreVal],
        _: &P,
    ) -> Result<Vec<CoreVal>, ExecError> {
        self.call(export, args)
    }

    fn finish(mut self) -> (u64, HostEffects) {
        let left = fuel_left(&mut self.store, self.fuel);
        let used = meter::used(left, &self.limits);
        (used, self.store.into_data().effects)
    }

    fn engine(&self) -> &'static str {
        "wasmtime"
    }
}
