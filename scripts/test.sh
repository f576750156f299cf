#!/usr/bin/env bash
# npm test: set up, build, then run every suite and print each runner's
# summary, and a total at the end:
#   0. lint        cargo fmt --check, cargo clippy -D warnings
#   1. native      cargo test --workspace (core, executor, CLI)
#   2. browser     wasm-bindgen-test in headless Chromium (crates/ipvm-web/tests,
#                  and the executor's hostile-module suite)
#   3. end to end  node --test tests/ (Playwright against the playground, the CLI,
#                  cross-implementation checks)
set -uo pipefail
source "$(dirname "$0")/lib.sh"
# The CLI's store (the sample workflow below, and any suite that runs `ipvm`
# without a store of its own) is a fresh one: never the user's.
export XDG_DATA_HOME="$(mktemp -d)"
# Nor the user's key: the sample workflow signs with a key of its own.
export IPVM_KEY="$XDG_DATA_HOME/test-key"
bash "$ROOT/scripts/setup.sh" --test || exit 1
bash "$ROOT/scripts/build.sh" || exit 1

LOGS="$ROOT/.build/test-logs"
rm -rf "$LOGS" && mkdir -p "$LOGS"
failed_suites=()
suite() { # suite NAME COMMAND...
  local name="$1"; shift
  say "── $name: $*"
  "$@" 2>&1 | tee "$LOGS/$name.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || failed_suites+=("$name")
}

# 0. Lints: formatting and clippy, warnings are errors.
suite lint bash -c 'cargo fmt --all --check && cargo clippy --quiet --workspace --all-targets -- -D warnings && echo "lint: ok"'

# 1. Native.
suite native cargo test --workspace --no-fail-fast

# The sample workflow, and the receipts the native CLI gives for it; the
# browser suite must reproduce them exactly.
SAMPLE="$ROOT/.build/sample"
mkdir -p "$SAMPLE"
IPVM="$ROOT/.build/bin/ipvm"
MODULE=$("$IPVM" add "$GUESTS_WASM" | cut -d' ' -f1)
printf '{"rsc":"ipfs://%s","op":"wasm/run","input":{"func":"add_one","args":[1]},"nnc":""}' "$MODULE" > "$SAMPLE/first.json"
FIRST=$("$IPVM" instruction "$SAMPLE/first.json")
printf '{"tasks":[{"run":%s,"cause":null,"meta":{"fuel":1000000,"time":5000},"prf":[]},{"run":{"rsc":"ipfs://%s","op":"wasm/run","input":{"func":"add_one","args":[{"await/ok":{"/":"%s"}}]},"nnc":""},"cause":null,"meta":{"fuel":1000000,"time":5000},"prf":[]}]}' \
  "$(cat "$SAMPLE/first.json")" "$MODULE" "$FIRST" > "$SAMPLE/workflow.json"
"$IPVM" run "$SAMPLE/workflow.json" --add "$GUESTS_WASM" > "$SAMPLE/receipts.jsonl" 2>"$SAMPLE/run.log" \
  || { cat "$SAMPLE/run.log"; failed_suites+=("sample"); }

# 2. In the browser.
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-120}"
# Receipts the native executor suite wrote (cargo's CARGO_TARGET_TMPDIR).
export IPVM_NATIVE_RECEIPTS="$CARGO_TARGET_DIR/tmp"
export IPVM_GUESTS_WASM="$GUESTS_WASM" IPVM_SAMPLE_WORKFLOW="$SAMPLE/workflow.json" IPVM_SAMPLE_RECEIPTS="$SAMPLE/receipts.jsonl"
suite browser wasm_cargo test -p ipvm-web --profile wasm-test --no-fail-fast
# The hostile-module suite of the executor, in the browser too.
suite hostile-browser wasm_cargo test -p ipvm-exec --test hostile --profile wasm-test
# The core's memo and scheduler suites, in the browser too.
suite core-browser wasm_cargo test -p ipvm-core --test memo --test scheduler --test envelopes --test trust --test ucan_attacks --test ucan_bounds --test invocations --test received --test runtime --test catch --test peers --test offload --profile wasm-test

# 3. End to end.
# A test that hangs fails after five minutes instead of holding CI.
suite e2e node --test --test-concurrency=1 --test-timeout=300000 "$ROOT"/tests/*/*.test.mjs

# Totals over every runner's summary lines.
passed=$(cat "$LOGS"/*.log | sed -nE 's/^test result: .*\. ([0-9]+) passed; .*/\1/p; s/^# pass ([0-9]+)$/\1/p; s/^ℹ pass ([0-9]+)$/\1/p' | awk '{s+=$1} END {print s+0}')
failed=$(cat "$LOGS"/*.log | sed -nE 's/^test result: .* ([0-9]+) failed;.*/\1/p; s/^# fail ([0-9]+)$/\1/p; s/^ℹ fail ([0-9]+)$/\1/p' | awk '{s+=$1} END {print s+0}')
if [ ${#failed_suites[@]} -gt 0 ]; then
  say "failed suites: ${failed_suites[*]}"
  [ "${failed:-0}" -gt 0 ] || failed=${#failed_suites[@]}
fi
echo "total: ${passed:-0} passed, ${failed:-0} failed"
[ ${#failed_suites[@]} -eq 0 ]
