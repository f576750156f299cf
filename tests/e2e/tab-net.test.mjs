// The tab on the network (the network build, pkg/wasm-net/): a page opened
// with `peers` connects to `ipvm node` over WebSocket on loopback; they exchange
// bindings (the node learns the tab's DID, signed by its WebCrypto key, and the
// tab lists the node with its checked DID in rt.peers()); a binding replayed by
// another peer is refused, and says why; the page reconnects by itself after
// the node restarts, and
// fetches a block the node holds over bitswap (verified, stored); a page opened
// without peers requests nothing of the network build. With Helia (a peer we did
// not write) as its peer, a page fetches a block Helia holds, and refuses one
// Helia serves under a CID its bytes do not match: nothing is stored. A page
// that knows only the CIDs of a module and a picture Helia holds (UnixFS DAGs)
// fetches both and runs Homestar's image pipeline on them, with the same output
// as a page that has the bytes; a module nobody has is `module_missing`, never
// reused.
import "./node20.mjs";
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { GUESTS_WASM, freshPage, freshStoreDir, ipvm, launchBrowser, startServer, watchErrors } from "./helpers.mjs";
import { exchange, jsPeer, startHelia, startNode } from "./nodes.mjs";
import * as dagCbor from "@ipld/dag-cbor";
import { noisePng } from "./picture.mjs";
import { importer } from "ipfs-unixfs-importer";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";

/** A TCP port free on 127.0.0.1 now (the node restarts on it). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Waits until the node's log has `text` (its stderr reaches this process a little after the page hears of the same event). */
async function untilLogged(node, text, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!node.stderr().includes(text)) {
    if (Date.now() > deadline) assert.fail(`the node never logged ${JSON.stringify(text)}:\n${node.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until `pred()` (evaluated in the page) is truthy; returns its value. */
async function until(page, pred, arg, ms = 30_000) {
  const handle = await page.waitForFunction(pred, arg, { timeout: ms, polling: 100 });
  return handle.jsonValue();
}

test("a page with peers connects to the node, each learns the other's DID by a signed binding, reconnects after a restart and fetches a block by bitswap; a replayed binding is refused; one without peers loads nothing of the network build", { timeout: 240_000 }, async () => {
  const dir = freshStoreDir();
  const key = join(dir, "node-key");
  const store = join(dir, "node-store");
  const file = join(dir, "only-the-node.bin");
  writeFileSync(file, "a block only the node has, fetched by a tab\n");
  const [fileCid] = (await ipvm(["add", file])).stdout.split(/\s+/);
  const port = await freePort();
  const listen = ["--listen", `/ip4/127.0.0.1/tcp/${port}/ws`];
  let node = await startNode(dir, ["--key", key, "--store", store, "--add", file, ...listen]);
  const addr = node.info.multiaddrs[0];
  assert.equal(addr, `/ip4/127.0.0.1/tcp/${port}/ws/p2p/${node.info.peerId}`);

  const { server, url } = await startServer();
  const browser = await launchBrowser();
  try {
    // Without peers: the default build only.
    const plain = await freshPage(browser);
    const requested = [];
    plain.on("request", (r) => requested.push(r.url()));
    await plain.goto(`${url}tests/e2e/pages/blank.html`);
    const plainPeers = await plain.evaluate(async () => {
      const { Runtime } = await import("/pkg/index.js");
      const rt = await Runtime.open({ storage: "memory", workers: 0 });
      const peers = rt.peers();
      await rt.close();
      return peers;
    });
    assert.deepEqual(plainPeers, []);
    assert.ok(requested.some((u) => u.includes("/pkg/wasm/ipvm_web_bg.wasm")), requested.join("\n"));
    assert.deepEqual(requested.filter((u) => u.includes("wasm-net")), []);

    // With the node as its peer.
    const page = await freshPage(browser);
    const errors = watchErrors(page);
    const netRequests = [];
    page.on("request", (r) => r.url().includes("wasm-net") && netRequests.push(r.url()));
    await page.goto(`${url}tests/e2e/pages/blank.html`);
    await page.evaluate(async (addr) => {
      const { Runtime } = await import("/pkg/index.js");
      window.events = [];
      window.rt = await Runtime.open({ name: "tab-net", workers: 0, peers: [addr], onPeerEvent: (e) => window.events.push(e) });
    }, addr);
    assert.ok(netRequests.some((u) => u.endsWith("/pkg/wasm-net/ipvm_web_bg.wasm")), netRequests.join("\n"));
    const peers = await until(page, () => window.rt.peers().length > 0 && window.rt.peers()[0].bound && window.rt.peers());
    assert.equal(peers.length, 1);
    assert.deepEqual(peers[0], { peerId: node.info.peerId, did: node.info.did, bound: true, transport: "websocket", address: addr });
    assert.ok(node.stderr().includes("connected "), node.stderr());
    // The node knows the tab by its DID: the binding the tab signed with its WebCrypto key, for
    // the peer id its libp2p host runs under (another key: the two differ).
    const tab = await page.evaluate(async () => ({ did: await window.rt.identity(), peerId: window.rt.peerId() }));
    assert.match(tab.peerId, /^12D3KooW/);
    assert.notEqual(tab.peerId, node.info.peerId);
    await untilLogged(node, `bound ${tab.peerId}: speaks for ${tab.did}\n`);
    assert.deepEqual(await page.evaluate(() => window.events.filter((e) => e.type === "peer-bound")), [{ type: "peer-bound", peerId: node.info.peerId, did: node.info.did }]);

    // Another peer replays a binding that is not its own (the node's, from --info): refused,
    // the answer says why, and the node binds nothing to that peer.
    const thief = await jsPeer();
    try {
      // --info gives it multibase base64url ("u…").
      assert.equal(node.info.binding[0], "u");
      const replay = Buffer.from(node.info.binding.slice(1), "base64url");
      const answer = await exchange(thief, addr, "/ipvm/peer-binding/0.1.0", replay);
      assert.ok(answer.bytes, JSON.stringify(answer));
      const thiefId = thief.peerId.toString();
      assert.deepEqual(dagCbor.decode(answer.bytes), { refused: `the binding names peer ${node.info.peerId}, but the connection is from peer ${thiefId}` });
      // Garbage is refused too; the node stays up and says so.
      const garbage = await exchange(thief, addr, "/ipvm/peer-binding/0.1.0", Buffer.from("not a binding"));
      assert.match(dagCbor.decode(garbage.bytes).refused, /^malformed peer binding: /);
      await untilLogged(node, `refused the binding of ${thiefId}: the binding names peer ${node.info.peerId}`);
      assert.ok(!node.stderr().includes(`bound ${thiefId}`), node.stderr());
    } finally {
      await thief.stop();
    }

    // A block only the node has, by bitswap: verified and stored, so it is there without peers too.
    const got = await page.evaluate(async (cid) => Array.from(await window.rt.fetchBlock(cid, { timeoutMs: 20_000 })), fileCid);
    const bytes = Buffer.from(got);
    assert.equal(bytes.toString(), readFileSync(file, "utf8"));
    assert.equal(fileCid.startsWith("bafkrei"), true, fileCid);
    assert.equal(bytes.length, readFileSync(file).length);
    assert.ok(createHash("sha256").update(bytes).digest().equals(createHash("sha256").update(readFileSync(file)).digest()));
    // A CID nobody has: ERR_NETWORK within the timeout, nothing stored.
    const missing = await page.evaluate(async () => {
      try {
        await window.rt.fetchBlock("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", { timeoutMs: 1500 });
        return "fetched";
      } catch (e) {
        return `${e.code}: ${e.message}`;
      }
    });
    assert.match(missing, /^ERR_NETWORK: block bafkrei\S+: no connected peer gave it within 1500 ms/);
    // A timeout no timer can hold is refused before anything waits (gloo's timer would throw in the wasm).
    const badTimeouts = await page.evaluate(async (cid) => {
      const out = [];
      for (const timeoutMs of [Infinity, NaN, -1, 2 ** 40, "5"]) {
        out.push(await window.rt.fetchBlock(cid, { timeoutMs }).then(() => "fetched", (e) => e.code));
      }
      return out;
    }, fileCid);
    assert.deepEqual(badTimeouts, ["ERR_ARGUMENT", "ERR_ARGUMENT", "ERR_ARGUMENT", "ERR_ARGUMENT", "ERR_ARGUMENT"]);

    // The node goes away: the page hears it; back on the same port, key and store, the page reconnects by itself.
    assert.equal(await node.stop(), 0);
    await until(page, () => window.events.some((e) => e.type === "peer-disconnected") && window.rt.peers().length === 0);
    await until(page, () => window.events.some((e) => e.type === "peer-dial-failed"));
    node = await startNode(dir, ["--key", key, "--store", store, ...listen]);
    const back = await until(page, () => window.rt.peers().length > 0 && window.rt.peers()[0].bound && window.rt.peers());
    assert.equal(back[0].peerId, node.info.peerId);
    assert.equal(back[0].did, node.info.did);
    // The restarted node learns the tab's DID again (a new process, a new binding).
    await untilLogged(node, `bound ${tab.peerId}: speaks for ${tab.did}\n`);
    const kinds = await page.evaluate(() => window.events.map((e) => e.type));
    assert.deepEqual(kinds.filter((k) => k !== "peer-dial-failed"), ["peer-connected", "peer-bound", "peer-disconnected", "peer-connected", "peer-bound"]);
    const failed = await page.evaluate(() => window.events.filter((e) => e.type === "peer-dial-failed"));
    // Backoff: each wait at least the one before, the first 250 ms.
    assert.equal(failed[0].retryInMs, 250);
    for (let i = 1; i < failed.length; i++) assert.ok(failed[i].retryInMs >= failed[i - 1].retryInMs, JSON.stringify(failed));

    // A bad address: ERR_NETWORK naming it, and no runtime.
    const bad = await page.evaluate(async () => {
      const { Runtime } = await import("/pkg/index.js");
      try {
        await Runtime.open({ name: "bad", workers: 0, peers: ["/ip4/192.0.2.1/tcp/4001/ws/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"] });
        return "opened";
      } catch (e) {
        return `${e.code}: ${e.message}`;
      }
    });
    assert.match(bad, /^ERR_NETWORK: peer address `\/ip4\/192\.0\.2\.1\/tcp\/4001\/ws\/p2p\/12D3KooW\S+`: ws:\/\/ is for loopback only/);
    await page.evaluate(() => window.rt.close());
    // The browser itself logs each dial that found the node down (not the runtime): those, and nothing else.
    const refused = `console: WebSocket connection to 'ws://127.0.0.1:${port}/' failed: Error in connection establishment: net::ERR_CONNECTION_REFUSED`;
    assert.ok(errors.length >= 1, "the redials while the node was down");
    assert.deepEqual(errors.filter((e) => e !== refused), []);
  } finally {
    await browser.close();
    server.close();
    await node.stop();
  }
});

test("with Helia as its peer, a page fetches the block Helia holds and refuses one that does not match its CID, storing nothing", { timeout: 120_000 }, async () => {
  const helia = await startHelia();
  const { server, url } = await startServer();
  const browser = await launchBrowser();
  try {
    const bytes = (t) => new TextEncoder().encode(t);
    const cidOf = async (b) => CID.createV1(raw.code, await sha256.digest(b)).toString();
    const good = bytes("a block Helia holds, fetched by a tab\n");
    const goodCid = await cidOf(good);
    await helia.blockstore.put(CID.parse(goodCid), good);
    // Helia stores what it is given under any CID (and serves it as stored): this one names
    // other bytes. The test sees that the fetch fails and nothing is stored; it cannot tell the
    // tab's refusal from Helia's silence, which beetswap's check (the core's hashes) decides.
    const forgedCid = await cidOf(bytes("the bytes the CID names\n"));
    await helia.blockstore.put(CID.parse(forgedCid), bytes("other bytes, served under that CID\n"));
    const heliaAddr = helia.libp2p.getMultiaddrs().find((a) => a.toString().includes("/ws")).toString();
    assert.ok(heliaAddr.startsWith("/ip4/127.0.0.1/"), heliaAddr);

    const page = await freshPage(browser);
    const errors = watchErrors(page);
    await page.goto(`${url}tests/e2e/pages/blank.html`);
    const result = await page.evaluate(async ({ heliaAddr, goodCid, forgedCid }) => {
      const { Runtime } = await import("/pkg/index.js");
      const events = [];
      const rt = await Runtime.open({ name: "tab-helia", workers: 0, peers: [heliaAddr], onPeerEvent: (e) => events.push(e) });
      const deadline = Date.now() + 20_000;
      while (rt.peers().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      // Helia does not speak the binding protocol: the exchange fails, the peer stays, unbound.
      while (!events.some((e) => e.type.startsWith("peer-bind")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const binding = events.filter((e) => e.type.startsWith("peer-bind"));
      const peers = rt.peers();
      const got = new TextDecoder().decode(await rt.fetchBlock(goodCid, { timeoutMs: 20_000 }));
      let forged;
      try {
        await rt.fetchBlock(forgedCid, { timeoutMs: 3000 });
        forged = "fetched";
      } catch (e) {
        forged = `${e.code}: ${e.message}`;
      }
      // Nothing was stored under the forged CID; the good block is there.
      const stored = async (cid) => rt.readFile(cid).then(() => "stored", (e) => e.code);
      const after = { good: await stored(goodCid), forged: await stored(forgedCid) };
      await rt.close();
      return { peers, binding, got, forged, after };
    }, { heliaAddr, goodCid, forgedCid });
    assert.equal(result.peers.length, 1);
    assert.equal(result.peers[0].peerId, helia.libp2p.peerId.toString());
    assert.equal(result.peers[0].transport, "websocket");
    assert.equal(result.peers[0].bound, false);
    assert.equal(result.binding.length, 1, JSON.stringify(result.binding));
    assert.equal(result.binding[0].type, "peer-binding-failed");
    assert.equal(result.binding[0].peerId, helia.libp2p.peerId.toString());
    assert.match(result.binding[0].reason, /^no binding exchange with 12D3KooW\S+: /);
    assert.equal(result.got, "a block Helia holds, fetched by a tab\n");
    assert.match(result.forged, /^ERR_NETWORK: block bafkrei\S+: no connected peer gave it within 3000 ms/);
    assert.deepEqual(result.after, { good: "stored", forged: "ERR_MISSING_BLOCK" });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    server.close();
    await helia.stop();
  }
});

test("a page that knows only the CIDs of a module and a picture Helia holds fetches both over bitswap and runs the image pipeline on them; a module nobody has is module_missing, never reused", { timeout: 180_000 }, async () => {
  const helia = await startHelia();
  const { server, url } = await startServer();
  const browser = await launchBrowser();
  try {
    // UnixFS DAGs in Helia only (as `ipfs add --cid-version 1 --raw-leaves` makes them).
    const add = async (bytes) => {
      let root;
      for await (const entry of importer([{ content: bytes }], helia.blockstore, { cidVersion: 1, rawLeaves: true })) root = entry.cid;
      return root.toString();
    };
    const picture = noisePng(800, 750);
    const moduleCid = await add(readFileSync(GUESTS_WASM));
    const pictureCid = await add(picture);
    const pictureBlocks = Math.ceil(picture.length / 262144) + 1;
    const heliaAddr = helia.libp2p.getMultiaddrs().find((a) => a.toString().includes("/ws")).toString();

    const page = await freshPage(browser);
    const errors = watchErrors(page);
    await page.goto(`${url}tests/e2e/pages/blank.html`);
    const result = await page.evaluate(
      async ({ heliaAddr, moduleCid, pictureCid, pictureBase64 }) => {
        const ipvm = await import("/pkg/index.js");
        const pipeline = async (rt, module, picture, nnc) => {
          const crop = await ipvm.wasmTask({ module, func: "crop", args: [{ "/": picture }, 100, 100, 600, 500], nnc });
          const rotate = await ipvm.wasmTask({ module, func: "rotate90", args: [ipvm.awaitOk(crop.instruction)], nnc });
          const gray = await ipvm.wasmTask({ module, func: "grayscale", args: [ipvm.awaitOk(rotate.instruction)], nnc });
          const events = [];
          const reports = await rt.run({ tasks: [crop.task, rotate.task, gray.task] }, { logs: "none", onEvent: (e) => events.push(e) });
          const hex = async (b) => Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", b)), (x) => x.toString(16).padStart(2, "0")).join("");
          return {
            events: events.filter((e) => e.type.startsWith("fetch")),
            ok: reports.map((r) => r.ok),
            status: reports.map((r) => r.status),
            out: reports[2].ok ? { length: reports[2].out.length, sha256: await hex(reports[2].out) } : reports[2].error,
          };
        };
        // Knows the CIDs and Helia's address only.
        const rt = await ipvm.Runtime.open({ name: "tab-fetch", workers: 1, peers: [heliaAddr] });
        const deadline = Date.now() + 20_000;
        while (rt.peers().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        const missingBefore = await rt.readFile(pictureCid).then(() => "stored", (e) => e.code);
        const module = await rt.addModule(moduleCid);
        const fetched = await pipeline(rt, module, pictureCid, "from-helia");
        // Both are in the store now, whole and checked: readable with the network stopped.
        const pictureBack = (await rt.readFile(pictureCid)).length;
        // A module nobody has: the fetch fails (a block timeout), the task is module_missing; the
        // second run asks again and fails again (an environment error is never reused).
        const nobody = "bafkreibxhaq2ndkpmkgvbstbchpdc3kcmxqnx6gyrnkxhd6rfqaq3kx7ia";
        const missing = [];
        for (const nnc of ["first", "second"]) {
          const { task } = await ipvm.wasmTask({ module: nobody, func: "crop", args: [{ "/": pictureCid }, 0, 0, 1, 1], nnc: "missing" });
          const events = [];
          const [r] = await rt.run({ tasks: [task] }, { logs: "none", onEvent: (e) => events.push(e) });
          missing.push({ nnc, status: r.status, kind: r.error?.kind, events: events.filter((e) => e.type.startsWith("fetch") || e.type === "memo-hit").map((e) => `${e.type} ${e.cid ?? ""} ${e.reason ?? ""}`) });
        }
        await rt.close();
        // The same pipeline where the bytes were added here, without peers.
        const local = await ipvm.Runtime.open({ name: "tab-fetch-here", workers: 1 });
        const localModule = await local.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
        const localPicture = await local.addModule(Uint8Array.from(atob(pictureBase64), (c) => c.charCodeAt(0)));
        const here = await pipeline(local, localModule, localPicture, "here");
        await local.close();
        return { missingBefore, module, localModule, localPicture, fetched, pictureBack, missing, here };
      },
      { heliaAddr, moduleCid, pictureCid, pictureBase64: picture.toString("base64") },
    );
    assert.equal(result.missingBefore, "ERR_MISSING_BLOCK");
    assert.equal(result.module, moduleCid);
    // Helia's DAGs have the CIDs ipvm-web gives the same bytes.
    assert.equal(result.localModule, moduleCid);
    assert.equal(result.localPicture, pictureCid);
    assert.deepEqual(result.fetched.ok, [true, true, true], JSON.stringify(result.fetched));
    // The picture came in the run, all its blocks from Helia; the module came with addModule, before it.
    assert.deepEqual(result.fetched.events, [{ type: "fetched", task: 0, cid: pictureCid, blocks: pictureBlocks, fetched: pictureBlocks, bytes: result.fetched.events[0]?.bytes }]);
    assert.ok(result.fetched.events[0].bytes > picture.length, JSON.stringify(result.fetched.events));
    assert.equal(result.pictureBack, picture.length);
    assert.deepEqual(result.fetched.out, result.here.out);
    assert.ok(result.here.out.length > 100_000, JSON.stringify(result.here.out));
    assert.deepEqual(result.here.events, []);
    for (const m of result.missing) {
      assert.equal(m.status, "ran", JSON.stringify(m));
      assert.equal(m.kind, "module_missing", JSON.stringify(m));
      assert.equal(m.events.length, 1, JSON.stringify(m));
      assert.match(m.events[0], /^fetch-failed (bafkrei\S+) block \1 could not be fetched from the peers: no connected peer gave it within 10000 ms$/);
    }
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    server.close();
    await helia.stop();
  }
});
