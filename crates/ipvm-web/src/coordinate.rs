//! The browser's side of the coordination rule that `ipvm_core::coordinate`
//! states and the scheduler follows: a Web Lock per instruction
//! (`ipvm-web:<store>:<instruction CID>`), and announcements on the facade's
//! BroadcastChannel. Where the Locks API is missing, tasks run
//! uncoordinated. Also here: [`Yielding`], which gives the event loop a turn
//! before each task.

use std::cell::RefCell;

use futures::channel::oneshot;
use ipvm_core::coordinate::Busy;
use ipvm_core::model::op::Ops;
use ipvm_core::{Announcer, Cid, Execution, Executor, InstructionLock, Job};
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// A held Web Lock; dropping it releases the lock.
pub(crate) struct HeldLock {
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

/// Waits for the lock `name` (or, `if_available`, takes it only if no one
/// holds it: `Err(Busy)` otherwise); `None` if the Locks API is not
/// available.
async fn acquire(name: &str, if_available: bool) -> Option<Result<HeldLock, Busy>> {
    let locks = Reflect::get(&global("navigator"), &JsValue::from_str("locks"))
        .ok()
        .filter(|l| l.is_object())?;
    let request: Function = Reflect::get(&locks, &JsValue::from_str("request"))
        .ok()?
        .dyn_into()
        .ok()?;
    let (granted, on_grant) = oneshot::channel::<Option<Function>>();
    let granted = RefCell::new(Some(granted));
    // The lock is held until the promise this callback returns resolves. A
    // grant that comes after the waiter is gone (its run was cancelled while
    // the lock was requested) is released at once: otherwise the lock would
    // be held for the life of the page and the instruction never run again.
    // With `ifAvailable`, a lock someone holds is granted as `null`.
    let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
        let tx = granted.borrow_mut().take();
        if lock.is_null() {
            if let Some(tx) = tx {
                let _ = tx.send(None);
            }
            return JsValue::UNDEFINED;
        }
        let mut release = None;
        let held = Promise::new(&mut |resolve, _| release = Some(resolve));
        if let Some(release) = release {
            let unclaimed = match tx {
                Some(tx) => tx.send(Some(release)).err().flatten(),
                None => Some(release),
            };
            if let Some(release) = unclaimed {
                let _ = release.call0(&JsValue::NULL);
            }
        }
        held.into()
    });
    let name = JsValue::from_str(name);
    let sent = if if_available {
        let options = js_sys::Object::new();
        Reflect::set(&options, &JsValue::from_str("ifAvailable"), &JsValue::TRUE).ok()?;
        request.call3(&locks, &name, &options, &callback)
    } else {
        request.call2(&locks, &name, &callback)
    };
    sent.ok()?;
    match on_grant.await.ok()? {
        Some(release) => Some(Ok(HeldLock { release })),
        None => Some(Err(Busy)),
    }
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

/// The Web Lock `<scope>:<instruction CID>` of each instruction: the core's
/// [`InstructionLock`] for the tabs and workers of an origin. Without a
/// scope (a store private to this runtime) or without the Locks API, no lock
/// is taken.
pub(crate) struct WebLock {
    scope: Option<String>,
}

impl WebLock {
    pub(crate) fn new(scope: Option<String>) -> Self {
        Self { scope }
    }
}

impl InstructionLock for WebLock {
    type Guard = HeldLock;

    async fn acquire(&self, instruction: &Cid) -> Option<HeldLock> {
        let name = format!("{}:{instruction}", self.scope.as_ref()?);
        acquire(&name, false).await.and_then(Result::ok)
    }

    async fn try_acquire(&self, instruction: &Cid) -> Result<Option<HeldLock>, Busy> {
        let Some(scope) = &self.scope else {
            return Ok(None);
        };
        acquire(&format!("{scope}:{instruction}"), true)
            .await
            .transpose()
    }
}

/// Announces receipts on the facade's `BroadcastChannel` (`ipvm-web:<name>`)
/// as `{type: "receipt", instruction, receipt}`: the core's [`Announcer`].
/// The channel object is the facade's, so this tab does not hear itself.
pub(crate) struct ChannelAnnouncer {
    channel: Option<JsValue>,
}

impl ChannelAnnouncer {
    pub(crate) fn new(channel: Option<JsValue>) -> Self {
        Self {
            channel: channel.filter(JsValue::is_object),
        }
    }
}

impl ChannelAnnouncer {
    /// Posts `message` on the channel; a closed channel throws, and an
    /// announcement is advisory.
    fn post(&self, message: &JsValue) {
        let Some(channel) = &self.channel else { return };
        if let Ok(post) = Reflect::get(channel, &JsValue::from_str("postMessage"))
            .and_then(|f| f.dyn_into::<Function>())
        {
            let _ = post.call1(channel, message);
        }
    }
}

/// `{instruction, receipt}` (and `type`, if given).
fn announcement(kind: Option<&str>, instruction: &Cid, receipt: &Cid) -> JsValue {
    let message = js_sys::Object::new();
    let fields = [
        ("type", kind.map(str::to_string)),
        ("instruction", Some(instruction.to_string())),
        ("receipt", Some(receipt.to_string())),
    ];
    for (k, v) in fields {
        if let Some(v) = v {
            let _ = Reflect::set(&message, &JsValue::from_str(k), &JsValue::from_str(&v));
        }
    }
    message.into()
}

impl Announcer for ChannelAnnouncer {
    fn announce(&self, instruction: &Cid, receipt: &Cid) {
        self.post(&announcement(Some("receipt"), instruction, receipt));
    }

    fn announce_many(&self, written: &[(Cid, Cid)]) {
        if self.channel.is_none() || written.is_empty() {
            return;
        }
        let receipts: js_sys::Array = written
            .iter()
            .map(|(i, r)| announcement(None, i, r))
            .collect();
        let message = js_sys::Object::new();
        let _ = Reflect::set(
            &message,
            &JsValue::from_str("type"),
            &JsValue::from_str("receipts"),
        );
        let _ = Reflect::set(&message, &JsValue::from_str("receipts"), &receipts);
        self.post(&message.into());
    }
}

/// Gives the event loop a turn before each task, so a page running a long
/// workflow still paints and can be reloaded between tasks.
pub(crate) struct Yielding<E>(pub(crate) E);

impl<E: Executor> Executor for Yielding<E> {
    fn ops(&self) -> &Ops {
        self.0.ops()
    }

    async fn execute(&self, job: Job) -> Execution {
        next_macrotask().await;
        self.0.execute(job).await
    }
}
