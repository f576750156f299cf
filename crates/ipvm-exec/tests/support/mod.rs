//! Shared by the executor's native tests and the browser tests
//! (`crates/ipvm-web/tests`, which include this file by path): the guest
//! module and the data-driven fixture of guest calls.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test file uses a different subset"
)]

use std::collections::BTreeMap;

use ipvm_core::workflow::parse_dag_json;
use ipvm_core::{Cid, Instruction, Ipld, Limits, Task, Workflow};

/// The fixture: one DAG-JSON object per line, `{"func", "args", "out"}` for
/// an expected result, or `{"func", "args", "error": "<kind>"}`.
pub const GUEST_CALLS: &str = include_str!("../../../../tests/fixtures/guest-calls.jsonl");

/// What a call must give.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// The receipt's `out`, exactly.
    Out(Ipld),
    /// An error receipt of this kind.
    Error(String),
}

/// One fixture line.
#[derive(Debug, Clone)]
pub struct Call {
    pub func: String,
    pub args: Vec<Ipld>,
    pub expect: Expect,
}

pub fn calls() -> Vec<Call> {
    GUEST_CALLS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let Ipld::Map(m) = parse_dag_json(line.as_bytes())
                .unwrap_or_else(|e| panic!("fixture line {line}: {e}"))
            else {
                panic!("fixture line is not a map: {line}")
            };
            let func = match m.get("func") {
                Some(Ipld::String(s)) => s.clone(),
                _ => panic!("fixture line without func: {line}"),
            };
            let args = match m.get("args") {
                Some(Ipld::List(a)) => a.clone(),
                _ => panic!("fixture line without args: {line}"),
            };
            let expect = match (m.get("out"), m.get("error")) {
                (Some(out), None) => Expect::Out(out.clone()),
                (None, Some(Ipld::String(kind))) => Expect::Error(kind.clone()),
                _ => panic!("fixture line needs `out` or `error`: {line}"),
            };
            Call { func, args, expect }
        })
        .collect()
}

/// Limits generous enough for every fixture call.
pub fn limits() -> Limits {
    Limits {
        fuel: Some(2_000_000_000),
        memory: Some(256 << 20),
        time: Some(60_000),
    }
}

/// One independent task per fixture call, in order.
pub fn workflow(module: Cid, calls: &[Call]) -> Workflow {
    let tasks = calls
        .iter()
        .map(|c| {
            let run = Instruction::new(
                module,
                "wasm/run",
                &c.func,
                c.args.clone(),
                Ipld::String(String::new()),
            )
            .expect("instruction");
            Task {
                limits: limits(),
                ..Task::new(run)
            }
        })
        .collect();
    Workflow::new(tasks)
}

/// The error kind of an error outcome's value `{"kind", "message"}`.
pub fn error_kind(v: &Ipld) -> Option<&str> {
    match v {
        Ipld::Map(m) => match m.get("kind") {
            Some(Ipld::String(k)) => Some(k.as_str()),
            _ => None,
        },
        _ => None,
    }
}

/// `{"await/ok": {"/": cid}}`
pub fn await_ok(cid: Cid) -> Ipld {
    Ipld::Map(BTreeMap::from([("await/ok".to_string(), Ipld::Link(cid))]))
}

/// The image pipeline: make-png(64, 48), then crop, rotate90, grayscale and
/// blur, each awaiting the previous one.
pub fn pipeline(module: Cid) -> Workflow {
    let t = |func: &str, args: Vec<Ipld>| {
        let run = Instruction::new(module, "wasm/run", func, args, Ipld::String(String::new()))
            .expect("instruction");
        Task {
            limits: limits(),
            ..Task::new(run)
        }
    };
    let make = t("make-png", vec![Ipld::Integer(64), Ipld::Integer(48)]);
    let crop = t(
        "crop",
        vec![
            await_ok(make.run.cid()),
            4.into(),
            2.into(),
            40.into(),
            30.into(),
        ],
    );
    let rotate = t("rotate90", vec![await_ok(crop.run.cid())]);
    let gray = t("grayscale", vec![await_ok(rotate.run.cid())]);
    let blur = t("blur", vec![await_ok(gray.run.cid()), Ipld::Float(1.5)]);
    Workflow::new(vec![make, crop, rotate, gray, blur])
}

/// A block store over a [`ipvm_core::MemoryStore`] that counts its block
/// reads, and fails every read if `fail_reads` (as a broken IndexedDB would).
pub struct SpyStore<'a> {
    pub inner: &'a ipvm_core::MemoryStore,
    pub reads: std::cell::Cell<usize>,
    pub fail_reads: bool,
}

impl<'a> SpyStore<'a> {
    pub fn new(inner: &'a ipvm_core::MemoryStore) -> Self {
        Self {
            inner,
            reads: std::cell::Cell::new(0),
            fail_reads: false,
        }
    }
}

impl ipvm_core::BlockStore for SpyStore<'_> {
    async fn get_block(&self, cid: &Cid) -> Result<Option<Vec<u8>>, ipvm_core::CoreError> {
        self.reads.set(self.reads.get() + 1);
        if self.fail_reads {
            return Err(ipvm_core::CoreError::Store("the disk is on fire".into()));
        }
        self.inner.get_block(cid).await
    }
    async fn put_block(&self, cid: Cid, bytes: Vec<u8>) -> Result<(), ipvm_core::CoreError> {
        self.inner.put_block(cid, bytes).await
    }
    async fn put_alias(&self, alias: Cid, root: Cid) -> Result<(), ipvm_core::CoreError> {
        self.inner.put_alias(alias, root).await
    }
    async fn get_alias(&self, alias: &Cid) -> Result<Option<Cid>, ipvm_core::CoreError> {
        self.inner.get_alias(alias).await
    }
}
