//! The store conformance suite (src/conformance.rs) against [`MemoryStore`]
//! and the core's other in-memory capabilities. The native SQLite store
//! runs the same suite (crates/ipvm-store/tests/conformance.rs).

use std::rc::Rc;

use ipvm_core::conformance::Subject;
use ipvm_core::runlog::RunRecord;
use ipvm_core::{Ed25519Key, MemoryRuns, MemorySeen, MemorySettings, MemoryStore};

/// One in-memory place: every handle is a pointer to it.
struct Memory {
    store: Rc<MemoryStore>,
    settings: Rc<MemorySettings>,
    seen: Rc<MemorySeen>,
    runs: MemoryRuns,
}

fn fresh() -> Memory {
    Memory {
        store: Rc::new(MemoryStore::new()),
        settings: Rc::new(MemorySettings::new(&Ed25519Key::from_seed([9; 32]))),
        seen: Rc::new(MemorySeen::new()),
        runs: MemoryRuns::new(),
    }
}

impl Subject for Memory {
    type Store = Rc<MemoryStore>;
    type Settings = Rc<MemorySettings>;
    type Seen = Rc<MemorySeen>;
    type Runs = MemoryRuns;
    fn store(&self) -> Rc<MemoryStore> {
        self.store.clone()
    }
    fn settings(&self) -> Rc<MemorySettings> {
        self.settings.clone()
    }
    fn seen(&self) -> Rc<MemorySeen> {
        self.seen.clone()
    }
    fn runs(&self) -> MemoryRuns {
        self.runs.clone()
    }
    fn run_records(&self) -> Vec<RunRecord> {
        self.runs.records()
    }
}

ipvm_core::conformance_tests!(fresh());
