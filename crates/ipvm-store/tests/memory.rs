//! The store conformance suite against a store in memory (`ipvm
//! --memory`): every handle is a clone of one connection.

use ipvm_core::conformance::Subject;
use ipvm_core::runlog::RunRecord;
use ipvm_core::Ed25519Key;
use ipvm_store::{SqliteSettings, SqliteStore};

struct InMemory(SqliteStore);

fn fresh() -> InMemory {
    InMemory(SqliteStore::open_in_memory().expect("a store in memory"))
}

impl Subject for InMemory {
    type Store = SqliteStore;
    type Settings = SqliteSettings;
    type Seen = SqliteStore;
    type Runs = SqliteStore;
    async fn store(&self) -> SqliteStore {
        self.0.clone()
    }
    async fn settings(&self) -> SqliteSettings {
        SqliteSettings::new(self.0.clone(), || Ok(Ed25519Key::from_seed([9; 32])))
    }
    async fn seen(&self) -> SqliteStore {
        self.0.clone()
    }
    async fn runs(&self) -> SqliteStore {
        self.0.clone()
    }
    async fn run_records(&self) -> Vec<RunRecord> {
        self.0.run_records().expect("records")
    }
}

ipvm_core::conformance_tests!(fresh());

#[test]
fn nothing_is_written_to_disk() {
    let s = fresh().0;
    assert_eq!(s.path().to_str(), Some(":memory:"));
    assert_eq!(s.summary().unwrap().file_bytes, 0);
}
