//! The node's log: one line per connection, refusal and error on stderr,
//! at a level (`--log error|warn|info|debug`), rate-limited so that a peer
//! cannot fill it: a bucket of [`BURST`] lines refilled at [`PER_SECOND`]
//! a second; what is dropped is counted and said when lines flow again.

use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Lines that may be written at once.
pub const BURST: f64 = 50.0;
/// Lines a second after a burst.
pub const PER_SECOND: f64 = 10.0;

/// How much the log says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Errors only.
    Error,
    /// And refusals.
    Warn,
    /// And connections (the default).
    Info,
    /// And every relay and bitswap event.
    Debug,
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "error" => Ok(Level::Error),
            "warn" => Ok(Level::Warn),
            "info" => Ok(Level::Info),
            "debug" => Ok(Level::Debug),
            other => Err(format!(
                "`--log {other}`: expected error, warn, info or debug"
            )),
        }
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
    dropped: u64,
}

/// A handle on the log; clones share the bucket.
#[derive(Clone)]
pub struct Log {
    level: Level,
    bucket: Arc<Mutex<Bucket>>,
}

impl Log {
    /// A log at `level`.
    pub fn new(level: Level) -> Self {
        Self {
            level,
            bucket: Arc::new(Mutex::new(Bucket {
                tokens: BURST,
                last: Instant::now(),
                dropped: 0,
            })),
        }
    }

    /// Writes `line` if `level` is shown and the bucket has room; says how
    /// many lines were dropped before it, if any.
    pub fn line(&self, level: Level, line: &str) {
        if level > self.level {
            return;
        }
        let mut b = match self.bucket.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = Instant::now();
        let refill = now.duration_since(b.last).as_secs_f64() * PER_SECOND;
        b.tokens = (b.tokens + refill).min(BURST);
        b.last = now;
        if b.tokens < 1.0 {
            b.dropped += 1;
            return;
        }
        b.tokens -= 1.0;
        if b.dropped > 0 {
            eprintln!(
                "ipvm node: log: {} lines dropped (more than {PER_SECOND} a second)",
                b.dropped
            );
            b.dropped = 0;
        }
        eprintln!("ipvm node: {line}");
    }

    /// The relay server's events: refusals at warn, the rest at debug.
    pub(crate) fn relay(&self, event: &libp2p::relay::Event) {
        use libp2p::relay::Event as E;
        let refusal = matches!(
            event,
            E::ReservationReqDenied { .. } | E::CircuitReqDenied { .. }
        );
        let level = if refusal { Level::Warn } else { Level::Debug };
        self.line(level, &format!("relay: {event:?}"));
    }
}
