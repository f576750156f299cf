# Shared settings of the build scripts: where cargo builds, and how to build
# for wasm32 on this machine. Sourced, not run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The target directory lives outside the clone so that fresh clones (CI)
# reuse compiled dependencies. Override with CARGO_TARGET_DIR.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ipvm-web/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

say() { printf '\033[1m[ipvm]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[ipvm] error:\033[0m %s\n' "$*" >&2; exit 1; }

# How to build for wasm32:
#  - rustup has the wasm32-unknown-unknown target: plain cargo;
#  - otherwise Debian's rustc-web, linked into rustup as `system`, with the
#    standard library built from rust-web-src (-Zbuild-std).
wasm_mode() {
  if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    echo target
  else
    echo build-std
  fi
}

# Runs cargo for wasm32: wasm_cargo build|test [args...]
wasm_cargo() {
  local sub="$1"; shift
  if [ "$(wasm_mode)" = target ]; then
    cargo "$sub" --target wasm32-unknown-unknown "$@"
  else
    RUSTC_BOOTSTRAP=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-22 \
      cargo +system "$sub" --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort "$@"
  fi
}

# The wasm-bindgen version pinned in Cargo.lock.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

GUESTS_WASM="$ROOT/www/modules/ipvm_guests.wasm"

# Skipping build steps whose inputs have not changed (a second `npm start`
# serves in seconds). A step's stamp, .build/stamps/STEP, is one hash over its
# input files' names and contents; the step is up to date when the stamp
# matches and every output exists. cargo steps need none: cargo checks itself.
inputs_hash() { # FILE...
  local f
  for f in "$@"; do
    printf '%s\n' "$f"
    if [ -f "$f" ]; then sha256sum < "$f"; else echo missing; fi
  done | sha256sum | cut -d' ' -f1
}
up_to_date() { # STEP HASH OUTPUT...
  local step="$1" hash="$2" out
  shift 2
  for out in "$@"; do [ -e "$out" ] || return 1; done
  [ "$(cat "$ROOT/.build/stamps/$step" 2>/dev/null)" = "$hash" ]
}
stamp() { # STEP HASH
  mkdir -p "$ROOT/.build/stamps"
  printf '%s\n' "$2" > "$ROOT/.build/stamps/$1"
}
