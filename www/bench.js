// Engine benchmark, run in a tab: the same guest module on the browser's own
// WebAssembly engine and on wasmi inside ipvm-web, over three CPU-bound
// kernels (an integer loop, SHA-256 rounds, a Gaussian blur of a PNG).
// `npm run bench` drives it through Playwright and prints the table; it can
// also be run by hand from bench.html.
import { Runtime, wasmTask } from "../pkg/index.js";

const KERNELS = {
  xorshift: { args: [30_000_000] },
  "sha256-rounds": { args: [60_000] },
  blur: { png: [256, 256], sigma: 2.0 },
};

/** Calls a wit-bindgen export on the browser's engine; results past one value come back by pointer. */
function listResult(exports, ret) {
  const view = new DataView(exports.memory.buffer);
  const ptr = view.getUint32(ret, true);
  const len = view.getUint32(ret + 4, true);
  return new Uint8Array(exports.memory.buffer, ptr, len).slice();
}

async function direct(bytes) {
  const imports = {
    "wasi:logging/logging": { log() {} },
    "homestar:host/helpers@0.0.1": { "get-current-time"() {} },
  };
  const { instance } = await WebAssembly.instantiate(bytes, imports);
  return instance.exports;
}

function base64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s).replace(/=+$/, "");
}

function time(f) {
  const t0 = performance.now();
  const out = f();
  return [performance.now() - t0, out];
}

async function timeAsync(f) {
  const t0 = performance.now();
  const out = await f();
  return [performance.now() - t0, out];
}

/** Runs every kernel on both engines; resolves to rows of figures. */
export async function benchEngines({ repeat = 3 } = {}) {
  const bytes = new Uint8Array(await (await fetch(new URL("./modules/ipvm_guests.wasm", import.meta.url))).arrayBuffer());
  const rt = await Runtime.open();
  const module = await rt.addModule(bytes);
  const e = await direct(bytes);
  // The blur input, made by the guest itself.
  const [w, h] = KERNELS.blur.png;
  const retPng = e["make-png"](w, h);
  const png = listResult(e, retPng);
  e["cabi_post_make-png"](retPng);

  const native = {
    xorshift: () => e.xorshift(...KERNELS.xorshift.args) >>> 0,
    "sha256-rounds": () => {
      const r = e["sha256-rounds"](...KERNELS["sha256-rounds"].args);
      const out = listResult(e, r);
      e["cabi_post_sha256-rounds"](r);
      return out;
    },
    blur: () => {
      const ptr = e.cabi_realloc(0, 0, 1, png.length);
      new Uint8Array(e.memory.buffer, ptr, png.length).set(png);
      const r = e.blur(ptr, png.length, KERNELS.blur.sigma);
      const out = listResult(e, r);
      e.cabi_post_blur(r);
      return out;
    },
  };
  const argsOf = (k) => (k === "blur" ? [{ "/": { bytes: base64(png) } }, KERNELS.blur.sigma] : KERNELS[k].args);
  const rows = [];
  let nonce = 0;
  for (const kernel of Object.keys(KERNELS)) {
    const nativeTimes = [];
    let nativeOut;
    for (let i = 0; i < repeat; i++) {
      const [t, out] = time(native[kernel]);
      nativeTimes.push(t);
      nativeOut = out;
    }
    const wasmiTimes = [];
    let report;
    for (let i = 0; i < repeat; i++) {
      // A fresh nonce each time, so the memo never answers.
      const { task } = await wasmTask({ module, func: kernel, args: argsOf(kernel), nnc: `bench-${Date.now()}-${nonce++}`, time: 600_000 });
      const [t, reports] = await timeAsync(() => rt.run({ tasks: [task] }));
      wasmiTimes.push(t);
      report = reports[0];
    }
    const out = JSON.parse(report.dagJson).out;
    const wasmiOut = out[0] === "ok" ? out[1] : null;
    const same =
      nativeOut instanceof Uint8Array
        ? wasmiOut && typeof wasmiOut === "object" && wasmiOut["/"]?.bytes === base64(nativeOut)
        : wasmiOut === nativeOut;
    const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    rows.push({ kernel, browserMs: median(nativeTimes), wasmiMs: median(wasmiTimes), ratio: median(wasmiTimes) / median(nativeTimes), fuel: report.fuel, sameOutput: same });
  }
  return rows;
}
