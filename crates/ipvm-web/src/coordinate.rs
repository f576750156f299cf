//! Coordination of tasks between the tabs (and workers) of an origin.
//!
//! Before a task runs, its runtime takes the Web Lock
//! `ipvm-web:<store>:<instruction CID>`, then asks the store again: if another
//! tab finished the instruction meanwhile, its receipt is reused and nothing
//! runs. The lock is held until this runtime has written the receipt (the
//! scheduler's `finished`/`failed` event), so one instruction never runs twice
//! at the same time anywhere in the origin. Where the Locks API is missing,
//! tasks run uncoordinated. Each task also waits for one turn of the event
//! loop first, so a page running a long workflow still paints and can be
//! reloaded between tasks.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use futures::channel::oneshot;
use ipvm_core::scheduler::Purity;
use ipvm_core::store::ReceiptStore;
use ipvm_core::{Cid, Execution, Executor, Ipld, Job};
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::store::AnyStore;

/// A held Web Lock; dropping it releases the lock.
struct HeldLock {
    release: Function,
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let _ = self.release.call0(&JsValue::NULL);
    }
}

fn global(name: &str) -> JsValue {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

/// Waits for the lock `name`; `None` if the Locks API is not available.
async fn acquire(name: &str) -> Option<HeldLock> {
    let locks = Reflect::get(&global("navigator"), &JsValue::from_str("locks"))
        .ok()
        .filter(|l| l.is_object())?;
    let request: Function = Reflect::get(&locks, &JsValue::from_str("request"))
        .ok()?
        .dyn_into()
        .ok()?;
    let (granted, on_grant) = oneshot::channel::<Function>();
    let granted = RefCell::new(Some(granted));
    // The lock is held until the promise this callback returns resolves.
    let callback = Closure::once_into_js(move |_lock: JsValue| -> JsValue {
        let mut release = None;
        let held = Promise::new(&mut |resolve, _| release = Some(resolve));
        if let (Some(tx), Some(release)) = (granted.borrow_mut().take(), release) {
            let _ = tx.send(release);
        }
        held.into()
    });
    request
        .call2(&locks, &JsValue::from_str(name), &callback)
        .ok()?;
    on_grant.await.ok().map(|release| HeldLock { release })
}

/// Gives the event loop one turn: `scheduler.yield()` where it exists, else a
/// `MessageChannel` message (not `setTimeout(0)`, which browsers clamp to
/// 4 ms once nested), in a window or a worker.
async fn next_macrotask() {
    let scheduler = global("scheduler");
    if let Ok(f) =
        Reflect::get(&scheduler, &JsValue::from_str("yield")).and_then(|f| f.dyn_into::<Function>())
    {
        if let Ok(p) = f.call0(&scheduler).and_then(|p| p.dyn_into::<Promise>()) {
            let _ = JsFuture::from(p).await;
            return;
        }
    }
    message_turn().await;
}

/// Gives the event loop one turn through a `MessageChannel` message. The
/// continuation is an ordinary task, queued behind messages that already wait
/// for this thread (a worker's `cancel`, say), which `scheduler.yield()`'s
/// prioritised continuation is not.
pub(crate) async fn message_turn() {
    let promise = Promise::new(&mut |resolve, _| {
        let channel = global("MessageChannel")
            .dyn_into::<Function>()
            .ok()
            .and_then(|c| Reflect::construct(&c, &js_sys::Array::new()).ok());
        let sent = channel.and_then(|ch| {
            let port1 = Reflect::get(&ch, &JsValue::from_str("port1")).ok()?;
            let port2 = Reflect::get(&ch, &JsValue::from_str("port2")).ok()?;
            Reflect::set(&port1, &JsValue::from_str("onmessage"), &resolve).ok()?;
            let post: Function = Reflect::get(&port2, &JsValue::from_str("postMessage"))
                .ok()?
                .dyn_into()
                .ok()?;
            post.call1(&port2, &JsValue::NULL).ok()
        });
        if sent.is_none() {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// Wraps an executor with the coordination described above.
pub(crate) struct Coordinated<E> {
    inner: E,
    store: Rc<AnyStore>,
    /// Lock-name prefix; `None` for stores private to this runtime (memory).
    scope: Option<String>,
    held: RefCell<HashMap<Cid, HeldLock>>,
}

impl<E> Coordinated<E> {
    pub(crate) fn new(inner: E, store: Rc<AnyStore>, scope: Option<String>) -> Self {
        Self {
            inner,
            store,
            scope,
            held: RefCell::new(HashMap::new()),
        }
    }

    /// The wrapped executor: for work that must really run, uncoordinated
    /// (verification re-runs a task whose receipt exists by definition).
    pub(crate) fn inner(&self) -> &E {
        &self.inner
    }

    /// Releases the lock of `instruction` (its receipt is written).
    pub(crate) fn release(&self, instruction: &Cid) {
        self.held.borrow_mut().remove(instruction);
    }

    /// Releases every lock (the run ended).
    pub(crate) fn release_all(&self) {
        self.held.borrow_mut().clear();
    }
}

impl<E: Executor> Executor for Coordinated<E> {
    fn purity(&self, op: &str) -> Option<Purity> {
        self.inner.purity(op)
    }

    async fn execute(&self, job: Job) -> Execution {
        next_macrotask().await;
        let Some(scope) = &self.scope else {
            return self.inner.execute(job).await;
        };
        let Some(lock) = acquire(&format!("{scope}:{}", job.instruction)).await else {
            return self.inner.execute(job).await;
        };
        if let Ok(Some(rec)) = self.store.receipt_for(&job.instruction).await {
            if rec.receipt.is_reusable() {
                drop(lock);
                return Execution {
                    reused: Some(Box::new(rec)),
                    ..Execution::ok(Ipld::Null, 0)
                };
            }
        }
        self.held.borrow_mut().insert(job.instruction, lock);
        self.inner.execute(job).await
    }
}
