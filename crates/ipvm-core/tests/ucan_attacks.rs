//! UCAN 1.0 attacks: each forged, stale, misaligned or escalating token is
//! refused with its own reason; valid chains of length 1 to 5 pass. Tokens
//! are minted here with known keys.

// The same file runs natively and in headless Chromium (`npm test`'s
// `core-browser` suite).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use std::collections::BTreeMap;

use futures::executor::block_on;
use ipvm_core::ucan::{self, Token, UcanErrorKind, DELEGATION_TAG, INVOCATION_TAG};
use ipvm_core::{decode_dag_cbor, encode_dag_cbor, Cid, Did, Ed25519Key, Ipld};

const NOW: i64 = 1_800_000_000;

fn key(n: u8) -> Ed25519Key {
    Ed25519Key::from_seed([n; 32])
}

fn module() -> Cid {
    ipvm_core::address::raw_cid(b"a module")
}

fn m(pairs: Vec<(&str, Ipld)>) -> Ipld {
    Ipld::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn s(text: &str) -> Ipld {
    Ipld::String(text.into())
}

fn policy(json: &str) -> Ipld {
    ipvm_core::workflow::parse_dag_json(json.as_bytes()).unwrap()
}

struct Dlg<'a> {
    iss: &'a Ed25519Key,
    aud: &'a Did,
    sub: Option<&'a Did>,
    cmd: &'a str,
    pol: Ipld,
    exp: Option<i64>,
    nbf: Option<i64>,
}

fn delegate(d: Dlg<'_>) -> Token {
    let mut fields = vec![
        ("iss", s(d.iss.did().as_str())),
        ("aud", s(d.aud.as_str())),
        ("sub", d.sub.map_or(Ipld::Null, |x| s(x.as_str()))),
        ("cmd", s(d.cmd)),
        ("pol", d.pol),
        ("nonce", Ipld::Bytes(vec![1, 2, 3])),
        ("exp", d.exp.map_or(Ipld::Null, |e| Ipld::Integer(e.into()))),
    ];
    if let Some(nbf) = d.nbf {
        fields.push(("nbf", Ipld::Integer(nbf.into())));
    }
    block_on(Token::sign(d.iss, m(fields), DELEGATION_TAG)).unwrap()
}

fn grant<'a>(iss: &'a Ed25519Key, aud: &'a Did, sub: &'a Did) -> Dlg<'a> {
    Dlg {
        iss,
        aud,
        sub: Some(sub),
        cmd: "/wasm",
        pol: policy(r#"[["<=", ".fuel", 1000000]]"#),
        exp: Some(NOW + 3600),
        nbf: None,
    }
}

fn args(func: &str, fuel: i64) -> Ipld {
    m(vec![
        ("module", Ipld::Link(module())),
        ("func", s(func)),
        ("args", Ipld::List(vec![Ipld::Integer(1)])),
        ("fuel", Ipld::Integer(fuel.into())),
    ])
}

fn invoke(
    iss: &Ed25519Key,
    sub: &Did,
    cmd: &str,
    args: Ipld,
    prf: &[&Token],
    exp: Option<i64>,
) -> Token {
    let fields = vec![
        ("iss", s(iss.did().as_str())),
        ("sub", s(sub.as_str())),
        ("cmd", s(cmd)),
        ("args", args),
        (
            "prf",
            Ipld::List(prf.iter().map(|t| Ipld::Link(t.cid)).collect()),
        ),
        ("nonce", Ipld::Bytes(vec![9])),
        ("exp", exp.map_or(Ipld::Null, |e| Ipld::Integer(e.into()))),
    ];
    block_on(Token::sign(iss, m(fields), INVOCATION_TAG)).unwrap()
}

fn check(inv: &Token, proofs: &[&Token]) -> Result<(), UcanErrorKind> {
    let by_cid: BTreeMap<Cid, Token> = proofs.iter().map(|t| (t.cid, (*t).clone())).collect();
    ucan::validate(inv, &|c| by_cid.get(c).cloned(), NOW)
        .map(|_| ())
        .map_err(|e| e.kind)
}

/// A chain owner → k1 → … → kn, and the invocation by kn.
fn chain(n: usize) -> (Vec<Token>, Ed25519Key, Did) {
    let owner = key(100);
    let keys: Vec<Ed25519Key> = (0..n as u8).map(|i| key(i + 1)).collect();
    let sub = owner.did().clone();
    let mut tokens = Vec::new();
    let mut issuer = &owner;
    for k in &keys {
        tokens.push(delegate(grant(issuer, k.did(), &sub)));
        issuer = k;
    }
    let last = key(n as u8);
    (tokens, last, sub)
}

#[test]
fn valid_chains_of_one_to_five_delegations_pass() {
    for n in 1..=5 {
        let (tokens, invoker, sub) = chain(n);
        let refs: Vec<&Token> = tokens.iter().collect();
        let inv = invoke(
            &invoker,
            &sub,
            "/wasm/run",
            args("add_one", 1000),
            &refs,
            Some(NOW + 60),
        );
        assert_eq!(check(&inv, &refs), Ok(()), "chain of {n}");
    }
    // The subject invoking on itself needs no proof.
    let owner = key(100);
    let inv = invoke(
        &owner,
        owner.did(),
        "/wasm/run",
        args("add_one", 1),
        &[],
        None,
    );
    assert_eq!(check(&inv, &[]), Ok(()));
}

#[test]
fn forged_and_misdirected_signatures_are_invalid() {
    let (tokens, invoker, sub) = chain(1);
    let inv = invoke(
        &invoker,
        &sub,
        "/wasm/run",
        args("add_one", 1),
        &[&tokens[0]],
        None,
    );
    // A flipped bit in the invocation's signature.
    let mut bytes = inv.bytes.clone();
    bytes[5] ^= 1;
    let flipped = Token::decode(&bytes).unwrap();
    assert_eq!(
        check(&flipped, &[&tokens[0]]),
        Err(UcanErrorKind::InvalidSignature)
    );
    // A valid signature over other bytes (another invocation's) on this payload.
    let other = invoke(
        &invoker,
        &sub,
        "/wasm/run",
        args("add_one", 2),
        &[&tokens[0]],
        None,
    );
    let (Ok(Ipld::List(mine)), Ok(Ipld::List(theirs))) =
        (decode_dag_cbor(&inv.bytes), decode_dag_cbor(&other.bytes))
    else {
        panic!("tokens are lists")
    };
    let swapped = encode_dag_cbor(&Ipld::List(vec![theirs[0].clone(), mine[1].clone()])).unwrap();
    let swapped = Token::decode(&swapped).unwrap();
    assert_eq!(
        check(&swapped, &[&tokens[0]]),
        Err(UcanErrorKind::InvalidSignature)
    );
    // A delegation signed by a key that is not its `iss`.
    let owner = key(100);
    let mallory = key(66);
    let d = grant(&owner, invoker.did(), &sub);
    let honest = delegate(d);
    let Ok(Ipld::List(parts)) = decode_dag_cbor(&honest.bytes) else {
        panic!("a list")
    };
    let payload = encode_dag_cbor(&parts[1]).unwrap();
    let forged = encode_dag_cbor(&Ipld::List(vec![
        Ipld::Bytes(mallory.sign_now(&payload)),
        parts[1].clone(),
    ]))
    .unwrap();
    let forged = Token::decode(&forged).unwrap();
    let inv = invoke(
        &invoker,
        &sub,
        "/wasm/run",
        args("add_one", 1),
        &[&forged],
        None,
    );
    assert_eq!(
        check(&inv, &[&forged]),
        Err(UcanErrorKind::InvalidSignature)
    );
}

#[test]
fn malformed_tokens_are_refused_before_their_signature() {
    let owner = key(100);
    let inv = invoke(
        &owner,
        owner.did(),
        "/wasm/run",
        args("add_one", 1),
        &[],
        None,
    );
    // Truncated.
    for cut in [1, 20, inv.bytes.len() / 2, inv.bytes.len() - 1] {
        assert_eq!(
            Token::decode(&inv.bytes[..cut]).unwrap_err().kind,
            UcanErrorKind::Malformed,
            "cut at {cut}"
        );
    }
    // Non-canonical: the outer list's length in two bytes.
    let mut long = vec![0x98, 0x02];
    long.extend_from_slice(&inv.bytes[1..]);
    assert_eq!(
        Token::decode(&long).unwrap_err().kind,
        UcanErrorKind::NonCanonical
    );
    // A wrong varsig header (the pre-v1 Ed25519 one), honestly signed.
    let Ok(Ipld::List(parts)) = decode_dag_cbor(&inv.bytes) else {
        panic!("a list")
    };
    let Ipld::Map(mut sig_payload) = parts[1].clone() else {
        panic!("a map")
    };
    sig_payload.insert("h".into(), Ipld::Bytes(vec![0x34, 0xed, 0x01, 0x71]));
    let signed = encode_dag_cbor(&Ipld::Map(sig_payload.clone())).unwrap();
    let token = encode_dag_cbor(&Ipld::List(vec![
        Ipld::Bytes(owner.sign_now(&signed)),
        Ipld::Map(sig_payload),
    ]))
    .unwrap();
    assert_eq!(
        Token::decode(&token).unwrap_err().kind,
        UcanErrorKind::UnknownHeader
    );
}

#[test]
fn stale_and_premature_tokens_are_refused() {
    let owner = key(100);
    let bob = key(1);
    let sub = owner.did().clone();
    let expired = delegate(Dlg {
        exp: Some(NOW - 1),
        ..grant(&owner, bob.did(), &sub)
    });
    let inv = invoke(
        &bob,
        &sub,
        "/wasm/run",
        args("add_one", 1),
        &[&expired],
        None,
    );
    assert_eq!(check(&inv, &[&expired]), Err(UcanErrorKind::Expired));
    let early = delegate(Dlg {
        nbf: Some(NOW + 1),
        ..grant(&owner, bob.did(), &sub)
    });
    let inv = invoke(&bob, &sub, "/wasm/run", args("add_one", 1), &[&early], None);
    assert_eq!(check(&inv, &[&early]), Err(UcanErrorKind::TooEarly));
    let fine = delegate(grant(&owner, bob.did(), &sub));
    let stale = invoke(
        &bob,
        &sub,
        "/wasm/run",
        args("add_one", 1),
        &[&fine],
        Some(NOW - 1),
    );
    assert_eq!(check(&stale, &[&fine]), Err(UcanErrorKind::Expired));
    // `now == exp` is still valid.
    let edge = invoke(
        &bob,
        &sub,
        "/wasm/run",
        args("add_one", 1),
        &[&fine],
        Some(NOW),
    );
    assert_eq!(check(&edge, &[&fine]), Ok(()));
}

#[test]
fn broken_and_misaligned_chains_are_refused() {
    let owner = key(100);
    let (bob, carol, dave) = (key(1), key(2), key(3));
    let sub = owner.did().clone();
    let to_bob = delegate(grant(&owner, bob.did(), &sub));
    let to_carol = delegate(grant(&bob, carol.did(), &sub));
    // Wrong audience: Dave invokes with Carol's grant.
    let inv = invoke(
        &dave,
        &sub,
        "/wasm/run",
        args("add_one", 1),
        &[&to_bob, &to_carol],
        None,
    );
    assert_eq!(
        check(&inv, &[&to_bob, &to_carol]),
        Err(UcanErrorKind::InvalidAudience)
    );
    // A link missing in the middle: Bob's grant to Carol given as Dave's.
    let dave_from_carol = delegate(grant(&carol, dave.did(), &sub));
    let inv = invoke(
        &dave,
        &sub,
        "/wasm/run",
        args("add_one", 1),
        &[&to_bob, &dave_from_carol],
        None,
    );
    assert_eq!(
        check(&inv, &[&to_bob, &dave_from_carol]),
        Err(UcanErrorKind::InvalidAudience)
    );
    // A proof named but not available.
    let inv = invoke(
        &carol,
        &sub,
        "/wasm/run",
        args("add_one", 1),
        &[&to_bob, &to_carol],
        None,
    );
    assert_eq!(
        check(&inv, &[&to_bob]),
        Err(UcanErrorKind::UnavailableProof)
    );
    // Subject mismatch: a grant about someone else.
    let elsewhere = key(50);
    let other_sub = delegate(grant(&owner, bob.did(), elsewhere.did()));
    let inv = invoke(
        &bob,
        &sub,
        "/wasm/run",
        args("add_one", 1),
        &[&other_sub],
        None,
    );
    assert_eq!(
        check(&inv, &[&other_sub]),
        Err(UcanErrorKind::InvalidSubject)
    );
    // A root not issued by the subject.
    let self_made = delegate(grant(&bob, carol.did(), &sub));
    let inv = invoke(
        &carol,
        &sub,
        "/wasm/run",
        args("add_one", 1),
        &[&self_made],
        None,
    );
    assert_eq!(check(&inv, &[&self_made]), Err(UcanErrorKind::InvalidClaim));
    // No proof, and not the subject.
    let inv = invoke(&bob, &sub, "/wasm/run", args("add_one", 1), &[], None);
    assert_eq!(check(&inv, &[]), Err(UcanErrorKind::InvalidClaim));
}

#[test]
fn escalated_commands_and_policy_violations_are_refused() {
    let owner = key(100);
    let bob = key(1);
    let sub = owner.did().clone();
    let run_only = delegate(Dlg {
        cmd: "/wasm/run",
        ..grant(&owner, bob.did(), &sub)
    });
    // `/wasm/run` does not cover `/wasm`, nor `/wasmx`.
    for cmd in ["/wasm", "/wasmx/run", "/"] {
        let inv = invoke(&bob, &sub, cmd, args("add_one", 1), &[&run_only], None);
        assert_eq!(
            check(&inv, &[&run_only]),
            Err(UcanErrorKind::InvalidCommand),
            "{cmd}"
        );
    }
    // A policy on the module, the function and the fuel.
    let pinned = delegate(Dlg {
        pol: Ipld::List(vec![
            Ipld::List(vec![s("=="), s(".module"), Ipld::Link(module())]),
            policy(r#"["==", ".func", "add_one"]"#),
            policy(r#"["<=", ".fuel", 1000]"#),
        ]),
        ..grant(&owner, bob.did(), &sub)
    });
    let ok = invoke(
        &bob,
        &sub,
        "/wasm/run",
        args("add_one", 1000),
        &[&pinned],
        None,
    );
    assert_eq!(check(&ok, &[&pinned]), Ok(()));
    let other_module = m(vec![
        (
            "module",
            Ipld::Link(ipvm_core::address::raw_cid(b"another")),
        ),
        ("func", s("add_one")),
        ("args", Ipld::List(vec![])),
        ("fuel", Ipld::Integer(1)),
    ]);
    for (what, a) in [
        ("module", other_module),
        ("function", args("transpose", 1)),
        ("fuel above the policy", args("add_one", 1001)),
    ] {
        let inv = invoke(&bob, &sub, "/wasm/run", a, &[&pinned], None);
        assert_eq!(
            check(&inv, &[&pinned]),
            Err(UcanErrorKind::MatchError),
            "{what}"
        );
    }
    // Fuel not given at all: the policy cannot be satisfied by omission.
    let no_fuel = m(vec![
        ("module", Ipld::Link(module())),
        ("func", s("add_one")),
        ("args", Ipld::List(vec![])),
    ]);
    let inv = invoke(&bob, &sub, "/wasm/run", no_fuel, &[&pinned], None);
    assert_eq!(check(&inv, &[&pinned]), Err(UcanErrorKind::MatchError));
}

#[test]
fn a_token_nested_past_the_decoder_s_depth_is_malformed_not_a_crash() {
    // [signature, [[[[ … 100 000 levels … ]]]]]: the payload (or a policy
    // inside it) nested far past any document depth this runtime reads.
    let mut bytes = vec![0x82, 0x58, 0x40];
    bytes.extend([0u8; 64]);
    bytes.extend(std::iter::repeat_n(0x81, 100_000));
    bytes.push(0x00);
    assert_eq!(
        Token::decode(&bytes).unwrap_err().kind,
        UcanErrorKind::Malformed
    );
}
