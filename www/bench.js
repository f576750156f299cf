// Engine benchmark, run in a tab: the guest module's compute kernels (an
// integer loop, SHA-256 rounds, and the image functions on a PNG) on the
// browser's own WebAssembly engine running the module as built (unmetered),
// and through ipvm-web on its two engines: the fast path (the browser's
// engine running the metered module, in a worker) and wasmi (in a worker).
// `npm run bench` drives it through Playwright, adds wasmi natively, and
// prints the table; it can also be run by hand from bench.html.
import { Runtime, wasmTask } from "../pkg/index.js";
import { toBase64 as base64 } from "./js/base64.js";

/** The kernels: export, arguments (`png` stands for the bench picture). */
const KERNELS = {
  xorshift: { func: "xorshift", args: [60_000_000], kind: "integer" },
  "sha256-rounds": { func: "sha256-rounds", args: [120_000], kind: "integer" },
  crop: { func: "crop", args: ["png", 64, 64, 384, 384], kind: "image" },
  rotate90: { func: "rotate90", args: ["png"], kind: "image" },
  grayscale: { func: "grayscale", args: ["png"], kind: "image" },
  blur: { func: "blur", args: ["png", 2.0], kind: "image" },
};
/** The bench picture, made by the guest itself (`make-png`). */
export const PNG = [512, 512];

/** Results past one flat value come back by pointer to (ptr, len). */
function listResult(exports, ret) {
  const view = new DataView(exports.memory.buffer);
  const ptr = view.getUint32(ret, true);
  const len = view.getUint32(ret + 4, true);
  return new Uint8Array(exports.memory.buffer, ptr, len).slice();
}

const DIRECT_IMPORTS = {
  "wasi:logging/logging": { log() {} },
  "homestar:host/helpers@0.0.1": { "get-current-time"() {}, print() {} },
};

async function direct(bytes) {
  const { instance } = await WebAssembly.instantiate(bytes, DIRECT_IMPORTS);
  return instance.exports;
}


/** Calls a kernel on the unmetered module with the canonical ABI done by hand. */
function callDirect(e, kernel, png) {
  const { func, args } = KERNELS[kernel];
  const flat = [];
  for (const a of args) {
    if (a === "png") {
      const ptr = e.cabi_realloc(0, 0, 1, png.length);
      new Uint8Array(e.memory.buffer, ptr, png.length).set(png);
      flat.push(ptr, png.length);
    } else flat.push(a);
  }
  const r = e[func](...flat);
  if (func === "xorshift") return r >>> 0;
  const out = listResult(e, r);
  e[`cabi_post_${func}`](r);
  return out;
}

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeAsync(f) {
  const t0 = performance.now();
  const out = await f();
  return [performance.now() - t0, out];
}

/**
 * Runs every kernel on the unmetered browser engine and on both of ipvm-web's engines;
 * resolves to rows of figures. An engine's time is the execution as its worker measured it
 * (`report.ms`: loading the module, the arguments, the call, the output), comparable with a
 * direct call that copies the picture in and the result out; the wall time of the whole run
 * (scheduling, worker messages, storing and signing the receipt) is given beside it.
 */
export async function benchEngines({ repeat = 3 } = {}) {
  const bytes = new Uint8Array(await (await fetch(new URL("./modules/ipvm_guests.wasm", import.meta.url))).arrayBuffer());
  const e = await direct(bytes);
  const compiled = await WebAssembly.compile(bytes);
  const retPng = e["make-png"](...PNG);
  const png = listResult(e, retPng);
  e["cabi_post_make-png"](retPng);
  const runtimes = {};
  for (const engine of ["fast", "wasmi"]) {
    const rt = await Runtime.open({ name: `bench-engine-${engine}`, workers: 1, engine });
    const module = await rt.addModule(bytes);
    const run = async (func, args, nnc) => {
      const { task } = await wasmTask({ module, func, args, nnc, time: 600_000 });
      const [ms, reports] = await timeAsync(() => rt.run({ tasks: [task] }));
      return { ms, report: reports[0] };
    };
    // Warm up (the worker compiles the module once), then the cost of a trivial task.
    await run("add_one", [1], `warm-${Date.now()}`);
    const overhead = [];
    for (let i = 0; i < 7; i++) overhead.push((await run("add_one", [i], `overhead-${Date.now()}-${i}`)).ms);
    runtimes[engine] = { rt, run, overheadMs: median(overhead) };
  }
  const argsOf = (kernel) => KERNELS[kernel].args.map((a) => (a === "png" ? { "/": { bytes: base64(png) } } : a));
  const rows = [];
  let nonce = 0;
  for (const kernel of Object.keys(KERNELS)) {
    const browser = [];
    // One call first, so that the browser's engine has tiered the code up.
    let expected = callDirect(e, kernel, png);
    for (let i = 0; i < repeat; i++) {
      const t0 = performance.now();
      expected = callDirect(e, kernel, png);
      browser.push(performance.now() - t0);
    }
    // The same call on a fresh instance of the compiled module each time, as a task
    // runtime must run it (a new memory, nothing left by the call before): the
    // like-for-like baseline of the engines below, which instantiate per task.
    const fresh = [];
    for (let i = 0; i < repeat; i++) {
      const t0 = performance.now();
      const f = new WebAssembly.Instance(compiled, DIRECT_IMPORTS).exports;
      callDirect(f, kernel, png);
      fresh.push(performance.now() - t0);
    }
    const row = { kernel, kind: KERNELS[kernel].kind, browserMs: median(browser), browserFreshMs: median(fresh) };
    const receipts = {};
    for (const [engine, { run }] of Object.entries(runtimes)) {
      const times = [];
      const walls = [];
      let report;
      // One run first (the worker's engine tiers up too), then the measured ones.
      for (let i = 0; i <= repeat; i++) {
        // A fresh nonce each time, so the memo never answers.
        const r = await run(KERNELS[kernel].func, argsOf(kernel), `bench-${Date.now()}-${nonce++}`);
        if (i === 0) continue;
        times.push(r.report.ms);
        walls.push(r.ms);
        report = r.report;
      }
      const out = JSON.parse(report.dagJson).out;
      const value = out[0] === "ok" ? out[1] : null;
      const same = expected instanceof Uint8Array ? value?.["/"]?.bytes === base64(expected) : value === expected;
      row[`${engine}Ms`] = median(times);
      row[`${engine}WallMs`] = median(walls);
      row[`${engine}Ratio`] = median(times) / row.browserMs;
      row[`${engine}Engine`] = report.engine;
      row[`${engine}SameOutput`] = same;
      row.fuel = report.fuel;
      // The receipt CID differs by nonce; the content without the instruction must not.
      receipts[engine] = JSON.stringify({ out, fuel: report.fuel });
    }
    row.sameReceipt = receipts.fast === receipts.wasmi;
    row.overheadMs = { fast: runtimes.fast.overheadMs, wasmi: runtimes.wasmi.overheadMs };
    rows.push(row);
  }
  for (const { rt } of Object.values(runtimes)) rt.close();
  return { rows, kernels: KERNELS, png: { width: PNG[0], height: PNG[1], bytes: png.length }, base64Png: base64(png) };
}
