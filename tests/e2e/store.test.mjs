// The native CLI's store (crates/ipvm-store, one SQLite file): what one process stores, the
// next one finds. Every test here names its store (`--store DIR`); none touches the user's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { spawn } from "node:child_process";
import { GUESTS_WASM, IPVM_BIN, ROOT, TEST_KEY, freshStoreDir, ipvm } from "./helpers.mjs";

const dir = await mkdtemp(join(tmpdir(), "ipvm-store-cli-"));

/** A two-task workflow: add_one(n), then add_one of its output (an await). */
async function chain(name, n) {
  const module = (await ipvm(["add", GUESTS_WASM])).stdout.split(/\s+/)[0];
  const first = { rsc: `ipfs://${module}`, op: "wasm/run", input: { func: "add_one", args: [n] }, nnc: "" };
  const firstFile = join(dir, `${name}-first.jsonl`);
  await writeFile(firstFile, JSON.stringify(first));
  const firstCid = (await ipvm(["instruction", firstFile])).stdout.trim();
  const second = { rsc: `ipfs://${module}`, op: "wasm/run", input: { func: "add_one", args: [{ "await/ok": { "/": firstCid } }] }, nnc: "" };
  const task = (run) => ({ run, cause: null, meta: { fuel: 1_000_000, time: 5000 }, prf: [] });
  const wf = join(dir, `${name}.json`);
  await writeFile(wf, JSON.stringify({ tasks: [task(first), task(second)] }));
  return wf;
}

const PICTURE = join(ROOT, "www/images/sample.png");
const count = (text, re) => (text.match(re) ?? []).length;

/**
 * Homestar's image pipeline (the shape of its example workflows: `cause: null`, `meta` with
 * `memory` and `time`, `prf: []`, the picture a link and each later step an `await/ok` of the
 * one before) on the playground's picture: crop (its middle, 3/4 of each side) → rotate90 →
 * grayscale. Resolves to the workflow file and the size the last step's PNG must have.
 */
async function imagePipeline(name) {
  const [module, picture] = (await ipvm(["add", GUESTS_WASM, PICTURE])).stdout.trim().split("\n").map((l) => l.split(/\s+/)[0]);
  const bytes = await readFile(PICTURE);
  const [width, height] = [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
  const [w, h] = [Math.floor((width * 3) / 4), Math.floor((height * 3) / 4)];
  const call = (func, args) => ({ input: { args, func }, nnc: "", op: "wasm/run", rsc: `ipfs://${module}` });
  const cid = async (run) => {
    const file = join(dir, `${name}-instruction.jsonl`);
    await writeFile(file, JSON.stringify(run));
    return (await ipvm(["instruction", file])).stdout.trim();
  };
  const crop = call("crop", [{ "/": picture }, Math.floor((width - w) / 2), Math.floor((height - h) / 2), w, h]);
  const rotate = call("rotate90", [{ "await/ok": { "/": await cid(crop) } }]);
  const gray = call("grayscale", [{ "await/ok": { "/": await cid(rotate) } }]);
  const task = (run) => ({ cause: null, meta: { memory: 4_294_967_296, time: 100_000 }, prf: [], run });
  const wf = join(dir, `${name}.json`);
  await writeFile(wf, JSON.stringify({ tasks: [crop, rotate, gray].map(task) }));
  return { wf, size: [h, w] };
}

/** The width and height of the PNG a receipt line (DAG-JSON) holds as its `ok` value. */
function pngSize(line) {
  const [tag, value] = JSON.parse(line).out;
  assert.equal(tag, "ok", line.slice(0, 300));
  const png = Buffer.from(value["/"].bytes, "base64");
  assert.equal(png.subarray(1, 4).toString(), "PNG");
  return [png.readUInt32BE(16), png.readUInt32BE(20)];
}

/** `ipvm store`'s lines as { receipts, computed, blocks, runs, … }. */
async function summary(store) {
  const r = await ipvm(["store", "--store", store]);
  assert.equal(r.code, 0, r.stderr);
  const n = (re) => Number(r.stdout.match(re)?.[1]);
  return {
    path: r.stdout.match(/^store (.*)$/m)?.[1],
    receipts: n(/^receipts (\d+)/m),
    computed: n(/^ {2}computed (\d+)$/m),
    blocks: n(/^blocks (\d+)/m),
    runs: n(/^runs (\d+)$/m),
  };
}

test("Homestar's image pipeline run twice in two processes on one store: the second is all memo hits (no task started), and `ipvm store` shows the receipts", async () => {
  const store = freshStoreDir();
  const { wf, size } = await imagePipeline("twice");
  const first = await ipvm(["run", wf, "--add", GUESTS_WASM, "--add", PICTURE, "--store", store]);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(count(first.stderr, /^started /gm), 3, first.stderr);
  const receipts = first.stdout.trim().split("\n");
  assert.equal(receipts.length, 3);
  assert.deepEqual(pngSize(receipts[2]), size, "cropped, turned a quarter, grey");
  // The module and the picture are in the store: the second run needs no --add.
  const second = await ipvm(["run", wf, "--store", store]);
  assert.equal(second.code, 0, second.stderr);
  assert.doesNotMatch(second.stderr, /started/);
  assert.equal(count(second.stderr, /^memo-hit task \d/gm), 3, second.stderr);
  assert.equal(second.stdout, first.stdout, "the same receipts, byte for byte");
  const s = await summary(store);
  assert.equal(s.path, join(store, "ipvm.sqlite"));
  assert.equal(s.receipts, 3);
  assert.equal(s.computed, 3);
  assert.ok(s.blocks > 0, "the module's and the picture's blocks");
  assert.equal(s.runs, 2);
  // Another store (or --memory) knows nothing of it.
  const elsewhere = await ipvm(["run", wf, "--add", GUESTS_WASM, "--add", PICTURE, "--memory"]);
  assert.equal(count(elsewhere.stderr, /^started /gm), 3, elsewhere.stderr);
  assert.equal((await summary(freshStoreDir())).receipts, 0);
});

test("without --store the store is $XDG_DATA_HOME/ipvm; --memory keeps nothing", async () => {
  const data = freshStoreDir();
  const wf = await chain("default", 20);
  const ran = await ipvm(["run", wf, "--add", GUESTS_WASM], { XDG_DATA_HOME: data });
  assert.equal(ran.code, 0, ran.stderr);
  assert.ok(existsSync(join(data, "ipvm", "ipvm.sqlite")));
  assert.equal((await summary(join(data, "ipvm"))).receipts, 2);
  const memory = freshStoreDir();
  const inMemory = await ipvm(["run", wf, "--add", GUESTS_WASM, "--memory"], { XDG_DATA_HOME: memory });
  assert.equal(inMemory.code, 0, inMemory.stderr);
  assert.ok(!existsSync(join(memory, "ipvm")), "nothing written");
  const both = await ipvm(["run", wf, "--memory", "--store", memory]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /`--store DIR` and `--memory` name one store/);
});

test("a distrust survives a restart: carried from an old <key>.trust file into the store once, kept there until ipvm clear-distrust", async () => {
  // A receipt signed by another node, in an archive.
  const signerKey = join(dir, "signer.key");
  const signer = (await ipvm(["key"], { IPVM_KEY: signerKey })).stdout.trim();
  const wf = await chain("distrust", 30);
  const car = join(dir, "distrust.car");
  const ran = await ipvm(["run", wf, "--add", GUESTS_WASM, "--export", car], { IPVM_KEY: signerKey });
  assert.equal(ran.code, 0, ran.stderr);
  // This node trusts that signer: valid.
  const key = join(dir, "node.key");
  await ipvm(["key"], { IPVM_KEY: key });
  const store = freshStoreDir();
  const verify = () => ipvm(["verify-receipt", car, "--trust", signer, "--store", store], { IPVM_KEY: key });
  const trusted = await verify();
  assert.equal(trusted.code, 0, trusted.stdout + trusted.stderr);
  assert.match(trusted.stdout, new RegExp(`valid ${signer}$`, "m"));
  // The CLI before the store kept distrust in <key>.trust: it is carried into the store once.
  await writeFile(`${key}.trust`, `distrusted ${signer} spot-check of a receipt: mismatch\n`);
  await chmod(`${key}.trust`, 0o600);
  const carried = await verify();
  assert.equal(carried.code, 1, carried.stdout + carried.stderr);
  assert.match(carried.stderr, /carried the trust state of .* into the store \(1 distrusted now\)/);
  assert.match(carried.stdout, /untrusted/);
  assert.ok(!existsSync(`${key}.trust`));
  assert.equal(await readFile(`${key}.trust.imported`, "utf8"), `distrusted ${signer} spot-check of a receipt: mismatch\n`);
  // A new process: the store still distrusts it, though --trust names it; a run reuses nothing of it.
  const later = await verify();
  assert.equal(later.code, 1, later.stdout + later.stderr);
  assert.match(later.stdout, /untrusted/);
  assert.doesNotMatch(later.stderr, /carried/);
  const rerun = await ipvm(["run", wf, "--add", GUESTS_WASM, "--import", car, "--trust", signer, "--store", store], { IPVM_KEY: key });
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.doesNotMatch(rerun.stderr, /memo-hit/);
  // Cleared (the user's decision, kept in the store): valid again, in the next process too.
  const cleared = await ipvm(["clear-distrust", signer, "--store", store], { IPVM_KEY: key });
  assert.equal(cleared.code, 0, cleared.stdout + cleared.stderr);
  assert.equal(cleared.stdout.trim(), `cleared ${signer}`);
  assert.equal((await verify()).code, 0);
  assert.equal((await ipvm(["clear-distrust", signer, "--store", store], { IPVM_KEY: key })).code, 1);
  // Another store does not distrust it.
  const elsewhere = await ipvm(["verify-receipt", car, "--trust", signer, "--store", freshStoreDir()], { IPVM_KEY: key });
  assert.equal(elsewhere.code, 0, elsewhere.stdout + elsewhere.stderr);
});

/** A workflow of `args.length` independent tasks, `func(arg)` each. */
async function independent(name, func, args) {
  const module = (await ipvm(["add", GUESTS_WASM])).stdout.split(/\s+/)[0];
  const task = (arg) => ({
    run: { rsc: `ipfs://${module}`, op: "wasm/run", input: { func, args: [arg] }, nnc: "" },
    cause: null,
    meta: { fuel: 100_000_000, time: 60_000 },
    prf: [],
  });
  const wf = join(dir, `${name}.json`);
  await writeFile(wf, JSON.stringify({ tasks: args.map(task) }));
  return wf;
}


test("processes started at once with no key file: one creates it, every one signs with it", async () => {
  const key = join(await mkdtemp(join(tmpdir(), "ipvm-key-race-")), "config", "key");
  const runs = await Promise.all(Array.from({ length: 6 }, () => ipvm(["key"], { IPVM_KEY: key })));
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  const dids = new Set(runs.map((r) => r.stdout.trim()));
  assert.equal(dids.size, 1, [...dids].join("\n"));
  assert.equal(runs.filter((r) => /^created key /m.test(r.stderr)).length, 1);
  assert.equal((await ipvm(["key"], { IPVM_KEY: key })).stdout, runs[0].stdout);
  assert.equal((await stat(key)).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(dirname(key)), ["key"], "no temporary file left");
});

test("two processes started at once on one store with one workflow: each instruction executes once in all, both print every receipt", async () => {
  const store = freshStoreDir();
  const n = 8;
  const wf = await independent("together", "sha256_rounds", Array.from({ length: n }, (_, i) => 2_000 + i));
  // The key first: two processes that both find it missing race to create it.
  assert.equal((await ipvm(["key"])).code, 0);
  const [a, b] = await Promise.all([
    ipvm(["run", wf, "--add", GUESTS_WASM, "--parallelism", "2", "--store", store]),
    ipvm(["run", wf, "--add", GUESTS_WASM, "--parallelism", "2", "--store", store]),
  ]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  // `started` is logged when a task is claimed, before its lock is taken: a task whose lock the
  // other process held, and whose receipt it then found under the lock, logs `started` then
  // `memo-hit`. Executed = started and not a memo hit; `finished` = computed and stored here.
  const tasks = (r, re) => new Set([...r.stderr.matchAll(re)].map((m) => m[1]));
  const executed = (r) => [...tasks(r, /^started {2}task (\d+)/gm)].filter((t) => !tasks(r, /^memo-hit task (\d+)/gm).has(t));
  const both = `${a.stderr}\n---\n${b.stderr}`;
  assert.equal(executed(a).length + executed(b).length, n, both);
  assert.equal(new Set([...executed(a), ...executed(b)]).size, n, both);
  assert.equal(count(a.stderr, /^finished /gm) + count(b.stderr, /^finished /gm), n, both);
  for (const r of [a, b]) {
    assert.equal(count(r.stderr, /^(finished|memo-hit) task \d/gm), n, r.stderr);
    assert.equal(r.stdout.trim().split("\n").length, n);
  }
  assert.equal(a.stdout, b.stdout, "the same receipts");
  assert.equal((await summary(store)).computed, n);
});

test("a run killed with SIGKILL midway, then run again: nothing is corrupt and what the first stored is reused", async () => {
  const store = freshStoreDir();
  const n = 40;
  const wf = await independent("killed", "sha256_rounds", Array.from({ length: n }, (_, i) => 2_000 + i));
  const child = spawn(IPVM_BIN, ["run", wf, "--add", GUESTS_WASM, "--parallelism", "2", "--store", store], {
    env: { ...process.env, IPVM_KEY: TEST_KEY, XDG_DATA_HOME: freshStoreDir() },
  });
  let stderr = "";
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  await new Promise((resolve) => {
    child.stderr.on("data", (d) => {
      stderr += d;
      if (/^finished /m.test(stderr)) {
        child.kill("SIGKILL");
        resolve();
      }
    });
    child.on("exit", resolve);
  });
  const killed = await exited;
  assert.equal(killed.signal, "SIGKILL", `killed midway: ${stderr}`);
  const before = await summary(store);
  assert.ok(before.computed >= 1 && before.computed < n, `some stored: ${JSON.stringify(before)}`);
  const car = join(dir, "killed.car");
  const again = await ipvm(["run", wf, "--store", store, "--export", car]);
  assert.equal(again.code, 0, again.stderr);
  assert.ok(count(again.stderr, /^memo-hit task \d/gm) >= before.computed, again.stderr);
  assert.equal(count(again.stderr, /^memo-hit task \d/gm) + count(again.stderr, /^started /gm), n, again.stderr);
  assert.equal(again.stdout.trim().split("\n").length, n);
  const after = await summary(store);
  assert.equal(after.computed, n);
  const verify = await ipvm(["verify-receipt", car, "--memory"]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.equal(count(verify.stdout, / valid did:key:/g), n, verify.stdout);
});
