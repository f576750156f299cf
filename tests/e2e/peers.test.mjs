// Receipt lookup between peers, on loopback: node A serves the receipts it
// computed; `ipvm run --peer A` on another store runs a 20-task workflow with
// zero executions when it trusts A, each task's line naming A, and computes
// everything (saying why A's receipts were not used) when it does not.
// A peer that cannot be reached costs nothing but a line. A peer we did not
// write (js-libp2p) asks the same way, and as a hostile peer sends malformed,
// deeply nested, oversized and too-large-a-batch requests and a flood past the
// quota: each is refused (logged with its reason), and the node goes on
// answering an honest peer. `ipvm run --share announce` announces what it
// computed, and a node that trusts its key takes it; malformed, deep,
// oversized, forged and replayed announcements (from js-libp2p's gossipsub)
// are dropped with their reasons.
import "./node20.mjs";
import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { CID } from "multiformats/cid";
import * as dagCbor from "@ipld/dag-cbor";
import { GUESTS_WASM, freshStoreDir, ipvm } from "./helpers.mjs";
import { multiaddr } from "@multiformats/multiaddr";
import { RECEIPTS_TOPIC, addOneChains, jsPeer, jsPubsubPeer, lookup as request, startNode } from "./nodes.mjs";

/** Ten chains of two: add_one(i), then add_one of its result (awaited); firsts.jsonl holds the first ten. */
const twentyTasks = (dir) => addOneChains(dir, 10);

const lines = (stderr, word) => stderr.split("\n").filter((l) => l.startsWith(word));

test("a trusting runtime gets every answer from a node's receipts; an untrusting one computes and says why", { timeout: 300_000 }, async () => {
  const dir = freshStoreDir();
  try {
    const wf = await twentyTasks(dir);
    const keyA = join(dir, "key-a");
    const storeA = join(dir, "store-a");
    // A computes the workflow, then serves its store.
    const first = await ipvm(["run", wf, "--key", keyA, "--store", storeA, "--add", GUESTS_WASM]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(lines(first.stderr, "finished").length, 20);
    const a = await startNode(dir, ["--key", keyA, "--store", storeA, "--log", "debug"]);
    try {
      const didA = a.info.did;
      const peerA = a.info.peerId;

      // B trusts A: all 20 answered by A, nothing runs, no module needed.
      const storeB = join(dir, "store-b");
      const b = await ipvm(["run", wf, "--key", join(dir, "key-b"), "--store", storeB, "--trust", didA, "--peer", a.info.multiaddrs[0]]);
      assert.equal(b.code, 0, b.stderr);
      assert.equal(lines(b.stderr, "started").length, 0, b.stderr);
      assert.equal(lines(b.stderr, "memo-hit").length, 20, b.stderr);
      const fromA = lines(b.stderr, "peers ");
      assert.equal(fromA.length, 20, b.stderr);
      for (const l of fromA) assert.match(l, new RegExp(`: from ${peerA}$`));
      assert.deepEqual(b.stdout, first.stdout, "the same receipts");
      // The node logged the two lookups (one per ready set).
      await new Promise((r) => setTimeout(r, 200));
      const served = a.stderr().split("\n").filter((l) => l.includes("lookup from"));
      assert.equal(served.length, 2, a.stderr());
      assert.match(served[0], /10 of 10 instructions answered/);
      // B again, without the peer: its own memo answers (received receipts are kept).
      const again = await ipvm(["run", wf, "--key", join(dir, "key-b"), "--store", storeB, "--trust", didA]);
      assert.equal(lines(again.stderr, "memo-hit").length, 20, again.stderr);
      // `ipvm store` counts them as received.
      const held = await ipvm(["store", "--store", storeB]);
      assert.match(held.stdout, /^  received 20$/m, held.stdout);

      // C does not trust A: it computes all 20, and each line says why A's receipt was not used.
      const c = await ipvm(["run", wf, "--key", join(dir, "key-c"), "--store", join(dir, "store-c"), "--add", GUESTS_WASM, "--peer", a.info.multiaddrs[0]]);
      assert.equal(c.code, 0, c.stderr);
      assert.equal(lines(c.stderr, "finished").length, 20, c.stderr);
      const notUsed = lines(c.stderr, "peers ");
      assert.equal(notUsed.length, 20, c.stderr);
      for (const l of notUsed) {
        assert.match(l, /: from none; not used: /);
        assert.ok(l.includes(`${peerA}: receipt `) && l.includes(`signed by ${didA}, a signer this runtime does not trust`), l);
      }
      assert.deepEqual(c.stdout, first.stdout, "the same receipts, computed");
    } finally {
      await a.stop();
    }

    // A peer that is gone: left out with its reason, and the run computes everything.
    const gone = await ipvm(["run", wf, "--key", join(dir, "key-d"), "--memory", "--add", GUESTS_WASM, "--peer", a.info.multiaddrs[0]]);
    assert.equal(gone.code, 0, gone.stderr);
    const leftOut = lines(gone.stderr, "peers    left out: ");
    assert.equal(leftOut.length, 1, gone.stderr);
    assert.ok(leftOut[0].includes(a.info.multiaddrs[0]), leftOut[0]);
    assert.equal(lines(gone.stderr, "finished").length, 20, gone.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a js-libp2p peer asks a node for receipts; hostile requests are refused and the node keeps answering", { timeout: 300_000 }, async () => {
  const dir = freshStoreDir();
  const js = await jsPeer();
  try {
    const wf = await twentyTasks(dir);
    const keyA = join(dir, "key-a");
    const storeA = join(dir, "store-a");
    const first = await ipvm(["run", wf, "--key", keyA, "--store", storeA, "--add", GUESTS_WASM]);
    assert.equal(first.code, 0, first.stderr);
    const a = await startNode(dir, ["--key", keyA, "--store", storeA, "--log", "debug"]);
    try {
      const addr = a.info.multiaddrs[0];
      const instructions = (await ipvm(["instruction", join(dir, "firsts.jsonl")])).stdout.trim().split("\n").map((c) => CID.parse(c));

      // An honest request from a peer we did not write: one entry per instruction, in order.
      const asked = [instructions[0], CID.parse("bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"), instructions[1]];
      const honest = await request(js, addr, dagCbor.encode({ instructions: asked }));
      assert.ok(honest.bytes, honest.error);
      const answer = dagCbor.decode(honest.bytes);
      assert.equal(answer.entries.length, 3);
      assert.equal(answer.entries[0].found.length, 1);
      assert.deepEqual(answer.entries[1], { none: null });
      const delivery = answer.entries[2].found[0];
      assert.ok(delivery.receipt instanceof Uint8Array && delivery.invocation instanceof Uint8Array);
      assert.equal(delivery.envelopes.length, 1);
      assert.ok(CID.asCID(dagCbor.decode(delivery.receipt).ran), "a receipt names the invocation it ran");

      // Hostile requests: none is answered, each is logged with its reason.
      const hostile = [
        ["malformed", Uint8Array.of(0xff)],
        ["too_deep", Uint8Array.from([...Array(1000).fill(0x81), 0x01])],
        ["malformed", dagCbor.encode({ instructions: Array.from({ length: 257 }, (_, i) => instructions[i % 10]) })],
        ["malformed", dagCbor.encode({ instructions: [instructions[0]], more: 1 })],
      ];
      for (const [, bytes] of hostile) {
        const got = await request(js, addr, bytes);
        assert.ok(got.error, `answered ${got.bytes?.length} bytes`);
      }
      // Past the cap of a lookup request (16 KiB): the node's codec refuses to read it.
      const oversized = await request(js, addr, dagCbor.encode({ instructions: [instructions[0]], pad: new Uint8Array(20_000) }));
      assert.ok(oversized.error, "an oversized request was answered");
      await new Promise((r) => setTimeout(r, 300));
      const dropped = a.stderr().split("\n").filter((l) => l.includes("dropped a lookup from"));
      assert.deepEqual(dropped.map((l) => l.match(/: (\w+): /)?.[1]), hostile.map(([code]) => code), a.stderr());
      assert.ok(dropped.every((l) => l.includes(js.peerId.toString())), dropped.join("\n"));
      assert.match(dropped[2], /lookup\.instructions: 257 items, more than 256/);
      assert.match(dropped[3], /unknown field `more`/);

      // A flood from one peer: 40 requests at once; each is answered, in full or `busy`.
      const flood = await Promise.all(Array.from({ length: 40 }, () => request(js, addr, dagCbor.encode({ instructions: instructions.slice(0, 10) }))));
      let full = 0;
      let busy = 0;
      for (const got of flood) {
        assert.ok(got.bytes, got.error);
        const v = dagCbor.decode(got.bytes);
        if (v.busy === null) busy++;
        else {
          assert.equal(v.entries.length, 10);
          full++;
        }
      }
      assert.equal(full + busy, 40);
      assert.ok(full >= 1);
      const busyLogged = a.stderr().split("\n").filter((l) => l.startsWith("busy ") || l.includes(" busy ")).length;
      assert.ok(busyLogged <= busy, `${busyLogged} busy lines for ${busy} busy answers`);

      // Meanwhile the node still answers an honest peer in full.
      const b = await ipvm(["run", wf, "--key", join(dir, "key-b"), "--memory", "--trust", a.info.did, "--peer", addr]);
      assert.equal(b.code, 0, b.stderr);
      assert.equal(lines(b.stderr, "memo-hit").length, 20, b.stderr);
      assert.equal(lines(b.stderr, "started").length, 0, b.stderr);
    } finally {
      await a.stop();
    }
  } finally {
    await js.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Polls `ipvm store --store DIR` until it holds `n` received receipts; resolves to how many it holds. */
async function received(store, n, ms = 30_000) {
  let held = 0;
  for (const end = Date.now() + ms; Date.now() < end; ) {
    const out = (await ipvm(["store", "--store", store])).stdout;
    held = Number(out.match(/^ {2}received (\d+)$/m)?.[1] ?? 0);
    if (held >= n) return held;
    await new Promise((r) => setTimeout(r, 250));
  }
  return held;
}

test("announcements alone: a node that trusts the announcer takes every receipt; one that does not takes none", { timeout: 300_000 }, async () => {
  const dir = freshStoreDir();
  try {
    const wf = await twentyTasks(dir);
    const keyA = join(dir, "key-a");
    const storeA = join(dir, "store-a");
    const didA = (await ipvm(["key", "--key", keyA])).stdout.trim();
    const a = await startNode(dir, ["--key", keyA, "--store", storeA, "--share", "announce", "--log", "debug"]);
    const storeB = join(dir, "store-b");
    const storeC = join(dir, "store-c");
    const b = await startNode(dir, ["--key", join(dir, "key-b"), "--store", storeB, "--trust", didA, "--connect", a.info.multiaddrs[0], "--log", "info"]);
    // C trusts someone else, not A.
    const other = (await ipvm(["key", "--key", join(dir, "key-x")])).stdout.trim();
    const c = await startNode(dir, ["--key", join(dir, "key-c"), "--store", storeC, "--trust", other, "--connect", a.info.multiaddrs[0], "--log", "info"]);
    try {
      // Give pubsub a moment to exchange subscriptions, then A computes (beside its node, on its store).
      await new Promise((r) => setTimeout(r, 1500));
      const run = await ipvm(["run", wf, "--key", keyA, "--store", storeA, "--add", GUESTS_WASM]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(await received(storeB, 20), 20, `B took:\n${b.stderr()}\nA:\n${a.stderr()}`);
      // B runs the workflow without asking anyone: all 20 from its own store.
      const onB = await ipvm(["run", wf, "--key", join(dir, "key-b"), "--store", storeB, "--trust", didA]);
      assert.equal(onB.code, 0, onB.stderr);
      assert.equal(lines(onB.stderr, "memo-hit").length, 20, onB.stderr);
      assert.equal(lines(onB.stderr, "started").length, 0, onB.stderr);
      assert.deepEqual(onB.stdout, run.stdout);
      // C dropped each announcement as untrusted and stored none.
      await new Promise((r) => setTimeout(r, 500));
      const droppedByC = c.stderr().split("\n").filter((l) => l.includes("dropped an announcement from") && l.includes(": untrusted: "));
      assert.equal(droppedByC.length, 20, c.stderr());
      assert.equal(await received(storeC, 1, 500), 0);
    } finally {
      await Promise.all([a.stop(), b.stop(), c.stop()]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("ipvm run --share announce: a node that trusts the CLI's key takes what the run computed", { timeout: 300_000 }, async () => {
  const dir = freshStoreDir();
  try {
    const wf = await twentyTasks(dir);
    const keyC = join(dir, "key-c");
    const didC = (await ipvm(["key", "--key", keyC])).stdout.trim();
    const storeB = join(dir, "store-b");
    const b = await startNode(dir, ["--key", join(dir, "key-b"), "--store", storeB, "--trust", didC, "--log", "info"]);
    try {
      const run = await ipvm(["run", wf, "--key", keyC, "--memory", "--add", GUESTS_WASM, "--peer", b.info.multiaddrs[0], "--share", "announce"]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(lines(run.stderr, "finished").length, 20, run.stderr);
      assert.deepEqual(lines(run.stderr, "shared "), ["shared   20 of 20 receipts announced; the peers fetched 20"], `${run.stderr}\nB:\n${b.stderr()}`);
      assert.equal(await received(storeB, 20), 20, b.stderr());
      // Anyone who trusts C now gets the run's receipts from B, with C's envelopes.
      const d = await ipvm(["run", wf, "--key", join(dir, "key-d"), "--memory", "--trust", didC, "--peer", b.info.multiaddrs[0]]);
      assert.equal(d.code, 0, d.stderr);
      assert.equal(lines(d.stderr, "memo-hit").length, 20, d.stderr);
      assert.deepEqual(d.stdout, run.stdout);
    } finally {
      await b.stop();
    }
    // Sharing needs a peer to share with.
    const alone = await ipvm(["run", wf, "--key", keyC, "--memory", "--add", GUESTS_WASM, "--share", "announce"]);
    assert.notEqual(alone.code, 0);
    assert.match(alone.stderr, /`--share announce` announces to the `--peer`s: give at least one/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("hostile announcements from a js-libp2p peer: malformed, deep, oversized, forged and replayed are dropped with their reasons", { timeout: 300_000 }, async () => {
  const dir = freshStoreDir();
  const js = await jsPubsubPeer();
  try {
    const wf = await twentyTasks(dir);
    const keyT = join(dir, "key-t");
    const didT = (await ipvm(["key", "--key", keyT])).stdout.trim();
    const storeA = join(dir, "store-a");
    const a = await startNode(dir, ["--key", join(dir, "key-a"), "--store", storeA, "--trust", didT, "--log", "info"]);
    try {
      // The js peer joins the topic beside A and hears what A hears.
      const heard = [];
      js.services.pubsub.addEventListener("message", (e) => {
        if (e.detail.topic === RECEIPTS_TOPIC) heard.push(e.detail.data);
      });
      js.services.pubsub.subscribe(RECEIPTS_TOPIC);
      await js.dial(multiaddr(a.info.multiaddrs[0]));
      for (const end = Date.now() + 20_000; !js.services.pubsub.getSubscribers(RECEIPTS_TOPIC).some((p) => p.toString() === a.info.peerId); ) {
        assert.ok(Date.now() < end, "A never joined the topic");
        await new Promise((r) => setTimeout(r, 100));
      }
      // T shares a run: A takes its twenty receipts; the js peer hears the announcements.
      const run = await ipvm(["run", wf, "--key", keyT, "--memory", "--add", GUESTS_WASM, "--peer", a.info.multiaddrs[0], "--share", "announce"]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(await received(storeA, 20), 20, a.stderr());
      for (const end = Date.now() + 10_000; heard.length < 20 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 100));
      assert.equal(heard.length, 20, "the js peer heard T's announcements");

      // A's log is rate-limited (a burst of 50 lines, then 10 a second): let it refill.
      await new Promise((r) => setTimeout(r, 2000));
      const publish = (bytes) => js.services.pubsub.publish(RECEIPTS_TOPIC, bytes);
      const forged = dagCbor.decode(heard[0]);
      forged.envelope = Uint8Array.from(forged.envelope);
      forged.envelope[forged.envelope.length - 5] ^= 1;
      const hostile = [
        ["malformed", Uint8Array.of(0xff)],
        ["too_deep", Uint8Array.from([...Array(1000).fill(0x81), 0x01])],
        ["too_large", dagCbor.encode({ instruction: dagCbor.decode(heard[0]).instruction, receipt: dagCbor.decode(heard[0]).receipt, envelope: new Uint8Array(5000) })],
        ["malformed", dagCbor.encode({ ...dagCbor.decode(heard[0]), more: 1 })],
      ];
      for (const [, bytes] of hostile) await publish(bytes);
      await publish(dagCbor.encode(forged));
      // Replays: T's own announcements, sent again by another peer.
      for (const bytes of heard.slice(0, 5)) await publish(bytes);
      await new Promise((r) => setTimeout(r, 1500));
      const from = js.peerId.toString();
      const dropped = a.stderr().split("\n").filter((l) => l.includes(`dropped an announcement from ${from}: `));
      const codes = dropped.map((l) => l.slice(l.indexOf(`${from}: `) + from.length + 2).split(":")[0]);
      assert.deepEqual(codes.slice(0, 4), hostile.map(([code]) => code), dropped.join("\n"));
      assert.notEqual(codes[4], "replayed", `the forgery is judged by its envelope: ${dropped[4]}`);
      assert.ok(["bad_signature", "malformed_envelope", "cid_mismatch"].includes(codes[4]) || dropped[4]?.includes("envelope"), dropped[4]);
      assert.deepEqual(codes.slice(5), ["replayed", "replayed", "replayed", "replayed", "replayed"], dropped.join("\n"));
      // Nothing more was stored, and A still answers an honest lookup in full.
      assert.equal(await received(storeA, 21, 500), 20);
      const d = await ipvm(["run", wf, "--key", join(dir, "key-d"), "--memory", "--trust", didT, "--peer", a.info.multiaddrs[0]]);
      assert.equal(lines(d.stderr, "memo-hit").length, 20, d.stderr);
    } finally {
      await a.stop();
    }
  } finally {
    await js.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
