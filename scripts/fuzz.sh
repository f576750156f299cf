#!/usr/bin/env bash
# npm run fuzz: coverage-guided fuzzing of every decoder with cargo-fuzz
# (libFuzzer), each target for FUZZ_SECONDS (default 60), then a table of
# execs/s and total execs per target. Why cargo-fuzz: libFuzzer's coverage
# guidance on this very toolchain (rustup's nightly builds the targets;
# `-s none`: the crates forbid `unsafe`, so no sanitizer is needed to turn
# memory errors into crashes, and debug assertions catch overflows).
# A crash is copied to tests/fuzz/crashes/<target>/, where `npm test`
# replays it from then on (crates/ipvm-fuzz/tests/replay.rs).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
SECONDS_EACH="${FUZZ_SECONDS:-60}"
command -v cargo-fuzz >/dev/null 2>&1 || { say "installing cargo-fuzz (crates.io)"; cargo install cargo-fuzz || die "cargo install cargo-fuzz failed"; }
rustup run nightly rustc --version >/dev/null 2>&1 || die "cargo-fuzz needs a nightly toolchain (rustup toolchain list); none is installed here"
unset CARGO_TARGET_DIR # the fuzz build has its own, instrumented target/ (fuzz/target)
cd "$ROOT"
say "seed corpus (tests/fuzz/corpus)"
cargo run --quiet -p ipvm-fuzz --bin seed --target-dir "$HOME/.cache/ipvm-web/target" || die "seeding failed"
targets=(workflow_dag_json workflow_dag_cbor receipt car_import unixfs_read module_classifier abi_lift)
say "building the fuzz targets (nightly, libFuzzer)"
cargo +nightly fuzz build -s none -O || die "cargo fuzz build failed"
report=()
crashed=0
for t in "${targets[@]}"; do
  say "fuzzing $t for ${SECONDS_EACH}s"
  mkdir -p "fuzz/corpus/$t"
  log="$ROOT/.build/fuzz-$t.log"; mkdir -p "$ROOT/.build"
  cargo +nightly fuzz run -s none -O "$t" "fuzz/corpus/$t" "tests/fuzz/corpus/$t" -- \
    -max_total_time="$SECONDS_EACH" -print_final_stats=1 -timeout=10 -rss_limit_mb=4096 >"$log" 2>&1
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -1)
  rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log" | tail -1)
  found=$(ls "fuzz/artifacts/$t" 2>/dev/null | wc -l)
  if [ "$found" -gt 0 ]; then
    crashed=1
    mkdir -p "tests/fuzz/crashes/$t"
    cp "fuzz/artifacts/$t"/* "tests/fuzz/crashes/$t/"
    grep -m3 -E "panicked|ERROR" "$log" >&2
  fi
  report+=("$(printf '%-20s %12s %10s %s' "$t" "${execs:-?}" "${rate:-?}" "$([ "$found" -gt 0 ] && echo "CRASH ($found kept in tests/fuzz/crashes/$t)" || echo ok)")")
done
printf '\n%-20s %12s %10s %s\n' target "total execs" "execs/s" result
printf '%s\n' "${report[@]}"
exit $crashed
