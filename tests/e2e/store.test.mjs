// The native CLI's store (crates/ipvm-store, one SQLite file): what one process stores, the
// next one finds. Every test here names its store (`--store DIR`); none touches the user's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GUESTS_WASM, freshStoreDir, ipvm } from "./helpers.mjs";

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

test("a workflow run twice in two processes on one store: the second is all memo hits, and `ipvm store` shows the receipts", async () => {
  const store = freshStoreDir();
  const wf = await chain("twice", 10);
  const first = await ipvm(["run", wf, "--add", GUESTS_WASM, "--store", store]);
  assert.equal(first.code, 0, first.stderr);
  assert.equal((first.stderr.match(/^started /gm) ?? []).length, 2, first.stderr);
  // The module is in the store: the second run needs no --add.
  const second = await ipvm(["run", wf, "--store", store]);
  assert.equal(second.code, 0, second.stderr);
  assert.doesNotMatch(second.stderr, /started/);
  assert.equal((second.stderr.match(/^memo-hit task \d/gm) ?? []).length, 2, second.stderr);
  assert.equal(second.stdout, first.stdout, "the same receipts, byte for byte");
  const s = await summary(store);
  assert.equal(s.path, join(store, "ipvm.sqlite"));
  assert.equal(s.receipts, 2);
  assert.equal(s.computed, 2);
  assert.ok(s.blocks > 0, "the module's blocks");
  assert.equal(s.runs, 2);
  // Another store (or --memory) knows nothing of it.
  const elsewhere = await ipvm(["run", wf, "--add", GUESTS_WASM, "--memory"]);
  assert.equal((elsewhere.stderr.match(/^started /gm) ?? []).length, 2, elsewhere.stderr);
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
