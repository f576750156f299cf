//! What can go wrong in the node, with what to do about it.

/// An error of the node.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A multiaddr that does not parse, or one the node will not listen on.
    #[error("`{addr}`: {reason}")]
    Address {
        /// The address as given.
        addr: String,
        /// Why it is refused.
        reason: String,
    },
    /// The libp2p host did not start.
    #[error("the node did not start: {0}")]
    Start(String),
    /// The node listens nowhere.
    #[error(
        "the node could not listen on {addrs}: {reason} (is the port taken? use port 0 for any)"
    )]
    Listen {
        /// The addresses asked for.
        addrs: String,
        /// Why not.
        reason: String,
    },
    /// A `--connect` peer could not be reached.
    #[error("could not connect to {addr}: {reason}")]
    Connect {
        /// The address.
        addr: String,
        /// Why not.
        reason: String,
    },
    /// A block was not found in time, or a peer's block was refused.
    #[error("block {cid}: {reason}")]
    Fetch {
        /// The block's CID.
        cid: String,
        /// Why it is missing.
        reason: String,
    },
    /// The info file could not be written.
    #[error("cannot write the info file `{path}`: {reason}")]
    Info {
        /// The file.
        path: String,
        /// Why not.
        reason: String,
    },
    /// The core refused something (a block that is not what its CID says).
    #[error(transparent)]
    Core(#[from] ipvm_core::CoreError),
}
