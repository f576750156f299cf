// A worker of the pool (see pool.js): loads the runtime's Wasm, opens the
// page's IndexedDB store, and executes the jobs it is sent, one at a time.
// Jobs and answers are DAG-JSON text; all logic is on the Rust side
// (TaskWorker). A running job yields to this worker's event loop between
// fuel slices, so a "cancel" message stops it at its next slice.
import init, { TaskWorker } from "./wasm/ipvm_web.js";

let ready;
/** The TaskWorker, once opened. */
let taskWorker;
/** The id of the job being executed. */
let running;
/** Ids cancelled before they started. */
const cancelledEarly = new Set();

self.onmessage = async ({ data }) => {
  if (data.type === "init") {
    ready = (async () => {
      await init(data.wasm === undefined ? undefined : { module_or_path: data.wasm });
      taskWorker = await TaskWorker.open(data.name);
      return taskWorker;
    })();
    ready.then(
      () => self.postMessage({ type: "ready" }),
      (e) => self.postMessage({ type: "ready", error: String(e?.message ?? e) }),
    );
    return;
  }
  if (data.type === "cancel") {
    if (data.id === running) taskWorker?.cancel();
    else cancelledEarly.add(data.id);
    return;
  }
  if (data.type === "job") {
    try {
      const worker = await ready;
      if (cancelledEarly.delete(data.id)) {
        self.postMessage({ id: data.id, cancelled: true });
        return;
      }
      running = data.id;
      self.postMessage({ id: data.id, execution: await worker.execute(data.job) });
    } catch (e) {
      if (e?.code === "ERR_CANCELLED") self.postMessage({ id: data.id, cancelled: true });
      else self.postMessage({ id: data.id, error: String(e?.message ?? e) });
    } finally {
      if (running === data.id) running = undefined;
    }
  }
};
