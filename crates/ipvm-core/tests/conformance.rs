//! The store conformance suite (src/conformance.rs) against [`MemoryStore`]
//! and the core's other in-memory capabilities
//! ([`ipvm_core::conformance::Memory`]). The native SQLite store runs the
//! same suite (crates/ipvm-store/tests/conformance.rs), and so do
//! `MemoryStore` and the IndexedDB store in Chromium (crates/ipvm-web).
//!
//! [`MemoryStore`]: ipvm_core::MemoryStore

ipvm_core::conformance_tests!(ipvm_core::conformance::Memory::fresh());
