//! The data model: validation errors that name task, field and reason;
//! encode/decode round trips and CID stability (property tests). Native
//! only: proptest has no wasm32 randomness here (the memo and scheduler
//! suites run in Chromium too).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::BTreeMap;

use ipvm_core::{
    address, dag_cbor_cid, decode_dag_cbor, encode_dag_cbor, CoreError, Ipld, Receipt, Workflow,
};
use proptest::prelude::*;

const MODULE: &str = "bafybeibk42jwhq7w2zcpe6q3wgtleugp3ymfs3pa5gerjmnakqihhqx4zq";

fn task(run_extra: &str, args: &str, meta: &str) -> String {
    format!(
        r#"{{"run":{{"rsc":"ipfs://{MODULE}","op":"wasm/run","input":{{"func":"add_one","args":{args}}},"nnc":""{run_extra}}},"cause":null,"meta":{meta},"prf":[]}}"#
    )
}

fn invalid(json: &str) -> (usize, String, String) {
    match Workflow::from_dag_json(json.as_bytes()) {
        Err(CoreError::Invalid(v)) => (v.task, v.field, v.reason),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn malformed_cids_are_named() {
    let json = format!(
        r#"{{"tasks":[{}]}}"#,
        task("", "[1]", "{}").replace(MODULE, "bafyNOTACID")
    );
    let (t, field, reason) = invalid(&json);
    assert_eq!((t, field.as_str()), (0, "run.rsc"));
    assert!(
        reason.contains("bafyNOTACID") && reason.contains("not a valid CID"),
        "{reason}"
    );
}

#[test]
fn duplicate_instructions_are_rejected() {
    let json = format!(
        r#"{{"tasks":[{},{}]}}"#,
        task("", "[1]", "{}"),
        task("", "[1]", r#"{"fuel":5}"#)
    );
    let (t, field, reason) = invalid(&json);
    assert_eq!((t, field.as_str()), (1, "run"));
    assert!(
        reason.contains("same as task 0") && reason.contains("nnc"),
        "{reason}"
    );
}

#[test]
fn limits_out_of_range_are_rejected() {
    for (meta, field, needle) in [
        (r#"{"fuel":-1}"#, "meta.fuel", "negative"),
        (r#"{"memory":"lots"}"#, "meta.memory", "must be a number"),
        (r#"{"time":1.5}"#, "meta.time", "whole number"),
        (r#"{"cpu":1}"#, "meta.cpu", "unknown field"),
    ] {
        let (t, f, reason) = invalid(&format!(r#"{{"tasks":[{}]}}"#, task("", "[1]", meta)));
        assert_eq!((t, f.as_str()), (0, field), "{meta}");
        assert!(reason.contains(needle), "{meta}: {reason}");
    }
}

#[test]
fn fuel_at_or_above_two_to_the_64_means_no_limit() {
    for fuel in ["18446744073709552000", "18446744073709551615", "1e30"] {
        let wf = Workflow::from_dag_json(
            format!(
                r#"{{"tasks":[{}]}}"#,
                task("", "[1]", &format!(r#"{{"fuel":{fuel}}}"#))
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(wf.tasks[0].limits.fuel, None, "{fuel}");
    }
    let wf = Workflow::from_dag_json(
        format!(r#"{{"tasks":[{}]}}"#, task("", "[1]", r#"{"fuel":1000}"#)).as_bytes(),
    )
    .unwrap();
    assert_eq!(wf.tasks[0].limits.fuel, Some(1000));
}

#[test]
fn a_link_is_required_where_a_link_belongs() {
    let (t, f, reason) = invalid(&format!(
        r#"{{"tasks":[{}]}}"#,
        task("", r#"[{"await/ok":"bafy..."}]"#, "{}")
    ));
    assert_eq!((t, f.as_str()), (0, "run.input.args[0].await/ok"));
    assert!(
        reason.contains("a link") && reason.contains("found a string"),
        "{reason}"
    );

    let json = format!(
        r#"{{"tasks":[{}]}}"#,
        task("", "[1]", "{}").replace(r#""prf":[]"#, r#""prf":["x"]"#)
    );
    let (_, f, _) = invalid(&json);
    assert_eq!(f, "prf[0]");

    let json = format!(
        r#"{{"tasks":[{}]}}"#,
        task("", "[1]", "{}").replace(r#""cause":null"#, r#""cause":7"#)
    );
    let (_, f, _) = invalid(&json);
    assert_eq!(f, "cause");
}

#[test]
fn unknown_awaits_and_nested_await_shapes_are_named() {
    let (_, f, reason) = invalid(&format!(
        r#"{{"tasks":[{}]}}"#,
        task(
            "",
            r#"[[1, {"await/maybe":{"/":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"}}]]"#,
            "{}"
        )
    ));
    assert_eq!(f, "run.input.args[0][1]");
    assert!(reason.contains("unknown await `await/maybe`"), "{reason}");
}

#[test]
fn shape_errors_say_what_was_expected() {
    for (json, needle) in [
        ("[]", "expected a map"),
        (r#"{"tasks":{}}"#, "`tasks` must be a list"),
        (
            r#"{"tasks":[],"extra":1}"#,
            "unknown top-level field `extra`",
        ),
        ("{", "not valid DAG-JSON"),
    ] {
        let err = Workflow::from_dag_json(json.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{json}: {err}");
    }
    let (t, f, _) = invalid(&format!(
        r#"{{"tasks":[{}]}}"#,
        task("", "[1]", "{}").replace(r#""op":"wasm/run""#, r#""op":3"#)
    ));
    assert_eq!((t, f.as_str()), (0, "run.op"));
}

#[test]
fn workflows_round_trip_through_dag_cbor() {
    let json = format!(
        r#"{{"tasks":[{}]}}"#,
        task(
            "",
            r#"[1, "two", {"/": {"bytes": "AAEC"}}]"#,
            r#"{"fuel":10,"time":5}"#
        )
    );
    let wf = Workflow::from_dag_json(json.as_bytes()).unwrap();
    let cbor = encode_dag_cbor(&wf.to_ipld()).unwrap();
    assert_eq!(Workflow::from_dag_cbor(&cbor).unwrap(), wf);
    assert_eq!(
        Workflow::from_dag_json(&wf.to_dag_json().unwrap()).unwrap(),
        wf
    );
}

#[test]
fn receipts_round_trip_and_keep_their_cid() {
    let ran = address::raw_cid(b"x");
    let r = Receipt {
        ran,
        out: ipvm_core::Outcome::Err(Ipld::String("nope".into())),
        meta: BTreeMap::from([("fuel".to_string(), Ipld::Integer(7))]),
        iss: None,
        prf: vec![ran],
        fx: vec![],
    };
    let back = Receipt::from_ipld(&decode_dag_cbor(&r.block().unwrap().1).unwrap()).unwrap();
    assert_eq!(back, r);
    assert_eq!(back.cid().unwrap(), r.cid().unwrap());
}

fn ipld() -> impl Strategy<Value = Ipld> {
    let leaf = prop_oneof![
        Just(Ipld::Null),
        any::<bool>().prop_map(Ipld::Bool),
        any::<i64>().prop_map(|i| Ipld::Integer(i.into())),
        any::<u64>().prop_map(|i| Ipld::Integer(i.into())),
        any::<f64>()
            .prop_filter("DAG-CBOR has no NaN or infinities", |f| f.is_finite())
            .prop_map(Ipld::Float),
        ".*".prop_map(Ipld::String),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Ipld::Bytes),
        prop::collection::vec(any::<u8>(), 0..16).prop_map(|b| Ipld::Link(address::raw_cid(&b))),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Ipld::List),
            prop::collection::btree_map(".*", inner, 0..8).prop_map(Ipld::Map),
        ]
    })
}

proptest! {
    #[test]
    fn dag_cbor_round_trips(v in ipld()) {
        let bytes = encode_dag_cbor(&v).unwrap();
        let back = decode_dag_cbor(&bytes).unwrap();
        prop_assert_eq!(&back, &v);
        // Canonical: re-encoding gives the same bytes, hence the same CID.
        prop_assert_eq!(encode_dag_cbor(&back).unwrap(), bytes);
        prop_assert_eq!(dag_cbor_cid(&back).unwrap(), dag_cbor_cid(&v).unwrap());
    }

    #[test]
    fn instruction_cids_are_stable_and_sensitive(args in prop::collection::vec(ipld(), 0..4), nonce in ".*") {
        let module = address::raw_cid(b"m");
        let a = ipvm_core::Instruction::new(module, "wasm/run", "f", args.clone(), Ipld::String(nonce.clone())).unwrap();
        let b = ipvm_core::Instruction::new(module, "wasm/run", "f", args.clone(), Ipld::String(nonce.clone())).unwrap();
        prop_assert_eq!(a.cid(), b.cid());
        let c = ipvm_core::Instruction::new(module, "wasm/run", "f", args, Ipld::String(format!("{nonce}!"))).unwrap();
        prop_assert_ne!(a.cid(), c.cid());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn unixfs_import_reads_back(data in prop::collection::vec(any::<u8>(), 0..600_000)) {
        let file = ipvm_core::unixfs::import(&data);
        let blocks: std::collections::HashMap<_, _> = file.blocks.into_iter().collect();
        let back = ipvm_core::unixfs::read(&file.root, &mut |c| Ok(blocks[c].clone())).unwrap();
        prop_assert_eq!(back, data);
    }
}

#[test]
fn jobs_and_executions_round_trip_through_dag_json() {
    use ipvm_core::{Execution, Job, Limits};
    let job = Job {
        task: 3,
        instruction: address::raw_cid(b"i"),
        module: address::raw_cid(b"m"),
        op: "wasm/run".into(),
        func: "f".into(),
        args: vec![
            Ipld::Integer(-(1 << 64)),
            Ipld::Bytes(vec![1, 2]),
            Ipld::Link(address::raw_cid(b"x")),
        ],
        limits: Limits {
            fuel: Some(7),
            memory: None,
            time: Some(9),
        },
        receipt: None,
        engine: None,
    };
    let text = address::to_dag_json(&job.to_ipld()).unwrap();
    assert_eq!(
        Job::from_ipld(&ipvm_core::workflow::parse_dag_json(text.as_bytes()).unwrap()).unwrap(),
        job
    );
    let mut ex = Execution::error(Ipld::String("boom".into()), 12);
    ex.limit = Some("fuel".into());
    ex.logs = vec!["a".into()];
    let text = address::to_dag_json(&ex.to_ipld()).unwrap();
    assert_eq!(
        Execution::from_ipld(&ipvm_core::workflow::parse_dag_json(text.as_bytes()).unwrap())
            .unwrap(),
        ex
    );
}

#[test]
fn limits_in_force_are_clamped_to_the_host_maximums_and_the_asked_ones_kept() {
    use ipvm_core::Limits;
    let huge = Limits {
        fuel: Some(u64::MAX - 1),
        memory: Some(4 << 30),
        time: Some(1 << 40),
    };
    assert_eq!(huge.fuel_budget(), Limits::MAX_FUEL);
    assert_eq!(huge.memory_bytes(), Limits::MAX_MEMORY);
    assert_eq!(huge.time_ms(), Limits::MAX_TIME_MS);
    let none = Limits::default();
    assert_eq!(
        (none.fuel_budget(), none.memory_bytes(), none.time_ms()),
        (
            Limits::MAX_FUEL,
            Limits::DEFAULT_MEMORY,
            Limits::DEFAULT_TIME_MS
        )
    );
    let small = Limits {
        fuel: Some(5),
        memory: Some(10),
        time: Some(20),
    };
    assert_eq!(
        (small.fuel_budget(), small.memory_bytes(), small.time_ms()),
        (5, 10, 20)
    );
    // What was asked stays in the invocation (and its CID).
    assert_eq!(Limits::from_ipld(&huge.to_ipld()).unwrap(), huge);
}

#[test]
fn one_nesting_rule_what_dag_json_accepts_dag_cbor_reads_back() {
    use ipvm_core::address::MAX_NESTING;
    use ipvm_core::Workflow;
    let nested = |depth: usize| "[".repeat(depth) + &"]".repeat(depth);
    let module = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
    for depth in [MAX_NESTING - 1, MAX_NESTING, MAX_NESTING + 1, 120] {
        let doc = format!(
            r#"{{"tasks":[{{"run":{{"rsc":"ipfs://{module}","op":"wasm/run","input":{{"func":"f","args":[{}]}},"nnc":""}},"cause":null,"meta":{{}},"prf":[]}}]}}"#,
            nested(depth)
        );
        let from_json = Workflow::from_dag_json(doc.as_bytes());
        assert_eq!(
            from_json.is_ok(),
            depth <= MAX_NESTING,
            "depth {depth}: {from_json:?}"
        );
        let Ok(wf) = from_json else { continue };
        // The same document in DAG-CBOR is accepted too, and the invocation
        // block the runtime stores reads back.
        let cbor = ipvm_core::encode_dag_cbor(&wf.to_ipld()).unwrap();
        assert_eq!(Workflow::from_dag_cbor(&cbor).unwrap(), wf, "depth {depth}");
        let (_, invocation) = wf.tasks[0].invocation().unwrap();
        let back = ipvm_core::decode_dag_cbor(&invocation).unwrap();
        assert_eq!(ipvm_core::encode_dag_cbor(&back).unwrap(), invocation);
    }
}

#[test]
fn both_readers_take_documents_nested_up_to_the_same_depth() {
    use ipvm_core::address::MAX_DOCUMENT_DEPTH;
    let mut v = ipvm_core::Ipld::List(vec![]);
    for depth in 1..=MAX_DOCUMENT_DEPTH + 3 {
        let cbor = ipvm_core::decode_dag_cbor(&ipvm_core::encode_dag_cbor(&v).unwrap()).is_ok();
        let json = ipvm_core::workflow::parse_dag_json(
            ("[".repeat(depth) + &"]".repeat(depth)).as_bytes(),
        )
        .is_ok();
        assert_eq!(
            cbor,
            depth <= MAX_DOCUMENT_DEPTH,
            "DAG-CBOR at depth {depth}"
        );
        assert_eq!(
            json, cbor,
            "DAG-JSON and DAG-CBOR disagree at depth {depth}"
        );
        v = ipvm_core::Ipld::List(vec![v]);
    }
}
