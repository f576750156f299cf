//! The differential fuzzer's replay in Node's V8 (fast): a fixed set of
//! generated modules, each export run on the browser engine's path (V8,
//! through `FastEngine`) and on wasmi, compared on output, fuel, error kind
//! and message. `npm test` replays seeds 0..DIFF_SEEDS; `npm run fuzz` runs a
//! longer range (`IPVM_DIFF_FROM` / `IPVM_DIFF_SEEDS` at build time).
#![cfg(target_arch = "wasm32")]

mod generated;

use wasm_bindgen_test::*;

/// Seeds `npm test` replays.
const DIFF_SEEDS: u64 = 2000;

fn env_u64(v: Option<&str>, default: u64) -> u64 {
    v.and_then(|s| s.parse().ok()).unwrap_or(default)
}

#[wasm_bindgen_test]
async fn generated_modules_give_the_same_answers_on_v8_and_wasmi() {
    let from = env_u64(option_env!("IPVM_DIFF_FROM"), 0);
    let count = env_u64(option_env!("IPVM_DIFF_SEEDS"), DIFF_SEEDS);
    let tally = generated::run(from, count).await;
    web_sys_log(&format!(
        "differential (Node's V8 vs wasmi), seeds {from}..{}: {tally:?}",
        from + count
    ));
    // The replay must exercise the fast path itself, not only its fallback.
    assert!(tally.modules * 2 > count as usize, "{tally:?}");
    assert!(tally.calls > tally.modules, "{tally:?}");
    // Every call that got an instance ran on the fast path itself, unless
    // the engine refused the module (a feature it lacks); none was
    // inconclusive.
    assert!(tally.inconclusive.is_empty(), "{tally:?}");
    assert_eq!(
        tally.on_fast + tally.refused + tally.before_instance,
        tally.calls,
        "{tally:?}"
    );
    assert!(tally.on_fast * 4 > tally.calls * 3, "{tally:?}");
    assert!(tally.errors > 0 && tally.errors < tally.calls, "{tally:?}");
}

fn web_sys_log(s: &str) {
    wasm_bindgen_test::console_log!("{s}");
}
