//! Replays every fuzz target's corpus (`tests/fuzz/corpus/<target>/`) and
//! every crash kept (`tests/fuzz/crashes/<target>/`): cheap, on every
//! `npm test`. A crash found by `npm run fuzz` is copied there, fixed, and
//! stays as a regression test.

use std::path::PathBuf;

fn dir(kind: &str, target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fuzz")
        .join(kind)
        .join(target)
}

#[test]
fn every_corpus_input_and_every_kept_crash_runs_clean() {
    let mut total = 0;
    for target in ipvm_fuzz::TARGETS {
        let mut inputs = 0;
        for kind in ["corpus", "crashes"] {
            let Ok(entries) = std::fs::read_dir(dir(kind, target.0)) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let data =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                ipvm_fuzz::replay(target, &path.display().to_string(), &data);
                inputs += 1;
            }
        }
        assert!(inputs > 0, "no corpus for fuzz target {}", target.0);
        total += inputs;
    }
    println!(
        "replayed {total} inputs over {} targets",
        ipvm_fuzz::TARGETS.len()
    );
}
