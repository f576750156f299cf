// What an attacker (or an older version of the package) can put in front of
// the runtime, built independently of it with the JS IPLD libraries: task
// invocations, receipts with any content, CAR archives, and rows as schema 2
// stored them, and receipt envelopes signed with keys the tests hold. Used by
// memo.test.mjs and trust.test.mjs.
import * as dagCbor from "@ipld/dag-cbor";
import { CID } from "multiformats/cid";
import { sha3256 } from "@multiformats/sha3";
import { sha256 } from "multiformats/hashes/sha2";
import { base58btc } from "multiformats/bases/base58";
import { createPrivateKey, createPublicKey, sign } from "node:crypto";

/** `{cid, bytes}` of a DAG-CBOR value (SHA3-256, as the runtime hashes instructions and receipts). */
export async function block(value) {
  const bytes = dagCbor.encode(value);
  return { cid: CID.createV1(dagCbor.code, await sha3256.digest(bytes)), bytes };
}

/** The invocation block of a task (`{task: {run, cause, meta, prf}}`), as a workflow gives it. */
export function invocation(task) {
  return block({ task: { run: task.run, cause: null, meta: task.meta, prf: [] } });
}

/** The receipt version this runtime writes (`meta.v`, docs/spec.md §5). */
export const RECEIPT_VERSION = 3;

/** A receipt of invocation `ran` claiming `out` (e.g. `["ok", 999]`), with `meta` (e.g. `{v: RECEIPT_VERSION, fuel: 5}`). */
export function receipt(ran, out, meta) {
  return block({ ran, out, meta, iss: null, prf: [], fx: { fork: [], join: null } });
}

/**
 * A forged receipt of `ran` claiming `["ok", value]` whose CID sorts before `than` in key
 * order, as an attacker would grind it to be the first row IndexedDB returns.
 */
export async function groundBefore(ran, value, than) {
  for (let fuel = 0; fuel < 100_000; fuel++) {
    const r = await receipt(ran, ["ok", value], { v: RECEIPT_VERSION, fuel });
    if (r.cid.toString() < than) return r;
  }
  throw new Error("no CID sorts first");
}

/** An unsigned varint of any safe integer (sizes past 2^32 included). */
function varint(n) {
  const out = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

/** A protobuf field: its key, then a varint or length-delimited bytes. */
function pbField(field, value) {
  if (typeof value === "number") return [...varint((field << 3) | 0), ...varint(value)];
  return [...varint((field << 3) | 2), ...varint(value.length), ...value];
}

/** A UnixFS file node (DAG-PB, links before data) linking `links` (CIDs), each declared to hold `size` bytes. */
async function fileNode(links, size) {
  const data = [...pbField(1, 2), ...pbField(3, links.length * size)];
  for (let i = 0; i < links.length; i++) data.push(...pbField(4, size));
  const node = [];
  for (const l of links) node.push(...pbField(2, [...pbField(1, [...l.bytes]), ...pbField(2, []), ...pbField(3, size)]));
  node.push(...pbField(1, data));
  const bytes = Uint8Array.from(node);
  return { cid: CID.createV1(0x70, await sha256.digest(bytes)), bytes };
}

/**
 * A small, truthful UnixFS DAG that describes a huge file by repeating links: one 256 KiB raw
 * chunk, a node linking it `fanout` times, a root linking that node `fanout` times
 * (174 × 174 × 256 KiB = 7.9 GB in three blocks of about 270 KB). Every size it declares holds.
 */
export async function hugeFile(fanout = 174) {
  const chunkBytes = new Uint8Array(262_144).fill(7);
  const chunk = { cid: CID.createV1(0x55, await sha256.digest(chunkBytes)), bytes: chunkBytes };
  const middle = await fileNode(Array(fanout).fill(chunk.cid), chunkBytes.length);
  const root = await fileNode(Array(fanout).fill(middle.cid), fanout * chunkBytes.length);
  return { root: root.cid, blocks: [chunk, middle, root], claims: fanout * fanout * chunkBytes.length };
}

/** A CARv1 archive of `blocks` (`{cid, bytes}`), with no roots. */
export function car(blocks) {
  const header = dagCbor.encode({ roots: [], version: 1 });
  const parts = [Uint8Array.from(varint(header.length)), header];
  for (const { cid, bytes } of blocks) {
    parts.push(Uint8Array.from(varint(cid.bytes.length + bytes.length)), cid.bytes, bytes);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

// ---------------------------------------------------------------------------
// Receipt envelopes (spec §5b), built independently of the runtime with
// node:crypto's Ed25519: `[signature, {h: varsig header, "ipvm/attest@1":
// {iss, rct}}]`, the signature over the DAG-CBOR of the second element.

/** The varsig v1 header for Ed25519 over DAG-CBOR. */
export const VARSIG_ED25519 = Uint8Array.from([0x34, 0x01, 0xed, 0x01, 0xed, 0x01, 0x13, 0x71]);

/** An Ed25519 key from a 32-byte seed: `{did, sign(bytes)}`. */
export function key(seedByte) {
  const seed = Buffer.alloc(32, seedByte);
  // PKCS#8 DER of an Ed25519 private key: a fixed 16-byte prefix, then the seed (RFC 8410).
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
  const privateKey = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  const raw = createPublicKey(privateKey).export({ format: "der", type: "spki" }).subarray(-32);
  const did = `did:key:${base58btc.encode(Uint8Array.from([0xed, 0x01, ...raw]))}`;
  return { did, sign: (bytes) => new Uint8Array(sign(null, bytes, privateKey)) };
}

/** The signed payload of an envelope. */
export function payload(iss, rct, header = VARSIG_ED25519) {
  return { h: header, "ipvm/attest@1": { iss, rct } };
}

/** `{cid, bytes}` of an envelope: `signer` signs `payload` (or a signature is given). */
export async function envelope(signer, rct, { iss = signer.did, header, signature } = {}) {
  const p = payload(iss, rct, header);
  const sig = signature ?? signer.sign(dagCbor.encode(p));
  return envelopeBlock(dagCbor.encode([sig, p]));
}

/** `{cid, bytes}` of envelope bytes (DAG-CBOR, SHA-256). */
export async function envelopeBlock(bytes) {
  return { cid: CID.createV1(dagCbor.code, await sha256.digest(bytes)), bytes };
}
