//! The runtime (`run::runtime`) over the in-memory capabilities: admission
//! and the replay claim go through the seen-set trait (two runtimes sharing
//! one seen-set refuse each other's replays), trust and distrust are kept
//! through the settings trait (read back when a runtime opens, merged when
//! it saves), and verify and spot-checks run through the runtime.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod common;

use std::collections::BTreeMap;
use std::rc::Rc;

use common::*;
use futures::executor::block_on;
use ipvm_core::memo;
use ipvm_core::run::runtime::{Call, Grant, InvocationError};
use ipvm_core::store::ReceiptStore;
use ipvm_core::ucan::wasm::run_args;
use ipvm_core::ucan::{Token, UcanErrorKind};
use ipvm_core::{
    BlockStore, CancelToken, Did, Ed25519Key, Envelope, Event, Execution, Ipld, Limits, MemorySeen,
    MemorySettings, MemoryStore, Provenance, ReceiptRecord, Runtime, Settings, TrustOptions,
    TrustState, Verdict,
};

const NOW: i64 = 1_800_000_000;

type Rt<'a> = Runtime<Rc<MemoryStore>, TestExecutor, Rc<MemorySettings>, Rc<MemorySeen>>;

fn key(seed: u8) -> Ed25519Key {
    Ed25519Key::from_seed([seed; 32])
}

fn did(seed: u8) -> Did {
    key(seed).did().clone()
}

/// A runtime over shared in-memory capabilities (the store holds the test
/// module, so that its receipts export whole).
fn runtime(
    store: &Rc<MemoryStore>,
    settings: &Rc<MemorySettings>,
    seen: &Rc<MemorySeen>,
    options: TrustOptions,
) -> Rt<'static> {
    block_on(store.put_block(module(), b"test module".to_vec())).unwrap();
    Runtime::new(store.clone(), TestExecutor::default(), settings.clone())
        .with_seen(seen.clone())
        .with_trust(options)
}

fn alone(seed: u8) -> Rt<'static> {
    runtime(
        &Rc::new(MemoryStore::new()),
        &Rc::new(MemorySettings::new(&key(seed))),
        &Rc::new(MemorySeen::new()),
        TrustOptions::default(),
    )
}

/// Alice's invocation of `inc(41)` on the node, under the node's grant.
fn invocation(node: &Rt<'_>, alice: &Rt<'_>, exp: Option<i64>) -> (Token, Token) {
    let node_did = block_on(node.did()).unwrap();
    let grant = block_on(node.delegate(
        Grant {
            aud: block_on(alice.did()).unwrap(),
            cmd: "/wasm/run".into(),
            sub: None,
            powerline: false,
            pol: Ipld::List(vec![]),
            exp: Some(NOW + 600),
            nbf: None,
        },
        vec![1; 12],
    ))
    .unwrap();
    let inv = block_on(alice.invoke(
        Call {
            aud: Some(node_did.clone()),
            sub: Some(node_did),
            args: run_args(
                &module(),
                "inc",
                vec![Ipld::Integer(41)],
                Limits::default(),
                None,
            ),
            prf: vec![grant.cid],
            exp,
        },
        vec![2; 12],
    ))
    .unwrap();
    (grant, inv)
}

fn run_invocation(rt: &Rt<'_>, inv: &Token, proofs: Vec<Token>) -> Result<Ipld, InvocationError> {
    let report = block_on(rt.run_invocation(inv, proofs, NOW, &mut |_| {}, &CancelToken::new()))?;
    let rec = report.tasks[0].receipt().expect("a receipt").clone();
    Ok(rec.receipt.out.to_ipld())
}

fn refusal(r: Result<Ipld, InvocationError>) -> (UcanErrorKind, Option<Box<ReceiptRecord>>) {
    match r {
        Err(InvocationError::Refused { error, receipt }) => (error.kind, receipt),
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn an_invocation_runs_once_per_seen_set_even_across_runtimes() {
    let (store, seen) = (Rc::new(MemoryStore::new()), Rc::new(MemorySeen::new()));
    let settings = Rc::new(MemorySettings::new(&key(1)));
    let node = runtime(&store, &settings, &seen, TrustOptions::default());
    let alice = alone(2);
    let (grant, inv) = invocation(&node, &alice, Some(NOW + 60));

    let out = run_invocation(&node, &inv, vec![grant.clone()]).unwrap();
    assert_eq!(
        out,
        Ipld::List(vec![Ipld::String("ok".into()), Ipld::Integer(42)])
    );
    assert_eq!(seen.claims(NOW).get(&inv.cid), Some(&(NOW + 60)));

    // A second runtime of the same store and seen-set (another tab, a
    // restarted node) has an authority that never saw it: the claim refuses.
    let again = runtime(&store, &settings, &seen, TrustOptions::default());
    let (kind, receipt) = refusal(run_invocation(&again, &inv, vec![grant.clone()]));
    assert_eq!(kind, UcanErrorKind::Replay);
    // The invocation is authentic: its refusal leaves an unauthorized receipt.
    let receipt = receipt.expect("a refusal receipt");
    assert_eq!(receipt.provenance, Provenance::Computed);
    assert!(format!("{:?}", receipt.receipt.out.to_ipld()).contains("unauthorized"));

    // A runtime with a seen-set of its own runs it (the claim is the trait's).
    let elsewhere = runtime(
        &Rc::new(MemoryStore::new()),
        &settings,
        &Rc::new(MemorySeen::new()),
        TrustOptions::default(),
    );
    assert!(run_invocation(&elsewhere, &inv, vec![grant]).is_ok());
}

#[test]
fn a_refused_invocation_claims_nothing_and_a_forgery_leaves_no_receipt() {
    let node = alone(1);
    let alice = alone(2);
    // From another principal without `exp`: refused before any claim.
    let (grant, inv) = invocation(&node, &alice, None);
    let (kind, receipt) = refusal(run_invocation(&node, &inv, vec![grant.clone()]));
    assert_eq!(kind, UcanErrorKind::InvalidClaim);
    assert!(receipt.is_some());
    // A proof kept with add_proof is found without being given.
    assert_eq!(block_on(node.add_proof(&grant)).unwrap(), Ok(grant.cid));
    let (_, inv) = invocation(&node, &alice, Some(NOW + 60));
    assert!(run_invocation(&node, &inv, vec![]).is_ok());
    // A forged invocation: refused, nothing written or signed.
    let mut bytes = inv.bytes.clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    if let Ok(forged) = Token::decode(&bytes) {
        let (kind, receipt) = refusal(run_invocation(&node, &forged, vec![grant]));
        assert_eq!(kind, UcanErrorKind::InvalidSignature);
        assert!(receipt.is_none());
    }
}

#[test]
fn token_defaults_sub_is_the_runtime_and_aud_is_sub() {
    let node = alone(1);
    let token = block_on(node.invoke(
        Call {
            aud: None,
            sub: None,
            args: BTreeMap::new(),
            prf: vec![],
            exp: None,
        },
        vec![0; 12],
    ))
    .unwrap();
    let ipvm_core::ucan::Payload::Invocation(inv) = &token.payload else {
        panic!("an invocation")
    };
    assert_eq!((inv.sub.clone(), inv.aud.clone()), (did(1), Some(did(1))));
    // The token is kept as a block.
    assert!(block_on(node.store().get_block(&token.cid))
        .unwrap()
        .is_some());
}

/// A receipt of `inc(1)` that says 99, computed and signed by `liar` in its
/// store: what a lying signer exports.
fn lie(liar: &Rt<'_>) -> ipvm_core::Cid {
    let task = ipvm_core::Task::new(instr("inc", vec![Ipld::Integer(1)]));
    let (ran, invocation) = task.invocation().unwrap();
    let receipt =
        ipvm_core::Receipt::of_execution(ran, &Execution::ok(Ipld::Integer(99), 1), vec![]);
    let cid = receipt.cid().unwrap();
    let signer = block_on(liar.settings().identity()).unwrap();
    let envelope = block_on(Envelope::sign(&signer, &cid)).unwrap();
    let record = ReceiptRecord {
        cid,
        receipt,
        instruction: task.run.cid(),
        inputs: task.run.inputs(),
        provenance: Provenance::Computed,
        envelopes: vec![envelope.clone()],
        vouched: true,
    };
    block_on(memo::store_computed(
        liar.store(),
        &record,
        vec![(ran, invocation)],
        Some(envelope),
    ))
    .unwrap();
    cid
}

#[test]
fn a_spot_check_s_distrust_is_kept_in_the_settings_and_read_back_on_open() {
    let liar = alone(7);
    let lied = lie(&liar);
    let archive = block_on(liar.export_car(&[lied])).unwrap();

    let store = Rc::new(MemoryStore::new());
    let settings = Rc::new(MemorySettings::new(&key(1)));
    let seen = Rc::new(MemorySeen::new());
    let trusting = TrustOptions {
        signers: vec![did(7)],
        verify_rate: 1.0,
        seed: 5,
        authorities: vec![],
    };
    let node = runtime(&store, &settings, &seen, trusting.clone());
    let imported = block_on(node.import_car(&archive)).unwrap();
    assert_eq!(imported.vouched, vec![lied]);
    // Opening kept the trusted set the rows were decided for.
    let kept = block_on(settings.trust_state()).unwrap();
    assert_eq!(kept.applied, vec![did(7)]);

    // The run spot-checks the reuse: a mismatch distrusts the liar.
    let wf = workflow(&[instr("inc", vec![Ipld::Integer(1)])]);
    let mut events = Vec::new();
    let report =
        block_on(node.run(&wf, &mut |e| events.push(e.clone()), &CancelToken::new())).unwrap();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::SpotChecked {
            verdict: Verdict::Mismatch,
            ..
        }
    )));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Distrusted { signer, .. } if *signer == did(7).to_string())));
    assert!(report.succeeded());
    let kept = block_on(settings.trust_state()).unwrap();
    assert!(kept.distrusted.contains_key(&did(7)), "{kept:?}");
    assert!(kept.applied.is_empty());

    // A runtime opened later on these settings distrusts the liar from the start.
    let later = runtime(&store, &settings, &seen, trusting.clone());
    let id = block_on(later.identity()).unwrap();
    assert!(!id.trust().trusts(&did(7)));
    let row = block_on(store.row(&lied)).unwrap().unwrap().unwrap();
    assert!(!row.vouched);

    // Clearing the distrust is kept, and the liar's rows are decided again.
    assert!(block_on(later.clear_distrust(&did(7))).unwrap());
    let kept = block_on(settings.trust_state()).unwrap();
    assert_eq!(
        kept,
        TrustState {
            distrusted: BTreeMap::new(),
            applied: vec![did(7)]
        }
    );
    let row = block_on(store.row(&lied)).unwrap().unwrap().unwrap();
    assert!(row.vouched);
    assert!(!block_on(later.clear_distrust(&did(7))).unwrap());
}

#[test]
fn distrust_kept_by_another_runtime_of_the_store_holds_here_before_a_verify() {
    let liar = alone(7);
    let lied = lie(&liar);
    let archive = block_on(liar.export_car(&[lied])).unwrap();
    let store = Rc::new(MemoryStore::new());
    let settings = Rc::new(MemorySettings::new(&key(1)));
    let seen = Rc::new(MemorySeen::new());
    let trusting = TrustOptions {
        signers: vec![did(7)],
        ..TrustOptions::default()
    };
    let a = runtime(&store, &settings, &seen, trusting.clone());
    let b = runtime(&store, &settings, &seen, trusting);
    block_on(a.import_car(&archive)).unwrap();
    block_on(b.identity()).unwrap();

    // A verifies the lie: a mismatch, the liar distrusted and kept.
    let v = block_on(a.verify(&lied, None)).unwrap();
    assert_eq!(v.verdict, Verdict::Mismatch);
    assert_eq!(v.distrusted, vec![did(7)]);
    assert!(block_on(settings.trust_state())
        .unwrap()
        .distrusted
        .contains_key(&did(7)));

    // B opened before; an import reads the kept distrust first.
    let again = block_on(b.import_car(&archive)).unwrap();
    assert!(again.vouched.is_empty(), "{again:?}");
    assert!(!block_on(b.identity()).unwrap().trust().trusts(&did(7)));
}

#[test]
fn verify_through_the_runtime_promotes_a_matching_receipt_from_elsewhere() {
    let other = alone(3);
    let wf = workflow(&[instr("inc", vec![Ipld::Integer(1)])]);
    let report = block_on(other.run(&wf, &mut |_| {}, &CancelToken::new())).unwrap();
    let cid = report.tasks[0].receipt().unwrap().cid;
    let archive = block_on(other.export_car(&[cid])).unwrap();

    let node = alone(1);
    block_on(node.import_car(&archive)).unwrap();
    let instruction = wf.tasks[0].run.cid();
    assert!(block_on(node.receipt_for(&instruction))
        .unwrap()
        .value
        .is_none());
    let v = block_on(node.verify(&cid, None)).unwrap();
    assert!(v.matches() && v.promoted, "{v:?}");
    let hit = block_on(node.receipt_for(&instruction)).unwrap().value;
    assert_eq!(hit.map(|r| r.cid), Some(cid));
    // The check of a receipt with its envelopes uses the runtime's trust.
    let row = block_on(node.store().row(&cid)).unwrap().unwrap().unwrap();
    let check = block_on(node.check_receipt(&row.bytes, &row.envelopes)).unwrap();
    assert!(check.verdict.is_ok(), "{:?}", check.verdict);
}

#[test]
fn run_records_are_kept_through_the_trait() {
    let runs = ipvm_core::MemoryRuns::new();
    let node = alone(1).with_runs(runs.clone());
    let wf = workflow(&[instr("inc", vec![Ipld::Integer(1)]), instr("fail", vec![])]);
    block_on(node.run(&wf, &mut |_| {}, &CancelToken::new())).unwrap();
    let records = runs.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].state, "failed");
    assert_eq!(records[0].tasks.len(), 2);
}

#[test]
fn an_archive_is_checked_under_the_runtime_s_trust_without_storing_it() {
    let other = alone(3);
    let wf = workflow(&[instr("inc", vec![Ipld::Integer(1)])]);
    let report = block_on(other.run(&wf, &mut |_| {}, &CancelToken::new())).unwrap();
    let cid = report.tasks[0].receipt().unwrap().cid;
    let archive = block_on(other.export_car(&[cid])).unwrap();
    // A runtime that trusts nobody: untrusted, signed by the other.
    let stranger = alone(1);
    let checked = block_on(stranger.check_archive(&archive)).unwrap();
    assert!(checked.refused.is_empty());
    assert_eq!(checked.receipts.len(), 1);
    assert_eq!(checked.receipts[0].0, cid);
    let why = checked.receipts[0].1.verdict.clone().unwrap_err();
    assert_eq!(why.code(), "untrusted");
    assert!(
        block_on(stranger.store().row(&cid)).unwrap().is_none(),
        "nothing stored"
    );
    // One that trusts the other: valid, its DID.
    let friend = runtime(
        &Rc::new(MemoryStore::new()),
        &Rc::new(MemorySettings::new(&key(2))),
        &Rc::new(MemorySeen::new()),
        TrustOptions {
            signers: vec![did(3)],
            ..Default::default()
        },
    );
    let checked = block_on(friend.check_archive(&archive)).unwrap();
    assert_eq!(checked.receipts[0].1.verdict, Ok(did(3)));
    // An archive with no receipt is an error that says so.
    let empty = ipvm_core::car::encode(&[], &[]).unwrap();
    let err = block_on(friend.check_archive(&empty)).unwrap_err();
    assert!(err.to_string().contains("no receipt"), "{err}");
}
