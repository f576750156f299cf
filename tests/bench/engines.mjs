// `npm run bench`: the engine benchmark in headless Chromium (see www/bench.js).
// Prints figures; asserts nothing about speed.
import { launchBrowser, startServer } from "../e2e/helpers.mjs";

const { server, url } = await startServer();
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  page.on("console", (m) => m.type() === "error" && console.error(m.text()));
  await page.goto(`${url}www/bench.html`);
  await page.waitForFunction(() => typeof window.benchEngines === "function");
  const rows = await page.evaluate(() => window.benchEngines({ repeat: 3 }));
  console.log("\nwasmi inside Chromium vs Chromium's own WebAssembly engine, same module (median of 3):");
  console.log("kernel          browser (ms)   wasmi (ms)   ratio   wasmi fuel     same output");
  for (const r of rows) {
    console.log(
      `${r.kernel.padEnd(15)} ${r.browserMs.toFixed(1).padStart(12)} ${r.wasmiMs.toFixed(1).padStart(12)} ${(r.ratio.toFixed(1) + "×").padStart(7)}   ${String(r.fuel).padStart(12)}   ${r.sameOutput ? "yes" : "NO"}`,
    );
  }
} finally {
  await browser.close();
  server.close();
}
