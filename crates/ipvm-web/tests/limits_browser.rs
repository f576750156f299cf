//! The limits of a module in headless Chromium, where the fast path runs:
//! a module past a limit is the same `compile` receipt on the browser's
//! engine as on wasmi alone (a node without the fast path), and a module at
//! each limit compiles on the browser's engine and gives wasmi's receipt.
//! docs/spec.md §8, "Limits of a module".
#![cfg(target_arch = "wasm32")]

use ipvm_core::store::add_file;
use ipvm_core::{CancelToken, Instruction, Ipld, Limits, MemoryStore, Scheduler, Task, Workflow};
use ipvm_exec::{meter, Either, Prefer, WasmExecutor, WasmiEngine};
use ipvm_web::FastEngine;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A receipt (DAG-JSON) and the engine that ran its task.
type Ran = (String, Option<String>);

/// Runs `func(args)` of `wasm` alone, with the fast path preferred
/// (`fast`) and on wasmi alone (`wasmi`), each on a store of its own.
async fn both(wasm: &[u8], func: &str, args: &[i64]) -> (Ran, Ran) {
    let mut out = Vec::new();
    for fast in [true, false] {
        let store = MemoryStore::new();
        let module = add_file(&store, wasm).await.unwrap();
        let args = args.iter().map(|a| Ipld::Integer((*a).into())).collect();
        let wf = Workflow::new(vec![Task {
            limits: Limits {
                fuel: Some(1_000_000_000),
                ..Limits::default()
            },
            ..Task::new(Instruction::new(module, "wasm/run", func, args, Ipld::Null).unwrap())
        }]);
        let report = match fast {
            true => {
                let engines = Either {
                    fast: FastEngine::default(),
                    reference: WasmiEngine::default(),
                    default: Prefer::Fast,
                };
                let exec = WasmExecutor::with_engine(&store, engines);
                Scheduler::new(&exec, &store)
                    .run(&wf, &mut |_| {}, &CancelToken::new())
                    .await
            }
            false => {
                let exec = WasmExecutor::new(&store);
                Scheduler::new(&exec, &store)
                    .run(&wf, &mut |_| {}, &CancelToken::new())
                    .await
            }
        }
        .unwrap_or_else(|e| panic!("run: {e}"));
        let t = &report.tasks[0];
        let r = t.receipt().unwrap_or_else(|| panic!("{:?}", t.status));
        out.push((r.receipt.to_dag_json().unwrap(), t.engine.clone()));
    }
    let wasmi = out.pop().unwrap();
    (out.pop().unwrap(), wasmi)
}

/// `f() -> i32`: pushes `height` ones and adds them up.
fn tall(height: u32) -> Vec<u8> {
    let body = "(i32.const 1) ".repeat(height as usize) + &"(i32.add) ".repeat(height as usize - 1);
    wat::parse_str(format!(
        r#"(module (func (export "f") (result i32) {body}))"#
    ))
    .unwrap()
}

#[wasm_bindgen_test]
async fn a_tall_operand_stack_is_one_compile_receipt_on_the_browser_s_engine_and_on_wasmi() {
    // Past the project's limit, and past wasmi's own (about 65 535 slots)
    // though not V8's: before, the fast path said ["ok", 70000] and wasmi
    // said compile.
    for height in [meter::MAX_STACK_HEIGHT + 1, 70_000] {
        let ((fast, _), (wasmi, _)) = both(&tall(height), "f", &[]).await;
        assert_eq!(fast, wasmi, "height {height}");
        assert!(fast.contains("\"compile\""), "{fast}");
        assert!(fast.contains("meter::MAX_STACK_HEIGHT"), "{fast}");
    }
}

/// `f()` with `depth - 1` blocks nested in its body.
fn nested(depth: u32) -> Vec<u8> {
    let n = depth as usize - 1;
    let body = "block ".repeat(n) + &"end ".repeat(n);
    wat::parse_str(format!(r#"(module (func (export "f") {body}))"#)).unwrap()
}

/// `f(i32) -> i32` whose `br_table` lists `targets` targets.
fn br_table(targets: u32) -> Vec<u8> {
    let labels = "0 ".repeat(targets as usize);
    wat::parse_str(format!(
        r#"(module (func (export "f") (param i32) (result i32)
        (block (br_table {labels} 0 (local.get 0))) (i32.const 5)))"#
    ))
    .unwrap()
}

/// `f(x: f64) -> f64` adding `x` to itself `n` times: a metered body of
/// about 20 bytes per addition.
fn float_adds(n: usize) -> Vec<u8> {
    let body = "(local.get 0) (f64.add) ".repeat(n);
    wat::parse_str(format!(
        r#"(module (func (export "f") (param f64) (result f64) (local.get 0) {body}))"#
    ))
    .unwrap()
}

/// `f(n) -> i32` calling `r`, whose frame is at every limit at once
/// (`meter::MAX_PARAMS` params, `meter::MAX_LOCALS` locals, an operand
/// stack `meter::MAX_STACK_HEIGHT` high), `n` times deep.
fn largest_frame() -> Vec<u8> {
    let params = meter::MAX_PARAMS as usize;
    let under = meter::MAX_STACK_HEIGHT as usize - params;
    let zeros = "(i32.const 0) ".repeat(params - 1);
    let ones = "(i32.const 1) ".repeat(under);
    let adds = "(i32.add) ".repeat(under);
    let types = "i32 ".repeat(params);
    wat::parse_str(format!(
        r#"(module
        (func (export "f") (param i32) (result i32) (call $r (local.get 0) {zeros}))
        (func $r (param {types}) (result i32) (local {locals})
          {ones}
          (if (result i32) (i32.eqz (local.get 0))
            (then (i32.const 0))
            (else (call $r (i32.sub (local.get 0) (i32.const 1)) {zeros})))
          {adds}))"#,
        locals = "i64 ".repeat(meter::MAX_LOCALS as usize),
    ))
    .unwrap()
}

#[wasm_bindgen_test]
async fn a_module_at_each_limit_compiles_on_the_browser_s_engine_and_gives_wasmi_s_receipt() {
    // `f` and as many more as the limit allows.
    let exports: String = (1..meter::MAX_EXPORTS)
        .map(|i| format!(r#"(export "e{i}" (func 0)) "#))
        .collect();
    let globals = "(global i32 (i32.const 0)) ".repeat(meter::MAX_GLOBALS as usize);
    let locals = "i64 ".repeat(meter::MAX_LOCALS as usize);
    let cases: Vec<(&str, Vec<u8>, Vec<i64>)> = vec![
        ("stack", tall(meter::MAX_STACK_HEIGHT), vec![]),
        ("nesting", nested(meter::MAX_NESTING), vec![]),
        ("br_table", br_table(meter::MAX_BR_TABLE_TARGETS), vec![3]),
        // 340 000 additions: a metered body of about 6.8 MB, under
        // meter::MAX_FUNCTION_BYTES (7 MiB; V8 refuses 7 654 321 bytes).
        ("function size", float_adds(340_000), vec![1]),
        (
            "locals",
            wat::parse_str(format!(
                r#"(module (func (export "f") (result i32) (local {locals}) (i32.const 1)))"#
            ))
            .unwrap(),
            vec![],
        ),
        (
            "exports",
            wat::parse_str(format!(
                r#"(module (func (export "f") (result i32) (i32.const 2)) {exports})"#
            ))
            .unwrap(),
            vec![],
        ),
        (
            "globals",
            wat::parse_str(format!(
                r#"(module {globals} (func (export "f") (result i32) (i32.const 3)))"#
            ))
            .unwrap(),
            vec![],
        ),
    ];
    for (name, wasm, args) in cases {
        meter::meter(&wasm).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ((fast, engine), (wasmi, _)) = both(&wasm, "f", &args).await;
        assert_eq!(fast, wasmi, "{name}");
        assert!(fast.contains("\"ok\""), "{name}: {fast}");
        assert_eq!(engine.as_deref(), Some("fast"), "{name}: {fast}");
    }
    // The largest frame, as deep as the depth counter allows, then one
    // more: the counter's stack_overflow. (The browser's own stack may run
    // out first; then wasmi decides, and the receipt is the same.)
    let wasm = largest_frame();
    let depth = i64::from(meter::MAX_DEPTH);
    for (n, expect) in [(depth - 2, "\"ok\""), (depth - 1, "\"stack_overflow\"")] {
        let ((fast, _), (wasmi, _)) = both(&wasm, "f", &[n]).await;
        assert_eq!(fast, wasmi, "largest frame, {n} deep");
        assert!(fast.contains(expect), "{n}: {fast}");
    }
}
