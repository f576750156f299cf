//! The runtime's identity in a browser: an Ed25519 key pair made by
//! WebCrypto, its private key non-extractable (no script can read its
//! bytes), kept in IndexedDB (`settings.identity`; CryptoKeys are
//! structured-cloneable) so it survives reloads and is shared by the tabs of
//! the origin on the same store. With `storage: "memory"` the key lives as
//! long as the runtime. Signatures come from `crypto.subtle.sign`, which the
//! browser runs off the page's thread. The trust state kept beside it
//! (`settings.trust`) is [`crate::settings`]'s.

use futures::future::LocalBoxFuture;
use ipvm_core::{CoreError, Did, Signer};
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

use crate::convert::js_error_text;
use crate::indexeddb::IndexedDbStore;

const ED25519: &str = "Ed25519";

/// Where a WebCrypto failure is said to come from.
fn crypto_error(what: &str, e: JsValue) -> CoreError {
    let name = Reflect::get(&e, &JsValue::from_str("name"))
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_default();
    if name == "NotSupportedError" || name == "TypeError" {
        return CoreError::Store(format!(
            "{what}: this browser's WebCrypto has no Ed25519 (it needs Chrome 137, Firefox 129 or Safari 17, or later): {}",
            js_error_text(&e)
        ));
    }
    CoreError::Store(format!("{what}: {}", js_error_text(&e)))
}

/// The global `crypto` object (a window's or a worker's), if there is one.
fn global_crypto() -> Option<web_sys::Crypto> {
    Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))
        .ok()
        .and_then(|c| c.dyn_into::<web_sys::Crypto>().ok())
}

fn subtle() -> Result<SubtleCrypto, CoreError> {
    global_crypto()
        .map(|c| c.subtle())
        .ok_or_else(|| {
            CoreError::Store(
                "WebCrypto is not available here (crypto.subtle needs a secure context: https or localhost)"
                    .into(),
            )
        })
}

/// `N` bytes from the platform's cryptographic generator
/// (`crypto.getRandomValues`, in a window or a worker; it needs no secure
/// context). Token nonces and spot-check draws come from here, never from
/// `Math.random`, whose output a page's script can predict or replace.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], CoreError> {
    let crypto = global_crypto()
        .ok_or_else(|| CoreError::Store("this context has no `crypto` object".into()))?;
    let mut out = [0u8; N];
    crypto
        .get_random_values_with_u8_array(&mut out)
        .map_err(|e| crypto_error("crypto.getRandomValues", e))?;
    Ok(out)
}

/// A WebCrypto Ed25519 key that signs for the runtime.
pub(crate) struct WebSigner {
    subtle: SubtleCrypto,
    key: CryptoKey,
    did: Did,
}

impl WebSigner {
    /// The identity stored in `store`, or a new one (stored there, unless
    /// another tab stored one first: then that one).
    pub(crate) async fn load_or_create(store: Option<&IndexedDbStore>) -> Result<Self, CoreError> {
        let subtle = subtle()?;
        if let Some(db) = store {
            if let Some(found) = db.setting("identity").await? {
                return Self::from_setting(subtle, &found);
            }
        }
        let (key, did) = Self::generate(&subtle).await?;
        let Some(db) = store else {
            return Ok(Self { subtle, key, did });
        };
        let value = Object::new();
        let set = |k: &str, v: &JsValue| Reflect::set(&value, &JsValue::from_str(k), v);
        set("privateKey", &key)
            .and_then(|_| set("did", &JsValue::from_str(did.as_str())))
            .map_err(|e| crypto_error("cannot keep the key", e))?;
        let stored = db.setting_or_insert("identity", &value.into()).await?;
        Self::from_setting(subtle, &stored)
    }

    /// The identity stored in `store`, if there is one (a worker never
    /// makes one: the page does, when it opens the runtime).
    pub(crate) async fn load(store: &IndexedDbStore) -> Result<Option<Self>, CoreError> {
        match store.setting("identity").await? {
            Some(found) => Self::from_setting(subtle()?, &found).map(Some),
            None => Ok(None),
        }
    }

    fn from_setting(subtle: SubtleCrypto, value: &JsValue) -> Result<Self, CoreError> {
        let bad = |why: &str| {
            CoreError::Store(format!(
                "the stored identity (settings.identity) is unusable: {why}; delete the database to make a new one"
            ))
        };
        let key = Reflect::get(value, &JsValue::from_str("privateKey"))
            .ok()
            .and_then(|k| k.dyn_into::<CryptoKey>().ok())
            .ok_or_else(|| bad("`privateKey` is not a CryptoKey"))?;
        let did = Reflect::get(value, &JsValue::from_str("did"))
            .ok()
            .and_then(|d| d.as_string())
            .ok_or_else(|| bad("`did` is not a string"))?;
        let did = Did::parse(&did).map_err(|e| bad(&e.to_string()))?;
        Ok(Self { subtle, key, did })
    }

    async fn generate(subtle: &SubtleCrypto) -> Result<(CryptoKey, Did), CoreError> {
        let usages: Array = ["sign", "verify"]
            .iter()
            .map(|u| JsValue::from_str(u))
            .collect();
        let pair = subtle
            .generate_key_with_str(ED25519, false, &usages)
            .map_err(|e| crypto_error("cannot make a key", e))?;
        let pair = JsFuture::from(pair)
            .await
            .map_err(|e| crypto_error("cannot make a key", e))?;
        let field = |k: &str| {
            Reflect::get(&pair, &JsValue::from_str(k))
                .ok()
                .and_then(|v| v.dyn_into::<CryptoKey>().ok())
                .ok_or_else(|| CoreError::Store(format!("WebCrypto made no {k}")))
        };
        let (private, public) = (field("privateKey")?, field("publicKey")?);
        // The public key stays extractable: its raw 32 bytes name the DID.
        let raw = subtle
            .export_key("raw", &public)
            .map_err(|e| crypto_error("cannot read the public key", e))?;
        let raw = JsFuture::from(raw)
            .await
            .map_err(|e| crypto_error("cannot read the public key", e))?;
        let bytes: [u8; 32] = Uint8Array::new(&raw)
            .to_vec()
            .try_into()
            .map_err(|_| CoreError::Store("the public key is not 32 bytes".into()))?;
        Ok((private, Did::from_public_key(bytes)))
    }
}

impl Signer for WebSigner {
    fn did(&self) -> &Did {
        &self.did
    }

    fn sign<'a>(&'a self, message: &'a [u8]) -> LocalBoxFuture<'a, Result<Vec<u8>, CoreError>> {
        Box::pin(async move {
            let promise = self
                .subtle
                .sign_with_str_and_u8_array(ED25519, &self.key, message)
                .map_err(|e| crypto_error("cannot sign", e))?;
            let sig = JsFuture::from(promise)
                .await
                .map_err(|e| crypto_error("cannot sign", e))?;
            Ok(Uint8Array::new(&sig).to_vec())
        })
    }
}
