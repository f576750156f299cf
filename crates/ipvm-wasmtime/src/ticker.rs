//! The epoch ticker: one thread per engine that advances wasmtime's epoch
//! every [`TICK_MS`], so that a call past its deadline traps (an
//! `Interrupt`) without a check per instruction. It stops when the last
//! handle of its engine is dropped.

use std::sync::{Arc, Weak};
use std::time::Duration;

/// Milliseconds between two epochs: a time limit is kept to this much.
pub(crate) const TICK_MS: u64 = 10;

/// Keeps the ticker running while any clone of it lives.
#[derive(Clone)]
pub(crate) struct Ticker {
    _alive: Arc<()>,
}

impl Ticker {
    /// Starts advancing `engine`'s epoch.
    pub(crate) fn start(engine: &wasmtime::Engine) -> Self {
        let alive = Arc::new(());
        let weak: Weak<()> = Arc::downgrade(&alive);
        let engine = engine.clone();
        // A thread that cannot be started leaves no deadline to trap: the
        // executor's calls then end only by fuel (wasmi's clock check is
        // the fallback a user can choose with `--engine wasmi`).
        let _ = std::thread::Builder::new()
            .name("ipvm-epoch".into())
            .spawn(move || {
                while weak.strong_count() > 0 {
                    std::thread::sleep(Duration::from_millis(TICK_MS));
                    engine.increment_epoch();
                }
            });
        Self { _alive: alive }
    }
}

/// The epochs a call may run for within `time_ms`, rounded up, plus one (the
/// first tick may come at once).
pub(crate) fn deadline_ticks(time_ms: u64) -> u64 {
    time_ms.div_ceil(TICK_MS).saturating_add(1)
}
