// A static file server for the playground: serves the repository root so
// that www/ can import ../pkg/ exactly as it would from an npm install.
// Run directly (`node scripts/serve.mjs`, PORT=8080 by default) it prints the
// URL; tests import startServer() and get a free port. With `--node` (npm
// start) it also starts `ipvm node` beside it (startNode) and serves what the
// node says about itself at /node-info.json; the node stops when the server does.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));

/** Where the page reads the node's info: never a file of the tree, never cached (www/sw.js lets it through). */
export const NODE_INFO = "/node-info.json";
const NO_NODE = { error: "this page server was started without a node (npm start starts one: node scripts/serve.mjs --node)" };

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".ts": "text/plain; charset=utf-8",
};

async function handle(root, cache, node, req, res) {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname === "/" && root === ROOT) {
    res.writeHead(302, { location: "/www/" });
    return res.end();
  }
  // Always an answer (200, JSON): the node's info, `{starting: true}` or `{error}` saying why there is none.
  if (url.pathname === NODE_INFO && root === ROOT) {
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    return res.end(JSON.stringify(node ? node.info() : NO_NODE) + "\n");
  }
  let path = normalize(join(root, decodeURIComponent(url.pathname)));
  if (path !== root && !path.startsWith(root + sep)) {
    res.writeHead(403);
    return res.end("forbidden");
  }
  try {
    let info = await stat(path);
    if (info.isDirectory()) {
      path = join(path, "index.html");
      info = await stat(path);
    }
    // Cached by the browser and revalidated on each use (an edit is seen at once); with
    // `immutable`, the package is cached as a deployment with hashed file names would serve it.
    const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
    const headers = {
      "content-type": TYPES[extname(path)] ?? "application/octet-stream",
      "cache-control": cache === "immutable" && url.pathname.startsWith("/pkg/") ? "public, max-age=31536000, immutable" : "no-cache",
      etag,
    };
    if (req.headers["if-none-match"] === etag) {
      res.writeHead(304, headers);
      return res.end();
    }
    const body = await readFile(path);
    res.writeHead(200, headers);
    res.end(body);
  } catch {
    res.writeHead(404, { "content-type": "text/plain" });
    res.end(`not found: ${url.pathname}`);
  }
}

/**
 * Starts the server for `root` (default: the repository) on `port` (0 = any free port); resolves
 * to { server, url }. Files are revalidated on each use (ETag); `cache: "immutable"` lets the
 * browser keep /pkg/ without asking (the cold-start benchmark's "package cached"). `node` (from
 * startNode) is the node whose info /node-info.json gives.
 */
export function startServer({ port = 0, host = "127.0.0.1", root = ROOT, cache = "revalidate", node } = {}) {
  return new Promise((resolvePromise, reject) => {
    const server = createServer((req, res) => {
      handle(resolve(root), cache, node, req, res).catch((e) => {
        res.writeHead(500);
        res.end(String(e));
      });
    });
    server.once("error", reject);
    server.listen(port, host, () => {
      const { port: actual } = server.address();
      resolvePromise({ server, url: `http://${host === "127.0.0.1" ? "localhost" : host}:${actual}/` });
    });
  });
}

/**
 * Starts `ipvm node` (the binary `bin`) beside the page server, its key, store and info file in
 * `dir`, listening on a free loopback WebSocket port. Never throws: a node that cannot start, or
 * stops, is an `{error}` in its info (written to DIR/info.json too). Returns { info(), stop(),
 * kill(), exited }: info() is what /node-info.json serves; stop() sends SIGTERM and resolves to
 * the exit code or signal. A watchdog (`sh`, reading a pipe from this process) sends the node
 * SIGTERM when this process is gone, however it went (even SIGKILL).
 */
export function startNode({ bin = process.env.IPVM_BIN ?? join(ROOT, ".build/bin/ipvm"), dir = join(ROOT, ".build/node"), readyWithinMs = 60_000, log = (line) => console.log(`ipvm node: ${line}`) } = {}) {
  mkdirSync(dir, { recursive: true });
  const infoFile = join(dir, "info.json");
  rmSync(infoFile, { force: true });
  const store = join(dir, "store");
  let state = { starting: true };
  let ready = false;
  let stopping = false;
  const fail = (why) => {
    state = { error: why };
    log(`no node: ${why}`);
    try {
      writeFileSync(infoFile, JSON.stringify(state) + "\n");
    } catch {
      // The file only mirrors what the server serves.
    }
  };
  const proc = spawn(bin, ["node", "--key", join(dir, "key"), "--store", store, "--listen", "/ip4/127.0.0.1/tcp/0/ws", "--info", infoFile, "--log", "info", "--dev"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let watchdog;
  if (proc.pid !== undefined) {
    watchdog = spawn("sh", ["-c", 'read -r _; kill -TERM "$1" 2>/dev/null', "ipvm-node-watchdog", String(proc.pid)], { stdio: ["pipe", "ignore", "ignore"], detached: true });
    watchdog.on("error", () => {});
    watchdog.stdin.on("error", () => {});
    watchdog.unref();
    watchdog.stdin.unref?.();
  }
  const unwatch = () => {
    if (watchdog && watchdog.exitCode === null) watchdog.kill("SIGKILL");
  };
  // Its first error line (or else its last line) says why, if it ends.
  let firstError;
  const lastLines = [];
  const lines = (stream, onLine) => {
    let buffered = "";
    stream.on("data", (d) => {
      buffered += d;
      const all = buffered.split("\n");
      buffered = all.pop();
      for (const l of all) onLine(l);
    });
  };
  lines(proc.stderr, (l) => {
    if (!firstError && /error/i.test(l)) firstError = l.trim();
    lastLines.push(l);
    if (lastLines.length > 5) lastLines.shift();
    log(l);
  });
  const timer = setTimeout(() => {
    fail(`not ready within ${readyWithinMs / 1000} s`);
    proc.kill("SIGTERM");
  }, readyWithinMs);
  timer.unref();
  lines(proc.stdout, (l) => {
    if (l !== "ready" || ready) return;
    ready = true;
    clearTimeout(timer);
    try {
      state = { ...JSON.parse(readFileSync(infoFile, "utf8")), store: relative(ROOT, store).startsWith("..") ? store : relative(ROOT, store) };
      log(`peer ${state.peerId}, ${state.did}, ${state.multiaddrs.join(" ")}; store ${state.store}`);
    } catch (e) {
      fail(`its info file ${infoFile} could not be read: ${e.message}`);
    }
  });
  let ended;
  const exited = new Promise((r) => (ended = r));
  proc.on("error", (e) => {
    clearTimeout(timer);
    unwatch();
    fail(e.code === "ENOENT" ? `${bin} does not exist (scripts/build.sh builds it)` : `${bin} could not be started: ${e.message}`);
    if (proc.pid === undefined) ended(e.code);
  });
  proc.on("close", (code, signal) => {
    clearTimeout(timer);
    unwatch();
    if (!stopping && !("error" in state)) {
      const why = firstError ?? lastLines.filter((l) => l.trim()).pop()?.trim();
      fail(`ipvm node ${ready ? "stopped" : "exited before it was ready"} (${code ?? signal})${why ? `: ${why}` : ""}`);
    }
    ended(code ?? signal);
  });
  return {
    info: () => state,
    exited,
    /** Sends SIGTERM (SIGKILL after `graceMs`); resolves to the exit code or signal. */
    stop(graceMs = 5_000) {
      stopping = true;
      unwatch();
      if (proc.pid !== undefined && proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        setTimeout(() => proc.kill("SIGKILL"), graceMs).unref();
      }
      return exited;
    },
    /** At once, without waiting (for the process's `exit` event). */
    kill() {
      stopping = true;
      if (proc.pid !== undefined && proc.exitCode === null) proc.kill("SIGTERM");
    },
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const node = process.argv.includes("--node") ? startNode({ dir: process.env.IPVM_NODE_DIR ?? join(ROOT, ".build/node") }) : undefined;
  // Ctrl-C, SIGTERM, or anything that ends this process stops the node (a SIGKILL: its watchdog).
  process.on("exit", () => node?.kill());
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.once(signal, async () => {
      await node?.stop();
      // The shell's exit code for death by that signal (not a test exit): start.test.mjs expects 143 for SIGTERM.
      process.exit(128 + { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 }[signal]);
    });
  }
  const wanted = Number(process.env.PORT ?? 8080);
  let started;
  for (let port = wanted; !started && port < wanted + 20; port++) {
    try {
      started = await startServer({ port, node });
    } catch (e) {
      if (e.code !== "EADDRINUSE") throw e;
    }
  }
  if (!started) throw new Error(`no free port in ${wanted}..${wanted + 19}`);
  console.log(`ipvm playground: ${started.url}www/`);
  if (node) console.log(`its node's info: ${started.url}${NODE_INFO.slice(1)}`);
}
