//! The limits of a module (docs/spec.md §8, "Limits of a module"): what any
//! engine this project runs would refuse, the rewriter's validator refuses
//! first, as a `compile` error naming the limit; a module at each limit
//! passes. The metering rewrite is bounded (`meter::MAX_METERED_BYTES`,
//! `meter::MAX_FUNCTION_BYTES`), and when the engines disagree anyway the
//! reference engine's answer is the module's, whichever engine runs.

mod support;

use futures::executor::block_on;
use ipvm_core::store::add_file;
use ipvm_core::{Cid, Executor, Ipld, Job, Limits, MemoryStore, Outcome};
use ipvm_exec::meter::{self, Metered};
use ipvm_exec::{Either, Engine, ExecError, Prefer, WasmExecutor, WasmiEngine};
use support::SpyStore;
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, DataSection, ElementSection, Elements, EntityType,
    ExportKind, ExportSection, Function, FunctionSection, GlobalSection, GlobalType, ImportSection,
    Instruction, Module, RefType, TableSection, TableType, TypeSection, ValType,
};

fn int(i: i64) -> Ipld {
    Ipld::Integer(i.into())
}

fn job(module: Cid, func: &str, args: Vec<Ipld>, engine: Option<&str>) -> Job {
    Job {
        task: 0,
        instruction: module,
        module,
        op: "wasm/run".into(),
        func: func.into(),
        args,
        limits: Limits::default(),
        receipt: None,
        engine: engine.map(str::to_string),
    }
}

/// Runs `func` of `wasm` on wasmi: the outcome and the fuel.
fn run(wasm: &[u8], func: &str, args: Vec<Ipld>) -> (Outcome, u64) {
    let store = MemoryStore::new();
    let module = block_on(add_file(&store, wasm)).unwrap();
    let ex = block_on(WasmExecutor::new(&store).execute(job(module, func, args, None)));
    (ex.out, ex.fuel)
}

/// The kind and message of an error outcome.
fn error(out: &Outcome) -> (String, String) {
    let Outcome::Err(Ipld::Map(m)) = out else {
        panic!("not an error: {out:?}")
    };
    let text = |k: &str| match m.get(k) {
        Some(Ipld::String(s)) => s.clone(),
        other => panic!("{k}: {other:?}"),
    };
    (text("kind"), text("message"))
}

/// Asserts that `wasm` is refused by the rewriter with a reason naming
/// `constant`, and that a task on it is that `compile` error.
fn refused(wasm: &[u8], constant: &str) -> String {
    let reason = meter::meter(wasm)
        .err()
        .unwrap_or_else(|| panic!("{constant}: accepted"));
    assert!(
        reason.contains(&format!("meter::{constant}")),
        "{constant}: {reason}"
    );
    reason
}

/// Asserts that the rewriter does not refuse `wasm` for `constant` (it may
/// refuse it for another reason: a module built only to reach a count).
fn not_refused_for(wasm: &[u8], constant: &str) {
    if let Err(reason) = meter::meter(wasm) {
        assert!(
            !reason.contains(constant),
            "{constant} at its limit: {reason}"
        );
    }
}

/// A module of one exported function `f` with `params` i32 parameters and
/// `locals` i64 locals, whose body is `body`.
fn one_function(params: usize, result: bool, locals: u32, body: &[Instruction]) -> Vec<u8> {
    let mut types = TypeSection::new();
    let results: Vec<ValType> = match result {
        true => vec![ValType::I32],
        false => vec![],
    };
    types
        .ty()
        .function(std::iter::repeat_n(ValType::I32, params), results);
    let mut funcs = FunctionSection::new();
    funcs.function(0);
    let mut exports = ExportSection::new();
    exports.export("f", ExportKind::Func, 0);
    let mut code = CodeSection::new();
    let mut f = Function::new(match locals {
        0 => vec![],
        n => vec![(n, ValType::I64)],
    });
    for i in body {
        f.instruction(i);
    }
    f.instruction(&Instruction::End);
    code.function(&f);
    let mut m = Module::new();
    m.section(&types)
        .section(&funcs)
        .section(&exports)
        .section(&code);
    m.finish()
}

/// `f() -> i32` that pushes `height` ones and adds them up.
fn tall(height: u32) -> Vec<u8> {
    let mut body = vec![Instruction::I32Const(1); height as usize];
    body.extend(vec![Instruction::I32Add; height as usize - 1]);
    one_function(0, true, 0, &body)
}

#[test]
fn an_operand_stack_past_the_limit_is_a_compile_error_that_names_the_function_and_the_limit() {
    // At the limit: runs, on wasmi as everywhere.
    let h = meter::MAX_STACK_HEIGHT;
    assert_eq!(run(&tall(h), "f", vec![]).0, Outcome::Ok(int(h.into())));
    // One more, and far more (wasmi's own limit is about 65 535 slots):
    // the rewriter's refusal, the same on every engine.
    for height in [h + 1, 70_000] {
        let (out, fuel) = run(&tall(height), "f", vec![]);
        let (kind, message) = error(&out);
        assert_eq!(kind, "compile", "{message}");
        assert!(
            message.contains(&format!(
                "function 0 holds {} values on its operand stack at once; this runtime accepts at most {h} (meter::MAX_STACK_HEIGHT)",
                h + 1
            )),
            "{message}"
        );
        assert_eq!(fuel, 0);
    }
}

/// `f(n) -> i32` calling `r` with a frame at every limit at once: 1000
/// params, `meter::MAX_LOCALS` locals, an operand stack
/// `meter::MAX_STACK_HEIGHT` high. `r` recurses `n` times.
fn largest_frame() -> Vec<u8> {
    let params = meter::MAX_PARAMS as usize;
    let under = meter::MAX_STACK_HEIGHT as usize - params;
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], [ValType::I32]);
    types
        .ty()
        .function(std::iter::repeat_n(ValType::I32, params), [ValType::I32]);
    let mut funcs = FunctionSection::new();
    funcs.function(0).function(1);
    let mut exports = ExportSection::new();
    exports.export("f", ExportKind::Func, 0);
    let mut code = CodeSection::new();
    let mut f = Function::new([]);
    f.instruction(&Instruction::LocalGet(0));
    for _ in 1..params {
        f.instruction(&Instruction::I32Const(0));
    }
    f.instruction(&Instruction::Call(1))
        .instruction(&Instruction::End);
    code.function(&f);
    let mut r = Function::new([(meter::MAX_LOCALS, ValType::I64)]);
    for _ in 0..under {
        r.instruction(&Instruction::I32Const(1));
    }
    r.instruction(&Instruction::LocalGet(0))
        .instruction(&Instruction::I32Eqz)
        .instruction(&Instruction::If(BlockType::Result(ValType::I32)))
        .instruction(&Instruction::I32Const(0))
        .instruction(&Instruction::Else)
        .instruction(&Instruction::LocalGet(0))
        .instruction(&Instruction::I32Const(1))
        .instruction(&Instruction::I32Sub);
    for _ in 1..params {
        r.instruction(&Instruction::I32Const(0));
    }
    r.instruction(&Instruction::Call(1))
        .instruction(&Instruction::End);
    for _ in 0..under {
        r.instruction(&Instruction::I32Add);
    }
    r.instruction(&Instruction::End);
    code.function(&r);
    let mut m = Module::new();
    m.section(&types)
        .section(&funcs)
        .section(&exports)
        .section(&code);
    m.finish()
}

#[test]
fn the_largest_frame_recurses_until_the_depth_counter_not_the_engine_s_stack_stops_it() {
    let wasm = largest_frame();
    let under = i64::from(meter::MAX_STACK_HEIGHT - meter::MAX_PARAMS);
    // `f` is call 1, `r` calls 2 to n + 2: the deepest that fits is n =
    // MAX_DEPTH - 2, and it ends normally; one more is the counter's
    // `stack_overflow`.
    let depth = i64::from(meter::MAX_DEPTH);
    let (out, _) = run(&wasm, "f", vec![int(depth - 2)]);
    assert_eq!(out, Outcome::Ok(int(under * (depth - 1))));
    let (out, _) = run(&wasm, "f", vec![int(depth - 1)]);
    assert_eq!(error(&out).0, "stack_overflow");
}

/// `f` with `depth - 1` blocks nested in its body (the body is a frame too).
fn nested(depth: u32) -> Vec<u8> {
    let mut body = vec![Instruction::Block(BlockType::Empty); depth as usize - 1];
    body.extend(vec![Instruction::End; depth as usize - 1]);
    one_function(0, false, 0, &body)
}

/// `f(i32)` whose `br_table` lists `targets` targets.
fn br_table(targets: u32) -> Vec<u8> {
    let body = [
        Instruction::Block(BlockType::Empty),
        Instruction::LocalGet(0),
        Instruction::BrTable(vec![0; targets as usize].into(), 0),
        Instruction::End,
    ];
    one_function(1, false, 0, &body)
}

/// A module of `n` `what`s, and nothing else that needs them.
fn many(what: &str, n: u32) -> Vec<u8> {
    let mut m = Module::new();
    let mut types = TypeSection::new();
    let count = match what {
        "types" => n,
        _ => 1,
    };
    for _ in 0..count {
        types.ty().function([], []);
    }
    m.section(&types);
    match what {
        "imports" => {
            let mut s = ImportSection::new();
            for i in 0..n {
                s.import("m", &format!("i{i}"), EntityType::Function(0));
            }
            m.section(&s);
        }
        // A function section without a code section: refused, but only
        // after the count is checked.
        "functions" => {
            let mut s = FunctionSection::new();
            for _ in 0..n {
                s.function(0);
            }
            m.section(&s);
        }
        "globals" => {
            let mut s = GlobalSection::new();
            let ty = GlobalType {
                val_type: ValType::I32,
                mutable: false,
                shared: false,
            };
            for _ in 0..n {
                s.global(ty, &ConstExpr::i32_const(0));
            }
            m.section(&s);
        }
        "exports" => {
            let mut funcs = FunctionSection::new();
            funcs.function(0);
            m.section(&funcs);
            let mut s = ExportSection::new();
            for i in 0..n {
                s.export(&format!("e{i}"), ExportKind::Func, 0);
            }
            m.section(&s);
            let mut code = CodeSection::new();
            let mut f = Function::new([]);
            f.instruction(&Instruction::End);
            code.function(&f);
            m.section(&code);
        }
        "element segments" | "segment elements" => {
            let mut funcs = FunctionSection::new();
            funcs.function(0);
            m.section(&funcs);
            let mut s = ElementSection::new();
            let (segments, each) = match what {
                "element segments" => (n, 0),
                _ => (1, n),
            };
            let refs = vec![0u32; each as usize];
            for _ in 0..segments {
                s.passive(Elements::Functions(refs.as_slice().into()));
            }
            m.section(&s);
            let mut code = CodeSection::new();
            let mut f = Function::new([]);
            f.instruction(&Instruction::End);
            code.function(&f);
            m.section(&code);
        }
        "data segments" => {
            let mut s = DataSection::new();
            for _ in 0..n {
                s.passive([]);
            }
            m.section(&s);
        }
        "table" => {
            let mut s = TableSection::new();
            s.table(TableType {
                element_type: RefType::FUNCREF,
                table64: false,
                minimum: u64::from(n),
                maximum: None,
                shared: false,
            });
            m.section(&s);
        }
        _ => {}
    }
    m.finish()
}

#[test]
fn every_module_limit_refuses_one_past_it_and_names_itself() {
    // What the validator counts, each at its limit and one past it.
    let cases: &[(&str, u32, &str)] = &[
        ("types", meter::MAX_TYPES, "MAX_TYPES"),
        ("imports", meter::MAX_IMPORTS, "MAX_IMPORTS"),
        ("functions", meter::MAX_FUNCTIONS, "MAX_FUNCTIONS"),
        ("globals", meter::MAX_GLOBALS, "MAX_GLOBALS"),
        ("exports", meter::MAX_EXPORTS, "MAX_EXPORTS"),
        (
            "element segments",
            meter::MAX_ELEMENT_SEGMENTS,
            "MAX_ELEMENT_SEGMENTS",
        ),
        (
            "segment elements",
            meter::MAX_SEGMENT_ELEMENTS,
            "MAX_SEGMENT_ELEMENTS",
        ),
        (
            "data segments",
            meter::MAX_DATA_SEGMENTS,
            "MAX_DATA_SEGMENTS",
        ),
        (
            "table",
            meter::MAX_TABLE_DECLARED as u32,
            "MAX_TABLE_DECLARED",
        ),
    ];
    for (what, limit, constant) in cases {
        not_refused_for(&many(what, *limit), constant);
        refused(&many(what, *limit + 1), constant);
    }
    // In a function: nesting, br_table, locals.
    not_refused_for(&nested(meter::MAX_NESTING), "MAX_NESTING");
    let reason = refused(&nested(meter::MAX_NESTING + 1), "MAX_NESTING");
    assert!(reason.contains("function 0 nests blocks"), "{reason}");
    not_refused_for(
        &br_table(meter::MAX_BR_TABLE_TARGETS),
        "MAX_BR_TABLE_TARGETS",
    );
    refused(
        &br_table(meter::MAX_BR_TABLE_TARGETS + 1),
        "MAX_BR_TABLE_TARGETS",
    );
    let locals = |n| one_function(0, false, n, &[]);
    meter::meter(&locals(meter::MAX_LOCALS)).expect("at the locals limit");
    refused(&locals(meter::MAX_LOCALS + 1), "MAX_LOCALS");
    // Parameters: wasmparser's own limit, which is the project's.
    let params = |n: u32| one_function(n as usize, false, 0, &[]);
    meter::meter(&params(meter::MAX_PARAMS)).expect("at the params limit");
    assert!(meter::meter(&params(meter::MAX_PARAMS + 1)).is_err());
}

/// `f(x: f64) -> f64` adding `x` to itself `n` times: three bytes of
/// code each, and a NaN check of 17 in the metered form.
fn float_adds(n: usize) -> Function {
    let mut f = Function::new([]);
    f.instruction(&Instruction::LocalGet(0));
    for _ in 0..n {
        f.instruction(&Instruction::LocalGet(0))
            .instruction(&Instruction::F64Add);
    }
    f.instruction(&Instruction::End);
    f
}

/// A module of `functions` functions of `float_adds(n)`.
fn dense(functions: u32, n: usize) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([ValType::F64], [ValType::F64]);
    let mut funcs = FunctionSection::new();
    let mut code = CodeSection::new();
    let body = float_adds(n);
    for _ in 0..functions {
        funcs.function(0);
        code.function(&body);
    }
    let mut exports = ExportSection::new();
    exports.export("f", ExportKind::Func, 0);
    let mut m = Module::new();
    m.section(&types)
        .section(&funcs)
        .section(&exports)
        .section(&code);
    m.finish()
}

#[test]
fn a_function_whose_metered_body_passes_the_engines_limit_is_refused() {
    // 400 000 additions: 1.2 MB of code, about 8 MB once metered (engines
    // refuse a body past 7 654 321 bytes).
    let reason = refused(&dense(1, 400_000), "MAX_FUNCTION_BYTES");
    assert!(reason.contains("function 0"), "{reason}");
    // A third of it passes, and runs.
    let wasm = dense(1, 130_000);
    assert!(meter::meter(&wasm).is_ok());
    let (out, _) = run(&wasm, "f", vec![Ipld::Float(1.0)]);
    assert_eq!(out, Outcome::Ok(Ipld::Float(130_001.0)));
}

#[test]
fn a_module_whose_metered_form_passes_the_cap_is_refused_and_remembered() {
    // Twelve functions of 6 MB once metered each: 72 MB, past the 64 MiB
    // cap (the original is 13 MB). The rewrite stops at the cap.
    let wasm = dense(12, 330_000);
    let store = MemoryStore::new();
    let module = block_on(add_file(&store, &wasm)).unwrap();
    let spy = SpyStore::new(&store);
    let exec = WasmExecutor::new(&spy);
    let first = block_on(exec.execute(job(module, "f", vec![Ipld::Float(1.0)], None)));
    let (kind, message) = error(&first.out);
    assert_eq!(kind, "compile");
    assert!(message.contains("meter::MAX_METERED_BYTES"), "{message}");
    assert!(message.contains(&module.to_string()), "{message}");
    // Remembered by module CID: not read, rewritten or compiled again.
    let reads = spy.reads.get();
    assert!(reads > 0);
    let again = block_on(exec.execute(job(module, "f", vec![Ipld::Float(2.0)], None)));
    assert_eq!(again.out, first.out);
    assert_eq!(spy.reads.get(), reads, "the failure was remembered");
}

/// wasmi that refuses every module: a reference engine that disagrees with
/// the fast one on a module the validator let through.
#[derive(Clone, Default)]
struct Refusing(WasmiEngine);

impl Engine for Refusing {
    type Module = <WasmiEngine as Engine>::Module;
    type Instance = <WasmiEngine as Engine>::Instance;

    async fn compile(&self, name: &str, _: &Metered) -> Result<Self::Module, ExecError> {
        Err(ExecError::Compile {
            cid: name.into(),
            reason: "the reference engine refuses it".into(),
        })
    }

    async fn instantiate(
        &self,
        module: &Self::Module,
        world: Option<&ipvm_exec::wit::WitWorld>,
        limits: Limits,
        prefer: Prefer,
    ) -> Result<Self::Instance, ExecError> {
        self.0.instantiate(module, world, limits, prefer).await
    }
}

#[test]
fn when_the_engines_disagree_on_a_module_the_reference_engine_s_refusal_is_the_receipt() {
    let wasm = tall(8);
    let store = MemoryStore::new();
    let module = block_on(add_file(&store, &wasm)).unwrap();
    // The reference engine alone: what a native node says.
    let alone = block_on(
        WasmExecutor::with_engine(&store, Refusing::default()).execute(job(
            module,
            "f",
            vec![],
            None,
        )),
    );
    let (kind, message) = error(&alone.out);
    assert_eq!(kind, "compile");
    assert!(message.contains(&module.to_string()), "{message}");
    // A fast engine that accepts the module changes nothing, whichever
    // engine the task asks for.
    for engine in [None, Some("fast"), Some("wasmi")] {
        let both = WasmExecutor::with_engine(
            &store,
            Either {
                fast: WasmiEngine::default(),
                reference: Refusing::default(),
                default: Prefer::Fast,
            },
        );
        let ex = block_on(both.execute(job(module, "f", vec![], engine)));
        assert_eq!(ex.out, alone.out, "{engine:?}");
        assert_eq!(ex.fuel, alone.fuel, "{engine:?}");
    }
    // The other way round: the fast engine refuses, the reference engine
    // runs the module, as a node without the fast engine does.
    let ran = block_on(
        WasmExecutor::with_engine(
            &store,
            Either {
                fast: Refusing::default(),
                reference: WasmiEngine::default(),
                default: Prefer::Fast,
            },
        )
        .execute(job(module, "f", vec![], None)),
    );
    let native = block_on(WasmExecutor::new(&store).execute(job(module, "f", vec![], None)));
    assert_eq!(ran.out, Outcome::Ok(int(8)));
    assert_eq!((ran.out, ran.fuel), (native.out, native.fuel));
    assert_eq!(ran.engine.as_deref(), Some("wasmi"));
}
