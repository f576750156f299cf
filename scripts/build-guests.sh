#!/usr/bin/env bash
# Builds the guest functions (crates/ipvm-guests) to wasm32 and puts the
# module where the tests and the playground find it: www/modules/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
say "building guest module (crates/ipvm-guests) for wasm32"
(cd "$ROOT/crates/ipvm-guests" && wasm_cargo build --release --quiet)
mkdir -p "$(dirname "$GUESTS_WASM")"
cp "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/ipvm_guests.wasm" "$GUESTS_WASM"
say "guest module: $GUESTS_WASM ($(stat -c %s "$GUESTS_WASM") bytes)"
