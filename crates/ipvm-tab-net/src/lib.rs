//! The tab's libp2p peer: what the npm package's network build adds to the
//! runtime. A rust-ipfs host on the page (WebSocket, Noise, Yamux), bitswap
//! (beetswap) over the tab's own store, so that a block fetched from a peer
//! is verified, stored once and served from there, and the peers the
//! runtime was opened with, redialled with backoff when they go away, each
//! told the tab's DID by a signed binding.
//!
//! Only the wasm32 build holds the host; the parts that decide something
//! (the backoff, a peer's DID) are plain Rust, tested natively.

mod backoff;
mod error;
mod identity;

#[cfg(target_arch = "wasm32")]
mod behaviour;
#[cfg(target_arch = "wasm32")]
mod blocks;
#[cfg(target_arch = "wasm32")]
mod peer;

pub use backoff::Backoff;
pub use error::TabNetError;
pub use identity::{dial_addr, did_of_peer};

#[cfg(target_arch = "wasm32")]
pub use peer::{PeerEvent, PeerInfo, SignBinding, TabNet};
