// Cross-implementation UCAN 1.0: tokens minted by an independent
// implementation (iso-ucan, npm; it writes the `-rc.1` tags) are validated
// and run by the native node, and tokens minted by the node (`@1.0.0` tags)
// are decoded and validated by iso-ucan.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EdDSASigner } from "iso-signatures/signers/eddsa.js";
import { Resolver } from "iso-signatures/verifiers/resolver.js";
import { verify as eddsa } from "iso-signatures/verifiers/eddsa.js";
import { Delegation } from "iso-ucan/delegation";
import { Invocation } from "iso-ucan/invocation";
import { GUESTS_WASM, freshStoreDir, ipvm } from "../e2e/helpers.mjs";

const dir = await mkdtemp(join(tmpdir(), "ipvm-ucan-"));
const verifierResolver = new Resolver({ Ed25519: eddsa });
const now = () => Math.floor(Date.now() / 1000);

/**
 * A key known to both sides: iso-ucan's signer, and the node's 0600 key file; `env` runs
 * `ipvm` as this node: its key, and its store (where it keeps the invocations it accepted).
 */
async function principal(byte) {
  const seed = new Uint8Array(32).fill(byte);
  const signer = await EdDSASigner.generate(seed);
  const file = join(dir, `key-${byte}`);
  await writeFile(file, `${Buffer.from(seed).toString("hex")}\n`);
  await chmod(file, 0o600);
  return { signer, did: signer.did, file, env: { IPVM_KEY: file, XDG_DATA_HOME: freshStoreDir() } };
}

async function module() {
  const out = await ipvm(["add", GUESTS_WASM]);
  return out.stdout.split(/\s+/)[0];
}

test("an invocation minted by iso-ucan runs on the node; a late one or one for another audience is refused and runs nothing", async () => {
  const [node, alice] = [await principal(1), await principal(2)];
  const mod = await module();
  const grant = await Delegation.create({
    iss: node.signer,
    aud: alice.did,
    sub: node.did,
    cmd: "/wasm/run",
    pol: [["<=", ".fuel", 1_000_000]],
    exp: now() + 600,
  });
  const invoke = (aud, fuel) =>
    Invocation.create({
      iss: alice.signer,
      sub: node.did,
      aud,
      cmd: "/wasm/run",
      args: { module: mod, func: "add-one", args: [41], fuel },
      prf: [grant],
      exp: now() + 600,
      verifierResolver,
    });
  const files = async (name, token) => {
    const path = join(dir, name);
    await writeFile(path, token.bytes);
    return path;
  };
  const proof = await files("grant.ucan", grant);
  // The node's own CID of iso-ucan's token is iso-ucan's.
  const ok = await files("ok.ucan", await invoke(node.did, 500_000));
  const ran = await ipvm(["run-invocation", ok, "--proof", proof, "--add", GUESTS_WASM], node.env);
  assert.equal(ran.code, 0, ran.stderr);
  const receipt = JSON.parse(ran.stdout.trim().split("\n").pop());
  assert.deepEqual(receipt.out, ["ok", 42]);
  assert.deepEqual(receipt.prf, [{ "/": grant.cid.toString() }]);
  // The same invocation again, in a new process: a replay (the node's store keeps what it accepted).
  const replay = await ipvm(["run-invocation", ok, "--proof", proof, "--add", GUESTS_WASM], node.env);
  assert.equal(replay.code, 1);
  assert.match(replay.stderr, /refused .*Replay/);
  assert.doesNotMatch(replay.stderr, /started/);
  // Past its `exp` at the node's clock: refused, nothing runs.
  const late = await ipvm(["run-invocation", ok, "--proof", proof, "--add", GUESTS_WASM, "--now", String(now() + 3600)], node.env);
  assert.equal(late.code, 1);
  assert.match(late.stderr, /refused .*Expired/);
  assert.doesNotMatch(late.stderr, /started/);
  assert.equal(JSON.parse(late.stdout.trim()).out[1].kind, "unauthorized");
  // Addressed to Alice, not to the node.
  const misdirected = await files("misdirected.ucan", await invoke(alice.did, 500_000));
  const wrong = await ipvm(["run-invocation", misdirected, "--proof", proof, "--add", GUESTS_WASM], node.env);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /refused .*InvalidAudience/);
});

test("six concurrent run-invocation processes of one invocation: exactly one runs it, the others are refused as replays", async () => {
  const [node, alice] = [await principal(5), await principal(6)];
  const mod = await module();
  const grant = await Delegation.create({ iss: node.signer, aud: alice.did, sub: node.did, cmd: "/wasm/run", pol: [], exp: now() + 600 });
  const inv = await Invocation.create({
    iss: alice.signer,
    sub: node.did,
    aud: node.did,
    cmd: "/wasm/run",
    args: { module: mod, func: "add-one", args: [1] },
    prf: [grant],
    exp: now() + 600,
    verifierResolver,
  });
  const proof = join(dir, "concurrent-grant.ucan");
  const token = join(dir, "concurrent.ucan");
  await writeFile(proof, grant.bytes);
  await writeFile(token, inv.bytes);
  const runs = await Promise.all(
    Array.from({ length: 6 }, () => ipvm(["run-invocation", token, "--proof", proof, "--add", GUESTS_WASM], node.env)),
  );
  const ran = runs.filter((r) => r.code === 0);
  assert.equal(ran.length, 1, runs.map((r) => r.stderr).join("\n---\n"));
  assert.deepEqual(JSON.parse(ran[0].stdout.trim().split("\n").pop()).out, ["ok", 2]);
  for (const r of runs.filter((r) => r.code !== 0)) assert.match(r.stderr, /refused .*Replay/);
});

test("a delegation and an invocation minted by the node are valid for iso-ucan", async () => {
  const [node, alice] = [await principal(3), await principal(4)];
  const mod = await module();
  const grantFile = join(dir, "node-grant.ucan");
  const d = await ipvm(["delegate", "--aud", alice.did, "--cmd", "/wasm/run", "--pol", '[["==", ".func", "add_one"]]', "--ttl", "600", "--out", grantFile], node.env);
  assert.equal(d.code, 0, d.stderr);
  const invFile = join(dir, "node-inv.ucan");
  const i = await ipvm(
    ["invoke", "--aud", node.did, "--sub", node.did, "--module", mod, "--func", "add_one", "--args", "[1]", "--fuel", "1000", "--prf", grantFile, "--ttl", "600", "--out", invFile],
    alice.env,
  );
  assert.equal(i.code, 0, i.stderr);
  const grant = await Delegation.from({ bytes: new Uint8Array(await readFile(grantFile)), verifierResolver });
  assert.equal(grant.cid.toString(), d.stdout.trim(), "the same token CID on both sides");
  assert.equal(grant.iss.toString(), node.did);
  assert.equal(grant.aud.toString(), alice.did);
  assert.equal(await grant.validate({ verifierResolver, now: now() }), true);
  const inv = await Invocation.from({
    bytes: new Uint8Array(await readFile(invFile)),
    verifierResolver,
    audience: node.signer,
    resolveProof: async (cid) => {
      assert.equal(cid.toString(), grant.cid.toString());
      return grant;
    },
  });
  assert.equal(inv.cid.toString(), i.stdout.trim());
  assert.equal(inv.envelope.payload.cmd, "/wasm/run");
  assert.equal(inv.envelope.payload.args.func, "add_one");
  // A signature byte changed: iso-ucan refuses it too.
  const bytes = new Uint8Array(await readFile(invFile));
  bytes[5] ^= 1;
  await assert.rejects(
    Invocation.from({ bytes, verifierResolver, audience: node.signer, resolveProof: async () => grant }),
    /signature/,
  );
});
