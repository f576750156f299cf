//! Checking a receipt by re-running its task.
//!
//! Everything needed is in the store: the receipt names its invocation
//! (`ran`), the invocation block holds the task, and any awaited results are
//! receipts too. The task runs again on the executor given, and its output
//! and fuel are compared with the receipt's. A deterministic task must match
//! exactly; a receipt marked non-deterministic is reported as such.

use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::auth::identity::{Did, Signer};
use crate::auth::trust::Trust;
use crate::model::address::decode_dag_cbor;
use crate::model::awaits::substitute;
use crate::model::receipt::{Outcome, Receipt, ReceiptClass, RECEIPT_VERSION};
use crate::model::workflow::Task;
use crate::run::job::{Executor, Job};
use crate::store::memo::{self, Quarantine};
use crate::store::record::Provenance;
use crate::store::vouching as trust;
use crate::store::ReceiptStore;
use crate::CoreError;

/// What a re-run says about a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The re-run wrote exactly this receipt (same CID).
    Match,
    /// The re-run wrote a different receipt: the stored one is wrong, or its
    /// task is not deterministic.
    Mismatch,
    /// The receipt cannot be compared with a re-run, for this reason: it
    /// depends on the machine (`meta.nondeterministic`), is of another
    /// receipt version, or records a failure of the environment; or the
    /// re-run here failed for a reason of this environment, or depended on
    /// the machine.
    Incomparable(String),
}

/// The result of re-running a receipt's task.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    /// The receipt checked.
    pub receipt: Cid,
    /// The instruction it ran.
    pub instruction: Cid,
    /// What the receipt says.
    pub expected: Outcome,
    /// What the re-run gave.
    pub actual: Outcome,
    /// Fuel in the receipt.
    pub expected_fuel: u64,
    /// Fuel of the re-run.
    pub actual_fuel: u64,
    /// The receipt is marked non-deterministic: a mismatch proves nothing.
    pub nondeterministic: bool,
    /// The verdict.
    pub verdict: Verdict,
    /// Where the receipt came from before the check.
    pub provenance: Provenance,
    /// The receipt was not trusted here, matched, and is now `verified`: it
    /// answers memo lookups from now on.
    pub promoted: bool,
    /// The receipt matched and this runtime's envelope was added to it.
    pub attested: bool,
    /// Signers this runtime trusted that vouched for a receipt the re-run
    /// contradicted (`Mismatch`): distrusted now, and their receipts
    /// reconsidered.
    pub distrusted: Vec<Did>,
    /// The engine the re-run ran on, as the executor reports it.
    pub engine: Option<String>,
}

impl Verification {
    /// The re-run wrote exactly the stored receipt.
    pub fn matches(&self) -> bool {
        self.verdict == Verdict::Match
    }
}

/// Re-runs the task of receipt `cid`, compares the receipt it writes with
/// the stored one, and promotes a matching receipt from elsewhere to
/// `verified`. Awaited results come from the memo (receipts this runtime
/// vouches for), so an untrusted receipt is never verified from untrusted
/// inputs.
pub async fn verify<E: Executor, S: ReceiptStore>(
    executor: &E,
    store: &S,
    quarantine: &Quarantine,
    attestor: Option<(&dyn Signer, &Trust)>,
    cid: &Cid,
) -> Result<Verification, CoreError> {
    verify_on(executor, store, quarantine, attestor, cid, None).await
}

/// [`verify`], asking the executor to re-run on `engine` (`fast`,
/// `wasmi`): a receipt computed on one engine and matched on the other is
/// checked more strongly than by a re-run on the same one.
pub async fn verify_on<E: Executor, S: ReceiptStore>(
    executor: &E,
    store: &S,
    quarantine: &Quarantine,
    attestor: Option<(&dyn Signer, &Trust)>,
    cid: &Cid,
    engine: Option<&str>,
) -> Result<Verification, CoreError> {
    let record = memo::receipt(store, quarantine, cid)
        .await?
        .value
        .ok_or_else(|| {
            CoreError::Store(format!(
                "receipt {cid} is not in the store, or its row does not check out"
            ))
        })?;
    let ran = record.receipt.ran;
    let invocation = store
        .get_block(&ran)
        .await?
        .ok_or_else(|| CoreError::MissingBlock(Box::new(ran)))?;
    let task = match decode_dag_cbor(&invocation)? {
        Ipld::Map(m) => Task::from_ipld(m.get("task").unwrap_or(&Ipld::Null))?,
        _ => {
            return Err(CoreError::Store(format!(
                "invocation {ran} is not a map {{task}}"
            )))
        }
    };
    let mut results = std::collections::HashMap::new();
    let policy = attestor.map(|(_, trust)| trust);
    for a in task.run.awaits() {
        let awaited = memo::lookup(store, quarantine, policy, &a.target)
            .await?
            .value
            .ok_or_else(|| CoreError::UntrustedInput(Box::new(a.target)))?;
        results.insert(a.target, awaited.receipt.out);
    }
    let args = task
        .run
        .args
        .iter()
        .map(|v| substitute(v, &|c| results.get(c).cloned()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|u| {
            CoreError::Store(format!(
                "{} of {} cannot be satisfied by the stored receipt",
                u.r#await.kind.key(),
                u.r#await.target
            ))
        })?;
    let job = Job {
        task: 0,
        instruction: task.run.cid(),
        module: task.run.module,
        op: task.run.op.clone(),
        func: task.run.func.clone(),
        args,
        // Not a time limit the receipt's signer chose to make the re-run fail.
        limits: task.limits.for_check(),
        // The re-run's receipt is compared, not kept: nobody signs it.
        receipt: None,
        engine: engine.map(str::to_string),
    };
    let ex = executor.execute(job).await;
    let rerun = Receipt::of_execution(ran, &ex, task.prf.clone());
    let stored = &record.receipt;
    let verdict = if stored.is_nondeterministic() {
        Verdict::Incomparable("the receipt is marked nondeterministic: a re-run may differ".into())
    } else if stored.version() != RECEIPT_VERSION {
        Verdict::Incomparable(format!(
            "the receipt is of version {} and this runtime writes version {RECEIPT_VERSION}: run the workflow again for a current receipt",
            stored.version()
        ))
    } else if stored.class() != Some(ReceiptClass::Result) {
        Verdict::Incomparable(
            "the receipt records a failure of the environment or of authority, not a result".into(),
        )
    } else if rerun.class() != Some(ReceiptClass::Result) {
        Verdict::Incomparable(format!(
            "the re-run here failed for a reason of this environment, not of the task ({}): try again",
            rerun.not_reusable_because().unwrap_or_default()
        ))
    } else if rerun.is_nondeterministic() {
        Verdict::Incomparable(
            "the re-run here depended on the machine (it read the clock, or hit the time limit)"
                .into(),
        )
    } else if rerun.cid()? == record.cid {
        Verdict::Match
    } else {
        Verdict::Mismatch
    };
    let promoted = verdict == Verdict::Match && !record.provenance.is_trusted();
    if promoted {
        memo::promote(store, &record).await?;
    }
    // A match adds this runtime's attestation (if it has not signed it yet).
    let mut attested = false;
    if let (Verdict::Match, Some((signer, trust))) = (&verdict, attestor) {
        attested = trust::attest(store, signer, trust, cid).await?.added > 0;
    }
    // A mismatch catches every trusted signer that vouched for it.
    let mut distrusted = Vec::new();
    if let (Verdict::Mismatch, Some((_, trust))) = (&verdict, attestor) {
        let why = format!(
            "a re-run here of the task of receipt {cid} wrote receipt {}, not the one it signed",
            rerun.cid()?
        );
        distrusted = trust::caught(store, trust, &record.signers(), &why).await?;
    }
    Ok(Verification {
        receipt: *cid,
        instruction: record.instruction,
        expected: record.receipt.out.clone(),
        actual: ex.out.clone(),
        expected_fuel: record.receipt.fuel(),
        actual_fuel: ex.fuel,
        nondeterministic: stored.is_nondeterministic(),
        verdict,
        provenance: record.provenance,
        promoted,
        attested,
        distrusted,
        engine: ex.engine,
    })
}
