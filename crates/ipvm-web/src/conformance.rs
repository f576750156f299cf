//! The core's store conformance suite (`ipvm_core::conformance`) in
//! headless Chromium, on the tab's stores: the IndexedDB store with the
//! adapters an IndexedDB runtime uses (`TabSettings`, `TabSeen`,
//! `TabRuns`), every handle a new connection to one fresh database, as
//! another tab's would be; and the core's `MemoryStore` (with its
//! in-memory capabilities), in the browser.
//!
//! A unit-test module rather than a file in tests/: the adapters are the
//! crate's own (`pub(crate)`), and a subject names them as its handle types.
//! `cargo test -p ipvm-web` for wasm32 runs it with the browser suites
//! (scripts/test.sh).

#![allow(
    clippy::expect_used,
    reason = "a test suite: a failed step is a failed test"
)]

use std::rc::Rc;

use ipvm_core::runlog::RunRecord;
use js_sys::{Array, Reflect};
use wasm_bindgen::JsValue;

use crate::indexeddb::IndexedDbStore;
use crate::runs::TabRuns;
use crate::seen::TabSeen;
use crate::settings::TabSettings;
use crate::store::AnyStore;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// One IndexedDB database, named afresh for each case.
struct IndexedDb {
    name: String,
}

impl IndexedDb {
    fn fresh() -> Self {
        Self {
            name: format!("conformance-{}", js_sys::Math::random().to_bits()),
        }
    }

    /// A new connection to the database.
    async fn open(&self) -> Rc<AnyStore> {
        let db = IndexedDbStore::open(&self.name)
            .await
            .expect("the database opens");
        Rc::new(AnyStore::IndexedDb(db))
    }
}

fn field(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// The statuses and states a record holds, as the core names them.
fn name(text: &str) -> &'static str {
    [
        "queued",
        "running",
        "done",
        "reused",
        "failed",
        "skipped",
        "cancelled",
    ]
    .into_iter()
    .find(|n| *n == text)
    .unwrap_or("unknown")
}

/// A `runs` value, `{id, state, started, updated, tasks: [{instruction,
/// status}]}`, as the core's record.
fn record(value: &JsValue) -> RunRecord {
    let cid = |v: JsValue| ipvm_core::parse_cid(&v.as_string().expect("a string")).expect("a CID");
    let tasks: Vec<_> = Array::from(&field(value, "tasks"))
        .iter()
        .map(|t| {
            let status = field(&t, "status").as_string().expect("a status");
            (cid(field(&t, "instruction")), name(&status))
        })
        .collect();
    let mut record = RunRecord::new(cid(field(value, "id")), tasks.iter().map(|t| t.0));
    record.state = name(&field(value, "state").as_string().expect("a state"));
    record.tasks = tasks;
    record
}

impl ipvm_core::conformance::Subject for IndexedDb {
    type Store = Rc<AnyStore>;
    type Settings = TabSettings;
    type Seen = TabSeen;
    type Runs = TabRuns;
    async fn store(&self) -> Rc<AnyStore> {
        self.open().await
    }
    async fn settings(&self) -> TabSettings {
        TabSettings::new(self.open().await)
    }
    async fn seen(&self) -> TabSeen {
        TabSeen::new(self.open().await)
    }
    async fn runs(&self) -> TabRuns {
        TabRuns::new(self.open().await)
    }
    async fn run_records(&self) -> Vec<RunRecord> {
        let AnyStore::IndexedDb(db) = &*self.open().await else {
            unreachable!("an IndexedDB store")
        };
        let values = db.runs().await.expect("the runs are read");
        db.close();
        values.iter().map(record).collect()
    }
}

mod indexeddb {
    use super::IndexedDb;

    ipvm_core::conformance_tests!(IndexedDb::fresh());
}

mod memory {
    ipvm_core::conformance_tests!(ipvm_core::conformance::Memory::fresh());
}
