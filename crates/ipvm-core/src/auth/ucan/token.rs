//! UCAN 1.0 tokens: the envelope, the two payloads, and their signatures.
//!
//! Envelope (ucan-wg/spec README, "Envelope"): `[signature, SigPayload]`,
//! SigPayload `{"h": varsig header, "ucan/dlg@1.0.0" | "ucan/inv@1.0.0":
//! payload}`, canonical DAG-CBOR; the signature is over the exact DAG-CBOR
//! bytes of SigPayload; the token's CID is CIDv1, dag-cbor, SHA-256 of the
//! whole envelope. The `-rc.1` tags current implementations emit are read
//! too; this runtime writes `@1.0.0` (the spec fixtures' form).

use std::collections::BTreeMap;

use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::auth::envelope::VARSIG_ED25519_DAG_CBOR;
use crate::auth::identity::{Did, DidError, Signer};
use crate::auth::ucan::{limits, UcanError, UcanErrorKind};
use crate::model::address::{cid_of, encode_dag_cbor, DAG_CBOR, SHA2_256};
use crate::CoreError;

/// Timestamps outside ±(2^53 − 1) seconds are refused (ucan-wg/spec,
/// "Time Bounds").
const MAX_TIME: i128 = (1 << 53) - 1;

/// The tag a delegation is written with.
pub const DELEGATION_TAG: &str = "ucan/dlg@1.0.0";
/// The tag an invocation is written with.
pub const INVOCATION_TAG: &str = "ucan/inv@1.0.0";

/// A delegation's payload (ucan-wg/delegation, "Delegation Payload").
#[derive(Debug, Clone, PartialEq)]
pub struct Delegation {
    /// Issuer.
    pub iss: Did,
    /// Audience.
    pub aud: Did,
    /// Subject; `None` is a powerline (any subject).
    pub sub: Option<Did>,
    /// Command.
    pub cmd: String,
    /// Policy (a list of statements).
    pub pol: Ipld,
    /// Nonce.
    pub nonce: Vec<u8>,
    /// Expiry (seconds), `None`: never.
    pub exp: Option<i64>,
    /// Not before (seconds).
    pub nbf: Option<i64>,
    /// Metadata.
    pub meta: Option<Ipld>,
}

/// An invocation's payload (ucan-wg/invocation, "Invocation Payload").
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// Issuer (the invoker).
    pub iss: Did,
    /// Subject (the authority the command runs under).
    pub sub: Did,
    /// Audience (the executor); `None`: the subject.
    pub aud: Option<Did>,
    /// Command.
    pub cmd: String,
    /// Arguments.
    pub args: BTreeMap<String, Ipld>,
    /// Proofs: delegation CIDs, root first.
    pub prf: Vec<Cid>,
    /// Nonce.
    pub nonce: Vec<u8>,
    /// Expiry (seconds), `None`: never.
    pub exp: Option<i64>,
    /// Issued at (seconds).
    pub iat: Option<i64>,
    /// Metadata.
    pub meta: Option<Ipld>,
    /// The receipt that caused it.
    pub cause: Option<Cid>,
}

/// A token's payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A delegation.
    Delegation(Delegation),
    /// An invocation.
    Invocation(Invocation),
}

/// A decoded token: its bytes, CID, signature and payload. Decoding checks
/// the shape, the canonical form, the varsig header and the payload's
/// fields; [`Token::verify_signature`] checks the signature.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The envelope's bytes.
    pub bytes: Vec<u8>,
    /// The token's CID (dag-cbor, SHA-256).
    pub cid: Cid,
    /// The payload.
    pub payload: Payload,
    signed: Vec<u8>,
    signature: Vec<u8>,
}

fn err(kind: UcanErrorKind, detail: impl Into<String>) -> UcanError {
    UcanError {
        kind,
        detail: detail.into(),
    }
}

fn malformed(detail: impl Into<String>) -> UcanError {
    err(UcanErrorKind::Malformed, detail)
}

impl Token {
    /// Decodes a token (both tag forms). Bytes past
    /// [`MAX_TOKEN_BYTES`](crate::auth::ucan::limits::MAX_TOKEN_BYTES) are refused
    /// before decoding; a policy, a chain or arguments past their bounds
    /// ([`crate::auth::ucan::limits`]) once decoded (`TooLarge`).
    pub fn decode(bytes: &[u8]) -> Result<Self, UcanError> {
        use serde_ipld_dagcbor::DecodeError as E;
        limits::check_token_bytes(bytes)?;
        let value: Ipld = serde_ipld_dagcbor::from_slice(bytes).map_err(|e| match e {
            E::NonMinimal { .. } | E::UnorderedKey | E::IndefiniteSize => err(
                UcanErrorKind::NonCanonical,
                "the token is not canonical DAG-CBOR",
            ),
            e => malformed(format!("not DAG-CBOR: {e}")),
        })?;
        if encode_dag_cbor(&value).ok().as_deref() != Some(bytes) {
            return Err(err(
                UcanErrorKind::NonCanonical,
                "the token is not canonical DAG-CBOR",
            ));
        }
        let Ipld::List(parts) = &value else {
            return Err(malformed("not a list [signature, payload]"));
        };
        let [Ipld::Bytes(signature), Ipld::Map(sig_payload)] = parts.as_slice() else {
            return Err(malformed("not [signature bytes, {h, tag: payload}]"));
        };
        let Some(Ipld::Bytes(header)) = sig_payload.get("h") else {
            return Err(malformed("no varsig header `h`"));
        };
        if header[..] != VARSIG_ED25519_DAG_CBOR {
            return Err(err(
                UcanErrorKind::UnknownHeader,
                format!("varsig header {header:02x?} is not Ed25519 over DAG-CBOR"),
            ));
        }
        let mut tags = sig_payload.iter().filter(|(k, _)| *k != "h");
        let (Some((tag, Ipld::Map(fields))), None, 2) =
            (tags.next(), tags.next(), sig_payload.len())
        else {
            return Err(malformed(
                "the payload must be {h, one type tag: payload map}",
            ));
        };
        let cid = cid_of(DAG_CBOR, SHA2_256, bytes);
        let payload = match tag.as_str() {
            DELEGATION_TAG | "ucan/dlg@1.0.0-rc.1" => {
                let d = delegation(fields)?;
                limits::check_policy(&cid, &d.pol)?;
                Payload::Delegation(d)
            }
            INVOCATION_TAG | "ucan/inv@1.0.0-rc.1" => {
                let i = invocation(fields)?;
                let args = fields
                    .get("args")
                    .map_or(0, |a| encode_dag_cbor(a).map_or(usize::MAX, |b| b.len()));
                limits::check_invocation(&cid, i.prf.len(), args)?;
                Payload::Invocation(i)
            }
            other => return Err(malformed(format!("unknown type tag `{other}`"))),
        };
        let signed = encode_dag_cbor(&parts[1]).map_err(|e| malformed(e.to_string()))?;
        Ok(Self {
            bytes: bytes.to_vec(),
            cid,
            payload,
            signed,
            signature: signature.clone(),
        })
    }

    /// The issuer.
    pub fn issuer(&self) -> &Did {
        match &self.payload {
            Payload::Delegation(d) => &d.iss,
            Payload::Invocation(i) => &i.iss,
        }
    }

    /// Checks the signature against the issuer's key.
    pub fn verify_signature(&self) -> Result<(), UcanError> {
        match self.issuer().verifies(&self.signed, &self.signature) {
            true => Ok(()),
            false => Err(err(
                UcanErrorKind::InvalidSignature,
                format!(
                    "token {}: the signature does not verify with the key of its issuer {}",
                    self.cid,
                    self.issuer()
                ),
            )),
        }
    }

    /// Signs a payload (`iss` must be the signer) into a token, with the
    /// tag of its kind (`@1.0.0`).
    pub async fn sign_payload(signer: &dyn Signer, payload: &Payload) -> Result<Self, CoreError> {
        match payload {
            Payload::Delegation(d) => Self::sign(signer, d.to_ipld(), DELEGATION_TAG).await,
            Payload::Invocation(i) => Self::sign(signer, i.to_ipld(), INVOCATION_TAG).await,
        }
    }

    /// Signs a payload into a token (tag `@1.0.0`).
    pub async fn sign(signer: &dyn Signer, payload: Ipld, tag: &str) -> Result<Self, CoreError> {
        let sig_payload = Ipld::Map(BTreeMap::from([
            ("h".into(), Ipld::Bytes(VARSIG_ED25519_DAG_CBOR.to_vec())),
            (tag.into(), payload),
        ]));
        let signed = encode_dag_cbor(&sig_payload)?;
        let signature = signer.sign(&signed).await?;
        let bytes = encode_dag_cbor(&Ipld::List(vec![Ipld::Bytes(signature), sig_payload]))?;
        Self::decode(&bytes).map_err(|e| CoreError::Encode(e.to_string()))
    }
}

fn time_ipld(t: Option<i64>) -> Ipld {
    t.map_or(Ipld::Null, |t| Ipld::Integer(t.into()))
}

fn text(s: &str) -> Ipld {
    Ipld::String(s.to_string())
}

impl Delegation {
    /// The payload map (the inverse of decoding).
    pub fn to_ipld(&self) -> Ipld {
        let mut m = BTreeMap::from([
            ("iss".to_string(), text(self.iss.as_str())),
            ("aud".to_string(), text(self.aud.as_str())),
            (
                "sub".to_string(),
                self.sub.as_ref().map_or(Ipld::Null, |s| text(s.as_str())),
            ),
            ("cmd".to_string(), text(&self.cmd)),
            ("pol".to_string(), self.pol.clone()),
            ("nonce".to_string(), Ipld::Bytes(self.nonce.clone())),
            ("exp".to_string(), time_ipld(self.exp)),
        ]);
        if let Some(nbf) = self.nbf {
            m.insert("nbf".into(), Ipld::Integer(nbf.into()));
        }
        if let Some(meta) = &self.meta {
            m.insert("meta".into(), meta.clone());
        }
        Ipld::Map(m)
    }
}

impl Invocation {
    /// The payload map (the inverse of decoding).
    pub fn to_ipld(&self) -> Ipld {
        let mut m = BTreeMap::from([
            ("iss".to_string(), text(self.iss.as_str())),
            ("sub".to_string(), text(self.sub.as_str())),
            ("cmd".to_string(), text(&self.cmd)),
            ("args".to_string(), Ipld::Map(self.args.clone())),
            (
                "prf".to_string(),
                Ipld::List(self.prf.iter().map(|c| Ipld::Link(*c)).collect()),
            ),
            ("nonce".to_string(), Ipld::Bytes(self.nonce.clone())),
            ("exp".to_string(), time_ipld(self.exp)),
        ]);
        if let Some(aud) = &self.aud {
            m.insert("aud".into(), text(aud.as_str()));
        }
        if let Some(iat) = self.iat {
            m.insert("iat".into(), Ipld::Integer(iat.into()));
        }
        if let Some(meta) = &self.meta {
            m.insert("meta".into(), meta.clone());
        }
        if let Some(cause) = self.cause {
            m.insert("cause".into(), Ipld::Link(cause));
        }
        Ipld::Map(m)
    }
}

fn did(fields: &BTreeMap<String, Ipld>, key: &str) -> Result<Did, UcanError> {
    match fields.get(key) {
        Some(Ipld::String(s)) => Did::parse(s).map_err(|e| match e {
            DidError::UnknownKeyType { .. } => err(UcanErrorKind::UnknownKeyType, e.to_string()),
            DidError::NotDidKey(_) => err(UcanErrorKind::UnknownKeyType, e.to_string()),
        }),
        _ => Err(malformed(format!("`{key}` must be a DID string"))),
    }
}

fn command(fields: &BTreeMap<String, Ipld>) -> Result<String, UcanError> {
    let Some(Ipld::String(cmd)) = fields.get("cmd") else {
        return Err(malformed("`cmd` must be a string"));
    };
    // Lowercase, a leading `/`, no trailing `/`, no empty segment
    // (ucan-wg/spec, "Command"; spec PR #196 for empty segments).
    let ok = cmd == "/"
        || (cmd.starts_with('/')
            && !cmd.ends_with('/')
            && cmd[1..].split('/').all(|s| !s.is_empty())
            && cmd.chars().all(|c| !c.is_uppercase()));
    match ok {
        true => Ok(cmd.clone()),
        false => Err(malformed(format!(
            "command `{cmd}` must be lowercase, start with `/`, and have no empty or trailing segment"
        ))),
    }
}

fn time(
    fields: &BTreeMap<String, Ipld>,
    key: &str,
    required: bool,
) -> Result<Option<i64>, UcanError> {
    match fields.get(key) {
        Some(Ipld::Integer(t)) if t.abs() <= MAX_TIME => Ok(Some(*t as i64)),
        Some(Ipld::Integer(_)) => Err(malformed(format!("`{key}` is outside ±(2^53 − 1)"))),
        Some(Ipld::Null) => Ok(None),
        None if !required => Ok(None),
        None => Err(malformed(format!("`{key}` is required (null: never)"))),
        _ => Err(malformed(format!("`{key}` must be an integer"))),
    }
}

fn nonce(fields: &BTreeMap<String, Ipld>) -> Result<Vec<u8>, UcanError> {
    match fields.get("nonce") {
        Some(Ipld::Bytes(b)) => Ok(b.clone()),
        _ => Err(malformed("`nonce` must be bytes")),
    }
}

fn delegation(f: &BTreeMap<String, Ipld>) -> Result<Delegation, UcanError> {
    Ok(Delegation {
        iss: did(f, "iss")?,
        aud: did(f, "aud")?,
        sub: match f.get("sub") {
            Some(Ipld::Null) => None,
            _ => Some(did(f, "sub")?),
        },
        cmd: command(f)?,
        pol: match f.get("pol") {
            Some(p @ Ipld::List(_)) => p.clone(),
            _ => return Err(malformed("`pol` must be a list of statements")),
        },
        nonce: nonce(f)?,
        exp: time(f, "exp", true)?,
        nbf: time(f, "nbf", false)?,
        meta: f.get("meta").cloned(),
    })
}

fn invocation(f: &BTreeMap<String, Ipld>) -> Result<Invocation, UcanError> {
    Ok(Invocation {
        iss: did(f, "iss")?,
        sub: did(f, "sub")?,
        aud: match f.get("aud") {
            None => None,
            Some(_) => Some(did(f, "aud")?),
        },
        cmd: command(f)?,
        args: match f.get("args") {
            Some(Ipld::Map(m)) => m.clone(),
            _ => return Err(malformed("`args` must be a map")),
        },
        prf: match f.get("prf") {
            Some(Ipld::List(l)) => l
                .iter()
                .map(|p| match p {
                    Ipld::Link(c) => Ok(*c),
                    _ => Err(malformed("`prf` must be a list of links")),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(malformed("`prf` must be a list of delegation links")),
        },
        nonce: nonce(f)?,
        exp: time(f, "exp", true)?,
        iat: time(f, "iat", false)?,
        meta: f.get("meta").cloned(),
        cause: match f.get("cause") {
            None | Some(Ipld::Null) => None,
            Some(Ipld::Link(c)) => Some(*c),
            _ => return Err(malformed("`cause` must be a receipt link")),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::identity::Ed25519Key;

    #[test]
    fn payloads_sign_and_decode_back_to_themselves() {
        let key = Ed25519Key::from_seed([5; 32]);
        let other = Ed25519Key::from_seed([6; 32]).did().clone();
        let d = Delegation {
            iss: key.did().clone(),
            aud: other.clone(),
            sub: None,
            cmd: "/wasm/run".into(),
            pol: Ipld::List(vec![]),
            nonce: vec![1, 2],
            exp: Some(100),
            nbf: Some(10),
            meta: None,
        };
        let i = Invocation {
            iss: key.did().clone(),
            sub: other.clone(),
            aud: Some(other),
            cmd: "/wasm/run".into(),
            args: BTreeMap::from([("func".to_string(), Ipld::String("f".into()))]),
            prf: vec![crate::model::address::raw_cid(b"p")],
            nonce: vec![],
            exp: None,
            iat: Some(5),
            meta: None,
            cause: None,
        };
        for p in [Payload::Delegation(d), Payload::Invocation(i)] {
            let t = futures::executor::block_on(Token::sign_payload(&key, &p)).unwrap();
            t.verify_signature().unwrap();
            assert_eq!(Token::decode(&t.bytes).unwrap().payload, p);
        }
    }
}
