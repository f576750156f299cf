//! # ipvm-p2p: what the node and the tab share on libp2p
//!
//! The native node (`ipvm-net`, tokio) and the tab (`ipvm-tab-net`, the
//! page's thread) run the same rust-ipfs host with different stores and
//! executors. What they do alike lives here, once:
//!
//! - [`hashes`]: the hashes bitswap checks blocks with (the core's SHA2-256
//!   and SHA3-256) and the CID and error conversions of a bitswap store;
//! - [`binding`]: the exchange of DID-to-peer-id bindings
//!   ([`ipvm_core::peer_binding`]) over request-response, both ends;
//! - [`lookup`]: the asking end of receipt lookup (an answer read under its
//!   caps, the receipts it names `too_large` fetched and checked).
//!
//! Neither spawns tasks nor reads the clock: the caller does both.

pub mod binding;
mod error;
pub mod hashes;
pub mod lookup;

pub use error::P2pError;
