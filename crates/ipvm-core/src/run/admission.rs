//! Admission of UCAN invocations: what a refused invocation leaves behind.
//! (Whether an invocation is admitted is `auth::ucan::wasm::Authority`.)

use std::collections::BTreeMap;

use ipld_core::ipld::Ipld;

use crate::auth::envelope::Envelope;
use crate::auth::identity::Signer;
use crate::auth::ucan::UcanError;
use crate::model::execution::Execution;
use crate::model::receipt::Receipt;
use crate::model::workflow::Task;
use crate::store::memo;
use crate::store::record::{Provenance, ReceiptRecord};
use crate::store::ReceiptStore;
use crate::CoreError;

/// Records the refusal of an invocation whose task is known: an error
/// receipt of kind `unauthorized` (class authority: never reused, so it
/// cannot poison the memo for an authorised caller), fuel 0, signed by
/// `signer` if given. Nothing ran.
pub async fn refuse<S: ReceiptStore + ?Sized>(
    store: &S,
    signer: Option<&dyn Signer>,
    task: &Task,
    error: &UcanError,
) -> Result<ReceiptRecord, CoreError> {
    let (ran, invocation) = task.invocation()?;
    let value = Ipld::Map(BTreeMap::from([
        ("kind".to_string(), Ipld::String("unauthorized".into())),
        ("message".to_string(), Ipld::String(error.to_string())),
    ]));
    let receipt = Receipt::of_execution(ran, &Execution::error(value, 0), task.prf.clone());
    let cid = receipt.cid()?;
    let envelope = match signer {
        Some(s) => Some(Envelope::sign(s, &cid).await?),
        None => None,
    };
    let record = ReceiptRecord {
        cid,
        receipt,
        instruction: task.run.cid(),
        inputs: task.run.inputs(),
        provenance: Provenance::Computed,
        envelopes: envelope.iter().cloned().collect(),
        vouched: envelope.is_some(),
    };
    memo::store_computed(store, &record, vec![(ran, invocation)], envelope).await?;
    Ok(record)
}
