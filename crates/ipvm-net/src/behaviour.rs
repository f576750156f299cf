//! The node's own behaviours in the rust-ipfs swarm: bitswap (beetswap,
//! client and server in one, over [`StoreBlocks`]) and the circuit relay v2
//! server, behind a handle that asks for blocks through a bounded channel.
//!
//! rust-ipfs takes one custom behaviour whose events never leave the swarm
//! (`ToSwarm = Infallible`) and which is `Send + Sync`: requests come in on
//! a channel, each answer goes back on its own oneshot, and the relay's
//! events become log lines.
//!
//! The relay is here rather than rust-ipfs's `with_relay_server`, whose
//! `RelayConfig` is converted with `..Default::default()`: libp2p's default
//! per-peer and per-IP rate limiters stay whatever lists are given, and every
//! local tab shares one IP. Here the limiters are exactly those of
//! [`relay_config`]: none.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Mutex;
use std::task::{Context, Poll};

use futures::channel::oneshot;
use ipvm_core::Cid;
use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{relay, Multiaddr, PeerId};
use std::time::Duration;
use tokio::sync::mpsc;

use crate::blocks::StoreBlocks;
use crate::log::Log;
use ipvm_p2p::hashes::CoreHashes;

/// Longest multihash bitswap handles (SHA-256 digests are 32 bytes).
const MAX_MULTIHASH: usize = 64;

/// How many block requests may wait for the swarm.
const REQUESTS: usize = 256;

/// Bitswap and the relay server, composed by libp2p's derive.
#[derive(NetworkBehaviour)]
pub(crate) struct Parts {
    bitswap: beetswap::Behaviour<MAX_MULTIHASH, StoreBlocks>,
    relay: relay::Behaviour,
}

type Inner = Parts;
type Reply = oneshot::Sender<Result<Vec<u8>, String>>;

/// The swarm's half: bitswap, the relay, and the block requests it is
/// answering.
pub(crate) struct NodeBehaviour {
    // Mutex only to make the behaviour `Sync` (rust-ipfs asks for it;
    // beetswap's futures are `Send` only). Always reached through
    // `get_mut`: never locked.
    inner: Mutex<Inner>,
    requests: mpsc::Receiver<(Cid, Reply)>,
    waiting: HashMap<beetswap::QueryId, Reply>,
    log: Log,
}

/// The node's half: asks the swarm for blocks.
#[derive(Clone)]
pub struct BitswapHandle {
    requests: mpsc::Sender<(Cid, Reply)>,
}

/// The relay server's limits, every one set (never rust-ipfs's
/// `unbounded()`, whose `Duration::MAX` panics): circuits last an hour and
/// carry any number of bytes (the default 2 minutes and 128 KiB would cut
/// a tab-to-tab connection), 256 circuits and 32 per peer, reservations an
/// hour; no rate limiters (local tabs share one IP).
pub fn relay_config() -> relay::Config {
    relay::Config {
        max_reservations: 256,
        max_reservations_per_peer: 8,
        reservation_duration: Duration::from_secs(60 * 60),
        reservation_rate_limiters: Vec::new(),
        max_circuits: 256,
        max_circuits_per_peer: 32,
        max_circuit_duration: Duration::from_secs(60 * 60),
        // 0: no limit on a circuit's bytes (libp2p counts both directions).
        max_circuit_bytes: 0,
        circuit_src_rate_limiters: Vec::new(),
    }
}

/// The behaviours of the node with key `local`, bitswap over `blocks`, and
/// the handle that asks them for blocks.
pub(crate) fn node_behaviour(
    local: PeerId,
    blocks: StoreBlocks,
    log: Log,
) -> (NodeBehaviour, BitswapHandle) {
    let bitswap = beetswap::Behaviour::builder(std::sync::Arc::new(blocks))
        .register_multihasher(CoreHashes)
        .build();
    let inner = Parts {
        bitswap,
        relay: relay::Behaviour::new(local, relay_config()),
    };
    let (tx, rx) = mpsc::channel(REQUESTS);
    (
        NodeBehaviour {
            log,
            inner: Mutex::new(inner),
            requests: rx,
            waiting: HashMap::new(),
        },
        BitswapHandle { requests: tx },
    )
}

impl BitswapHandle {
    /// The block `cid` from the store, else from any connected peer that has
    /// it (bitswap verifies it against its CID and stores it). Waits until a
    /// peer answers: the caller sets the deadline.
    pub async fn get(&self, cid: Cid) -> Result<Vec<u8>, String> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send((cid, tx))
            .await
            .map_err(|_| "the node has stopped".to_string())?;
        rx.await.map_err(|_| "the node has stopped".to_string())?
    }
}

impl NodeBehaviour {
    fn inner(&mut self) -> &mut Inner {
        // A poisoned mutex is impossible (it is never locked); take it anyway.
        match self.inner.get_mut() {
            Ok(inner) => inner,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl NetworkBehaviour for NodeBehaviour {
    type ConnectionHandler = THandler<Inner>;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner()
            .handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.inner().handle_established_inbound_connection(
            connection_id,
            peer,
            local_addr,
            remote_addr,
        )
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner().handle_pending_outbound_connection(
            connection_id,
            maybe_peer,
            addresses,
            effective_role,
        )
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.inner().handle_established_outbound_connection(
            connection_id,
            peer,
            addr,
            role_override,
            port_use,
        )
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.inner().on_swarm_event(event)
    }

    fn on_connection_handler_event(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner()
            .on_connection_handler_event(peer_id, connection_id, event)
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        while let Poll::Ready(Some((cid, reply))) = self.requests.poll_recv(cx) {
            let id = self.inner().bitswap.get(&cid);
            self.waiting.insert(id, reply);
        }
        // A caller that gave up: forget its query.
        let gone: Vec<_> = self
            .waiting
            .iter()
            .filter(|(_, reply)| reply.is_canceled())
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            self.waiting.remove(&id);
            self.inner().bitswap.cancel(id);
        }
        loop {
            match self.inner().poll(cx) {
                Poll::Ready(ToSwarm::GenerateEvent(PartsEvent::Relay(event))) => {
                    self.log.relay(&event)
                }
                Poll::Ready(ToSwarm::GenerateEvent(PartsEvent::Bitswap(event))) => {
                    let (id, result) = match event {
                        beetswap::Event::GetQueryResponse { query_id, data } => {
                            (query_id, Ok(data))
                        }
                        beetswap::Event::GetQueryError { query_id, error } => {
                            (query_id, Err(error.to_string()))
                        }
                    };
                    if let Some(reply) = self.waiting.remove(&id) {
                        // The caller may have gone: nothing to tell.
                        let _ = reply.send(result);
                    }
                }
                Poll::Ready(other) => {
                    return Poll::Ready(other.map_out(|_| unreachable!("handled above")))
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
