//! Running workflows: the jobs an executor runs, the scheduler that drives a
//! workflow through an executor and a store, its events and reports,
//! cancellation, verification and spot-checks, coordination between the
//! runtimes of one store, run records, and admission of UCAN invocations.
//! Imports the data model, authority and storage.

pub mod admission;
pub mod cancel;
pub mod coordinate;
pub mod job;
pub mod report;
pub mod runlog;
pub mod scheduler;
pub mod verify;
