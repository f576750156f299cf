//! The tab's settings for the core's runtime ([`ipvm_core::Settings`]): the
//! identity is a WebCrypto key ([`WebSigner`]), kept in IndexedDB
//! (`settings.identity`) or, for a memory runtime, for as long as the
//! runtime lives; the trust state is kept in `settings.trust` (or in
//! memory) in the layout of spec §9: `{distrusted: {did: why}, applied:
//! [did…]}`. What the state means, and when it is read and written, is the
//! core's.

use std::cell::RefCell;
use std::rc::Rc;

use ipvm_core::{CoreError, Did, Settings, TrustState};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use crate::identity::WebSigner;
use crate::indexeddb::IndexedDbStore;
use crate::store::AnyStore;

/// The settings of a runtime on `store`.
pub(crate) struct TabSettings {
    store: Rc<AnyStore>,
    /// A memory runtime's trust state.
    memory: RefCell<TrustState>,
}

impl TabSettings {
    pub(crate) fn new(store: Rc<AnyStore>) -> Self {
        Self {
            store,
            memory: RefCell::new(TrustState::default()),
        }
    }

    fn db(&self) -> Option<&IndexedDbStore> {
        match &*self.store {
            AnyStore::IndexedDb(db) => Some(db),
            AnyStore::Memory(_) => None,
        }
    }
}

impl Settings for TabSettings {
    type Signer = WebSigner;

    async fn identity(&self) -> Result<WebSigner, CoreError> {
        WebSigner::load_or_create(self.db()).await
    }

    async fn trust_state(&self) -> Result<TrustState, CoreError> {
        match self.db() {
            Some(db) => load(db).await,
            None => Ok(self.memory.borrow().clone()),
        }
    }

    async fn put_trust_state(&self, state: &TrustState) -> Result<(), CoreError> {
        match self.db() {
            Some(db) => save(db, state).await,
            None => {
                *self.memory.borrow_mut() = state.clone();
                Ok(())
            }
        }
    }
}

/// Reads `settings.trust` (entries this version cannot read are skipped).
async fn load(db: &IndexedDbStore) -> Result<TrustState, CoreError> {
    let Some(v) = db.setting("trust").await? else {
        return Ok(TrustState::default());
    };
    let mut out = TrustState::default();
    let distrusted = Reflect::get(&v, &JsValue::from_str("distrusted")).unwrap_or_default();
    if let Ok(entries) = Object::entries(&distrusted.unchecked_into()).dyn_into::<Array>() {
        for e in entries.iter() {
            let e = Array::from(&e);
            if let (Some(did), Some(why)) = (e.get(0).as_string(), e.get(1).as_string()) {
                if let Ok(did) = Did::parse(&did) {
                    out.distrusted.insert(did, why);
                }
            }
        }
    }
    let applied = Reflect::get(&v, &JsValue::from_str("applied")).unwrap_or_default();
    if Array::is_array(&applied) {
        out.applied = Array::from(&applied)
            .iter()
            .filter_map(|d| d.as_string().and_then(|d| Did::parse(&d).ok()))
            .collect();
    }
    Ok(out)
}

/// Replaces `settings.trust`.
async fn save(db: &IndexedDbStore, state: &TrustState) -> Result<(), CoreError> {
    let distrusted = Object::new();
    for (did, why) in &state.distrusted {
        let _ = Reflect::set(
            &distrusted,
            &JsValue::from_str(did.as_str()),
            &JsValue::from_str(why),
        );
    }
    let applied: Array = state
        .applied
        .iter()
        .map(|d| JsValue::from_str(d.as_str()))
        .collect();
    let value = Object::new();
    let _ = Reflect::set(&value, &JsValue::from_str("distrusted"), &distrusted);
    let _ = Reflect::set(&value, &JsValue::from_str("applied"), &applied);
    db.put_setting("trust", &value.into()).await
}
