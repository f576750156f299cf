//! # ipvm-core: the model of an IPVM runtime, with no I/O
//!
//! A **task** is a call to a pure WebAssembly function. The function is named
//! by the content identifier (CID) of its module, and the task carries its
//! arguments, a nonce, and limits (fuel, memory, time). The part of a task
//! that says *what* to compute is its [`Instruction`]; the CID of the
//! instruction's DAG-CBOR encoding is the identity of the computation.
//!
//! The op an instruction names says how its resource and input must look
//! and what running it does to the world (pure, a query, a mutation): one
//! registry of ops ([`Ops`]) holds both, and the standard one holds the pure
//! `wasm/run` and `wasm/run-exact`.
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
//! The crate is in five parts, each a folder, each importing only from the
//! ones before it (a test, `tests/layout.rs`, keeps it so):
//!
//! - [`model`]: what things are: instructions, tasks and workflows, the ops
//!   an instruction may name, awaits, receipts and executions, CIDs,
//!   DAG-JSON, UnixFS files.
//! - [`auth`]: who may do what: identities and signatures, receipt
//!   envelopes, the trust policy, UCAN tokens and their policies.
//! - [`store`]: what is kept: blocks and receipt rows, the memo rule that
//!   decides which rows may answer, the rows a trust decision touches, CAR
//!   archives.
//! - [`peer`]: the IPVM protocols between peers: their messages, bounded
//!   reading of what the network sends, and what a runtime gives a peer
//!   and takes from one.
//! - [`run`]: running workflows: jobs and executors, the scheduler, reports
//!   and events, cancellation, verification and spot-checks, coordination
//!   between runtimes of a store, run records, admission of invocations,
//!   and the [`Runtime`] that owns them all for one node: the tab and the
//!   CLI build one from their platform's capabilities (a store, an
//!   executor, settings, a seen-set, run records) and only translate.
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

pub mod auth;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
pub mod model;
pub mod peer;
pub mod run;
pub mod store;

// The modules by their short names (the crate's public paths before it had
// folders; the adapters use them).
pub use auth::{envelope, identity, ucan};
pub use model::{address, awaits, dagjson, receipt, unixfs, workflow};
pub use peer::binding as peer_binding;
pub use run::{coordinate, runlog, scheduler, verify};
pub use store::{car, memo};
/// The trust policy (`auth::trust`) and the receipt rows it decides
/// (`store::vouching`), by their short name.
pub mod trust {
    pub use crate::auth::trust::*;
    pub use crate::store::vouching::*;
}

pub use address::{dag_cbor_cid, decode_dag_cbor, encode_dag_cbor, parse_cid};
pub use awaits::{Await, AwaitKind};
pub use coordinate::{Announcer, InstructionLock, Uncoordinated};
pub use envelope::{Envelope, Refusal};
pub use error::{CoreError, ValidationError};
pub use identity::{Did, Ed25519Key, Signer};
pub use ipld_core::{cid::Cid, ipld::Ipld};
pub use memo::{Checked, Quarantine, Rejection};
pub use model::execution::{Execution, Origin};
pub use model::op::{Op, OpClass, Ops};
pub use peer_binding::{BindingAnswer, BindingError, PeerBinding};
pub use receipt::{Outcome, Receipt, ReceiptClass, RECEIPT_VERSION};
pub use run::cancel::CancelToken;
pub use run::job::{Executor, Job};
pub use run::records::{MemoryRuns, RunLog, RunRecords};
pub use run::report::{CatchNote, Event, Handled, RunReport, TaskReport};
pub use run::runtime::{Runtime, TrustOptions};
pub use scheduler::Scheduler;
pub use store::record::{Provenance, ReceiptRecord};
pub use store::seen::{MemorySeen, SeenInvocations};
pub use store::settings::{MemorySettings, Settings, TrustState};
pub use store::{BlockStore, MemoryStore, ReceiptRow, ReceiptStore};
pub use trust::Trust;
pub use verify::{verify, verify_on, Verdict, Verification};
pub use workflow::{Instruction, Limits, Task, Workflow};
