// Workflow `defaults` and `catch` with real Wasm (the guest module's
// `catch-with` handler), natively through the CLI and in Chromium through the
// package: the same receipts on both, for each Handle (ok, rewire, msg), a
// handler that traps and one that runs out of fuel; defaults that a task's
// own meta overrides. (The scheduling rules themselves: crates/ipvm-core/tests/catch.rs.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GUESTS_WASM, freshPage, freshStoreDir, ipvm } from "./helpers.mjs";
import { useSession } from "./session.mjs";

let url, browser;
useSession((s) => ({ url, browser } = s));

const module = (await ipvm(["add", GUESTS_WASM])).stdout.trim().split(/\s+/)[0];
const run = (func, args, nnc = "") => ({ rsc: `ipfs://${module}`, op: "wasm/run", input: { func, args }, nnc });
const task = (r, meta = {}) => ({ run: r, cause: null, meta, prf: [] });
const awaitOk = (cid) => ({ "await/ok": { "/": cid } });
const awaitError = (cid) => ({ "await/error": { "/": cid } });

/** Instruction CIDs, by the CLI. */
async function cids(...runs) {
  const dir = await mkdtemp(join(tmpdir(), "ipvm-catch-"));
  try {
    await writeFile(join(dir, "i.jsonl"), runs.map((r) => JSON.stringify(r)).join("\n") + "\n");
    const r = await ipvm(["instruction", join(dir, "i.jsonl")]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split("\n").map((l) => l.split(/\s+/)[0]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const bad = run("echo-u8", [300]); // fails: an argument error, a result (memoized)
const nine = run("add-one", [9]);
const [BAD, NINE] = await cids(bad, nine);
const after = run("add-one", [awaitOk(BAD)]);
// Reads the error it awaits (catch-with called as a plain task: its first argument takes an error record).
const why = run("catch-with", [{ instruction: "-", error: awaitError(BAD) }, "msg", "seen"]);
const handler = (how, value, meta = { fuel: 50_000_000 }) => ({ rsc: `ipfs://${module}`, func: "catch-with", args: [how, value], meta });

/** The cases: a workflow each, and what must come of it. */
const CASES = {
  ok: { tasks: [task(bad), task(after)], catch: handler("ok", "41") },
  rewire: { tasks: [task(bad), task(after), task(nine)], catch: handler("rewire", NINE) },
  msg: { tasks: [task(bad), task(after), task(why)], catch: handler("msg", "the input must fit a u8") },
  trap: { tasks: [task(bad), task(after)], catch: handler("trap", "") },
  fuel: { tasks: [task(bad), task(after)], catch: handler("spin", "", { fuel: 100_000 }) },
  defaults: {
    defaults: { fuel: 1_000 },
    tasks: [task(run("fib", [20])), task(run("fib", [20], "own fuel"), { fuel: 100_000_000 })],
  },
};

/** Runs every case natively: receipts (DAG-JSON objects) per case. */
async function native() {
  const dir = await mkdtemp(join(tmpdir(), "ipvm-catch-"));
  const store = freshStoreDir();
  try {
    const out = {};
    for (const [name, wf] of Object.entries(CASES)) {
      await writeFile(join(dir, `${name}.json`), JSON.stringify(wf));
      const r = await ipvm(["run", join(dir, `${name}.json`), "--add", GUESTS_WASM, "--store", store]);
      out[name] = { code: r.code, receipts: r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)), stderr: r.stderr };
    }
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(store, { recursive: true, force: true });
  }
}

/** Runs every case in Chromium: reports per case. */
async function inBrowser() {
  const page = await freshPage(browser);
  await page.goto(`${url}tests/e2e/pages/blank.html`);
  const reports = await page.evaluate(async (cases) => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: "catch", workers: 1 });
    await rt.addModule(await fetch("/www/modules/ipvm_guests.wasm"));
    const out = {};
    for (const [name, wf] of Object.entries(cases)) {
      out[name] = (await rt.run(wf)).map(({ task, instruction, status, ok, out, error, dagJson, handlerOf, caught, reason }) =>
        ({ task, instruction, status, ok, out, error, dagJson, handlerOf, caught, reason }));
    }
    await rt.close();
    return out;
  }, CASES);
  await page.close();
  return reports;
}

const nat = await native();
let web;

test("natively: each Handle, a failing handler and defaults give what they say", () => {
  const outs = (name) => nat[name].receipts.map((r) => r.out);
  // ok: the failure's receipt, then add-one on the handler's 41, then the handler's own {ok: 41}.
  assert.equal(outs("ok")[0][1].kind, "argument");
  assert.deepEqual(outs("ok").slice(1), [["ok", 42], ["ok", { ok: 41 }]]);
  // rewire: add-one awaits add-one(9) instead (the handler's string lifts to a link: it is a CID).
  assert.deepEqual(outs("rewire").slice(1), [["ok", 11], ["ok", 10], ["ok", { rewire: { "/": NINE } }]]);
  // msg: add-one is skipped (no receipt); the await/error sees the restated message.
  const msg = outs("msg");
  assert.equal(msg.length, 3, JSON.stringify(msg));
  assert.match(msg[1][1].msg, /^seen \(the input must fit a u8 \(argument 0/);
  assert.deepEqual(Object.keys(msg[2][1]), ["msg"]);
  // A handler that traps, or runs out of fuel: its own failure is its receipt; add-one is skipped.
  for (const name of ["trap", "fuel"]) {
    const o = outs(name);
    assert.equal(o.length, 2, `${name}: ${JSON.stringify(o)}`);
    assert.equal(o[1][1].kind, name === "trap" ? "trap" : "out_of_fuel", name);
    assert.match(nat[name].stderr, /skipped|did not run|failed/);
  }
  // defaults: the task without meta has the default fuel (and runs out); the other its own.
  const [first, second] = outs("defaults");
  assert.equal(first[1].kind, "out_of_fuel");
  assert.equal(second[0], "ok");
});

test("in Chromium: the same receipts as natively, and reports say who handled what", async () => {
  web = await inBrowser();
  for (const [name, reports] of Object.entries(web)) {
    const receipts = reports.filter((r) => r.status !== "skipped").map((r) => JSON.parse(r.dagJson));
    assert.deepEqual(receipts, nat[name].receipts, name);
  }
  const [failed, added, handled] = web.ok;
  assert.deepEqual(failed.caught, { by: 2, as: "ok", detail: null });
  assert.equal(failed.ok, false);
  assert.equal(added.out, 42);
  assert.equal(handled.handlerOf, 0);
  assert.deepEqual(handled.out, { ok: 41 });
  assert.deepEqual(web.rewire[0].caught, { by: 3, as: "rewire", detail: 2 });
  assert.equal(web.msg[0].caught.as, "msg");
  assert.match(web.msg[1].reason, /the input must fit a u8/);
  assert.equal(web.trap[0].caught.as, "failed");
  assert.match(web.trap[0].caught.detail, /^the handler failed: trap/);
  assert.match(web.fuel[0].caught.detail, /^the handler failed: .*fuel/);
});

test("a handled run again is all memo hits, the handler's included", async () => {
  const page = await freshPage(browser);
  await page.goto(`${url}tests/e2e/pages/blank.html`);
  const statuses = await page.evaluate(async (wf) => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: "catch-again", workers: 1 });
    await rt.addModule(await fetch("/www/modules/ipvm_guests.wasm"));
    await rt.run(wf);
    const again = await rt.run(wf);
    await rt.close();
    return again.map((r) => r.status);
  }, CASES.ok);
  await page.close();
  assert.deepEqual(statuses, ["reused", "reused", "reused"]);
});
