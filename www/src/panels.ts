// The playground's smaller panels: the function library (a module's CID and
// signatures), trust (this tab's DID, its signers, what a CAR import made of
// each receipt), storage (usage, persistence, export, import, clear) and
// speed (the same task on both engines).
import { Runtime, inspectModule, wasmTask, type Cid, type ImportReport, type ModuleInfo } from "ipvm-web";
import type { Receipts } from "./receipts.js";
import { $, GUESTS, WORKER, h, busy, bytes, errorText, ms, short, statusLine } from "./ui.js";

/** The guest module's functions, and a drop zone that describes any module. */
export function library(module: Cid, guests: Uint8Array) {
  const show = (info: ModuleInfo, title: string) =>
    h(
      "div",
      { class: "module", "data-cid": info.cid },
      h("p", {}, h("strong", {}, title), ` · `, h("code", { class: "module-cid", title: info.cid }, info.cid), ` · ${info.shape} · ${bytes(info.size)} · `, info.fast ? "runs on the fast path" : `wasmi only: ${info.fastRefusal}`),
      h("ul", { class: "sigs" }, ...info.exports.map((e) => h("li", {}, h("code", {}, h("b", {}, e.name), ": ", e.signature)))),
      info.imports.length ? h("details", {}, h("summary", {}, `${info.imports.length} imports`), h("ul", { class: "sigs" }, ...info.imports.map((e) => h("li", {}, h("code", {}, `${e.name}: ${e.signature}`))))) : null,
    );
  // Describing the module meters it (tens of ms on this thread): once the page is idle, not at start.
  const later = (f: () => void) => ("requestIdleCallback" in window ? requestIdleCallback(f, { timeout: 2_000 }) : setTimeout(f, 200));
  later(() => void inspectModule(guests).then(
    (info) => $("lib-list").replaceChildren(show(info, info.cid === module ? "the project's guest module" : "guest module")),
    (e) => $("lib-list").replaceChildren(h("p", { class: "error" }, errorText(e))),
  ));
  const describe = async (file: File) => {
    try {
      $("lib-info").replaceChildren(show(await inspectModule(new Uint8Array(await file.arrayBuffer())), file.name));
    } catch (e) {
      $("lib-info").replaceChildren(h("p", { class: "error", role: "alert" }, `${file.name}: ${errorText(e)}`));
    }
  };
  const input = $<HTMLInputElement>("lib-file");
  input.addEventListener("change", () => input.files?.[0] && void describe(input.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => (e.preventDefault(), drop.classList.add("over")));
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer?.files[0];
    if (file) void describe(file);
  });
}

/** The trust panel; returns its refresh, and a reporter for CAR imports (also used by storage). */
export function trust(rt: Runtime, receipts: Receipts) {
  const refresh = async () => {
    const t = await rt.trust();
    $("trust-facts").replaceChildren(
      h("dt", {}, "this tab"),
      h("dd", {}, h("code", { id: "trust-did" }, t.self), " (its key is a non-extractable WebCrypto Ed25519 key in IndexedDB)"),
      h("dt", {}, "also trusted"),
      h("dd", {}, t.signers.length ? t.signers.join(", ") : "no other signer: receipts from elsewhere are reused only once verified here"),
      h("dt", {}, "distrusted"),
      h("dd", {}, t.distrusted.length ? t.distrusted.map((d) => `${d.signer}: ${d.reason}`).join("; ") : "none"),
    );
  };
  const input = $<HTMLInputElement>("trust-car");
  input.addEventListener("change", async () => {
    const file = input.files?.[0];
    if (file) await importCar(rt, receipts, file, refresh);
    input.value = "";
  });
  void refresh().catch(() => {});
  return refresh;
}

/** Imports a CAR and says, receipt by receipt, whether it is now a memo hit here, and why (not). */
export async function importCar(rt: Runtime, receipts: Receipts, file: File, refresh: () => Promise<void>) {
  const out = $("car-report");
  out.replaceChildren(h("p", {}, `importing ${file.name}…`));
  let report: ImportReport;
  try {
    report = await rt.importCar(new Uint8Array(await file.arrayBuffer()));
  } catch (e) {
    out.replaceChildren(h("p", { class: "error", role: "alert" }, `${file.name}: ${errorText(e)} (nothing was stored)`));
    return;
  }
  const me = await rt.identity();
  const rows = await Promise.all(
    report.listed.map(async (cid) => {
      const r = await rt.receipt(cid);
      if (!r) return h("li", {}, receipts.cid(cid), " not stored");
      const why = r.trusted
        ? r.provenance === "computed" || r.provenance === "verified"
          ? `a memo hit: already ${r.provenance} here`
          : `a memo hit: vouched for by a trusted signer`
        : !r.reusable
          ? `not a memo hit: ${r.notReusableBecause}`
          : r.signers.length
            ? `not a memo hit: signed by ${r.signers.map((s) => (s === me ? "this tab" : short(s))).join(", ")}, not trusted here; Verify re-runs it`
            : "not a memo hit: unsigned; Verify re-runs it";
      return h("li", { "data-receipt": cid, "data-trusted": String(r.trusted), "data-provenance": r.provenance }, receipts.cid(cid), ` ${r.provenance} · ${why}`);
    }),
  );
  // Receipts not trusted here become memo hits once a re-run here matches them. An await needs its
  // input trusted first, so this goes round until a pass verifies nothing new.
  const pending = report.listed.filter((_, i) => rows[i].dataset.trusted === "false");
  const verifyAll = h("button", { type: "button", id: "car-verify" }, `Verify the ${pending.length} untrusted receipts here`);
  verifyAll.addEventListener(
    "click",
    busy(
      verifyAll,
      async () => {
        let left = [...pending];
        for (let progress = true; progress && left.length; ) {
          progress = false;
          for (const cid of [...left]) {
            const row = out.querySelector(`li[data-receipt="${cid}"]`) as HTMLElement | null;
            let v;
            try {
              v = await rt.verify(cid);
            } catch (e) {
              if ((e as { code?: string }).code === "ERR_UNTRUSTED_INPUT") continue; // an awaited input is not trusted yet
              left = left.filter((c) => c !== cid);
              row?.replaceChildren(receipts.cid(cid), ` not verified: ${errorText(e)}`);
              continue;
            }
            left = left.filter((c) => c !== cid);
            progress = true;
            if (!row) continue;
            row.dataset.trusted = String(v.verdict === "match");
            row.dataset.provenance = v.verdict === "match" ? "verified" : row.dataset.provenance;
            row.replaceChildren(receipts.cid(cid), v.verdict === "match" ? ` verified · a memo hit now: the re-run on ${v.engine} wrote the same receipt` : ` ${v.verdict} · ${v.reason ?? `the re-run on ${v.engine} wrote another receipt`}`);
          }
        }
        verifyAll.textContent = left.length ? `${left.length} could not be verified here` : "all verified";
        await refresh();
      },
      (t) => (verifyAll.textContent = t),
    ),
  );
  out.replaceChildren(
    h("p", { id: "car-summary" }, `${file.name}: ${report.blocks} blocks, ${report.receipts} new receipts, ${report.known} already here, ${report.envelopes} signatures kept, ${report.vouched.length} vouched for, ${report.refused.length} signatures refused.`),
    h("ul", { class: "receipts" }, ...rows),
    ...(pending.length ? [verifyAll] : []),
    ...report.refused.map((r) => h("p", { class: "error" }, `signature ${short(r.envelope)} refused: ${r.reason}: ${r.message}`)),
  );
  await refresh();
}

/** The storage panel. */
export function storage(rt: Runtime, receipts: Receipts, refreshTrust: () => Promise<void>): () => Promise<void> {
  const status = statusLine("st-status");
  const refresh = async () => {
    const s = await rt.storage();
    $("st-facts").replaceChildren(
      h("dt", {}, "stored"),
      h("dd", { id: "st-counts" }, `${s.receipts} receipts, ${s.blocks} blocks`),
      h("dt", {}, "usage"),
      h("dd", {}, `${bytes(s.usage)} of ${bytes(s.quota)}${s.usage !== null && s.quota ? ` (${((100 * s.usage) / s.quota).toFixed(2)}%)` : ""}`),
      h("dt", {}, "persistent"),
      h("dd", {}, s.persisted === null ? "the browser does not say" : s.persisted ? "yes: the browser will not evict it" : "no: the browser may evict it under storage pressure"),
    );
  };
  $("st-persist").addEventListener(
    "click",
    busy($<HTMLButtonElement>("st-persist"), async () => {
      const granted = await navigator.storage?.persist?.();
      status(granted ? "the browser keeps this storage" : "the browser declined (it decides by how the site is used)");
      await refresh();
    }, status),
  );
  $("st-export").addEventListener(
    "click",
    busy($<HTMLButtonElement>("st-export"), async () => {
      // Every receipt a run of this store recorded (the run records name their instructions).
      const instructions = new Set((await rt.runs()).flatMap((run) => run.tasks.map((t) => t.instruction)));
      const cids = new Set<Cid>();
      for (const i of instructions) for (const r of await rt.receiptsFor(i)) cids.add(r.cid);
      if (!cids.size) return status("nothing to export yet: run a workflow first");
      const car = await rt.exportCar([...cids]);
      const a = h("a", { href: URL.createObjectURL(new Blob([car as BlobPart], { type: "application/vnd.ipld.car" })), download: `ipvm-receipts-${new Date().toISOString().slice(0, 19).replace(/:/g, "")}.car` });
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
      status(`exported ${cids.size} receipts with their invocations and modules: ${bytes(car.length)}`);
    }, status),
  );
  const input = $<HTMLInputElement>("st-import");
  input.addEventListener("change", async () => {
    const file = input.files?.[0];
    if (file) await importCar(rt, receipts, file, refreshTrust);
    input.value = "";
    status(document.getElementById("car-summary")?.textContent ?? document.querySelector("#car-report .error")?.textContent ?? "", !document.getElementById("car-summary"));
    await refresh();
  });
  const dialog = $<HTMLDialogElement>("confirm");
  $("st-clear").addEventListener("click", async () => {
    const s = await rt.storage();
    $("confirm-text").textContent = `Delete ${s.receipts} receipts and ${s.blocks} blocks, and this tab's signing key? A new key (a new DID) is made next time. Export first to keep them.`;
    dialog.showModal();
  });
  dialog.addEventListener("close", async () => {
    if (dialog.returnValue !== "yes") return status("nothing deleted");
    status("deleting…");
    try {
      await rt.clear();
      location.reload();
    } catch (e) {
      status(`${errorText(e)}. Reload the page to go on.`, true);
    }
  });
  void refresh().catch(() => {});
  setInterval(() => void refresh().catch(() => {}), 5_000);
  return refresh;
}

/** The same tasks on the fast path and on wasmi, timed where they ran. */
export function speed(rt: Runtime, module: Cid, picture: { cid: Cid }) {
  let wasmi: Runtime | null = null;
  const button = $<HTMLButtonElement>("speed-run");
  button.disabled = false;
  const status = statusLine("speed-status");
  button.addEventListener(
    "click",
    busy(button, async () => {
      // A store of its own, so the races neither crowd the main store nor hold it open when it is cleared.
      if (!wasmi) {
        wasmi = await Runtime.open({ name: "playground-speed", engine: "wasmi", workers: 1, workerUrl: WORKER });
        await wasmi.addModule(GUESTS);
      }
      await wasmi.addModule(await rt.readFile(picture.cid));
      const kernels = [
        { name: "xorshift(3 000 000)", func: "xorshift", args: [3_000_000] as unknown[] },
        { name: "blur of the picture", func: "blur", args: [{ "/": picture.cid }, 2] },
      ];
      const rows: { name: string; fast: number; wasmi: number; same: boolean }[] = [];
      for (const k of kernels) {
        status(`running ${k.name}…`);
        const nnc = `speed-${Date.now()}`;
        const { task } = await wasmTask({ module, func: k.func, args: k.args, nnc, time: 120_000 });
        const [fast] = await rt.run({ tasks: [task] });
        // The same instruction again, new nonce, so that it runs instead of being a memo hit.
        const { task: again } = await wasmTask({ module, func: k.func, args: k.args, nnc: `${nnc}-wasmi`, time: 120_000 });
        const [slow] = await wasmi.run({ tasks: [again] });
        if (fast.status !== "ran" || slow.status !== "ran") throw new Error(`${k.name} did not run on both engines`);
        const out = (r: typeof fast) => (r.status === "ran" ? JSON.stringify([JSON.parse(r.dagJson).out, r.fuel]) : "");
        rows.push({ name: k.name, fast: fast.ms ?? 0, wasmi: slow.ms ?? 0, same: out(fast) === out(slow) && fast.engine === "fast" && slow.engine === "wasmi" });
        chart(rows);
      }
      status("done: same output and fuel on both engines: " + (rows.every((r) => r.same) ? "yes" : "NO"));
    }, status),
  );
}

function chart(rows: { name: string; fast: number; wasmi: number; same: boolean }[]) {
  const max = Math.max(...rows.flatMap((r) => [r.fast, r.wasmi]), 1);
  const bar = (label: string, value: number, cls: string) =>
    h("div", { class: "bar-row" }, h("span", { class: "bar-label" }, label), h("span", { class: `bar ${cls}`, style: `width:${Math.max(0.5, (100 * value) / max).toFixed(1)}%` }), h("span", { class: "bar-value" }, ms(value)));
  $("speed-chart").replaceChildren(
    ...rows.map((r) =>
      h("div", { class: "race", "data-kernel": r.name, "data-ratio": (r.wasmi / Math.max(r.fast, 0.01)).toFixed(1) }, h("strong", {}, `${r.name}: wasmi took ${(r.wasmi / Math.max(r.fast, 0.01)).toFixed(0)}× as long`), bar("fast path", r.fast, "fast"), bar("wasmi", r.wasmi, "wasmi")),
    ),
  );
}
