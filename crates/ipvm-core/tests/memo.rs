//! Memo integrity: a stored receipt answers an instruction only if this
//! runtime vouches for it, every row is checked when it is read, and
//! failures of the environment are never reused. Each test covers a class of
//! attack, with several members of the class.
//!
//! Past 600 lines: one test per class of attack on the memo (§5a).

// The same file runs natively and in headless Chromium (`npm test`'s
// `core-browser` suite).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod common;

use std::cell::Cell;
use std::collections::BTreeMap;

use common::*;
use futures::executor::block_on;
use ipvm_core::store::{BadRow, Block, RowIndex, RowRead};
use ipvm_core::{
    car, memo, BlockStore, CancelToken, Cid, CoreError, Event, Execution, Executor, Instruction,
    Ipld, Job, MemoryStore, Outcome, Provenance, Quarantine, Receipt, ReceiptRecord, ReceiptRow,
    ReceiptStore, RunReport, Scheduler, Task, Verdict, Workflow, RECEIPT_VERSION,
};

fn run_with<E: Executor>(exec: &E, store: &MemoryStore, wf: &Workflow) -> (RunReport, Vec<Event>) {
    run_in(exec, store, &Quarantine::new(), wf)
}

/// A run of a runtime that keeps `quarantine` across its runs.
fn run_in<E: Executor>(
    exec: &E,
    store: &MemoryStore,
    quarantine: &Quarantine,
    wf: &Workflow,
) -> (RunReport, Vec<Event>) {
    let mut events = Vec::new();
    let report = block_on(Scheduler::new(exec, store).with_quarantine(quarantine).run(
        wf,
        &mut |e| events.push(e.clone()),
        &CancelToken::new(),
    ))
    .expect("the run succeeds");
    (report, events)
}

fn out(report: &RunReport, i: usize) -> Outcome {
    report.tasks[i]
        .receipt()
        .expect("a receipt")
        .receipt
        .out
        .clone()
}

/// A receipt for `instruction`'s invocation claiming `value`, with `fuel`
/// (vary it to grind the receipt's CID).
fn forged(instruction: &Instruction, value: i128, fuel: u64) -> (Receipt, Block) {
    let task = Task::new(instruction.clone());
    let (ran, invocation) = task.invocation().unwrap();
    let receipt = Receipt::of_execution(ran, &Execution::ok(Ipld::Integer(value), fuel), vec![]);
    (receipt, (ran, invocation))
}

/// A forged receipt whose CID sorts before `than` (as a grinding attacker
/// would make it, to be the first row in key order).
fn ground_before(instruction: &Instruction, value: i128, than: &Cid) -> (Receipt, Block) {
    (0..10_000)
        .map(|fuel| forged(instruction, value, fuel))
        .find(|(r, _)| r.cid().unwrap().to_string() < than.to_string())
        .expect("a CID that sorts first")
}

fn car_of(receipts: &[Receipt], blocks: &[Block]) -> Vec<u8> {
    let mut all: Vec<Block> = blocks.to_vec();
    for r in receipts {
        all.push(r.block().unwrap());
    }
    car::encode(&[], &all).unwrap()
}

/// Stores the bytes the test module CID names, so that CARs can carry them.
fn add_test_module(store: &MemoryStore) {
    block_on(store.put_block(module(), b"test module".to_vec())).unwrap();
}

fn lookup(store: &MemoryStore, instruction: &Cid) -> Option<ReceiptRecord> {
    block_on(memo::lookup(store, &Quarantine::new(), None, instruction))
        .unwrap()
        .value
}

#[test]
fn a_forged_receipt_imported_from_a_car_is_never_served() {
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let wf = workflow(std::slice::from_ref(&a));

    // Imported before anything was computed: the task runs.
    let store = MemoryStore::new();
    let (lie, invocation) = forged(&a, 1000, 1);
    let n = block_on(car::import(
        &store,
        &untrusting(),
        &car_of(
            std::slice::from_ref(&lie),
            std::slice::from_ref(&invocation),
        ),
    ))
    .unwrap();
    assert_eq!(n.receipts, 1, "the forged receipt is stored");
    let exec = TestExecutor::default();
    let (report, _) = run_with(&exec, &store, &wf);
    assert_eq!(exec.count(), 1);
    assert_eq!(out(&report, 0), Outcome::Ok(Ipld::Integer(2)));
    let genuine = report.tasks[0].receipt().unwrap().cid;

    // Imported after the genuine receipt, with CIDs ground to sort first:
    // the genuine one still answers, and nothing runs.
    for value in [999, 2, -1] {
        let (lie, invocation) = ground_before(&a, value, &genuine);
        block_on(car::import(
            &store,
            &untrusting(),
            &car_of(&[lie], &[invocation]),
        ))
        .unwrap();
        let (again, _) = run_with(&exec, &store, &wf);
        assert_eq!(again.reused(), 1);
        assert_eq!(again.tasks[0].receipt().unwrap().cid, genuine);
        assert_eq!(lookup(&store, &a.cid()).unwrap().cid, genuine);
    }
    assert_eq!(exec.count(), 1);

    // The forged receipts are kept and listed, with their provenance.
    let all = block_on(memo::receipts_for(&store, &Quarantine::new(), &a.cid()))
        .unwrap()
        .value;
    assert_eq!(all.len(), 5);
    assert_eq!(
        all.iter()
            .filter(|r| r.provenance == Provenance::Computed)
            .count(),
        1
    );
    assert!(all
        .iter()
        .filter(|r| r.cid != genuine)
        .all(|r| r.provenance == Provenance::Imported));
}

#[test]
fn an_await_on_an_imported_receipt_is_refused_until_it_is_verified() {
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let b = instr("inc", vec![awaits("await/ok", &a)]);
    let store = MemoryStore::new();
    let (lie, invocation) = forged(&a, 999, 1);
    block_on(car::import(
        &store,
        &untrusting(),
        &car_of(std::slice::from_ref(&lie), &[invocation]),
    ))
    .unwrap();
    let exec = TestExecutor::default();
    let err = block_on(Scheduler::new(&exec, &store).run(
        &workflow(std::slice::from_ref(&b)),
        &mut |_| {},
        &CancelToken::new(),
    ))
    .unwrap_err();
    assert!(
        matches!(err, CoreError::Invalid(ref v) if v.task == 0 && v.field == "run.input.args"),
        "{err}"
    );
    // `verify` re-runs it: a forged receipt does not match and stays unused.
    let v = block_on(ipvm_core::verify(
        &exec,
        &store,
        &Quarantine::new(),
        None,
        &lie.cid().unwrap(),
    ))
    .unwrap();
    assert_eq!(v.verdict, Verdict::Mismatch);
    assert!(!v.promoted);
    assert!(lookup(&store, &a.cid()).is_none());
}

#[test]
fn a_verified_import_is_promoted_and_becomes_a_memo_hit() {
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let b = instr("add", vec![awaits("await/ok", &a), Ipld::Integer(10)]);
    let wf = workflow(&[a.clone(), b.clone()]);
    let (elsewhere, exec) = (MemoryStore::new(), TestExecutor::default());
    add_test_module(&elsewhere);
    let (report, _) = run_with(&exec, &elsewhere, &wf);
    let roots: Vec<Cid> = report
        .tasks
        .iter()
        .map(|t| t.receipt().unwrap().cid)
        .collect();
    let archive = block_on(car::export(&elsewhere, &roots)).unwrap();

    let here = MemoryStore::new();
    block_on(car::import(&here, &untrusting(), &archive)).unwrap();
    // b awaits a, which is not trusted yet: b cannot be verified first.
    let err = block_on(ipvm_core::verify(
        &exec,
        &here,
        &Quarantine::new(),
        None,
        &roots[1],
    ))
    .unwrap_err();
    assert!(
        matches!(&err, CoreError::UntrustedInput(c) if **c == a.cid()),
        "{err}"
    );
    assert!(
        err.to_string().contains("verify that receipt first"),
        "{err}"
    );
    for cid in &roots {
        let v = block_on(ipvm_core::verify(
            &exec,
            &here,
            &Quarantine::new(),
            None,
            cid,
        ))
        .unwrap();
        assert_eq!(v.verdict, Verdict::Match, "{v:?}");
        assert!(v.promoted);
        assert_eq!(v.provenance, Provenance::Imported);
    }
    let counted = TestExecutor::default();
    let (again, _) = run_with(&counted, &here, &wf);
    assert_eq!(again.reused(), 2);
    assert_eq!(counted.count(), 0);
    let rec = lookup(&here, &b.cid()).unwrap();
    assert_eq!(rec.provenance, Provenance::Verified);
    // Verifying again changes nothing.
    let v = block_on(ipvm_core::verify(
        &exec,
        &here,
        &Quarantine::new(),
        None,
        &roots[0],
    ))
    .unwrap();
    assert!(v.matches() && !v.promoted);
}

/// Ways a stored row can lie about itself or be damaged, each applied to the
/// row of a genuine receipt of `other` and filed under `asked`.
fn corruptions(asked: &Instruction, genuine: &ReceiptRow) -> Vec<(&'static str, ReceiptRow)> {
    let filed = ReceiptRow {
        instruction: asked.cid(),
        inputs: asked.inputs(),
        ..genuine.clone()
    };
    let mut flipped = filed.clone();
    let last = flipped.bytes.len() - 1;
    flipped.bytes[last] ^= 1;
    // The same receipt, encoded with a map key out of canonical order
    // (hashed under a CID of its own, so only canonicality is wrong).
    let receipt = block_on(async { ipvm_core::decode_dag_cbor(&genuine.bytes) }).unwrap();
    let noncanonical = noncanonical_bytes(&receipt);
    let noncanonical_row = ReceiptRow {
        cid: ipvm_core::address::cid_of(0x71, 0x16, &noncanonical),
        bytes: noncanonical,
        ..filed.clone()
    };
    // A receipt whose invocation block is not in the store.
    let (orphan, _) = forged(&instr("never-stored", vec![]), 2, 1);
    let (orphan_cid, orphan_bytes) = orphan.block().unwrap();
    vec![
        ("filed under another instruction", filed.clone()),
        ("bytes damaged", flipped),
        ("non-canonical bytes", noncanonical_row),
        (
            "invocation missing",
            ReceiptRow {
                cid: orphan_cid,
                bytes: orphan_bytes,
                invocation: None,
                ..filed.clone()
            },
        ),
        (
            "the copy of the invocation damaged",
            ReceiptRow {
                invocation: filed.invocation.clone().map(|mut b| {
                    b[3] ^= 1;
                    b
                }),
                ..filed.clone()
            },
        ),
        (
            "bytes that are not a receipt",
            ReceiptRow {
                cid: ipvm_core::dag_cbor_cid(&Ipld::Integer(2)).unwrap(),
                bytes: ipvm_core::encode_dag_cbor(&Ipld::Integer(2)).unwrap(),
                ..filed
            },
        ),
    ]
}

/// DAG-CBOR of a map with its keys in plain sorted order (not length-first):
/// valid CBOR, not canonical DAG-CBOR.
fn noncanonical_bytes(value: &Ipld) -> Vec<u8> {
    let Ipld::Map(m) = value else { panic!("a map") };
    let mut out = vec![0xa0 | m.len() as u8];
    for (k, v) in m {
        out.extend(ipvm_core::encode_dag_cbor(&Ipld::String(k.clone())).unwrap());
        out.extend(ipvm_core::encode_dag_cbor(v).unwrap());
    }
    out
}

#[test]
fn a_row_that_is_not_what_it_claims_is_skipped_reported_once_and_never_fails_the_run() {
    let asked = instr("inc", vec![Ipld::Integer(1)]);
    let other = instr("inc", vec![Ipld::Integer(5)]);
    let wf = workflow(std::slice::from_ref(&asked));
    let exec = TestExecutor::default();
    let donor = MemoryStore::new();
    let (r, _) = run_with(&exec, &donor, &workflow(std::slice::from_ref(&other)));
    let genuine_other = r.tasks[0].receipt().unwrap().clone();
    let row = block_on(donor.row(&genuine_other.cid))
        .unwrap()
        .unwrap()
        .unwrap();
    let (other_ran, other_invocation) = Task::new(other.clone()).invocation().unwrap();

    for (what, bad) in corruptions(&asked, &row) {
        let store = MemoryStore::new();
        block_on(store.put_batch(
            vec![(other_ran, other_invocation.clone())],
            vec![bad.clone()],
        ))
        .unwrap();
        let quarantine = Quarantine::new();
        let (report, events) = run_in(&exec, &store, &quarantine, &wf);
        assert_eq!(out(&report, 0), Outcome::Ok(Ipld::Integer(2)), "{what}");
        assert_eq!(report.executed(), 1, "{what}: the task ran");
        let rejected: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::Rejected {
                    receipt, reason, ..
                } => Some((receipt.clone(), reason.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(rejected.len(), 1, "{what}: reported once: {events:?}");
        assert_eq!(rejected[0].0, bad.cid.to_string(), "{what}");
        // The next run is a memo hit on the receipt computed here, and the
        // row is not reported again.
        let (again, events) = run_in(&exec, &store, &quarantine, &wf);
        assert_eq!(again.reused(), 1, "{what}");
        assert!(
            !events.iter().any(|e| matches!(e, Event::Rejected { .. })),
            "{what}"
        );
    }
}

/// A memory store that counts its block reads (each receipt checked reads
/// its invocation block once) and, if `bad_rows`, hands back a row it
/// cannot read beside the real ones of every index.
#[derive(Default)]
struct Spy {
    inner: MemoryStore,
    reads: Cell<usize>,
    bad_rows: bool,
}

impl BlockStore for Spy {
    async fn get_block(&self, cid: &Cid) -> Result<Option<Vec<u8>>, CoreError> {
        self.reads.set(self.reads.get() + 1);
        self.inner.get_block(cid).await
    }
    async fn put_block(&self, cid: Cid, bytes: Vec<u8>) -> Result<(), CoreError> {
        self.inner.put_block(cid, bytes).await
    }
    async fn put_alias(&self, alias: Cid, root: Cid) -> Result<(), CoreError> {
        self.inner.put_alias(alias, root).await
    }
    async fn get_alias(&self, alias: &Cid) -> Result<Option<Cid>, CoreError> {
        self.inner.get_alias(alias).await
    }
}

impl ReceiptStore for Spy {
    async fn put_batch(&self, blocks: Vec<Block>, rows: Vec<ReceiptRow>) -> Result<(), CoreError> {
        self.inner.put_batch(blocks, rows).await
    }
    async fn row(&self, cid: &Cid) -> Result<Option<RowRead>, CoreError> {
        self.inner.row(cid).await
    }
    async fn rows(&self, index: RowIndex<'_>) -> Result<Vec<RowRead>, CoreError> {
        let mut rows = Vec::new();
        if self.bad_rows {
            rows.push(Err(BadRow {
                key: "not-a-cid".into(),
                reason: "`instruction` is not a string".into(),
            }));
        }
        rows.extend(self.inner.rows(index).await?);
        Ok(rows)
    }
    async fn set_provenance(&self, cid: &Cid, p: Provenance) -> Result<(), CoreError> {
        self.inner.set_provenance(cid, p).await
    }
    async fn set_vouched(&self, cid: &Cid, v: bool) -> Result<(), CoreError> {
        self.inner.set_vouched(cid, v).await
    }
}

#[test]
fn an_unreadable_row_is_reported_and_the_run_goes_on() {
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let store = Spy {
        bad_rows: true,
        ..Spy::default()
    };
    let exec = TestExecutor::default();
    let mut events = Vec::new();
    let report = block_on(Scheduler::new(&exec, &store).run(
        &workflow(&[a]),
        &mut |e| events.push(e.clone()),
        &CancelToken::new(),
    ))
    .unwrap();
    assert_eq!(out(&report, 0), Outcome::Ok(Ipld::Integer(2)));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Rejected { receipt, .. } if receipt == "not-a-cid")));
}

/// An executor that fails with a given error kind, counting its calls.
struct FailsWith(&'static str, Cell<usize>);

impl Executor for FailsWith {
    fn ops(&self) -> &ipvm_core::Ops {
        ipvm_core::Ops::standard()
    }
    async fn execute(&self, _: Job) -> Execution {
        self.1.set(self.1.get() + 1);
        Execution::error(error_value(self.0, "it failed"), 3)
    }
}

#[test]
fn failures_of_the_environment_or_of_authority_are_never_reused() {
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let wf = workflow(std::slice::from_ref(&a));
    for kind in [
        "module_missing",
        "input_missing",
        "store",
        "worker",
        "unauthorized",
        "a-kind-from-the-future",
    ] {
        let store = MemoryStore::new();
        let exec = FailsWith(kind, Cell::new(0));
        run_with(&exec, &store, &wf);
        run_with(&exec, &store, &wf);
        assert_eq!(exec.1.get(), 2, "{kind}: ran twice");
        // Once the environment is right, the task runs and succeeds.
        let (report, _) = run_with(&TestExecutor::default(), &store, &wf);
        assert_eq!(out(&report, 0), Outcome::Ok(Ipld::Integer(2)), "{kind}");
    }
    // A result of the task itself (a trap) is reused.
    let store = MemoryStore::new();
    let exec = FailsWith("trap", Cell::new(0));
    run_with(&exec, &store, &wf);
    run_with(&exec, &store, &wf);
    assert_eq!(exec.1.get(), 1);
}

#[test]
fn receipts_of_another_version_are_kept_but_not_reused_nor_compared() {
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let store = MemoryStore::new();
    let (ran, invocation) = Task::new(a.clone()).invocation().unwrap();
    for version in [0, RECEIPT_VERSION + 1] {
        let mut receipt = Receipt::of_execution(ran, &Execution::ok(Ipld::Integer(2), 1), vec![]);
        if version == 0 {
            receipt.meta.remove("v");
        } else {
            receipt
                .meta
                .insert("v".into(), Ipld::Integer(version.into()));
        }
        assert_eq!(receipt.version(), version);
        let record = ReceiptRecord {
            cid: receipt.cid().unwrap(),
            receipt,
            instruction: a.cid(),
            inputs: a.inputs(),
            provenance: Provenance::Computed,
            envelopes: Vec::new(),
            vouched: false,
        };
        block_on(memo::store_computed(
            &store,
            &record,
            vec![(ran, invocation.clone())],
            None,
        ))
        .unwrap();
        assert!(lookup(&store, &a.cid()).is_none(), "version {version}");
        let v = block_on(ipvm_core::verify(
            &TestExecutor::default(),
            &store,
            &Quarantine::new(),
            None,
            &record.cid,
        ))
        .unwrap();
        assert!(
            matches!(v.verdict, Verdict::Incomparable(ref why) if why.contains("version")),
            "{v:?}"
        );
    }
    let exec = TestExecutor::default();
    run_with(&exec, &store, &workflow(std::slice::from_ref(&a)));
    assert_eq!(exec.count(), 1, "the old receipts did not answer");
    assert_eq!(
        block_on(memo::receipts_for(&store, &Quarantine::new(), &a.cid()))
            .unwrap()
            .value
            .len(),
        3
    );
}

#[test]
fn a_memo_lookup_checks_one_receipt_however_many_are_stored() {
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let store = Spy::default();
    let (ran, invocation) = Task::new(a.clone()).invocation().unwrap();
    let record = |ex: &Execution, provenance| {
        let receipt = Receipt::of_execution(ran, ex, vec![]);
        ReceiptRecord {
            cid: receipt.cid().unwrap(),
            receipt,
            instruction: a.cid(),
            inputs: a.inputs(),
            provenance,
            envelopes: Vec::new(),
            vouched: false,
        }
    };
    // 200 receipts that may not be reused (nondeterministic, limits, the
    // environment), 200 reusable ones from a CAR, one computed here.
    let mut rows = Vec::new();
    for i in 0..200u64 {
        let mut ex = Execution::ok(Ipld::Integer(2), i);
        match i % 3 {
            0 => ex.nondeterministic = true,
            1 => ex.limit = Some("fuel".into()),
            _ => ex.out = Outcome::Err(error_value("module_missing", "later")),
        }
        rows.push(ReceiptRow::new(&record(&ex, Provenance::Computed)).unwrap());
        let imported = record(
            &Execution::ok(Ipld::Integer(7), 1000 + i),
            Provenance::Imported,
        );
        rows.push(ReceiptRow::new(&imported).unwrap());
    }
    let genuine = record(&Execution::ok(Ipld::Integer(2), 1), Provenance::Computed);
    rows.push(ReceiptRow::new(&genuine).unwrap());
    block_on(store.put_batch(vec![(ran, invocation)], rows)).unwrap();
    store.reads.set(0);
    let found = block_on(memo::lookup(&store, &Quarantine::new(), None, &a.cid())).unwrap();
    assert_eq!(found.value.unwrap().cid, genuine.cid);
    assert_eq!(store.reads.get(), 1, "one receipt decoded and checked");
    assert!(found.rejected.is_empty());
}

#[test]
fn among_trusted_receipts_the_first_written_answers_whatever_their_cids() {
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let (ran, invocation) = Task::new(a.clone()).invocation().unwrap();
    let records: Vec<ReceiptRecord> = [(2, 1), (2, 2), (2, 3)]
        .iter()
        .map(|&(v, fuel)| {
            let receipt =
                Receipt::of_execution(ran, &Execution::ok(Ipld::Integer(v), fuel), vec![]);
            ReceiptRecord {
                cid: receipt.cid().unwrap(),
                receipt,
                instruction: a.cid(),
                inputs: a.inputs(),
                provenance: Provenance::Computed,
                envelopes: Vec::new(),
                vouched: false,
            }
        })
        .collect();
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
        let store = MemoryStore::new();
        for &i in &order {
            block_on(memo::store_computed(
                &store,
                &records[i],
                vec![(ran, invocation.clone())],
                None,
            ))
            .unwrap();
        }
        assert_eq!(lookup(&store, &a.cid()).unwrap().cid, records[order[0]].cid);
    }
    // Computed here is preferred to verified here.
    let store = MemoryStore::new();
    let verified = ReceiptRow {
        provenance: Provenance::Verified,
        ..ReceiptRow::new(&records[0]).unwrap()
    };
    block_on(store.put_batch(vec![(ran, invocation.clone())], vec![verified])).unwrap();
    block_on(memo::store_computed(&store, &records[1], vec![], None)).unwrap();
    assert_eq!(lookup(&store, &a.cid()).unwrap().cid, records[1].cid);
}

#[test]
fn an_import_is_all_or_nothing_and_never_lowers_provenance() {
    let a = instr("inc", vec![Ipld::Integer(1)]);
    let exec = TestExecutor::default();
    let store = MemoryStore::new();
    add_test_module(&store);
    let (report, _) = run_with(&exec, &store, &workflow(std::slice::from_ref(&a)));
    let genuine = report.tasks[0].receipt().unwrap().cid;
    let archive = block_on(car::export(&store, &[genuine])).unwrap();
    let n = block_on(car::import(&store, &untrusting(), &archive)).unwrap();
    assert_eq!((n.receipts, n.known), (0, 1));
    assert_eq!(n.listed, vec![genuine], "a known receipt is listed too");
    let elsewhere = MemoryStore::new();
    add_test_module(&elsewhere);
    let fresh = block_on(car::import(&elsewhere, &untrusting(), &archive)).unwrap();
    assert_eq!((fresh.receipts, fresh.listed), (1, vec![genuine]));
    assert_eq!(
        lookup(&store, &a.cid()).unwrap().provenance,
        Provenance::Computed
    );

    // Good blocks and a good receipt first, then a receipt whose invocation
    // is not a task: nothing at all is stored.
    let b = instr("inc", vec![Ipld::Integer(2)]);
    let (good, good_invocation) = forged(&b, 3, 1);
    let data = (ipvm_core::address::raw_cid(b"data"), b"data".to_vec());
    let not_a_task = ipvm_core::encode_dag_cbor(&Ipld::Map(BTreeMap::from([(
        "task".to_string(),
        Ipld::Integer(1),
    )])))
    .unwrap();
    let not_a_task = (
        ipvm_core::address::cid_of(0x71, 0x16, &not_a_task),
        not_a_task,
    );
    let bad = Receipt::of_execution(not_a_task.0, &Execution::ok(Ipld::Integer(1), 1), vec![]);
    let archive = car_of(&[good, bad], &[data.clone(), good_invocation, not_a_task]);
    let empty = MemoryStore::new();
    assert!(block_on(car::import(&empty, &untrusting(), &archive)).is_err());
    assert_eq!((empty.block_count(), empty.receipt_count()), (0, 0));
    assert!(block_on(empty.get_block(&data.0)).unwrap().is_none());
}
