// The package's TypeScript types, checked with tsc as a user's project would
// (skipLibCheck off, so the .d.ts files themselves are checked too; the
// generated glue uses Symbol.dispose, hence lib esnext.disposable):
// a correct program type-checks under --strict, and misuses are rejected (so
// the types are real, not `any`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT } from "./helpers.mjs";

const TSC = join(ROOT, "node_modules", ".bin", "tsc");

const GOOD = `
import { Runtime, wasmTask, awaitOk, isIpvmError, IpvmError, type TaskReport, type RunEvent, type Verification, type RunRecord, type WorkerStats, type Provenance, type ImportReport, type StoredReceipt, type IpvmErrorCode } from "ipvm-web";
async function main(): Promise<number> {
  const rt = await Runtime.open({ name: "app", workers: 2, persist: false });
  const module: string = await rt.addModule(new Uint8Array([0]));
  const one = await wasmTask({ module, func: "add_one", args: [1], fuel: 1000 });
  const two = await wasmTask({ module, func: "add_one", args: [awaitOk(one.instruction)] });
  const events: RunEvent[] = [];
  const controller = new AbortController();
  const reports: TaskReport[] = await rt.run({ tasks: [one.task, two.task] }, { onEvent: (e) => events.push(e), signal: controller.signal });
  const first = reports[0];
  if (first.status === "skipped") return 0;
  console.log(first.dagJson, first.fuel, first.logs.length);
  // A report narrows on \`ok\`: the output, or the error.
  if (first.ok) { const out: unknown = first.out; const none: null = first.error; console.log(out, none); }
  else { const kind: string = first.error.kind; const message: string = first.error.message; console.log(kind, message); }
  const bytes = await wasmTask({ module, func: "echo-bytes", args: [new Uint8Array([1, 2]), new Uint8Array(4).buffer], nnc: new Uint8Array(1) });
  console.log(bytes.instruction);
  const v: Verification = await rt.verify(first.receipt);
  const runs: RunRecord[] = await rt.runs();
  const stored = await rt.receiptFor(one.instruction);
  const car: Uint8Array = await rt.exportCar([first.receipt]);
  const { blocks, receipts, known }: ImportReport = await rt.importCar(car);
  const all: StoredReceipt[] = await rt.receiptsFor(one.instruction);
  const origins: Provenance[] = all.map((r) => r.provenance);
  const untrusted = all.filter((r) => !r.trusted && r.reusable && r.notReusableBecause === null).length;
  const unsubscribe = rt.onRejected(({ receipt, reason }) => console.warn(receipt, reason));
  unsubscribe();
  const rejected = events.filter((e) => e.type === "rejected").map((e) => (e.type === "rejected" ? e.reason : ""));
  const verdict: "match" | "mismatch" | "incomparable" = v.verdict;
  const code: IpvmErrorCode = "ERR_CAR_INVALID";
  console.log(known, origins, untrusted, rejected, verdict, v.reason, v.promoted, v.provenance, code);
  const stop = rt.onReceipt(({ instruction, receipt }) => console.log(instruction, receipt));
  stop();
  const usage = await rt.storage();
  try { await rt.run("{}"); } catch (e) { if (isIpvmError(e)) console.log(e.code === "ERR_QUOTA_EXCEEDED", e.task, e.field, e instanceof IpvmError); }
  const pool: WorkerStats = rt.workerStats();
  console.log(pool.busy + pool.queued + pool.replaced);
  await rt.close();
  return (v.matches ? 1 : 0) + runs.length + (stored?.fuel ?? 0) + blocks + receipts + (usage.quota ?? 0) + (usage.persisted ? 1 : 0) + rt.workers;
}
void main;
`;

/** Misuses, each with the TypeScript error it must give (so it fails for the right reason). */
const BAD = [
  [`import { Runtime } from "ipvm-web"; const rt = await Runtime.open(); await rt.run(42);`, "TS2345"],
  [`import { Runtime } from "ipvm-web"; const rt = await Runtime.open({ storage: "disk" });`, "TS2322"],
  [`import { Runtime } from "ipvm-web"; const rt = await Runtime.open(); const r = await rt.receipt("x"); r!.nope;`, "TS2339"],
  [`import { Runtime } from "ipvm-web"; const rt = await Runtime.open(); const r = await rt.receipt("x"); r.cid;`, "TS18047"],
  [`import { wasmTask } from "ipvm-web"; await wasmTask({ func: "f" });`, "TS2345"],
  [`import { Runtime } from "ipvm-web"; new Runtime();`, "TS2673"],
  [`import { isIpvmError } from "ipvm-web"; const e: unknown = 0; if (isIpvmError(e) && e.code === "ERR_NO_SUCH_CODE") {}`, "TS2367"],
  [`import { Runtime } from "ipvm-web"; const rt = await Runtime.open({ workerUrl: 42 });`, "TS2322"],
  [`import { Runtime } from "ipvm-web"; const rt = await Runtime.open(); const [r] = await rt.receiptsFor("x"); const p: "trusted" = r.provenance;`, "TS2322"],
  [`import { Runtime } from "ipvm-web"; const rt = await Runtime.open(); const v = await rt.verify("x"); if (v.verdict === "maybe") {}`, "TS2367"],
  [`import { Runtime } from "ipvm-web"; const rt = await Runtime.open(); const [r] = await rt.run("{}"); if (r.status !== "skipped") r.error.kind;`, "TS18047"],
  [`import { Runtime } from "ipvm-web"; const rt = await Runtime.open(); const [r] = await rt.run("{}"); r.out;`, "TS2339"],
];

async function check(dir, source) {
  await writeFile(join(dir, "main.ts"), source);
  try {
    await promisify(execFile)(TSC, ["--noEmit", "-p", dir]);
    return { ok: true, out: "" };
  } catch (e) {
    return { ok: false, out: `${e.stdout}${e.stderr}` };
  }
}

test("a strict TypeScript program type-checks against the package, and misuses do not", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ipvm-types-"));
  try {
    await writeFile(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true, target: "es2022", module: "es2022", moduleResolution: "bundler", lib: ["es2022", "dom", "esnext.disposable"],
          noEmit: true, skipLibCheck: false, paths: { "ipvm-web": [join(ROOT, "pkg", "index.d.ts")] },
        },
        files: ["main.ts"],
      }),
    );
    const good = await check(dir, GOOD);
    assert.ok(good.ok, good.out);
    for (const [bad, code] of BAD) {
      const r = await check(dir, bad);
      assert.equal(r.ok, false, `should not type-check:\n${bad}`);
      const codes = [...r.out.matchAll(/error (TS\d+)/g)].map((m) => m[1]);
      assert.deepEqual(codes, [code], `${bad}\n${r.out}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
