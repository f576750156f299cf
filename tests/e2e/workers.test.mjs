// Execution off the main thread, through the npm API: tasks run on the worker
// pool while the page stays responsive; a long task stops at its next fuel
// slice when its run is aborted and its worker goes on; a worker that does
// not answer (timeout or cancel) is terminated and replaced; a failing worker
// leaves a receipt that is never reused; with `workers: 0` the page itself
// runs tasks and still yields between fuel slices.
import { test } from "node:test";
import assert from "node:assert/strict";
import { freshPage, watchErrors } from "./helpers.mjs";
import { useSession } from "./session.mjs";

let url, browser;
useSession((s) => ({ url, browser } = s));

const blank = () => `${url}tests/e2e/pages/blank.html`;
/** A pool's stats without its message count (which depends on timing). */
const counts = ({ messages, ...rest }) => rest;

/** Runs the pool scenario on `engine`: four CPU tasks and a runaway one, then a quick task. */
async function poolRun(page, engine) {
  return page.evaluate(async (engine) => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: `pool-${engine}`, workers: 2, engine });
    const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
    // Four tasks of about a second of wasmi each, and one that spins until its time limit.
    const tasks = [];
    for (let i = 0; i < 4; i++) tasks.push((await ipvm.wasmTask({ module, func: "xorshift", args: [12_000_000], nnc: `p${i}` })).task);
    const spin = await ipvm.wasmTask({ module, func: "xorshift", args: [4_000_000_000], time: 300 });
    const after = await ipvm.wasmTask({ module, func: "add_one", args: [1], nnc: "after" });
    // Measure the main thread's longest stall while the pool works.
    let last = performance.now();
    let worstGap = 0;
    let ticks = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      worstGap = Math.max(worstGap, now - last);
      last = now;
      ticks++;
    }, 10);
    const t0 = performance.now();
    const reports = await rt.run({ tasks: [...tasks, spin.task] });
    const took = performance.now() - t0;
    clearInterval(ticker);
    const next = await rt.run({ tasks: [after.task] });
    return {
      stats: rt.workerStats(),
      workers: rt.workers,
      statuses: reports.map((r) => r.ok),
      fuels: reports.slice(0, 4).map((r) => r.fuel),
      receipts: reports.slice(0, 4).map((r) => r.receipt),
      engines: reports.slice(0, 4).map((r) => r.engine),
      ticks,
      spin: JSON.parse(reports[4].dagJson),
      next: JSON.parse(next[0].dagJson).out,
      took,
      worstGap,
    };
  }, engine);
}

test("tasks run on the worker pool, on either engine, with the same receipts: the page stays responsive; a runaway task ends at its time limit and the pool goes on", async () => {
  const page = await freshPage(browser);
  const errors = watchErrors(page);
  await page.goto(blank());
  const runs = { wasmi: await poolRun(page, "wasmi"), fast: await poolRun(page, "auto") };
  for (const [engine, result] of Object.entries(runs)) {
    assert.equal(result.workers, 2);
    assert.deepEqual(result.statuses, [true, true, true, true, false], engine);
    assert.deepEqual(result.engines, Array(4).fill(engine), "each report names the engine the task ran on");
    assert.equal(result.spin.out[1].kind, "time_limit", engine);
    assert.equal(result.spin.meta.nondeterministic, true);
    assert.deepEqual(result.next, ["ok", 2], "the pool still works after a time limit");
    // The four tasks did the same real work (the same fuel, millions of units), and the page's
    // own timer kept firing while they ran: the main thread was never blocked for long.
    assert.equal(new Set(result.fuels).size, 1, `fuels: ${result.fuels}`);
    assert.ok(result.fuels[0] > 12_000_000, `fuel ${result.fuels[0]}`);
    assert.ok(result.ticks > 0);
    assert.ok(result.worstGap < 500, `the main thread stalled ${result.worstGap.toFixed(0)} ms`);
    console.log(`pool (${engine}): 2 workers, ${result.took.toFixed(0)} ms for the run, longest main-thread stall ${result.worstGap.toFixed(0)} ms`);
  }
  // wasmi pauses between slices and checks the clock itself; the browser's engine cannot pause,
  // so the pool terminates that worker at the limit and starts another.
  assert.equal(runs.wasmi.stats.replaced, 0, "wasmi's own time check ended the task; no worker was terminated");
  assert.equal(runs.fast.stats.replaced, 1, "the fast path's runaway task ended with its worker");
  // The same tasks gave the same receipts on both engines.
  assert.deepEqual(runs.fast.receipts, runs.wasmi.receipts);
  assert.deepEqual(runs.fast.fuels, runs.wasmi.fuels);
  assert.deepEqual(errors, []);
  await page.close();
});

test("short jobs go to a worker in batches and come back in batches; the jobs a terminated worker held run on its replacement", async () => {
  const page = await freshPage(browser);
  const errors = watchErrors(page);
  await page.goto(blank());
  const result = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: "batches", workers: 1, engine: "auto" });
    const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
    const quick = async (n, tag, time) => {
      const tasks = [];
      for (let i = 0; i < n; i++) tasks.push((await ipvm.wasmTask({ module, func: "add_one", args: [i], nnc: `${tag}${i}`, time })).task);
      return tasks;
    };
    // A first run of short jobs: after the first answers, the rest go in batches.
    const first = await rt.run({ tasks: await quick(60, "a") });
    const afterFirst = rt.workerStats();
    // Then a runaway job first, with short ones queued behind it in the same worker: the pool
    // terminates the worker at the runaway's time limit, and the jobs it held run on the next.
    const spin = await ipvm.wasmTask({ module, func: "xorshift", args: [4_000_000_000], time: 300 });
    const second = await rt.run({ tasks: [spin.task, ...(await quick(20, "b"))] });
    const afterSecond = rt.workerStats();
    // Aborting a run whose jobs wait in a worker behind a runaway one: the runaway's worker is
    // terminated, the jobs waiting are dropped, and the next run works.
    const long = await ipvm.wasmTask({ module, func: "xorshift", args: [4_000_000_000], time: 600_000, nnc: "long" });
    const controller = new AbortController();
    const code = await rt
      .run({ tasks: [long.task, ...(await quick(20, "c"))] }, { signal: controller.signal, onEvent: (e) => e.type === "started" && e.task === 0 && setTimeout(() => controller.abort(), 300) })
      .then(() => null, (e) => e.code);
    for (let i = 0; i < 100 && rt.workerStats().busy > 0; i++) await new Promise((r) => setTimeout(r, 50));
    const afterAbort = rt.workerStats();
    const next = await rt.run({ tasks: await quick(3, "d") });
    const receipts = (await rt.storage()).receipts;
    // A runaway behind short jobs in the same worker: its time is never counted against the
    // job before it (whose answer goes out before the runaway's call starts), so the short
    // jobs all succeed and only the runaway ends at its limit.
    const spin2 = await ipvm.wasmTask({ module, func: "xorshift", args: [4_000_000_000], time: 300, nnc: "spin2" });
    const behind = await rt.run({ tasks: [...(await quick(20, "e", 2_000)), spin2.task] });
    return {
      first: first.map((r) => JSON.parse(r.dagJson).out),
      afterFirst,
      spin: JSON.parse(second[0].dagJson).out[1].kind,
      rest: second.slice(1).map((r) => JSON.parse(r.dagJson).out),
      afterSecond,
      code,
      afterAbort,
      next: next.map((r) => JSON.parse(r.dagJson).out),
      receipts,
      behind: behind.map((r) => JSON.parse(r.dagJson).out),
    };
  });
  assert.deepEqual(result.first, Array.from({ length: 60 }, (_, i) => ["ok", i + 1]));
  // Without batches: a message per job, one per answer and one per fast-path notice (180).
  // With them (and no notices: the run has no signal to cancel it), jobs go several to a
  // message once the pool has seen that they are short; on the browser's engine each answer
  // goes before the next call (which cannot pause), so about one message per job.
  assert.ok(result.afterFirst.messages < 90, `${result.afterFirst.messages} messages for 60 jobs`);
  assert.equal(result.spin, "time_limit");
  assert.deepEqual(result.rest, Array.from({ length: 20 }, (_, i) => ["ok", i + 1]));
  assert.deepEqual(counts(result.afterSecond), { workers: 1, busy: 0, queued: 0, spawned: 2, replaced: 1, cancelled: 0 });
  assert.equal(result.code, "ERR_CANCELLED");
  const { cancelled, ...afterAbort } = counts(result.afterAbort);
  assert.deepEqual(afterAbort, { workers: 1, busy: 0, queued: 0, spawned: 3, replaced: 2 }, "the runaway's worker was replaced; nothing is left waiting");
  assert.ok(cancelled >= 2, `${cancelled} jobs cancelled: the runaway and the ones behind it`);
  assert.deepEqual(result.next, [["ok", 1], ["ok", 2], ["ok", 3]]);
  assert.ok(result.receipts <= 60 + 21 + 20 + 3, `${result.receipts} receipts`);
  assert.deepEqual(result.behind.slice(0, 20), Array.from({ length: 20 }, (_, i) => ["ok", i + 1]), "no short job is blamed for the runaway behind it");
  assert.equal(result.behind[20][1].kind, "time_limit");
  assert.deepEqual(errors, []);
  console.log(`batches: ${result.afterFirst.messages} messages between the page and its worker for 60 short jobs`);
  await page.close();
});

/** Starts two long tasks on `engine`, aborts the run 300 ms after both started, then runs a quick task. */
async function abortRun(page, engine) {
  return page.evaluate(async (engine) => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: `abort-running-${engine}`, workers: 2, engine });
    const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
    // Two tasks of about a minute of wasmi each.
    const long = [];
    for (let i = 0; i < 2; i++) long.push((await ipvm.wasmTask({ module, func: "xorshift", args: [4_000_000_000], nnc: `long${i}`, time: 600_000 })).task);
    const controller = new AbortController();
    let started = 0;
    const t0 = performance.now();
    const code = await rt
      .run({ tasks: long }, { signal: controller.signal, onEvent: (e) => e.type === "started" && ++started === 2 && setTimeout(() => controller.abort(), 300) })
      .then(() => null, (e) => e.code);
    const abortedAfter = performance.now() - t0;
    const quick = await ipvm.wasmTask({ module, func: "add_one", args: [1], nnc: "after-abort" });
    const t1 = performance.now();
    const after = await rt.run({ tasks: [quick.task] });
    const nextTook = performance.now() - t1;
    // A cancelled job still loading its module sees the cancel once it runs: wait for it.
    for (let i = 0; i < 200 && rt.workerStats().busy > 0; i++) await new Promise((r) => setTimeout(r, 50));
    return { code, abortedAfter, next: JSON.parse(after[0].dagJson).out, nextTook, receipts: (await rt.storage()).receipts, stats: rt.workerStats() };
  }, engine);
}

test("aborting stops tasks running in workers: wasmi at its next fuel slice (the workers go on), the fast path by replacing its workers", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const result = await abortRun(page, "wasmi");
  assert.equal(result.code, "ERR_CANCELLED");
  assert.ok(result.abortedAfter < 20_000, `the run ended ${result.abortedAfter.toFixed(0)} ms after it started`);
  assert.deepEqual(result.next, ["ok", 2]);
  assert.ok(result.nextTook < 20_000, `the next task waited ${result.nextTook.toFixed(0)} ms`);
  assert.equal(result.receipts, 1, "the aborted tasks left no receipt");
  assert.deepEqual(counts(result.stats), { workers: 2, busy: 0, queued: 0, spawned: 2, replaced: 0, cancelled: 2 }, "both workers stopped their task and stayed");
  console.log(`abort (wasmi): run ended ${result.abortedAfter.toFixed(0)} ms after start; next task took ${result.nextTook.toFixed(0)} ms on the same workers`);
  // The browser's engine cannot pause: the pool terminates each worker that does not answer
  // the cancel at once, and starts another. Nothing of the aborted tasks is kept.
  const fast = await abortRun(page, "auto");
  assert.equal(fast.code, "ERR_CANCELLED");
  assert.ok(fast.abortedAfter < 5_000, `the run ended ${fast.abortedAfter.toFixed(0)} ms after it started`);
  assert.deepEqual(fast.next, ["ok", 2]);
  assert.equal(fast.receipts, 1, "the aborted tasks left no receipt");
  assert.deepEqual(counts(fast.stats), { workers: 2, busy: 0, queued: 0, spawned: 4, replaced: 2, cancelled: 2 }, "both workers were replaced");
  console.log(`abort (fast): run ended ${fast.abortedAfter.toFixed(0)} ms after start; next task took ${fast.nextTook.toFixed(0)} ms on new workers`);
  await page.close();
});

test("a worker that hangs past the time limit is terminated and replaced; the task gets a time_limit receipt", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const result = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: "stuck", workers: 1, workerUrl: "/tests/e2e/pages/stuck-worker.js" });
    const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
    const { task } = await ipvm.wasmTask({ module, func: "add_one", args: [1], time: 200 });
    const before = rt.workerStats();
    const reports = await rt.run({ tasks: [task] });
    return { before, after: rt.workerStats(), receipt: JSON.parse(reports[0].dagJson), ok: reports[0].ok };
  });
  assert.deepEqual(counts(result.before), { workers: 1, busy: 0, queued: 0, spawned: 1, replaced: 0, cancelled: 0 });
  assert.equal(result.ok, false);
  assert.equal(result.receipt.out[1].kind, "time_limit");
  assert.equal(result.receipt.meta.nondeterministic, true);
  assert.deepEqual(counts(result.after), { workers: 1, busy: 0, queued: 0, spawned: 2, replaced: 1, cancelled: 0 });
  await page.close();
});

test("a worker that ignores a cancel is terminated and replaced", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const result = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: "stuck-cancel", workers: 1, workerUrl: "/tests/e2e/pages/stuck-worker.js" });
    const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
    const { task } = await ipvm.wasmTask({ module, func: "add_one", args: [1], time: 600_000 });
    const controller = new AbortController();
    const code = await rt
      .run({ tasks: [task] }, { signal: controller.signal, onEvent: (e) => e.type === "started" && setTimeout(() => controller.abort(), 100) })
      .then(() => null, (e) => e.code);
    const atAbort = rt.workerStats();
    // The worker gets a grace period to reach a fuel slice; this one never does.
    while (rt.workerStats().replaced === 0) await new Promise((r) => setTimeout(r, 100));
    return { code, atAbort, after: rt.workerStats(), receipts: (await rt.storage()).receipts };
  });
  assert.equal(result.code, "ERR_CANCELLED");
  assert.equal(result.atAbort.replaced, 0, "the worker is first asked to stop");
  assert.equal(result.atAbort.cancelled, 1);
  assert.deepEqual(counts(result.after), { workers: 1, busy: 0, queued: 0, spawned: 2, replaced: 1, cancelled: 1 });
  assert.equal(result.receipts, 0, "a cancelled task leaves no receipt");
  await page.close();
});

test("a failing worker gives a `worker` error receipt that is never reused", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const result = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const broken = await ipvm.Runtime.open({ name: "failing", workers: 1, workerUrl: "/tests/e2e/pages/failing-worker.js" });
    const module = await broken.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
    const { task } = await ipvm.wasmTask({ module, func: "add_one", args: [1] });
    const first = await broken.run({ tasks: [task] });
    await broken.close();
    const rt = await ipvm.Runtime.open({ name: "failing", workers: 1 });
    const second = await rt.run({ tasks: [task] });
    return {
      first: JSON.parse(first[0].dagJson),
      second: { status: second[0].status, out: JSON.parse(second[0].dagJson).out },
      receipts: (await rt.storage()).receipts,
      stored: (await rt.receiptsFor(first[0].instruction)).map((r) => [r.ok, r.reusable]).sort(),
    };
  });
  assert.equal(result.first.out[1].kind, "worker");
  assert.deepEqual(result.stored, [[false, false], [true, true]], "the `worker` receipt is kept, and never reusable");
  assert.match(result.first.out[1].message, /could not load its runtime/);
  assert.equal(result.first.meta.nondeterministic, undefined, "a failure of the environment, not of the task");
  assert.deepEqual(result.second, { status: "ran", out: ["ok", 2] }, "the failure was not reused as a memo");
  assert.equal(result.receipts, 2, "both receipts are kept");
  await page.close();
});

test("a worker script that does not load fails its task at once with a `worker` receipt; after three tries the pool stops starting workers", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const result = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: "no-script", workers: 1, workerUrl: "/tests/e2e/pages/no-such-worker.js" });
    const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
    const { task } = await ipvm.wasmTask({ module, func: "add_one", args: [1], time: 60_000 });
    const t0 = performance.now();
    const [first] = await rt.run({ tasks: [task] });
    // The replacements fail too (with no job); once the pool has given up, no worker is left.
    while (rt.workerStats().workers > 0) await new Promise((r) => setTimeout(r, 50));
    const { task: later } = await ipvm.wasmTask({ module, func: "add_one", args: [2], time: 60_000 });
    const [second] = await rt.run({ tasks: [later] });
    const ms = performance.now() - t0;
    const stats = rt.workerStats();
    await rt.close();
    return { first: JSON.parse(first.dagJson).out, second: JSON.parse(second.dagJson).out, ms, stats };
  });
  assert.equal(result.first[0], "error");
  assert.equal(result.first[1].kind, "worker");
  // The likely causes, in order, and nothing of Rust's debug text.
  assert.match(
    result.first[1].message,
    /^the worker failed: the task worker \S*no-such-worker\.js did not start.*Likely causes, in order: 1\. the app's bundler did not bundle the worker .*"Bundlers" section.*; 2\. a service worker whose scope does not cover the worker's URL; 3\. a network error/,
  );
  assert.doesNotMatch(result.first[1].message, /JsValue\(/);
  assert.equal(result.second[1].kind, "worker");
  assert.match(result.second[1].message, /3 workers in a row; the pool has stopped starting them/);
  // Well before the tasks' 60 s time limit, which is what the jobs waited for before.
  assert.ok(result.ms < 20_000, `both failed in ${result.ms} ms`);
  assert.equal(result.stats.spawned, 3, "three workers tried, then no more");
  assert.equal(result.stats.workers, 0);
  await page.close();
});

test("a worker's garbled messages are ignored, and an answer without an execution fails its job with a `worker` receipt", async () => {
  const page = await freshPage(browser);
  const errors = watchErrors(page);
  await page.goto(blank());
  const result = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: "garbled", workers: 1, workerUrl: "/tests/e2e/pages/garbled-worker.js" });
    const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
    const { task } = await ipvm.wasmTask({ module, func: "add_one", args: [1], time: 60_000 });
    const t0 = performance.now();
    const [report] = await rt.run({ tasks: [task] });
    return { out: JSON.parse(report.dagJson).out, took: performance.now() - t0, stats: rt.workerStats() };
  });
  assert.equal(result.out[1].kind, "worker");
  assert.match(result.out[1].message, /no execution/);
  // Answered at once, not after the time limit's backstop.
  assert.ok(result.took < 30_000, `the run took ${result.took.toFixed(0)} ms`);
  assert.deepEqual(counts(result.stats), { workers: 1, busy: 0, queued: 0, spawned: 1, replaced: 0, cancelled: 0 });
  assert.deepEqual(errors, [], "nothing the worker sent threw on the page");
  await page.close();
});

test("with workers: 0 the page runs a long task itself, stays responsive, and an abort stops the task", async () => {
  const page = await freshPage(browser);
  const errors = watchErrors(page);
  await page.goto(blank());
  const result = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: "in-page", workers: 0 });
    const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
    // About a minute of wasmi, unless aborted.
    const { task } = await ipvm.wasmTask({ module, func: "xorshift", args: [4_000_000_000], time: 600_000 });
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 20);
    const controller = new AbortController();
    let ticksAtStart = 0;
    const code = await rt
      .run({ tasks: [task] }, {
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type !== "started") return;
          ticksAtStart = ticks;
          // Two seconds: the module's compile on this thread (about 0.5 s, once) cannot pause.
          setTimeout(() => controller.abort(), 2_000);
        },
      })
      .then(() => null, (e) => e.code);
    clearInterval(ticker);
    return { code, ticksDuring: ticks - ticksAtStart, receipts: (await rt.storage()).receipts, stats: rt.workerStats() };
  });
  assert.equal(result.code, "ERR_CANCELLED", "the abort's timer fired while the task ran, and stopped it");
  assert.ok(result.ticksDuring >= 5, `a 20 ms interval ran ${result.ticksDuring} times during the task`);
  assert.equal(result.receipts, 0);
  assert.equal(result.stats.spawned, 0, "no worker was used");
  assert.deepEqual(errors, []);
  await page.close();
});

test("the runtime's Wasm is compiled once on the page and sent to the workers, from any source", async () => {
  const page = await freshPage(browser);
  const errors = watchErrors(page);
  await page.goto(blank());
  const result = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    // A URL object cannot cross postMessage; the compiled module can.
    const missing = await ipvm.Runtime.open({ name: "wasm-missing", wasm: new URL("/no/such.wasm", location.href) }).then(
      () => null,
      (e) => ({ code: e.code, message: e.message }),
    );
    const rt = await ipvm.Runtime.open({ name: "wasm-url", workers: 1, wasm: new URL("/pkg/wasm/ipvm_web_bg.wasm", location.href) });
    const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
    const { task } = await ipvm.wasmTask({ module, func: "add_one", args: [1] });
    const reports = await rt.run({ tasks: [task] });
    return { missing, out: JSON.parse(reports[0].dagJson).out, stats: rt.workerStats() };
  });
  assert.equal(result.missing?.code, "ERR_FETCH", JSON.stringify(result.missing));
  assert.match(result.missing.message, /HTTP 404/);
  assert.deepEqual(result.out, ["ok", 2]);
  assert.equal(result.stats.spawned, 1);
  assert.equal(result.stats.replaced, 0);
  assert.deepEqual(errors.filter((e) => !/404/.test(e)), []);
  await page.close();
});

test("a time limit above what a browser timer holds is clamped to the host maximum: the task runs", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const result = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: "huge-time", workers: 1 });
    const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
    // 2^31 ms: a browser timer given this (plus the pool's grace) wraps below zero and fires at once.
    const { task } = await ipvm.wasmTask({ module, func: "add_one", args: [1], time: 2 ** 31 });
    const [report] = await rt.run({ tasks: [task] });
    return { status: report.status, out: JSON.parse(report.dagJson).out, replaced: rt.workerStats().replaced };
  });
  assert.deepEqual(result, { status: "ran", out: ["ok", 2], replaced: 0 });
  await page.close();
});

test("a receipt computed on the fast path verifies on wasmi (and the other way), each verification naming its engine; bad engine options are refused", async () => {
  const page = await freshPage(browser);
  const errors = watchErrors(page);
  await page.goto(blank());
  const result = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const codes = {};
    for (const [name, options] of Object.entries({ bogus: { engine: "v8" }, fastWithoutWorkers: { engine: "fast", workers: 0, storage: "memory" } })) {
      codes[name] = await ipvm.Runtime.open(options).then(() => null, (e) => e.code);
    }
    const rt = await ipvm.Runtime.open({ name: "verify-engines", workers: 1 });
    const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
    const { task } = await ipvm.wasmTask({ module, func: "sha256-rounds", args: [200], nnc: "verify-engines" });
    const [report] = await rt.run({ tasks: [task] });
    const onWasmi = await rt.verify(report.receipt, { engine: "wasmi" });
    const onFast = await rt.verify(report.receipt, { engine: "fast" });
    const bogus = await rt.verify(report.receipt, { engine: "v8" }).then(() => null, (e) => e.code);
    return { codes, engine: report.engine, onWasmi, onFast, bogus };
  });
  assert.deepEqual(result.codes, { bogus: "ERR_ARGUMENT", fastWithoutWorkers: "ERR_ARGUMENT" });
  assert.equal(result.engine, "fast");
  assert.equal(result.onWasmi.verdict, "match");
  assert.equal(result.onWasmi.engine, "wasmi");
  assert.equal(result.onFast.verdict, "match");
  assert.equal(result.onFast.engine, "fast");
  assert.equal(result.onWasmi.actualFuel, result.onWasmi.expectedFuel);
  assert.equal(result.bogus, "ERR_ARGUMENT");
  assert.deepEqual(errors, []);
  await page.close();
});
