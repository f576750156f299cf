//! Writes a run's record ([`ipvm_core::runlog::RunRecord`]) to the store's
//! `runs` table as the run progresses. The record and its rules (statuses,
//! outcome, how far apart writes must be) are the core's; this adapter owns
//! the clock and the writes. Writes never overlap: while one is in flight or
//! waiting, later changes mark the log dirty and the writer loops once more
//! with the newest snapshot. The final state is written at once, and the run
//! waits for it.

use std::cell::RefCell;
use std::rc::Rc;

use ipvm_core::runlog::RunRecord;
use ipvm_core::{CoreError, Event, RunReport, Workflow};
use wasm_bindgen::JsValue;

use crate::store::AnyStore;

struct State {
    record: RunRecord,
    started: f64,
    writing: bool,
    dirty: bool,
    /// When the last background write started (ms since the epoch).
    last_write: f64,
}

/// A run's progress, persisted (IndexedDB stores only).
#[derive(Clone)]
pub(crate) struct RunLog {
    state: Rc<RefCell<State>>,
    store: Rc<AnyStore>,
}

impl RunLog {
    pub(crate) fn start(store: Rc<AnyStore>, workflow: &Workflow) -> Option<Self> {
        if !matches!(*store, AnyStore::IndexedDb(_)) {
            return None;
        }
        let id = ipvm_core::dag_cbor_cid(&workflow.to_ipld()).ok()?;
        let record = RunRecord::new(id, workflow.tasks.iter().map(|t| t.run.cid()));
        let log = RunLog {
            state: Rc::new(RefCell::new(State {
                record,
                started: js_sys::Date::now(),
                writing: false,
                dirty: false,
                last_write: 0.0,
            })),
            store,
        };
        log.persist();
        Some(log)
    }

    /// Records what an event says about a task.
    pub(crate) fn event(&self, e: &Event) {
        if self.state.borrow_mut().record.apply(e) {
            self.persist();
        }
    }

    /// Records how the run ended, and writes that at once. Transactions on
    /// one store commit in order, so this write lands after any the
    /// background writer has started.
    pub(crate) async fn end(&self, report: &Result<RunReport, CoreError>) {
        self.state.borrow_mut().record.end(report);
        self.write().await;
    }

    /// Writes the current record.
    async fn write(&self) {
        let record = self.snapshot();
        if let AnyStore::IndexedDb(db) = &*self.store {
            // Progress records are advisory: a failed write loses only progress detail.
            let _ = db.put_run(&record).await;
        }
    }

    /// The record as a JS object, parsed by the browser from one string.
    fn snapshot(&self) -> JsValue {
        let s = self.state.borrow();
        let json = s.record.to_json(s.started, js_sys::Date::now());
        js_sys::JSON::parse(&json).unwrap_or(JsValue::NULL)
    }

    fn persist(&self) {
        {
            let mut s = self.state.borrow_mut();
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
                    let s = log.state.borrow();
                    s.last_write + s.record.write_spacing_ms() - js_sys::Date::now()
                };
                if wait >= 1.0 {
                    gloo_timers::future::TimeoutFuture::new(wait as u32).await;
                }
                {
                    let mut s = log.state.borrow_mut();
                    // Once the run ended, `end` writes the final record itself.
                    if !s.record.is_running() {
                        s.writing = false;
                        break;
                    }
                    s.dirty = false;
                    s.last_write = js_sys::Date::now();
                }
                log.write().await;
                let mut s = log.state.borrow_mut();
                if !s.dirty {
                    s.writing = false;
                    break;
                }
            }
        });
    }
}
