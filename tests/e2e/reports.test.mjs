// What a web app gets back and may pass in, in Chromium: a report carries its
// output as `out` (bytes as a Uint8Array) or its error as `error`; bytes may be
// passed as a Uint8Array or an ArrayBuffer wherever DAG-JSON bytes go (the same
// instruction CID as the DAG-JSON form); other typed arrays are refused with
// the place they were found; a missing function names the module's exports and
// the nearest one; no message carries Rust's `JsValue(…)` debug text.
import { test } from "node:test";
import assert from "node:assert/strict";
import { freshPage, watchErrors } from "./helpers.mjs";
import { useSession } from "./session.mjs";

let url, browser;
useSession((s) => ({ url, browser } = s));

const blank = () => `${url}tests/e2e/pages/blank.html`;

/** Opens the package on a blank page; `body` runs with `ipvm`, `rt` (IndexedDB, workers) and `module` in scope. */
async function inPage(body) {
  const page = await freshPage(browser);
  const errors = watchErrors(page);
  await page.goto(blank());
  const result = await page.evaluate(`(async () => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: "reports", workers: 1 });
    const module = await rt.addModule(await fetch("/www/modules/ipvm_guests.wasm"));
    try { ${body} } finally { await rt.close(); }
  })()`);
  await page.close();
  return { result, errors };
}

test("bytes in as a Uint8Array or an ArrayBuffer, out as a Uint8Array; the CID is the DAG-JSON form's", async () => {
  const { result, errors } = await inPage(`
    const forms = [new Uint8Array([0, 1, 2, 255]), new Uint8Array([0, 1, 2, 255]).buffer, { "/": { bytes: "AAEC/w" } }];
    const tasks = await Promise.all(forms.map((b) => ipvm.wasmTask({ module, func: "echo-bytes", args: [b] })));
    const reports = await rt.run({ tasks: tasks.slice(0, 1).map((t) => t.task) });
    const [r] = reports;
    return {
      cids: tasks.map((t) => t.instruction),
      ok: r.ok, error: r.error, isBytes: r.out instanceof Uint8Array, out: Array.from(r.out),
      dagOut: JSON.parse(r.dagJson).out,
    };
  `);
  assert.equal(new Set(result.cids).size, 1, `one instruction for the three forms: ${result.cids}`);
  assert.equal(result.ok, true);
  assert.equal(result.error, null);
  assert.equal(result.isBytes, true);
  assert.deepEqual(result.out, [0, 1, 2, 255]);
  assert.deepEqual(result.dagOut, ["ok", { "/": { bytes: "AAEC/w" } }]);
  assert.deepEqual(errors, []);
});

test("a report's `out` is the output and `error` the failure; a missing function names the exports and the nearest", async () => {
  const { result } = await inPage(`
    const good = await ipvm.wasmTask({ module, func: "echo-record", args: [{ x: 1, y: 2, label: "p" }] });
    const missing = await ipvm.wasmTask({ module, func: "echo-recrd", args: [] });
    const reports = await rt.run({ tasks: [good.task, missing.task] });
    return reports.map(({ ok, out, error }) => ({ ok, out, error }));
  `);
  assert.deepEqual(result[0], { ok: true, out: { x: 1, y: 2, label: "p" }, error: null });
  assert.equal(result[1].ok, false);
  assert.equal(result[1].out, undefined);
  assert.equal(result[1].error.kind, "no_such_function");
  assert.match(result[1].error.message, /function `echo-recrd` is not exported by the module \(tried .*\); it exports `.*`echo-record`.*\(nearest: `echo-record`\)$/);
  assert.doesNotMatch(result[1].error.message, /JsValue\(/);
});

test("a typed array that is not bytes is refused, naming where it is", async () => {
  const { result } = await inPage(`
    const t = await ipvm.wasmTask({ module, func: "echo-bytes", args: [[1]] });
    t.task.run.input.args = [new Float32Array([1.5])];
    const caught = await rt.run({ tasks: [t.task] }).then(() => null, (e) => ({ code: e.code, message: e.message }));
    const viaTask = await ipvm.wasmTask({ module, func: "echo-bytes", args: [1, new Int16Array(2)] }).then(() => null, (e) => ({ code: e.code, message: e.message }));
    return { caught, viaTask };
  `);
  assert.equal(result.caught.code, "ERR_ARGUMENT");
  assert.equal(result.caught.message, "workflow.tasks[0].run.input.args[0]: a Float32Array is not bytes; pass a Uint8Array or an ArrayBuffer (bytes), or an array of numbers");
  assert.equal(result.viaTask.code, "ERR_ARGUMENT");
  assert.match(result.viaTask.message, /^instruction\.input\.args\[1\]: a Int16Array is not bytes/);
});

test("an invocation takes bytes as a Uint8Array or an ArrayBuffer, and its report carries `out`", async () => {
  const { result } = await inPage(`
    const me = await rt.identity();
    const exp = Math.floor(Date.now() / 1000) + 60;
    const outs = [];
    for (const [i, b] of [new Uint8Array([9, 8]), new Uint8Array([9, 8]).buffer].entries()) {
      const inv = await rt.invoke({ aud: me, sub: me, module, func: "echo-bytes", args: [b], fuel: 1000000, exp, nnc: String(i) });
      const r = await rt.runInvocation(inv.bytes);
      outs.push({ ok: r.ok, isBytes: r.out instanceof Uint8Array, out: Array.from(r.out ?? []), error: r.error });
    }
    return outs;
  `);
  for (const r of result) assert.deepEqual(r, { ok: true, isBytes: true, out: [9, 8], error: null });
});
