//! `ipvm`: the native IPVM node.
//!
//! ```text
//! ipvm run WORKFLOW.json [--add FILE]... [--parallelism N] [--engine auto|wasmtime|wasmi] [--key FILE] [--trust DID]... [--verify-rate R] [--import CAR]... [--export CAR] [--store DIR | --memory]
//! ipvm key [--key FILE]
//! ipvm verify-receipt CAR [--key FILE] [--trust DID]... [--store DIR | --memory]
//! ipvm delegate --aud DID --cmd CMD [--sub DID | --powerline] [--pol JSON] [--exp SECS | --ttl SECS] [--nbf SECS] --out FILE
//! ipvm invoke --module CID --func NAME [--args JSON] [--fuel N] [--memory N] [--time N] [--aud DID] [--sub DID] [--prf FILE]... [--exp SECS | --ttl SECS] --out FILE
//! ipvm run-invocation TOKEN [--proof FILE]... [--add FILE]... [--authority DID]... [--now SECS] [--engine auto|wasmtime|wasmi] [--store DIR | --memory]
//! ipvm store [--store DIR | --memory]
//! ipvm clear-distrust DID [--key FILE] [--store DIR | --memory]
//! ipvm add FILE...
//! ipvm instruction INSTRUCTIONS.jsonl
//! ipvm dag-cid VALUES.jsonl
//! ipvm node [--listen MULTIADDR]... [--connect MULTIADDR]... [--add FILE]... [--fetch CID]... [--trust DID]... [--share none|announce] [--key FILE] [--store DIR | --memory] [--info FILE] [--log LEVEL]
//! ```
//!
//! The commands that store (`run`, `run-invocation`, `verify-receipt`,
//! `store`) keep blocks, receipts, the trust state, the invocations
//! accepted and the records of runs in the native store (`ipvm-store`, one
//! SQLite file): `--store DIR`, else `$XDG_DATA_HOME/ipvm`, else
//! `~/.local/share/ipvm`; `--memory` keeps it in memory for the one
//! command. A receipt stored by one run is a memo hit for the next.
//! `store` prints what the store holds; `clear-distrust` forgets a distrust.
//!
//! `run` stores each `--add` file (a module or data) as a UnixFS file, runs
//! the workflow, prints each receipt as DAG-JSON on stdout (one per line, in
//! task order) and the progress on stderr. It exits 0 when every task
//! succeeded, 1 when a task failed, 2 on bad input.
//! Every receipt is signed with the node's key (`--key FILE`, default
//! `$IPVM_KEY` or `~/.config/ipvm/key`, created with mode 0600 if missing);
//! `--import` brings receipts from a CAR, reused if a `--trust`ed signer
//! vouches for them (`--verify-rate R` re-runs that share of them as a
//! spot-check; a signer it catches is distrusted, and that is kept in
//! the store); `--export` writes the run's receipts
//! with their envelopes. `key` prints the node's DID. `verify-receipt` checks each
//! receipt of a CAR with its envelopes: `valid DID`, or a reason code.
//! `delegate` and `invoke` write UCAN 1.0 tokens signed with the node's key
//! and print their CIDs; `run-invocation` admits a signed `/wasm/run`
//! invocation for this node (its audience, an accepted subject, a valid
//! proof chain, no replay) and runs it, or refuses it: nothing runs, an
//! `unauthorized` receipt is printed and it exits 1.
//! `add` prints the CID each file would have (as `ipfs add --cid-version 1`).
//! `instruction` prints the CID of each instruction `{rsc, op, input, nnc}`
//! (one DAG-JSON value per line): what an await in another task refers to.
//! `dag-cid` prints the CID (dag-cbor, SHA3-256) of each DAG-JSON value.
//! A workflow may be DAG-JSON or DAG-CBOR.
//! `node` runs the libp2p peer (`ipvm-net`): bitswap over the store, a relay
//! for tabs; it prints its peer id, DID and addresses, and `--info` writes
//! them as JSON.
//!
//! Tasks run on wasmtime (`--engine auto`, the default, or `wasmtime`),
//! with wasmi deciding what compiles and re-running what wasmtime cannot
//! decide; `--engine wasmi` runs them all on wasmi. The receipts are the
//! same; each `finished` line names the engine (`engine wasmtime`).
//! wasmtime's compiled code is cached in `wasmtime-cache` beside the store.

mod authority;
mod cli;
mod engines;
mod key;
mod lock;
mod native;
mod node;

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
