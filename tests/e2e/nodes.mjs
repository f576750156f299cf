// Helpers of the peer tests: start `ipvm node` as a process, wait until it
// is ready, read its --info, stop it.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { IPVM_BIN } from "./helpers.mjs";

/**
 * Starts `ipvm node ARGS` with its info in DIR/info-N.json; resolves once it
 * prints `ready` (its --add and --fetch done), with its info, its stdout
 * lines and a stop() that sends SIGTERM and waits for the exit code.
 */
let count = 0;
export function startNode(dir, args, { env = {}, timeoutMs = 60_000 } = {}) {
  const info = join(dir, `info-${process.pid}-${count++}.json`);
  const proc = spawn(IPVM_BIN, ["node", "--info", info, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = [];
  let err = "";
  let buffered = "";
  const exited = new Promise((resolve) => proc.on("exit", (code, signal) => resolve(code ?? signal)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`ipvm node not ready in ${timeoutMs} ms\nstdout: ${out.join("\n")}\nstderr: ${err}`));
    }, timeoutMs);
    proc.stderr.on("data", (d) => (err += d));
    proc.stdout.on("data", (d) => {
      buffered += d;
      const lines = buffered.split("\n");
      buffered = lines.pop();
      out.push(...lines);
      if (lines.includes("ready")) {
        clearTimeout(timer);
        resolve({
          proc,
          out,
          info: JSON.parse(readFileSync(info, "utf8")),
          stderr: () => err,
          added: (file) => out.find((l) => l.startsWith("added ") && l.endsWith(` ${file}`))?.split(" ")[1],
          async stop() {
            if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
            return exited;
          },
        });
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`ipvm node exited (${code}) before it was ready\nstdout: ${out.join("\n")}\nstderr: ${err}`));
    });
  });
}
