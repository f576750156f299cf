//! The tab's libp2p host: started with the peers the runtime was opened
//! with, each dialled and redialled with [`Backoff`] for as long as the host
//! runs, and the connected peers as the runtime reports them.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use futures::channel::mpsc;
use futures::future::{select, Either};
use futures::StreamExt as _;
use ipvm_core::{BlockStore, Cid};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId};
use rust_ipfs::builder::IpfsBuilder;
use rust_ipfs::Ipfs;

use crate::behaviour::{tab_behaviour, BitswapHandle, TabBehaviour};
use crate::{dial_addr, did_of_peer, Backoff, TabNetError};

/// A connected peer as the runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Its DID, when its peer id names it (see [`did_of_peer`]).
    pub did: Option<String>,
    /// How the tab reaches it: `websocket` today.
    pub transport: &'static str,
    /// The address it was reached at.
    pub address: String,
}

/// What happens to the tab's peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// A connection came up.
    Connected(PeerInfo),
    /// A peer's last connection closed.
    Disconnected { peer_id: String, reason: String },
    /// A dial failed; the next is in `retry_in`.
    DialFailed {
        address: String,
        reason: String,
        retry_in: Duration,
    },
}

/// What the swarm tells the host, on a channel (the swarm's hook must be
/// `Send + Sync`; these are plain data).
enum Seen {
    Up(PeerId, Multiaddr),
    Down(PeerId, String),
}

struct State {
    connected: BTreeMap<PeerId, PeerInfo>,
    stopped: bool,
}

/// The tab's libp2p host.
#[derive(Clone)]
pub struct TabNet {
    ipfs: Ipfs,
    bitswap: BitswapHandle,
    state: Rc<RefCell<State>>,
    local: PeerId,
}

fn transport_of(addr: &Multiaddr) -> &'static str {
    use libp2p::multiaddr::Protocol;
    match addr
        .iter()
        .any(|p| matches!(p, Protocol::Ws(_) | Protocol::Wss(_)))
    {
        true => "websocket",
        false => "other",
    }
}

fn info(peer: PeerId, addr: &Multiaddr) -> PeerInfo {
    PeerInfo {
        peer_id: peer.to_string(),
        did: did_of_peer(&peer).map(|d| d.as_str().to_string()),
        transport: transport_of(addr),
        address: addr.to_string(),
    }
}

impl TabNet {
    /// Starts the host over `store` and dials `peers` (each checked by
    /// [`dial_addr`] first: one bad address starts nothing). `on_event`
    /// hears every connection, disconnection and failed dial.
    pub async fn start<S: BlockStore + 'static>(
        store: Rc<S>,
        peers: &[String],
        on_event: impl Fn(PeerEvent) + 'static,
    ) -> Result<TabNet, TabNetError> {
        let peers = peers
            .iter()
            .map(|p| dial_addr(p))
            .collect::<Result<Vec<_>, _>>()?;
        let (behaviour, bitswap) = tab_behaviour(store);
        let mut behaviour = Some(behaviour);
        let (seen_tx, mut seen_rx) = mpsc::unbounded::<Seen>();
        let keypair = libp2p::identity::Keypair::generate_ed25519();
        let local = keypair.public().to_peer_id();
        let ipfs = IpfsBuilder::<TabBehaviour<S>>::with_keypair(&keypair)
            .map_err(|e| TabNetError::Start(e.to_string()))?
            .enable_websocket()
            .with_custom_behaviour(move |_| {
                behaviour
                    .take()
                    .ok_or_else(|| std::io::Error::other("the behaviour was built twice"))
            })
            .set_idle_connection_timeout(60)
            .swarm_events(move |swarm, event| match event {
                SwarmEvent::ConnectionEstablished {
                    peer_id, endpoint, ..
                } => {
                    let _ = seen_tx
                        .unbounded_send(Seen::Up(*peer_id, endpoint.get_remote_address().clone()));
                }
                SwarmEvent::ConnectionClosed { peer_id, cause, .. }
                    if !swarm.is_connected(peer_id) =>
                {
                    let reason = cause
                        .as_ref()
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "closed".into());
                    let _ = seen_tx.unbounded_send(Seen::Down(*peer_id, reason));
                }
                _ => {}
            })
            .start()
            .await
            .map_err(|e| TabNetError::Start(format!("{e:#}")))?;
        let state = Rc::new(RefCell::new(State {
            connected: BTreeMap::new(),
            stopped: false,
        }));
        let on_event = Rc::new(on_event);
        let net = TabNet {
            ipfs,
            bitswap,
            state: state.clone(),
            local,
        };
        // The swarm's news, into the peer table and the runtime's events.
        {
            let (state, on_event) = (state.clone(), on_event.clone());
            wasm_bindgen_futures::spawn_local(async move {
                while let Some(seen) = seen_rx.next().await {
                    match seen {
                        Seen::Up(peer, addr) => {
                            let peer_info = info(peer, &addr);
                            state.borrow_mut().connected.insert(peer, peer_info.clone());
                            on_event(PeerEvent::Connected(peer_info));
                        }
                        Seen::Down(peer, reason) => {
                            state.borrow_mut().connected.remove(&peer);
                            on_event(PeerEvent::Disconnected {
                                peer_id: peer.to_string(),
                                reason,
                            });
                        }
                    }
                }
            });
        }
        // Each peer kept connected: dialled now, and again with backoff
        // whenever it is not connected.
        for (addr, peer) in peers {
            let (net, on_event) = (net.clone(), on_event.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let mut backoff = Backoff::default();
                loop {
                    if net.state.borrow().stopped {
                        return;
                    }
                    if net.state.borrow().connected.contains_key(&peer) {
                        backoff.connected();
                        gloo_timers::future::sleep(Duration::from_millis(250)).await;
                        continue;
                    }
                    let dial = net.ipfs.connect(addr.clone());
                    let timeout = gloo_timers::future::sleep(Duration::from_secs(10));
                    let failed = match select(Box::pin(dial), Box::pin(timeout)).await {
                        Either::Left((Ok(_), _)) => None,
                        Either::Left((Err(e), _)) => Some(format!("{e:#}")),
                        Either::Right(_) => Some("no answer in 10 s".to_string()),
                    };
                    let wait = match failed {
                        None => Duration::from_millis(250),
                        Some(reason) => {
                            let retry_in = backoff.fail();
                            on_event(PeerEvent::DialFailed {
                                address: addr.to_string(),
                                reason,
                                retry_in,
                            });
                            retry_in
                        }
                    };
                    gloo_timers::future::sleep(wait).await;
                }
            });
        }
        Ok(net)
    }

    /// The tab's own libp2p peer id (a key made for this host; the runtime's
    /// DID is its WebCrypto key).
    pub fn peer_id(&self) -> String {
        self.local.to_string()
    }

    /// The peers connected now.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.state.borrow().connected.values().cloned().collect()
    }

    /// The block `cid` from the store, else from a connected peer over
    /// bitswap (verified against its CID and stored), within `within`.
    pub async fn block(&self, cid: Cid, within: Duration) -> Result<Vec<u8>, TabNetError> {
        let err = |reason: String| TabNetError::Fetch {
            cid: cid.to_string(),
            reason,
        };
        let get = self.bitswap.get(cid);
        // gloo's timer takes at most u32::MAX ms, and throws past it.
        let within = within.min(Duration::from_millis(u64::from(u32::MAX)));
        let timeout = gloo_timers::future::sleep(within);
        match select(Box::pin(get), Box::pin(timeout)).await {
            Either::Left((Ok(bytes), _)) => Ok(bytes),
            Either::Left((Err(e), _)) => Err(err(e)),
            Either::Right(_) => Err(err(format!(
                "no connected peer gave it within {} ms",
                within.as_millis()
            ))),
        }
    }

    /// Stops redialling and shuts the host down.
    pub async fn stop(self) {
        self.state.borrow_mut().stopped = true;
        self.ipfs.exit_daemon().await;
    }
}

/// The tab's bitswap as the core's block source: what a run or `addModule`
/// needs and the store lacks comes from the connected peers. bitswap writes
/// what it receives to the runtime's store as well, but its `get` may answer
/// before that write has landed in IndexedDB (a read right after a fetch
/// found blocks missing): the core's walk stores each block itself, checked,
/// before it reads on.
impl ipvm_core::store::fetch::BlockSource for TabNet {
    fn block(
        &self,
        cid: Cid,
        within: Duration,
    ) -> futures::future::LocalBoxFuture<'_, Result<Vec<u8>, String>> {
        Box::pin(async move {
            TabNet::block(self, cid, within).await.map_err(|e| match e {
                TabNetError::Fetch { reason, .. } => reason,
                other => other.to_string(),
            })
        })
    }
}
