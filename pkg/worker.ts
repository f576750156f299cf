// A worker of the pool (see pool.ts): instantiates the runtime's Wasm (the
// page sends it compiled), opens the page's IndexedDB store, and executes the
// jobs it is sent, one at a time.
// Jobs and answers are DAG-JSON text; all logic is on the Rust side
// (TaskWorker). A running job yields to this worker's event loop between
// fuel slices, so a "cancel" message stops it at its next slice.
import init, { TaskWorker } from "./wasm/ipvm_web.js";
import type { WorkerAnswer, WorkerRequest } from "./pool.js";

let ready: Promise<TaskWorker> | undefined;
/** The TaskWorker, once opened. */
let taskWorker: TaskWorker | undefined;
/** The id of the job being executed. */
let running: number | undefined;
/** Ids cancelled before they started. */
const cancelledEarly = new Set<number>();

const answer = (message: WorkerAnswer): void => self.postMessage(message);
const describe = (e: unknown): string => String((e as Error)?.message ?? e);

self.onmessage = async ({ data }: MessageEvent<WorkerRequest>) => {
  if (data.type === "init") {
    const { wasm, name, engine } = data;
    ready = (async () => {
      await init({ module_or_path: wasm });
      // Said when a job's call starts on the browser's engine, which cannot pause: the pool
      // then terminates this worker at once if the job is cancelled.
      const unpausable = () => {
        if (running !== undefined) answer({ type: "unpausable", id: running });
      };
      taskWorker = await TaskWorker.open(name, engine, unpausable);
      return taskWorker;
    })();
    ready.then(
      () => answer({ type: "ready" }),
      (e) => answer({ type: "ready", error: describe(e) }),
    );
    return;
  }
  if (data.type === "cancel") {
    if (data.id === running) taskWorker?.cancel();
    else cancelledEarly.add(data.id);
    return;
  }
  if (data.type === "job") {
    const { id, job } = data;
    try {
      if (!ready) throw new Error("the worker got a job before init");
      const worker = await ready;
      if (cancelledEarly.delete(id)) return answer({ id, cancelled: true });
      running = id;
      answer({ id, execution: await worker.execute(job) });
    } catch (e) {
      if ((e as { code?: string })?.code === "ERR_CANCELLED") answer({ id, cancelled: true });
      else answer({ id, error: describe(e) });
    } finally {
      if (running === id) running = undefined;
    }
  }
};
