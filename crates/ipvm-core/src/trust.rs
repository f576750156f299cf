//! The trust policy (spec §5b): whose envelopes make a receipt from
//! elsewhere a memo hit. A receipt answers a lookup if this runtime computed
//! it, re-ran it with the same result, or a valid envelope from a trusted
//! signer vouches for it. Trust is decided when envelopes are stored and
//! again when the policy changes ([`reconsider`]), and kept in the row
//! (`vouched`), so a lookup never checks a signature.
//!
//! Signers are trusted if the runtime was told to trust them, unless a
//! spot-check caught one: a re-run that disagrees with a receipt it vouched
//! for marks it distrusted, which wins over the list until cleared.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use cid::Cid;

use crate::envelope::{Envelope, Refusal};
use crate::identity::{Did, Signer};
use crate::store::{ReceiptStore, RowIndex};
use crate::CoreError;

#[derive(Debug, Clone, Default)]
struct State {
    signers: BTreeSet<Did>,
    distrusted: BTreeMap<Did, String>,
    verify_rate: f64,
    /// xorshift64 state for spot-check sampling.
    draw: u64,
}

/// A runtime's trust policy: its own DID (always trusted), the signers it
/// was told to trust, the signers spot-checks caught, and the share of
/// reused receipts from other signers that it re-runs.
#[derive(Debug)]
pub struct Trust {
    own: Did,
    state: Mutex<State>,
}

impl Trust {
    /// Trusts `own` alone, and spot-checks nothing.
    pub fn new(own: Did) -> Self {
        Self {
            own,
            state: Mutex::new(State {
                draw: 0x9e37_79b9_7f4a_7c15,
                ..State::default()
            }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        match self.state.lock() {
            Ok(mut s) => f(&mut s),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// This runtime's DID.
    pub fn own(&self) -> &Did {
        &self.own
    }

    /// Trusts these signers too (besides its own).
    pub fn with_signers(self, signers: impl IntoIterator<Item = Did>) -> Self {
        self.with(|s| s.signers.extend(signers));
        self
    }

    /// Re-runs this share (0 to 1) of reused receipts that only other
    /// signers vouch for; `seed` starts the sampling (any value; the adapter
    /// gives a random one).
    pub fn with_spot_checks(self, rate: f64, seed: u64) -> Self {
        self.set_spot_checks(rate, seed);
        self
    }

    /// Changes the spot-check rate (see [`Trust::with_spot_checks`]).
    pub fn set_spot_checks(&self, rate: f64, seed: u64) {
        self.with(|s| {
            s.verify_rate = if rate.is_finite() {
                rate.clamp(0.0, 1.0)
            } else {
                0.0
            };
            s.draw = seed | 1;
        });
    }

    /// Restores the signers spot-checks caught before (kept by the adapter).
    pub fn with_distrusted(self, distrusted: BTreeMap<Did, String>) -> Self {
        self.with(|s| s.distrusted.extend(distrusted));
        self
    }

    /// Whether `did`'s envelopes vouch for a receipt here.
    pub fn trusts(&self, did: &Did) -> bool {
        *did == self.own
            || self.with(|s| s.signers.contains(did) && !s.distrusted.contains_key(did))
    }

    /// Whether any of these signers (DIDs as text) is trusted.
    pub fn vouches(&self, signers: &[String]) -> bool {
        signers
            .iter()
            .filter_map(|d| Did::parse(d).ok())
            .any(|d| self.trusts(&d))
    }

    /// The signers it was told to trust.
    pub fn signers(&self) -> Vec<Did> {
        self.with(|s| s.signers.iter().cloned().collect())
    }

    /// The signers spot-checks caught, with why.
    pub fn distrusted(&self) -> BTreeMap<Did, String> {
        self.with(|s| s.distrusted.clone())
    }

    /// The spot-check rate.
    pub fn verify_rate(&self) -> f64 {
        self.with(|s| s.verify_rate)
    }

    /// Marks `did` distrusted (a spot-check caught it); false if it was
    /// already. Its receipts must then be [`reconsider`]ed.
    pub fn distrust(&self, did: &Did, why: String) -> bool {
        *did != self.own && self.with(|s| s.distrusted.insert(did.clone(), why).is_none())
    }

    /// Clears the distrust of `did` (the user's decision); true if it was
    /// distrusted. Its receipts must then be [`reconsider`]ed.
    pub fn forgive(&self, did: &Did) -> bool {
        self.with(|s| s.distrusted.remove(did).is_some())
    }

    /// Whether to re-run this reuse (a draw at the spot-check rate).
    pub fn spot_check(&self) -> bool {
        self.with(|s| {
            if s.verify_rate <= 0.0 {
                return false;
            }
            if s.verify_rate >= 1.0 {
                return true;
            }
            s.draw ^= s.draw << 13;
            s.draw ^= s.draw >> 7;
            s.draw ^= s.draw << 17;
            ((s.draw >> 11) as f64 / (1u64 << 53) as f64) < s.verify_rate
        })
    }
}

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
