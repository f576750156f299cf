//! Every guest function and the image pipeline, run in headless Chromium
//! through the bindings. The receipts must be identical, byte for byte, to
//! the ones the native suite wrote (`crates/ipvm-exec/tests/guests.rs`;
//! `scripts/test.sh` runs it first and passes the directory here).
#![cfg(target_arch = "wasm32")]

#[path = "../../ipvm-exec/tests/support/mod.rs"]
mod support;

use ipvm_core::unixfs;
use ipvm_web::Runtime;
use js_sys::{Array, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const GUESTS: &[u8] = include_bytes!(env!("IPVM_GUESTS_WASM"));
const NATIVE_GUEST_RECEIPTS: &str = include_str!(concat!(
    env!("IPVM_NATIVE_RECEIPTS"),
    "/guest-receipts.jsonl"
));
const NATIVE_PIPELINE_RECEIPTS: &str = include_str!(concat!(
    env!("IPVM_NATIVE_RECEIPTS"),
    "/pipeline-receipts.jsonl"
));

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

async fn run_in_browser(workflow: &ipvm_core::Workflow) -> Vec<String> {
    let rt = Runtime::new();
    JsFuture::from(rt.add_module(GUESTS.to_vec()))
        .await
        .unwrap_or_else(|e| panic!("addModule: {e:?}"));
    let json = String::from_utf8(workflow.to_dag_json().unwrap_or_default()).unwrap_or_default();
    let reports = JsFuture::from(rt.run(&json, None, JsValue::UNDEFINED))
        .await
        .unwrap_or_else(|e| panic!("run: {e:?}"));
    Array::from(&reports)
        .iter()
        .map(|r| {
            get(&r, "dagJson")
                .as_string()
                .unwrap_or_else(|| format!("no receipt: {r:?}"))
        })
        .collect()
}

fn module() -> ipvm_core::Cid {
    unixfs::import(GUESTS).root
}

#[wasm_bindgen_test]
async fn every_guest_function_gives_the_native_receipt() {
    let calls = support::calls();
    let browser = run_in_browser(&support::workflow(module(), &calls)).await;
    let native: Vec<&str> = NATIVE_GUEST_RECEIPTS.lines().collect();
    assert_eq!(browser.len(), calls.len());
    assert_eq!(
        native.len(),
        calls.len(),
        "the native suite wrote one receipt per call"
    );
    for (i, call) in calls.iter().enumerate() {
        assert_eq!(browser[i], native[i], "{} {:?}", call.func, call.args);
    }
}

#[wasm_bindgen_test]
async fn the_image_pipeline_gives_the_native_receipts() {
    let browser = run_in_browser(&support::pipeline(module())).await;
    let native: Vec<&str> = NATIVE_PIPELINE_RECEIPTS.lines().collect();
    assert_eq!(native.len(), 5);
    assert_eq!(browser, native);
}
