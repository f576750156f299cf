//! Writes the seed corpus (`tests/fuzz/corpus/<target>/seed-*`) from the
//! project's fixtures: the spec's example workflow, receipts, a CAR, UnixFS
//! files, small modules, canonical-ABI memories.
//! Run by `npm run fuzz` before fuzzing; the files are committed.

use std::path::PathBuf;

use ipvm_core::{car, unixfs, Execution, Ipld, Receipt};

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz/corpus");
    let write = |target: &str, name: &str, data: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("corpus folder");
        std::fs::write(dir.join(format!("seed-{name}")), data).expect("write seed");
    };
    let workflow = format!(
        r#"{{"tasks":[{{"run":{{"rsc":"ipfs://bafybeibk42jwhq7w2zcpe6q3wgtleugp3ymfs3pa5gerjmnakqihhqx4zq","op":"wasm/run","input":{{"func":"add_one","args":[1,{{"/":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"}},{{"/":{{"bytes":"AAEC"}}}}]}},"nnc":""}},"cause":null,"meta":{{"fuel":1000,"memory":65536,"time":5000}},"prf":[]}},{{"run":{{"rsc":"ipfs://bafybeibk42jwhq7w2zcpe6q3wgtleugp3ymfs3pa5gerjmnakqihhqx4zq","op":"wasm/run","input":{{"func":"add_one","args":[{{"await/ok":{{"/":"{}"}}}}]}},"nnc":"x"}},"cause":null,"meta":{{}},"prf":[]}}]}}"#,
        "bafyrmihmxmsbt4n3g6dzmj7rho34mzfbaoqqbsfcq7etsogslqftbyj7du"
    );
    write("workflow_dag_json", "homestar", workflow.as_bytes());
    let wf = ipvm_core::Workflow::from_dag_json(workflow.as_bytes()).expect("seed workflow");
    let cbor = ipvm_core::encode_dag_cbor(&wf.to_ipld()).expect("encode");
    write("workflow_dag_cbor", "homestar", &cbor);
    let fixtures = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/guest-calls.jsonl"),
    )
    .expect("fixture");
    for (i, line) in fixtures.lines().take(8).enumerate() {
        write("workflow_dag_json", &format!("call-{i}"), line.as_bytes());
    }
    let (ran, invocation) = wf.tasks[0].invocation().expect("invocation");
    let ok = Receipt::of_execution(ran, &Execution::ok(Ipld::Integer(2), 12), vec![]);
    let mut failed = Execution::error(
        Ipld::Map([("kind".to_string(), Ipld::String("trap".into()))].into()),
        7,
    );
    failed.logs = vec!["[info] hello".into()];
    failed.limit = Some("fuel".into());
    let err = Receipt::of_execution(ran, &failed, vec![ran]);
    for (name, r) in [("ok", &ok), ("error", &err)] {
        write("receipt", name, &r.block().expect("receipt").1);
    }
    // An envelope of the ok receipt (the receipt target checks envelopes too).
    let key = ipvm_core::Ed25519Key::from_seed([7; 32]);
    let ok_cid = ok.cid().expect("cid");
    let envelope =
        futures::executor::block_on(ipvm_core::Envelope::sign(&key, &ok_cid)).expect("envelope");
    write("receipt", "envelope", &envelope.bytes);
    let small = unixfs::import(b"module bytes");
    let mut blocks = small.blocks.clone();
    blocks.push((ran, invocation));
    blocks.push(ok.block().expect("receipt"));
    blocks.push((envelope.cid(), envelope.bytes.clone()));
    write(
        "car_import",
        "receipt-module",
        &car::encode(&[small.root], &blocks).expect("car"),
    );
    let file = unixfs::import(&vec![5u8; unixfs::CHUNK_SIZE * 2 + 3]);
    write("unixfs_read", "root", &file.blocks.last().expect("root").1);
    write("unixfs_read", "leaf", b"a small raw leaf");
    write("module_classifier", "empty", b"\0asm\x01\0\0\0");
    // A core module with one exported function (i32) -> i32, and a component header.
    write(
        "module_classifier",
        "add-one",
        b"\0asm\x01\0\0\0\x01\x06\x01\x60\x01\x7f\x01\x7f\x03\x02\x01\0\x07\x0b\x01\x07add_one\0\0\x0a\x09\x01\x07\0\x20\0\x41\x01\x6a\x0b",
    );
    write("module_classifier", "component", b"\0asm\x0d\0\x01\0");
    let mut memory = vec![0u8; 64];
    memory[0..4].copy_from_slice(&16u32.to_le_bytes());
    memory[4..8].copy_from_slice(&5u32.to_le_bytes());
    memory[16..21].copy_from_slice(b"hello");
    for tag in 0..8u8 {
        write(
            "abi_lift",
            &format!("type-{tag}"),
            &ipvm_fuzz::abi_input(tag, 0, &memory),
        );
    }
    println!("seeds written to {}", root.display());
}
