//! The store conformance suite (ipvm-core's src/conformance.rs) against the
//! SQLite store: every handle is a new connection to one fresh file, as
//! another process's would be. Then what only a file shared by processes
//! can show: claims raced from threads with connections of their own,
//! rows that are not rows, and a store that outlives its handles.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::executor::block_on;
use ipvm_core::address::raw_cid;
use ipvm_core::conformance::Subject;
use ipvm_core::runlog::RunRecord;
use ipvm_core::store::RowIndex;
use ipvm_core::{Ed25519Key, ReceiptStore, SeenInvocations};
use ipvm_store::{SqliteSettings, SqliteStore};

/// A fresh directory under the system's temporary one.
fn fresh_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ipvm-store-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// One store file; every handle opens it again.
struct Sqlite {
    dir: PathBuf,
}

impl Drop for Sqlite {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fresh() -> Sqlite {
    let dir = fresh_dir();
    SqliteStore::open(&dir).expect("a new store");
    Sqlite { dir }
}

impl Sqlite {
    fn open(&self) -> SqliteStore {
        SqliteStore::open(&self.dir).expect("the store opens")
    }
}

impl Subject for Sqlite {
    type Store = SqliteStore;
    type Settings = SqliteSettings;
    type Seen = SqliteStore;
    type Runs = SqliteStore;
    async fn store(&self) -> SqliteStore {
        self.open()
    }
    async fn settings(&self) -> SqliteSettings {
        SqliteSettings::new(self.open(), || Ok(Ed25519Key::from_seed([9; 32])))
    }
    async fn seen(&self) -> SqliteStore {
        self.open()
    }
    async fn runs(&self) -> SqliteStore {
        self.open()
    }
    async fn run_records(&self) -> Vec<RunRecord> {
        self.open().run_records().expect("records")
    }
}

ipvm_core::conformance_tests!(fresh());

#[test]
fn claims_raced_from_eight_connections_on_threads_are_first_once() {
    let s = fresh();
    let invocations: Vec<_> = (0..50u8).map(|n| raw_cid(&[b'i', n])).collect();
    let firsts: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (dir, invocations) = (&s.dir, &invocations);
                scope.spawn(move || {
                    let seen = SqliteStore::open(dir).expect("open");
                    invocations
                        .iter()
                        .filter(|c| block_on(seen.claim(c, 1_000, 1)).expect("claim"))
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("joined")).sum()
    });
    assert_eq!(firsts, invocations.len());
    assert!(s.open().holds_claim(&invocations[0]).unwrap());
}

#[test]
fn a_row_that_is_not_a_row_is_read_as_a_bad_row() {
    let s = fresh();
    let instruction = raw_cid(b"an instruction");
    // Rows no store would write (another version's, or damaged): an
    // unknown provenance, a key that is no CID, inputs that are not CIDs,
    // envelopes cut short.
    let raw = rusqlite::Connection::open(s.dir.join(ipvm_store::FILE_NAME)).unwrap();
    let insert = "INSERT INTO receipts (cid, instruction, provenance, reusable, bytes, vouched, inputs, envelopes) VALUES (?1, ?2, ?3, 1, x'00', 0, ?4, ?5)";
    let good_key = raw_cid(b"a receipt").to_bytes();
    let (none, cut): (&[u8], &[u8]) = (b"", &[9, 0, 0, 0, b'd']);
    for (key, provenance, inputs, envelopes) in [
        (good_key.clone(), "gifted", none, none),
        (b"no cid".to_vec(), "computed", none, none),
        (
            raw_cid(b"b").to_bytes(),
            "computed",
            b"not a cid".as_slice(),
            none,
        ),
        (raw_cid(b"c").to_bytes(), "computed", none, cut),
    ] {
        let params = rusqlite::params![key, instruction.to_bytes(), provenance, inputs, envelopes];
        raw.execute(insert, params).unwrap();
    }
    drop(raw);
    let store = s.open();
    let reads = block_on(store.rows(RowIndex::Memo(&instruction))).unwrap();
    assert_eq!(reads.len(), 4);
    let reasons: Vec<String> = reads
        .into_iter()
        .map(|r| r.expect_err("a bad row").reason)
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("provenance `gifted`")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("its key")), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("an input")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("envelopes end early")),
        "{reasons:?}"
    );
    // The memo reports them and goes on.
    let found = block_on(ipvm_core::memo::lookup(
        &store,
        &ipvm_core::Quarantine::new(),
        None,
        &instruction,
    ))
    .unwrap();
    assert_eq!((found.value, found.rejected.len()), (None, 4));
}

#[test]
fn what_one_handle_wrote_outlives_it() {
    let s = fresh();
    {
        let store = s.open();
        block_on(store.claim(&raw_cid(b"x"), 10, 1)).unwrap();
    }
    assert!(!block_on(s.open().claim(&raw_cid(b"x"), 10, 2)).unwrap());
}

#[test]
fn processes_that_open_a_new_store_at_once_all_open_it() {
    let dir = fresh_dir();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| SqliteStore::open(&dir).map(drop)))
            .collect();
        for h in handles {
            h.join().expect("joined").expect("the store opens");
        }
    });
    assert_eq!(
        SqliteStore::open(&dir).unwrap().summary().unwrap().blocks,
        0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The schema of version 1 (the first release of this store), as it was.
const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS blocks (cid BLOB PRIMARY KEY, bytes BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS aliases (alias BLOB PRIMARY KEY, root BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS metered (key TEXT PRIMARY KEY, cid BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS receipts (
    cid BLOB PRIMARY KEY,
    instruction BLOB NOT NULL,
    provenance TEXT NOT NULL,
    reusable INTEGER NOT NULL,
    stored INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    invocation BLOB,
    vouched INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS receipts_by_instruction ON receipts (instruction, cid);
CREATE INDEX IF NOT EXISTS receipts_memo ON receipts (instruction, cid) WHERE reusable = 1;
CREATE INDEX IF NOT EXISTS receipts_by_stored ON receipts (stored);
CREATE TABLE IF NOT EXISTS receipt_inputs (
    receipt BLOB NOT NULL, position INTEGER NOT NULL, input BLOB NOT NULL,
    PRIMARY KEY (receipt, position)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS receipt_inputs_by_input ON receipt_inputs (input, receipt);
CREATE TABLE IF NOT EXISTS envelopes (
    receipt BLOB NOT NULL, position INTEGER NOT NULL, signer TEXT NOT NULL, bytes BLOB NOT NULL,
    PRIMARY KEY (receipt, position)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS envelopes_by_signer ON envelopes (signer, receipt);
CREATE TABLE IF NOT EXISTS trust_applied (position INTEGER PRIMARY KEY, did TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trust_distrusted (did TEXT PRIMARY KEY, why TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seen (invocation BLOB PRIMARY KEY, exp INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_by_exp ON seen (exp);
CREATE TABLE IF NOT EXISTS runs (
    run INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow TEXT NOT NULL,
    state TEXT NOT NULL,
    started INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    tasks TEXT NOT NULL
);
";

#[test]
fn a_store_of_version_1_is_carried_to_this_version_when_opened() {
    let dir = fresh_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let raw = rusqlite::Connection::open(dir.join(ipvm_store::FILE_NAME)).unwrap();
    raw.execute_batch(SCHEMA_V1).unwrap();
    raw.pragma_update(None, "user_version", 1).unwrap();
    let (i1, i2) = (raw_cid(b"instruction 1"), raw_cid(b"instruction 2"));
    let (x, y) = (raw_cid(b"input x"), raw_cid(b"input y"));
    let (a, b) = (raw_cid(b"receipt a"), raw_cid(b"receipt b"));
    let (alice, bob) = ("did:key:alice", "did:key:bob");
    let insert = "INSERT INTO receipts (cid, instruction, provenance, reusable, stored, bytes, invocation, vouched) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    // b was stored first (1), a later (7): the order is kept, not the keys'.
    raw.execute(
        insert,
        rusqlite::params![
            b.to_bytes(),
            i2.to_bytes(),
            "imported",
            0,
            1,
            b"b".to_vec(),
            None::<Vec<u8>>,
            1
        ],
    )
    .unwrap();
    raw.execute(
        insert,
        rusqlite::params![
            a.to_bytes(),
            i1.to_bytes(),
            "computed",
            1,
            7,
            b"a".to_vec(),
            Some(b"inv".to_vec()),
            0
        ],
    )
    .unwrap();
    for (receipt, position, input) in [(a, 1, x), (a, 0, y), (b, 0, x)] {
        raw.execute(
            "INSERT INTO receipt_inputs (receipt, position, input) VALUES (?1, ?2, ?3)",
            rusqlite::params![receipt.to_bytes(), position, input.to_bytes()],
        )
        .unwrap();
    }
    for (position, signer, bytes) in [(1, alice, b"by alice"), (0, bob, b"by bob!!")] {
        raw.execute(
            "INSERT INTO envelopes (receipt, position, signer, bytes) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![b.to_bytes(), position, signer, bytes.to_vec()],
        )
        .unwrap();
    }
    drop(raw);

    let store = SqliteStore::open(&dir).unwrap();
    let row = |cid| block_on(store.row(&cid)).unwrap().unwrap().unwrap();
    let (ra, rb) = (row(a), row(b));
    assert_eq!(
        (ra.instruction, ra.inputs.clone(), ra.reusable, ra.stored),
        (i1, vec![y, x], true, 7)
    );
    assert_eq!(ra.invocation.as_deref(), Some(b"inv".as_slice()));
    assert_eq!(ra.provenance, ipvm_core::Provenance::Computed);
    assert_eq!(
        (rb.inputs.clone(), rb.stored, rb.vouched),
        (vec![x], 1, true)
    );
    assert_eq!(rb.signers, vec![bob.to_string(), alice.to_string()]);
    assert_eq!(
        rb.envelopes,
        vec![b"by bob!!".to_vec(), b"by alice".to_vec()]
    );
    let cids = |index| -> Vec<_> {
        block_on(store.rows(index))
            .unwrap()
            .into_iter()
            .map(|r| r.unwrap().cid)
            .collect()
    };
    assert_eq!(cids(RowIndex::Memo(&i1)), vec![a]);
    assert!(cids(RowIndex::Memo(&i2)).is_empty());
    assert_eq!(cids(RowIndex::Instruction(&i2)), vec![b]);
    assert_eq!(cids(RowIndex::Input(&y)), vec![a]);
    assert_eq!(cids(RowIndex::Input(&x)).len(), 2);
    assert_eq!(cids(RowIndex::Signer(alice)), vec![b]);
    // A row written now comes after every row carried over.
    let mut again = ra.clone();
    again.inputs = vec![x];
    block_on(store.put_batch(vec![], vec![again])).unwrap();
    assert!(row(a).stored > 7);
    assert!(cids(RowIndex::Input(&y)).is_empty());
    // The tables of version 1 are gone; opening again changes nothing.
    let raw = rusqlite::Connection::open(dir.join(ipvm_store::FILE_NAME)).unwrap();
    let version: i64 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    let old: i64 = raw
        .query_row(
            "SELECT COUNT(*) FROM sqlite_schema WHERE name LIKE '%_v1' OR name IN ('envelopes', 'receipts_memo')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!((version, old), (2, 0));
    drop(raw);
    assert_eq!(row(b), rb);
    let _ = std::fs::remove_dir_all(&dir);
}
