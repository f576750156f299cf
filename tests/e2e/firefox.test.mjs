// End to end in Firefox: Debian's firefox-esr (installed by `scripts/setup.sh --test`), headless,
// driven over WebDriver BiDi by puppeteer-core (no geckodriver, no browser download), with a
// fresh profile per run and the project's own server on loopback. The package's main flows:
// open and the WebCrypto Ed25519 identity, a workflow on both engines whose receipts are
// Chromium's and the native CLI's byte for byte (and whose signatures Chromium accepts), memo
// hits after a reload, the playground's pipeline, and the playground offline with its server
// stopped (the case in which www/sw.js once held worker imports until a deadlock, issue #34).
// Console errors and page errors of every Firefox page are collected; the last test asserts
// there were none.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer from "puppeteer-core";
import { GUESTS_WASM, ROOT, ipvm, launchBrowser, startServer } from "./helpers.mjs";

const FIREFOX = process.env.FIREFOX ?? "/usr/bin/firefox-esr";
const PICTURE = join(ROOT, "www/images/sample.png");
let server, url, firefox;
const errors = [];

before(async () => {
  if (!existsSync(FIREFOX)) {
    throw new Error(`Firefox not found at ${FIREFOX}: \`bash scripts/setup.sh --test\` installs Debian's firefox-esr (apt-get install firefox-esr), or set FIREFOX=/path/to/firefox`);
  }
  ({ server, url } = await startServer());
  // puppeteer-core makes a fresh temporary profile (removed at close) with its prefs that keep
  // Firefox off the network; the BiDi connection is a WebSocket on 127.0.0.1.
  firefox = await puppeteer.launch({ browser: "firefox", executablePath: FIREFOX, protocol: "webDriverBiDi", headless: true, protocolTimeout: 180_000 });
});

after(async () => {
  await firefox?.close();
  server?.close();
});

/** A Firefox page in a fresh browser context (its own IndexedDB, caches and service workers), errors collected. */
async function firefoxPage() {
  const context = await firefox.createBrowserContext();
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && errors.push(`console: ${m.text()}`));
  return { page, close: () => context.close().catch(() => {}) };
}

const blank = (at = url) => `${at}tests/e2e/pages/blank.html`;

/**
 * In the page (Firefox or Chromium, so one function for both): opens the runtime `name` on
 * `engine` with one worker, builds the workflow from `spec` (an argument `{await: i}` awaits
 * task i's result), runs it, and returns its reports, the DID, and a CAR of the receipts.
 */
async function runSpec({ name, engine, spec }) {
  const ipvm = await import("/pkg/index.js");
  const rt = await ipvm.Runtime.open({ name, engine, workers: 1 });
  const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
  const tasks = [];
  const instructions = [];
  for (const { func, args, fuel = 1_000_000 } of spec) {
    const resolved = args.map((a) => (a !== null && typeof a === "object" && "await" in a ? ipvm.awaitOk(instructions[a.await]) : a));
    const { task, instruction } = await ipvm.wasmTask({ module, func, args: resolved, fuel, time: 60_000 });
    tasks.push(task);
    instructions.push(instruction);
  }
  const workflow = { tasks };
  const reports = await rt.run(workflow);
  // The CAR as base64: a string crosses page.evaluate at once, an array of numbers item by item.
  const car = btoa(Array.from(await rt.exportCar(reports.map((r) => r.receipt)), (b) => String.fromCharCode(b)).join(""));
  const did = await rt.identity();
  await rt.close();
  return {
    did,
    workflow,
    instructions,
    car,
    reports: reports.map(({ status, ok, engine, receipt, dagJson, signers }) => ({ status, ok, engine, receipt, dagJson, signers })),
  };
}

// WIT types across the boundary (numbers, strings, nested lists, bytes, results, options, floats),
// an await, a longer computation, and one task that runs out of fuel: an error receipt.
const SPEC = [
  { func: "add_one", args: [1] },
  { func: "add_one", args: [{ await: 0 }] },
  { func: "join_strings", args: ["ipvm ", "in firefox"] },
  { func: "transpose", args: [[[1, 2, 3], [4, 5, 6]]] },
  { func: "hash", args: ["firefox"] },
  { func: "binary_search", args: [[1, 3, 5, 7], 5] },
  { func: "pop", args: [[]] },
  { func: "echo_f64", args: [0.1] },
  { func: "fib", args: [20] },
  { func: "fib", args: [30], fuel: 10_000 },
];

const outs = (reports) => reports.map((r) => JSON.parse(r.dagJson).out);

test("open and identity: a WebCrypto Ed25519 key, private and non-extractable, kept in IndexedDB, the signer of the receipts", async () => {
  const { page, close } = await firefoxPage();
  await page.goto(blank());
  const facts = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: "ff-identity", workers: 1 });
    const did = await rt.identity();
    const trust = await rt.trust();
    const stored = await new Promise((resolve, reject) => {
      const open = indexedDB.open("ipvm-web:ff-identity");
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const get = open.result.transaction("settings").objectStore("settings").get("identity");
        get.onsuccess = () => (open.result.close(), resolve(get.result));
        get.onerror = () => reject(get.error);
      };
    });
    const key = stored.privateKey;
    const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
    const { task } = await ipvm.wasmTask({ module, func: "add_one", args: [41] });
    const [report] = await rt.run({ tasks: [task] });
    const check = await rt.verifyReceipt(report.receipt);
    return {
      did,
      self: trust.self,
      storedDid: stored.did,
      key: { isCryptoKey: key instanceof CryptoKey, algorithm: key.algorithm.name, type: key.type, extractable: key.extractable, usages: key.usages },
      exported: await crypto.subtle.exportKey("pkcs8", key).then(() => "exported", (e) => e.name),
      signers: report.signers,
      out: JSON.parse(report.dagJson).out,
      check: { valid: check.valid, signer: check.signer, envelopes: check.envelopes },
    };
  });
  assert.match(facts.did, /^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$/, "an Ed25519 did:key");
  assert.equal(facts.self, facts.did);
  assert.equal(facts.storedDid, facts.did);
  assert.deepEqual(facts.key, { isCryptoKey: true, algorithm: "Ed25519", type: "private", extractable: false, usages: ["sign"] });
  assert.equal(facts.exported, "InvalidAccessError", "no script can read the private key");
  assert.deepEqual(facts.out, ["ok", 42]);
  assert.deepEqual(facts.signers, [facts.did]);
  assert.deepEqual(facts.check, { valid: true, signer: facts.did, envelopes: [{ valid: true, signer: facts.did }] });
  await close();
});

test("a workflow on both engines: the receipts are Chromium's and the native CLI's, byte for byte, and Chromium accepts Firefox's signatures", async () => {
  const { page, close } = await firefoxPage();
  await page.goto(blank());
  const ff = {};
  for (const engine of ["fast", "wasmi"]) ff[engine] = await page.evaluate(runSpec, { name: `ff-${engine}`, engine, spec: SPEC });
  await close();

  for (const engine of ["fast", "wasmi"]) {
    const { reports } = ff[engine];
    assert.deepEqual(reports.map((r) => [r.status, r.engine]), SPEC.map(() => ["ran", engine]), `${engine}: every task ran on ${engine}`);
    assert.deepEqual(reports.map((r) => r.signers), SPEC.map(() => [ff[engine].did]));
  }
  const out = outs(ff.fast.reports);
  assert.deepEqual(out.slice(0, 4), [["ok", 2], ["ok", 3], ["ok", "ipvm in firefox"], ["ok", [[1, 4], [2, 5], [3, 6]]]]);
  // hash is SHA-256: Node's, as DAG-JSON bytes (unpadded base64).
  assert.deepEqual(out[4], ["ok", { "/": { bytes: createHash("sha256").update("firefox").digest("base64").replace(/=+$/, "") } }]);
  assert.deepEqual(out.slice(5, 9), [["ok", [2, null]], ["ok", null], ["ok", 0.1], ["ok", 6765]]);
  assert.deepEqual(out[9], ["error", { kind: "out_of_fuel", message: "out of fuel after 9993 units (limit 10000)" }]);
  assert.deepEqual(ff.fast.reports.map((r) => r.ok), SPEC.map((_, i) => i !== 9));
  assert.deepEqual(ff.wasmi.reports.map((r) => [r.receipt, r.dagJson]), ff.fast.reports.map((r) => [r.receipt, r.dagJson]), "the same receipts on both engines");

  // The same workflow in Chromium, on both engines.
  const chromium = await launchBrowser();
  try {
    const context = await chromium.newContext();
    const cpage = await context.newPage();
    await cpage.goto(blank());
    for (const engine of ["fast", "wasmi"]) {
      const ch = await cpage.evaluate(runSpec, { name: `ch-${engine}`, engine, spec: SPEC });
      assert.deepEqual(ch.workflow, ff.fast.workflow, "the same workflow (instruction CIDs) in both browsers");
      assert.deepEqual(ch.reports.map((r) => r.engine), SPEC.map(() => engine));
      assert.deepEqual(ch.reports.map((r) => [r.receipt, r.dagJson]), ff[engine].reports.map((r) => [r.receipt, r.dagJson]), `Chromium ${engine} = Firefox ${engine}`);
    }
    // Firefox's receipts, signed with its WebCrypto key, carried to Chromium: a runtime that trusts
    // Firefox's DID checks each envelope, vouches for every receipt, and reuses them.
    const imported = await cpage.evaluate(
      async ({ car, did, workflow }) => {
        const ipvm = await import("/pkg/index.js");
        const rt = await ipvm.Runtime.open({ name: "ch-from-firefox", workers: 1, trust: { signers: [did] } });
        const report = await rt.importCar(Uint8Array.from(atob(car), (c) => c.charCodeAt(0)));
        const reports = await rt.run(workflow);
        return { vouched: report.vouched, refused: report.refused, reports: reports.map((r) => [r.status, r.receipt]) };
      },
      { car: ff.fast.car, did: ff.fast.did, workflow: ff.fast.workflow },
    );
    assert.deepEqual(imported.refused, []);
    assert.deepEqual([...imported.vouched].sort(), ff.fast.reports.map((r) => r.receipt).sort());
    // (A receipt that a limit ended is never reused, by design (docs/spec.md, "Error values and receipt classes"): it runs again, to the same receipt.)
    assert.deepEqual(imported.reports, ff.fast.reports.map((r, i) => [i === 9 ? "ran" : "reused", r.receipt]));
    await context.close();
  } finally {
    await chromium.close();
  }

  // And the native CLI.
  const dir = await mkdtemp(join(tmpdir(), "ipvm-ff-"));
  try {
    await writeFile(join(dir, "workflow.json"), JSON.stringify(ff.fast.workflow));
    const native = await ipvm(["run", join(dir, "workflow.json"), "--add", GUESTS_WASM]);
    // `run` exits 1 when a task failed (here the one out of fuel), and prints every receipt.
    assert.equal(native.code, 1, native.stderr);
    assert.match(native.stderr, /failed +task 9 .*out of fuel after 9993 units/);
    assert.deepEqual(native.stdout.trim().split("\n"), ff.fast.reports.map((r) => r.dagJson));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("memo hits after a reload: the same identity, the same receipts, nothing runs", async () => {
  const { page, close } = await firefoxPage();
  await page.goto(blank());
  const spec = SPEC.slice(0, 3);
  const first = await page.evaluate(runSpec, { name: "ff-memo", engine: "auto", spec });
  assert.deepEqual(first.reports.map((r) => r.status), ["ran", "ran", "ran"]);
  await page.reload();
  const again = await page.evaluate(async (workflow) => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: "ff-memo", workers: 1 });
    const events = [];
    const reports = await rt.run(workflow, { onEvent: (e) => events.push(e.type) });
    return { did: await rt.identity(), reports: reports.map((r) => [r.status, r.receipt]), events, reloaded: performance.getEntriesByType("navigation")[0]?.type };
  }, first.workflow);
  assert.equal(again.reloaded, "reload");
  assert.equal(again.did, first.did, "the identity survives the reload");
  assert.deepEqual(again.reports, first.reports.map((r) => ["reused", r.receipt]));
  assert.equal(again.events.filter((t) => t === "started").length, 0, "nothing started");
  assert.equal(again.events.filter((t) => t === "memo-hit").length, 3);
  await close();
});

/** Opens the playground at `at` and waits until it is ready. */
async function openPlayground(page, at = url) {
  await page.goto(`${at}www/`);
  await page.waitForFunction(() => window.playground?.ready === true, { timeout: 60_000 });
}

/** Clicks the pipeline's Run and waits for run number `runs` (a failed run says why). */
async function runPipeline(page, runs) {
  await page.click("#pipe-run");
  try {
    await page.waitForFunction((n) => window.playground.runs === n && /^done/.test(document.getElementById("pipe-status").textContent), { timeout: 120_000 }, runs);
  } catch (e) {
    const status = await page.evaluate(() => document.getElementById("pipe-status").textContent).catch(() => "?");
    throw new Error(`the pipeline did not finish: ${status}`, { cause: e });
  }
  return page.evaluate(() => window.playground.lastRun);
}

let pipelineReceipts;

test("the playground's pipeline: four images, the native CLI's receipts, then four memo hits", async () => {
  const { page, close } = await firefoxPage();
  await openPlayground(page);
  const run = await runPipeline(page, 1);
  assert.deepEqual(run.reports.map((r) => [r.status, r.engine]), [["ran", "fast"], ["ran", "fast"], ["ran", "fast"], ["ran", "fast"]]);
  await page.waitForFunction(() => [...document.querySelectorAll("#steps .step .frame img")].filter((i) => i.complete && i.naturalWidth > 0).length === 5);
  const sizes = await page.$$eval("#steps .step .frame img", (imgs) => imgs.map((i) => [i.naturalWidth, i.naturalHeight]));
  assert.deepEqual(sizes, [[160, 120], [120, 90], [90, 120], [90, 120], [90, 120]]);
  assert.deepEqual(await page.$$eval("#dag-view .node", (n) => n.map((g) => g.dataset.state)), ["done", "done", "done", "done"]);
  pipelineReceipts = run.reports.map((r) => r.receipt);

  const dir = await mkdtemp(join(tmpdir(), "ipvm-ff-pg-"));
  try {
    await writeFile(join(dir, "workflow.json"), JSON.stringify(run.workflow));
    const native = await ipvm(["run", join(dir, "workflow.json"), "--add", GUESTS_WASM, "--add", PICTURE]);
    assert.equal(native.code, 0, native.stderr);
    assert.deepEqual(native.stdout.trim().split("\n"), run.reports.map((r) => r.dagJson));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const again = await runPipeline(page, 2);
  assert.deepEqual(again.reports.map((r) => [r.status, r.receipt]), pipelineReceipts.map((c) => ["reused", c]));
  assert.match(await page.$eval("#pipe-status", (e) => e.textContent), /0 executed, 4 memo hits/);
  await close();
});

test("offline: the playground, loaded once, reloads from its service worker with the server stopped and runs the pipeline", async () => {
  const { server: own, url: at } = await startServer();
  const { page, close } = await firefoxPage();
  try {
    await openPlayground(page, at);
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, { timeout: 30_000 });
    assert.match(await page.$eval("#net", (e) => e.textContent), /cached for offline use/);
    own.closeAllConnections();
    await new Promise((r) => own.close(r));
    await page.reload();
    await page.waitForFunction(() => window.playground?.ready === true, { timeout: 60_000 });
    await page.waitForFunction(() => /offline/.test(document.getElementById("net").textContent), { timeout: 30_000 });
    assert.equal(await page.$eval("#net", (e) => e.textContent), "offline: running from the cache");
    // Every task runs in a worker whose module imports come from the service worker's cache.
    const run = await runPipeline(page, 1);
    const why = JSON.stringify(run.reports.map((r) => (r.dagJson ? JSON.parse(r.dagJson).out : r.reason)));
    assert.deepEqual(run.reports.map((r) => [r.status, r.ok, r.engine]), [["ran", true, "fast"], ["ran", true, "fast"], ["ran", true, "fast"], ["ran", true, "fast"]], why);
    if (pipelineReceipts) assert.deepEqual(run.reports.map((r) => r.receipt), pipelineReceipts, "the receipts of the online run");
    await page.waitForFunction(() => [...document.querySelectorAll("#steps .step .frame img")].filter((i) => i.complete && i.naturalWidth > 0).length === 5);
  } finally {
    own.closeAllConnections();
    own.close();
    await close();
  }
});

test("no console errors or page errors on any Firefox page of this file", () => {
  assert.deepEqual(errors, []);
});
