//! `ipvm`: the native IPVM node.
//!
//! ```text
//! ipvm run WORKFLOW.json [--add FILE]... [--parallelism N]
//! ipvm add FILE...
//! ipvm instruction INSTRUCTIONS.jsonl
//! ipvm dag-cid VALUES.jsonl
//! ```
//!
//! `run` stores each `--add` file (a module or data) as a UnixFS file, runs
//! the workflow, prints each receipt as DAG-JSON on stdout (one per line, in
//! task order) and the progress on stderr. It exits 0 when every task
//! succeeded, 1 when a task failed, 2 on bad input.
//! `add` prints the CID each file would have (as `ipfs add --cid-version 1`).
//! `instruction` prints the CID of each instruction `{rsc, op, input, nnc}`
//! (one DAG-JSON value per line): what an await in another task refers to.
//! `dag-cid` prints the CID (dag-cbor, SHA3-256) of each DAG-JSON value.
//! A workflow may be DAG-JSON or DAG-CBOR.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // args[0] is the program name.
    match cli::main(args.get(1..).unwrap_or_default()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ipvm: error: {e}");
            ExitCode::from(2)
        }
    }
}
