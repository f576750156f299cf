// What an attacker (or an older version of the package) can put in front of
// the runtime, built independently of it with the JS IPLD libraries: task
// invocations, receipts with any content, CAR archives, and rows as schema 2
// stored them. Used by memo.test.mjs.
import * as dagCbor from "@ipld/dag-cbor";
import { CID } from "multiformats/cid";
import { sha3256 } from "@multiformats/sha3";

/** `{cid, bytes}` of a DAG-CBOR value (SHA3-256, as the runtime hashes instructions and receipts). */
export async function block(value) {
  const bytes = dagCbor.encode(value);
  return { cid: CID.createV1(dagCbor.code, await sha3256.digest(bytes)), bytes };
}

/** The invocation block of a task (`{task: {run, cause, meta, prf}}`), as a workflow gives it. */
export function invocation(task) {
  return block({ task: { run: task.run, cause: null, meta: task.meta, prf: [] } });
}

/** A receipt of invocation `ran` claiming `out` (e.g. `["ok", 999]`), with `meta` (e.g. `{v: 1, fuel: 5}`). */
export function receipt(ran, out, meta) {
  return block({ ran, out, meta, iss: null, prf: [], fx: { fork: [], join: null } });
}

/**
 * A forged receipt of `ran` claiming `["ok", value]` whose CID sorts before `than` in key
 * order, as an attacker would grind it to be the first row IndexedDB returns.
 */
export async function groundBefore(ran, value, than) {
  for (let fuel = 0; fuel < 100_000; fuel++) {
    const r = await receipt(ran, ["ok", value], { v: 1, fuel });
    if (r.cid.toString() < than) return r;
  }
  throw new Error("no CID sorts first");
}

function varint(n) {
  const out = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
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
