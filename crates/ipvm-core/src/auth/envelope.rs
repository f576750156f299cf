//! Signed attestations of receipts. A receipt's content names no executor,
//! so two runtimes that compute the same thing write the same receipt CID;
//! who vouches for it is said beside it, in envelopes (spec §5b):
//!
//! ```text
//! [ signature, { "h": varsig header, "ipvm/attest@1": { "iss": signer DID, "rct": receipt CID } } ]
//! ```
//!
//! The shape is a UCAN 1.0 envelope: the signature is Ed25519 over the exact
//! DAG-CBOR bytes of the second element (the signed payload), whose varsig
//! header says "Ed25519 over DAG-CBOR". The payload names the signer, so a
//! signature cannot be re-attributed, and the receipt, so it cannot be moved
//! to another one. An envelope is a block of its own (DAG-CBOR, SHA-256).

use std::collections::BTreeMap;
use std::fmt;

use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::auth::identity::{Did, DidError, Signer};
use crate::model::address::{
    cid_of, decode_dag_cbor, encode_dag_cbor, verify_block, DAG_CBOR, SHA2_256, SHA3_256,
};
use crate::CoreError;

/// Varsig v1 header for Ed25519 over DAG-CBOR: varsig prefix 0x34, version
/// 1, EdDSA (0xed01), edwards25519 (0xed01), SHA2-512 (0x13), DAG-CBOR
/// (0x71). The same bytes as every UCAN 1.0 fixture.
pub const VARSIG_ED25519_DAG_CBOR: [u8; 8] = [0x34, 0x01, 0xed, 0x01, 0xed, 0x01, 0x13, 0x71];

/// The payload's type tag.
pub const ATTESTATION_TAG: &str = "ipvm/attest@1";

/// A checked envelope: `signer` signed `receipt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Who signed.
    pub signer: Did,
    /// The receipt it attests.
    pub receipt: Cid,
    /// The envelope's canonical DAG-CBOR bytes.
    pub bytes: Vec<u8>,
}

/// Why an envelope (or a receipt with its envelopes) is not accepted. Each
/// has its own code, which the API and the CLI report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not an envelope at all: not DAG-CBOR, truncated, or another shape.
    Malformed(String),
    /// DAG-CBOR, but not in its canonical form (of the envelope, or of the
    /// receipt it comes with).
    NonCanonical(&'static str),
    /// A varsig header this runtime does not check.
    UnknownHeader(Vec<u8>),
    /// A signer whose key type this runtime does not check, or not a DID.
    UnknownKeyType(String),
    /// The signature does not verify with the named signer's key over the
    /// signed payload.
    BadSignature(Did),
    /// The envelope attests another receipt than the one it came with.
    CidMismatch {
        /// The receipt the envelope names.
        attested: Box<Cid>,
        /// The receipt it came with.
        receipt: Box<Cid>,
    },
    /// A valid envelope, from a signer this runtime does not trust.
    Untrusted(Did),
    /// A receipt that came with no envelope.
    Unsigned,
    /// An envelope whose receipt is nowhere to be found (not in the archive
    /// it came in, not in the store).
    NoReceipt(Box<Cid>),
}

impl Refusal {
    /// The reason's code: `malformed`, `non_canonical`, `unknown_header`,
    /// `unknown_key_type`, `bad_signature`, `cid_mismatch`, `untrusted`,
    /// `unsigned`, `no_receipt`.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "malformed",
            Refusal::NonCanonical(_) => "non_canonical",
            Refusal::UnknownHeader(_) => "unknown_header",
            Refusal::UnknownKeyType(_) => "unknown_key_type",
            Refusal::BadSignature(_) => "bad_signature",
            Refusal::CidMismatch { .. } => "cid_mismatch",
            Refusal::Untrusted(_) => "untrusted",
            Refusal::Unsigned => "unsigned",
            Refusal::NoReceipt(_) => "no_receipt",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Malformed(why) => write!(f, "not a receipt envelope: {why}"),
            Refusal::NonCanonical(what) => write!(
                f,
                "the {what} is not canonical DAG-CBOR: its signature cannot be checked"
            ),
            Refusal::UnknownHeader(h) => write!(
                f,
                "unknown varsig header {} (only Ed25519 over DAG-CBOR, {}, is checked)",
                hex(h),
                hex(&VARSIG_ED25519_DAG_CBOR)
            ),
            Refusal::UnknownKeyType(why) => write!(f, "{why}"),
            Refusal::BadSignature(did) => write!(
                f,
                "the signature does not verify with the key of {did}: forged, altered, or made by another key"
            ),
            Refusal::CidMismatch { attested, receipt } => write!(
                f,
                "the envelope attests receipt {attested}, not receipt {receipt}"
            ),
            Refusal::Untrusted(did) => write!(
                f,
                "signed by {did}, a signer this runtime does not trust (add it to trust.signers, or verify the receipt here)"
            ),
            Refusal::Unsigned => write!(f, "the receipt carries no envelope"),
            Refusal::NoReceipt(cid) => write!(
                f,
                "it attests receipt {cid}, which is neither in the archive nor in the store"
            ),
        }
    }
}

impl std::error::Error for Refusal {}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes DAG-CBOR, telling bytes that are not in canonical form (the
/// decoder refuses those too) from bytes that are not DAG-CBOR at all.
fn decode_strict(bytes: &[u8], what: &'static str) -> Result<Ipld, Refusal> {
    use serde_ipld_dagcbor::DecodeError as E;
    serde_ipld_dagcbor::from_slice::<Ipld>(bytes).map_err(|e| match e {
        E::NonMinimal { .. } | E::UnorderedKey | E::IndefiniteSize => Refusal::NonCanonical(what),
        e => Refusal::Malformed(format!("the {what} is not DAG-CBOR: {e}")),
    })
}

/// The signed payload: `{"h": header, "ipvm/attest@1": {"iss", "rct"}}`.
fn payload(signer: &Did, receipt: &Cid) -> Ipld {
    Ipld::Map(BTreeMap::from([
        ("h".into(), Ipld::Bytes(VARSIG_ED25519_DAG_CBOR.to_vec())),
        (
            ATTESTATION_TAG.into(),
            Ipld::Map(BTreeMap::from([
                ("iss".into(), Ipld::String(signer.as_str().into())),
                ("rct".into(), Ipld::Link(*receipt)),
            ])),
        ),
    ]))
}

impl Envelope {
    /// `signer`'s envelope for `receipt`.
    pub async fn sign<S: Signer + ?Sized>(signer: &S, receipt: &Cid) -> Result<Self, CoreError> {
        let signed = encode_dag_cbor(&payload(signer.did(), receipt))?;
        let signature = signer.sign(&signed).await?;
        let bytes = encode_dag_cbor(&Ipld::List(vec![
            Ipld::Bytes(signature),
            payload(signer.did(), receipt),
        ]))?;
        Ok(Self {
            signer: signer.did().clone(),
            receipt: *receipt,
            bytes,
        })
    }

    /// The envelope's block CID (CIDv1, DAG-CBOR, SHA-256, as a UCAN
    /// token's).
    pub fn cid(&self) -> Cid {
        cid_of(DAG_CBOR, SHA2_256, &self.bytes)
    }

    /// Checks `bytes` as an envelope and its signature, in this order:
    /// shape, canonical bytes, varsig header, signer key type, signature.
    /// The receipt it attests is not compared with anything here (see
    /// [`Envelope::check_for`]).
    pub fn check(bytes: &[u8]) -> Result<Self, Refusal> {
        let (envelope, signature, message) = Self::parse(bytes)?;
        match envelope.signer.verifies(&message, &signature) {
            true => Ok(envelope),
            false => Err(Refusal::BadSignature(envelope.signer)),
        }
    }

    /// [`Envelope::check`] without the signature: for an envelope made by
    /// this runtime's own code (a worker holding its key), whose signer and
    /// receipt the caller compares. Never for bytes from outside.
    pub fn unverified(bytes: &[u8]) -> Result<Self, Refusal> {
        Self::parse(bytes).map(|(envelope, _, _)| envelope)
    }

    /// The envelope, its signature and the signed bytes, checked up to the
    /// signature.
    fn parse(bytes: &[u8]) -> Result<(Self, Vec<u8>, Vec<u8>), Refusal> {
        let value = decode_strict(bytes, "envelope")?;
        let Ipld::List(parts) = &value else {
            return Err(Refusal::Malformed("not a list [signature, payload]".into()));
        };
        let [Ipld::Bytes(signature), Ipld::Map(signed)] = parts.as_slice() else {
            return Err(Refusal::Malformed(
                "not a list [signature bytes, payload map]".into(),
            ));
        };
        if encode_dag_cbor(&value).ok().as_deref() != Some(bytes) {
            return Err(Refusal::NonCanonical("envelope"));
        }
        if signed.len() != 2 {
            return Err(Refusal::Malformed(
                "the payload must have exactly the keys `h` and `ipvm/attest@1`".into(),
            ));
        }
        let Some(Ipld::Bytes(header)) = signed.get("h") else {
            return Err(Refusal::Malformed(
                "the payload has no varsig header `h`".into(),
            ));
        };
        if header[..] != VARSIG_ED25519_DAG_CBOR {
            return Err(Refusal::UnknownHeader(header.clone()));
        }
        let Some(Ipld::Map(body)) = signed.get(ATTESTATION_TAG) else {
            return Err(Refusal::Malformed(format!(
                "the payload has no `{ATTESTATION_TAG}` map"
            )));
        };
        let (Some(Ipld::String(iss)), Some(Ipld::Link(rct)), 2) =
            (body.get("iss"), body.get("rct"), body.len())
        else {
            return Err(Refusal::Malformed(
                "the attestation must be exactly {iss: DID, rct: receipt link}".into(),
            ));
        };
        let signer = Did::parse(iss).map_err(|e| match e {
            DidError::UnknownKeyType { .. } => Refusal::UnknownKeyType(e.to_string()),
            DidError::NotDidKey(_) => Refusal::UnknownKeyType(e.to_string()),
        })?;
        let message = encode_dag_cbor(&parts[1]).map_err(|e| Refusal::Malformed(e.to_string()))?;
        let envelope = Self {
            signer,
            receipt: *rct,
            bytes: bytes.to_vec(),
        };
        Ok((envelope, signature.clone(), message))
    }

    /// [`Envelope::check`], and that the envelope attests `receipt`.
    pub fn check_for(bytes: &[u8], receipt: &Cid) -> Result<Self, Refusal> {
        let envelope = Self::check(bytes)?;
        match envelope.receipt == *receipt {
            true => Ok(envelope),
            false => Err(Refusal::CidMismatch {
                attested: Box::new(envelope.receipt),
                receipt: Box::new(*receipt),
            }),
        }
    }

    /// Whether a block claims to be an envelope (a two-element list whose
    /// second element holds an `ipvm/attest@1` attestation), so that an
    /// archive's envelopes can be told from its other blocks before they
    /// are checked. Any other block is data, whatever its shape.
    pub fn looks_like(cid: &Cid, bytes: &[u8]) -> bool {
        if cid.codec() != DAG_CBOR || verify_block(cid, bytes).is_err() {
            return false;
        }
        matches!(
            decode_dag_cbor(bytes),
            Ok(Ipld::List(parts)) if parts.len() == 2
                && matches!(&parts[1], Ipld::Map(m) if m.contains_key(ATTESTATION_TAG))
        )
    }
}

/// The answer to "may this receipt be believed?": the receipt's CID, each
/// envelope's signer or refusal, and the verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptCheck {
    /// The receipt's CID, computed from its bytes.
    pub receipt: Option<Cid>,
    /// Each envelope in the order given: its signer, or why it was refused.
    pub envelopes: Vec<Result<Did, Refusal>>,
    /// `Ok(signer)`: a valid envelope from a trusted signer (the first).
    /// `Err(reason)`: why not: the receipt's own fault, else the first
    /// refused envelope's reason, else `untrusted` (every envelope is valid,
    /// none from a trusted signer), else `unsigned` (no envelope).
    pub verdict: Result<Did, Refusal>,
}

/// Checks a receipt (its DAG-CBOR bytes) with the envelopes that came with
/// it, against `trusts`.
pub fn check_receipt(
    receipt: &[u8],
    envelopes: &[Vec<u8>],
    trusts: &dyn Fn(&Did) -> bool,
) -> ReceiptCheck {
    let decoded = decode_strict(receipt, "receipt").and_then(|v| {
        crate::model::receipt::Receipt::from_ipld(&v)
            .map_err(|e| Refusal::Malformed(format!("the receipt: {e}")))
    });
    let cid = match decoded {
        Err(e) => {
            return ReceiptCheck {
                receipt: None,
                envelopes: Vec::new(),
                verdict: Err(e),
            }
        }
        Ok(r) => match r.block() {
            Ok((cid, canonical)) if canonical == receipt => cid,
            _ => {
                return ReceiptCheck {
                    receipt: Some(cid_of(DAG_CBOR, SHA3_256, receipt)),
                    envelopes: Vec::new(),
                    verdict: Err(Refusal::NonCanonical("receipt")),
                }
            }
        },
    };
    let checked: Vec<Result<Did, Refusal>> = envelopes
        .iter()
        .map(|e| Envelope::check_for(e, &cid).map(|e| e.signer))
        .collect();
    let verdict = if let Some(did) = checked.iter().flatten().find(|d| trusts(d)) {
        Ok(did.clone())
    } else if let Some(refusal) = checked.iter().find_map(|c| c.as_ref().err()) {
        Err(refusal.clone())
    } else if let Some(Ok(did)) = checked.first() {
        Err(Refusal::Untrusted(did.clone()))
    } else {
        Err(Refusal::Unsigned)
    };
    ReceiptCheck {
        receipt: Some(cid),
        envelopes: checked,
        verdict,
    }
}
