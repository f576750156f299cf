//! Receipts between peers, without a network: what runtime A gives when
//! asked (a lookup answer, through its bytes on the wire), and what runtime
//! B takes from it under B's trust policy. A trusted answer makes B's run
//! all memo hits; an untrusted one, a tampered receipt, a receipt for
//! another instruction, or a forged envelope is not stored, with its reason.

// The same file runs natively and in headless Chromium.
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod common;

use common::*;
use futures::executor::block_on;
use futures::future::LocalBoxFuture;
use ipvm_core::peer::deliver::{accept, answer_lookup, store_received, Unused};
use ipvm_core::peer::messages::{Delivery, LookupAnswer, LookupEntry, LookupRequest};
use ipvm_core::peer::{PeerAnswer, Peers};
use ipvm_core::{
    CancelToken, Cid, Envelope, Executor, Ipld, Provenance, ReceiptRow, RunReport, Scheduler,
    Workflow,
};

use common::TestRuntime as Runtime;

/// What the peer tests add to a test runtime.
trait AsPeer {
    fn ask(&self, other: &Runtime, instructions: &[Cid]) -> LookupAnswer;
    fn run_asking<E: Executor>(&self, exec: &E, wf: &Workflow, peers: &dyn Peers) -> RunReport;
    fn take(&self, instruction: &Cid, delivery: &Delivery) -> Result<ReceiptRow, Unused>;
}

impl AsPeer for Runtime {
    /// Asks `other` about `instructions` as a peer would: the request and
    /// the answer each through their bytes.
    fn ask(&self, other: &Runtime, instructions: &[Cid]) -> LookupAnswer {
        let request = LookupRequest {
            instructions: instructions.to_vec(),
        };
        let received = LookupRequest::decode(&request.encode().unwrap()).unwrap();
        let answer = block_on(answer_lookup(&other.store, &received)).unwrap();
        LookupAnswer::decode(&answer.encode().unwrap(), instructions.len()).unwrap()
    }

    /// Runs `wf` asking `peers` first.
    fn run_asking<E: Executor>(&self, exec: &E, wf: &Workflow, peers: &dyn Peers) -> RunReport {
        block_on(
            Scheduler::new(exec, &self.store)
                .with_identity(&self.key, &self.trust)
                .with_peers(peers)
                .run(wf, &mut |_| {}, &CancelToken::new()),
        )
        .unwrap()
    }

    fn take(&self, instruction: &Cid, delivery: &Delivery) -> Result<ReceiptRow, Unused> {
        block_on(accept(&self.store, &self.trust, instruction, delivery)).unwrap()
    }
}

fn instructions(wf: &Workflow) -> Vec<Cid> {
    wf.tasks.iter().map(|t| t.run.cid()).collect()
}

fn found(entry: &LookupEntry) -> &[Delivery] {
    match entry {
        LookupEntry::Found(d) => d,
        other => panic!("expected receipts, got {other:?}"),
    }
}

#[test]
fn a_trusted_peer_s_answers_make_a_run_all_memo_hits() {
    let a = Runtime::new(1, &[]);
    let wf = five_tasks();
    let first = a.run(&TestExecutor::default(), &wf);
    assert_eq!(first.executed(), 5);

    let b = Runtime::new(2, &[&a.key]);
    let unknown = instr("inc", vec![Ipld::Integer(99)]).cid();
    let mut asked = instructions(&wf);
    asked.push(unknown);
    let answer = b.ask(&a, &asked);
    assert_eq!(answer.entries.len(), 6);
    assert_eq!(answer.entries[5], LookupEntry::None, "A never ran it");
    let mut rows = Vec::new();
    for (instruction, entry) in asked.iter().zip(&answer.entries).take(5) {
        let deliveries = found(entry);
        assert_eq!(deliveries.len(), 1);
        let row = b.take(instruction, &deliveries[0]).expect("B trusts A");
        assert_eq!(row.provenance, Provenance::Received);
        assert!(row.vouched);
        assert_eq!(row.signers, vec![a.key.did().to_string()]);
        rows.push(row);
    }
    block_on(store_received(&b.store, rows)).unwrap();

    let exec = TestExecutor::default();
    let report = b.run(&exec, &wf);
    assert_eq!((exec.count(), report.reused()), (0, 5), "nothing runs on B");
    for (task, theirs) in report.tasks.iter().zip(&first.tasks) {
        let mine = task.receipt().unwrap();
        assert_eq!(mine.cid, theirs.receipt().unwrap().cid);
        assert_eq!(mine.provenance, Provenance::Received);
    }
}

#[test]
fn an_untrusted_peer_s_receipts_are_not_stored_and_say_why() {
    let a = Runtime::new(1, &[]);
    let wf = five_tasks();
    a.run(&TestExecutor::default(), &wf);
    let c = Runtime::new(3, &[]);
    let asked = instructions(&wf);
    let answer = c.ask(&a, &asked);
    let unused = c
        .take(&asked[0], &found(&answer.entries[0])[0])
        .unwrap_err();
    assert_eq!(unused.code(), "untrusted");
    assert!(
        unused.to_string().contains(&a.key.did().to_string()),
        "{unused}"
    );
    // And so C computes it all itself.
    let exec = TestExecutor::default();
    c.run(&exec, &wf);
    assert_eq!(exec.count(), 5);
}

#[test]
fn tampered_misfiled_unsigned_and_forged_receipts_are_refused() {
    let a = Runtime::new(1, &[]);
    let wf = five_tasks();
    a.run(&TestExecutor::default(), &wf);
    let b = Runtime::new(2, &[&a.key]);
    let asked = instructions(&wf);
    let answer = b.ask(&a, &asked);
    let good = found(&answer.entries[3])[0].clone();

    // The receipt's bytes altered: its CID changes, and the envelope does not sign it.
    let mut tampered = good.clone();
    let at = tampered.receipt.len() - 1;
    tampered.receipt[at] ^= 1;
    let unused = b.take(&asked[3], &tampered).unwrap_err();
    assert!(
        matches!(unused.code(), "bad_receipt" | "cid_mismatch"),
        "{unused}"
    );

    // A genuine receipt offered for another instruction.
    let unused = b.take(&asked[4], &good).unwrap_err();
    assert_eq!(unused.code(), "bad_receipt");
    assert!(unused.to_string().contains("filed under"), "{unused}");

    // Its invocation swapped for another task's.
    let other = found(&answer.entries[4])[0].clone();
    let swapped = Delivery {
        invocation: other.invocation,
        ..good.clone()
    };
    assert_eq!(
        b.take(&asked[3], &swapped).unwrap_err().code(),
        "bad_receipt"
    );

    // An invocation nested a million deep: refused before it is decoded.
    let mut bomb = vec![0x81u8; 1_000_000];
    bomb.push(0x01);
    let deep = Delivery {
        invocation: bomb,
        ..good.clone()
    };
    let unused = b.take(&asked[3], &deep).unwrap_err();
    assert_eq!(unused.code(), "bad_receipt");
    assert!(
        unused.to_string().contains("its invocation: nested deeper"),
        "{unused}"
    );

    // No envelope at all.
    let unsigned = Delivery {
        envelopes: vec![],
        ..good.clone()
    };
    assert_eq!(b.take(&asked[3], &unsigned).unwrap_err().code(), "unsigned");

    // An envelope by A for another receipt, and one whose signature is altered.
    let forged = Delivery {
        envelopes: other.envelopes.clone(),
        ..good.clone()
    };
    assert_eq!(
        b.take(&asked[3], &forged).unwrap_err().code(),
        "cid_mismatch"
    );
    let mut bad_sig = good.clone();
    bad_sig.envelopes[0][5] ^= 1;
    assert_eq!(
        b.take(&asked[3], &bad_sig).unwrap_err().code(),
        "bad_signature"
    );

    // An envelope that B signs itself does not make A's receipt trusted here
    // unless B trusts itself as a signer (it does: its own DID).
    let receipt_cid = ipvm_core::address::cid_of(
        ipvm_core::address::DAG_CBOR,
        ipvm_core::address::SHA3_256,
        &good.receipt,
    );
    let own = block_on(Envelope::sign(&b.key, &receipt_cid)).unwrap();
    let self_vouched = Delivery {
        envelopes: vec![own.bytes],
        ..good.clone()
    };
    assert!(b.take(&asked[3], &self_vouched).is_ok());

    // Nothing refused was stored: B still computes all five.
    let exec = TestExecutor::default();
    b.run(&exec, &wf);
    assert_eq!(exec.count(), 5);
    // The genuine one is taken.
    assert!(b.take(&asked[3], &good).is_ok());
}

#[test]
fn a_receipt_passed_on_keeps_its_signer_and_its_trust_is_not_laundered() {
    // S computed; A trusts S and took S's receipt; B asks A.
    let s = Runtime::new(7, &[]);
    let wf = five_tasks();
    s.run(&TestExecutor::default(), &wf);
    let a = Runtime::new(1, &[&s.key]);
    let asked = instructions(&wf);
    let answer = a.ask(&s, &asked);
    let row = a.take(&asked[0], &found(&answer.entries[0])[0]).unwrap();
    block_on(store_received(&a.store, vec![row])).unwrap();
    // A gives it on with S's envelope only: A did not compute it.
    let b_trusts_s = Runtime::new(2, &[&s.key]);
    let given = b_trusts_s.ask(&a, &asked[..2]);
    let delivery = &found(&given.entries[0])[0];
    assert_eq!(delivery.envelopes.len(), 1);
    assert!(b_trusts_s.take(&asked[0], delivery).is_ok());
    assert_eq!(given.entries[1], LookupEntry::None, "A holds nothing else");
    // B trusting only A does not take it: A's forwarding vouches for nothing.
    let b_trusts_a = Runtime::new(3, &[&a.key]);
    let unused = b_trusts_a.take(&asked[0], delivery).unwrap_err();
    assert_eq!(unused.code(), "untrusted");
    assert!(
        unused.to_string().contains(&s.key.did().to_string()),
        "{unused}"
    );
}

/// Peers reached without a network: each request and answer through its
/// bytes; `down` stands for a peer that does not answer.
struct Direct<'a> {
    peers: Vec<(&'static str, &'a Runtime)>,
    down: Vec<&'static str>,
    asked: std::cell::RefCell<Vec<usize>>,
}

impl Peers for Direct<'_> {
    fn lookup<'s>(&'s self, request: LookupRequest) -> LocalBoxFuture<'s, Vec<PeerAnswer>> {
        Box::pin(async move {
            self.asked.borrow_mut().push(request.instructions.len());
            let bytes = request.encode().unwrap();
            let mut out = Vec::new();
            for name in &self.down {
                out.push(PeerAnswer {
                    peer: name.to_string(),
                    answer: Err("no answer in 2 s".into()),
                });
            }
            for (name, rt) in &self.peers {
                let received = LookupRequest::decode(&bytes).unwrap();
                let answer = answer_lookup(&rt.store, &received).await.unwrap();
                out.push(PeerAnswer {
                    peer: name.to_string(),
                    answer: LookupAnswer::decode(
                        &answer.encode().unwrap(),
                        request.instructions.len(),
                    )
                    .map_err(|e| e.to_string()),
                });
            }
            out
        })
    }
}

#[test]
fn a_run_asks_its_peers_per_ready_set_and_says_where_each_answer_came_from() {
    let a = Runtime::new(1, &[]);
    let wf = five_tasks();
    a.run(&TestExecutor::default(), &wf);
    let b = Runtime::new(2, &[&a.key]);
    let peers = Direct {
        peers: vec![("peer-a", &a)],
        down: vec!["peer-down"],
        asked: Default::default(),
    };
    let exec = TestExecutor::default();
    let report = b.run_asking(&exec, &wf, &peers);
    assert_eq!((exec.count(), report.reused()), (0, 5));
    // Three ready sets: {a, d, e}, then b, then c; never one request per task.
    assert_eq!(*peers.asked.borrow(), vec![3, 1, 1]);
    for task in &report.tasks {
        let note = task.peers.as_ref().expect("asked");
        assert_eq!(note.from.as_deref(), Some("peer-a"));
        assert_eq!(note.unused, vec!["peer-down: no answer in 2 s".to_string()]);
        assert_eq!(task.receipt().unwrap().provenance, Provenance::Received);
    }
    // Asked again: the memo answers, no peer is asked.
    let again = b.run_asking(&TestExecutor::default(), &wf, &peers);
    assert_eq!(again.reused(), 5);
    assert_eq!(peers.asked.borrow().len(), 3);
    assert!(again.tasks.iter().all(|t| t.peers.is_none()));
}

#[test]
fn a_run_that_does_not_trust_its_peer_computes_and_says_why() {
    let a = Runtime::new(1, &[]);
    let wf = five_tasks();
    a.run(&TestExecutor::default(), &wf);
    let c = Runtime::new(3, &[]);
    let peers = Direct {
        peers: vec![("peer-a", &a)],
        down: vec![],
        asked: Default::default(),
    };
    let exec = TestExecutor::default();
    let report = c.run_asking(&exec, &wf, &peers);
    assert_eq!(exec.count(), 5);
    for task in &report.tasks {
        let note = task.peers.as_ref().expect("asked");
        assert_eq!(note.from, None);
        assert_eq!(note.unused.len(), 1, "{:?}", note.unused);
        assert!(
            note.unused[0].starts_with("peer-a: receipt "),
            "{}",
            note.unused[0]
        );
        assert!(
            note.unused[0].contains("does not trust"),
            "{}",
            note.unused[0]
        );
        assert_eq!(task.receipt().unwrap().provenance, Provenance::Computed);
    }
}

#[test]
fn announcements_from_trusted_signers_are_taken_once_and_the_rest_dropped() {
    use ipvm_core::peer::announce::{announcement, Announcements};
    use ipvm_core::peer::messages::Announce;
    let a = Runtime::new(1, &[]);
    let wf = five_tasks();
    let report = a.run(&TestExecutor::default(), &wf);
    let rec = report.tasks[0].receipt().unwrap();
    let env = &rec.envelopes[0];
    let sent = announcement(rec, env);
    // Through its bytes, as pubsub carries it.
    let got = Announce::decode(&sent.encode().unwrap()).unwrap();
    assert_eq!(got.instruction, wf.tasks[0].run.cid());

    let b = Runtime::new(2, &[&a.key]);
    let mut seen = Announcements::new();
    assert_eq!(seen.check(&got, &b.trust).unwrap(), *a.key.did());
    // The same again: a replay.
    assert_eq!(seen.check(&got, &b.trust).unwrap_err().code(), "replayed");
    assert_eq!(seen.len(), 1);
    // A stranger's: not taken, not remembered.
    let c = Runtime::new(3, &[]);
    let mut c_seen = Announcements::new();
    assert_eq!(
        c_seen.check(&got, &c.trust).unwrap_err().code(),
        "untrusted"
    );
    assert!(c_seen.is_empty());
    // An envelope for another receipt, and an altered signature.
    let other = report.tasks[1].receipt().unwrap();
    let moved = Announce {
        envelope: other.envelopes[0].bytes.clone(),
        ..got.clone()
    };
    assert_eq!(
        seen.check(&moved, &b.trust).unwrap_err().code(),
        "cid_mismatch"
    );
    let mut forged = got.clone();
    forged.envelope[5] ^= 1;
    assert_eq!(
        seen.check(&forged, &b.trust).unwrap_err().code(),
        "bad_signature"
    );
    // Taken, the receipt is then fetched by lookup from the announcer.
    let answer = b.ask(&a, &[got.instruction]);
    let row = b
        .take(&got.instruction, &found(&answer.entries[0])[0])
        .unwrap();
    assert_eq!(row.cid, got.receipt);
}
