// `npm start`'s server with its node (scripts/serve.mjs --node, as scripts/start.sh runs it):
// the playground's peers panel shows the peer id and DID that the node's info file says; the
// node stops when the server does (SIGTERM, and SIGKILL through its watchdog); without the
// binary the server still serves and the page says why there is no node. Loopback only.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { IPVM_BIN, ROOT, freshPage, freshStoreDir, launchBrowser, watchErrors } from "./helpers.mjs";

let browser;
before(async () => (browser = await launchBrowser()));
after(() => browser?.close());

/** Runs `node scripts/serve.mjs --node` on a free port; resolves once it prints its URL. */
function serve(dir, bin = IPVM_BIN) {
  const proc = spawn(process.execPath, [join(ROOT, "scripts/serve.mjs"), "--node"], {
    env: { ...process.env, PORT: "0", IPVM_BIN: bin, IPVM_NODE_DIR: dir },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stderr.on("data", (d) => (out += d));
  const exited = new Promise((r) => proc.on("exit", (code, signal) => r(code ?? signal)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL in 30 s:\n${out}`)), 30_000);
    proc.stdout.on("data", (d) => {
      out += d;
      const url = out.match(/ipvm playground: (http:\/\/localhost:\d+\/)www\//)?.[1];
      if (url) clearTimeout(timer), resolve({ proc, url, exited, out: () => out });
    });
    exited.then((code) => reject(new Error(`serve.mjs exited (${code}):\n${out}`)));
  });
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Waits until process `pid` is gone; false if it is still there after `ms`. */
async function gone(pid, ms = 15_000) {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !alive(pid);
}

/** Opens the playground; resolves once it is ready and its peers panel has settled. */
async function open(url) {
  const page = await freshPage(browser);
  const errors = watchErrors(page);
  await page.goto(`${url}www/`);
  await page.waitForFunction(() => window.playground?.ready === true, null, { timeout: 60_000 });
  await page.waitForFunction(() => ["up", "none"].includes(document.getElementById("peers").dataset.node), null, { timeout: 60_000 });
  return { page, errors };
}

const readInfo = (dir) => JSON.parse(readFileSync(join(dir, "info.json"), "utf8"));

test("npm start's server: the page shows its node; the node stops with the server (SIGTERM, then SIGKILL)", { timeout: 240_000 }, async () => {
  const dir = freshStoreDir();
  try {
    const server = await serve(dir);
    const { page, errors } = await open(server.url);
    const info = readInfo(dir);
    assert.match(info.peerId, /^12D3KooW/);
    assert.ok(alive(info.pid), "the node runs");
    assert.equal(await page.getAttribute("#peers", "data-node"), "up", await page.textContent("#peers"));
    assert.equal(await page.textContent("#node-peer"), info.peerId);
    assert.equal(await page.textContent("#node-did"), info.did);
    assert.equal(await page.textContent("#node-addrs"), info.multiaddrs.join(""));
    assert.match(info.multiaddrs[0], /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws\/p2p\//);
    assert.match(await page.textContent("#peers"), /does not connect to it yet/);
    // Once the service worker controls the page, the node's info is fetched through it, and its
    // cache holds none.
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 30_000 });
    await page.reload();
    await page.waitForFunction(() => window.playground?.ready === true && document.getElementById("peers").dataset.node === "up", null, { timeout: 60_000 });
    assert.equal(await page.evaluate(() => navigator.serviceWorker.controller !== null), true);
    assert.equal(await page.textContent("#node-peer"), info.peerId);
    assert.deepEqual(await page.evaluate(async () => (await Promise.all((await caches.keys()).map(async (n) => (await (await caches.open(n)).keys()).map((r) => r.url)))).flat().filter((u) => u.includes("node-info"))), []);

    // SIGTERM (as Ctrl-C's SIGINT): the server exits and so does the node.
    server.proc.kill("SIGTERM");
    assert.equal(await server.exited, 143, server.out());
    assert.ok(await gone(info.pid), `the node (pid ${info.pid}) still runs after the server exited`);
    // The page, reloaded from the service worker's cache, does not show the node it had cached.
    await page.reload();
    await page.waitForFunction(() => window.playground?.ready === true, null, { timeout: 60_000 });
    await page.waitForFunction(() => document.getElementById("peers").dataset.node === "none", null, { timeout: 30_000 });
    assert.match(await page.textContent("#node-error"), /cannot be reached/);
    await page.close();
    assert.deepEqual(errors, []);

    // Again on the same directory (the same key: the same peer id), and the server is killed
    // outright: the watchdog stops the node.
    const again = await serve(dir);
    const p2 = await open(again.url);
    const info2 = readInfo(dir);
    assert.equal(info2.peerId, info.peerId);
    assert.notEqual(info2.pid, info.pid);
    assert.equal(await p2.page.textContent("#node-peer"), info.peerId);
    await p2.page.close();
    again.proc.kill("SIGKILL");
    assert.equal(await again.exited, "SIGKILL");
    assert.ok(await gone(info2.pid), `the node (pid ${info2.pid}) still runs after the server was killed`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("npm start's server without the node's binary: it still serves, and the page says why there is no node", { timeout: 120_000 }, async () => {
  const dir = freshStoreDir();
  const missing = join(dir, "no-such-ipvm");
  try {
    const server = await serve(dir, missing);
    const res = await fetch(`${server.url}node-info.json`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("cache-control"), "no-store");
    const said = await res.json();
    assert.equal(said.error, `${missing} does not exist (scripts/build.sh builds it)`);
    assert.deepEqual(readInfo(dir), said, "the info file says it too");
    const { page, errors } = await open(server.url);
    assert.equal(await page.getAttribute("#peers", "data-node"), "none");
    assert.equal(await page.textContent("#node-error"), said.error);
    assert.equal(await page.$("#node-peer"), null);
    await page.close();
    assert.deepEqual(errors, []);
    server.proc.kill("SIGTERM");
    assert.equal(await server.exited, 143);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
