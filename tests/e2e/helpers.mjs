// Shared pieces of the end-to-end tests: paths to build outputs, a headless
// Chromium (Debian's, through playwright-core), the static server, and the
// native CLI.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium } from "playwright-core";
import { ROOT, startServer } from "../../scripts/serve.mjs";

export { ROOT, startServer };

// The optimised binary scripts/build.sh gives users (profile cli).
export const IPVM_BIN = process.env.IPVM_BIN ?? join(ROOT, ".build/bin/ipvm");
export const GUESTS_WASM = join(ROOT, "www/modules/ipvm_guests.wasm");

/** Launches Debian's headless Chromium with the flags this network needs. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/** A page in a fresh browser context: its own IndexedDB, nothing shared with other tests. */
export async function freshPage(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("close", () => context.close().catch(() => {}));
  return page;
}

/** A key file of the tests' own (never the user's ~/.config/ipvm/key). */
export const TEST_KEY = join(tmpdir(), `ipvm-test-key-${process.pid}`);

/** A fresh directory for a store (pass it as `--store DIR`, or as `XDG_DATA_HOME` to `ipvm`). */
export const freshStoreDir = () => mkdtempSync(join(tmpdir(), "ipvm-test-store-"));

/**
 * Runs the native `ipvm` CLI; resolves to { code, stdout, stderr } (never rejects on exit codes).
 * `env` adds to the environment; the key is TEST_KEY unless `env.IPVM_KEY` says otherwise.
 * Each call has a store of its own (a fresh `XDG_DATA_HOME`; never the user's), as each process
 * had before the CLI kept a store: calls share one only through `--store DIR` or `env.XDG_DATA_HOME`.
 */
export async function ipvm(args, env = {}) {
  // The call's own store is removed after it; a store the caller names is the caller's.
  const own = env.XDG_DATA_HOME === undefined ? freshStoreDir() : undefined;
  try {
    const { stdout, stderr } = await promisify(execFile)(IPVM_BIN, args, {
      env: { ...process.env, IPVM_KEY: TEST_KEY, XDG_DATA_HOME: own, ...env },
      maxBuffer: 64 << 20,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    if (typeof e.code !== "number") throw e;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  } finally {
    if (own) rmSync(own, { recursive: true, force: true });
  }
}

/** Collects console errors and page errors so a test can assert there were none. */
export function watchErrors(page) {
  const errors = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && errors.push(`console: ${m.text()}`));
  return errors;
}
