//! Who signs: Ed25519 keys named by `did:key`, and the [`Signer`] a runtime
//! signs with (WebCrypto in a tab, a key file natively, a fixed seed in
//! tests). Verification is here too, with ed25519-dalek's `verify_strict`,
//! so that a signature gets the same answer natively and in a tab.

use std::fmt;

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use futures::future::LocalBoxFuture;

use crate::CoreError;

/// The multicodec of an Ed25519 public key (`ed25519-pub`, 0xed) as an
/// unsigned varint.
const ED25519_PUB: [u8; 2] = [0xed, 0x01];

/// Why a text is not a DID this runtime can check signatures of.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DidError {
    /// Not `did:key:z…` with base58btc bytes.
    #[error("`{0}` is not a did:key (expected did:key:z6Mk…)")]
    NotDidKey(String),
    /// A did:key of another key type.
    #[error("`{did}` is a {key_type} key; only Ed25519 keys (did:key:z6Mk…) are supported")]
    UnknownKeyType {
        /// The DID.
        did: String,
        /// The key type its multicodec names.
        key_type: String,
    },
}

/// An Ed25519 `did:key` (`did:key:z6Mk…`): a principal's name, which is
/// its public key.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Did {
    text: String,
    key: [u8; 32],
}

impl Did {
    /// The DID of an Ed25519 public key.
    pub fn from_public_key(key: [u8; 32]) -> Self {
        let mut bytes = ED25519_PUB.to_vec();
        bytes.extend_from_slice(&key);
        let text = format!(
            "did:key:{}",
            multibase::encode(multibase::Base::Base58Btc, bytes)
        );
        Self { text, key }
    }

    /// Reads a did:key. A fragment (`#…`) is ignored, as UCAN's principal
    /// alignment ignores it.
    pub fn parse(text: &str) -> Result<Self, DidError> {
        let not = || DidError::NotDidKey(text.to_string());
        let body = text.strip_prefix("did:key:").ok_or_else(not)?;
        let body = body.split('#').next().unwrap_or(body);
        if !body.starts_with('z') {
            return Err(not());
        }
        let (_, bytes) = multibase::decode(body).map_err(|_| not())?;
        if bytes.len() < 3 {
            return Err(not());
        }
        if bytes.starts_with(&ED25519_PUB) {
            let key: [u8; 32] = bytes[2..].try_into().map_err(|_| not())?;
            return Ok(Self::from_public_key(key));
        }
        let key_type = match bytes.get(..2) {
            Some([0xe7, 0x01]) => "secp256k1",
            Some([0x80, 0x24]) => "P-256",
            Some([0x81, 0x24]) => "P-384",
            Some([0x85, 0x24]) => "RSA",
            Some([0xec, 0x01]) => "X25519",
            _ => "unknown",
        };
        Err(DidError::UnknownKeyType {
            did: text.to_string(),
            key_type: key_type.to_string(),
        })
    }

    /// The DID as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key
    }

    /// Whether `signature` is this key's Ed25519 signature of `message`
    /// (RFC 8032, strict: small-order keys and malleable signatures fail).
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = Signature::from_slice(signature) else {
            return false;
        };
        VerifyingKey::from_bytes(&self.key)
            .map(|k| k.verify_strict(message, &sig).is_ok())
            .unwrap_or(false)
    }
}

impl fmt::Display for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Did({})", self.text)
    }
}

/// What signs for a runtime: the key never leaves it, only signatures do.
/// Object-safe (`&dyn Signer`), so a scheduler can hold any.
pub trait Signer {
    /// The signer's DID.
    fn did(&self) -> &Did;
    /// The Ed25519 signature (64 bytes) of `message`.
    fn sign<'a>(&'a self, message: &'a [u8]) -> LocalBoxFuture<'a, Result<Vec<u8>, CoreError>>;
}

/// An Ed25519 key held in memory: the native runtime's (read from its key
/// file) and the tests'.
pub struct Ed25519Key {
    key: SigningKey,
    did: Did,
}

impl Ed25519Key {
    /// The key with this 32-byte seed (RFC 8032's private key).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&seed);
        let did = Did::from_public_key(key.verifying_key().to_bytes());
        Self { key, did }
    }

    /// The key's DID.
    pub fn did(&self) -> &Did {
        &self.did
    }

    /// The seed, to write to a key file.
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Signs at once (the key is in memory).
    pub fn sign_now(&self, message: &[u8]) -> Vec<u8> {
        use ed25519_dalek::Signer as _;
        self.key.sign(message).to_bytes().to_vec()
    }
}

impl Signer for Ed25519Key {
    fn did(&self) -> &Did {
        Ed25519Key::did(self)
    }

    fn sign<'a>(&'a self, message: &'a [u8]) -> LocalBoxFuture<'a, Result<Vec<u8>, CoreError>> {
        Box::pin(std::future::ready(Ok(self.sign_now(message))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8032_test_1_key_has_its_did_and_signature() {
        // RFC 8032 §7.1, TEST 1: the empty message.
        let seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let key = Ed25519Key::from_seed(seed.try_into().unwrap());
        assert_eq!(
            key.did().public_key().to_vec(),
            hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        );
        let sig = key.sign_now(b"");
        assert_eq!(
            sig,
            hex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
        );
        assert!(key.did().verifies(b"", &sig));
        assert!(!key.did().verifies(b"x", &sig));
        let did = Did::parse(key.did().as_str()).unwrap();
        assert_eq!(did, *key.did());
        assert!(did.as_str().starts_with("did:key:z6Mk"));
    }

    #[test]
    fn other_key_types_and_non_dids_are_named() {
        // A secp256k1 did:key (multicodec e7 01).
        let mut bytes = vec![0xe7, 0x01];
        bytes.extend([2u8; 33]);
        let text = format!(
            "did:key:{}",
            multibase::encode(multibase::Base::Base58Btc, bytes)
        );
        assert!(matches!(
            Did::parse(&text),
            Err(DidError::UnknownKeyType { key_type, .. }) if key_type == "secp256k1"
        ));
        assert!(matches!(
            Did::parse("did:web:example.com"),
            Err(DidError::NotDidKey(_))
        ));
        assert!(matches!(
            Did::parse("did:key:z6Mk"),
            Err(DidError::NotDidKey(_))
        ));
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
