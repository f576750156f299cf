//! The registry of ops (docs/spec.md §1, §6.4): an instruction's `rsc` and
//! `input` are checked by the op it names; an op not in the registry is an
//! error naming `run.op` and the known ops; a runtime adds its own ops, and
//! the scheduler takes each task's class (pure, query, mutation) from its
//! executor's registry.

mod common;

use common::*;
use futures::executor::block_on;
use ipvm_core::model::op::{module_call, Call, Op, OpClass, Ops, WASM_RUN, WASM_RUN_EXACT};
use ipvm_core::run::report::TaskStatus;
use ipvm_core::{
    CancelToken, CoreError, Execution, Executor, Ipld, Job, MemoryStore, Scheduler, Task,
    ValidationError, Workflow,
};

const MODULE: &str = "bafybeibk42jwhq7w2zcpe6q3wgtleugp3ymfs3pa5gerjmnakqihhqx4zq";

/// A workflow of a good task, then a task whose `run` is `run` (JSON).
fn second_task(run: &str) -> String {
    format!(
        r#"{{"tasks":[
          {{"run":{{"rsc":"ipfs://{MODULE}","op":"wasm/run","input":{{"func":"add_one","args":[1]}},"nnc":""}}}},
          {{"run":{run}}}]}}"#
    )
}

fn invalid_with(json: &str, ops: &Ops) -> ValidationError {
    match Workflow::from_dag_json_with(json.as_bytes(), ops) {
        Err(CoreError::Invalid(v)) => *v,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn invalid(json: &str) -> ValidationError {
    invalid_with(json, Ops::standard())
}

#[test]
fn the_standard_ops_are_the_two_pure_wasm_ops() {
    let ops = Ops::standard();
    assert_eq!(ops.names().collect::<Vec<_>>(), [WASM_RUN, WASM_RUN_EXACT]);
    for name in [WASM_RUN, WASM_RUN_EXACT] {
        assert_eq!(ops.get(name).map(|op| op.class), Some(OpClass::Pure));
    }
    assert_eq!(
        ipvm_core::ucan::wasm::EXACT_RUN_OP,
        WASM_RUN_EXACT,
        "an invocation's task names a standard op"
    );
}

#[test]
fn an_unknown_op_is_named_with_the_task_the_field_and_the_known_ops() {
    let v = invalid(&second_task(&format!(
        r#"{{"rsc":"ipfs://{MODULE}","op":"wasm/teleport","input":{{"func":"add_one","args":[1]}},"nnc":""}}"#
    )));
    assert_eq!((v.task, v.field.as_str()), (1, "run.op"));
    assert_eq!(
        v.reason,
        "unknown op `wasm/teleport` (known: wasm/run, wasm/run-exact)"
    );
    // The same error through `from_dag_json` (the standard registry), whole.
    let json = second_task(&format!(
        r#"{{"rsc":"ipfs://{MODULE}","op":"http/get","input":{{"func":"f","args":[]}}}}"#
    ));
    let err = Workflow::from_dag_json(json.as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "task 1: field `run.op`: unknown op `http/get` (known: wasm/run, wasm/run-exact)"
    );
}

#[test]
fn an_rsc_of_the_wrong_shape_is_named_by_the_op_s_check() {
    for (rsc, why) in [
        (
            r#""https://example.com/add.wasm""#,
            "must be ipfs://<CID of the module>",
        ),
        ("42", "must be a string, found an integer"),
        (r#""ipfs://bafyNOTACID""#, "not a valid CID"),
    ] {
        for op in [WASM_RUN, WASM_RUN_EXACT] {
            let v = invalid(&second_task(&format!(
                r#"{{"rsc":{rsc},"op":"{op}","input":{{"func":"add_one","args":[1]}}}}"#
            )));
            assert_eq!((v.task, v.field.as_str()), (1, "run.rsc"), "{op} {rsc}");
            assert!(v.reason.contains(why), "{op} {rsc}: {}", v.reason);
        }
    }
    let v = invalid(&second_task(
        r#"{"op":"wasm/run","input":{"func":"add_one","args":[1]}}"#,
    ));
    assert_eq!(
        (v.task, v.field.as_str(), v.reason.as_str()),
        (1, "run.rsc", "is missing")
    );
}

#[test]
fn an_input_of_the_wrong_shape_is_named_by_the_op_s_check() {
    for (input, field, why) in [
        ("[1]", "run.input", "must be a map, found a list"),
        ("null", "run.input", "is missing"),
        (r#"{"args":[1]}"#, "run.input.func", "is missing"),
        (
            r#"{"func":"","args":[1]}"#,
            "run.input.func",
            "must not be empty",
        ),
        (
            r#"{"func":7,"args":[1]}"#,
            "run.input.func",
            "must be a string",
        ),
        (r#"{"func":"f"}"#, "run.input.args", "is missing"),
        (
            r#"{"func":"f","args":{"a":1}}"#,
            "run.input.args",
            "must be a list, found a map",
        ),
        (
            r#"{"func":"f","args":[],"url":"x"}"#,
            "run.input.url",
            "unknown field",
        ),
    ] {
        let v = invalid(&second_task(&format!(
            r#"{{"rsc":"ipfs://{MODULE}","op":"wasm/run","input":{input}}}"#
        )));
        assert_eq!((v.task, v.field.as_str()), (1, field), "{input}");
        assert!(v.reason.contains(why), "{input}: {}", v.reason);
    }
}

/// An op of a runtime's own: a clock read, a query, whose check takes
/// `wasm/run`'s shape and one function only.
fn clock_check(
    task: usize,
    rsc: Option<&Ipld>,
    input: Option<&Ipld>,
) -> Result<Call, ValidationError> {
    let call = module_call(task, rsc, input)?;
    if call.func != "now" {
        return Err(ValidationError {
            task,
            field: "run.input.func".into(),
            reason: format!("test/clock has one function, `now`; found `{}`", call.func),
        });
    }
    Ok(call)
}

fn with_clock() -> Ops {
    Ops::standard()
        .clone()
        .with(Op::new("test/clock", OpClass::Query, clock_check))
}

#[test]
fn a_runtime_registers_its_own_ops_and_their_checks() {
    let clock = |func: &str| {
        second_task(&format!(
            r#"{{"rsc":"ipfs://{MODULE}","op":"test/clock","input":{{"func":"{func}","args":[]}}}}"#
        ))
    };
    // Unknown to the standard registry.
    assert_eq!(invalid(&clock("now")).field, "run.op");
    // Known to the runtime's, and checked by its own rule.
    let ops = with_clock();
    let wf = Workflow::from_dag_json_with(clock("now").as_bytes(), &ops).unwrap();
    assert_eq!(wf.tasks[1].run.op, "test/clock");
    let v = invalid_with(&clock("later"), &ops);
    assert_eq!((v.task, v.field.as_str()), (1, "run.input.func"));
    assert!(v.reason.contains("one function, `now`"), "{}", v.reason);
    assert!(
        invalid_with(&second_task(r#"{"op":"wasm/nope"}"#), &ops)
            .reason
            .contains("known: test/clock, wasm/run, wasm/run-exact"),
        "the error lists the runtime's ops"
    );
}

#[test]
fn a_stored_task_reads_back_whatever_its_op() {
    // Read from a stored invocation: admitted when it ran, by a runtime that
    // knew its op.
    let ins = instr_op("test/clock", "now", vec![]);
    let task = Task::from_ipld(&Task::new(ins.clone()).to_ipld()).unwrap();
    assert_eq!(task.run, ins);
}

/// The test executor with the clock added: a query answers 0.
struct Clocked(TestExecutor, Ops);

impl Executor for Clocked {
    fn ops(&self) -> &Ops {
        &self.1
    }
    async fn execute(&self, job: Job) -> Execution {
        if job.op == "test/clock" {
            self.0.effects.borrow_mut().push(job.task);
            return Execution::ok(Ipld::Integer(0), 1);
        }
        self.0.execute(job).await
    }
}

#[test]
fn a_query_is_effectful_it_runs_last_and_never_after_a_pure_failure() {
    let ops = test_ops()
        .clone()
        .with(Op::new("test/clock", OpClass::Query, clock_check));
    let clock = instr_op("test/clock", "now", vec![]);
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let exec = Clocked(TestExecutor::default(), ops.clone());
    let store = MemoryStore::new();
    let report = block_on(Scheduler::new(&exec, &store).run(
        &workflow(&[clock.clone(), a.clone()]),
        &mut |_| {},
        &CancelToken::new(),
    ))
    .unwrap();
    assert!(report.succeeded());
    let order: Vec<usize> = exec.0.calls.borrow().iter().map(|c| c.0).collect();
    assert_eq!(
        order,
        [1],
        "the pure task ran (the query is not counted as a call)"
    );
    assert_eq!(*exec.0.effects.borrow(), [0]);

    let exec = Clocked(TestExecutor::default(), ops);
    let report = block_on(Scheduler::new(&exec, &store).run(
        &workflow(&[clock, instr("fail", vec![])]),
        &mut |_| {},
        &CancelToken::new(),
    ))
    .unwrap();
    assert!(exec.0.effects.borrow().is_empty());
    match &report.tasks[0].status {
        TaskStatus::Skipped(why) => assert!(why.contains("pure task"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_executor_refuses_a_task_whose_op_it_does_not_run() {
    // `test/effect` is the test executor's; a Wasm-only executor's registry
    // is the standard one.
    struct WasmOnly(TestExecutor);
    impl Executor for WasmOnly {
        fn ops(&self) -> &Ops {
            Ops::standard()
        }
        async fn execute(&self, job: Job) -> Execution {
            self.0.execute(job).await
        }
    }
    let exec = WasmOnly(TestExecutor::default());
    let store = MemoryStore::new();
    let err = block_on(Scheduler::new(&exec, &store).run(
        &workflow(&[
            instr("inc", vec![1.into()]),
            instr_op(TEST_EFFECT, "publish", vec![]),
        ]),
        &mut |_| {},
        &CancelToken::new(),
    ))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "task 1: field `run.op`: unknown op `test/effect` (known: wasm/run, wasm/run-exact)"
    );
    assert_eq!(exec.0.count(), 0, "nothing ran");
}
