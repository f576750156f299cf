//! The cost model, pinned: golden fuel figures for small modules, worked out
//! by hand from the rules of docs/spec.md §8 ("Fuel"), and the features the
//! rewriter refuses. A change to the model changes these numbers, and must
//! bump `meter::METER_VERSION` and the receipt version.

use futures::executor::block_on;
use ipvm_core::store::add_file;
use ipvm_core::{Executor, Ipld, Job, Limits, MemoryStore, Outcome};
use ipvm_exec::{meter, WasmExecutor};

fn run(wat: &str, func: &str, args: Vec<Ipld>, fuel: Option<u64>) -> (Outcome, u64) {
    let store = MemoryStore::new();
    let bytes = wat::parse_str(wat).unwrap_or_else(|e| panic!("{e}"));
    let module = block_on(add_file(&store, &bytes)).unwrap();
    let job = Job {
        task: 0,
        instruction: module,
        module,
        op: "wasm/run".into(),
        func: func.into(),
        args,
        limits: Limits {
            fuel,
            ..Limits::default()
        },
        receipt: None,
        engine: None,
    };
    let ex = block_on(WasmExecutor::new(&store).execute(job));
    (ex.out, ex.fuel)
}

fn int(i: i64) -> Ipld {
    Ipld::Integer(i.into())
}

#[test]
fn a_region_costs_one_per_operator_charged_up_front() {
    // local.get, i32.const, i32.add: one region of 3.
    let (out, fuel) = run(
        r#"(module (func (export "f") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1))))"#,
        "f",
        vec![int(1)],
        None,
    );
    assert_eq!(out, Outcome::Ok(int(2)));
    assert_eq!(fuel, 3);
}

#[test]
fn a_loop_body_is_charged_on_every_iteration() {
    // The function region holds `loop` (free) and the `local.get 0` after it
    // (1); the loop region holds local.get, i32.const, i32.sub, local.tee,
    // br_if (5), charged on each of the n iterations.
    let wat = r#"(module (func (export "f") (param i32) (result i32)
        (loop $l (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))
        (local.get 0)))"#;
    for n in [1i64, 2, 10, 1000] {
        let (out, fuel) = run(wat, "f", vec![int(n)], None);
        assert_eq!(out, Outcome::Ok(int(0)));
        assert_eq!(fuel, 1 + 5 * n as u64, "n = {n}");
    }
}

#[test]
fn if_arms_are_regions_and_the_if_counts_in_its_parent() {
    // Function region: local.get, if = 2 (the arms are their own regions);
    // then-arm: i32.const = 1; else-arm: i32.const, i32.const, i32.add = 3.
    let wat = r#"(module (func (export "f") (param i32) (result i32)
        (if (result i32) (local.get 0)
          (then (i32.const 10))
          (else (i32.add (i32.const 20) (i32.const 1))))))"#;
    assert_eq!(run(wat, "f", vec![int(1)], None), (Outcome::Ok(int(10)), 3));
    assert_eq!(run(wat, "f", vec![int(0)], None), (Outcome::Ok(int(21)), 5));
}

#[test]
fn blocks_open_no_region_and_skipped_code_is_paid() {
    // One region: block (free), i32.const, br, then i32.const, drop and
    // i32.const, skipped by the branch but paid: 5; `end`s are free.
    let wat = r#"(module (func (export "f") (result i32)
        (block (result i32) (br 0 (i32.const 3)) (drop (i32.const 4)) (i32.const 5))))"#;
    assert_eq!(run(wat, "f", vec![], None), (Outcome::Ok(int(3)), 5));
}

#[test]
fn bulk_memory_and_grow_are_charged_by_size() {
    // Region: 3 consts + memory.fill + i32.const + i32.load8_u = 6, and the
    // fill of 6400 bytes: 100 units.
    let fill = r#"(module (memory 1) (func (export "f") (result i32)
        (memory.fill (i32.const 0) (i32.const 7) (i32.const 6400)) (i32.load8_u (i32.const 6399))))"#;
    assert_eq!(run(fill, "f", vec![], None), (Outcome::Ok(int(7)), 106));
    // Region: i32.const + memory.grow = 2, and 3 pages: 3072 units.
    let grow =
        r#"(module (memory 1) (func (export "f") (result i32) (memory.grow (i32.const 3))))"#;
    assert_eq!(run(grow, "f", vec![], None), (Outcome::Ok(int(1)), 3074));
}

#[test]
fn a_charge_that_does_not_fit_ends_the_task_without_taking_it() {
    let wat = r#"(module (func (export "f") (param i32) (result i32)
        (loop $l (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))
        (local.get 0)))"#;
    // 1 + 5n at n = 10 is 51: with 50, the tenth iteration's charge fails
    // and the counter keeps the 4 units it had left.
    let (out, fuel) = run(wat, "f", vec![int(10)], Some(50));
    let Outcome::Err(Ipld::Map(e)) = out else {
        panic!("{out:?}")
    };
    assert_eq!(e.get("kind"), Some(&Ipld::String("out_of_fuel".into())));
    assert_eq!(fuel, 46);
    // At exactly the fuel it needs, it finishes.
    assert_eq!(run(wat, "f", vec![int(10)], Some(51)).1, 51);
}

#[test]
fn what_callees_charge_is_counted_and_a_trap_reports_every_charge_before_it() {
    // Each function charges a local copy of the counter, writes it through
    // to the global and reads the global again after each call (spec §8):
    // these figures are the ones a charge reading the global would give.
    // `g` costs 3 (local.get, i32.const, i32.add). `f`'s region: i32.const,
    // call, drop, local.get, i32.const, i32.div_u = 6 (`loop` and `end`
    // free); the loop region: local.get, i32.const, call_indirect,
    // local.tee, i32.const, i32.lt_u, br_if = 7, plus `g`'s 3, five times
    // (the local goes 1 to 5). Then the division by zero traps.
    let wat = r#"(module
        (type $t (func (param i32) (result i32)))
        (table 1 funcref) (elem (i32.const 0) $g)
        (func $g (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
        (func (export "f") (param i32) (result i32)
          (drop (call $g (i32.const 1)))
          (loop $l (br_if $l (i32.lt_u
            (local.tee 0 (call_indirect (type $t) (local.get 0) (i32.const 0)))
            (i32.const 5))))
          (i32.div_u (local.get 0) (i32.const 0))))"#;
    let kind = |out: &Outcome| match out {
        Outcome::Err(Ipld::Map(e)) => e.get("kind").cloned(),
        other => panic!("{other:?}"),
    };
    let (out, fuel) = run(wat, "f", vec![int(0)], None);
    assert_eq!(kind(&out), Some(Ipld::String("trap".into())), "{out:?}");
    assert_eq!(fuel, 6 + 3 + 5 * (7 + 3));
    // 6, 9, then 16, 19, 26, 29: the third loop charge does not fit in 35.
    let (out, fuel) = run(wat, "f", vec![int(0)], Some(35));
    assert_eq!(kind(&out), Some(Ipld::String("out_of_fuel".into())));
    assert_eq!(fuel, 29);
    // With 36 it fits, and `g`'s charge after it does not: the callee's
    // failure keeps the caller's last charge.
    let (out, fuel) = run(wat, "f", vec![int(0)], Some(36));
    assert_eq!(kind(&out), Some(Ipld::String("out_of_fuel".into())));
    assert_eq!(fuel, 36);
}

#[test]
fn the_depth_counter_is_put_back_at_every_exit() {
    // Two recursions of MAX_DEPTH - 2 one after the other (and a third
    // through `return`): each fits only if every exit, a `return` included,
    // gives back what its entry took.
    let wat = r#"(module
        (func $r (param i32) (result i32)
          (if (i32.eqz (local.get 0)) (then (return (i32.const 0))))
          (i32.add (call $r (i32.sub (local.get 0) (i32.const 1))) (i32.const 1)))
        (func (export "f") (param i32) (result i32)
          (i32.add (i32.add (call $r (local.get 0)) (call $r (local.get 0)))
                   (call $r (local.get 0)))))"#;
    let depth = i64::from(meter::MAX_DEPTH);
    let (out, _) = run(wat, "f", vec![int(depth - 2)], None);
    assert_eq!(out, Outcome::Ok(int(3 * (depth - 2))));
    let (out, _) = run(wat, "f", vec![int(depth - 1)], None);
    assert!(format!("{out:?}").contains("stack_overflow"), "{out:?}");
}

#[test]
fn features_that_cannot_be_deterministic_are_refused_with_a_compile_error() {
    for (what, wat) in [
        (
            "SIMD",
            r#"(module (func (export "f") (result i32) (i32x4.extract_lane 0 (v128.const i32x4 1 2 3 4))))"#,
        ),
        (
            "threads",
            r#"(module (memory 1 1 shared) (func (export "f") (result i32) (i32.atomic.load (i32.const 0))))"#,
        ),
        (
            "several memories",
            r#"(module (memory 1) (memory 1) (func (export "f") (result i32) (i32.const 0)))"#,
        ),
    ] {
        let (out, fuel) = run(wat, "f", vec![], None);
        let Outcome::Err(Ipld::Map(e)) = &out else {
            panic!("{what}: {out:?}")
        };
        assert_eq!(
            e.get("kind"),
            Some(&Ipld::String("compile".into())),
            "{what}"
        );
        let Some(Ipld::String(message)) = e.get("message") else {
            panic!("{what}")
        };
        assert!(message.contains(what), "{what}: {message}");
        assert_eq!(fuel, 0);
    }
}

#[test]
fn names_the_rewriter_reserves_are_refused() {
    let (out, _) = run(
        r#"(module (func (export "ipvm:fuel") (result i32) (i32.const 0)))"#,
        "ipvm:fuel",
        vec![],
        None,
    );
    assert!(format!("{out:?}").contains("reserved"), "{out:?}");
}

#[test]
fn the_metered_module_is_valid_and_keeps_the_module_s_exports() {
    let bytes = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func $s) (start $s)
            (func (export "f") (param i64 f32) (result f64) (f64.const 1)))"#,
    )
    .unwrap();
    let m = meter::meter(&bytes).unwrap();
    wasmparser::Validator::new().validate_all(&m.bytes).unwrap();
    assert!(m.has_start);
    assert_eq!(m.memory_pages, Some(1));
    let names: Vec<&str> = m.exports.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["f", meter::START_EXPORT]);
}

#[test]
fn the_metered_module_is_cached_in_the_store_and_used_from_there() {
    let store = MemoryStore::new();
    let seven =
        wat::parse_str(r#"(module (func (export "f") (result i32) (i32.const 7)))"#).unwrap();
    let one = wat::parse_str(r#"(module (func (export "f") (result i32) (i32.const 1)))"#).unwrap();
    let module = block_on(add_file(&store, &one)).unwrap();
    let job = |task: usize| Job {
        task,
        instruction: module,
        module,
        op: "wasm/run".into(),
        func: "f".into(),
        args: vec![],
        limits: Limits::default(),
        receipt: None,
        engine: None,
    };
    let ex = block_on(WasmExecutor::new(&store).execute(job(0)));
    assert_eq!(ex.out, Outcome::Ok(int(1)));
    // The rewrite was cached: the block of the metered module, under its key.
    let key = format!("{module}:{}", meter::METER_VERSION);
    let cached = block_on(ipvm_core::BlockStore::get_metered(&store, &key))
        .unwrap()
        .expect("cached");
    let bytes = block_on(ipvm_core::BlockStore::get_block(&store, &cached))
        .unwrap()
        .expect("its block");
    assert_eq!(bytes, meter::meter(&one).unwrap().bytes);
    // A new executor (a new worker, a reload) takes it from the store: put
    // another module's metered form under the key, and that is what runs.
    let other = meter::meter(&seven).unwrap().bytes;
    let other_cid = ipvm_core::address::raw_cid(&other);
    block_on(ipvm_core::BlockStore::put_metered(
        &store, &key, other_cid, other,
    ))
    .unwrap();
    let ex = block_on(WasmExecutor::new(&store).execute(job(1)));
    assert_eq!(ex.out, Outcome::Ok(int(7)), "the cached form ran");
    // A cached block that is not a metered module is ignored: the module
    // is rewritten again.
    let fresh = MemoryStore::new();
    let garbage = b"not a module".to_vec();
    block_on(ipvm_core::BlockStore::put_metered(
        &fresh,
        &key,
        ipvm_core::address::raw_cid(&garbage),
        garbage,
    ))
    .unwrap();
    block_on(add_file(&fresh, &one)).unwrap();
    let ex = block_on(WasmExecutor::new(&fresh).execute(job(2)));
    assert_eq!(
        ex.out,
        Outcome::Ok(int(1)),
        "a cache entry that does not check out is ignored"
    );
}
