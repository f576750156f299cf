//! IPVM tasks as UCAN invocations: `/wasm/run` with limits in the args, run
//! only if this runtime admits them (its audience, an accepted subject, a
//! valid chain, no replay); a refused one runs nothing and leaves a receipt
//! that never answers the memo.

// The same file runs natively and in headless Chromium (`npm test`'s
// `core-browser` suite).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod common;

use common::*;
use futures::executor::block_on;
use ipvm_core::run::admission::refuse;
use ipvm_core::ucan::wasm::{task_of, Authority};
use ipvm_core::ucan::{Payload, Token, UcanErrorKind, DELEGATION_TAG, INVOCATION_TAG};
use ipvm_core::{
    memo, BlockStore, CancelToken, Cid, Did, Ed25519Key, Ipld, MemoryStore, Outcome, Quarantine,
    ReceiptClass, Scheduler, Workflow,
};

const NOW: i64 = 1_800_000_000;

fn key(n: u8) -> Ed25519Key {
    Ed25519Key::from_seed([n; 32])
}

fn m(pairs: Vec<(&str, Ipld)>) -> Ipld {
    Ipld::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn s(text: &str) -> Ipld {
    Ipld::String(text.into())
}

fn delegation(iss: &Ed25519Key, aud: &Did, sub: &Did, pol: &str) -> Token {
    let fields = m(vec![
        ("iss", s(iss.did().as_str())),
        ("aud", s(aud.as_str())),
        ("sub", s(sub.as_str())),
        ("cmd", s("/wasm/run")),
        (
            "pol",
            ipvm_core::workflow::parse_dag_json(pol.as_bytes()).unwrap(),
        ),
        ("nonce", Ipld::Bytes(vec![1])),
        ("exp", Ipld::Null),
    ]);
    block_on(Token::sign(iss, fields, DELEGATION_TAG)).unwrap()
}

fn invocation(
    iss: &Ed25519Key,
    aud: &Did,
    sub: &Did,
    fuel: Option<i64>,
    prf: &[&Token],
    exp: Option<i64>,
) -> Token {
    let mut args = vec![
        ("module", s(&module().to_string())),
        ("func", s("inc")),
        ("args", Ipld::List(vec![Ipld::Integer(1)])),
    ];
    if let Some(f) = fuel {
        args.push(("fuel", Ipld::Integer(f.into())));
    }
    let fields = m(vec![
        ("iss", s(iss.did().as_str())),
        ("aud", s(aud.as_str())),
        ("sub", s(sub.as_str())),
        ("cmd", s("/wasm/run")),
        ("args", m(args)),
        (
            "prf",
            Ipld::List(prf.iter().map(|t| Ipld::Link(t.cid)).collect()),
        ),
        ("nonce", Ipld::Bytes(vec![])),
        ("exp", exp.map_or(Ipld::Null, |e| Ipld::Integer(e.into()))),
    ]);
    block_on(Token::sign(iss, fields, INVOCATION_TAG)).unwrap()
}

fn lookup(proofs: &[&Token]) -> impl Fn(&Cid) -> Option<Token> {
    let proofs: Vec<Token> = proofs.iter().map(|t| (*t).clone()).collect();
    move |c| proofs.iter().find(|t| t.cid == *c).cloned()
}

#[test]
fn an_admitted_invocation_runs_with_the_limits_its_args_give() {
    let runtime = key(1);
    let alice = key(2);
    let grant = delegation(
        &runtime,
        alice.did(),
        runtime.did(),
        r#"[["<=", ".fuel", 100]]"#,
    );
    let inv = invocation(
        &alice,
        runtime.did(),
        runtime.did(),
        Some(50),
        &[&grant],
        Some(NOW + 60),
    );
    let authority = Authority::new(runtime.did().clone());
    let task = authority.admit(&inv, &lookup(&[&grant]), NOW).unwrap();
    assert_eq!(task.limits.fuel, Some(50));
    assert_eq!(task.prf, vec![grant.cid]);
    assert_eq!(task.run.func, "inc");
    let store = MemoryStore::new();
    block_on(store.put_block(module(), b"test module".to_vec())).unwrap();
    let exec = TestExecutor::default();
    let report = block_on(Scheduler::new(&exec, &store).run(
        &Workflow::new(vec![task]),
        &mut |_| {},
        &CancelToken::new(),
    ))
    .unwrap();
    let rec = report.tasks[0].receipt().unwrap();
    assert_eq!(rec.receipt.out, Outcome::Ok(Ipld::Integer(2)));
    // The proofs are carried into the receipt.
    assert_eq!(rec.receipt.prf, vec![grant.cid]);
}

#[test]
fn only_this_runtime_s_invocations_under_an_accepted_authority_are_admitted() {
    let runtime = key(1);
    let alice = key(2);
    let elsewhere = key(3);
    let boss = key(4);
    let authority = Authority::new(runtime.did().clone()).with_authorities([boss.did().clone()]);
    // Addressed to another runtime.
    let grant = delegation(&runtime, alice.did(), runtime.did(), "[]");
    let inv = invocation(
        &alice,
        elsewhere.did(),
        runtime.did(),
        None,
        &[&grant],
        Some(NOW + 60),
    );
    let e = authority.admit(&inv, &lookup(&[&grant]), NOW).unwrap_err();
    assert_eq!(e.kind, UcanErrorKind::InvalidAudience, "{e}");
    // Under a subject this runtime does not accept.
    let strangers = delegation(&elsewhere, alice.did(), elsewhere.did(), "[]");
    let inv = invocation(
        &alice,
        runtime.did(),
        elsewhere.did(),
        None,
        &[&strangers],
        Some(NOW + 60),
    );
    let e = authority
        .admit(&inv, &lookup(&[&strangers]), NOW)
        .unwrap_err();
    assert_eq!(e.kind, UcanErrorKind::InvalidSubject, "{e}");
    // Under an accepted authority: admitted.
    let bosses = delegation(&boss, alice.did(), boss.did(), "[]");
    let inv = invocation(
        &alice,
        runtime.did(),
        boss.did(),
        None,
        &[&bosses],
        Some(NOW + 60),
    );
    authority.admit(&inv, &lookup(&[&bosses]), NOW).unwrap();
    // A policy that does not hold: fuel above the grant's bound, or missing.
    let bounded = delegation(
        &runtime,
        alice.did(),
        runtime.did(),
        r#"[["<=", ".fuel", 100]]"#,
    );
    for fuel in [Some(101), None] {
        let inv = invocation(
            &alice,
            runtime.did(),
            runtime.did(),
            fuel,
            &[&bounded],
            Some(NOW + 60),
        );
        let e = authority
            .admit(&inv, &lookup(&[&bounded]), NOW)
            .unwrap_err();
        assert_eq!(e.kind, UcanErrorKind::MatchError, "fuel {fuel:?}: {e}");
    }
}

#[test]
fn an_invocation_from_another_is_accepted_once_and_must_expire() {
    let runtime = key(1);
    let alice = key(2);
    let authority = Authority::new(runtime.did().clone());
    let grant = delegation(&runtime, alice.did(), runtime.did(), "[]");
    let inv = invocation(
        &alice,
        runtime.did(),
        runtime.did(),
        None,
        &[&grant],
        Some(NOW + 60),
    );
    authority.admit(&inv, &lookup(&[&grant]), NOW).unwrap();
    let e = authority
        .admit(&inv, &lookup(&[&grant]), NOW + 1)
        .unwrap_err();
    assert_eq!(e.kind, UcanErrorKind::Replay, "{e}");
    // Without `exp` the seen-set could not forget it: refused.
    let forever = invocation(&alice, runtime.did(), runtime.did(), None, &[&grant], None);
    let e = authority
        .admit(&forever, &lookup(&[&grant]), NOW)
        .unwrap_err();
    assert_eq!(e.kind, UcanErrorKind::InvalidClaim, "{e}");
    // The runtime's own invocations are not replays (a resumed run).
    let own = invocation(&runtime, runtime.did(), runtime.did(), None, &[], None);
    authority.admit(&own, &lookup(&[]), NOW).unwrap();
    authority.admit(&own, &lookup(&[]), NOW).unwrap();
}

#[test]
fn a_refused_invocation_runs_nothing_and_never_answers_the_memo() {
    let runtime = key(1);
    let mallory = key(9);
    let authority = Authority::new(runtime.did().clone());
    // Mallory invokes with no proof on the runtime's authority.
    let inv = invocation(
        &mallory,
        runtime.did(),
        runtime.did(),
        None,
        &[],
        Some(NOW + 60),
    );
    let e = authority.admit(&inv, &lookup(&[]), NOW).unwrap_err();
    assert_eq!(e.kind, UcanErrorKind::InvalidClaim, "{e}");
    let Payload::Invocation(payload) = &inv.payload else {
        panic!("an invocation")
    };
    let task = task_of(payload).unwrap();
    let store = MemoryStore::new();
    block_on(store.put_block(module(), b"test module".to_vec())).unwrap();
    let refused = block_on(refuse(&store, Some(&runtime), &task, &e)).unwrap();
    assert_eq!(refused.receipt.class(), Some(ReceiptClass::Authority));
    assert!(!refused.receipt.is_reusable());
    let Outcome::Err(Ipld::Map(err)) = &refused.receipt.out else {
        panic!("an error receipt")
    };
    assert_eq!(err.get("kind"), Some(&s("unauthorized")));
    // An authorised run of the same task is not answered by it: it runs.
    assert!(block_on(memo::lookup(
        &store,
        &Quarantine::new(),
        None,
        &task.run.cid()
    ))
    .unwrap()
    .value
    .is_none());
    let exec = TestExecutor::default();
    let report = block_on(Scheduler::new(&exec, &store).run(
        &Workflow::new(vec![task]),
        &mut |_| {},
        &CancelToken::new(),
    ))
    .unwrap();
    assert_eq!(exec.count(), 1);
    assert_eq!(
        report.tasks[0].receipt().unwrap().receipt.out,
        Outcome::Ok(Ipld::Integer(2))
    );
}

#[test]
fn malformed_task_arguments_are_named() {
    let runtime = key(1);
    let bad = |args: Ipld| {
        let fields = m(vec![
            ("iss", s(runtime.did().as_str())),
            ("sub", s(runtime.did().as_str())),
            ("cmd", s("/wasm/run")),
            ("args", args),
            ("prf", Ipld::List(vec![])),
            ("nonce", Ipld::Bytes(vec![])),
            ("exp", Ipld::Null),
        ]);
        let t = block_on(Token::sign(&runtime, fields, INVOCATION_TAG)).unwrap();
        let Payload::Invocation(inv) = t.payload else {
            panic!("an invocation")
        };
        task_of(&inv).unwrap_err().detail
    };
    assert!(bad(m(vec![("func", s("inc"))])).contains("args.module"));
    assert!(bad(m(vec![("module", s("nope")), ("func", s("inc"))])).contains("args.module"));
    assert!(bad(m(vec![("module", Ipld::Link(module()))])).contains("args.func"));
    assert!(bad(m(vec![
        ("module", Ipld::Link(module())),
        ("func", s("inc")),
        ("fuel", Ipld::Integer(-1))
    ]))
    .contains("args.fuel"));
    assert!(bad(m(vec![
        ("module", Ipld::Link(module())),
        ("func", s("inc")),
        ("gas", Ipld::Integer(1))
    ]))
    .contains("args.gas: unknown"));
}

#[test]
fn a_policy_sees_the_module_as_the_task_reads_it_and_args_carry_no_awaits() {
    let runtime = key(1);
    let alice = key(2);
    let authority = Authority::new(runtime.did().clone());
    // A grant that denies one module, by its canonical string.
    let denied = module().to_string();
    let grant = delegation(
        &runtime,
        alice.did(),
        runtime.did(),
        &format!(r#"[["!=", ".module", "{denied}"]]"#),
    );
    let with_module = |m: Ipld, call: Vec<Ipld>| {
        let fields = self::m(vec![
            ("iss", s(alice.did().as_str())),
            ("aud", s(runtime.did().as_str())),
            ("sub", s(runtime.did().as_str())),
            ("cmd", s("/wasm/run")),
            (
                "args",
                self::m(vec![
                    ("module", m),
                    ("func", s("inc")),
                    ("args", Ipld::List(call)),
                ]),
            ),
            ("prf", Ipld::List(vec![Ipld::Link(grant.cid)])),
            ("nonce", Ipld::Bytes(vec![7])),
            ("exp", Ipld::Integer((NOW + 60).into())),
        ]);
        block_on(Token::sign(&alice, fields, INVOCATION_TAG)).unwrap()
    };
    // Another spelling of the denied module is still the denied module.
    for spelling in [
        Ipld::Link(module()),
        s(&format!("ipfs://{denied}")),
        s(&module()
            .to_string_of_base(multibase::Base::Base58Btc)
            .unwrap()),
    ] {
        let inv = with_module(spelling.clone(), vec![Ipld::Integer(1)]);
        let e = authority.admit(&inv, &lookup(&[&grant]), NOW).unwrap_err();
        assert_eq!(e.kind, UcanErrorKind::MatchError, "{spelling:?}: {e}");
    }
    // An await in the arguments is refused (it would be filled from this
    // runtime's receipts after the policy saw only the await).
    let other = ipvm_core::address::raw_cid(b"allowed module");
    let awaited = Ipld::Map(
        [(
            "await/ok".to_string(),
            Ipld::Link(instr("inc", vec![Ipld::Integer(9)]).cid()),
        )]
        .into(),
    );
    let inv = with_module(Ipld::Link(other), vec![awaited]);
    let e = authority.admit(&inv, &lookup(&[&grant]), NOW).unwrap_err();
    assert_eq!(e.kind, UcanErrorKind::Malformed, "{e}");
    assert!(e.detail.contains("awaits"), "{e}");
}
