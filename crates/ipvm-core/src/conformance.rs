//! The store conformance suite: one body of tests that every implementation
//! of the storage capabilities passes ([`BlockStore`], [`ReceiptStore`],
//! [`Settings`], [`SeenInvocations`], [`RunRecords`]). A crate runs it
//! against its store with [`conformance_tests!`](crate::conformance_tests),
//! given a [`Subject`]: a fresh, empty place and a way to open more handles
//! on it. [`MemoryStore`] passes it ([`Memory`]; natively in
//! tests/conformance.rs, and in Chromium), and so do the native SQLite store
//! (crates/ipvm-store) and the browser's IndexedDB store (crates/ipvm-web,
//! in Chromium).
//!
//! The suite asserts what the traits promise, nothing of how a store keeps
//! it: rows come back as they were written (but for `stored`), each index
//! holds exactly the rows it should, a batch with a bad block leaves
//! nothing behind, a replaced row keeps the envelopes of the old one, and a
//! claim is first exactly once, whichever handle makes it.
//!
//! Behind the `conformance` feature: it panics on failure, as tests do.
//! Past 600 lines on purpose: one case per promise of the traits, and the
//! suite must be read whole to know what a store has to keep. At the crate
//! root, not in `store/`, because it also covers run records (`run/`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test suite: a failed step is a failed test"
)]

use std::collections::BTreeSet;
use std::rc::Rc;

use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::model::address::raw_cid;
use crate::model::execution::Execution;
use crate::model::receipt::Receipt;
use crate::model::workflow::{Instruction, Task, Workflow};
use crate::run::records::{MemoryRuns, RunLog, RunRecords};
use crate::run::report::Event;
use crate::run::runlog::RunRecord;
use crate::store::memo::{self, Quarantine};
use crate::store::record::{Provenance, ReceiptRecord};
use crate::store::seen::{MemorySeen, SeenInvocations};
use crate::store::settings::{MemorySettings, Settings, TrustState};
use crate::store::{Block, BlockStore, MemoryStore, ReceiptRow, ReceiptStore, RowIndex, RowRead};
use crate::{CoreError, Did, Ed25519Key, Signer};

/// A store under test: one fresh, empty place, and handles on it. Each
/// method opens a new handle on the same place (a new connection, where the
/// store has them), so that what one handle writes, another must read.
/// Async because opening a handle may be (IndexedDB's is).
#[allow(
    async_fn_in_trait,
    reason = "the futures are used in single-threaded contexts; Send is not wanted"
)]
pub trait Subject {
    /// Blocks and receipts.
    type Store: ReceiptStore;
    /// Identity and trust state.
    type Settings: Settings;
    /// Claims of invocations.
    type Seen: SeenInvocations;
    /// Records of runs.
    type Runs: RunRecords;
    /// A handle on the blocks and receipts.
    async fn store(&self) -> Self::Store;
    /// A handle on the settings.
    async fn settings(&self) -> Self::Settings;
    /// A handle on the seen claims.
    async fn seen(&self) -> Self::Seen;
    /// A handle on the run records.
    async fn runs(&self) -> Self::Runs;
    /// The run records kept, in any order, read through a new handle.
    async fn run_records(&self) -> Vec<RunRecord>;
}

/// One test per case of the suite, each on a fresh subject made by `$make`
/// (an expression, evaluated in an `async` block: it may `.await`).
/// Natively a `#[test]` that blocks on the case (the calling crate needs
/// `futures` with its `executor` feature); on wasm32 an `async`
/// `#[wasm_bindgen_test]` (the calling crate needs `wasm-bindgen-test`), so
/// that a store whose requests complete on the browser's event loop
/// (IndexedDB) runs too.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@each $make;
            blocks_are_kept_and_checked,
            a_batch_of_blocks_with_a_bad_one_stores_none,
            aliases_and_file_blocks,
            the_metered_module_cache,
            a_batch_writes_blocks_and_rows_together,
            a_batch_with_a_bad_block_writes_nothing,
            the_memo_index_holds_only_reusable_rows,
            the_instruction_index_holds_every_row,
            the_input_index_holds_each_input,
            memo_rows_answer_in_the_order_asked,
            a_replaced_row_leaves_its_old_index_entries,
            a_replaced_row_keeps_the_envelopes_of_the_old_one,
            the_signer_index_follows_the_envelopes,
            later_writes_are_stored_later,
            provenance_and_vouched_change_in_place,
            computed_receipts_answer_the_memo_from_another_handle,
            a_bad_row_is_kept_but_never_answers,
            the_trust_state_is_kept_and_replaced,
            the_identity_is_the_same_from_every_handle,
            a_claim_is_first_once_until_it_expires,
            claims_raced_from_two_handles_are_first_once,
            run_records_are_kept_as_the_run_goes
        );
    };
    (@each $make:expr; $($name:ident),* $(,)?) => {$(
        #[cfg(not(target_arch = "wasm32"))]
        #[test]
        fn $name() {
            futures::executor::block_on(async {
                let subject = $make;
                $crate::conformance::$name(&subject).await;
            });
        }
        #[cfg(target_arch = "wasm32")]
        #[wasm_bindgen_test::wasm_bindgen_test]
        async fn $name() {
            let subject = $make;
            $crate::conformance::$name(&subject).await;
        }
    )*};
}

/// The core's in-memory capabilities as a subject: [`MemoryStore`],
/// [`MemorySettings`], [`MemorySeen`] and [`MemoryRuns`], one place
/// whose every handle is a pointer to it. Here rather than in a test file
/// so that the suite runs on it natively (tests/conformance.rs) and in the
/// browser (crates/ipvm-web).
pub struct Memory {
    store: Rc<MemoryStore>,
    settings: Rc<MemorySettings>,
    seen: Rc<MemorySeen>,
    runs: MemoryRuns,
}

impl Memory {
    /// An empty place.
    pub fn fresh() -> Self {
        Self {
            store: Rc::new(MemoryStore::new()),
            settings: Rc::new(MemorySettings::new(&Ed25519Key::from_seed([9; 32]))),
            seen: Rc::new(MemorySeen::new()),
            runs: MemoryRuns::new(),
        }
    }
}

impl Subject for Memory {
    type Store = Rc<MemoryStore>;
    type Settings = Rc<MemorySettings>;
    type Seen = Rc<MemorySeen>;
    type Runs = MemoryRuns;
    async fn store(&self) -> Rc<MemoryStore> {
        self.store.clone()
    }
    async fn settings(&self) -> Rc<MemorySettings> {
        self.settings.clone()
    }
    async fn seen(&self) -> Rc<MemorySeen> {
        self.seen.clone()
    }
    async fn runs(&self) -> MemoryRuns {
        self.runs.clone()
    }
    async fn run_records(&self) -> Vec<RunRecord> {
        self.runs.records()
    }
}

// --- Fixtures -----------------------------------------------------------

fn instruction(func: &str, n: i128) -> Instruction {
    Instruction::new(
        raw_cid(b"conformance module"),
        "wasm/run",
        func,
        vec![Ipld::Integer(n)],
        Ipld::String(String::new()),
    )
    .unwrap()
}

/// A genuine receipt of `instruction` with `value`, its row (computed, no
/// envelopes, with a copy of its invocation) and its invocation block.
fn receipt_row(instruction: &Instruction, value: i128, reusable: bool) -> (ReceiptRow, Block) {
    let (ran, invocation) = Task::new(instruction.clone()).invocation().unwrap();
    let execution = Execution {
        nondeterministic: !reusable,
        ..Execution::ok(Ipld::Integer(value), 7)
    };
    let receipt = Receipt::of_execution(ran, &execution, vec![]);
    let record = ReceiptRecord {
        cid: receipt.cid().unwrap(),
        receipt,
        instruction: instruction.cid(),
        inputs: instruction.inputs(),
        provenance: Provenance::Computed,
        envelopes: vec![],
        vouched: false,
    };
    let block = (ran, invocation);
    let row = ReceiptRow::with_invocation(&record, std::slice::from_ref(&block)).unwrap();
    (row, block)
}

fn row_of(i: u8) -> ReceiptRow {
    receipt_row(&instruction("f", i.into()), i.into(), true).0
}

fn block(text: &str) -> Block {
    let bytes = text.as_bytes().to_vec();
    (raw_cid(&bytes), bytes)
}

/// A block whose bytes are not those of its CID.
fn bad_block() -> Block {
    (raw_cid(b"what the CID names"), b"other bytes".to_vec())
}

fn did(seed: u8) -> Did {
    Ed25519Key::from_seed([seed; 32]).did().clone()
}

/// The rows read, each readable, with `stored` cleared (the store sets it).
fn rows(reads: Vec<RowRead>) -> Vec<ReceiptRow> {
    reads
        .into_iter()
        .map(|r| ReceiptRow {
            stored: 0,
            ..r.expect("a readable row")
        })
        .collect()
}

fn cids(reads: Vec<RowRead>) -> BTreeSet<Cid> {
    rows(reads).into_iter().map(|r| r.cid).collect()
}

async fn row_back<S: ReceiptStore>(store: &S, cid: &Cid) -> Option<ReceiptRow> {
    store.row(cid).await.unwrap().map(|r| ReceiptRow {
        stored: 0,
        ..r.expect("a readable row")
    })
}

// --- Blocks -------------------------------------------------------------

/// A block is read back as written, from another handle; an absent one is
/// `None`; bytes that are not the CID's are refused and not stored.
pub async fn blocks_are_kept_and_checked<S: Subject>(s: &S) {
    let store = s.store().await;
    let (cid, bytes) = block("hello");
    assert_eq!(store.get_block(&cid).await.unwrap(), None);
    store.put_block(cid, bytes.clone()).await.unwrap();
    store.put_block(cid, bytes.clone()).await.unwrap(); // twice is fine
    assert_eq!(s.store().await.get_block(&cid).await.unwrap(), Some(bytes));
    let (bad, wrong) = bad_block();
    assert!(store.put_block(bad, wrong).await.is_err());
    assert_eq!(s.store().await.get_block(&bad).await.unwrap(), None);
}

/// `put_blocks` checks every block before writing any.
pub async fn a_batch_of_blocks_with_a_bad_one_stores_none<S: Subject>(s: &S) {
    let store = s.store().await;
    let good = block("good");
    let result = store.put_blocks(vec![good.clone(), bad_block()]).await;
    assert!(result.is_err());
    assert_eq!(s.store().await.get_block(&good.0).await.unwrap(), None);
    store.put_blocks(vec![good.clone()]).await.unwrap();
    assert_eq!(
        s.store().await.get_block(&good.0).await.unwrap(),
        Some(good.1)
    );
}

/// An alias names a root; `put_file_blocks` writes blocks and alias.
pub async fn aliases_and_file_blocks<S: Subject>(s: &S) {
    let store = s.store().await;
    let (alias, root) = (raw_cid(b"whole file"), raw_cid(b"root"));
    assert_eq!(store.get_alias(&alias).await.unwrap(), None);
    store.put_alias(alias, root).await.unwrap();
    assert_eq!(s.store().await.get_alias(&alias).await.unwrap(), Some(root));
    let part = block("a part");
    let other = raw_cid(b"another whole file");
    store
        .put_file_blocks(vec![part.clone()], Some((other, part.0)))
        .await
        .unwrap();
    let again = s.store().await;
    assert_eq!(again.get_block(&part.0).await.unwrap(), Some(part.1));
    assert_eq!(again.get_alias(&other).await.unwrap(), Some(part.0));
    // A bad block leaves no alias behind either.
    let third = raw_cid(b"a third file");
    let result = store
        .put_file_blocks(vec![bad_block()], Some((third, part.0)))
        .await;
    assert!(result.is_err());
    assert_eq!(s.store().await.get_alias(&third).await.unwrap(), None);
}

/// A store that keeps the metered-module cache keeps the block with the
/// key; one that does not keeps neither. Bad bytes are refused either way.
pub async fn the_metered_module_cache<S: Subject>(s: &S) {
    let store = s.store().await;
    let (cid, bytes) = block("metered module");
    assert_eq!(store.get_metered("m:1").await.unwrap(), None);
    store.put_metered("m:1", cid, bytes.clone()).await.unwrap();
    let again = s.store().await;
    match again.get_metered("m:1").await.unwrap() {
        Some(found) => {
            assert_eq!(found, cid);
            assert_eq!(again.get_block(&cid).await.unwrap(), Some(bytes));
        }
        None => assert_eq!(again.get_metered("m:1").await.unwrap(), None),
    }
    let (bad, wrong) = bad_block();
    let refused = store.put_metered("m:2", bad, wrong).await;
    // A store without the cache may accept and drop it; none may keep it.
    let _ = refused;
    assert_eq!(s.store().await.get_metered("m:2").await.unwrap(), None);
}

// --- Receipt rows -------------------------------------------------------

/// Rows and blocks of one batch are read back together, from another
/// handle, as written.
pub async fn a_batch_writes_blocks_and_rows_together<S: Subject>(s: &S) {
    let store = s.store().await;
    let (row, invocation) = receipt_row(&instruction("f", 1), 1, true);
    store
        .put_batch(vec![invocation.clone()], vec![row.clone()])
        .await
        .unwrap();
    let again = s.store().await;
    assert_eq!(row_back(&again, &row.cid).await, Some(row.clone()));
    assert_eq!(
        again.get_block(&invocation.0).await.unwrap(),
        Some(invocation.1)
    );
    assert_eq!(row_back(&again, &raw_cid(b"no such row")).await, None);
}

/// A batch with one bad block writes none of its blocks and none of its rows.
pub async fn a_batch_with_a_bad_block_writes_nothing<S: Subject>(s: &S) {
    let store = s.store().await;
    let (row, invocation) = receipt_row(&instruction("f", 2), 2, true);
    let result = store
        .put_batch(vec![invocation.clone(), bad_block()], vec![row.clone()])
        .await;
    assert!(result.is_err());
    let again = s.store().await;
    assert_eq!(again.get_block(&invocation.0).await.unwrap(), None);
    assert_eq!(again.row(&row.cid).await.unwrap(), None);
    assert!(again
        .rows(RowIndex::Instruction(&row.instruction))
        .await
        .unwrap()
        .is_empty());
    // put_computed is the same write.
    let result = store
        .put_computed(vec![bad_block()], vec![row.clone()])
        .await;
    assert!(result.is_err());
    assert_eq!(s.store().await.row(&row.cid).await.unwrap(), None);
}

/// Only reusable rows are in the memo index.
pub async fn the_memo_index_holds_only_reusable_rows<S: Subject>(s: &S) {
    let store = s.store().await;
    let asked = instruction("g", 1);
    let (reusable, _) = receipt_row(&asked, 10, true);
    let (not_reusable, _) = receipt_row(&asked, 11, false);
    assert!(reusable.reusable && !not_reusable.reusable);
    store
        .put_batch(vec![], vec![reusable.clone(), not_reusable.clone()])
        .await
        .unwrap();
    let memo = rows(
        s.store()
            .await
            .rows(RowIndex::Memo(&asked.cid()))
            .await
            .unwrap(),
    );
    assert_eq!(memo, vec![reusable]);
    let other = instruction("g", 2).cid();
    assert!(store.rows(RowIndex::Memo(&other)).await.unwrap().is_empty());
}

/// The instruction index holds every row filed under it, reusable or not.
pub async fn the_instruction_index_holds_every_row<S: Subject>(s: &S) {
    let store = s.store().await;
    let asked = instruction("h", 1);
    let (a, _) = receipt_row(&asked, 1, true);
    let (b, _) = receipt_row(&asked, 2, false);
    let (elsewhere, _) = receipt_row(&instruction("h", 2), 3, true);
    store
        .put_batch(vec![], vec![a.clone(), b.clone(), elsewhere])
        .await
        .unwrap();
    let found = cids(
        s.store()
            .await
            .rows(RowIndex::Instruction(&asked.cid()))
            .await
            .unwrap(),
    );
    assert_eq!(found, BTreeSet::from([a.cid, b.cid]));
}

/// Each input of a row finds it; a row with no inputs is in no input entry.
pub async fn the_input_index_holds_each_input<S: Subject>(s: &S) {
    let store = s.store().await;
    let (x, y) = (raw_cid(b"input x"), raw_cid(b"input y"));
    let mut one = row_of(1);
    one.inputs = vec![x, y];
    let mut two = row_of(2);
    two.inputs = vec![y];
    let mut none = row_of(3);
    none.inputs = vec![];
    store
        .put_batch(vec![], vec![one.clone(), two.clone(), none.clone()])
        .await
        .unwrap();
    let again = s.store().await;
    let by = |c: Cid| {
        let again = &again;
        async move { cids(again.rows(RowIndex::Input(&c)).await.unwrap()) }
    };
    assert_eq!(by(x).await, BTreeSet::from([one.cid]));
    assert_eq!(by(y).await, BTreeSet::from([one.cid, two.cid]));
    assert_eq!(by(raw_cid(b"input z")).await, BTreeSet::new());
    // The inputs come back in their order.
    assert_eq!(row_back(&again, &one.cid).await.unwrap().inputs, vec![x, y]);
    assert_eq!(row_back(&again, &none.cid).await.unwrap().inputs, vec![]);
}

/// `memo_rows` answers each instruction, in the order asked, empty for one
/// with no rows.
pub async fn memo_rows_answer_in_the_order_asked<S: Subject>(s: &S) {
    let store = s.store().await;
    let (i1, i2, i3) = (
        instruction("m", 1),
        instruction("m", 2),
        instruction("m", 3),
    );
    let (r1, _) = receipt_row(&i1, 1, true);
    let (r3, _) = receipt_row(&i3, 3, true);
    store
        .put_batch(vec![], vec![r1.clone(), r3.clone()])
        .await
        .unwrap();
    let asked = [i3.cid(), i2.cid(), i1.cid(), i3.cid()];
    let answers: Vec<Vec<ReceiptRow>> = s
        .store()
        .await
        .memo_rows(&asked)
        .await
        .unwrap()
        .into_iter()
        .map(rows)
        .collect();
    assert_eq!(answers, vec![vec![r3.clone()], vec![], vec![r1], vec![r3]]);
}

/// A row written again with other keys leaves the index entries of the old
/// one: an index never finds a row under keys it no longer has.
pub async fn a_replaced_row_leaves_its_old_index_entries<S: Subject>(s: &S) {
    let store = s.store().await;
    let mut row = row_of(5);
    let (old_input, new_input) = (raw_cid(b"old input"), raw_cid(b"new input"));
    row.inputs = vec![old_input];
    store.put_batch(vec![], vec![row.clone()]).await.unwrap();
    let old_instruction = row.instruction;
    let mut replaced = row.clone();
    replaced.instruction = instruction("moved", 5).cid();
    replaced.inputs = vec![new_input];
    replaced.reusable = false;
    store
        .put_batch(vec![], vec![replaced.clone()])
        .await
        .unwrap();
    let again = s.store().await;
    for index in [
        RowIndex::Memo(&old_instruction),
        RowIndex::Instruction(&old_instruction),
        RowIndex::Input(&old_input),
        RowIndex::Memo(&replaced.instruction),
    ] {
        assert!(again.rows(index).await.unwrap().is_empty(), "{index:?}");
    }
    for index in [
        RowIndex::Instruction(&replaced.instruction),
        RowIndex::Input(&new_input),
    ] {
        assert_eq!(
            cids(again.rows(index).await.unwrap()),
            BTreeSet::from([row.cid]),
            "{index:?}"
        );
    }
    assert_eq!(row_back(&again, &row.cid).await, Some(replaced));
}

/// A replacing row keeps the envelopes of the old one that it lacks
/// ([`ReceiptRow::keep_envelopes_of`]), and with them the old `vouched`.
pub async fn a_replaced_row_keeps_the_envelopes_of_the_old_one<S: Subject>(s: &S) {
    let store = s.store().await;
    let (a, b) = (did(1).to_string(), did(2).to_string());
    let mut old = row_of(6);
    old.provenance = Provenance::Imported;
    old.signers = vec![a.clone()];
    old.envelopes = vec![b"envelope by a".to_vec()];
    old.vouched = true;
    store.put_batch(vec![], vec![old.clone()]).await.unwrap();
    let mut new = row_of(6);
    new.signers = vec![b.clone()];
    new.envelopes = vec![b"envelope by b".to_vec()];
    new.vouched = false;
    store.put_batch(vec![], vec![new.clone()]).await.unwrap();
    let mut expected = new.clone();
    expected.keep_envelopes_of(&old);
    assert_eq!(expected.signers, vec![b.clone(), a.clone()]);
    assert!(expected.vouched);
    assert_eq!(
        row_back(&s.store().await, &new.cid).await,
        Some(expected.clone())
    );
    // The same signers again: nothing is added, the new `vouched` holds.
    let mut same = expected.clone();
    same.vouched = false;
    store.put_batch(vec![], vec![same.clone()]).await.unwrap();
    assert_eq!(row_back(&s.store().await, &new.cid).await, Some(same));
}

/// The signer index finds each row under each of its signers, and follows
/// a replacement.
pub async fn the_signer_index_follows_the_envelopes<S: Subject>(s: &S) {
    let store = s.store().await;
    let (a, b, c) = (did(3).to_string(), did(4).to_string(), did(5).to_string());
    let mut one = row_of(7);
    one.signers = vec![a.clone(), b.clone()];
    one.envelopes = vec![b"1a".to_vec(), b"1b".to_vec()];
    let mut two = row_of(8);
    two.signers = vec![b.clone()];
    two.envelopes = vec![b"2b".to_vec()];
    store
        .put_batch(vec![], vec![one.clone(), two.clone()])
        .await
        .unwrap();
    let by = |did: String| async move {
        let store = s.store().await;
        cids(store.rows(RowIndex::Signer(&did)).await.unwrap())
    };
    assert_eq!(by(a.clone()).await, BTreeSet::from([one.cid]));
    assert_eq!(by(b.clone()).await, BTreeSet::from([one.cid, two.cid]));
    assert_eq!(by(c.clone()).await, BTreeSet::new());
    // Two is written again with c's envelope: it keeps b's, and gains c.
    let mut again = row_of(8);
    again.signers = vec![c.clone()];
    again.envelopes = vec![b"2c".to_vec()];
    store.put_batch(vec![], vec![again]).await.unwrap();
    assert_eq!(by(b).await, BTreeSet::from([one.cid, two.cid]));
    assert_eq!(by(c).await, BTreeSet::from([two.cid]));
    let back = row_back(&s.store().await, &two.cid).await.unwrap();
    assert_eq!(back.envelopes, vec![b"2c".to_vec(), b"2b".to_vec()]);
}

/// `stored` never goes back: a later write is stored no earlier, and a
/// replaced row takes the time of its replacement.
pub async fn later_writes_are_stored_later<S: Subject>(s: &S) {
    let store = s.store().await;
    let (first, second) = (row_of(9), row_of(10));
    store.put_batch(vec![], vec![first.clone()]).await.unwrap();
    store.put_batch(vec![], vec![second.clone()]).await.unwrap();
    let stored = |cid: Cid| async move {
        let store = s.store().await;
        store
            .row(&cid)
            .await
            .unwrap()
            .unwrap()
            .expect("readable")
            .stored
    };
    let (t1, t2) = (stored(first.cid).await, stored(second.cid).await);
    assert!(t1 <= t2, "{t1} then {t2}");
    store.put_batch(vec![], vec![first.clone()]).await.unwrap();
    assert!(stored(first.cid).await >= t2);
}

/// Provenance and `vouched` change in place; an absent row stays absent.
pub async fn provenance_and_vouched_change_in_place<S: Subject>(s: &S) {
    let store = s.store().await;
    let mut row = row_of(11);
    row.provenance = Provenance::Imported;
    row.signers = vec![did(6).to_string()];
    row.envelopes = vec![b"e".to_vec()];
    store.put_batch(vec![], vec![row.clone()]).await.unwrap();
    for p in Provenance::ALL {
        store.set_provenance(&row.cid, p).await.unwrap();
        let back = row_back(&s.store().await, &row.cid).await.unwrap();
        assert_eq!(back.provenance, p);
    }
    store.set_vouched(&row.cid, true).await.unwrap();
    let back = row_back(&s.store().await, &row.cid).await.unwrap();
    assert!(back.vouched);
    assert_eq!(
        back,
        ReceiptRow {
            provenance: Provenance::Unproven,
            vouched: true,
            ..row.clone()
        }
    );
    store.set_vouched(&row.cid, false).await.unwrap();
    assert!(!row_back(&s.store().await, &row.cid).await.unwrap().vouched);
    // The indexes are untouched.
    let memo = s.store().await.rows(RowIndex::Memo(&row.instruction)).await;
    assert_eq!(cids(memo.unwrap()), BTreeSet::from([row.cid]));
    let absent = raw_cid(b"absent row");
    store
        .set_provenance(&absent, Provenance::Verified)
        .await
        .unwrap();
    store.set_vouched(&absent, true).await.unwrap();
    assert_eq!(s.store().await.row(&absent).await.unwrap(), None);
}

/// A receipt stored as computed answers the memo, through the core's memo
/// rules, from another handle.
pub async fn computed_receipts_answer_the_memo_from_another_handle<S: Subject>(s: &S) {
    let asked = instruction("memo", 1);
    let (ran, invocation) = Task::new(asked.clone()).invocation().unwrap();
    let receipt = Receipt::of_execution(ran, &Execution::ok(Ipld::Integer(42), 3), vec![]);
    let record = ReceiptRecord {
        cid: receipt.cid().unwrap(),
        receipt,
        instruction: asked.cid(),
        inputs: asked.inputs(),
        provenance: Provenance::Computed,
        envelopes: vec![],
        vouched: false,
    };
    memo::store_computed(&s.store().await, &record, vec![(ran, invocation)], None)
        .await
        .unwrap();
    let found = memo::lookup(&s.store().await, &Quarantine::new(), None, &asked.cid())
        .await
        .unwrap();
    assert!(found.rejected.is_empty(), "{:?}", found.rejected);
    assert_eq!(found.value.map(|r| r.cid), Some(record.cid));
}

/// A row that is not what it claims (the bytes of another receipt under
/// its key) is kept by the store, which only keeps rows, and never answers:
/// the memo rejects it once.
pub async fn a_bad_row_is_kept_but_never_answers<S: Subject>(s: &S) {
    let store = s.store().await;
    let asked = instruction("bad", 1);
    let (mut row, invocation) = receipt_row(&asked, 1, true);
    let (other, _) = receipt_row(&asked, 2, true);
    row.bytes = other.bytes.clone();
    store
        .put_batch(vec![invocation], vec![row.clone()])
        .await
        .unwrap();
    assert!(row_back(&s.store().await, &row.cid).await.is_some());
    let quarantine = Quarantine::new();
    let found = memo::lookup(&s.store().await, &quarantine, None, &asked.cid())
        .await
        .unwrap();
    assert_eq!(found.value, None);
    assert_eq!(found.rejected.len(), 1);
    assert_eq!(found.rejected[0].receipt, row.cid.to_string());
    let again = memo::lookup(&s.store().await, &quarantine, None, &asked.cid())
        .await
        .unwrap();
    assert_eq!((again.value, again.rejected.len()), (None, 0));
}

// --- Settings -----------------------------------------------------------

/// The trust state starts empty, is read back from another handle as
/// written (the order of `applied` kept), and a write replaces it.
pub async fn the_trust_state_is_kept_and_replaced<S: Subject>(s: &S) {
    assert_eq!(
        s.settings().await.trust_state().await.unwrap(),
        TrustState::default()
    );
    let state = TrustState {
        distrusted: [
            (did(10), "spot-check of receipt x: mismatch".to_string()),
            (did(11), String::new()),
        ]
        .into(),
        applied: vec![did(13), did(12)],
    };
    s.settings().await.put_trust_state(&state).await.unwrap();
    assert_eq!(s.settings().await.trust_state().await.unwrap(), state);
    let smaller = TrustState {
        distrusted: [(did(11), "why".to_string())].into(),
        applied: vec![],
    };
    s.settings().await.put_trust_state(&smaller).await.unwrap();
    assert_eq!(s.settings().await.trust_state().await.unwrap(), smaller);
}

/// Every handle signs as the same identity.
pub async fn the_identity_is_the_same_from_every_handle<S: Subject>(s: &S) {
    let one = s.settings().await.identity().await.unwrap();
    let two = s.settings().await.identity().await.unwrap();
    assert_eq!(one.did(), two.did());
}

// --- Seen claims --------------------------------------------------------

/// A claim is first once, from any handle; it is forgotten once expired
/// (an `exp` equal to `now` still holds).
pub async fn a_claim_is_first_once_until_it_expires<S: Subject>(s: &S) {
    let (a, b) = (raw_cid(b"invocation a"), raw_cid(b"invocation b"));
    assert!(s.seen().await.claim(&a, 100, 10).await.unwrap());
    assert!(!s.seen().await.claim(&a, 100, 50).await.unwrap());
    assert!(!s.seen().await.claim(&a, 100, 100).await.unwrap());
    assert!(s.seen().await.claim(&b, 200, 100).await.unwrap());
    // Past its exp, a is forgotten (and may be claimed again); b is not.
    assert!(s.seen().await.claim(&a, 300, 101).await.unwrap());
    assert!(!s.seen().await.claim(&b, 200, 150).await.unwrap());
}

/// Two handles claiming the same invocations, interleaved: each is first
/// exactly once.
pub async fn claims_raced_from_two_handles_are_first_once<S: Subject>(s: &S) {
    let (one, two) = (s.seen().await, s.seen().await);
    let mut firsts = 0;
    for n in 0..20u8 {
        let cid = raw_cid(&[b'r', n]);
        let (x, y) = futures::join!(one.claim(&cid, 1_000, 1), two.claim(&cid, 1_000, 1));
        firsts += usize::from(x.unwrap()) + usize::from(y.unwrap());
    }
    assert_eq!(firsts, 20);
}

// --- Run records --------------------------------------------------------

/// A store that keeps run records keeps each run's tasks as the events
/// say, and how it ended; one that keeps none starts none. A store keeps at
/// least the latest run of each workflow: the browser's `runs` is keyed by
/// the workflow's CID (spec, "IndexedDB schema"), so a run of a workflow
/// again replaces its record (running it again resumes an interrupted
/// run); the native store keeps every run.
pub async fn run_records_are_kept_as_the_run_goes<S: Subject>(s: &S) {
    let tasks = [
        instruction("r", 1),
        instruction("r", 2),
        instruction("r", 3),
    ];
    let workflow = Workflow::new(tasks.iter().cloned().map(Task::new).collect());
    let other = Workflow::new(vec![Task::new(instruction("r", 4))]);
    let id = |w: &Workflow| crate::model::address::dag_cbor_cid(&w.to_ipld()).unwrap();
    let runs = s.runs().await;
    let Some(log) = runs.start(&workflow) else {
        assert!(s.run_records().await.is_empty());
        return;
    };
    let receipt = raw_cid(b"a receipt");
    let (t0, t1) = (tasks[0].cid(), tasks[1].cid());
    log.event(&Event::Started {
        task: 0,
        instruction: t0,
    });
    log.event(&Event::Finished {
        task: 0,
        instruction: t0,
        receipt,
        fuel: 1,
    });
    log.event(&Event::MemoHit {
        task: 1,
        instruction: t1,
        receipt,
    });
    log.end(&Err(CoreError::Cancelled)).await;
    let second = s.runs().await.start(&other).expect("a second record");
    let records = s.run_records().await;
    assert_eq!(records.len(), 2);
    let of = |w: &Workflow| records.iter().find(|r| r.id == id(w)).expect("its record");
    let first = of(&workflow);
    assert_eq!(first.state, "cancelled");
    let statuses: Vec<_> = first.tasks.iter().map(|t| t.1).collect();
    assert_eq!(statuses, vec!["done", "reused", "queued"]);
    let instructions: Vec<_> = first.tasks.iter().map(|t| t.0).collect();
    assert_eq!(
        instructions,
        tasks.iter().map(|t| t.cid()).collect::<Vec<_>>()
    );
    assert_eq!(of(&other).state, "running");
    // The first workflow again: its latest run is kept, running.
    let third = s.runs().await.start(&workflow).expect("a third record");
    let records = s.run_records().await;
    assert!(
        records
            .iter()
            .any(|r| r.id == id(&workflow) && r.state == "running"),
        "{records:?}"
    );
    drop((second, third));
}
