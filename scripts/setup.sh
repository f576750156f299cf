#!/usr/bin/env bash
# Installs whatever is missing to build (and, with --test, to test) the
# project. Idempotent: on a machine that has everything it only checks.
#
#   wasm32 toolchain  rustup's wasm32-unknown-unknown target if present;
#                     otherwise, on Debian/Ubuntu, Debian's rustc-web +
#                     rust-web-src + lld-22 (std is then built with -Zbuild-std)
#   wasm-bindgen-cli  exactly the version of the wasm-bindgen crate in Cargo.lock
#   chromium          Debian's chromium + chromium-driver (with --test)
#   firefox-esr       Debian's firefox-esr (with --test; driven over WebDriver
#                     BiDi by puppeteer-core, never a browser download)
#   npm packages      npm install (playwright-core, puppeteer-core, binaryen, ...)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
WANT_BROWSER=0
[ "${1:-}" = "--test" ] && WANT_BROWSER=1

SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  if [ "$APT_UPDATED" = 0 ]; then
    say "apt-get update"
    $SUDO apt-get update -qq >&2 || return 1
    APT_UPDATED=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >&2
}
missing_debs() {
  local p out=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || out+=("$p"); done
  echo "${out[@]:-}"
}

# 1. Rust.
command -v cargo >/dev/null 2>&1 || die "cargo is not installed. Install Rust from your distribution or with rustup, then run this again."

# 2. A way to build for wasm32.
if [ "$(wasm_mode)" = target ]; then
  say "wasm32: using rustup's wasm32-unknown-unknown target"
else
  say "wasm32: rustup has no wasm32-unknown-unknown target; using Debian's rustc-web with -Zbuild-std"
  need=$(missing_debs rustc-web cargo-web rust-web-src lld-22)
  if [ -n "$need" ]; then
    # One apt call, so that rustc-web and rust-web-src always have matching versions.
    apt_install rustc-web cargo-web rust-web-src lld-22 || die "could not install Debian's rustc-web, cargo-web, rust-web-src and lld-22.
  Either: rustup target add wasm32-unknown-unknown
  or (Debian/Ubuntu, as root): apt-get install rustc-web cargo-web rust-web-src lld-22"
  fi
  command -v rustup >/dev/null 2>&1 || die "rustup is needed to register Debian's compiler as the 'system' toolchain"
  if ! rustup run system rustc --version >/dev/null 2>&1; then
    say "registering /usr's compiler as rustup toolchain 'system'"
    rustup toolchain link system /usr
  fi
  command -v wasm-ld-22 >/dev/null 2>&1 || die "wasm-ld-22 not found (package lld-22)"
fi

# 3. wasm-bindgen-cli at the version pinned in Cargo.lock.
if [ ! -f "$ROOT/Cargo.lock" ]; then
  (cd "$ROOT" && cargo generate-lockfile --quiet)
fi
WB=$(wasm_bindgen_version)
[ -n "$WB" ] || die "cannot read the wasm-bindgen version from Cargo.lock"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WB" ]; then
  say "installing wasm-bindgen-cli $WB (matches Cargo.lock; takes a few minutes)"
  # No --locked: the registry copy reachable here lacks one pinned transitive version.
  cargo install --quiet wasm-bindgen-cli --version "$WB" || die "cargo install wasm-bindgen-cli --version $WB failed"
else
  say "wasm-bindgen-cli $WB: present"
fi

# 4. Chromium and its driver, and Firefox ESR, for the browser tests.
if [ "$WANT_BROWSER" = 1 ]; then
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    apt_install chromium chromium-driver || die "could not install chromium and chromium-driver.
  Install Chromium and a matching ChromeDriver, then set CHROMIUM=/path/to/chromium CHROMEDRIVER=/path/to/chromedriver"
  else
    say "chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'): present"
  fi
  # Firefox ESR, for tests/e2e/firefox.test.mjs (WebDriver BiDi, no geckodriver needed).
  if [ ! -x /usr/bin/firefox-esr ]; then
    apt_install firefox-esr || die "could not install firefox-esr.
  Install Firefox (ESR 128 or later), then set FIREFOX=/path/to/firefox"
  else
    say "firefox-esr $(/usr/bin/firefox-esr --version 2>/dev/null | awk '{print $3}'): present"
  fi
fi

# 5. npm packages.
if [ ! -d "$ROOT/node_modules" ] || [ "$ROOT/package.json" -nt "$ROOT/node_modules/.package-lock.json" ] \
   || { [ -f "$ROOT/package-lock.json" ] && [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; }; then
  say "npm install"
  (cd "$ROOT" && npm install --no-audit --no-fund --loglevel=error >&2) || die "npm install failed"
else
  say "npm packages: present"
fi
say "setup complete"
