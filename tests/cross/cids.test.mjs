// Cross-implementation CIDs: independent JS implementations (@ipld/dag-cbor,
// @ipld/dag-json, multiformats, @multiformats/sha3, ipfs-unixfs-importer)
// must compute the same CIDs as the Rust code (through the native CLI) over
// a generated corpus.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, writeFile, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as dagCbor from "@ipld/dag-cbor";
import * as dagJson from "@ipld/dag-json";
import { CID } from "multiformats/cid";
import { sha3256 } from "@multiformats/sha3";
import { importer } from "ipfs-unixfs-importer";
import { balanced } from "ipfs-unixfs-importer/layout";
import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { ipvm } from "../e2e/helpers.mjs";

const dir = await mkdtemp(join(tmpdir(), "ipvm-cross-"));

async function jsCid(value) {
  const bytes = dagCbor.encode(value);
  return CID.createV1(dagCbor.code, await sha3256.digest(bytes)).toString();
}

/** A small seeded PRNG (mulberry32), so the corpus is the same on every run. */
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SAMPLE_CID = CID.parse("bafyrmihmxmsbt4n3g6dzmj7rho34mzfbaoqqbsfcq7etsogslqftbyj7du");
const RAW_CID = CID.parse("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
const STRINGS = ["", "a", "add_one", "héllo wörld", "日本語テキスト", "🦀🕸️", "e\u0301", "עברית", "\u0000nul", "tab\tand\nnewline", "\"quoted\" \\ back"];
const KEYS = ["a", "b", "aa", "ab", "z", "func", "args", "await/ok", "é", "日本", "🦀", "", "longer-key-name"];

function gen(r, depth = 0) {
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const kinds = depth > 3 ? ["null", "bool", "int", "bigint", "float", "string", "bytes", "link"] :
    ["null", "bool", "int", "bigint", "float", "string", "bytes", "link", "list", "map", "await", "empty"];
  switch (pick(kinds)) {
    case "null": return null;
    case "bool": return r() < 0.5;
    case "int": return Math.floor((r() - 0.5) * 2 ** 40);
    case "bigint": return pick([2n ** 63n - 1n, -(2n ** 63n), -(2n ** 63n) - 1n, 2n ** 64n - 1n, -(2n ** 64n), 2n ** 53n + 1n, -(2n ** 53n) - 3n]);
    case "float": return pick([0.5, -1.25, 3.141592653589793, 1e-300, 6.02e23 + 0.5, -2.5e-7, 1.7976931348623157e308]);
    case "string": return pick(STRINGS);
    case "bytes": return Uint8Array.from({ length: Math.floor(r() * 40) }, () => Math.floor(r() * 256));
    case "link": return pick([SAMPLE_CID, RAW_CID]);
    case "list": return Array.from({ length: 1 + Math.floor(r() * 4) }, () => gen(r, depth + 1));
    case "map": {
      const m = {};
      for (let i = 0; i < 1 + r() * 5; i++) m[pick(KEYS.filter((k) => !k.startsWith("await")))] = gen(r, depth + 1);
      return m;
    }
    case "await": return { [pick(["await/ok", "await/error", "await/*"])]: SAMPLE_CID };
    case "empty": return pick([[], {}]);
  }
}

function corpus() {
  const r = rng(20261123);
  const fixed = [null, true, false, 0, -1, 2n ** 64n - 1n, -(2n ** 64n), 0.1, "", "🦀", new Uint8Array(), [], {}, [[]], [{}],
    { "await/ok": SAMPLE_CID }, [{ "await/*": RAW_CID }, { nested: { "await/error": SAMPLE_CID } }], SAMPLE_CID];
  return [...fixed, ...Array.from({ length: 300 }, () => gen(r))];
}

test("DAG-CBOR CIDs of a generated corpus match @ipld/dag-cbor + sha3-256", async () => {
  const values = corpus();
  const path = join(dir, "values.jsonl");
  await writeFile(path, values.map((v) => new TextDecoder().decode(dagJson.encode(v))).join("\n"));
  const r = await ipvm(["dag-cid", path]);
  assert.equal(r.code, 0, r.stderr);
  const rust = r.stdout.trim().split("\n");
  assert.equal(rust.length, values.length);
  for (let i = 0; i < values.length; i++) {
    assert.equal(rust[i], await jsCid(values[i]), `value ${i}: ${new TextDecoder().decode(dagJson.encode(values[i]))}`);
  }
});

test("instruction CIDs match, with awaits, unicode and bytes nonces inside", async () => {
  const r0 = rng(7);
  const instructions = Array.from({ length: 60 }, (_, i) => ({
    rsc: `ipfs://${i % 2 ? SAMPLE_CID : RAW_CID}`,
    op: "wasm/run",
    input: { func: ["add_one", "join-strings", "crop", "日本"][i % 4], args: Array.from({ length: i % 5 }, () => gen(r0, 1)) },
    nnc: i % 3 === 0 ? "" : i % 3 === 1 ? `nonce-${i}` : Uint8Array.from([i, 1, 2, 3]),
  }));
  instructions.push({ rsc: "ipfs://bafybeibk42jwhq7w2zcpe6q3wgtleugp3ymfs3pa5gerjmnakqihhqx4zq", op: "wasm/run", input: { func: "add_one", args: [1] }, nnc: "" });
  const path = join(dir, "instructions.jsonl");
  await writeFile(path, instructions.map((v) => new TextDecoder().decode(dagJson.encode(v))).join("\n"));
  const r = await ipvm(["instruction", path]);
  assert.equal(r.code, 0, r.stderr);
  const rust = r.stdout.trim().split("\n");
  assert.equal(rust.length, instructions.length);
  for (let i = 0; i < instructions.length; i++) {
    assert.equal(rust[i], await jsCid(instructions[i]), `instruction ${i}`);
  }
  assert.equal(rust.at(-1), "bafyrmihmxmsbt4n3g6dzmj7rho34mzfbaoqqbsfcq7etsogslqftbyj7du", "Homestar's check value");
});

async function unixfsCid(bytes) {
  const entries = importer([{ content: bytes }], { put: async () => {} }, {
    cidVersion: 1,
    rawLeaves: true,
    reduceSingleLeafToSelf: true,
    chunker: fixedSize({ chunkSize: 262144 }),
    layout: balanced({ maxChildrenPerNode: 174 }),
  });
  let last;
  for await (const e of entries) last = e;
  return last.cid.toString();
}

test("module CIDs match ipfs-unixfs-importer for 0 B, 1 B, 256 KiB, 256 KiB + 1 B and 50 MiB", async () => {
  const sizes = [0, 1, 262144, 262145, 50 * 1024 * 1024];
  const r = rng(99);
  const paths = [];
  const expected = [];
  for (const size of sizes) {
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i += 4096) bytes[i] = Math.floor(r() * 256);
    const path = join(dir, `file-${size}.bin`);
    await writeFile(path, bytes);
    paths.push(path);
    expected.push(await unixfsCid(bytes));
  }
  const out = await ipvm(["add", ...paths]);
  assert.equal(out.code, 0, out.stderr);
  const rust = out.stdout.trim().split("\n").map((l) => l.split(/\s+/)[0]);
  assert.deepEqual(rust, expected);
  assert.ok(expected[0].startsWith("bafkrei") && expected[4].startsWith("bafybei"), expected.join(" "));
  await rm(dir, { recursive: true, force: true });
});
