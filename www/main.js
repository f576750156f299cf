// The playground: builds the sample workflow with the npm package's API,
// runs it in this tab, and shows events and receipts. The last run is also
// kept on `window.ipvmLastRun` for the end-to-end tests.
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
      status(`done: ${reports.length} tasks, ${reused} memo hits`);
    } catch (e) {
      status(isIpvmError(e) ? `${e.code}: ${e.message}` : String(e), true);
    } finally {
      $("run").disabled = false;
    }
  });
}

main().catch((e) => status(`failed to start: ${e.message ?? e}`, true));
