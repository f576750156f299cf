//! An executor wrapper that gives the event loop a turn before each task, so
//! that a page running a long workflow on its main thread still paints,
//! handles input and can be reloaded between tasks.

use ipvm_core::scheduler::Purity;
use ipvm_core::{Execution, Executor, Job};
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

pub(crate) struct Yielding<E>(pub(crate) E);

/// Resolves on the next macrotask (`setTimeout(0)`), in a window or a worker.
async fn next_macrotask() {
    let promise = Promise::new(&mut |resolve, _| {
        let set_timeout = Reflect::get(&js_sys::global(), &JsValue::from_str("setTimeout"))
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok());
        match set_timeout {
            Some(f) => {
                let _ = f.call2(&JsValue::NULL, &resolve, &JsValue::from(0));
            }
            None => {
                let _ = resolve.call0(&JsValue::NULL);
            }
        }
    });
    let _ = JsFuture::from(promise).await;
}

use wasm_bindgen::JsCast;

impl<E: Executor> Executor for Yielding<E> {
    fn purity(&self, op: &str) -> Option<Purity> {
        self.0.purity(op)
    }

    async fn execute(&self, job: Job) -> Execution {
        next_macrotask().await;
        self.0.execute(job).await
    }
}
