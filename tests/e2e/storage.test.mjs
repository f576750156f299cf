// IndexedDB persistence through the npm API: receipts survive a reload, the
// lookups and verify work on them, a corrupted block is refused on read, and
// a workflow interrupted by a reload resumes: only unfinished tasks run again.
import { test } from "node:test";
import assert from "node:assert/strict";
import { freshPage, watchErrors } from "./helpers.mjs";
import { useSession } from "./session.mjs";
import * as forge from "./forge.mjs";

let url, browser;
useSession((s) => ({ url, browser } = s));

const blank = () => `${url}tests/e2e/pages/blank.html`;

/** In the page: open the runtime `name`, add the guest module, build `count` tasks of `func`. */
async function setUp(page, { name, func, args, count }) {
  return page.evaluate(
    async ({ name, func, args, count }) => {
      const ipvm = await import("/pkg/index.js");
      const rt = await ipvm.Runtime.open({ name });
      const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
      const tasks = [];
      for (let i = 0; i < count; i++) tasks.push((await ipvm.wasmTask({ module, func, args, nnc: `n${i}`, time: 60_000 })).task);
      window.ipvm = { rt, module, workflow: { tasks }, events: [] };
      return { module };
    },
    { name, func, args, count },
  );
}

test("receipts survive a reload; lookups and verify work on them", async () => {
  const page = await freshPage(browser);
  const errors = watchErrors(page);
  await page.goto(blank());
  const { module } = await setUp(page, { name: "persist", func: "add_one", args: [41], count: 3 });
  const first = await page.evaluate(() => window.ipvm.rt.run(window.ipvm.workflow));
  assert.deepEqual(first.map((r) => r.status), ["ran", "ran", "ran"]);

  await page.reload();
  await setUp(page, { name: "persist", func: "add_one", args: [41], count: 3 });
  const after = await page.evaluate(async (receiptCid) => {
    const { rt, workflow } = window.ipvm;
    const reports = await rt.run(workflow);
    return {
      statuses: reports.map((r) => r.status),
      byCid: await rt.receipt(receiptCid),
      byInstruction: await rt.receiptFor(reports[0].instruction),
      using: (await rt.receiptsUsing(window.ipvm.module)).length,
      verification: await rt.verify(receiptCid),
      storage: await rt.storage(),
      missing: await rt.receipt("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"),
    };
  }, first[0].receipt);
  assert.deepEqual(after.statuses, ["reused", "reused", "reused"]);
  assert.equal(after.byCid.cid, first[0].receipt);
  assert.equal(after.byCid.dagJson, first[0].dagJson);
  assert.equal(after.byInstruction.cid, first[0].receipt);
  assert.ok(after.byCid.inputs.includes(module));
  assert.equal(after.using, 3);
  assert.equal(after.verification.matches, true);
  assert.equal(after.verification.actual, '["ok",42]');
  assert.equal(after.storage.receipts, 3);
  assert.ok(after.storage.blocks >= 4, `blocks: ${after.storage.blocks}`);
  assert.equal(after.missing, null);
  assert.deepEqual(errors, []);
  await page.close();
});

test("a block whose bytes were corrupted in IndexedDB is refused on read, not run", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const { module } = await setUp(page, { name: "corrupt", func: "add_one", args: [1], count: 1 });
  const ok = await page.evaluate(() => window.ipvm.rt.run(window.ipvm.workflow));
  assert.equal(ok[0].ok, true);
  await page.evaluate(() => window.ipvm.rt.close());
  // Overwrite the module's root block behind the runtime's back.
  await page.evaluate(
    (cid) =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open("ipvm-web:corrupt");
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const tx = open.result.transaction("blocks", "readwrite");
          tx.objectStore("blocks").put(new Uint8Array([1, 2, 3]), cid);
          tx.oncomplete = () => (open.result.close(), resolve());
          tx.onerror = () => reject(tx.error);
        };
      }),
    module,
  );
  await page.reload();
  const report = await page.evaluate(async (module) => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: "corrupt" });
    const { task } = await ipvm.wasmTask({ module, func: "add_one", args: [2] });
    return (await rt.run({ tasks: [task] }))[0];
  }, module);
  assert.equal(report.ok, false);
  assert.match(report.dagJson, /do not match the CID/);
  await page.close();
});

test("a workflow interrupted by a reload resumes: finished tasks are memo hits, only the rest run", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const TASKS = 50;
  // Each task: about 0.1 s of wasmi in the tab.
  const spec = { name: "resume", func: "xorshift", args: [1_500_000], count: TASKS };
  await setUp(page, spec);
  await page.evaluate(() => {
    const { rt, workflow, events } = window.ipvm;
    rt.run(workflow, { onEvent: (e) => events.push(e) });
  });
  await page.waitForFunction(() => window.ipvm.events.filter((e) => e.type === "finished").length >= 15, null, { timeout: 120_000 });
  const finishedBefore = await page.evaluate(() => window.ipvm.events.filter((e) => e.type === "finished").length);
  assert.ok(finishedBefore < TASKS, "the reload must come half way through");
  await page.reload();

  await setUp(page, spec);
  const interrupted = await page.evaluate(async () => (await window.ipvm.rt.runs()).filter((r) => r.state === "running"));
  assert.equal(interrupted.length, 1, "the interrupted run is on record");
  const done = interrupted[0].tasks.filter((t) => t.status === "done").map((t) => t.instruction);
  // The record rides on the group commits: it never lags what the run
  // reported, and never marks a task whose receipt was not stored.
  assert.ok(done.length >= finishedBefore && done.length <= TASKS, `run record: ${done.length} done, ${finishedBefore} finished events`);
  const doneStored = await page.evaluate(async (done) => {
    const found = await Promise.all(done.map((i) => window.ipvm.rt.receiptFor(i)));
    return found.filter(Boolean).length;
  }, done);
  assert.equal(doneStored, done.length, "every task the record marks done has its receipt stored");
  const second = await page.evaluate(async () => {
    const { rt, workflow } = window.ipvm;
    const events = [];
    const reports = await rt.run(workflow, { onEvent: (e) => events.push(e) });
    const storage = await rt.storage();
    const memo = await Promise.all(reports.map((r) => rt.receiptFor(r.instruction)));
    return {
      started: events.filter((e) => e.type === "started").length,
      memoHits: events.filter((e) => e.type === "memo-hit").length,
      ok: reports.every((r) => r.ok),
      receipts: storage.receipts,
      memoMatches: memo.every((m, i) => m && m.cid === reports[i].receipt),
      runs: (await rt.runs()).map((r) => ({ state: r.state, statuses: [...new Set(r.tasks.map((t) => t.status))].sort() })),
    };
  });
  assert.deepEqual(second.runs, [{ state: "done", statuses: ["done", "reused"] }], "the same workflow's record, now complete");
  assert.ok(second.memoHits >= finishedBefore, `${second.memoHits} memo hits, ${finishedBefore} finished before the reload`);
  assert.equal(second.started + second.memoHits, TASKS);
  assert.ok(second.started > 0 && second.started <= TASKS - finishedBefore, `started ${second.started}`);
  assert.ok(second.ok);
  assert.equal(second.receipts, TASKS, "one receipt per task: none lost, none duplicated");
  assert.ok(second.memoMatches);
  console.log(`resume: ${finishedBefore} tasks finished before the reload; after it, ${second.memoHits} memo hits and ${second.started} executions`);
  await page.close();
});

test("a malformed announcement from another tab never reaches onReceipt; well-formed ones do", async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const errors = watchErrors(page);
    await page.goto(blank());
    await setUp(page, { name: "heard", func: "add_one", args: [1], count: 1 });
    const heard = await page.evaluate(async () => {
      const heard = [];
      window.ipvm.rt.onReceipt((m) => heard.push(m));
      // Another tab of the origin, as an attacker's script could post.
      const other = new BroadcastChannel("ipvm-web:heard");
      other.postMessage({ type: "receipts", receipts: [null, 7, { instruction: 1, receipt: "x" }, { instruction: "bafyI", receipt: "bafyR" }] });
      other.postMessage({ type: "receipts", receipts: "not a list" });
      other.postMessage({ type: "receipt", instruction: "bafyI2", receipt: "bafyR2" });
      await new Promise((r) => setTimeout(r, 300));
      other.close();
      return heard;
    });
    assert.deepEqual(heard, [
      { instruction: "bafyI", receipt: "bafyR" },
      { instruction: "bafyI2", receipt: "bafyR2" },
    ]);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test("two tabs on one store never run the same instruction twice, and announce their receipts", async () => {
  const context = await browser.newContext();
  try {
    const [a, b] = [await context.newPage(), await context.newPage()];
    await a.goto(blank());
    await b.goto(blank());
    const TASKS = 12;
    const spec = { name: "tabs", func: "xorshift", args: [2_000_000], count: TASKS };
    await setUp(a, spec);
    await setUp(b, spec);
    for (const page of [a, b]) {
      await page.evaluate(() => {
        window.heard = [];
        window.ipvm.rt.onReceipt((m) => window.heard.push(m));
      });
    }
    const run = (page) =>
      page.evaluate(async () => {
        const events = [];
        const reports = await window.ipvm.rt.run(window.ipvm.workflow, { onEvent: (e) => events.push(e) });
        return {
          ran: events.filter((e) => e.type === "finished").length,
          hits: events.filter((e) => e.type === "memo-hit").length,
          receipts: reports.map((r) => r.receipt),
        };
      });
    const [ra, rb] = await Promise.all([run(a), run(b)]);
    assert.equal(ra.ran + rb.ran, TASKS, `each instruction ran exactly once across the tabs (a ran ${ra.ran}, b ran ${rb.ran})`);
    assert.equal(ra.ran + ra.hits, TASKS);
    assert.equal(rb.ran + rb.hits, TASKS);
    assert.deepEqual(ra.receipts, rb.receipts, "both tabs end with the same receipts");
    // Each tab hears of every receipt the other one computed.
    await a.waitForFunction((n) => window.heard.length >= n, rb.ran, { timeout: 10_000 });
    await b.waitForFunction((n) => window.heard.length >= n, ra.ran, { timeout: 10_000 });
    const heardByA = await a.evaluate(() => window.heard.map((m) => m.receipt));
    const heardByB = await b.evaluate(() => window.heard.map((m) => m.receipt));
    assert.equal(heardByA.length + heardByB.length, TASKS);
    assert.ok([...heardByA, ...heardByB].every((r) => ra.receipts.includes(r)), "announcements name receipts of the workflow");
    console.log(`tabs: a ran ${ra.ran} and reused ${ra.hits}; b ran ${rb.ran} and reused ${rb.hits}; a heard ${heardByA.length}, b heard ${heardByB.length}`);
  } finally {
    await context.close();
  }
});

test("a reload in the middle of group commits loses no receipt the run reported and leaves none half-written", async () => {
  const page = await freshPage(browser);
  const errors = watchErrors(page);
  await page.goto(blank());
  const TASKS = 300;
  const spec = { name: "group-commit", func: "add_one", args: [7], count: TASKS };
  // Three reloads, early, half way and late in the workflow: at the first finished event once
  // this many tasks are done (executed, or memo hits of the runs before: a run goes on until
  // its page unloads, so each stores more than it reported). Each finished event is kept in
  // localStorage as it is reported (a synchronous write), so the reload cannot lose it.
  for (const at of [10, 100, 200]) {
    await setUp(page, spec);
    const reloaded = page.waitForEvent("load");
    await page.evaluate((at) => {
      const { rt, workflow } = window.ipvm;
      let done = 0;
      let reloading = false;
      const keep = (cid) => localStorage.setItem("reported", JSON.stringify([...JSON.parse(localStorage.getItem("reported") ?? "[]"), cid]));
      rt.run(workflow, {
        logs: "none",
        onEvent: (e) => {
          if (e.type === "memo-hit") done++;
          if (e.type !== "finished") return;
          keep(e.receipt);
          if (++done >= at && !reloading) {
            reloading = true;
            location.reload();
          }
        },
      }).catch(() => {});
    }, at);
    await reloaded;
  }
  await setUp(page, spec);
  const result = await page.evaluate(async () => {
    const { rt, workflow } = window.ipvm;
    const ipvm = await import("/pkg/index.js");
    const reported = [...new Set(JSON.parse(localStorage.getItem("reported") ?? "[]"))];
    const missing = [];
    for (const cid of reported) if (!(await rt.receipt(cid))) missing.push(cid);
    // Every receipt stored under any task's instruction: complete, signed and valid.
    const stored = [];
    const invalid = [];
    for (const t of workflow.tasks) {
      for (const r of await rt.receiptsFor(await ipvm.instructionCid(t.run))) {
        stored.push(r.cid);
        const check = await rt.verifyReceipt(r.cid);
        if (!check.valid || r.envelopes.length !== 1 || !r.trusted) invalid.push({ cid: r.cid, reason: check.reason, message: check.message });
      }
    }
    const events = [];
    const reports = await rt.run(workflow, { logs: "none", onEvent: (e) => events.push(e.type) });
    return {
      reported: reported.length,
      missing,
      stored: stored.length,
      invalid,
      hits: events.filter((t) => t === "memo-hit").length,
      rejected: events.filter((t) => t === "rejected").length,
      ok: reports.every((r) => r.ok),
    };
  });
  // At least the first run's 10, and one finished event in each later run.
  assert.ok(result.reported >= 12, `reported before the reloads: ${result.reported}`);
  assert.ok(result.stored < TASKS, "the last reload came before the workflow was done");
  assert.deepEqual(result.missing, [], "every receipt the run reported is stored");
  assert.deepEqual(result.invalid, [], "every stored receipt is whole, signed and valid");
  assert.ok(result.stored >= result.reported);
  assert.equal(result.rejected, 0, "no row is damaged");
  assert.equal(result.hits, result.stored, "each stored receipt answers its task");
  assert.ok(result.ok);
  assert.deepEqual(errors, []);
  await page.close();
});

test("a run of more ready tasks than one memo read covers finishes on the pool, every receipt stored once", async () => {
  const page = await freshPage(browser);
  const errors = watchErrors(page);
  await page.goto(blank());
  // More than the scheduler's lookup batch (256), so lookups and group commits interleave.
  const TASKS = 700;
  await setUp(page, { name: "many", func: "add_one", args: [3], count: TASKS });
  const result = await page.evaluate(async () => {
    const { rt, workflow } = window.ipvm;
    const timeout = (what) => new Promise((r) => setTimeout(() => r(`${what}: still running after 120 s`), 120_000));
    // Two tasks answered from the memo first, as in the run that hung before commits were
    // polled on their own (a lookup awaited while a commit was in flight starved it).
    await rt.run({ tasks: workflow.tasks.slice(0, 2) }, { logs: "none" });
    const events = [];
    const first = await Promise.race([rt.run(workflow, { logs: "none", onEvent: (e) => events.push(e.type) }), timeout("first run")]);
    if (typeof first === "string") return { stuck: first, events: events.length };
    const again = await Promise.race([rt.run(workflow, { logs: "none" }), timeout("second run")]);
    if (typeof again === "string") return { stuck: again };
    return {
      ran: first.filter((r) => r.status === "ran" && r.ok).length,
      finished: events.filter((t) => t === "finished").length,
      distinct: new Set(first.map((r) => r.receipt)).size,
      reused: again.filter((r) => r.status === "reused").length,
      receipts: (await rt.storage()).receipts,
    };
  });
  assert.equal(result.stuck, undefined, JSON.stringify(result));
  assert.equal(result.ran, 698);
  assert.equal(result.finished, 698);
  assert.equal(result.distinct, 700);
  assert.equal(result.reused, 700);
  assert.equal(result.receipts, 700);
  assert.deepEqual(errors, []);
  await page.close();
});

test("an AbortSignal cancels a run; receipts already written stay and the next run resumes", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const TASKS = 20;
  await setUp(page, { name: "abort", func: "xorshift", args: [1_500_000], count: TASKS });
  const first = await page.evaluate(async () => {
    const { rt, workflow } = window.ipvm;
    const controller = new AbortController();
    let finished = 0;
    try {
      await rt.run(workflow, { signal: controller.signal, onEvent: (e) => e.type === "finished" && ++finished === 3 && controller.abort() });
      return { code: null };
    } catch (e) {
      return { code: e.code, name: e.name, finished, receipts: (await rt.storage()).receipts };
    }
  });
  assert.equal(first.code, "ERR_CANCELLED");
  assert.equal(first.name, "IpvmError");
  assert.ok(first.receipts >= 3 && first.receipts < TASKS, `receipts after abort: ${first.receipts}`);
  const second = await page.evaluate(async () => {
    const events = [];
    const reports = await window.ipvm.rt.run(window.ipvm.workflow, { onEvent: (e) => events.push(e.type) });
    return { hits: events.filter((t) => t === "memo-hit").length, ok: reports.every((r) => r.ok) };
  });
  assert.equal(second.hits, first.receipts);
  assert.ok(second.ok);
  await page.close();
});

test("a run cancelled while a task waits for its lock leaves the lock free: the next run finishes", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  await setUp(page, { name: "abort-lock", func: "add_one", args: [5], count: 2 });
  const result = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const { rt, workflow } = window.ipvm;
    const waiting = `ipvm-web:abort-lock:${await ipvm.instructionCid(workflow.tasks[1].run)}`;
    const held = (prefix) =>
      navigator.locks.query().then((q) => ({
        held: q.held.filter((l) => l.name.startsWith(prefix)).length,
        pending: q.pending.filter((l) => l.name.startsWith(prefix)).length,
      }));
    // The page holds task 1's lock, as another tab running it would.
    let release;
    const granted = new Promise((ok) =>
      navigator.locks.request(waiting, () => (ok(), new Promise((r) => (release = r)))),
    );
    await granted;
    const controller = new AbortController();
    const first = rt.run(workflow, { signal: controller.signal }).then(
      () => null,
      (e) => e.code,
    );
    // Cancel once the run is waiting for task 1's lock.
    for (let i = 0; i < 200 && (await held("ipvm-web:abort-lock:")).pending === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const whileWaiting = await held("ipvm-web:abort-lock:");
    controller.abort();
    const code = await first;
    release();
    await new Promise((r) => setTimeout(r, 200));
    const after = await held("ipvm-web:abort-lock:");
    const second = await Promise.race([
      rt.run(workflow).then((reports) => reports.map((r) => r.ok)),
      new Promise((r) => setTimeout(() => r("still waiting after 20 s"), 20_000)),
    ]);
    return { whileWaiting, code, after, second };
  });
  assert.equal(result.whileWaiting.pending, 1, "the run waited for the lock the page held");
  assert.equal(result.code, "ERR_CANCELLED");
  assert.deepEqual(result.after, { held: 0, pending: 0 }, "no lock is left held or requested");
  assert.deepEqual(result.second, [true, true]);
  await page.close();
});

test("a database held at a newer schema version gives ERR_VERSION_CONFLICT, and nothing is harmed", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const err = await page.evaluate(async () => {
    await new Promise((resolve, reject) => {
      const open = indexedDB.open("ipvm-web:future", 99);
      open.onupgradeneeded = () => open.result.createObjectStore("from-the-future");
      open.onsuccess = () => (open.result.close(), resolve());
      open.onerror = () => reject(open.error);
    });
    const ipvm = await import("/pkg/index.js");
    try {
      await ipvm.Runtime.open({ name: "future" });
      return null;
    } catch (e) {
      const stores = await new Promise((resolve) => {
        const open = indexedDB.open("ipvm-web:future");
        open.onsuccess = () => (resolve([...open.result.objectStoreNames]), open.result.close());
      });
      return { code: e.code, message: e.message, stores };
    }
  });
  assert.equal(err?.code, "ERR_VERSION_CONFLICT");
  assert.match(err.message, /Close other tabs|version/);
  assert.deepEqual(err.stores, ["from-the-future"], "the newer database is untouched");
  await page.close();
});

test("a CAR carries receipts and modules to another store; addModule accepts a stored module's CID", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const { module } = await setUp(page, { name: "car-from", func: "add_one", args: [9], count: 2 });
  const result = await page.evaluate(async (module) => {
    const ipvm = await import("/pkg/index.js");
    const { rt, workflow } = window.ipvm;
    const reports = await rt.run(workflow);
    const car = await rt.exportCar(reports.map((r) => r.receipt));
    const other = await ipvm.Runtime.open({ name: "car-to" });
    const missing = await other.addModule(module).catch((e) => e.code);
    const counts = await other.importCar(car);
    const same = await other.addModule(module);
    const events = [];
    const again = await other.run(workflow, { onEvent: (e) => events.push(e.type) });
    const broken = car.slice();
    broken[broken.length - 1] ^= 0xff;
    const third = await ipvm.Runtime.open({ name: "car-broken" });
    const rejected = await third.importCar(broken).catch((e) => e.code);
    return { isBytes: car instanceof Uint8Array, missing, counts, same, statuses: again.map((r) => r.status), again: again.map((r) => r.receipt), exported: reports.map((r) => r.receipt), events, rejected, thirdReceipts: (await third.storage()).receipts };
  }, module);
  assert.ok(result.isBytes);
  assert.equal(result.missing, "ERR_MISSING_BLOCK");
  assert.equal(result.counts.receipts, 2);
  assert.equal(result.counts.known, 0);
  assert.ok(result.counts.blocks >= 3, `blocks: ${result.counts.blocks}`);
  assert.equal(result.same, module);
  // Imported receipts are not trusted as answers: the tasks run, and give the same receipts.
  assert.deepEqual(result.statuses, ["ran", "ran"]);
  assert.deepEqual(result.again, result.exported);
  assert.equal(result.rejected, "ERR_HASH_MISMATCH");
  assert.equal(result.thirdReceipts, 0);
  await page.close();
});

test("a version-1 database upgrades to the current version in place, keeping its data", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const result = await page.evaluate(async () => {
    // A database as version 1 of the schema left it, with one block in it.
    const cid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"; // the empty raw block
    const { createOldDatabase } = await import("/tests/e2e/pages/old-schema.js");
    await createOldDatabase("ipvm-web:old", 1, { blocks: [[cid, new Uint8Array()]] });
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: "old", workers: 0 });
    const kept = await rt.addModule(cid);
    const runs = await rt.runs();
    await rt.close();
    const after = await new Promise((resolve) => {
      const open = indexedDB.open("ipvm-web:old");
      open.onsuccess = () => (resolve({ version: open.result.version, stores: [...open.result.objectStoreNames].sort() }), open.result.close());
    });
    return { kept, runs, ...after };
  });
  assert.equal(result.version, 5);
  assert.deepEqual(result.stores, ["aliases", "blocks", "metered", "receipts", "runs", "settings"]);
  assert.equal(result.kept, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", "the old block is still there and verifies");
  assert.deepEqual(result.runs, []);
  await page.close();
});

test("persist: true asks the browser for persistent storage; storage() reports counts, usage, quota and the outcome", async () => {
  const page = await freshPage(browser);
  // Chromium grants persistence to sites with this permission (as it does to installed or bookmarked ones).
  const cdp = await page.context().newCDPSession(page);
  const { targetInfo } = await cdp.send("Target.getTargetInfo");
  await cdp.send("Browser.grantPermissions", { origin: new URL(url).origin, permissions: ["durableStorage"], browserContextId: targetInfo.browserContextId });
  await page.goto(blank());
  const result = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    // Count the calls the runtime makes to the real API.
    const real = navigator.storage.persist.bind(navigator.storage);
    let calls = 0;
    navigator.storage.persist = () => (calls++, real());
    const plain = await ipvm.Runtime.open({ name: "not-persisted", workers: 0 });
    const callsWithout = calls;
    await plain.close();
    const rt = await ipvm.Runtime.open({ name: "persisted", workers: 0, persist: true });
    const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
    const { task } = await ipvm.wasmTask({ module, func: "add_one", args: [1] });
    await rt.run({ tasks: [task] });
    return { callsWithout, calls, storage: await rt.storage(), browserSays: await navigator.storage.persisted() };
  });
  assert.equal(result.callsWithout, 0, "without persist: true the runtime does not ask");
  assert.equal(result.calls, 1);
  assert.equal(result.storage.persisted, true, "the browser granted persistence");
  assert.equal(result.browserSays, true);
  assert.equal(result.storage.receipts, 1);
  assert.ok(result.storage.blocks >= 3, `blocks: ${result.storage.blocks}`);
  assert.ok(result.storage.usage > 0 && result.storage.quota > result.storage.usage, JSON.stringify(result.storage));
  await page.close();
});

test("clear() deletes the store even while another tab has it open: that tab's runtime closes and its calls fail with ERR_STORE", async () => {
  const context = await browser.newContext();
  try {
    const [a, b] = [await context.newPage(), await context.newPage()];
    const seen = [watchErrors(a), watchErrors(b)];
    for (const p of [a, b]) {
      await p.goto(blank());
      await setUp(p, { name: "cleared", func: "add_one", args: [1], count: 1 });
    }
    await a.evaluate(() => window.ipvm.rt.run(window.ipvm.workflow));
    const before = await b.evaluate(async () => (await window.ipvm.rt.storage()).receipts);
    assert.equal(before, 1);
    // B's connection (and its workers') close when A deletes: no "blocked" wait.
    const cleared = await a.evaluate(async () => {
      const t0 = performance.now();
      await window.ipvm.rt.clear({ timeoutMs: 3_000 });
      return performance.now() - t0;
    });
    assert.ok(cleared < 3_000, `cleared in ${cleared} ms`);
    const inB = await b.evaluate(async () => {
      try {
        await window.ipvm.rt.storage();
        return "no error";
      } catch (e) {
        return e.code;
      }
    });
    assert.equal(inB, "ERR_STORE");
    // A new runtime on the name finds an empty store and a new identity.
    const after = await b.evaluate(async () => {
      const ipvm = await import("/pkg/index.js");
      const rt = await ipvm.Runtime.open({ name: "cleared" });
      return (await rt.storage()).receipts;
    });
    assert.equal(after, 0);
    assert.deepEqual(seen.flat().filter((e) => !/ERR_STORE|connection is closing|closed/i.test(e)), []);
  } finally {
    await context.close();
  }
});

test("readFile gives a stored file's bytes, and never more than maxBytes: a larger file is ERR_TOO_LARGE", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const result = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: "read-file", workers: 0 });
    const data = new Uint8Array(700_000).map((_, i) => (i * 31) & 0xff); // three UnixFS chunks
    const cid = await rt.addModule(data);
    const whole = await rt.readFile(cid);
    const code = (p) => p.then(() => null, (e) => e.code);
    return {
      same: whole.length === data.length && whole.every((b, i) => b === data[i]),
      exact: (await rt.readFile(cid, { maxBytes: data.length })).length,
      oneLess: await code(rt.readFile(cid, { maxBytes: data.length - 1 })),
      negative: await code(rt.readFile(cid, { maxBytes: -1 })),
      missing: await code(rt.readFile("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")),
    };
  });
  assert.deepEqual(result, { same: true, exact: 700_000, oneLess: "ERR_TOO_LARGE", negative: "ERR_ARGUMENT", missing: "ERR_MISSING_BLOCK" });
  await page.close();
});

test("addModule(cid) of a small DAG that describes a huge file stops at the module bound: ERR_TOO_LARGE, the tab stays usable", async () => {
  const page = await freshPage(browser);
  const errors = watchErrors(page);
  await page.goto(blank());
  const huge = await forge.hugeFile();
  assert.ok(huge.claims > 7e9, "the DAG claims gigabytes");
  const result = await page.evaluate(
    async ({ car, root }) => {
      const ipvm = await import("/pkg/index.js");
      const rt = await ipvm.Runtime.open({ name: "huge-module", workers: 0 });
      const imported = await rt.importCar(new Uint8Array(car));
      const error = await rt.addModule(root).then(() => null, (e) => ({ code: e.code, message: e.message }));
      // The runtime still answers afterwards.
      const small = await rt.addModule(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
      return { blocks: imported.blocks, error, small };
    },
    { car: [...forge.car(huge.blocks)], root: huge.root.toString() },
  );
  assert.equal(result.error?.code, "ERR_TOO_LARGE", JSON.stringify(result.error));
  assert.match(result.error.message, new RegExp(huge.root.toString()));
  assert.match(result.small, /^bafk/);
  assert.deepEqual(errors, []);
  await page.close();
});
