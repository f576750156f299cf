// The playground: builds the sample workflow with the npm package's API,
// runs it in this tab, and shows events and receipts. The last run is also
// kept on `window.ipvmLastRun` for the end-to-end tests. A second button runs
// a long task in a worker, and Stop aborts it; the worker pool's state is
// shown below.
import { Runtime, wasmTask, awaitOk, isIpvmError } from "../pkg/index.js";

const $ = (id) => document.getElementById(id);
const status = (text, isError = false) => {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
};

async function sampleWorkflow(module) {
  const limits = { fuel: 1_000_000, time: 5_000 };
  const first = await wasmTask({ module, func: "add_one", args: [1], ...limits });
  const second = await wasmTask({ module, func: "add_one", args: [awaitOk(first.instruction)], ...limits });
  return { tasks: [first.task, second.task] };
}

async function main() {
  const rt = await Runtime.open();
  const module = await rt.addModule(new URL("./modules/ipvm_guests.wasm", import.meta.url));
  const workflow = await sampleWorkflow(module);
  $("workflow").textContent = JSON.stringify(workflow, null, 2);
  status(`ready (module ${module})`);
  $("run").disabled = false;
  longTask(rt, module);
  $("run").addEventListener("click", async () => {
    $("run").disabled = true;
    $("events").replaceChildren();
    status("running…");
    const events = [];
    try {
      const reports = await rt.run(workflow, {
        onEvent(e) {
          events.push(e);
          const li = document.createElement("li");
          li.textContent = `${e.type} task ${e.task}${e.receipt ? ` → receipt ${e.receipt}` : ""}${e.reason ? `: ${e.reason}` : ""}`;
          $("events").append(li);
        },
      });
      $("receipts").textContent = reports.map((r) => r.dagJson ?? `skipped: ${r.reason}`).join("\n");
      window.ipvmLastRun = { module, workflow, reports, events };
      const reused = reports.filter((r) => r.status === "reused").length;
      // The engine each executed task ran on: the fast path (the browser's own engine running
      // the metered module) in workers, wasmi otherwise. The receipts are the same either way.
      const engines = [...new Set(reports.map((r) => r.engine).filter(Boolean))];
      status(`done: ${reports.length} tasks, ${reused} memo hits${engines.length ? `; ran on ${engines.join(" and ")}` : ""}`);
    } catch (e) {
      status(isIpvmError(e) ? `${e.code}: ${e.message}` : String(e), true);
    } finally {
      $("run").disabled = false;
    }
  });
}

/** A task of about a minute of wasmi, new each time (its nonce), and the Stop button that aborts it. */
function longTask(rt, module) {
  const say = (text) => ($("long-status").textContent = text);
  $("long").disabled = false;
  $("long").addEventListener("click", async () => {
    $("long").disabled = true;
    const controller = new AbortController();
    $("stop").onclick = () => controller.abort();
    const { task } = await wasmTask({ module, func: "xorshift", args: [4_000_000_000], nnc: `long-${Date.now()}`, time: 600_000 });
    const t0 = performance.now();
    say("queued…");
    try {
      const [report] = await rt.run(
        { tasks: [task] },
        { signal: controller.signal, onEvent: (e) => e.type === "started" && (say("running…"), ($("stop").disabled = false)) },
      );
      say(`finished in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify(JSON.parse(report.dagJson).out)}`);
    } catch (e) {
      say(isIpvmError(e) && e.code === "ERR_CANCELLED" ? `stopped after ${((performance.now() - t0) / 1000).toFixed(1)} s` : `failed: ${e.message ?? e}`);
    } finally {
      $("stop").disabled = true;
      $("long").disabled = false;
    }
  });
  const showPool = () => {
    const s = rt.workerStats();
    $("pool").textContent = `worker pool: ${s.workers} workers, ${s.busy} busy, ${s.queued} queued; tasks cancelled: ${s.cancelled}; workers replaced: ${s.replaced}`;
  };
  showPool();
  setInterval(showPool, 250);
}

main().catch((e) => status(`failed to start: ${e.message ?? e}`, true));
