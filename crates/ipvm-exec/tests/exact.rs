//! Exact mode (docs/spec.md §8, "Exact mode"): a task admitted from a UCAN
//! invocation runs the call its delegations' policies judged: the export
//! named exactly, and each argument as the guest receives it. A delegation
//! that forbids `admin_reset` or `args[0] == 1` is not evaded by
//! `adminReset` or `true`, not even through a receipt a workflow left in
//! the memo; workflows keep Homestar's spellings and conversions.

use futures::executor::block_on;
use ipvm_core::store::add_file;
use ipvm_core::ucan::wasm::Authority;
use ipvm_core::ucan::{Token, DELEGATION_TAG, INVOCATION_TAG};
use ipvm_core::workflow::parse_dag_json;
use ipvm_core::{
    CancelToken, Cid, Did, Ed25519Key, Instruction, Ipld, MemoryStore, Outcome, Scheduler, Task,
    Workflow,
};

mod engines;

const NOW: i64 = 1_800_000_000;

/// `admin_reset` (what the delegation forbids), `echo`, and `same_f32`.
const MODULE: &str = r#"(module
  (func (export "admin_reset") (param i32) (result i32)
    (i32.add (local.get 0) (i32.const 1000)))
  (func (export "echo") (param i32) (result i32) (local.get 0))
  (func (export "same_f32") (param f32) (result f32) (local.get 0)))"#;

fn key(n: u8) -> Ed25519Key {
    Ed25519Key::from_seed([n; 32])
}

fn m(pairs: Vec<(&str, Ipld)>) -> Ipld {
    Ipld::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn s(text: &str) -> Ipld {
    Ipld::String(text.into())
}

fn json(text: &str) -> Ipld {
    parse_dag_json(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// A store holding `bytes` (a module), and its CID.
fn store_with(bytes: &[u8]) -> (MemoryStore, Cid) {
    let store = MemoryStore::new();
    let cid = block_on(add_file(&store, bytes)).unwrap();
    (store, cid)
}

fn core_module() -> (MemoryStore, Cid) {
    store_with(&wat::parse_str(MODULE).unwrap())
}

/// The runtime, Alice (whom it grants `/wasm/run` under `pol`), and the grant.
struct Grant {
    runtime: Ed25519Key,
    alice: Ed25519Key,
    token: Token,
}

fn grant(pol: &str) -> Grant {
    let (runtime, alice) = (key(1), key(2));
    let fields = m(vec![
        ("iss", s(runtime.did().as_str())),
        ("aud", s(alice.did().as_str())),
        ("sub", s(runtime.did().as_str())),
        ("cmd", s("/wasm/run")),
        ("pol", json(pol)),
        ("nonce", Ipld::Bytes(vec![1])),
        ("exp", Ipld::Null),
    ]);
    let token = block_on(Token::sign(&runtime, fields, DELEGATION_TAG)).unwrap();
    Grant {
        runtime,
        alice,
        token,
    }
}

/// Alice's invocation of `func(args)` on `module` under `g`, admitted by
/// the runtime (or why not).
fn admit(g: &Grant, module: Cid, func: &str, args: &str) -> Result<Task, String> {
    let sub: &Did = g.runtime.did();
    let call = m(vec![
        ("module", s(&module.to_string())),
        ("func", s(func)),
        ("args", json(args)),
    ]);
    let fields = m(vec![
        ("iss", s(g.alice.did().as_str())),
        ("aud", s(sub.as_str())),
        ("sub", s(sub.as_str())),
        ("cmd", s("/wasm/run")),
        ("args", call),
        ("prf", Ipld::List(vec![Ipld::Link(g.token.cid)])),
        ("nonce", Ipld::Bytes(vec![7])),
        ("exp", Ipld::Integer((NOW + 60).into())),
    ]);
    let inv = block_on(Token::sign(&g.alice, fields, INVOCATION_TAG)).unwrap();
    let proof = g.token.clone();
    Authority::new(sub.clone())
        .admit(
            &inv,
            &move |c| (*c == proof.cid).then(|| proof.clone()),
            NOW,
        )
        .map_err(|e| e.to_string())
}

/// Runs the tasks with `store` on each engine (natively wasmi and wasmtime,
/// whose receipts must be the same); each one's outcome.
fn run(store: &MemoryStore, tasks: Vec<Task>) -> Vec<Outcome> {
    let wf = Workflow::new(tasks);
    let mut reports = engines::ENGINES.iter().map(|engine| {
        let receipts = MemoryStore::new();
        let exec = engines::executor(store, engine);
        let report =
            block_on(Scheduler::new(&exec, &receipts).run(&wf, &mut |_| {}, &CancelToken::new()))
                .unwrap();
        (*engine, report)
    });
    let (_, first) = reports.next().expect("one engine at least");
    let report = reports.fold(first, |reference, (engine, report)| {
        engines::assert_same_receipts(&reference, &report, engine);
        report
    });
    report
        .tasks
        .iter()
        .map(|t| {
            t.receipt()
                .unwrap_or_else(|| panic!("no receipt: {:?}", t.status))
                .receipt
                .out
                .clone()
        })
        .collect()
}

/// The same call as a workflow task (op `wasm/run`, Homestar's rules).
fn workflow_task(module: Cid, func: &str, args: &str) -> Task {
    let Ipld::List(args) = json(args) else {
        panic!("args must be a list")
    };
    Task::new(Instruction::new(module, "wasm/run", func, args, s("")).unwrap())
}

/// The error kind and message of an error outcome.
fn error(out: &Outcome) -> (String, String) {
    let Outcome::Err(Ipld::Map(e)) = out else {
        panic!("expected an error, got {out:?}")
    };
    let text = |k: &str| match e.get(k) {
        Some(Ipld::String(t)) => t.clone(),
        other => panic!("`{k}`: {other:?}"),
    };
    (text("kind"), text("message"))
}

#[test]
fn an_invocation_runs_only_the_export_it_names_exactly() {
    let (store, module) = core_module();
    let g = grant(r#"[["!=", ".func", "admin_reset"]]"#);
    // The policy forbids `admin_reset`; it sees `adminReset` and
    // `admin-reset`, and holds. The executor must not find `admin_reset`
    // under them.
    for alias in ["adminReset", "admin-reset"] {
        let task = admit(&g, module, alias, "[1]").unwrap();
        let out = &run(&store, vec![task])[0];
        let (kind, message) = error(out);
        assert_eq!(kind, "no_such_function", "{alias}: {message}");
        assert!(message.contains(&format!("{alias} only")), "{message}");
    }
    // The name itself is refused by the policy, and an exact name runs.
    assert!(admit(&g, module, "admin_reset", "[1]")
        .unwrap_err()
        .starts_with("MatchError"));
    let task = admit(&g, module, "echo", "[5]").unwrap();
    assert_eq!(run(&store, vec![task]), [Outcome::Ok(Ipld::Integer(5))]);
}

#[test]
fn an_invocation_s_arguments_reach_the_guest_as_the_policy_saw_them() {
    let (store, module) = core_module();
    let g = grant(r#"[["!=", ".args[0]", 1]]"#);
    // `true` is not 1 to the policy, so it must not be 1 to the guest.
    let task = admit(&g, module, "echo", "[true]").unwrap();
    let (kind, message) = error(&run(&store, vec![task])[0]);
    assert_eq!(kind, "argument", "{message}");
    assert!(message.contains("found a boolean"), "{message}");
    assert!(admit(&g, module, "echo", "[1]").is_err());
    // A float an f32 would round, an integer it would round: refused; one
    // it holds exactly runs.
    for (args, why) in [
        ("[0.1]", "is not exactly an f32"),
        ("[16777217]", "is not exactly an f32"),
    ] {
        let task = admit(&g, module, "same_f32", args).unwrap();
        let (kind, message) = error(&run(&store, vec![task])[0]);
        assert_eq!(kind, "argument", "{args}: {message}");
        assert!(message.contains(why), "{args}: {message}");
    }
    let task = admit(&g, module, "same_f32", "[0.5]").unwrap();
    assert_eq!(run(&store, vec![task]), [Outcome::Ok(Ipld::Float(0.5))]);
    let task = admit(&g, module, "same_f32", "[16777216]").unwrap();
    assert_eq!(
        run(&store, vec![task]),
        [Outcome::Ok(Ipld::Float(16_777_216.0))]
    );
}

#[test]
fn workflows_keep_homestar_s_spellings_and_conversions() {
    let (store, module) = core_module();
    let outs = run(
        &store,
        vec![
            workflow_task(module, "adminReset", "[true]"),
            workflow_task(module, "admin-reset", "[1]"),
            workflow_task(module, "same_f32", "[0.1]"),
        ],
    );
    assert_eq!(
        outs,
        [
            Outcome::Ok(Ipld::Integer(1001)),
            Outcome::Ok(Ipld::Integer(1001)),
            Outcome::Ok(Ipld::Float(0.1)),
        ]
    );
}

#[test]
fn a_workflow_s_receipt_never_answers_an_invocation() {
    let (store, module) = core_module();
    // A workflow computed `adminReset(true)` here: `admin_reset(1)`.
    let outs = run(&store, vec![workflow_task(module, "adminReset", "[true]")]);
    assert_eq!(outs, [Outcome::Ok(Ipld::Integer(1001))]);
    // Alice's delegation forbids both; her invocation of the same spelling
    // passes the policy and must get neither the run nor that receipt.
    let g = grant(r#"[["!=", ".func", "admin_reset"], ["!=", ".args[0]", 1]]"#);
    let task = admit(&g, module, "adminReset", "[true]").unwrap();
    let (kind, message) = error(&run(&store, vec![task])[0]);
    assert_eq!(kind, "no_such_function", "{message}");
}

#[test]
fn a_missing_core_export_names_the_exports_and_the_nearest_one() {
    let (store, module) = core_module();
    let outs = run(&store, vec![workflow_task(module, "ecko", "[1]")]);
    let (kind, message) = error(&outs[0]);
    assert_eq!(kind, "no_such_function", "{message}");
    assert!(message.contains("`admin_reset`, `echo`"), "{message}");
    assert!(message.ends_with("(nearest: `echo`)"), "{message}");
}

/// The guest module of the fixtures (WIT: strings, bytes, variants,
/// results, flags, maps), built by `bash scripts/build-guests.sh`.
fn guests() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../www/modules/ipvm_guests.wasm"
    );
    std::fs::read(path).unwrap_or_else(|e| {
        panic!("{path}: {e}; build it with `bash scripts/build-guests.sh` (npm test does)")
    })
}

#[test]
fn wit_arguments_take_one_form_under_an_invocation() {
    let (store, module) = store_with(&guests());
    let g = grant("[]");
    // Each of these runs as a workflow task (Homestar's conversions) and is
    // refused under an invocation, naming why.
    let converted = [
        (
            "echo-string",
            r#"[{"/": {"bytes": "AAEC/w"}}]"#,
            "expected a string, found bytes",
        ),
        ("echo-string", "[null]", "expected a string, found null"),
        (
            "echo-bytes",
            "[[1, 2, 255]]",
            "expected bytes, found a list",
        ),
        ("num-to-kv", r#"[{"ok": 9}]"#, "for a result, found a map"),
        ("echo-variant", r#"["dot"]"#, r#"expected {"dot": payload}"#),
        ("echo-flags", r#"[["exec", "read"]]"#, "out of order"),
        ("echo-flags", r#"[["read", "read"]]"#, "repeated"),
        ("echo-map", r#"[{"a": 1, "b": 2}]"#, "found a map"),
        ("echo-f64", "[9007199254740993]", "is not exactly a float"),
    ];
    for (func, args, why) in converted {
        let lenient = run(&store, vec![workflow_task(module, func, args)]);
        assert!(
            matches!(lenient[0], Outcome::Ok(_)),
            "{func} {args}: {lenient:?}"
        );
        let task = admit(&g, module, func, args).unwrap();
        let (kind, message) = error(&run(&store, vec![task])[0]);
        assert_eq!(kind, "argument", "{func} {args}: {message}");
        assert!(message.contains(why), "{func} {args}: {message}");
        assert!(message.contains("Exact mode"), "{message}");
    }
    // The one form of each runs under an invocation, and gives what the
    // workflow gives.
    let exact = [
        ("echo-string", r#"["AAEC/w"]"#),
        ("echo-bytes", r#"[{"/": {"bytes": "AQL/"}}]"#),
        ("num-to-kv", "[[9, null]]"),
        ("echo-variant", r#"[{"dot": null}]"#),
        ("echo-variant", r#"[{"circle": 1.5}]"#),
        ("echo-flags", r#"[["read", "exec"]]"#),
        ("echo-map", r#"[[["a", 1], ["b", 2]]]"#),
        ("echo-record", r#"[{"x": 1, "y": -2, "label": "p"}]"#),
        ("echo-f64", "[3]"),
        ("echo-result", r#"[[null, 7]]"#),
        ("echo-option", "[null]"),
    ];
    for (func, args) in exact {
        let task = admit(&g, module, func, args).unwrap();
        let got = run(&store, vec![task]);
        assert!(matches!(got[0], Outcome::Ok(_)), "{func} {args}: {got:?}");
        assert_eq!(
            got,
            run(&store, vec![workflow_task(module, func, args)]),
            "{func} {args}"
        );
    }
}
