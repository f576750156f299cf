// `npm run bench`: the browser runtime's figures, in headless Chromium.
//  - receipts written and read per second in IndexedDB (a run of trivial tasks
//    on the page's thread, so the figure is dominated by the store);
//  - the worker pool's speed-up on a CPU-bound fan-out of 64 tasks, 1 worker
//    against N (N = navigator.hardwareConcurrency);
//  - the cost of a memo hit on an instruction that has 200 receipts that may
//    not be reused (out_of_fuel under 200 different fuel limits) piled up
//    beside its good one, against an instruction that has only its good one;
//  - signing and verifying: Ed25519 signatures per second with WebCrypto (the
//    runtime's key), one at a time and 100 in flight; receipt checks per
//    second (`rt.verifyReceipt`, ed25519-dalek in the runtime's wasm), given
//    the bytes and read from the store.
// Prints figures; asserts nothing about speed.
import { mkdirSync, writeFileSync } from "node:fs";
import { freshPage, launchBrowser, startServer } from "../e2e/helpers.mjs";

// The package is served as a deployment would (cached, immutable): the cold start is a return visit.
const { server, url } = await startServer({ cache: "immutable" });
const browser = await launchBrowser();
try {
  const page = await freshPage(browser);
  page.on("console", (m) => m.type() === "error" && console.error(m.text()));
  await page.goto(`${url}tests/e2e/pages/blank.html`);
  const r = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const moduleUrl = new URL("/www/modules/ipvm_guests.wasm", location.href);
    const out = { cores: navigator.hardwareConcurrency };

    // 1. Store throughput.
    const rt = await ipvm.Runtime.open({ name: "bench-store", workers: 0 });
    const module = await rt.addModule(moduleUrl);
    const N = 1000;
    const tasks = [];
    for (let i = 0; i < N; i++) tasks.push((await ipvm.wasmTask({ module, func: "add_one", args: [i] })).task);
    let t0 = performance.now();
    const reports = await rt.run({ tasks }, { logs: "none" });
    out.writeSeconds = (performance.now() - t0) / 1000;
    t0 = performance.now();
    for (const rep of reports) await rt.receipt(rep.receipt);
    out.readSeconds = (performance.now() - t0) / 1000;
    t0 = performance.now();
    await rt.run({ tasks }, { logs: "none" });
    out.memoSeconds = (performance.now() - t0) / 1000;
    out.n = N;
    await rt.close();

    // 2. Worker pool speed-up.
    const fanOut = async (workers) => {
      const rt = await ipvm.Runtime.open({ name: `bench-pool-${workers}`, workers });
      const module = await rt.addModule(moduleUrl);
      const tasks = [];
      for (let i = 0; i < 64; i++) tasks.push((await ipvm.wasmTask({ module, func: "xorshift", args: [60_000_000], nnc: `w${workers}-${i}` })).task);
      await rt.run({ tasks: [(await ipvm.wasmTask({ module, func: "add_one", args: [0], nnc: `warm${workers}` })).task] });
      const t0 = performance.now();
      await rt.run({ tasks });
      const s = (performance.now() - t0) / 1000;
      await rt.close();
      return s;
    };
    // Against the number of workers, 1 up to the machine's cores.
    out.scaling = [];
    for (let w = 1; w <= navigator.hardwareConcurrency; w++) out.scaling.push({ workers: w, seconds: await fanOut(w) });
    out.one = out.scaling[0].seconds;
    out.many = out.scaling[out.scaling.length - 1].seconds;

    // 3. A memo hit with receipts piled up on the instruction.
    {
      const rt = await ipvm.Runtime.open({ name: "bench-pile", workers: 0 });
      const module = await rt.addModule(moduleUrl);
      const spec = (nnc, fuel) => ipvm.wasmTask({ module, func: "xorshift", args: [100_000], nnc, fuel });
      out.pile = 200;
      for (let i = 0; i < out.pile; i++) await rt.run({ tasks: [(await spec("piled", 1_000 + i)).task] }, { logs: "none" });
      const hit = async (nnc) => {
        const { task } = await spec(nnc);
        await rt.run({ tasks: [task] }, { logs: "none" });
        const rounds = 200;
        const t0 = performance.now();
        for (let i = 0; i < rounds; i++) await rt.run({ tasks: [task] }, { logs: "none" });
        return (performance.now() - t0) / rounds;
      };
      out.hitPiled = await hit("piled");
      out.hitAlone = await hit("alone");
      await rt.close();
    }

    // 4. Signing and verifying.
    {
      const rt = await ipvm.Runtime.open({ name: "bench-sign", workers: 0 });
      const module = await rt.addModule(moduleUrl);
      const { task } = await ipvm.wasmTask({ module, func: "add_one", args: [1] });
      const [rep] = await rt.run({ tasks: [task] }, { logs: "none" });
      // The key is non-extractable; sign with a key of the same kind.
      const pair = await crypto.subtle.generateKey("Ed25519", false, ["sign", "verify"]);
      const message = new Uint8Array(120); // about the size of a signed payload
      const S = 2000;
      let t0 = performance.now();
      for (let i = 0; i < S; i++) await crypto.subtle.sign("Ed25519", pair.privateKey, message);
      out.signSequential = S / ((performance.now() - t0) / 1000);
      t0 = performance.now();
      for (let i = 0; i < S; i += 100) {
        await Promise.all(Array.from({ length: 100 }, () => crypto.subtle.sign("Ed25519", pair.privateKey, message)));
      }
      out.signParallel = S / ((performance.now() - t0) / 1000);
      // The receipt's bytes and envelope, from the runtime's own archive.
      const car = await rt.exportCar([rep.receipt]);
      const stored = await rt.receipt(rep.receipt);
      const blocks = [];
      {
        let at = 0;
        const varint = () => { let n = 0, s = 0; for (;;) { const b = car[at++]; n += (b & 0x7f) * 2 ** s; if (b < 0x80) return n; s += 7; } };
        const header = varint();
        at += header;
        while (at < car.length) { const len = varint(); blocks.push(car.subarray(at, at + len)); at += len; }
      }
      // The receipt block: a CID of 36 bytes (v1, dag-cbor 0x71, sha3-256 0x16), then a map of
      // six keys (0xa6); the invocation block is a map of one key, the envelope a list.
      const receiptBytes = blocks.find((b) => b[1] === 0x71 && b[2] === 0x16 && b[36] === 0xa6).subarray(36);
      const V = 2000;
      t0 = performance.now();
      for (let i = 0; i < V; i++) await rt.verifyReceipt({ receipt: receiptBytes, envelopes: stored.envelopes });
      out.verifyGiven = V / ((performance.now() - t0) / 1000);
      out.verifyValid = (await rt.verifyReceipt({ receipt: receiptBytes, envelopes: stored.envelopes })).valid;
      t0 = performance.now();
      for (let i = 0; i < V; i++) await rt.verifyReceipt(rep.receipt);
      out.verifyStored = V / ((performance.now() - t0) / 1000);
      await rt.close();
    }
    return out;
  });
  // 5. Cold start: the page's navigation to its first receipt, the package cached (a first
  // visit warms the HTTP cache, the IndexedDB store and the metered-module cache; then reloads).
  {
    const cold = await freshPage(browser);
    await cold.goto(`${url}tests/bench/pages/cold.html`);
    await cold.waitForFunction(() => window.cold, null, { timeout: 60_000 });
    const runs = [];
    for (let i = 0; i < 5; i++) {
      await cold.reload();
      await cold.waitForFunction(() => window.cold, null, { timeout: 60_000 });
      runs.push(await cold.evaluate(() => window.cold));
    }
    const med = (k) => runs.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(runs.length / 2)];
    r.coldStart = { firstReceiptMs: med("firstReceipt"), importedMs: med("imported"), openedMs: med("opened"), addedMs: med("added"), executionMs: med("executionMs"), engine: runs[0].engine, runs: runs.length };
    await cold.close();
  }
  // 6. Per-task cost: a DAG of N no-op tasks (add_one, each awaiting nothing) in a tab with
  // IndexedDB and the worker pool, executed, then run again (all memo hits).
  {
    const n = Number(process.env.BENCH_DAG_TASKS ?? 10_000);
    const page = await freshPage(browser);
    await page.goto(`${url}tests/e2e/pages/blank.html`);
    r.dag = await page.evaluate(async (n) => {
      const ipvm = await import("/pkg/index.js");
      const rt = await ipvm.Runtime.open({ name: "bench-dag" });
      const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
      const tasks = [];
      for (let i = 0; i < n; i++) tasks.push((await ipvm.wasmTask({ module, func: "add_one", args: [i], nnc: "dag" })).task);
      let t0 = performance.now();
      await rt.run({ tasks }, { logs: "none" });
      const executedSeconds = (performance.now() - t0) / 1000;
      t0 = performance.now();
      const again = await rt.run({ tasks }, { logs: "none" });
      const memoSeconds = (performance.now() - t0) / 1000;
      await rt.close();
      return { tasks: n, executedPerSecond: n / executedSeconds, memoPerSecond: n / memoSeconds, allMemo: again.every((x) => x.status === "reused") };
    }, n);
    await page.close();
  }
  console.log(`\nCold start (page navigation to the first receipt, package cached, median of ${r.coldStart.runs} reloads): ${r.coldStart.firstReceiptMs.toFixed(0)} ms`);
  console.log(`  package imported ${r.coldStart.importedMs.toFixed(0)} ms, runtime open ${r.coldStart.openedMs.toFixed(0)} ms, module added ${r.coldStart.addedMs.toFixed(0)} ms, first receipt ${r.coldStart.firstReceiptMs.toFixed(0)} ms (its execution ${r.coldStart.executionMs?.toFixed(1)} ms on ${r.coldStart.engine})`);
  console.log(`\nA DAG of ${r.dag.tasks} no-op tasks in a tab (IndexedDB, workers): ${r.dag.executedPerSecond.toFixed(0)} tasks/s executed, signed and stored; ${r.dag.memoPerSecond.toFixed(0)} tasks/s when all are memo hits (${r.dag.allMemo ? "all were" : "NOT all were"})`);
  console.log(`\nIndexedDB store, ${r.n} receipts (one trivial task each, page thread):`);
  console.log(`  written: ${(r.n / r.writeSeconds).toFixed(0)} receipts/s end to end (run + write + indexes)`);
  console.log(`  read:    ${(r.n / r.readSeconds).toFixed(0)} receipts/s (rt.receipt, verified on read)`);
  console.log(`  memo:    ${(r.n / r.memoSeconds).toFixed(0)} tasks/s when every task is a memo hit`);
  console.log(`\nWorker pool, fan-out of 64 CPU-bound tasks (xorshift 6e7 each, about 0.1 s on the fast path):`);
  console.log(`  1 worker:  ${r.one.toFixed(2)} s`);
  console.log(`  ${r.cores} workers: ${r.many.toFixed(2)} s  (speed-up ${(r.one / r.many).toFixed(2)}× on ${r.cores} cores)`);
  console.log(`\nMemo hit (a one-task run answered from the store), mean of 200:`);
  console.log(`  instruction with only its good receipt:              ${r.hitAlone.toFixed(2)} ms`);
  console.log(`  instruction with ${r.pile} non-reusable receipts piled up too: ${r.hitPiled.toFixed(2)} ms`);
  console.log(`\nSigning and verifying (Ed25519):`);
  console.log(`  WebCrypto sign, one at a time:  ${r.signSequential.toFixed(0)} signatures/s (${(1000 / r.signSequential).toFixed(3)} ms each)`);
  console.log(`  WebCrypto sign, 100 in flight:  ${r.signParallel.toFixed(0)} signatures/s`);
  console.log(`  rt.verifyReceipt, bytes given:  ${r.verifyGiven.toFixed(0)} receipts/s (valid: ${r.verifyValid})`);
  console.log(`  rt.verifyReceipt, from store:   ${r.verifyStored.toFixed(0)} receipts/s`);
  // For the report (tests/bench/report.mjs).
  const root = new URL("../../", import.meta.url).pathname;
  mkdirSync(`${root}.build/bench`, { recursive: true });
  writeFileSync(`${root}.build/bench/runtime.json`, JSON.stringify({ browser: await browser.version(), ...r }, null, 2));
} finally {
  await browser.close();
  server.close();
}
