//! Argument parsing and the commands of the `ipvm` binary.

use std::process::ExitCode;

use ipvm_core::store::add_file;
use ipvm_core::{unixfs, CancelToken, Event, MemoryStore, Scheduler, Workflow};
use ipvm_exec::WasmExecutor;

const USAGE: &str = "usage: ipvm run WORKFLOW.json [--add FILE]... [--parallelism N]\n       ipvm add FILE...\n       ipvm instruction INSTRUCTIONS.jsonl\n       ipvm dag-cid VALUES.jsonl";

/// Runs the command line; `Err` is a one-line message for exit code 2.
pub(crate) fn main(args: &[String]) -> Result<ExitCode, String> {
    match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("add") => add(&args[1..]),
        Some("instruction") => per_line(&args[1..], "instruction", |line| {
            ipvm_core::workflow::instruction_cid_from_dag_json(line)
        }),
        Some("dag-cid") => per_line(&args[1..], "dag-cid", |line| {
            ipvm_core::dag_cbor_cid(&ipvm_core::workflow::parse_dag_json(line)?)
        }),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => Err(format!("unknown command `{other}`\n{USAGE}")),
        None => Err(format!("no command given\n{USAGE}")),
    }
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read `{path}`: {e}"))
}

fn add(files: &[String]) -> Result<ExitCode, String> {
    if files.is_empty() {
        return Err(format!("`add` needs at least one FILE\n{USAGE}"));
    }
    for f in files {
        println!("{}  {f}", unixfs::import(&read(f)?).root);
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a CID for each non-empty line of a file (DAG-JSON), in order.
fn per_line(
    args: &[String],
    command: &str,
    cid_of: impl Fn(&[u8]) -> Result<ipvm_core::Cid, ipvm_core::CoreError>,
) -> Result<ExitCode, String> {
    let [path] = args else {
        return Err(format!("`{command}` needs one FILE\n{USAGE}"));
    };
    let text = read(path)?;
    for (n, line) in text.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        println!(
            "{}",
            cid_of(line).map_err(|e| format!("{path}:{}: {e}", n + 1))?
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let mut workflow_path = None;
    let mut adds = Vec::new();
    let mut parallelism = 8;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--add" => adds.push(it.next().ok_or("`--add` needs a FILE")?.clone()),
            "--parallelism" => {
                let n = it.next().ok_or("`--parallelism` needs a number")?;
                parallelism = n
                    .parse()
                    .map_err(|_| format!("`--parallelism {n}`: not a positive number"))?;
            }
            flag if flag.starts_with("--") => {
                return Err(format!("unknown option `{flag}`\n{USAGE}"))
            }
            path if workflow_path.is_none() => workflow_path = Some(path.to_string()),
            extra => return Err(format!("unexpected argument `{extra}`\n{USAGE}")),
        }
    }
    let workflow_path =
        workflow_path.ok_or_else(|| format!("`run` needs a WORKFLOW.json\n{USAGE}"))?;
    let bytes = read(&workflow_path)?;
    // DAG-JSON starts with `{` (after any whitespace); anything else is read as DAG-CBOR.
    let workflow = if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        Workflow::from_dag_json(&bytes)
    } else {
        Workflow::from_dag_cbor(&bytes)
    }
    .map_err(|e| format!("{workflow_path}: {e}"))?;

    let store = MemoryStore::new();
    futures::executor::block_on(async {
        for path in &adds {
            let cid = add_file(&store, &read(path)?)
                .await
                .map_err(|e| format!("{path}: {e}"))?;
            eprintln!("added {cid} {path}");
        }
        let executor = WasmExecutor::new(&store);
        let scheduler = Scheduler::new(&executor, &store).with_parallelism(parallelism);
        let mut log = |e: &Event| eprintln!("{}", describe(e));
        let report = scheduler
            .run(&workflow, &mut log, &CancelToken::new())
            .await
            .map_err(|e| format!("{workflow_path}: {e}"))?;
        for task in &report.tasks {
            if let Some(rec) = task.receipt() {
                println!("{}", rec.receipt.to_dag_json().map_err(|e| e.to_string())?);
            }
        }
        Ok(if report.succeeded() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

/// One line of progress for an event.
fn describe(e: &Event) -> String {
    match e {
        Event::Queued { task, instruction } => format!("queued   task {task} {instruction}"),
        Event::Started { task, instruction } => format!("started  task {task} {instruction}"),
        Event::MemoHit {
            task,
            instruction,
            receipt,
        } => format!("memo-hit task {task} {instruction} receipt {receipt}"),
        Event::Finished {
            task,
            instruction,
            receipt,
            fuel,
        } => {
            format!("finished task {task} {instruction} receipt {receipt} fuel {fuel}")
        }
        Event::Rejected {
            task,
            instruction,
            receipt,
            reason,
        } => format!(
            "rejected task {task} {instruction}: stored receipt {receipt} skipped: {reason}"
        ),
        Event::Failed {
            task,
            instruction,
            receipt,
            reason,
        } => match receipt {
            Some(r) => format!("failed   task {task} {instruction} receipt {r}: {reason}"),
            None => format!("failed   task {task} {instruction}: {reason}"),
        },
    }
}
