//! `ipvm`: the native IPVM node.
//!
//! ```text
//! ipvm run WORKFLOW.json [--add FILE]... [--parallelism N]
//! ipvm add FILE...
//! ipvm instruction INSTRUCTION.json
//! ```
//!
//! `run` stores each `--add` file (a module or data) as a UnixFS file, runs
//! the workflow, prints each receipt as DAG-JSON on stdout (one per line, in
//! task order) and the progress on stderr. It exits 0 when every task
//! succeeded, 1 when a task failed, 2 on bad input.
//! `add` prints the CID each file would have (as `ipfs add --cid-version 1`).
//! `instruction` prints the CID of an instruction `{rsc, op, input, nnc}`,
//! which is what an await in another task's arguments refers to.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::main(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ipvm: error: {e}");
            ExitCode::from(2)
        }
    }
}
