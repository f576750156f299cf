//! The IPVM protocols on the node: it answers receipt lookups from its
//! store; with `--share announce` it announces the receipts computed in its
//! store; it takes the announcements of signers it trusts (fetching each
//! receipt by lookup from its announcer); and, as a client, it asks its
//! peers before a run executes ([`NetPeers`], the core's [`Peers`]). What a message means and whether it
//! is accepted is the core's (`ipvm_core::peer`); this module carries the
//! bytes, bounds what is in flight per peer, and logs every refusal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::LocalBoxFuture;
use futures::StreamExt;
use ipvm_core::peer::announce::Announcements;
use ipvm_core::peer::deliver::{accept, answer_lookup, store_received};
use ipvm_core::peer::messages::{
    Announce, LookupAnswer, LookupEntry, LookupRequest, ANNOUNCE_TOPIC, LOOKUP_PROTOCOL,
    MAX_LOOKUP_BATCH,
};
use ipvm_core::peer::wire::WireError;
use ipvm_core::peer::{PeerAnswer, Peers};
use ipvm_core::Cid;
use ipvm_core::Trust;
use ipvm_store::SqliteStore;
use libp2p::PeerId;
use rust_ipfs::Ipfs;

use crate::log::{Level, Log};
use crate::NetError;

pub use ipvm_p2p::lookup::{LOOKUP_TIMEOUT, MAX_FETCHED_PER_ANSWER};

/// The most lookups one peer may have in flight here; past it, `busy`.
pub const MAX_LOOKUPS_IN_FLIGHT: usize = 4;

/// How often a sharing node looks for new receipts to announce.
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(1);

/// The most receipts announced per look.
const ANNOUNCE_BATCH: usize = 256;

/// The most lookups of announced receipts in flight at once; past it, an
/// announcer's batch is dropped (logged).
const MAX_FETCHES: usize = 16;

/// How long the announcements of one announcer are gathered before their
/// receipts are fetched in one lookup.
pub const GATHER_FOR: Duration = Duration::from_millis(200);

/// The most rows received from peers a node keeps; past it (or past
/// [`MAX_RECEIVED_BYTES`]), a new announced receipt is dropped, logged.
/// Rows computed, verified or vouched for are never evicted to make room.
pub const MAX_RECEIVED_ROWS: u64 = 100_000;

/// The most bytes of receipts received from peers a node keeps.
pub const MAX_RECEIVED_BYTES: u64 = 1 << 30;

/// What the node holds from peers: rows and bytes, read from the store at
/// start and counted up as it takes more.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<(u64, u64)>>);

impl Received {
    /// Room for one more receipt of `bytes`, or why not.
    fn room(&self, bytes: u64) -> Result<(), String> {
        let (rows, held) = *self.0.lock().unwrap_or_else(|e| e.into_inner());
        if rows >= MAX_RECEIVED_ROWS {
            return Err(format!("the store holds {rows} received receipts, its cap"));
        }
        if held + bytes > MAX_RECEIVED_BYTES {
            return Err(format!(
                "the store holds {held} bytes of received receipts; {bytes} more would pass its cap of {MAX_RECEIVED_BYTES}"
            ));
        }
        Ok(())
    }

    fn add(&self, bytes: u64) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        t.0 += 1;
        t.1 += bytes;
    }
}

/// Requests in flight per key (a peer, an issuer), released when a
/// request's answer is sent.
#[derive(Clone)]
pub(crate) struct InFlight<K>(Arc<Mutex<HashMap<K, usize>>>);

impl<K> Default for InFlight<K> {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(HashMap::new())))
    }
}

impl<K: std::hash::Hash + Eq + Clone> InFlight<K> {
    /// Takes a slot for `key`, or `None` past `cap`.
    pub(crate) fn take(&self, key: K, cap: usize) -> Option<Slot<K>> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(key.clone()).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(Slot {
            keys: self.clone(),
            key,
        })
    }
}

/// A request's place in [`InFlight`]; dropping it frees the place.
pub(crate) struct Slot<K: std::hash::Hash + Eq + Clone> {
    keys: InFlight<K>,
    key: K,
}

impl<K: std::hash::Hash + Eq + Clone> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut map = self.keys.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

/// Answers receipt lookups from `store` until the node stops (counting the
/// instructions it answered in `answered`): each request
/// is read under the protocol's caps, answered with what the store would
/// answer its own memo with, and past [`MAX_LOOKUPS_IN_FLIGHT`] per peer
/// answered `busy`. A malformed request is dropped unanswered, logged.
pub(crate) async fn serve_lookups(
    ipfs: Ipfs,
    store: SqliteStore,
    answered: Arc<std::sync::atomic::AtomicU64>,
    log: Log,
) -> Result<(), NetError> {
    let mut requests = ipfs
        .requests_subscribe(LOOKUP_PROTOCOL)
        .await
        .map_err(|e| NetError::Start(format!("cannot serve {LOOKUP_PROTOCOL}: {e:#}")))?;
    let in_flight = InFlight::<PeerId>::default();
    while let Some((peer, id, bytes)) = requests.next().await {
        let Some(slot) = in_flight.take(peer, MAX_LOOKUPS_IN_FLIGHT) else {
            log.line(
                Level::Warn,
                &format!("busy {peer}: more than {MAX_LOOKUPS_IN_FLIGHT} lookups in flight"),
            );
            let _ = ipfs
                .send_response(peer, id, (LOOKUP_PROTOCOL, LookupAnswer::busy()))
                .await;
            continue;
        };
        let request = match LookupRequest::decode(&bytes) {
            Ok(r) => r,
            Err(e) => {
                log.line(
                    Level::Warn,
                    &format!("dropped a lookup from {peer}: {}: {e}", e.code()),
                );
                continue;
            }
        };
        let (ipfs, store, log, counted) =
            (ipfs.clone(), store.clone(), log.clone(), answered.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let asked = request.instructions.len();
            // The store's calls are synchronous SQLite: off the async threads.
            let answered = tokio::task::spawn_blocking(move || {
                futures::executor::block_on(answer_lookup(&store, &request))
            })
            .await;
            let bytes = match answered {
                Ok(Ok(answer)) => {
                    let found = answer
                        .entries
                        .iter()
                        .filter(|e| !matches!(e, ipvm_core::peer::messages::LookupEntry::None))
                        .count();
                    log.line(
                        Level::Debug,
                        &format!("lookup from {peer}: {found} of {asked} instructions answered"),
                    );
                    counted.fetch_add(found as u64, std::sync::atomic::Ordering::Relaxed);
                    answer.encode()
                }
                Ok(Err(e)) => {
                    log.line(
                        Level::Error,
                        &format!("lookup from {peer}: the store failed: {e}"),
                    );
                    return;
                }
                Err(e) => {
                    log.line(Level::Error, &format!("lookup from {peer}: {e}"));
                    return;
                }
            };
            match bytes {
                Ok(bytes) => {
                    if let Err(e) = ipfs.send_response(peer, id, (LOOKUP_PROTOCOL, bytes)).await {
                        log.line(
                            Level::Debug,
                            &format!("lookup answer to {peer} not sent: {e:#}"),
                        );
                    }
                }
                Err(e) => log.line(Level::Error, &format!("lookup answer to {peer}: {e}")),
            }
        });
    }
    Ok(())
}

/// The peers `ipvm run --peer` asks, over the client's libp2p host: one
/// request per ready set to each peer, each within [`LOOKUP_TIMEOUT`].
#[derive(Clone)]
pub struct NetPeers {
    pub(crate) ipfs: Ipfs,
    pub(crate) peers: Vec<PeerId>,
    pub(crate) runtime: tokio::runtime::Handle,
    pub(crate) timeout: Duration,
    /// How it offloads tasks, if it does.
    pub(crate) offload: Option<Arc<crate::offload::Offloading>>,
    /// Its bitswap, to fetch receipts too large for an answer.
    pub(crate) bitswap: Option<crate::BitswapHandle>,
}

impl Peers for NetPeers {
    fn lookup<'s>(&'s self, request: LookupRequest) -> LocalBoxFuture<'s, Vec<PeerAnswer>> {
        Box::pin(async move {
            let asked = request.instructions.len();
            let bytes = match request.encode() {
                Ok(b) => b,
                Err(e) => {
                    return self
                        .peers
                        .iter()
                        .map(|p| PeerAnswer {
                            peer: p.to_string(),
                            answer: Err(format!("the request could not be written: {e}")),
                        })
                        .collect()
                }
            };
            // Every peer at once, on the host's threads; this run's thread waits.
            let pending: Vec<_> = self
                .peers
                .iter()
                .map(|peer| {
                    let (ipfs, bytes, peer, timeout) =
                        (self.ipfs.clone(), bytes.clone(), *peer, self.timeout);
                    let sent = self.runtime.spawn(async move {
                        tokio::time::timeout(
                            timeout,
                            ipfs.send_request(peer, (LOOKUP_PROTOCOL, bytes)),
                        )
                        .await
                    });
                    (peer, sent)
                })
                .collect();
            let mut answers = Vec::with_capacity(pending.len());
            for (peer, sent) in pending {
                let answer =
                    match sent.await {
                        Err(e) => Err(format!("the request failed: {e}")),
                        Ok(Err(_)) => Err(format!("no answer in {} s", self.timeout.as_secs())),
                        Ok(Ok(Err(e))) => Err(format!("no answer: {e:#}")),
                        Ok(Ok(Ok(bytes))) => match ipvm_p2p::lookup::read_answer(&bytes, asked) {
                            Ok(a) => Ok(ipvm_p2p::lookup::fetch_too_large(a, |cid| {
                                self.fetch_receipt(cid)
                            })
                            .await),
                            Err(e) => Err(e),
                        },
                    };
                answers.push(PeerAnswer {
                    peer: peer.to_string(),
                    answer,
                });
            }
            answers
        })
    }

    fn offload<'s>(
        &'s self,
        task: &'s ipvm_core::Task,
        saturated: bool,
    ) -> LocalBoxFuture<'s, Option<ipvm_core::peer::PeerOffload>> {
        Box::pin(async move {
            let off = self.offload.as_ref()?;
            self.offer(off, task, saturated).await
        })
    }

    fn offload_slots(&self) -> usize {
        self.offload.as_ref().map_or(0, |off| self.slots(off))
    }
}

/// Announces, every [`ANNOUNCE_EVERY`], the receipts computed in the store
/// since the node started that carry the node's own envelope (`did`):
/// instruction, receipt CID and that envelope, never the receipt.
pub(crate) async fn announce_new(ipfs: Ipfs, store: SqliteStore, did: String, log: Log) {
    let mut after = match store.last_stored() {
        Ok(n) => n,
        Err(e) => {
            log.line(Level::Error, &format!("announce: the store failed: {e}"));
            return;
        }
    };
    let mut tick = tokio::time::interval(ANNOUNCE_EVERY);
    loop {
        tick.tick().await;
        let read = store.clone();
        let rows =
            match tokio::task::spawn_blocking(move || read.computed_since(after, ANNOUNCE_BATCH))
                .await
            {
                Ok(Ok(rows)) => rows,
                Ok(Err(e)) => {
                    log.line(Level::Error, &format!("announce: the store failed: {e}"));
                    continue;
                }
                Err(e) => {
                    log.line(Level::Error, &format!("announce: {e}"));
                    continue;
                }
            };
        for (stored, row) in rows {
            after = after.max(stored);
            let Ok(row) = row else { continue };
            let Some(i) = row.signers.iter().position(|s| *s == did) else {
                continue;
            };
            let announce = Announce {
                instruction: row.instruction,
                receipt: row.cid,
                envelope: row.envelopes[i].clone(),
            };
            match announce.encode() {
                Ok(bytes) => match ipfs.pubsub_publish(ANNOUNCE_TOPIC, bytes).await {
                    Ok(()) => log.line(Level::Debug, &format!("announced receipt {}", row.cid)),
                    Err(e) => log.line(
                        Level::Debug,
                        &format!("announce of receipt {} not sent: {e:#}", row.cid),
                    ),
                },
                Err(e) => log.line(
                    Level::Error,
                    &format!("announce of receipt {}: {e}", row.cid),
                ),
            }
        }
    }
}

/// Takes announcements until the node stops: each is checked (its envelope
/// valid for its receipt, its signer trusted, not a replay); those of one
/// announcer are gathered for [`GATHER_FOR`] (or until a lookup's worth)
/// and their receipts fetched in one lookup from the announcer, then taken
/// under the trust policy ([`accept`]) in one write. Whatever is dropped is
/// logged with its reason.
pub(crate) async fn take_announcements(
    ipfs: Ipfs,
    store: SqliteStore,
    trust: Arc<Trust>,
    bitswap: crate::BitswapHandle,
    log: Log,
) -> Result<(), NetError> {
    let fail =
        |e: rust_ipfs::Error| NetError::Start(format!("cannot listen on {ANNOUNCE_TOPIC}: {e:#}"));
    ipfs.pubsub_subscribe(ANNOUNCE_TOPIC).await.map_err(fail)?;
    let mut events = ipfs.pubsub_listener(ANNOUNCE_TOPIC).await.map_err(fail)?;
    let mut seen = Announcements::new();
    let totals = store
        .received_totals()
        .map_err(|e| NetError::Start(format!("cannot count received receipts: {e}")))?;
    let fetch = Fetch {
        ipfs: ipfs.clone(),
        store,
        trust: trust.clone(),
        log: log.clone(),
        received: Received(Arc::new(Mutex::new(totals))),
        slots: Arc::new(tokio::sync::Semaphore::new(MAX_FETCHES)),
        bitswap,
    };
    let mut gathered: HashMap<PeerId, Vec<Announce>> = HashMap::new();
    let mut tick = tokio::time::interval(GATHER_FOR);
    loop {
        tokio::select! {
            event = events.next() => {
                let Some(event) = event else { break };
                let connexa::prelude::GossipsubEvent::Message { message } = event else {
                    continue;
                };
                let from = message.source.unwrap_or(message.propagated_source);
                let announce = match Announce::decode(&message.data) {
                    Ok(a) => a,
                    Err(e) => {
                        log.line(
                            Level::Warn,
                            &format!("dropped an announcement from {from}: {}: {e}", e.code()),
                        );
                        continue;
                    }
                };
                if let Err(why) = seen.check(&announce, &trust) {
                    log.line(
                        Level::Info,
                        &format!("dropped an announcement from {from}: {}: {why}", why.code()),
                    );
                    continue;
                }
                let batch = gathered.entry(from).or_default();
                batch.push(announce);
                if batch.len() == MAX_LOOKUP_BATCH {
                    let batch = std::mem::take(batch);
                    fetch.start(from, batch);
                }
            }
            _ = tick.tick() => {
                for (from, batch) in gathered.drain() {
                    fetch.start(from, batch);
                }
            }
        }
    }
    Ok(())
}

/// What fetching announced receipts needs.
#[derive(Clone)]
struct Fetch {
    ipfs: Ipfs,
    store: SqliteStore,
    trust: Arc<Trust>,
    log: Log,
    received: Received,
    slots: Arc<tokio::sync::Semaphore>,
    bitswap: crate::BitswapHandle,
}

impl Fetch {
    /// Fetches one announcer's batch in a task of its own, if a slot is free.
    fn start(&self, from: PeerId, batch: Vec<Announce>) {
        if batch.is_empty() {
            return;
        }
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            self.log.line(
                Level::Warn,
                &format!(
                    "dropped {} announcements from {from}: busy: {MAX_FETCHES} fetches in flight",
                    batch.len()
                ),
            );
            return;
        };
        let fetch = self.clone();
        tokio::spawn(async move {
            let _slot = slot;
            fetch.batch(from, batch).await;
        });
    }

    /// One lookup for the batch's instructions (asked again after a while
    /// if the announcer is busy), then each receipt checked and the taken
    /// ones stored in one write.
    async fn batch(&self, from: PeerId, batch: Vec<Announce>) {
        let log = &self.log;
        let mut instructions: Vec<Cid> = Vec::new();
        for a in &batch {
            if !instructions.contains(&a.instruction) {
                instructions.push(a.instruction);
            }
        }
        let entries = match self.lookup(from, &instructions).await {
            Ok(entries) => entries,
            Err(why) => {
                for a in &batch {
                    log.line(
                        Level::Info,
                        &format!(
                            "announced receipt {} from {from} not taken: {why}",
                            a.receipt
                        ),
                    );
                }
                return;
            }
        };
        let mut taken = Vec::new();
        for a in batch {
            let entry = instructions
                .iter()
                .position(|c| *c == a.instruction)
                .and_then(|k| entries.get(k));
            let delivery = match entry {
                Some(LookupEntry::Found(deliveries)) => deliveries.iter().find(|d| {
                    ipvm_core::address::cid_of(
                        ipvm_core::address::DAG_CBOR,
                        ipvm_core::address::SHA3_256,
                        &d.receipt,
                    ) == a.receipt
                }),
                _ => None,
            };
            // Past 1 MiB it was named, not sent: fetched by bitswap.
            let fetched = match (delivery, entry) {
                (None, Some(LookupEntry::TooLarge(named))) => {
                    match named.iter().find(|o| o.receipt == a.receipt) {
                        Some(o) => {
                            match crate::offload::fetch_receipt(self.bitswap.clone(), o.receipt)
                                .await
                            {
                                Ok((receipt, invocation)) => {
                                    Some(ipvm_core::peer::messages::Delivery {
                                        receipt,
                                        invocation,
                                        envelopes: o.envelopes.clone(),
                                    })
                                }
                                Err(why) => {
                                    log.line(
                                        Level::Info,
                                        &format!(
                                            "announced receipt {} from {from} not taken: {why}",
                                            a.receipt
                                        ),
                                    );
                                    continue;
                                }
                            }
                        }
                        None => None,
                    }
                }
                (d, _) => d.cloned(),
            };
            let Some(delivery) = fetched else {
                log.line(
                    Level::Info,
                    &format!(
                        "announced receipt {} from {from} not taken: the announcer does not give it",
                        a.receipt
                    ),
                );
                continue;
            };
            let size = delivery.receipt.len() as u64;
            if let Err(why) = self.received.room(size) {
                log.line(
                    Level::Warn,
                    &format!(
                        "announced receipt {} from {from} not taken: {why}",
                        a.receipt
                    ),
                );
                continue;
            }
            taken.push((a, delivery, size));
        }
        let (store, trust) = (self.store.clone(), self.trust.clone());
        let checked = tokio::task::spawn_blocking(move || {
            futures::executor::block_on(async {
                let mut rows = Vec::new();
                let mut said = Vec::new();
                for (a, delivery, size) in taken {
                    match accept(&store, &trust, &a.instruction, &delivery).await {
                        Ok(Ok(row)) => {
                            rows.push(row);
                            said.push((a.receipt, Ok(size)));
                        }
                        Ok(Err(unused)) => {
                            said.push((a.receipt, Err(format!("{}: {unused}", unused.code()))))
                        }
                        Err(e) => said.push((a.receipt, Err(format!("the store failed: {e}")))),
                    }
                }
                let stored = store_received(&store, rows)
                    .await
                    .map_err(|e| e.to_string());
                (said, stored)
            })
        })
        .await;
        match checked {
            Ok((said, Ok(()))) => {
                for (receipt, result) in said {
                    match result {
                        Ok(size) => {
                            self.received.add(size);
                            log.line(
                                Level::Info,
                                &format!("took receipt {receipt} announced by {from}"),
                            );
                        }
                        Err(why) => log.line(
                            Level::Info,
                            &format!("announced receipt {receipt} from {from} not taken: {why}"),
                        ),
                    }
                }
            }
            Ok((_, Err(e))) => log.line(
                Level::Error,
                &format!("announced receipts from {from} not stored: {e}"),
            ),
            Err(e) => log.line(
                Level::Error,
                &format!("announced receipts from {from}: {e}"),
            ),
        }
    }

    /// A lookup of `instructions` from `from`: its entries, or why none
    /// came. A `busy` announcer is asked again, up to three times.
    async fn lookup(&self, from: PeerId, instructions: &[Cid]) -> Result<Vec<LookupEntry>, String> {
        let bytes = LookupRequest {
            instructions: instructions.to_vec(),
        }
        .encode()
        .map_err(|e| e.to_string())?;
        for attempt in 1..=4 {
            let answer = tokio::time::timeout(
                LOOKUP_TIMEOUT,
                self.ipfs
                    .send_request(from, (LOOKUP_PROTOCOL, bytes.clone())),
            )
            .await
            .map_err(|_| format!("no answer in {} s", LOOKUP_TIMEOUT.as_secs()))?
            .map_err(|e| format!("no answer: {e:#}"))?;
            match LookupAnswer::decode(&answer, instructions.len()) {
                Ok(a) => return Ok(a.entries),
                Err(WireError::Busy) if attempt < 4 => {
                    tokio::time::sleep(Duration::from_millis(250 * attempt)).await
                }
                Err(e) => return Err(format!("{}: {e}", e.code())),
            }
        }
        Err("busy".into())
    }
}
