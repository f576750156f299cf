//! What a runtime keeps besides blocks and receipts: its identity (the key
//! it signs with) and its trust state (the signers spot-checks caught, and
//! the trusted set its rows were decided for), so that both survive a
//! restart. [`Settings`] is the capability; the browser keeps them in
//! IndexedDB (`settings.identity`, `settings.trust`), the CLI in files
//! beside its key, and [`MemorySettings`] for as long as it lives.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::auth::identity::{Did, Ed25519Key, Signer};
use crate::CoreError;

/// The trust state kept across restarts.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TrustState {
    /// The signers spot-checks caught, with why (until the user clears them).
    pub distrusted: BTreeMap<Did, String>,
    /// The trusted signers the rows' `vouched` were decided for: when the
    /// runtime opens with another set, the rows of the signers that changed
    /// are decided again.
    pub applied: Vec<Did>,
}

/// A runtime's settings: its identity and its trust state.
#[allow(
    async_fn_in_trait,
    reason = "the futures are used in single-threaded contexts; Send is not wanted"
)]
pub trait Settings {
    /// The key the runtime signs with.
    type Signer: Signer;
    /// The stored identity, or a new one (stored, unless another runtime of
    /// the same store stored one first: then that one).
    async fn identity(&self) -> Result<Self::Signer, CoreError>;
    /// The trust state kept (the default if none was).
    async fn trust_state(&self) -> Result<TrustState, CoreError>;
    /// Keeps the trust state, replacing what was kept.
    async fn put_trust_state(&self, state: &TrustState) -> Result<(), CoreError>;
}

/// Settings held in memory: a given key, and the trust state for as long
/// as the value lives.
#[derive(Debug)]
pub struct MemorySettings {
    seed: [u8; 32],
    trust: RefCell<TrustState>,
}

impl MemorySettings {
    /// Settings whose identity is `key`.
    pub fn new(key: &Ed25519Key) -> Self {
        Self {
            seed: key.seed(),
            trust: RefCell::new(TrustState::default()),
        }
    }
}

impl Settings for MemorySettings {
    type Signer = Ed25519Key;

    async fn identity(&self) -> Result<Ed25519Key, CoreError> {
        Ok(Ed25519Key::from_seed(self.seed))
    }

    async fn trust_state(&self) -> Result<TrustState, CoreError> {
        Ok(self.trust.borrow().clone())
    }

    async fn put_trust_state(&self, state: &TrustState) -> Result<(), CoreError> {
        *self.trust.borrow_mut() = state.clone();
        Ok(())
    }
}

/// Settings shared by reference or by pointer are settings too.
macro_rules! forward_settings {
    ($($ptr:ty),*) => {$(
        impl<T: Settings + ?Sized> Settings for $ptr {
            type Signer = T::Signer;
            async fn identity(&self) -> Result<T::Signer, CoreError> {
                (**self).identity().await
            }
            async fn trust_state(&self) -> Result<TrustState, CoreError> {
                (**self).trust_state().await
            }
            async fn put_trust_state(&self, state: &TrustState) -> Result<(), CoreError> {
                (**self).put_trust_state(state).await
            }
        }
    )*};
}
forward_settings!(&T, std::rc::Rc<T>);
