//! The bounds of what admission accepts (docs/spec.md §5c, "Bounds"): a
//! token's size, a policy's size, a proof chain's length, an invocation's
//! arguments, and the steps evaluating the policies of a chain may take.
//! Each is checked before the work it bounds: the size before decoding,
//! the shapes while decoding, the steps while evaluating. A token past one
//! is refused with [`UcanErrorKind::TooLarge`](super::UcanErrorKind),
//! naming the token, the field and the limit.

use cid::Cid;
use ipld_core::ipld::Ipld;

use super::policy;
use super::{UcanError, UcanErrorKind};

/// The largest token (delegation or invocation) accepted: 1 MiB, checked
/// before any byte is decoded.
pub const MAX_TOKEN_BYTES: usize = 1 << 20;
/// The largest `args` of an invocation, as DAG-CBOR: 512 KiB.
pub const MAX_ARGS_BYTES: usize = 512 * 1024;
/// The most proofs an invocation may name (its chain's length).
pub const MAX_PROOFS: usize = 16;
/// The most statements in one delegation's policy, nested ones included.
pub const MAX_POLICY_STATEMENTS: usize = 1024;
/// The deepest statements of a policy may nest (`not`, `and`, `or`,
/// `all`, `any`; 1 is a statement of the policy's own list).
pub const MAX_POLICY_DEPTH: usize = 32;
/// The longest `like` pattern, in bytes.
pub const MAX_LIKE_PATTERN_BYTES: usize = 1024;
/// The most steps evaluating every policy of a chain may take
/// ([`policy::Budget`]): tens of milliseconds at most.
pub const MAX_POLICY_STEPS: u64 = 10_000_000;

fn too_large(detail: String) -> UcanError {
    UcanError {
        kind: UcanErrorKind::TooLarge,
        detail,
    }
}

/// Refuses bytes past [`MAX_TOKEN_BYTES`], before decoding them.
pub(crate) fn check_token_bytes(bytes: &[u8]) -> Result<(), UcanError> {
    match bytes.len() > MAX_TOKEN_BYTES {
        true => Err(too_large(format!(
            "the token is {} bytes, more than the {MAX_TOKEN_BYTES} (MAX_TOKEN_BYTES) this runtime accepts",
            bytes.len()
        ))),
        false => Ok(()),
    }
}

/// Refuses a delegation's policy past the policy bounds.
pub(crate) fn check_policy(token: &Cid, pol: &Ipld) -> Result<(), UcanError> {
    let shape = policy::shape(pol);
    let over = |what: &str, n: usize, limit: usize, name: &str| {
        too_large(format!(
            "delegation {token}: `pol` {what} {n}, more than the {limit} ({name}) this runtime accepts"
        ))
    };
    if shape.statements > MAX_POLICY_STATEMENTS {
        return Err(over(
            "has statements:",
            shape.statements,
            MAX_POLICY_STATEMENTS,
            "MAX_POLICY_STATEMENTS",
        ));
    }
    if shape.depth > MAX_POLICY_DEPTH {
        return Err(over(
            "nests statements at least",
            shape.depth,
            MAX_POLICY_DEPTH,
            "MAX_POLICY_DEPTH",
        ));
    }
    if shape.pattern > MAX_LIKE_PATTERN_BYTES {
        return Err(over(
            "has a `like` pattern of bytes:",
            shape.pattern,
            MAX_LIKE_PATTERN_BYTES,
            "MAX_LIKE_PATTERN_BYTES",
        ));
    }
    Ok(())
}

/// Refuses an invocation with too many proofs or arguments too large
/// (`args_bytes`: the arguments' DAG-CBOR length).
pub(crate) fn check_invocation(
    token: &Cid,
    proofs: usize,
    args_bytes: usize,
) -> Result<(), UcanError> {
    if proofs > MAX_PROOFS {
        return Err(too_large(format!(
            "invocation {token}: `prf` names {proofs} proofs, more than the {MAX_PROOFS} (MAX_PROOFS) this runtime accepts"
        )));
    }
    if args_bytes > MAX_ARGS_BYTES {
        return Err(too_large(format!(
            "invocation {token}: `args` is {args_bytes} bytes as DAG-CBOR, more than the {MAX_ARGS_BYTES} (MAX_ARGS_BYTES) this runtime accepts"
        )));
    }
    Ok(())
}
