//! # ipvm-core: the model of an IPVM runtime, with no I/O
//!
//! A **task** is a call to a pure WebAssembly function. The function is named
//! by the content identifier (CID) of its module, and the task carries its
//! arguments, a nonce, and limits (fuel, memory, time). The part of a task
//! that says *what* to compute is its [`Instruction`]; the CID of the
//! instruction's DAG-CBOR encoding is the identity of the computation.
//!
//! A [`Workflow`] is a list of tasks that form a DAG: an argument may be an
//! *await* (`{"await/ok": {"/": "<instruction CID>"}}`) that stands for the
//! result of another task, so independent tasks can run in parallel.
//!
//! Every run leaves a [`Receipt`]: which invocation ran, its output or error,
//! the fuel it used. Receipts are content-addressed too. The [`ReceiptStore`]
//! indexes them by instruction CID, which is what memoization means here: a
//! result computed once is never computed again. It also indexes them by input
//! CID, so one can ask "what was computed from this data?".
//!
//! The memo never serves a wrong answer: every stored receipt carries its
//! [`Provenance`], and only those this runtime computed or re-ran itself
//! answer a lookup; every row is checked against its bytes and its
//! invocation when it is read; failures of the environment are never reused
//! ([`memo`], [`receipt`]). Runtimes that share a store (tabs of an origin)
//! coordinate through a lock per instruction and announcements
//! ([`coordinate`]).
//!
//! This crate knows nothing of browsers, threads or files. Storage and
//! execution are traits ([`BlockStore`], [`ReceiptStore`], [`Executor`]) with
//! an in-memory store beside them ([`MemoryStore`]); the browser and native
//! crates supply the real ones. The [`scheduler`] drives a workflow through
//! those traits with plain `async` code, so it runs on any executor: a
//! browser's microtask queue or a native `block_on`.
//!
//! Identities follow Homestar, the native IPVM runtime: workflow JSON written
//! for Homestar parses here and yields the same instruction CIDs (CIDv1,
//! DAG-CBOR, SHA3-256). Modules are addressed as IPFS addresses files
//! ([`unixfs`]).

pub mod address;
pub mod awaits;
pub mod car;
pub mod coordinate;
pub mod dagjson;
pub mod envelope;
mod error;
pub mod identity;
pub mod memo;
pub mod receipt;
pub mod runlog;
pub mod scheduler;
pub mod store;
pub mod trust;
pub mod ucan;
pub mod unixfs;
pub mod verify;
pub mod workflow;

pub use address::{dag_cbor_cid, decode_dag_cbor, encode_dag_cbor, parse_cid};
pub use awaits::{Await, AwaitKind};
pub use coordinate::{Announcer, InstructionLock, Uncoordinated};
pub use envelope::{Envelope, Refusal};
pub use error::{CoreError, ValidationError};
pub use identity::{Did, Ed25519Key, Signer};
pub use ipld_core::{cid::Cid, ipld::Ipld};
pub use memo::{Checked, Quarantine, Rejection};
pub use receipt::{Outcome, Provenance, Receipt, ReceiptClass, ReceiptRecord, RECEIPT_VERSION};
pub use scheduler::{
    CancelToken, Event, Execution, Executor, Job, RunReport, Scheduler, TaskReport,
};
pub use store::{BlockStore, MemoryStore, ReceiptRow, ReceiptStore};
pub use trust::Trust;
pub use verify::{verify, verify_on, Verdict, Verification};
pub use workflow::{Instruction, Limits, Task, Workflow};
