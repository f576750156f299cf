//! The record of a run in progress, written to the store's `runs` table as
//! tasks end: `{id, state, started, updated, tasks: [{instruction, status}]}`.
//! Writes never overlap and are spaced in proportion to the workflow's size:
//! while one is in flight or waiting, later changes mark the log dirty and
//! the writer loops once more with the newest snapshot. The record grows with
//! the workflow, so writing it on every event would cost O(n²) for n tasks.
//! The final state is written at once, and the run waits for it.

use std::cell::RefCell;
use std::rc::Rc;

use ipvm_core::{Event, Workflow};
use wasm_bindgen::JsValue;

use crate::store::AnyStore;

/// The least time between two background writes of a run's record, per
/// task of the workflow: writing the record costs O(tasks), so spacing the
/// writes in proportion keeps their total cost a small, fixed share of the
/// run (50 tasks: every event; 1,000 tasks: at most 20 writes a second).
const SPACING_MS_PER_TASK: f64 = 0.05;
/// The most time between two writes, however large the workflow.
const MAX_SPACING_MS: f64 = 1_000.0;

struct State {
    id: String,
    started: f64,
    state: &'static str,
    tasks: Vec<(String, &'static str)>,
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
        let id = ipvm_core::dag_cbor_cid(&workflow.to_ipld())
            .ok()?
            .to_string();
        let tasks = workflow
            .tasks
            .iter()
            .map(|t| (t.run.cid().to_string(), "queued"))
            .collect();
        let log = RunLog {
            state: Rc::new(RefCell::new(State {
                id,
                started: js_sys::Date::now(),
                state: "running",
                tasks,
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
        let (task, status) = match e {
            Event::Started { task, .. } => (*task, "running"),
            Event::Finished { task, .. } => (*task, "done"),
            Event::MemoHit { task, .. } => (*task, "reused"),
            Event::Failed {
                task,
                receipt: Some(_),
                ..
            } => (*task, "failed"),
            Event::Failed {
                task,
                receipt: None,
                ..
            } => (*task, "skipped"),
            Event::Queued { .. } | Event::Rejected { .. } => return,
        };
        if let Some(t) = self.state.borrow_mut().tasks.get_mut(task) {
            t.1 = status;
        }
        if !matches!(e, Event::Started { .. }) {
            self.persist();
        }
    }

    /// Records how the run ended (`done`, `failed` or `cancelled`), and
    /// writes that at once. Transactions on one store commit in order, so
    /// this write lands after any the background writer has started.
    pub(crate) async fn end(&self, state: &'static str) {
        self.state.borrow_mut().state = state;
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

    /// The record as a JS object. Built as JSON text and parsed by the
    /// browser: one string crosses from Wasm instead of four per task.
    fn snapshot(&self) -> JsValue {
        use std::fmt::Write;
        let s = self.state.borrow();
        // CIDs and states are plain ASCII without quotes or backslashes.
        let mut json = format!(
            r#"{{"id":"{}","state":"{}","started":{},"updated":{},"tasks":["#,
            s.id,
            s.state,
            s.started,
            js_sys::Date::now()
        );
        for (i, (instruction, status)) in s.tasks.iter().enumerate() {
            let comma = if i == 0 { "" } else { "," };
            let _ = write!(
                json,
                r#"{comma}{{"instruction":"{instruction}","status":"{status}"}}"#
            );
        }
        json.push_str("]}");
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
                let (last, tasks) = {
                    let s = log.state.borrow();
                    (s.last_write, s.tasks.len())
                };
                let spacing = (tasks as f64 * SPACING_MS_PER_TASK).min(MAX_SPACING_MS);
                let wait = last + spacing - js_sys::Date::now();
                if wait >= 1.0 {
                    gloo_timers::future::TimeoutFuture::new(wait as u32).await;
                }
                {
                    let mut s = log.state.borrow_mut();
                    // Once the run ended, `end` writes the final record itself.
                    if s.state != "running" {
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
