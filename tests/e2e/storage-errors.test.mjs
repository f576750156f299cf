// Storage errors a user will meet, provoked for real in Chromium: a full quota
// (the DevTools protocol's Storage.overrideQuotaForOrigin) and storage blocked
// for the site (a profile that blocks cookies and site data, as private
// modes and privacy settings do). Each gives its stable code and a message
// that says what to do, and nothing already stored is harmed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { freshPage } from "./helpers.mjs";
import { useSession } from "./session.mjs";

let url, browser;
useSession((s) => ({ url, browser } = s));

const blank = () => `${url}tests/e2e/pages/blank.html`;

test("a full quota fails writes with ERR_QUOTA_EXCEEDED; what was stored stays intact and usable", async () => {
  const page = await freshPage(browser);
  // A 3 MiB quota for the origin (Chromium applies an override made before the origin's storage is first used).
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Storage.overrideQuotaForOrigin", { origin: new URL(url).origin, quotaSize: 3 << 20 });
  await page.goto(blank());
  const result = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: "quota", workers: 1 });
    const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
    const one = await ipvm.wasmTask({ module, func: "add_one", args: [1] });
    const two = await ipvm.wasmTask({ module, func: "add_one", args: [2] });
    const first = await rt.run({ tasks: [one.task] });
    // Fill the quota with modules of 1 MiB, then smaller and smaller ones, until even 16 bytes
    // are refused. Each module is written whole (one transaction) or not at all.
    const randomModule = (size) => {
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, Math.min(size, i + 65536)));
      return bytes;
    };
    let added = 0;
    let refused = null;
    let blocksBefore = null;
    let blocksAfter = null;
    for (const size of [1 << 20, 64 << 10, 4 << 10, 256, 16]) {
      for (let i = 0; i < 32; i++) {
        const blocks = (await rt.storage()).blocks;
        const error = await rt.addModule(randomModule(size)).then(
          () => null,
          (e) => ({ code: e.code, message: e.message, isIpvm: ipvm.isIpvmError(e) }),
        );
        if (!error) {
          added++;
          continue;
        }
        if (!refused) {
          refused = error;
          blocksBefore = blocks;
          blocksAfter = (await rt.storage()).blocks;
        }
        break;
      }
    }
    const full = await rt.storage();
    // A new task runs, but its receipt cannot be written.
    const run = await rt.run({ tasks: [two.task] }).then(() => null, (e) => ({ code: e.code, message: e.message }));
    // What was stored before still answers.
    const memo = await rt.run({ tasks: [one.task] });
    const stored = await rt.receiptFor(one.instruction);
    const after = await rt.storage();
    return { first: first[0].receipt, added, refused, blocksBefore, blocksAfter, full, run, memo: memo.map((r) => r.status), stored: stored?.cid, after };
  });
  assert.ok(result.added >= 1, `${result.added} modules fitted before the quota ran out`);
  assert.equal(result.refused?.code, "ERR_QUOTA_EXCEEDED", JSON.stringify(result.refused));
  assert.ok(result.refused.isIpvm);
  assert.match(result.refused.message, /quota exceeded.*intact/);
  assert.equal(result.blocksAfter, result.blocksBefore, "no block of the refused module was left behind");
  assert.equal(result.run?.code, "ERR_QUOTA_EXCEEDED", JSON.stringify(result.run));
  assert.deepEqual(result.memo, ["reused"]);
  assert.equal(result.stored, result.first);
  assert.equal(result.after.receipts, 1, "the stored receipt is still there, and nothing half-written was added");
  assert.equal(result.after.blocks, result.full.blocks);
  console.log(`quota: ${result.added} modules fitted in 3 MiB; then: ${result.run.message}`);
  await page.close();
});

test("storage blocked for the site gives ERR_STORAGE_UNAVAILABLE with a way out; memory storage still works", async () => {
  // A profile whose settings block cookies and site data for every site.
  const profile = mkdtempSync(join(tmpdir(), "ipvm-blocked-"));
  mkdirSync(join(profile, "Default"));
  writeFileSync(join(profile, "Default", "Preferences"), JSON.stringify({ profile: { default_content_setting_values: { cookies: 2 } } }));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(blank());
    const result = await page.evaluate(async () => {
      const ipvm = await import("/pkg/index.js");
      const blocked = await ipvm.Runtime.open({ name: "blocked" }).then(() => null, (e) => ({ code: e.code, message: e.message }));
      const rt = await ipvm.Runtime.open({ storage: "memory", workers: 0 });
      const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
      const { task } = await ipvm.wasmTask({ module, func: "add_one", args: [1] });
      const reports = await rt.run({ tasks: [task] });
      return { blocked, out: JSON.parse(reports[0].dagJson).out };
    });
    assert.equal(result.blocked?.code, "ERR_STORAGE_UNAVAILABLE", JSON.stringify(result.blocked));
    assert.match(result.blocked.message, /storage: "memory"/);
    assert.deepEqual(result.out, ["ok", 2]);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
