//! Hostile modules, written in WAT: each ends in its precise error within
//! its limits, and the next task runs normally. The same file runs natively
//! (`cargo test`) and in headless Chromium (wasm-bindgen-test, `npm test`'s
//! `hostile-browser` suite), where wasm32 stack growth and a tab's memory
//! are the risks.
//!
//! Past 600 lines: one WAT module and test per kind of hostile module.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod engines;
mod support;

use futures::executor::block_on;
use ipvm_core::store::add_file;
use ipvm_core::RunReport;
use ipvm_core::{
    CancelToken, Cid, Instruction, Ipld, Limits, MemoryStore, Outcome, ReceiptRecord, Scheduler,
    Task, Workflow,
};
use ipvm_exec::WasmExecutor;
use support::SpyStore;

/// A well-behaved module, run after each hostile task.
const GOOD: &str = r#"(module (func (export "add_one") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1))))"#;

fn add(store: &MemoryStore, wasm: &[u8]) -> Cid {
    block_on(add_file(store, wasm)).unwrap()
}

/// Embeds a WIT world (as wit-bindgen would) so the module's exports take
/// strings and lists through the canonical ABI.
fn with_wit(wat: &str, wit: &str) -> Vec<u8> {
    let mut bytes = wat::parse_str(wat).unwrap();
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve.push_str("hostile.wit", wit).unwrap();
    let world = resolve.select_world(&[pkg], None).unwrap();
    wit_component::embed_component_metadata(
        &mut bytes,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
        false,
    )
    .unwrap();
    bytes
}

/// Runs `wf` one task at a time on `engine`, with a receipt store of its own.
fn run_on(store: &MemoryStore, engine: &str, wf: &Workflow) -> RunReport {
    let receipts = MemoryStore::new();
    let exec = engines::executor(store, engine);
    block_on(Scheduler::new(&exec, &receipts).with_parallelism(1).run(
        wf,
        &mut |_| {},
        &CancelToken::new(),
    ))
    .unwrap()
}

struct Outcomes {
    hostile: ReceiptRecord,
    after: ReceiptRecord,
}

/// Runs `func` of `wasm` under `limits`, then the good module's add_one(41).
fn run_hostile(wasm: &[u8], func: &str, args: Vec<Ipld>, limits: Limits) -> Outcomes {
    let store = MemoryStore::new();
    let (bad, good) = (
        add(&store, wasm),
        add(&store, &wat::parse_str(GOOD).unwrap()),
    );
    let t = |m, f: &str, a, l| Task {
        limits: l,
        ..Task::new(Instruction::new(m, "wasm/run", f, a, Ipld::String(String::new())).unwrap())
    };
    let wf = Workflow::new(vec![
        t(bad, func, args, limits),
        t(good, "add_one", vec![41.into()], Limits::default()),
    ]);
    // On each engine (natively wasmi, then wasmtime), with a receipt store
    // each: the same receipts, and wasmtime's are the ones returned.
    let mut reports = engines::ENGINES
        .iter()
        .map(|engine| (*engine, run_on(&store, engine, &wf)));
    let (_, first) = reports.next().expect("one engine at least");
    let report = reports.fold(first, |reference, (engine, report)| {
        engines::assert_same_receipts(&reference, &report, engine);
        report
    });
    let rec = |i: usize| {
        report.tasks[i]
            .receipt()
            .cloned()
            .unwrap_or_else(|| panic!("task {i} has no receipt"))
    };
    let out = Outcomes {
        hostile: rec(0),
        after: rec(1),
    };
    assert_eq!(
        out.after.receipt.out,
        Outcome::Ok(Ipld::Integer(42)),
        "the next task runs normally"
    );
    out
}

fn error(r: &ReceiptRecord) -> (String, String) {
    match &r.receipt.out {
        Outcome::Err(Ipld::Map(m)) => {
            let s = |k: &str| match m.get(k) {
                Some(Ipld::String(s)) => s.clone(),
                _ => String::new(),
            };
            (s("kind"), s("message"))
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

fn meta(r: &ReceiptRecord, key: &str) -> Option<Ipld> {
    r.receipt.meta.get(key).cloned()
}

const SPIN: &str = r#"(module (func (export "spin") (loop (br 0))))"#;

#[test]
fn an_infinite_loop_runs_out_of_fuel_and_reports_the_fuel_used() {
    let o = run_hostile(
        &wat::parse_str(SPIN).unwrap(),
        "spin",
        vec![],
        Limits {
            fuel: Some(5_000_000),
            ..Limits::default()
        },
    );
    let (kind, message) = error(&o.hostile);
    assert_eq!(kind, "out_of_fuel");
    assert!(message.contains("limit 5000000"), "{message}");
    let Some(Ipld::Integer(fuel)) = meta(&o.hostile, "fuel") else {
        panic!()
    };
    assert!((4_900_000..=5_000_000).contains(&fuel), "fuel used {fuel}");
    assert_eq!(meta(&o.hostile, "limit"), Some(Ipld::String("fuel".into())));
}

#[test]
fn an_infinite_loop_without_a_fuel_limit_hits_the_time_limit() {
    let start = web_time::Instant::now();
    let o = run_hostile(
        &wat::parse_str(SPIN).unwrap(),
        "spin",
        vec![],
        Limits {
            time: Some(300),
            ..Limits::default()
        },
    );
    assert_eq!(error(&o.hostile).0, "time_limit");
    assert_eq!(
        meta(&o.hostile, "nondeterministic"),
        Some(Ipld::Bool(true)),
        "a time limit depends on the machine"
    );
    assert!(
        start.elapsed().as_secs() < 30,
        "stopped soon after the limit, took {:?}",
        start.elapsed()
    );
}

#[test]
fn endless_memory_growth_hits_the_memory_limit() {
    let wat = r#"(module (memory 1) (func (export "grow") (loop (drop (memory.grow (i32.const 16))) (br 0))))"#;
    let o = run_hostile(
        &wat::parse_str(wat).unwrap(),
        "grow",
        vec![],
        Limits {
            memory: Some(16 << 20),
            ..Limits::default()
        },
    );
    let (kind, message) = error(&o.hostile);
    assert_eq!(kind, "memory_limit", "{message}");
    assert!(message.contains(&(16u64 << 20).to_string()), "{message}");
}

#[test]
fn unbounded_recursion_is_a_stack_overflow() {
    let wat = r#"(module (func $r (export "recurse") (call $r)))"#;
    let o = run_hostile(
        &wat::parse_str(wat).unwrap(),
        "recurse",
        vec![],
        Limits::default(),
    );
    assert_eq!(error(&o.hostile).0, "stack_overflow");
}

#[test]
fn unreachable_is_a_trap_that_names_its_code() {
    let wat = r#"(module (func (export "boom") unreachable))"#;
    let o = run_hostile(
        &wat::parse_str(wat).unwrap(),
        "boom",
        vec![],
        Limits::default(),
    );
    let (kind, message) = error(&o.hostile);
    assert_eq!(kind, "trap");
    assert!(message.contains("unreachable"), "{message}");
}

#[test]
fn an_unknown_import_fails_instantiation_with_its_name() {
    let wat = r#"(module (import "env" "launch_missiles" (func)) (func (export "f")))"#;
    let o = run_hostile(
        &wat::parse_str(wat).unwrap(),
        "f",
        vec![],
        Limits::default(),
    );
    let (kind, message) = error(&o.hostile);
    assert_eq!(kind, "unknown_import");
    assert!(message.contains("env.launch_missiles"), "{message}");
}

const WIT: &str = "package test:hostile;\nworld hostile {\n  export big: func() -> list<u8>;\n  export garbage: func(s: string) -> u32;\n}\n";

#[test]
fn a_100_mb_output_is_refused() {
    let wat = r#"(module (memory (export "memory") 1)
      (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 64))
      (func (export "big") (result i32)
        (drop (memory.grow (i32.const 1600)))
        (i32.store (i32.const 8) (i32.const 0))
        (i32.store (i32.const 12) (i32.const 104857600))
        (i32.const 8)))"#;
    let o = run_hostile(&with_wit(wat, WIT), "big", vec![], Limits::default());
    let (kind, message) = error(&o.hostile);
    assert_eq!(kind, "output_too_large", "{message}");
    assert!(message.contains("104857600"), "{message}");
}

#[test]
fn a_cabi_realloc_that_returns_garbage_is_caught() {
    let wat = r#"(module (memory (export "memory") 1)
      (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const -16))
      (func (export "garbage") (param i32 i32) (result i32) (local.get 1)))"#;
    let o = run_hostile(
        &with_wit(wat, WIT),
        "garbage",
        vec![Ipld::String("hello".into())],
        Limits::default(),
    );
    let (kind, message) = error(&o.hostile);
    assert_eq!(kind, "abi");
    assert!(
        message.contains("cabi_realloc returned a bad pointer"),
        "{message}"
    );
}

/// A module whose start function reads the clock, then fails.
const CLOCK_THEN: &str = r#"(module
  (import "homestar:host/helpers@0.0.1" "get-current-time" (func $now (param i32)))
  (memory (export "memory") 1)
  (func $start (call $now (i32.const 16)) FAIL)
  (start $start)
  (func (export "f") (result i32) (i32.const 7)))"#;

const CLOCK_WIT: &str = r#"package test:clock;

package homestar:host@0.0.1 {
  interface helpers {
    record time { seconds: u64, milliseconds: u32, nanoseconds: u32 }
    get-current-time: func() -> time;
  }
}

world clock {
  import homestar:host/helpers@0.0.1;
  export f: func() -> u32;
}
"#;

#[test]
fn a_clock_read_in_a_start_function_marks_the_receipt_whatever_the_outcome() {
    for (fail, kind) in [
        ("unreachable", "trap"),
        ("(loop (br 0))", "out_of_fuel"),
        ("(drop (memory.grow (i32.const 1000)))", "memory_limit"),
    ] {
        let wat = CLOCK_THEN.replace("FAIL", fail);
        let o = run_hostile(
            &with_wit(&wat, CLOCK_WIT),
            "f",
            vec![],
            Limits {
                fuel: Some(1_000_000),
                memory: Some(1 << 20),
                ..Limits::default()
            },
        );
        assert_eq!(error(&o.hostile).0, kind, "{fail}");
        assert_eq!(
            meta(&o.hostile, "nondeterministic"),
            Some(Ipld::Bool(true)),
            "{fail}: the clock was read"
        );
        assert!(!o.hostile.receipt.is_reusable(), "{fail}");
    }
}

/// A start function that counts to `N`, and an export that returns 7.
fn start_loop(n: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
          (func $start (local $i i32)
            (loop (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br_if 0 (i32.lt_u (local.get $i) (i32.const {n})))))
          (start $start)
          (func (export "f") (result i32) (i32.const 7)))"#
    ))
    .unwrap()
}

fn fuel(r: &ReceiptRecord) -> i128 {
    match meta(r, "fuel") {
        Some(Ipld::Integer(f)) => f,
        other => panic!("fuel: {other:?}"),
    }
}

#[test]
fn a_start_function_s_work_counts_in_meta_fuel_and_against_the_limit() {
    let quick = run_hostile(&start_loop("1"), "f", vec![], Limits::default());
    let long = run_hostile(&start_loop("1000000"), "f", vec![], Limits::default());
    assert_eq!(long.hostile.receipt.out, Outcome::Ok(Ipld::Integer(7)));
    assert!(
        fuel(&long.hostile) - fuel(&quick.hostile) >= 1_000_000,
        "a million iterations cost {} more fuel",
        fuel(&long.hostile) - fuel(&quick.hostile)
    );
    // Against the task's limit.
    let limited = run_hostile(
        &start_loop("1000000"),
        "f",
        vec![],
        Limits {
            fuel: Some(500_000),
            ..Limits::default()
        },
    );
    let (kind, message) = error(&limited.hostile);
    assert_eq!(kind, "out_of_fuel");
    assert!(message.contains("limit 500000"), "{message}");
    assert!(fuel(&limited.hostile) <= 500_000);
}

#[test]
fn a_start_function_that_never_ends_stops_at_the_task_s_fuel_limit() {
    // The start function is metered and paced like the task's own call.
    let o = run_hostile(
        &wat::parse_str(
            r#"(module (func $start (loop (br 0))) (start $start) (func (export "f") (result i32) (i32.const 7)))"#,
        )
        .unwrap(),
        "f",
        vec![],
        Limits {
            fuel: Some(3_000_000),
            ..Limits::default()
        },
    );
    let (kind, message) = error(&o.hostile);
    assert_eq!(kind, "out_of_fuel");
    assert!(message.contains("limit 3000000"), "{message}");
    // Each iteration charges its region (one `br`): all but nothing is used.
    assert_eq!(fuel(&o.hostile), 3_000_000);
}

#[test]
fn limits_above_the_host_maximums_are_clamped_and_named() {
    // Homestar's fixtures ask for 4 GiB: the task runs, under 1 GiB.
    let bomb = wat::parse_str(
        r#"(module (memory 1) (func (export "f") (result i32) (memory.grow (i32.const 20000))))"#,
    )
    .unwrap();
    let o = run_hostile(
        &bomb,
        "f",
        vec![],
        Limits {
            memory: Some(4 << 30),
            time: Some(u64::MAX),
            fuel: Some(u64::MAX - 1),
        },
    );
    let (kind, message) = error(&o.hostile);
    assert_eq!(kind, "memory_limit");
    assert!(
        message.contains(&Limits::MAX_MEMORY.to_string()),
        "{message}"
    );
}

#[test]
fn a_module_that_does_not_compile_is_not_read_or_compiled_again() {
    let store = MemoryStore::new();
    let broken = add(&store, b"\0asm\x01\0\0\0\x05garbage");
    let counting = SpyStore::new(&store);
    let exec = WasmExecutor::new(&counting);
    let task = |nnc: &str| Task {
        limits: Limits::default(),
        ..Task::new(
            Instruction::new(broken, "wasm/run", "f", vec![], Ipld::String(nnc.into())).unwrap(),
        )
    };
    let run = |nnc: &str| {
        block_on(Scheduler::new(&exec, &store).run(
            &Workflow::new(vec![task(nnc)]),
            &mut |_| {},
            &CancelToken::new(),
        ))
        .unwrap()
    };
    let first = run("a");
    let reads = counting.reads.get();
    assert!(reads > 0);
    let second = run("b");
    assert_eq!(counting.reads.get(), reads, "the failure was remembered");
    for r in [&first, &second] {
        assert_eq!(error(r.tasks[0].receipt().unwrap()).0, "compile");
    }
}

/// Outputs whose parts are each under the output limit, but not the whole:
/// three strings that alias one 24 MiB region, and a list of 64 Mi bools
/// (64 MiB in guest memory, gigabytes once lifted).
const ALIASED: &str = r#"(module
  (memory (export "memory") 420)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 0))
  (data (i32.const 16) "\20\00\00\00\03\00\00\00")
  (data (i32.const 32) "\00\04\00\00\00\00\80\01\00\04\00\00\00\00\80\01\00\04\00\00\00\00\80\01")
  (data (i32.const 64) "\00\00\00\00\00\00\00\04")
  (func (export "three") (result i32) (i32.const 16))
  (func (export "bools") (result i32) (i32.const 64)))"#;

const ALIASED_WIT: &str = r#"package test:out;
world out {
  export three: func() -> list<string>;
  export bools: func() -> list<bool>;
}
"#;

#[test]
fn the_output_limit_holds_for_the_whole_lifted_output() {
    for func in ["three", "bools"] {
        let o = run_hostile(
            &with_wit(ALIASED, ALIASED_WIT),
            func,
            vec![],
            Limits::default(),
        );
        let (kind, message) = error(&o.hostile);
        assert_eq!(kind, "output_too_large", "{func}: {message}");
        assert!(
            message.contains(&ipvm_exec::abi::MAX_OUTPUT_BYTES.to_string()),
            "{message}"
        );
    }
}

/// Logs two 64 MiB strings, forever.
const LOG_FLOOD: &str = r#"(module
  (import "wasi:logging/logging" "log" (func $log (param i32 i32 i32 i32 i32)))
  (memory (export "memory") 1025)
  (func (export "flood") (result i32)
    (loop (call $log (i32.const 2) (i32.const 0) (i32.const 0x4000000) (i32.const 0) (i32.const 0x4000000)) (br 0))
    (i32.const 0)))"#;

const LOG_WIT: &str = r#"package test:flood;

package wasi:logging {
  interface logging {
    enum level { trace, debug, info, warn, error, critical }
    log: func(level: level, context: string, message: string);
  }
}

world flood {
  import wasi:logging/logging;
  export flood: func() -> s32;
}
"#;

#[test]
fn host_calls_cost_fuel_by_the_bytes_they_read_and_copy_a_bounded_amount() {
    let wasm = with_wit(LOG_FLOOD, LOG_WIT);
    // A fuel limit ends it at the first call: reading 2 × 16 KiB costs more than 200.
    let o = run_hostile(
        &wasm,
        "flood",
        vec![],
        Limits {
            fuel: Some(200),
            ..Limits::default()
        },
    );
    let (kind, message) = error(&o.hostile);
    assert_eq!(kind, "out_of_fuel", "{message}");
    assert!(message.contains("limit 200"), "{message}");
    // What the regions charged before the call (1 in the body, 7 in the
    // loop); the call's own charge did not fit, and is not taken.
    assert_eq!(meta(&o.hostile, "fuel"), Some(Ipld::Integer(8)));
    // Without one, the time limit ends it; the logs stay capped.
    let o = run_hostile(
        &wasm,
        "flood",
        vec![],
        Limits {
            time: Some(100),
            ..Limits::default()
        },
    );
    assert_eq!(error(&o.hostile).0, "time_limit");
    let Some(Ipld::List(logs)) = meta(&o.hostile, "logs") else {
        panic!("no logs")
    };
    let bytes: usize = logs
        .iter()
        .map(|l| match l {
            Ipld::String(s) => s.len(),
            _ => 0,
        })
        .sum();
    assert!(bytes <= 17 * 1024, "logs kept: {bytes} bytes");
    assert!(
        matches!(logs.last(), Some(Ipld::String(s)) if s.contains("dropped")),
        "the last line counts what was dropped"
    );
}

/// Takes a list of byte lists and returns how many there are; a bump
/// allocator serves the canonical ABI.
const COUNT_LISTS: &str = r#"(module
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 1024))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $ptr i32) (local $end i32)
    (local.set $ptr (i32.and (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get 2))))
    (local.set $end (i32.add (local.get $ptr) (local.get 3)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow (i32.add (i32.const 1)
        (i32.div_u (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536))) (i32.const 65536)))))))
    (global.set $next (local.get $end))
    (local.get $ptr))
  (func (export "count") (param i32 i32) (result i32) (local.get 1)))"#;

const COUNT_WIT: &str = r#"package test:count;
world count {
  export count: func(items: list<list<u8>>) -> u32;
}
"#;

#[test]
fn every_reference_to_a_link_counts_against_the_memory_limit() {
    let store = MemoryStore::new();
    let module = add(&store, &with_wit(COUNT_LISTS, COUNT_WIT));
    let file = add(&store, &vec![9u8; 256 * 1024]);
    let counting = SpyStore::new(&store);
    let exec = WasmExecutor::new(&counting);
    let run = |refs: usize| {
        let task = Task {
            limits: Limits {
                memory: Some(64 << 20),
                ..Limits::default()
            },
            ..Task::new(
                Instruction::new(
                    module,
                    "wasm/run",
                    "count",
                    vec![Ipld::List(vec![Ipld::Link(file); refs])],
                    Ipld::String(String::new()),
                )
                .unwrap(),
            )
        };
        let report = block_on(Scheduler::new(&exec, &store).run(
            &Workflow::new(vec![task]),
            &mut |_| {},
            &CancelToken::new(),
        ))
        .unwrap();
        report.tasks[0].receipt().unwrap().clone()
    };
    assert_eq!(run(1).receipt.out, Outcome::Ok(Ipld::Integer(1)));
    // 40 references: 10 MiB of copies, within 64 MiB; the file is read once
    // (the module is compiled already).
    let before = counting.reads.get();
    assert_eq!(run(40).receipt.out, Outcome::Ok(Ipld::Integer(40)));
    assert_eq!(
        counting.reads.get() - before,
        1,
        "one read of the linked file"
    );
    // 400 references to the same 256 KiB: 100 MiB of copies.
    let (kind, message) = error(&run(400));
    assert_eq!(kind, "memory_limit");
    assert!(message.contains(&(64u64 << 20).to_string()), "{message}");
}

#[test]
fn an_argument_nested_too_deep_once_awaits_are_in_place_is_the_task_s_argument_error() {
    use ipvm_core::address::MAX_NESTING;
    use ipvm_core::{Executor, Job};
    // Each value is within the bound alone; an await deep inside an argument
    // can put a deep output deeper still. Such a job reaches the executor
    // (or the pool) with its awaits substituted.
    let store = MemoryStore::new();
    let good = add(&store, &wat::parse_str(GOOD).unwrap());
    let deep = (0..MAX_NESTING + 1).fold(Ipld::Integer(1), |v, _| Ipld::List(vec![v]));
    let ins = Instruction::new(good, "wasm/run", "add_one", vec![41.into()], Ipld::Null).unwrap();
    let job = |args| Job {
        task: 0,
        instruction: ins.cid(),
        module: good,
        op: "wasm/run".into(),
        func: "add_one".into(),
        args,
        limits: Limits::default(),
        receipt: None,
        engine: None,
    };
    let exec = WasmExecutor::new(&store);
    let ex = block_on(exec.execute(job(vec![deep])));
    let Outcome::Err(Ipld::Map(e)) = &ex.out else {
        panic!("expected an error, got {:?}", ex.out)
    };
    assert_eq!(e.get("kind"), Some(&Ipld::String("argument".into())));
    let Some(Ipld::String(msg)) = e.get("message") else {
        panic!("no message in {e:?}")
    };
    assert!(
        msg.contains("argument 0") && msg.contains("levels deep"),
        "{msg}"
    );
    // At the bound itself the job runs (and add_one refuses a list for its
    // own reason, not this one).
    let at_bound = (0..MAX_NESTING).fold(Ipld::Integer(1), |v, _| Ipld::List(vec![v]));
    let ex = block_on(exec.execute(job(vec![at_bound])));
    let Outcome::Err(Ipld::Map(e)) = &ex.out else {
        panic!("expected an error, got {:?}", ex.out)
    };
    let Some(Ipld::String(msg)) = e.get("message") else {
        panic!("no message in {e:?}")
    };
    assert!(!msg.contains("levels deep"), "{msg}");
}

/// A module whose imports or exports do not match the WIT world it carries:
/// the executor checks them before any engine links or calls them, so every
/// engine gives the same answer.
#[test]
fn imports_and_exports_that_contradict_the_world_are_refused_the_same_way_everywhere() {
    // `log` imported with another core type than the world's.
    let wrong_import = with_wit(
        r#"(module (import "wasi:logging/logging" "log" (func (param f64)))
             (memory (export "memory") 1)
             (func (export "flood") (result i32) (i32.const 0)))"#,
        LOG_WIT,
    );
    let o = run_hostile(&wrong_import, "flood", vec![], Limits::default());
    let (kind, message) = error(&o.hostile);
    assert_eq!(kind, "instantiate", "{message}");
    assert!(message.contains("wasi:logging/logging.log"), "{message}");
    // An export whose core type is not what its WIT signature lowers to.
    let wrong_export = with_wit(
        r#"(module (memory (export "memory") 1)
             (func (export "flood") (param f64) (result i32) (i32.const 0)))"#,
        LOG_WIT,
    );
    let o = run_hostile(&wrong_export, "flood", vec![], Limits::default());
    let (kind, message) = error(&o.hostile);
    assert_eq!(kind, "signature", "{message}");
    // The same import twice is linked once, and runs.
    let twice = with_wit(
        r#"(module (import "wasi:logging/logging" "log" (func (param i32 i32 i32 i32 i32)))
             (import "wasi:logging/logging" "log" (func (param i32 i32 i32 i32 i32)))
             (memory (export "memory") 1)
             (func (export "flood") (result i32) (i32.const 5)))"#,
        LOG_WIT,
    );
    let o = run_hostile(&twice, "flood", vec![], Limits::default());
    assert_eq!(o.hostile.receipt.out, Outcome::Ok(Ipld::Integer(5)));
}

/// The executor routes a job by its op: a job for an op it does not run
/// (the scheduler refuses such a task first, by the executor's registry) is
/// an environment error naming the op, never run as `wasm/run`.
#[test]
fn a_job_for_an_op_the_executor_does_not_run_is_refused_by_name() {
    use ipvm_core::{Executor, Job};
    let store = MemoryStore::new();
    let good = add(&store, &wat::parse_str(GOOD).unwrap());
    let exec = WasmExecutor::new(&store);
    assert!(exec.ops().get("http/get").is_none());
    let ins = Instruction::new(good, "wasm/run", "add_one", vec![41.into()], Ipld::Null).unwrap();
    let ex = block_on(exec.execute(Job {
        task: 0,
        instruction: ins.cid(),
        module: good,
        op: "http/get".into(),
        func: "add_one".into(),
        args: vec![41.into()],
        limits: Limits::default(),
        receipt: None,
        engine: None,
    }));
    let Outcome::Err(Ipld::Map(e)) = &ex.out else {
        panic!("expected an error, got {:?}", ex.out)
    };
    assert_eq!(e.get("kind"), Some(&Ipld::String("worker".into())));
    let Some(Ipld::String(msg)) = e.get("message") else {
        panic!("no message in {e:?}")
    };
    assert!(
        msg.contains(
            "op `http/get` is not run by this executor (it runs wasm/run, wasm/run-exact)"
        ),
        "{msg}"
    );
}

/// A task that reads what the task before it left in memory finds zeros:
/// each task has a memory of its own, also where an engine reuses one (the
/// native pool keeps memories resident between tasks and resets them).
#[test]
fn a_task_finds_nothing_that_the_task_before_it_left_in_memory() {
    let wat = r#"(module (memory 1)
        (func (export "write")
            (drop (memory.grow (i32.const 4)))
            (i32.store (i32.const 100) (i32.const 0x5ec2e7))
            (i32.store (i32.const 262144) (i32.const 0x5ec2e7)))
        (func (export "read") (result i32)
            (drop (memory.grow (i32.const 4)))
            (i32.or (i32.load (i32.const 100)) (i32.load (i32.const 262144)))))"#;
    let store = MemoryStore::new();
    let module = add(&store, &wat::parse_str(wat).unwrap());
    let task = |f: &str, nonce: &str| {
        Task::new(
            Instruction::new(module, "wasm/run", f, vec![], Ipld::String(nonce.into())).unwrap(),
        )
    };
    // Written and read three times over, so that a reused memory is read.
    let tasks = (0..3)
        .flat_map(|i| {
            [
                task("write", &format!("w{i}")),
                task("read", &format!("r{i}")),
            ]
        })
        .collect();
    let wf = Workflow::new(tasks);
    for engine in engines::ENGINES {
        let report = run_on(&store, engine, &wf);
        let reads = report
            .tasks
            .iter()
            .filter(|t| wf.tasks[t.task].run.func == "read");
        assert_eq!(reads.clone().count(), 3);
        for t in reads {
            let r = t.receipt().expect("a receipt");
            assert_eq!(
                r.receipt.out,
                Outcome::Ok(Ipld::Integer(0)),
                "on {engine}, task {} read what another task wrote",
                t.task
            );
        }
    }
}
