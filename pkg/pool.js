// A pool of dedicated module workers that execute tasks off the main thread.
// The Rust scheduler (on the main thread) calls `dispatch(job, timeMs)`; the
// pool runs the job on an idle worker, or queues it. A worker that has not
// answered within the task's time limit (plus a grace period) is terminated
// and replaced, and the job rejects with `{ timeout: true }`, which the Rust
// side turns into a `time_limit` error receipt.

/** Extra time given to a worker beyond the task's own limit, for loading and slicing. */
const GRACE_MS = 2_000;

export class WorkerPool {
  #size;
  #dbName;
  #wasm;
  #idle = [];
  #queue = [];
  #all = new Set();
  #seq = 0;
  #closed = false;

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
      const timer = setTimeout(() => {
        worker.onmessage = null;
        worker.terminate();
        this.#all.delete(worker);
        reject({ timeout: true });
        if (!this.#closed) this.#spawn();
      }, timeMs + GRACE_MS);
      worker.onmessage = ({ data }) => {
        if (data.type === "ready") {
          if (data.error) console.error(`[ipvm] a worker failed to start: ${data.error}`);
          return;
        }
        if (data.id !== id) return;
        clearTimeout(timer);
        worker.onmessage = null;
        this.#idle.push(worker);
        if (data.error !== undefined) reject(new Error(data.error));
        else resolve(data.execution);
        this.#pump();
      };
      worker.postMessage({ type: "job", id, job });
    }
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
