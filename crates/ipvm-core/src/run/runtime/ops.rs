//! What a runtime does with workflows, receipts, files and archives: runs
//! (with the run's record and the distrust a spot-check caught kept),
//! verification, the memo's lookups, files, and CAR import and export.

use cid::Cid;

use crate::auth::identity::Signer;
use crate::model::workflow::Workflow;
use crate::run::cancel::CancelToken;
use crate::run::coordinate::{Announcer, InstructionLock};
use crate::run::job::Executor;
use crate::run::records::{RunLog, RunRecords};
use crate::run::report::{Event, RunReport};
#[cfg(feature = "fetch")]
use crate::run::runtime::fetching::FetchFirst;
use crate::run::runtime::Runtime;
use crate::run::scheduler::Scheduler;
use crate::run::verify::{verify_on, Verification};
use crate::store::car::{self, Imported};
#[cfg(feature = "fetch")]
use crate::store::fetch;
use crate::store::memo::{self, Checked};
use crate::store::record::ReceiptRecord;
use crate::store::settings::Settings;
use crate::store::{add_file, read_file_within, BlockStore, ReceiptStore};
use crate::CoreError;

impl<S, E, K, N, R, L, A> Runtime<S, E, K, N, R, L, A>
where
    S: BlockStore + ReceiptStore,
    E: Executor,
    K: Settings,
    R: RunRecords,
    L: InstructionLock,
    A: Announcer,
{
    /// Runs a workflow with this runtime's identity, lock, announcer and
    /// quarantine, keeping its record; `on_event` hears its progress. A
    /// signer a spot-check caught is distrusted, and that is kept. With a
    /// block source, each task that executes here first fetches what it
    /// needs and the store lacks (`fetching.rs`).
    pub async fn run(
        &self,
        workflow: &Workflow,
        on_event: &mut dyn FnMut(&Event),
        cancel: &CancelToken,
    ) -> Result<RunReport, CoreError> {
        #[cfg(feature = "fetch")]
        if let Some(source) = self.block_source() {
            let first =
                FetchFirst::new(&self.executor, &self.store, source, &self.fetching.complete);
            return self
                .run_on(&first, workflow, on_event, &|| first.take_events(), cancel)
                .await;
        }
        self.run_on(&self.executor, workflow, on_event, &Vec::new, cancel)
            .await
    }

    /// [`Runtime::run`] on `executor`; `pending()` gives the events the
    /// executor has for the listener (handed over before each event of the
    /// run, and at its end).
    async fn run_on<X: Executor>(
        &self,
        executor: &X,
        workflow: &Workflow,
        on_event: &mut dyn FnMut(&Event),
        pending: &dyn Fn() -> Vec<Event>,
        cancel: &CancelToken,
    ) -> Result<RunReport, CoreError> {
        let id = self.identity().await?;
        let signer: &dyn Signer = id.signer();
        // The peers as they are now: a tab's network may stop meanwhile.
        let peers = self.peers();
        let scheduler = Scheduler::new(executor, &self.store)
            .with_parallelism(self.parallelism)
            .with_coordination(&self.lock, &self.announcer)
            .with_quarantine(&self.quarantine)
            .with_identity(signer, id.trust());
        let scheduler = match peers.as_deref() {
            Some(peers) => scheduler
                .with_offload_slots(peers.offload_slots())
                .with_peers(peers),
            None => scheduler,
        };
        let log = self.runs.start(workflow);
        let mut distrusted = false;
        let mut emit = |e: &Event| {
            for early in pending().iter().chain([e]) {
                distrusted |= matches!(early, Event::Distrusted { .. });
                if let Some(log) = &log {
                    log.event(early);
                }
                on_event(early);
            }
        };
        let report = scheduler.run(workflow, &mut emit, cancel).await;
        for late in pending() {
            if let Some(log) = &log {
                log.event(&late);
            }
            on_event(&late);
        }
        if let Some(log) = &log {
            log.end(&report).await;
        }
        if distrusted {
            self.save_trust(&id, &[]).await?;
        }
        report
    }

    /// Fetches the file `cid` (a module: at most [`fetch::MAX_MODULE_BYTES`]) from
    /// the block source into the store, checking every block; what is in
    /// the store already is not fetched again.
    #[cfg(feature = "fetch")]
    pub async fn fetch_file(&self, cid: Cid, max_bytes: u64) -> Result<fetch::Fetched, CoreError> {
        let source = self.block_source().ok_or_else(|| CoreError::Fetch {
            cid: Box::new(cid),
            reason: "this runtime has no network (open it with peers)".into(),
        })?;
        let got = fetch::fetch_dag(&self.store, &*source, cid, max_bytes).await?;
        self.fetching.complete.borrow_mut().insert(cid);
        Ok(got)
    }

    /// The file `cid` (at most `max_bytes`), read from the store after it is
    /// fetched from the block source, if one is set, where the store lacks
    /// any of it.
    pub async fn file_here(&self, cid: &Cid, max_bytes: u64) -> Result<Vec<u8>, CoreError> {
        #[cfg(feature = "fetch")]
        if self.block_source().is_some() {
            self.fetch_file(*cid, max_bytes).await?;
        }
        read_file_within(&self.store, cid, max_bytes).await
    }

    /// Re-runs the task of a stored receipt (on `engine` if given) and
    /// compares; a matching receipt from elsewhere is promoted to
    /// `verified`, a contradicted one's trusted signers are distrusted, and
    /// that is kept.
    pub async fn verify(
        &self,
        receipt: &Cid,
        engine: Option<&str>,
    ) -> Result<Verification, CoreError> {
        let id = self.current_identity().await?;
        let signer: &dyn Signer = id.signer();
        let v = verify_on(
            &self.executor,
            &self.store,
            &self.quarantine,
            Some((signer, id.trust())),
            receipt,
            engine,
        )
        .await?;
        if !v.distrusted.is_empty() {
            self.save_trust(&id, &[]).await?;
        }
        Ok(v)
    }
}

impl<S, E, K, N, R, L, A> Runtime<S, E, K, N, R, L, A>
where
    S: BlockStore + ReceiptStore,
    K: Settings,
{
    /// The receipt with this CID, if stored and intact.
    pub async fn receipt(&self, cid: &Cid) -> Result<Checked<Option<ReceiptRecord>>, CoreError> {
        memo::receipt(&self.store, &self.quarantine, cid).await
    }

    /// The receipt that answers `instruction` under this runtime's trust
    /// (the memo lookup).
    pub async fn receipt_for(
        &self,
        instruction: &Cid,
    ) -> Result<Checked<Option<ReceiptRecord>>, CoreError> {
        let id = self.identity().await?;
        memo::lookup(&self.store, &self.quarantine, Some(id.trust()), instruction).await
    }

    /// Every stored receipt of `instruction`, whatever its provenance.
    pub async fn receipts_for(
        &self,
        instruction: &Cid,
    ) -> Result<Checked<Vec<ReceiptRecord>>, CoreError> {
        memo::receipts_for(&self.store, &self.quarantine, instruction).await
    }

    /// Every stored receipt computed from `input`.
    pub async fn receipts_using(
        &self,
        input: &Cid,
    ) -> Result<Checked<Vec<ReceiptRecord>>, CoreError> {
        memo::receipts_using(&self.store, &self.quarantine, input).await
    }

    /// Stores a file (a module or data) as UnixFS; its CID.
    pub async fn add_file(&self, bytes: &[u8]) -> Result<Cid, CoreError> {
        add_file(&self.store, bytes).await
    }

    /// A stored file's bytes, at most `max_bytes` of them.
    pub async fn read_file(&self, cid: &Cid, max_bytes: u64) -> Result<Vec<u8>, CoreError> {
        read_file_within(&self.store, cid, max_bytes).await
    }

    /// A CARv1 archive of `roots` (receipts with their envelopes,
    /// invocations and modules, or blocks with their DAGs).
    pub async fn export_car(&self, roots: &[Cid]) -> Result<Vec<u8>, CoreError> {
        car::export(&self.store, roots).await
    }

    /// Imports a CARv1 archive, all or nothing, deciding under this
    /// runtime's current trust which receipts a trusted signer vouches for.
    pub async fn import_car(&self, bytes: &[u8]) -> Result<Imported, CoreError> {
        let id = self.current_identity().await?;
        car::import(&self.store, id.trust(), bytes).await
    }
}
