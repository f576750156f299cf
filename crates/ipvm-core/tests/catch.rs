//! Workflow `defaults` and `catch` (IPVM Workflow v0.1, §2.1.5, §2.1.7, §5),
//! on the test executor: defaults fill what a task's `meta` leaves out; a
//! failed pure task's handler answers `ok`, `rewire` or `msg`; a handler that
//! fails or runs out of fuel leaves the failure as it was; what awaits a
//! handled task sees the replacement, under an instruction of its own, so no
//! receipt ever says that the original instruction gave it.

// The same file runs natively and in headless Chromium (`npm test`'s
// `core-browser` suite).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod common;

use common::*;
use futures::executor::block_on;
use ipvm_core::run::report::TaskStatus;
use ipvm_core::{
    memo, CancelToken, CatchNote, CoreError, Event, Handled, Instruction, Ipld, MemoryStore,
    Outcome, Quarantine, RunReport, Scheduler, Workflow,
};

fn run(exec: &TestExecutor, store: &MemoryStore, wf: &Workflow) -> (RunReport, Vec<Event>) {
    let mut events = Vec::new();
    let report = block_on(Scheduler::new(exec, store).run(
        wf,
        &mut |e| events.push(e.clone()),
        &CancelToken::new(),
    ))
    .unwrap();
    (report, events)
}

/// An instruction as DAG-JSON.
fn json(i: &Instruction) -> String {
    String::from_utf8(
        ipvm_core::address::to_dag_json(&i.to_ipld())
            .unwrap()
            .into_bytes(),
    )
    .unwrap()
}

/// A workflow of `tasks` (each `(instruction, meta JSON)`) with extra
/// top-level fields, parsed as a user's would be.
fn parse(tasks: &[(&Instruction, &str)], extra: &str) -> Result<Workflow, CoreError> {
    let tasks: Vec<String> = tasks
        .iter()
        .map(|(i, meta)| {
            format!(
                r#"{{"run":{},"cause":null,"meta":{meta},"prf":[]}}"#,
                json(i)
            )
        })
        .collect();
    let text = format!(r#"{{"tasks":[{}]{extra}}}"#, tasks.join(","));
    Workflow::from_dag_json_with(text.as_bytes(), test_ops())
}

/// `"catch": handle(failure, how, value)`.
fn catch(how: &str, value: &str) -> String {
    format!(
        r#","catch":{{"rsc":"ipfs://{}","func":"handle","args":["{how}",{value}],"meta":{{"fuel":500}}}}"#,
        module()
    )
}

fn out(report: &RunReport, i: usize) -> Outcome {
    report.tasks[i].receipt().unwrap().receipt.out.clone()
}

fn message(o: &Outcome) -> String {
    match o {
        Outcome::Err(Ipld::Map(m)) => match m.get("message") {
            Some(Ipld::String(s)) => s.clone(),
            other => panic!("{other:?}"),
        },
        other => panic!("not an error: {other:?}"),
    }
}

fn skipped(report: &RunReport, i: usize) -> String {
    match &report.tasks[i].status {
        TaskStatus::Skipped(why) => why.clone(),
        other => panic!("task {i} was not skipped: {other:?}"),
    }
}

#[test]
fn defaults_fill_what_a_task_s_meta_leaves_out() {
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let b = instr("inc", vec![Ipld::Integer(2)]);
    let c = instr("inc", vec![Ipld::Integer(3)]);
    let defaults = r#","defaults":{"fuel":100,"memory":65536,"time":5000}"#;
    let wf = parse(
        &[
            (&a, "{}"),
            (&b, r#"{"fuel":7}"#),
            (&c, r#"{"fuel":18446744073709551615}"#),
        ],
        defaults,
    )
    .unwrap();
    let limits: Vec<_> = wf
        .tasks
        .iter()
        .map(|t| (t.limits.fuel, t.limits.memory, t.limits.time))
        .collect();
    assert_eq!(
        limits,
        [
            (Some(100), Some(65536), Some(5000)),
            (Some(7), Some(65536), Some(5000)),
            // A task's own "no limit" stands.
            (None, Some(65536), Some(5000)),
        ]
    );
    // Limits are not part of an instruction: the CIDs are Homestar's.
    let plain = parse(&[(&a, "{}"), (&b, r#"{"fuel":7}"#), (&c, "{}")], "").unwrap();
    let cids = |w: &Workflow| w.tasks.iter().map(|t| t.run.cid()).collect::<Vec<_>>();
    assert_eq!(cids(&wf), cids(&plain));
    assert_eq!(cids(&wf), [a.cid(), b.cid(), c.cid()]);
    assert_eq!(plain.tasks[0].limits.fuel, None);
}

#[test]
fn bad_defaults_and_catch_name_the_field_and_the_reason() {
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let err = |extra: &str| parse(&[(&a, "{}")], extra).unwrap_err().to_string();
    assert!(
        err(r#","defaults":{"fuel":-1}"#)
            .contains("`defaults.fuel`: must not be negative, found -1"),
        "{}",
        err(r#","defaults":{"fuel":-1}"#)
    );
    assert!(err(r#","defaults":{"gas":1}"#).contains("`defaults.gas`: unknown field"));
    assert!(err(r#","catch":{"rsc":"x","func":"f"}"#)
        .contains("`catch.rsc`: `x` must be ipfs://<CID of the module>"));
    let m = module();
    assert!(
        err(&format!(r#","catch":{{"rsc":"ipfs://{m}"}}"#)).contains("`catch.func`: is missing")
    );
    assert!(err(&format!(
        r#","catch":{{"rsc":"ipfs://{m}","func":"f","on":1}}"#
    ))
    .contains("`catch.on`: unknown field"));
    let awaiting = format!(
        r#","catch":{{"rsc":"ipfs://{m}","func":"f","args":[{{"await/ok":{{"/":"{}"}}}}]}}"#,
        a.cid()
    );
    assert!(
        err(&awaiting).contains("`catch.args`: must not await"),
        "{}",
        err(&awaiting)
    );
    assert!(err(r#","extra":1"#).contains("unknown top-level field `extra`"));
}

#[test]
fn ok_replaces_the_failure_for_what_awaits_it_and_the_effects_run() {
    let exec = TestExecutor::default();
    let store = MemoryStore::new();
    let a = instr("fail", vec![]);
    let b = instr("inc", vec![awaits("await/ok", &a)]);
    let c = instr("inc", vec![awaits("await/ok", &b)]);
    let effect = instr_op(TEST_EFFECT, "notify", vec![awaits("await/ok", &c)]);
    let wf = parse(
        &[(&a, "{}"), (&b, "{}"), (&c, "{}"), (&effect, "{}")],
        &catch("ok", "41"),
    )
    .unwrap();
    let (report, events) = run(&exec, &store, &wf);
    // a failed: its receipt says so; its handler is task 4, after the workflow's own.
    assert!(matches!(out(&report, 0), Outcome::Err(_)));
    assert_eq!(report.tasks.len(), 5);
    assert_eq!(
        report.tasks[0].catch,
        Some(CatchNote::Handled {
            by: 4,
            how: Handled::Ok
        })
    );
    assert_eq!(report.tasks[4].catch, Some(CatchNote::Handler { of: 0 }));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Queued { task: 4, .. })));
    // The handler got the failure: the failed instruction and its error.
    let handler = &report.tasks[4].receipt().unwrap();
    assert_eq!(
        handler.receipt.out,
        Outcome::Ok(Ipld::Map([("ok".to_string(), Ipld::Integer(41))].into()))
    );
    // b and c see the replacement, as instructions of their own (b with 41
    // in place of the await, c pointing at that b), memoized as such.
    assert_eq!(out(&report, 1), Outcome::Ok(Ipld::Integer(42)));
    assert_eq!(out(&report, 2), Outcome::Ok(Ipld::Integer(43)));
    let b2 = instr("inc", vec![Ipld::Integer(41)]);
    assert_eq!(report.tasks[1].instruction, b2.cid());
    let c2 = instr("inc", vec![awaits("await/ok", &b2)]);
    assert_eq!(report.tasks[2].instruction, c2.cid());
    assert_ne!(report.tasks[1].instruction, b.cid());
    // The failure was handled: the effect ran.
    assert_eq!(*exec.effects.borrow(), vec![3]);
    // No receipt says that b's own instruction (awaiting a's output) gave 42.
    let q = Quarantine::new();
    for original in [b.cid(), c.cid()] {
        assert!(block_on(memo::lookup(&store, &q, None, &original))
            .unwrap()
            .value
            .is_none());
    }
    // Again: every answer is a memo hit, the handler's (and the effect's) too.
    let calls = exec.count();
    let (again, _) = run(&exec, &store, &wf);
    assert_eq!(again.tasks.len(), 5);
    assert!(again
        .tasks
        .iter()
        .all(|t| matches!(t.status, TaskStatus::Reused(_))));
    assert_eq!(again.tasks[1].instruction, b2.cid());
    assert_eq!(
        exec.count(),
        calls,
        "nothing ran: {:?}",
        exec.calls.borrow()
    );
    // Without the catch, b is skipped: the handled value never leaks.
    let plain = parse(&[(&a, "{}"), (&b, "{}")], "").unwrap();
    let (report, _) = run(&exec, &store, &plain);
    assert!(skipped(&report, 1).contains("which failed"));
}

#[test]
fn rewire_points_what_awaits_the_failure_at_another_task() {
    let exec = TestExecutor::default();
    let store = MemoryStore::new();
    let a = instr("fail", vec![]);
    let r = instr("inc", vec![Ipld::Integer(10)]);
    let b = instr("inc", vec![awaits("await/ok", &a)]);
    let target = format!("\"{}\"", r.cid());
    let wf = parse(
        &[(&a, "{}"), (&b, "{}"), (&r, "{}")],
        &catch("rewire", &target),
    )
    .unwrap();
    let (report, _) = run(&exec, &store, &wf);
    assert_eq!(
        report.tasks[0].catch,
        Some(CatchNote::Handled {
            by: 3,
            how: Handled::Rewire { to: 2 }
        })
    );
    assert_eq!(out(&report, 1), Outcome::Ok(Ipld::Integer(12)));
    assert_eq!(
        report.tasks[1].instruction,
        instr("inc", vec![awaits("await/ok", &r)]).cid()
    );

    // To a task that awaits the failed one: refused, the failure stands.
    let c = instr("id", vec![awaits("await/error", &a)]);
    let target = format!("\"{}\"", c.cid());
    let wf = parse(
        &[(&a, "{}"), (&b, "{}"), (&c, "{}")],
        &catch("rewire", &target),
    )
    .unwrap();
    let (report, _) = run(&exec, &store, &wf);
    let Some(CatchNote::Handled {
        how: Handled::Failed(why),
        ..
    }) = &report.tasks[0].catch
    else {
        panic!("{:?}", report.tasks[0].catch)
    };
    assert!(why.contains("which awaits it"), "{why}");
    assert!(skipped(&report, 1).contains("which failed"));
    // Its await/error still sees the failure as it was.
    assert_eq!(message(&out(&report, 2).map_ok_for_test()), "boom");
}

#[test]
fn msg_restates_the_failure_and_the_effects_stay_unrun() {
    let exec = TestExecutor::default();
    let store = MemoryStore::new();
    let a = instr("fail", vec![]);
    let b = instr("inc", vec![awaits("await/ok", &a)]);
    let c = instr("id", vec![awaits("await/error", &a)]);
    let effect = instr_op(TEST_EFFECT, "notify", vec![]);
    let wf = parse(
        &[(&a, "{}"), (&b, "{}"), (&c, "{}"), (&effect, "{}")],
        &catch("msg", "\"the input was empty\""),
    )
    .unwrap();
    let (report, _) = run(&exec, &store, &wf);
    assert_eq!(
        report.tasks[0].catch,
        Some(CatchNote::Handled {
            by: 4,
            how: Handled::Msg("the input was empty".into())
        })
    );
    assert!(
        skipped(&report, 1).contains("the input was empty"),
        "{}",
        skipped(&report, 1)
    );
    // await/error sees the restated error, under an instruction of its own.
    assert_eq!(
        message(&out(&report, 2).map_ok_for_test()),
        "the input was empty"
    );
    assert_ne!(report.tasks[2].instruction, c.cid());
    assert!(skipped(&report, 3).contains("a pure task of the workflow failed"));
    assert!(exec.effects.borrow().is_empty());
}

#[test]
fn a_handler_that_fails_or_runs_out_of_fuel_leaves_the_failure_as_it_was() {
    for (how, expect) in [
        ("trap", "the handler failed: the handler trapped"),
        ("fuel", "the handler failed: out of fuel"),
        (
            "raw",
            "the handler's answer was refused: its output must be a Handle",
        ),
    ] {
        let exec = TestExecutor::default();
        let store = MemoryStore::new();
        let a = instr("fail", vec![]);
        let b = instr("inc", vec![awaits("await/ok", &a)]);
        let effect = instr_op(TEST_EFFECT, "notify", vec![]);
        let wf = parse(&[(&a, "{}"), (&b, "{}"), (&effect, "{}")], &catch(how, "7")).unwrap();
        let (report, _) = run(&exec, &store, &wf);
        let Some(CatchNote::Handled {
            by: 3,
            how: Handled::Failed(why),
        }) = &report.tasks[0].catch
        else {
            panic!("{how}: {:?}", report.tasks[0].catch)
        };
        assert!(why.starts_with(expect), "{how}: {why}");
        assert!(matches!(out(&report, 0), Outcome::Err(_)));
        assert!(
            skipped(&report, 1).contains("which failed: boom"),
            "{how}: {}",
            skipped(&report, 1)
        );
        assert!(skipped(&report, 2).contains("a pure task of the workflow failed"));
        assert!(exec.effects.borrow().is_empty(), "{how}");
        // The handler's own receipt is its failure (or its raw answer).
        assert_eq!(report.tasks[3].catch, Some(CatchNote::Handler { of: 0 }));
    }
}

#[test]
fn a_workflow_without_catch_is_as_before_and_its_failures_are_not_handled() {
    let exec = TestExecutor::default();
    let store = MemoryStore::new();
    let a = instr("fail", vec![]);
    let b = instr("inc", vec![awaits("await/ok", &a)]);
    let wf = workflow(&[a.clone(), b.clone()]);
    let (report, _) = run(&exec, &store, &wf);
    assert_eq!(report.tasks.len(), 2);
    assert_eq!(report.tasks[0].catch, None);
    assert!(skipped(&report, 1).contains("which failed"));
}

/// An outcome that is an error, as itself (for `message`).
trait ForTest {
    fn map_ok_for_test(self) -> Outcome;
}

impl ForTest for Outcome {
    fn map_ok_for_test(self) -> Outcome {
        match self {
            // await/error passes the error value through `id`: it comes back as an output.
            Outcome::Ok(v) => Outcome::Err(v),
            e => e,
        }
    }
}
