//! Writes a run's record ([`ipvm_core::runlog::RunRecord`]) to the store's
//! `runs` table as the run progresses. The record and its rules (statuses,
//! outcome, how far apart writes must be) are the core's; this adapter owns
//! the clock and the writes. Writes never overlap: while one is in flight or
//! waiting, later changes mark the log dirty and the writer loops once more
//! with the newest snapshot. The final state is written at once, and the run
//! waits for it.
//!
//! The record also rides on the run's group commits (an
//! [`crate::indexeddb::Rider`]): the tasks a commit stores are marked in it
//! before their events come, and when a write is due it goes in the same
//! transaction as their receipts, so a reload never finds a record that
//! lags what the run reported, and the record costs no transaction of its
//! own while tasks are being stored.

use std::cell::RefCell;
use std::rc::Rc;

use ipvm_core::runlog::RunRecord;
use ipvm_core::store::ReceiptRow;
use ipvm_core::{Cid, CoreError, Event, RunReport, Workflow};
use wasm_bindgen::JsValue;

use crate::indexeddb::Rider;
use crate::store::AnyStore;

struct State {
    record: RunRecord,
    started: f64,
    writing: bool,
    dirty: bool,
    /// When the last write started (ms since the epoch).
    last_write: f64,
    /// A commit marked tasks without carrying the record: the next event
    /// starts a background write.
    unwritten: bool,
}

impl State {
    /// The record as a JS object, parsed by the browser from one string.
    fn snapshot(&self) -> JsValue {
        let json = self.record.to_json(self.started, js_sys::Date::now());
        js_sys::JSON::parse(&json).unwrap_or(JsValue::NULL)
    }
}

/// The log's state, shared with the store it rides on.
struct Shared(RefCell<State>);

impl Rider for Shared {
    fn ride(&self, rows: &[ReceiptRow]) -> Option<JsValue> {
        let mut s = self.0.borrow_mut();
        if !s.record.is_running() || s.record.stored(rows) == 0 {
            return None;
        }
        let now = js_sys::Date::now();
        if !s.record.due_at_commit(now - s.last_write) {
            s.unwritten = true;
            return None;
        }
        s.record.written();
        s.last_write = now;
        s.unwritten = false;
        Some(s.snapshot())
    }

    fn fell(&self, instructions: &[Cid]) {
        self.0.borrow_mut().record.unstored(instructions);
    }
}

/// A run's progress, persisted (IndexedDB stores only).
#[derive(Clone)]
pub(crate) struct RunLog {
    state: Rc<Shared>,
    store: Rc<AnyStore>,
}

impl RunLog {
    pub(crate) fn start(store: Rc<AnyStore>, workflow: &Workflow) -> Option<Self> {
        let AnyStore::IndexedDb(db) = &*store else {
            return None;
        };
        let id = ipvm_core::dag_cbor_cid(&workflow.to_ipld()).ok()?;
        let record = RunRecord::new(id, workflow.tasks.iter().map(|t| t.run.cid()));
        let state = Rc::new(Shared(RefCell::new(State {
            record,
            started: js_sys::Date::now(),
            writing: false,
            dirty: false,
            last_write: 0.0,
            unwritten: false,
        })));
        let rider: Rc<dyn Rider> = state.clone();
        db.carry(Rc::downgrade(&rider));
        let log = RunLog { state, store };
        log.persist();
        Some(log)
    }

    /// Records what an event says about a task.
    pub(crate) fn event(&self, e: &Event) {
        let due = {
            let mut s = self.state.0.borrow_mut();
            let changed = s.record.apply(e);
            changed || std::mem::take(&mut s.unwritten)
        };
        if due {
            self.persist();
        }
    }

    /// Records how the run ended, and writes that at once. Transactions on
    /// one store commit in order, so this write lands after any the
    /// background writer has started.
    pub(crate) async fn end(&self, report: &Result<RunReport, CoreError>) {
        self.state.0.borrow_mut().record.end(report);
        self.write().await;
    }

    /// Writes the current record.
    async fn write(&self) {
        let record = {
            let mut s = self.state.0.borrow_mut();
            s.record.written();
            s.snapshot()
        };
        if let AnyStore::IndexedDb(db) = &*self.store {
            // Progress records are advisory: a failed write loses only progress detail.
            let _ = db.put_run(&record).await;
        }
    }

    fn persist(&self) {
        {
            let mut s = self.state.0.borrow_mut();
            if s.writing {
                s.dirty = true;
                return;
            }
            s.writing = true;
        }
        let log = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            loop {
                let wait = {
                    let s = log.state.0.borrow();
                    s.last_write + s.record.write_spacing_ms() - js_sys::Date::now()
                };
                if wait >= 1.0 {
                    gloo_timers::future::TimeoutFuture::new(wait as u32).await;
                }
                {
                    let mut s = log.state.0.borrow_mut();
                    // Once the run ended, `end` writes the final record itself.
                    if !s.record.is_running() {
                        s.writing = false;
                        break;
                    }
                    s.dirty = false;
                    s.last_write = js_sys::Date::now();
                }
                log.write().await;
                let mut s = log.state.0.borrow_mut();
                if !s.dirty {
                    s.writing = false;
                    break;
                }
            }
        });
    }
}
