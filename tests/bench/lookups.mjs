// Bench of receipt lookup (issue #26): a node serving the receipts of 512
// computed tasks, asked by a js-libp2p peer on loopback in batches of 256
// instructions (the most one lookup asks), one request after another, then
// 4 at once (the most one peer may have in flight). Prints one line per
// figure and writes .build/bench/lookups.json for tests/bench/report.mjs.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CID } from "multiformats/cid";
import * as dagCbor from "@ipld/dag-cbor";
import { GUESTS_WASM, ROOT, ipvm } from "../e2e/helpers.mjs";
import { addOneChains, jsPeer, lookup, startNode } from "../e2e/nodes.mjs";

const BATCH = 256;
const ROUNDS = 40;
const dir = mkdtempSync(join(tmpdir(), "ipvm-bench-lookups-"));
const js = await jsPeer();
try {
  const wf = await addOneChains(dir, BATCH);
  const store = join(dir, "store");
  const run = await ipvm(["run", wf, "--key", join(dir, "key"), "--store", store, "--add", GUESTS_WASM]);
  if (run.code !== 0) throw new Error(run.stderr);
  const node = await startNode(dir, ["--key", join(dir, "key"), "--store", store, "--log", "warn"]);
  try {
    const firsts = (await ipvm(["instruction", join(dir, "firsts.jsonl")])).stdout.trim().split("\n");
    const request = dagCbor.encode({ instructions: firsts.map((c) => CID.parse(c)) });
    const n = firsts.length;
    const ask = async () => {
      const got = await lookup(js, node.info.multiaddrs[0], request);
      if (!got.bytes) throw new Error(got.error);
      return dagCbor.decode(got.bytes);
    };
    const first = await ask();
    const found = first.entries.filter((e) => e.found).length;
    let t = performance.now();
    for (let i = 0; i < ROUNDS; i++) await ask();
    const sequentialMs = (performance.now() - t) / ROUNDS;
    t = performance.now();
    let busy = 0;
    for (let i = 0; i < ROUNDS / 4; i++) {
      for (const a of await Promise.all([ask(), ask(), ask(), ask()])) busy += a.busy === null ? 1 : 0;
    }
    const parallelMs = (performance.now() - t) / ROUNDS;
    const out = { batch: n, found, rounds: ROUNDS, sequentialMs, parallelMs, busy };
    console.log(`lookups: ${n} instructions per request (${found} found): ${sequentialMs.toFixed(1)} ms a request one at a time (${((n * 1000) / sequentialMs).toFixed(0)} instructions/s), ${parallelMs.toFixed(1)} ms a request 4 at a time (${((n * 1000) / parallelMs).toFixed(0)}/s, ${busy} busy)`);
    mkdirSync(join(ROOT, ".build/bench"), { recursive: true });
    writeFileSync(join(ROOT, ".build/bench/lookups.json"), JSON.stringify(out));
  } finally {
    await node.stop();
  }
} finally {
  await js.stop();
  rmSync(dir, { recursive: true, force: true });
}
