//! The validator that runs before every engine: WebAssembly's own rules
//! (wasmparser, with the features this runtime accepts) and the limits of a
//! module (`MAX_*`), each refused with a message that names the function and
//! the constant, so that no engine this project runs refuses a module the
//! validator passed (docs/spec.md §8, "Limits of a module").

#[allow(
    clippy::wildcard_imports,
    reason = "a part of the rewriter: it shares the parent's names and limits"
)]
use super::*;

/// Validates a module (WebAssembly's rules, with the accepted features) and
/// checks it against the module limits (`MAX_*`), in one pass.
pub(super) fn validate(bytes: &[u8]) -> Result<(), String> {
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
pub(super) struct Counts {
    pub(super) functions: u32,
    pub(super) globals: u32,
}

/// Refuses `count` of `what` past `limit` (the constant `name`).
pub(super) fn at_most(count: u32, limit: u32, what: &str, name: &str) -> Result<(), String> {
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
pub(super) fn table_declared(t: &wasmparser::TableType) -> Result<(), String> {
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
pub(super) fn validate_function(
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
pub(super) fn refusal(message: &str) -> String {
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
