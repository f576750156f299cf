#!/usr/bin/env bash
# Builds everything the package, the playground and the tests need:
#   1. the guest module (www/modules/ipvm_guests.wasm)
#   2. the native CLI `ipvm`, optimised (profile cli: thin LTO), at .build/bin/ipvm
#   3. the browser runtime: cargo (wasm32) -> wasm-bindgen -> wasm-opt -> pkg/wasm/, and
#      the network build (feature net: the tab's libp2p host) the same way -> pkg/wasm-net/,
#      and the package's facade: tsc pkg/*.ts -> pkg/*.js + pkg/*.d.ts
#   4. the playground: tsc www/src/*.ts -> www/js/, and its bundled picture
# and reports the wasm size (raw and gzip). A step whose inputs did not change
# since it last ran is skipped (cargo decides for itself; the others by the
# stamps of lib.sh's up_to_date), so building an unchanged tree takes seconds.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bash "$ROOT/scripts/build-guests.sh"

say "building the native CLI (ipvm, profile cli: optimised, thin LTO) -> .build/bin/ipvm"
(cd "$ROOT" && cargo build --quiet -p ipvm-node --profile cli)
# One path for users, the tests and the README. Copied only when cargo
# built a new one, so that an unchanged tree leaves it as it was.
mkdir -p "$ROOT/.build/bin"
cmp -s "$CARGO_TARGET_DIR/cli/ipvm" "$ROOT/.build/bin/ipvm" \
  || cp "$CARGO_TARGET_DIR/cli/ipvm" "$ROOT/.build/bin/ipvm"
say ".build/bin/ipvm: $(stat -c %s "$ROOT/.build/bin/ipvm") bytes"

WASM_OPT="$ROOT/node_modules/.bin/wasm-opt"
# One build of the browser runtime: cargo with FEATURES (wasm32) -> wasm-bindgen -> wasm-opt
# -> pkg/DIR/. Each build has a target directory of its own (TARGET_DIR): in one directory the
# two would overwrite each other's ipvm_web.wasm, and each build would then link again, with
# the profile's full LTO, every time (minutes for an unchanged tree). The stamps of the steps
# after cargo are per build.
browser_build() { # browser_build DIR TARGET_DIR FEATURES WASM_OPT_LEVEL
  local dir="$1" target="$2" features="$3" level="$4"
  local raw="$target/wasm32-unknown-unknown/wasm-release/ipvm_web.wasm"
  say "building ipvm-web for wasm32 (profile wasm-release${features:+, features $features}) -> pkg/$dir/"
  (cd "$ROOT" && CARGO_TARGET_DIR="$target" wasm_cargo build --quiet -p ipvm-web --profile wasm-release ${features:+--features "$features"})
  local out="$ROOT/pkg/$dir/ipvm_web_bg.wasm"
  # Each step below runs only if its inputs changed since it last ran (stamps in .build/stamps).
  local inputs
  inputs=$(inputs_hash "$raw" "$ROOT/Cargo.lock" "$ROOT/package-lock.json" "$ROOT/scripts/build.sh")
  if up_to_date "wasm-bindgen-$dir" "$inputs" "$out" "$ROOT/pkg/$dir/ipvm_web.js" "$ROOT/pkg/$dir/ipvm_web.d.ts"; then
    say "pkg/$dir/: up to date (the wasm32 build did not change)"
  else
    say "wasm-bindgen --target web -> pkg/$dir/"
    rm -rf "${ROOT:?}/pkg/$dir"
    wasm-bindgen --target web --out-dir "$ROOT/pkg/$dir" --out-name ipvm_web "$raw"
    [ -x "$WASM_OPT" ] || die "wasm-opt not found at $WASM_OPT (run scripts/setup.sh)"
    say "wasm-opt $level"
    local before after
    before=$(stat -c %s "$out")
    "$WASM_OPT" "$level" --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
      --enable-mutable-globals --enable-multivalue --enable-reference-types "$out" -o "$out.opt"
    mv "$out.opt" "$out"
    after=$(stat -c %s "$out")
    [ "$after" -lt "$before" ] || die "wasm-opt did not shrink the module ($before -> $after bytes)"
    say "wasm-opt: $before -> $after bytes"
    stamp "wasm-bindgen-$dir" "$inputs"
  fi
  # Native code must not leak into the browser build: no imports from "env".
  if grep -q "from 'env'\|from \"env\"" "$ROOT/pkg/$dir/ipvm_web.js"; then
    die "pkg/$dir/ipvm_web.js imports from \"env\": a native dependency leaked into the wasm build"
  fi
}
# The default build (every page and every worker), then the network build (the page's
# runtime when it is opened with peers).
# The default build runs the tasks (wasmi in the workers): -O3. The network build runs the
# page's part (the scheduler, the libp2p host; tasks only with `workers: 0`): -O1, which took
# 43 s on its 18.6 MB module where -O3 took 299 s, for a smaller download (2,841,784 bytes
# gzip against 2,886,708; 8.71 MB raw against 8.49).
browser_build wasm "$CARGO_TARGET_DIR" "" -O3
browser_build wasm-net "$CARGO_TARGET_DIR/net" net -O1
OUT="$ROOT/pkg/wasm/ipvm_web_bg.wasm"
NET_OUT="$ROOT/pkg/wasm-net/ipvm_web_bg.wasm"

PKG_INPUTS=$(inputs_hash "$ROOT"/pkg/tsconfig.json "$ROOT"/pkg/index.ts "$ROOT"/pkg/pool.ts "$ROOT"/pkg/worker.ts "$ROOT"/pkg/wasm/ipvm_web.d.ts "$ROOT"/pkg/wasm-net/ipvm_web.d.ts "$ROOT/package-lock.json")
if up_to_date tsc-pkg "$PKG_INPUTS" "$ROOT/pkg/index.js" "$ROOT/pkg/index.d.ts" "$ROOT/pkg/pool.js" "$ROOT/pkg/worker.js"; then
  say "pkg/*.js: up to date"
else
  say "tsc: pkg/*.ts -> pkg/*.js + pkg/*.d.ts (checked against the generated glue's types)"
  "$ROOT/node_modules/.bin/tsc" -p "$ROOT/pkg/tsconfig.json" || die "the package's TypeScript does not compile"
  stamp tsc-pkg "$PKG_INPUTS"
fi

WWW_INPUTS=$(inputs_hash "$ROOT"/www/tsconfig.json "$ROOT"/www/src/*.ts "$ROOT"/pkg/*.d.ts "$ROOT/package-lock.json")
if up_to_date tsc-www "$WWW_INPUTS" "$ROOT/www/js/main.js"; then
  say "www/js/: up to date"
else
  say "tsc: www/src/*.ts -> www/js/ (the playground, checked against the package's types)"
  rm -rf "$ROOT/www/js"
  "$ROOT/node_modules/.bin/tsc" -p "$ROOT/www/tsconfig.json" || die "the playground's TypeScript does not compile"
  stamp tsc-www "$WWW_INPUTS"
fi

PICTURE="$ROOT/www/images/sample.png"
PICTURE_INPUTS=$(inputs_hash "$ROOT/scripts/make-picture.mjs" "$ROOT/scripts/png.mjs")
if ! up_to_date picture "$PICTURE_INPUTS" "$PICTURE"; then
  node "$ROOT/scripts/make-picture.mjs" "$PICTURE"
  stamp picture "$PICTURE_INPUTS"
fi

size=$(stat -c %s "$OUT")
gz=$(gzip -9 -c "$OUT" | wc -c)
say "pkg/wasm/ipvm_web_bg.wasm: $size bytes raw, $gz bytes gzip"
size=$(stat -c %s "$NET_OUT")
gz=$(gzip -9 -c "$NET_OUT" | wc -c)
say "pkg/wasm-net/ipvm_web_bg.wasm (the network build): $size bytes raw, $gz bytes gzip"
