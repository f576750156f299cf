//! The native store under the scheduler: a workflow of 10,000 independent
//! tasks run by a no-op executor through the core's `Scheduler` on a
//! `SqliteStore` in a fresh temporary directory, so the store's writes and
//! reads dominate. Measures receipts written per second (the first run: every
//! task executed and its receipt committed), memo hits per second (the same
//! workflow again: every task a memo hit) and the file's size per receipt
//! (after a WAL checkpoint). Run with `npm run bench` or
//! `cargo bench -p ipvm-store --bench store`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use futures::executor::block_on;
use ipvm_core::{
    address, CancelToken, Execution, Executor, Instruction, Ipld, Job, Ops, Scheduler, Task,
    Workflow,
};
use ipvm_store::SqliteStore;

const TASKS: usize = 10_000;
const RUNS: usize = 3;

struct NoOp;

impl Executor for NoOp {
    fn ops(&self) -> &Ops {
        Ops::standard()
    }
    async fn execute(&self, _: Job) -> Execution {
        Execution::ok(Ipld::Integer(0), 0)
    }
}

/// `n` independent tasks (no awaits between them).
fn workflow(n: usize) -> Workflow {
    let tasks = (0..n)
        .map(|i| {
            let args = vec![Ipld::Map(BTreeMap::from([(
                "n".to_string(),
                Ipld::Integer(i as i128),
            )]))];
            Task::new(
                Instruction::new(
                    address::raw_cid(b"bench module"),
                    "wasm/run",
                    "f",
                    args,
                    Ipld::String(String::new()),
                )
                .unwrap(),
            )
        })
        .collect();
    Workflow::new(tasks)
}

/// A fresh directory under the system's temporary one, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(run: usize) -> Self {
        let dir =
            std::env::temp_dir().join(format!("ipvm-store-bench-{}-{run}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The bytes this process has written so far (`wchar` of /proc/self/io:
/// every write and pwrite, whether or not it reached the disk), if known.
fn bytes_written() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: "))?
        .trim()
        .parse()
        .ok()
}

struct Run {
    written: f64,
    write_bytes: Option<u64>,
    memo: f64,
    file_bytes: u64,
    receipt_bytes: u64,
    receipts: u64,
}

fn one(run: usize, wf: &Workflow, parallelism: usize) -> Run {
    let dir = TempDir::new(run);
    let exec = NoOp;
    let store = SqliteStore::open(&dir.0).unwrap();
    let scheduler = Scheduler::new(&exec, &store).with_parallelism(parallelism);
    let n = wf.tasks.len();

    let before = bytes_written();
    let start = Instant::now();
    let report = block_on(scheduler.run(wf, &mut |_| {}, &CancelToken::new())).unwrap();
    let written = start.elapsed().as_secs_f64();
    let write_bytes = bytes_written().zip(before).map(|(a, b)| a - b);
    assert_eq!(report.executed(), n);

    let start = Instant::now();
    let report = block_on(scheduler.run(wf, &mut |_| {}, &CancelToken::new())).unwrap();
    let memo = start.elapsed().as_secs_f64();
    assert_eq!(report.reused(), n);

    let summary = store.summary().unwrap();
    let receipts: u64 = summary.receipts.iter().map(|(_, c)| c).sum();
    let receipt_bytes = summary.receipt_bytes;
    drop(store);
    let file_bytes = checkpointed_size(store_file(&dir.0).as_path());
    Run {
        written,
        write_bytes,
        memo,
        file_bytes,
        receipt_bytes,
        receipts,
    }
}

/// The database file in `dir` (the only file that is not a WAL or SHM).
fn store_file(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.to_string_lossy();
            !name.ends_with("-wal") && !name.ends_with("-shm")
        })
        .expect("the store's file")
}

/// The file's size after the write-ahead log is checkpointed into it and
/// truncated (the log's size is then 0, and is added anyway).
fn checkpointed_size(file: &Path) -> u64 {
    let conn = rusqlite::Connection::open(file).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(conn);
    let wal = PathBuf::from(format!("{}-wal", file.display()));
    std::fs::metadata(file).unwrap().len() + std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let wf = workflow(TASKS);
    println!(
        "store (SQLite, WAL, synchronous=NORMAL; {TASKS} independent tasks, no-op executor, core Scheduler; median of {RUNS}, a fresh store each run)"
    );
    println!(
        "{:<28} {:>12} {:>14} {:>10} {:>16} {:>16} {:>16}",
        "",
        "receipts/s",
        "memo hits/s",
        "receipts",
        "file B/receipt",
        "CBOR B/receipt",
        "I/O B/receipt"
    );
    for parallelism in [1, 64] {
        let runs: Vec<Run> = (0..RUNS).map(|r| one(r, &wf, parallelism)).collect();
        let written = median(runs.iter().map(|r| r.written).collect());
        let memo = median(runs.iter().map(|r| r.memo).collect());
        let last = runs.last().unwrap();
        println!(
            "{:<28} {:>12.0} {:>14.0} {:>10} {:>16.0} {:>16.0} {:>16}",
            format!("store, parallelism {parallelism:>2}:"),
            TASKS as f64 / written,
            TASKS as f64 / memo,
            last.receipts,
            last.file_bytes as f64 / last.receipts as f64,
            last.receipt_bytes as f64 / last.receipts as f64,
            last.write_bytes
                .map_or("-".to_string(), |b| (b / last.receipts).to_string()),
        );
    }
    println!("targets: >= 5,000 receipts/s, >= 20,000 memo hits/s");
    println!(
        "file B/receipt: the database file after a WAL checkpoint / receipts; CBOR: the receipts' own bytes; I/O: bytes written by the process during the first run / receipts"
    );
}
