//! UCAN 1.0 authority (ucan-wg/spec 1.0.0, ucan-wg/delegation and
//! ucan-wg/invocation): tokens ([`token`]), the policy language
//! ([`policy`]), and the validation of an invocation with its proof chain
//! ([`validate`]). Implemented on the IPLD crates: no UCAN 1.0 crate is
//! published. The choices the specification leaves open are in
//! docs/spec.md §5c.

pub mod limits;
pub mod policy;
pub mod token;
pub mod wasm;

use cid::Cid;
use ipld_core::ipld::Ipld;

pub use token::{Delegation, Invocation, Payload, Token, DELEGATION_TAG, INVOCATION_TAG};

/// Why a token or a chain is refused. The first eight are the names the
/// ucan-wg/spec fixtures expect; the others name what the fixtures do not
/// cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UcanErrorKind {
    /// A signature does not verify with its issuer's key.
    InvalidSignature,
    /// The chain does not prove the claim: no proof where one is needed, a
    /// powerline at the root, a root not issued by the subject, a proof
    /// that is not a delegation.
    InvalidClaim,
    /// A proof the invocation names is not available.
    UnavailableProof,
    /// A token is past its `exp`.
    Expired,
    /// A delegation is before its `nbf`.
    TooEarly,
    /// A delegation's audience is not the next token's issuer.
    InvalidAudience,
    /// A delegation's subject is not the invocation's subject.
    InvalidSubject,
    /// A delegation's policy does not hold on the invocation's arguments.
    MatchError,
    /// A delegation's command does not cover the invocation's command.
    InvalidCommand,
    /// Not a token: truncated, another shape, a missing or mistyped field.
    Malformed,
    /// Not canonical DAG-CBOR.
    NonCanonical,
    /// A varsig header other than Ed25519 over DAG-CBOR.
    UnknownHeader,
    /// A principal that is not an Ed25519 did:key.
    UnknownKeyType,
    /// An invocation from another principal seen before (until its `exp`).
    Replay,
    /// Past one of this runtime's bounds ([`limits`]): a token's size, a
    /// policy's, a chain's length, the arguments' size, or the steps the
    /// policies take to evaluate. The detail names the token, the field
    /// and the limit.
    TooLarge,
}

impl UcanErrorKind {
    /// The kind's name, as in the fixtures (`InvalidSignature`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::InvalidSignature => "InvalidSignature",
            Self::InvalidClaim => "InvalidClaim",
            Self::UnavailableProof => "UnavailableProof",
            Self::Expired => "Expired",
            Self::TooEarly => "TooEarly",
            Self::InvalidAudience => "InvalidAudience",
            Self::InvalidSubject => "InvalidSubject",
            Self::MatchError => "MatchError",
            Self::InvalidCommand => "InvalidCommand",
            Self::Malformed => "Malformed",
            Self::NonCanonical => "NonCanonical",
            Self::UnknownHeader => "UnknownHeader",
            Self::UnknownKeyType => "UnknownKeyType",
            Self::Replay => "Replay",
            Self::TooLarge => "TooLarge",
        }
    }
}

/// A refusal, with what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", kind.name())]
pub struct UcanError {
    /// What kind of refusal.
    pub kind: UcanErrorKind,
    /// What was wrong, in words.
    pub detail: String,
}

fn refuse(kind: UcanErrorKind, detail: impl Into<String>) -> UcanError {
    UcanError {
        kind,
        detail: detail.into(),
    }
}

/// Whether a delegation of `granted` covers `invoked`: by whole path
/// segments (`/` covers all; `/wasm` covers `/wasm` and `/wasm/run`, not
/// `/wasmx`).
pub fn command_covers(granted: &str, invoked: &str) -> bool {
    granted == "/"
        || invoked == granted
        || invoked
            .strip_prefix(granted)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Validates `invocation` at time `now` (seconds since the epoch), with its
/// proofs looked up by CID. In order: the invocation's signature and
/// expiry; each proof (available, a delegation, signed by its issuer, within
/// its time bounds); the chain (root first, as the spec's fixtures order
/// it): rooted at the subject, audiences aligned up to the invoker,
/// subjects equal to the invocation's (or a powerline below the root),
/// every command covering the invoked one, every policy holding on the
/// arguments. Returns the invocation's payload.
pub fn validate(
    invocation: &Token,
    proof: &dyn Fn(&Cid) -> Option<Token>,
    now: i64,
) -> Result<Invocation, UcanError> {
    validate_with(invocation, proof, now, &|args| Ipld::Map(args.clone()))
}

/// [`validate`], with the policies applied to `view(args)`: the arguments
/// as the command will use them (for `/wasm/run`, the module's CID in its
/// one canonical spelling), so that a policy cannot be passed by spelling
/// a value another way than the command reads it.
pub fn validate_with(
    invocation: &Token,
    proof: &dyn Fn(&Cid) -> Option<Token>,
    now: i64,
    view: &dyn Fn(&std::collections::BTreeMap<String, Ipld>) -> Ipld,
) -> Result<Invocation, UcanError> {
    let Payload::Invocation(inv) = &invocation.payload else {
        return Err(refuse(
            UcanErrorKind::InvalidClaim,
            "the token is a delegation, not an invocation",
        ));
    };
    invocation.verify_signature()?;
    if let Some(exp) = inv.exp {
        if now > exp {
            return Err(refuse(
                UcanErrorKind::Expired,
                format!("the invocation expired at {exp} (now {now})"),
            ));
        }
    }
    let mut chain = Vec::with_capacity(inv.prf.len());
    for cid in &inv.prf {
        let token = proof(cid).ok_or_else(|| {
            refuse(
                UcanErrorKind::UnavailableProof,
                format!("proof {cid} is not available"),
            )
        })?;
        let Payload::Delegation(d) = &token.payload else {
            return Err(refuse(
                UcanErrorKind::InvalidClaim,
                format!("proof {cid} is not a delegation"),
            ));
        };
        token.verify_signature()?;
        if let Some(exp) = d.exp {
            if now > exp {
                return Err(refuse(
                    UcanErrorKind::Expired,
                    format!("proof {cid} expired at {exp} (now {now})"),
                ));
            }
        }
        if let Some(nbf) = d.nbf {
            if now < nbf {
                return Err(refuse(
                    UcanErrorKind::TooEarly,
                    format!("proof {cid} is not valid before {nbf} (now {now})"),
                ));
            }
        }
        chain.push((*cid, d.clone()));
    }
    let Some(((root_cid, root), _)) = chain.split_first() else {
        // No proof: only the subject may invoke on itself.
        return match inv.iss == inv.sub {
            true => Ok(inv.clone()),
            false => Err(refuse(
                UcanErrorKind::InvalidClaim,
                format!("{} invokes on {} with no proof", inv.iss, inv.sub),
            )),
        };
    };
    if root.sub.is_none() {
        return Err(refuse(
            UcanErrorKind::InvalidClaim,
            format!("the root proof {root_cid} is a powerline (sub: null)"),
        ));
    }
    for (cid, d) in &chain {
        if let Some(sub) = &d.sub {
            if *sub != inv.sub {
                return Err(refuse(
                    UcanErrorKind::InvalidSubject,
                    format!(
                        "proof {cid} is about {sub}, the invocation about {}",
                        inv.sub
                    ),
                ));
            }
        }
    }
    if root.iss != inv.sub {
        return Err(refuse(
            UcanErrorKind::InvalidClaim,
            format!(
                "the root proof {root_cid} is issued by {}, not by the subject {}",
                root.iss, inv.sub
            ),
        ));
    }
    for pair in chain.windows(2) {
        let ((a_cid, a), (b_cid, b)) = (&pair[0], &pair[1]);
        if a.aud != b.iss {
            return Err(refuse(
                UcanErrorKind::InvalidAudience,
                format!(
                    "proof {a_cid} is for {}, but proof {b_cid} is issued by {}",
                    a.aud, b.iss
                ),
            ));
        }
    }
    if let Some((last_cid, last)) = chain.last() {
        if last.aud != inv.iss {
            return Err(refuse(
                UcanErrorKind::InvalidAudience,
                format!(
                    "proof {last_cid} is for {}, but the invoker is {}",
                    last.aud, inv.iss
                ),
            ));
        }
    }
    let args = view(&inv.args);
    // One budget for the whole chain: each policy is bounded in size, and
    // all of them together in the work they take.
    let mut budget = policy::Budget::new(limits::MAX_POLICY_STEPS);
    for (cid, d) in &chain {
        if !command_covers(&d.cmd, &inv.cmd) {
            return Err(refuse(
                UcanErrorKind::InvalidCommand,
                format!(
                    "proof {cid} grants `{}`, which does not cover `{}`",
                    d.cmd, inv.cmd
                ),
            ));
        }
        match policy::holds_within(&d.pol, &args, &mut budget) {
            Ok(true) => {}
            Ok(false) => {
                return Err(refuse(
                    UcanErrorKind::MatchError,
                    format!("the arguments do not satisfy the policy of proof {cid}"),
                ))
            }
            Err(e @ policy::PolicyError::TooCostly { .. }) => {
                return Err(refuse(
                    UcanErrorKind::TooLarge,
                    format!("delegation {cid}: `pol`: {e} (MAX_POLICY_STEPS, for the whole chain)"),
                ))
            }
            Err(e) => {
                return Err(refuse(
                    UcanErrorKind::MatchError,
                    format!("the policy of proof {cid} cannot be applied: {e}"),
                ))
            }
        }
    }
    Ok(inv.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_covered_by_whole_segments() {
        assert!(command_covers("/", "/wasm/run"));
        assert!(command_covers("/wasm", "/wasm"));
        assert!(command_covers("/wasm", "/wasm/run"));
        assert!(!command_covers("/wasm", "/wasmx"));
        assert!(!command_covers("/wasm/run", "/wasm"));
    }
}
