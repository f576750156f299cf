//! The binding "this DID speaks as this peer id": a DID's signature over a
//! libp2p peer id, so that a connection authenticated as the peer id (by
//! libp2p's Noise handshake) may speak for the DID.
//!
//! Natively a node's Ed25519 key is both its DID and its libp2p identity,
//! so its binding is its own. A tab's WebCrypto key cannot be extracted to
//! sign libp2p's handshake, so the tab runs libp2p under another key and
//! presents a binding signed by its DID's key. Whoever receives a binding
//! checks it against the peer id the connection was authenticated as
//! ([`PeerBinding::check`]); the core knows nothing of libp2p, so a peer id
//! is its text form (base58btc, `12D3KooW…`), compared exactly.
//!
//! On the wire a binding is DAG-CBOR `{did, peer, exp, sig}`; `sig` is the
//! Ed25519 signature of [`DOMAIN`] followed by the DAG-CBOR of
//! `{did, peer, exp}` (`exp` in seconds since the epoch; a binding past it
//! is refused).
//!
//! Peers exchange bindings on [`BINDING_PROTOCOL`] (request-response): the
//! request is the sender's binding, the answer ([`BindingAnswer`]) the
//! receiver's binding if it accepted the sender's, else its reason. Each
//! side checks what it got against the peer id its connection was
//! authenticated as ([`answer_binding`], [`read_answer`]); the transports
//! only carry the bytes.

use std::collections::BTreeMap;

use ipld_core::ipld::Ipld;

use crate::auth::identity::{Did, Signer};
use crate::model::address::encode_dag_cbor;
use crate::peer::wire::read;
use crate::CoreError;

/// What the signature covers before the payload: a binding's signature is
/// never valid as any other signature of the same key.
pub const DOMAIN: &[u8] = b"ipvm/peer-binding/1\n";

/// The longest peer id text accepted (an Ed25519 peer id is 52 characters;
/// an RSA one in base58 up to about 400).
pub const MAX_PEER_LEN: usize = 512;

/// The largest encoded binding accepted (and the largest exchange message).
pub const MAX_BINDING_BYTES: usize = 2048;

/// The binding exchange's protocol id.
pub const BINDING_PROTOCOL: &str = "/ipvm/peer-binding/0.1.0";

/// How long a binding a runtime signs for its connections stays valid.
pub const BINDING_TTL_SECS: u64 = 24 * 60 * 60;

/// The longest reason a refusal carries (a longer one is cut).
pub const MAX_REFUSAL_LEN: usize = 256;

/// Why a binding is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// Not a binding: bad DAG-CBOR, a missing or extra field, a field of
    /// the wrong type or size.
    #[error("malformed peer binding: {0}")]
    Malformed(String),
    /// Signed for another peer id than the connection's.
    #[error("the binding names peer {claimed}, but the connection is from peer {connected}")]
    WrongPeer {
        /// The peer id the binding names.
        claimed: String,
        /// The peer id the connection was authenticated as.
        connected: String,
    },
    /// Past its expiry.
    #[error("the binding expired at {exp} (now {now}); ask the peer for a new one")]
    Expired {
        /// Its expiry, seconds since the epoch.
        exp: u64,
        /// The time it was checked at.
        now: u64,
    },
    /// The signature is not the DID's over this peer id and expiry.
    #[error("the binding's signature is not {did}'s")]
    BadSignature {
        /// The DID it claims.
        did: String,
    },
    /// The peer refused the binding we sent it, for this reason.
    #[error("the peer refused our binding: {0}")]
    RefusedByPeer(String),
}

/// A peer's answer to a binding: its own binding (it accepted ours), or
/// why it refused ours. On the wire: the binding's DAG-CBOR, or
/// `{refused: text}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingAnswer {
    /// Accepted; the answering peer's own binding.
    Accepted(PeerBinding),
    /// Refused, and why (at most [`MAX_REFUSAL_LEN`] bytes).
    Refused(String),
}

impl BindingAnswer {
    /// The answer as DAG-CBOR.
    pub fn to_dag_cbor(&self) -> Result<Vec<u8>, CoreError> {
        match self {
            Self::Accepted(binding) => binding.to_dag_cbor(),
            Self::Refused(why) => encode_dag_cbor(&Ipld::Map(BTreeMap::from([(
                "refused".to_string(),
                Ipld::String(cut(why)),
            )]))),
        }
    }

    /// Reads an answer, strictly (a binding as [`PeerBinding::from_dag_cbor`]
    /// reads it, or exactly `{refused}` with a short text).
    pub fn from_dag_cbor(bytes: &[u8]) -> Result<Self, BindingError> {
        if bytes.len() > MAX_BINDING_BYTES {
            return Err(BindingError::Malformed(format!(
                "an answer of {} bytes, more than {MAX_BINDING_BYTES}",
                bytes.len()
            )));
        }
        if let Ok(Ipld::Map(map)) = read(bytes, MAX_BINDING_BYTES) {
            if let Some(refused) = map.get("refused") {
                return match (map.len(), refused) {
                    (1, Ipld::String(why)) if why.len() <= MAX_REFUSAL_LEN => {
                        Ok(Self::Refused(why.clone()))
                    }
                    _ => Err(BindingError::Malformed(
                        "a refusal is exactly `{refused}`, a text of at most 256 bytes".into(),
                    )),
                };
            }
        }
        PeerBinding::from_dag_cbor(bytes).map(Self::Accepted)
    }
}

/// Whether `peer` can be a peer id's text: 1 to [`MAX_PEER_LEN`] ASCII
/// letters and digits (base58btc, or a CID's base32). Nothing else gets
/// into a refusal or a log line: a peer cannot write a line of its own.
fn peer_text(peer: &str) -> bool {
    !peer.is_empty()
        && peer.len() <= MAX_PEER_LEN
        && peer.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A reason cut to [`MAX_REFUSAL_LEN`] bytes, on a character boundary.
fn cut(why: &str) -> String {
    let mut end = why.len().min(MAX_REFUSAL_LEN);
    while !why.is_char_boundary(end) {
        end -= 1;
    }
    why[..end].to_string()
}

/// What a peer does with a binding `request` that came on a connection
/// authenticated as `connected` at time `now`: the DID the sender speaks
/// for, or why not; and the answer to send (`own` if accepted).
pub fn answer_binding(
    request: &[u8],
    connected: &str,
    now: u64,
    own: PeerBinding,
) -> (Result<Did, BindingError>, BindingAnswer) {
    let checked =
        PeerBinding::from_dag_cbor(request).and_then(|b| b.check(connected, now).cloned());
    match checked {
        Ok(did) => (Ok(did), BindingAnswer::Accepted(own)),
        Err(e) => {
            let why = e.to_string();
            (Err(e), BindingAnswer::Refused(why))
        }
    }
}

/// The DID a peer's `answer` binds it to, its connection authenticated as
/// `connected`, at time `now`; or why not (a refusal is
/// [`BindingError::RefusedByPeer`]).
pub fn read_answer(answer: &[u8], connected: &str, now: u64) -> Result<Did, BindingError> {
    match BindingAnswer::from_dag_cbor(answer)? {
        BindingAnswer::Accepted(b) => b.check(connected, now).cloned(),
        BindingAnswer::Refused(why) => Err(BindingError::RefusedByPeer(why)),
    }
}

/// A DID's signed statement that it speaks as a libp2p peer id until `exp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerBinding {
    did: Did,
    peer: String,
    exp: u64,
    sig: Vec<u8>,
}

impl PeerBinding {
    /// Signs a binding of `signer`'s DID to `peer` (a peer id's text),
    /// valid until `exp` (seconds since the epoch).
    pub async fn sign(signer: &dyn Signer, peer: &str, exp: u64) -> Result<Self, CoreError> {
        if !peer_text(peer) {
            return Err(CoreError::Encode(format!(
                "a peer id of {} bytes cannot be bound (1 to {MAX_PEER_LEN})",
                peer.len()
            )));
        }
        let did = signer.did().clone();
        let message = signed_bytes(&did, peer, exp)?;
        let sig = signer.sign(&message).await?;
        Ok(Self {
            did,
            peer: peer.to_string(),
            exp,
            sig,
        })
    }

    /// The DID that signed.
    pub fn did(&self) -> &Did {
        &self.did
    }

    /// The peer id it names.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Its expiry, seconds since the epoch.
    pub fn exp(&self) -> u64 {
        self.exp
    }

    /// Checks the binding for a connection authenticated as
    /// `connected_peer` at time `now`: the DID it speaks for, or why not.
    pub fn check(&self, connected_peer: &str, now: u64) -> Result<&Did, BindingError> {
        if self.peer != connected_peer {
            return Err(BindingError::WrongPeer {
                claimed: self.peer.clone(),
                connected: connected_peer.to_string(),
            });
        }
        if now >= self.exp {
            return Err(BindingError::Expired { exp: self.exp, now });
        }
        let bad = || BindingError::BadSignature {
            did: self.did.to_string(),
        };
        let message = signed_bytes(&self.did, &self.peer, self.exp).map_err(|_| bad())?;
        if self.did.verifies(&message, &self.sig) {
            Ok(&self.did)
        } else {
            Err(bad())
        }
    }

    /// The binding as DAG-CBOR `{did, peer, exp, sig}`.
    pub fn to_dag_cbor(&self) -> Result<Vec<u8>, CoreError> {
        let mut map = payload(&self.did, &self.peer, self.exp);
        map.insert("sig".into(), Ipld::Bytes(self.sig.clone()));
        encode_dag_cbor(&Ipld::Map(map))
    }

    /// Reads a binding, strictly: exactly the four fields, of their types
    /// and sizes. The signature is not checked here ([`PeerBinding::check`]).
    pub fn from_dag_cbor(bytes: &[u8]) -> Result<Self, BindingError> {
        let bad = |why: &str| BindingError::Malformed(why.to_string());
        if bytes.len() > MAX_BINDING_BYTES {
            return Err(BindingError::Malformed(format!(
                "{} bytes, more than {MAX_BINDING_BYTES}",
                bytes.len()
            )));
        }
        // Its depth and size bounded before it is decoded, as every message
        // from a peer is.
        let read = read(bytes, MAX_BINDING_BYTES);
        let Ipld::Map(map) = read.map_err(|e| bad(&e.to_string()))? else {
            return Err(bad("not a map"));
        };
        if map.len() != 4 {
            return Err(bad("expected exactly the fields did, peer, exp, sig"));
        }
        let did = match map.get("did") {
            Some(Ipld::String(s)) => Did::parse(s).map_err(|e| bad(&e.to_string()))?,
            _ => return Err(bad("`did` is missing or not a string")),
        };
        let peer = match map.get("peer") {
            Some(Ipld::String(s)) if peer_text(s) => s.clone(),
            _ => {
                return Err(bad(
                    "`peer` is missing, not a string, of a bad length, or not base58 text",
                ))
            }
        };
        let exp = match map.get("exp") {
            Some(Ipld::Integer(n)) => u64::try_from(*n).map_err(|_| bad("`exp` is negative"))?,
            _ => return Err(bad("`exp` is missing or not an integer")),
        };
        let sig = match map.get("sig") {
            Some(Ipld::Bytes(b)) if b.len() == 64 => b.clone(),
            _ => return Err(bad("`sig` is missing or not 64 bytes")),
        };
        Ok(Self {
            did,
            peer,
            exp,
            sig,
        })
    }
}

fn payload(did: &Did, peer: &str, exp: u64) -> BTreeMap<String, Ipld> {
    BTreeMap::from([
        ("did".to_string(), Ipld::String(did.to_string())),
        ("peer".to_string(), Ipld::String(peer.to_string())),
        ("exp".to_string(), Ipld::Integer(i128::from(exp))),
    ])
}

fn signed_bytes(did: &Did, peer: &str, exp: u64) -> Result<Vec<u8>, CoreError> {
    let mut message = DOMAIN.to_vec();
    message.extend(encode_dag_cbor(&Ipld::Map(payload(did, peer, exp)))?);
    Ok(message)
}
