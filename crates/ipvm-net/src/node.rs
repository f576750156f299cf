//! The node: starts the rust-ipfs host with the node's behaviours, says
//! where it listens (and writes that as JSON for `--info`), dials its
//! `--connect` peers, and fetches blocks and DAGs over bitswap into the
//! store.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ipvm_core::peer_binding::BINDING_TTL_SECS;
use ipvm_core::{Cid, Ed25519Key, PeerBinding, Trust};
use ipvm_store::SqliteStore;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId};
use rust_ipfs::builder::IpfsBuilder;
use rust_ipfs::p2p::{IdentifyConfiguration, PubsubConfig};
use rust_ipfs::{Ipfs, Keypair, RequestResponseConfig};

use ipvm_core::peer::messages::{
    CAPACITY_PROTOCOL, MAX_CAPACITY_BYTES, MAX_OFFLOAD_ANSWER_BYTES, MAX_OFFLOAD_REQUEST_BYTES,
    OFFLOAD_PROTOCOL,
};
use ipvm_core::peer::offload::OffloadMode;
use ipvm_core::ucan::Token;

use crate::behaviour::{node_behaviour, BitswapHandle, NodeBehaviour};
use crate::blocks::StoreBlocks;
use crate::log::{Level, Log};
use crate::offload::{
    serve_capacity, serve_offloads, OffloadService, Offloading, Workers, OFFLOAD_TIMEOUT,
};
use crate::protocols::{announce_new, serve_lookups, take_announcements, NetPeers, LOOKUP_TIMEOUT};
use crate::NetError;

/// Where the node listens when told nothing: WebSocket on loopback, any port.
pub const DEFAULT_LISTEN: &str = "/ip4/127.0.0.1/tcp/0/ws";

/// How long `ipvm run --share announce` tries to publish an announcement
/// (until a peer listens to the topic).
pub const PUBLISH_WITHIN: Duration = Duration::from_secs(5);

/// How long `ipvm run --share announce` stays up after its run for its
/// peers to fetch what it announced.
pub const LINGER: Duration = Duration::from_secs(10);

/// What the node is given.
pub struct Config {
    /// The node's key: its DID and its libp2p identity.
    pub key: Ed25519Key,
    /// Its store: bitswap reads and writes its blocks.
    pub store: SqliteStore,
    /// Where it listens (WebSocket addresses only).
    pub listen: Vec<Multiaddr>,
    /// Peers it dials at start.
    pub connect: Vec<Multiaddr>,
    /// Its log.
    pub log: Log,
    /// Signers whose announced receipts it takes (none: it does not listen
    /// to announcements).
    pub trust: Vec<ipvm_core::Did>,
    /// Whether it announces the receipts computed in its store
    /// (`--share announce`).
    pub share: bool,
    /// How it runs tasks offloaded to it (none: it answers every offload
    /// `busy`, and says it has no workers).
    pub offload: Option<OffloadService>,
}

/// What the node says about itself (`--info`).
#[derive(Debug, Clone)]
pub struct Info {
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Its DID (the same key).
    pub did: String,
    /// Where it can be dialled, each ending in `/p2p/<peer id>`.
    pub multiaddrs: Vec<String>,
    /// Its binding of DID to peer id (DAG-CBOR, base64url), for tabs.
    pub binding: String,
    /// The binding's expiry, seconds since the epoch.
    pub binding_exp: u64,
}

impl Info {
    /// The info as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "peerId": self.peer_id,
            "did": self.did,
            "multiaddrs": self.multiaddrs,
            "binding": self.binding,
            "bindingExp": self.binding_exp,
            "pid": std::process::id(),
        })
        .to_string()
    }

    /// Writes the JSON to `path` whole: a temporary file beside it, renamed.
    pub fn write(&self, path: &Path) -> Result<(), NetError> {
        let err = |e: std::io::Error| NetError::Info {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, self.to_json() + "\n").map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }
}

/// A running node.
pub struct Node {
    ipfs: Ipfs,
    bitswap: BitswapHandle,
    key: std::sync::Arc<Ed25519Key>,
    peer_id: PeerId,
    log: Log,
    /// Instructions answered with a receipt to peers' lookups so far.
    answered: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Its store, which bitswap reads and writes too.
    store: SqliteStore,
}

/// Parses a multiaddr the node may listen on: WebSocket over TCP only.
pub fn listen_addr(text: &str) -> Result<Multiaddr, NetError> {
    let bad = |reason: &str| NetError::Address {
        addr: text.to_string(),
        reason: reason.to_string(),
    };
    let addr: Multiaddr = text.parse().map_err(|e| bad(&format!("{e}")))?;
    let ws = addr
        .iter()
        .any(|p| matches!(p, Protocol::Ws(_) | Protocol::Wss(_)));
    let tcp = addr.iter().any(|p| matches!(p, Protocol::Tcp(_)));
    if !(ws && tcp) {
        return Err(bad(
            "the node listens on WebSocket only (/ip4/…/tcp/PORT/ws); /webrtc-direct and WebTransport are not offered (see README)",
        ));
    }
    Ok(addr)
}

/// Whether `addr` is on loopback (127.0.0.0/8 or ::1).
pub fn is_loopback(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}

/// Parses a peer's address to dial: it must end in `/p2p/<peer id>`.
pub fn connect_addr(text: &str) -> Result<Multiaddr, NetError> {
    let addr: Multiaddr = text.parse().map_err(|e| NetError::Address {
        addr: text.to_string(),
        reason: format!("{e}"),
    })?;
    if !matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
        return Err(NetError::Address {
            addr: text.to_string(),
            reason: "a peer's address ends in /p2p/<peer id> (see its --info)".into(),
        });
    }
    Ok(addr)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn swarm_log<E: std::fmt::Debug>(log: &Log, event: &SwarmEvent<E>) {
    match event {
        SwarmEvent::ConnectionEstablished {
            peer_id, endpoint, ..
        } => log.line(
            Level::Info,
            &format!("connected {peer_id} {}", endpoint.get_remote_address()),
        ),
        SwarmEvent::ConnectionClosed { peer_id, cause, .. } => log.line(
            Level::Info,
            &format!(
                "closed {peer_id}{}",
                cause
                    .as_ref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            ),
        ),
        SwarmEvent::IncomingConnectionError {
            send_back_addr,
            error,
            ..
        } => log.line(
            Level::Warn,
            &format!("refused incoming {send_back_addr}: {error}"),
        ),
        SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => log.line(
            Level::Warn,
            &format!(
                "could not dial {}: {error}",
                peer_id.map(|p| p.to_string()).unwrap_or_default()
            ),
        ),
        SwarmEvent::ListenerError { error, .. } => {
            log.line(Level::Error, &format!("listener error: {error}"))
        }
        SwarmEvent::NewListenAddr { address, .. } => {
            log.line(Level::Debug, &format!("listening on {address}"))
        }
        _ => {}
    }
}

impl Node {
    /// Starts the host, listens, and dials the `--connect` peers.
    pub async fn start(config: Config) -> Result<Node, NetError> {
        let Config {
            key,
            store,
            listen,
            connect,
            log,
            trust,
            share,
            offload,
        } = config;
        let keypair = Keypair::ed25519_from_bytes(key.seed())
            .map_err(|e| NetError::Start(format!("the key is not an Ed25519 key: {e}")))?;
        let key = std::sync::Arc::new(key);
        let peer_id = keypair.public().to_peer_id();
        let lookups_store = store.clone();
        let node_store = store.clone();
        let (behaviour, bitswap) = node_behaviour(peer_id, StoreBlocks::new(store), log.clone());
        let mut behaviour = Some(behaviour);
        let listen = if listen.is_empty() {
            vec![listen_addr(DEFAULT_LISTEN)?]
        } else {
            listen
        };
        let swarm_log_handle = log.clone();
        let builder = IpfsBuilder::<NodeBehaviour>::with_keypair(&keypair)
            .map_err(|e| NetError::Start(e.to_string()))?
            .enable_websocket()
            .with_identify(IdentifyConfiguration {
                agent_version: format!("ipvm/{}", env!("CARGO_PKG_VERSION")),
                ..Default::default()
            })
            .with_pubsub(PubsubConfig {
                // Receipts travel by CID, not in messages (see README).
                max_transmit_size: 64 * 1024,
                ..Default::default()
            })
            // The IPVM protocols, each with its own caps (ipvm_core::peer).
            .with_request_response(vec![
                ipvm_p2p::lookup::protocol(),
                RequestResponseConfig {
                    protocol: OFFLOAD_PROTOCOL.into(),
                    max_request_size: MAX_OFFLOAD_REQUEST_BYTES,
                    max_response_size: MAX_OFFLOAD_ANSWER_BYTES,
                    timeout: Some(OFFLOAD_TIMEOUT),
                    ..Default::default()
                },
                ipvm_p2p::binding::protocol(),
                RequestResponseConfig {
                    protocol: CAPACITY_PROTOCOL.into(),
                    max_request_size: MAX_CAPACITY_BYTES,
                    max_response_size: MAX_CAPACITY_BYTES,
                    timeout: Some(Duration::from_secs(5)),
                    ..Default::default()
                },
            ])
            .with_custom_behaviour(move |_| {
                behaviour
                    .take()
                    .ok_or_else(|| std::io::Error::other("the behaviour was built twice"))
            })
            .set_connection_limits(|limits| {
                limits
                    .with_max_pending_incoming(Some(64))
                    .with_max_pending_outgoing(Some(64))
                    .with_max_established_incoming(Some(512))
                    .with_max_established_per_peer(Some(4))
            })
            .set_idle_connection_timeout(60)
            .swarm_events(move |swarm, event| {
                swarm_log(&swarm_log_handle, event);
                // Reservations need the relay's addresses: each loopback or
                // given listen address is an external address.
                if let SwarmEvent::NewListenAddr { address, .. } = event {
                    swarm.add_external_address(address.clone());
                }
            })
            .set_listening_addrs(listen.clone());
        let ipfs = builder
            .start()
            .await
            .map_err(|e| NetError::Start(format!("{e:#}")))?;
        // Lookups are answered from the store as long as the host runs.
        let served = (ipfs.clone(), log.clone());
        let store = lookups_store.clone();
        let answered = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = answered.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_lookups(served.0, store, counted, served.1.clone()).await {
                served.1.line(Level::Error, &e.to_string());
            }
        });
        // Offloaded tasks and capacity, on the same count of free workers.
        let workers = Workers::new(offload.as_ref().map_or(0, |o| o.workers));
        if let Some(service) = offload {
            let (ipfs, workers, log) = (ipfs.clone(), workers.clone(), log.clone());
            tokio::spawn(async move {
                if let Err(e) = serve_offloads(ipfs, service, workers, log.clone()).await {
                    log.line(Level::Error, &e.to_string());
                }
            });
        }
        {
            let (ipfs, log) = (ipfs.clone(), log.clone());
            tokio::spawn(async move {
                if let Err(e) = serve_capacity(ipfs, workers, log.clone()).await {
                    log.line(Level::Error, &e.to_string());
                }
            });
        }
        // A peer that presents its binding (a tab: its key is not its peer
        // id's) is answered with the node's, and logged with its DID.
        {
            let (ipfs, log, key, peer) = (ipfs.clone(), log.clone(), key.clone(), peer_id);
            tokio::spawn(async move {
                let own = || {
                    let signed = futures::executor::block_on(PeerBinding::sign(
                        &*key,
                        &peer.to_string(),
                        now() + BINDING_TTL_SECS,
                    ));
                    futures::future::ready(signed.map_err(|e| e.to_string()))
                };
                let served =
                    ipvm_p2p::binding::serve(ipfs, own, now, |from, outcome| match outcome {
                        Ok(did) => {
                            log.line(Level::Info, &format!("bound {from}: speaks for {did}"))
                        }
                        Err(e) => {
                            log.line(Level::Warn, &format!("refused the binding of {from}: {e}"))
                        }
                    })
                    .await;
                if let Err(e) = served {
                    log.line(Level::Error, &e.to_string());
                }
            });
        }
        if !trust.is_empty() {
            let policy = std::sync::Arc::new(Trust::new(key.did().clone()).with_signers(trust));
            let taken = (
                ipfs.clone(),
                lookups_store.clone(),
                log.clone(),
                bitswap.clone(),
            );
            tokio::spawn(async move {
                if let Err(e) =
                    take_announcements(taken.0, taken.1, policy, taken.3, taken.2.clone()).await
                {
                    taken.2.line(Level::Error, &e.to_string());
                }
            });
        }
        if share {
            tokio::spawn(announce_new(
                ipfs.clone(),
                lookups_store,
                key.did().to_string(),
                log.clone(),
            ));
        }
        let node = Node {
            ipfs,
            bitswap,
            key,
            peer_id,
            log,
            answered,
            store: node_store,
        };
        node.wait_listening(&listen).await?;
        for addr in connect {
            node.connect(addr).await?;
        }
        Ok(node)
    }

    async fn wait_listening(&self, asked: &[Multiaddr]) -> Result<(), NetError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let addrs = self.listening().await;
            if !addrs.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(NetError::Listen {
                    addrs: asked
                        .iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    reason: "no listener came up in 10 s".into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn listening(&self) -> Vec<Multiaddr> {
        self.ipfs.listening_addresses().await.unwrap_or_default()
    }

    /// Dials a peer (`…/p2p/<peer id>`) and waits until it is connected.
    pub async fn connect(&self, addr: Multiaddr) -> Result<(), NetError> {
        let err = |reason: String| NetError::Connect {
            addr: addr.to_string(),
            reason,
        };
        let peer = match addr.iter().last() {
            Some(Protocol::P2p(p)) => p,
            _ => return Err(err("no /p2p/<peer id>".into())),
        };
        let connected =
            tokio::time::timeout(Duration::from_secs(10), self.ipfs.connect(addr.clone()))
                .await
                .map_err(|_| err("no answer in 10 s".into()))?;
        connected.map_err(|e| err(format!("{e:#}")))?;
        if !self.ipfs.is_connected(peer).await.unwrap_or(false) {
            return Err(err("the connection closed at once".into()));
        }
        Ok(())
    }

    /// The node's peer id.
    pub fn peer_id(&self) -> String {
        self.peer_id.to_string()
    }

    /// The peers it is connected to.
    pub async fn connected(&self) -> Vec<String> {
        self.ipfs
            .connected()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.to_string())
            .collect()
    }

    /// What the node says about itself: peer id, DID, its multiaddrs and
    /// its binding of the two.
    pub async fn info(&self) -> Result<Info, NetError> {
        let exp = now() + BINDING_TTL_SECS;
        let binding = PeerBinding::sign(&*self.key, &self.peer_id(), exp).await?;
        let multiaddrs = self
            .listening()
            .await
            .into_iter()
            .map(|a| a.with(Protocol::P2p(self.peer_id)).to_string())
            .collect();
        Ok(Info {
            peer_id: self.peer_id(),
            did: self.key.did().to_string(),
            multiaddrs,
            binding: multibase::encode(multibase::Base::Base64Url, binding.to_dag_cbor()?),
            binding_exp: exp,
        })
    }

    /// The block `cid`, from the store or a connected peer (verified against
    /// its CID and stored), within `within`.
    pub async fn block(&self, cid: Cid, within: Duration) -> Result<Vec<u8>, NetError> {
        self.block_by(cid, tokio::time::Instant::now() + within, within)
            .await
    }

    /// [`Node::block`] by `deadline`; a miss says `total`, the whole wait.
    async fn block_by(
        &self,
        cid: Cid,
        deadline: tokio::time::Instant,
        total: Duration,
    ) -> Result<Vec<u8>, NetError> {
        let err = |reason: String| NetError::Fetch {
            cid: cid.to_string(),
            reason,
        };
        let bytes = tokio::time::timeout_at(deadline, self.bitswap.get(cid))
            .await
            .map_err(|_| {
                err(format!(
                    "no connected peer sent it in {} s",
                    total.as_secs()
                ))
            })?
            .map_err(err)?;
        ipvm_core::address::verify_block(&cid, &bytes)?;
        Ok(bytes)
    }

    /// Fetches a whole DAG (UnixFS files, DAG-CBOR values) into the store:
    /// each block and every block it links to, by `within` in all (the
    /// core's walk: [`ipvm_core::store::fetch::fetch_dag`]). Returns how
    /// many blocks.
    pub async fn fetch_dag(&self, root: Cid, within: Duration) -> Result<usize, NetError> {
        let source = NodeSource {
            node: self,
            deadline: tokio::time::Instant::now() + within,
            total: within,
        };
        let got = ipvm_core::store::fetch::fetch_dag(&self.store, &source, root, u64::MAX).await?;
        self.log.line(
            Level::Info,
            &format!("fetched {root} ({} blocks)", got.blocks),
        );
        Ok(got.blocks)
    }

    /// Stops the host.
    pub async fn stop(self) {
        self.ipfs.exit_daemon().await;
    }

    /// The core's [`ipvm_core::peer::Peers`] over this host: the peers it
    /// is connected to, asked through `runtime` (this host's).
    pub fn peers(&self, peers: Vec<PeerId>, runtime: tokio::runtime::Handle) -> NetPeers {
        NetPeers {
            ipfs: self.ipfs.clone(),
            peers,
            runtime,
            timeout: LOOKUP_TIMEOUT,
            offload: None,
            bitswap: Some(self.bitswap.clone()),
        }
    }

    /// Its bitswap (blocks from the store or from connected peers).
    pub fn bitswap(&self) -> BitswapHandle {
        self.bitswap.clone()
    }
}

/// A node started for one command (`ipvm run --peer`): its own async
/// runtime, connected to the given peers, stopped when dropped.
pub struct Client {
    runtime: tokio::runtime::Runtime,
    node: Option<Node>,
    peers: Vec<PeerId>,
    unreachable: Vec<String>,
    offload: Option<std::sync::Arc<Offloading>>,
}

/// How a [`Client`] hands tasks to its peers (`ipvm run --offload`).
pub struct ClientOffload {
    /// The policy.
    pub mode: OffloadMode,
    /// The key that signs each invocation (the CLI's own: the DID its
    /// delegations name).
    pub signer: Ed25519Key,
    /// Delegations giving that key authority on the peers.
    pub proofs: Vec<Token>,
}

impl Client {
    /// Starts a host under `key` over `store` (listening on loopback, any
    /// port) and connects to each of `peers` (`…/p2p/<peer id>`); one that
    /// cannot be reached is left out ([`Client::unreachable`]).
    pub fn start(
        key: Ed25519Key,
        store: SqliteStore,
        peers: Vec<Multiaddr>,
        offload: Option<ClientOffload>,
    ) -> Result<Client, NetError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| NetError::Start(format!("no async runtime: {e}")))?;
        let node = runtime.block_on(Node::start(Config {
            key,
            store,
            listen: Vec::new(),
            connect: Vec::new(),
            log: Log::new(Level::Warn),
            trust: Vec::new(),
            share: false,
            offload: None,
        }))?;
        // A peer that cannot be reached is left out, and said so: the run
        // goes on without it.
        let mut ids = Vec::new();
        let mut unreachable = Vec::new();
        for addr in peers {
            match runtime.block_on(node.connect(addr.clone())) {
                Ok(()) => {
                    if let Some(Protocol::P2p(p)) = addr.iter().last() {
                        ids.push(p);
                    }
                }
                Err(e) => unreachable.push(e.to_string()),
            }
        }
        let offload =
            offload.map(|o| std::sync::Arc::new(Offloading::new(o.mode, o.signer, o.proofs)));
        let client = Client {
            runtime,
            node: Some(node),
            peers: ids,
            unreachable,
            offload,
        };
        // The peers' capacity, once, so that a run knows how many tasks to
        // keep in flight for them.
        if let Some(off) = &client.offload {
            let peers = client.peers();
            futures::executor::block_on(peers.refresh_capacity(off));
        }
        Ok(client)
    }

    /// Announces `announcements` (`ipvm run --share announce`) on the
    /// receipts topic, each sent again every 100 ms until a peer listens
    /// (at most [`PUBLISH_WITHIN`]), then stays up to serve their lookups
    /// until every announced receipt was looked up once or [`LINGER`]
    /// passed. Returns how many were published, and how many receipts the
    /// peers fetched meanwhile.
    pub fn announce(&self, announcements: &[ipvm_core::peer::messages::Announce]) -> (usize, u64) {
        #[allow(clippy::expect_used, reason = "the node is taken only by drop")]
        let node = self.node.as_ref().expect("a running client");
        self.runtime.block_on(async {
            let before = node.answered.load(std::sync::atomic::Ordering::Relaxed);
            let mut published = 0;
            for a in announcements {
                let Ok(bytes) = a.encode() else { continue };
                let until = tokio::time::Instant::now() + PUBLISH_WITHIN;
                loop {
                    match node
                        .ipfs
                        .pubsub_publish(ipvm_core::peer::messages::ANNOUNCE_TOPIC, bytes.clone())
                        .await
                    {
                        Ok(()) => {
                            published += 1;
                            break;
                        }
                        Err(_) if tokio::time::Instant::now() < until => {
                            tokio::time::sleep(Duration::from_millis(100)).await
                        }
                        Err(_) => break,
                    }
                }
            }
            let want = announcements.len() as u64;
            let until = tokio::time::Instant::now() + LINGER;
            let fetched = || node.answered.load(std::sync::atomic::Ordering::Relaxed) - before;
            while published > 0 && fetched() < want && tokio::time::Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (published, fetched())
        })
    }

    /// Why each peer that could not be reached at start was left out.
    pub fn unreachable(&self) -> &[String] {
        &self.unreachable
    }

    /// The peers, for [`ipvm_core::Runtime::with_peers`].
    pub fn peers(&self) -> NetPeers {
        #[allow(clippy::expect_used, reason = "the node is taken only by drop")]
        let node = self.node.as_ref().expect("a running client");
        let mut peers = node.peers(self.peers.clone(), self.runtime.handle().clone());
        peers.offload = self.offload.clone();
        peers
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            self.runtime.block_on(node.stop());
        }
    }
}

/// The node's bitswap as the core's block source, by one deadline for a
/// whole DAG.
struct NodeSource<'a> {
    node: &'a Node,
    deadline: tokio::time::Instant,
    total: Duration,
}

impl ipvm_core::store::fetch::BlockSource for NodeSource<'_> {
    fn block(
        &self,
        cid: Cid,
        _: Duration,
    ) -> futures::future::LocalBoxFuture<'_, Result<Vec<u8>, String>> {
        Box::pin(async move {
            self.node
                .block_by(cid, self.deadline, self.total)
                .await
                .map_err(|e| match e {
                    NetError::Fetch { reason, .. } => reason,
                    other => other.to_string(),
                })
        })
    }
}

/// What `ipvm node` does once the node is up.
pub struct Serve {
    /// Where to write the info JSON.
    pub info: Option<std::path::PathBuf>,
    /// DAGs to fetch into the store at start (`--fetch CID`).
    pub fetch: Vec<Cid>,
    /// How long each fetch may take.
    pub fetch_within: Duration,
}

/// Runs `ipvm node`: starts the node, prints and writes its info, fetches
/// what it is told to, then serves until SIGINT or SIGTERM.
pub fn serve(config: Config, serve: Serve) -> Result<(), NetError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| NetError::Start(format!("no async runtime: {e}")))?;
    runtime.block_on(async move {
        let log = config.log.clone();
        let node = Node::start(config).await?;
        let info = node.info().await?;
        println!("peer {}", info.peer_id);
        println!("did {}", info.did);
        for a in &info.multiaddrs {
            println!("listening {a}");
        }
        if let Some(path) = &serve.info {
            info.write(path)?;
        }
        for cid in serve.fetch {
            let blocks = node.fetch_dag(cid, serve.fetch_within).await?;
            println!("fetched {cid} {blocks}");
        }
        println!("ready");
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| NetError::Start(format!("cannot handle SIGTERM: {e}")))?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        log.line(Level::Info, "stopping");
        node.stop().await;
        Ok(())
    })
}
