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
    Workflow { tasks }
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
    Workflow {
        tasks: vec![make, crop, rotate, gray, blur],
    }
}
