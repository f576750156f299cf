//! The bounds of UCAN admission (docs/spec.md §5c, "Bounds"): `like` is
//! linear on the pattern that was quadratic, numbers compare by exact
//! value, and each size bound (token, arguments, chain, policy statements,
//! nesting, pattern, evaluation steps) accepts at its limit and refuses one
//! past it with `TooLarge`, naming the token, the field and the limit.
//!
//! Past 600 lines: a test per bound, and the seeded fuzzing campaign with
//! its reference matcher.

// The same file runs natively and in headless Chromium (`npm test`'s
// `core-browser` suite), except the seeded fuzzing at its end.
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use std::collections::BTreeMap;

use futures::executor::block_on;
use ipvm_core::envelope::VARSIG_ED25519_DAG_CBOR;
use ipvm_core::ucan::limits::{
    MAX_ARGS_BYTES, MAX_LIKE_PATTERN_BYTES, MAX_POLICY_DEPTH, MAX_POLICY_STATEMENTS,
    MAX_POLICY_STEPS, MAX_PROOFS, MAX_TOKEN_BYTES,
};
use ipvm_core::ucan::policy::{self, holds, holds_within, like_steps, Budget, PolicyError};
use ipvm_core::ucan::{self, Token, UcanErrorKind, DELEGATION_TAG, INVOCATION_TAG};
use ipvm_core::{encode_dag_cbor, Cid, Did, Ed25519Key, Ipld, Signer};

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

fn int(i: i128) -> Ipld {
    Ipld::Integer(i)
}

fn json(text: &str) -> Ipld {
    ipvm_core::workflow::parse_dag_json(text.as_bytes()).unwrap()
}

/// A signed token's bytes, whatever its size (`Token::sign` decodes what it
/// signs, so it cannot make a token past the bounds).
fn envelope(signer: &Ed25519Key, tag: &str, payload: Ipld) -> Vec<u8> {
    let sig_payload = m(vec![
        ("h", Ipld::Bytes(VARSIG_ED25519_DAG_CBOR.to_vec())),
        (tag, payload),
    ]);
    let signed = encode_dag_cbor(&sig_payload).unwrap();
    let signature = block_on(signer.sign(&signed)).unwrap();
    encode_dag_cbor(&Ipld::List(vec![Ipld::Bytes(signature), sig_payload])).unwrap()
}

fn delegation_payload(
    iss: &Ed25519Key,
    aud: &Did,
    sub: &Did,
    pol: Ipld,
    meta: Option<Ipld>,
) -> Ipld {
    let mut fields = vec![
        ("iss", s(iss.did().as_str())),
        ("aud", s(aud.as_str())),
        ("sub", s(sub.as_str())),
        ("cmd", s("/wasm/run")),
        ("pol", pol),
        ("nonce", Ipld::Bytes(vec![1])),
        ("exp", Ipld::Null),
    ];
    if let Some(meta) = meta {
        fields.push(("meta", meta));
    }
    m(fields)
}

fn invocation_payload(iss: &Ed25519Key, sub: &Did, args: Ipld, prf: Vec<Cid>) -> Ipld {
    m(vec![
        ("iss", s(iss.did().as_str())),
        ("sub", s(sub.as_str())),
        ("cmd", s("/wasm/run")),
        ("args", args),
        ("prf", Ipld::List(prf.into_iter().map(Ipld::Link).collect())),
        ("nonce", Ipld::Bytes(vec![9])),
        ("exp", Ipld::Null),
    ])
}

fn refusal(bytes: &[u8]) -> ucan::UcanError {
    Token::decode(bytes).expect_err("refused")
}

/// The `like` that took 19 s: `*a…ab` against `a…a`, 40,000 characters.
/// The old matcher retried the run after the star at each of the text's
/// positions: k·(n − k + 1) comparisons, 4·10^8 for a run of k = n/2.
#[test]
fn like_is_linear_on_the_pattern_that_was_quadratic() {
    let n = 40_000;
    let text = "a".repeat(n);
    let run = |k: usize| "a".repeat(k);
    let cases = [
        (format!("*{}b", run(n / 2)), false),
        (format!("*{}b", run(n / 4)), false),
        (format!("*{}b*", run(n / 2)), false),
        (format!("*{}b", run(n - 1)), false),
        (format!("*{}", run(n - 1)), true),
        (format!("{}*", run(n)), true),
        (format!("*{}*", run(n / 2)), true),
        // Many stars, each run found once, leftmost.
        ("*a".repeat(n / 2) + "*b", false),
        ("*a".repeat(n / 2) + "*", true),
    ];
    for (pattern, want) in cases {
        let (got, steps) = like_steps(&pattern, &text);
        assert_eq!(got, want, "{}…", &pattern[..8]);
        // At most 2·(text + pattern) comparisons.
        let bound = 2 * (text.len() + pattern.len()) as u64;
        assert!(steps <= bound, "{steps} comparisons, bound {bound}");
    }
    // And through a policy, which is where the attacker's delegation puts it.
    let args = m(vec![("s", s(&text))]);
    let pol = Ipld::List(vec![Ipld::List(vec![
        s("like"),
        s(".s"),
        s(&format!("*{}b", run(n / 2))),
    ])]);
    let mut budget = Budget::new(MAX_POLICY_STEPS);
    assert_eq!(holds_within(&pol, &args, &mut budget), Ok(false));
    assert!(
        budget.spent() < 4 * (n + n / 2) as u64,
        "{}",
        budget.spent()
    );
}

#[test]
fn like_keeps_its_meaning() {
    let cases = [
        ("Alice\\*, Bob*, Carol.", "Alice*, Bob, Carol.", true),
        (
            "Alice\\*, Bob*, Carol.",
            "Alice*, Bob, Dan, Erin, Carol.",
            true,
        ),
        ("Alice\\*, Bob*, Carol.", "Alice*, Bob, Carol", false),
        ("*@example.com", "alice@example.com", true),
        ("*@example.com", "carol@elsewhere.example.comx", false),
        ("*", "", true),
        ("", "", true),
        ("", "a", false),
        ("a*a", "a", false),
        ("a*a", "aa", true),
        ("**", "xyz", true),
        ("\\", "\\", true),
        ("\\a", "\\a", true),
        ("\\\\*", "\\\\anything", true),
        ("\\*", "*", true),
        ("\\*", "x", false),
        ("*ab*ab*", "abab", true),
        ("*ab*ab*", "aba", false),
        ("ü*ß", "üxyzß", true),
    ];
    for (pattern, text, want) in cases {
        assert_eq!(like_steps(pattern, text).0, want, "{pattern:?} ~ {text:?}");
    }
}

/// `<= 2^53` admitted `2^53 + 1` (both went through f64).
#[test]
fn integers_compare_exactly_and_a_bool_is_never_a_number() {
    let two53 = 1i128 << 53;
    let max = (1i128 << 64) - 1;
    let min = -(1i128 << 64);
    let check = |op: &str, n: Ipld, bound: Ipld| {
        let pol = Ipld::List(vec![Ipld::List(vec![s(op), s(".n"), bound])]);
        holds(&pol, &m(vec![("n", n)])).unwrap()
    };
    assert!(!check("<=", int(two53 + 1), int(two53)));
    assert!(check(">", int(two53 + 1), int(two53)));
    assert!(!check("==", int(two53 + 1), int(two53)));
    assert!(check("!=", int(two53 + 1), int(two53)));
    assert!(check(">", int(max), int(max - 1)));
    assert!(check("<", int(min), int(min + 1)));
    assert!(check("==", int(max), int(max)));
    // An integer and a float by exact value.
    assert!(check(">", int(two53 + 1), Ipld::Float(two53 as f64)));
    assert!(!check("==", int(two53 + 1), Ipld::Float(two53 as f64)));
    assert!(check("<", Ipld::Float(two53 as f64), int(two53 + 1)));
    assert!(check("==", int(two53), Ipld::Float(two53 as f64)));
    assert!(check("==", int(3), Ipld::Float(3.0)));
    assert!(check("<", int(3), Ipld::Float(3.5)));
    assert!(check(">", int(-3), Ipld::Float(-3.5)));
    assert!(check(">", int(max), Ipld::Float(1.8e19)) == (max as f64 > 1.8e19));
    assert!(check("<", int(max), Ipld::Float(1e300)));
    assert!(check(">", int(min), Ipld::Float(-1e300)));
    // 2^64 as a float is one more than the largest integer.
    assert!(check(
        "<",
        int(max),
        Ipld::Float(18_446_744_073_709_551_616.0)
    ));
    // A bool is not a number, for any operator.
    for (op, bound) in [("==", 1), ("<=", 1), (">=", 1), ("<", 2), (">", 0)] {
        assert!(
            !check(op, Ipld::Bool(true), int(bound)),
            "true {op} {bound}"
        );
    }
    assert!(check("!=", Ipld::Bool(true), int(1)));
    assert!(!check("==", Ipld::Bool(false), int(0)));
    assert!(!check("==", int(1), Ipld::Bool(true)));
    // Inside lists too.
    let pol = json(r#"[["==", ".n", [1, 2]]]"#);
    assert_eq!(
        holds(
            &pol,
            &m(vec![("n", Ipld::List(vec![Ipld::Bool(true), int(2)]))])
        ),
        Ok(false)
    );
}

/// A token of `target` bytes: a delegation padded through `meta`.
fn delegation_of_size(target: usize) -> Vec<u8> {
    let (owner, alice) = (key(1), key(2));
    let make = |pad: usize| {
        let meta = m(vec![("pad", Ipld::Bytes(vec![0; pad]))]);
        let p = delegation_payload(
            &owner,
            alice.did(),
            owner.did(),
            Ipld::List(vec![]),
            Some(meta),
        );
        envelope(&owner, DELEGATION_TAG, p)
    };
    let probe = 100_000;
    let bytes = make(probe + target - make(probe).len());
    assert_eq!(bytes.len(), target);
    bytes
}

#[test]
fn a_token_is_at_most_max_token_bytes_checked_before_decoding() {
    let at = Token::decode(&delegation_of_size(MAX_TOKEN_BYTES)).unwrap();
    at.verify_signature().unwrap();
    let e = refusal(&delegation_of_size(MAX_TOKEN_BYTES + 1));
    assert_eq!(e.kind, UcanErrorKind::TooLarge, "{e}");
    assert!(
        e.detail.contains(&format!("{} bytes", MAX_TOKEN_BYTES + 1)),
        "{e}"
    );
    assert!(e.detail.contains("MAX_TOKEN_BYTES"), "{e}");
    // Not even decoded: garbage past the bound is refused for its size.
    let e = refusal(&vec![0xff; MAX_TOKEN_BYTES + 1]);
    assert_eq!(e.kind, UcanErrorKind::TooLarge, "{e}");
}

#[test]
fn an_invocation_s_args_are_at_most_max_args_bytes() {
    let (owner, alice) = (key(1), key(2));
    let make = |pad: usize| {
        let args = m(vec![
            (
                "module",
                s("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"),
            ),
            ("func", s("f")),
            ("args", Ipld::List(vec![Ipld::Bytes(vec![7; pad])])),
        ]);
        let size = encode_dag_cbor(&args).unwrap().len();
        (
            envelope(
                &alice,
                INVOCATION_TAG,
                invocation_payload(&alice, owner.did(), args, vec![]),
            ),
            size,
        )
    };
    let probe = 100_000;
    let (_, probe_size) = make(probe);
    let (at, size) = make(probe + MAX_ARGS_BYTES - probe_size);
    assert_eq!(size, MAX_ARGS_BYTES);
    Token::decode(&at).unwrap();
    let (past, size) = make(probe + MAX_ARGS_BYTES + 1 - probe_size);
    assert_eq!(size, MAX_ARGS_BYTES + 1);
    let e = refusal(&past);
    assert_eq!(e.kind, UcanErrorKind::TooLarge, "{e}");
    let cid = ipvm_core::address::cid_of(
        ipvm_core::address::DAG_CBOR,
        ipvm_core::address::SHA2_256,
        &past,
    );
    assert!(
        e.detail.contains(&format!("invocation {cid}: `args`")),
        "{e}"
    );
    assert!(e.detail.contains(&MAX_ARGS_BYTES.to_string()), "{e}");
}

/// A chain owner → k1 → … → kn, all granting `/wasm/run`, and the
/// invocation by kn with the proofs root first.
fn chain(n: usize) -> (Token, Vec<Token>) {
    let owner = key(100);
    let keys: Vec<Ed25519Key> = (0..n as u8).map(|i| key(i + 1)).collect();
    let mut proofs = Vec::new();
    let mut issuer = &owner;
    for k in &keys {
        let p = delegation_payload(issuer, k.did(), owner.did(), Ipld::List(vec![]), None);
        proofs.push(Token::decode(&envelope(issuer, DELEGATION_TAG, p)).unwrap());
        issuer = k;
    }
    let args = m(vec![("func", s("f"))]);
    let prf = proofs.iter().map(|t| t.cid).collect();
    let bytes = envelope(
        issuer,
        INVOCATION_TAG,
        invocation_payload(issuer, owner.did(), args, prf),
    );
    (Token::decode(&bytes).unwrap(), proofs)
}

#[test]
fn a_chain_is_at_most_max_proofs_long() {
    let (inv, proofs) = chain(MAX_PROOFS);
    let by_cid: BTreeMap<Cid, Token> = proofs.into_iter().map(|t| (t.cid, t)).collect();
    ucan::validate(&inv, &|c| by_cid.get(c).cloned(), NOW).unwrap();
    // One more: refused when decoded, before any proof is looked up.
    let alice = key(2);
    let prf: Vec<Cid> = (0..=MAX_PROOFS)
        .map(|i| ipvm_core::address::raw_cid(&[i as u8]))
        .collect();
    let bytes = envelope(
        &alice,
        INVOCATION_TAG,
        invocation_payload(&alice, alice.did(), m(vec![]), prf),
    );
    let e = refusal(&bytes);
    assert_eq!(e.kind, UcanErrorKind::TooLarge, "{e}");
    assert!(
        e.detail
            .contains(&format!("`prf` names {} proofs", MAX_PROOFS + 1)),
        "{e}"
    );
    assert!(e.detail.contains("MAX_PROOFS"), "{e}");
}

fn delegation_with(pol: Ipld) -> Result<Token, ucan::UcanError> {
    let (owner, alice) = (key(1), key(2));
    let p = delegation_payload(&owner, alice.did(), owner.did(), pol, None);
    Token::decode(&envelope(&owner, DELEGATION_TAG, p))
}

fn stmt(parts: Vec<Ipld>) -> Ipld {
    Ipld::List(parts)
}

#[test]
fn a_policy_is_bounded_in_statements_nesting_and_patterns() {
    let leaf = || stmt(vec![s("=="), s(".a"), int(1)]);
    // `and` counts as one, each statement inside it as one more.
    let statements = |n: usize| {
        Ipld::List(vec![stmt(vec![
            s("and"),
            Ipld::List((1..n).map(|_| leaf()).collect()),
        ])])
    };
    delegation_with(statements(MAX_POLICY_STATEMENTS)).unwrap();
    let e = delegation_with(statements(MAX_POLICY_STATEMENTS + 1)).unwrap_err();
    assert_eq!(e.kind, UcanErrorKind::TooLarge, "{e}");
    assert!(e.detail.contains("`pol` has statements: 1025"), "{e}");
    assert!(e.detail.contains("MAX_POLICY_STATEMENTS"), "{e}");

    let nested = |depth: usize| {
        let mut st = leaf();
        for _ in 1..depth {
            st = stmt(vec![s("not"), st]);
        }
        Ipld::List(vec![st])
    };
    delegation_with(nested(MAX_POLICY_DEPTH)).unwrap();
    let e = delegation_with(nested(MAX_POLICY_DEPTH + 1)).unwrap_err();
    assert_eq!(e.kind, UcanErrorKind::TooLarge, "{e}");
    assert!(e.detail.contains("MAX_POLICY_DEPTH"), "{e}");
    // Through `any` and `or` too.
    let mut st = leaf();
    for i in 1..=MAX_POLICY_DEPTH {
        st = match i % 2 {
            0 => stmt(vec![s("any"), s(".xs"), st]),
            _ => stmt(vec![s("or"), Ipld::List(vec![st])]),
        };
    }
    let e = delegation_with(Ipld::List(vec![st])).unwrap_err();
    assert_eq!(e.kind, UcanErrorKind::TooLarge, "{e}");

    let like = |len: usize| Ipld::List(vec![stmt(vec![s("like"), s(".a"), s(&"*".repeat(len))])]);
    delegation_with(like(MAX_LIKE_PATTERN_BYTES)).unwrap();
    let e = delegation_with(like(MAX_LIKE_PATTERN_BYTES + 1)).unwrap_err();
    assert_eq!(e.kind, UcanErrorKind::TooLarge, "{e}");
    assert!(e.detail.contains("MAX_LIKE_PATTERN_BYTES"), "{e}");
    assert!(e.detail.starts_with("delegation baf"), "{e}");
}

#[test]
fn evaluation_stops_at_its_budget_and_the_chain_is_refused() {
    // Statements each small, on an argument as large as the bounds allow:
    // together they would take more than MAX_POLICY_STEPS.
    let text = "a".repeat(400_000);
    let args = m(vec![("s", s(&text))]);
    let pol = |n: usize| {
        Ipld::List(
            (0..n)
                .map(|_| stmt(vec![s("like"), s(".s"), s("*a*")]))
                .collect(),
        )
    };
    // Exactly the steps it takes is enough; one fewer is not.
    let mut all = Budget::new(u64::MAX);
    assert_eq!(holds_within(&pol(3), &args, &mut all), Ok(true));
    let spent = all.spent();
    assert!(spent > 3 * 400_000, "{spent}");
    assert_eq!(
        holds_within(&pol(3), &args, &mut Budget::new(spent)),
        Ok(true)
    );
    assert_eq!(
        holds_within(&pol(3), &args, &mut Budget::new(spent - 1)),
        Err(PolicyError::TooCostly { limit: spent - 1 })
    );

    // Admission: the whole chain shares the budget.
    let (owner, alice) = (key(1), key(2));
    let p = delegation_payload(&owner, alice.did(), owner.did(), pol(40), None);
    let grant = Token::decode(&envelope(&owner, DELEGATION_TAG, p)).unwrap();
    let call = m(vec![("func", s("f")), ("s", s(&text))]);
    let bytes = envelope(
        &alice,
        INVOCATION_TAG,
        invocation_payload(&alice, owner.did(), call, vec![grant.cid]),
    );
    let inv = Token::decode(&bytes).unwrap();
    let e = ucan::validate(&inv, &|c| (*c == grant.cid).then(|| grant.clone()), NOW).unwrap_err();
    assert_eq!(e.kind, UcanErrorKind::TooLarge, "{e}");
    assert!(
        e.detail
            .contains(&format!("delegation {}: `pol`", grant.cid)),
        "{e}"
    );
    assert!(e.detail.contains("MAX_POLICY_STEPS"), "{e}");
}

#[test]
fn the_policy_shape_counts_what_admission_bounds() {
    let shape = policy::shape(&json(
        r#"[["and", [["==", ".a", 1], ["not", ["like", ".b", "*xyz"]]]], ["any", ".c", ["or", []]]]"#,
    ));
    assert_eq!(shape.statements, 6);
    assert_eq!(shape.depth, 3);
    assert_eq!(shape.pattern, 4);
}

/// Seeded fuzzing of the evaluator within the admission bounds: random
/// globs against a reference matcher, random policies on random arguments.
/// `cargo test -p ipvm-core --test ucan_bounds` runs a short round;
/// `IPVM_POLICY_FUZZ_SECS=600 cargo test --release -p ipvm-core --test
/// ucan_bounds -- --ignored` is the campaign.
#[cfg(not(target_arch = "wasm32"))]
mod fuzz {
    use super::*;
    use std::time::{Duration, Instant};

    /// xorshift64*: a seeded generator, the same on every machine.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
            &xs[self.below(xs.len())]
        }
    }

    /// The reference: a whole-string glob by dynamic programming over the
    /// pattern's tokens (`None` a star), quadratic and obviously right.
    fn reference(pattern: &str, text: &str) -> bool {
        let mut tokens = Vec::new();
        let mut cs = pattern.chars();
        while let Some(c) = cs.next() {
            match c {
                '\\' => match cs.next() {
                    Some('*') => tokens.push(Some('*')),
                    Some(o) => tokens.extend([Some('\\'), Some(o)]),
                    None => tokens.push(Some('\\')),
                },
                '*' => tokens.push(None),
                c => tokens.push(Some(c)),
            }
        }
        let t: Vec<char> = text.chars().collect();
        // ok[j]: tokens[..i] match t[..j].
        let mut ok = vec![false; t.len() + 1];
        ok[0] = true;
        for tok in &tokens {
            let mut next = vec![false; t.len() + 1];
            for j in 0..=t.len() {
                next[j] = match tok {
                    None => ok[j] || (j > 0 && next[j - 1]),
                    Some(c) => j > 0 && ok[j - 1] && t[j - 1] == *c,
                };
            }
            ok = next;
        }
        ok[t.len()]
    }

    fn random_text(r: &mut Rng, alphabet: &[char], max: usize) -> String {
        let n = r.below(max + 1);
        (0..n).map(|_| *r.pick(alphabet)).collect()
    }

    /// One round of globs: returns the cases run.
    fn globs(r: &mut Rng, cases: usize) -> usize {
        let alphabet = ['a', 'b', '*', '\\', 'é'];
        for _ in 0..cases {
            let max = *r.pick(&[4, 12, 40, 200]);
            let pattern = random_text(r, &alphabet, max);
            // Texts from the pattern's own letters match more often.
            let text = match r.below(2) {
                0 => random_text(r, &['a', 'b'], max * 2),
                _ => pattern.replace('*', &random_text(r, &['a', 'b', '*'], 3)),
            };
            let (got, steps) = like_steps(&pattern, &text);
            assert_eq!(got, reference(&pattern, &text), "{pattern:?} ~ {text:?}");
            let bound = 2 * (pattern.chars().count() + text.chars().count()) as u64;
            assert!(steps <= bound, "{pattern:?} ~ {text:?}: {steps} > {bound}");
        }
        cases
    }

    fn random_value(r: &mut Rng, depth: usize) -> Ipld {
        match r.below(if depth == 0 { 6 } else { 9 }) {
            0 => Ipld::Null,
            1 => Ipld::Bool(r.below(2) == 0),
            2 => int(*r.pick(&[
                0,
                1,
                -1,
                2,
                1 << 53,
                (1 << 53) + 1,
                (1 << 64) - 1,
                -(1 << 64),
            ])),
            3 => Ipld::Float(*r.pick(&[0.0, 1.0, 0.5, -2.5, 9_007_199_254_740_992.0])),
            // Now and then a long string, as large as the arguments allow
            // a few of.
            4 if r.below(50) == 0 => s(&random_text(r, &['a', 'b'], 100_000)),
            4 => s(&random_text(r, &['a', 'b', '*'], 8)),
            5 => Ipld::Bytes((0..r.below(4)).map(|i| i as u8).collect()),
            6 | 7 => {
                let n = if r.below(20) == 0 {
                    r.below(2_000)
                } else {
                    r.below(5)
                };
                Ipld::List((0..n).map(|_| random_value(r, depth - 1)).collect())
            }
            _ => Ipld::Map(
                (0..r.below(4))
                    .map(|_| {
                        (
                            r.pick(&["a", "b", "c"]).to_string(),
                            random_value(r, depth - 1),
                        )
                    })
                    .collect(),
            ),
        }
    }

    fn random_selector(r: &mut Rng) -> String {
        let mut out = String::from(".");
        for _ in 0..r.below(4) {
            let step = match r.below(5) {
                0 => r.pick(&["a", "b", "c"]).to_string(),
                1 => format!("[{}]", r.pick(&[0, 1, -1, 5])),
                2 => format!("[{}:]", r.pick(&[0, 1, -2])),
                3 => format!("[\"{}\"]", r.pick(&["a", "b"])),
                _ => "c".to_string(),
            };
            if out != "." && !step.starts_with('[') {
                out.push('.');
            }
            out.push_str(&step);
            if r.below(4) == 0 {
                out.push('?');
            }
        }
        out
    }

    fn random_statement(r: &mut Rng, depth: usize, budget: &mut usize) -> Ipld {
        *budget = budget.saturating_sub(1);
        let leaf = depth >= MAX_POLICY_DEPTH || *budget == 0 || r.below(3) == 0;
        if leaf {
            let op = *r.pick(&["==", "!=", "<", "<=", ">", ">=", "like"]);
            let value = match op {
                "like" => s(&random_text(r, &['a', 'b', '*', '\\'], 8)),
                _ => random_value(r, 2),
            };
            return stmt(vec![s(op), s(&random_selector(r)), value]);
        }
        match r.below(4) {
            0 => stmt(vec![s("not"), random_statement(r, depth + 1, budget)]),
            1 => {
                let op = *r.pick(&["and", "or"]);
                let n = r.below(4);
                stmt(vec![
                    s(op),
                    Ipld::List(
                        (0..n)
                            .map(|_| random_statement(r, depth + 1, budget))
                            .collect(),
                    ),
                ])
            }
            _ => {
                let op = *r.pick(&["all", "any"]);
                stmt(vec![
                    s(op),
                    s(&random_selector(r)),
                    random_statement(r, depth + 1, budget),
                ])
            }
        }
    }

    /// Random policies within the bounds on random arguments: evaluation
    /// ends (true, false or an error) within the step budget, and a
    /// statement and its negation never both hold.
    fn policies(r: &mut Rng, cases: usize) -> (usize, u64, Duration, usize) {
        let (mut max_steps, mut slowest, mut costly) = (0u64, Duration::ZERO, 0);
        for _ in 0..cases {
            let mut left = *r.pick(&[8, 64, MAX_POLICY_STATEMENTS - 1]);
            let st = random_statement(r, 1, &mut left);
            let pol = Ipld::List(vec![st.clone()]);
            let shape = policy::shape(&pol);
            assert!(shape.statements <= MAX_POLICY_STATEMENTS && shape.depth <= MAX_POLICY_DEPTH);
            let args = random_value(r, 4);
            let started = Instant::now();
            let mut budget = Budget::new(MAX_POLICY_STEPS);
            let held = holds_within(&pol, &args, &mut budget);
            slowest = slowest.max(started.elapsed());
            max_steps = max_steps.max(budget.spent());
            costly += usize::from(matches!(held, Err(PolicyError::TooCostly { .. })));
            let negated = holds(&Ipld::List(vec![stmt(vec![s("not"), st])]), &args);
            if let (Ok(true), Ok(true)) = (&held, &negated) {
                panic!("a statement and its negation both hold: {pol:?} on {args:?}");
            }
        }
        (cases, max_steps, slowest, costly)
    }

    #[test]
    fn a_short_round() {
        let mut r = Rng(0x1d5e_ed00_0000_0001);
        globs(&mut r, 3_000);
        policies(&mut r, 100);
    }

    #[test]
    #[ignore = "the campaign: IPVM_POLICY_FUZZ_SECS (default 300) seconds"]
    fn campaign() {
        let secs: u64 = std::env::var("IPVM_POLICY_FUZZ_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(300);
        let seed: u64 = std::env::var("IPVM_POLICY_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5eed);
        let mut r = Rng(seed | 1);
        let started = Instant::now();
        let (mut g, mut p, mut max_steps, mut slowest, mut costly) = (0, 0, 0, Duration::ZERO, 0);
        while started.elapsed() < Duration::from_secs(secs) {
            g += globs(&mut r, 1_000);
            let (n, steps, slow, over) = policies(&mut r, 200);
            p += n;
            costly += over;
            max_steps = max_steps.max(steps);
            slowest = slowest.max(slow);
        }
        println!(
            "policy fuzz: seed {seed:#x}, {secs} s: {g} globs checked against the reference, \
             {p} policies evaluated ({costly} stopped at the budget); most steps {max_steps} \
             (budget {MAX_POLICY_STEPS}), slowest evaluation {slowest:?}"
        );
    }
}
