// A worker of the pool (see pool.ts): instantiates the runtime's Wasm (the
// page sends it compiled), opens the page's IndexedDB store, and executes the
// jobs it is sent, one at a time, in the order sent.
// Jobs and answers are DAG-JSON text; all logic is on the Rust side
// (TaskWorker). A running job yields to this worker's event loop between
// fuel slices, so a "cancel" message stops it at its next slice.
// Answers are batched: they go out when the worker has nothing left to run,
// when HOLD_MAX are waiting, HOLD_MS after the oldest of them, or before a
// call on the browser's engine starts (it cannot pause, so nothing could go
// out during it), whichever comes first: jobs on wasmi that end close
// together cost the page one message.
// Started by inspectModule instead, it answers one "inspect" message: it
// validates and describes a module off the page's thread, and is stopped.
//
// The package exports it as "ipvm-web/worker.js" for an app that starts the workers from a
// script of its own (`Runtime.open({ workerUrl })`), e.g. one line, `import "ipvm-web/worker.js";`,
// in a file that the app's service worker covers. Importing it is its effect: it takes the
// messages below on `self`. It exports no value, only the types of those messages.
import init, { TaskWorker, inspectModule, type IpvmErrorCode } from "./wasm/ipvm_web.js";
import type { InspectAnswer, InspectRequest, JobAnswer, WorkerAnswer, WorkerRequest } from "./pool.js";

/** The messages this worker takes (from the pool, or from inspectModule) and sends back. */
export type { InspectAnswer, InspectRequest, JobAnswer, WorkerAnswer, WorkerRequest };

let ready: Promise<TaskWorker> | undefined;
/** The TaskWorker, once opened. */
let taskWorker: TaskWorker | undefined;
/** The id of the job being executed. */
let running: number | undefined;
/** Jobs sent and not started, in order. */
const jobs: { id: number; job: string; notify: boolean }[] = [];
/** Whether the page wants to hear when the running job's call cannot pause. */
let notify = false;
/** Whether the loop running `jobs` is going. */
let looping = false;
/** Ids cancelled before they started. */
const cancelledEarly = new Set<number>();
/** Answers not yet sent. */
let outbox: JobAnswer[] = [];
/** The timer that sends the answers waiting, HOLD_MS after the oldest. */
let flushTimer: ReturnType<typeof setTimeout> | undefined;
/** The most answers held back. */
const HOLD_MAX = 16;
/** The longest an answer is held back while other jobs run (ms). */
const HOLD_MS = 4;

const describe = (e: unknown): string => String((e as Error)?.message ?? e);
const post = (message: WorkerAnswer): void => self.postMessage(message);

/** Sends the answers not yet sent (and the notice that job `unpausable`'s call started). */
function flush(unpausable?: number): void {
  clearTimeout(flushTimer);
  flushTimer = undefined;
  if (outbox.length === 0 && unpausable === undefined) return;
  post({ type: "answers", answers: outbox, ...(unpausable === undefined ? {} : { unpausable }) });
  outbox = [];
}

function answer(a: JobAnswer): void {
  outbox.push(a);
  if (jobs.length === 0 || outbox.length >= HOLD_MAX) return flush();
  flushTimer ??= setTimeout(() => flush(), HOLD_MS);
}

/** Runs the jobs held, in order, until none is left. */
async function runJobs(): Promise<void> {
  if (looping) return;
  looping = true;
  try {
    let worker: TaskWorker | undefined;
    let failure: string | undefined;
    try {
      if (!ready) throw new Error("the worker got a job before init");
      worker = await ready;
    } catch (e) {
      failure = describe(e);
    }
    while (jobs.length > 0) {
      const { id, job, notify: wanted } = jobs.shift()!;
      if (cancelledEarly.delete(id)) {
        answer({ id, cancelled: true });
        continue;
      }
      if (!worker) {
        answer({ id, error: failure ?? "the worker has no runtime" });
        continue;
      }
      running = id;
      notify = wanted;
      try {
        answer({ id, execution: await worker.execute(job) });
      } catch (e) {
        if ((e as { code?: string })?.code === "ERR_CANCELLED") answer({ id, cancelled: true });
        else answer({ id, error: describe(e) });
      } finally {
        running = undefined;
      }
    }
  } finally {
    looping = false;
  }
}

/** Describes one module (for inspectModule on the page); every failure is the module's. */
async function inspect({ wasm, bytes }: InspectRequest): Promise<void> {
  let answer: InspectAnswer;
  try {
    await init({ module_or_path: wasm });
    answer = { type: "inspected", info: inspectModule(bytes) };
  } catch (e) {
    const raw = e as { name?: string; code?: string; message?: string };
    answer = raw?.name === "IpvmError" && typeof raw.code === "string"
      ? { type: "inspected", error: { code: raw.code as IpvmErrorCode, message: String(raw.message) } }
      : { type: "inspected", error: { code: "ERR_MODULE_INVALID", message: `the module could not be inspected: ${describe(e)}` } };
  }
  self.postMessage(answer);
}

self.onmessage = ({ data }: MessageEvent<WorkerRequest | InspectRequest>) => {
  if (data.type === "inspect") {
    void inspect(data);
    return;
  }
  if (data.type === "init") {
    const { wasm, name, engine } = data;
    ready = (async () => {
      await init({ module_or_path: wasm });
      // Called when a job's call starts on the browser's engine, which cannot pause. The
      // answers waiting go now: held through the call, the page would count its time against
      // the job before (the oldest it knows of), and blame that one if the call overran. With
      // them, if asked, the notice: the pool then terminates this worker at once if the job is
      // cancelled.
      const unpausable = () => {
        if (running !== undefined) flush(notify ? running : undefined);
      };
      taskWorker = await TaskWorker.open(name, engine, unpausable);
      return taskWorker;
    })();
    ready.then(
      () => post({ type: "ready" }),
      (e) => post({ type: "ready", error: describe(e) }),
    );
    return;
  }
  if (data.type === "cancel") {
    for (const id of data.ids) {
      if (id === running) taskWorker?.cancel();
      else cancelledEarly.add(id);
    }
    return;
  }
  if (data.type === "jobs") {
    jobs.push(...data.jobs.map((j) => ({ ...j, notify: data.notify })));
    void runJobs();
  }
};
