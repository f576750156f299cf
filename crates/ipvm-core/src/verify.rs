//! Checking a receipt by re-running its task.
//!
//! Everything needed is in the store: the receipt names its invocation
//! (`ran`), the invocation block holds the task, and any awaited results are
//! receipts too. The task runs again on the executor given, and its output
//! and fuel are compared with the receipt's. A deterministic task must match
//! exactly; a receipt marked non-deterministic is reported as such.

use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::awaits::substitute;
use crate::receipt::Outcome;
use crate::scheduler::{Executor, Job};
use crate::store::{BlockStore, ReceiptStore};
use crate::workflow::Task;
use crate::{decode_dag_cbor, CoreError};

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
}

impl Verification {
    /// Output and fuel are identical.
    pub fn matches(&self) -> bool {
        self.expected == self.actual && self.expected_fuel == self.actual_fuel
    }
}

/// Re-runs the task of receipt `cid` and compares.
pub async fn verify<E: Executor, S: BlockStore + ReceiptStore>(
    executor: &E,
    store: &S,
    cid: &Cid,
) -> Result<Verification, CoreError> {
    let record = store
        .receipt(cid)
        .await?
        .ok_or_else(|| CoreError::Store(format!("receipt {cid} is not in the store")))?;
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
    for a in task.run.awaits() {
        let awaited = store.receipt_for(&a.target).await?.ok_or_else(|| {
            CoreError::Store(format!(
                "the task awaits {}, whose receipt is not in the store",
                a.target
            ))
        })?;
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
        limits: task.limits,
    };
    let ex = executor.execute(job).await;
    Ok(Verification {
        receipt: *cid,
        instruction: record.instruction,
        expected: record.receipt.out.clone(),
        actual: ex.out,
        expected_fuel: record.receipt.fuel(),
        actual_fuel: ex.fuel,
        nondeterministic: !record.receipt.is_reusable()
            && matches!(
                record.receipt.meta.get("nondeterministic"),
                Some(Ipld::Bool(true))
            ),
    })
}
