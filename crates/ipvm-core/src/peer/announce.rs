//! Receipt announcements: "I have computed this". An announcement names an
//! instruction and a receipt and carries one envelope, never the receipt;
//! a runtime that takes it fetches the receipt (by lookup from the
//! announcer) and takes that under the same rules as any receipt from a
//! peer ([`crate::peer::deliver::accept`]).
//!
//! An announcement is dropped before anything is fetched if its envelope is
//! not valid for the receipt it names, if its signer is not trusted here
//! (announcements from strangers are never stored), or if the same signer
//! announced the same receipt before (a replay); the runtime remembers the
//! last [`MAX_REMEMBERED`] announcements it took.

use std::collections::{HashSet, VecDeque};

use cid::Cid;

use crate::auth::envelope::{Envelope, Refusal};
use crate::auth::identity::Did;
use crate::auth::trust::Trust;
use crate::peer::deliver::Unused;
use crate::peer::messages::Announce;
use crate::store::record::ReceiptRecord;

/// How many announcements a runtime remembers to drop replays.
pub const MAX_REMEMBERED: usize = 16_384;

/// The announcement of a receipt this runtime holds, with its envelope.
pub fn announcement(record: &ReceiptRecord, envelope: &Envelope) -> Announce {
    Announce {
        instruction: record.instruction,
        receipt: record.cid,
        envelope: envelope.bytes.clone(),
    }
}

/// The announcements taken, oldest forgotten first past [`MAX_REMEMBERED`].
#[derive(Debug, Default)]
pub struct Announcements {
    order: VecDeque<(Cid, Did)>,
    seen: HashSet<(Cid, Did)>,
}

impl Announcements {
    /// None remembered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks an announcement from a peer: `Ok(signer)` if its receipt
    /// should be fetched, else why it is dropped. A taken announcement is
    /// remembered, so the same one again is a replay.
    pub fn check(&mut self, announce: &Announce, trust: &Trust) -> Result<Did, Unused> {
        let receipt = Box::new(announce.receipt);
        let envelope =
            Envelope::check_for(&announce.envelope, &announce.receipt).map_err(|refusal| {
                Unused::Envelope {
                    receipt: receipt.clone(),
                    refusal,
                }
            })?;
        if !trust.trusts(&envelope.signer) {
            return Err(Unused::Envelope {
                receipt,
                refusal: Refusal::Untrusted(envelope.signer),
            });
        }
        let key = (announce.receipt, envelope.signer.clone());
        if self.seen.contains(&key) {
            return Err(Unused::Replayed {
                receipt,
                signer: envelope.signer,
            });
        }
        if self.order.len() == MAX_REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.order.push_back(key.clone());
        self.seen.insert(key);
        Ok(envelope.signer)
    }

    /// How many are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}
