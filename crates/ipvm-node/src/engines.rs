//! The node's engines (`--engine auto|wasmtime|wasmi`): wasmtime
//! (`ipvm-wasmtime`) runs tasks, wasmi decides what compiles and re-runs
//! what wasmtime could not decide, or runs everything with `--engine wasmi`.
//! Every engine writes the same receipt; the engine a task ran on is kept
//! per instruction for the progress lines (`engine wasmtime`), never in a
//! receipt. wasmtime's compiled code is cached beside a store on disk.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use ipvm_core::{Cid, Execution, Executor, Job, Ops};
use ipvm_exec::{Either, Prefer, WasmExecutor, WasmiEngine};
use ipvm_store::SqliteStore;
use ipvm_wasmtime::WasmtimeEngine;

/// What `--engine` names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum EngineChoice {
    /// wasmtime where it is built in (natively, always), else wasmi.
    #[default]
    Auto,
    /// wasmtime, wasmi for what it cannot decide.
    Wasmtime,
    /// wasmi for everything.
    Wasmi,
}

impl EngineChoice {
    /// Reads `--engine NAME`.
    pub(crate) fn parse(name: &str) -> Result<Self, String> {
        match name {
            "auto" => Ok(Self::Auto),
            "wasmtime" => Ok(Self::Wasmtime),
            "wasmi" => Ok(Self::Wasmi),
            other => Err(format!(
                "`--engine {other}`: the engines are auto, wasmtime and wasmi"
            )),
        }
    }

    fn prefer(self) -> Prefer {
        match self {
            Self::Auto | Self::Wasmtime => Prefer::Fast,
            Self::Wasmi => Prefer::Reference,
        }
    }
}

/// The directory of wasmtime's compiled-code cache, beside the store's file.
pub(crate) const CACHE_DIR: &str = "wasmtime-cache";

/// The node's executor: the standard one on wasmtime and wasmi, noting
/// which engine ran each instruction.
pub(crate) struct NodeExecutor {
    inner: WasmExecutor<SqliteStore, Either<WasmtimeEngine, WasmiEngine>>,
    ran_on: RefCell<HashMap<Cid, String>>,
}

impl NodeExecutor {
    /// An executor reading `store`, on `choice`; wasmtime's cache in
    /// `cache` (a store on disk), or none (`--memory`). A cache that cannot
    /// be opened costs compilations, not the run: it is said and skipped.
    pub(crate) fn new(
        store: SqliteStore,
        choice: EngineChoice,
        cache: Option<&Path>,
    ) -> Result<Self, String> {
        let engines = match ipvm_wasmtime::engines(choice.prefer(), cache) {
            Ok(e) => e,
            Err(e) if cache.is_some() => {
                eprintln!("wasmtime's cache is off: {e}");
                ipvm_wasmtime::engines(choice.prefer(), None)?
            }
            Err(e) => return Err(e),
        };
        Ok(Self {
            inner: WasmExecutor::with_engine(store, engines),
            ran_on: RefCell::new(HashMap::new()),
        })
    }

    /// The engine that last ran `instruction` here, if it ran.
    pub(crate) fn engine_of(&self, instruction: &Cid) -> Option<String> {
        self.ran_on.borrow().get(instruction).cloned()
    }
}

impl Executor for NodeExecutor {
    fn ops(&self) -> &Ops {
        self.inner.ops()
    }

    async fn execute(&self, job: Job) -> Execution {
        let instruction = job.instruction;
        let ex = self.inner.execute(job).await;
        if let Some(engine) = &ex.engine {
            self.ran_on.borrow_mut().insert(instruction, engine.clone());
        }
        ex
    }
}
