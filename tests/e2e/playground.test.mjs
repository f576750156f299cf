// End to end: the playground page imports the npm package from a plain ES
// module page, runs the two-task sample in headless Chromium, and must give
// exactly the receipts the native CLI gives for the same workflow.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GUESTS_WASM, freshPage, ipvm, watchErrors } from "./helpers.mjs";
import { useSession } from "./session.mjs";

let url, browser;
useSession((s) => ({ url, browser } = s));

async function runSample(page) {
  await page.goto(`${url}www/`);
  await page.waitForFunction(() => !document.getElementById("run").disabled, null, { timeout: 30_000 });
  await page.click("#run");
  await page.waitForFunction(() => /^done/.test(document.getElementById("status").textContent), null, { timeout: 30_000 });
  return page.evaluate(() => window.ipvmLastRun);
}

test("the playground runs the sample and matches the native CLI receipt for receipt", async () => {
  const page = await freshPage(browser);
  const errors = watchErrors(page);
  const run = await runSample(page);

  assert.equal(run.reports.length, 2);
  assert.deepEqual(run.reports.map((r) => r.status), ["ran", "ran"]);
  assert.deepEqual(run.reports.map((r) => JSON.parse(r.dagJson).out), [["ok", 2], ["ok", 3]]);
  // The sample runs on the fast path (the default engine, in workers), and says so.
  assert.deepEqual(run.reports.map((r) => r.engine), ["fast", "fast"]);
  assert.match(await page.textContent("#status"), /ran on fast$/);
  const shown = await page.textContent("#receipts");
  assert.equal(shown, run.reports.map((r) => r.dagJson).join("\n"));

  const dir = await mkdtemp(join(tmpdir(), "ipvm-e2e-"));
  const wfPath = join(dir, "workflow.json");
  await writeFile(wfPath, JSON.stringify(run.workflow));
  const native = await ipvm(["run", wfPath, "--add", GUESTS_WASM]);
  assert.equal(native.code, 0, native.stderr);
  assert.ok(native.stderr.includes(`added ${run.module}`), `native module CID differs from the page's ${run.module}:\n${native.stderr}`);
  assert.deepEqual(native.stdout.trim().split("\n"), run.reports.map((r) => r.dagJson));
  const nativeReceipts = [...native.stderr.matchAll(/^finished task (\d+) \S+ receipt (\S+)/gm)].map((m) => m[2]);
  assert.deepEqual(nativeReceipts, run.reports.map((r) => r.receipt));
  assert.deepEqual(errors, []);
  await page.close();
});

test("a second run in the same tab executes nothing: both tasks are memo hits", async () => {
  const page = await freshPage(browser);
  const first = await runSample(page);
  await page.click("#run");
  await page.waitForFunction(() => /memo hits/.test(document.getElementById("status").textContent) && window.ipvmLastRun.events.some((e) => e.type === "memo-hit"), null, { timeout: 30_000 });
  const second = await page.evaluate(() => window.ipvmLastRun);
  assert.deepEqual(second.reports.map((r) => r.status), ["reused", "reused"]);
  assert.deepEqual(second.reports.map((r) => r.receipt), first.reports.map((r) => r.receipt));
  assert.equal(second.events.filter((e) => e.type === "started").length, 0);
  assert.equal(second.events.filter((e) => e.type === "memo-hit").length, 2);
  await page.close();
});

test("an invalid workflow is rejected with a code, the task and the field", async () => {
  const page = await freshPage(browser);
  await page.goto(`${url}www/`);
  await page.waitForFunction(() => !document.getElementById("run").disabled);
  const err = await page.evaluate(async () => {
    const { Runtime } = await import("../pkg/index.js");
    const rt = await Runtime.open();
    const bad = { tasks: [{ run: { rsc: "ipfs://not-a-cid", op: "wasm/run", input: { func: "f", args: [] }, nnc: "" }, cause: null, meta: {}, prf: [] }] };
    try {
      await rt.run(bad);
      return null;
    } catch (e) {
      const { IpvmError } = await import("../pkg/index.js");
      return { name: e.name, code: e.code, task: e.task, field: e.field, message: e.message, subclass: e instanceof IpvmError && e instanceof Error };
    }
  });
  assert.equal(err?.code, "ERR_WORKFLOW_INVALID");
  assert.equal(err.name, "IpvmError");
  assert.equal(err.subclass, true, "an IpvmError instance (a subclass of Error)");
  assert.equal(err.task, 0);
  assert.equal(err.field, "run.rsc");
  assert.match(err.message, /task 0: field `run.rsc`/);
  await page.close();
});

test("the playground's long task runs in a worker on the fast path and Stop ends it; a new worker takes its place", async () => {
  const page = await freshPage(browser);
  const errors = watchErrors(page);
  await page.goto(`${url}www/`);
  await page.waitForFunction(() => !document.getElementById("long").disabled, null, { timeout: 30_000 });
  await page.click("#long");
  await page.waitForFunction(() => document.getElementById("long-status").textContent === "running…", null, { timeout: 30_000 });
  await page.click("#stop");
  await page.waitForFunction(() => /^stopped after/.test(document.getElementById("long-status").textContent), null, { timeout: 30_000 });
  // The browser's engine cannot pause: Stop terminates the worker and the pool starts another.
  await page.waitForFunction(() => /0 busy.*tasks cancelled: 1; workers replaced: 1/.test(document.getElementById("pool").textContent), null, { timeout: 30_000 });
  // The pool still runs the sample.
  await page.click("#run");
  await page.waitForFunction(() => /^done/.test(document.getElementById("status").textContent), null, { timeout: 30_000 });
  assert.deepEqual(await page.evaluate(() => window.ipvmLastRun.reports.map((r) => JSON.parse(r.dagJson).out)), [["ok", 2], ["ok", 3]]);
  assert.deepEqual(errors, []);
  await page.close();
});
