//! [`WasmExecutor`]: the core's `Executor` on wasmi.

use std::cell::RefCell;
use std::collections::HashMap;

use ipvm_core::scheduler::Purity;
use ipvm_core::store::{read_file, BlockStore};
use ipvm_core::{Cid, Execution, Executor, Ipld, Job};
use wasmi::errors::ErrorKind;
use wasmi::{CompilationMode, Config, Engine, Linker, Module, ResumableCall, Store, StoreLimits, StoreLimitsBuilder, TrapCode, Val};
use web_time::Instant;

use crate::values::{lift, lower};
use crate::ExecError;

/// Fuel given to the guest per slice; the clock is checked between slices.
pub const FUEL_SLICE: u64 = 20_000_000;

/// Maximum nesting of Wasm calls before a task fails with a stack overflow.
const MAX_RECURSION_DEPTH: usize = 4096;

/// The operation this executor knows.
const WASM_RUN: &str = "wasm/run";

/// Runs `wasm/run` tasks in wasmi, loading modules from a [`BlockStore`].
pub struct WasmExecutor<S> {
    store: S,
    engine: Engine,
    modules: RefCell<HashMap<Cid, Module>>,
}

struct HostState {
    limits: StoreLimits,
}

impl<S: BlockStore> WasmExecutor<S> {
    /// An executor reading modules from `store`.
    pub fn new(store: S) -> Self {
        let mut config = Config::default();
        config
            .consume_fuel(true)
            .compilation_mode(CompilationMode::Eager)
            .set_max_recursion_depth(MAX_RECURSION_DEPTH);
        Self { store, engine: Engine::new(&config), modules: RefCell::new(HashMap::new()) }
    }

    /// The compiled module for `cid`, compiling it on first use.
    async fn module(&self, cid: &Cid) -> Result<Module, ExecError> {
        if let Some(m) = self.modules.borrow().get(cid) {
            return Ok(m.clone());
        }
        let bytes = match read_file(&self.store, cid).await {
            Ok(b) => b,
            Err(ipvm_core::CoreError::MissingBlock(_)) => return Err(ExecError::ModuleMissing(cid.to_string())),
            Err(e) => return Err(ExecError::Compile { cid: cid.to_string(), reason: e.to_string() }),
        };
        let module = Module::new(&self.engine, &bytes[..])
            .map_err(|e| ExecError::Compile { cid: cid.to_string(), reason: e.to_string() })?;
        self.modules.borrow_mut().insert(*cid, module.clone());
        Ok(module)
    }

    /// Runs a job to a value or an error; returns the fuel used either way.
    async fn run(&self, job: &Job) -> (Result<Ipld, ExecError>, u64) {
        let module = match self.module(&job.module).await {
            Ok(m) => m,
            Err(e) => return (Err(e), 0),
        };
        call(&self.engine, &module, job)
    }
}

impl<S: BlockStore> Executor for WasmExecutor<S> {
    fn purity(&self, op: &str) -> Option<Purity> {
        (op == WASM_RUN).then_some(Purity::Pure)
    }

    async fn execute(&self, job: Job) -> Execution {
        let (result, fuel) = self.run(&job).await;
        match result {
            Ok(value) => Execution::ok(value, fuel),
            Err(e) => {
                let mut ex = Execution::error(e.to_ipld(), fuel);
                ex.limit = e.limit().map(str::to_string);
                ex.nondeterministic = matches!(e, ExecError::TimeLimit { .. });
                ex
            }
        }
    }
}

/// The export names tried for `func`: as given, kebab-case, snake_case, lowerCamelCase.
fn spellings(func: &str) -> Vec<String> {
    let words: Vec<String> = func
        .split(|c: char| c == '-' || c == '_')
        .filter(|w| !w.is_empty())
        .flat_map(split_camel)
        .collect();
    let camel: String = words
        .iter()
        .enumerate()
        .map(|(i, w)| if i == 0 { w.clone() } else { capitalise(w) })
        .collect();
    let mut out = vec![func.to_string(), words.join("-"), words.join("_"), camel];
    let mut seen = Vec::new();
    out.retain(|s| !seen.contains(s) && {
        seen.push(s.clone());
        true
    });
    out
}

fn split_camel(word: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for c in word.chars() {
        if c.is_uppercase() && out.last().is_some_and(|w| !w.is_empty()) {
            out.push(String::new());
        }
        if let Some(w) = out.last_mut() {
            w.extend(c.to_lowercase());
        }
    }
    out
}

fn capitalise(w: &str) -> String {
    let mut cs = w.chars();
    cs.next().map(|c| c.to_uppercase().chain(cs).collect()).unwrap_or_default()
}

fn call(engine: &Engine, module: &Module, job: &Job) -> (Result<Ipld, ExecError>, u64) {
    let memory_limit = usize::try_from(job.limits.memory_bytes()).unwrap_or(usize::MAX);
    let limits = StoreLimitsBuilder::new()
        .memory_size(memory_limit)
        .memories(1)
        .tables(4)
        .table_elements(100_000)
        .instances(1)
        .trap_on_grow_failure(true)
        .build();
    let mut store = Store::new(engine, HostState { limits });
    store.limiter(|s| &mut s.limits);
    let budget = job.limits.fuel.unwrap_or(u64::MAX);
    let mut meter = Meter { budget, used: 0, given: 0 };
    let err = |e| (Err(e), 0);

    if let Some(import) = module.imports().next() {
        return err(ExecError::UnknownImport(format!("{}.{}", import.module(), import.name())));
    }
    if meter.refill(&mut store).is_err() {
        return err(ExecError::Instantiate("fuel metering is off".into()));
    }
    let linker = Linker::<HostState>::new(engine);
    let instance = match linker.instantiate_and_start(&mut store, module) {
        Ok(i) => i,
        Err(e) => {
            let used = meter.settle(&store);
            return (Err(classify(&e, &job.limits, &meter).unwrap_or(ExecError::Instantiate(e.to_string()))), used);
        }
    };
    let tried = spellings(&job.func);
    let Some(func) = tried.iter().find_map(|n| instance.get_func(&store, n)) else {
        return (Err(ExecError::NoSuchFunction { func: job.func.clone(), tried: tried.join(", ") }), meter.settle(&store));
    };
    let ty = func.ty(&store);
    if ty.params().len() != job.args.len() {
        let reason = format!("`{}` takes {} arguments, {} given", job.func, ty.params().len(), job.args.len());
        return (Err(ExecError::Argument { index: job.args.len().min(ty.params().len()), reason }), meter.settle(&store));
    }
    let params = match job.args.iter().zip(ty.params()).enumerate().map(|(i, (a, t))| lower(i, a, *t)).collect::<Result<Vec<_>, _>>() {
        Ok(p) => p,
        Err(e) => return (Err(e), meter.settle(&store)),
    };
    let mut results: Vec<Val> = ty.results().iter().map(|t| Val::default_for_ty(*t)).collect();
    let started = Instant::now();
    let mut state = func.call_resumable(&mut store, &params, &mut results);
    loop {
        match state {
            Ok(ResumableCall::Finished) => break,
            Ok(ResumableCall::OutOfFuel(call)) => {
                meter.settle(&store);
                if meter.left() < call.required_fuel().max(1) {
                    let used = meter.used;
                    return (Err(ExecError::OutOfFuel { used, limit: budget }), used);
                }
                if started.elapsed().as_millis() as u64 >= job.limits.time_ms() {
                    return (Err(ExecError::TimeLimit { limit_ms: job.limits.time_ms() }), meter.used);
                }
                if meter.refill(&mut store).is_err() {
                    return (Err(ExecError::Trap("fuel metering is off".into())), meter.used);
                }
                state = call.resume(&mut store, &mut results);
            }
            Ok(ResumableCall::HostTrap(trap)) => {
                let e = trap.host_error().to_string();
                return (Err(ExecError::Trap(e)), meter.settle(&store));
            }
            Err(e) => {
                let used = meter.settle(&store);
                return (Err(classify(&e, &job.limits, &meter).unwrap_or_else(|| ExecError::Trap(e.to_string()))), used);
            }
        }
    }
    let used = meter.settle(&store);
    let value = match results.as_slice() {
        [] => Ipld::Null,
        [one] => lift(one),
        many => Ipld::List(many.iter().map(lift).collect()),
    };
    (Ok(value), used)
}

/// Counts fuel across slices.
struct Meter {
    budget: u64,
    used: u64,
    given: u64,
}

impl Meter {
    fn left(&self) -> u64 {
        self.budget - self.used
    }

    /// Gives the store the next slice.
    fn refill(&mut self, store: &mut Store<HostState>) -> Result<(), wasmi::Error> {
        self.given = FUEL_SLICE.min(self.left());
        store.set_fuel(self.given)
    }

    /// Adds what the store consumed since the last refill; returns the total.
    fn settle(&mut self, store: &Store<HostState>) -> u64 {
        let remaining = store.get_fuel().unwrap_or(0);
        self.used += self.given.saturating_sub(remaining);
        self.given = remaining;
        self.used
    }
}

/// Maps wasmi errors that mean "a limit was hit" or "the guest trapped".
fn classify(e: &wasmi::Error, limits: &ipvm_core::Limits, meter: &Meter) -> Option<ExecError> {
    if let ErrorKind::Memory(_) | ErrorKind::Table(_) = e.kind() {
        if e.to_string().contains("limit") || e.to_string().contains("grow") {
            return Some(ExecError::MemoryLimit { limit: limits.memory_bytes() });
        }
    }
    if let ErrorKind::Instantiation(_) = e.kind() {
        return Some(ExecError::Instantiate(e.to_string()));
    }
    match e.as_trap_code()? {
        TrapCode::OutOfFuel => Some(ExecError::OutOfFuel { used: meter.used, limit: meter.budget }),
        TrapCode::StackOverflow => Some(ExecError::StackOverflow),
        TrapCode::GrowthOperationLimited => Some(ExecError::MemoryLimit { limit: limits.memory_bytes() }),
        code => Some(ExecError::Trap(code.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::spellings;

    #[test]
    fn export_spellings_follow_homestar() {
        assert_eq!(spellings("add_one"), ["add_one", "add-one", "addOne"]);
        assert_eq!(spellings("add-one"), ["add-one", "add_one", "addOne"]);
        assert_eq!(spellings("addOne"), ["addOne", "add-one", "add_one"]);
    }
}
