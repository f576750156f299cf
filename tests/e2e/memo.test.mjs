// Memo integrity in real Chromium, through the npm API: data that crossed a
// boundary (a CAR, rows damaged on disk or written by another version) is
// never served as an answer, never fails a run, and failures of the
// environment are never reused. The forgeries are built in Node with the JS
// IPLD libraries (forge.mjs), as an attacker would build them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CID } from "multiformats/cid";
import { freshPage } from "./helpers.mjs";
import { useSession } from "./session.mjs";
import * as forge from "./forge.mjs";

let url, browser;
useSession((s) => ({ url, browser } = s));

const blank = () => `${url}tests/e2e/pages/blank.html`;
const bytes = (u8) => Array.from(u8);

/** In the page: opens runtime `name` (kept as window.rts[name]) with the guest module, and builds add_one(n) tasks. */
async function open(page, name, args, options = {}) {
  return page.evaluate(
    async ({ name, args, options }) => {
      const ipvm = await import("/pkg/index.js");
      const rt = await ipvm.Runtime.open({ name, ...options });
      window.rts ??= {};
      window.rts[name] = rt;
      window.warnings ??= [];
      const warn = console.warn;
      console.warn = (...a) => (window.warnings.push(a.join(" ")), warn(...a));
      const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
      const tasks = [];
      for (const n of args) tasks.push(await ipvm.wasmTask({ module, func: "add_one", args: [n], fuel: 1_000_000, time: 60_000 }));
      return { module, tasks };
    },
    { name, args, options },
  );
}

test("a forged receipt from a CAR is never the answer, whatever its CID; a verified genuine one is", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const { tasks } = await open(page, "forge", [1]);
  const [{ task, instruction }] = tasks;
  const inv = await forge.invocation(task);
  const lie = await forge.receipt(inv.cid, ["ok", 999], { v: forge.RECEIPT_VERSION, fuel: 5 });
  const first = await page.evaluate(
    async ({ car, task, instruction }) => {
      const rt = window.rts.forge;
      const imported = await rt.importCar(new Uint8Array(car));
      const listed = await rt.receiptsFor(instruction);
      const memoBefore = await rt.receiptFor(instruction);
      const [report] = await rt.run({ tasks: [task] });
      return { imported, listed, memoBefore, report };
    },
    { car: bytes(forge.car([inv, lie])), task, instruction },
  );
  assert.deepEqual(first.imported, { blocks: 1, receipts: 1, known: 0, listed: [String(lie.cid)], envelopes: 0, vouched: [], refused: [] });
  assert.equal(first.listed.length, 1);
  assert.equal(first.listed[0].provenance, "imported");
  assert.equal(first.listed[0].trusted, false);
  assert.equal(first.memoBefore, null, "an imported receipt answers no lookup");
  assert.equal(first.report.status, "ran");
  assert.match(first.report.dagJson, /"out":\["ok",2\]/);
  assert.equal(JSON.parse(first.report.dagJson).ran["/"], inv.cid.toString(), "the forgery names the very invocation that ran");
  const genuine = first.report.receipt;

  // Receipts ground to sort before the genuine one, imported after it: still never the answer.
  for (const value of [999, 3, 0]) {
    const ground = await forge.groundBefore(inv.cid, value, genuine);
    const again = await page.evaluate(
      async ({ car, task, instruction }) => {
        const rt = window.rts.forge;
        await rt.importCar(new Uint8Array(car));
        const [report] = await rt.run({ tasks: [task] });
        return { report, memo: await rt.receiptFor(instruction) };
      },
      { car: bytes(forge.car([inv, ground])), task, instruction },
    );
    assert.equal(again.report.status, "reused", `value ${value}`);
    assert.equal(again.report.receipt, genuine, `value ${value}`);
    assert.match(again.report.dagJson, /"out":\["ok",2\]/);
    assert.equal(again.memo.cid, genuine);
    assert.equal(again.memo.provenance, "computed");
  }

  // verify re-runs the forgery: a mismatch, and it stays untrusted.
  const checked = await page.evaluate(async (lie) => {
    const v = await window.rts.forge.verify(lie);
    return { verdict: v.verdict, promoted: v.promoted, provenance: (await window.rts.forge.receipt(lie)).provenance };
  }, lie.cid.toString());
  assert.deepEqual(checked, { verdict: "mismatch", promoted: false, provenance: "imported" });

  // The genuine receipt, carried to another store: no memo hit until verified there.
  const other = await page.evaluate(
    async ({ task, genuine }) => {
      const ipvm = await import("/pkg/index.js");
      const car = await window.rts.forge.exportCar([genuine]);
      const b = await ipvm.Runtime.open({ name: "forge-b" });
      const imported = await b.importCar(car);
      const memo = await b.receiptFor((await b.receipt(genuine)).instruction);
      const v = await b.verify(genuine);
      const [report] = await b.run({ tasks: [task] });
      return { imported, memo, verdict: v.verdict, promoted: v.promoted, status: report.status, receipt: report.receipt, provenance: (await b.receipt(genuine)).provenance };
    },
    { task, genuine },
  );
  assert.equal(other.imported.receipts, 1);
  assert.equal(other.memo, null);
  assert.deepEqual([other.verdict, other.promoted], ["match", true]);
  assert.deepEqual([other.status, other.receipt, other.provenance], ["reused", genuine, "verified"]);

  // An archive that is wrong anywhere stores nothing: a data block and a well-formed receipt
  // with its invocation first, then a receipt whose invocation is not a task.
  const otherInv = await forge.invocation({ ...task, run: { ...task.run, nnc: "another" } });
  const otherReceipt = await forge.receipt(otherInv.cid, ["ok", 1], { v: forge.RECEIPT_VERSION, fuel: 1 });
  const notATask = await forge.block({ task: 1 });
  const badReceipt = await forge.receipt(notATask.cid, ["ok", 1], { v: forge.RECEIPT_VERSION, fuel: 1 });
  const data = await forge.block({ some: "data" });
  const partial = await page.evaluate(async (car) => {
    const rt = window.rts.forge;
    const before = await rt.storage();
    const error = await rt.importCar(new Uint8Array(car)).then(() => null, (e) => ({ code: e.code, message: e.message }));
    const after = await rt.storage();
    return { error, before: [before.blocks, before.receipts], after: [after.blocks, after.receipts] };
  }, bytes(forge.car([data, otherInv, otherReceipt, notATask, badReceipt])));
  assert.equal(partial.error?.code, "ERR_CAR_INVALID");
  assert.match(partial.error.message, new RegExp(`receipt ${badReceipt.cid}: its invocation ${notATask.cid} is not a map`));
  assert.deepEqual(partial.after, partial.before, "nothing of the archive was stored");
  await page.close();
});

/** In the page: rewrites rows of the receipts store of `db` behind the runtime's back. */
function putRows(page, db, edit) {
  return page.evaluate(
    ({ db, edit }) =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open(db);
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const tx = open.result.transaction("receipts", "readwrite");
          const store = tx.objectStore("receipts");
          const all = store.getAll();
          all.onsuccess = () => {
            const rows = all.result;
            // eslint-disable-next-line no-new-func
            for (const row of new Function("rows", edit)(rows)) store.put(row);
          };
          tx.oncomplete = () => (open.result.close(), resolve());
          tx.onerror = () => reject(tx.error);
        };
      }),
    { db, edit },
  );
}

test("a forged receipt imported while its task runs never marks the task done in the run's record", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  // A task of about a second on wasmi, so that the import lands while it runs.
  const { task, instruction } = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: "forge-running", workers: 1, engine: "wasmi" });
    window.rts = { rt };
    const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
    return ipvm.wasmTask({ module, func: "xorshift", args: [12_000_000], time: 60_000 });
  });
  const inv = await forge.invocation(task);
  const lie = await forge.receipt(inv.cid, ["ok", 999], { v: forge.RECEIPT_VERSION, fuel: 5 });
  const result = await page.evaluate(
    async ({ car, task, instruction }) => {
      const { rt } = window.rts;
      let imported;
      const started = new Promise((resolve) => {
        window.onStarted = resolve;
      });
      const run = rt.run({ tasks: [task] }, { onEvent: (e) => e.type === "started" && window.onStarted() });
      await started;
      imported = await rt.importCar(new Uint8Array(car));
      // Let any write the import might have caused land.
      await new Promise((r) => setTimeout(r, 100));
      const during = (await rt.runs()).find((r) => r.state === "running");
      const [report] = await run;
      const after = (await rt.runs()).find((r) => r.tasks[0].instruction === instruction);
      return { imported: imported.receipts, during: during?.tasks[0].status, report: { status: report.status, out: JSON.parse(report.dagJson).out }, after: after.tasks[0].status };
    },
    { car: bytes(forge.car([inv, lie])), task, instruction },
  );
  assert.equal(result.imported, 1);
  assert.notEqual(result.during, undefined, "the run is on record while its task runs");
  assert.notEqual(result.during, "done", "an imported receipt does not finish a task in the record");
  assert.equal(result.report.status, "ran");
  assert.notDeepEqual(result.report.out, ["ok", 999]);
  assert.equal(result.after, "done");
  await page.close();
});

test("a row filed under another instruction, or damaged, is skipped, reported once, and never fails a run", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const { tasks } = await open(page, "rows", [1, 5], { workers: 1 });
  const [x, y] = tasks;
  const genuineY = await page.evaluate(async (task) => {
    const [report] = await window.rts.rows.run({ tasks: [task] });
    await window.rts.rows.close();
    return report.receipt;
  }, y.task);
  // Y's row (add_one(5) = 6) re-filed under X (add_one(1)), a row whose bytes are damaged, and one that is not a row.
  const elsewhere = (await forge.block("some other content")).cid.toString();
  await putRows(
    page,
    "ipvm-web:rows",
    `const y = rows.find((r) => r.cid === ${JSON.stringify(genuineY)});
     const damaged = { ...y, cid: ${JSON.stringify(elsewhere)}, bytes: new Uint8Array([...y.bytes].map((b, i) => i === 9 ? b ^ 1 : b)) };
     const refiled = { ...y, instruction: ${JSON.stringify(x.instruction)}, memo: ${JSON.stringify(x.instruction)}, inputs: y.inputs };
     return [refiled, { ...damaged, instruction: ${JSON.stringify(x.instruction)}, memo: ${JSON.stringify(x.instruction)} }, { cid: "not-a-row", instruction: 7, memo: ${JSON.stringify(x.instruction)} }];`,
  );
  const result = await page.evaluate(async (task) => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: "rows", workers: 1 });
    const heard = [];
    rt.onRejected((r) => heard.push(r));
    const events = [];
    const [first] = await rt.run({ tasks: [task] }, { onEvent: (e) => e.type === "rejected" && events.push(e) });
    const [second] = await rt.run({ tasks: [task] }, { onEvent: (e) => e.type === "rejected" && events.push(e) });
    return { first, second, events, heard, warnings: window.warnings.filter((w) => w.includes("skipped")) };
  }, x.task);
  assert.equal(result.first.status, "ran");
  assert.match(result.first.dagJson, /"out":\["ok",2\]/, "the right answer, not Y's 6");
  assert.equal(result.second.status, "reused");
  assert.equal(result.second.receipt, result.first.receipt);
  assert.equal(result.events.length, 3, JSON.stringify(result.events));
  const reasons = Object.fromEntries(result.events.map((e) => [e.receipt, e.reason]));
  assert.match(reasons[genuineY], /filed under instruction .* but its invocation ran/);
  assert.match(reasons[elsewhere], /do not match/);
  assert.match(reasons["not-a-row"], /not a valid CID/);
  assert.equal(result.heard.length, 3, "each reported once to the listener, over two runs");
  assert.equal(result.warnings.length, 3, "and once on the console");
  await page.close();
});

test("failures of the environment are recorded but never reused: a module added later runs", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const result = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const wasm = new URL("/www/modules/ipvm_guests.wasm", location.href);
    // The module's CID, computed elsewhere (a memory store), not added to this one yet.
    const module = await (await ipvm.Runtime.open({ storage: "memory" })).addModule(wasm);
    const rt = await ipvm.Runtime.open({ name: "env", workers: 1 });
    const { task } = await ipvm.wasmTask({ module, func: "add_one", args: [1] });
    const runs = [];
    for (let i = 0; i < 2; i++) runs.push((await rt.run({ tasks: [task] }))[0]);
    await rt.addModule(wasm);
    for (let i = 0; i < 2; i++) runs.push((await rt.run({ tasks: [task] }))[0]);
    const all = await rt.receiptsFor(runs[0].instruction);
    // The content of a link argument, added after a first run.
    const later = new TextEncoder().encode("content that arrives later");
    const data = await (await ipvm.Runtime.open({ storage: "memory" })).addModule(later);
    const echo = (await ipvm.wasmTask({ module, func: "echo-bytes", args: [{ "/": data }] })).task;
    const echoed = [];
    echoed.push((await rt.run({ tasks: [echo] }))[0]);
    await rt.addModule(later);
    echoed.push((await rt.run({ tasks: [echo] }))[0]);
    return {
      runs: runs.map((r) => [r.status, JSON.parse(r.dagJson).out]),
      all: all.map((r) => [r.provenance, r.reusable]),
      echoed: echoed.map((r) => [r.status, r.ok, JSON.parse(r.dagJson).out[1].kind ?? null]),
    };
  });
  assert.deepEqual(result.echoed, [["ran", false, "input_missing"], ["ran", true, null]]);
  assert.deepEqual(result.runs.slice(0, 2).map(([s, out]) => [s, out[1].kind]), [["ran", "module_missing"], ["ran", "module_missing"]]);
  assert.deepEqual(result.runs.slice(2), [["ran", ["ok", 2]], ["reused", ["ok", 2]]]);
  assert.deepEqual(result.all.sort(), [["computed", false], ["computed", true]]);
  await page.close();
});

test("a schema-2 database upgrades in place: its receipts are kept, listed as unproven, and never answer", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  // The module's CID and a task, from a memory store (nothing written to the old database).
  const { module, tasks } = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ storage: "memory" });
    const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
    return { module, tasks: [await ipvm.wasmTask({ module, func: "add_one", args: [1], fuel: 1_000_000, time: 60_000 })] };
  });
  const [{ task, instruction }] = tasks;
  const inv = await forge.invocation(task);
  // What schema 2 wrote: receipts without `meta.v`, and one that looks current but lies.
  const old = await forge.receipt(inv.cid, ["ok", 2], { fuel: 4 });
  const lying = await forge.receipt(inv.cid, ["ok", 999], { v: forge.RECEIPT_VERSION, fuel: 4 });
  const row = (r) => ({ cid: r.cid.toString(), instruction, inputs: [module], bytes: bytes(r.bytes) });
  const result = await page.evaluate(
    async ({ inv, rows, instruction, task }) => {
      const { createOldDatabase } = await import("/tests/e2e/pages/old-schema.js");
      await createOldDatabase("ipvm-web:v2", 2, {
        blocks: [[inv.cid, new Uint8Array(inv.bytes)]],
        receipts: rows.map((r) => ({ ...r, bytes: new Uint8Array(r.bytes) })),
        runs: [{ id: "an-old-run", state: "done", started: 1, updated: 2, tasks: [] }],
      });
      const ipvm = await import("/pkg/index.js");
      const rt = await ipvm.Runtime.open({ name: "v2", workers: 1 });
      const before = await rt.receiptsFor(instruction);
      const memo = await rt.receiptFor(instruction);
      await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
      const [report] = await rt.run({ tasks: [task] });
      const after = await rt.receiptsFor(instruction);
      const runs = (await rt.runs()).map((r) => r.id);
      await rt.close();
      const db = await new Promise((resolve) => {
        const open = indexedDB.open("ipvm-web:v2");
        open.onsuccess = () => {
          const tx = open.result.transaction("receipts");
          resolve({ version: open.result.version, indexes: [...tx.objectStore("receipts").indexNames].sort() });
          open.result.close();
        };
      });
      return { before: before.map((r) => [r.cid, r.provenance, r.trusted]), memo, status: report.status, out: JSON.parse(report.dagJson).out, after: after.length, runs, db };
    },
    { inv: { cid: inv.cid.toString(), bytes: bytes(inv.bytes) }, rows: [row(old), row(lying)], instruction, task },
  );
  assert.deepEqual(
    result.before.sort(),
    [[old.cid.toString(), "unproven", false], [lying.cid.toString(), "unproven", false]].sort(),
  );
  assert.equal(result.memo, null);
  assert.deepEqual([result.status, result.out], ["ran", ["ok", 2]], "re-computed once, and right");
  assert.equal(result.after, 3, "the old receipts are kept beside the new one");
  assert.ok(result.runs.includes("an-old-run"));
  assert.deepEqual(result.db, { version: 5, indexes: ["inputs", "instruction", "memo", "signers"] });
  // The row's key really is the CID the JS libraries compute.
  assert.ok(CID.parse(result.before[0][0]));
  await page.close();
});

test("verify refuses a receipt whose awaited input is not trusted here with ERR_UNTRUSTED_INPUT, naming it; inputs first, both match", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const result = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const here = await ipvm.Runtime.open({ name: "untrusted-input-a", workers: 0 });
    const module = await here.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
    const one = await ipvm.wasmTask({ module, func: "add_one", args: [1] });
    const two = await ipvm.wasmTask({ module, func: "add_one", args: [ipvm.awaitOk(one.instruction)] });
    const reports = await here.run({ tasks: [one.task, two.task] });
    const car = await here.exportCar(reports.map((r) => r.receipt));
    const there = await ipvm.Runtime.open({ name: "untrusted-input-b", workers: 0 });
    await there.importCar(car);
    let refused = null;
    try {
      await there.verify(reports[1].receipt);
    } catch (e) {
      refused = { code: e.code, message: e.message };
    }
    const first = await there.verify(reports[0].receipt);
    const second = await there.verify(reports[1].receipt);
    return { refused, verdicts: [first.verdict, second.verdict], awaited: one.instruction };
  });
  assert.equal(result.refused?.code, "ERR_UNTRUSTED_INPUT");
  assert.ok(result.refused.message.includes(result.awaited), result.refused.message);
  assert.deepEqual(result.verdicts, ["match", "match"]);
  await page.close();
});
