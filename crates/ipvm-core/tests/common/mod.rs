//! Helpers shared by the core's integration tests: workflow builders and a
//! counting executor whose functions are defined in Rust (the scheduler is
//! under test here, not Wasm; the executor crate tests real modules).

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test file uses a different subset"
)]

use std::cell::RefCell;
use std::collections::BTreeMap;

use std::sync::OnceLock;

use ipvm_core::model::op::{module_call, Op, OpClass, Ops};
use ipvm_core::{address, Cid, Execution, Executor, Instruction, Ipld, Job, Task, Workflow};

/// The trust policy of a runtime that trusts no one but itself.
pub fn untrusting() -> ipvm_core::Trust {
    ipvm_core::Trust::new(ipvm_core::Ed25519Key::from_seed([200; 32]).did().clone())
}

/// A module CID for tests (no bytes needed: the test executor ignores it).
pub fn module() -> Cid {
    address::raw_cid(b"test module")
}

pub fn instr(func: &str, args: Vec<Ipld>) -> Instruction {
    Instruction::new(
        module(),
        "wasm/run",
        func,
        args,
        Ipld::String(String::new()),
    )
    .unwrap()
}

pub fn instr_op(op: &str, func: &str, args: Vec<Ipld>) -> Instruction {
    Instruction::new(module(), op, func, args, Ipld::String(String::new())).unwrap()
}

pub fn awaits(kind: &str, target: &Instruction) -> Ipld {
    Ipld::Map(BTreeMap::from([(
        kind.to_string(),
        Ipld::Link(target.cid()),
    )]))
}

pub fn workflow(instrs: &[Instruction]) -> Workflow {
    Workflow::new(instrs.iter().cloned().map(Task::new).collect())
}

/// The effectful op of the tests: a mutation, its call shaped as `wasm/run`'s.
pub const TEST_EFFECT: &str = "test/effect";

/// The ops of [`TestExecutor`]: the standard ones and [`TEST_EFFECT`].
pub fn test_ops() -> &'static Ops {
    static OPS: OnceLock<Ops> = OnceLock::new();
    OPS.get_or_init(|| {
        Ops::standard()
            .clone()
            .with(Op::new(TEST_EFFECT, OpClass::Mutation, module_call))
    })
}

/// Functions: `inc(n)`, `add(a, b)`, `fail(..)` (always errors), `id(x)`,
/// `handle(failure, how, value)` (a `catch` handler), `noop(..)`; op `test/effect` is effectful and records its calls.
#[derive(Default)]
pub struct TestExecutor {
    pub calls: RefCell<Vec<(usize, String)>>,
    pub effects: RefCell<Vec<usize>>,
}

impl TestExecutor {
    pub fn count(&self) -> usize {
        self.calls.borrow().len()
    }
}

/// An error value `{"kind", "message"}`, as executors write them.
pub fn error_value(kind: &str, message: &str) -> Ipld {
    Ipld::Map(BTreeMap::from([
        ("kind".to_string(), Ipld::String(kind.into())),
        ("message".to_string(), Ipld::String(message.into())),
    ]))
}

fn int(v: &Ipld) -> i128 {
    match v {
        Ipld::Integer(i) => *i,
        other => panic!("not an int: {other:?}"),
    }
}

impl Executor for TestExecutor {
    fn ops(&self) -> &Ops {
        test_ops()
    }

    async fn execute(&self, job: Job) -> Execution {
        self.calls.borrow_mut().push((job.task, job.func.clone()));
        // Routed by op: the effect records its call; the others compute.
        if job.op == TEST_EFFECT {
            self.effects.borrow_mut().push(job.task);
            return Execution::ok(Ipld::Null, 1);
        }
        match job.func.as_str() {
            "inc" => Execution::ok(Ipld::Integer(int(&job.args[0]) + 1), 1),
            "add" => Execution::ok(Ipld::Integer(int(&job.args[0]) + int(&job.args[1])), 1),
            "fail" => Execution::error(error_value("trap", "boom"), 1),
            "id" => Execution::ok(job.args[0].clone(), 1),
            // A `catch` handler: handle(failure, how, value) answers
            // `{how: value}`; how "trap" fails, "fuel" runs out of fuel,
            // "raw" answers the value itself (not a Handle).
            "handle" => {
                let text = |v: &Ipld| match v {
                    Ipld::String(s) => s.clone(),
                    other => panic!("not a string: {other:?}"),
                };
                let how = text(&job.args[1]);
                match how.as_str() {
                    "trap" => Execution::error(error_value("trap", "the handler trapped"), 1),
                    "fuel" => Execution::error(error_value("out_of_fuel", "out of fuel"), 1),
                    "raw" => Execution::ok(job.args[2].clone(), 1),
                    _ => Execution::ok(Ipld::Map(BTreeMap::from([(how, job.args[2].clone())])), 1),
                }
            }
            _ => Execution::ok(Ipld::Null, 0),
        }
    }
}

/// A runtime of the tests: a store holding the test module, a key from
/// `seed`, and a trust policy that trusts `trusted` besides itself.
pub struct TestRuntime {
    pub store: ipvm_core::MemoryStore,
    pub key: ipvm_core::Ed25519Key,
    pub trust: ipvm_core::Trust,
}

impl TestRuntime {
    pub fn new(seed: u8, trusted: &[&ipvm_core::Ed25519Key]) -> Self {
        use ipvm_core::BlockStore as _;
        let key = ipvm_core::Ed25519Key::from_seed([seed; 32]);
        let trust = ipvm_core::Trust::new(key.did().clone())
            .with_signers(trusted.iter().map(|k| k.did().clone()));
        let store = ipvm_core::MemoryStore::new();
        futures::executor::block_on(store.put_block(module(), b"test module".to_vec())).unwrap();
        Self { store, key, trust }
    }

    /// Runs `wf` through `exec`, signing with its key under its trust policy.
    pub fn run<E: Executor>(&self, exec: &E, wf: &Workflow) -> ipvm_core::RunReport {
        futures::executor::block_on(
            ipvm_core::Scheduler::new(exec, &self.store)
                .with_identity(&self.key, &self.trust)
                .run(wf, &mut |_| {}, &ipvm_core::CancelToken::new()),
        )
        .unwrap()
    }
}

/// Five tasks: a chain of three (each awaits the one before) and two alone.
pub fn five_tasks() -> Workflow {
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let b = instr("inc", vec![awaits("await/ok", &a)]);
    let c = instr("inc", vec![awaits("await/ok", &b)]);
    let d = instr("inc", vec![Ipld::Integer(10)]);
    let e = instr("add", vec![Ipld::Integer(2), Ipld::Integer(3)]);
    workflow(&[a, b, c, d, e])
}
