//! UCAN 1.0 conformance: the ucan-wg/spec fixtures (tests/fixtures/ucan,
//! source and licence in its README) decode, verify and validate with the
//! error each expects; the policy fixtures hold or fail as listed.

use std::collections::BTreeMap;

use ipvm_core::ucan::{self, Payload, Token};
use ipvm_core::workflow::parse_dag_json;
use ipvm_core::{Cid, Ed25519Key, Ipld};

fn fixture(name: &str) -> Ipld {
    let path = format!(
        "{}/../../tests/fixtures/ucan/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    parse_dag_json(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn map(v: &Ipld) -> &BTreeMap<String, Ipld> {
    match v {
        Ipld::Map(m) => m,
        other => panic!("not a map: {other:?}"),
    }
}

fn list(v: &Ipld) -> &Vec<Ipld> {
    match v {
        Ipld::List(l) => l,
        other => panic!("not a list: {other:?}"),
    }
}

fn text(v: &Ipld) -> &str {
    match v {
        Ipld::String(s) => s,
        other => panic!("not a string: {other:?}"),
    }
}

fn bytes(v: &Ipld) -> Vec<u8> {
    match v {
        Ipld::Bytes(b) => b.clone(),
        other => panic!("not bytes: {other:?}"),
    }
}

fn base64pad(s: &str) -> Vec<u8> {
    multibase::Base::Base64Pad
        .decode(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn the_delegation_fixture_decodes_verifies_and_has_its_cid() {
    let f = fixture("delegation.json");
    let f = map(&f);
    let principals: BTreeMap<String, String> = map(&f["principals"])
        .iter()
        .map(|(name, key)| {
            let raw = base64pad(text(key));
            // varint(0x1300) ‖ the 32-byte seed.
            assert_eq!(&raw[..2], &[0x80, 0x26]);
            let seed: [u8; 32] = raw[2..].try_into().unwrap();
            (name.clone(), Ed25519Key::from_seed(seed).did().to_string())
        })
        .collect();
    for case in list(&f["valid"]) {
        let case = map(case);
        let token = Token::decode(&base64pad(text(&case["token"]))).unwrap();
        assert_eq!(token.cid.to_string(), text(&case["cid"]));
        token.verify_signature().unwrap();
        let expected = map(&map(&case["envelope"])["payload"]);
        let Payload::Delegation(d) = &token.payload else {
            panic!("a delegation")
        };
        assert_eq!(d.iss.to_string(), text(&expected["iss"]));
        assert_eq!(d.aud.to_string(), text(&expected["aud"]));
        assert_eq!(d.cmd, text(&expected["cmd"]));
        // The principals' seeds give the fixture's DIDs (bob > carol).
        assert_eq!(principals["bob"], d.iss.to_string());
        assert_eq!(principals["carol"], d.aud.to_string());
    }
}

/// Runs one invocation fixture case: its validation result.
fn validate_case(case: &BTreeMap<String, Ipld>) -> Result<(), ucan::UcanError> {
    let inv = Token::decode(&bytes(&case["invocation"]))?;
    let proofs: BTreeMap<Cid, Token> = list(&case["proofs"])
        .iter()
        .map(|p| {
            let t = Token::decode(&bytes(p)).unwrap_or_else(|e| panic!("a proof decodes: {e}"));
            (t.cid, t)
        })
        .collect();
    let now = match &case["time"] {
        Ipld::Integer(t) => *t as i64,
        other => panic!("time {other:?}"),
    };
    ucan::validate(&inv, &|c| proofs.get(c).cloned(), now).map(|_| ())
}

#[test]
fn every_valid_invocation_fixture_validates() {
    let f = fixture("invocation.json");
    let valid = list(&map(&f)["valid"]);
    assert_eq!(valid.len(), 7);
    for case in valid {
        let case = map(case);
        let name = text(&case["name"]);
        validate_case(case).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn every_invalid_invocation_fixture_is_refused_with_its_error() {
    let f = fixture("invocation.json");
    let invalid = list(&map(&f)["invalid"]);
    assert_eq!(invalid.len(), 13);
    for case in invalid {
        let case = map(case);
        let name = text(&case["name"]);
        let expected = text(&map(&case["error"])["name"]);
        match validate_case(case) {
            Ok(()) => panic!("{name}: validated, expected {expected}"),
            Err(e) => assert_eq!(e.kind.name(), expected, "{name}: {e}"),
        }
    }
}

#[test]
fn the_policy_fixtures_hold_and_fail_as_listed() {
    let f = fixture("policy.json");
    let f = map(&f);
    for (group, expect) in [("valid", true), ("invalid", false)] {
        for case in list(&f[group]) {
            let case = map(case);
            let args = &case["args"];
            for policy in list(&case["policies"]) {
                let held = ucan::policy::holds(policy, args).unwrap_or(false);
                assert_eq!(held, expect, "{group}: {policy:?} on {args:?}");
            }
        }
    }
}
