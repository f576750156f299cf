// `npm run bench`: the compute kernels on every engine, in one run (see www/bench.js):
//   - Chromium's own engine on the module as built (unmetered): the baseline;
//   - the fast path: Chromium's engine running the metered module, in a worker of ipvm-web;
//   - wasmi inside the tab (a worker of ipvm-web);
//   - wasmi and wasmtime natively (crates/ipvm-exec/examples/kernels.rs, profile cli: the
//     optimised build users get), each with its compile time of the metered module apart.
// Prints medians and ratios to the baseline. Asserts nothing about speed; it does say whether
// the fast path and wasmi gave the same output and fuel.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { launchBrowser, startServer } from "../e2e/helpers.mjs";

const ROOT = new URL("../../", import.meta.url).pathname;
const KERNELS_BIN = join(process.env.CARGO_TARGET_DIR ?? join(homedir(), ".cache/ipvm-web/target"), "cli/examples/kernels");
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const { server, url } = await startServer();
const browser = await launchBrowser();
let result;
try {
  const page = await browser.newPage();
  page.on("console", (m) => m.type() === "error" && console.error(m.text()));
  await page.goto(`${url}www/bench.html`);
  await page.waitForFunction(() => typeof window.benchEngines === "function");
  result = await page.evaluate((repeat) => window.benchEngines({ repeat }), REPEAT);
  result.browser = await browser.version();
} finally {
  await browser.close();
  server.close();
}
const KERNELS = result.kernels;

// wasmi and wasmtime natively, on the same picture.
const dir = mkdtempSync(join(tmpdir(), "ipvm-bench-"));
const jobs = result.rows.map((r) => ({
  kernel: r.kernel,
  func: KERNELS[r.kernel].func,
  args: KERNELS[r.kernel].args.map((a) => (a === "png" ? { "/": { bytes: result.base64Png } } : a)),
}));
writeFileSync(join(dir, "jobs.json"), JSON.stringify(jobs));
const native = { wasmi: {}, wasmtime: {} };
const compileMs = {};
let rewriteMs = null;
for (const engine of ["wasmi", "wasmtime"]) {
  // Built by scripts/bench.sh (profile cli), run without cargo in the way.
  const run = spawnSync(KERNELS_BIN, [join(ROOT, "www/modules/ipvm_guests.wasm"), join(dir, "jobs.json"), String(REPEAT), engine], { cwd: ROOT, encoding: "utf8" });
  if (run.status !== 0) console.error(`${engine} natively failed:\n${run.stderr}`);
  for (const line of (run.stdout ?? "").trim().split("\n").filter(Boolean)) {
    const r = JSON.parse(line);
    native[engine][r.kernel] = r;
  }
  const m = /([\d.]+) ms natively/.exec(run.stderr ?? "");
  if (m) {
    rewriteMs = Number(m[1]);
    if (engine === "wasmi") console.log(m.input.split("\n")[0].trim());
  }
  const c = /compiles the metered module \((\d+) bytes\) in ([\d.]+) ms/.exec(run.stderr ?? "");
  if (c) {
    compileMs[engine] = Number(c[2]);
    console.log(`${engine} compiles the metered guest module (${c[1]} bytes) in ${c[2]} ms (once per module: wasmtime's cache keeps it on disk)`);
  }
}

const f = (x, w = 9) => (x === undefined ? "—" : x.toFixed(1)).padStart(w);
const x = (r, w = 7) => (r === undefined ? "—" : `${r.toFixed(2)}×`).padStart(w);
console.log(`\nCompute kernels, median of ${REPEAT} (ms; ratio to Chromium unmetered). Picture: ${result.png.width}×${result.png.height} PNG, ${result.png.bytes} bytes.`);
console.log(`ipvm-web times are the execution as the worker measured it (report.ms); a trivial task's whole run takes fast ${result.rows[0].overheadMs.fast.toFixed(1)} ms, wasmi ${result.rows[0].overheadMs.wasmi.toFixed(1)} ms end to end.`);
console.log("Chromium fresh: the same call on a new instance each time (what a task runtime does); wasmtime's last ratio is to it.");
console.log("kernel          chromium  fresh  fast path   ratio  wasmi tab   ratio  wasmi native   ratio  wasmtime   ratio   fresh   fuel          same output and fuel");
for (const r of result.rows) {
  const n = native.wasmi[r.kernel];
  const t = native.wasmtime[r.kernel];
  const same = r.fastSameOutput && r.wasmiSameOutput && r.sameReceipt && (!n || (n.fuel === r.fuel && n.ok)) && (!t || (t.fuel === r.fuel && t.ok));
  console.log(
    `${r.kernel.padEnd(15)} ${f(r.browserMs)} ${f(r.browserFreshMs, 6)} ${f(r.fastMs, 10)} ${x(r.fastRatio)} ${f(r.wasmiMs, 10)} ${x(r.wasmiRatio)} ${f(n?.ms, 13)} ${x(n ? n.ms / r.browserMs : undefined)} ${f(t?.ms, 9)} ${x(t ? t.ms / r.browserMs : undefined)} ${x(t ? t.ms / r.browserFreshMs : undefined)}   ${String(r.fuel).padEnd(13)} ${same ? "yes" : "NO"}${r.fastEngine === "fast" ? "" : ` (fast path ran on ${r.fastEngine})`}${!t || t.engine === "wasmtime" ? "" : ` (wasmtime's run ran on ${t.engine})`}`,
  );
}
console.log("\nWall time of the whole run (ms): " + result.rows.map((r) => `${r.kernel} fast ${r.fastWallMs.toFixed(0)} / wasmi ${r.wasmiWallMs.toFixed(0)}`).join("; "));
const worst = (kind) => Math.max(...result.rows.filter((r) => r.kind === kind).map((r) => r.fastRatio));
console.log(`\nTargets: fast path ≤ 1.5× on the integer kernels (worst ${worst("integer").toFixed(2)}×), ≤ 2× on the image functions (worst ${worst("image").toFixed(2)}×).`);
const worstWasmtime = Math.max(...result.rows.map((r) => (native.wasmtime[r.kernel]?.ms ?? Infinity) / r.browserMs));
const worstFresh = Math.max(...result.rows.map((r) => (native.wasmtime[r.kernel]?.ms ?? Infinity) / r.browserFreshMs));
console.log(`Target: wasmtime natively ≤ 1.3× Chromium unmetered on every kernel (worst ${worstWasmtime.toFixed(2)}×; against a fresh instance per call, worst ${worstFresh.toFixed(2)}×).`);

// For the report (tests/bench/report.mjs).
mkdirSync(join(ROOT, ".build/bench"), { recursive: true });
writeFileSync(
  join(ROOT, ".build/bench/engines.json"),
  JSON.stringify({ repeat: REPEAT, browser: result.browser, png: result.png, rows: result.rows.map((r) => ({ ...r, nativeMs: native.wasmi[r.kernel]?.ms ?? null, nativeFuel: native.wasmi[r.kernel]?.fuel ?? null, wasmtimeMs: native.wasmtime[r.kernel]?.ms ?? null, wasmtimeFuel: native.wasmtime[r.kernel]?.fuel ?? null, wasmtimeEngine: native.wasmtime[r.kernel]?.engine ?? null })), rewriteMs, compileMs }, null, 2),
);
