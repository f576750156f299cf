//! Plain core modules (no WIT): IPLD numbers to and from i32, i64, f32 and
//! f64, with range checks. An integer that does not fit is an error, never a
//! wrap.

use crate::abi::{CoreTy, CoreVal};
use crate::mapping::{f32_to_ipld, finite};
use crate::ExecError;
use ipvm_core::awaits::kind_name;
use ipvm_core::Ipld;

/// Converts argument `index` to a core value of type `ty`.
pub(crate) fn lower(index: usize, value: &Ipld, ty: CoreTy) -> Result<CoreVal, ExecError> {
    let bad = |reason: String| ExecError::Argument { index, reason };
    let int = |lo: i128, hi: i128, name: &str| -> Result<i128, ExecError> {
        match value {
            Ipld::Integer(i) if (lo..=hi).contains(i) => Ok(*i),
            Ipld::Integer(i) => Err(bad(format!("{i} does not fit {name}"))),
            Ipld::Bool(b) => Ok(i128::from(*b)),
            other => Err(bad(format!(
                "expected an integer for {name}, found {}",
                kind_name(other)
            ))),
        }
    };
    let float = || -> Result<f64, ExecError> {
        match value {
            Ipld::Float(f) => Ok(*f),
            Ipld::Integer(i) => Ok(*i as f64),
            other => Err(bad(format!(
                "expected a number, found {}",
                kind_name(other)
            ))),
        }
    };
    Ok(match ty {
        CoreTy::I32 => CoreVal::I32(int(i32::MIN.into(), i32::MAX.into(), "i32")? as i32),
        CoreTy::I64 => CoreVal::I64(int(i64::MIN.into(), i64::MAX.into(), "i64")? as i64),
        CoreTy::F32 => CoreVal::F32((float()? as f32).to_bits()),
        CoreTy::F64 => CoreVal::F64(float()?.to_bits()),
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
