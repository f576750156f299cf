// `npm run bench`: Homestar's image pipeline (crop of the middle 3/4 → rotate90 → grayscale,
// each step an await/ok of the one before, the picture a link, as Homestar's examples) on a
// photo-sized picture (a 1.8 MB PNG of noise, as large as Homestar's own), natively and in a
// tab, in one run:
//   - natively: the optimised `ipvm` (.build/bin/ipvm) on wasmtime (`--engine wasmtime`) and on
//     wasmi, the whole process (store, compile, three tasks, receipts): with `--memory` (the
//     guest module compiled in the process) and on a store whose wasmtime cache already holds
//     it (a module compiles once per machine);
//   - in a tab: the npm package's Runtime (the fast path, workers), `rt.run` of the same three
//     tasks, the module and picture added first.
// Each a new nonce, so nothing is a memo hit. Medians of BENCH_PIPELINE_REPEAT (default 3).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IPVM_BIN, GUESTS_WASM, launchBrowser, startServer } from "../e2e/helpers.mjs";
import { noisePng } from "../e2e/picture.mjs";

const ROOT = new URL("../../", import.meta.url).pathname;
const REPEAT = Number(process.env.BENCH_PIPELINE_REPEAT ?? 3);
const [WIDTH, HEIGHT] = [800, 750];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const dir = mkdtempSync(join(tmpdir(), "ipvm-pipeline-"));
const png = noisePng(WIDTH, HEIGHT);
const picturePath = join(dir, "picture.png");
writeFileSync(picturePath, png);
const [w, h] = [Math.floor((WIDTH * 3) / 4), Math.floor((HEIGHT * 3) / 4)];
const cropArgs = [Math.floor((WIDTH - w) / 2), Math.floor((HEIGHT - h) / 2), w, h];

// Natively.
const env = { ...process.env, IPVM_KEY: join(dir, "key") };
const ipvm = (args) => execFileSync(IPVM_BIN, args, { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 30 });
const [module, picture] = ipvm(["add", GUESTS_WASM, picturePath]).trim().split("\n").map((l) => l.split(/\s+/)[0]);
function workflow(nnc) {
  const call = (func, args) => ({ input: { args, func }, nnc, op: "wasm/run", rsc: `ipfs://${module}` });
  const cid = (run) => {
    const file = join(dir, "instruction.jsonl");
    writeFileSync(file, JSON.stringify(run));
    return ipvm(["instruction", file]).trim();
  };
  const crop = call("crop", [{ "/": picture }, ...cropArgs]);
  const rotate = call("rotate90", [{ "await/ok": { "/": cid(crop) } }]);
  const gray = call("grayscale", [{ "await/ok": { "/": cid(rotate) } }]);
  const task = (run) => ({ cause: null, meta: { memory: 4_294_967_296, time: 100_000 }, prf: [], run });
  const file = join(dir, `wf-${nnc}.json`);
  writeFileSync(file, JSON.stringify({ tasks: [crop, rotate, gray].map(task) }));
  return file;
}
let nonce = 0;
function native(engine, place) {
  const times = [];
  for (let i = 0; i < REPEAT; i++) {
    const wf = workflow(`native-${engine}-${place}-${nonce++}`);
    const where = place === "memory" ? ["--memory"] : ["--store", join(dir, `store-${engine}`)];
    const t0 = performance.now();
    const r = execFileSync(IPVM_BIN, ["run", wf, "--add", GUESTS_WASM, "--add", picturePath, "--engine", engine, ...where], {
      env,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 1 << 30,
    });
    times.push(performance.now() - t0);
    if (r.trim().split("\n").length !== 3) throw new Error(`${engine}: not three receipts`);
  }
  return median(times);
}
// A store's cache warmed once (its own run, not timed).
for (const engine of ["wasmtime", "wasmi"]) native(engine, "store");
const nativeMs = {
  wasmtime: { memory: native("wasmtime", "memory"), store: native("wasmtime", "store") },
  wasmi: { memory: native("wasmi", "memory"), store: native("wasmi", "store") },
};

// In a tab.
const { server, url } = await startServer();
const browser = await launchBrowser();
let tab;
try {
  const page = await browser.newPage();
  page.on("console", (m) => m.type() === "error" && console.error(m.text()));
  await page.goto(`${url}tests/e2e/pages/blank.html`);
  tab = await page.evaluate(
    async ({ pngBase64, cropArgs, repeat }) => {
      const ipvm = await import("/pkg/index.js");
      const bytes = Uint8Array.from(atob(pngBase64), (c) => c.charCodeAt(0));
      const rt = await ipvm.Runtime.open({ name: `bench-pipeline-${Date.now()}` });
      const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
      const picture = await rt.addModule(bytes);
      const times = [];
      let engines = [];
      for (let i = 0; i < repeat + 1; i++) {
        const nnc = `tab-${Date.now()}-${i}`;
        const limits = { time: 100_000 };
        const crop = await ipvm.wasmTask({ module, func: "crop", args: [{ "/": picture }, ...cropArgs], nnc, ...limits });
        const rotate = await ipvm.wasmTask({ module, func: "rotate90", args: [ipvm.awaitOk(crop.instruction)], nnc, ...limits });
        const gray = await ipvm.wasmTask({ module, func: "grayscale", args: [ipvm.awaitOk(rotate.instruction)], nnc, ...limits });
        const t0 = performance.now();
        const reports = await rt.run({ tasks: [crop.task, rotate.task, gray.task] }, { logs: "none" });
        const ms = performance.now() - t0;
        if (reports.some((r) => !r.ok)) throw new Error(JSON.stringify(reports.map((r) => r.error)));
        engines = reports.map((r) => r.engine);
        // The first run starts the workers and compiles the module: apart.
        if (i > 0) times.push(ms);
        else var firstMs = ms;
      }
      await rt.close();
      times.sort((a, b) => a - b);
      return { ms: times[Math.floor(times.length / 2)], firstMs, engines };
    },
    { pngBase64: png.toString("base64"), cropArgs, repeat: REPEAT },
  );
} finally {
  await browser.close();
  server.close();
}

const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
console.log(`\nHomestar's image pipeline (crop → rotate90 → grayscale) on a ${WIDTH}×${HEIGHT} PNG of ${png.length} bytes, median of ${REPEAT}:`);
console.log(`  natively, wasmtime: ${s(nativeMs.wasmtime.store)} (whole process, compiled code cached), ${s(nativeMs.wasmtime.memory)} (--memory: compiled in the process)`);
console.log(`  natively, wasmi:    ${s(nativeMs.wasmi.store)} (whole process, a store), ${s(nativeMs.wasmi.memory)} (--memory)`);
console.log(`  in a tab (npm package, ${tab.engines.join("/")}): ${s(tab.ms)} (rt.run; the first run, which starts the workers and compiles: ${s(tab.firstMs)})`);
mkdirSync(join(ROOT, ".build/bench"), { recursive: true });
writeFileSync(
  join(ROOT, ".build/bench/pipeline.json"),
  JSON.stringify({ repeat: REPEAT, picture: { width: WIDTH, height: HEIGHT, bytes: png.length }, nativeMs, tab }, null, 2),
);
