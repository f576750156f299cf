//! The native differential fuzzer's replay: a fixed set of generated
//! modules, each export run on wasmtime and on wasmi, compared on output,
//! fuel, error kind and message (`ipvm_fuzz::differential`). `npm test`
//! replays seeds 0..DIFF_SEEDS; `npm run fuzz` runs a longer range
//! (`IPVM_DIFF_FROM` / `IPVM_DIFF_SEEDS` in the environment).

/// Seeds `npm test` replays.
const DIFF_SEEDS: u64 = 1000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn generated_modules_give_the_same_answers_on_wasmtime_and_wasmi() {
    let from = env_u64("IPVM_DIFF_FROM", 0);
    let count = env_u64("IPVM_DIFF_SEEDS", DIFF_SEEDS);
    let tally = ipvm_fuzz::differential::run(from, count);
    println!(
        "differential (wasmtime vs wasmi), seeds {from}..{}: {tally:?}",
        from + count
    );
    // The replay must exercise wasmtime itself, not only its fallback.
    assert!(tally.modules * 2 > count as usize, "{tally:?}");
    assert!(tally.calls > tally.modules, "{tally:?}");
    // Every call that got an instance ran on wasmtime itself; none was
    // inconclusive, none refused (wasmtime has every feature the
    // rewriter accepts).
    assert!(tally.inconclusive.is_empty(), "{tally:?}");
    assert_eq!(tally.refused, 0, "{tally:?}");
    assert_eq!(
        tally.on_fast + tally.before_instance,
        tally.calls,
        "{tally:?}"
    );
    assert!(tally.errors > 0 && tally.errors < tally.calls, "{tally:?}");
}
