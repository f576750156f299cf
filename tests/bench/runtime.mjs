// `npm run bench`: the browser runtime's figures, in headless Chromium.
//  - receipts written and read per second in IndexedDB (a run of trivial tasks
//    on the page's thread, so the figure is dominated by the store);
//  - the worker pool's speed-up on a CPU-bound fan-out of 64 tasks, 1 worker
//    against N (N = navigator.hardwareConcurrency);
//  - the cost of a memo hit on an instruction that has 200 receipts that may
//    not be reused (out_of_fuel under 200 different fuel limits) piled up
//    beside its good one, against an instruction that has only its good one.
// Prints figures; asserts nothing about speed.
import { freshPage, launchBrowser, startServer } from "../e2e/helpers.mjs";

const { server, url } = await startServer();
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
      for (let i = 0; i < 64; i++) tasks.push((await ipvm.wasmTask({ module, func: "xorshift", args: [1_000_000], nnc: `w${workers}-${i}` })).task);
      await rt.run({ tasks: [(await ipvm.wasmTask({ module, func: "add_one", args: [0], nnc: `warm${workers}` })).task] });
      const t0 = performance.now();
      await rt.run({ tasks });
      const s = (performance.now() - t0) / 1000;
      await rt.close();
      return s;
    };
    out.one = await fanOut(1);
    out.many = await fanOut(navigator.hardwareConcurrency);

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
    return out;
  });
  console.log(`\nIndexedDB store, ${r.n} receipts (one trivial task each, page thread):`);
  console.log(`  written: ${(r.n / r.writeSeconds).toFixed(0)} receipts/s end to end (run + write + indexes)`);
  console.log(`  read:    ${(r.n / r.readSeconds).toFixed(0)} receipts/s (rt.receipt, verified on read)`);
  console.log(`  memo:    ${(r.n / r.memoSeconds).toFixed(0)} tasks/s when every task is a memo hit`);
  console.log(`\nWorker pool, fan-out of 64 CPU-bound tasks (xorshift 1e6 each):`);
  console.log(`  1 worker:  ${r.one.toFixed(2)} s`);
  console.log(`  ${r.cores} workers: ${r.many.toFixed(2)} s  (speed-up ${(r.one / r.many).toFixed(2)}× on ${r.cores} cores)`);
  console.log(`\nMemo hit (a one-task run answered from the store), mean of 200:`);
  console.log(`  instruction with only its good receipt:              ${r.hitAlone.toFixed(2)} ms`);
  console.log(`  instruction with ${r.pile} non-reusable receipts piled up too: ${r.hitPiled.toFixed(2)} ms`);
} finally {
  await browser.close();
  server.close();
}
