//! Running workflows: the jobs an executor runs, the scheduler that drives a
//! workflow through an executor and a store, its events and reports,
//! cancellation, verification and spot-checks, coordination between the
//! runtimes of one store, run records, admission of UCAN invocations, and
//! the runtime that owns all of these for a node ([`runtime::Runtime`]).
//! Imports the data model, authority and storage.

pub mod admission;
pub mod cancel;
pub mod coordinate;
pub mod job;
pub mod records;
pub mod report;
pub mod runlog;
pub mod runtime;
pub mod scheduler;
pub mod verify;
