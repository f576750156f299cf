//! How long the tab waits before dialling a peer again: doubling from
//! [`Backoff::FIRST`] up to [`Backoff::MOST`], back to the first after a
//! connection holds.

use std::time::Duration;

/// The redial delays of one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: Self::FIRST }
    }
}

impl Backoff {
    /// The wait after the first failure.
    pub const FIRST: Duration = Duration::from_millis(250);
    /// The longest wait.
    pub const MOST: Duration = Duration::from_secs(10);

    /// The wait before the next dial, and the one after it doubles.
    pub fn fail(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(Self::MOST);
        now
    }

    /// A connection came up: the next failure waits the first delay again.
    pub fn connected(&mut self) {
        self.next = Self::FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_most_and_start_again_after_a_connection() {
        let mut b = Backoff::default();
        let waits: Vec<u64> = (0..8).map(|_| b.fail().as_millis() as u64).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
        b.connected();
        assert_eq!(b.fail(), Backoff::FIRST);
    }
}
