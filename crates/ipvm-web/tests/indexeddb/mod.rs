//! IndexedDB store tests, shared by the window and the dedicated-worker
//! suites (`indexeddb_window.rs`, `indexeddb_worker.rs`).

use ipvm_web::Runtime;
use js_sys::{Array, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

const GUESTS: &[u8] = include_bytes!(env!("IPVM_GUESTS_WASM"));
const SAMPLE_WORKFLOW: &str = include_str!(env!("IPVM_SAMPLE_WORKFLOW"));

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", js_sys::Math::random().to_bits())
}

async fn open(name: &str) -> Runtime {
    Runtime::open(name)
        .await
        .unwrap_or_else(|e| panic!("open {name}: {e}"))
}

async fn run(rt: &Runtime) -> Vec<JsValue> {
    let reports = JsFuture::from(rt.run(SAMPLE_WORKFLOW, None, JsValue::UNDEFINED))
        .await
        .unwrap_or_else(|e| panic!("run: {e:?}"));
    Array::from(&reports).iter().collect()
}

/// What one runtime stored, a second one on the same database sees.
pub(crate) async fn receipts_persist_across_runtimes() {
    let name = unique("wbt-persist");
    let first = open(&name).await;
    JsFuture::from(first.add_module(GUESTS.to_vec()))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let ran = run(&first).await;
    assert_eq!(get(&ran[1], "status").as_string().as_deref(), Some("ran"));
    first.close();

    let second = open(&name).await;
    let again = run(&second).await;
    for r in &again {
        assert_eq!(get(r, "status").as_string().as_deref(), Some("reused"));
    }
    let receipt = get(&ran[1], "receipt").as_string().unwrap_or_default();
    let stored = JsFuture::from(second.receipt(&receipt))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(get(&stored, "dagJson"), get(&ran[1], "dagJson"));
    let counts = JsFuture::from(second.counts())
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(get(&counts, "receipts").as_f64(), Some(2.0));
    let verification = JsFuture::from(second.verify(&receipt, None))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(get(&verification, "matches"), JsValue::TRUE);
    second.close();
}

/// Lookups by a malformed CID reject with a coded error; nothing breaks.
pub(crate) async fn bad_cids_are_rejected_with_a_code() {
    let rt = open(&unique("wbt-bad")).await;
    let err = JsFuture::from(rt.receipt("not-a-cid"))
        .await
        .expect_err("a bad CID must reject");
    assert_eq!(
        get(&err, "code").as_string().as_deref(),
        Some("ERR_BAD_CID")
    );
    rt.close();
}

/// One `#[wasm_bindgen_test]` per test above; the window and the worker
/// suites expand it after choosing where they run.
macro_rules! indexeddb_suite {
    () => {
        #[wasm_bindgen_test]
        async fn receipts_persist_across_runtimes() {
            indexeddb::receipts_persist_across_runtimes().await;
        }
        #[wasm_bindgen_test]
        async fn bad_cids_are_rejected_with_a_code() {
            indexeddb::bad_cids_are_rejected_with_a_code().await;
        }
    };
}
