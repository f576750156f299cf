#![doc = include_str!("../README.md")]
#![deny(clippy::unwrap_used, clippy::expect_used)]

// The core's store conformance suite on the tab's stores, in Chromium.
#[cfg(all(test, target_arch = "wasm32"))]
mod conformance;
mod convert;
mod coordinate;
mod fast_engine;
mod identity;
mod indexeddb;
mod inspect;
#[cfg(feature = "net")]
mod network;
mod pacer;
mod pool;
mod runlog;
mod runs;
mod runtime;
mod seen;
mod settings;
mod store;
mod types;
mod worker;

pub use fast_engine::{FastEngine, FastGuest, FastModule};
pub use inspect::{inspect_module, plan_workflow};
pub use runtime::{instruction_cid, is_cid, Runtime};
pub use worker::TaskWorker;
