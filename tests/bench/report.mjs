// `npm run bench`'s report: gathers what the benches wrote to .build/bench/ (engines.json,
// runtime.json, scheduler.txt, store.txt) with the package's size and the machine, and writes
// bench/results.json (a stable shape, `schema` below, so later runs can be compared with it),
// bench/report.md and its SVG charts. Prints the report's path. Asserts nothing.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { cpus, totalmem, release, platform } from "node:os";
import { gzipSync } from "node:zlib";

const ROOT = new URL("../../", import.meta.url).pathname;
const read = (name) => (existsSync(`${ROOT}.build/bench/${name}`) ? readFileSync(`${ROOT}.build/bench/${name}`, "utf8") : null);
const engines = JSON.parse(read("engines.json") ?? "null");
const runtime = JSON.parse(read("runtime.json") ?? "null");
const profile = JSON.parse(read("profile.json") ?? "null");
const pipeline = JSON.parse(read("pipeline.json") ?? "null");
const node = JSON.parse(read("node.json") ?? "null");
const tabFetch = JSON.parse(read("tab-fetch.json") ?? "null");
const lookups = JSON.parse(read("lookups.json") ?? "null");
const offload = JSON.parse(read("offload.json") ?? "null");
const scheduler = (read("scheduler.txt") ?? "").split("\n").filter((l) => l.startsWith("scheduler,") || l.startsWith("parse"));
// The native store's bench: its table as printed, and its rows parsed.
const nativeStoreLines = (read("store.txt") ?? "").split("\n").filter((l) => l.trim());
const nativeStore = nativeStoreLines.length
  ? {
      lines: nativeStoreLines,
      rows: nativeStoreLines
        .map((l) => l.match(/^store, parallelism\s+(\d+):\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\S+)/))
        .filter(Boolean)
        .map((m) => ({
          parallelism: +m[1],
          receiptsPerSecond: +m[2],
          memoPerSecond: +m[3],
          receipts: +m[4],
          fileBytesPerReceipt: +m[5],
          receiptBytesPerReceipt: +m[6],
          writtenBytesPerReceipt: m[7] === "-" ? null : +m[7],
        })),
    }
  : null;
const wasm = readFileSync(`${ROOT}pkg/wasm/ipvm_web_bg.wasm`);
// The network build (pkg/wasm-net/): what a page opened with `peers` loads instead.
const netWasm = existsSync(`${ROOT}pkg/wasm-net/ipvm_web_bg.wasm`) ? readFileSync(`${ROOT}pkg/wasm-net/ipvm_web_bg.wasm`) : null;
let commit = null;
try {
  commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
} catch {}

/**
 * The shape of results.json, version 1:
 * {schema, date, commit, machine: {cpu, cores, memoryGiB, os, browser, node},
 *  package: {wasmBytes, wasmGzipBytes, netWasmBytes, netWasmGzipBytes (the network build; null if not built)},
 *  compute: {repeat, picture: {width, height, bytes}, rewriteMs, compileMs: {wasmi, wasmtime},
 *            rows: [{kernel, kind, chromiumMs, chromiumFreshMs (a new instance per call), fastMs,
 *                    fastRatio, wasmiTabMs, wasmiTabRatio, wasmiNativeMs, wasmiNativeRatio,
 *                    wasmtimeMs, wasmtimeRatio, wasmtimeFreshRatio, fuel, sameOutput}]},
 *  pipeline: {repeat, picture: {width, height, bytes}, nativeMs: {wasmtime|wasmi: {memory, store}},
 *             tab: {ms, firstMs, engines}} (Homestar's image pipeline, natively and in a tab),
 *  scaling: {task, points: [{workers, seconds, speedup, ideal}]},
 *  store: {tasks, writtenPerSecond, readPerSecond, memoPerSecond},
 *  memoHit: {aloneMs, piledMs, piled},
 *  signing: {signPerSecond, signParallelPerSecond, verifyGivenPerSecond, verifyStoredPerSecond},
 *  perTask: {tasks, executedPerSecond, memoPerSecond, allMemo} (a DAG of no-op tasks in a tab),
 *  coldStart: {firstReceiptMs, importedMs, openedMs, addedMs, executionMs, engine, runs},
 *  profile: {tasks, phases: {executed|memo: {ms, perSecond, split: {<part>: {msPerTask, share}}}}}
 *           (the page thread's CPU profile around each task; parts: scheduling, CIDs and encoding,
 *           signing, storage, locks, worker messaging, JS↔wasm glue, browser, idle, other),
 *  scheduler: [lines of `cargo bench -p ipvm-core`],
 *  node: {moduleBytes, rounds: [ms], idleMiB, holdingMiB} (ipvm node: bitswap of a module between
 *        two nodes on loopback, per round; VmRSS idle with an empty store and holding the module),
 *  tabFetch: {moduleBytes, rounds: [ms]} (bitswap of a module from ipvm node into a tab, addModule by CID),
 *  lookups: {batch, found, rounds, sequentialMs, parallelMs, busy} (receipt lookups from a js-libp2p
 *           peer to ipvm node on loopback: ms per request of `batch` instructions),
 *  offload: {rounds, medianMs, minMs, maxMs, capacityMs} (a trivial task offloaded by a js-libp2p
 *           peer to ipvm node --dev on loopback: the round trip; a capacity request's),
 *  nativeStore: {lines: [lines of `cargo bench -p ipvm-store`],
 *                rows: [{parallelism, receiptsPerSecond, memoPerSecond, receipts, fileBytesPerReceipt,
 *                        receiptBytesPerReceipt, writtenBytesPerReceipt}]} (SQLite through the scheduler),
 *  notMeasured: [rows the performance issue asks for that this report does not have yet]}
 * Times in ms unless named seconds; ratios are to Chromium running the module unmetered.
 */
const results = {
  schema: 1,
  date: new Date().toISOString(),
  commit,
  machine: {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()}`,
    browser: engines?.browser ?? runtime?.browser ?? null,
    node: process.version,
  },
  package: {
    wasmBytes: wasm.length,
    wasmGzipBytes: gzipSync(wasm, { level: 9 }).length,
    netWasmBytes: netWasm?.length ?? null,
    netWasmGzipBytes: netWasm ? gzipSync(netWasm, { level: 9 }).length : null,
  },
  compute: engines && {
    repeat: engines.repeat,
    picture: engines.png,
    rewriteMs: engines.rewriteMs,
    compileMs: engines.compileMs ?? null,
    rows: engines.rows.map((r) => ({
      kernel: r.kernel,
      kind: r.kind,
      chromiumMs: r.browserMs,
      chromiumFreshMs: r.browserFreshMs ?? null,
      fastMs: r.fastMs,
      fastRatio: r.fastRatio,
      wasmiTabMs: r.wasmiMs,
      wasmiTabRatio: r.wasmiRatio,
      wasmiNativeMs: r.nativeMs,
      wasmiNativeRatio: r.nativeMs == null ? null : r.nativeMs / r.browserMs,
      wasmtimeMs: r.wasmtimeMs ?? null,
      wasmtimeRatio: r.wasmtimeMs == null ? null : r.wasmtimeMs / r.browserMs,
      wasmtimeFreshRatio: r.wasmtimeMs == null || r.browserFreshMs == null ? null : r.wasmtimeMs / r.browserFreshMs,
      fuel: r.fuel,
      sameOutput: Boolean(
        r.fastSameOutput && r.wasmiSameOutput && r.sameReceipt && (r.nativeFuel == null || r.nativeFuel === r.fuel) && (r.wasmtimeFuel == null || r.wasmtimeFuel === r.fuel),
      ),
    })),
  },
  scaling: runtime && {
    task: "64 tasks of xorshift(60 000 000), on the default engine (the fast path)",
    points: runtime.scaling.map((p) => ({ workers: p.workers, seconds: p.seconds, speedup: runtime.scaling[0].seconds / p.seconds, ideal: p.workers })),
  },
  store: runtime && { tasks: runtime.n, writtenPerSecond: runtime.n / runtime.writeSeconds, readPerSecond: runtime.n / runtime.readSeconds, memoPerSecond: runtime.n / runtime.memoSeconds },
  memoHit: runtime && { aloneMs: runtime.hitAlone, piledMs: runtime.hitPiled, piled: runtime.pile },
  signing: runtime && { signPerSecond: runtime.signSequential, signParallelPerSecond: runtime.signParallel, verifyGivenPerSecond: runtime.verifyGiven, verifyStoredPerSecond: runtime.verifyStored },
  perTask: runtime?.dag ?? null,
  coldStart: runtime?.coldStart ?? null,
  profile,
  pipeline,
  scheduler,
  nativeStore,
  node,
  tabFetch,
  lookups,
  offload,
  notMeasured: [
    ...(profile ? [] : ["the split of the per-task cost (a CPU profile; needs the build's function names)"]),
    "the workers' threads in the profile (only the page's thread is profiled)",
  ],
};

// Charts: plain SVG, no library.
const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;");
function computeSvg(rows) {
  const series = [
    ["fast path", "fastRatio", "#2b8a3e"],
    ["wasmi in the tab", "wasmiTabRatio", "#c92a2a"],
    ["wasmi natively", "wasmiNativeRatio", "#e67700"],
    ["wasmtime natively", "wasmtimeRatio", "#1864ab"],
  ];
  const W = 720, left = 120, right = 20, barH = 10, gap = 10, top = 40;
  const height = top + rows.length * (series.length * barH + gap) + 40;
  const max = Math.max(...rows.flatMap((r) => series.map(([, k]) => r[k] ?? 1)));
  const x = (v) => left + (Math.log10(Math.max(v, 0.5)) - Math.log10(0.5)) / (Math.log10(max * 1.2) - Math.log10(0.5)) * (W - left - right);
  let out = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" font-family="sans-serif" font-size="11">`;
  out += `<text x="${left}" y="16" font-size="13">Time relative to Chromium running the module unmetered (log scale; 1× = as fast)</text>`;
  for (const t of [1, 2, 10, 100]) if (t <= max * 1.2) out += `<line x1="${x(t)}" y1="${top - 8}" x2="${x(t)}" y2="${height - 30}" stroke="#ddd"/><text x="${x(t)}" y="${height - 16}" text-anchor="middle">${t}×</text>`;
  rows.forEach((r, i) => {
    const y0 = top + i * (series.length * barH + gap);
    out += `<text x="${left - 6}" y="${y0 + (series.length * barH) / 2 + 4}" text-anchor="end">${esc(r.kernel)}</text>`;
    series.forEach(([, k, color], j) => {
      if (r[k] == null) return;
      const y = y0 + j * barH;
      out += `<rect x="${left}" y="${y}" width="${Math.max(1, x(r[k]) - left)}" height="${barH - 1}" fill="${color}"/><text x="${x(r[k]) + 3}" y="${y + barH - 2}">${r[k].toFixed(r[k] < 10 ? 2 : 0)}×</text>`;
    });
  });
  series.forEach(([name, , color], j) => (out += `<rect x="${left + j * 160}" y="24" width="10" height="8" fill="${color}"/><text x="${left + j * 160 + 14}" y="32">${name}</text>`));
  return out + "</svg>\n";
}
function scalingSvg(points) {
  const W = 420, H = 300, pad = 50;
  const n = Math.max(2, ...points.map((p) => p.workers));
  const x = (w) => pad + ((w - 1) / Math.max(1, n - 1)) * (W - 2 * pad);
  const y = (s) => H - pad - ((s - 1) / Math.max(1, n - 1)) * (H - 2 * pad);
  let out = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`;
  out += `<text x="${pad}" y="18" font-size="13">Speed-up against workers (fan-out of CPU-bound tasks)</text>`;
  out += `<line x1="${x(1)}" y1="${y(1)}" x2="${x(n)}" y2="${y(n)}" stroke="#999" stroke-dasharray="4 3"/><text x="${x(n) - 4}" y="${y(n) - 6}" text-anchor="end" fill="#666">ideal</text>`;
  out += `<polyline fill="none" stroke="#2b8a3e" stroke-width="2" points="${points.map((p) => `${x(p.workers)},${y(p.speedup)}`).join(" ")}"/>`;
  for (const p of points) out += `<circle cx="${x(p.workers)}" cy="${y(p.speedup)}" r="3" fill="#2b8a3e"/><text x="${x(p.workers) + 5}" y="${y(p.speedup) + 14}">${p.speedup.toFixed(2)}×</text><text x="${x(p.workers)}" y="${H - pad + 16}" text-anchor="middle">${p.workers}</text>`;
  out += `<text x="${W / 2}" y="${H - 12}" text-anchor="middle">workers</text>`;
  out += `<line x1="${pad}" y1="${y(1)}" x2="${pad}" y2="${y(n)}" stroke="#999"/>`;
  for (let t = 1; t <= n; t++) out += `<text x="${pad - 6}" y="${y(t) + 4}" text-anchor="end">${t}×</text>`;
  out += `<text x="14" y="${H / 2}" transform="rotate(-90 14 ${H / 2})" text-anchor="middle">speed-up</text>`;
  return out + "</svg>\n";
}

mkdirSync(`${ROOT}bench`, { recursive: true });
writeFileSync(`${ROOT}bench/results.json`, JSON.stringify(results, null, 2) + "\n");
const m = results.machine;
const lines = [
  "# ipvm-web performance report",
  "",
  `Written by \`npm run bench\` on ${results.date.slice(0, 10)} at commit \`${commit}\`. Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}; ${m.browser ?? "browser unknown"}, Node ${m.node}. The figures are medians; this VM varies by ±25% from run to run and more from hour to hour. The numbers are in [\`results.json\`](results.json) (its shape is documented at the top of \`tests/bench/report.mjs\`).`,
  "",
  `Package: ${(results.package.wasmBytes / 1e6).toFixed(2)} MB of wasm, ${(results.package.wasmGzipBytes / 1e6).toFixed(2)} MB gzip` +
    (results.package.netWasmBytes ? `; the network build (loaded only by \`Runtime.open({ peers })\`): ${(results.package.netWasmBytes / 1e6).toFixed(2)} MB, ${(results.package.netWasmGzipBytes / 1e6).toFixed(2)} MB gzip.` : "."),
  "",
];
if (results.compute) {
  const c = results.compute;
  const f = (v) => (v == null ? "—" : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(1)} ms`);
  const r = (v) => (v == null ? "—" : `${v.toFixed(v < 10 ? 2 : 0)}×`);
  lines.push(
    "## Compute",
    "",
    `Each kernel of the project's guest module on Chromium's engine running the module as built (unmetered), and through ipvm-web, which runs the metered module: the fast path (the browser's engine, in a worker) and wasmi (in a worker), and natively wasmi and wasmtime (the native node's engine, in the optimised build users get). An engine's time is the execution as it measured it (module, arguments, call, output), the module already compiled; *Chromium, a fresh instance* is the unmetered call on a new instance of the compiled module each time, as a task runtime runs every task (the column before it reuses one instance, its memory already grown and paged in); median of ${c.repeat}; the picture is a ${c.picture.width}×${c.picture.height} PNG of ${c.picture.bytes} bytes. The metering rewrite of the guest module takes ${c.rewriteMs ?? "—"} ms natively, once per module and store; compiling the metered module takes wasmi ${c.compileMs?.wasmi ?? "—"} ms and wasmtime ${c.compileMs?.wasmtime ?? "—"} ms, once per module (wasmtime's cache keeps it on disk, so once per machine).`,
    "",
    "| kernel | Chromium unmetered | Chromium, a fresh instance | fast path | ratio | wasmi in the tab | ratio | wasmi natively | ratio | wasmtime natively | ratio | ratio to a fresh instance | fuel | same output and fuel |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...c.rows.map((x) => `| ${x.kernel} | ${f(x.chromiumMs)} | ${f(x.chromiumFreshMs)} | ${f(x.fastMs)} | ${r(x.fastRatio)} | ${f(x.wasmiTabMs)} | ${r(x.wasmiTabRatio)} | ${f(x.wasmiNativeMs)} | ${r(x.wasmiNativeRatio)} | ${f(x.wasmtimeMs)} | ${r(x.wasmtimeRatio)} | ${r(x.wasmtimeFreshRatio)} | ${x.fuel} | ${x.sameOutput ? "yes" : "NO"} |`),
    "",
    "![Ratios to Chromium unmetered](compute.svg)",
    "",
  );
  writeFileSync(`${ROOT}bench/compute.svg`, computeSvg(c.rows));
}
if (results.pipeline) {
  const p = results.pipeline;
  const sec = (ms) => `${(ms / 1000).toFixed(2)} s`;
  lines.push(
    "## Homestar's image pipeline, natively and in a tab",
    "",
    `crop (the middle 3/4) → rotate90 → grayscale, each step awaiting the one before, on a ${p.picture.width}×${p.picture.height} PNG of ${p.picture.bytes} bytes (noise: as large as Homestar's own picture), from one run (tests/bench/pipeline.mjs); median of ${p.repeat}, no memo hits. Natively the whole \`ipvm run\` process of the optimised binary; in the tab \`rt.run\` of the npm package (workers started and the module compiled by an earlier run).`,
    "",
    "| where | engine | time |",
    "| --- | --- | --- |",
    `| natively, a store (compiled code cached) | wasmtime | ${sec(p.nativeMs.wasmtime.store)} |`,
    `| natively, \`--memory\` (compiled in the process) | wasmtime | ${sec(p.nativeMs.wasmtime.memory)} |`,
    `| natively, a store | wasmi | ${sec(p.nativeMs.wasmi.store)} |`,
    `| natively, \`--memory\` | wasmi | ${sec(p.nativeMs.wasmi.memory)} |`,
    `| in a tab | ${[...new Set(p.tab.engines)].join(", ")} | ${sec(p.tab.ms)} (first run ${sec(p.tab.firstMs)}) |`,
    "",
  );
}
if (results.scaling) {
  lines.push(
    "## Scaling",
    "",
    `${results.scaling.task}, against the number of workers up to the machine's cores, beside the ideal line.`,
    "",
    "| workers | seconds | speed-up | ideal |",
    "| --- | --- | --- | --- |",
    ...results.scaling.points.map((p) => `| ${p.workers} | ${p.seconds.toFixed(2)} | ${p.speedup.toFixed(2)}× | ${p.ideal}× |`),
    "",
    "![Speed-up against workers](scaling.svg)",
    "",
  );
  writeFileSync(`${ROOT}bench/scaling.svg`, scalingSvg(results.scaling.points));
}
if (results.store) {
  const s = results.store;
  lines.push(
    "## Around each task",
    "",
    `In a tab with IndexedDB, ${s.tasks} trivial tasks on the page thread: ${s.writtenPerSecond.toFixed(0)} receipts written per second end to end, ${s.readPerSecond.toFixed(0)} read (each checked), ${s.memoPerSecond.toFixed(0)} tasks per second when all are memo hits. A one-task run answered from the memo: ${results.memoHit.aloneMs.toFixed(2)} ms (${results.memoHit.piledMs.toFixed(2)} ms with ${results.memoHit.piled} non-reusable receipts piled on the instruction). Ed25519 with WebCrypto: ${results.signing.signPerSecond.toFixed(0)} signatures per second; receipt checks ${results.signing.verifyGivenPerSecond.toFixed(0)} per second given the bytes, ${results.signing.verifyStoredPerSecond.toFixed(0)} from the store.`,
    "",
  );
}
if (results.perTask) {
  const d = results.perTask;
  lines.push(
    "## Per-task cost",
    "",
    `A DAG of ${d.tasks} no-op tasks (\`add_one\`, independent) in a tab with IndexedDB and the worker pool: ${d.executedPerSecond.toFixed(0)} tasks per second executed, signed and stored; ${d.memoPerSecond.toFixed(0)} tasks per second when all are memo hits (the performance issue's targets: 5,000 and 20,000).`,
    "",
  );
}
if (results.profile) {
  const p = results.profile;
  const parts = [...new Set(Object.values(p.phases).flatMap((x) => Object.keys(x.split)))];
  const cell = (phase, part) => {
    const v = p.phases[phase]?.split[part];
    return v ? `${(v.msPerTask * 1000).toFixed(0)} µs (${(v.share * 100).toFixed(0)}%)` : "—";
  };
  lines.push(
    "## Where the time goes",
    "",
    `A CPU profile (DevTools protocol) of the page's thread while a DAG of ${p.tasks} no-op tasks runs: executed on the worker pool (${p.phases.executed?.perSecond.toFixed(0)} tasks/s under the profiler), then all memo hits (${p.phases.memo?.perSecond.toFixed(0)} tasks/s). Each sample is sorted by its function's name (rules in \`tests/bench/profile.mjs\`); *browser* is the engine's own work outside any script (IndexedDB and message plumbing, garbage collection).`,
    "",
    "| part | executed, per task | memo hit, per task |",
    "| --- | --- | --- |",
    ...parts.map((part) => `| ${part} | ${cell("executed", part)} | ${cell("memo", part)} |`),
    "",
  );
}
if (results.coldStart) {
  const c = results.coldStart;
  lines.push(
    "## Cold start",
    "",
    `From a page's navigation to its first receipt, the package in the browser's HTTP cache (served immutable, as a deployment with hashed file names would; a first visit, then ${c.runs} reloads; median): **${c.firstReceiptMs.toFixed(0)} ms** (target 150 ms). The package imported at ${c.importedMs.toFixed(0)} ms, the runtime open (its wasm compiled, IndexedDB opened, the key read) at ${c.openedMs.toFixed(0)} ms, the module added at ${c.addedMs.toFixed(0)} ms; the task itself took ${c.executionMs?.toFixed(1)} ms in its worker, on ${c.engine}.`,
    "",
  );
}
if (results.scheduler.length) lines.push("## The scheduler natively", "", "```", ...results.scheduler, "```", "");
if (results.nativeStore) lines.push("## The native store (SQLite) through the scheduler", "", "```", ...results.nativeStore.lines, "```", "");
if (results.node) {
  const n = results.node;
  const mib = n.moduleBytes / 2 ** 20;
  const sorted = [...n.rounds].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  lines.push(
    "## The native node (`ipvm node`)",
    "",
    `Bitswap (beetswap over the native store) of a ${mib} MiB module from one node to another on loopback, from the fetching node's connection to its last block: ${n.rounds.map((t) => `${t.toFixed(0)} ms`).join(", ")} (median ${median.toFixed(0)} ms, ${(mib / (median / 1000)).toFixed(1)} MiB/s). A node's memory (VmRSS, 5 s after it started, no peer): ${n.idleMiB.toFixed(1)} MiB with an empty store, ${n.holdingMiB.toFixed(1)} MiB holding the module in its in-memory store (tests/bench/node.mjs).`,
    "",
  );
}
if (results.tabFetch) {
  const t = results.tabFetch;
  const mib = t.moduleBytes / 2 ** 20;
  const sorted = [...t.rounds].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  lines.push(
    "## The tab on the network",
    "",
    `Bitswap of a ${mib} MiB module from \`ipvm node\` into a tab on loopback (the network build on the page: WebSocket, Noise, Yamux), by \`rt.addModule(cid)\`: every block checked against its CID and stored in IndexedDB, a fresh runtime and store each round (tests/bench/tab-fetch.mjs): ${t.rounds.map((x) => \`${x.toFixed(0)} ms\`).join(", ")} (median ${median.toFixed(0)} ms, ${(mib / (median / 1000)).toFixed(1)} MiB/s).`,
    "",
  );
}
if (results.lookups) {
  const l = results.lookups;
  lines.push(
    "## Receipt lookups between peers",
    "",
    `A js-libp2p peer asks \`ipvm node\` on loopback about ${l.batch} instructions per request (${l.found} of them answered with a receipt, its invocation and envelope), ${l.rounds} requests (tests/bench/lookups.mjs): ${l.sequentialMs.toFixed(1)} ms a request one at a time (${((l.batch * 1000) / l.sequentialMs).toFixed(0)} instructions/s), ${l.parallelMs.toFixed(1)} ms a request with 4 in flight (${((l.batch * 1000) / l.parallelMs).toFixed(0)} instructions/s; ${l.busy} answered busy).`,
    "",
  );
}
if (results.offload) {
  const o = results.offload;
  lines.push(
    "## Task offload between peers",
    "",
    `A js-libp2p peer hands \`ipvm node --dev\` on loopback a trivial task (add-one, a fresh self-issued invocation each, none a memo hit), one after another (tests/bench/offload.mjs): the round trip from request to the node's signed receipt, the invocation admitted, run, signed and stored, is ${o.medianMs.toFixed(1)} ms median (min ${o.minMs.toFixed(1)}, max ${o.maxMs.toFixed(1)}, ${o.rounds} rounds); a capacity request, ${o.capacityMs.toFixed(1)} ms.`,
    "",
  );
}
lines.push("## Not measured yet", "", ...results.notMeasured.map((n) => `- ${n}`), "");
writeFileSync(`${ROOT}bench/report.md`, lines.join("\n"));
console.log(`\nreport: bench/report.md, bench/results.json${results.compute ? ", bench/compute.svg" : ""}${results.scaling ? ", bench/scaling.svg" : ""}`);
