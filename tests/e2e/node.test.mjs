// `ipvm node` on loopback: two nodes connect and fetch each other's blocks
// over bitswap; a node restarted keeps its key, store and peer id; a
// malformed, oversized or unauthenticated connection attempt leaves it up
// and serving.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { freshStoreDir, ipvm } from "./helpers.mjs";
import { startNode } from "./nodes.mjs";

/** The port of a node's first /ip4/127.0.0.1/tcp/PORT/ws address. */
const portOf = (node) => Number(node.info.multiaddrs[0].match(/\/tcp\/(\d+)\/ws/)[1]);

/** Sends bytes on a raw TCP connection to the node, reads until it closes or 2 s pass. */
function rawSend(port, chunks) {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    let got = Buffer.alloc(0);
    const done = () => {
      s.destroy();
      resolve(got);
    };
    s.on("connect", async () => {
      for (const c of chunks) {
        if (!s.write(c)) await new Promise((r) => s.once("drain", r));
      }
    });
    s.on("data", (d) => (got = Buffer.concat([got, d])));
    s.on("error", done);
    s.on("close", done);
    setTimeout(done, 2000);
  });
}

test("two nodes fetch each other's blocks; a restart keeps key, store and peer id", { timeout: 240_000 }, async () => {
  const dir = freshStoreDir();
  const fileA = join(dir, "a.bin");
  const fileB = join(dir, "b.bin");
  // Three UnixFS chunks and a raw block.
  writeFileSync(fileA, randomBytes(600_000));
  writeFileSync(fileB, "a block only B has\n");
  const [cidA] = (await ipvm(["add", fileA])).stdout.split(/\s+/);
  const [cidB] = (await ipvm(["add", fileB])).stdout.split(/\s+/);
  const keyA = join(dir, "key-a");
  const keyB = join(dir, "key-b");
  const storeA = join(dir, "store-a");
  const storeB = join(dir, "store-b");

  const a = await startNode(dir, ["--key", keyA, "--store", storeA, "--add", fileA]);
  assert.equal(a.added(fileA), cidA);
  assert.match(a.info.peerId, /^12D3KooW/);
  assert.match(a.info.did, /^did:key:z6Mk/);
  assert.ok(a.info.multiaddrs[0].startsWith("/ip4/127.0.0.1/tcp/"), a.info.multiaddrs[0]);
  assert.ok(a.info.multiaddrs[0].endsWith(`/ws/p2p/${a.info.peerId}`));
  // The node's DID is its key's, as `ipvm key` says.
  assert.equal((await ipvm(["key", "--key", keyA])).stdout.trim(), a.info.did);

  // B holds cidB, dials A and fetches A's file.
  const b = await startNode(dir, [
    "--key", keyB, "--store", storeB, "--add", fileB,
    "--connect", a.info.multiaddrs[0], "--fetch", cidA,
  ]);
  assert.ok(b.out.includes(`fetched ${cidA} 4`), b.out.join("\n"));
  assert.match(a.stderr(), new RegExp(`connected ${b.info.peerId}`));

  // A restarts on the same key and store: the same peer id and DID, its
  // file still there; it dials B and fetches B's block.
  assert.equal(await a.stop(), 0);
  const a2 = await startNode(dir, [
    "--key", keyA, "--store", storeA,
    "--connect", b.info.multiaddrs[0], "--fetch", cidB, "--fetch", cidA,
  ]);
  assert.equal(a2.info.peerId, a.info.peerId);
  assert.equal(a2.info.did, a.info.did);
  assert.ok(a2.out.includes(`fetched ${cidB} 1`), a2.out.join("\n"));
  assert.ok(a2.out.includes(`fetched ${cidA} 4`), a2.out.join("\n"));
  await a2.stop();
  await b.stop();

  // Alone, with no peer, each store has what it fetched.
  const alone = await startNode(dir, [
    "--key", keyB, "--store", storeB, "--fetch", cidA, "--fetch-timeout", "2",
  ]);
  assert.equal(alone.info.peerId, b.info.peerId);
  await alone.stop();
  const store = await ipvm(["store", "--store", storeA]);
  assert.match(store.stdout, /blocks/);
});

test("a fetch nobody can answer fails in time and says so", { timeout: 60_000 }, async () => {
  const dir = freshStoreDir();
  await assert.rejects(
    startNode(dir, [
      "--memory", "--key", join(dir, "k"),
      "--fetch", "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", "--fetch-timeout", "1",
    ]),
    /exited \(1\)[\s\S]*no connected peer sent it in 1 s/,
  );
});

test("malformed, oversized and unauthenticated connections leave the node up and serving", { timeout: 120_000 }, async () => {
  const dir = freshStoreDir();
  const file = join(dir, "f.txt");
  writeFileSync(file, "still served\n");
  const node = await startNode(dir, ["--memory", "--key", join(dir, "k"), "--add", file]);
  const port = portOf(node);
  // Not HTTP at all.
  await rawSend(port, [randomBytes(4096)]);
  // An HTTP request line 1 MiB long, and headers that never end.
  await rawSend(port, [`GET /${"a".repeat(1 << 20)} HTTP/1.1\r\n\r\n`]);
  await rawSend(port, ["GET / HTTP/1.1\r\nHost: x\r\n", ...Array.from({ length: 2000 }, (_, i) => `X-${i}: ${"b".repeat(1000)}\r\n`)]);
  // A WebSocket upgrade, then bytes that are not a multistream-select
  // handshake (no Noise: unauthenticated), then an oversized frame.
  const upgrade =
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  const frame = (payload) => {
    const mask = randomBytes(4);
    const head = payload.length < 126
      ? Buffer.from([0x82, 0x80 | payload.length])
      : Buffer.concat([Buffer.from([0x82, 0xff]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(payload.length)); return b; })()]);
    const masked = Buffer.from(payload.map((x, i) => x ^ mask[i % 4]));
    return Buffer.concat([head, mask, masked]);
  };
  const answer = await rawSend(port, [upgrade, frame(Buffer.from("\x13/multistream/1.0.0\n\x07/noise\n")), frame(randomBytes(100))]);
  assert.match(answer.toString("latin1"), /^HTTP\/1.1 101/);
  await rawSend(port, [upgrade, frame(randomBytes(8 << 20))]);
  // Fifty connections at once that say nothing.
  await Promise.all(Array.from({ length: 50 }, () => rawSend(port, [])));

  assert.equal(node.proc.exitCode, null, "the node exited");
  // Still serving: a new node fetches the file.
  const cid = node.added(file);
  const peer = await startNode(dir, ["--memory", "--key", join(dir, "k2"), "--connect", node.info.multiaddrs[0], "--fetch", cid]);
  assert.ok(peer.out.includes(`fetched ${cid} 1`));
  await peer.stop();
  // The refusals are in the log, rate-limited.
  assert.match(node.stderr(), /refused incoming|closed/);
  assert.equal(await node.stop(), 0);
});
