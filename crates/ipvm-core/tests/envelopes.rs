//! Receipt envelopes: each way an envelope can be wrong is refused with its
//! own reason, and a receipt is believed only with a valid envelope from a
//! trusted signer.

// The same file runs natively and in headless Chromium (`npm test`'s
// `core-browser` suite).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use std::collections::BTreeMap;

use futures::executor::block_on;
use ipvm_core::envelope::{check_receipt, VARSIG_ED25519_DAG_CBOR};
use ipvm_core::{
    decode_dag_cbor, encode_dag_cbor, Cid, Did, Ed25519Key, Envelope, Execution, Instruction, Ipld,
    Receipt, Refusal,
};

fn key(n: u8) -> Ed25519Key {
    Ed25519Key::from_seed([n; 32])
}

/// A receipt of `add_one(n)` and its bytes.
fn receipt(n: i64) -> (Cid, Vec<u8>) {
    let module = ipvm_core::address::raw_cid(b"module");
    let ins = Instruction::new(module, "wasm/run", "add_one", vec![n.into()], Ipld::Null).unwrap();
    let task = ipvm_core::Task::new(ins);
    let (ran, _) = task.invocation().unwrap();
    let r = Receipt::of_execution(
        ran,
        &Execution::ok(Ipld::Integer((n + 1).into()), 7),
        vec![],
    );
    r.block().unwrap()
}

fn sign(k: &Ed25519Key, receipt: &Cid) -> Vec<u8> {
    block_on(Envelope::sign(k, receipt)).unwrap().bytes
}

fn parts(envelope: &[u8]) -> (Vec<u8>, BTreeMap<String, Ipld>) {
    match decode_dag_cbor(envelope).unwrap() {
        Ipld::List(p) => match (&p[0], &p[1]) {
            (Ipld::Bytes(s), Ipld::Map(m)) => (s.clone(), m.clone()),
            _ => panic!("shape"),
        },
        _ => panic!("shape"),
    }
}

fn build(signature: Vec<u8>, payload: BTreeMap<String, Ipld>) -> Vec<u8> {
    encode_dag_cbor(&Ipld::List(vec![
        Ipld::Bytes(signature),
        Ipld::Map(payload),
    ]))
    .unwrap()
}

fn attestation(payload: &mut BTreeMap<String, Ipld>) -> &mut BTreeMap<String, Ipld> {
    match payload.get_mut("ipvm/attest@1") {
        Some(Ipld::Map(m)) => m,
        _ => panic!("no attestation"),
    }
}

#[test]
fn a_signed_receipt_verifies_and_names_its_signer() {
    let (cid, bytes) = receipt(1);
    let a = key(1);
    let env = sign(&a, &cid);
    let checked = Envelope::check_for(&env, &cid).unwrap();
    assert_eq!(checked.signer, *a.did());
    assert_eq!(checked.receipt, cid);
    // The header is the UCAN 1.0 one.
    let (_, payload) = parts(&env);
    assert_eq!(
        payload.get("h"),
        Some(&Ipld::Bytes(VARSIG_ED25519_DAG_CBOR.to_vec()))
    );
    let trusted = |d: &Did| d == a.did();
    let verdict = check_receipt(&bytes, std::slice::from_ref(&env), &trusted).verdict;
    assert_eq!(verdict, Ok(a.did().clone()));
    // Valid, but nobody trusts a.
    let verdict = check_receipt(&bytes, &[env], &|_| false).verdict;
    assert_eq!(verdict.unwrap_err().code(), "untrusted");
    assert_eq!(
        check_receipt(&bytes, &[], &|_| true).verdict,
        Err(Refusal::Unsigned)
    );
}

#[test]
fn a_valid_signature_moved_to_another_receipt_is_refused() {
    let (one, _) = receipt(1);
    let (two, two_bytes) = receipt(2);
    let a = key(1);
    let env = sign(&a, &one);
    // As it is: it attests receipt one, not two.
    assert!(matches!(
        Envelope::check_for(&env, &two),
        Err(Refusal::CidMismatch { attested, receipt }) if *attested == one && *receipt == two
    ));
    let check = check_receipt(&two_bytes, std::slice::from_ref(&env), &|_| true);
    assert_eq!(check.verdict.unwrap_err().code(), "cid_mismatch");
    // Re-targeted: `rct` rewritten to two, the signature kept.
    let (sig, mut payload) = parts(&env);
    attestation(&mut payload).insert("rct".into(), Ipld::Link(two));
    let moved = build(sig, payload);
    assert_eq!(
        Envelope::check_for(&moved, &two),
        Err(Refusal::BadSignature(a.did().clone()))
    );
}

#[test]
fn a_signature_by_a_key_that_is_not_the_named_did_is_refused() {
    let (cid, _) = receipt(1);
    let (a, b) = (key(1), key(2));
    // b signs a payload that names a.
    let (_, payload) = parts(&sign(&a, &cid));
    let message = encode_dag_cbor(&Ipld::Map(payload.clone())).unwrap();
    let forged = build(b.sign_now(&message), payload);
    assert_eq!(
        Envelope::check_for(&forged, &cid),
        Err(Refusal::BadSignature(a.did().clone()))
    );
    // A flipped bit and a short signature.
    let (mut sig, payload) = parts(&sign(&a, &cid));
    sig[10] ^= 1;
    assert_eq!(
        Envelope::check(&build(sig.clone(), payload.clone()))
            .unwrap_err()
            .code(),
        "bad_signature"
    );
    assert_eq!(
        Envelope::check(&build(sig[..3].to_vec(), payload))
            .unwrap_err()
            .code(),
        "bad_signature"
    );
}

#[test]
fn a_wrong_varsig_header_is_refused_as_unknown() {
    let (cid, _) = receipt(1);
    let a = key(1);
    for header in [
        vec![0x34, 0xed, 0x01, 0x71], // pre-v1 Ed25519 header
        vec![0x34, 0x01, 0xed, 0x01, 0xec, 0x01, 0x13, 0x71], // old curve code
        vec![0x34, 0x01, 0xed, 0x01, 0xed, 0x01, 0x13, 0x55], // over raw bytes
    ] {
        let (_, mut payload) = parts(&sign(&a, &cid));
        payload.insert("h".into(), Ipld::Bytes(header.clone()));
        // Signed honestly over the altered payload: only the header is wrong.
        let message = encode_dag_cbor(&Ipld::Map(payload.clone())).unwrap();
        let env = build(a.sign_now(&message), payload);
        assert_eq!(Envelope::check(&env), Err(Refusal::UnknownHeader(header)));
    }
}

#[test]
fn another_key_type_is_refused_as_unknown() {
    let (cid, _) = receipt(1);
    let a = key(1);
    let mut secp = vec![0xe7, 0x01];
    secp.extend([2u8; 33]);
    let did = format!("did:key:{}", multibase_z(&secp));
    for signer in [did.as_str(), "did:web:example.com"] {
        let (sig, mut payload) = parts(&sign(&a, &cid));
        attestation(&mut payload).insert("iss".into(), Ipld::String(signer.into()));
        assert_eq!(
            Envelope::check(&build(sig, payload)).unwrap_err().code(),
            "unknown_key_type",
            "{signer}"
        );
    }
}

#[test]
fn truncated_and_non_canonical_envelopes_are_refused() {
    let (cid, bytes) = receipt(1);
    let a = key(1);
    let env = sign(&a, &cid);
    for cut in [1, 10, env.len() / 2, env.len() - 1] {
        assert_eq!(
            Envelope::check(&env[..cut]).unwrap_err().code(),
            "malformed",
            "cut at {cut}"
        );
    }
    // The same envelope with the payload's two keys in the wrong order:
    // the same data, not canonical.
    let (sig, payload) = parts(&env);
    let mut swapped = vec![0x82];
    swapped.extend(encode_dag_cbor(&Ipld::Bytes(sig)).unwrap());
    swapped.extend(unsorted_map(&payload));
    assert_eq!(
        Envelope::check(&swapped),
        Err(Refusal::NonCanonical("envelope"))
    );
    // A receipt in a non-canonical form is refused before its envelopes.
    let Ipld::Map(fields) = decode_dag_cbor(&bytes).unwrap() else {
        panic!("a receipt is a map")
    };
    let check = check_receipt(&unsorted_map(&fields), &[env], &|_| true);
    assert_eq!(check.verdict, Err(Refusal::NonCanonical("receipt")));
    // Not even a list.
    assert_eq!(
        Envelope::check(&encode_dag_cbor(&Ipld::Integer(1)).unwrap())
            .unwrap_err()
            .code(),
        "malformed"
    );
}

#[test]
fn many_signers_may_attest_one_receipt_and_one_trusted_is_enough() {
    let (cid, bytes) = receipt(3);
    let (a, b, c) = (key(1), key(2), key(3));
    let envs = vec![sign(&a, &cid), sign(&b, &cid), sign(&c, &cid)];
    let check = check_receipt(&bytes, &envs, &|d| d == b.did());
    assert_eq!(check.verdict, Ok(b.did().clone()));
    assert_eq!(check.receipt, Some(cid));
    assert!(check.envelopes.iter().all(Result::is_ok));
}

/// A map's DAG-CBOR with its keys in reverse canonical order.
fn unsorted_map(map: &BTreeMap<String, Ipld>) -> Vec<u8> {
    assert!(map.len() < 24);
    let mut entries: Vec<_> = map.iter().collect();
    // Canonical order is by length, then bytes: reverse it.
    entries.sort_by(|a, b| (b.0.len(), b.0).cmp(&(a.0.len(), a.0)));
    let mut out = vec![0xa0 | map.len() as u8];
    for (k, v) in entries {
        out.extend(encode_dag_cbor(&Ipld::String(k.clone())).unwrap());
        out.extend(encode_dag_cbor(v).unwrap());
    }
    out
}

fn multibase_z(bytes: &[u8]) -> String {
    multibase::encode(multibase::Base::Base58Btc, bytes)
}
