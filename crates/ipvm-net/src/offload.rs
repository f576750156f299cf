//! Task offload and capacity on the native peer. As a runner, the node
//! answers `/ipvm/offload/0.1.0` with its own runtime ([`Runner`], given by
//! `ipvm node`): at most [`MAX_OFFLOADS_PER_PEER`] requests in flight per
//! peer and [`MAX_OFFLOADS_PER_ISSUER`] per invocation issuer, and one per
//! free worker; past any of them the answer is `busy`. It answers
//! `/ipvm/capacity/0.1.0` with its free workers, at most once per
//! [`CAPACITY_EVERY`] per peer. As an asker ([`Offloading`], inside
//! [`crate::NetPeers`]), `ipvm run --offload` signs an invocation of each
//! task the core's policy sends to a peer, and fetches a receipt too large
//! for the answer by bitswap. What the messages mean is the core's
//! (`ipvm_core::peer`). An unreadable offload request is answered
//! `refused` with its reason at once (left unanswered, it would hold its
//! stream for the protocol's 150 s), and logged; a malformed capacity
//! request is dropped (its stream ends after 5 s).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use ipvm_core::address::{cid_of, DAG_CBOR, SHA3_256};
use ipvm_core::peer::messages::{
    Capacity, Delivery, OffloadAnswer, OffloadRequest, CAPACITY_PROTOCOL, MAX_WORKERS,
    OFFLOAD_PROTOCOL,
};
use ipvm_core::peer::offload::{choose, invocation, issuer, Offer, OffloadMode};
use ipvm_core::peer::PeerOffload;
use ipvm_core::ucan::Token;
use ipvm_core::{Did, Ed25519Key, Task};
use libp2p::PeerId;
use rust_ipfs::Ipfs;
use tokio::sync::Semaphore;

use crate::log::{Level, Log};
use crate::protocols::InFlight;
use crate::NetError;

/// The most offloads one peer may have in flight on a node.
pub const MAX_OFFLOADS_PER_PEER: usize = 8;

/// The most offloads one invocation issuer may have in flight on a node,
/// whichever peers carry them.
pub const MAX_OFFLOADS_PER_ISSUER: usize = 8;

/// How long an offload may take, the task's own time limit included.
pub const OFFLOAD_TIMEOUT: Duration = Duration::from_secs(150);

/// A node answers one peer's capacity request at most this often.
pub const CAPACITY_EVERY: Duration = Duration::from_millis(100);

/// How long an asker waits for each block of a receipt fetched by bitswap.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an asker waits for a capacity answer.
const CAPACITY_TIMEOUT: Duration = Duration::from_secs(2);

/// An asker's capacity figures older than this are asked for again.
const CAPACITY_FRESH: Duration = Duration::from_millis(500);

/// How long an asker's offloaded invocation is valid (its replay is
/// refused until then).
const INVOCATION_TTL: i64 = 600;

/// A capacity request: the empty DAG-CBOR map.
pub(crate) const CAPACITY_REQUEST: [u8; 1] = [0xa0];

/// The node's runtime, running one offloaded task at a time per call on a
/// thread of its own (the call blocks).
pub trait Runner: Send + Sync + 'static {
    /// The answer to one request: the receipt, or why not.
    fn answer(&self, request: &OffloadRequest) -> OffloadAnswer;
}

/// What a node runs offloaded tasks with.
#[derive(Clone)]
pub struct OffloadService {
    /// Tasks it runs at once for peers (0: it answers every request `busy`).
    pub workers: usize,
    /// Its runtime.
    pub runner: Arc<dyn Runner>,
}

/// The node's free workers, shared by offload and capacity.
#[derive(Clone)]
pub(crate) struct Workers {
    pub(crate) free: Arc<Semaphore>,
    pub(crate) total: usize,
}

impl Workers {
    pub(crate) fn new(total: usize) -> Self {
        Self {
            free: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    fn capacity(&self) -> Capacity {
        let cap = |n: usize| u32::try_from(n.min(MAX_WORKERS as usize)).unwrap_or(0);
        Capacity {
            free: cap(self.free.available_permits()),
            workers: cap(self.total),
        }
    }
}

/// Answers offload requests until the node stops.
pub(crate) async fn serve_offloads(
    ipfs: Ipfs,
    service: OffloadService,
    workers: Workers,
    log: Log,
) -> Result<(), NetError> {
    let mut requests = ipfs
        .requests_subscribe(OFFLOAD_PROTOCOL)
        .await
        .map_err(|e| NetError::Start(format!("cannot serve {OFFLOAD_PROTOCOL}: {e:#}")))?;
    let per_peer = InFlight::<PeerId>::default();
    let per_issuer = InFlight::<Did>::default();
    while let Some((peer, id, bytes)) = requests.next().await {
        let (to, logged) = (ipfs.clone(), log.clone());
        let answer = move |answer: OffloadAnswer| {
            let ipfs = to.clone();
            let log = logged.clone();
            async move {
                match answer.encode() {
                    Ok(bytes) => {
                        if let Err(e) = ipfs
                            .send_response(peer, id, (OFFLOAD_PROTOCOL, bytes))
                            .await
                        {
                            log.line(
                                Level::Debug,
                                &format!("offload answer to {peer} not sent: {e:#}"),
                            );
                        }
                    }
                    Err(e) => log.line(Level::Error, &format!("offload answer to {peer}: {e}")),
                }
            }
        };
        let busy = |why: String| {
            log.line(Level::Warn, &format!("busy {peer}: {why}"));
            answer(OffloadAnswer::Busy)
        };
        let Some(peer_slot) = per_peer.take(peer, MAX_OFFLOADS_PER_PEER) else {
            busy(format!(
                "more than {MAX_OFFLOADS_PER_PEER} offloads in flight from this peer"
            ))
            .await;
            continue;
        };
        let request = match OffloadRequest::decode(&bytes) {
            Ok(r) => r,
            Err(e) => {
                // Answered at once, not left to time out: an unanswered
                // offload would hold its stream for the protocol's timeout.
                let why = format!("{}: {e}", e.code());
                log.line(
                    Level::Warn,
                    &format!("refused an unreadable offload from {peer}: {why}"),
                );
                answer(OffloadAnswer::Refused(why)).await;
                continue;
            }
        };
        let issuer = match issuer(&request) {
            Ok(did) => did,
            Err(why) => {
                log.line(
                    Level::Info,
                    &format!("refused an offload from {peer}: {why}"),
                );
                answer(OffloadAnswer::Refused(why)).await;
                continue;
            }
        };
        let Some(issuer_slot) = per_issuer.take(issuer.clone(), MAX_OFFLOADS_PER_ISSUER) else {
            busy(format!(
                "more than {MAX_OFFLOADS_PER_ISSUER} offloads in flight from issuer {issuer}"
            ))
            .await;
            continue;
        };
        let Ok(worker) = workers.free.clone().try_acquire_owned() else {
            busy(format!("all {} workers are busy", workers.total)).await;
            continue;
        };
        let (runner, log, reply) = (service.runner.clone(), log.clone(), answer);
        tokio::spawn(async move {
            let slots = (peer_slot, issuer_slot, worker);
            let ran = tokio::task::spawn_blocking(move || runner.answer(&request)).await;
            let out = match ran {
                Ok(out) => out,
                Err(e) => {
                    log.line(Level::Error, &format!("offload from {peer}: {e}"));
                    OffloadAnswer::Refused("the runner failed; try again".into())
                }
            };
            let said = match &out {
                OffloadAnswer::Done(d) => {
                    format!("ran it: receipt {}", cid_of(DAG_CBOR, SHA3_256, &d.receipt))
                }
                OffloadAnswer::Fetch { receipt, .. } => {
                    format!("ran it: receipt {receipt} (by bitswap)")
                }
                OffloadAnswer::Refused(why) => format!("refused: {why}"),
                OffloadAnswer::Busy => "busy".into(),
            };
            log.line(
                Level::Info,
                &format!("offload from {peer} (issuer {issuer}): {said}"),
            );
            // The worker and the quotas are free before the answer leaves: an
            // asker that sends its next task on this answer finds them free.
            drop(slots);
            reply(out).await;
        });
    }
    Ok(())
}

/// Answers capacity requests until the node stops: at most one per
/// [`CAPACITY_EVERY`] per peer; the others, and malformed ones, dropped.
pub(crate) async fn serve_capacity(ipfs: Ipfs, workers: Workers, log: Log) -> Result<(), NetError> {
    let mut requests = ipfs
        .requests_subscribe(CAPACITY_PROTOCOL)
        .await
        .map_err(|e| NetError::Start(format!("cannot serve {CAPACITY_PROTOCOL}: {e:#}")))?;
    let mut last: HashMap<PeerId, Instant> = HashMap::new();
    while let Some((peer, id, bytes)) = requests.next().await {
        if bytes[..] != CAPACITY_REQUEST[..] {
            log.line(
                Level::Warn,
                &format!("dropped a capacity request from {peer}: malformed: not the empty map"),
            );
            continue;
        }
        let now = Instant::now();
        if last.len() > 4096 {
            last.retain(|_, t| now.duration_since(*t) < CAPACITY_EVERY);
        }
        if last
            .get(&peer)
            .is_some_and(|t| now.duration_since(*t) < CAPACITY_EVERY)
        {
            log.line(
                Level::Debug,
                &format!(
                    "dropped a capacity request from {peer}: more than one per {} ms",
                    CAPACITY_EVERY.as_millis()
                ),
            );
            continue;
        }
        last.insert(peer, now);
        match workers.capacity().encode() {
            Ok(bytes) => {
                let ipfs = ipfs.clone();
                tokio::spawn(async move {
                    let _ = ipfs
                        .send_response(peer, id, (CAPACITY_PROTOCOL, bytes))
                        .await;
                });
            }
            Err(e) => log.line(Level::Error, &format!("capacity answer to {peer}: {e}")),
        }
    }
    Ok(())
}

/// What an asker knows of a peer: its last capacity and when it said it,
/// and this asker's tasks in flight on it.
pub(crate) type Known = (Option<(Capacity, Instant)>, u32);

/// What an asker offloads with: its policy, its key and the delegations
/// that give it authority on its peers, and what it knows of each peer.
pub struct Offloading {
    pub(crate) mode: OffloadMode,
    pub(crate) signer: Ed25519Key,
    pub(crate) proofs: Vec<Token>,
    pub(crate) offers: Mutex<HashMap<PeerId, Known>>,
    /// Per peer, as many offloads in flight as it has workers: the others
    /// wait here rather than be answered `busy`.
    pub(crate) gates: Mutex<HashMap<PeerId, Arc<Semaphore>>>,
    pub(crate) nonce: AtomicU64,
}

impl Offloading {
    /// An asker's policy, the key that signs its invocations, and the
    /// delegations that give that key authority on its peers.
    pub fn new(mode: OffloadMode, signer: Ed25519Key, proofs: Vec<Token>) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Self {
            mode,
            signer,
            proofs,
            offers: Mutex::new(HashMap::new()),
            gates: Mutex::new(HashMap::new()),
            nonce: AtomicU64::new(seed ^ u64::from(std::process::id()) << 32),
        }
    }
}

/// A peer's DID from its peer id (an Ed25519 key inlined in the id).
pub(crate) fn did_of(peer: &PeerId) -> Result<Did, String> {
    let key = libp2p::identity::PublicKey::try_decode_protobuf(peer.as_ref().digest())
        .map_err(|_| format!("{peer}: its peer id carries no public key"))?;
    let ed = key
        .try_into_ed25519()
        .map_err(|_| format!("{peer}: not an Ed25519 key"))?;
    Ok(Did::from_public_key(ed.to_bytes()))
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl crate::NetPeers {
    /// Asks `peer` for its capacity (on the host's threads).
    async fn ask_capacity(&self, peer: PeerId) -> Option<Capacity> {
        let ipfs = self.ipfs.clone();
        let sent = self.runtime.spawn(async move {
            tokio::time::timeout(
                CAPACITY_TIMEOUT,
                ipfs.send_request(peer, (CAPACITY_PROTOCOL, CAPACITY_REQUEST.to_vec())),
            )
            .await
        });
        match sent.await {
            Ok(Ok(Ok(bytes))) => Capacity::decode(&bytes).ok(),
            _ => None,
        }
    }

    /// Asks each peer whose figures are stale for its capacity.
    pub(crate) async fn refresh_capacity(&self, off: &Offloading) {
        let stale: Vec<PeerId> = {
            let offers = off.offers.lock().unwrap_or_else(|e| e.into_inner());
            self.peers
                .iter()
                .filter(|p| {
                    offers
                        .get(p)
                        .and_then(|o| o.0)
                        .is_none_or(|(_, at)| at.elapsed() > CAPACITY_FRESH)
                })
                .copied()
                .collect()
        };
        let answers = futures::future::join_all(stale.iter().map(|p| self.ask_capacity(*p))).await;
        let mut offers = off.offers.lock().unwrap_or_else(|e| e.into_inner());
        for (peer, cap) in stale.into_iter().zip(answers) {
            let entry = offers.entry(peer).or_insert((None, 0));
            entry.0 = cap.map(|c| (c, Instant::now())).or(entry.0);
        }
    }

    /// How many tasks the peers may run at once, as they last said.
    pub(crate) fn slots(&self, off: &Offloading) -> usize {
        let offers = off.offers.lock().unwrap_or_else(|e| e.into_inner());
        let free: usize = self
            .peers
            .iter()
            .filter_map(|p| offers.get(p).and_then(|o| o.0))
            .map(|(c, _)| c.free as usize)
            .sum();
        match off.mode {
            OffloadMode::Never => 0,
            OffloadMode::Auto => free.min(64),
            OffloadMode::Always => free.clamp(self.peers.len().min(64), 64),
        }
    }

    /// Offers `task` to a peer, if the policy sends it to one.
    pub(crate) async fn offer(
        &self,
        off: &Offloading,
        task: &Task,
        saturated: bool,
    ) -> Option<PeerOffload> {
        if off.mode == OffloadMode::Never || self.peers.is_empty() {
            return None;
        }
        if off.mode == OffloadMode::Auto && !saturated {
            return None;
        }
        self.refresh_capacity(off).await;
        let peer = {
            let mut offers = off.offers.lock().unwrap_or_else(|e| e.into_inner());
            let list: Vec<Offer> = self
                .peers
                .iter()
                .map(|p| {
                    let o = offers.get(p).copied().unwrap_or((None, 0));
                    Offer {
                        capacity: o.0.map(|(c, _)| c),
                        in_flight: o.1,
                    }
                })
                .collect();
            let k = choose(off.mode, saturated, &list)?;
            let peer = self.peers[k];
            offers.entry(peer).or_insert((None, 0)).1 += 1;
            let workers = list[k].capacity.map_or(1, |c| c.workers.max(1));
            let gate = off
                .gates
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(peer)
                .or_insert_with(|| Arc::new(Semaphore::new(workers as usize)))
                .clone();
            (peer, gate)
        };
        let (peer, gate) = peer;
        let answer = match gate.acquire_owned().await {
            Ok(_permit) => self.offload_to(off, peer, task).await,
            Err(_) => Err("the peer's gate closed".into()),
        };
        let mut offers = off.offers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(o) = offers.get_mut(&peer) {
            o.1 = o.1.saturating_sub(1);
        }
        Some(PeerOffload {
            peer: peer.to_string(),
            answer,
        })
    }

    async fn offload_to(
        &self,
        off: &Offloading,
        peer: PeerId,
        task: &Task,
    ) -> Result<Delivery, String> {
        let aud = did_of(&peer)?;
        let nonce = off
            .nonce
            .fetch_add(1, Ordering::Relaxed)
            .to_le_bytes()
            .to_vec();
        let token = invocation(
            &off.signer,
            task,
            aud,
            &off.proofs,
            now_s() + INVOCATION_TTL,
            nonce,
        )
        .await
        .map_err(|e| format!("the invocation could not be signed: {e}"))?;
        let bytes = ipvm_core::peer::messages::OffloadRequest {
            invocation: token.bytes,
            proofs: off.proofs.iter().map(|t| t.bytes.clone()).collect(),
        }
        .encode()
        .map_err(|e| format!("the request could not be written: {e}"))?;
        let within = Duration::from_millis(task.limits.time_ms())
            .saturating_add(Duration::from_secs(30))
            .min(OFFLOAD_TIMEOUT);
        let ipfs = self.ipfs.clone();
        let sent = self.runtime.spawn(async move {
            tokio::time::timeout(within, ipfs.send_request(peer, (OFFLOAD_PROTOCOL, bytes))).await
        });
        let bytes = match sent.await {
            Err(e) => return Err(format!("the request failed: {e}")),
            Ok(Err(_)) => return Err(format!("no answer in {} s", within.as_secs())),
            Ok(Ok(Err(e))) => return Err(format!("no answer: {e:#}")),
            Ok(Ok(Ok(bytes))) => bytes,
        };
        match OffloadAnswer::decode(&bytes) {
            Ok(OffloadAnswer::Done(d)) => Ok(d),
            Ok(OffloadAnswer::Fetch { receipt, envelope }) => {
                let (receipt, invocation) = self.fetch_receipt(receipt).await?;
                Ok(Delivery {
                    receipt,
                    invocation,
                    envelopes: vec![envelope],
                })
            }
            Ok(OffloadAnswer::Refused(why)) => Err(format!("refused: {why}")),
            Ok(OffloadAnswer::Busy) => Err("busy".into()),
            Err(e) => Err(format!("its answer is refused: {}: {e}", e.code())),
        }
    }

    /// [`fetch_receipt`] on the host's threads.
    pub(crate) async fn fetch_receipt(
        &self,
        receipt: ipvm_core::Cid,
    ) -> Result<(Vec<u8>, Vec<u8>), String> {
        let Some(bitswap) = self.bitswap.clone() else {
            return Err("this client has no bitswap".into());
        };
        self.runtime
            .spawn(fetch_receipt(bitswap, receipt))
            .await
            .map_err(|e| format!("receipt {receipt}: {e}"))?
    }
}

/// A receipt too large for an answer, and the invocation it names, by
/// bitswap from the connected peers (each block checked against its CID,
/// each within [`FETCH_TIMEOUT`]; `ipvm_p2p::lookup::fetch_receipt`): the
/// receipt's bytes and the invocation's. On a tokio runtime.
pub(crate) async fn fetch_receipt(
    bitswap: crate::BitswapHandle,
    receipt: ipvm_core::Cid,
) -> Result<(Vec<u8>, Vec<u8>), String> {
    let block = |cid: ipvm_core::Cid| {
        let bitswap = bitswap.clone();
        async move {
            match tokio::time::timeout(FETCH_TIMEOUT, bitswap.get(cid)).await {
                Ok(Ok(bytes)) => Ok(bytes),
                Ok(Err(e)) => Err(format!("by bitswap: {e}")),
                Err(_) => Err(format!("no peer sent it in {} s", FETCH_TIMEOUT.as_secs())),
            }
        }
    };
    ipvm_p2p::lookup::fetch_receipt(receipt, block).await
}
