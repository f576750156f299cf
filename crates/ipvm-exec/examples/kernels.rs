//! `npm run bench`'s native row: runs compute kernels on wasmi natively and
//! prints one JSON line per kernel (median milliseconds, fuel, outcome); on
//! stderr, the time the metering rewrite of the module takes.
//!
//! `cargo run --release -p ipvm-exec --example kernels -- MODULE.wasm JOBS.json REPEAT`
//! where JOBS.json is DAG-JSON `[{"kernel", "func", "args"}, …]`.

use std::time::Instant;

use futures::executor::block_on;
use ipvm_core::store::add_file;
use ipvm_core::workflow::parse_dag_json;
use ipvm_core::{Executor, Ipld, Job, Limits, MemoryStore};
use ipvm_exec::WasmExecutor;

fn text(m: &std::collections::BTreeMap<String, Ipld>, k: &str) -> String {
    match m.get(k) {
        Some(Ipld::String(s)) => s.clone(),
        _ => panic!("`{k}` must be a string"),
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let [_, module, jobs, repeat] = argv.as_slice() else {
        panic!("usage: kernels MODULE.wasm JOBS.json REPEAT")
    };
    let repeat: usize = repeat.parse().expect("REPEAT is a number");
    let store = MemoryStore::new();
    let bytes = std::fs::read(module).expect("the module");
    let module = block_on(add_file(&store, &bytes)).expect("stored");
    let exec = WasmExecutor::new(&store);
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
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..repeat {
            let job = Job {
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
            let t0 = Instant::now();
            let ex = block_on(exec.execute(job));
            times.push(t0.elapsed().as_secs_f64() * 1000.0);
            last = Some(ex);
        }
        times.sort_by(f64::total_cmp);
        let ex = last.expect("ran");
        println!(
            "{{\"kernel\":\"{}\",\"ms\":{:.2},\"fuel\":{},\"ok\":{}}}",
            text(m, "kernel"),
            times[times.len() / 2],
            ex.fuel,
            ex.out.is_ok()
        );
    }
}
