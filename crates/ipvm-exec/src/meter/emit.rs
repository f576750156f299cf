//! What the rewrite injects into one function: the cost of each region,
//! the charges, the depth counter's entry and exit, canonical NaNs, checked
//! truncations, and the rewrite of a function body with all of them.

#[allow(
    clippy::wildcard_imports,
    reason = "a part of the rewriter: it shares the parent's names and limits"
)]
use super::*;

/// The fuel cost of each region of a function, in the order the regions open.
pub(super) fn region_costs(body: &FunctionBody) -> Result<Vec<u64>, String> {
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
///
/// The charge reads the function's copy of the counter (the local
/// `fuel_copy`) and writes the result to both the copy and the global. The
/// global thus always holds what it held when the charge read and wrote it
/// directly (the fuel every engine reports is unchanged, at a trap too), but
/// no charge waits on a load of the global: a loop's charges depend on one
/// another through a register, not through memory.
pub(super) fn emit_charge(f: &mut Function, inj: &Injected, cost: &Instruction) {
    f.instruction(&Instruction::LocalGet(inj.fuel_copy))
        .instruction(cost)
        .instruction(&Instruction::I64LtU)
        .instruction(&Instruction::If(BlockType::Empty))
        .instruction(&Instruction::I32Const(MeterTrap::OutOfFuel as i32))
        .instruction(cost)
        .instruction(&Instruction::Call(inj.trap))
        .instruction(&Instruction::End)
        .instruction(&Instruction::LocalGet(inj.fuel_copy))
        .instruction(cost)
        .instruction(&Instruction::I64Sub)
        .instruction(&Instruction::LocalTee(inj.fuel_copy))
        .instruction(&Instruction::GlobalSet(inj.fuel));
}

/// Refreshes the function's copy of the fuel counter from the global: at
/// entry, and after every call (the callee, or a host function, charged the
/// global).
pub(super) fn reload_fuel(f: &mut Function, inj: &Injected) {
    f.instruction(&Instruction::GlobalGet(inj.fuel))
        .instruction(&Instruction::LocalSet(inj.fuel_copy));
}

/// Charges a region's constant cost (nothing for an empty region).
pub(super) fn charge_const(f: &mut Function, inj: &Injected, cost: u64) {
    if cost > 0 {
        emit_charge(f, inj, &Instruction::I64Const(cost as i64));
    }
}

/// Saves the i32 count on top of the stack in local `n`, charges
/// `n >> shift` (or `n * FUEL_PER_PAGE` when `shift` is None), and puts `n` back.
pub(super) fn charge_count(
    f: &mut Function,
    inj: &Injected,
    shift: Option<i64>,
    limit: Option<Limit>,
) {
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
pub(super) enum Limit {
    Memory(u32),
    Table(u32),
}

/// Puts the depth counter back to what it was at entry (at every exit of a
/// function): calls in between are balanced, so that is one lower than
/// now, without reading it.
pub(super) fn leave(f: &mut Function, inj: &Injected) {
    f.instruction(&Instruction::LocalGet(inj.depth_at_entry))
        .instruction(&Instruction::GlobalSet(inj.depth));
}

/// Replaces the float on top of the stack by the canonical NaN if it is a NaN.
pub(super) fn canonicalise(f: &mut Function, inj: &Injected, double: bool) {
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
pub(super) fn truncation(op: &Operator) -> Option<(bool, f64, bool, f64)> {
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
pub(super) fn check_truncation(f: &mut Function, inj: &Injected, range: (bool, f64, bool, f64)) {
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
pub(super) fn nan_producing(op: &Operator) -> Option<bool> {
    use Operator::*;
    match op {
        F32Add | F32Sub | F32Mul | F32Div | F32Sqrt | F32Min | F32Max | F32Ceil | F32Floor
        | F32Trunc | F32Nearest | F32DemoteF64 => Some(false),
        F64Add | F64Sub | F64Mul | F64Div | F64Sqrt | F64Min | F64Max | F64Ceil | F64Floor
        | F64Trunc | F64Nearest | F64PromoteF32 => Some(true),
        _ => None,
    }
}

pub(super) fn rewrite_function(
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
    inj.fuel_copy = scratch + 4;
    inj.depth_at_entry = scratch + 5;
    locals.extend([
        (1, ValType::I32),
        (1, ValType::I64),
        (1, ValType::F32),
        (1, ValType::F64),
        (1, ValType::I64),
        (1, ValType::I32),
    ]);
    let inj = *inj;
    let mut f = Function::new(locals);
    // Entry: depth first, then the body's region.
    f.instruction(&Instruction::GlobalGet(inj.depth))
        .instruction(&Instruction::LocalTee(inj.depth_at_entry))
        .instruction(&Instruction::I32Const(MAX_DEPTH as i32))
        .instruction(&Instruction::I32GeU)
        .instruction(&Instruction::If(BlockType::Empty))
        .instruction(&Instruction::I32Const(MeterTrap::StackOverflow as i32))
        .instruction(&Instruction::I64Const(0))
        .instruction(&Instruction::Call(inj.trap))
        .instruction(&Instruction::End)
        .instruction(&Instruction::LocalGet(inj.depth_at_entry))
        .instruction(&Instruction::I32Const(1))
        .instruction(&Instruction::I32Add)
        .instruction(&Instruction::GlobalSet(inj.depth));
    reload_fuel(&mut f, &inj);
    f.instruction(&Instruction::Block(body_type));
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
            Operator::Call { .. } | Operator::CallIndirect { .. } => {
                f.instruction(&re.instruction(op).map_err(reencode_err)?);
                reload_fuel(&mut f, &inj);
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
