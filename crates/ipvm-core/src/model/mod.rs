//! The data model: what an IPVM computation is, independent of where it is
//! kept, who signed it or how it runs. Imports nothing else of the crate.

pub mod address;
pub mod awaits;
pub mod catch;
pub mod dagjson;
pub mod execution;
pub mod limits;
pub mod op;
pub mod receipt;
pub mod unixfs;
pub mod workflow;
