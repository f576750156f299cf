//! The fast path (the browser's own engine running metered modules) gives
//! the receipts wasmi gives, byte for byte: every guest-calls fixture row
//! and the image pipeline (against the native suite's receipts), and a set
//! of hostile and edge-case modules (against wasmi in the same tab), at
//! their fuel, at one less, and at random budgets. Headless Chromium.
#![cfg(target_arch = "wasm32")]

#[path = "../../ipvm-exec/tests/support/mod.rs"]
mod support;

use ipvm_core::store::add_file;
use ipvm_core::{CancelToken, Instruction, Ipld, Limits, MemoryStore, Scheduler, Task, Workflow};
use ipvm_exec::{Either, Prefer, WasmExecutor, WasmiEngine};
use ipvm_web::FastEngine;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const GUESTS: &[u8] = include_bytes!(env!("IPVM_GUESTS_WASM"));
const NATIVE_GUEST_RECEIPTS: &str = include_str!(concat!(
    env!("IPVM_NATIVE_RECEIPTS"),
    "/guest-receipts.jsonl"
));
const NATIVE_PIPELINE_RECEIPTS: &str = include_str!(concat!(
    env!("IPVM_NATIVE_RECEIPTS"),
    "/pipeline-receipts.jsonl"
));

/// One task's receipt (DAG-JSON) and the engine it ran on.
type Ran = (String, Option<String>);

async fn run(store: &MemoryStore, wf: &Workflow, prefer: Prefer) -> Vec<Ran> {
    let engines = Either {
        fast: FastEngine::default(),
        reference: WasmiEngine::default(),
        default: prefer,
    };
    let exec = WasmExecutor::with_engine(store, engines);
    let report = Scheduler::new(&exec, store)
        .run(wf, &mut |_| {}, &CancelToken::new())
        .await
        .unwrap_or_else(|e| panic!("run: {e}"));
    report
        .tasks
        .iter()
        .map(|t| {
            let r = t.receipt().unwrap_or_else(|| panic!("{:?}", t.status));
            let json = r.receipt.to_dag_json().unwrap();
            (json, t.engine.clone())
        })
        .collect()
}

async fn guests() -> (MemoryStore, ipvm_core::Cid) {
    let store = MemoryStore::new();
    let module = add_file(&store, GUESTS).await.unwrap();
    (store, module)
}

#[wasm_bindgen_test]
async fn every_guest_function_gives_the_native_receipt_on_the_fast_path() {
    let (store, module) = guests().await;
    let calls = support::calls();
    let fast = run(&store, &support::workflow(module, &calls), Prefer::Fast).await;
    let native: Vec<&str> = NATIVE_GUEST_RECEIPTS.lines().collect();
    assert_eq!(native.len(), calls.len());
    let mut on_fast = 0;
    for (i, call) in calls.iter().enumerate() {
        assert_eq!(fast[i].0, native[i], "{} {:?}", call.func, call.args);
        // A task that got as far as an instance ran there, not on wasmi.
        assert_ne!(fast[i].1.as_deref(), Some("wasmi"), "{}", call.func);
        on_fast += usize::from(fast[i].1.as_deref() == Some("fast"));
    }
    assert!(
        on_fast * 2 > calls.len(),
        "{on_fast} of {} on the fast path",
        calls.len()
    );
}

#[wasm_bindgen_test]
async fn the_image_pipeline_gives_the_native_receipts_on_the_fast_path() {
    let (store, module) = guests().await;
    let fast = run(&store, &support::pipeline(module), Prefer::Fast).await;
    let native: Vec<&str> = NATIVE_PIPELINE_RECEIPTS.lines().collect();
    assert_eq!(native.len(), fast.len());
    for (i, (json, engine)) in fast.iter().enumerate() {
        assert_eq!(json, native[i], "step {i}");
        assert_eq!(engine.as_deref(), Some("fast"), "step {i}");
    }
}

/// Modules at the edges of the rewriter and of the limits: (name, WAT,
/// export, arguments, limits).
fn cases() -> Vec<(&'static str, &'static str, &'static str, Vec<i64>, Limits)> {
    // What each case must give is checked in `expected`.
    let fuel = |f| Limits {
        fuel: Some(f),
        ..Limits::default()
    };
    let memory = |m| Limits {
        memory: Some(m),
        fuel: Some(100_000_000),
        ..Limits::default()
    };
    vec![
        (
            "infinite loop",
            r#"(module (func (export "f") (loop (br 0))))"#,
            "f",
            vec![],
            fuel(1_000_000),
        ),
        (
            "memory bomb",
            r#"(module (memory 1) (func (export "f") (result i32)
            (loop (br_if 0 (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) (memory.size)))"#,
            "f",
            vec![],
            memory(16 << 20),
        ),
        (
            "deep recursion",
            r#"(module (func $f (export "f") (param i32) (result i32)
            (call $f (i32.add (local.get 0) (i32.const 1)))))"#,
            "f",
            vec![0],
            fuel(100_000_000),
        ),
        (
            "recursion that returns early, many times",
            r#"(module
            (func $down (param i32) (result i32)
              (block (br_if 0 (local.get 0)) (return (i32.const 0)))
              (block (result i32) (br 1 (i32.add (i32.const 1) (call $down (i32.sub (local.get 0) (i32.const 1)))))))
            (func (export "f") (result i32) (local i32) (local i32)
              (loop (local.set 1 (i32.add (local.get 1) (call $down (i32.const 1000))))
                    (br_if 0 (i32.lt_u (local.tee 0 (i32.add (local.get 0) (i32.const 1))) (i32.const 50))))
              (local.get 1)))"#,
            "f",
            vec![],
            fuel(100_000_000),
        ),
        (
            "depth limit exactly",
            r#"(module (func $down (export "f") (param i32) (result i32)
            (if (result i32) (local.get 0) (then (call $down (i32.sub (local.get 0) (i32.const 1)))) (else (i32.const 7)))))"#,
            "f",
            vec![1023],
            fuel(100_000_000),
        ),
        (
            "one past the depth limit",
            r#"(module (func $down (export "f") (param i32) (result i32)
            (if (result i32) (local.get 0) (then (call $down (i32.sub (local.get 0) (i32.const 1)))) (else (i32.const 7)))))"#,
            "f",
            vec![1024],
            fuel(100_000_000),
        ),
        (
            "tail calls do not nest",
            r#"(module (func $loop (export "f") (param i64) (result i64)
            (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 42))
              (else (return_call $loop (i64.sub (local.get 0) (i64.const 1)))))))"#,
            "f",
            vec![100_000],
            fuel(100_000_000),
        ),
        (
            "unreachable",
            r#"(module (func (export "f") unreachable))"#,
            "f",
            vec![],
            fuel(1000),
        ),
        (
            "division by zero",
            r#"(module (func (export "f") (param i32) (result i32) (i32.div_s (i32.const 1) (local.get 0))))"#,
            "f",
            vec![0],
            fuel(1000),
        ),
        (
            "remainder by zero",
            r#"(module (func (export "f") (param i64) (result i64) (i64.rem_u (i64.const 1) (local.get 0))))"#,
            "f",
            vec![0],
            fuel(1000),
        ),
        (
            "signed overflow",
            r#"(module (func (export "f") (param i32) (result i32) (i32.div_s (i32.const -2147483648) (local.get 0))))"#,
            "f",
            vec![-1],
            fuel(1000),
        ),
        (
            "bad conversion",
            r#"(module (func (export "f") (result i32) (i32.trunc_f32_s (f32.const nan))))"#,
            "f",
            vec![],
            fuel(1000),
        ),
        (
            "load out of bounds",
            r#"(module (memory 1) (func (export "f") (param i32) (result i32) (i32.load (local.get 0))))"#,
            "f",
            vec![65534],
            fuel(1000),
        ),
        (
            "indirect call to null",
            r#"(module (type $t (func (result i32))) (table 2 funcref)
            (func (export "f") (result i32) (call_indirect (type $t) (i32.const 1))))"#,
            "f",
            vec![],
            fuel(1000),
        ),
        (
            "indirect call of another signature",
            r#"(module (type $t (func (result i32))) (table 1 funcref)
            (elem (i32.const 0) $g) (func $g (param i32) (result i32) (local.get 0))
            (func (export "f") (result i32) (call_indirect (type $t) (i32.const 0))))"#,
            "f",
            vec![],
            fuel(1000),
        ),
        (
            "indirect call past the table",
            r#"(module (type $t (func (result i32))) (table 1 funcref)
            (func (export "f") (result i32) (call_indirect (type $t) (i32.const 5))))"#,
            "f",
            vec![],
            fuel(1000),
        ),
        (
            "NaN from 0/0 is canonical",
            r#"(module (func (export "f") (param f32) (result i32)
            (i32.reinterpret_f32 (f32.div (local.get 0) (local.get 0)))))"#,
            "f",
            vec![0],
            fuel(1000),
        ),
        (
            "NaN from sqrt(-1) is canonical",
            r#"(module (func (export "f") (result i64)
            (i64.reinterpret_f64 (f64.sqrt (f64.const -1)))))"#,
            "f",
            vec![],
            fuel(1000),
        ),
        (
            "NaN payloads in min and max",
            r#"(module (func (export "f") (result i64)
            (i64.reinterpret_f64 (f64.max (f64.reinterpret_i64 (i64.const 0x7ff4000000000001)) (f64.const 1)))))"#,
            "f",
            vec![],
            fuel(1000),
        ),
        (
            "promote and demote",
            r#"(module (func (export "f") (result i32)
            (i32.reinterpret_f32 (f32.demote_f64 (f64.promote_f32 (f32.reinterpret_i32 (i32.const 0x7fa00001)))))))"#,
            "f",
            vec![],
            fuel(1000),
        ),
        (
            "memory.fill charges by the byte",
            r#"(module (memory 4) (func (export "f") (result i32)
            (memory.fill (i32.const 0) (i32.const 7) (i32.const 200000)) (i32.load8_u (i32.const 199999))))"#,
            "f",
            vec![],
            fuel(1_000_000),
        ),
        (
            "memory.copy out of bounds",
            r#"(module (memory 1) (func (export "f")
            (memory.copy (i32.const 65000) (i32.const 0) (i32.const 1000))))"#,
            "f",
            vec![],
            fuel(1_000_000),
        ),
        (
            "memory.grow past the declared maximum",
            r#"(module (memory 1 2) (func (export "f") (result i32)
            (i32.add (memory.grow (i32.const 5)) (memory.grow (i32.const 1)))))"#,
            "f",
            vec![],
            fuel(1_000_000),
        ),
        (
            "table.grow",
            r#"(module (table 1 funcref) (func (export "f") (result i32)
            (drop (table.grow (ref.null func) (i32.const 40))) (table.size)))"#,
            "f",
            vec![],
            fuel(1_000_000),
        ),
        (
            "table.grow past the limit",
            r#"(module (table 1 funcref) (func (export "f") (result i32)
            (table.grow (ref.null func) (i32.const 200000))))"#,
            "f",
            vec![],
            fuel(1_000_000_000),
        ),
        (
            "a start function that traps",
            r#"(module (func $s unreachable) (start $s) (func (export "f") (result i32) (i32.const 1)))"#,
            "f",
            vec![],
            fuel(1000),
        ),
        (
            "a start function that sets memory",
            r#"(module (memory 1) (func $s (i32.store (i32.const 8) (i32.const 99))) (start $s)
            (func (export "f") (result i32) (i32.load (i32.const 8))))"#,
            "f",
            vec![],
            fuel(1000),
        ),
        (
            "a data segment past memory",
            r#"(module (memory 1) (data (i32.const 65535) "ab") (func (export "f") (result i32) (i32.const 1)))"#,
            "f",
            vec![],
            fuel(1000),
        ),
        (
            "an import that is not a function",
            r#"(module (import "env" "m" (memory 1)) (func (export "f") (result i32) (i32.const 1)))"#,
            "f",
            vec![],
            fuel(1000),
        ),
        (
            "initial memory over the limit",
            r#"(module (memory 300) (func (export "f") (result i32) (i32.const 1)))"#,
            "f",
            vec![],
            memory(1 << 20),
        ),
        (
            "branches out of nested blocks and br_table",
            r#"(module (func (export "f") (param i32) (result i32) (local i32)
            (loop $top
              (block $a (block $b (block $c
                (br_table $a $b $c (i32.rem_u (local.get 0) (i32.const 3))))
                (local.set 1 (i32.add (local.get 1) (i32.const 1))) (br $a))
                (local.set 1 (i32.add (local.get 1) (i32.const 10))))
              (br_if $top (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))
            (local.get 1)))"#,
            "f",
            vec![1000],
            fuel(1_000_000),
        ),
        (
            "dead code after br and return",
            r#"(module (func (export "f") (param i32) (result i32)
            (block (result i32) (br 0 (i32.const 3)) (drop (i32.const 4)) (loop (br 0)) (i32.const 5))
            (return) (i32.const 9)))"#,
            "f",
            vec![1],
            fuel(1000),
        ),
        (
            "a trap in the middle of a region",
            r#"(module (memory 1) (func (export "f") (param i32) (result i32)
            (i32.store (i32.const 0) (i32.const 5)) (drop (i32.div_u (i32.const 1) (local.get 0))) (i32.load (i32.const 0))))"#,
            "f",
            vec![0],
            fuel(1000),
        ),
        (
            "multi-value results",
            r#"(module (func (export "f") (param i32) (result i32 i64)
            (block (br_if 0 (local.get 0)) (return (i32.const 1) (i64.const 2))) (i32.const 3) (i64.const 4)))"#,
            "f",
            vec![1],
            fuel(1000),
        ),
    ]
}

/// A piece of the receipt each case must give, on either engine.
fn expected(name: &str) -> &'static str {
    match name {
        "infinite loop" => r#""out_of_fuel""#,
        "memory bomb" => r#""memory_limit""#,
        "deep recursion" => r#""stack_overflow""#,
        "recursion that returns early, many times" => r#"["ok",50000]"#,
        "depth limit exactly" => r#"["ok",7]"#,
        "one past the depth limit" => r#""stack_overflow""#,
        "tail calls do not nest" => r#"["ok",42]"#,
        "unreachable" => r#"unreachable instruction executed"#,
        "division by zero" => r#"integer division by zero"#,
        "remainder by zero" => r#"integer division by zero"#,
        "signed overflow" => r#"integer overflow"#,
        "bad conversion" => r#"invalid conversion to integer"#,
        "load out of bounds" => r#"out of bounds memory access"#,
        "indirect call to null" => r#"indirect call to a null entry"#,
        "indirect call of another signature" => r#"indirect call to a null entry"#,
        "indirect call past the table" => r#"out of bounds table access"#,
        "NaN from 0/0 is canonical" => r#"["ok",2143289344]"#,
        "NaN from sqrt(-1) is canonical" => r#"["ok",9221120237041090560]"#,
        "NaN payloads in min and max" => r#"["ok",9221120237041090560]"#,
        "promote and demote" => r#"["ok",2143289344]"#,
        "memory.fill charges by the byte" => r#"["ok",7]"#,
        "memory.copy out of bounds" => r#"out of bounds memory access"#,
        "memory.grow past the declared maximum" => r#"["ok",0]"#,
        "table.grow" => r#"["ok",41]"#,
        "table.grow past the limit" => r#""memory_limit""#,
        "a start function that traps" => r#"unreachable instruction executed"#,
        "a start function that sets memory" => r#"["ok",99]"#,
        "a data segment past memory" => r#""instantiate""#,
        "an import that is not a function" => r#""unknown_import""#,
        "initial memory over the limit" => r#""memory_limit""#,
        "branches out of nested blocks and br_table" => r#"["ok","#,
        "dead code after br and return" => r#"["ok",3]"#,
        "a trap in the middle of a region" => r#"integer division by zero"#,
        "multi-value results" => r#"["ok",[3,4]]"#,
        other => panic!("no expectation for {other}"),
    }
}

fn task(module: ipvm_core::Cid, func: &str, args: &[i64], limits: Limits, nonce: &str) -> Task {
    let args = args.iter().map(|a| Ipld::Integer((*a).into())).collect();
    Task {
        limits,
        ..Task::new(
            Instruction::new(module, "wasm/run", func, args, Ipld::String(nonce.into())).unwrap(),
        )
    }
}

/// Runs one task alone on each engine, each on a store of its own (no memo
/// hit between them); the two receipts must be equal.
async fn both(name: &str, bytes: &[u8], task: impl Fn(ipvm_core::Cid) -> Task) -> Ran {
    let mut out = Vec::new();
    for prefer in [Prefer::Fast, Prefer::Reference] {
        let store = MemoryStore::new();
        let module = add_file(&store, bytes).await.unwrap();
        let wf = Workflow::new(vec![task(module)]);
        out.push(run(&store, &wf, prefer).await.remove(0));
    }
    let reference = out.pop().unwrap();
    let fast = out.pop().unwrap();
    assert_eq!(fast.0, reference.0, "{name}");
    assert_ne!(reference.1.as_deref(), Some("fast"), "{name}");
    fast
}

fn fuel_of(json: &str) -> u64 {
    let v: Ipld = ipvm_core::workflow::parse_dag_json(json.as_bytes()).unwrap();
    match v {
        Ipld::Map(m) => match m.get("meta") {
            Some(Ipld::Map(meta)) => match meta.get("fuel") {
                Some(Ipld::Integer(f)) => *f as u64,
                _ => 0,
            },
            _ => 0,
        },
        _ => 0,
    }
}

#[wasm_bindgen_test]
async fn hostile_and_edge_modules_give_the_same_receipt_on_both_engines() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for (name, wat, func, args, limits) in cases() {
        let bytes = wat::parse_str(wat).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (json, engine) = both(name, &bytes, |m| task(m, func, &args, limits, "")).await;
        assert!(json.contains(expected(name)), "{name}: {json}");
        // Every case that got an instance ran on the fast path itself.
        if [
            "\"compile\"",
            "\"instantiate\"",
            "memory limit of",
            "unknown_import",
        ]
        .iter()
        .all(|k| !json.contains(k))
        {
            assert_eq!(engine.as_deref(), Some("fast"), "{name}: {json}");
        }
        // The same task at exactly its fuel, one less, and random budgets.
        let used = fuel_of(&json);
        let mut budgets = vec![used, used.saturating_sub(1)];
        for _ in 0..2 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            budgets.push(seed % (used + 2));
        }
        for (i, budget) in budgets.into_iter().enumerate() {
            let limits = Limits {
                fuel: Some(budget.max(1)),
                ..limits
            };
            let nonce = format!("budget {i}");
            both(name, &bytes, |m| task(m, func, &args, limits, &nonce)).await;
        }
    }
}

/// The receipts of `calls` on one engine, each at the fuel budget `budget`
/// gives it (its index and the fuel it used when unlimited).
async fn fixture_at(prefer: Prefer, budget: &dyn Fn(usize) -> Option<u64>) -> Vec<Ran> {
    let (store, module) = guests().await;
    let mut wf = support::workflow(module, &support::calls());
    for (i, t) in wf.tasks.iter_mut().enumerate() {
        t.limits.fuel = budget(i).or(t.limits.fuel);
    }
    run(&store, &wf, prefer).await
}

#[wasm_bindgen_test]
async fn every_guest_call_at_its_exact_fuel_and_one_less_gives_the_same_receipt_on_both_engines() {
    let used: Vec<u64> = fixture_at(Prefer::Fast, &|_| None)
        .await
        .iter()
        .map(|(json, _)| fuel_of(json))
        .collect();
    for less in [0, 1] {
        let budget = |i: usize| Some(used[i].saturating_sub(less).max(1));
        let fast = fixture_at(Prefer::Fast, &budget).await;
        let wasmi = fixture_at(Prefer::Reference, &budget).await;
        let mut ran_out = 0;
        for (i, ((f, _), (w, _))) in fast.iter().zip(&wasmi).enumerate() {
            assert_eq!(f, w, "call {i} at fuel {} ", budget(i).unwrap_or(0));
            ran_out += usize::from(f.contains("\"out_of_fuel\""));
        }
        // At its exact fuel nothing runs out; one less, every call that used
        // fuel does.
        match less {
            0 => assert_eq!(ran_out, 0),
            _ => assert_eq!(ran_out, used.iter().filter(|u| **u > 1).count()),
        }
    }
}
