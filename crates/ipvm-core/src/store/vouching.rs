//! The receipt rows a trust decision touches (spec §5b): keeping checked
//! envelopes with a receipt and deciding whether a trusted signer vouches
//! for it ([`attach`], [`attest`]), distrusting the signers a re-run caught
//! ([`caught`]), and deciding again the rows of signers whose trust changed
//! ([`reconsider`]). The policy itself is `auth::trust::Trust`.

use std::collections::BTreeSet;

use cid::Cid;

use crate::auth::envelope::{Envelope, Refusal};
use crate::auth::identity::{Did, Signer};
use crate::auth::trust::Trust;
use crate::store::{ReceiptStore, RowIndex};
use crate::CoreError;

/// What [`attach`] did with a receipt's envelopes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attached {
    /// Envelopes new to the receipt, kept.
    pub added: usize,
    /// Envelopes refused (by position in the list given), with why.
    pub refused: Vec<(usize, Refusal)>,
    /// Whether a trusted signer now vouches for the receipt.
    pub vouched: bool,
}

/// Checks envelopes for the stored receipt `cid` and keeps the valid ones
/// in its row (one per signer), deciding again whether a trusted signer
/// vouches for it. Refused envelopes are not kept.
pub async fn attach<S: ReceiptStore + ?Sized>(
    store: &S,
    trust: &Trust,
    cid: &Cid,
    envelopes: &[Vec<u8>],
) -> Result<Attached, CoreError> {
    let mut row = match store.row(cid).await? {
        Some(Ok(row)) => row,
        Some(Err(bad)) => {
            return Err(CoreError::Store(format!(
                "receipt {cid}: its row cannot be read: {}",
                bad.reason
            )))
        }
        None => {
            return Err(CoreError::Store(format!(
                "receipt {cid} is not in the store: store the receipt before its envelopes"
            )))
        }
    };
    let mut out = Attached::default();
    for (i, bytes) in envelopes.iter().enumerate() {
        match Envelope::check_for(bytes, cid) {
            Ok(env) if row.signers.iter().any(|s| s == env.signer.as_str()) => {}
            Ok(env) => {
                row.signers.push(env.signer.to_string());
                row.envelopes.push(env.bytes);
                out.added += 1;
            }
            Err(refusal) => out.refused.push((i, refusal)),
        }
    }
    out.vouched = trust.vouches(&row.signers);
    if out.added > 0 || out.vouched != row.vouched {
        row.vouched = out.vouched;
        store.put_batch(Vec::new(), vec![row]).await?;
    }
    Ok(out)
}

/// Signs `cid` with this runtime's key and keeps the envelope with it.
pub async fn attest<S: ReceiptStore + ?Sized>(
    store: &S,
    signer: &dyn Signer,
    trust: &Trust,
    cid: &Cid,
) -> Result<Attached, CoreError> {
    let envelope = Envelope::sign(signer, cid).await?;
    attach(store, trust, cid, &[envelope.bytes]).await
}

/// Distrusts every signer of `signers` this runtime trusts (its own key
/// aside) because a re-run contradicted a receipt they signed, and decides
/// their receipts again. Returns the signers newly distrusted.
pub async fn caught<S: ReceiptStore + ?Sized>(
    store: &S,
    trust: &Trust,
    signers: &[Did],
    why: &str,
) -> Result<Vec<Did>, CoreError> {
    let caught: Vec<Did> = signers
        .iter()
        .filter(|d| trust.trusts(d) && *d != trust.own())
        .filter(|d| trust.distrust(d, why.to_string()))
        .cloned()
        .collect();
    reconsider(store, trust, &caught).await?;
    Ok(caught)
}

/// Decides again, for every receipt signed by one of `signers`, whether a
/// trusted signer vouches for it (after the policy changed for them).
/// Returns how many rows changed.
pub async fn reconsider<S: ReceiptStore + ?Sized>(
    store: &S,
    trust: &Trust,
    signers: &[Did],
) -> Result<usize, CoreError> {
    let mut changed = 0;
    let mut seen = BTreeSet::new();
    for did in signers {
        for row in store
            .rows(RowIndex::Signer(did.as_str()))
            .await?
            .into_iter()
            .flatten()
        {
            if !seen.insert(row.cid) {
                continue;
            }
            let vouched = trust.vouches(&row.signers);
            if vouched != row.vouched {
                store.set_vouched(&row.cid, vouched).await?;
                changed += 1;
            }
        }
    }
    Ok(changed)
}
