//! The record of a run in progress, written to the store's `runs` table as
//! tasks end: `{id, state, started, updated, tasks: [{instruction, status}]}`.
//! Writes never overlap: while one is in flight, later changes mark the log
//! dirty and the writer loops once more with the newest snapshot.

use std::cell::RefCell;
use std::rc::Rc;

use ipvm_core::{Event, Workflow};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsValue;

use crate::store::AnyStore;

struct State {
    id: String,
    started: f64,
    state: &'static str,
    tasks: Vec<(String, &'static str)>,
    writing: bool,
    dirty: bool,
}

/// A run's progress, persisted (IndexedDB stores only).
#[derive(Clone)]
pub(crate) struct RunLog {
    state: Rc<RefCell<State>>,
    store: Rc<AnyStore>,
}

fn set(o: &JsValue, k: &str, v: &JsValue) {
    let _ = Reflect::set(o, &JsValue::from_str(k), v);
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
            Event::Queued { .. } => return,
        };
        if let Some(t) = self.state.borrow_mut().tasks.get_mut(task) {
            t.1 = status;
        }
        if !matches!(e, Event::Started { .. }) {
            self.persist();
        }
    }

    /// Records how the run ended: `done`, `failed` or `cancelled`.
    pub(crate) fn end(&self, state: &'static str) {
        self.state.borrow_mut().state = state;
        self.persist();
    }

    fn snapshot(&self) -> JsValue {
        let s = self.state.borrow();
        let o: JsValue = Object::new().into();
        set(&o, "id", &JsValue::from_str(&s.id));
        set(&o, "state", &JsValue::from_str(s.state));
        set(&o, "started", &JsValue::from(s.started));
        set(&o, "updated", &JsValue::from(js_sys::Date::now()));
        let tasks = Array::new();
        for (instruction, status) in &s.tasks {
            let t: JsValue = Object::new().into();
            set(&t, "instruction", &JsValue::from_str(instruction));
            set(&t, "status", &JsValue::from_str(status));
            tasks.push(&t);
        }
        set(&o, "tasks", &tasks.into());
        o
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
                let record = log.snapshot();
                if let AnyStore::IndexedDb(db) = &*log.store {
                    // Progress records are advisory: a failed write loses only progress detail.
                    let _ = db.put_run(&record).await;
                }
                let mut s = log.state.borrow_mut();
                if !s.dirty {
                    s.writing = false;
                    break;
                }
                s.dirty = false;
            }
        });
    }
}
