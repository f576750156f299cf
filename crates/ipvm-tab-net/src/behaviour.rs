//! The tab's own behaviour in the rust-ipfs swarm: bitswap (beetswap,
//! client and server in one, over [`TabBlocks`]), behind a handle that asks
//! for blocks through a bounded channel.
//!
//! rust-ipfs takes one custom behaviour whose events never leave the swarm
//! (`ToSwarm = Infallible`) and which is `Send + Sync`. beetswap over the
//! tab's store is neither (IndexedDB lives on the page's thread), so it is
//! held in a `SendWrapper`: the swarm runs on that same thread, and the
//! wrapper would panic, not misbehave, if it ever left it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::channel::{mpsc, oneshot};
use futures::StreamExt as _;
use ipvm_core::{BlockStore, Cid};
use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};
use send_wrapper::SendWrapper;

use crate::blocks::TabBlocks;
use ipvm_p2p::hashes::CoreHashes;

/// Longest multihash bitswap handles (SHA-256 digests are 32 bytes).
const MAX_MULTIHASH: usize = 64;

/// How many block requests may wait for the swarm.
const REQUESTS: usize = 256;

type Bitswap<S> = beetswap::Behaviour<MAX_MULTIHASH, TabBlocks<S>>;
type Reply = oneshot::Sender<Result<Vec<u8>, String>>;

/// The swarm's half: bitswap, and the block requests it is answering.
pub(crate) struct TabBehaviour<S: BlockStore + 'static> {
    bitswap: SendWrapper<Bitswap<S>>,
    requests: mpsc::Receiver<(Cid, Reply)>,
    waiting: HashMap<beetswap::QueryId, Reply>,
}

/// The runtime's half: asks the swarm for blocks.
#[derive(Clone)]
pub(crate) struct BitswapHandle {
    requests: mpsc::Sender<(Cid, Reply)>,
}

/// Bitswap over `store`, and the handle that asks it for blocks.
pub(crate) fn tab_behaviour<S: BlockStore + 'static>(
    store: Rc<S>,
) -> (TabBehaviour<S>, BitswapHandle) {
    let bitswap = beetswap::Behaviour::builder(std::sync::Arc::new(TabBlocks::new(store)))
        .register_multihasher(CoreHashes)
        .build();
    let (tx, rx) = mpsc::channel(REQUESTS);
    (
        TabBehaviour {
            bitswap: SendWrapper::new(bitswap),
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
    pub(crate) async fn get(&self, cid: Cid) -> Result<Vec<u8>, String> {
        let (tx, rx) = oneshot::channel();
        let mut requests = self.requests.clone();
        futures::SinkExt::send(&mut requests, (cid, tx))
            .await
            .map_err(|_| "the tab's network has stopped".to_string())?;
        rx.await
            .map_err(|_| "the tab's network has stopped".to_string())?
    }
}

impl<S: BlockStore + 'static> NetworkBehaviour for TabBehaviour<S> {
    type ConnectionHandler = THandler<Bitswap<S>>;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.bitswap
            .handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.bitswap.handle_established_inbound_connection(
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
        self.bitswap.handle_pending_outbound_connection(
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
        self.bitswap.handle_established_outbound_connection(
            connection_id,
            peer,
            addr,
            role_override,
            port_use,
        )
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.bitswap.on_swarm_event(event)
    }

    fn on_connection_handler_event(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.bitswap
            .on_connection_handler_event(peer_id, connection_id, event)
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        while let Poll::Ready(Some((cid, reply))) = self.requests.poll_next_unpin(cx) {
            let id = self.bitswap.get(&cid);
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
            self.bitswap.cancel(id);
        }
        loop {
            match self.bitswap.poll(cx) {
                Poll::Ready(ToSwarm::GenerateEvent(event)) => {
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
