//! [`CancelToken`]: stops a run from anywhere (another task, a JS
//! AbortSignal); the run returns `CoreError::Cancelled` at its next wake-up.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

/// Cancels a run from anywhere (another task, a JS AbortSignal).
#[derive(Clone, Default)]
pub struct CancelToken(Arc<Mutex<(bool, Vec<Waker>)>>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every run that holds this token.
    pub fn cancel(&self) {
        if let Ok(mut g) = self.0.lock() {
            g.0 = true;
            g.1.drain(..).for_each(Waker::wake);
        }
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.lock().map(|g| g.0).unwrap_or(true)
    }

    /// Resolves once the token is cancelled.
    pub fn cancelled(&self) -> impl Future<Output = ()> + '_ {
        futures::future::poll_fn(move |cx| match self.0.lock() {
            Ok(mut g) if !g.0 => {
                g.1.push(cx.waker().clone());
                Poll::Pending
            }
            _ => Poll::Ready(()),
        })
    }
}
