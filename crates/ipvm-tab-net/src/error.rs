//! The tab network's one error type.

/// What went wrong in the tab's network.
#[derive(Debug, thiserror::Error)]
pub enum TabNetError {
    /// A peer's address that cannot be dialled from a tab.
    #[error("peer address `{addr}`: {reason}")]
    Address { addr: String, reason: String },
    /// The libp2p host did not start.
    #[error("the tab's libp2p host did not start: {0}")]
    Start(String),
    /// A block that no connected peer gave in time, or that failed.
    #[error("block {cid}: {reason}")]
    Fetch { cid: String, reason: String },
    /// The host has stopped.
    #[error("the tab's network has stopped")]
    Stopped,
}
