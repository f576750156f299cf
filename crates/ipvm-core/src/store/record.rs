//! A stored receipt as the store knows it: where it came from
//! ([`Provenance`]), the envelopes kept with it, and whether a trusted signer
//! vouches for it ([`ReceiptRecord`]). See `docs/spec.md` §5a.

use cid::Cid;

use crate::auth::envelope::Envelope;
use crate::auth::identity::Did;
use crate::model::receipt::Receipt;

/// Where a stored receipt came from. Only receipts this runtime computed or
/// re-ran with the same result answer memo lookups; the others are stored,
/// listed, exported and verifiable (see [`Provenance::is_trusted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Provenance {
    /// Computed by this runtime (any tab or worker of it: they share one
    /// store and one identity).
    Computed,
    /// Came from elsewhere, and a re-run here gave the same receipt.
    Verified,
    /// Imported from a CAR archive.
    Imported,
    /// Received from a peer.
    Received,
    /// Written before provenance was recorded (a schema-2 database): its
    /// origin cannot be proven, so it is treated as imported.
    Unproven,
}

impl Provenance {
    /// Every provenance, in the order the memo prefers them.
    pub const ALL: [Provenance; 5] = [
        Provenance::Computed,
        Provenance::Verified,
        Provenance::Imported,
        Provenance::Received,
        Provenance::Unproven,
    ];

    /// The name stored and shown: `computed`, `verified`, `imported`,
    /// `received`, `unproven`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provenance::Computed => "computed",
            Provenance::Verified => "verified",
            Provenance::Imported => "imported",
            Provenance::Received => "received",
            Provenance::Unproven => "unproven",
        }
    }

    /// Reads a stored name; anything else is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// Whether this runtime vouches for receipts of this provenance: it
    /// computed them, or re-ran them with the same result. A receipt from
    /// elsewhere is trusted too if a trusted signer vouches for it
    /// ([`ReceiptRecord::is_trusted`]).
    pub fn is_trusted(self) -> bool {
        matches!(self, Provenance::Computed | Provenance::Verified)
    }
}

/// A stored receipt, checked against its row: the receipt, the keys it is
/// indexed under, and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptRecord {
    /// The receipt's CID.
    pub cid: Cid,
    /// The receipt.
    pub receipt: Receipt,
    /// The instruction it ran (the memo key).
    pub instruction: Cid,
    /// Every input CID of the instruction (the reverse index keys).
    pub inputs: Vec<Cid>,
    /// Where it came from.
    pub provenance: Provenance,
    /// Its envelopes, each checked when it was stored (the runtime that
    /// computed it signed one of them).
    pub envelopes: Vec<Envelope>,
    /// Whether a signer this runtime trusts vouches for it: decided when it
    /// was stored and again when the trust policy changed.
    pub vouched: bool,
}

impl ReceiptRecord {
    /// The signers of its envelopes.
    pub fn signers(&self) -> Vec<Did> {
        self.envelopes.iter().map(|e| e.signer.clone()).collect()
    }

    /// Whether it may answer a memo lookup: computed or verified here, or
    /// vouched for by a trusted signer.
    pub fn is_trusted(&self) -> bool {
        self.provenance.is_trusted() || self.vouched
    }
}
