//! Every guest function, run from workflows natively: the data-driven fixture
//! (tests/fixtures/guest-calls.jsonl), the image pipeline, links passed as
//! bytes, host functions, and the component shape.

mod engines;
mod support;

use futures::executor::block_on;
use ipvm_core::run::report::TaskStatus;
use ipvm_core::store::add_file;
use ipvm_core::{
    CancelToken, Cid, Instruction, Ipld, MemoryStore, Outcome, RunReport, Scheduler, Task, Workflow,
};
use ipvm_exec::WasmExecutor;
use support::*;

fn guests() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../www/modules/ipvm_guests.wasm"
    );
    std::fs::read(path).unwrap_or_else(|e| {
        panic!("{path}: {e}; build it with `bash scripts/build-guests.sh` (npm test does)")
    })
}

/// The guest module wrapped as a component (wit-component's encoder).
fn component_of_guests() -> Vec<u8> {
    wit_component::ComponentEncoder::default()
        .module(&guests())
        .unwrap()
        .validate(true)
        .encode()
        .unwrap()
}

fn setup() -> (MemoryStore, Cid) {
    let store = MemoryStore::new();
    let module = block_on(add_file(&store, &guests())).unwrap();
    (store, module)
}

/// Runs `wf` on each engine ([`engines::ENGINES`]), asserting identical
/// receipts; the last engine's report (natively wasmtime's), whose receipts
/// are kept in `store` (the others' in a store each: a receipt of one
/// engine must not be a memo hit for the next).
fn run(store: &MemoryStore, wf: &Workflow) -> RunReport {
    let last = engines::ENGINES.len() - 1;
    let mut reports = engines::ENGINES.iter().enumerate().map(|(i, engine)| {
        let fresh = MemoryStore::new();
        let receipts = if i == last { store } else { &fresh };
        let exec = engines::executor(store, engine);
        let report =
            block_on(Scheduler::new(&exec, receipts).run(wf, &mut |_| {}, &CancelToken::new()))
                .unwrap();
        (*engine, report)
    });
    let (_, first) = reports.next().expect("one engine at least");
    reports.fold(first, |reference, (engine, report)| {
        engines::assert_same_receipts(&reference, &report, engine);
        report
    })
}

fn task(module: Cid, func: &str, args: Vec<Ipld>) -> Task {
    Task {
        limits: limits(),
        ..Task::new(
            Instruction::new(module, "wasm/run", func, args, Ipld::String(String::new())).unwrap(),
        )
    }
}

fn out(report: &RunReport, i: usize) -> Outcome {
    report.tasks[i]
        .receipt()
        .unwrap_or_else(|| panic!("task {i}: {:?}", report.tasks[i].status))
        .receipt
        .out
        .clone()
}

#[test]
fn every_fixture_call_gives_its_expected_result() {
    let (store, module) = setup();
    let calls = calls();
    let report = run(&store, &workflow(module, &calls));
    let mut lines = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        let rec = report.tasks[i]
            .receipt()
            .unwrap_or_else(|| panic!("{}: no receipt", call.func));
        match (&call.expect, &rec.receipt.out) {
            (Expect::Out(want), _) => assert_eq!(
                &rec.receipt.out.to_ipld(),
                want,
                "{} {:?}",
                call.func,
                call.args
            ),
            (Expect::Error(kind), Outcome::Err(e)) => assert_eq!(
                error_kind(e),
                Some(kind.as_str()),
                "{} {:?}: {e:?}",
                call.func,
                call.args
            ),
            (Expect::Error(kind), ok) => panic!(
                "{} {:?}: expected a {kind} error, got {ok:?}",
                call.func, call.args
            ),
        }
        lines.push(rec.receipt.to_dag_json().unwrap());
    }
    // The browser suite must reproduce these receipts exactly (scripts/test.sh
    // hands this file to it).
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("guest-receipts.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn errors_name_the_argument_and_the_reason() {
    let (store, module) = setup();
    let report = run(
        &store,
        &Workflow::new(vec![
            task(module, "echo-u8", vec![Ipld::Integer(256)]),
            task(
                module,
                "echo-record",
                vec![Ipld::Map(
                    [
                        ("x".to_string(), Ipld::Integer(1)),
                        ("label".to_string(), Ipld::String("p".into())),
                    ]
                    .into(),
                )],
            ),
            task(module, "join-strings", vec![Ipld::String("a".into())]),
        ]),
    );
    let message = |i| match out(&report, i) {
        Outcome::Err(Ipld::Map(m)) => match m.get("message") {
            Some(Ipld::String(s)) => s.clone(),
            _ => String::new(),
        },
        other => panic!("{other:?}"),
    };
    assert_eq!(
        message(0),
        "argument 0: (`v`): 256 does not fit u8 (0..=255)"
    );
    assert!(message(1).contains("missing field `y`"), "{}", message(1));
    assert!(
        message(2).contains("`join-strings` takes 2 arguments (a, b), 1 given"),
        "{}",
        message(2)
    );
}

#[test]
fn a_missing_function_names_the_exports_and_the_nearest_one() {
    let (store, module) = setup();
    let report = run(
        &store,
        &Workflow::new(vec![task(module, "echo-u9", vec![Ipld::Integer(1)])]),
    );
    let Outcome::Err(Ipld::Map(m)) = out(&report, 0) else {
        panic!("expected an error")
    };
    assert_eq!(
        m.get("kind"),
        Some(&Ipld::String("no_such_function".into()))
    );
    let Some(Ipld::String(message)) = m.get("message") else {
        panic!("no message")
    };
    assert!(
        message.contains("function `echo-u9` is not exported"),
        "{message}"
    );
    assert!(message.contains("it exports `"), "{message}");
    assert!(message.contains("`echo-record`"), "{message}");
    assert!(message.ends_with("(nearest: `echo-u8`)"), "{message}");
}

fn png_size(png: &[u8]) -> (u32, u32, u8) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |o: usize| u32::from_be_bytes([png[o], png[o + 1], png[o + 2], png[o + 3]]);
    (be(16), be(20), png[25])
}

fn bytes(o: &Outcome) -> Vec<u8> {
    match o {
        Outcome::Ok(Ipld::Bytes(b)) => b.clone(),
        other => panic!("expected bytes, got {other:?}"),
    }
}

#[test]
fn the_image_pipeline_runs_crop_rotate_grayscale_blur() {
    let (store, module) = setup();
    let report = run(&store, &pipeline(module));
    assert!(
        report.succeeded(),
        "{:?}",
        report.tasks.iter().map(|t| &t.status).collect::<Vec<_>>()
    );
    assert_eq!(png_size(&bytes(&out(&report, 0))), (64, 48, 6), "RGBA");
    assert_eq!(png_size(&bytes(&out(&report, 1))), (40, 30, 6));
    assert_eq!(png_size(&bytes(&out(&report, 2))), (30, 40, 6), "rotated");
    assert_eq!(
        png_size(&bytes(&out(&report, 3))).2,
        4,
        "grayscale with alpha"
    );
    assert_eq!(png_size(&bytes(&out(&report, 4))), (30, 40, 4));
    assert_ne!(
        bytes(&out(&report, 4)),
        bytes(&out(&report, 3)),
        "blur changed the pixels"
    );
    let lines: Vec<String> = report
        .tasks
        .iter()
        .map(|t| t.receipt().unwrap().receipt.to_dag_json().unwrap())
        .collect();
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pipeline-receipts.jsonl"),
        lines.join("\n") + "\n",
    )
    .unwrap();
}

#[test]
fn a_link_passed_as_list_u8_is_the_content_it_names() {
    let (store, module) = setup();
    let report = run(
        &store,
        &Workflow::new(vec![task(
            module,
            "make-png",
            vec![Ipld::Integer(300), Ipld::Integer(300)],
        )]),
    );
    let png = bytes(&out(&report, 0));
    let cid = block_on(add_file(&store, &png)).unwrap();
    let report = run(
        &store,
        &Workflow::new(vec![
            task(module, "rotate90", vec![Ipld::Link(cid)]),
            task(
                module,
                "echo-bytes",
                vec![Ipld::Link(ipvm_core::address::raw_cid(b"not stored"))],
            ),
        ]),
    );
    assert_eq!(png_size(&bytes(&out(&report, 0))), (300, 300, 6));
    match out(&report, 1) {
        // The content is missing: a failure of the environment, never reused.
        Outcome::Err(e) => assert_eq!(error_kind(&e), Some("input_missing"), "{e:?}"),
        other => panic!("{other:?}"),
    }
    // The reverse index knows which receipt was computed from the image.
    let using = block_on(ipvm_core::memo::receipts_using(
        &store,
        &ipvm_core::Quarantine::new(),
        &cid,
    ))
    .unwrap()
    .value;
    assert_eq!(using.len(), 1);
}

#[test]
fn logs_go_into_the_receipt_and_the_clock_makes_a_task_nondeterministic() {
    let (store, module) = setup();
    let wf = Workflow::new(vec![
        task(module, "log-and-double", vec![21.into()]),
        task(module, "now-seconds", vec![]),
    ]);
    let report = run(&store, &wf);
    let meta = |i: usize| report.tasks[i].receipt().unwrap().receipt.meta.clone();
    assert_eq!(
        meta(0).get("logs"),
        Some(&Ipld::List(vec![Ipld::String(
            "[info] log-and-double: doubling 21".into()
        )]))
    );
    assert_eq!(meta(0).get("nondeterministic"), None);
    assert_eq!(meta(1).get("nondeterministic"), Some(&Ipld::Bool(true)));
    let Outcome::Ok(Ipld::Integer(secs)) = out(&report, 1) else {
        panic!()
    };
    assert!(secs > 1_700_000_000, "{secs} is not a plausible Unix time");
    let again = run(&store, &wf);
    assert!(matches!(again.tasks[0].status, TaskStatus::Reused(_)));
    assert!(
        matches!(again.tasks[1].status, TaskStatus::Ran(_)),
        "a clock reading is never a memo hit"
    );
}

#[test]
fn a_component_wrapping_the_module_runs_the_same() {
    let component = component_of_guests();
    assert!(wasmparser::Parser::is_component(&component));
    let store = MemoryStore::new();
    let module = block_on(add_file(&store, &component)).unwrap();
    let report = run(
        &store,
        &Workflow::new(vec![
            task(module, "add_one", vec![1.into()]),
            task(
                module,
                "echo-variant",
                vec![Ipld::Map(
                    [("rect".to_string(), Ipld::List(vec![3.into(), 4.into()]))].into(),
                )],
            ),
            task(module, "log-and-double", vec![2.into()]),
        ]),
    );
    assert_eq!(out(&report, 0), Outcome::Ok(Ipld::Integer(2)));
    assert_eq!(out(&report, 2), Outcome::Ok(Ipld::Integer(4)));
    assert!(report.succeeded());
}

#[test]
fn a_component_with_two_core_modules_is_unsupported() {
    let two =
        wat::parse_str("(component (core module (memory 1)) (core module (memory 1)))").unwrap();
    let store = MemoryStore::new();
    let module = block_on(add_file(&store, &two)).unwrap();
    let report = run(&store, &Workflow::new(vec![task(module, "f", vec![])]));
    match out(&report, 0) {
        Outcome::Err(Ipld::Map(m)) => {
            let msg = format!("{:?}", m.get("message"));
            assert!(
                msg.contains("unsupported component") && msg.contains("2 core modules"),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn failures_of_the_environment_are_recorded_but_never_reused() {
    let store = MemoryStore::new();
    let module = ipvm_core::address::raw_cid(&guests());
    let later = b"content that arrives later".to_vec();
    let data = ipvm_core::address::raw_cid(&later);
    let wf = Workflow::new(vec![
        task(module, "add-one", vec![1.into()]),
        task(module, "echo-bytes", vec![Ipld::Link(data)]),
    ]);
    // The module is not there yet: module_missing, twice (never reused).
    let first = run(&store, &Workflow::new(vec![wf.tasks[0].clone()]));
    assert_eq!(kinds_of(&first), vec![Some("module_missing".to_string())]);
    let again = run(&store, &Workflow::new(vec![wf.tasks[0].clone()]));
    assert_eq!(again.executed(), 1);
    // The store fails while the module is read: `store`, not `compile`.
    block_on(add_file(&store, &guests())).unwrap();
    let elsewhere = MemoryStore::new();
    block_on(add_file(&elsewhere, &guests())).unwrap();
    let failing = SpyStore {
        fail_reads: true,
        ..SpyStore::new(&elsewhere)
    };
    let exec = WasmExecutor::new(&failing);
    let broken = block_on(Scheduler::new(&exec, &store).run(
        &Workflow::new(vec![wf.tasks[0].clone()]),
        &mut |_| {},
        &CancelToken::new(),
    ))
    .unwrap();
    assert_eq!(kinds_of(&broken), vec![Some("store".to_string())]);
    // The module is there, the data is not: input_missing for the second.
    let report = run(&store, &wf);
    assert_eq!(report.executed(), 2, "neither failure was reused");
    assert_eq!(
        kinds_of(&report),
        vec![None, Some("input_missing".to_string())]
    );
    // Once the data is there, it runs.
    block_on(add_file(&store, &later)).unwrap();
    let report = run(&store, &wf);
    assert_eq!((report.reused(), report.executed()), (1, 1));
    assert_eq!(out(&report, 1), Outcome::Ok(Ipld::Bytes(later)));
}

fn kinds_of(r: &RunReport) -> Vec<Option<String>> {
    r.tasks
        .iter()
        .map(|t| match &t.receipt().unwrap().receipt.out {
            Outcome::Err(e) => error_kind(e).map(str::to_string),
            Outcome::Ok(_) => None,
        })
        .collect()
}

#[test]
fn the_content_of_links_counts_against_the_memory_limit() {
    let (store, module) = setup();
    let big = vec![3u8; 2 << 20];
    let data = block_on(add_file(&store, &big)).unwrap();
    let echo = |memory: u64| Task {
        limits: ipvm_core::Limits {
            memory: Some(memory),
            ..limits()
        },
        ..task(module, "echo-bytes", vec![Ipld::Link(data)])
    };
    let report = run(&store, &Workflow::new(vec![echo(1 << 20), echo(64 << 20)]));
    match out(&report, 0) {
        Outcome::Err(e) => assert_eq!(error_kind(&e), Some("memory_limit"), "{e:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(out(&report, 1), Outcome::Ok(Ipld::Bytes(big)));
}

#[test]
fn describe_gives_each_shape_and_its_signatures() {
    let info = ipvm_exec::wit::describe("guests", &guests()).unwrap();
    assert_eq!(info.shape, "wit-bindgen");
    let sig = |name: &str| {
        info.exports
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("{name} not listed: {:?}", info.exports))
    };
    assert_eq!(sig("rotate90"), "func(png: list<u8>) -> list<u8>");
    assert_eq!(sig("blur"), "func(png: list<u8>, sigma: f32) -> list<u8>");
    assert_eq!(
        sig("binary-search"),
        "func(xs: list<s32>, x: s32) -> result<s32, _>"
    );
    assert!(info
        .imports
        .iter()
        .any(|(n, _)| n.starts_with("wasi:logging/logging.")));

    let component = component_of_guests();
    let wrapped = ipvm_exec::wit::describe("component", &component).unwrap();
    assert_eq!(wrapped.shape, "component");
    assert_eq!(wrapped.exports, info.exports);

    let core = wat::parse_str(
        r#"(module (import "env" "log" (func (param i32)))
                   (func (export "add") (param i32 i64) (result i64) local.get 1)
                   (func (export "pair") (result i32 f64) i32.const 0 f64.const 0)
                   (memory (export "memory") 1))"#,
    )
    .unwrap();
    let plain = ipvm_exec::wit::describe("core", &core).unwrap();
    assert_eq!(plain.shape, "core");
    assert_eq!(
        plain.exports,
        vec![
            ("add".to_string(), "func(i32, i64) -> i64".to_string()),
            ("pair".to_string(), "func() -> (i32, f64)".to_string()),
        ],
        "functions only, with their core types"
    );
    assert_eq!(
        plain.imports,
        vec![("env.log".to_string(), "func(i32)".to_string())]
    );

    let invalid =
        wat::parse_str(r#"(module (func (export "f") (result i32) i64.const 1))"#).unwrap();
    let err = ipvm_exec::wit::describe("mistyped", &invalid).unwrap_err();
    assert!(err.to_string().contains("does not validate"), "{err}");
    // Truncated at every 997th byte, and past the size a module may have: refused, never a panic.
    let whole = guests();
    for end in (0..whole.len()).step_by(997) {
        assert!(
            ipvm_exec::wit::describe("cut", &whole[..end]).is_err(),
            "cut at {end}"
        );
    }
    let huge = vec![0u8; ipvm_exec::MAX_MODULE_BYTES as usize + 1];
    let err = ipvm_exec::wit::describe("huge", &huge).unwrap_err();
    assert!(err.to_string().contains("more than the"), "{err}");
    assert_eq!(
        info.fast_refusal, None,
        "the guest module runs on the fast path"
    );
    let err = ipvm_exec::wit::describe("junk", b"not wasm").unwrap_err();
    assert!(err.to_string().contains("junk"), "{err}");
}
