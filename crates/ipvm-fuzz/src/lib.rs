//! The fuzz targets: every decoder that reads bytes from outside, as a
//! function that must never panic, whatever its input, and must keep its
//! own invariants on what it accepts. `fuzz/` (cargo-fuzz, libFuzzer) calls
//! these with generated inputs (`npm run fuzz`); `tests/replay.rs` calls
//! them with the corpus in `tests/fuzz/corpus/<target>/` and every crash
//! kept in `tests/fuzz/crashes/<target>/`, on every `npm test`.

pub mod differential;

use futures::executor::block_on;
use ipvm_core::store::{read_file_within, BlockStore};
use ipvm_core::{address, car, MemoryStore, Receipt, Workflow};
use ipvm_exec::abi::{self, Lifting};
use ipvm_exec::meter;
use ipvm_exec::wit::{self, WitType};

/// A target: a name (its corpus folder) and the function.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("workflow_dag_json", workflow_dag_json),
    ("workflow_dag_cbor", workflow_dag_cbor),
    ("receipt", receipt),
    ("car_import", car_import),
    ("unixfs_read", unixfs_read),
    ("module_classifier", module_classifier),
    ("abi_lift", abi_lift),
];

/// A workflow accepted from DAG-JSON stores invocation blocks that decode
/// again, and reads back the same from its own DAG-CBOR.
fn accepted(wf: &Workflow) {
    let cbor = ipvm_core::encode_dag_cbor(&wf.to_ipld()).expect("an accepted workflow encodes");
    let again = Workflow::from_dag_cbor(&cbor).expect("its DAG-CBOR reads back");
    assert_eq!(&again, wf, "the DAG-CBOR round trip changed the workflow");
    for t in &wf.tasks {
        let (_, invocation) = t.invocation().expect("an invocation encodes");
        ipvm_core::decode_dag_cbor(&invocation).expect("its invocation block decodes again");
    }
}

/// `Workflow::from_dag_json`.
pub fn workflow_dag_json(data: &[u8]) {
    if let Ok(wf) = Workflow::from_dag_json(data) {
        accepted(&wf);
    }
}

/// `Workflow::from_dag_cbor`.
pub fn workflow_dag_cbor(data: &[u8]) {
    if let Ok(wf) = Workflow::from_dag_cbor(data) {
        accepted(&wf);
    }
}

/// A receipt's DAG-CBOR, as a store row or a CAR holds it.
pub fn receipt(data: &[u8]) {
    if let Ok(r) = ipvm_core::decode_dag_cbor(data).and_then(|v| Receipt::from_ipld(&v)) {
        let (cid, bytes) = r.block().expect("a decoded receipt encodes");
        let back = ipvm_core::decode_dag_cbor(&bytes)
            .and_then(|v| Receipt::from_ipld(&v))
            .expect("its canonical bytes decode");
        assert_eq!(back, r);
        assert_eq!(back.cid().ok(), Some(cid));
        let _ = (r.is_reusable(), r.version(), r.class());
    }
    // The same bytes as an envelope: refused with a reason, or valid and
    // canonical.
    if let Ok(env) = ipvm_core::Envelope::check(data) {
        assert_eq!(env.bytes, data);
    }
}

/// `car::import` into an empty store: all or nothing.
pub fn car_import(data: &[u8]) {
    let store = MemoryStore::new();
    let trust = ipvm_core::Trust::new(ipvm_core::Ed25519Key::from_seed([1; 32]).did().clone());
    if block_on(car::import(&store, &trust, data)).is_err() {
        assert_eq!(store.block_count(), 0, "a rejected archive left blocks");
        assert_eq!(store.receipt_count(), 0, "a rejected archive left receipts");
    }
}

/// Reading a UnixFS file whose root is `data` (as DAG-PB, then as raw),
/// bounded to 1 MiB.
pub fn unixfs_read(data: &[u8]) {
    let store = MemoryStore::new();
    for codec in [address::DAG_PB, address::RAW] {
        let cid = address::cid_of(codec, address::SHA2_256, data);
        if block_on(store.put_block(cid, data.to_vec())).is_ok() {
            if let Ok(bytes) = block_on(read_file_within(&store, &cid, 1 << 20)) {
                assert!(bytes.len() <= 1 << 20, "the read passed its limit");
            }
        }
    }
}

/// `wit::classify`: wasm bytes to a module shape; then the metering
/// rewriter on its core module, whose output must keep the limits of a
/// module (`meter::MAX_METERED_BYTES`) and read back.
pub fn module_classifier(data: &[u8]) {
    let core = match wit::classify("fuzz", data) {
        Ok(wit::Shape::Core(core)) | Ok(wit::Shape::Wit(core, _)) => core,
        Err(_) => return,
    };
    if let Ok(metered) = meter::meter(&core) {
        assert!(
            metered.bytes.len() <= meter::MAX_METERED_BYTES,
            "the metered module passed the cap"
        );
        meter::facts(metered.bytes).expect("a metered module reads back");
    }
}

/// The types the ABI target lifts, chosen by the input's first byte.
fn lift_type(tag: u8) -> WitType {
    let string = || WitType::String;
    match tag % 8 {
        0 => string(),
        1 => WitType::List(Box::new(WitType::U8)),
        2 => WitType::List(Box::new(string())),
        3 => WitType::Record(vec![("a".into(), WitType::U64), ("b".into(), string())]),
        4 => WitType::Variant(vec![
            ("x".into(), Some(WitType::List(Box::new(WitType::Bool)))),
            ("y".into(), None),
        ]),
        5 => WitType::Option(Box::new(WitType::Tuple(vec![WitType::Char, WitType::F32]))),
        6 => WitType::Result(Some(Box::new(string())), Some(Box::new(WitType::S8))),
        _ => WitType::List(Box::new(WitType::List(Box::new(WitType::Flags(
            (0..40).map(|i| format!("f{i}")).collect(),
        ))))),
    }
}

/// The canonical ABI's lift over random guest memory: byte 0 picks the type,
/// bytes 1..5 the pointer, the rest is memory.
pub fn abi_lift(data: &[u8]) {
    if data.len() < 5 {
        return;
    }
    let t = lift_type(data[0]);
    let ptr = u32::from_le_bytes([data[1], data[2], data[3], data[4]]);
    let _ = abi::load(&Lifting::output(&&data[5..]), &t, ptr);
}

/// Runs `target` on `data`, and says which input failed if it panics.
pub fn replay(target: &Target, name: &str, data: &[u8]) {
    let result = std::panic::catch_unwind(|| (target.1)(data));
    if result.is_err() {
        panic!("fuzz target {} panicked on {name}", target.0);
    }
}

/// An input for the ABI target.
pub fn abi_input(tag: u8, ptr: u32, memory: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&ptr.to_le_bytes());
    v.extend_from_slice(memory);
    v
}
