//! The tab's libp2p host: started with the peers the runtime was opened
//! with, each dialled and redialled with [`Backoff`] for as long as the host
//! runs, and the connected peers as the runtime reports them. On each new
//! connection the tab presents its binding (its DID, signed by its
//! WebCrypto key, to the libp2p peer id it runs under) and reads the peer's
//! ([`ipvm_p2p::binding`]): the peer learns the tab's DID, the tab the
//! peer's.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use futures::channel::mpsc;
use futures::future::{select, Either, LocalBoxFuture};
use futures::StreamExt as _;
use ipvm_core::{BlockStore, Cid, PeerBinding};
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
    /// Its DID: the one its binding names once the exchange succeeded
    /// (`bound`), else the one its peer id names (see [`did_of_peer`]: a
    /// native node's key is both).
    pub did: Option<String>,
    /// Whether the peer's signed binding of that DID to its peer id was
    /// received and checked.
    pub bound: bool,
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
    /// The binding exchange with a peer succeeded: it knows the tab's DID,
    /// and `did` is the peer's, checked.
    Bound { peer_id: String, did: String },
    /// The binding exchange with a peer failed (the peer refused the tab's
    /// binding, its own did not check, or it does not speak the protocol):
    /// it is still connected, under the DID its peer id names, if any.
    BindingFailed { peer_id: String, reason: String },
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
        bound: false,
        transport: transport_of(addr),
        address: addr.to_string(),
    }
}

/// Signs the tab's binding to the peer id it runs under (given), valid
/// until the time given (seconds since the epoch): the runtime's key.
pub type SignBinding =
    Rc<dyn Fn(String, u64) -> LocalBoxFuture<'static, Result<PeerBinding, String>>>;

/// Seconds since the epoch, by the page's clock.
fn now() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

impl TabNet {
    /// Starts the host over `store` and dials `peers` (each checked by
    /// [`dial_addr`] first: one bad address starts nothing). `sign` signs
    /// the tab's binding for each new connection. `on_event` hears every
    /// connection, binding, disconnection and failed dial.
    pub async fn start<S: BlockStore + 'static>(
        store: Rc<S>,
        peers: &[String],
        sign: SignBinding,
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
            .with_request_response(vec![
                ipvm_p2p::binding::protocol(),
                ipvm_p2p::lookup::protocol(),
            ])
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
            let (state, on_event, net) = (state.clone(), on_event.clone(), net.clone());
            wasm_bindgen_futures::spawn_local(async move {
                while let Some(seen) = seen_rx.next().await {
                    match seen {
                        Seen::Up(peer, addr) => {
                            let peer_info = info(peer, &addr);
                            state.borrow_mut().connected.insert(peer, peer_info.clone());
                            on_event(PeerEvent::Connected(peer_info));
                            let (net, sign, on_event) =
                                (net.clone(), sign.clone(), on_event.clone());
                            wasm_bindgen_futures::spawn_local(async move {
                                net.bind(peer, sign, &*on_event).await;
                            });
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

    /// Presents the tab's binding to `peer` and reads the peer's: on
    /// success the peer is listed with its checked DID (`bound`).
    async fn bind(&self, peer: PeerId, sign: SignBinding, on_event: &dyn Fn(PeerEvent)) {
        let exchanged = async {
            let exp = now() + ipvm_core::peer_binding::BINDING_TTL_SECS;
            let own = sign(self.local.to_string(), exp)
                .await
                .map_err(ipvm_p2p::P2pError::Own)?;
            ipvm_p2p::binding::present(&self.ipfs, peer, &own, now).await
        };
        let event = match exchanged.await {
            Ok(did) => {
                let mut state = self.state.borrow_mut();
                // The peer may have gone meanwhile: nothing to list then.
                let Some(listed) = state.connected.get_mut(&peer) else {
                    return;
                };
                listed.did = Some(did.as_str().to_string());
                listed.bound = true;
                PeerEvent::Bound {
                    peer_id: peer.to_string(),
                    did: did.as_str().to_string(),
                }
            }
            Err(e) => PeerEvent::BindingFailed {
                peer_id: peer.to_string(),
                reason: e.to_string(),
            },
        };
        on_event(event);
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

/// How long a receipt too large for a lookup answer (and its invocation)
/// may take to come by bitswap, per block.
const RECEIPT_BLOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The tab's peers as the core's [`Peers`](ipvm_core::peer::Peers): a run
/// asks every peer whose binding checked (an IPVM peer with a known DID;
/// Helia and other libp2p peers are not asked) for the receipts of the
/// tasks its memo misses, all at once, each within
/// [`ipvm_p2p::lookup::LOOKUP_TIMEOUT`]; a receipt named `too_large` comes
/// by bitswap. What is used is the core's decision, under the runtime's
/// trust policy.
impl ipvm_core::peer::Peers for TabNet {
    fn lookup<'s>(
        &'s self,
        request: ipvm_core::peer::messages::LookupRequest,
    ) -> LocalBoxFuture<'s, Vec<ipvm_core::peer::PeerAnswer>> {
        use ipvm_core::peer::PeerAnswer;
        use ipvm_p2p::lookup::{fetch_too_large, read_answer, LOOKUP_TIMEOUT};
        Box::pin(async move {
            let asked = request.instructions.len();
            let peers: Vec<PeerId> = (self.state.borrow().connected.iter())
                .filter(|(_, info)| info.bound)
                .map(|(peer, _)| *peer)
                .collect();
            let bytes = match request.encode() {
                Ok(b) => b,
                Err(e) => {
                    let why = format!("the request could not be written: {e}");
                    return (peers.iter())
                        .map(|p| PeerAnswer {
                            peer: p.to_string(),
                            answer: Err(why.clone()),
                        })
                        .collect();
                }
            };
            let ask = |peer: PeerId| {
                let bytes = bytes.clone();
                async move {
                    let sent = self
                        .ipfs
                        .send_request(peer, (ipvm_core::peer::messages::LOOKUP_PROTOCOL, bytes));
                    let timeout = gloo_timers::future::sleep(LOOKUP_TIMEOUT);
                    let answer = match select(Box::pin(sent), Box::pin(timeout)).await {
                        Either::Left((Ok(bytes), _)) => match read_answer(&bytes, asked) {
                            Ok(a) => Ok(fetch_too_large(a, |cid| self.receipt(cid)).await),
                            Err(e) => Err(e),
                        },
                        Either::Left((Err(e), _)) => Err(format!("no answer: {e:#}")),
                        Either::Right(_) => {
                            Err(format!("no answer in {} s", LOOKUP_TIMEOUT.as_secs()))
                        }
                    };
                    PeerAnswer {
                        peer: peer.to_string(),
                        answer,
                    }
                }
            };
            futures::future::join_all(peers.into_iter().map(ask)).await
        })
    }
}

impl TabNet {
    /// A receipt named `too_large` and its invocation, by bitswap.
    async fn receipt(&self, cid: Cid) -> Result<(Vec<u8>, Vec<u8>), String> {
        let block = |c: Cid| async move {
            self.block(c, RECEIPT_BLOCK_TIMEOUT)
                .await
                .map_err(|e| e.to_string())
        };
        ipvm_p2p::lookup::fetch_receipt(cid, block).await
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
