// Bench of `ipvm node` (issue #25): bitswap throughput of a 10 MiB module
// between two nodes on loopback, and a node's idle memory (VmRSS after 5 s
// with no peer). Prints one line per figure and writes .build/bench/node.json for the report
// (tests/bench/report.mjs). IPVM_BIN picks the binary.
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { IPVM_BIN, ROOT } from "../e2e/helpers.mjs";
import { startNode } from "../e2e/nodes.mjs";

const rss = (pid) => Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/)[1]);
const dir = mkdtempSync(join(tmpdir(), "ipvm-bench-node-"));
const out = { moduleBytes: 10 << 20, rounds: [] };
try {
  const file = join(dir, "module.bin");
  const size = 10 << 20;
  writeFileSync(file, randomBytes(size));
  const a = await startNode(dir, ["--memory", "--key", join(dir, "ka"), "--add", file, "--log", "warn"]);
  await new Promise((r) => setTimeout(r, 5000));
  out.holdingMiB = rss(a.proc.pid) / 1024;
  console.log(`node idle memory: ${out.holdingMiB.toFixed(1)} MiB VmRSS (a 10 MiB file in its in-memory store)`);
  const idle = await startNode(dir, ["--memory", "--key", join(dir, "ki"), "--log", "warn"]);
  await new Promise((r) => setTimeout(r, 5000));
  out.idleMiB = rss(idle.proc.pid) / 1024;
  console.log(`node idle memory: ${out.idleMiB.toFixed(1)} MiB VmRSS (empty store, no peer)`);
  await idle.stop();
  const cid = a.added(file);
  for (let round = 1; round <= 3; round++) {
    // B prints its listen address after connecting, then `fetched` when done.
    const b = spawn(IPVM_BIN, ["node", "--memory", "--key", join(dir, `kb${round}`), "--log", "warn", "--connect", a.info.multiaddrs[0], "--fetch", cid], { stdio: ["ignore", "pipe", "inherit"] });
    const t = await new Promise((resolve) => {
      let start;
      let buf = "";
      b.stdout.on("data", (d) => {
        buf += d;
        if (start === undefined && buf.includes("listening ")) start = performance.now();
        if (buf.includes(`fetched ${cid}`)) resolve(performance.now() - start);
      });
    });
    b.kill("SIGTERM");
    out.rounds.push(t);
    console.log(`bitswap 10 MiB between two nodes on loopback, round ${round}: ${t.toFixed(0)} ms, ${((size / (1 << 20)) / (t / 1000)).toFixed(1)} MiB/s`);
  }
  await a.stop();
  mkdirSync(join(ROOT, ".build/bench"), { recursive: true });
  writeFileSync(join(ROOT, ".build/bench/node.json"), JSON.stringify(out));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
