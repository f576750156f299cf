#!/usr/bin/env bash
# npm start: set up, build, and serve the playground (prints the URL) with a node beside it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bash "$ROOT/scripts/setup.sh"
bash "$ROOT/scripts/build.sh"
# --node: `ipvm node` beside the page server (key, store and info in .build/node/), stopped with it.
exec node "$ROOT/scripts/serve.mjs" --node
