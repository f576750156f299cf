// The playground's entry point: opens a runtime of the npm package exactly as
// an app would, adds the project's guest module and the bundled picture, and
// wires the panels. Every run goes through `run` below, which draws the DAG,
// follows the run's events and lists its receipts. The state of the last run
// is kept on `window.playground` for the end-to-end tests.
import { Runtime, planWorkflow, wasmTask, awaitOk, type Cid, type RunEvent, type TaskNode, type TaskReport, type Workflow } from "ipvm-web";
import { DagView } from "./dag.js";
import { editor } from "./editor.js";
import { Receipts } from "./receipts.js";
import { library, speed, storage, trust } from "./panels.js";
import { peers } from "./peers.js";
import { $, GUESTS, WORKER, h, busy, dagBytes, errorText, fuel, ms, pngImage, short, statusLine } from "./ui.js";

const PICTURE = new URL("../images/sample.png", import.meta.url);

/** What the end-to-end tests read. */
interface PlaygroundState {
  ready: boolean;
  module: Cid;
  picture: Cid;
  did: string;
  runs: number;
  lastRun: { label: string; workflow: Workflow; nodes: TaskNode[]; reports: TaskReport[]; events: RunEvent[] } | null;
  offline: boolean;
}
declare global {
  interface Window {
    playground: PlaygroundState;
  }
}


/** Width and height of a PNG, from its IHDR chunk. */
function pngSize(data: Uint8Array): { width: number; height: number } | null {
  if (data.length < 24 || data[12] !== 0x49 || data[13] !== 0x48) return null;
  const v = new DataView(data.buffer, data.byteOffset);
  return { width: v.getUint32(16), height: v.getUint32(20) };
}

async function main() {
  registerServiceWorker();
  // The node beside the page server (npm start), whatever becomes of the runtime.
  void peers();
  // The workers start from www/worker.js, inside the service worker's scope, so they load offline too.
  const rt = await Runtime.open({ workerUrl: WORKER });
  // Fetched once: stored here, and described by the function library later.
  const guests = new Uint8Array(await (await fetch(GUESTS)).arrayBuffer());
  const [module, did] = await Promise.all([rt.addModule(guests), rt.identity()]);
  const state: PlaygroundState = (window.playground = { ready: false, module, picture: "", did, runs: 0, lastRun: null, offline: !navigator.onLine });
  $("who").replaceChildren("this tab signs as ", h("code", { title: did }, short(did)));
  const showPool = () => {
    const s = rt.workerStats();
    $("pool").textContent = `${s.workers} workers · ${s.busy} busy · ${s.queued} queued`;
  };
  showPool();
  setInterval(showPool, 500);

  const pipeSay = statusLine("pipe-status");
  // A node opens the receipt it got in the run it shows (none before it has run).
  const dag = new DagView($("dag-view"), (_, receipt) => receipt && void receipts.open(receipt).catch(pipeSay));
  let graph: TaskNode[] | null = null;
  const receipts = new Receipts(rt, () => state.lastRun, () => graph);
  // Whether the editor's text is a valid workflow (its Run button follows it).
  let valid = false;
  const edit = editor((checked) => {
    graph = checked.nodes;
    valid = !!checked.nodes;
    $<HTMLButtonElement>("wf-run").disabled = !valid || running;
    // A run in progress keeps its graph on show. Otherwise the graph of the text, with the tasks
    // already computed (a receipt this runtime would reuse) marked, and their receipts one Enter away.
    if (checked.nodes && !running) {
      const nodes = checked.nodes;
      dag.show(nodes);
      if (nodes.length <= 200)
        nodes.forEach((n) =>
          void rt.receiptFor(n.instruction).then(
            (r) => r && !running && graph === nodes && dag.set(n.task, { state: "stored", fuel: r.fuel, receipt: r.cid }),
            () => {},
          ),
        );
    }
  });

  // One run at a time: the pipeline, the editor and the samples share it.
  let running = false;
  let refreshStorage: (() => Promise<void>) | undefined;
  let stop: AbortController | null = null;
  const runButtons = ["pipe-run", "wf-run"].map((id) => $<HTMLButtonElement>(id));
  async function run(label: string, workflow: Workflow, hooks: { onEvent?: (e: RunEvent) => void } = {}): Promise<TaskReport[]> {
    running = true;
    runButtons.forEach((b) => (b.disabled = true));
    stop = new AbortController();
    $<HTMLButtonElement>("wf-stop").disabled = false;
    const events: RunEvent[] = [];
    const started = new Map<number, number>();
    try {
      await edit.set(JSON.stringify(workflow, null, 2));
      const nodes = await planWorkflow(workflow);
      dag.show(nodes);
      const reports = await rt.run(workflow, {
        signal: stop.signal,
        onEvent(e) {
          events.push(e);
          if (!("task" in e)) return;
          if (e.type === "queued") dag.set(e.task, { state: "queued" });
          else if (e.type === "started") (started.set(e.task, performance.now()), dag.set(e.task, { state: "running" }));
          else if (e.type === "finished") dag.set(e.task, { state: "done", fuel: e.fuel, receipt: e.receipt, ms: performance.now() - (started.get(e.task) ?? performance.now()) });
          else if (e.type === "memo-hit") dag.set(e.task, { state: "memo", receipt: e.receipt });
          else if (e.type === "failed") dag.set(e.task, { state: "failed", receipt: e.receipt, reason: e.reason });
          hooks.onEvent?.(e);
        },
      });
      for (const r of reports) {
        if (r.status === "skipped") dag.set(r.task, { state: "skipped", reason: r.reason });
        else dag.set(r.task, { state: r.status === "reused" ? "memo" : r.ok ? "done" : "failed", fuel: r.fuel, ms: r.ms, engine: r.engine, receipt: r.receipt });
      }
      state.runs++;
      state.lastRun = { label, workflow, nodes, reports, events };
      receipts.showRun(reports, nodes);
      void refreshStorage?.();
      return reports;
    } catch (e) {
      // Stopped or failed: no node is left looking queued or running.
      const why = (e as { code?: string }).code === "ERR_CANCELLED" ? "stopped" : "the run failed";
      dag.states().forEach((s, i) => (s === "queued" || s === "running") && dag.set(i, { state: "skipped", reason: why }));
      throw e;
    } finally {
      running = false;
      stop = null;
      $<HTMLButtonElement>("wf-stop").disabled = true;
      $<HTMLButtonElement>("pipe-run").disabled = false;
      $<HTMLButtonElement>("wf-run").disabled = !valid;
    }
  }
  $("wf-stop").addEventListener("click", () => stop?.abort());

  // 1. The image pipeline.
  let picture = await addPicture(rt, new Uint8Array(await (await fetch(PICTURE)).arrayBuffer()));
  state.picture = picture.cid;
  const drawSteps = () => {
    $("steps").replaceChildren(
      step("picture", picture.img, `${picture.width}×${picture.height}`, picture.cid, receipts),
      ...["crop", "rotate90", "grayscale", "blur"].map((f) => step(f, null, "not run yet", null, receipts)),
    );
  };
  drawSteps();
  $("pipe-file").addEventListener("change", async (e) => {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (!file) return;
    try {
      picture = await addPicture(rt, new Uint8Array(await file.arrayBuffer()));
      state.picture = picture.cid;
      drawSteps();
      pipeSay(`${file.name}: ${picture.width}×${picture.height}, stored as ${short(picture.cid)}`);
    } catch (err) {
      pipeSay(`${file.name}: ${errorText(err)}`, true);
    }
  });
  $("pipe-run").addEventListener(
    "click",
    busy(
      $<HTMLButtonElement>("pipe-run"),
      async () => {
        drawSteps();
        pipeSay("running…");
        const workflow = await pipeline(module, picture);
        const t0 = performance.now();
        // Each step's image, read from its receipt as it is written; the facts wait for all of them.
        const fills: Promise<void>[] = [];
        const reports = await run("image pipeline", workflow, {
          onEvent(e) {
            if ((e.type === "finished" || e.type === "memo-hit") && e.task < 4) {
              const how = e.type === "memo-hit" ? "memo hit" : "done";
              fills.push(rt.receipt(e.receipt).then((stored) => void (stored && fillStep(e.task, JSON.parse(stored.dagJson), how, e.receipt, receipts))));
            }
          },
        });
        await Promise.all(fills);
        reports.forEach((r, i) => {
          const card = $("steps").children[i + 1] as HTMLElement;
          if (r.status === "skipped") return fillFacts(card, `skipped: ${r.reason}`);
          card.dataset.status = r.status;
          const where = r.status === "ran" ? `${ms(r.ms)} on ${r.engine}` : "memo hit: nothing ran";
          fillFacts(card, `fuel ${fuel(r.fuel)} · ${where}`);
        });
        const hits = reports.filter((r) => r.status === "reused").length;
        pipeSay(`done in ${ms(performance.now() - t0)}: ${reports.length - hits} executed, ${hits} memo hits`);
      },
      pipeSay,
    ),
  );

  // 3. The editor and its samples.
  const samples: Record<string, () => Promise<Workflow>> = {
    "Image pipeline": () => pipeline(module, picture),
    "add_one, awaited": async () => {
      const one = await wasmTask({ module, func: "add_one", args: [1], fuel: 1_000_000 });
      const two = await wasmTask({ module, func: "add_one", args: [awaitOk(one.instruction)], fuel: 1_000_000 });
      return { tasks: [one.task, two.task] };
    },
    "Fan-out and join": async () => {
      const a = await wasmTask({ module, func: "fib", args: [25] });
      const b = await wasmTask({ module, func: "xorshift", args: [2_000_000] });
      const c = await wasmTask({ module, func: "hash", args: ["ipvm"] });
      const j = await wasmTask({ module, func: "join_strings", args: ["fib and xorshift: ", "done"] });
      const last = await wasmTask({ module, func: "append_string", args: [awaitOk(j.instruction)] });
      return { tasks: [a.task, b.task, c.task, j.task, last.task] };
    },
    "A long task (Stop it)": async () => {
      const { task } = await wasmTask({ module, func: "xorshift", args: [4_000_000_000], nnc: `long-${Date.now()}`, time: 600_000 });
      return { tasks: [task] };
    },
    "A failure, caught": async () => {
      // 300 does not fit a u8: the task fails. The workflow's catch handler answers
      // {"ok": 41} for it, so add_one sees 41, and the defaults give every task its fuel.
      const bad = await wasmTask({ module, func: "echo-u8", args: [300] });
      const next = await wasmTask({ module, func: "add_one", args: [awaitOk(bad.instruction)] });
      return {
        defaults: { fuel: 10_000_000, time: 10_000 },
        tasks: [bad.task, next.task],
        catch: { rsc: `ipfs://${module}`, func: "catch-with", args: ["ok", "41"] },
      };
    },
    "An invalid one": async () => {
      const wf = await pipeline(module, picture);
      (wf.tasks[2].run as { rsc: string }).rsc = "ipfs://not-a-cid";
      return wf;
    },
  };
  for (const [name, make] of Object.entries(samples)) {
    const b = h("button", { type: "button" }, name);
    b.addEventListener("click", () => void make().then((wf) => edit.set(JSON.stringify(wf, null, 2)), (e) => wfSay(errorText(e), true)));
    $("samples").append(b);
  }
  const wfSay = statusLine("wf-status");
  $("wf-run").addEventListener("click", async () => {
    wfSay("running…");
    const t0 = performance.now();
    try {
      const reports = await run("editor", JSON.parse(edit.text) as Workflow);
      const hits = reports.filter((r) => r.status === "reused").length;
      const failed = reports.filter((r) => r.status === "skipped" || !r.ok).length;
      const engines = [...new Set(reports.map((r) => (r.status === "skipped" ? null : r.engine)).filter(Boolean))];
      wfSay(`done in ${ms(performance.now() - t0)}: ${reports.length} tasks, ${hits} memo hits, ${failed} failed${engines.length ? `; ran on ${engines.join(" and ")}` : ""}`);
    } catch (e) {
      const cancelled = (e as { code?: string }).code === "ERR_CANCELLED";
      wfSay(cancelled ? `stopped after ${ms(performance.now() - t0)}; receipts already written are kept` : errorText(e), !cancelled);
    }
  });
  await edit.set(JSON.stringify(await pipeline(module, picture), null, 2));

  // 4–8. The other panels.
  receipts.wire();
  library(module, guests);
  const refreshTrust = trust(rt, receipts);
  refreshStorage = storage(rt, receipts, refreshTrust);
  speed(rt, module, picture);

  $<HTMLButtonElement>("pipe-run").disabled = false;
  pipeSay(`ready: the picture is ${short(picture.cid)}; the module ${short(module)}`);
  state.ready = true;
}

interface Picture {
  cid: Cid;
  bytes: Uint8Array;
  width: number;
  height: number;
  img: HTMLImageElement;
}

/** Stores a PNG (as a file, by CID) for the pipeline to link to. */
async function addPicture(rt: Runtime, bytes: Uint8Array): Promise<Picture> {
  const size = pngSize(bytes);
  const img = pngImage(bytes, "the picture");
  if (!size || !img) throw new Error("this is not a PNG");
  return { cid: await rt.addModule(bytes), bytes, ...size, img };
}

/** crop (the middle, 3/4 of each side) → rotate90 → grayscale → blur, each awaiting the one before. */
async function pipeline(module: Cid, picture: Picture): Promise<Workflow> {
  const limits = { time: 120_000 };
  const w = Math.max(1, Math.floor((picture.width * 3) / 4));
  const hgt = Math.max(1, Math.floor((picture.height * 3) / 4));
  const crop = await wasmTask({ module, func: "crop", args: [{ "/": picture.cid }, Math.floor((picture.width - w) / 2), Math.floor((picture.height - hgt) / 2), w, hgt], ...limits });
  const rotate = await wasmTask({ module, func: "rotate90", args: [awaitOk(crop.instruction)], ...limits });
  const gray = await wasmTask({ module, func: "grayscale", args: [awaitOk(rotate.instruction)], ...limits });
  const blur = await wasmTask({ module, func: "blur", args: [awaitOk(gray.instruction), 1.5], ...limits });
  return { tasks: [crop.task, rotate.task, gray.task, blur.task] };
}

function step(name: string, img: HTMLImageElement | null, facts: string, cid: Cid | null, receipts: Receipts): HTMLLIElement {
  const li = h("li", { class: "step", "data-step": name }, h("div", { class: "frame" }, img ?? h("span", { class: "empty" }, "·")), h("strong", {}, name), h("span", { class: "facts" }, facts));
  if (cid) li.append(receipts.cid(cid));
  return li;
}

function fillFacts(card: HTMLElement, text: string) {
  card.querySelector(".facts")!.textContent = text;
}

function fillStep(task: number, receipt: { out: [string, unknown] }, how: string, cid: Cid, receipts: Receipts) {
  const card = $("steps").children[task + 1] as HTMLElement;
  const [tag, value] = receipt.out;
  const img = tag === "ok" ? pngImage(dagBytes(value), `after ${card.dataset.step}`) : null;
  card.querySelector(".frame")!.replaceChildren(img ?? h("span", { class: "empty" }, tag));
  card.dataset.status = how;
  fillFacts(card, how);
  card.querySelector("button.cid")?.remove();
  card.append(receipts.cid(cid));
}

/** The service worker keeps the page, the package and the modules for offline use. */
function registerServiceWorker() {
  const net = $("net");
  // The service worker says when it answered from its cache because the network failed
  // (the page's server gone counts too, which navigator.onLine does not see).
  let unreachable = false;
  const show = () => {
    const online = navigator.onLine && !unreachable;
    const cached = !!navigator.serviceWorker?.controller;
    net.textContent = online ? (cached ? "online · cached for offline use" : "online") : cached ? "offline: running from the cache" : "offline";
    net.classList.toggle("off", !online);
    if (window.playground) window.playground.offline = !online;
  };
  addEventListener("online", show);
  addEventListener("offline", show);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(new URL("../sw.js", import.meta.url)).then(
      () => navigator.serviceWorker.ready.then(show),
      (e) => (net.textContent = `no offline cache: ${e.message}`),
    );
    navigator.serviceWorker.addEventListener("controllerchange", show);
    navigator.serviceWorker.addEventListener("message", (e) => {
      const type = (e.data as { type?: string })?.type;
      if (type === "offline" || type === "online") (unreachable = type === "offline"), show();
    });
  }
  show();
}

main().catch((e) => statusLine("pipe-status")(`failed to start: ${errorText(e)}`, true));
