//! Where work was done: a result that an executor brings back from another
//! principal (signed with that principal's key) is stored as `received`,
//! with that envelope only, never signed as this runtime's own, and answers
//! the memo only under a policy that trusts its signer. A result whose
//! envelope does not check out is refused and not stored.

// The same file runs natively and in headless Chromium.
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod common;

use common::*;
use ipvm_core::{
    Ed25519Key, Envelope, Execution, Executor, Ipld, Job, Origin, Provenance, Receipt, Workflow,
};

/// An executor that hands every job to another principal (`peer`), which
/// computes it as the test executor does and signs the receipt; `lie` makes
/// it sign a receipt other than the one it returns.
struct Offloading {
    peer: Ed25519Key,
    lie: bool,
}

impl Executor for Offloading {
    fn ops(&self) -> &ipvm_core::Ops {
        common::test_ops()
    }
    async fn execute(&self, job: Job) -> Execution {
        let (ran, prf) = job
            .receipt
            .clone()
            .expect("a runtime with a key asks for receipts");
        let mut ex = TestExecutor::default().execute(job).await;
        let signed = match self.lie {
            false => Receipt::of_execution(ran, &ex, prf),
            true => Receipt::of_execution(ran, &Execution::ok(Ipld::Integer(-1), 1), prf),
        };
        let envelope = Envelope::sign(&self.peer, &signed.cid().unwrap())
            .await
            .unwrap();
        ex.envelope = Some(envelope.bytes);
        ex.origin = Origin::Elsewhere;
        ex
    }
}

use common::TestRuntime as Runtime;

fn one_task() -> Workflow {
    workflow(&[instr("inc", vec![Ipld::Integer(41)])])
}

#[test]
fn a_result_from_another_principal_is_received_keeps_its_signer_and_is_not_reused_untrusted() {
    let peer = Ed25519Key::from_seed([9; 32]);
    let a = Runtime::new(1, &[]);
    let wf = one_task();
    let report = a.run(
        &Offloading {
            peer: Ed25519Key::from_seed([9; 32]),
            lie: false,
        },
        &wf,
    );
    let rec = report.tasks[0].receipt().expect("it ran elsewhere").clone();
    assert_eq!(rec.receipt.out, ipvm_core::Outcome::Ok(Ipld::Integer(42)));
    assert_eq!(rec.provenance, Provenance::Received);
    assert_eq!(
        rec.signers(),
        vec![peer.did().clone()],
        "only the peer's envelope, never this runtime's"
    );
    assert!(!rec.vouched, "A does not trust the peer");
    // Stored as received: not a memo answer here, so the next run computes it (here).
    let again = a.run(&TestExecutor::default(), &wf);
    assert_eq!(again.executed(), 1);
    let mine = again.tasks[0].receipt().unwrap();
    assert_eq!(mine.provenance, Provenance::Computed);
    assert_eq!(mine.cid, rec.cid, "the same receipt, now computed here");
}

#[test]
fn a_result_from_a_trusted_principal_answers_the_memo() {
    let peer = Ed25519Key::from_seed([9; 32]);
    let b = Runtime::new(2, &[&peer]);
    let wf = one_task();
    let first = b.run(
        &Offloading {
            peer: Ed25519Key::from_seed([9; 32]),
            lie: false,
        },
        &wf,
    );
    let rec = first.tasks[0].receipt().unwrap().clone();
    assert_eq!(rec.provenance, Provenance::Received);
    assert!(rec.vouched);
    let exec = TestExecutor::default();
    let again = b.run(&exec, &wf);
    assert_eq!((again.reused(), exec.count()), (1, 0));
    assert_eq!(again.tasks[0].receipt().unwrap().cid, rec.cid);
}

#[test]
fn a_result_whose_envelope_signs_another_receipt_is_refused_and_not_stored() {
    let peer = Ed25519Key::from_seed([9; 32]);
    let a = Runtime::new(1, &[&peer]);
    let wf = one_task();
    let report = a.run(&Offloading { peer, lie: true }, &wf);
    match &report.tasks[0].status {
        ipvm_core::run::report::TaskStatus::Skipped(why) => {
            assert!(
                why.contains("computed elsewhere") && why.contains("refused"),
                "{why}"
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Nothing was stored: the next run computes it here.
    let exec = TestExecutor::default();
    assert_eq!(a.run(&exec, &wf).executed(), 1);
}
