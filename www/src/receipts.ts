// The receipts explorer: the last run's receipts, and any receipt opened by
// its CID: its DAG-JSON, provenance and signers, fuel, previews of its inputs
// and output, a Verify button that re-runs it on an engine, and the reverse
// lookup (what was computed from a CID).
import type { Cid, Runtime, StoredReceipt, TaskNode, TaskReport, Workflow } from "ipvm-web";
import { $, h, busy, cidLink, errorText, fuel, preview, pngImage, short, statusLine } from "./ui.js";

type LastRun = { workflow: Workflow; nodes: TaskNode[]; reports: TaskReport[] } | null;

export class Receipts {
  #rt: Runtime;
  #lastRun: () => LastRun;
  #graph: () => TaskNode[] | null;

  /** `graph` is the workflow in the editor, whose awaits the reverse lookup follows. */
  constructor(rt: Runtime, lastRun: () => LastRun, graph: () => TaskNode[] | null) {
    this.#rt = rt;
    this.#lastRun = lastRun;
    this.#graph = graph;
  }

  /** A copyable CID that opens the receipt it names, or looks up what was computed from it. */
  cid(cid: Cid): HTMLButtonElement {
    return cidLink(cid, (c) => void this.openAny(c).catch((e) => statusLine("rev-out")(errorText(e), true)));
  }

  wire() {
    const go = async () => {
      const cid = $<HTMLInputElement>("rev-cid").value.trim().replace(/^ipfs:\/\//, "");
      if (cid) await this.openAny(cid);
    };
    const lookUp = busy($<HTMLButtonElement>("rev-go"), go, statusLine("rev-out"));
    $("rev-go").addEventListener("click", lookUp);
    $("rev-cid").addEventListener("keydown", (e) => e.key === "Enter" && void lookUp());
  }

  /** Lists a run's receipts, in task order. */
  showRun(reports: TaskReport[], nodes: TaskNode[]) {
    $("rc-list").replaceChildren(
      ...reports.map((r) => {
        const name = `${r.task}. ${nodes[r.task]?.func ?? "task"}`;
        if (r.status === "skipped") return h("li", { "data-task": String(r.task) }, h("strong", {}, name), ` skipped: ${r.reason}`);
        const how = r.status === "reused" ? "memo hit" : r.ok ? "ran" : "failed";
        return h("li", { "data-task": String(r.task), "data-receipt": r.receipt }, h("strong", {}, name), ` ${how} · fuel ${fuel(r.fuel)} · `, this.cid(r.receipt));
      }),
    );
  }

  /** A receipt's CID opens it; any other CID is looked up as an input. */
  async openAny(cid: Cid) {
    if (await this.#rt.receipt(cid).catch(() => null)) return this.open(cid);
    $<HTMLInputElement>("rev-cid").value = cid;
    return this.lookup(cid);
  }

  /**
   * Reverse lookup: every receipt computed from `cid` (the store's reverse index: tasks that read
   * it), then the receipts of the tasks of the editor's workflow that await those, and so on.
   */
  async lookup(cid: Cid) {
    const direct = await this.#rt.receiptsUsing(cid);
    const nodes = this.#graph() ?? [];
    const found: { r: StoredReceipt; via: string }[] = direct.map((r) => ({ r, via: "reads it" }));
    const seen = new Set(direct.map((r) => r.instruction));
    for (let k = 0; k < found.length; k++) {
      const from = nodes.find((n) => n.instruction === found[k].r.instruction);
      if (!from) continue;
      for (const n of nodes) {
        if (seen.has(n.instruction) || !n.awaits.includes(from.task)) continue;
        seen.add(n.instruction);
        const r = await this.#rt.receiptFor(n.instruction);
        if (r) found.push({ r, via: `awaits ${from.task}. ${from.func}` });
      }
    }
    const out = $("rev-out");
    out.replaceChildren(`${found.length} receipt${found.length === 1 ? "" : "s"} computed from `, h("code", {}, short(cid)), found.length ? ` (${direct.length} read it, the others await those in the workflow above):` : ".");
    out.dataset.count = String(found.length);
    const funcs = this.#funcs(nodes);
    $("rc-list").replaceChildren(
      ...found.map(({ r, via }) => h("li", { "data-receipt": r.cid }, h("strong", {}, funcs.get(r.instruction) ?? short(r.instruction)), ` ${via} · ${r.provenance} · fuel ${fuel(r.fuel)} · `, this.cid(r.cid))),
    );
  }

  /** Shows one stored receipt. */
  async open(cid: Cid) {
    const r = await this.#rt.receipt(cid);
    const box = $("rc-detail");
    box.hidden = false;
    if (!r) {
      box.replaceChildren(h("p", { class: "error" }, `no receipt ${cid} in this store`));
      return;
    }
    const me = await this.#rt.identity();
    const body = JSON.parse(r.dagJson) as { out: [string, unknown]; meta?: Record<string, unknown> };
    const [tag, value] = body.out;
    const verdict = h("p", { class: "verdict", role: "status", "aria-live": "polite" });
    const engine = h("select", { "aria-label": "engine for the re-run" }, h("option", { value: "" }, "the default engine"), h("option", { value: "fast" }, "the fast path"), h("option", { value: "wasmi" }, "wasmi"));
    const verify = h("button", { type: "button", class: "verify" }, "Verify: run it again");
    verify.addEventListener(
      "click",
      busy(
        verify,
        async () => {
          verdict.textContent = "re-running…";
          const v = await this.#rt.verify(cid, engine.value ? { engine: engine.value as "fast" | "wasmi" } : {});
          verdict.dataset.verdict = v.verdict;
          verdict.dataset.engine = v.engine ?? "";
          verdict.className = `verdict ${v.verdict}`;
          verdict.textContent =
            v.verdict === "match"
              ? `match on ${v.engine}: the re-run wrote the same receipt (fuel ${v.actualFuel.toLocaleString("en")})${v.promoted ? "; it is now verified here and answers memo lookups" : ""}`
              : v.verdict === "mismatch"
                ? `MISMATCH on ${v.engine}: expected ${v.expected}, got ${v.actual}${v.distrusted.length ? `; distrusted ${v.distrusted.join(", ")}` : ""}`
                : `cannot be checked by a re-run: ${v.reason}`;
          // Shown again, with what the verify changed (provenance, signers), and the verdict kept.
          await this.open(cid);
          $("rc-detail").querySelector(".verdict")?.replaceWith(verdict);
        },
        (t) => (verdict.textContent = t),
      ),
    );
    box.replaceChildren(
      h("h3", {}, "Receipt ", this.cid(r.cid)),
      h(
        "dl",
        { class: "facts" },
        ...fact("instruction", this.cid(r.instruction)),
        ...fact("outcome", `${tag === "ok" ? "ok" : "error"} · fuel ${r.fuel.toLocaleString("en")}`),
        ...fact("provenance", h("span", { class: `prov ${r.provenance}`, "data-provenance": r.provenance }, r.provenance), r.trusted ? " · answers memo lookups here" : " · not trusted here: Verify to re-run it"),
        ...fact("signed by", ...(r.signers.length ? r.signers.flatMap((s) => [h("code", { title: s }, short(s)), s === me ? " (this tab) " : " "]) : ["nobody"])),
        ...fact("reusable", r.reusable ? "yes" : `no: ${r.notReusableBecause}`),
        ...fact("inputs", ...r.inputs.flatMap((c) => [this.cid(c), " "])),
      ),
      h("div", { class: "io" }, h("figure", {}, await this.#inputs(r), h("figcaption", {}, "input")), h("figure", {}, preview(value, "output"), h("figcaption", {}, `output (${tag})`))),
      h("div", { class: "row" }, verify, engine),
      verdict,
      h("details", { open: true }, h("summary", {}, "DAG-JSON"), h("pre", { class: "dagjson" }, JSON.stringify(JSON.parse(r.dagJson), null, 2))),
    );
    box.scrollIntoView({ block: "nearest" });
  }

  /** Instruction → `task. function`, for the tasks of a graph. */
  #funcs(nodes: TaskNode[]): Map<Cid, string> {
    return new Map(nodes.map((n) => [n.instruction, `${n.task}. ${n.func}`]));
  }

  /** A preview of a receipt's first input: an awaited output, or a stored file such as the picture. */
  async #inputs(r: StoredReceipt): Promise<Node> {
    const run = this.#lastRun();
    const task = run?.workflow.tasks.find((_, i) => run.nodes[i]?.instruction === r.instruction);
    const first = task?.run.input.args[0] as Record<string, { "/": string }> | undefined;
    const awaited = first?.["await/ok"]?.["/"];
    if (awaited) {
      const before = await this.#rt.receiptFor(awaited);
      if (before) return preview((JSON.parse(before.dagJson) as { out: [string, unknown] }).out[1], "input");
    }
    const file = r.inputs[1];
    if (file) {
      // An input from elsewhere may claim any size: a preview reads at most 16 MiB.
      const bytes = await this.#rt.readFile(file, { maxBytes: 16 << 20 }).catch(() => null);
      const img = pngImage(bytes, "input");
      if (img) return img;
    }
    return h("code", {}, task ? JSON.stringify(task.run.input.args).slice(0, 120) : `${r.inputs.length} input CIDs`);
  }
}

function fact(name: string, ...value: (Node | string)[]): Node[] {
  return [h("dt", {}, name), h("dd", {}, ...value)];
}
