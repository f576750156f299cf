//! The binding "this DID speaks as this peer id": a good one is accepted
//! for its own peer only, until it expires; a forged, altered, oversized or
//! malformed one is refused with its reason.

// The same file runs natively and in headless Chromium.
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use std::collections::BTreeMap;

use futures::executor::block_on;
use ipvm_core::peer_binding::{DOMAIN, MAX_BINDING_BYTES};
use ipvm_core::{decode_dag_cbor, encode_dag_cbor, BindingError, Ed25519Key, Ipld, PeerBinding};

const PEER: &str = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";
const OTHER: &str = "12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK";

fn key(n: u8) -> Ed25519Key {
    Ed25519Key::from_seed([n; 32])
}

fn fields(binding: &PeerBinding) -> BTreeMap<String, Ipld> {
    match decode_dag_cbor(&binding.to_dag_cbor().unwrap()).unwrap() {
        Ipld::Map(m) => m,
        other => panic!("not a map: {other:?}"),
    }
}

fn encode(map: BTreeMap<String, Ipld>) -> Vec<u8> {
    encode_dag_cbor(&Ipld::Map(map)).unwrap()
}

#[test]
fn a_binding_speaks_for_its_did_on_its_peer_until_it_expires() {
    let k = key(1);
    let b = block_on(PeerBinding::sign(&k, PEER, 2_000)).unwrap();
    let read = PeerBinding::from_dag_cbor(&b.to_dag_cbor().unwrap()).unwrap();
    assert_eq!(read, b);
    assert_eq!(read.check(PEER, 1_999).unwrap(), k.did());
    assert_eq!(
        read.check(OTHER, 1_000).unwrap_err(),
        BindingError::WrongPeer {
            claimed: PEER.into(),
            connected: OTHER.into()
        }
    );
    assert_eq!(
        read.check(PEER, 2_000).unwrap_err(),
        BindingError::Expired {
            exp: 2_000,
            now: 2_000
        }
    );
}

#[test]
fn a_forged_or_altered_binding_is_refused() {
    let k = key(1);
    let b = block_on(PeerBinding::sign(&k, PEER, 2_000)).unwrap();
    // Another key's DID with this signature.
    let mut m = fields(&b);
    m.insert("did".into(), Ipld::String(key(2).did().to_string()));
    let forged = PeerBinding::from_dag_cbor(&encode(m)).unwrap();
    assert!(matches!(
        forged.check(PEER, 1),
        Err(BindingError::BadSignature { .. })
    ));
    // A later expiry under the old signature.
    let mut m = fields(&b);
    m.insert("exp".into(), Ipld::Integer(9_000));
    let extended = PeerBinding::from_dag_cbor(&encode(m)).unwrap();
    assert!(matches!(
        extended.check(PEER, 1),
        Err(BindingError::BadSignature { .. })
    ));
    // Another peer with the old signature, checked on that peer's connection.
    let mut m = fields(&b);
    m.insert("peer".into(), Ipld::String(OTHER.into()));
    let moved = PeerBinding::from_dag_cbor(&encode(m)).unwrap();
    assert!(matches!(
        moved.check(OTHER, 1),
        Err(BindingError::BadSignature { .. })
    ));
    // A signature of the bare payload (without the domain) is not a binding's.
    let mut payload = fields(&b);
    payload.remove("sig");
    let mut m = fields(&b);
    m.insert("sig".into(), Ipld::Bytes(k.sign_now(&encode(payload))));
    let undomained = PeerBinding::from_dag_cbor(&encode(m)).unwrap();
    assert!(matches!(
        undomained.check(PEER, 1),
        Err(BindingError::BadSignature { .. })
    ));
    assert!(DOMAIN.starts_with(b"ipvm/peer-binding/"));
}

#[test]
fn malformed_and_oversized_bindings_are_refused() {
    let b = block_on(PeerBinding::sign(&key(1), PEER, 2_000)).unwrap();
    let malformed = |bytes: &[u8]| {
        assert!(
            matches!(
                PeerBinding::from_dag_cbor(bytes),
                Err(BindingError::Malformed(_))
            ),
            "accepted {bytes:?}"
        )
    };
    malformed(b"");
    malformed(&[0xff, 0x00]);
    malformed(&encode_dag_cbor(&Ipld::List(vec![])).unwrap());
    for field in ["did", "peer", "exp", "sig"] {
        let mut m = fields(&b);
        m.remove(field);
        malformed(&encode(m));
    }
    let mut m = fields(&b);
    m.insert("extra".into(), Ipld::Null);
    malformed(&encode(m));
    let mut m = fields(&b);
    m.insert("exp".into(), Ipld::Integer(-1));
    malformed(&encode(m));
    let mut m = fields(&b);
    m.insert("sig".into(), Ipld::Bytes(vec![0; 63]));
    malformed(&encode(m));
    let mut m = fields(&b);
    m.insert("did".into(), Ipld::String("did:web:example.com".into()));
    malformed(&encode(m));
    let mut m = fields(&b);
    m.insert("peer".into(), Ipld::String("x".repeat(600)));
    malformed(&encode(m));
    // Oversized: refused before it is decoded.
    malformed(&vec![0u8; MAX_BINDING_BYTES + 1]);
    // Nested too deep, in a field, within the size limit: 300 one-item
    // arrays around a null (the decoder's bound is 128 levels).
    let mut deep = vec![0xa4u8]; // a map of 4
    deep.extend([0x63, b'd', b'i', b'd']);
    deep.extend(std::iter::repeat_n(0x81u8, 300));
    deep.push(0xf6);
    malformed(&deep);
    // Signing refuses an empty or oversized peer id.
    assert!(block_on(PeerBinding::sign(&key(1), "", 1)).is_err());
    assert!(block_on(PeerBinding::sign(&key(1), &"p".repeat(513), 1)).is_err());
}
