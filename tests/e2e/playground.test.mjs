// End to end: the playground page (www/), used as a person would, in headless
// Chromium. Each numbered test follows the playground issue's list, asserts
// what is on the page, and saves a screenshot to tests/e2e/screenshots/.
// Console errors and page errors are collected from every page of the file;
// the last test asserts there were none.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GUESTS_WASM, ROOT, freshPage, ipvm, startServer } from "./helpers.mjs";
import { useSession } from "./session.mjs";

let url, browser;
useSession((s) => ({ url, browser } = s));

const SHOTS = join(ROOT, "tests/e2e/screenshots");
const PICTURE = join(ROOT, "www/images/sample.png");
const errors = [];
let page; // tests 1–3 and 5–8 continue on the same page, as one visitor would

async function open(p, at = url) {
  p.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  p.on("console", (m) => m.type() === "error" && errors.push(`console: ${m.text()}`));
  await p.goto(`${at}www/`);
  await ready(p);
  return p;
}

async function ready(p) {
  await p.waitForFunction(() => window.playground?.ready === true, null, { timeout: 60_000 });
}

async function shot(p, name) {
  await mkdir(SHOTS, { recursive: true });
  await p.screenshot({ path: join(SHOTS, `playground-${name}.png`), fullPage: true });
}

async function runPipeline(p, runs) {
  await p.click("#pipe-run");
  await p.waitForFunction((n) => window.playground.runs === n && /^done/.test(document.getElementById("pipe-status").textContent), runs, { timeout: 120_000 });
  return p.evaluate(() => window.playground.lastRun);
}

const stepFacts = (p) => p.$$eval("#steps .step", (cards) => cards.map((c) => ({ step: c.dataset.step, img: c.querySelector(".frame img") ? { w: c.querySelector(".frame img").naturalWidth, h: c.querySelector(".frame img").naturalHeight } : null, facts: c.querySelector(".facts").textContent, status: c.dataset.status ?? null })));

test("1. the image pipeline runs: four images and four receipts appear, the same receipts as the native CLI", async () => {
  page = await open(await freshPage(browser));
  const run = await runPipeline(page, 1);
  assert.deepEqual(run.reports.map((r) => r.status), ["ran", "ran", "ran", "ran"]);
  assert.deepEqual(run.reports.map((r) => r.engine), ["fast", "fast", "fast", "fast"]);
  // Wait for each step's image (they are read from the receipts as the tasks finish).
  await page.waitForFunction(() => [...document.querySelectorAll("#steps .step .frame img")].filter((i) => i.complete && i.naturalWidth > 0).length === 5);
  const steps = await stepFacts(page);
  assert.deepEqual(steps.map((s) => s.step), ["picture", "crop", "rotate90", "grayscale", "blur"]);
  // 160×120 → crop 3/4 (120×90) → rotate (90×120) → grayscale, blur (same size).
  assert.deepEqual(steps.map((s) => s.img), [{ w: 160, h: 120 }, { w: 120, h: 90 }, { w: 90, h: 120 }, { w: 90, h: 120 }, { w: 90, h: 120 }]);
  for (const s of steps.slice(1)) assert.match(s.facts, /^fuel [\d.]+ [kMG]? ?· [\d.]+ (ms|s) on fast$/, `${s.step}: ${s.facts}`);
  const listed = await page.$$eval("#rc-list li[data-receipt]", (li) => li.map((l) => l.dataset.receipt));
  assert.deepEqual(listed, run.reports.map((r) => r.receipt));
  assert.deepEqual(await page.$$eval("#dag-view .node", (n) => n.map((g) => g.dataset.state)), ["done", "done", "done", "done"]);

  // The same workflow on the native CLI gives the same receipts, byte for byte.
  const dir = await mkdtemp(join(tmpdir(), "ipvm-pg-"));
  await writeFile(join(dir, "workflow.json"), JSON.stringify(run.workflow));
  const native = await ipvm(["run", join(dir, "workflow.json"), "--add", GUESTS_WASM, "--add", PICTURE]);
  assert.equal(native.code, 0, native.stderr);
  assert.deepEqual(native.stdout.trim().split("\n"), run.reports.map((r) => r.dagJson));
  await shot(page, "1-pipeline");
});

test("2. run again: four memo hits, nothing executes, and the DAG view shows each node as a memo hit", async () => {
  const first = await page.evaluate(() => window.playground.lastRun);
  const again = await runPipeline(page, 2);
  assert.deepEqual(again.reports.map((r) => r.status), ["reused", "reused", "reused", "reused"]);
  assert.deepEqual(again.reports.map((r) => r.receipt), first.reports.map((r) => r.receipt));
  assert.equal(again.events.filter((e) => e.type === "started").length, 0, "nothing started");
  assert.equal(again.events.filter((e) => e.type === "memo-hit").length, 4);
  assert.deepEqual(await page.$$eval("#dag-view .node", (n) => n.map((g) => g.dataset.state)), ["memo", "memo", "memo", "memo"]);
  const titles = await page.$$eval("#dag-view .node title", (t) => t.map((x) => x.textContent));
  for (const t of titles) assert.match(t, /memo hit\nfuel: [\d,]+/);
  assert.match(await page.textContent("#pipe-status"), /0 executed, 4 memo hits/);
  for (const s of (await stepFacts(page)).slice(1)) assert.match(s.facts, /memo hit: nothing ran/);
  await shot(page, "2-memo-hits");
});

test("3. after a reload the receipts are still there: opened by CID, counted, and memo hits again", async () => {
  const before = await page.evaluate(() => window.playground.lastRun.reports.map((r) => r.receipt));
  await page.reload();
  await ready(page);
  await page.fill("#rev-cid", before[3]);
  await page.click("#rev-go");
  await page.waitForSelector("#rc-detail:not([hidden]) h3 button.cid");
  assert.equal(await page.getAttribute("#rc-detail h3 button.cid", "data-cid"), before[3]);
  assert.equal(await page.getAttribute("#rc-detail [data-provenance]", "data-provenance"), "computed");
  assert.match(await page.textContent("#rc-detail pre.dagjson"), /"ran":/);
  await page.waitForFunction(() => /^[4-9]\d* receipts|^\d{2,} receipts/.test(document.getElementById("st-counts")?.textContent ?? ""));
  const again = await runPipeline(page, 1);
  assert.deepEqual(again.reports.map((r) => r.status), ["reused", "reused", "reused", "reused"]);
  assert.deepEqual(again.reports.map((r) => r.receipt), before);
  await shot(page, "3-after-reload");
});

test("4. offline: after a first visit the page server is stopped; the page loads from its service worker and runs a sample", async () => {
  const { server, url: own } = await startServer();
  const p = await freshPage(browser);
  await open(p, own);
  // The service worker has installed (its cache is filled at install) and controls the page.
  await p.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 30_000 });
  assert.match(await p.textContent("#net"), /cached for offline use/);
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await p.reload();
  await ready(p);
  await p.waitForFunction(() => /offline/.test(document.getElementById("net").textContent));
  assert.equal(await p.textContent("#net"), "offline: running from the cache");
  await p.click("#samples button:has-text('add_one, awaited')");
  await p.waitForFunction(() => /"add_one"/.test(document.getElementById("wf-text").value) && !document.getElementById("wf-run").disabled);
  await p.click("#wf-run");
  await p.waitForFunction(() => /^done/.test(document.getElementById("wf-status").textContent), null, { timeout: 60_000 });
  const run = await p.evaluate(() => window.playground.lastRun);
  assert.deepEqual(run.reports.map((r) => JSON.parse(r.dagJson).out), [["ok", 2], ["ok", 3]]);
  assert.deepEqual(run.reports.map((r) => r.status), ["ran", "ran"]);
  await shot(p, "4-offline");
  await p.close();
});

test("5. an invalid workflow: the error appears at the task and the field the API names", async () => {
  const editor = "#wf-text";
  const text = await page.inputValue(editor);
  const wf = JSON.parse(text);
  // The third task's module is not a CID.
  wf.tasks[2].run.rsc = "ipfs://not-a-cid";
  await page.fill(editor, JSON.stringify(wf, null, 2));
  await page.waitForSelector("#wf-error:not([hidden])");
  assert.equal(await page.getAttribute("#wf-error", "data-task"), "2");
  assert.equal(await page.getAttribute("#wf-error", "data-field"), "run.rsc");
  assert.match(await page.textContent("#wf-error"), /^ERR_WORKFLOW_INVALID task 2, field run\.rsc, line \d+: /);
  const marked = () => page.$$eval("#wf-shade mark", (m) => m.map((x) => x.textContent).join(""));
  assert.equal(await marked(), '"rsc": "ipfs://not-a-cid"');
  assert.equal(await page.isDisabled("#wf-run"), true, "an invalid workflow cannot be run");
  // The line button takes the caret to the error (the text was filled, so the caret was at the end).
  await page.click("#wf-error button.goto");
  assert.equal(await page.evaluate(() => { const a = document.getElementById("wf-text"); return a.value.slice(a.selectionStart, a.selectionEnd); }), '"rsc": "ipfs://not-a-cid"');
  await shot(page, "5-invalid");
  // A missing field is marked at the object that lacks it; text that is not JSON, where it breaks.
  delete wf.tasks[2].run.rsc;
  wf.tasks[2].run.rsc = `ipfs://${await page.evaluate(() => window.playground.module)}`;
  delete wf.tasks[1].run.input.func;
  await page.fill(editor, JSON.stringify(wf, null, 2));
  await page.waitForFunction(() => document.getElementById("wf-error").dataset.field === "run.input.func");
  assert.equal(await page.getAttribute("#wf-error", "data-task"), "1");
  assert.match(await marked(), /^"input": \{/);
  await page.fill(editor, '{"tasks": [ {"run": ');
  await page.waitForFunction(() => /^ERR_WORKFLOW_DECODE/.test(document.getElementById("wf-error").textContent));
  // Nested past any bound (the editor's own scanner recurses too): an error, never a page error.
  await page.fill(editor, `{"tasks": ${"[".repeat(100_000)}`);
  await page.waitForFunction(() => /^ERR_WORKFLOW_DECODE/.test(document.getElementById("wf-error").textContent) && document.getElementById("wf-text").value.length > 100_000);
  assert.equal(await page.isDisabled("#wf-run"), true);
  // Back to the valid pipeline: the error goes away.
  await page.fill(editor, text);
  await page.waitForSelector("#wf-error", { state: "hidden" });
  assert.equal(await page.isDisabled("#wf-run"), false);
});

test("6. verify a receipt from the DAG view: a match, on the engine named", async () => {
  // Test 5 edited the workflow: the graph is the editor's again, its tasks marked as computed before.
  await page.waitForFunction(() => [...document.querySelectorAll("#dag-view .node")].map((n) => n.dataset.state).join() === "stored,stored,stored,stored");
  await page.focus("#dag-view .node[data-task='3']");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#rc-detail:not([hidden]) button.verify");
  const receipt = await page.evaluate(() => window.playground.lastRun.reports[3].receipt);
  assert.equal(await page.getAttribute("#rc-detail h3 button.cid", "data-cid"), receipt);
  // The input (the grayscale picture) and the output (the blurred one) are shown as images
  // (test 3 left this receipt open, shown before any run of this page: its input as text).
  await page.waitForFunction(() => document.querySelectorAll("#rc-detail .io img").length === 2);
  await page.selectOption("#rc-detail select", "wasmi");
  await page.click("#rc-detail button.verify");
  await page.waitForSelector("#rc-detail .verdict[data-verdict]", { timeout: 120_000 });
  assert.equal(await page.getAttribute("#rc-detail .verdict", "data-verdict"), "match");
  assert.equal(await page.getAttribute("#rc-detail .verdict", "data-engine"), "wasmi");
  assert.match(await page.textContent("#rc-detail .verdict"), /^match on wasmi: the re-run wrote the same receipt/);
  await shot(page, "6-verify");
});

test("7. reverse lookup of the picture's CID lists the pipeline's receipts", async () => {
  const { picture, lastRun } = await page.evaluate(() => window.playground);
  await page.fill("#rev-cid", picture);
  await page.click("#rev-go");
  await page.waitForFunction(() => document.getElementById("rev-out").dataset.count === "4");
  const listed = await page.$$eval("#rc-list li[data-receipt]", (li) => li.map((l) => [l.dataset.receipt, l.textContent]));
  assert.deepEqual(listed.map(([cid]) => cid), lastRun.reports.map((r) => r.receipt));
  assert.match(listed[0][1], /^0\. crop reads it/);
  assert.match(listed[3][1], /^3\. blur awaits 2\. grayscale/);
  await shot(page, "7-reverse-lookup");
});

test("8. export a CAR, clear storage (confirmed), import the CAR: the receipts are back, with their provenance", async () => {
  const before = await page.evaluate(() => ({ did: window.playground.did, receipts: window.playground.lastRun.reports.map((r) => r.receipt) }));
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#st-export")]);
  const car = join(await mkdtemp(join(tmpdir(), "ipvm-pg-car-")), "receipts.car");
  await download.saveAs(car);
  await page.waitForFunction(() => /^exported \d+ receipts/.test(document.getElementById("st-status").textContent));
  // Cancel first: nothing is deleted.
  await page.click("#st-clear");
  await page.waitForSelector("#confirm[open]");
  assert.match(await page.textContent("#confirm-text"), /^Delete \d+ receipts and \d+ blocks, and this tab's signing key\?/);
  await page.click("#confirm button[value='cancel']");
  await page.waitForFunction(() => document.getElementById("st-status").textContent === "nothing deleted");
  await page.click("#st-clear");
  await page.click("#confirm-yes");
  await page.waitForEvent("load");
  await ready(page);
  assert.match(await page.textContent("#st-counts"), /^0 receipts/);
  const did = await page.evaluate(() => window.playground.did);
  assert.notEqual(did, before.did, "a cleared store makes a new identity");

  await page.setInputFiles("#st-import", car);
  await page.waitForSelector("#car-summary");
  assert.match(await page.textContent("#car-summary"), /receipts\.car: \d+ blocks, \d+ new receipts, 0 already here/);
  const rows = await page.$$eval("#car-report li[data-receipt]", (li) => li.map((l) => ({ cid: l.dataset.receipt, provenance: l.dataset.provenance, trusted: l.dataset.trusted, text: l.textContent })));
  for (const cid of before.receipts) {
    const row = rows.find((r) => r.cid === cid);
    assert.ok(row, `receipt ${cid} is back`);
    assert.equal(row.provenance, "imported");
    assert.equal(row.trusted, "false");
    // Signed by the identity the cleared store had, which this new one does not trust.
    assert.match(row.text, new RegExp(`not a memo hit: signed by did:key:…${before.did.slice(-6)}, not trusted here; Verify re-runs it$`));
  }
  // Verified here, one after the other (an await needs its input trusted first): memo hits again.
  await page.click("#car-verify");
  await page.waitForFunction(() => document.getElementById("car-verify").textContent === "all verified", null, { timeout: 120_000 });
  const verified = await page.$$eval("#car-report li[data-receipt]", (li) => li.map((l) => [l.dataset.receipt, l.dataset.provenance, l.textContent]));
  for (const cid of before.receipts) assert.match(verified.find(([c]) => c === cid)?.[2] ?? "", /verified · a memo hit now: the re-run on (fast|wasmi) wrote the same receipt$/, cid);
  const reused = await runPipeline(page, 1);
  assert.deepEqual(reused.reports.map((r) => r.status), ["reused", "reused", "reused", "reused"]);
  assert.deepEqual(reused.reports.map((r) => r.receipt), before.receipts);
  // The imported receipt opens with its provenance and its old signer.
  await page.fill("#rev-cid", before.receipts[0]);
  await page.click("#rev-go");
  await page.waitForSelector("#rc-detail [data-provenance='verified']");
  // Signed by the old identity (from the archive) and now by this one too (its verify attested it).
  assert.match(await page.textContent("#rc-detail"), new RegExp(`signed by.*…${before.did.slice(-6)}.*\\(this tab\\)`, "s"));
  await shot(page, "8-car-import");
});

test("9. a 400 px window, keyboard only: the run button and the editor work, and nothing overflows", async () => {
  const context = await browser.newContext({ viewport: { width: 400, height: 860 } });
  const p = await open(await context.newPage());
  const tabTo = async (selector) => {
    for (let i = 0; i < 60; i++) {
      await p.keyboard.press("Tab");
      if (await p.evaluate((s) => document.activeElement?.matches(s), selector)) return;
    }
    assert.fail(`${selector} is not reachable with Tab`);
  };
  await tabTo("#pipe-run");
  await p.keyboard.press("Enter");
  await p.waitForFunction(() => window.playground.runs === 1 && /^done/.test(document.getElementById("pipe-status").textContent), null, { timeout: 120_000 });
  // Type a workflow into the editor, leave it with Escape then Tab, and run it with Enter.
  const module = await p.evaluate(() => window.playground.module);
  await tabTo("#wf-text");
  await p.keyboard.press("Control+A");
  await p.keyboard.press("Delete");
  await p.keyboard.type(JSON.stringify({ tasks: [{ run: { rsc: `ipfs://${module}`, op: "wasm/run", input: { func: "add_one", args: [41] }, nnc: "keyboard" }, cause: null, meta: {}, prf: [] }] }));
  await p.waitForFunction(() => !document.getElementById("wf-run").disabled && document.getElementById("wf-error").hidden);
  await p.keyboard.press("Escape");
  await tabTo("#wf-run");
  await p.keyboard.press("Enter");
  await p.waitForFunction(() => window.playground.runs === 2 && /^done/.test(document.getElementById("wf-status").textContent), null, { timeout: 60_000 });
  assert.deepEqual(await p.evaluate(() => JSON.parse(window.playground.lastRun.reports[0].dagJson).out), ["ok", 42]);
  assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= 400), "no horizontal scrolling at 400 px");
  await shot(p, "9-narrow-keyboard");
  await context.close();
});

test("the function library shows the guest module's WIT signatures, and a dropped module's CID and exports", async () => {
  const p = await open(await freshPage(browser));
  await p.waitForSelector("#lib-list .module");
  assert.match(await p.textContent("#lib-list"), /rotate90: func\(png: list<u8>\) -> list<u8>/);
  await p.setInputFiles("#lib-file", GUESTS_WASM);
  await p.waitForSelector("#lib-info .module");
  const module = await p.evaluate(() => window.playground.module);
  assert.equal(await p.getAttribute("#lib-info .module", "data-cid"), module, "the CID addModule gives");
  assert.match(await p.textContent("#lib-info"), /wit-bindgen · .* · runs on the fast path/);
  await p.setInputFiles("#lib-file", { name: "junk.wasm", mimeType: "application/wasm", buffer: Buffer.from("not wasm") });
  await p.waitForSelector("#lib-info p.error");
  assert.match(await p.textContent("#lib-info"), /^junk\.wasm: ERR_MODULE_INVALID: /);
  await shot(p, "library");
  await p.close();
});

// Which engine is faster is a timing, measured by `npm run bench`, not asserted here: on a loaded
// machine the fast path's first task (which compiles the module) can take as long as wasmi's.
test("the speed panel races the engines: both ran, with the same output and fuel, and each race is drawn", async () => {
  const p = await open(await freshPage(browser));
  await p.click("#speed-run");
  await p.waitForFunction(() => /^done/.test(document.getElementById("speed-status").textContent), null, { timeout: 120_000 });
  assert.equal(await p.textContent("#speed-status"), "done: same output and fuel on both engines: yes");
  const ratios = await p.$$eval("#speed-chart .race", (r) => r.map((x) => Number(x.dataset.ratio)));
  assert.equal(ratios.length, 2);
  for (const r of ratios) assert.ok(Number.isFinite(r) && r > 0, `a race without a ratio (${r})`);
  await shot(p, "speed");
  await p.close();
});

test("Stop ends a long task: the run says so, the node is not left running, and the page runs the next workflow", async () => {
  const p = await open(await freshPage(browser));
  await p.click("#samples button:has-text('A long task')");
  await p.waitForFunction(() => /"xorshift"/.test(document.getElementById("wf-text").value) && !document.getElementById("wf-run").disabled);
  await p.click("#wf-run");
  await p.waitForSelector("#dag-view .node[data-state='running']", { timeout: 30_000 });
  await p.click("#wf-stop");
  await p.waitForFunction(() => /^stopped after/.test(document.getElementById("wf-status").textContent), null, { timeout: 30_000 });
  assert.equal(await p.$$eval("#dag-view .node[data-state='running']", (n) => n.length), 0);
  await runPipeline(p, 1);
  await shot(p, "stop");
  await p.close();
});

test("the caught-failure sample: the failure's handler answers for it, and the page reports three tasks", async () => {
  const p = await open(await freshPage(browser));
  await p.click("#samples button:has-text('A failure, caught')");
  await p.waitForFunction(() => /"catch-with"/.test(document.getElementById("wf-text").value) && !document.getElementById("wf-run").disabled);
  await p.click("#wf-run");
  await p.waitForFunction(() => /^done/.test(document.getElementById("wf-status").textContent), null, { timeout: 60_000 });
  const run = await p.evaluate(() => window.playground.lastRun);
  const outs = run.reports.map((r) => JSON.parse(r.dagJson).out);
  assert.equal(outs[0][1].kind, "argument");
  assert.deepEqual(outs.slice(1), [["ok", 42], ["ok", { ok: 41 }]]);
  assert.deepEqual(run.reports[0].caught, { by: 2, as: "ok", detail: null });
  assert.match(await p.textContent("#wf-status"), /^done in .*: 3 tasks, 0 memo hits, 1 failed/);
  await shot(p, "catch");
  await p.close();
});

test("no console errors or page errors on any page of this file", async () => {
  await page?.close();
  assert.deepEqual(errors, []);
});
