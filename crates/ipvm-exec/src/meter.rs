//! The metering rewriter: turns a task's core module into the *metered*
//! module that every engine runs, so that fuel, call depth, limits and float
//! results are the same on wasmi and on the browser's own engine by
//! construction (`docs/spec.md` §4a, "Fuel").
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
//!   with `out_of_fuel`, through the imported `ipvm:meter.trap`.
//! - **Depth.** A call-depth counter is checked and raised at each function
//!   entry and lowered at each exit (`return` becomes a branch to the end of
//!   the body; a tail call lowers it first). Past [`MAX_DEPTH`] the task ends
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
/// The rewriter's version: a change to the cost model, to the rewrite or to
/// what the rewriter accepts changes it (and the receipt version,
/// `ipvm_core::RECEIPT_VERSION`). The store's cache of metered modules is
/// keyed by it.
pub const METER_VERSION: u32 = 2;

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

/// Validates a module (WebAssembly's rules, with the accepted features) and
/// checks it against the module limits (`MAX_*`), in one pass.
fn validate(bytes: &[u8]) -> Result<(), String> {
    let invalid = |e: wasmparser::BinaryReaderError| refusal(&e.to_string());
    let mut validator = Validator::new_with_features(features());
    let mut allocs = FuncValidatorAllocations::default();
    let mut counts = Counts::default();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(invalid)?;
        match validator.payload(&payload).map_err(invalid)? {
            ValidPayload::Ok | ValidPayload::End(_) => {}
            ValidPayload::Parser(_) => return Err("a core module was expected".into()),
            ValidPayload::Func(func, body) => {
                let v = func.into_validator(std::mem::take(&mut allocs));
                allocs = validate_function(v, &body)?;
            }
        }
        counts.check(&payload)?;
    }
    Ok(())
}

/// What a module holds so far, against the module limits.
#[derive(Default)]
struct Counts {
    functions: u32,
    globals: u32,
}

/// Refuses `count` of `what` past `limit` (the constant `name`).
fn at_most(count: u32, limit: u32, what: &str, name: &str) -> Result<(), String> {
    match count > limit {
        true => Err(format!(
            "the module has {count} {what}; this runtime accepts at most {limit} \
             (meter::{name})"
        )),
        false => Ok(()),
    }
}

impl Counts {
    fn check(&mut self, payload: &Payload) -> Result<(), String> {
        match payload {
            Payload::TypeSection(r) => {
                let mut types = 0u32;
                for group in r.clone() {
                    types = types.saturating_add(group.map_err(err)?.types().len() as u32);
                }
                at_most(types, MAX_TYPES, "types", "MAX_TYPES")
            }
            Payload::ImportSection(r) => {
                at_most(r.count(), MAX_IMPORTS, "imports", "MAX_IMPORTS")?;
                for import in r.clone().into_imports() {
                    match import.map_err(err)?.ty {
                        TypeRef::Func(_) => self.functions += 1,
                        TypeRef::Global(_) => self.globals += 1,
                        TypeRef::Table(t) => table_declared(&t)?,
                        _ => {}
                    }
                }
                Ok(())
            }
            Payload::FunctionSection(r) => {
                self.functions = self.functions.saturating_add(r.count());
                at_most(self.functions, MAX_FUNCTIONS, "functions", "MAX_FUNCTIONS")
            }
            Payload::TableSection(r) => {
                for t in r.clone() {
                    table_declared(&t.map_err(err)?.ty)?;
                }
                Ok(())
            }
            Payload::GlobalSection(r) => {
                self.globals = self.globals.saturating_add(r.count());
                at_most(self.globals, MAX_GLOBALS, "globals", "MAX_GLOBALS")
            }
            Payload::ExportSection(r) => at_most(r.count(), MAX_EXPORTS, "exports", "MAX_EXPORTS"),
            Payload::ElementSection(r) => {
                at_most(
                    r.count(),
                    MAX_ELEMENT_SEGMENTS,
                    "element segments",
                    "MAX_ELEMENT_SEGMENTS",
                )?;
                for (i, segment) in r.clone().into_iter().enumerate() {
                    let n = match segment.map_err(err)?.items {
                        wasmparser::ElementItems::Functions(f) => f.count(),
                        wasmparser::ElementItems::Expressions(_, e) => e.count(),
                    };
                    if n > MAX_SEGMENT_ELEMENTS {
                        return Err(format!(
                            "element segment {i} lists {n} elements; this runtime accepts at \
                             most {MAX_SEGMENT_ELEMENTS} per segment (meter::MAX_SEGMENT_ELEMENTS)"
                        ));
                    }
                }
                Ok(())
            }
            Payload::DataSection(r) => at_most(
                r.count(),
                MAX_DATA_SEGMENTS,
                "data segments",
                "MAX_DATA_SEGMENTS",
            ),
            _ => Ok(()),
        }
    }
}

/// Refuses a table whose declared initial size an engine refuses.
fn table_declared(t: &wasmparser::TableType) -> Result<(), String> {
    match t.initial > MAX_TABLE_DECLARED {
        true => Err(format!(
            "a table declares {} elements; this runtime accepts at most {MAX_TABLE_DECLARED} \
             (meter::MAX_TABLE_DECLARED)",
            t.initial
        )),
        false => Ok(()),
    }
}

/// Validates one function body, checking its locals, operand stack height,
/// nesting and `br_table`s against the limits; gives back the allocations.
fn validate_function(
    mut v: FuncValidator<ValidatorResources>,
    body: &FunctionBody,
) -> Result<FuncValidatorAllocations, String> {
    let invalid = |e: wasmparser::BinaryReaderError| refusal(&e.to_string());
    let index = v.index();
    let mut locals = body.get_locals_reader().map_err(invalid)?;
    let mut declared: u32 = 0;
    for _ in 0..locals.get_count() {
        let offset = locals.original_position();
        let (count, ty) = locals.read().map_err(invalid)?;
        declared = declared.saturating_add(count);
        if declared > MAX_LOCALS {
            return Err(format!(
                "function {index} declares {declared} locals; this runtime accepts at most \
                 {MAX_LOCALS} per function (meter::MAX_LOCALS)"
            ));
        }
        v.define_locals(offset, count, ty).map_err(invalid)?;
    }
    let mut ops = OperatorsReader::new(locals.get_binary_reader());
    while !ops.eof() {
        let (op, offset) = ops.read_with_offset().map_err(invalid)?;
        if let Operator::BrTable { targets } = &op {
            if targets.len() > MAX_BR_TABLE_TARGETS {
                return Err(format!(
                    "function {index} has a br_table of {} targets; this runtime accepts at \
                     most {MAX_BR_TABLE_TARGETS} (meter::MAX_BR_TABLE_TARGETS)",
                    targets.len()
                ));
            }
        }
        v.op(offset, &op).map_err(invalid)?;
        let height = v.operand_stack_height();
        if height > MAX_STACK_HEIGHT {
            return Err(format!(
                "function {index} holds {height} values on its operand stack at once; this \
                 runtime accepts at most {MAX_STACK_HEIGHT} (meter::MAX_STACK_HEIGHT)"
            ));
        }
        let nesting = v.control_stack_height();
        if nesting > MAX_NESTING {
            return Err(format!(
                "function {index} nests blocks {nesting} deep; this runtime accepts at most \
                 {MAX_NESTING} (meter::MAX_NESTING)"
            ));
        }
    }
    ops.finish().map_err(invalid)?;
    Ok(v.into_allocations())
}

/// Names the feature a validation error is about, when it is one we refuse.
fn refusal(message: &str) -> String {
    let lower = message.to_lowercase();
    let feature_off = lower.contains("not enabled") || lower.contains("support");
    for (needle, what) in [
        ("simd", "SIMD"),
        ("threads", "threads (shared memory and atomics)"),
        ("shared", "threads (shared memory and atomics)"),
        ("memory64", "64-bit memories"),
        ("multiple memories", "several memories"),
        ("multi-memory", "several memories"),
        ("exceptions", "exceptions"),
        ("gc ", "garbage-collected types"),
    ] {
        if lower.contains(needle) && (feature_off || needle == "multiple memories") {
            return format!(
                "{message}: the module uses {what}, which this runtime refuses \
                 because it cannot run deterministically on every engine"
            );
        }
    }
    message.to_string()
}

/// Maps indices from the original module to the metered one: the trap
/// import is added after the original function imports, so every defined
/// function moves up by one.
#[derive(Default)]
struct Indices {
    imported_funcs: u32,
}

impl Reencode for Indices {
    type Error = String;

    fn function_index(&mut self, func: u32) -> Result<u32, ReencodeError<String>> {
        Ok(match func >= self.imported_funcs {
            true => func + 1,
            false => func,
        })
    }
}

/// The rewriter's view of the module, gathered in the first pass.
#[derive(Default)]
struct Rewriter {
    indices: Indices,
    /// Params and results of each type (None for a non-function type).
    types: Vec<Option<(Vec<ValType>, Vec<ValType>)>>,
    /// Type index of each defined function.
    func_types: Vec<u32>,
    imported_globals: u32,
    defined_globals: u32,
}

/// The globals and locals the injected code uses.
#[derive(Clone, Copy)]
struct Injected {
    trap: u32,
    fuel: u32,
    depth: u32,
    memory_pages: u32,
    /// Scratch locals: an i32, an i64, an f32, an f64.
    n: u32,
    cost: u32,
    f32: u32,
    f64: u32,
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn reencode_err(e: ReencodeError<String>) -> String {
    match e {
        ReencodeError::UserError(s) => s,
        other => other.to_string(),
    }
}

impl Rewriter {
    fn rewrite(mut self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        let payloads: Vec<Payload> = Parser::new(0)
            .parse_all(bytes)
            .collect::<Result<_, _>>()
            .map_err(err)?;
        // First pass: the facts the rewrite needs.
        let mut start = None;
        for p in &payloads {
            match p {
                Payload::TypeSection(r) => {
                    for group in r.clone() {
                        for sub in group.map_err(err)?.into_types() {
                            self.types.push(match sub.composite_type.inner {
                                wasmparser::CompositeInnerType::Func(ref f) => Some((
                                    f.params()
                                        .iter()
                                        .map(|t| self.indices.val_type(*t))
                                        .collect::<Result<_, _>>()
                                        .map_err(reencode_err)?,
                                    f.results()
                                        .iter()
                                        .map(|t| self.indices.val_type(*t))
                                        .collect::<Result<_, _>>()
                                        .map_err(reencode_err)?,
                                )),
                                _ => None,
                            });
                        }
                    }
                }
                Payload::ImportSection(r) => {
                    for import in r.clone().into_imports() {
                        let import = import.map_err(err)?;
                        match import.ty {
                            TypeRef::Func(_) => self.indices.imported_funcs += 1,
                            TypeRef::Global(_) => self.imported_globals += 1,
                            _ => {}
                        }
                    }
                }
                Payload::FunctionSection(r) => {
                    for t in r.clone() {
                        self.func_types.push(t.map_err(err)?);
                    }
                }
                Payload::GlobalSection(r) => self.defined_globals = r.count(),
                Payload::StartSection { func, .. } => start = Some(*func),
                _ => {}
            }
        }
        let trap_type = self.types.len() as u32;
        let globals = self.imported_globals + self.defined_globals;
        let mut injected = Injected {
            trap: self.indices.imported_funcs,
            fuel: globals,
            depth: globals + 1,
            memory_pages: globals + 2,
            n: 0,
            cost: 0,
            f32: 0,
            f64: 0,
        };
        // Block types for function bodies with several results.
        let mut multi: HashMap<Vec<ValType>, u32> = HashMap::new();

        // Second pass: write the metered module, section by section.
        let mut module = Module::new();
        let mut types = TypeSection::new();
        let mut wrote_types = false;
        let mut code = CodeSection::new();
        let mut exports_done = false;
        let mut imports_done = false;
        let mut globals_done = false;
        let mut func_index = 0usize;
        let re = &mut self.indices;
        // Sections this pass adds to must exist even when the original has none.
        let ensure_types = |module: &mut Module,
                            types: &mut TypeSection,
                            wrote: &mut bool,
                            multi: &mut HashMap<Vec<ValType>, u32>,
                            all: &[Option<(Vec<ValType>, Vec<ValType>)>],
                            func_types: &[u32]| {
            if *wrote {
                return;
            }
            *wrote = true;
            types
                .ty()
                .function([ValType::I32, ValType::I64], std::iter::empty());
            let mut next = all.len() as u32 + 1;
            for t in func_types {
                if let Some(Some((_, results))) = all.get(*t as usize) {
                    if results.len() > 1 && !multi.contains_key(results) {
                        types
                            .ty()
                            .function(std::iter::empty(), results.iter().copied());
                        multi.insert(results.clone(), next);
                        next += 1;
                    }
                }
            }
            module.section(types);
        };
        let imports_section = |re: &mut Indices,
                               reader: Option<wasmparser::ImportSectionReader>|
         -> Result<ImportSection, String> {
            let mut imports = ImportSection::new();
            let mut added = false;
            let add_trap = |imports: &mut ImportSection| {
                imports.import(METER_MODULE, TRAP_IMPORT, EntityType::Function(trap_type));
            };
            if let Some(reader) = reader {
                // The trap goes after the last function import, so that
                // function indices below it do not move.
                let all: Vec<_> = reader
                    .into_imports()
                    .collect::<Result<_, _>>()
                    .map_err(err)?;
                let last_func = all.iter().rposition(|i| matches!(i.ty, TypeRef::Func(_)));
                for (i, import) in all.iter().enumerate() {
                    if import.module == METER_MODULE {
                        return Err(format!(
                            "the module imports `{METER_MODULE}`, a name this runtime reserves"
                        ));
                    }
                    imports.import(
                        import.module,
                        import.name,
                        re.entity_type(import.ty).map_err(reencode_err)?,
                    );
                    if Some(i) == last_func {
                        add_trap(&mut imports);
                        added = true;
                    }
                }
            }
            if !added {
                add_trap(&mut imports);
            }
            Ok(imports)
        };
        let globals_section = |re: &mut Indices,
                               reader: Option<wasmparser::GlobalSectionReader>|
         -> Result<GlobalSection, String> {
            let mut globals = GlobalSection::new();
            if let Some(reader) = reader {
                for g in reader {
                    let g = g.map_err(err)?;
                    globals.global(
                        re.global_type(g.ty).map_err(reencode_err)?,
                        &re.const_expr(g.init_expr).map_err(reencode_err)?,
                    );
                }
            }
            let mutable = |val_type| GlobalType {
                val_type,
                mutable: true,
                shared: false,
            };
            globals.global(mutable(ValType::I64), &ConstExpr::i64_const(0));
            globals.global(mutable(ValType::I32), &ConstExpr::i32_const(0));
            globals.global(mutable(ValType::I64), &ConstExpr::i64_const(0));
            Ok(globals)
        };
        let (fuel_global, pages_global) = (injected.fuel, injected.memory_pages);
        let exports_section = move |re: &mut Indices,
                                    reader: Option<wasmparser::ExportSectionReader>|
              -> Result<ExportSection, String> {
            let mut exports = ExportSection::new();
            if let Some(reader) = reader {
                for e in reader {
                    let e = e.map_err(err)?;
                    if e.name.starts_with("ipvm:") {
                        return Err(format!(
                            "the module exports `{}`; names starting `ipvm:` are reserved",
                            e.name
                        ));
                    }
                    re.parse_export(&mut exports, e).map_err(reencode_err)?;
                }
            }
            exports.export(FUEL_EXPORT, ExportKind::Global, fuel_global);
            exports.export(MEMORY_PAGES_EXPORT, ExportKind::Global, pages_global);
            if let Some(f) = start {
                let f = re.function_index(f).map_err(reencode_err)?;
                exports.export(START_EXPORT, ExportKind::Func, f);
            }
            Ok(exports)
        };

        for p in payloads {
            // Sections are written in the order they came; the ones this pass
            // adds to are written where they would be if the module had none.
            match &p {
                Payload::ImportSection(_)
                | Payload::FunctionSection(_)
                | Payload::TableSection(_)
                | Payload::MemorySection(_)
                | Payload::TagSection(_)
                | Payload::GlobalSection(_)
                | Payload::ExportSection(_)
                | Payload::StartSection { .. }
                | Payload::ElementSection(_)
                | Payload::DataCountSection { .. }
                | Payload::CodeSectionStart { .. }
                | Payload::DataSection(_)
                | Payload::End(_) => ensure_types(
                    &mut module,
                    &mut types,
                    &mut wrote_types,
                    &mut multi,
                    &self.types,
                    &self.func_types,
                ),
                _ => {}
            }
            let before_imports = matches!(
                p,
                Payload::FunctionSection(_)
                    | Payload::TableSection(_)
                    | Payload::MemorySection(_)
                    | Payload::GlobalSection(_)
                    | Payload::ExportSection(_)
                    | Payload::StartSection { .. }
                    | Payload::ElementSection(_)
                    | Payload::DataCountSection { .. }
                    | Payload::CodeSectionStart { .. }
                    | Payload::DataSection(_)
                    | Payload::End(_)
            );
            if before_imports && !imports_done {
                imports_done = true;
                module.section(&imports_section(re, None)?);
            }
            let before_globals = matches!(
                p,
                Payload::ExportSection(_)
                    | Payload::StartSection { .. }
                    | Payload::ElementSection(_)
                    | Payload::DataCountSection { .. }
                    | Payload::CodeSectionStart { .. }
                    | Payload::DataSection(_)
                    | Payload::End(_)
            );
            if before_globals && !globals_done {
                globals_done = true;
                module.section(&globals_section(re, None)?);
            }
            let before_exports = matches!(
                p,
                Payload::StartSection { .. }
                    | Payload::ElementSection(_)
                    | Payload::DataCountSection { .. }
                    | Payload::CodeSectionStart { .. }
                    | Payload::DataSection(_)
                    | Payload::End(_)
            );
            if before_exports && !exports_done {
                exports_done = true;
                module.section(&exports_section(re, None)?);
            }
            match p {
                Payload::Version { .. } | Payload::CustomSection(_) | Payload::End(_) => {}
                Payload::TypeSection(r) => {
                    re.parse_type_section(&mut types, r).map_err(reencode_err)?;
                    ensure_types(
                        &mut module,
                        &mut types,
                        &mut wrote_types,
                        &mut multi,
                        &self.types,
                        &self.func_types,
                    );
                }
                Payload::ImportSection(r) => {
                    imports_done = true;
                    module.section(&imports_section(re, Some(r))?);
                }
                Payload::FunctionSection(r) => {
                    let mut s = FunctionSection::new();
                    re.parse_function_section(&mut s, r).map_err(reencode_err)?;
                    module.section(&s);
                }
                Payload::TableSection(r) => {
                    let mut s = TableSection::new();
                    re.parse_table_section(&mut s, r).map_err(reencode_err)?;
                    module.section(&s);
                }
                Payload::MemorySection(r) => {
                    let mut s = MemorySection::new();
                    re.parse_memory_section(&mut s, r).map_err(reencode_err)?;
                    module.section(&s);
                }
                Payload::GlobalSection(r) => {
                    globals_done = true;
                    module.section(&globals_section(re, Some(r))?);
                }
                Payload::ExportSection(r) => {
                    exports_done = true;
                    module.section(&exports_section(re, Some(r))?);
                }
                // Not written: the runner calls it through `ipvm:start`.
                Payload::StartSection { .. } => {}
                Payload::ElementSection(r) => {
                    let mut s = ElementSection::new();
                    re.parse_element_section(&mut s, r).map_err(reencode_err)?;
                    module.section(&s);
                }
                Payload::DataCountSection { count, .. } => {
                    module.section(&DataCountSection { count });
                }
                Payload::CodeSectionStart { .. } => {}
                Payload::CodeSectionEntry(body) => {
                    let ty = *self
                        .func_types
                        .get(func_index)
                        .ok_or("more function bodies than functions")?;
                    func_index += 1;
                    let (params, results) = self
                        .types
                        .get(ty as usize)
                        .cloned()
                        .flatten()
                        .ok_or("a function whose type is not a function type")?;
                    let body_type = match results.as_slice() {
                        [] => BlockType::Empty,
                        [one] => BlockType::Result(*one),
                        many => BlockType::FunctionType(multi[many]),
                    };
                    let written = module.as_slice().len() + code.byte_len();
                    let f = rewrite_function(
                        re,
                        &body,
                        params.len() as u32,
                        body_type,
                        &mut injected,
                        re.imported_funcs + func_index as u32 - 1,
                        MAX_METERED_BYTES.saturating_sub(written),
                    )?;
                    code.function(&f);
                    if func_index == self.func_types.len() {
                        module.section(&code);
                    }
                }
                Payload::DataSection(r) => {
                    let mut s = DataSection::new();
                    re.parse_data_section(&mut s, r).map_err(reencode_err)?;
                    module.section(&s);
                }
                other => {
                    return Err(format!(
                        "unexpected section {:?}",
                        other.as_section().map(|(id, _)| id)
                    ))
                }
            }
        }
        if module.len() > MAX_METERED_BYTES {
            return Err(too_large());
        }
        Ok(module.finish())
    }
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

/// The fuel cost of each region of a function, in the order the regions open.
fn region_costs(body: &FunctionBody) -> Result<Vec<u64>, String> {
    let mut costs = vec![0u64];
    // For each open control frame: the region it opened, if any.
    let mut frames: Vec<Option<usize>> = vec![Some(0)];
    let mut current = vec![0usize];
    let mut reader = body.get_operators_reader().map_err(err)?;
    while !reader.eof() {
        let op = reader.read().map_err(err)?;
        let here = *current.last().ok_or("unbalanced control")?;
        match op {
            Operator::Block { .. } => frames.push(None),
            Operator::Loop { .. } => {
                costs.push(0);
                frames.push(Some(costs.len() - 1));
                current.push(costs.len() - 1);
            }
            Operator::If { .. } => {
                costs[here] += 1;
                costs.push(0);
                frames.push(Some(costs.len() - 1));
                current.push(costs.len() - 1);
            }
            Operator::Else => {
                current.pop();
                costs.push(0);
                let r = costs.len() - 1;
                *frames.last_mut().ok_or("unbalanced else")? = Some(r);
                current.push(r);
            }
            Operator::End => {
                if let Some(Some(_)) = frames.pop() {
                    current.pop();
                }
            }
            Operator::Nop => {}
            _ => costs[here] += 1,
        }
    }
    Ok(costs)
}

/// Appends the code that charges a cost to the fuel counter: `cost` is
/// the instruction that pushes it (a constant, or the scratch local).
fn emit_charge(f: &mut Function, inj: &Injected, cost: &Instruction) {
    f.instruction(&Instruction::GlobalGet(inj.fuel))
        .instruction(cost)
        .instruction(&Instruction::I64LtU)
        .instruction(&Instruction::If(BlockType::Empty))
        .instruction(&Instruction::I32Const(MeterTrap::OutOfFuel as i32))
        .instruction(cost)
        .instruction(&Instruction::Call(inj.trap))
        .instruction(&Instruction::End)
        .instruction(&Instruction::GlobalGet(inj.fuel))
        .instruction(cost)
        .instruction(&Instruction::I64Sub)
        .instruction(&Instruction::GlobalSet(inj.fuel));
}

/// Charges a region's constant cost (nothing for an empty region).
fn charge_const(f: &mut Function, inj: &Injected, cost: u64) {
    if cost > 0 {
        emit_charge(f, inj, &Instruction::I64Const(cost as i64));
    }
}

/// Saves the i32 count on top of the stack in local `n`, charges
/// `n >> shift` (or `n * FUEL_PER_PAGE` when `shift` is None), and puts `n` back.
fn charge_count(f: &mut Function, inj: &Injected, shift: Option<i64>, limit: Option<Limit>) {
    f.instruction(&Instruction::LocalSet(inj.n));
    if let Some(limit) = limit {
        let (size, bound, code) = match limit {
            Limit::Memory(m) => (
                Instruction::MemorySize(m),
                Instruction::GlobalGet(inj.memory_pages),
                MeterTrap::MemoryLimit,
            ),
            Limit::Table(t) => (
                Instruction::TableSize(t),
                Instruction::I64Const(MAX_TABLE_ELEMENTS as i64),
                MeterTrap::TableLimit,
            ),
        };
        f.instruction(&size)
            .instruction(&Instruction::I64ExtendI32U)
            .instruction(&Instruction::LocalGet(inj.n))
            .instruction(&Instruction::I64ExtendI32U)
            .instruction(&Instruction::I64Add)
            .instruction(&bound)
            .instruction(&Instruction::I64GtU)
            .instruction(&Instruction::If(BlockType::Empty))
            .instruction(&Instruction::I32Const(code as i32))
            .instruction(&Instruction::I64Const(0))
            .instruction(&Instruction::Call(inj.trap))
            .instruction(&Instruction::End);
    }
    f.instruction(&Instruction::LocalGet(inj.n))
        .instruction(&Instruction::I64ExtendI32U);
    match shift {
        Some(s) => f
            .instruction(&Instruction::I64Const(s))
            .instruction(&Instruction::I64ShrU),
        None => f
            .instruction(&Instruction::I64Const(FUEL_PER_PAGE))
            .instruction(&Instruction::I64Mul),
    };
    f.instruction(&Instruction::LocalSet(inj.cost));
    emit_charge(f, inj, &Instruction::LocalGet(inj.cost));
    f.instruction(&Instruction::LocalGet(inj.n));
}

#[derive(Clone, Copy)]
enum Limit {
    Memory(u32),
    Table(u32),
}

/// Lowers the depth counter (at every exit of a function).
fn leave(f: &mut Function, inj: &Injected) {
    f.instruction(&Instruction::GlobalGet(inj.depth))
        .instruction(&Instruction::I32Const(1))
        .instruction(&Instruction::I32Sub)
        .instruction(&Instruction::GlobalSet(inj.depth));
}

/// Replaces the float on top of the stack by the canonical NaN if it is a NaN.
fn canonicalise(f: &mut Function, inj: &Injected, double: bool) {
    let (local, nan, eq) = match double {
        false => (
            inj.f32,
            Instruction::F32Const(f32::from_bits(0x7fc0_0000).into()),
            Instruction::F32Eq,
        ),
        true => (
            inj.f64,
            Instruction::F64Const(f64::from_bits(0x7ff8_0000_0000_0000).into()),
            Instruction::F64Eq,
        ),
    };
    f.instruction(&Instruction::LocalTee(local))
        .instruction(&nan)
        .instruction(&Instruction::LocalGet(local))
        .instruction(&Instruction::LocalGet(local))
        .instruction(&eq)
        .instruction(&Instruction::Select);
}

/// The range a trapping float-to-integer truncation accepts: whether its
/// operand is an f64, the bound below (and whether it is inclusive), the
/// bound above (exclusive).
fn truncation(op: &Operator) -> Option<(bool, f64, bool, f64)> {
    use Operator::*;
    const I32_MIN: f64 = -2_147_483_648.0;
    const I32_END: f64 = 2_147_483_648.0;
    const U32_END: f64 = 4_294_967_296.0;
    const I64_MIN: f64 = -9_223_372_036_854_775_808.0;
    const I64_END: f64 = 9_223_372_036_854_775_808.0;
    const U64_END: f64 = 18_446_744_073_709_551_616.0;
    Some(match op {
        I32TruncF32S => (false, I32_MIN, true, I32_END),
        I32TruncF64S => (true, I32_MIN - 1.0, false, I32_END),
        I32TruncF32U => (false, -1.0, false, U32_END),
        I32TruncF64U => (true, -1.0, false, U32_END),
        I64TruncF32S => (false, I64_MIN, true, I64_END),
        I64TruncF64S => (true, I64_MIN, true, I64_END),
        I64TruncF32U => (false, -1.0, false, U64_END),
        I64TruncF64U => (true, -1.0, false, U64_END),
        _ => return None,
    })
}

/// Checks the float on top of the stack (keeping it) against the range of
/// a truncation: a NaN or a value out of range ends the task with the
/// common `invalid conversion to integer` trap before the engine's own.
fn check_truncation(f: &mut Function, inj: &Injected, range: (bool, f64, bool, f64)) {
    let (double, low, inclusive, high) = range;
    let (local, konst, ge, gt, lt): (u32, fn(f64) -> Instruction<'static>, _, _, _) = match double {
        false => (
            inj.f32,
            |v| Instruction::F32Const((v as f32).into()),
            Instruction::F32Ge,
            Instruction::F32Gt,
            Instruction::F32Lt,
        ),
        true => (
            inj.f64,
            |v| Instruction::F64Const(v.into()),
            Instruction::F64Ge,
            Instruction::F64Gt,
            Instruction::F64Lt,
        ),
    };
    f.instruction(&Instruction::LocalTee(local))
        .instruction(&Instruction::LocalGet(local))
        .instruction(&konst(low))
        .instruction(&if inclusive { ge } else { gt })
        .instruction(&Instruction::LocalGet(local))
        .instruction(&konst(high))
        .instruction(&lt)
        .instruction(&Instruction::I32And)
        .instruction(&Instruction::I32Eqz)
        .instruction(&Instruction::If(BlockType::Empty))
        .instruction(&Instruction::I32Const(MeterTrap::BadConversion as i32))
        .instruction(&Instruction::I64Const(0))
        .instruction(&Instruction::Call(inj.trap))
        .instruction(&Instruction::End);
}

/// Whether `op` can produce a NaN whose bits differ between engines, and
/// whether its result is an f64.
fn nan_producing(op: &Operator) -> Option<bool> {
    use Operator::*;
    match op {
        F32Add | F32Sub | F32Mul | F32Div | F32Sqrt | F32Min | F32Max | F32Ceil | F32Floor
        | F32Trunc | F32Nearest | F32DemoteF64 => Some(false),
        F64Add | F64Sub | F64Mul | F64Div | F64Sqrt | F64Min | F64Max | F64Ceil | F64Floor
        | F64Trunc | F64Nearest | F64PromoteF32 => Some(true),
        _ => None,
    }
}

fn rewrite_function(
    re: &mut Indices,
    body: &FunctionBody,
    params: u32,
    body_type: BlockType,
    inj: &mut Injected,
    index: u32,
    room: usize,
) -> Result<Function, String> {
    let costs = region_costs(body)?;
    let mut locals = Vec::new();
    let mut declared: u32 = 0;
    for l in body.get_locals_reader().map_err(err)? {
        let (count, ty) = l.map_err(err)?;
        declared = declared.saturating_add(count);
        locals.push((count, re.val_type(ty).map_err(reencode_err)?));
    }
    let scratch = params + declared;
    inj.n = scratch;
    inj.cost = scratch + 1;
    inj.f32 = scratch + 2;
    inj.f64 = scratch + 3;
    locals.extend([
        (1, ValType::I32),
        (1, ValType::I64),
        (1, ValType::F32),
        (1, ValType::F64),
    ]);
    let inj = *inj;
    let mut f = Function::new(locals);
    // Entry: depth first, then the body's region.
    f.instruction(&Instruction::GlobalGet(inj.depth))
        .instruction(&Instruction::I32Const(MAX_DEPTH as i32))
        .instruction(&Instruction::I32GeU)
        .instruction(&Instruction::If(BlockType::Empty))
        .instruction(&Instruction::I32Const(MeterTrap::StackOverflow as i32))
        .instruction(&Instruction::I64Const(0))
        .instruction(&Instruction::Call(inj.trap))
        .instruction(&Instruction::End)
        .instruction(&Instruction::GlobalGet(inj.depth))
        .instruction(&Instruction::I32Const(1))
        .instruction(&Instruction::I32Add)
        .instruction(&Instruction::GlobalSet(inj.depth))
        .instruction(&Instruction::Block(body_type));
    let mut region = 0usize;
    charge_const(&mut f, &inj, costs[0]);
    // Control frames open inside the body (the body's own block excluded).
    let mut depth: u32 = 0;
    // The metered body may not pass MAX_FUNCTION_BYTES, nor the room the
    // module has left: checked after each operator, so the rewrite stops
    // as soon as it passes, whatever the size of the function.
    let limit = room.min(MAX_FUNCTION_BYTES);
    let mut reader = body.get_operators_reader().map_err(err)?;
    let over = |f: &Function| match f.byte_len() > limit {
        true if limit == MAX_FUNCTION_BYTES => Err(format!(
            "the metered body of function {index} passes {MAX_FUNCTION_BYTES} bytes, the \
             most this runtime accepts (meter::MAX_FUNCTION_BYTES)"
        )),
        true => Err(too_large()),
        false => Ok(()),
    };
    while !reader.eof() {
        over(&f)?;
        let op = reader.read().map_err(err)?;
        let nan = nan_producing(&op);
        match op {
            Operator::Block { .. } => {
                depth += 1;
                f.instruction(&re.instruction(op).map_err(reencode_err)?);
            }
            Operator::Loop { .. } | Operator::If { .. } => {
                depth += 1;
                region += 1;
                f.instruction(&re.instruction(op).map_err(reencode_err)?);
                charge_const(&mut f, &inj, costs[region]);
            }
            Operator::Else => {
                region += 1;
                f.instruction(&Instruction::Else);
                charge_const(&mut f, &inj, costs[region]);
            }
            Operator::End if depth == 0 => {
                // The end of the function: close the body's block, leave.
                f.instruction(&Instruction::End);
                leave(&mut f, &inj);
                f.instruction(&Instruction::End);
            }
            Operator::End => {
                depth -= 1;
                f.instruction(&Instruction::End);
            }
            Operator::Return => {
                f.instruction(&Instruction::Br(depth));
            }
            Operator::ReturnCall { .. } | Operator::ReturnCallIndirect { .. } => {
                leave(&mut f, &inj);
                f.instruction(&re.instruction(op).map_err(reencode_err)?);
            }
            Operator::MemoryGrow { mem } => {
                charge_count(&mut f, &inj, None, Some(Limit::Memory(mem)));
                f.instruction(&Instruction::MemoryGrow(mem));
            }
            Operator::MemoryFill { .. }
            | Operator::MemoryCopy { .. }
            | Operator::MemoryInit { .. } => {
                charge_count(&mut f, &inj, Some(MEMORY_BYTES_SHIFT), None);
                f.instruction(&re.instruction(op).map_err(reencode_err)?);
            }
            Operator::TableGrow { table } => {
                charge_count(
                    &mut f,
                    &inj,
                    Some(TABLE_ELEMENTS_SHIFT),
                    Some(Limit::Table(table)),
                );
                f.instruction(&Instruction::TableGrow(table));
            }
            Operator::TableFill { .. }
            | Operator::TableCopy { .. }
            | Operator::TableInit { .. } => {
                charge_count(&mut f, &inj, Some(TABLE_ELEMENTS_SHIFT), None);
                f.instruction(&re.instruction(op).map_err(reencode_err)?);
            }
            op => {
                if let Some(range) = truncation(&op) {
                    check_truncation(&mut f, &inj, range);
                }
                f.instruction(&re.instruction(op).map_err(reencode_err)?);
                if let Some(double) = nan {
                    canonicalise(&mut f, &inj, double);
                }
            }
        }
    }
    over(&f)?;
    Ok(f)
}

/// Why a module whose metered form passes [`MAX_METERED_BYTES`] is refused.
fn too_large() -> String {
    format!(
        "the metered module passes {MAX_METERED_BYTES} bytes, the most this runtime accepts \
         (meter::MAX_METERED_BYTES): the metering adds code to every region and float \
         operation, so this much code cannot run here"
    )
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
