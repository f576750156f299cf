// The npm package as apps get it through a bundler: `npm pack` of pkg/, installed from the
// tarball into a small app per bundler (Vite 7, Vite 8, webpack 5), built for production and
// served by a static server, and in development (Vite's dev server; a webpack development
// build). The page uses the package as the README says, with no option about workers: a
// two-task workflow on the real worker pool and IndexedDB, and a module inspected in its own
// worker. A reload then answers both tasks from the memo. Neither load may log an error.
// The bundlers are the workspace's devDependencies (one install for every test); each app
// installs only the tarball, with no registry.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { GUESTS_WASM, ROOT, freshPage, launchBrowser, startServer, watchErrors } from "./helpers.mjs";

const run = promisify(execFile);
const BIN = {
  vite7: join(ROOT, "node_modules/vite7/bin/vite.js"),
  vite8: join(ROOT, "node_modules/vite8/bin/vite.js"),
  webpack: join(ROOT, "node_modules/webpack-cli/bin/cli.js"),
};

/**
 * The app's page: what the README shows, with the results left in `window.result`. `head` is
 * code before it, and `options` the options of `inspectModule` and `Runtime.open` (none: the
 * package's own worker).
 */
const main = ({ head = "", options = "" } = {}) => `
import { Runtime, awaitOk, inspectModule, wasmTask } from "ipvm-web";
${head}
const wasm = new URL("./add.wasm", import.meta.url);

async function main() {
  const info = await inspectModule(wasm${options && `, ${options}`});
  const rt = await Runtime.open(${options});
  const module = await rt.addModule(wasm);
  const one = await wasmTask({ module, func: "add_one", args: [1] });
  const two = await wasmTask({ module, func: "add_one", args: [awaitOk(one.instruction)] });
  const events = [];
  const reports = await rt.run({ tasks: [one.task, two.task] }, { onEvent: (e) => events.push(e.type) });
  return {
    inspected: { cid: info.cid, exports: info.exports.map((e) => e.name) },
    module,
    pool: rt.workerStats(),
    events,
    reports: reports.map((r) => ({ status: r.status, ok: r.ok, engine: r.engine, receipt: r.receipt, out: JSON.parse(r.dagJson).out })),
  };
}

main().then(
  (result) => { window.result = result; },
  (e) => { window.result = { error: String(e && e.stack || e) }; },
);
`;

const VITE_HTML = '<!doctype html><html><head><link rel="icon" href="data:,"></head><body><script type="module" src="/src/main.js"></script></body></html>\n';
/**
 * Vite 7's dev server pre-bundles dependencies with esbuild into node_modules/.vite/deps/, where
 * the package's `new URL("./wasm/ipvm_web_bg.wasm", import.meta.url)` no longer finds the file
 * (the page gets index.html instead): the app excludes the package from pre-bundling. Vite 8's
 * dev server needs no such option, and no production build does.
 */
const VITE7_DEV_CONFIG = 'export default { optimizeDeps: { exclude: ["ipvm-web"] } };\n';
const WEBPACK_HTML = '<!doctype html><html><head><link rel="icon" href="data:,"></head><body><script src="main.js"></script></body></html>\n';
const WEBPACK_CONFIG = `
import { fileURLToPath } from "node:url";
export default {
  entry: "./src/main.js",
  output: { path: fileURLToPath(new URL("./dist", import.meta.url)), clean: true },
  // The runtime's .wasm is megabytes: more than webpack's size hint, as it must be.
  performance: { hints: false },
};
`;

let work, tarball, browser;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "ipvm-bundlers-"));
  const { stdout } = await run("npm", ["pack", "--silent", "--pack-destination", work], { cwd: join(ROOT, "pkg") });
  tarball = join(work, stdout.trim().split("\n").at(-1));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** A fresh app in `work/<name>` with the packed package installed from its tarball; `files` go in it. */
async function makeApp(name, files) {
  const app = join(work, name);
  await mkdir(join(app, "src"), { recursive: true });
  await writeFile(
    join(app, "package.json"),
    JSON.stringify({ name: `ipvm-web-${name}`, private: true, type: "module", dependencies: { "ipvm-web": `file:${tarball}` } }),
  );
  await run("npm", ["install", "--offline", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: app });
  await writeFile(join(app, "src", "main.js"), main());
  await copyFile(GUESTS_WASM, join(app, "src", "add.wasm"));
  for (const [path, text] of Object.entries(files)) await writeFile(join(app, path), text);
  return app;
}

/** Builds the app with webpack in `mode`, into app/dist with its page. */
async function webpackBuild(app, mode) {
  await run(process.execPath, [BIN.webpack, "build", "--mode", mode, "--config", "webpack.config.mjs"], { cwd: app });
  await writeFile(join(app, "dist", "index.html"), WEBPACK_HTML);
}

/** A free TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts Vite's dev server on the app; resolves to { url, stop } once it answers. */
async function viteDev(bin, app) {
  const port = await freePort();
  const child = spawn(process.execPath, [bin, "--host", "127.0.0.1", "--port", String(port), "--strictPort"], { cwd: app, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const stop = async () => {
    if (child.exitCode === null) child.kill();
    await exited;
  };
  const url = `http://127.0.0.1:${port}/`;
  for (const t0 = Date.now(); ; ) {
    if (child.exitCode !== null) throw new Error(`vite exited (${child.exitCode}):\n${output}`);
    const ok = await fetch(url).then((r) => r.ok, () => false);
    if (ok) return { url, stop };
    if (Date.now() - t0 > 30_000) {
      await stop();
      throw new Error(`vite's dev server did not answer within 30 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Serves a built app's dist/ with the project's static server. */
async function serveDist(app) {
  const { server, url } = await startServer({ root: join(app, "dist") });
  return { url, stop: () => new Promise((resolve) => server.close(resolve)) };
}

/** The page's result once it has one. */
async function resultOf(page) {
  await page.waitForFunction(() => window.result, null, { timeout: 60_000 });
  return page.evaluate(() => window.result);
}

/**
 * Loads the app: both tasks run on the pool's workers (IndexedDB), with the right outputs and an
 * inspected module; a reload answers both from the memo with the same receipts; no errors.
 * Resolves to the URLs of the workers the page started.
 */
async function checkApp(url) {
  const page = await freshPage(browser);
  const errors = watchErrors(page);
  const workers = [];
  page.on("worker", (w) => workers.push(w.url()));
  try {
    await page.goto(url);
    const first = await resultOf(page);
    assert.equal(first.error, undefined, first.error);
    assert.deepEqual(first.reports.map((r) => [r.status, r.ok, r.out]), [["ran", true, ["ok", 2]], ["ran", true, ["ok", 3]]]);
    for (const r of first.reports) assert.ok(r.engine === "fast" || r.engine === "wasmi", `engine ${r.engine}`);
    // The tasks went to the pool's workers (the reload below finds their receipts in IndexedDB).
    assert.ok(first.pool.workers > 0, `workers: ${JSON.stringify(first.pool)}`);
    assert.ok(first.pool.messages > 0, `no message carried a job to a worker: ${JSON.stringify(first.pool)}`);
    assert.equal(first.pool.replaced, 0, `workers failed: ${JSON.stringify(first.pool)}`);
    assert.ok(workers.length >= 1 + first.pool.workers, `the inspector and the pool started ${workers.length} workers`);
    // Both started the one worker script the bundler made of worker.js (not a copy of the file).
    assert.equal(new Set(workers).size, 1, workers.join(", "));
    // The inspector's worker described the module that was then stored.
    assert.equal(first.inspected.cid, first.module);
    assert.ok(first.inspected.exports.includes("add-one"), first.inspected.exports.join(", "));
    assert.deepEqual(errors, []);

    await page.reload();
    const second = await resultOf(page);
    assert.equal(second.error, undefined, second.error);
    assert.equal(second.module, first.module);
    assert.deepEqual(second.reports.map((r) => [r.status, r.ok, r.out]), [["reused", true, ["ok", 2]], ["reused", true, ["ok", 3]]]);
    assert.deepEqual(second.reports.map((r) => r.receipt), first.reports.map((r) => r.receipt));
    assert.equal(second.events.filter((e) => e === "memo-hit").length, 2, second.events.join(", "));
    assert.equal(second.pool.messages, 0, `a memo hit sent a job to a worker: ${JSON.stringify(second.pool)}`);
    assert.deepEqual(errors, []);
    return workers;
  } finally {
    await page.close();
  }
}

for (const vite of ["vite7", "vite8"]) {
  test(`${vite}: a production build (vite build, served statically) runs on the worker pool and memoizes`, { timeout: 300_000 }, async () => {
    const app = await makeApp(`${vite}-build`, { "index.html": VITE_HTML });
    await run(process.execPath, [BIN[vite], "build", "--logLevel", "warn"], { cwd: app });
    const server = await serveDist(app);
    try {
      const [worker] = await checkApp(server.url);
      assert.match(worker, /\/assets\/worker-[\w-]+\.js$/);
    } finally {
      await server.stop();
    }
  });

  test(`${vite}: the dev server runs on the worker pool and memoizes`, { timeout: 300_000 }, async () => {
    const config = vite === "vite7" ? { "vite.config.js": VITE7_DEV_CONFIG } : {};
    const app = await makeApp(`${vite}-dev`, { "index.html": VITE_HTML, ...config });
    const server = await viteDev(BIN[vite], app);
    try {
      const [worker] = await checkApp(server.url);
      assert.match(worker, /\/node_modules\/ipvm-web\/worker\.js\?worker_file&type=module$/);
    } finally {
      await server.stop();
    }
  });
}

for (const mode of ["production", "development"]) {
  test(`webpack 5: a ${mode} build, served statically, runs on the worker pool and memoizes`, { timeout: 300_000 }, async () => {
    const app = await makeApp(`webpack-${mode}`, { "webpack.config.mjs": WEBPACK_CONFIG });
    await webpackBuild(app, mode);
    const server = await serveDist(app);
    try {
      const [worker] = await checkApp(server.url);
      // The file the package names for webpack (a magic comment in the package's `new Worker`).
      assert.match(worker, /\/ipvm-web-worker\.js$/);
    } finally {
      await server.stop();
    }
  });
}

test("vite8: an app's own worker script (workerUrl: `import \"ipvm-web/worker.js\"` bundled with ?worker&url) runs the pool and the inspector", { timeout: 300_000 }, async () => {
  const app = await makeApp("vite8-worker-url", {
    "index.html": VITE_HTML,
    // The playground's pattern (www/worker.js): one line, so the package's exports and its
    // `sideEffects` decide whether the bundle has the worker's code.
    "src/app-worker.js": 'import "ipvm-web/worker.js";\n',
  });
  await writeFile(
    join(app, "src", "main.js"),
    main({ head: 'import workerUrl from "./app-worker.js?worker&url";', options: "{ workerUrl }" }),
  );
  await run(process.execPath, [BIN.vite8, "build", "--logLevel", "warn"], { cwd: app });
  const server = await serveDist(app);
  try {
    const workers = await checkApp(server.url);
    for (const url of workers) assert.match(url, /\/assets\/app-worker-[\w-]+\.js$/);
  } finally {
    await server.stop();
  }
});
