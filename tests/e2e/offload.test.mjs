// Task offload between the CLI and `ipvm node`, on loopback. `ipvm run
// --offload always` hands every task of a 20-task workflow (ten chains of two,
// the second of each awaiting the first) to a development node: every receipt
// is the node's, signed by it, and answers the workflow's own instructions, so
// a second runtime gets them all by lookup. A node without authority for the
// CLI refuses each invocation, which then runs here, saying why; a delegation
// from the node (`ipvm delegate`) gives the authority (and at --verify-rate 1
// every receipt that comes back is re-run here and matches); a node with no free
// worker answers `busy`, and the tasks run here. A receipt too large for an
// answer (offload or lookup) travels by bitswap. A peer we did not write (js-libp2p) sends
// malformed, deeply nested, oversized, forged and replayed offloads and a
// flood past the quotas: each is refused or answered `busy`, logged, and the
// node goes on answering; capacity is answered at most ten times a second.
import "./node20.mjs";
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as dagCbor from "@ipld/dag-cbor";
import { GUESTS_WASM, freshStoreDir, ipvm } from "./helpers.mjs";
import { CAPACITY, OFFLOAD, addOneChains, exchange, jsPeer, startNode } from "./nodes.mjs";

const lines = (stderr, word) => stderr.split("\n").filter((l) => l.startsWith(word));
const outs = (stdout) => stdout.trim().split("\n").map((l) => JSON.stringify(JSON.parse(l).out));
const wait = (ms) => new Promise((r) => setTimeout(r, ms));

test("--offload always: a dev node runs every task, its receipts answer the workflow; refused, delegated and busy", { timeout: 600_000 }, async () => {
  const dir = freshStoreDir();
  try {
    const wf = await addOneChains(dir, 10);
    const keyC = join(dir, "key-c");
    const didC = (await ipvm(["key", "--key", keyC])).stdout.trim();
    // What the workflow computes, here, for comparison.
    const local = await ipvm(["run", wf, "--key", join(dir, "key-l"), "--memory", "--add", GUESTS_WASM]);
    assert.equal(local.code, 0, local.stderr);

    const keyA = join(dir, "key-a");
    const storeA = join(dir, "store-a");
    const a = await startNode(dir, ["--key", keyA, "--store", storeA, "--add", GUESTS_WASM, "--dev", "--log", "info"]);
    try {
      assert.match(a.stderr(), /development mode \(--dev\)/);
      const peerA = a.info.peerId;
      // No module here (no --add): a task that ran here would fail.
      const c = await ipvm(["run", wf, "--key", keyC, "--store", join(dir, "store-c"), "--trust", a.info.did, "--peer", a.info.multiaddrs[0], "--offload", "always"]);
      assert.equal(c.code, 0, c.stderr);
      assert.equal(lines(c.stderr, "finished").length, 0, c.stderr);
      assert.equal(lines(c.stderr, "memo-hit").length, 20, c.stderr);
      const ran = lines(c.stderr, "peers ");
      assert.equal(ran.length, 20, c.stderr);
      for (const l of ran) assert.match(l, new RegExp(`: from ${peerA} \\(ran there\\)$`));
      assert.deepEqual(outs(c.stdout), outs(local.stdout), "the same outputs as computed here");
      await wait(200);
      const served = a.stderr().split("\n").filter((l) => l.includes("offload from") && l.includes(`(issuer ${didC}): ran it: receipt `));
      assert.equal(served.length, 20, a.stderr());

      // The node's store holds them as computed and signed by it: a runtime that
      // trusts the node gets all twenty by lookup, and its receipts are the same.
      const d = await ipvm(["run", wf, "--key", join(dir, "key-d"), "--memory", "--trust", a.info.did, "--peer", a.info.multiaddrs[0]]);
      assert.equal(d.code, 0, d.stderr);
      assert.equal(lines(d.stderr, "memo-hit").length, 20, d.stderr);
      assert.deepEqual(d.stdout, c.stdout);
      assert.equal(readFileSync(join(dir, "firsts.jsonl"), "utf8").split("\n").filter(Boolean).length, 10);
    } finally {
      await a.stop();
    }

    // A node that is not in development mode and has no authority for C: each
    // invocation is refused, nothing runs there, and each task runs here saying why.
    const keyB = join(dir, "key-b");
    const b = await startNode(dir, ["--key", keyB, "--store", join(dir, "store-b"), "--add", GUESTS_WASM, "--log", "info"]);
    try {
      const refused = await ipvm(["run", wf, "--key", keyC, "--memory", "--add", GUESTS_WASM, "--trust", b.info.did, "--peer", b.info.multiaddrs[0], "--offload", "always"]);
      assert.equal(refused.code, 0, refused.stderr);
      assert.equal(lines(refused.stderr, "finished").length, 20, refused.stderr);
      for (const l of lines(refused.stderr, "peers ")) {
        assert.match(l, /: from none; not used: .*: offload: refused: InvalidSubject: /, l);
      }
      assert.equal(lines(refused.stderr, "peers ").length, 20);
      assert.deepEqual(outs(refused.stdout), outs(local.stdout));
      assert.equal(b.stderr().split("\n").filter((l) => l.includes("ran it")).length, 0, b.stderr());

      // The node delegates /wasm/run to C: the same run goes there. At
      // --verify-rate 1 each receipt that comes back is also re-run here.
      const grant = join(dir, "grant.ucan");
      const made = await ipvm(["delegate", "--key", keyB, "--aud", didC, "--cmd", "/wasm/run", "--ttl", "600", "--out", grant]);
      assert.equal(made.code, 0, made.stderr);
      const delegated = await ipvm(["run", wf, "--key", keyC, "--memory", "--add", GUESTS_WASM, "--trust", b.info.did, "--verify-rate", "1", "--peer", b.info.multiaddrs[0], "--offload", "always", "--proof", grant]);
      assert.equal(delegated.code, 0, delegated.stderr);
      assert.equal(lines(delegated.stderr, "finished").length, 0, delegated.stderr);
      assert.equal(lines(delegated.stderr, "peers ").filter((l) => l.endsWith("(ran there)")).length, 20, delegated.stderr);
      const checks = lines(delegated.stderr, "spot-check ");
      assert.equal(checks.length, 20, delegated.stderr);
      for (const l of checks) assert.match(l, /: match \(verified here\) engine (wasmtime|wasmi)$/);
      assert.deepEqual(outs(delegated.stdout), outs(local.stdout));
    } finally {
      await b.stop();
    }

    // A development node admits self-issued invocations, so it stays on loopback:
    // it neither listens nor dials elsewhere (refused before any network is up).
    const wide = await ipvm(["node", "--memory", "--key", join(dir, "key-w"), "--dev", "--listen", "/ip4/0.0.0.0/tcp/0/ws"]);
    assert.notEqual(wide.code, 0);
    assert.match(wide.stderr, /`--listen \/ip4\/0\.0\.0\.0\/tcp\/0\/ws` is not loopback/);
    const out = await ipvm(["node", "--memory", "--key", join(dir, "key-w"), "--dev", "--connect", "/ip4/192.0.2.1/tcp/4001/ws/p2p/12D3KooWH4dRp2WnZNiRaTy5dJBGMGr4GbqcCNqfFFLJwP3rR3MH"]);
    assert.notEqual(out.code, 0);
    assert.match(out.stderr, /connects on loopback only; `--connect \/ip4\/192\.0\.2\.1\/.*` is not loopback/);

    // A node with no worker for peers: every offload is `busy`, every task runs here.
    const e = await startNode(dir, ["--key", join(dir, "key-e"), "--memory", "--dev", "--workers", "0", "--log", "info"]);
    try {
      const busy = await ipvm(["run", wf, "--key", keyC, "--memory", "--add", GUESTS_WASM, "--trust", e.info.did, "--peer", e.info.multiaddrs[0], "--offload", "always"]);
      assert.equal(busy.code, 0, busy.stderr);
      assert.equal(lines(busy.stderr, "finished").length, 20, busy.stderr);
      const said = lines(busy.stderr, "peers ");
      assert.equal(said.length, 20, busy.stderr);
      for (const l of said) assert.match(l, /: offload: busy$/, l);
      // `auto` asks only when this runtime's workers are saturated and the node has
      // room: with no free worker there, nothing is even offered.
      const auto = await ipvm(["run", wf, "--key", keyC, "--memory", "--add", GUESTS_WASM, "--trust", e.info.did, "--peer", e.info.multiaddrs[0], "--offload", "auto", "--parallelism", "1"]);
      assert.equal(auto.code, 0, auto.stderr);
      assert.equal(lines(auto.stderr, "finished").length, 20, auto.stderr);
      assert.equal(lines(auto.stderr, "peers ").length, 0, auto.stderr);
    } finally {
      await e.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a receipt too large for an answer travels by bitswap, offloaded or looked up", { timeout: 300_000 }, async () => {
  const dir = freshStoreDir();
  try {
    const module = (await ipvm(["add", GUESTS_WASM])).stdout.split(/\s+/)[0];
    // An 800×800 PNG of noisy pixels: its receipt is past 1 MiB, under bitswap's 4 MiB.
    const wf = join(dir, "png.json");
    writeFileSync(wf, JSON.stringify({ tasks: [{ run: { rsc: `ipfs://${module}`, op: "wasm/run", input: { func: "make_png", args: [800, 800] }, nnc: "" }, cause: null, meta: {}, prf: [] }] }));
    const local = await ipvm(["run", wf, "--memory", "--key", join(dir, "key-l"), "--add", GUESTS_WASM]);
    assert.equal(local.code, 0, local.stderr);
    // DAG-JSON spells bytes in base64: 1.5 MiB of it is past 1.1 MiB of DAG-CBOR.
    assert.ok(local.stdout.length > 1.5 * (1 << 20), `the receipt is ${local.stdout.length} bytes of DAG-JSON`);
    const a = await startNode(dir, ["--key", join(dir, "key-a"), "--memory", "--add", GUESTS_WASM, "--dev", "--log", "info"]);
    try {
      const c = await ipvm(["run", wf, "--key", join(dir, "key-c"), "--memory", "--trust", a.info.did, "--peer", a.info.multiaddrs[0], "--offload", "always"]);
      assert.equal(c.code, 0, c.stderr);
      assert.match(lines(c.stderr, "peers ")[0] ?? "", /\(ran there\)$/, c.stderr);
      assert.deepEqual(outs(c.stdout), outs(local.stdout));
      await wait(200);
      assert.match(a.stderr(), /ran it: receipt \S+ \(by bitswap\)/, a.stderr());
      // Looked up, it is named `too_large` with its envelope, and fetched by bitswap.
      const d = await ipvm(["run", wf, "--key", join(dir, "key-d"), "--memory", "--trust", a.info.did, "--peer", a.info.multiaddrs[0]]);
      assert.equal(d.code, 0, d.stderr);
      assert.equal(lines(d.stderr, "memo-hit").length, 1, d.stderr);
      assert.match(lines(d.stderr, "peers ")[0] ?? "", new RegExp(`: from ${a.info.peerId}$`), d.stderr);
      assert.deepEqual(d.stdout, c.stdout);
    } finally {
      await a.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a js-libp2p peer: hostile offloads are refused or busy, replays refused, capacity rate-limited; the node keeps answering", { timeout: 300_000 }, async () => {
  const dir = freshStoreDir();
  const js = await jsPeer();
  try {
    const a = await startNode(dir, ["--key", join(dir, "key-a"), "--memory", "--add", GUESTS_WASM, "--dev", "--workers", "2", "--log", "info"]);
    try {
      const addr = a.info.multiaddrs[0];
      const module = a.added(GUESTS_WASM);
      const keyJ = join(dir, "key-j");
      const didJ = (await ipvm(["key", "--key", keyJ])).stdout.trim();
      let n = 0;
      // A self-issued invocation of JS's key for the node (the CLI mints it).
      const mint = async (func, args) => {
        const out = join(dir, `inv-${n++}.ucan`);
        const made = await ipvm(["invoke", "--key", keyJ, "--aud", a.info.did, "--module", module, "--func", func, "--args", JSON.stringify(args), "--ttl", "600", "--out", out]);
        assert.equal(made.code, 0, made.stderr);
        return readFileSync(out);
      };
      const offload = (invocation, proofs = []) => exchange(js, addr, OFFLOAD, dagCbor.encode({ invocation, proofs }), 60_000);
      const answer = (got) => {
        assert.ok(got.bytes, got.error);
        return dagCbor.decode(got.bytes);
      };

      // An honest offload: the node runs it and sends the receipt with its envelope.
      const inv = await mint("add-one", [41]);
      const done = answer(await offload(inv)).done;
      assert.ok(done, "ran");
      assert.deepEqual(dagCbor.decode(done.receipt).out, ["ok", 42]);
      assert.equal(done.envelopes.length, 1);
      // The same invocation again: a replay, refused.
      assert.match(answer(await offload(inv)).refused, /^Replay: /);
      // Forged: one byte of the invocation's signature changed.
      const forged = Uint8Array.from(inv);
      forged[Math.floor(forged.length / 3)] ^= 1;
      assert.ok(answer(await offload(forged)).refused, "a forgery is refused");
      // Not a token at all: refused with the field named.
      assert.match(answer(await offload(Uint8Array.of(0xa0))).refused, /^offload\.invocation: /);

      // Malformed and deeply nested messages: refused at once with the reason
      // (never decoded past their bounds), logged; an oversized one is not read.
      const hostile = [
        ["malformed", Uint8Array.of(0xff)],
        ["too_deep", Uint8Array.from([...Array(1000).fill(0x81), 0x01])],
        ["malformed", dagCbor.encode({ invocation: inv, proofs: [], more: 1 })],
      ];
      for (const [code, bytes] of hostile) {
        assert.ok(answer(await exchange(js, addr, OFFLOAD, bytes)).refused.startsWith(`${code}: `), code);
      }
      const oversized = await exchange(js, addr, OFFLOAD, dagCbor.encode({ invocation: new Uint8Array(300 * 1024), proofs: [] }));
      assert.ok(oversized.error, "an oversized offload was answered");
      await wait(300);
      const refusedLines = a.stderr().split("\n").filter((l) => l.includes("refused an unreadable offload from"));
      assert.deepEqual(refusedLines.map((l) => l.match(/: (\w+): /)?.[1]), hostile.map(([code]) => code), a.stderr());

      // A flood: twelve slow invocations at once, two workers: each is answered,
      // run or busy, and no more than two run at once.
      const slow = await Promise.all(Array.from({ length: 12 }, (_, i) => mint("sha256-rounds", [300_000 + i])));
      const flood = (await Promise.all(slow.map((t) => offload(t)))).map(answer);
      const ran = flood.filter((v) => v.done).length;
      const busy = flood.filter((v) => v.busy === null).length;
      assert.equal(ran + busy, 12, JSON.stringify(flood.map((v) => Object.keys(v))));
      assert.ok(ran >= 2 && busy >= 4, `${ran} ran, ${busy} busy`);
      assert.ok(a.stderr().includes("busy "), a.stderr());

      // Capacity: free and total workers; a second request within 100 ms is dropped.
      const cap = answer(await exchange(js, addr, CAPACITY, dagCbor.encode({})));
      assert.deepEqual(cap, { free: 2, workers: 2 });
      await wait(150);
      const [first, second] = await Promise.all([exchange(js, addr, CAPACITY, dagCbor.encode({})), exchange(js, addr, CAPACITY, dagCbor.encode({}))]);
      assert.equal([first, second].filter((g) => g.bytes).length, 1, "one of two at once is answered");
      assert.ok((await exchange(js, addr, CAPACITY, dagCbor.encode({ free: 1 }))).error, "a malformed capacity request is dropped");

      // Meanwhile the node still serves an honest peer: a fresh invocation runs.
      await wait(150);
      const after = answer(await offload(await mint("add-one", [1])));
      assert.deepEqual(dagCbor.decode(after.done.receipt).out, ["ok", 2]);
      assert.ok(didJ.startsWith("did:key:"));
    } finally {
      await a.stop();
    }
  } finally {
    await js.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
