// Identity and trust in real Chromium, through the npm API: each runtime
// signs its receipts with a WebCrypto Ed25519 key kept in IndexedDB; a
// receipt from elsewhere is a memo hit only if a trusted signer vouches for
// it (or it was verified here); envelopes that are forged, truncated or
// moved are refused with their own reason; a spot-check that disagrees
// distrusts the signer across reloads. Signatures cross between the tab and
// the native CLI both ways; the forgeries are built in Node (forge.mjs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as dagCbor from "@ipld/dag-cbor";
import { CID } from "multiformats/cid";
import { base58btc } from "multiformats/bases/base58";
import { freshPage, GUESTS_WASM, ipvm } from "./helpers.mjs";
import { useSession } from "./session.mjs";
import * as forge from "./forge.mjs";

let url, browser;
useSession((s) => ({ url, browser } = s));

const blank = () => `${url}tests/e2e/pages/blank.html`;
const bytes = (u8) => Array.from(u8);
const dir = await mkdtemp(join(tmpdir(), "ipvm-trust-"));
const DID = /^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$/;

/**
 * In the page: opens runtime `name` (kept as window.rts[name]) with `options`, adds the guest
 * module, and builds add_one(n) tasks.
 */
async function open(page, name, args, options = {}) {
  return page.evaluate(
    async ({ name, args, options }) => {
      const ipvm = await import("/pkg/index.js");
      const rt = await ipvm.Runtime.open({ name, workers: 0, ...options });
      window.rts ??= {};
      window.rts[name] = rt;
      window.events ??= {};
      window.events[name] = [];
      const module = await rt.addModule(new URL("/www/modules/ipvm_guests.wasm", location.href));
      const tasks = [];
      for (const n of args) tasks.push((await ipvm.wasmTask({ module, func: "add_one", args: [n], fuel: 1_000_000, time: 60_000 })).task);
      return { module, tasks, did: await rt.identity() };
    },
    { name, args, options },
  );
}

test("a runtime has one Ed25519 identity: a did:key kept across reloads, its private key not extractable", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const first = await open(page, "me", []);
  assert.match(first.did, DID);
  const stored = await page.evaluate(async () => {
    await window.rts.me.close();
    const db = await new Promise((resolve, reject) => {
      const r = indexedDB.open("ipvm-web:me");
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    const identity = await new Promise((resolve) => {
      const get = db.transaction("settings").objectStore("settings").get("identity");
      get.onsuccess = () => resolve(get.result);
    });
    db.close();
    const key = identity.privateKey;
    let exported = "exported";
    try {
      await crypto.subtle.exportKey("pkcs8", key);
    } catch (e) {
      exported = e.name;
    }
    return { isKey: key instanceof CryptoKey, algorithm: key.algorithm.name, extractable: key.extractable, usages: key.usages, exported, did: identity.did };
  });
  assert.deepEqual(stored, { isKey: true, algorithm: "Ed25519", extractable: false, usages: ["sign"], exported: "InvalidAccessError", did: first.did });
  await page.reload();
  const again = await open(page, "me", []);
  assert.equal(again.did, first.did, "the same identity after a reload");
  // Another store has another identity; a memory runtime has one too.
  const other = await open(page, "someone-else", []);
  const memory = await open(page, "mem", [], { storage: "memory" });
  assert.match(memory.did, DID);
  assert.equal(new Set([first.did, other.did, memory.did]).size, 3);
  await page.close();
});

test("receipts computed on the worker pool carry the runtime's valid envelope", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const { tasks, did } = await open(page, "pooled", [3, 4], { workers: 1 });
  const result = await page.evaluate(async ({ tasks }) => {
    const rt = window.rts.pooled;
    const reports = await rt.run({ tasks });
    const checks = [];
    for (const r of reports) checks.push(await rt.verifyReceipt(r.receipt));
    return { workers: rt.workers, reports, checks };
  }, { tasks });
  assert.equal(result.workers, 1);
  for (const [i, r] of result.reports.entries()) {
    assert.equal(r.status, "ran");
    assert.deepEqual(r.signers, [did]);
    assert.equal(result.checks[i].valid, true, result.checks[i].message);
    assert.equal(result.checks[i].signer, did);
  }
  await page.close();
});

test("a receipt signed in the tab verifies natively, and a native run that trusts the tab reuses it", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const { tasks, did } = await open(page, "tab", [41]);
  const result = await page.evaluate(async ({ tasks }) => {
    const rt = window.rts.tab;
    const [report] = await rt.run({ tasks });
    const check = await rt.verifyReceipt(report.receipt);
    const stored = await rt.receipt(report.receipt);
    const car = await rt.exportCar([report.receipt]);
    return { report, check, signers: stored.signers, envelopes: stored.envelopes.length, car: Array.from(car) };
  }, { tasks });
  assert.deepEqual(result.report.signers, [did]);
  assert.equal(result.report.provenance, "computed");
  assert.deepEqual(result.signers, [did]);
  assert.equal(result.envelopes, 1);
  assert.equal(result.check.valid, true);
  assert.equal(result.check.signer, did);
  const car = join(dir, "tab.car");
  await writeFile(car, Uint8Array.from(result.car));
  // Natively: untrusted without --trust, valid with it.
  const untrusted = await ipvm(["verify-receipt", car]);
  assert.equal(untrusted.code, 1, untrusted.stderr);
  assert.match(untrusted.stdout, new RegExp(`^${result.report.receipt} untrusted \\(signed by ${did}`));
  const valid = await ipvm(["verify-receipt", car, "--trust", did]);
  assert.equal(valid.code, 0, valid.stdout + valid.stderr);
  assert.equal(valid.stdout.trim(), `${result.report.receipt} valid ${did}`);
  // A native run of the same workflow that trusts the tab reuses its receipt.
  const wf = join(dir, "tab.json");
  await writeFile(wf, JSON.stringify({ tasks }));
  const native = await ipvm(["run", wf, "--import", car, "--trust", did]);
  assert.equal(native.code, 0, native.stderr);
  assert.match(native.stderr, /memo-hit task 0/);
  assert.doesNotMatch(native.stderr, /started/);
  await page.close();
});

test("a receipt signed natively verifies in the tab; a tab that trusts the node reuses it", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const key = join(dir, "native.key");
  const node = (await ipvm(["key"], { IPVM_KEY: key })).stdout.trim();
  assert.match(node, DID);
  const { tasks } = await open(page, "probe", [7]);
  const wf = join(dir, "native.json");
  await writeFile(wf, JSON.stringify({ tasks }));
  const car = join(dir, "native.car");
  const ran = await ipvm(["run", wf, "--add", GUESTS_WASM, "--export", car], { IPVM_KEY: key });
  assert.equal(ran.code, 0, ran.stderr);
  const archive = bytes(await readFile(car));
  await open(page, "trusting", [], { trust: { signers: [node] } });
  await open(page, "wary", []);
  const result = await page.evaluate(async ({ archive, tasks, node }) => {
    const car = new Uint8Array(archive);
    const out = {};
    for (const name of ["trusting", "wary"]) {
      const rt = window.rts[name];
      const imported = await rt.importCar(car);
      const [report] = await rt.run({ tasks });
      const check = await rt.verifyReceipt(imported.vouched[0] ?? report.receipt);
      out[name] = { imported, report, check, stored: await rt.receipt(report.receipt), me: await rt.identity() };
    }
    return out;
  }, { archive, tasks, node });
  assert.equal(result.trusting.imported.vouched.length, 1);
  assert.equal(result.trusting.report.status, "reused");
  assert.deepEqual(result.trusting.report.signers, [node]);
  assert.equal(result.trusting.check.valid, true);
  assert.equal(result.trusting.check.signer, node);
  assert.deepEqual(result.wary.imported.vouched, []);
  assert.equal(result.wary.report.status, "ran", "the wary tab computes it itself");
  // The same receipt: the content names no executor; the node's envelope stays beside the tab's.
  assert.equal(result.wary.report.receipt, result.trusting.report.receipt);
  assert.deepEqual(result.wary.stored.signers, [result.wary.me, node]);
  await page.close();
});

test("a CAR from runtime A gives memo hits in B, which trusts A, and none in C until C verifies them", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const a = await open(page, "a", [1, 2]);
  const c = await open(page, "c", []);
  await open(page, "b", [], { trust: { signers: [a.did] } });
  const result = await page.evaluate(async ({ tasks, aDid, cDid }) => {
    const [A, B, C] = [window.rts.a, window.rts.b, window.rts.c];
    const first = await A.run({ tasks });
    const car = await A.exportCar(first.map((r) => r.receipt));
    const inB = await B.importCar(car);
    const runB = await B.run({ tasks });
    const inC = await C.importCar(car);
    const runC1 = await C.receiptFor(first[0].instruction);
    const listedC = await C.receipt(first[0].receipt);
    const verified = [];
    for (const r of first) verified.push(await C.verify(r.receipt));
    const afterC = await C.receipt(first[0].receipt);
    const runC2 = await C.run({ tasks });
    return { inB, runB, inC, runC1, listedC, verified, afterC, runC2, aDid, cDid };
  }, { tasks: a.tasks, aDid: a.did, cDid: c.did });
  assert.equal(result.inB.vouched.length, 2);
  assert.deepEqual(result.runB.map((r) => r.status), ["reused", "reused"]);
  assert.deepEqual(result.inC.vouched, []);
  assert.equal(result.runC1, null, "C has no memo hit before verifying");
  assert.equal(result.listedC.trusted, false);
  assert.deepEqual(result.listedC.signers, [a.did]);
  for (const v of result.verified) {
    assert.equal(v.verdict, "match");
    assert.equal(v.promoted, true);
    assert.equal(v.attested, true);
  }
  assert.deepEqual(result.afterC.signers, [a.did, c.did], "C's envelope is added");
  assert.equal(result.afterC.provenance, "verified");
  assert.deepEqual(result.runC2.map((r) => r.status), ["reused", "reused"]);
  await page.close();
});

test("forged, truncated and re-targeted envelopes are each refused with their own reason", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const { tasks, did } = await open(page, "victim", [1, 2]);
  const got = await page.evaluate(async ({ tasks }) => {
    const rt = window.rts.victim;
    const reports = await rt.run({ tasks });
    const out = [];
    for (const r of reports) {
      const stored = await rt.receipt(r.receipt);
      const car = await rt.exportCar([r.receipt]);
      out.push({ cid: r.receipt, envelope: Array.from(stored.envelopes[0]), car: Array.from(car) });
    }
    return out;
  }, { tasks });
  // The receipts' bytes, from the tab's own archives.
  const receiptBytes = (car, cid) => {
    const blocks = readCar(Uint8Array.from(car));
    return blocks.find((b) => b.cid.toString() === cid).bytes;
  };
  const [one, two] = got.map((g) => ({ ...g, bytes: receiptBytes(g.car, g.cid), envelope: Uint8Array.from(g.envelope) }));
  const rct = CID.parse(one.cid);
  const mallory = forge.key(66);
  const honest = forge.key(67);
  // A did:key of a secp256k1 key (multicodec e7 01).
  const secp = `did:key:${base58btc.encode(Uint8Array.from([0xe7, 0x01, 2, ...new Uint8Array(32).fill(7)]))}`;
  const swapped = (() => {
    // The victim's envelope with the payload's keys in reverse order: the same data, not canonical.
    const [sig, p] = dagCbor.decode(one.envelope);
    const enc = (v) => dagCbor.encode(v);
    const key = (k) => enc(k);
    const body = [...key("ipvm/attest@1"), ...enc(p["ipvm/attest@1"]), ...key("h"), ...enc(p.h)];
    return Uint8Array.from([0x82, ...enc(sig), 0xa2, ...body]);
  })();
  const cases = {
    // Signed by Mallory, naming the victim.
    forged: (await forge.envelope(mallory, rct, { iss: did })).bytes,
    truncated: one.envelope.subarray(0, one.envelope.length - 9),
    // The victim's valid envelope of receipt one, offered with receipt two.
    moved: one.envelope,
    // The victim's envelope with `rct` rewritten to receipt two, its signature kept.
    retargeted: (await forge.envelope(null, CID.parse(two.cid), { iss: did, signature: dagCbor.decode(one.envelope)[0] })).bytes,
    // Honestly signed, but over a header this runtime does not check (the pre-v1 one).
    header: (await forge.envelope(honest, rct, { header: Uint8Array.from([0x34, 0xed, 0x01, 0x71]) })).bytes,
    keyType: (await forge.envelope(honest, rct, { iss: secp })).bytes,
    nonCanonical: swapped,
  };
  const expected = {
    forged: "bad_signature",
    truncated: "malformed",
    moved: "cid_mismatch",
    retargeted: "bad_signature",
    header: "unknown_header",
    keyType: "unknown_key_type",
    nonCanonical: "non_canonical",
  };
  const answers = await page.evaluate(
    async ({ cases, one, two }) => {
      const rt = window.rts.victim;
      const out = {};
      for (const [name, env] of Object.entries(cases)) {
        const receipt = new Uint8Array(name === "moved" || name === "retargeted" ? two : one);
        out[name] = await rt.verifyReceipt({ receipt, envelopes: [new Uint8Array(env)] });
      }
      out.genuine = await rt.verifyReceipt({ receipt: new Uint8Array(one), envelopes: [] });
      return out;
    },
    { cases: Object.fromEntries(Object.entries(cases).map(([k, v]) => [k, bytes(v)])), one: bytes(one.bytes), two: bytes(two.bytes) },
  );
  for (const [name, reason] of Object.entries(expected)) {
    assert.equal(answers[name].valid, false, name);
    assert.equal(answers[name].reason, reason, `${name}: ${answers[name].message}`);
    assert.ok(answers[name].message.length > 10, name);
  }
  assert.equal(answers.genuine.reason, "unsigned");
  // In a CAR, a forged envelope is refused with its reason, and vouches for nothing.
  const inv = await forge.invocation(tasks[0]);
  const forgedEnv = await forge.envelope(mallory, rct, { iss: did });
  const car = forge.car([inv, { cid: rct, bytes: one.bytes }, forgedEnv]);
  const imported = await page.evaluate(async ({ car, did }) => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: "gullible", workers: 0, trust: { signers: [did] } });
    return rt.importCar(new Uint8Array(car));
  }, { car: bytes(car), did });
  assert.deepEqual(imported.vouched, []);
  assert.equal(imported.envelopes, 0);
  assert.equal(imported.refused.length, 1);
  assert.equal(imported.refused[0].envelope, forgedEnv.cid.toString());
  assert.equal(imported.refused[0].reason, "bad_signature");
  await page.close();
});

test("a spot-check that disagrees distrusts the signer, and the distrust survives a reload", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const liar = forge.key(13);
  const { tasks } = await open(page, "checker", [1, 5], { trust: { signers: [liar.did], verifyRate: 1 } });
  // The liar signs `add_one(1) = 999` and `add_one(5) = 999`.
  const lies = [];
  for (const task of tasks) {
    const inv = await forge.invocation(task);
    const lie = await forge.receipt(inv.cid, ["ok", 999], { v: forge.RECEIPT_VERSION, fuel: 5 });
    lies.push([inv, lie, await forge.envelope(liar, lie.cid)]);
  }
  const first = await page.evaluate(
    async ({ car, tasks }) => {
      const rt = window.rts.checker;
      const imported = await rt.importCar(new Uint8Array(car));
      const [report] = await rt.run({ tasks: [tasks[0]] }, { onEvent: (e) => window.events.checker.push(e) });
      return { imported, report, events: window.events.checker, trust: await rt.trust() };
    },
    { car: bytes(forge.car(lies[0])), tasks },
  );
  assert.equal(first.imported.vouched.length, 1);
  assert.equal(first.report.status, "ran");
  assert.equal(first.report.ok, true);
  assert.equal(JSON.parse(first.report.dagJson).out[1], 2, "the right answer, computed here");
  assert.ok(first.events.some((e) => e.type === "spot-check" && e.verdict === "mismatch" && e.receipt === lies[0][1].cid.toString()));
  assert.ok(first.events.some((e) => e.type === "distrusted" && e.signer === liar.did));
  assert.deepEqual(first.trust.distrusted.map((d) => d.signer), [liar.did]);
  // After a reload, opened with the same options: still distrusted, and its next lie vouches for nothing.
  await page.reload();
  await open(page, "checker", [], { trust: { signers: [liar.did], verifyRate: 1 } });
  const after = await page.evaluate(async ({ car }) => {
    const rt = window.rts.checker;
    const trust = await rt.trust();
    const imported = await rt.importCar(new Uint8Array(car));
    return { trust, imported };
  }, { car: bytes(forge.car(lies[1])) });
  assert.deepEqual(after.trust.distrusted.map((d) => d.signer), [liar.did]);
  assert.deepEqual(after.trust.signers, [liar.did]);
  assert.deepEqual(after.imported.vouched, []);
  // Cleared by the user: its receipts count again (the user's decision, lie included).
  const lieInstruction = await page.evaluate(async (run) => (await import("/pkg/index.js")).instructionCid(run), tasks[1].run);
  const cleared = await page.evaluate(async ({ liar, instruction }) => {
    const rt = window.rts.checker;
    const before = await rt.receiptFor(instruction);
    const was = await rt.clearDistrust(liar);
    return { was, trust: await rt.trust(), before, after: await rt.receiptFor(instruction) };
  }, { liar: liar.did, instruction: lieInstruction });
  assert.equal(cleared.was, true);
  assert.deepEqual(cleared.trust.distrusted, []);
  assert.equal(cleared.before, null);
  assert.equal(cleared.after?.cid, lies[1][1].cid.toString());
  await page.close();
});

test("bad trust options are refused at open, naming the field", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const errors = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const out = [];
    for (const trust of [{ signers: ["did:web:example.com"] }, { signers: "x" }, { verifyRate: 2 }, { signer: [] }]) {
      try {
        await ipvm.Runtime.open({ name: "bad-trust", workers: 0, trust });
        out.push("opened");
      } catch (e) {
        out.push(`${e.code}: ${e.message}`);
      }
    }
    return out;
  });
  assert.match(errors[0], /^ERR_ARGUMENT: trust\.signers\[0\]: .*not a did:key/);
  assert.match(errors[1], /^ERR_ARGUMENT: trust\.signers: expected a list/);
  assert.match(errors[2], /^ERR_ARGUMENT: trust\.verifyRate: expected a number from 0 to 1/);
  assert.match(errors[3], /^ERR_ARGUMENT: trust\.signer: unknown option/);
  await page.close();
});

/** The blocks of a CARv1 archive. */
function readCar(car) {
  let at = 0;
  const varint = () => {
    let n = 0;
    let shift = 0;
    for (;;) {
      const b = car[at++];
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
      shift += 7;
    }
  };
  const headerLength = varint();
  at += headerLength;
  const blocks = [];
  while (at < car.length) {
    const length = varint();
    const end = at + length;
    const cid = CID.decodeFirst(car.subarray(at))[0];
    const cidLength = cid.bytes.length;
    blocks.push({ cid, bytes: car.subarray(at + cidLength, end) });
    at = end;
  }
  return blocks;
}

test("a browser without Ed25519 in WebCrypto gets a clear error at open", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const errors = await page.evaluate(async () => {
    // As a browser without Ed25519 answers (NotSupportedError from generateKey).
    const generateKey = crypto.subtle.generateKey.bind(crypto.subtle);
    crypto.subtle.generateKey = (alg, ...rest) =>
      (alg === "Ed25519" || alg?.name === "Ed25519")
        ? Promise.reject(new DOMException("Algorithm: Unrecognized name", "NotSupportedError"))
        : generateKey(alg, ...rest);
    const ipvm = await import("/pkg/index.js");
    const out = [];
    for (const storage of ["memory", "indexeddb"]) {
      try {
        await ipvm.Runtime.open({ name: "no-ed25519", storage, workers: 0 });
        out.push("opened");
      } catch (e) {
        out.push(`${e.code}: ${e.message}`);
      }
    }
    return out;
  });
  for (const e of errors) assert.match(e, /^ERR_STORE: .*no Ed25519 \(it needs Chrome 137, Firefox 129 or Safari 17/);
  await page.close();
});

test("UCAN in the tab: a delegated invocation runs once; replays, excess fuel, strangers and forgeries are refused and run nothing", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const node = await open(page, "ucan-node", [], { trust: {} });
  const alice = await open(page, "ucan-alice", [], { storage: "memory" });
  const bob = await open(page, "ucan-bob", [], { storage: "memory" });
  const result = await page.evaluate(async ({ module, nodeDid, aliceDid, bobDid }) => {
    const [N, A, B] = [window.rts["ucan-node"], window.rts["ucan-alice"], window.rts["ucan-bob"]];
    const now = Math.floor(Date.now() / 1000);
    const grant = await N.delegate({ aud: aliceDid, cmd: "/wasm/run", pol: [["<=", ".fuel", 1000000], ["==", ".func", "add-one"]], exp: now + 600 });
    const invoke = (o) => A.invoke({ aud: nodeDid, sub: nodeDid, module, func: "add-one", args: [41], fuel: 1000, prf: [grant.cid], exp: now + 60, ...o });
    const attempt = async (token, proofs = [grant.bytes]) => {
      try {
        const r = await N.runInvocation(token.bytes ?? token, proofs);
        return { ok: true, status: r.status, out: JSON.parse(r.dagJson).out, prf: JSON.parse(r.dagJson).prf };
      } catch (e) {
        const receipt = e.receipt ? await N.receipt(e.receipt) : null;
        return { ok: false, code: e.code, reason: e.reason, message: e.message, receipt: receipt && JSON.parse(receipt.dagJson).out };
      }
    };
    const good = await invoke({});
    const out = {};
    out.first = await attempt(good);
    out.replay = await attempt(good);
    out.greedy = await attempt(await invoke({ fuel: 2000000 }));
    out.otherFunc = await attempt(await invoke({ func: "transpose", args: [[]] }));
    out.noProof = await attempt(await invoke({ prf: [] }), []);
    out.late = await attempt(await invoke({ exp: now - 1 }));
    out.noExp = await attempt(await invoke({ exp: undefined }));
    out.elsewhere = await attempt(await invoke({ aud: aliceDid }));
    const forged = (await invoke({})).bytes.slice();
    forged[5] ^= 1;
    out.forged = await attempt(forged);
    out.truncated = await attempt(good.bytes.slice(0, 40));
    // A chain of two, node → Bob → Alice: Bob's grant is not in the node's store until addProof.
    const toBob = await N.delegate({ aud: bobDid, cmd: "/wasm", pol: [], exp: now + 600 });
    const toAlice = await B.delegate({ aud: aliceDid, sub: nodeDid, cmd: "/wasm/run", pol: [], exp: now + 600 });
    const chained = () => invoke({ prf: [toBob.cid, toAlice.cid] });
    out.missing = await attempt(await chained(), []);
    await N.addProof(toAlice.bytes);
    out.stored = await attempt(await chained(), []);
    out.badProof = await N.addProof(new Uint8Array([1, 2, 3])).then(() => "added", (e) => `${e.code}: ${e.reason}`);
    return { out, grantCid: grant.cid, good: Array.from(good.bytes), grant: Array.from(grant.bytes) };
  }, { module: node.module, nodeDid: node.did, aliceDid: alice.did, bobDid: bob.did });
  const { out } = result;
  assert.equal(out.first.ok, true, out.first.message);
  assert.deepEqual(out.first.out, ["ok", 42]);
  assert.deepEqual(out.first.prf, [{ "/": result.grantCid }]);
  const refused = {
    replay: "Replay",
    greedy: "MatchError",
    otherFunc: "MatchError",
    noProof: "InvalidClaim",
    late: "Expired",
    noExp: "InvalidClaim",
    elsewhere: "InvalidAudience",
    forged: "InvalidSignature",
    truncated: "Malformed",
    missing: "UnavailableProof",
  };
  for (const [name, reason] of Object.entries(refused)) {
    assert.equal(out[name].ok, false, name);
    assert.equal(out[name].code, "ERR_UNAUTHORIZED", name);
    assert.equal(out[name].reason, reason, `${name}: ${out[name].message}`);
  }
  // A refused invocation whose task is known leaves an unauthorized receipt; nothing ran.
  assert.equal(out.greedy.receipt[1].kind, "unauthorized");
  // A forgery leaves nothing: this runtime writes and signs nothing for it.
  assert.equal(out.forged.receipt, null);
  assert.equal(out.stored.ok, true, out.stored.message);
  assert.equal(out.badProof, "ERR_UNAUTHORIZED: Malformed");
  // After a reload, the node still refuses the replay (its seen-set is kept in the store).
  await page.reload();
  await open(page, "ucan-node", [], { trust: {} });
  const again = await page.evaluate(async ({ good, grant }) => {
    try {
      await window.rts["ucan-node"].runInvocation(new Uint8Array(good), [new Uint8Array(grant)]);
      return "ran";
    } catch (e) {
      return `${e.code}: ${e.reason}`;
    }
  }, { good: result.good, grant: result.grant });
  assert.equal(again, "ERR_UNAUTHORIZED: Replay");
  await page.close();
});

test("token nonces come from crypto.getRandomValues, not Math.random: a page that replaces Math.random cannot predict them", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const tokens = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    // A script on the page pins Math.random before the runtime opens.
    Math.random = () => 0;
    const rt = await ipvm.Runtime.open({ name: "nonces", storage: "memory", workers: 0 });
    const me = await rt.identity();
    const out = [];
    for (let i = 0; i < 2; i++) out.push(Array.from((await rt.delegate({ aud: me, cmd: "/wasm/run", pol: [] })).bytes));
    return out;
  });
  const nonces = tokens.map((t) => {
    const [, body] = dagCbor.decode(Uint8Array.from(t));
    return Array.from(body["ucan/dlg@1.0.0"].nonce);
  });
  assert.equal(nonces[0].length, 12);
  assert.notDeepEqual(nonces[0], new Array(12).fill(0), "a nonce is not Math.random's");
  assert.notDeepEqual(nonces[0], nonces[1], "two delegations have different nonces");
  await page.close();
});

test("runInvocation refuses more proofs than a chain may hold before decoding any of them", async () => {
  const page = await freshPage(browser);
  await page.goto(blank());
  const error = await page.evaluate(async () => {
    const ipvm = await import("/pkg/index.js");
    const rt = await ipvm.Runtime.open({ name: "many-proofs", storage: "memory", workers: 0 });
    const junk = Array.from({ length: 17 }, () => new Uint8Array(8));
    return rt.runInvocation(new Uint8Array(8), junk).then(() => null, (e) => ({ code: e.code, message: e.message }));
  });
  assert.equal(error?.code, "ERR_ARGUMENT");
  assert.match(error.message, /proofs: 17 given, more than the 16/);
  await page.close();
});
