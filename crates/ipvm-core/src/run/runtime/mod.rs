//! The runtime: one place that runs workflows for an IPVM node, whatever
//! its platform. It owns the store, the executor, the identity (a
//! [`Signer`] from [`Settings`]), the trust policy and its distrust state,
//! the authority and its seen-set ([`SeenInvocations`]), the scheduler,
//! `verify` and spot-checks, admission of UCAN invocations, and CAR import
//! and export. The tab and the CLI build one from their platform's
//! capabilities and translate its answers; they decide nothing.
//!
//! The identity is opened on first use: the key is loaded (or made), the
//! kept trust state is read back, and if the trusted set differs from the
//! one the rows were decided for, the rows of the signers concerned are
//! decided again. A spot-check's distrust is kept at once, merged with
//! what other runtimes of the store kept.
//!
//! The parts: this file (building, identity and trust), [`ops`] (runs,
//! verification, lookups, files, archives), [`invocation`] (tokens and
//! admission) and `fetching` (what a task needs, fetched just before it
//! executes; feature `fetch`).

use std::cell::RefCell;
use std::rc::Rc;

use crate::auth::envelope::{check_receipt, ReceiptCheck};
use crate::auth::identity::{Did, Signer};
use crate::auth::trust::Trust;
use crate::auth::ucan::wasm::Authority;
use crate::peer::binding::PeerBinding;
use crate::peer::Peers;
use crate::run::coordinate::Uncoordinated;
use crate::store::car::{check as check_archive, ArchiveCheck};
#[cfg(feature = "fetch")]
use crate::store::fetch::BlockSource;
use crate::store::memo::Quarantine;
use crate::store::seen::MemorySeen;
use crate::store::settings::{Settings, TrustState};
use crate::store::vouching::reconsider;
use crate::store::ReceiptStore;
use crate::CoreError;

#[cfg(feature = "fetch")]
mod fetching;
pub mod invocation;
pub mod offload;
pub mod ops;

#[cfg(feature = "fetch")]
use fetching::Fetching;

pub use invocation::{Call, Grant, InvocationError};
pub use offload::OffloadRules;

/// What the runtime is told about trust when it is built.
#[derive(Debug, Clone, Default)]
pub struct TrustOptions {
    /// Signers whose envelopes vouch for receipts (besides this runtime's).
    pub signers: Vec<Did>,
    /// The share (0 to 1) of reused receipts from others to re-run.
    pub verify_rate: f64,
    /// Starts the spot-check draws (from the platform's generator).
    pub seed: u64,
    /// DIDs whose authority invocations may run under (besides this
    /// runtime's).
    pub authorities: Vec<Did>,
}

/// The runtime's key, trust policy and authority, opened on first use.
#[derive(Debug)]
pub struct Identity<G> {
    signer: G,
    trust: Trust,
    authority: Authority,
}

impl<G: Signer> Identity<G> {
    /// The key this runtime signs with.
    pub fn signer(&self) -> &G {
        &self.signer
    }

    /// This runtime's DID.
    pub fn did(&self) -> &Did {
        self.signer.did()
    }

    /// The trust policy.
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// Who may have this runtime run a task.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The policy's state to keep.
    fn state(&self) -> TrustState {
        let distrusted = self.trust.distrusted();
        TrustState {
            applied: self
                .trust
                .signers()
                .into_iter()
                .filter(|d| !distrusted.contains_key(d))
                .collect(),
            distrusted,
        }
    }
}

/// An IPVM runtime over a store `S`, an executor `E`, settings `K`, a
/// seen-set `N`, run records `R`, and the lock `L` and announcer `A` it
/// shares a store with other runtimes through.
pub struct Runtime<S, E, K: Settings, N = MemorySeen, R = (), L = Uncoordinated, A = Uncoordinated>
{
    store: S,
    executor: E,
    settings: K,
    seen: N,
    runs: R,
    lock: L,
    announcer: A,
    options: TrustOptions,
    parallelism: usize,
    quarantine: Quarantine,
    identity: RefCell<Option<Rc<Identity<K::Signer>>>>,
    peers: RefCell<Option<Rc<dyn Peers>>>,
    #[cfg(feature = "fetch")]
    fetching: Fetching,
}

impl<S, E, K: Settings> Runtime<S, E, K> {
    /// A runtime that keeps its seen-set in memory, keeps no run records,
    /// runs up to 8 tasks at once, uncoordinated, and trusts only itself.
    pub fn new(store: S, executor: E, settings: K) -> Self {
        Runtime {
            store,
            executor,
            settings,
            seen: MemorySeen::new(),
            runs: (),
            lock: Uncoordinated,
            announcer: Uncoordinated,
            options: TrustOptions::default(),
            parallelism: 8,
            quarantine: Quarantine::new(),
            identity: RefCell::new(None),
            peers: RefCell::new(None),
            #[cfg(feature = "fetch")]
            fetching: Fetching::default(),
        }
    }
}

impl<S, E, K: Settings, N, R, L, A> Runtime<S, E, K, N, R, L, A> {
    /// Claims accepted invocations in `seen`.
    pub fn with_seen<N2>(self, seen: N2) -> Runtime<S, E, K, N2, R, L, A> {
        Runtime {
            store: self.store,
            executor: self.executor,
            settings: self.settings,
            seen,
            runs: self.runs,
            lock: self.lock,
            announcer: self.announcer,
            options: self.options,
            parallelism: self.parallelism,
            quarantine: self.quarantine,
            identity: self.identity,
            peers: self.peers,
            #[cfg(feature = "fetch")]
            fetching: self.fetching,
        }
    }

    /// Keeps the records of runs in `runs`.
    pub fn with_runs<R2>(self, runs: R2) -> Runtime<S, E, K, N, R2, L, A> {
        Runtime {
            store: self.store,
            executor: self.executor,
            settings: self.settings,
            seen: self.seen,
            runs,
            lock: self.lock,
            announcer: self.announcer,
            options: self.options,
            parallelism: self.parallelism,
            quarantine: self.quarantine,
            identity: self.identity,
            peers: self.peers,
            #[cfg(feature = "fetch")]
            fetching: self.fetching,
        }
    }

    /// Coordinates with the other runtimes of the store (see
    /// [`crate::run::coordinate`]).
    pub fn with_coordination<L2, A2>(
        self,
        lock: L2,
        announcer: A2,
    ) -> Runtime<S, E, K, N, R, L2, A2> {
        Runtime {
            store: self.store,
            executor: self.executor,
            settings: self.settings,
            seen: self.seen,
            runs: self.runs,
            lock,
            announcer,
            options: self.options,
            parallelism: self.parallelism,
            quarantine: self.quarantine,
            identity: self.identity,
            peers: self.peers,
            #[cfg(feature = "fetch")]
            fetching: self.fetching,
        }
    }

    /// Trusts as `options` say (before the identity is opened).
    pub fn with_trust(mut self, options: TrustOptions) -> Self {
        self.options = options;
        self
    }

    /// Runs up to `n` tasks at once (at least 1).
    pub fn with_parallelism(mut self, n: usize) -> Self {
        self.parallelism = n.max(1);
        self
    }

    /// Asks `peers` for receipts before a run executes what its memo
    /// misses ([`crate::peer::ask`]); what they send is taken under this
    /// runtime's trust policy.
    pub fn with_peers(self, peers: Rc<dyn Peers>) -> Self {
        self.set_peers(Some(peers));
        self
    }

    /// Sets (or, with `None`, clears) the peers the next runs ask, as
    /// [`Runtime::with_peers`] does: a tab's network starts after its
    /// runtime opens, and may stop before it closes.
    pub fn set_peers(&self, peers: Option<Rc<dyn Peers>>) {
        *self.peers.borrow_mut() = peers;
    }

    /// Fetches what a task needs and the store lacks (its module, the files
    /// its arguments link to) from `source` just before the task executes
    /// here (a task the memo answers fetches nothing), each block checked
    /// against its CID before it is stored; `None` stops.
    #[cfg(feature = "fetch")]
    pub fn set_block_source(&self, source: Option<Rc<dyn BlockSource>>) {
        *self.fetching.source.borrow_mut() = source;
    }

    /// The source set by [`Runtime::set_block_source`], if any.
    #[cfg(feature = "fetch")]
    pub(crate) fn block_source(&self) -> Option<Rc<dyn BlockSource>> {
        self.fetching.source.borrow().clone()
    }

    /// The peers a run asks, if any.
    pub(crate) fn peers(&self) -> Option<Rc<dyn Peers>> {
        self.peers.borrow().clone()
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The executor.
    pub fn executor(&self) -> &E {
        &self.executor
    }

    /// The settings.
    pub fn settings(&self) -> &K {
        &self.settings
    }

    /// The rows found not to be what they claim, each reported once.
    pub fn quarantine(&self) -> &Quarantine {
        &self.quarantine
    }
}

impl<S: ReceiptStore, E, K: Settings, N, R, L, A> Runtime<S, E, K, N, R, L, A> {
    /// The key, the trust policy and the authority: opened on first use
    /// (see the module's comment), then the same.
    pub async fn identity(&self) -> Result<Rc<Identity<K::Signer>>, CoreError> {
        if let Some(id) = self.identity.borrow().clone() {
            return Ok(id);
        }
        let signer = self.settings.identity().await?;
        let saved = self.settings.trust_state().await?;
        let o = &self.options;
        let trust = Trust::new(signer.did().clone())
            .with_signers(o.signers.iter().cloned())
            .with_spot_checks(o.verify_rate, o.seed)
            .with_distrusted(saved.distrusted.clone());
        let authority =
            Authority::new(signer.did().clone()).with_authorities(o.authorities.iter().cloned());
        let id = Identity {
            signer,
            trust,
            authority,
        };
        let now = id.state();
        let changed: Vec<Did> = now
            .applied
            .iter()
            .filter(|d| !saved.applied.contains(d))
            .chain(saved.applied.iter().filter(|d| !now.applied.contains(d)))
            .cloned()
            .collect();
        if !changed.is_empty() {
            reconsider(&self.store, &id.trust, &changed).await?;
        }
        if now != saved {
            self.settings.put_trust_state(&now).await?;
        }
        // Another call may have finished first: keep one.
        let mut slot = self.identity.borrow_mut();
        Ok(slot.get_or_insert_with(|| Rc::new(id)).clone())
    }

    /// This runtime's DID.
    pub async fn did(&self) -> Result<Did, CoreError> {
        Ok(self.identity().await?.did().clone())
    }

    /// This runtime's binding of its DID to the libp2p peer id `peer` it
    /// connects as, valid until `exp` (seconds since the epoch), signed
    /// with its key: what a tab, whose key cannot sign libp2p's handshake,
    /// presents to its peers.
    pub async fn peer_binding(&self, peer: &str, exp: u64) -> Result<PeerBinding, CoreError> {
        let id = self.identity().await?;
        PeerBinding::sign(id.signer(), peer, exp).await
    }

    /// The identity, with the distrust other runtimes of the store kept
    /// since (a spot-check in one tab holds in every tab). Read before the
    /// writes that decide `vouched` (an import, a verify, an admission); a
    /// run needs no fresh read: the rows another runtime's distrust
    /// concerns are no longer vouched, and a run never marks a row vouched
    /// for another signer.
    pub(crate) async fn current_identity(&self) -> Result<Rc<Identity<K::Signer>>, CoreError> {
        let id = self.identity().await?;
        let known = id.trust.distrusted();
        for (did, why) in self.settings.trust_state().await?.distrusted {
            if !known.contains_key(&did) {
                id.trust.distrust(&did, why);
            }
        }
        Ok(id)
    }

    /// Keeps the trust state (after a spot-check, a verify or a clear),
    /// merged with what other runtimes of the store kept: their distrust
    /// stays, except of the signers this call `cleared`.
    pub(crate) async fn save_trust(
        &self,
        id: &Identity<K::Signer>,
        cleared: &[Did],
    ) -> Result<(), CoreError> {
        let mut state = id.state();
        for (did, why) in self.settings.trust_state().await?.distrusted {
            if !cleared.contains(&did) {
                state.distrusted.entry(did).or_insert(why);
            }
        }
        self.settings.put_trust_state(&state).await
    }

    /// Clears a spot-check's distrust of `signer` (the user's decision):
    /// the decision is kept, then its receipts are decided again. Whether
    /// it was distrusted.
    pub async fn clear_distrust(&self, signer: &Did) -> Result<bool, CoreError> {
        let id = self.identity().await?;
        let was = id.trust.forgive(signer);
        if was {
            self.save_trust(&id, std::slice::from_ref(signer)).await?;
            reconsider(&self.store, &id.trust, std::slice::from_ref(signer)).await?;
        }
        Ok(was)
    }

    /// Checks a receipt (its DAG-CBOR bytes) with its envelopes under this
    /// runtime's trust policy. Stores nothing.
    pub async fn check_receipt(
        &self,
        receipt: &[u8],
        envelopes: &[Vec<u8>],
    ) -> Result<ReceiptCheck, CoreError> {
        let id = self.identity().await?;
        Ok(check_receipt(receipt, envelopes, &|d| id.trust.trusts(d)))
    }

    /// Checks every receipt of a CAR archive with its envelopes under this
    /// runtime's trust policy, storing nothing ([`crate::store::car::check`]).
    pub async fn check_archive(&self, archive: &[u8]) -> Result<ArchiveCheck, CoreError> {
        let id = self.identity().await?;
        check_archive(archive, &|d| id.trust.trusts(d))
    }
}
