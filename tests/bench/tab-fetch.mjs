// Bench of the tab on the network (issue #27): bitswap throughput of a 10 MiB module
// from `ipvm node` into a tab on loopback, through `rt.addModule(cid)` (every block
// checked against its CID and stored in IndexedDB), three rounds, each a fresh
// runtime and store. Prints one line per round and writes .build/bench/tab-fetch.json
// for the report (tests/bench/report.mjs).
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, freshPage, launchBrowser, startServer } from "../e2e/helpers.mjs";
import { startNode } from "../e2e/nodes.mjs";

const size = 10 << 20;
const dir = mkdtempSync(join(tmpdir(), "ipvm-bench-tab-fetch-"));
const out = { moduleBytes: size, rounds: [], blocks: null };
const file = join(dir, "module.bin");
writeFileSync(file, randomBytes(size));
const node = await startNode(dir, ["--memory", "--key", join(dir, "key"), "--add", file, "--log", "warn"]);
const cid = node.added(file);
const { server, url } = await startServer();
const browser = await launchBrowser();
try {
  for (let round = 1; round <= 3; round++) {
    const page = await freshPage(browser);
    await page.goto(`${url}tests/e2e/pages/blank.html`);
    const r = await page.evaluate(
      async ({ addr, cid, round }) => {
        const { Runtime } = await import("/pkg/index.js");
        const rt = await Runtime.open({ name: `bench-tab-fetch-${round}-${Date.now()}`, workers: 0, peers: [addr] });
        const deadline = Date.now() + 20_000;
        while (rt.peers().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        const t0 = performance.now();
        await rt.addModule(cid);
        const ms = performance.now() - t0;
        const bytes = (await rt.readFile(cid, { maxBytes: 64 << 20 })).length;
        await rt.close();
        return { ms, bytes };
      },
      { addr: node.info.multiaddrs[0], cid, round },
    );
    if (r.bytes !== size) throw new Error(`round ${round}: read back ${r.bytes} bytes, not ${size}`);
    out.rounds.push(r.ms);
    console.log(`bitswap 10 MiB from ipvm node into a tab (addModule by CID, IndexedDB) on loopback, round ${round}: ${r.ms.toFixed(0)} ms, ${(size / (1 << 20) / (r.ms / 1000)).toFixed(1)} MiB/s`);
    await page.close();
  }
  mkdirSync(join(ROOT, ".build/bench"), { recursive: true });
  writeFileSync(join(ROOT, ".build/bench/tab-fetch.json"), JSON.stringify(out));
} finally {
  await browser.close();
  server.close();
  await node.stop();
  rmSync(dir, { recursive: true, force: true });
}
