//! The native IPVM peer behind `ipvm node`: a libp2p host on rust-ipfs
//! (WebSocket, Noise, Yamux; identify, pubsub, request-response), a circuit
//! relay v2 server for tabs, and bitswap (beetswap) over the project's own
//! native store, so that one copy of each block serves the runs and the
//! peers. The node's Ed25519 key is both its DID and its libp2p identity.
//! It answers the IPVM protocols (`ipvm_core::peer`): receipt lookups from
//! its store, runs offloaded tasks and says its capacity; and a [`Client`]
//! asks peers before `ipvm run` executes, and hands them tasks.
//!
//! Native only: nothing here is built for wasm32.

mod behaviour;
mod blocks;
mod error;
pub mod log;
mod node;
mod offload;
mod protocols;

pub use behaviour::{relay_config, BitswapHandle};
pub use blocks::StoreBlocks;
pub use error::NetError;
pub use node::{
    connect_addr, is_loopback, listen_addr, serve, Client, ClientOffload, Config, Info, Node,
    Serve, DEFAULT_LISTEN, LINGER, PUBLISH_WITHIN,
};
pub use offload::{
    OffloadService, Offloading, Runner, CAPACITY_EVERY, MAX_OFFLOADS_PER_ISSUER,
    MAX_OFFLOADS_PER_PEER, OFFLOAD_TIMEOUT,
};
pub use protocols::{
    NetPeers, ANNOUNCE_EVERY, GATHER_FOR, LOOKUP_TIMEOUT, MAX_FETCHED_PER_ANSWER,
    MAX_LOOKUPS_IN_FLIGHT, MAX_RECEIVED_BYTES, MAX_RECEIVED_ROWS,
};
