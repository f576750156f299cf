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
use ipvm_core::{
    decode_dag_cbor, encode_dag_cbor, BindingAnswer, BindingError, Ed25519Key, Ipld, PeerBinding,
};

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

#[test]
fn an_exchange_binds_each_side_to_the_peer_its_connection_came_from() {
    use ipvm_core::peer_binding::{answer_binding, read_answer};
    let (tab, node) = (key(1), key(2));
    let request = block_on(PeerBinding::sign(&tab, PEER, 2_000)).unwrap();
    let own = block_on(PeerBinding::sign(&node, OTHER, 2_000)).unwrap();
    // The node, on a connection from PEER, accepts the tab's binding and answers with its own.
    let (bound, answer) = answer_binding(&request.to_dag_cbor().unwrap(), PEER, 1_000, own.clone());
    assert_eq!(&bound.unwrap(), tab.did());
    assert_eq!(answer, BindingAnswer::Accepted(own.clone()));
    // The tab, on its connection to OTHER, reads the node's DID from the answer.
    let bytes = answer.to_dag_cbor().unwrap();
    assert_eq!(&read_answer(&bytes, OTHER, 1_000).unwrap(), node.did());
    // The same answer from any other connection is not the node's.
    assert_eq!(
        read_answer(&bytes, PEER, 1_000).unwrap_err(),
        BindingError::WrongPeer {
            claimed: OTHER.into(),
            connected: PEER.into()
        }
    );
    assert!(matches!(
        read_answer(&bytes, OTHER, 2_000).unwrap_err(),
        BindingError::Expired { .. }
    ));
}

#[test]
fn a_binding_sent_on_another_connection_is_refused_and_the_sender_hears_why() {
    use ipvm_core::peer_binding::{answer_binding, read_answer};
    let (tab, node, thief) = (key(1), key(2), key(3));
    let own = block_on(PeerBinding::sign(&node, OTHER, 2_000)).unwrap();
    // A peer replays the tab's binding on its own connection (it is not PEER).
    let stolen = block_on(PeerBinding::sign(&tab, PEER, 2_000)).unwrap();
    let thief_peer = "12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc9";
    let (bound, answer) = answer_binding(
        &stolen.to_dag_cbor().unwrap(),
        thief_peer,
        1_000,
        own.clone(),
    );
    assert_eq!(
        bound.unwrap_err(),
        BindingError::WrongPeer {
            claimed: PEER.into(),
            connected: thief_peer.into()
        }
    );
    let BindingAnswer::Refused(why) = &answer else {
        panic!("accepted a stolen binding: {answer:?}")
    };
    assert!(why.contains("names peer"), "{why}");
    // The sender reads the refusal, never a DID.
    let read = read_answer(&answer.to_dag_cbor().unwrap(), OTHER, 1_000).unwrap_err();
    assert_eq!(read, BindingError::RefusedByPeer(why.clone()));
    // A binding signed by another key for PEER: its signature is not the DID's.
    let mut forged = fields(&block_on(PeerBinding::sign(&thief, PEER, 2_000)).unwrap());
    forged.insert("did".into(), Ipld::String(tab.did().to_string()));
    let (bound, answer) = answer_binding(&encode(forged), PEER, 1_000, own.clone());
    assert!(
        matches!(bound, Err(BindingError::BadSignature { .. })),
        "{bound:?}"
    );
    assert!(matches!(answer, BindingAnswer::Refused(_)));
    // Garbage: malformed, refused.
    let (bound, answer) = answer_binding(b"\xff\x00garbage", PEER, 1_000, own);
    assert!(
        matches!(bound, Err(BindingError::Malformed(_))),
        "{bound:?}"
    );
    assert!(matches!(answer, BindingAnswer::Refused(_)));
}

#[test]
fn an_answer_is_read_strictly_and_a_refusal_is_kept_short() {
    use ipvm_core::peer_binding::{read_answer, MAX_REFUSAL_LEN};
    // A long reason is cut on a character boundary when written.
    let long = "é".repeat(MAX_REFUSAL_LEN);
    let bytes = BindingAnswer::Refused(long).to_dag_cbor().unwrap();
    let Ok(BindingAnswer::Refused(cut)) = BindingAnswer::from_dag_cbor(&bytes) else {
        panic!("not a refusal")
    };
    assert_eq!(cut, "é".repeat(MAX_REFUSAL_LEN / 2));
    // A refusal past the cap, with another field, or not a text: malformed.
    for bad in [
        BTreeMap::from([(
            "refused".to_string(),
            Ipld::String("x".repeat(MAX_REFUSAL_LEN + 1)),
        )]),
        BTreeMap::from([
            ("refused".to_string(), Ipld::String("no".into())),
            ("did".to_string(), Ipld::String("did:key:z".into())),
        ]),
        BTreeMap::from([("refused".to_string(), Ipld::Integer(1))]),
    ] {
        assert!(matches!(
            read_answer(&encode(bad), PEER, 1),
            Err(BindingError::Malformed(_))
        ));
    }
    // Past the size cap: malformed before it is decoded.
    let huge = vec![0u8; MAX_BINDING_BYTES + 1];
    assert!(matches!(
        BindingAnswer::from_dag_cbor(&huge),
        Err(BindingError::Malformed(_))
    ));
}

#[test]
fn a_peer_field_that_is_not_peer_id_text_is_malformed_and_cannot_forge_a_log_line() {
    let k = key(1);
    let good = fields(&block_on(PeerBinding::sign(&k, PEER, 2_000)).unwrap());
    for bad in [
        format!("{PEER}\nbound {OTHER}: speaks for did:key:z6Mk"),
        "12D3 KooW".into(),
        "".into(),
    ] {
        let mut forged = good.clone();
        forged.insert("peer".into(), Ipld::String(bad.clone()));
        let read = PeerBinding::from_dag_cbor(&encode(forged));
        assert!(
            matches!(read, Err(BindingError::Malformed(_))),
            "{bad:?}: {read:?}"
        );
        // Nor can such a binding be made.
        assert!(
            block_on(PeerBinding::sign(&k, &bad, 2_000)).is_err(),
            "{bad:?}"
        );
    }
}
