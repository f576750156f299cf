// Interop with an IPFS implementation we did not write: a Helia node (npm
// `helia`, configured by hand: WebSocket on 127.0.0.1 only, Noise, Yamux,
// identify, bitswap, a SHA3-256 hasher; not Helia's defaults, which listen
// everywhere and add mdns, DHT, bootstrap, autoTLS and UPnP) holds a module
// and a picture no other peer has. `ipvm node` fetches both by CID over
// bitswap, `ipvm run` runs Homestar's image pipeline on them from the same
// store, and Helia fetches from the node, by CID, a receipt the run wrote.
import "./node20.mjs";
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { multiaddr } from "@multiformats/multiaddr";
import { sha3256 } from "@multiformats/sha3";
import { importer } from "ipfs-unixfs-importer";
import { CID } from "multiformats/cid";
import * as dagCbor from "@ipld/dag-cbor";
import { GUESTS_WASM, ROOT, freshStoreDir, ipvm } from "./helpers.mjs";
import { startHelia, startNode } from "./nodes.mjs";

const PICTURE = join(ROOT, "www/images/sample.png");

/** Imports a file into Helia's blockstore as `ipfs add --cid-version 1` would. */
async function heliaAdd(helia, path) {
  let root;
  for await (const entry of importer([{ content: await readFile(path) }], helia.blockstore, { cidVersion: 1, rawLeaves: true })) {
    root = entry.cid;
  }
  return root.toString();
}

/** Homestar's image pipeline (as tests/e2e/store.test.mjs): crop → rotate90 → grayscale. */
async function imagePipeline(dir, module, picture) {
  const bytes = await readFile(PICTURE);
  const [width, height] = [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
  const [w, h] = [Math.floor((width * 3) / 4), Math.floor((height * 3) / 4)];
  const call = (func, args) => ({ input: { args, func }, nnc: "", op: "wasm/run", rsc: `ipfs://${module}` });
  const cid = async (run) => {
    const file = join(dir, "instruction.jsonl");
    await writeFile(file, JSON.stringify(run));
    return (await ipvm(["instruction", file])).stdout.trim();
  };
  const crop = call("crop", [{ "/": picture }, Math.floor((width - w) / 2), Math.floor((height - h) / 2), w, h]);
  const rotate = call("rotate90", [{ "await/ok": { "/": await cid(crop) } }]);
  const gray = call("grayscale", [{ "await/ok": { "/": await cid(rotate) } }]);
  const task = (run) => ({ cause: null, meta: { memory: 4_294_967_296, time: 100_000 }, prf: [], run });
  const wf = join(dir, "pipeline.json");
  await writeFile(wf, JSON.stringify({ tasks: [crop, rotate, gray].map(task) }));
  return { wf, size: [h, w] };
}

test("Helia holds a module and a picture; ipvm node fetches them over bitswap, runs the image pipeline, and Helia fetches the receipt", { timeout: 240_000 }, async () => {
  const dir = freshStoreDir();
  const store = join(dir, "store");
  const helia = await startHelia();
  let node;
  try {
    const module = await heliaAdd(helia, GUESTS_WASM);
    const picture = await heliaAdd(helia, PICTURE);
    // The same CIDs as the CLI's (an oracle from the other implementation).
    const cli = (await ipvm(["add", GUESTS_WASM, PICTURE])).stdout.trim().split("\n").map((l) => l.split(/\s+/)[0]);
    assert.deepEqual([module, picture], cli);
    const heliaAddr = helia.libp2p.getMultiaddrs().find((a) => a.toString().includes("/ws"));
    assert.ok(heliaAddr?.toString().startsWith("/ip4/127.0.0.1/"), String(heliaAddr));

    node = await startNode(dir, [
      "--store", store, "--key", join(dir, "key"),
      "--connect", heliaAddr.toString(), "--fetch", module, "--fetch", picture,
    ]);
    assert.ok(node.out.some((l) => l.startsWith(`fetched ${module} `)), node.out.join("\n"));
    assert.ok(node.out.some((l) => l.startsWith(`fetched ${picture} `)), node.out.join("\n"));

    // The pipeline, on the node's store: its inputs came from Helia.
    const { wf, size } = await imagePipeline(dir, module, picture);
    const run = await ipvm(["run", wf, "--store", store]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split("\n");
    assert.equal(lines.length, 3);
    const [tag, value] = JSON.parse(lines[2]).out;
    assert.equal(tag, "ok");
    const png = Buffer.from(value["/"].bytes, "base64");
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], size, "cropped, turned a quarter, grey");
    const receipts = [...run.stderr.matchAll(/^finished task \d+ \S+ receipt (\S+)/gm)].map((m) => m[1]);
    assert.equal(receipts.length, 3, run.stderr);

    // Helia fetches the last receipt (a SHA3-256 DAG-CBOR block) from the node, by CID.
    await helia.libp2p.dial(multiaddr(node.info.multiaddrs[0]));
    const cid = CID.parse(receipts[2]);
    assert.equal(cid.multihash.code, 0x16, "receipts are SHA3-256 blocks");
    assert.equal(await helia.blockstore.has(cid), false);
    const block = await helia.blockstore.get(cid, { signal: AbortSignal.timeout(30_000) });
    const bytes = block instanceof Uint8Array ? block : await collect(block);
    const digest = await sha3256.digest(bytes);
    assert.deepEqual(digest.bytes, cid.multihash.bytes);
    const receipt = dagCbor.decode(bytes);
    assert.ok(JSON.stringify(Object.keys(receipt)).length > 2, "a DAG-CBOR map");
  } finally {
    await node?.stop();
    await helia.stop();
  }
});

async function collect(iterable) {
  const parts = [];
  for await (const p of iterable) parts.push(p);
  return Buffer.concat(parts);
}
