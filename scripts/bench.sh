#!/usr/bin/env bash
# npm run bench: prints the benchmark figures (no pass/fail).
#   - scheduler overhead per task (native, 10,000-task DAG, no-op executor)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bash "$ROOT/scripts/setup.sh"
say "bench: scheduler overhead (cargo bench -p ipvm-core)"
(cd "$ROOT" && cargo bench --quiet -p ipvm-core --bench scheduler)
