// Bench of task offload (issue #26): a js-libp2p peer hands `ipvm node --dev`
// on loopback trivial tasks (add-one, each a fresh self-issued invocation
// minted by the CLI beforehand, each a new instruction so none is a memo hit),
// one after another: the round trip from request to the signed receipt, the
// node admitting, running, signing and storing it. Then capacity asked the same
// way. Prints one line and writes .build/bench/offload.json for
// tests/bench/report.mjs.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as dagCbor from "@ipld/dag-cbor";
import { GUESTS_WASM, ROOT, ipvm } from "../e2e/helpers.mjs";
import { CAPACITY, OFFLOAD, exchange, jsPeer, startNode } from "../e2e/nodes.mjs";

const ROUNDS = 40;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const dir = mkdtempSync(join(tmpdir(), "ipvm-bench-offload-"));
const js = await jsPeer();
try {
  const node = await startNode(dir, ["--key", join(dir, "key-n"), "--memory", "--add", GUESTS_WASM, "--dev", "--log", "warn"]);
  try {
    const addr = node.info.multiaddrs[0];
    const module = node.added(GUESTS_WASM);
    const key = join(dir, "key-j");
    const tokens = [];
    for (let i = 0; i <= ROUNDS; i++) {
      const out = join(dir, `inv-${i}.ucan`);
      const made = await ipvm(["invoke", "--key", key, "--aud", node.info.did, "--module", module, "--func", "add-one", "--args", `[${i}]`, "--ttl", "600", "--out", out]);
      if (made.code !== 0) throw new Error(made.stderr);
      tokens.push(readFileSync(out));
    }
    const offload = async (invocation) => {
      const got = await exchange(js, addr, OFFLOAD, dagCbor.encode({ invocation, proofs: [] }), 60_000);
      if (!got.bytes) throw new Error(got.error);
      const a = dagCbor.decode(got.bytes);
      if (!a.done) throw new Error(`not run: ${JSON.stringify(a)}`);
      return a;
    };
    // The first compiles the module on the node (cached after): not counted.
    await offload(tokens[0]);
    const rounds = [];
    for (const t of tokens.slice(1)) {
      const t0 = performance.now();
      await offload(t);
      rounds.push(performance.now() - t0);
    }
    const caps = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      const got = await exchange(js, addr, CAPACITY, dagCbor.encode({}));
      if (!got.bytes) throw new Error(got.error);
      caps.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 110));
    }
    const out = { rounds: ROUNDS, medianMs: median(rounds), minMs: Math.min(...rounds), maxMs: Math.max(...rounds), capacityMs: median(caps) };
    console.log(`offload: a trivial task's round trip from a js-libp2p peer to ipvm node on loopback: median ${out.medianMs.toFixed(1)} ms (min ${out.minMs.toFixed(1)}, max ${out.maxMs.toFixed(1)}, ${ROUNDS} rounds); capacity: ${out.capacityMs.toFixed(1)} ms`);
    mkdirSync(join(ROOT, ".build/bench"), { recursive: true });
    writeFileSync(join(ROOT, ".build/bench/offload.json"), JSON.stringify(out));
  } finally {
    await node.stop();
  }
} finally {
  await js.stop();
  rmSync(dir, { recursive: true, force: true });
}
