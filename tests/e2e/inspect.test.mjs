// inspectModule in the page: the module is validated, rewritten and described
// in a worker of its own, never on the page's thread, and whatever goes wrong
// there reaches the caller as ERR_MODULE_INVALID, never a bare RuntimeError.
import { test } from "node:test";
import assert from "node:assert/strict";
import { freshPage, watchErrors } from "./helpers.mjs";
import { useSession } from "./session.mjs";

let url, browser;
useSession((s) => ({ url, browser } = s));

const blank = () => `${url}tests/e2e/pages/blank.html`;

test("inspectModule runs in a worker: the page's timers fire while it works, and the worker is stopped after", async () => {
  const page = await freshPage(browser);
  const errors = watchErrors(page);
  await page.goto(blank());
  const result = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const bytes = new Uint8Array(await (await fetch("/www/modules/ipvm_guests.wasm")).arrayBuffer());
    await ipvm.inspectModule(bytes); // loads the runtime's Wasm once
    const made = [];
    const RealWorker = window.Worker;
    window.Worker = class extends RealWorker {
      constructor(url, options) {
        super(url, options);
        made.push(options?.name);
        const terminate = this.terminate.bind(this);
        this.terminate = () => (made.push("terminated"), terminate());
      }
    };
    // A timer set before the call fires before its answer: the page's thread was free.
    let ticked = false;
    setTimeout(() => (ticked = true), 0);
    const info = await ipvm.inspectModule(bytes);
    const tickedFirst = ticked;
    window.Worker = RealWorker;
    return { tickedFirst, made, shape: info.shape, exports: info.exports.length, fast: info.fast };
  });
  assert.deepEqual(result.made, ["ipvm-web module inspector", "terminated"]);
  assert.equal(result.tickedFirst, true, "the page's timer fired while the module was inspected");
  assert.equal(result.shape, "wit-bindgen");
  assert.ok(result.exports > 5);
  assert.equal(result.fast, true);
  assert.deepEqual(errors, []);
  await page.close();
});

test("inspectModule of bad bytes, or with a worker that fails, rejects with ERR_MODULE_INVALID and a reason", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const result = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const err = (p) => p.then(() => null, (e) => ({ name: e.name, code: e.code, message: e.message }));
    return {
      notWasm: await err(ipvm.inspectModule(new TextEncoder().encode("not a module"))),
      truncated: await err(ipvm.inspectModule(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5]))),
      deadWorker: await err(ipvm.inspectModule(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]), { workerUrl: "/tests/e2e/pages/no-such-worker.js" })),
    };
  });
  for (const [what, e] of Object.entries(result)) {
    assert.equal(e?.name, "IpvmError", `${what}: ${JSON.stringify(e)}`);
    assert.equal(e.code, "ERR_MODULE_INVALID", `${what}: ${JSON.stringify(e)}`);
    assert.doesNotMatch(e.message, /^unreachable|RuntimeError/, what);
  }
  assert.match(result.deadWorker.message, /worker failed/);
  await page.close();
});
