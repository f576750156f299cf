#!/usr/bin/env bash
# npm run bench: prints the benchmark figures (no pass/fail).
#   - scheduler overhead per task (native, 10,000-task DAG, no-op executor)
#   - the native SQLite store through the scheduler: receipts written/s, memo hits/s, bytes per receipt
#   - the compute kernels on every engine, wasmtime and wasmi natively too (tests/bench/engines.mjs)
#   - Homestar's image pipeline natively (.build/bin/ipvm) and in a tab (tests/bench/pipeline.mjs)
#   - ipvm node: bitswap of a 10 MiB module between two nodes on loopback, idle memory (tests/bench/node.mjs)
#   - the tab on the network: bitswap of a 10 MiB module from ipvm node into a tab (tests/bench/tab-fetch.mjs)
#   - receipt lookups from a js-libp2p peer to a node on loopback, batched (tests/bench/lookups.mjs)
#   - task offload's round trip of a trivial task, and capacity, to a node on loopback (tests/bench/offload.mjs)
#   - the runtime in a tab: store, pool scaling, memo hits, signing (tests/bench/runtime.mjs)
#   - where the page's thread spends its time around each task (tests/bench/profile.mjs)
# and writes the report: bench/results.json, bench/report.md, bench/*.svg.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bash "$ROOT/scripts/setup.sh"
say "bench: scheduler overhead (cargo bench -p ipvm-core)"
mkdir -p "$ROOT/.build/bench"
(cd "$ROOT" && cargo bench --quiet -p ipvm-core --bench scheduler) | tee "$ROOT/.build/bench/scheduler.txt"
say "bench: the native store (cargo bench -p ipvm-store)"
(cd "$ROOT" && cargo bench --quiet -p ipvm-store --bench store) | tee "$ROOT/.build/bench/store.txt"
say "bench: wasmi in the browser vs the browser's own engine (needs the built package)"
bash "$ROOT/scripts/setup.sh" --test >/dev/null
[ -f "$ROOT/pkg/wasm/ipvm_web_bg.wasm" ] && [ -x "$ROOT/.build/bin/ipvm" ] || bash "$ROOT/scripts/build.sh"
# The native kernels' runner, built as users get the CLI (profile cli).
(cd "$ROOT" && cargo build --quiet --profile cli -p ipvm-exec --example kernels)
node "$ROOT/tests/bench/engines.mjs"
node "$ROOT/tests/bench/pipeline.mjs"
node "$ROOT/tests/bench/node.mjs"
node "$ROOT/tests/bench/tab-fetch.mjs"
node "$ROOT/tests/bench/lookups.mjs"
node "$ROOT/tests/bench/offload.mjs"
node "$ROOT/tests/bench/runtime.mjs"
# The profile needs function names, which wasm-opt drops: the same build through wasm-bindgen only.
RAW="$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/ipvm_web.wasm"
[ -f "$RAW" ] || bash "$ROOT/scripts/build.sh"
rm -rf "$ROOT/.build/pkg-prof" && mkdir -p "$ROOT/.build/pkg-prof"
cp "$ROOT"/pkg/*.js "$ROOT/.build/pkg-prof/"
wasm-bindgen --target web --out-dir "$ROOT/.build/pkg-prof/wasm" --out-name ipvm_web "$RAW"
node "$ROOT/tests/bench/profile.mjs"
# The report: bench/results.json, bench/report.md and its charts.
node "$ROOT/tests/bench/report.mjs"
