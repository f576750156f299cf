//! Task offload without a network: runtime A hands the tasks of a workflow
//! to runtime B as invocations (`/wasm/run` with the task written whole),
//! B admits and runs them (`answer_offload`), and A takes B's signed
//! receipts under its trust policy, every message through its bytes. A
//! refusal, a replay, a task past B's limits or a receipt A does not trust
//! leaves the task to run on A, with the reason in its report.

// The same file runs natively and in headless Chromium.
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use common::*;
use futures::executor::block_on;
use futures::future::LocalBoxFuture;
use ipvm_core::peer::messages::{Capacity, OffloadAnswer, OffloadRequest};
use ipvm_core::peer::offload::{choose, invocation, Offer, OffloadMode};
use ipvm_core::peer::{PeerAnswer, PeerOffload, Peers};
use ipvm_core::run::runtime::{Grant, OffloadRules};
use ipvm_core::ucan::Token;
use ipvm_core::{
    BlockStore, CancelToken, Ed25519Key, Ipld, Limits, MemorySeen, MemorySettings, MemoryStore,
    Provenance, RunReport, Runtime, Task, TrustOptions, Workflow,
};

const NOW: i64 = 1_800_000_000;

type Rt = Runtime<Rc<MemoryStore>, TestExecutor, Rc<MemorySettings>, Rc<MemorySeen>>;

fn key(seed: u8) -> Ed25519Key {
    Ed25519Key::from_seed([seed; 32])
}

fn runtime(seed: u8, trusts: &[u8]) -> Rt {
    let store = Rc::new(MemoryStore::new());
    block_on(store.put_block(module(), b"test module".to_vec())).unwrap();
    Runtime::new(
        store,
        TestExecutor::default(),
        Rc::new(MemorySettings::new(&key(seed))),
    )
    .with_seen(Rc::new(MemorySeen::new()))
    .with_trust(TrustOptions {
        signers: trusts.iter().map(|s| key(*s).did().clone()).collect(),
        ..TrustOptions::default()
    })
}

fn rules(dev: bool) -> OffloadRules {
    OffloadRules {
        max: Limits {
            fuel: Some(Limits::MAX_FUEL),
            memory: Some(Limits::MAX_MEMORY),
            time: Some(Limits::MAX_TIME_MS),
        },
        dev,
    }
}

/// A peer in the same process: A's key signs each invocation, B answers
/// it, both ways through the messages' bytes. It remembers the last
/// request, to replay it.
struct InProcess {
    runner: Rc<Rt>,
    signer: Ed25519Key,
    proofs: Vec<Token>,
    rules: OffloadRules,
    mode: OffloadMode,
    nonce: Cell<u8>,
    last: RefCell<Option<Vec<u8>>>,
}

impl InProcess {
    fn new(runner: &Rc<Rt>, signer: u8, rules: OffloadRules) -> Self {
        Self {
            runner: runner.clone(),
            signer: key(signer),
            proofs: Vec::new(),
            rules,
            mode: OffloadMode::Always,
            nonce: Cell::new(0),
            last: RefCell::new(None),
        }
    }

    /// B's answer to `bytes`, read back as A reads it.
    async fn send(&self, bytes: &[u8]) -> OffloadAnswer {
        let request = OffloadRequest::decode(bytes).unwrap();
        let answer = self
            .runner
            .answer_offload(&request, NOW, &self.rules)
            .await
            .unwrap();
        OffloadAnswer::decode(&answer.encode().unwrap()).unwrap()
    }

    async fn request(&self, task: &Task) -> Vec<u8> {
        self.nonce.set(self.nonce.get() + 1);
        let aud = self.runner.did().await.unwrap();
        let token = invocation(
            &self.signer,
            task,
            aud,
            &self.proofs,
            NOW + 60,
            vec![self.nonce.get(); 12],
        )
        .await
        .unwrap();
        OffloadRequest {
            invocation: token.bytes,
            proofs: self.proofs.iter().map(|t| t.bytes.clone()).collect(),
        }
        .encode()
        .unwrap()
    }
}

impl Peers for InProcess {
    fn lookup<'s>(
        &'s self,
        _: ipvm_core::peer::messages::LookupRequest,
    ) -> LocalBoxFuture<'s, Vec<PeerAnswer>> {
        Box::pin(async { Vec::new() })
    }

    fn offload<'s>(
        &'s self,
        task: &'s Task,
        saturated: bool,
    ) -> LocalBoxFuture<'s, Option<PeerOffload>> {
        Box::pin(async move {
            let offer = Offer {
                capacity: Some(Capacity {
                    free: 8,
                    workers: 8,
                }),
                in_flight: 0,
            };
            choose(self.mode, saturated, &[offer])?;
            let bytes = self.request(task).await;
            *self.last.borrow_mut() = Some(bytes.clone());
            let answer = match self.send(&bytes).await {
                OffloadAnswer::Done(d) => Ok(d),
                OffloadAnswer::Refused(why) => Err(format!("refused: {why}")),
                OffloadAnswer::Busy => Err("busy".into()),
                OffloadAnswer::Fetch { receipt, .. } => Err(format!("fetch {receipt}")),
            };
            Some(PeerOffload {
                peer: "B".into(),
                answer,
            })
        })
    }

    fn offload_slots(&self) -> usize {
        8
    }
}

/// A runtime `seed` that asks `peer` (trusting `trusts`), and its run of `wf`.
fn run_offloading(seed: u8, trusts: &[u8], peer: InProcess, wf: &Workflow) -> (Rt, RunReport) {
    let a = runtime(seed, trusts).with_peers(Rc::new(peer));
    let report = block_on(a.run(wf, &mut |_| {}, &CancelToken::new())).unwrap();
    (a, report)
}

#[test]
fn always_hands_every_task_to_a_dev_runner_and_its_receipts_answer_the_workflow() {
    let b = Rc::new(runtime(2, &[]));
    let wf = five_tasks();
    let (a, report) = run_offloading(1, &[2], InProcess::new(&b, 1, rules(true)), &wf);
    assert_eq!(a.executor().count(), 0, "nothing runs on A");
    assert_eq!(
        b.executor().count(),
        5,
        "B ran all five, the chain's awaits from its own receipts"
    );
    assert!(report.succeeded());
    let b_did = key(2).did().to_string();
    for (task, written) in report.tasks.iter().zip(&wf.tasks) {
        let note = task.peers.as_ref().expect("a peer note");
        assert_eq!(note.ran_on.as_deref(), Some("B"), "{note:?}");
        let rec = task.receipt().unwrap();
        assert_eq!(
            rec.instruction,
            written.run.cid(),
            "the workflow's own instruction"
        );
        assert_eq!(rec.provenance, Provenance::Received);
        assert_eq!(
            rec.envelopes
                .iter()
                .map(|e| e.signer.to_string())
                .collect::<Vec<_>>(),
            vec![b_did.clone()]
        );
    }
    // The outputs are the chain's: 1+1, +1, +1; 10+1; 2+3.
    let outs: Vec<Ipld> = report
        .tasks
        .iter()
        .map(|t| t.receipt().unwrap().receipt.out.to_ipld())
        .collect();
    let ok = |n: i128| Ipld::List(vec![Ipld::String("ok".into()), Ipld::Integer(n)]);
    assert_eq!(outs, vec![ok(2), ok(3), ok(4), ok(11), ok(5)]);
    // A's second run: all memo hits, nothing offloaded again.
    let again = block_on(a.run(&wf, &mut |_| {}, &CancelToken::new())).unwrap();
    assert_eq!((again.reused(), b.executor().count()), (5, 5));
}

#[test]
fn a_runner_without_authority_refuses_and_the_task_runs_here_saying_why() {
    let b = Rc::new(runtime(2, &[]));
    let wf = five_tasks();
    let (a, report) = run_offloading(1, &[2], InProcess::new(&b, 1, rules(false)), &wf);
    assert_eq!((a.executor().count(), b.executor().count()), (5, 0));
    for task in &report.tasks {
        let note = task.peers.as_ref().expect("a peer note");
        assert_eq!(note.ran_on, None);
        assert!(
            note.unused[0].starts_with("B: offload: refused: InvalidSubject"),
            "{note:?}"
        );
        assert_eq!(task.receipt().unwrap().provenance, Provenance::Computed);
    }
}

#[test]
fn an_untrusted_runner_s_receipts_are_not_taken() {
    let b = Rc::new(runtime(2, &[]));
    let wf = workflow(&[instr("inc", vec![Ipld::Integer(5)])]);
    let (a, report) = run_offloading(1, &[], InProcess::new(&b, 1, rules(true)), &wf);
    assert_eq!((a.executor().count(), b.executor().count()), (1, 1));
    let note = report.tasks[0].peers.as_ref().unwrap();
    assert!(
        note.unused[0].starts_with("B: offload: untrusted"),
        "{note:?}"
    );
}

#[test]
fn a_delegation_with_no_policy_admits_a_whole_task_and_one_with_a_policy_does_not() {
    let b = Rc::new(runtime(2, &[]));
    let grant = |pol: &str| {
        block_on(b.delegate(
            Grant {
                aud: key(1).did().clone(),
                cmd: "/wasm/run".into(),
                sub: None,
                powerline: false,
                pol: ipvm_core::workflow::parse_dag_json(pol.as_bytes()).unwrap(),
                exp: Some(NOW + 600),
                nbf: None,
            },
            pol.as_bytes().to_vec(),
        ))
        .unwrap()
    };
    let wf = workflow(&[instr("inc", vec![Ipld::Integer(7)])]);
    let mut peer = InProcess::new(&b, 1, rules(false));
    peer.proofs = vec![grant("[]")];
    let (a, report) = run_offloading(1, &[2], peer, &wf);
    assert_eq!((a.executor().count(), b.executor().count()), (0, 1));
    assert_eq!(
        report.tasks[0].peers.as_ref().unwrap().ran_on.as_deref(),
        Some("B")
    );

    let wf = workflow(&[instr("inc", vec![Ipld::Integer(8)])]);
    let mut peer = InProcess::new(&b, 1, rules(false));
    // A policy the whole task satisfies still bars it: the policy judged
    // a call that exact mode would not be the one to run.
    peer.proofs = vec![grant(r#"[["==", ".run.op", "wasm/run"]]"#)];
    let (a, report) = run_offloading(1, &[2], peer, &wf);
    assert_eq!((a.executor().count(), b.executor().count()), (1, 1));
    let note = report.tasks[0].peers.as_ref().unwrap();
    assert!(note.unused[0].contains("refused: MatchError"), "{note:?}");
    assert!(
        note.unused[0].contains("no delegation of the chain has a policy"),
        "{note:?}"
    );
}

#[test]
fn a_replayed_request_a_task_past_the_limits_and_garbage_are_refused() {
    let b = Rc::new(runtime(2, &[]));
    let peer = InProcess::new(&b, 1, rules(true));
    let task = Task::new(instr("inc", vec![Ipld::Integer(3)]));
    let bytes = block_on(peer.request(&task));
    assert!(matches!(
        block_on(peer.send(&bytes)),
        OffloadAnswer::Done(_)
    ));
    match block_on(peer.send(&bytes)) {
        OffloadAnswer::Refused(why) => assert!(why.starts_with("Replay: "), "{why}"),
        other => panic!("a replay ran: {other:?}"),
    }
    assert_eq!(b.executor().count(), 1);

    let mut strict = InProcess::new(&b, 1, rules(true));
    strict.rules.max.fuel = Some(1000);
    let bytes = block_on(strict.request(&task));
    match block_on(strict.send(&bytes)) {
        OffloadAnswer::Refused(why) => assert!(
            why.starts_with("limits.fuel: the task may use 1000000000000 units"),
            "{why}"
        ),
        other => panic!("past the limits ran: {other:?}"),
    }

    let garbage = OffloadRequest {
        invocation: vec![0xa0],
        proofs: Vec::new(),
    };
    match block_on(peer.send(&garbage.encode().unwrap())) {
        OffloadAnswer::Refused(why) => assert!(why.starts_with("offload.invocation: "), "{why}"),
        other => panic!("garbage ran: {other:?}"),
    }
    // A forged signature: the same request with one byte of the signature changed.
    let mut forged = OffloadRequest::decode(&block_on(peer.request(&task))).unwrap();
    let n = forged.invocation.len();
    forged.invocation[n / 3] ^= 1;
    match block_on(peer.send(&forged.encode().unwrap())) {
        OffloadAnswer::Refused(_) => {}
        other => panic!("a forgery ran: {other:?}"),
    }
    assert_eq!(b.executor().count(), 1, "nothing refused ran");
}

#[test]
fn auto_offloads_only_what_this_runtime_s_own_workers_cannot_take() {
    let b = Rc::new(runtime(2, &[]));
    let wf = workflow(
        &(0..12)
            .map(|n| instr("inc", vec![Ipld::Integer(100 + n)]))
            .collect::<Vec<_>>(),
    );
    let mut peer = InProcess::new(&b, 1, rules(true));
    peer.mode = OffloadMode::Auto;
    let a = runtime(1, &[2])
        .with_parallelism(2)
        .with_peers(Rc::new(peer));
    let report = block_on(a.run(&wf, &mut |_| {}, &CancelToken::new())).unwrap();
    assert!(report.succeeded());
    let (here, there) = (a.executor().count(), b.executor().count());
    assert_eq!(here + there, 12);
    assert!(here >= 2 && there >= 1, "{here} here, {there} there");
    let offloaded = report
        .tasks
        .iter()
        .filter(|t| t.peers.as_ref().is_some_and(|n| n.ran_on.is_some()))
        .count();
    assert_eq!(offloaded, there);
}

#[test]
fn an_offloaded_receipt_is_spot_checked_at_the_verify_rate() {
    let b = Rc::new(runtime(2, &[]));
    let wf = five_tasks();
    let a = runtime(1, &[])
        .with_trust(TrustOptions {
            signers: vec![key(2).did().clone()],
            verify_rate: 1.0,
            seed: 7,
            ..TrustOptions::default()
        })
        .with_peers(Rc::new(InProcess::new(&b, 1, rules(true))));
    let mut verdicts = Vec::new();
    let report = block_on(a.run(
        &wf,
        &mut |e| {
            if let ipvm_core::Event::SpotChecked { verdict, .. } = e {
                verdicts.push(format!("{verdict:?}"));
            }
        },
        &CancelToken::new(),
    ))
    .unwrap();
    assert!(report.succeeded());
    assert_eq!(b.executor().count(), 5, "B ran them all");
    assert_eq!(a.executor().count(), 5, "and A re-ran each, at rate 1");
    assert_eq!(verdicts, vec!["Match".to_string(); 5]);
    for task in &report.tasks {
        assert_eq!(task.peers.as_ref().unwrap().ran_on.as_deref(), Some("B"));
        assert_eq!(task.receipt().unwrap().provenance, Provenance::Verified);
    }
}

#[test]
fn the_offload_policy_reads_saturation_and_capacity() {
    let offer = |free: Option<u32>, in_flight| Offer {
        capacity: free.map(|free| Capacity { free, workers: 8 }),
        in_flight,
    };
    let offers = [offer(Some(1), 1), offer(Some(3), 1), offer(None, 0)];
    assert_eq!(choose(OffloadMode::Never, true, &offers), None);
    assert_eq!(
        choose(OffloadMode::Auto, false, &offers),
        None,
        "free workers here"
    );
    assert_eq!(
        choose(OffloadMode::Auto, true, &offers),
        Some(1),
        "the most free left"
    );
    assert_eq!(
        choose(OffloadMode::Auto, true, &offers[..1]),
        None,
        "no free worker left"
    );
    assert_eq!(
        choose(OffloadMode::Auto, true, &offers[2..]),
        None,
        "no capacity said"
    );
    assert_eq!(choose(OffloadMode::Always, false, &offers), Some(1));
    assert_eq!(choose(OffloadMode::Always, false, &offers[2..]), Some(0));
    assert_eq!("auto".parse::<OffloadMode>(), Ok(OffloadMode::Auto));
    assert!("sometimes"
        .parse::<OffloadMode>()
        .unwrap_err()
        .contains("never"));
}
