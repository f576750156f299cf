// One static server and one headless Chromium per test file: registers the
// node:test hooks that start them before the file's tests and stop them after.
import { before, after } from "node:test";
import { launchBrowser, startServer } from "./helpers.mjs";

/** Starts the server and the browser before the tests; `onReady({ url, browser })` receives them. */
export function useSession(onReady) {
  let server, browser;
  before(async () => {
    let url;
    ({ server, url } = await startServer());
    browser = await launchBrowser();
    onReady({ url, browser });
  });
  after(async () => {
    await browser?.close();
    server?.close();
  });
}
