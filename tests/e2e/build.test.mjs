// The build on an unchanged tree: `npm start` and `npm test` build first, and
// a build whose inputs did not change skips every step but cargo's own check
// (no wasm-bindgen, no wasm-opt, no tsc), so a second `npm start` serves in
// seconds. npm test has just built, so the tree is unchanged here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

test("building an unchanged tree skips wasm-bindgen, wasm-opt and both tsc steps", async () => {
  const { stderr } = await promisify(execFile)("bash", [`${ROOT}scripts/build.sh`], { maxBuffer: 16 << 20 });
  for (const skipped of ["pkg/wasm/: up to date", "pkg/*.js: up to date", "www/js/: up to date"]) {
    assert.ok(stderr.includes(skipped), `expected "${skipped}" in:\n${stderr}`);
  }
  for (const ran of ["wasm-bindgen --target web", "wasm-opt -O3", "tsc: pkg", "tsc: www"]) {
    assert.ok(!stderr.includes(ran), `"${ran}" ran again:\n${stderr}`);
  }
  // What it serves is intact: the size line names the optimised module.
  assert.match(stderr, /ipvm_web_bg\.wasm: \d+ bytes raw, \d+ bytes gzip/);
});
