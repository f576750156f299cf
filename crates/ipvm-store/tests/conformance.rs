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
    // unknown provenance, a key that is no CID.
    let raw = rusqlite::Connection::open(s.dir.join(ipvm_store::FILE_NAME)).unwrap();
    let insert = "INSERT INTO receipts (cid, instruction, provenance, reusable, stored, bytes, vouched) VALUES (?1, ?2, ?3, 1, 1, x'00', 0)";
    let good_key = raw_cid(b"a receipt").to_bytes();
    raw.execute(
        insert,
        rusqlite::params![good_key, instruction.to_bytes(), "gifted"],
    )
    .unwrap();
    raw.execute(
        insert,
        rusqlite::params![b"no cid".to_vec(), instruction.to_bytes(), "computed"],
    )
    .unwrap();
    drop(raw);
    let store = s.open();
    let reads = block_on(store.rows(RowIndex::Memo(&instruction))).unwrap();
    assert_eq!(reads.len(), 2);
    let reasons: Vec<String> = reads
        .into_iter()
        .map(|r| r.expect_err("a bad row").reason)
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("provenance `gifted`")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("its key")), "{reasons:?}");
    // The memo reports them and goes on.
    let found = block_on(ipvm_core::memo::lookup(
        &store,
        &ipvm_core::Quarantine::new(),
        None,
        &instruction,
    ))
    .unwrap();
    assert_eq!((found.value, found.rejected.len()), (None, 2));
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
