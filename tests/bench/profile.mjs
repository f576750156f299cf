// `npm run bench`: where a tab's main thread spends its time around each task. Runs a DAG of
// no-op tasks (executed on the worker pool, then all memo hits) under a DevTools-protocol CPU
// profile of the page, and sorts every sample into the parts of the per-task cost: scheduling,
// CIDs and encoding, signing, storage (IndexedDB), locks, worker messaging, the JS<->wasm glue,
// the browser's own work, and idle. Needs a build of the package that keeps its function
// names (scripts/bench.sh makes one in .build/pkg-prof/). Writes .build/bench/profile.json.
// Prints figures; asserts nothing.
import { mkdirSync, writeFileSync, existsSync } from "node:fs";
import { freshPage, launchBrowser, startServer, ROOT } from "../e2e/helpers.mjs";

const PKG = "/.build/pkg-prof/index.js";
if (!existsSync(`${ROOT}${PKG}`)) {
  // Never a silent skip: the report would lack its split without saying why.
  throw new Error("profile: .build/pkg-prof/ is missing (a build that keeps function names); run `npm run bench`, which makes it");
}
const N = Number(process.env.BENCH_PROFILE_TASKS ?? 2000);
// The first rule that matches a frame's function name (or its script) names its part.
const PARTS = [
  ["idle", /^\(idle\)$/],
  ["browser", /^\((program|garbage collector)\)$/],
  ["JS↔wasm glue", /^(decode|encode|encodeInto)$/],
  ["signing", /ed25519|curve25519|Signer|sign$|^sign|Envelope/i],
  ["CIDs and encoding", /keccak|sha2|sha3|Sha|cid::|multihash|multibase|data_encoding|serde_ipld_dagcbor|dagcbor|dag_cbor|dagjson|dag_json|serde_json|ipld_core|::address::|to_ipld|from_ipld|encode|decode/i],
  ["storage", /indexeddb|IndexedDb|^(put|get|getAll|getKey|count|transaction|objectStore|index|openCursor|continue|commit|abort)$|idb::|read_row|row_put|store::|memo::|IDB/],
  ["locks", /^request$|coordinate::|WebLock|HeldLock|locks/],
  ["worker messaging", /postMessage|onmessage|#post|#pump|#answered|dispatch|instructionOf|pool::|PoolExecutor|BroadcastChannel|announce/],
  ["scheduling", /scheduler::|Scheduler|runlog|RunLog|awaits::|Workflow|run_state|FuturesUnordered|futures_util|futures::|Quarantine|trust::/],
  ["JS↔wasm glue", /wasm-to-js|js-to-wasm|getStringFromWasm|passStringToWasm|makeMutClosure|externref|__wbg|__wbindgen|dlmalloc|alloc::|getArrayU8|decodeText|TextDecoder|TextEncoder|wasm_bindgen|js_sys|closure|queueMicrotask|setTimeout|yield/],
];
const part = (frame) => {
  const name = frame.functionName || `(${frame.url.split("/").pop()})`;
  for (const [p, re] of PARTS) if (re.test(name)) return p;
  return frame.url.includes("ipvm_web") ? "JS↔wasm glue" : "other";
};

const { server, url } = await startServer();
const browser = await launchBrowser();
const out = { tasks: N, phases: {} };
try {
  const page = await freshPage(browser);
  await page.goto(`${url}tests/e2e/pages/blank.html`);
  await page.evaluate(
    async ({ n, pkg }) => {
      const ipvm = await import(pkg);
      const rt = await ipvm.Runtime.open({ name: "bench-profile" });
      const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
      const tasks = [];
      for (let i = 0; i < n; i++) tasks.push((await ipvm.wasmTask({ module, func: "add_one", args: [i], nnc: "profile" })).task);
      await rt.run({ tasks: tasks.slice(0, 2) }, { logs: "none" });
      window.go = async () => {
        const t0 = performance.now();
        await rt.run({ tasks }, { logs: "none" });
        return performance.now() - t0;
      };
    },
    { n: N, pkg: PKG },
  );
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
  for (const phase of ["executed", "memo"]) {
    await cdp.send("Profiler.start");
    const ms = await page.evaluate(() => window.go());
    const { profile } = await cdp.send("Profiler.stop");
    const byId = new Map(profile.nodes.map((x) => [x.id, x]));
    const parts = {};
    const names = {};
    let total = 0;
    profile.samples.forEach((id, i) => {
      const us = profile.timeDeltas[i] ?? 0;
      const frame = byId.get(id).callFrame;
      const p = part(frame);
      parts[p] = (parts[p] ?? 0) + us;
      const name = `${p}: ${frame.functionName || `(${frame.url.split("/").pop()}:${frame.lineNumber})`}`;
      names[name] = (names[name] ?? 0) + us;
      total += us;
    });
    // BENCH_PROFILE_DETAIL=1 also prints the heaviest functions.
    if (process.env.BENCH_PROFILE_DETAIL) {
      for (const [k, us] of Object.entries(names).sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`    ${(us / 1000 / N * 1000).toFixed(0).padStart(5)} µs/task  ${k.slice(0, 120)}`);
    }
    const split = Object.fromEntries(Object.entries(parts).sort((a, b) => b[1] - a[1]).map(([p, us]) => [p, { msPerTask: us / 1000 / N, share: us / total }]));
    out.phases[phase] = { ms, perSecond: (N / ms) * 1000, split };
    console.log(`\nProfile of the page's thread, ${N} no-op tasks ${phase === "memo" ? "all memo hits" : "executed on the pool"}: ${((N / ms) * 1000).toFixed(0)} tasks/s`);
    for (const [p, v] of Object.entries(split)) console.log(`  ${p.padEnd(18)} ${(v.msPerTask * 1000).toFixed(0).padStart(5)} µs/task  ${(v.share * 100).toFixed(1).padStart(5)}%`);
  }
  await page.close();
} finally {
  await browser.close();
  server.close();
}
mkdirSync(`${ROOT}/.build/bench`, { recursive: true });
writeFileSync(`${ROOT}/.build/bench/profile.json`, JSON.stringify(out, null, 2));
