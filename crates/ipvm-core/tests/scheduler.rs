//! The scheduler: dataflow order, memoization, failure propagation, effects
//! last, cancellation and events, counted on a test executor.
//!
//! Past 600 lines: one test per scheduling rule of docs/spec.md §6, with
//! the executors each rule needs.

// The same file runs natively and in headless Chromium (`npm test`'s
// `core-browser` suite).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod common;

use common::*;
use futures::executor::block_on;
use ipvm_core::memo;
use ipvm_core::run::report::TaskStatus;
use ipvm_core::{
    CancelToken, CoreError, Event, Ipld, MemoryStore, Outcome, RunReport, Scheduler, Workflow,
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

/// Gives the other futures of the run one turn.
async fn yield_once() {
    let mut yielded = false;
    futures::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

fn out(report: &RunReport, i: usize) -> Outcome {
    report.tasks[i].receipt().unwrap().receipt.out.clone()
}

#[test]
fn awaits_pass_outputs_along_a_chain() {
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let b = instr("inc", vec![awaits("await/ok", &a)]);
    let c = instr("add", vec![awaits("await/ok", &a), awaits("await/ok", &b)]);
    // Written out of order on purpose: the scheduler follows the awaits.
    let wf = workflow(&[c.clone(), b.clone(), a.clone()]);
    let (exec, store) = (TestExecutor::default(), MemoryStore::new());
    let (report, _) = run(&exec, &store, &wf);
    assert_eq!(out(&report, 2), Outcome::Ok(Ipld::Integer(2)));
    assert_eq!(out(&report, 1), Outcome::Ok(Ipld::Integer(3)));
    assert_eq!(out(&report, 0), Outcome::Ok(Ipld::Integer(5)));
    let order: Vec<usize> = exec.calls.borrow().iter().map(|c| c.0).collect();
    assert_eq!(order, [2, 1, 0]);
}

#[test]
fn rerunning_a_stored_workflow_executes_nothing() {
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let b = instr("inc", vec![awaits("await/ok", &a)]);
    let wf = workflow(&[a, b]);
    let (exec, store) = (TestExecutor::default(), MemoryStore::new());
    let (first, _) = run(&exec, &store, &wf);
    assert_eq!(exec.count(), 2);
    let (second, events) = run(&exec, &store, &wf);
    assert_eq!(exec.count(), 2, "no executor call on the second run");
    assert_eq!(second.reused(), 2);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::MemoHit { .. }))
            .count(),
        2
    );
    assert!(!events.iter().any(|e| matches!(e, Event::Started { .. })));
    let cids = |r: &RunReport| {
        r.tasks
            .iter()
            .map(|t| t.receipt().unwrap().cid)
            .collect::<Vec<_>>()
    };
    assert_eq!(cids(&first), cids(&second));
}

#[test]
fn failures_propagate_with_their_cause() {
    let bad = instr("fail", vec![]);
    let child = instr("inc", vec![awaits("await/ok", &bad)]);
    let grandchild = instr("inc", vec![awaits("await/ok", &child)]);
    let on_error = instr("id", vec![awaits("await/error", &bad)]);
    let either = instr("id", vec![awaits("await/*", &bad)]);
    let wf = workflow(&[bad, child, grandchild, on_error, either]);
    let (exec, store) = (TestExecutor::default(), MemoryStore::new());
    let (report, events) = run(&exec, &store, &wf);
    let boom = error_value("trap", "boom");
    assert_eq!(out(&report, 0), Outcome::Err(boom.clone()));
    match &report.tasks[1].status {
        TaskStatus::Skipped(why) => assert!(
            why.contains("await/ok awaits task 0") && why.contains("failed: boom"),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
    match &report.tasks[2].status {
        TaskStatus::Skipped(why) => assert!(why.contains("task 1"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(out(&report, 3), Outcome::Ok(boom.clone()));
    assert_eq!(out(&report, 4), Outcome::Ok(Outcome::Err(boom).to_ipld()));
    assert_eq!(
        exec.count(),
        3,
        "fail, on_error and either ran; the two dependents did not"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Failed {
            task: 1,
            receipt: None,
            ..
        }
    )));
}

#[test]
fn await_error_on_a_success_fails_the_awaiting_task() {
    let good = instr("inc", vec![Ipld::Integer(1)]);
    let wants_error = instr("id", vec![awaits("await/error", &good)]);
    let (exec, store) = (TestExecutor::default(), MemoryStore::new());
    let (report, _) = run(&exec, &store, &workflow(&[good, wants_error]));
    match &report.tasks[1].status {
        TaskStatus::Skipped(why) => assert!(why.contains("succeeded"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn effects_run_last_and_only_after_every_pure_task_succeeded() {
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let b = instr("inc", vec![awaits("await/ok", &a)]);
    let effect = instr_op("test/effect", "publish", vec![Ipld::Integer(0)]);
    // The effect is written first and awaits nothing, yet it must run last.
    let (exec, store) = (TestExecutor::default(), MemoryStore::new());
    let (report, _) = run(&exec, &store, &workflow(&[effect.clone(), a.clone(), b]));
    assert!(report.succeeded());
    let order: Vec<usize> = exec.calls.borrow().iter().map(|c| c.0).collect();
    assert_eq!(order, [1, 2, 0]);

    let bad = instr("fail", vec![]);
    let (exec, store) = (TestExecutor::default(), MemoryStore::new());
    let (report, _) = run(&exec, &store, &workflow(&[effect, a, bad]));
    assert!(
        exec.effects.borrow().is_empty(),
        "no effect after a pure failure"
    );
    match &report.tasks[0].status {
        TaskStatus::Skipped(why) => assert!(why.contains("pure task"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn awaits_can_point_at_receipts_stored_by_an_earlier_run() {
    let a = instr("inc", vec![Ipld::Integer(41)]);
    let (exec, store) = (TestExecutor::default(), MemoryStore::new());
    run(&exec, &store, &workflow(std::slice::from_ref(&a)));
    let b = instr("inc", vec![awaits("await/ok", &a)]);
    let (report, _) = run(&exec, &store, &workflow(&[b]));
    assert_eq!(out(&report, 0), Outcome::Ok(Ipld::Integer(43)));
}

#[test]
fn an_await_that_points_at_nothing_is_rejected_before_anything_runs() {
    let ghost = instr("inc", vec![Ipld::Integer(7)]);
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let b = instr("inc", vec![awaits("await/ok", &ghost)]);
    let (exec, store) = (TestExecutor::default(), MemoryStore::new());
    let err = block_on(Scheduler::new(&exec, &store).run(
        &workflow(&[a, b]),
        &mut |_| {},
        &CancelToken::new(),
    ))
    .unwrap_err();
    let CoreError::Invalid(v) = err else {
        panic!("{err:?}")
    };
    assert_eq!((v.task, v.field.as_str()), (1, "run.input.args"));
    assert!(
        v.reason
            .contains("neither a task of this workflow nor an instruction with a receipt this runtime vouches for"),
        "{}",
        v.reason
    );
    assert_eq!(exec.count(), 0);
}

#[test]
fn an_unknown_op_is_rejected_naming_the_task() {
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let b = instr_op("wasm/teleport", "inc", vec![Ipld::Integer(1)]);
    let (exec, store) = (TestExecutor::default(), MemoryStore::new());
    let err = block_on(Scheduler::new(&exec, &store).run(
        &workflow(&[a, b]),
        &mut |_| {},
        &CancelToken::new(),
    ))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "task 1: field `run.op`: unknown op `wasm/teleport` (known: test/effect, wasm/run, wasm/run-exact)"
    );
    assert_eq!(exec.count(), 0);
}

#[test]
fn events_tell_the_story_of_each_task() {
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let (exec, store) = (TestExecutor::default(), MemoryStore::new());
    let (report, events) = run(&exec, &store, &workflow(std::slice::from_ref(&a)));
    let rec = report.tasks[0].receipt().unwrap().cid;
    assert_eq!(
        events,
        [
            Event::Queued {
                task: 0,
                instruction: a.cid()
            },
            Event::Started {
                task: 0,
                instruction: a.cid()
            },
            Event::Finished {
                task: 0,
                instruction: a.cid(),
                receipt: rec,
                fuel: 1
            },
        ]
    );
}

#[test]
fn parallelism_bounds_the_tasks_in_flight() {
    use std::cell::Cell;
    struct Gate<'a> {
        inner: TestExecutor,
        in_flight: &'a Cell<usize>,
        peak: &'a Cell<usize>,
    }
    impl ipvm_core::Executor for Gate<'_> {
        fn ops(&self) -> &ipvm_core::Ops {
            self.inner.ops()
        }
        async fn execute(&self, job: ipvm_core::Job) -> ipvm_core::Execution {
            self.in_flight.set(self.in_flight.get() + 1);
            self.peak.set(self.peak.get().max(self.in_flight.get()));
            // Yield once so that other tasks can start while this one is in flight.
            yield_once().await;
            self.in_flight.set(self.in_flight.get() - 1);
            self.inner.execute(job).await
        }
    }
    let tasks: Vec<_> = (0..10)
        .map(|i| instr("inc", vec![Ipld::Integer(i)]))
        .collect();
    for limit in [1, 3] {
        let (in_flight, peak) = (Cell::new(0), Cell::new(0));
        let gate = Gate {
            inner: TestExecutor::default(),
            in_flight: &in_flight,
            peak: &peak,
        };
        let store = MemoryStore::new();
        block_on(Scheduler::new(&gate, &store).with_parallelism(limit).run(
            &workflow(&tasks),
            &mut |_| {},
            &CancelToken::new(),
        ))
        .unwrap();
        assert_eq!(peak.get(), limit);
        assert_eq!(gate.inner.count(), 10);
    }
}

#[test]
fn cancelling_stops_the_run_and_keeps_what_was_stored() {
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let b = instr("inc", vec![awaits("await/ok", &a)]);
    let c = instr("inc", vec![awaits("await/ok", &b)]);
    let (exec, store) = (TestExecutor::default(), MemoryStore::new());
    let cancel = CancelToken::new();
    let mut on_event = |e: &Event| {
        if matches!(e, Event::Finished { task: 0, .. }) {
            cancel.cancel();
        }
    };
    let err = block_on(Scheduler::new(&exec, &store).run(
        &workflow(&[a.clone(), b, c]),
        &mut on_event,
        &cancel,
    ))
    .unwrap_err();
    assert!(matches!(err, CoreError::Cancelled));
    assert_eq!(exec.count(), 1);
    assert!(
        block_on(memo::lookup(
            &store,
            &memo::Quarantine::new(),
            None,
            &a.cid()
        ))
        .unwrap()
        .value
        .is_some(),
        "the finished task's receipt is kept"
    );
}

#[test]
fn the_reverse_index_finds_receipts_by_input() {
    let data = ipvm_core::address::raw_cid(b"some data");
    let a = instr("id", vec![Ipld::Link(data)]);
    let b = instr("noop", vec![Ipld::Integer(1)]);
    let (exec, store) = (TestExecutor::default(), MemoryStore::new());
    let (report, _) = run(&exec, &store, &workflow(&[a, b]));
    let using = block_on(memo::receipts_using(
        &store,
        &memo::Quarantine::new(),
        &data,
    ))
    .unwrap()
    .value;
    assert_eq!(using.len(), 1);
    assert_eq!(using[0].cid, report.tasks[0].receipt().unwrap().cid);
    let by_module = block_on(memo::receipts_using(
        &store,
        &memo::Quarantine::new(),
        &module(),
    ))
    .unwrap()
    .value;
    assert_eq!(by_module.len(), 2, "the module is an input of both");
}

#[test]
fn limit_errors_and_nondeterministic_receipts_are_not_reused() {
    struct Flaky(TestExecutor);
    impl ipvm_core::Executor for Flaky {
        fn ops(&self) -> &ipvm_core::Ops {
            self.0.ops()
        }
        async fn execute(&self, job: ipvm_core::Job) -> ipvm_core::Execution {
            let mut ex = self.0.execute(job.clone()).await;
            match job.func.as_str() {
                "fail" => ex.limit = Some("fuel".into()),
                _ => ex.nondeterministic = true,
            }
            ex
        }
    }
    let a = instr("fail", vec![]);
    let b = instr("inc", vec![Ipld::Integer(1)]);
    let exec = Flaky(TestExecutor::default());
    let store = MemoryStore::new();
    let wf = workflow(&[a, b]);
    block_on(Scheduler::new(&exec, &store).run(&wf, &mut |_| {}, &CancelToken::new())).unwrap();
    let again =
        block_on(Scheduler::new(&exec, &store).run(&wf, &mut |_| {}, &CancelToken::new())).unwrap();
    assert_eq!(again.executed(), 2);
    assert_eq!(exec.0.count(), 4);
}

#[test]
fn a_receipt_verifies_by_re_running_its_task_from_the_store() {
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let b = instr("add", vec![awaits("await/ok", &a), Ipld::Integer(10)]);
    let (exec, store) = (TestExecutor::default(), MemoryStore::new());
    let (report, _) = run(&exec, &store, &workflow(&[a, b]));
    let cid = report.tasks[1].receipt().unwrap().cid;
    let v = block_on(ipvm_core::verify(
        &exec,
        &store,
        &memo::Quarantine::new(),
        None,
        &cid,
    ))
    .unwrap();
    assert!(v.matches(), "{v:?}");
    assert_eq!(v.actual, Outcome::Ok(Ipld::Integer(12)));

    // A different executor that computes something else is caught.
    struct Liar;
    impl ipvm_core::Executor for Liar {
        fn ops(&self) -> &ipvm_core::Ops {
            ipvm_core::Ops::standard()
        }
        async fn execute(&self, _: ipvm_core::Job) -> ipvm_core::Execution {
            ipvm_core::Execution::ok(Ipld::Integer(13), 1)
        }
    }
    let v = block_on(ipvm_core::verify(
        &Liar,
        &store,
        &memo::Quarantine::new(),
        None,
        &cid,
    ))
    .unwrap();
    assert!(!v.matches());
    assert_eq!(v.expected, Outcome::Ok(Ipld::Integer(12)));
}

#[test]
fn a_receipt_written_elsewhere_while_waiting_for_the_lock_is_a_memo_hit() {
    // Another runtime on the same store (a tab) finishes the instruction
    // while this one waits for its lock: the second memo lookup, under the
    // lock, finds it, and nothing runs here.
    struct OtherTabFinishesFirst<'a> {
        store: &'a MemoryStore,
        acquired: std::cell::Cell<usize>,
    }
    impl ipvm_core::InstructionLock for OtherTabFinishesFirst<'_> {
        type Guard = ();
        async fn acquire(&self, _: &ipvm_core::Cid) -> Option<()> {
            self.acquired.set(self.acquired.get() + 1);
            let other = TestExecutor::default();
            let a = instr("inc", vec![Ipld::Integer(1)]);
            Scheduler::new(&other, self.store)
                .run(&workflow(&[a]), &mut |_| {}, &CancelToken::new())
                .await
                .unwrap();
            Some(())
        }
    }
    #[derive(Default)]
    struct Heard(std::cell::RefCell<Vec<(ipvm_core::Cid, ipvm_core::Cid)>>);
    impl ipvm_core::Announcer for Heard {
        fn announce(&self, instruction: &ipvm_core::Cid, receipt: &ipvm_core::Cid) {
            self.0.borrow_mut().push((*instruction, *receipt));
        }
    }
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let b = instr("inc", vec![Ipld::Integer(2)]);
    let store = MemoryStore::new();
    let lock = OtherTabFinishesFirst {
        store: &store,
        acquired: std::cell::Cell::new(0),
    };
    let heard = Heard::default();
    let exec = TestExecutor::default();
    let mut events = Vec::new();
    let report = block_on(
        Scheduler::new(&exec, &store)
            .with_coordination(&lock, &heard)
            .with_parallelism(1)
            .run(
                &workflow(&[a.clone(), b.clone()]),
                &mut |e| events.push(e.clone()),
                &CancelToken::new(),
            ),
    )
    .unwrap();
    assert_eq!(lock.acquired.get(), 2, "a lock per task that runs");
    assert_eq!(report.reused(), 1, "task 0 was found under the lock");
    assert_eq!(exec.calls.borrow().as_slice(), &[(1, "inc".to_string())]);
    assert!(matches!(
        events.iter().find(|e| matches!(e, Event::MemoHit { .. })),
        Some(Event::MemoHit { task: 0, .. })
    ));
    // Only what this runtime wrote is announced: task 1's receipt.
    let written = report.tasks[1].receipt().unwrap().cid;
    assert_eq!(heard.0.borrow().as_slice(), &[(b.cid(), written)]);
}

#[test]
fn a_car_carries_receipts_and_their_blocks_to_another_store() {
    use ipvm_core::{car, store::add_file, BlockStore};
    let (exec, from) = (TestExecutor::default(), MemoryStore::new());
    // The module is a real file in the store, so the CAR must carry its blocks.
    let module = block_on(add_file(&from, &vec![7u8; 300_000])).unwrap();
    let a = ipvm_core::Instruction::new(
        module,
        "wasm/run",
        "inc",
        vec![Ipld::Integer(1)],
        Ipld::String(String::new()),
    )
    .unwrap();
    let (report, _) = run(&exec, &from, &workflow(std::slice::from_ref(&a)));
    let receipt = report.tasks[0].receipt().unwrap().cid;
    let bytes = block_on(car::export(&from, &[receipt])).unwrap();

    let to = MemoryStore::new();
    let imported = block_on(car::import(&to, &untrusting(), &bytes)).unwrap();
    assert_eq!(imported.receipts, 1);
    assert_eq!(imported.blocks, 4, "invocation + module root + 2 chunks");
    let listed = block_on(memo::receipt(&to, &memo::Quarantine::new(), &receipt))
        .unwrap()
        .value
        .unwrap();
    assert_eq!(listed.provenance, ipvm_core::Provenance::Imported);
    assert_eq!(
        block_on(ipvm_core::store::read_file_within(&to, &module, 1 << 26)).unwrap(),
        vec![7u8; 300_000]
    );
    // An imported receipt is no memo hit: the workflow runs...
    assert!(
        block_on(memo::lookup(&to, &memo::Quarantine::new(), None, &a.cid()))
            .unwrap()
            .value
            .is_none()
    );
    let other = TestExecutor::default();
    let (again, _) = run(&other, &to, &workflow(std::slice::from_ref(&a)));
    assert_eq!(again.executed(), 1);
    // ...and computing it here made the same receipt, now `computed`.
    assert_eq!(again.tasks[0].receipt().unwrap().cid, receipt);
    let now = block_on(memo::receipt(&to, &memo::Quarantine::new(), &receipt))
        .unwrap()
        .value
        .unwrap();
    assert_eq!(now.provenance, ipvm_core::Provenance::Computed);

    // A corrupted archive stores nothing.
    let mut broken = bytes.clone();
    let n = broken.len();
    broken[n - 1] ^= 0xff;
    let empty = MemoryStore::new();
    assert!(matches!(
        block_on(car::import(&empty, &untrusting(), &broken)),
        Err(CoreError::HashMismatch { .. })
    ));
    assert_eq!(empty.block_count(), 0);
    let _ = block_on(empty.get_block(&module));
}

/// A memory store that counts its receipt writes and memo reads, and can be
/// told to fail its writes (a full quota, say).
#[derive(Default)]
struct Counting {
    inner: MemoryStore,
    /// Rows in each receipt write, in order.
    writes: std::cell::RefCell<Vec<usize>>,
    /// Instructions in each batched memo read, in order.
    memo_reads: std::cell::RefCell<Vec<usize>>,
    fail_writes: std::cell::Cell<bool>,
}

impl ipvm_core::BlockStore for Counting {
    async fn get_block(&self, cid: &ipvm_core::Cid) -> Result<Option<Vec<u8>>, CoreError> {
        self.inner.get_block(cid).await
    }
    async fn put_block(&self, cid: ipvm_core::Cid, bytes: Vec<u8>) -> Result<(), CoreError> {
        self.inner.put_block(cid, bytes).await
    }
    async fn put_alias(
        &self,
        alias: ipvm_core::Cid,
        root: ipvm_core::Cid,
    ) -> Result<(), CoreError> {
        self.inner.put_alias(alias, root).await
    }
    async fn get_alias(&self, alias: &ipvm_core::Cid) -> Result<Option<ipvm_core::Cid>, CoreError> {
        self.inner.get_alias(alias).await
    }
}

impl ipvm_core::ReceiptStore for Counting {
    async fn put_batch(
        &self,
        blocks: Vec<ipvm_core::store::Block>,
        rows: Vec<ipvm_core::store::ReceiptRow>,
    ) -> Result<(), CoreError> {
        if self.fail_writes.get() {
            return Err(CoreError::Store(
                "storage quota exceeded: nothing was stored".into(),
            ));
        }
        self.writes.borrow_mut().push(rows.len());
        self.inner.put_batch(blocks, rows).await
    }
    async fn row(
        &self,
        cid: &ipvm_core::Cid,
    ) -> Result<Option<ipvm_core::store::RowRead>, CoreError> {
        self.inner.row(cid).await
    }
    async fn rows(
        &self,
        index: ipvm_core::store::RowIndex<'_>,
    ) -> Result<Vec<ipvm_core::store::RowRead>, CoreError> {
        self.inner.rows(index).await
    }
    async fn memo_rows(
        &self,
        instructions: &[ipvm_core::Cid],
    ) -> Result<Vec<Vec<ipvm_core::store::RowRead>>, CoreError> {
        self.memo_reads.borrow_mut().push(instructions.len());
        self.inner.memo_rows(instructions).await
    }
    async fn set_provenance(
        &self,
        cid: &ipvm_core::Cid,
        provenance: ipvm_core::Provenance,
    ) -> Result<(), CoreError> {
        self.inner.set_provenance(cid, provenance).await
    }
    async fn set_vouched(&self, cid: &ipvm_core::Cid, vouched: bool) -> Result<(), CoreError> {
        self.inner.set_vouched(cid, vouched).await
    }
}

/// An executor whose tasks each yield once, so that several finish together.
struct Together(TestExecutor);

impl ipvm_core::Executor for Together {
    fn ops(&self) -> &ipvm_core::Ops {
        self.0.ops()
    }
    async fn execute(&self, job: ipvm_core::Job) -> ipvm_core::Execution {
        yield_once().await;
        self.0.execute(job).await
    }
}

#[test]
fn receipts_that_finish_together_are_stored_in_one_write_and_reported_after_it() {
    let tasks: Vec<_> = (0..20)
        .map(|i| instr("inc", vec![Ipld::Integer(i)]))
        .collect();
    let (exec, store) = (Together(TestExecutor::default()), Counting::default());
    let mut stored_when_reported = Vec::new();
    let report = block_on(Scheduler::new(&exec, &store).run(
        &workflow(&tasks),
        &mut |e| {
            if let Event::Finished { .. } = e {
                stored_when_reported.push(store.inner.receipt_count());
            }
        },
        &CancelToken::new(),
    ))
    .unwrap();
    assert!(report.succeeded());
    let writes = store.writes.borrow().clone();
    assert_eq!(
        writes.iter().sum::<usize>(),
        20,
        "every receipt is written once"
    );
    assert!(
        writes.len() < 20 && writes.iter().any(|&n| n > 1),
        "receipts that finished together share a write: {writes:?}"
    );
    // The n-th finished event comes once at least n receipts are stored.
    assert_eq!(stored_when_reported.len(), 20);
    for (n, stored) in stored_when_reported.iter().enumerate() {
        assert!(
            *stored > n,
            "event {n} was reported with {stored} receipts stored"
        );
    }
}

#[test]
fn a_group_commit_that_fails_fails_the_run_and_reports_none_of_its_receipts() {
    let tasks: Vec<_> = (0..6)
        .map(|i| instr("inc", vec![Ipld::Integer(i)]))
        .collect();
    let (exec, store) = (Together(TestExecutor::default()), Counting::default());
    store.fail_writes.set(true);
    let mut finished = 0;
    let err = block_on(Scheduler::new(&exec, &store).run(
        &workflow(&tasks),
        &mut |e| finished += matches!(e, Event::Finished { .. }) as usize,
        &CancelToken::new(),
    ))
    .unwrap_err();
    assert!(
        matches!(err, CoreError::Store(ref m) if m.contains("quota")),
        "{err}"
    );
    assert_eq!(finished, 0, "no receipt is reported that was not stored");
    assert_eq!(store.inner.receipt_count(), 0);
}

#[test]
fn ready_tasks_are_looked_up_in_the_memo_together() {
    let tasks: Vec<_> = (0..40)
        .map(|i| instr("inc", vec![Ipld::Integer(i)]))
        .collect();
    let (exec, store) = (TestExecutor::default(), Counting::default());
    let wf = workflow(&tasks);
    let run = |events: &mut Vec<Event>| {
        block_on(Scheduler::new(&exec, &store).run(
            &wf,
            &mut |e| events.push(e.clone()),
            &CancelToken::new(),
        ))
        .unwrap()
    };
    run(&mut Vec::new());
    assert_eq!(exec.count(), 40);
    store.memo_reads.borrow_mut().clear();
    let mut events = Vec::new();
    let again = run(&mut events);
    assert_eq!(exec.count(), 40, "nothing runs again");
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::MemoHit { .. }))
            .count(),
        40
    );
    assert!(again.succeeded());
    assert_eq!(
        *store.memo_reads.borrow(),
        vec![40],
        "the 40 ready tasks are looked up in one read"
    );
}

#[test]
fn a_batch_of_locks_is_asked_at_once_and_a_busy_one_waits_alone() {
    use std::cell::{Cell, RefCell};
    // Another runtime holds task 0's lock until task 3 has finished here.
    struct OneBusy<'a> {
        busy: ipvm_core::Cid,
        tried: Cell<usize>,
        waited: Cell<usize>,
        finished_before_grant: &'a RefCell<Vec<usize>>,
        finished: &'a RefCell<Vec<usize>>,
    }
    impl ipvm_core::InstructionLock for OneBusy<'_> {
        type Guard = ();
        async fn acquire(&self, _: &ipvm_core::Cid) -> Option<()> {
            self.waited.set(self.waited.get() + 1);
            futures::future::poll_fn(|cx| {
                if self.finished.borrow().contains(&3) {
                    *self.finished_before_grant.borrow_mut() = self.finished.borrow().clone();
                    std::task::Poll::Ready(())
                } else {
                    cx.waker().wake_by_ref();
                    std::task::Poll::Pending
                }
            })
            .await;
            Some(())
        }
        async fn try_acquire(
            &self,
            instruction: &ipvm_core::Cid,
        ) -> Result<Option<()>, ipvm_core::coordinate::Busy> {
            self.tried.set(self.tried.get() + 1);
            match *instruction == self.busy {
                true => Err(ipvm_core::coordinate::Busy),
                false => Ok(Some(())),
            }
        }
    }
    let tasks: Vec<_> = (0..6)
        .map(|i| instr("inc", vec![Ipld::Integer(i)]))
        .collect();
    let (finished, before) = (RefCell::new(Vec::new()), RefCell::new(Vec::new()));
    let lock = OneBusy {
        busy: tasks[0].cid(),
        tried: Cell::new(0),
        waited: Cell::new(0),
        finished_before_grant: &before,
        finished: &finished,
    };
    let (exec, store) = (TestExecutor::default(), Counting::default());
    let report = block_on(
        Scheduler::new(&exec, &store)
            .with_coordination(&lock, &ipvm_core::Uncoordinated)
            .run(
                &workflow(&tasks),
                &mut |e| {
                    if let Event::Finished { task, .. } = e {
                        finished.borrow_mut().push(*task);
                    }
                },
                &CancelToken::new(),
            ),
    )
    .unwrap();
    assert!(report.succeeded());
    assert_eq!(exec.count(), 6, "every task ran, the busy one too");
    assert_eq!(
        lock.tried.get(),
        6,
        "each lock was asked for once, without waiting"
    );
    assert_eq!(lock.waited.get(), 1, "only the busy lock was waited for");
    assert!(
        !before.borrow().contains(&0) && before.borrow().contains(&3),
        "the others finished while task 0 waited: {:?}",
        before.borrow()
    );
    // The five locked tasks looked in the memo again in one read.
    assert_eq!(*store.memo_reads.borrow(), vec![6, 5]);
}
