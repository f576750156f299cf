#!/usr/bin/env bash
# npm start: set up, build, and serve the playground (prints the URL).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bash "$ROOT/scripts/setup.sh"
bash "$ROOT/scripts/build.sh"
exec node "$ROOT/scripts/serve.mjs"
