// The npm package as a user gets it: `npm pack` of pkg/, installed into a
// fresh Vite app, built with `vite build`, served, and run in Chromium.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { GUESTS_WASM, ROOT, freshPage, launchBrowser, startServer } from "./helpers.mjs";

const run = promisify(execFile);

const MAIN = `
import { Runtime, wasmTask, awaitOk } from "ipvm-web";
import moduleUrl from "./add.wasm?url";

const rt = await Runtime.open({ storage: "memory" });
const module = await rt.addModule(await fetch(moduleUrl));
const one = await wasmTask({ module, func: "add_one", args: [1] });
const two = await wasmTask({ module, func: "add_one", args: [awaitOk(one.instruction)] });
const reports = await rt.run({ tasks: [one.task, two.task] });
window.result = reports.map((r) => JSON.parse(r.dagJson).out);
document.body.textContent = JSON.stringify(window.result);
`;

test("a Vite app built against the packed package runs a workflow", { timeout: 300_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "ipvm-vite-"));
  try {
    const { stdout } = await run("npm", ["pack", "--silent", "--pack-destination", dir], { cwd: join(ROOT, "pkg") });
    const tarball = stdout.trim().split("\n").at(-1);
    const app = join(dir, "app");
    await mkdir(join(app, "src"), { recursive: true });
    await writeFile(
      join(app, "package.json"),
      JSON.stringify({
        name: "ipvm-web-smoke-app",
        private: true,
        type: "module",
        dependencies: { "ipvm-web": `file:../${tarball}` },
        devDependencies: { vite: "^7.0.0" },
      }),
    );
    await writeFile(join(app, "index.html"), '<!doctype html><html><head><link rel="icon" href="data:,"></head><body>…<script type="module" src="/src/main.js"></script></body></html>');
    await writeFile(join(app, "src", "main.js"), MAIN);
    await writeFile(join(app, "vite.config.js"), "export default { build: { target: 'es2022' } };\n");
    await copyFile(GUESTS_WASM, join(app, "src", "add.wasm"));
    await run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: app });
    await run(join(app, "node_modules", ".bin", "vite"), ["build", "--logLevel", "warn"], { cwd: app });

    const { server, url } = await startServer({ root: join(app, "dist") });
    const browser = await launchBrowser();
    try {
      const page = await freshPage(browser);
      const errors = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(url);
      await page.waitForFunction(() => window.result, null, { timeout: 60_000 });
      assert.deepEqual(await page.evaluate(() => window.result), [["ok", 2], ["ok", 3]]);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      server.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
