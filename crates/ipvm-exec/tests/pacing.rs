//! The pacer: awaited between the fuel slices of a task's main call, it can
//! pause a long task (the browser's workers yield there) or cancel it.

use std::cell::Cell;

use futures::executor::block_on;
use ipvm_core::store::add_file;
use ipvm_core::{Execution, Executor, Instruction, Ipld, Job, Limits, MemoryStore, Outcome};
use ipvm_exec::{ExecError, Pacer, WasmExecutor, WasmiEngine, FUEL_SLICE};

/// Counts `n` down to zero: 8 fuel per iteration (its loop region).
const COUNTDOWN: &str = r#"(module (func (export "countdown") (param $n i64) (result i64)
  (loop $l (local.set $n (i64.sub (local.get $n) (i64.const 1)))
           (br_if $l (i64.ne (local.get $n) (i64.const 0))))
  (local.get $n)))"#;

/// Counts its calls; cancels on call number `cancel_at` (if any); slices of
/// `slice` fuel (0: the default).
#[derive(Default)]
struct CountingPacer {
    calls: Cell<u64>,
    cancel_at: Option<u64>,
    slice: u64,
}

impl Pacer for &CountingPacer {
    fn fuel_slice(&self) -> u64 {
        if self.slice == 0 {
            FUEL_SLICE
        } else {
            self.slice
        }
    }

    async fn between_slices(&self) -> Result<(), ExecError> {
        self.calls.set(self.calls.get() + 1);
        match self.cancel_at {
            Some(n) if self.calls.get() >= n => Err(ExecError::Cancelled),
            _ => Ok(()),
        }
    }
}

fn run(pacer: &CountingPacer, n: i64) -> Execution {
    let store = MemoryStore::new();
    let module = block_on(add_file(&store, &wat::parse_str(COUNTDOWN).unwrap())).unwrap();
    let instruction = Instruction::new(
        module,
        "wasm/run",
        "countdown",
        vec![Ipld::Integer(n.into())],
        Ipld::String(String::new()),
    )
    .unwrap();
    let job = Job {
        task: 0,
        instruction: instruction.cid(),
        module,
        op: "wasm/run".into(),
        func: "countdown".into(),
        args: vec![Ipld::Integer(n.into())],
        limits: Limits::default(),
        receipt: None,
        engine: None,
    };
    let exec = WasmExecutor::with_pacer(&store, WasmiEngine::default(), pacer);
    block_on(exec.execute(job))
}

#[test]
fn a_long_call_is_paced_once_per_fuel_slice() {
    let pacer = CountingPacer::default();
    let ex = run(&pacer, 20_000_000);
    assert_eq!(ex.out, Outcome::Ok(Ipld::Integer(0)));
    // Slices are counted in wasmi's own instructions, the injected metering
    // code included: at least one per unit of the task's fuel, and for this
    // loop at most a few.
    let calls = pacer.calls.get();
    assert!(
        calls + 1 >= ex.fuel / FUEL_SLICE && calls >= 2,
        "{calls} pauses for {} fuel",
        ex.fuel
    );
    assert!(
        calls <= 5 * ex.fuel.div_ceil(FUEL_SLICE),
        "{calls} pauses for {} fuel",
        ex.fuel
    );
}

#[test]
fn a_short_call_is_never_paused() {
    let pacer = CountingPacer::default();
    let ex = run(&pacer, 10);
    assert_eq!(ex.out, Outcome::Ok(Ipld::Integer(0)));
    assert_eq!(pacer.calls.get(), 0);
}

#[test]
fn a_pacer_error_ends_the_call_at_that_slice() {
    let pacer = CountingPacer {
        cancel_at: Some(2),
        ..Default::default()
    };
    let ex = run(&pacer, 1_000_000_000_000);
    assert_eq!(pacer.calls.get(), 2, "no slice runs after the cancel");
    let Outcome::Err(Ipld::Map(err)) = &ex.out else {
        panic!("expected an error, got {:?}", ex.out)
    };
    assert_eq!(err.get("kind"), Some(&Ipld::String("cancelled".into())));
    assert!(
        ex.fuel > 0 && ex.fuel <= 2 * FUEL_SLICE,
        "only the two slices before the cancel ran ({} fuel)",
        ex.fuel
    );
}

#[test]
fn the_fuel_used_does_not_depend_on_the_slice_size() {
    let outcomes: Vec<(Outcome, u64)> = [0, 1_000_000, 999_983, 7]
        .into_iter()
        .map(|slice| {
            let pacer = CountingPacer {
                slice,
                ..Default::default()
            };
            let ex = run(&pacer, 2_000_000);
            (ex.out, ex.fuel)
        })
        .collect();
    assert!(outcomes[0].1 > 5_000_000, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|o| *o == outcomes[0]),
        "same output and fuel for every slice size: {outcomes:?}"
    );
}
