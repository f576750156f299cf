#!/usr/bin/env bash
# Builds everything the package, the playground and the tests need:
#   1. the guest module (www/modules/ipvm_guests.wasm)
#   2. the native CLI `ipvm`
#   3. the browser runtime: cargo (wasm32) -> wasm-bindgen -> wasm-opt -> pkg/wasm/,
#      and the package's facade: tsc pkg/*.ts -> pkg/*.js + pkg/*.d.ts
#   4. the playground: tsc www/src/*.ts -> www/js/, and its bundled picture
# and reports the wasm size (raw and gzip).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bash "$ROOT/scripts/build-guests.sh"

say "building the native CLI (ipvm)"
(cd "$ROOT" && cargo build --quiet -p ipvm-node)

say "building ipvm-web for wasm32 (profile wasm-release)"
(cd "$ROOT" && wasm_cargo build --quiet -p ipvm-web --profile wasm-release)
RAW="$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/ipvm_web.wasm"

say "wasm-bindgen --target web -> pkg/wasm/"
rm -rf "$ROOT/pkg/wasm"
wasm-bindgen --target web --out-dir "$ROOT/pkg/wasm" --out-name ipvm_web "$RAW"

say "tsc: pkg/*.ts -> pkg/*.js + pkg/*.d.ts (checked against the generated glue's types)"
"$ROOT/node_modules/.bin/tsc" -p "$ROOT/pkg/tsconfig.json" || die "the package's TypeScript does not compile"

say "tsc: www/src/*.ts -> www/js/ (the playground, checked against the package's types)"
"$ROOT/node_modules/.bin/tsc" -p "$ROOT/www/tsconfig.json" || die "the playground's TypeScript does not compile"
node "$ROOT/scripts/make-picture.mjs" "$ROOT/www/images/sample.png"

OUT="$ROOT/pkg/wasm/ipvm_web_bg.wasm"
WASM_OPT="$ROOT/node_modules/.bin/wasm-opt"
[ -x "$WASM_OPT" ] || die "wasm-opt not found at $WASM_OPT (run scripts/setup.sh)"
say "wasm-opt -O3"
before=$(stat -c %s "$OUT")
"$WASM_OPT" -O3 --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-mutable-globals --enable-multivalue --enable-reference-types "$OUT" -o "$OUT.opt"
mv "$OUT.opt" "$OUT"
after=$(stat -c %s "$OUT")
[ "$after" -lt "$before" ] || die "wasm-opt did not shrink the module ($before -> $after bytes)"

# Native code must not leak into the browser build: no imports from "env".
if grep -q "from 'env'\|from \"env\"" "$ROOT/pkg/wasm/ipvm_web.js"; then
  die "pkg/wasm/ipvm_web.js imports from \"env\": a native dependency leaked into the wasm build"
fi
gz=$(gzip -9 -c "$OUT" | wc -c)
say "pkg/wasm/ipvm_web_bg.wasm: $after bytes raw ($before before wasm-opt), $gz bytes gzip"
