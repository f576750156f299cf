// A pool of dedicated module workers that execute tasks off the main thread.
// The Rust scheduler (on the main thread) calls `dispatch(job, timeMs)`; the
// pool runs the job on an idle worker, or queues it. A worker that has not
// answered within the task's time limit (plus a grace period) is terminated
// and replaced, and the job rejects with `{ timeout: true }`, which the Rust
// side turns into a `time_limit` error receipt.

/** Extra time given to a worker beyond the task's own limit, for loading and slicing. */
const GRACE_MS = 2_000;

/** The instruction CID of a job (DAG-JSON text). */
function instructionOf(job) {
  try {
    return JSON.parse(job).instruction?.["/"];
  } catch {
    return undefined;
  }
}

export class WorkerPool {
  #size;
  #dbName;
  #wasm;
  #idle = [];
  #queue = [];
  #all = new Set();
  #seq = 0;
  #closed = false;
  /** Jobs on a worker: id -> { worker, instruction, timer, reject }. */
  #busy = new Map();

  /** Starts `size` workers on the IndexedDB store `dbName`. */
  constructor(size, dbName, wasm) {
    this.#size = size;
    this.#dbName = dbName;
    this.#wasm = wasm;
    for (let i = 0; i < size; i++) this.#spawn();
  }

  /** How many workers the pool keeps. */
  get size() {
    return this.#size;
  }

  #spawn() {
    const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "ipvm-web task worker" });
    this.#all.add(worker);
    worker.postMessage({ type: "init", name: this.#dbName, wasm: this.#wasm });
    // Jobs sent before "ready" wait inside the worker, so the worker is idle at once.
    this.#idle.push(worker);
    this.#pump();
  }

  /** Runs a job (DAG-JSON) on a worker; resolves to the execution (DAG-JSON). */
  dispatch = (job, timeMs) =>
    new Promise((resolve, reject) => {
      if (this.#closed) return reject(new Error("the worker pool is closed"));
      this.#queue.push({ job, timeMs, resolve, reject });
      this.#pump();
    });

  #pump() {
    while (this.#idle.length > 0 && this.#queue.length > 0) {
      const worker = this.#idle.pop();
      const { job, timeMs, resolve, reject } = this.#queue.shift();
      const id = ++this.#seq;
      const timer = setTimeout(() => this.#kill(id, { timeout: true }), timeMs + GRACE_MS);
      this.#busy.set(id, { worker, instruction: instructionOf(job), timer, reject });
      worker.onmessage = ({ data }) => {
        if (data.type === "ready") {
          if (data.error) console.error(`[ipvm] a worker failed to start: ${data.error}`);
          return;
        }
        if (data.id !== id) return;
        clearTimeout(timer);
        this.#busy.delete(id);
        worker.onmessage = null;
        this.#idle.push(worker);
        if (data.error !== undefined) reject(new Error(data.error));
        else resolve(data.execution);
        this.#pump();
      };
      worker.postMessage({ type: "job", id, job });
    }
  }

  /** Terminates the worker running job `id`, rejects the job with `reason`, and starts a replacement. */
  #kill(id, reason) {
    const job = this.#busy.get(id);
    if (!job) return;
    this.#busy.delete(id);
    clearTimeout(job.timer);
    job.worker.onmessage = null;
    job.worker.terminate();
    this.#all.delete(job.worker);
    job.reject(reason);
    if (!this.#closed) this.#spawn();
  }

  /**
   * Cancels the jobs of these instructions: queued ones are dropped, running ones stop at
   * once (their worker is terminated and replaced).
   */
  cancel(instructions) {
    const wanted = new Set(instructions);
    this.#queue = this.#queue.filter((q) => {
      if (!wanted.has(instructionOf(q.job))) return true;
      q.reject(new Error("cancelled"));
      return false;
    });
    for (const [id, job] of [...this.#busy]) if (wanted.has(job.instruction)) this.#kill(id, new Error("cancelled"));
  }

  /** Terminates every worker; queued jobs reject. */
  close() {
    this.#closed = true;
    for (const w of this.#all) w.terminate();
    this.#all.clear();
    this.#idle = [];
    for (const { reject } of this.#queue.splice(0)) reject(new Error("the worker pool is closed"));
  }
}
