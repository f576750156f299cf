//! Plain core modules (no WIT): IPLD numbers to and from i32, i64, f32 and
//! f64, with range checks. An integer that does not fit is an error, never a
//! wrap. In [`Mode::Exact`], a bool is not an integer and a number the guest
//! would receive rounded is refused.

use crate::abi::{CoreTy, CoreVal};
use crate::mapping::{f32_to_ipld, finite, rounded, Mode};
use crate::ExecError;
use ipvm_core::awaits::kind_name;
use ipvm_core::Ipld;

/// Converts argument `index` to a core value of type `ty`, in `mode`.
pub(crate) fn lower(
    index: usize,
    value: &Ipld,
    ty: CoreTy,
    mode: Mode,
) -> Result<CoreVal, ExecError> {
    let bad = |reason: String| ExecError::Argument { index, reason };
    let inexact = |what: String| {
        bad(format!(
            "{what} (an invocation's arguments reach the guest as sent: one form per value, \
             docs/spec.md §8 \"Exact mode\")"
        ))
    };
    let int = |lo: i128, hi: i128, name: &str| -> Result<i128, ExecError> {
        match value {
            Ipld::Integer(i) if (lo..=hi).contains(i) => Ok(*i),
            Ipld::Integer(i) => Err(bad(format!("{i} does not fit {name}"))),
            Ipld::Bool(_) if mode == Mode::Exact => Err(inexact(format!(
                "expected an integer for {name}, found a boolean"
            ))),
            Ipld::Bool(b) => Ok(i128::from(*b)),
            other => Err(bad(format!(
                "expected an integer for {name}, found {}",
                kind_name(other)
            ))),
        }
    };
    let float = |single: bool| -> Result<f64, ExecError> {
        let f = match value {
            Ipld::Float(f) => *f,
            Ipld::Integer(i) => *i as f64,
            other => {
                return Err(bad(format!(
                    "expected a number, found {}",
                    kind_name(other)
                )))
            }
        };
        match (mode, rounded(value, f, single)) {
            (Mode::Exact, Some(why)) => Err(inexact(why)),
            _ => Ok(f),
        }
    };
    Ok(match ty {
        CoreTy::I32 => CoreVal::I32(int(i32::MIN.into(), i32::MAX.into(), "i32")? as i32),
        CoreTy::I64 => CoreVal::I64(int(i64::MIN.into(), i64::MAX.into(), "i64")? as i64),
        CoreTy::F32 => CoreVal::F32((float(true)? as f32).to_bits()),
        CoreTy::F64 => CoreVal::F64(float(false)?.to_bits()),
    })
}

/// Converts a core result to IPLD. Non-finite floats have no IPLD form.
pub(crate) fn lift(value: CoreVal) -> Result<Ipld, ExecError> {
    match value {
        CoreVal::I32(v) => Ok(Ipld::Integer(v.into())),
        CoreVal::I64(v) => Ok(Ipld::Integer(v.into())),
        CoreVal::F32(b) => f32_to_ipld(f32::from_bits(b)),
        CoreVal::F64(b) => finite(f64::from_bits(b)),
    }
}
