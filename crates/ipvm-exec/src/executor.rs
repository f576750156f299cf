//! [`WasmExecutor`]: the core's `Executor` on wasmi. Loads and analyses each
//! module once (cached by CID), fetches the content of links passed as
//! `list<u8>`, then runs the call through the canonical ABI or, for plain
//! core modules, with numbers directly. Op `wasm/run` resolves the export's
//! other spellings and converts arguments by Homestar's rules; op
//! `wasm/run-exact` (tasks admitted from UCAN invocations) does neither
//! ([`Mode::Exact`]).
//!
//! Past 600 lines (about 650 of code): reading, classifying, compiling and
//! remembering a module, and running one job through the engine, are one
//! path that a change must be read along end to end.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::abi;
use crate::engine::{Engine, Instance, Pacer, Prefer};
use crate::host::{self, HostEffects};
use crate::mapping::Mode;
use crate::meter::{self, Metered};
use crate::values::{lift, lower};
use crate::wit::{self, Shape, WitFunc, WitWorld};
use crate::WasmiEngine;
use crate::{mapping, ExecError};
use ipvm_core::address::{nesting, raw_cid, MAX_NESTING};
use ipvm_core::model::op::{Ops, WASM_RUN, WASM_RUN_EXACT};
use ipvm_core::receipt::{error_class, ReceiptClass};
use ipvm_core::store::{read_file_within, BlockStore};
use ipvm_core::{Cid, CoreError, Execution, Executor, Ipld, Job};

/// A module, metered, compiled and analysed.
struct Prepared<M> {
    module: M,
    world: Option<WitWorld>,
    /// What instantiation needs (the metered bytes are the engine's now).
    facts: Metered,
}

/// What one run produced.
struct Run {
    result: Result<Ipld, ExecError>,
    fuel: u64,
    effects: HostEffects,
    /// The engine it ran on, if it got that far.
    engine: Option<&'static str>,
}

impl Run {
    fn failed(e: ExecError, fuel: u64) -> Self {
        Self {
            result: Err(e),
            fuel,
            effects: HostEffects::default(),
            engine: None,
        }
    }

    /// The run of an instance that ended with `result`.
    fn ended<I: Instance>(guest: I, result: Result<Ipld, ExecError>) -> Self {
        let engine = Some(guest.engine());
        let (fuel, effects) = guest.finish();
        Self {
            result,
            fuel,
            effects,
            engine,
        }
    }
}

/// The ops this executor runs ([`Ops::standard`]): every executor that runs
/// Wasm (a worker pool too) answers these.
pub fn ops() -> &'static Ops {
    Ops::standard()
}

/// How a job's call is read, by its op: exactly for [`WASM_RUN_EXACT`], by
/// Homestar's rules for [`WASM_RUN`]. Another op is not run here (the
/// scheduler refuses it first, by [`ops`]): a job sent for one fails as an
/// environment error, never reused.
fn route(job: &Job) -> Result<Mode, ExecError> {
    match job.op.as_str() {
        WASM_RUN => Ok(Mode::Lenient),
        WASM_RUN_EXACT => Ok(Mode::Exact),
        other => Err(ExecError::Worker(format!(
            "op `{other}` is not run by this executor (it runs {})",
            ops().names().collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// What a job asks for (`Job::engine`).
fn preference(job: &Job) -> Prefer {
    match job.engine.as_deref() {
        // The fast engine: the browser's own in a tab, wasmtime natively.
        Some("fast" | "wasmtime") => Prefer::Fast,
        Some("wasmi") => Prefer::Reference,
        _ => Prefer::Default,
    }
}

/// Runs `wasm/run` tasks on an [`Engine`] (wasmi by default), loading
/// modules from a [`BlockStore`].
pub struct WasmExecutor<S, E: Engine = WasmiEngine, P: Pacer = ()> {
    store: S,
    engine: E,
    pacer: P,
    /// Modules analysed and compiled, and modules that failed to (a failure
    /// of the module's own content is the same every time: it is not
    /// analysed again).
    modules: RefCell<HashMap<Cid, Analysis<E::Module>>>,
}

/// A module analysed and compiled, or why it could not be.
type Analysis<M> = Result<Rc<Prepared<M>>, ExecError>;

/// The largest module a task may name: 64 MiB (the core's bound, which a
/// fetch of a module keeps too). Checked while the module is read, before
/// anything parses it.
pub const MAX_MODULE_BYTES: u64 = ipvm_core::store::fetch::MAX_MODULE_BYTES;

impl<S: BlockStore> WasmExecutor<S> {
    /// An executor on wasmi, reading modules from `store`.
    pub fn new(store: S) -> Self {
        Self::with_engine(store, WasmiEngine::default())
    }
}

impl<S: BlockStore, E: Engine> WasmExecutor<S, E> {
    /// An executor on `engine`, reading modules from `store`.
    pub fn with_engine(store: S, engine: E) -> Self {
        Self::with_pacer(store, engine, ())
    }
}

impl<S: BlockStore, E: Engine, P: Pacer> WasmExecutor<S, E, P> {
    /// An executor on `engine`, reading modules from `store`, that awaits
    /// `pacer` between fuel slices of each task.
    pub fn with_pacer(store: S, engine: E, pacer: P) -> Self {
        Self {
            store,
            engine,
            pacer,
            modules: RefCell::new(HashMap::new()),
        }
    }

    /// The compiled module for `cid`, analysing and compiling it on first use.
    async fn prepare(&self, cid: &Cid) -> Result<Rc<Prepared<E::Module>>, ExecError> {
        if let Some(p) = self.modules.borrow().get(cid) {
            return p.clone();
        }
        let prepared = self.analyse(cid).await;
        // Failures of the environment (missing, store) may go otherwise next time.
        let lasting = match &prepared {
            Ok(_) => true,
            Err(e) => error_class(e.kind()) == Some(ReceiptClass::Result),
        };
        if lasting {
            self.modules.borrow_mut().insert(*cid, prepared.clone());
        }
        prepared
    }

    /// Reads (at most [`MAX_MODULE_BYTES`]), classifies and compiles a module.
    async fn analyse(&self, cid: &Cid) -> Result<Rc<Prepared<E::Module>>, ExecError> {
        let name = cid.to_string();
        let bytes = match read_file_within(&self.store, cid, MAX_MODULE_BYTES).await {
            Ok(b) => b,
            Err(CoreError::MissingBlock(_)) => return Err(ExecError::ModuleMissing(name)),
            Err(CoreError::TooLarge { limit, .. }) => {
                return Err(ExecError::Compile {
                    cid: name,
                    reason: format!(
                        "the module is larger than {limit} bytes, the most this runtime accepts"
                    ),
                })
            }
            Err(e) if is_environment(&e) => {
                return Err(ExecError::Store {
                    what: format!("module {name}"),
                    reason: e.to_string(),
                })
            }
            // The blocks are there and intact, but are not a file: that is
            // the module's content, the same everywhere.
            Err(e) => {
                return Err(ExecError::Compile {
                    cid: name,
                    reason: e.to_string(),
                })
            }
        };
        let (core, world) = match wit::classify(&name, &bytes)? {
            Shape::Core(b) => (b, None),
            Shape::Wit(b, w) => (b, Some(w)),
        };
        let metered = self.metered(cid, &name, &core).await?;
        let module = self.engine.compile(&name, &metered).await?;
        let facts = Metered {
            bytes: Vec::new(),
            ..metered
        };
        Ok(Rc::new(Prepared {
            module,
            world,
            facts,
        }))
    }

    /// The metered form of module `cid` (`core`, its core module): from the
    /// store's cache when it has it (the block checked against its CID),
    /// otherwise rewritten now and cached, so the rewrite runs once per
    /// module and store, not once per worker or page load.
    async fn metered(&self, cid: &Cid, name: &str, core: &[u8]) -> Result<Metered, ExecError> {
        let key = format!("{cid}:{}", meter::METER_VERSION);
        if let Ok(Some(stored)) = self.store.get_metered(&key).await {
            if let Ok(Some(bytes)) = self.store.get_block(&stored).await {
                if raw_cid(&bytes) == stored {
                    if let Ok(metered) = meter::facts(bytes) {
                        return Ok(metered);
                    }
                }
            }
        }
        let metered = meter::meter(core).map_err(|reason| ExecError::Compile {
            cid: name.into(),
            reason,
        })?;
        // A cache that cannot be written costs only the next rewrite.
        let _ = self
            .store
            .put_metered(&key, raw_cid(&metered.bytes), metered.bytes.clone())
            .await;
        Ok(metered)
    }

    async fn run(&self, job: &Job) -> Run {
        let mode = match route(job) {
            Ok(mode) => mode,
            Err(e) => return Run::failed(e, 0),
        };
        if let Err(e) = check_nesting(job) {
            return Run::failed(e, 0);
        }
        let prepared = match self.prepare(&job.module).await {
            Ok(p) => p,
            Err(e) => return Run::failed(e, 0),
        };
        let prefer = preference(job);
        let run = self.run_on(&prepared, job, mode, prefer).await;
        match run.result {
            // The engine could not decide: the reference engine does.
            Err(ExecError::Inconclusive(_)) => {
                self.run_on(&prepared, job, mode, Prefer::Reference).await
            }
            _ => run,
        }
    }

    async fn run_on(
        &self,
        prepared: &Prepared<E::Module>,
        job: &Job,
        mode: Mode,
        prefer: Prefer,
    ) -> Run {
        match &prepared.world {
            None => self.run_core(prepared, job, mode, prefer).await,
            Some(world) => match self.run_wit(prepared, world, job, mode, prefer).await {
                Ok(run) => run,
                Err(e) => Run::failed(e, 0),
            },
        }
    }

    /// An instance of the module under the job's limits, its start function
    /// run; or the run that ended there.
    async fn instance(
        &self,
        prepared: &Prepared<E::Module>,
        world: Option<&WitWorld>,
        job: &Job,
        prefer: Prefer,
    ) -> Result<E::Instance, Run> {
        meter::check_initial(&prepared.facts, &job.limits).map_err(|e| Run::failed(e, 0))?;
        check_imports(&prepared.facts, world).map_err(|e| Run::failed(e, 0))?;
        let mut guest = self
            .engine
            .instantiate(&prepared.module, world, job.limits, prefer)
            .await
            .map_err(|e| Run::failed(e, 0))?;
        if prepared.facts.has_start {
            if let Err(e) = guest
                .call_paced(meter::START_EXPORT, &[], &self.pacer)
                .await
            {
                return Err(Run::ended(guest, Err(e)));
            }
        }
        Ok(guest)
    }

    async fn run_core(
        &self,
        prepared: &Prepared<E::Module>,
        job: &Job,
        mode: Mode,
        prefer: Prefer,
    ) -> Run {
        let mut guest = match self.instance(prepared, None, job, prefer).await {
            Ok(g) => g,
            Err(run) => return run,
        };
        let exports: Vec<_> = prepared
            .facts
            .exports
            .iter()
            .filter(|e| !e.name.starts_with("ipvm:"))
            .collect();
        let tried = spellings(&job.func, mode);
        let result = async {
            let export = tried
                .iter()
                .find_map(|n| exports.iter().find(|e| e.name == *n))
                .ok_or_else(|| {
                    let names = exports.iter().map(|e| e.name.as_str());
                    no_such_function(&job.func, &tried, mode, names)
                })?;
            let name = &export.name;
            let (params, _) = export.numeric.clone().ok_or_else(|| ExecError::Signature {
                func: job.func.clone(),
                reason: "its parameters or results are not all numbers (i32, i64, f32, f64)".into(),
            })?;
            if params.len() != job.args.len() {
                let reason = format!(
                    "`{}` takes {} arguments, {} given",
                    job.func,
                    params.len(),
                    job.args.len()
                );
                return Err(ExecError::Argument {
                    index: job.args.len().min(params.len()),
                    reason,
                });
            }
            let args = job
                .args
                .iter()
                .zip(params)
                .enumerate()
                .map(|(i, (a, t))| lower(i, a, t, mode))
                .collect::<Result<Vec<_>, _>>()?;
            let results = guest.call_paced(name, &args, &self.pacer).await?;
            match results.as_slice() {
                [] => Ok(Ipld::Null),
                [one] => lift(*one),
                many => many
                    .iter()
                    .map(|v| lift(*v))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Ipld::List),
            }
        }
        .await;
        Run::ended(guest, result)
    }

    async fn run_wit(
        &self,
        prepared: &Prepared<E::Module>,
        world: &WitWorld,
        job: &Job,
        mode: Mode,
        prefer: Prefer,
    ) -> Result<Run, ExecError> {
        let tried = spellings(&job.func, mode);
        let func: &WitFunc = tried.iter().find_map(|n| world.export(n)).ok_or_else(|| {
            let names = world.exports.iter().map(|f| f.name.as_str());
            no_such_function(&job.func, &tried, mode, names)
        })?;
        if func.params.len() != job.args.len() {
            let names: Vec<&str> = func.params.iter().map(|(n, _)| n.as_str()).collect();
            let reason = format!(
                "`{}` takes {} arguments ({}), {} given",
                func.name,
                names.len(),
                names.join(", "),
                job.args.len()
            );
            return Err(ExecError::Argument {
                index: job.args.len().min(names.len()),
                reason,
            });
        }
        let mut links = Vec::new();
        // Exact mode passes no link as bytes: nothing to fetch.
        if mode == Mode::Lenient {
            for (a, (_, t)) in job.args.iter().zip(&func.params) {
                mapping::byte_links(a, t, &mut links);
            }
        }
        // Each distinct link is read once. Every reference becomes its own
        // copy in the arguments (and then in guest memory), so the content
        // counts against the task's memory limit once per reference.
        let references = links.clone();
        links.sort();
        links.dedup();
        let mut fetched = HashMap::new();
        let mut budget = job.limits.memory_bytes();
        for cid in links {
            match read_file_within(&self.store, &cid, budget).await {
                Ok(bytes) => {
                    budget -= bytes.len() as u64;
                    fetched.insert(cid, bytes);
                }
                Err(CoreError::TooLarge { .. }) => {
                    return Err(ExecError::MemoryLimit {
                        limit: job.limits.memory_bytes(),
                    })
                }
                Err(e) => {
                    let index = job
                        .args
                        .iter()
                        .position(|a| contains_link(a, &cid))
                        .unwrap_or(0);
                    return Err(match e {
                        CoreError::MissingBlock(_) => ExecError::InputMissing {
                            index,
                            cid: cid.to_string(),
                            reason: e.to_string(),
                        },
                        e if is_environment(&e) => ExecError::Store {
                            what: format!("argument {index} ({cid})"),
                            reason: e.to_string(),
                        },
                        // Present and intact, but not a file: the argument's
                        // content, the same everywhere.
                        e => ExecError::Argument {
                            index,
                            reason: format!("cannot read the content of {cid}: {e}"),
                        },
                    });
                }
            }
        }
        let copies = references
            .iter()
            .map(|c| fetched.get(c).map_or(0, |b| b.len() as u64))
            .fold(0u64, u64::saturating_add);
        if copies > job.limits.memory_bytes() {
            return Err(ExecError::MemoryLimit {
                limit: job.limits.memory_bytes(),
            });
        }
        let args = job
            .args
            .iter()
            .zip(&func.params)
            .enumerate()
            .map(|(i, (a, (name, t)))| mapping::to_wit(i, name, a, t, &fetched, mode))
            .collect::<Result<Vec<_>, _>>()?;
        drop(fetched);
        let mut guest = match self.instance(prepared, Some(world), job, prefer).await {
            Ok(g) => g,
            Err(run) => return Ok(run),
        };
        let result = async {
            check_export(&prepared.facts, &func.name, func)?;
            let flat = abi::lower_args(&mut guest, func, &args)?;
            let results = guest.call_paced(&func.name, &flat, &self.pacer).await?;
            match (
                abi::lift_result(&mut guest, &func.name, func, &results)?,
                &func.result,
            ) {
                (Some(v), Some(t)) => mapping::to_ipld(&v, t).and_then(|out| {
                    // The output must read back from its receipt, in either format.
                    match nesting(&out) > MAX_NESTING {
                        true => Err(ExecError::Abi(format!(
                            "the output nests lists and maps more than {MAX_NESTING} levels deep"
                        ))),
                        false => Ok(out),
                    }
                }),
                _ => Ok(Ipld::Null),
            }
        }
        .await;
        Ok(Run::ended(guest, result))
    }
}

/// Checks every import of a module against what the runtime provides, in
/// module order, before any engine links it: the same answer on every
/// engine (an engine's own linker would name another import first, or
/// accept a function of another type).
fn check_imports(facts: &Metered, world: Option<&WitWorld>) -> Result<(), ExecError> {
    for (m, n, types) in &facts.all_imports {
        let (_, sig) = host::provided(m, n, world)?;
        let provided = abi::import_signature(&sig);
        match types {
            Some(t) if *t == provided => {}
            _ => {
                return Err(ExecError::Instantiate(format!(
                    "the module imports `{m}.{n}` with the core type {:?}, but the runtime provides {:?} -> {:?}",
                    types, provided.0, provided.1
                )))
            }
        }
    }
    Ok(())
}

/// Checks that the export implementing `f` has the core type the canonical
/// ABI gives `f`, before it is called: the same answer on every engine.
fn check_export(facts: &Metered, name: &str, f: &WitFunc) -> Result<(), ExecError> {
    let want = abi::export_signature(f);
    let found = facts.exports.iter().find(|e| e.name == name);
    match found.and_then(|e| e.numeric.as_ref()) {
        Some(types) if *types == want => Ok(()),
        _ => Err(ExecError::Signature {
            func: name.into(),
            reason: format!(
                "its core type is {:?}, but its WIT signature lowers to {:?} -> {:?}",
                found.and_then(|e| e.numeric.clone()),
                want.0,
                want.1
            ),
        }),
    }
}

fn contains_link(v: &Ipld, cid: &Cid) -> bool {
    let mut found = Vec::new();
    ipvm_core::address::links(v, &mut found);
    found.contains(cid)
}

/// Whether a store error says something about the environment (the store
/// failed, a block is damaged on disk) rather than about the content read.
fn is_environment(e: &CoreError) -> bool {
    !matches!(e, CoreError::UnixFs { .. } | CoreError::Decode { .. })
}

/// The execution of a run that gave `result` after `fuel`, with what host
/// functions did: the one place where an error becomes a limit and a
/// nondeterminism flag (a clock read anywhere in the task, or a time limit).
pub fn execution(result: Result<Ipld, ExecError>, fuel: u64, effects: HostEffects) -> Execution {
    let nondeterministic =
        effects.nondeterministic || matches!(result, Err(ExecError::TimeLimit { .. }));
    let mut ex = match result {
        Ok(value) => Execution::ok(value, fuel),
        Err(e) => {
            let mut ex = Execution::error(e.to_ipld(), fuel);
            ex.limit = e.limit().map(str::to_string);
            ex
        }
    };
    ex.nondeterministic = nondeterministic;
    ex.logs = effects.into_logs();
    ex
}

impl<S: BlockStore, E: Engine, P: Pacer> Executor for WasmExecutor<S, E, P> {
    fn ops(&self) -> &Ops {
        ops()
    }

    async fn execute(&self, job: Job) -> Execution {
        let started = web_time::Instant::now();
        let run = self.run(&job).await;
        let mut ex = execution(run.result, run.fuel, run.effects);
        ex.engine = run.engine.map(str::to_string);
        ex.micros = Some(started.elapsed().as_micros() as u64);
        ex
    }
}

/// Refuses a job whose arguments, with the awaited results substituted,
/// nest lists and maps more than [`MAX_NESTING`] levels. Each value is
/// within the bound on its own (a workflow's arguments and a task's output
/// are checked), but an await deep inside an argument can put a deep output
/// deeper still; such a job could not travel to a worker or be read back.
/// The answer depends only on the instruction and the awaited outputs, so it
/// is the task's result, the same on every executor.
pub fn check_nesting(job: &Job) -> Result<(), ExecError> {
    match job.args.iter().position(|a| nesting(a) > MAX_NESTING) {
        None => Ok(()),
        Some(index) => Err(ExecError::Argument {
            index,
            reason: format!(
                "with the awaited results in place, the argument nests lists and maps \
                 more than {MAX_NESTING} levels deep"
            ),
        }),
    }
}

/// The error for a function the module does not export under any of the
/// names `tried`; `exports` are the functions it does export.
fn no_such_function<'a>(
    func: &str,
    tried: &[String],
    mode: Mode,
    exports: impl IntoIterator<Item = &'a str>,
) -> ExecError {
    ExecError::NoSuchFunction {
        exports: crate::error::exports_hint(func, exports),
        func: func.to_string(),
        tried: match mode {
            Mode::Lenient => tried.join(", "),
            Mode::Exact => format!(
                "{func} only: an invocation names the export exactly, with no other spelling"
            ),
        },
    }
}

/// The export names tried for `func`: as given, then (lenient mode only)
/// kebab-case, snake_case, lowerCamelCase.
fn spellings(func: &str, mode: Mode) -> Vec<String> {
    if mode == Mode::Exact {
        return vec![func.to_string()];
    }
    let words: Vec<String> = func
        .split(['-', '_'])
        .filter(|w| !w.is_empty())
        .flat_map(split_camel)
        .collect();
    let camel: String = words
        .iter()
        .enumerate()
        .map(|(i, w)| if i == 0 { w.clone() } else { capitalise(w) })
        .collect();
    let mut out = Vec::new();
    for s in [func.to_string(), words.join("-"), words.join("_"), camel] {
        if !out.contains(&s) {
            out.push(s);
        }
    }
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
    cs.next()
        .map(|c| c.to_uppercase().chain(cs).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{spellings, Mode};

    #[test]
    fn export_spellings_follow_homestar() {
        let lenient = |f| spellings(f, Mode::Lenient);
        assert_eq!(lenient("add_one"), ["add_one", "add-one", "addOne"]);
        assert_eq!(lenient("add-one"), ["add-one", "add_one", "addOne"]);
        assert_eq!(lenient("addOne"), ["addOne", "add-one", "add_one"]);
    }

    #[test]
    fn exact_mode_tries_the_name_as_given_only() {
        assert_eq!(spellings("adminReset", Mode::Exact), ["adminReset"]);
        assert_eq!(spellings("admin-reset", Mode::Exact), ["admin-reset"]);
    }
}
