//! A sample of the differential fuzzer's seeds in headless Chromium (the
//! engine the fast path really runs on); the full replay runs in Node's V8
//! (`differential.rs`).
#![cfg(target_arch = "wasm32")]

mod generated;

use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn a_sample_of_generated_modules_gives_the_same_answers_in_chromium_and_on_wasmi() {
    let tally = generated::run(10_000, 300).await;
    console_log!("differential (Chromium vs wasmi), seeds 10000..10300: {tally:?}");
    assert!(
        tally.modules > 150 && tally.calls > tally.modules,
        "{tally:?}"
    );
    // Every call that got an instance ran on the fast path itself, unless
    // the engine refused the module (a feature it lacks); none was
    // inconclusive.
    assert!(tally.inconclusive.is_empty(), "{tally:?}");
    // Chromium has every feature the rewriter accepts.
    assert_eq!(tally.refused, 0, "{tally:?}");
    assert_eq!(
        tally.on_fast + tally.refused + tally.before_instance,
        tally.calls,
        "{tally:?}"
    );
    assert!(tally.on_fast * 4 > tally.calls * 3, "{tally:?}");
}
