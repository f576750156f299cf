// The native CLI on bad input: one line naming the cause, a non-zero exit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GUESTS_WASM, ipvm } from "./helpers.mjs";

const dir = await mkdtemp(join(tmpdir(), "ipvm-cli-"));
const file = async (name, text) => {
  const p = join(dir, name);
  await writeFile(p, text);
  return p;
};
// The error is exactly one line starting "ipvm: error:" (progress lines such as
// "added <cid> <file>" may precede it).
const oneLine = (s) => s.split("\n").filter((l) => l.startsWith("ipvm: error:")).length === 1 && !/\n\s+at |panicked/.test(s);

test("a missing workflow file names the file", async () => {
  const r = await ipvm(["run", join(dir, "nope.json")]);
  assert.equal(r.code, 2);
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /cannot read `.*nope\.json`/);
});

test("a missing --add file names the file", async () => {
  const wf = await file("empty.json", '{"tasks": []}');
  const r = await ipvm(["run", wf, "--add", join(dir, "missing.wasm")]);
  assert.equal(r.code, 2);
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /missing\.wasm/);
});

test("invalid JSON says so", async () => {
  const r = await ipvm(["run", await file("bad.json", '{"tasks": [')]);
  assert.equal(r.code, 2);
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /not valid DAG-JSON/);
});

test("an unknown function fails its task with a receipt naming the function", async () => {
  const { stdout } = await ipvm(["add", GUESTS_WASM]);
  const module = stdout.split(/\s+/)[0];
  const wf = await file("unknown-fn.json", JSON.stringify({
    tasks: [{ run: { rsc: `ipfs://${module}`, op: "wasm/run", input: { func: "no_such_fn", args: [1] }, nnc: "" }, cause: null, meta: {}, prf: [] }],
  }));
  const r = await ipvm(["run", wf, "--add", GUESTS_WASM]);
  assert.equal(r.code, 1);
  const receipt = JSON.parse(r.stdout.trim());
  assert.equal(receipt.out[0], "error");
  assert.equal(receipt.out[1].kind, "no_such_function");
  assert.match(receipt.out[1].message, /`no_such_fn` is not exported/);
  assert.match(r.stderr, /failed +task 0 .*no_such_fn/);
});

test("an unknown op is rejected before anything runs, naming the task and field", async () => {
  const { stdout } = await ipvm(["add", GUESTS_WASM]);
  const module = stdout.split(/\s+/)[0];
  const wf = await file("unknown-op.json", JSON.stringify({
    tasks: [{ run: { rsc: `ipfs://${module}`, op: "wasm/launch-missiles", input: { func: "add_one", args: [1] }, nnc: "" }, cause: null, meta: {}, prf: [] }],
  }));
  const r = await ipvm(["run", wf, "--add", GUESTS_WASM]);
  assert.equal(r.code, 2);
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /task 0: field `run.op`: unknown op `wasm\/launch-missiles`/);
  assert.equal(r.stdout, "");
});

test("ipvm key makes a key file only its owner can read, and refuses one others can read", async () => {
  const { stat, chmod } = await import("node:fs/promises");
  const keyFile = join(dir, "keys", "node.key");
  const made = await ipvm(["key"], { IPVM_KEY: keyFile });
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stdout.trim(), /^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$/);
  assert.match(made.stderr, /created key/);
  assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
  // The same key the next time (and through --key).
  const again = await ipvm(["key", "--key", keyFile]);
  assert.equal(again.stdout, made.stdout);
  assert.doesNotMatch(again.stderr, /created/);
  await chmod(keyFile, 0o644);
  const open = await ipvm(["key"], { IPVM_KEY: keyFile });
  assert.equal(open.code, 2);
  assert.ok(oneLine(open.stderr), open.stderr);
  assert.match(open.stderr, /may be read by others \(mode 644\); run `chmod 600/);
  const junk = await file("junk.key", "not a key\n");
  await chmod(junk, 0o600);
  const bad = await ipvm(["key", "--key", junk]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /does not hold a key \(64 hex digits/);
});

test("ipvm run --trust refuses what is not an Ed25519 did:key, naming it", async () => {
  const wf = await file("empty2.json", '{"tasks": []}');
  const r = await ipvm(["run", wf, "--trust", "did:web:example.com"]);
  assert.equal(r.code, 2);
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /`--trust did:web:example.com`: .*not a did:key/);
});
