//! `npm run bench`'s native rows: runs compute kernels natively on wasmi or
//! on wasmtime (as the native node runs them: `ipvm-wasmtime` with wasmi
//! behind it) and prints one JSON line per kernel (median milliseconds of
//! the execution, the module already compiled; fuel; outcome; the engine
//! that ran it); on stderr, the time the metering rewrite of the module
//! takes and the engine's compile time of the metered module.
//!
//! `cargo run --profile cli -p ipvm-exec --example kernels -- MODULE.wasm JOBS.json REPEAT [wasmi|wasmtime]`
//! where JOBS.json is DAG-JSON `[{"kernel", "func", "args"}, …]`.

use std::time::Instant;

use futures::executor::block_on;
use ipvm_core::store::add_file;
use ipvm_core::workflow::parse_dag_json;
use ipvm_core::{Executor, Ipld, Job, Limits, MemoryStore};
use ipvm_exec::{Engine, Prefer, WasmExecutor};

fn text(m: &std::collections::BTreeMap<String, Ipld>, k: &str) -> String {
    match m.get(k) {
        Some(Ipld::String(s)) => s.clone(),
        _ => panic!("`{k}` must be a string"),
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let (module, jobs, repeat, engine) = match argv.as_slice() {
        [_, m, j, r] => (m, j, r, "wasmi"),
        [_, m, j, r, e] => (m, j, r, e.as_str()),
        _ => panic!("usage: kernels MODULE.wasm JOBS.json REPEAT [wasmi|wasmtime]"),
    };
    let repeat: usize = repeat.parse().expect("REPEAT is a number");
    let store = MemoryStore::new();
    let bytes = std::fs::read(module).expect("the module");
    let module = block_on(add_file(&store, &bytes)).expect("stored");
    let prefer = match engine {
        "wasmi" => Prefer::Reference,
        "wasmtime" => Prefer::Fast,
        other => panic!("no engine {other}: wasmi or wasmtime"),
    };
    let engines = ipvm_wasmtime::engines(prefer, None).expect("wasmtime starts");
    // The metering rewrite of the module (its core module, for a component).
    let core = match ipvm_exec::wit::classify("bench", &bytes).expect("a module") {
        ipvm_exec::wit::Shape::Core(b) | ipvm_exec::wit::Shape::Wit(b, _) => b,
    };
    let mut times = Vec::new();
    for _ in 0..repeat.max(3) {
        let t0 = Instant::now();
        let metered = ipvm_exec::meter::meter(&core).expect("metered");
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(metered);
    }
    times.sort_by(f64::total_cmp);
    eprintln!(
        "metering rewrite of the module ({} bytes of core module): {:.2} ms natively",
        core.len(),
        times[times.len() / 2]
    );
    // The engine's compile of the metered module (each time a new engine,
    // so nothing is cached), apart from the runs.
    let metered = ipvm_exec::meter::meter(&core).expect("metered");
    let mut compiles = Vec::new();
    for _ in 0..3 {
        let fresh = ipvm_wasmtime::engines(prefer, None).expect("wasmtime starts");
        let t0 = Instant::now();
        match prefer {
            Prefer::Fast => {
                drop(block_on(fresh.fast.compile("bench", &metered)).expect("compiles"))
            }
            _ => drop(block_on(fresh.reference.compile("bench", &metered)).expect("compiles")),
        }
        compiles.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    compiles.sort_by(f64::total_cmp);
    eprintln!(
        "{engine} compiles the metered module ({} bytes) in {:.2} ms",
        metered.bytes.len(),
        compiles[1]
    );
    let exec = WasmExecutor::with_engine(&store, engines);
    let Ipld::List(jobs) =
        parse_dag_json(&std::fs::read(jobs).expect("the jobs")).expect("DAG-JSON")
    else {
        panic!("the jobs must be a list")
    };
    for (n, job) in jobs.iter().enumerate() {
        let Ipld::Map(m) = job else {
            panic!("a job is a map")
        };
        let Some(Ipld::List(args)) = m.get("args") else {
            panic!("`args` must be a list")
        };
        let job = |n| Job {
            task: n,
            instruction: module,
            module,
            op: "wasm/run".into(),
            func: text(m, "func"),
            args: args.clone(),
            limits: Limits {
                time: Some(600_000),
                ..Limits::default()
            },
            receipt: None,
            engine: None,
        };
        // Once untimed: the module is compiled (and cached) by then.
        block_on(exec.execute(job(n)));
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..repeat {
            let t0 = Instant::now();
            let ex = block_on(exec.execute(job(n)));
            times.push(t0.elapsed().as_secs_f64() * 1000.0);
            last = Some(ex);
        }
        times.sort_by(f64::total_cmp);
        let ex = last.expect("ran");
        println!(
            "{{\"kernel\":\"{}\",\"ms\":{:.2},\"fuel\":{},\"ok\":{},\"engine\":\"{}\"}}",
            text(m, "kernel"),
            times[times.len() / 2],
            ex.fuel,
            ex.out.is_ok(),
            ex.engine.as_deref().unwrap_or("none")
        );
    }
}
