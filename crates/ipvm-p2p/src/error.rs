//! The crate's one error type.

use ipvm_core::BindingError;

/// What went wrong between this peer and another.
#[derive(Debug, Clone, thiserror::Error)]
pub enum P2pError {
    /// A binding was refused, by this side or by the peer.
    #[error("{0}")]
    Binding(#[from] BindingError),
    /// This side could not sign its own binding.
    #[error("cannot sign this peer's own binding: {0}")]
    Own(String),
    /// The exchange did not happen (no answer, the connection closed, the
    /// peer does not speak the protocol).
    #[error("no binding exchange with {peer}: {reason}")]
    Exchange {
        /// The peer's id.
        peer: String,
        /// Why.
        reason: String,
    },
}
