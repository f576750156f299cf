#!/usr/bin/env bash
# npm run bench: prints the benchmark figures (no pass/fail).
#   - scheduler overhead per task (native, 10,000-task DAG, no-op executor)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bash "$ROOT/scripts/setup.sh"
say "bench: scheduler overhead (cargo bench -p ipvm-core)"
(cd "$ROOT" && cargo bench --quiet -p ipvm-core --bench scheduler)
say "bench: wasmi in the browser vs the browser's own engine (needs the built package)"
bash "$ROOT/scripts/setup.sh" --test >/dev/null
[ -f "$ROOT/pkg/wasm/ipvm_web_bg.wasm" ] || bash "$ROOT/scripts/build.sh"
node "$ROOT/tests/bench/engines.mjs"
node "$ROOT/tests/bench/runtime.mjs"
