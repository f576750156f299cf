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

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use ipvm_core::store::add_file;
    use ipvm_core::{Ipld, Limits};

    /// `add_one` and a trap, in WAT's binary form.
    const MODULE: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
        0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f, // type: (i32) -> i32
        0x03, 0x03, 0x02, 0x00, 0x00, // two functions of it
        0x07, 0x12, 0x02, // two exports
        0x07, b'a', b'd', b'd', b'_', b'o', b'n', b'e', 0x00, 0x00, // add_one
        0x04, b't', b'r', b'a', b'p', 0x00, 0x01, // trap
        0x0a, 0x0d, 0x02, // code
        0x07, 0x00, 0x20, 0x00, 0x41, 0x01, 0x6a, 0x0b, // local.get 0, i32.const 1, i32.add
        0x03, 0x00, 0x00, 0x0b, // unreachable
    ];

    fn job(module: Cid, func: &str) -> Job {
        Job {
            task: 0,
            instruction: ipvm_core::address::raw_cid(func.as_bytes()),
            module,
            op: "wasm/run".into(),
            func: func.into(),
            args: vec![Ipld::Integer(41)],
            limits: Limits::default(),
            receipt: None,
            engine: None,
        }
    }

    #[test]
    fn every_engine_choice_gives_the_same_execution_and_names_its_engine() {
        let mut answers = Vec::new();
        for (choice, engine) in [
            (EngineChoice::Auto, "wasmtime"),
            (EngineChoice::Wasmtime, "wasmtime"),
            (EngineChoice::Wasmi, "wasmi"),
        ] {
            let store = SqliteStore::open_in_memory().unwrap();
            let module = block_on(add_file(&store, MODULE)).unwrap();
            let exec = NodeExecutor::new(store, choice, None).unwrap();
            for func in ["add_one", "trap"] {
                let j = job(module, func);
                let instruction = j.instruction;
                let ex = block_on(exec.execute(j));
                assert_eq!(ex.engine.as_deref(), Some(engine), "{choice:?} {func}");
                assert_eq!(exec.engine_of(&instruction).as_deref(), Some(engine));
                answers.push((func, format!("{:?} {}", ex.out, ex.fuel)));
            }
        }
        assert!(answers[0].1.contains("42"), "{answers:?}");
        // Iterator::skip, not a skipped test: the first engine's pair is the
        // reference each later engine's pair is compared with.
        for pair in answers.chunks(2).skip(1) {
            assert_eq!(pair, &answers[0..2], "the same answers on every engine");
        }
    }

    #[test]
    fn engine_names_are_auto_wasmtime_and_wasmi() {
        assert_eq!(EngineChoice::parse("auto"), Ok(EngineChoice::Auto));
        assert_eq!(EngineChoice::parse("wasmtime"), Ok(EngineChoice::Wasmtime));
        assert_eq!(EngineChoice::parse("wasmi"), Ok(EngineChoice::Wasmi));
        let e = EngineChoice::parse("fast").unwrap_err();
        assert!(e.contains("auto, wasmtime and wasmi"), "{e}");
    }
}
