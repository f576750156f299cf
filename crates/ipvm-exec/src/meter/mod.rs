//! The metering rewriter: turns a task's core module into the *metered*
//! module that every engine runs, so that fuel, call depth, limits and float
//! results are the same on wasmi and on the browser's own engine by
//! construction (`docs/spec.md` §8, "Fuel").
//!
//! The rewrite, in two passes over each function (wasmparser to read,
//! wasm-encoder to write):
//!
//! - **Fuel.** A counter (`ipvm:fuel`, an exported mutable i64 global the
//!   runner sets to the task's budget) is charged up front for each
//!   *region*: the function body, each `loop` body (on every iteration), the
//!   then-arm and the else-arm of an `if`. A region costs one unit per
//!   operator it contains, except `block`, `loop`, `else`, `end` and `nop`,
//!   and except the operators of the regions nested in it. Bulk memory
//!   (`memory.fill/copy/init`) costs one unit per 64 bytes, table bulk
//!   operations one per 16 elements, `memory.grow` 1024 per page; these are
//!   charged before the operation. A charge that does not fit ends the task
//!   with `out_of_fuel`, through the imported `ipvm:meter.trap`. Each
//!   function keeps a copy of the counter in a local (read at entry and after
//!   each call), charges the copy and writes the result through to the
//!   global, so the global's value is the same at every point as if each
//!   charge read it, and no charge waits on a load.
//! - **Depth.** A call-depth counter is checked and raised at each function
//!   entry and put back to its value at entry (kept in a local) at each exit
//!   (`return` becomes a branch to the end of the body; a tail call puts it
//!   back first). Past [`MAX_DEPTH`] the task ends
//!   in `stack_overflow`.
//! - **Limits.** `memory.grow` and `table.grow` check the task's limits
//!   (`ipvm:memory-pages`, [`MAX_TABLE_ELEMENTS`]) before they grow.
//! - **Floats.** The result of each operator that can produce a NaN is
//!   replaced by the canonical NaN if it is one (the engines' NaN bits
//!   differ); a trapping float-to-integer truncation checks its operand first
//!   (engines name that trap differently).
//! - **Start.** The start function is not run by instantiation: it is
//!   exported as `ipvm:start`, and the runner calls it, metered like any call.
//!
//! Only the WebAssembly features that can be made deterministic are
//! accepted: the 2.0 core without SIMD, plus tail calls and extended
//! constants. Threads, SIMD (relaxed or not), memory64, several memories,
//! exceptions and GC are refused with a `compile` error that names them.

use std::collections::HashMap;

mod emit;
mod rewrite;
mod validate;

use emit::*;
use rewrite::*;
use validate::*;

use crate::abi::CoreTy;
use crate::ExecError;

use ipvm_core::Limits;
use wasm_encoder::reencode::{Error as ReencodeError, Reencode};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, DataCountSection, DataSection, ElementSection, EntityType,
    ExportKind, ExportSection, Function, FunctionSection, GlobalSection, GlobalType, ImportSection,
    Instruction, MemorySection, Module, TableSection, TypeSection, ValType,
};
use wasmparser::{
    FuncValidator, FuncValidatorAllocations, FunctionBody, Operator, OperatorsReader, Parser,
    Payload, TypeRef, ValidPayload, Validator, ValidatorResources, WasmFeatures,
};

/// The module of the one function the rewriter imports.
pub const METER_MODULE: &str = "ipvm:meter";
/// `ipvm:meter.trap(code: i32, arg: i64)`: ends the task with the error
/// that `code` names ([`MeterTrap`]); it never returns.
pub const TRAP_IMPORT: &str = "trap";
/// The exported fuel counter (mutable i64): fuel left.
pub const FUEL_EXPORT: &str = "ipvm:fuel";
/// The exported memory limit (mutable i64): pages the memory may grow to.
pub const MEMORY_PAGES_EXPORT: &str = "ipvm:memory-pages";
/// The module's start function, exported for the runner to call.
pub const START_EXPORT: &str = "ipvm:start";
/// The deepest nesting of calls; one more is `stack_overflow`.
pub const MAX_DEPTH: u32 = 1024;
/// The most locals a function may declare (it bounds each engine's frame,
/// so that the depth counter, not an engine's own stack, binds first).
pub const MAX_LOCALS: u32 = 4096;
/// The most parameters (and, separately, results) a function type may have:
/// wasmparser's validator refuses more, as every engine does.
pub const MAX_PARAMS: u32 = 1000;
/// The most tables a module may define.
pub const MAX_TABLES: usize = 4;
/// The most elements a table may hold.
pub const MAX_TABLE_ELEMENTS: u64 = 100_000;
/// The rewriter's version: any change to the code it injects or to what it
/// accepts changes it (the store's cache of metered modules is keyed by
/// it). A change to the cost model, or to what a task returns, also changes
/// the receipt version (`ipvm_core::RECEIPT_VERSION`); version 3 (the
/// function's local copy of the fuel counter) did not.
pub const METER_VERSION: u32 = 3;

// What a module may hold: the project's own limits, at or below what every
// engine it runs accepts (`docs/spec.md` §8, "Limits of a module", has each
// engine's figure beside them). The validator refuses a module past one
// with a `compile` error that names it, before any engine sees the module,
// so that no engine refuses what another runs. Where the metered module
// holds more than the original (the rewriter's import, globals, exports,
// types, locals and code), the limit leaves room for it.

/// The most values a function's operand stack may hold at once (params and
/// locals not counted), as the validator counts them in the original
/// function. The metered code adds at most [`INJECTED_STACK_HEIGHT`].
/// wasmi refuses a frame of more than 65 535 slots (twice the params and
/// locals, plus the operand stack).
pub const MAX_STACK_HEIGHT: u32 = 2048;
/// The most the metered code adds to a function's operand stack.
pub const INJECTED_STACK_HEIGHT: u32 = 3;
/// The deepest nesting of control frames in a function (the function's
/// own frame counts as one; the metered function adds two).
pub const MAX_NESTING: u32 = 16_384;
/// The most targets a `br_table` may list (V8's own limit).
pub const MAX_BR_TABLE_TARGETS: u32 = 65_520;
/// The largest body of a *metered* function, in bytes (engines refuse a
/// body past 7 654 321).
pub const MAX_FUNCTION_BYTES: usize = 7 * 1024 * 1024;
/// The largest metered module, in bytes. The rewrite stops as soon as its
/// output passes it, so a module of dense code (the metered form of a
/// region can be ~28 times its size) costs a bounded time and memory.
pub const MAX_METERED_BYTES: usize = 64 * 1024 * 1024;
/// The most types a module may define (the metered module adds one, and
/// one per distinct multi-value result).
pub const MAX_TYPES: u32 = 100_000;
/// The most functions a module may import and define together (the
/// metered module imports one more).
pub const MAX_FUNCTIONS: u32 = 500_000;
/// The most imports a module may have (the metered module has one more).
pub const MAX_IMPORTS: u32 = 50_000;
/// The most exports a module may have (the metered module has up to three
/// more).
pub const MAX_EXPORTS: u32 = 50_000;
/// The most globals a module may import and define together (the metered
/// module defines three more).
pub const MAX_GLOBALS: u32 = 500_000;
/// The most data segments a module may have.
pub const MAX_DATA_SEGMENTS: u32 = 50_000;
/// The most element segments a module may have.
pub const MAX_ELEMENT_SEGMENTS: u32 = 50_000;
/// The most elements one element segment may list (no table holds more).
pub const MAX_SEGMENT_ELEMENTS: u32 = MAX_TABLE_ELEMENTS as u32;
/// The largest initial size a table may declare (V8 refuses to compile a
/// larger one; past [`MAX_TABLE_ELEMENTS`] a task ends in `memory_limit`
/// before instantiation).
pub const MAX_TABLE_DECLARED: u64 = 10_000_000;

/// Fuel units per byte of bulk memory operations: one per 64 bytes.
const MEMORY_BYTES_SHIFT: i64 = 6;
/// Fuel units per table element of bulk table operations: one per 16.
const TABLE_ELEMENTS_SHIFT: i64 = 4;
/// Fuel charged per page `memory.grow` adds (64 KiB at one unit per 64 bytes).
const FUEL_PER_PAGE: i64 = 1024;
/// Bytes in a page.
pub const PAGE_BYTES: u64 = 65_536;

/// What `ipvm:meter.trap` was called for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterTrap {
    /// A charge did not fit in the fuel left; the argument is the charge.
    OutOfFuel = 1,
    /// A call went deeper than [`MAX_DEPTH`].
    StackOverflow = 2,
    /// `memory.grow` would pass the task's memory limit.
    MemoryLimit = 3,
    /// `table.grow` would pass [`MAX_TABLE_ELEMENTS`].
    TableLimit = 4,
    /// A float-to-integer truncation of a NaN or of a value out of range
    /// (engines name these traps differently; the rewriter checks first).
    BadConversion = 5,
}

impl MeterTrap {
    /// The trap for `code`, if it is one.
    pub fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            1 => Self::OutOfFuel,
            2 => Self::StackOverflow,
            3 => Self::MemoryLimit,
            4 => Self::TableLimit,
            5 => Self::BadConversion,
            _ => return None,
        })
    }
}

/// A metered module, and the facts about it the runner checks before it
/// instantiates.
#[derive(Debug, Clone)]
pub struct Metered {
    /// The metered module.
    pub bytes: Vec<u8>,
    /// Whether it has a start function (exported as [`START_EXPORT`]).
    pub has_start: bool,
    /// Initial pages of its memory, if it defines one.
    pub memory_pages: Option<u64>,
    /// Initial elements of each table it defines.
    pub table_elements: Vec<u64>,
    /// The exported functions (the executor and the engines take their
    /// types from here, the same on every engine).
    pub exports: Vec<ExportFn>,
    /// The module's function imports (`module`, `name`), the rewriter's own
    /// left out.
    pub imports: Vec<(String, String)>,
    /// Every import of the module, in order, the rewriter's own left out:
    /// `module`, `name`, and for a function its core types (`None` for
    /// anything else, or a function with types that are not numbers).
    pub all_imports: Vec<(String, String, Option<CoreSignature>)>,
}

/// A function's core parameter and result types.
pub type CoreSignature = (Vec<CoreTy>, Vec<CoreTy>);

/// An exported function of a module.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportFn {
    /// Its export name.
    pub name: String,
    /// Its parameter and result types, if they are all numbers (a task can
    /// call only such a function).
    pub numeric: Option<CoreSignature>,
}

/// The features a task's module may use.
fn features() -> WasmFeatures {
    (WasmFeatures::WASM2 | WasmFeatures::TAIL_CALL | WasmFeatures::EXTENDED_CONST)
        - WasmFeatures::SIMD
        - WasmFeatures::RELAXED_SIMD
}

/// Validates `bytes` (a core module) and returns its metered form, or why it
/// is refused (a message for the `compile` error).
pub fn meter(bytes: &[u8]) -> Result<Metered, String> {
    validate(bytes)?;
    Rewriter::default()
        .rewrite(bytes)
        .and_then(facts)
        .map_err(|e| format!("the module cannot be metered: {e}"))
}

/// What the executor and the engines need to know about a metered module,
/// read from its bytes: its exported functions and their types, its
/// function imports, its memory and tables, and whether it has a start
/// function. Used on a fresh rewrite and on a cached one alike.
pub fn facts(metered: Vec<u8>) -> Result<Metered, String> {
    let mut types: Vec<Option<(Vec<ValType>, Vec<ValType>)>> = Vec::new();
    let mut func_types = Vec::new();
    let mut imports = Vec::new();
    let mut all_imports = Vec::new();
    let mut exported = Vec::new();
    let mut memory_pages = None;
    let mut table_elements = Vec::new();
    let mut re = Indices::default();
    for p in Parser::new(0).parse_all(&metered) {
        match p.map_err(err)? {
            Payload::TypeSection(r) => {
                for group in r {
                    for sub in group.map_err(err)?.into_types() {
                        types.push(match sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(ref f) => Some((
                                re.val_types(f.params().to_vec()).map_err(reencode_err)?,
                                re.val_types(f.results().to_vec()).map_err(reencode_err)?,
                            )),
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(r) => {
                for import in r.into_imports() {
                    let import = import.map_err(err)?;
                    let named = (import.module.to_string(), import.name.to_string());
                    match import.ty {
                        TypeRef::Func(t) => {
                            func_types.push(t);
                            if import.module != METER_MODULE {
                                imports.push(named.clone());
                                all_imports.push((named.0, named.1, Some(t)));
                            }
                        }
                        TypeRef::Memory(m) => {
                            memory_pages = Some(m.initial);
                            all_imports.push((named.0, named.1, None));
                        }
                        _ => all_imports.push((named.0, named.1, None)),
                    }
                }
            }
            Payload::FunctionSection(r) => {
                for t in r {
                    func_types.push(t.map_err(err)?);
                }
            }
            Payload::TableSection(r) => {
                for t in r {
                    table_elements.push(t.map_err(err)?.ty.initial);
                }
            }
            Payload::MemorySection(r) => {
                for m in r {
                    memory_pages = Some(m.map_err(err)?.initial);
                }
            }
            Payload::ExportSection(r) => {
                for e in r {
                    let e = e.map_err(err)?;
                    if e.kind == wasmparser::ExternalKind::Func {
                        exported.push((e.name.to_string(), e.index));
                    }
                }
            }
            _ => {}
        }
    }
    let core = |ts: &[ValType]| -> Option<Vec<CoreTy>> {
        ts.iter()
            .map(|t| match t {
                ValType::I32 => Some(CoreTy::I32),
                ValType::I64 => Some(CoreTy::I64),
                ValType::F32 => Some(CoreTy::F32),
                ValType::F64 => Some(CoreTy::F64),
                _ => None,
            })
            .collect()
    };
    let exports: Vec<ExportFn> = exported
        .into_iter()
        .map(|(name, f)| {
            let numeric = func_types
                .get(f as usize)
                .and_then(|t| types.get(*t as usize)?.as_ref())
                .and_then(|(params, results)| Some((core(params)?, core(results)?)));
            ExportFn { name, numeric }
        })
        .collect();
    let all_imports = all_imports
        .into_iter()
        .map(|(m, n, t)| {
            let numeric = t
                .and_then(|t| types.get(t as usize)?.as_ref())
                .and_then(|(params, results)| Some((core(params)?, core(results)?)));
            (m, n, numeric)
        })
        .collect();
    Ok(Metered {
        all_imports,
        has_start: exports.iter().any(|e| e.name == START_EXPORT),
        bytes: metered,
        memory_pages,
        table_elements,
        exports,
        imports,
    })
}

/// The message of an instantiation that fails once imports are linked and
/// limits checked: only an active segment that does not fit can fail then.
pub const SEGMENT_MESSAGE: &str =
    "an active data or element segment does not fit in its memory or table";

/// The `out_of_fuel` error of a task whose counter shows `left`.
pub fn out_of_fuel(left: u64, limits: &Limits) -> ExecError {
    let budget = limits.fuel_budget();
    ExecError::OutOfFuel {
        used: budget.saturating_sub(left),
        limit: budget,
    }
}

/// The fuel used by a task whose counter shows `left`.
pub fn used(left: u64, limits: &Limits) -> u64 {
    limits.fuel_budget().saturating_sub(left)
}

/// Charges a host call's `cost` to a counter showing `left`: the counter's
/// new value, or `out_of_fuel` (the counter then stays as it was).
pub fn charge(left: u64, cost: u64, limits: &Limits) -> Result<u64, ExecError> {
    left.checked_sub(cost)
        .ok_or_else(|| out_of_fuel(left, limits))
}

/// The error a call of `ipvm:meter.trap(code, _)` ends a task with, the
/// counter showing `left`.
pub fn trap_error(code: i32, left: u64, limits: &Limits) -> ExecError {
    match MeterTrap::from_code(code) {
        Some(MeterTrap::OutOfFuel) => out_of_fuel(left, limits),
        Some(MeterTrap::StackOverflow) => ExecError::StackOverflow,
        Some(MeterTrap::MemoryLimit) | Some(MeterTrap::TableLimit) => ExecError::MemoryLimit {
            limit: limits.memory_bytes(),
        },
        Some(MeterTrap::BadConversion) => crate::Trap::BadConversion.error(),
        None => ExecError::Trap(format!("unknown metering trap {code}")),
    }
}

/// Checks what a module needs at instantiation against the task's limits:
/// its initial memory and tables.
pub fn check_initial(metered: &Metered, limits: &Limits) -> Result<(), ExecError> {
    if metered.table_elements.len() > MAX_TABLES {
        return Err(ExecError::Instantiate(format!(
            "the module defines {} tables; this runtime allows at most {MAX_TABLES}",
            metered.table_elements.len()
        )));
    }
    let memory = metered.memory_pages.unwrap_or(0).saturating_mul(PAGE_BYTES);
    let table = metered.table_elements.iter().copied().max().unwrap_or(0);
    if memory > limits.memory_bytes() || table > MAX_TABLE_ELEMENTS {
        return Err(ExecError::MemoryLimit {
            limit: limits.memory_bytes(),
        });
    }
    Ok(())
}

/// The value of [`MEMORY_PAGES_EXPORT`] for a task: the pages its memory
/// may grow to.
pub fn memory_pages(limits: &Limits) -> u64 {
    limits.memory_bytes() / PAGE_BYTES
}
