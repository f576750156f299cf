//! Scheduling overhead per task: a 10,000-task DAG (fan-out, chains and
//! diamonds) through the scheduler with a no-op executor and the in-memory
//! store. Everything but executing Wasm is measured: validation, instruction
//! and invocation CIDs, await resolution, memo lookups, receipt encoding,
//! hashing and storage. Run with `npm run bench` or `cargo bench -p ipvm-core`.

use std::collections::BTreeMap;
use std::time::Instant;

use futures::executor::block_on;
use ipvm_core::{
    address, CancelToken, Execution, Executor, Instruction, Ipld, Job, MemoryStore, Ops, Scheduler,
    Task, Workflow,
};

struct NoOp;

impl Executor for NoOp {
    fn ops(&self) -> &Ops {
        Ops::standard()
    }
    async fn execute(&self, _: Job) -> Execution {
        Execution::ok(Ipld::Integer(0), 0)
    }
}

fn instr(n: usize, deps: &[&Instruction]) -> Instruction {
    let mut args = vec![Ipld::Integer(n as i128)];
    args.extend(deps.iter().map(|d| {
        Ipld::Map(BTreeMap::from([(
            "await/ok".to_string(),
            Ipld::Link(d.cid()),
        )]))
    }));
    Instruction::new(
        address::raw_cid(b"bench module"),
        "wasm/run",
        "f",
        args,
        Ipld::String(String::new()),
    )
    .unwrap()
}

/// 2,000 fan-out leaves under one root, 40 chains of 100, and 1,000 diamonds
/// (4 tasks each) with one extra task per diamond group: 10,000 in all.
fn dag() -> Workflow {
    let mut all = Vec::new();
    let mut n = 0;
    let mut next = |deps: &[&Instruction]| {
        n += 1;
        instr(n, deps)
    };
    let root = next(&[]);
    all.push(root.clone());
    for _ in 0..1_999 {
        all.push(next(&[&root]));
    }
    for _ in 0..40 {
        let mut prev = next(&[]);
        all.push(prev.clone());
        for _ in 0..99 {
            let i = next(&[&prev]);
            all.push(i.clone());
            prev = i;
        }
    }
    while all.len() < 10_000 {
        let top = next(&[]);
        let (l, r) = (next(&[&top]), next(&[&top]));
        let bottom = next(&[&l, &r]);
        all.extend([top, l, r, bottom]);
    }
    all.truncate(10_000);
    Workflow::new(all.into_iter().map(Task::new).collect())
}

/// Median of `runs` timings of `f`, in seconds.
fn median(runs: usize, mut f: impl FnMut() -> f64) -> f64 {
    let mut t: Vec<f64> = (0..runs).map(|_| f()).collect();
    t.sort_by(f64::total_cmp);
    t[runs / 2]
}

fn main() {
    let wf = dag();
    let n = wf.tasks.len();
    let exec = NoOp;
    for parallelism in [1, 64] {
        let mut memo = Vec::new();
        let cold = median(5, || {
            let store = MemoryStore::new();
            let scheduler = Scheduler::new(&exec, &store).with_parallelism(parallelism);
            let start = Instant::now();
            let report = block_on(scheduler.run(&wf, &mut |_| {}, &CancelToken::new())).unwrap();
            let t = start.elapsed().as_secs_f64();
            assert_eq!(report.executed(), n);
            let start = Instant::now();
            let report = block_on(scheduler.run(&wf, &mut |_| {}, &CancelToken::new())).unwrap();
            memo.push(start.elapsed().as_secs_f64());
            assert_eq!(report.reused(), n);
            t
        });
        memo.sort_by(f64::total_cmp);
        let memo = memo[memo.len() / 2];
        println!(
            "scheduler, {n} tasks, parallelism {parallelism:>2}: {:>6.2} µs/task executed ({:.0} ms), {:>6.2} µs/task all memo hits ({:.0} ms)  [median of 5]",
            cold * 1e6 / n as f64,
            cold * 1e3,
            memo * 1e6 / n as f64,
            memo * 1e3,
        );
    }
    let json = wf.to_dag_json().unwrap();
    let parse = median(5, || {
        let start = Instant::now();
        let _ = Workflow::from_dag_json(&json).unwrap();
        start.elapsed().as_secs_f64()
    });
    println!(
        "parse + validate a {n}-task workflow ({} KiB of DAG-JSON): {:.2} µs/task  [median of 5]",
        json.len() / 1024,
        parse * 1e6 / n as f64
    );
}
