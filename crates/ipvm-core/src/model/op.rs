//! Ops: what an instruction's `op` names. One registry ([`Ops`]) says, per
//! op, its class (pure, query, mutation: docs/spec.md §6.4) and how the
//! instruction's `rsc` and `input` must look (§1). Parsing a workflow checks
//! every instruction through it; the scheduler takes each task's class from
//! the registry of its executor ([`crate::run::job::Executor::ops`]); an
//! executor routes a job by its op.
//!
//! The standard ops ([`Ops::standard`]) are the two this runtime runs:
//! [`WASM_RUN`] (Homestar's) and [`WASM_RUN_EXACT`] (what a UCAN invocation
//! becomes, §5c and §8 "Exact mode"). A runtime or a test adds its own with
//! [`Ops::with`].

use std::collections::BTreeMap;
use std::sync::OnceLock;

use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::model::address::{nesting, parse_cid, MAX_NESTING};
use crate::model::awaits::{self, kind_name};
use crate::ValidationError;

/// Op `wasm/run`: call a function of a Wasm module by Homestar's rules
/// (other spellings of the export, Homestar's argument conversions).
pub const WASM_RUN: &str = "wasm/run";
/// Op `wasm/run-exact`: the same call, exactly as written (§8 "Exact
/// mode"); the op of the instruction a UCAN invocation becomes.
pub const WASM_RUN_EXACT: &str = "wasm/run-exact";

/// What running an op does to the world (docs/spec.md §6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpClass {
    /// Computes a value from its inputs alone; safe to run any number of
    /// times, anywhere.
    Pure,
    /// Reads the world (a clock, a URL, a key-value store) without changing
    /// it: effectful, its answer may differ from run to run.
    Query,
    /// Changes the world: effectful.
    Mutation,
}

impl OpClass {
    /// Whether tasks of this class are effectful: they run only after every
    /// pure task of their workflow succeeded (§6.4).
    pub fn is_effectful(self) -> bool {
        self != OpClass::Pure
    }
}

/// What an op's check makes of an instruction's `rsc` and `input`: the call
/// an [`crate::model::workflow::Instruction`] holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The resource as written (`ipfs://<CID>`).
    pub rsc: String,
    /// The module's CID, parsed from `rsc`.
    pub module: Cid,
    /// The function to call (`input.func`).
    pub func: String,
    /// The arguments (`input.args`), awaits included as written.
    pub args: Vec<Ipld>,
}

/// An op's check: the task's index, its `run.rsc` and its `run.input`
/// (`None`: missing), to the call, or an error naming the task, the field
/// and why.
pub type Check =
    fn(task: usize, rsc: Option<&Ipld>, input: Option<&Ipld>) -> Result<Call, ValidationError>;

/// One op: its name, its class, and the check of an instruction's `rsc` and
/// `input`.
#[derive(Debug, Clone)]
pub struct Op {
    /// The name written in `run.op`, e.g. `wasm/run`.
    pub name: String,
    /// What running it does to the world.
    pub class: OpClass,
    /// How its `rsc` and `input` must look.
    pub check: Check,
}

impl Op {
    /// An op named `name` of class `class`, checked by `check` (for an op
    /// that calls a function of a module, [`module_call`]).
    pub fn new(name: impl Into<String>, class: OpClass, check: Check) -> Self {
        Self {
            name: name.into(),
            class,
            check,
        }
    }
}

/// A registry of ops, by name.
#[derive(Debug, Clone, Default)]
pub struct Ops {
    ops: BTreeMap<String, Op>,
}

impl Ops {
    /// A registry with no ops.
    pub fn new() -> Self {
        Self::default()
    }

    /// The standard ops: [`WASM_RUN`] and [`WASM_RUN_EXACT`], both pure,
    /// both checked by [`module_call`].
    pub fn standard() -> &'static Ops {
        static STANDARD: OnceLock<Ops> = OnceLock::new();
        STANDARD.get_or_init(|| {
            Ops::new()
                .with(Op::new(WASM_RUN, OpClass::Pure, module_call))
                .with(Op::new(WASM_RUN_EXACT, OpClass::Pure, module_call))
        })
    }

    /// The registry with `op` added (replacing an op of the same name).
    pub fn with(mut self, op: Op) -> Self {
        self.ops.insert(op.name.clone(), op);
        self
    }

    /// The op named `name`, if registered.
    pub fn get(&self, name: &str) -> Option<&Op> {
        self.ops.get(name)
    }

    /// The names of the registered ops, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.ops.keys().map(String::as_str)
    }

    /// The op named `name`, or the error of task `task` that names `run.op`
    /// and the ops this registry knows.
    pub fn lookup(&self, task: usize, name: &str) -> Result<&Op, ValidationError> {
        self.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.names().collect();
            ValidationError::new(
                task,
                "run.op",
                format!("unknown op `{name}` (known: {})", known.join(", ")),
            )
        })
    }
}

/// The check of an op that calls a function of a module (both standard
/// ops): `rsc` is `ipfs://<CID of the module>`, `input` is `{func, args}`
/// with a non-empty `func`, and each argument nests at most
/// [`MAX_NESTING`] levels, its awaits well formed.
pub fn module_call(
    task: usize,
    rsc: Option<&Ipld>,
    input: Option<&Ipld>,
) -> Result<Call, ValidationError> {
    let rsc = match rsc {
        Some(Ipld::String(s)) => s.clone(),
        None => return Err(ValidationError::new(task, "run.rsc", "is missing")),
        Some(other) => {
            return Err(ValidationError::new(
                task,
                "run.rsc",
                format!("must be a string, found {}", kind_name(other)),
            ))
        }
    };
    let Some(cid_text) = rsc.strip_prefix("ipfs://") else {
        return Err(ValidationError::new(
            task,
            "run.rsc",
            format!("`{rsc}` must be ipfs://<CID of the module>"),
        ));
    };
    let module =
        parse_cid(cid_text).map_err(|e| ValidationError::new(task, "run.rsc", e.to_string()))?;
    let input = match input {
        Some(Ipld::Map(m)) => m,
        None | Some(Ipld::Null) => {
            return Err(ValidationError::new(task, "run.input", "is missing"))
        }
        Some(other) => {
            return Err(ValidationError::new(
                task,
                "run.input",
                format!("must be a map, found {}", kind_name(other)),
            ))
        }
    };
    if let Some(k) = input
        .keys()
        .find(|k| !["func", "args"].contains(&k.as_str()))
    {
        return Err(ValidationError::new(
            task,
            format!("run.input.{k}"),
            "unknown field (expected one of: func, args)",
        ));
    }
    let func = match input.get("func") {
        Some(Ipld::String(s)) if s.is_empty() => {
            return Err(ValidationError::new(
                task,
                "run.input.func",
                "must not be empty",
            ))
        }
        Some(Ipld::String(s)) => s.clone(),
        None => return Err(ValidationError::new(task, "run.input.func", "is missing")),
        Some(other) => {
            return Err(ValidationError::new(
                task,
                "run.input.func",
                format!("must be a string, found {}", kind_name(other)),
            ))
        }
    };
    let args = match input.get("args") {
        Some(Ipld::List(items)) => items.clone(),
        Some(other) => {
            return Err(ValidationError::new(
                task,
                "run.input.args",
                format!("must be a list, found {}", kind_name(other)),
            ))
        }
        None => return Err(ValidationError::new(task, "run.input.args", "is missing")),
    };
    let mut found = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if nesting(a) > MAX_NESTING {
            return Err(ValidationError::new(
                task,
                format!("run.input.args[{i}]"),
                format!("nests lists and maps more than {MAX_NESTING} levels deep"),
            ));
        }
        awaits::collect(a, task, &format!("run.input.args[{i}]"), &mut found)?;
    }
    Ok(Call {
        rsc,
        module,
        func,
        args,
    })
}
