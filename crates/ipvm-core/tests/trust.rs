//! The trust policy: every receipt a runtime computes carries its envelope;
//! a receipt from elsewhere is a memo hit only if a signer the runtime trusts
//! vouches for it, or once it was verified here; spot-checks catch a signer
//! that lies.

// The same file runs natively and in headless Chromium (`npm test`'s
// `core-browser` suite).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod common;

use common::*;
use futures::executor::block_on;
use ipvm_core::store::RowIndex;
use ipvm_core::{
    car, memo, trust, BlockStore, CancelToken, Cid, Ed25519Key, Envelope, Event, Execution,
    Executor, Ipld, Job, MemoryStore, Provenance, Quarantine, ReceiptStore, RunReport, Scheduler,
    Trust, Verdict, Workflow,
};

/// A runtime: its store, its key and its trust policy.
struct Runtime {
    store: MemoryStore,
    key: Ed25519Key,
    trust: Trust,
}

impl Runtime {
    fn new(seed: u8, trusts: &[&Runtime]) -> Self {
        let key = Ed25519Key::from_seed([seed; 32]);
        let trust =
            Trust::new(key.did().clone()).with_signers(trusts.iter().map(|r| r.key.did().clone()));
        let store = MemoryStore::new();
        block_on(store.put_block(module(), b"test module".to_vec())).unwrap();
        Self { store, key, trust }
    }

    fn run<E: Executor>(&self, exec: &E, wf: &Workflow) -> (RunReport, Vec<Event>) {
        let mut events = Vec::new();
        let report = block_on(
            Scheduler::new(exec, &self.store)
                .with_identity(&self.key, &self.trust)
                .run(wf, &mut |e| events.push(e.clone()), &CancelToken::new()),
        )
        .unwrap();
        (report, events)
    }

    fn receipts(&self, wf: &Workflow) -> Vec<Cid> {
        let (report, _) = self.run(&TestExecutor::default(), wf);
        report
            .tasks
            .iter()
            .map(|t| t.receipt().unwrap().cid)
            .collect()
    }

    fn import(&self, archive: &[u8]) -> car::Imported {
        block_on(car::import(&self.store, &self.trust, archive)).unwrap()
    }
}

/// `inc` gives n + 2: a signer that lies.
struct Liar;

impl Executor for Liar {
    fn ops(&self) -> &ipvm_core::Ops {
        common::test_ops()
    }
    async fn execute(&self, job: Job) -> Execution {
        match (&job.func[..], &job.args[..]) {
            ("inc", [Ipld::Integer(n)]) => Execution::ok(Ipld::Integer(n + 2), 1),
            _ => TestExecutor::default().execute(job).await,
        }
    }
}

fn two_tasks() -> Workflow {
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let b = instr("add", vec![awaits("await/ok", &a), Ipld::Integer(10)]);
    workflow(&[a, b])
}

#[test]
fn every_receipt_computed_carries_the_executor_s_valid_envelope() {
    let a = Runtime::new(1, &[]);
    let wf = two_tasks();
    for cid in a.receipts(&wf) {
        let row = block_on(a.store.row(&cid)).unwrap().unwrap().unwrap();
        assert_eq!(row.signers, vec![a.key.did().to_string()]);
        let env = Envelope::check_for(&row.envelopes[0], &cid).unwrap();
        assert_eq!(env.signer, *a.key.did());
        let rec = block_on(memo::receipt(&a.store, &Quarantine::new(), &cid))
            .unwrap()
            .value
            .unwrap();
        assert_eq!(rec.provenance, Provenance::Computed);
        assert_eq!(rec.signers(), vec![a.key.did().clone()]);
    }
}

#[test]
fn a_car_from_a_trusted_signer_gives_memo_hits_and_from_another_none_until_verified() {
    let wf = two_tasks();
    let a = Runtime::new(1, &[]);
    let roots = a.receipts(&wf);
    let archive = block_on(car::export(&a.store, &roots)).unwrap();

    // B trusts A: both receipts are memo hits, nothing runs.
    let b = Runtime::new(2, &[&a]);
    let imported = b.import(&archive);
    assert_eq!((imported.receipts, imported.envelopes), (2, 2));
    assert_eq!(imported.vouched.len(), 2);
    assert!(imported.refused.is_empty(), "{:?}", imported.refused);
    let counted = TestExecutor::default();
    let (report, _) = b.run(&counted, &wf);
    assert_eq!((report.reused(), counted.count()), (2, 0));
    let rec = report.tasks[1].receipt().unwrap();
    assert_eq!(rec.provenance, Provenance::Imported);
    assert!(rec.vouched && rec.signers() == vec![a.key.did().clone()]);

    // C does not: the receipts are stored, listed, and never reused.
    let c = Runtime::new(3, &[]);
    let imported = c.import(&archive);
    assert!(imported.vouched.is_empty());
    let listed = block_on(memo::receipt(&c.store, &Quarantine::new(), &roots[0]))
        .unwrap()
        .value
        .unwrap();
    assert!(!listed.is_trusted() && listed.signers() == vec![a.key.did().clone()]);
    assert!(block_on(memo::lookup(
        &c.store,
        &Quarantine::new(),
        Some(&c.trust),
        &wf.tasks[0].run.cid()
    ))
    .unwrap()
    .value
    .is_none());
    // Until C verifies them: then they are hits, with C's envelope added.
    for cid in &roots {
        let v = block_on(ipvm_core::verify(
            &TestExecutor::default(),
            &c.store,
            &Quarantine::new(),
            Some((&c.key, &c.trust)),
            cid,
        ))
        .unwrap();
        assert_eq!(v.verdict, Verdict::Match);
        assert!(v.promoted && v.attested);
        let row = block_on(c.store.row(cid)).unwrap().unwrap().unwrap();
        assert_eq!(
            row.signers,
            vec![a.key.did().to_string(), c.key.did().to_string()]
        );
    }
    let counted = TestExecutor::default();
    let (report, _) = c.run(&counted, &wf);
    assert_eq!((report.reused(), counted.count()), (2, 0));
}

#[test]
fn an_archive_with_a_forged_envelope_keeps_the_receipt_unvouched_and_says_why() {
    let wf = two_tasks();
    let a = Runtime::new(1, &[]);
    let roots = a.receipts(&wf);
    let mallory = Ed25519Key::from_seed([9; 32]);
    // An archive of A's receipts whose envelopes name A but were signed by
    // Mallory: built from A's export with each envelope replaced.
    let archive = block_on(car::export(&a.store, &roots[..1])).unwrap();
    let (roots_in, blocks) = car::decode(&archive).unwrap();
    let forged: Vec<(Cid, Vec<u8>)> = blocks
        .into_iter()
        .map(|(cid, bytes)| {
            if !Envelope::looks_like(&cid, &bytes) {
                return (cid, bytes);
            }
            let Ok(Ipld::List(parts)) = ipvm_core::decode_dag_cbor(&bytes) else {
                unreachable!()
            };
            let message = ipvm_core::encode_dag_cbor(&parts[1]).unwrap();
            let bytes = ipvm_core::encode_dag_cbor(&Ipld::List(vec![
                Ipld::Bytes(mallory.sign_now(&message)),
                parts[1].clone(),
            ]))
            .unwrap();
            (
                ipvm_core::address::cid_of(0x71, ipvm_core::address::SHA2_256, &bytes),
                bytes,
            )
        })
        .collect();
    let archive = car::encode(&roots_in, &forged).unwrap();
    let b = Runtime::new(2, &[&a]);
    let imported = b.import(&archive);
    assert_eq!(imported.receipts, 1);
    assert_eq!(imported.envelopes, 0);
    assert!(imported.vouched.is_empty());
    assert_eq!(imported.refused.len(), 1);
    assert_eq!(imported.refused[0].1.code(), "bad_signature");
    assert!(block_on(memo::lookup(
        &b.store,
        &Quarantine::new(),
        Some(&b.trust),
        &wf.tasks[0].run.cid()
    ))
    .unwrap()
    .value
    .is_none());
}

#[test]
fn a_spot_check_that_disagrees_distrusts_the_signer_and_its_other_receipts() {
    // The liar computes and signs wrong answers for two workflows.
    let liar = Runtime::new(1, &[]);
    let first = workflow(&[instr("inc", vec![Ipld::Integer(1)])]);
    let second = workflow(&[instr("inc", vec![Ipld::Integer(5)])]);
    let (r1, _) = liar.run(&Liar, &first);
    let (r2, _) = liar.run(&Liar, &second);
    let roots = [
        r1.tasks[0].receipt().unwrap().cid,
        r2.tasks[0].receipt().unwrap().cid,
    ];
    let archive = block_on(car::export(&liar.store, &roots)).unwrap();

    let b = Runtime::new(2, &[&liar]);
    b.trust.set_spot_checks(1.0, 11);
    assert_eq!(b.import(&archive).vouched.len(), 2);
    let (report, events) = b.run(&TestExecutor::default(), &first);
    // The re-run disagreed: the right answer is computed and stored.
    assert_eq!(report.executed(), 1);
    assert_eq!(
        report.tasks[0].receipt().unwrap().receipt.out,
        ipvm_core::Outcome::Ok(Ipld::Integer(2))
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::SpotChecked { verdict: Verdict::Mismatch, receipt, .. } if *receipt == roots[0]
    )));
    assert!(events.iter().any(
        |e| matches!(e, Event::Distrusted { signer, .. } if *signer == liar.key.did().to_string())
    ));
    assert!(b.trust.distrusted().contains_key(liar.key.did()));
    // The liar's other receipt is no longer a memo hit either.
    let rows = block_on(b.store.rows(RowIndex::Signer(liar.key.did().as_str()))).unwrap();
    assert!(rows.iter().flatten().all(|r| !r.vouched));
    assert!(block_on(memo::lookup(
        &b.store,
        &Quarantine::new(),
        Some(&b.trust),
        &second.tasks[0].run.cid()
    ))
    .unwrap()
    .value
    .is_none());
    // The second lie is not served either (the lookup asks this policy).
    let (report, _) = b.run(&TestExecutor::default(), &second);
    assert_eq!(
        report.tasks[0].receipt().unwrap().receipt.out,
        ipvm_core::Outcome::Ok(Ipld::Integer(6))
    );
    // Forgiven (the user's decision), both its receipts count again; the
    // receipts computed here still answer first.
    assert!(b.trust.forgive(liar.key.did()));
    assert_eq!(
        block_on(trust::reconsider(
            &b.store,
            &b.trust,
            &[liar.key.did().clone()]
        ))
        .unwrap(),
        2
    );
    let hit = block_on(memo::lookup(
        &b.store,
        &Quarantine::new(),
        Some(&b.trust),
        &first.tasks[0].run.cid(),
    ))
    .unwrap()
    .value
    .unwrap();
    assert_eq!(hit.provenance, Provenance::Computed);
}

#[test]
fn a_spot_check_that_agrees_verifies_the_receipt_and_adds_this_runtime_s_envelope() {
    let wf = two_tasks();
    let a = Runtime::new(1, &[]);
    let roots = a.receipts(&wf);
    let archive = block_on(car::export(&a.store, &roots)).unwrap();
    let b = Runtime::new(2, &[&a]);
    b.trust.set_spot_checks(1.0, 11);
    b.import(&archive);
    let counted = TestExecutor::default();
    let (report, events) = b.run(&counted, &wf);
    assert_eq!(counted.count(), 2, "both re-run");
    let agreed = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::SpotChecked {
                    verdict: Verdict::Match,
                    ..
                }
            )
        })
        .count();
    assert_eq!(agreed, 2);
    assert!(!events.iter().any(|e| matches!(e, Event::Distrusted { .. })));
    for (t, cid) in report.tasks.iter().zip(&roots) {
        assert_eq!(t.receipt().unwrap().cid, *cid);
        let row = block_on(b.store.row(cid)).unwrap().unwrap().unwrap();
        assert_eq!(row.provenance, Provenance::Verified);
        assert_eq!(row.signers.len(), 2);
    }
    // Verified here now: no more spot-checks of them.
    let counted = TestExecutor::default();
    let (report, _) = b.run(&counted, &wf);
    assert_eq!((report.reused(), counted.count()), (2, 0));
}

#[test]
fn a_rate_of_zero_never_spot_checks_and_a_rate_between_samples() {
    let own = Ed25519Key::from_seed([1; 32]).did().clone();
    let never = Trust::new(own.clone()).with_spot_checks(0.0, 7);
    assert!((0..1000).all(|_| !never.spot_check()));
    let some = Trust::new(own).with_spot_checks(0.25, 7);
    let n = (0..4000).filter(|_| some.spot_check()).count();
    assert!((700..1300).contains(&n), "{n} of 4000 at 0.25");
}

/// `inc` fails as a dead worker would: a failure of this environment.
struct DeadWorker;

impl Executor for DeadWorker {
    fn ops(&self) -> &ipvm_core::Ops {
        common::test_ops()
    }
    async fn execute(&self, _job: Job) -> Execution {
        Execution::error(error_value("worker", "the worker died"), 0)
    }
}

#[test]
fn a_spot_check_re_runs_the_receipt_s_own_task_so_other_limits_are_no_lie() {
    // A computed inc(1) under its own limits; B's workflow asks the same
    // instruction with other limits (another invocation, the same memo key).
    let a = Runtime::new(1, &[]);
    let ins = instr("inc", vec![Ipld::Integer(1)]);
    let theirs = Workflow::new(vec![ipvm_core::Task {
        limits: ipvm_core::Limits {
            fuel: Some(5_000),
            ..Default::default()
        },
        ..ipvm_core::Task::new(ins.clone())
    }]);
    let roots = a.receipts(&theirs);
    let b = Runtime::new(2, &[&a]);
    b.trust.set_spot_checks(1.0, 3);
    b.import(&block_on(car::export(&a.store, &roots)).unwrap());
    let (report, events) = b.run(&TestExecutor::default(), &workflow(&[ins]));
    assert_eq!(report.reused(), 1);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::SpotChecked {
            verdict: Verdict::Match,
            ..
        }
    )));
    assert!(b.trust.distrusted().is_empty());
}

#[test]
fn a_spot_check_that_fails_here_for_a_reason_of_this_environment_distrusts_nobody() {
    let wf = workflow(&[instr("inc", vec![Ipld::Integer(1)])]);
    let a = Runtime::new(1, &[]);
    let roots = a.receipts(&wf);
    let b = Runtime::new(2, &[&a]);
    b.trust.set_spot_checks(1.0, 3);
    b.import(&block_on(car::export(&a.store, &roots)).unwrap());
    let (report, events) = b.run(&DeadWorker, &wf);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::SpotChecked {
            verdict: Verdict::Incomparable(_),
            ..
        }
    )));
    assert!(b.trust.distrusted().is_empty());
    // A check that could not compare never serves the receipt: the task ran
    // here (and failed here, for this environment's reason), and the report
    // says why.
    assert_eq!((report.reused(), report.executed()), (0, 1));
    assert_ne!(report.tasks[0].receipt().unwrap().cid, roots[0]);
    let why = report.tasks[0].spot_check.as_deref().unwrap_or_default();
    assert!(why.contains("could not compare"), "{why}");
    assert!(why.contains(&roots[0].to_string()), "{why}");
}

/// `inc` as an engine with a clock runs it: under a time limit below 1 s it
/// stops with a (non-deterministic) `time_limit` error.
struct Clocked;

impl Executor for Clocked {
    fn ops(&self) -> &ipvm_core::Ops {
        common::test_ops()
    }
    async fn execute(&self, job: Job) -> Execution {
        if job.limits.time_ms() < 1000 {
            return Execution {
                nondeterministic: true,
                limit: Some("time".into()),
                ..Execution::error(error_value("time_limit", "the time limit passed"), 1)
            };
        }
        TestExecutor::default().execute(job).await
    }
}

#[test]
fn a_trusted_signer_cannot_choose_a_time_limit_that_makes_its_spot_check_fail() {
    // A lies about inc(1) under an invocation that asks for 1 ms.
    let a = Runtime::new(1, &[]);
    let ins = instr("inc", vec![Ipld::Integer(1)]);
    let rigged = Workflow::new(vec![ipvm_core::Task {
        limits: ipvm_core::Limits {
            time: Some(1),
            ..Default::default()
        },
        ..ipvm_core::Task::new(ins.clone())
    }]);
    let (report, _) = a.run(&Liar, &rigged);
    let lie = report.tasks[0].receipt().unwrap().cid;
    let b = Runtime::new(2, &[&a]);
    b.trust.set_spot_checks(1.0, 3);
    b.import(&block_on(car::export(&a.store, &[lie])).unwrap());
    // The re-run does not use the 1 ms the signer chose: it completes, and
    // contradicts the lie.
    let (report, events) = b.run(&Clocked, &workflow(&[ins]));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::SpotChecked {
            verdict: Verdict::Mismatch,
            ..
        }
    )));
    assert_eq!(b.trust.distrusted().len(), 1);
    assert_eq!(report.executed(), 1);
    let served = report.tasks[0].receipt().unwrap();
    assert_ne!(served.cid, lie);
    assert_eq!(served.receipt.out, ipvm_core::Outcome::Ok(Ipld::Integer(2)));
    assert!(report.tasks[0].spot_check.is_some());
    // `verify` re-runs under the same limits: a match of the honest receipt.
    let v = block_on(ipvm_core::verify::verify(
        &Clocked,
        &b.store,
        &Quarantine::default(),
        None,
        &served.cid,
    ))
    .unwrap();
    assert_eq!(v.verdict, Verdict::Match);
}

#[test]
fn a_verify_that_contradicts_a_trusted_signer_distrusts_it() {
    let wf = workflow(&[instr("inc", vec![Ipld::Integer(1)])]);
    let liar = Runtime::new(1, &[]);
    let (r, _) = liar.run(&Liar, &wf);
    let lie = r.tasks[0].receipt().unwrap().cid;
    let b = Runtime::new(2, &[&liar]);
    b.import(&block_on(car::export(&liar.store, &[lie])).unwrap());
    let v = block_on(ipvm_core::verify(
        &TestExecutor::default(),
        &b.store,
        &Quarantine::new(),
        Some((&b.key, &b.trust)),
        &lie,
    ))
    .unwrap();
    assert_eq!(v.verdict, Verdict::Mismatch);
    assert_eq!(v.distrusted, vec![liar.key.did().clone()]);
    let row = block_on(b.store.row(&lie)).unwrap().unwrap().unwrap();
    assert!(!row.vouched);
}

#[test]
fn a_row_vouched_for_under_another_policy_never_answers_here() {
    // Two runtimes of one store (two tabs): one trusts S, the other not.
    let s = Runtime::new(9, &[]);
    let wf = workflow(&[instr("inc", vec![Ipld::Integer(3)])]);
    let roots = s.receipts(&wf);
    let archive = block_on(car::export(&s.store, &roots)).unwrap();
    let trusting = Runtime::new(1, &[&s]);
    // The trusting tab imports: the shared row says vouched.
    trusting.import(&archive);
    let row = block_on(trusting.store.row(&roots[0]))
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(row.vouched);
    let wary = Trust::new(Ed25519Key::from_seed([2; 32]).did().clone());
    let lookup = |t: Option<&Trust>| {
        block_on(memo::lookup(
            &trusting.store,
            &Quarantine::new(),
            t,
            &wf.tasks[0].run.cid(),
        ))
        .unwrap()
        .value
    };
    assert!(lookup(Some(&trusting.trust)).is_some());
    assert!(
        lookup(Some(&wary)).is_none(),
        "the wary policy is asked at lookup"
    );
    assert!(lookup(None).is_none());
}

#[test]
fn computing_a_receipt_stored_from_elsewhere_keeps_its_envelopes() {
    let wf = workflow(&[instr("inc", vec![Ipld::Integer(4)])]);
    let a = Runtime::new(1, &[]);
    let roots = a.receipts(&wf);
    let c = Runtime::new(3, &[]);
    c.import(&block_on(car::export(&a.store, &roots)).unwrap());
    // C does not trust A: it computes the same receipt itself.
    let (report, _) = c.run(&TestExecutor::default(), &wf);
    assert_eq!(report.executed(), 1);
    assert_eq!(report.tasks[0].receipt().unwrap().cid, roots[0]);
    let row = block_on(c.store.row(&roots[0])).unwrap().unwrap().unwrap();
    assert_eq!(row.provenance, Provenance::Computed);
    assert_eq!(
        row.signers,
        vec![c.key.did().to_string(), a.key.did().to_string()]
    );
    assert_eq!(row.envelopes.len(), 2);
}
