//! The canonical ABI: how WIT values travel through a core module's
//! parameters, results and linear memory (lower, lift, `cabi_realloc`,
//! `cabi_post_*`). Written against the small [`Guest`] trait, so that any
//! engine (wasmi here; the browser's own engine later) reuses it unchanged.
//! Strings are UTF-8, as wit-bindgen emits them.
//!
//! One file, past 600 lines, on purpose: lowering and lifting mirror each
//! other case by case (flat, through memory, each WIT type), and reading
//! them side by side is how a change to one is checked against the other.

use crate::wit::{WitFunc, WitType};
use crate::ExecError;

/// Maximum flat parameters before they pass through memory.
const MAX_FLAT_PARAMS: usize = 16;
/// Maximum flat results before they come back through memory.
const MAX_FLAT_RESULTS: usize = 1;
/// The largest output a function may return, counted as lifted: the bytes
/// of every string and byte list, and [`LIFTED_ELEMENT_BYTES`] per element
/// of any other list (a list of 64 Mi `bool`s takes 64 MiB of guest memory,
/// and gigabytes as host values). The whole output counts, not each part:
/// strings that alias one region of memory count once per reference.
pub const MAX_OUTPUT_BYTES: u64 = 64 * 1024 * 1024;
/// What one element of a list costs once lifted, beyond its own strings.
pub const LIFTED_ELEMENT_BYTES: u64 = 32;
/// The most bytes of each string a host function reads from a guest (a log
/// line keeps at most 16 KiB anyway): a 64 MiB log message is not copied.
pub const HOST_STRING_BYTES: u32 = 16 * 1024;

/// Linear memory, read in ranges: natively a borrowed slice; in a browser a
/// copy out of the memory's `ArrayBuffer`, which cannot be borrowed.
pub trait MemoryView {
    /// The memory's size in bytes.
    fn size(&self) -> u64;
    /// The bytes `ptr..ptr + len`, or `None` if they are not all in memory.
    fn range(&self, ptr: u32, len: u32) -> Option<std::borrow::Cow<'_, [u8]>>;
}

impl MemoryView for &[u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn range(&self, ptr: u32, len: u32) -> Option<std::borrow::Cow<'_, [u8]>> {
        span(ptr, len as usize)
            .and_then(|r| self.get(r))
            .map(std::borrow::Cow::Borrowed)
    }
}

/// Guest memory seen while lifting values out of it, with what the lifted
/// values may still take.
pub struct Lifting<'a> {
    mem: &'a dyn MemoryView,
    left: std::cell::Cell<u64>,
    limit: u64,
    /// Strings longer than this are read only up to it (host calls).
    string_prefix: Option<u32>,
}

impl<'a> Lifting<'a> {
    /// Lifting a function's output: at most [`MAX_OUTPUT_BYTES`] in all.
    pub fn output(mem: &'a dyn MemoryView) -> Self {
        Self {
            mem,
            left: std::cell::Cell::new(MAX_OUTPUT_BYTES),
            limit: MAX_OUTPUT_BYTES,
            string_prefix: None,
        }
    }

    /// Lifting a host call's arguments: strings are read only up to
    /// [`HOST_STRING_BYTES`], so a host call copies a bounded amount.
    pub fn host_args(mem: &'a dyn MemoryView) -> Self {
        Self {
            string_prefix: Some(HOST_STRING_BYTES),
            ..Self::output(mem)
        }
    }

    /// Takes `n` bytes of the budget, or fails with the size asked so far.
    fn charge(&self, n: u64) -> Result<(), ExecError> {
        match self.left.get().checked_sub(n) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => Err(ExecError::OutputTooLarge {
                bytes: (self.limit - self.left.get()).saturating_add(n),
                limit: self.limit,
            }),
        }
    }
}

impl MemoryView for Lifting<'_> {
    fn size(&self) -> u64 {
        self.mem.size()
    }
    fn range(&self, ptr: u32, len: u32) -> Option<std::borrow::Cow<'_, [u8]>> {
        self.mem.range(ptr, len)
    }
}

/// A core Wasm value. Floats are kept as bits so NaN payloads never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreVal {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
}

/// A core Wasm value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreTy {
    I32,
    I64,
    F32,
    F64,
}

/// A WIT value, by position (records and tuples alike).
#[derive(Debug, Clone, PartialEq)]
pub enum WitValue {
    Bool(bool),
    S8(i8),
    U8(u8),
    S16(i16),
    U16(u16),
    S32(i32),
    U32(u32),
    S64(i64),
    U64(u64),
    F32(f32),
    F64(f64),
    Char(char),
    String(String),
    /// A `list<u8>`, kept as bytes (images are megabytes).
    Bytes(Vec<u8>),
    List(Vec<WitValue>),
    Record(Vec<WitValue>),
    Tuple(Vec<WitValue>),
    Flags(Vec<bool>),
    Enum(u32),
    Variant(u32, Option<Box<WitValue>>),
    Option(Option<Box<WitValue>>),
    Result(Result<Option<Box<WitValue>>, Option<Box<WitValue>>>),
}

/// Linear memory of an instance, and its allocator.
pub trait GuestMemory {
    /// The linear memory, for reads.
    fn view(&self) -> Result<Box<dyn MemoryView + '_>, ExecError>;
    /// Writes `bytes` at `ptr`; `false` (and nothing written) if they do
    /// not all fit in memory.
    fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<bool, ExecError>;
    /// Calls `cabi_realloc(0, 0, align, size)`.
    fn realloc(&mut self, align: u32, size: u32) -> Result<u32, ExecError>;
}

/// An instantiated module: the engine trait the ABI is written against.
pub trait Guest: GuestMemory {
    /// Calls an export with core values.
    fn call(&mut self, export: &str, args: &[CoreVal]) -> Result<Vec<CoreVal>, ExecError>;
    /// Whether the instance exports a function of this name.
    fn has_export(&self, name: &str) -> bool;
}

fn abi(msg: impl Into<String>) -> ExecError {
    ExecError::Abi(msg.into())
}

fn align_to(x: u32, a: u32) -> u32 {
    x.div_ceil(a) * a
}

fn disc_size(cases: usize) -> u32 {
    match cases {
        0..=256 => 1,
        257..=65536 => 2,
        _ => 4,
    }
}

/// (case payload types) of a variant-like type, or None if not variant-like.
fn cases(t: &WitType) -> Option<Vec<Option<&WitType>>> {
    Some(match t {
        WitType::Variant(cs) => cs.iter().map(|(_, t)| t.as_ref()).collect(),
        WitType::Enum(names) => names.iter().map(|_| None).collect(),
        WitType::Option(t) => vec![None, Some(&**t)],
        WitType::Result(ok, err) => vec![ok.as_deref(), err.as_deref()],
        _ => return None,
    })
}

fn flags_words(n: usize) -> u32 {
    n.div_ceil(32) as u32
}

/// Alignment in linear memory.
pub fn align(t: &WitType) -> u32 {
    match t {
        WitType::Bool | WitType::S8 | WitType::U8 => 1,
        WitType::S16 | WitType::U16 => 2,
        WitType::S32
        | WitType::U32
        | WitType::F32
        | WitType::Char
        | WitType::String
        | WitType::List(_) => 4,
        WitType::S64 | WitType::U64 | WitType::F64 => 8,
        WitType::Record(fs) => fs.iter().map(|(_, t)| align(t)).max().unwrap_or(1),
        WitType::Tuple(ts) => ts.iter().map(align).max().unwrap_or(1),
        WitType::Flags(names) => match names.len() {
            0..=8 => 1,
            9..=16 => 2,
            _ => 4,
        },
        other => {
            let cs = cases(other).unwrap_or_default();
            cs.iter()
                .flatten()
                .map(|t| align(t))
                .max()
                .unwrap_or(1)
                .max(disc_size(cs.len()))
        }
    }
}

/// Size in linear memory.
pub fn size(t: &WitType) -> u32 {
    match t {
        WitType::Bool | WitType::S8 | WitType::U8 => 1,
        WitType::S16 | WitType::U16 => 2,
        WitType::S32 | WitType::U32 | WitType::F32 | WitType::Char => 4,
        WitType::S64 | WitType::U64 | WitType::F64 | WitType::String | WitType::List(_) => 8,
        WitType::Record(fs) => record_size(fs.iter().map(|(_, t)| t)),
        WitType::Tuple(ts) => record_size(ts.iter()),
        WitType::Flags(names) => match names.len() {
            0 => 0,
            1..=8 => 1,
            9..=16 => 2,
            n => 4 * flags_words(n),
        },
        other => {
            let cs = cases(other).unwrap_or_default();
            let max_align = cs.iter().flatten().map(|t| align(t)).max().unwrap_or(1);
            let max_size = cs.iter().flatten().map(|t| size(t)).max().unwrap_or(0);
            align_to(
                align_to(disc_size(cs.len()), max_align) + max_size,
                align(other),
            )
        }
    }
}

fn record_size<'a>(fields: impl Iterator<Item = &'a WitType>) -> u32 {
    let (mut s, mut a) = (0, 1);
    for t in fields {
        s = align_to(s, align(t)) + size(t);
        a = a.max(align(t));
    }
    align_to(s, a)
}

fn payload_offset(t: &WitType) -> u32 {
    let cs = cases(t).unwrap_or_default();
    align_to(
        disc_size(cs.len()),
        cs.iter().flatten().map(|t| align(t)).max().unwrap_or(1),
    )
}

fn join(a: CoreTy, b: CoreTy) -> CoreTy {
    match (a, b) {
        _ if a == b => a,
        (CoreTy::I32, CoreTy::F32) | (CoreTy::F32, CoreTy::I32) => CoreTy::I32,
        _ => CoreTy::I64,
    }
}

/// The core types a value of `t` flattens to.
pub fn flatten(t: &WitType, out: &mut Vec<CoreTy>) {
    match t {
        WitType::S64 | WitType::U64 => out.push(CoreTy::I64),
        WitType::F32 => out.push(CoreTy::F32),
        WitType::F64 => out.push(CoreTy::F64),
        WitType::String | WitType::List(_) => out.extend([CoreTy::I32, CoreTy::I32]),
        WitType::Record(fs) => fs.iter().for_each(|(_, t)| flatten(t, out)),
        WitType::Tuple(ts) => ts.iter().for_each(|t| flatten(t, out)),
        WitType::Flags(names) => out.extend((0..flags_words(names.len())).map(|_| CoreTy::I32)),
        WitType::Variant(_) | WitType::Enum(_) | WitType::Option(_) | WitType::Result(..) => {
            let mut joined: Vec<CoreTy> = Vec::new();
            for case in cases(t).unwrap_or_default().into_iter().flatten() {
                let mut flat = Vec::new();
                flatten(case, &mut flat);
                for (i, ft) in flat.into_iter().enumerate() {
                    match joined.get_mut(i) {
                        Some(j) => *j = join(*j, ft),
                        None => joined.push(ft),
                    }
                }
            }
            out.push(CoreTy::I32);
            out.extend(joined);
        }
        _ => out.push(CoreTy::I32),
    }
}

fn flat_of(t: &WitType) -> Vec<CoreTy> {
    let mut v = Vec::new();
    flatten(t, &mut v);
    v
}

fn zero(t: CoreTy) -> CoreVal {
    match t {
        CoreTy::I32 => CoreVal::I32(0),
        CoreTy::I64 => CoreVal::I64(0),
        CoreTy::F32 => CoreVal::F32(0),
        CoreTy::F64 => CoreVal::F64(0),
    }
}

/// Widens a case's flat value into the variant's joined slot type.
fn coerce_up(v: CoreVal, slot: CoreTy) -> CoreVal {
    match (v, slot) {
        (CoreVal::F32(b), CoreTy::I32) => CoreVal::I32(b as i32),
        (CoreVal::F32(b), CoreTy::I64) => CoreVal::I64(i64::from(b)),
        (CoreVal::I32(i), CoreTy::I64) => CoreVal::I64(i64::from(i as u32)),
        (CoreVal::F64(b), CoreTy::I64) => CoreVal::I64(b as i64),
        (v, _) => v,
    }
}

/// Narrows a joined slot value back to the case's flat type.
fn coerce_down(v: CoreVal, want: CoreTy) -> CoreVal {
    match (v, want) {
        (CoreVal::I32(i), CoreTy::F32) => CoreVal::F32(i as u32),
        (CoreVal::I64(i), CoreTy::F32) => CoreVal::F32(i as u32),
        (CoreVal::I64(i), CoreTy::I32) => CoreVal::I32(i as i32),
        (CoreVal::I64(i), CoreTy::F64) => CoreVal::F64(i as u64),
        (v, _) => v,
    }
}

fn mismatch(t: &WitType, v: &WitValue) -> ExecError {
    abi(format!("value {v:?} does not have type {}", t.describe()))
}

/// Calls the guest's `cabi_realloc(0, 0, align, size)`: how every engine
/// implements [`GuestMemory::realloc`].
pub fn call_realloc(g: &mut dyn Guest, align: u32, size: u32) -> Result<u32, ExecError> {
    if !g.has_export("cabi_realloc") {
        return Err(abi(
            "the module must export cabi_realloc to receive strings or lists",
        ));
    }
    let out = g.call(
        "cabi_realloc",
        &[
            CoreVal::I32(0),
            CoreVal::I32(0),
            CoreVal::I32(align as i32),
            CoreVal::I32(size as i32),
        ],
    )?;
    match out.as_slice() {
        [CoreVal::I32(p)] => Ok(*p as u32),
        _ => Err(abi("cabi_realloc must return one i32")),
    }
}

/// Allocates through `cabi_realloc` and checks the pointer it returns.
fn alloc(g: &mut dyn GuestMemory, align: u32, size: u32) -> Result<u32, ExecError> {
    let ptr = g.realloc(align, size)?;
    let len = g.view()?.size();
    if u64::from(ptr) + u64::from(size) > len || ptr % align != 0 {
        return Err(abi(format!(
            "cabi_realloc returned a bad pointer 0x{ptr:x} for {size} bytes aligned to {align} (memory is {len} bytes)"
        )));
    }
    Ok(ptr)
}

/// `ptr + n * size`, or an `abi` error if it leaves the 32-bit address space
/// (pointers and lengths come from the guest: arithmetic on them is checked).
fn at(ptr: u32, n: u32, size: u32) -> Result<u32, ExecError> {
    n.checked_mul(size)
        .and_then(|off| ptr.checked_add(off))
        .ok_or_else(|| {
            abi(format!(
                "address 0x{ptr:x} + {n} × {size} overflows 32 bits"
            ))
        })
}

/// The range `ptr..ptr + len` as indices, if it does not overflow.
fn span(ptr: u32, len: usize) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(ptr).ok()?;
    Some(start..start.checked_add(len)?)
}

fn write(g: &mut dyn GuestMemory, ptr: u32, bytes: &[u8]) -> Result<(), ExecError> {
    match g.write(ptr, bytes)? {
        true => Ok(()),
        false => Err(abi(format!(
            "write of {} bytes at 0x{ptr:x} is out of bounds",
            bytes.len()
        ))),
    }
}

fn read(mem: &dyn MemoryView, ptr: u32, len: u32) -> Result<std::borrow::Cow<'_, [u8]>, ExecError> {
    mem.range(ptr, len).ok_or_else(|| {
        abi(format!(
            "read of {len} bytes at 0x{ptr:x} is out of bounds (memory is {} bytes)",
            mem.size()
        ))
    })
}

fn lower_seq(
    g: &mut dyn GuestMemory,
    elem: &WitType,
    items: &[WitValue],
) -> Result<(u32, u32), ExecError> {
    let (esize, ealign) = (size(elem), align(elem));
    let total = u32::try_from(u64::from(esize) * items.len() as u64)
        .map_err(|_| abi("list too large for a 32-bit memory"))?;
    let ptr = alloc(g, ealign, total)?;
    for (i, item) in items.iter().enumerate() {
        store(g, item, elem, at(ptr, i as u32, esize)?)?;
    }
    Ok((ptr, items.len() as u32))
}

fn lower_bytes(g: &mut dyn GuestMemory, align: u32, bytes: &[u8]) -> Result<(u32, u32), ExecError> {
    let len = u32::try_from(bytes.len()).map_err(|_| abi("value too large for a 32-bit memory"))?;
    let ptr = alloc(g, align, len)?;
    write(g, ptr, bytes)?;
    Ok((ptr, len))
}

fn case_index(v: &WitValue) -> Option<(u32, Option<&WitValue>)> {
    Some(match v {
        WitValue::Variant(i, p) => (*i, p.as_deref()),
        WitValue::Enum(i) => (*i, None),
        WitValue::Option(None) => (0, None),
        WitValue::Option(Some(p)) => (1, Some(&**p)),
        WitValue::Result(Ok(p)) => (0, p.as_deref()),
        WitValue::Result(Err(p)) => (1, p.as_deref()),
        _ => return None,
    })
}

fn flags_bits(t: &WitType, v: &WitValue) -> Result<Vec<u32>, ExecError> {
    let (WitType::Flags(names), WitValue::Flags(set)) = (t, v) else {
        return Err(mismatch(t, v));
    };
    let mut words = vec![0u32; flags_words(names.len()) as usize];
    for (i, on) in set.iter().enumerate() {
        if *on {
            words[i / 32] |= 1 << (i % 32);
        }
    }
    Ok(words)
}

fn flags_from(names: &[String], words: &[u32]) -> WitValue {
    WitValue::Flags(
        (0..names.len())
            .map(|i| words.get(i / 32).is_some_and(|w| w & (1 << (i % 32)) != 0))
            .collect(),
    )
}

/// Lowers a value into flat core values.
pub fn lower_flat(
    g: &mut dyn GuestMemory,
    v: &WitValue,
    t: &WitType,
    out: &mut Vec<CoreVal>,
) -> Result<(), ExecError> {
    match (t, v) {
        (WitType::Bool, WitValue::Bool(b)) => out.push(CoreVal::I32(i32::from(*b))),
        (WitType::S8, WitValue::S8(x)) => out.push(CoreVal::I32(i32::from(*x))),
        (WitType::U8, WitValue::U8(x)) => out.push(CoreVal::I32(i32::from(*x))),
        (WitType::S16, WitValue::S16(x)) => out.push(CoreVal::I32(i32::from(*x))),
        (WitType::U16, WitValue::U16(x)) => out.push(CoreVal::I32(i32::from(*x))),
        (WitType::S32, WitValue::S32(x)) => out.push(CoreVal::I32(*x)),
        (WitType::U32, WitValue::U32(x)) => out.push(CoreVal::I32(*x as i32)),
        (WitType::S64, WitValue::S64(x)) => out.push(CoreVal::I64(*x)),
        (WitType::U64, WitValue::U64(x)) => out.push(CoreVal::I64(*x as i64)),
        (WitType::F32, WitValue::F32(x)) => out.push(CoreVal::F32(x.to_bits())),
        (WitType::F64, WitValue::F64(x)) => out.push(CoreVal::F64(x.to_bits())),
        (WitType::Char, WitValue::Char(c)) => out.push(CoreVal::I32(*c as i32)),
        (WitType::String, WitValue::String(s)) => {
            let (p, l) = lower_bytes(g, 1, s.as_bytes())?;
            out.extend([CoreVal::I32(p as i32), CoreVal::I32(l as i32)]);
        }
        (WitType::List(e), WitValue::Bytes(b)) if **e == WitType::U8 => {
            let (p, l) = lower_bytes(g, 1, b)?;
            out.extend([CoreVal::I32(p as i32), CoreVal::I32(l as i32)]);
        }
        (WitType::List(e), WitValue::List(items)) => {
            let (p, l) = lower_seq(g, e, items)?;
            out.extend([CoreVal::I32(p as i32), CoreVal::I32(l as i32)]);
        }
        (WitType::Record(fs), WitValue::Record(vs)) if fs.len() == vs.len() => {
            for ((_, ft), fv) in fs.iter().zip(vs) {
                lower_flat(g, fv, ft, out)?;
            }
        }
        (WitType::Tuple(ts), WitValue::Tuple(vs)) if ts.len() == vs.len() => {
            for (ft, fv) in ts.iter().zip(vs) {
                lower_flat(g, fv, ft, out)?;
            }
        }
        (WitType::Flags(_), WitValue::Flags(_)) => out.extend(
            flags_bits(t, v)?
                .into_iter()
                .map(|w| CoreVal::I32(w as i32)),
        ),
        _ => {
            let (Some(cs), Some((i, payload))) = (cases(t), case_index(v)) else {
                return Err(mismatch(t, v));
            };
            let slots = flat_of(t);
            out.push(CoreVal::I32(i as i32));
            let mut flat = Vec::new();
            match (cs.get(i as usize).copied().flatten(), payload) {
                (Some(pt), Some(pv)) => lower_flat(g, pv, pt, &mut flat)?,
                (None, None) => {}
                _ => return Err(mismatch(t, v)),
            }
            for (k, slot) in slots[1..].iter().enumerate() {
                out.push(flat.get(k).map_or(zero(*slot), |fv| coerce_up(*fv, *slot)));
            }
        }
    }
    Ok(())
}

/// Stores a value at `ptr` in linear memory.
pub fn store(
    g: &mut dyn GuestMemory,
    v: &WitValue,
    t: &WitType,
    ptr: u32,
) -> Result<(), ExecError> {
    match (t, v) {
        (WitType::Bool, WitValue::Bool(b)) => write(g, ptr, &[u8::from(*b)]),
        (WitType::S8, WitValue::S8(x)) => write(g, ptr, &x.to_le_bytes()),
        (WitType::U8, WitValue::U8(x)) => write(g, ptr, &[*x]),
        (WitType::S16, WitValue::S16(x)) => write(g, ptr, &x.to_le_bytes()),
        (WitType::U16, WitValue::U16(x)) => write(g, ptr, &x.to_le_bytes()),
        (WitType::S32, WitValue::S32(x)) => write(g, ptr, &x.to_le_bytes()),
        (WitType::U32, WitValue::U32(x)) => write(g, ptr, &x.to_le_bytes()),
        (WitType::S64, WitValue::S64(x)) => write(g, ptr, &x.to_le_bytes()),
        (WitType::U64, WitValue::U64(x)) => write(g, ptr, &x.to_le_bytes()),
        (WitType::F32, WitValue::F32(x)) => write(g, ptr, &x.to_bits().to_le_bytes()),
        (WitType::F64, WitValue::F64(x)) => write(g, ptr, &x.to_bits().to_le_bytes()),
        (WitType::Char, WitValue::Char(c)) => write(g, ptr, &(*c as u32).to_le_bytes()),
        (WitType::String | WitType::List(_), _) => {
            let mut flat = Vec::new();
            lower_flat(g, v, t, &mut flat)?;
            let [CoreVal::I32(p), CoreVal::I32(l)] = flat[..] else {
                return Err(mismatch(t, v));
            };
            write(g, ptr, &p.to_le_bytes())?;
            write(g, at(ptr, 1, 4)?, &l.to_le_bytes())
        }
        (WitType::Record(fs), WitValue::Record(vs)) if fs.len() == vs.len() => {
            store_fields(g, fs.iter().map(|(_, t)| t), vs, ptr)
        }
        (WitType::Tuple(ts), WitValue::Tuple(vs)) if ts.len() == vs.len() => {
            store_fields(g, ts.iter(), vs, ptr)
        }
        (WitType::Flags(names), WitValue::Flags(_)) => {
            let words = flags_bits(t, v)?;
            match names.len() {
                0 => Ok(()),
                1..=8 => write(g, ptr, &[words[0] as u8]),
                9..=16 => write(g, ptr, &(words[0] as u16).to_le_bytes()),
                _ => words
                    .iter()
                    .enumerate()
                    .try_for_each(|(i, w)| write(g, at(ptr, i as u32, 4)?, &w.to_le_bytes())),
            }
        }
        _ => {
            let (Some(cs), Some((i, payload))) = (cases(t), case_index(v)) else {
                return Err(mismatch(t, v));
            };
            match disc_size(cs.len()) {
                1 => write(g, ptr, &[i as u8])?,
                2 => write(g, ptr, &(i as u16).to_le_bytes())?,
                _ => write(g, ptr, &i.to_le_bytes())?,
            }
            match (cs.get(i as usize).copied().flatten(), payload) {
                (Some(pt), Some(pv)) => store(g, pv, pt, at(ptr, 1, payload_offset(t))?),
                (None, None) => Ok(()),
                _ => Err(mismatch(t, v)),
            }
        }
    }
}

fn store_fields<'a>(
    g: &mut dyn GuestMemory,
    types: impl Iterator<Item = &'a WitType>,
    vs: &[WitValue],
    ptr: u32,
) -> Result<(), ExecError> {
    let mut off = 0;
    for (t, v) in types.zip(vs) {
        off = align_to(off, align(t));
        store(g, v, t, at(ptr, 1, off)?)?;
        off += size(t);
    }
    Ok(())
}

fn next(vals: &mut dyn Iterator<Item = CoreVal>) -> Result<CoreVal, ExecError> {
    vals.next()
        .ok_or_else(|| abi("too few core values returned"))
}

fn i32_of(v: CoreVal) -> Result<i32, ExecError> {
    match v {
        CoreVal::I32(i) => Ok(i),
        other => Err(abi(format!("expected an i32, got {other:?}"))),
    }
}

/// A pointer passed as a core value (`what` names it in the error).
fn pointer(v: Option<&CoreVal>, what: &str) -> Result<u32, ExecError> {
    let v = v.copied().ok_or_else(|| abi(format!("missing {what}")))?;
    Ok(i32_of(v)? as u32)
}

fn load_string(mem: &Lifting, ptr: u32, len: u32) -> Result<String, ExecError> {
    match mem.string_prefix {
        Some(max) if len > max => {
            mem.charge(u64::from(max))?;
            // A prefix may end inside a character: keep what is whole.
            Ok(String::from_utf8_lossy(&read(mem, ptr, max)?)
                .trim_end_matches('\u{fffd}')
                .to_string()
                + "…")
        }
        _ => {
            mem.charge(u64::from(len))?;
            String::from_utf8(read(mem, ptr, len)?.to_vec())
                .map_err(|_| abi("returned string is not valid UTF-8"))
        }
    }
}

fn load_list(mem: &Lifting, e: &WitType, ptr: u32, len: u32) -> Result<WitValue, ExecError> {
    if *e == WitType::U8 {
        mem.charge(u64::from(len))?;
        return Ok(WitValue::Bytes(read(mem, ptr, len)?.to_vec()));
    }
    mem.charge(u64::from(len).saturating_mul(LIFTED_ELEMENT_BYTES))?;
    let es = size(e);
    // The whole list must be in memory before any element is read.
    let end = u64::from(ptr) + u64::from(es) * u64::from(len);
    if end > mem.size() {
        return Err(abi(format!(
            "read of {} bytes at 0x{ptr:x} is out of bounds (memory is {} bytes)",
            u64::from(es) * u64::from(len),
            mem.size()
        )));
    }
    (0..len)
        .map(|i| load(mem, e, at(ptr, i, es)?))
        .collect::<Result<_, _>>()
        .map(WitValue::List)
}

fn char_of(c: u32) -> Result<char, ExecError> {
    char::from_u32(c).ok_or_else(|| abi(format!("0x{c:x} is not a Unicode scalar value")))
}

/// Lifts a value from flat core values.
pub fn lift_flat(
    mem: &Lifting,
    t: &WitType,
    vals: &mut dyn Iterator<Item = CoreVal>,
) -> Result<WitValue, ExecError> {
    Ok(match t {
        WitType::Bool => WitValue::Bool(i32_of(next(vals)?)? != 0),
        WitType::S8 => WitValue::S8(i32_of(next(vals)?)? as i8),
        WitType::U8 => WitValue::U8(i32_of(next(vals)?)? as u8),
        WitType::S16 => WitValue::S16(i32_of(next(vals)?)? as i16),
        WitType::U16 => WitValue::U16(i32_of(next(vals)?)? as u16),
        WitType::S32 => WitValue::S32(i32_of(next(vals)?)?),
        WitType::U32 => WitValue::U32(i32_of(next(vals)?)? as u32),
        WitType::S64 | WitType::U64 => match next(vals)? {
            CoreVal::I64(i) if *t == WitType::S64 => WitValue::S64(i),
            CoreVal::I64(i) => WitValue::U64(i as u64),
            other => return Err(abi(format!("expected an i64, got {other:?}"))),
        },
        WitType::F32 => match next(vals)? {
            CoreVal::F32(b) => WitValue::F32(f32::from_bits(b)),
            other => return Err(abi(format!("expected an f32, got {other:?}"))),
        },
        WitType::F64 => match next(vals)? {
            CoreVal::F64(b) => WitValue::F64(f64::from_bits(b)),
            other => return Err(abi(format!("expected an f64, got {other:?}"))),
        },
        WitType::Char => WitValue::Char(char_of(i32_of(next(vals)?)? as u32)?),
        WitType::String => {
            let (p, l) = (i32_of(next(vals)?)? as u32, i32_of(next(vals)?)? as u32);
            WitValue::String(load_string(mem, p, l)?)
        }
        WitType::List(e) => {
            let (p, l) = (i32_of(next(vals)?)? as u32, i32_of(next(vals)?)? as u32);
            load_list(mem, e, p, l)?
        }
        WitType::Record(fs) => WitValue::Record(
            fs.iter()
                .map(|(_, t)| lift_flat(mem, t, vals))
                .collect::<Result<_, _>>()?,
        ),
        WitType::Tuple(ts) => WitValue::Tuple(
            ts.iter()
                .map(|t| lift_flat(mem, t, vals))
                .collect::<Result<_, _>>()?,
        ),
        WitType::Flags(names) => {
            let words = (0..flags_words(names.len()))
                .map(|_| next(vals).and_then(i32_of).map(|w| w as u32))
                .collect::<Result<Vec<_>, _>>()?;
            flags_from(names, &words)
        }
        _ => {
            let cs = cases(t).unwrap_or_default();
            let slots = flat_of(t);
            let i = i32_of(next(vals)?)? as u32;
            let joined: Vec<CoreVal> = (1..slots.len())
                .map(|_| next(vals))
                .collect::<Result<_, _>>()?;
            let case = cs.get(i as usize).ok_or_else(|| {
                abi(format!(
                    "discriminant {i} is out of range for {}",
                    t.describe()
                ))
            })?;
            let payload = match case {
                Some(pt) => {
                    let want = flat_of(pt);
                    let mut narrowed = joined.iter().zip(&want).map(|(v, w)| coerce_down(*v, *w));
                    Some(Box::new(lift_flat(mem, pt, &mut narrowed)?))
                }
                None => None,
            };
            make_case(t, i, payload)
        }
    })
}

fn make_case(t: &WitType, i: u32, payload: Option<Box<WitValue>>) -> WitValue {
    match t {
        WitType::Enum(_) => WitValue::Enum(i),
        WitType::Option(_) => WitValue::Option(if i == 0 { None } else { payload }),
        WitType::Result(..) => WitValue::Result(if i == 0 { Ok(payload) } else { Err(payload) }),
        _ => WitValue::Variant(i, payload),
    }
}

fn u32_at(mem: &dyn MemoryView, ptr: u32) -> Result<u32, ExecError> {
    let b = read(mem, ptr, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Loads a value from `ptr` in linear memory.
pub fn load(mem: &Lifting, t: &WitType, ptr: u32) -> Result<WitValue, ExecError> {
    let bytes = |n: u32| read(mem, ptr, n);
    let arr = |n: u32| -> Result<[u8; 8], ExecError> {
        let mut a = [0u8; 8];
        a[..n as usize].copy_from_slice(&bytes(n)?);
        Ok(a)
    };
    Ok(match t {
        WitType::Bool => WitValue::Bool(bytes(1)?[0] != 0),
        WitType::S8 => WitValue::S8(bytes(1)?[0] as i8),
        WitType::U8 => WitValue::U8(bytes(1)?[0]),
        WitType::S16 => WitValue::S16(i16::from_le_bytes([arr(2)?[0], arr(2)?[1]])),
        WitType::U16 => WitValue::U16(u16::from_le_bytes([arr(2)?[0], arr(2)?[1]])),
        WitType::S32 => WitValue::S32(u32_at(mem, ptr)? as i32),
        WitType::U32 => WitValue::U32(u32_at(mem, ptr)?),
        WitType::S64 => WitValue::S64(i64::from_le_bytes(arr(8)?)),
        WitType::U64 => WitValue::U64(u64::from_le_bytes(arr(8)?)),
        WitType::F32 => WitValue::F32(f32::from_bits(u32_at(mem, ptr)?)),
        WitType::F64 => WitValue::F64(f64::from_bits(u64::from_le_bytes(arr(8)?))),
        WitType::Char => WitValue::Char(char_of(u32_at(mem, ptr)?)?),
        WitType::String => WitValue::String(load_string(
            mem,
            u32_at(mem, ptr)?,
            u32_at(mem, at(ptr, 1, 4)?)?,
        )?),
        WitType::List(e) => load_list(mem, e, u32_at(mem, ptr)?, u32_at(mem, at(ptr, 1, 4)?)?)?,
        WitType::Record(fs) => WitValue::Record(load_fields(mem, fs.iter().map(|(_, t)| t), ptr)?),
        WitType::Tuple(ts) => WitValue::Tuple(load_fields(mem, ts.iter(), ptr)?),
        WitType::Flags(names) => {
            let words: Vec<u32> = match names.len() {
                0 => vec![],
                1..=8 => vec![u32::from(bytes(1)?[0])],
                9..=16 => vec![u32::from(u16::from_le_bytes([arr(2)?[0], arr(2)?[1]]))],
                n => (0..flags_words(n))
                    .map(|i| u32_at(mem, at(ptr, i, 4)?))
                    .collect::<Result<_, _>>()?,
            };
            flags_from(names, &words)
        }
        _ => {
            let cs = cases(t).unwrap_or_default();
            let i = match disc_size(cs.len()) {
                1 => u32::from(bytes(1)?[0]),
                2 => u32::from(u16::from_le_bytes([arr(2)?[0], arr(2)?[1]])),
                _ => u32_at(mem, ptr)?,
            };
            let case = cs.get(i as usize).ok_or_else(|| {
                abi(format!(
                    "discriminant {i} is out of range for {}",
                    t.describe()
                ))
            })?;
            let payload = case
                .map(|pt| load(mem, pt, at(ptr, 1, payload_offset(t))?).map(Box::new))
                .transpose()?;
            make_case(t, i, payload)
        }
    })
}

fn load_fields<'a>(
    mem: &Lifting,
    types: impl Iterator<Item = &'a WitType>,
    ptr: u32,
) -> Result<Vec<WitValue>, ExecError> {
    let mut off = 0;
    types
        .map(|t| {
            off = align_to(off, align(t));
            let v = load(mem, t, at(ptr, 1, off)?);
            off += size(t);
            v
        })
        .collect()
}

/// Calls the export `export` of signature `f` with WIT arguments:
/// [`lower_args`], the call, then [`lift_result`].
pub fn call(
    g: &mut dyn Guest,
    export: &str,
    f: &WitFunc,
    args: &[WitValue],
) -> Result<Option<WitValue>, ExecError> {
    let flat = lower_args(g, f, args)?;
    let results = g.call(export, &flat)?;
    lift_result(g, export, f, &results)
}

/// Lowers the WIT arguments of a call of `f` to core values (through memory
/// past 16 flat values).
pub fn lower_args(
    g: &mut dyn Guest,
    f: &WitFunc,
    args: &[WitValue],
) -> Result<Vec<CoreVal>, ExecError> {
    let mut flat_types = Vec::new();
    for (_, t) in &f.params {
        flatten(t, &mut flat_types);
    }
    let mut flat = Vec::with_capacity(flat_types.len());
    if flat_types.len() > MAX_FLAT_PARAMS {
        let tuple = WitType::Tuple(f.params.iter().map(|(_, t)| t.clone()).collect());
        let ptr = alloc(g, align(&tuple), size(&tuple))?;
        store(g, &WitValue::Tuple(args.to_vec()), &tuple, ptr)?;
        flat.push(CoreVal::I32(ptr as i32));
    } else {
        for ((_, t), v) in f.params.iter().zip(args) {
            lower_flat(g, v, t, &mut flat)?;
        }
    }
    Ok(flat)
}

/// Lifts the core results of a call of `export` (signature `f`) to a WIT
/// value (through memory past one flat value), then calls
/// `cabi_post_<export>` if the module has it.
pub fn lift_result(
    g: &mut dyn Guest,
    export: &str,
    f: &WitFunc,
    results: &[CoreVal],
) -> Result<Option<WitValue>, ExecError> {
    let value = match &f.result {
        None => None,
        Some(t) if flat_of(t).len() > MAX_FLAT_RESULTS => {
            let ptr = pointer(results.first(), "return pointer")?;
            Some(load(&Lifting::output(&*g.view()?), t, ptr)?)
        }
        Some(t) => Some(lift_flat(
            &Lifting::output(&*g.view()?),
            t,
            &mut results.iter().copied(),
        )?),
    };
    let post = format!("cabi_post_{export}");
    if g.has_export(&post) {
        g.call(&post, results)?;
    }
    Ok(value)
}

/// The core signature of an import of signature `f`, as the guest calls it:
/// (params, results). Results past one flat value go through a pointer the
/// guest passes last.
pub fn import_signature(f: &WitFunc) -> (Vec<CoreTy>, Vec<CoreTy>) {
    let (mut params, results) = flat_signature(f);
    if results.len() > MAX_FLAT_RESULTS {
        params.push(CoreTy::I32);
        return (params, Vec::new());
    }
    (params, results)
}

/// `f`'s flat parameters (one pointer past 16) and flat results: what the
/// import and export signatures share.
fn flat_signature(f: &WitFunc) -> (Vec<CoreTy>, Vec<CoreTy>) {
    let mut params = Vec::new();
    for (_, t) in &f.params {
        flatten(t, &mut params);
    }
    if params.len() > MAX_FLAT_PARAMS {
        params = vec![CoreTy::I32];
    }
    (params, f.result.as_ref().map(flat_of).unwrap_or_default())
}

/// The core signature of an export that implements `f` (canonical ABI,
/// lifting): flat parameters, or one pointer past 16; one flat result, or a
/// pointer to the results past one.
pub fn export_signature(f: &WitFunc) -> (Vec<CoreTy>, Vec<CoreTy>) {
    let (params, results) = flat_signature(f);
    if results.len() > MAX_FLAT_RESULTS {
        return (params, vec![CoreTy::I32]);
    }
    (params, results)
}

/// Lifts the arguments of a call the guest made to a host import.
pub fn import_args(
    mem: &dyn MemoryView,
    f: &WitFunc,
    args: &[CoreVal],
) -> Result<Vec<WitValue>, ExecError> {
    let mem = &Lifting::host_args(mem);
    let mut flat = Vec::new();
    for (_, t) in &f.params {
        flatten(t, &mut flat);
    }
    if flat.len() > MAX_FLAT_PARAMS {
        let tuple = WitType::Tuple(f.params.iter().map(|(_, t)| t.clone()).collect());
        let ptr = pointer(args.first(), "parameter pointer")?;
        let WitValue::Tuple(vs) = load(mem, &tuple, ptr)? else {
            return Err(abi("parameters did not load as a tuple"));
        };
        return Ok(vs);
    }
    let mut it = args.iter().copied();
    f.params
        .iter()
        .map(|(_, t)| lift_flat(mem, t, &mut it))
        .collect()
}

/// Lowers a host import's result for the guest: flat, or stored at the
/// pointer the guest passed as its last argument.
pub fn import_result(
    g: &mut dyn GuestMemory,
    f: &WitFunc,
    args: &[CoreVal],
    value: Option<&WitValue>,
) -> Result<Vec<CoreVal>, ExecError> {
    let (Some(t), Some(v)) = (&f.result, value) else {
        return Ok(Vec::new());
    };
    if flat_of(t).len() > MAX_FLAT_RESULTS {
        let ptr = pointer(args.last(), "return pointer")?;
        store(g, v, t, ptr)?;
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    lower_flat(g, v, t, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn guest_addresses_never_wrap() {
        assert_eq!(super::at(8, 2, 4).unwrap(), 16);
        assert!(super::at(u32::MAX - 3, 1, 4).is_err());
        assert!(super::at(0, u32::MAX, 8).is_err());
        assert!(super::span(u32::MAX, usize::MAX).is_none());
        let mem: &[u8] = &[0u8; 16];
        assert!(super::read(&mem, u32::MAX, 4).is_err());
        assert!(super::read(&mem, 12, u32::MAX).is_err());
    }

    use super::*;

    #[test]
    fn layouts_follow_the_canonical_abi() {
        let rec = WitType::Record(vec![
            ("a".into(), WitType::U8),
            ("b".into(), WitType::U64),
            ("c".into(), WitType::U16),
        ]);
        assert_eq!((size(&rec), align(&rec)), (24, 8));
        let opt = WitType::Option(Box::new(WitType::U32));
        assert_eq!((size(&opt), align(&opt)), (8, 4));
        let res = WitType::Result(Some(Box::new(WitType::String)), None);
        assert_eq!((size(&res), align(&res)), (12, 4));
        let flags = WitType::Flags((0..40).map(|i| i.to_string()).collect());
        assert_eq!((size(&flags), flat_of(&flags).len()), (8, 2));
        let shape = WitType::Variant(vec![
            ("circle".into(), Some(WitType::F32)),
            (
                "rect".into(),
                Some(WitType::Tuple(vec![WitType::U32, WitType::U32])),
            ),
            ("dot".into(), None),
        ]);
        assert_eq!(flat_of(&shape), [CoreTy::I32, CoreTy::I32, CoreTy::I32]);
        let wide = WitType::Variant(vec![
            ("a".into(), Some(WitType::F32)),
            ("b".into(), Some(WitType::U64)),
        ]);
        assert_eq!(flat_of(&wide), [CoreTy::I32, CoreTy::I64]);
    }

    #[test]
    fn variant_payloads_survive_the_joined_slots() {
        struct NoMem;
        impl GuestMemory for NoMem {
            fn view(&self) -> Result<Box<dyn MemoryView + '_>, ExecError> {
                Ok(Box::new(&[][..]))
            }
            fn write(&mut self, _: u32, _: &[u8]) -> Result<bool, ExecError> {
                Ok(false)
            }
            fn realloc(&mut self, _: u32, _: u32) -> Result<u32, ExecError> {
                Err(abi("no memory"))
            }
        }
        let t = WitType::Variant(vec![
            ("a".into(), Some(WitType::F32)),
            ("b".into(), Some(WitType::U64)),
            ("c".into(), Some(WitType::S32)),
        ]);
        for v in [
            WitValue::Variant(0, Some(Box::new(WitValue::F32(-1.5)))),
            WitValue::Variant(1, Some(Box::new(WitValue::U64(u64::MAX)))),
            WitValue::Variant(2, Some(Box::new(WitValue::S32(-7)))),
        ] {
            let mut flat = Vec::new();
            lower_flat(&mut NoMem, &v, &t, &mut flat).unwrap();
            assert_eq!(
                lift_flat(&Lifting::output(&&[][..]), &t, &mut flat.into_iter()).unwrap(),
                v
            );
        }
    }
}
