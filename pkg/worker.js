// A worker of the pool (see pool.js): loads the runtime's Wasm, opens the
// page's IndexedDB store, and executes the jobs it is sent. Jobs and answers
// are DAG-JSON text; all logic is on the Rust side (TaskWorker).
import init, { TaskWorker } from "./wasm/ipvm_web.js";

let ready;

self.onmessage = async ({ data }) => {
  if (data.type === "init") {
    ready = (async () => {
      await init(data.wasm === undefined ? undefined : { module_or_path: data.wasm });
      return TaskWorker.open(data.name);
    })();
    ready.then(
      () => self.postMessage({ type: "ready" }),
      (e) => self.postMessage({ type: "ready", error: String(e?.message ?? e) }),
    );
    return;
  }
  if (data.type === "job") {
    try {
      const worker = await ready;
      self.postMessage({ id: data.id, execution: await worker.execute(data.job) });
    } catch (e) {
      self.postMessage({ id: data.id, error: String(e?.message ?? e) });
    }
  }
};
