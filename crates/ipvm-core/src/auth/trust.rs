//! The trust policy (spec §5b): whose envelopes make a receipt from
//! elsewhere a memo hit. A receipt answers a lookup if this runtime computed
//! it, re-ran it with the same result, or a valid envelope from a trusted
//! signer vouches for it. Trust is decided when envelopes are stored and
//! again when the policy changes (`store::vouching::reconsider`), and kept in
//! the row (`vouched`), so a lookup never checks a signature.
//!
//! Signers are trusted if the runtime was told to trust them, unless a
//! spot-check caught one: a re-run that disagrees with a receipt it vouched
//! for marks it distrusted, which wins over the list until cleared.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use crate::auth::identity::Did;

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
