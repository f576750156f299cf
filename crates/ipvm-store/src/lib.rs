//! The native IPVM store: blocks, receipt rows with every index the memo
//! uses, the trust state, seen claims and run records, in one SQLite file
//! (`<dir>/ipvm.sqlite`) that several processes share.
//!
//! It implements the core's storage capabilities ([`ipvm_core::BlockStore`],
//! [`ipvm_core::ReceiptStore`], [`ipvm_core::Settings`],
//! [`ipvm_core::SeenInvocations`], [`ipvm_core::RunRecords`]) and passes the
//! core's conformance suite (tests/conformance.rs). It keeps rows; every
//! rule about them is the core's.
//!
//! Why SQLite: in WAL mode any number of processes read while one writes,
//! and a writer waits for another (`busy_timeout`) instead of failing, so
//! `ipvm run` works beside a running node. redb, in its default mode, locks
//! the file to one process. Every write is one transaction, opened
//! `IMMEDIATE` (the write lock first), so a batch is all or nothing and two
//! writers never deadlock upgrading a read.

mod db;
mod migrate;
mod receipts;
mod state;

pub use db::{SqliteStore, StoreError, Summary, FILE_NAME};
pub use state::{SqliteRunLog, SqliteSettings};
