#![doc = include_str!("../README.md")]
#![deny(clippy::unwrap_used, clippy::expect_used)]

mod convert;
mod coordinate;
mod indexeddb;
mod runtime;
mod store;

pub use runtime::{instruction_cid, Runtime};
