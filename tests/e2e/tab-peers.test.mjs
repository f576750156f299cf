// Receipts from peers in a tab (#28), on loopback: `ipvm node` serves the receipts of a
// 20-task workflow it computed. A page that trusts the node's DID runs the workflow with zero
// executions: every task is a memo hit with provenance `received`, its report naming the node,
// and the module is never fetched (a task the memo answers needs nothing). A page that trusts no
// one computes everything (the module fetched from the node by bitswap), and each report says why
// the node's receipt was not used. Both get the receipts the node computed.
import "./node20.mjs";
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { GUESTS_WASM, freshPage, freshStoreDir, ipvm, launchBrowser, startServer, watchErrors } from "./helpers.mjs";
import { addOneChains, startNode } from "./nodes.mjs";

test("a page that trusts a node gets a 20-task workflow's receipts from it with zero executions; a page that trusts no one computes them and says why it did not use the node's", { timeout: 240_000 }, async () => {
  const dir = freshStoreDir();
  const wfPath = await addOneChains(dir, 10);
  const workflow = JSON.parse(readFileSync(wfPath, "utf8"));
  const key = join(dir, "key-a");
  const store = join(dir, "store-a");
  const first = await ipvm(["run", wfPath, "--key", key, "--store", store, "--add", GUESTS_WASM]);
  assert.equal(first.code, 0, first.stderr);
  // The receipts the node computed (DAG-JSON, one per line).
  const computed = first.stdout.trim().split("\n");
  assert.equal(computed.length, 20);
  const node = await startNode(dir, ["--key", key, "--store", store, "--log", "debug"]);
  const addr = node.info.multiaddrs[0];
  const { server, url } = await startServer();
  const browser = await launchBrowser();
  try {
    const runOn = async (name, trust) => {
      const page = await freshPage(browser);
      const errors = watchErrors(page);
      await page.goto(`${url}tests/e2e/pages/blank.html`);
      const out = await page.evaluate(async ({ name, trust, addr, workflow }) => {
        const { Runtime } = await import("/pkg/index.js");
        const rt = await Runtime.open({ name, workers: 0, peers: [addr], trust });
        const deadline = Date.now() + 20_000;
        while (!rt.peers().some((p) => p.bound) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        const events = [];
        const reports = await rt.run(workflow, { onEvent: (e) => events.push(e) });
        const kinds = {};
        for (const e of events) kinds[e.type] = (kinds[e.type] ?? 0) + 1;
        await rt.close();
        return {
          kinds,
          reports: reports.map(({ task, instruction, status, provenance, receipt, peers, dagJson }) => ({ task, instruction, status, provenance, receipt, peers, dagJson })),
        };
      }, { name, trust, addr, workflow });
      assert.deepEqual(errors, []);
      return out;
    };

    // Trusting the node: every task answered by its receipts, nothing executed, nothing fetched.
    const trusting = await runOn("tab-peers-trusting", { signers: [node.info.did] });
    assert.equal(trusting.reports.length, 20);
    for (const r of trusting.reports) {
      assert.equal(r.status, "reused", JSON.stringify(r));
      assert.equal(r.provenance, "received", JSON.stringify(r));
      assert.equal(r.peers.from, node.info.peerId, JSON.stringify(r));
    }
    assert.equal(trusting.kinds.started ?? 0, 0, JSON.stringify(trusting.kinds));
    assert.equal(trusting.kinds.fetched ?? 0, 0, JSON.stringify(trusting.kinds));
    assert.equal(trusting.kinds["memo-hit"], 20, JSON.stringify(trusting.kinds));
    // The node answered one lookup per ready set: two.
    const served = node.stderr().split("\n").filter((l) => l.includes("lookup from"));
    assert.equal(served.length, 2, node.stderr());

    // Trusting no one: every task computed here, each report saying why the node's receipt was not used.
    const alone = await runOn("tab-peers-alone", undefined);
    for (const r of alone.reports) {
      assert.equal(r.status, "ran", JSON.stringify(r));
      assert.equal(r.provenance, "computed");
      assert.equal(r.peers.from, null);
      assert.equal(r.peers.unused.length, 1, JSON.stringify(r.peers));
      assert.ok(r.peers.unused[0].startsWith(`${node.info.peerId}: receipt `), r.peers.unused[0]);
      assert.ok(r.peers.unused[0].includes(`signed by ${node.info.did}, a signer this runtime does not trust`), r.peers.unused[0]);
    }
    assert.equal(alone.kinds.finished, 20, JSON.stringify(alone.kinds));
    // The module came from the node by bitswap, once (every task of the run needed it).
    assert.equal(alone.kinds.fetched, 1, JSON.stringify(alone.kinds));

    // The same receipts everywhere: the node's, received and computed.
    for (const [i, r] of trusting.reports.entries()) assert.equal(r.receipt, alone.reports[i].receipt, `task ${i}`);
    assert.deepEqual(trusting.reports.map((r) => r.dagJson).sort(), [...computed].sort());
  } finally {
    await browser.close();
    server.close();
    await node.stop();
  }
});
