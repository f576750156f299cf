//! IPLD values to and from core Wasm values (i32, i64, f32, f64), with range
//! checks: an integer that does not fit is an error, never a wrap.

use ipvm_core::awaits::kind_name;
use ipvm_core::Ipld;
use wasmi::{Val, ValType};

use crate::ExecError;

/// Converts argument `index` to a Wasm value of type `ty`.
pub(crate) fn lower(index: usize, value: &Ipld, ty: ValType) -> Result<Val, ExecError> {
    let bad = |reason: String| ExecError::Argument { index, reason };
    let int = |lo: i128, hi: i128, name: &str| -> Result<i128, ExecError> {
        match value {
            Ipld::Integer(i) if (lo..=hi).contains(i) => Ok(*i),
            Ipld::Integer(i) => Err(bad(format!("{i} does not fit {name}"))),
            Ipld::Bool(b) => Ok(i128::from(*b)),
            other => Err(bad(format!("expected an integer for {name}, found {}", kind_name(other)))),
        }
    };
    let float = || -> Result<f64, ExecError> {
        match value {
            Ipld::Float(f) => Ok(*f),
            Ipld::Integer(i) => Ok(*i as f64),
            other => Err(bad(format!("expected a number, found {}", kind_name(other)))),
        }
    };
    Ok(match ty {
        ValType::I32 => Val::I32(int(i32::MIN.into(), i32::MAX.into(), "i32")? as i32),
        ValType::I64 => Val::I64(int(i64::MIN.into(), i64::MAX.into(), "i64")? as i64),
        ValType::F32 => Val::F32((float()? as f32).into()),
        ValType::F64 => Val::F64(float()?.into()),
        other => return Err(bad(format!("parameter type {other:?} is not supported"))),
    })
}

/// Converts a Wasm result to IPLD.
pub(crate) fn lift(value: &Val) -> Ipld {
    match value {
        Val::I32(v) => Ipld::Integer((*v).into()),
        Val::I64(v) => Ipld::Integer((*v).into()),
        Val::F32(v) => Ipld::Float(f32::from(*v).into()),
        Val::F64(v) => Ipld::Float(f64::from(*v)),
        other => Ipld::String(format!("{other:?}")),
    }
}
