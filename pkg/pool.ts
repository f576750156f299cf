// A pool of dedicated module workers that execute tasks off the main thread.
// The Rust scheduler (on the main thread) calls `dispatch(job, timeMs)`; the
// pool runs the job on an idle worker, or queues it.
//
// Stopping a job: `cancel` sends the worker a "cancel" message, which the job
// sees between two fuel slices on wasmi; the worker answers and stays in the
// pool. A task on the browser's own engine cannot pause: its worker says so
// when the call starts (`unpausable`), and a cancel then terminates it at
// once. Any worker that does not answer is terminated and replaced: after the
// task's time limit plus GRACE_MS (the job then rejects with
// `{ timeout: true }`, which the Rust side turns into a `time_limit` error
// receipt), or CANCEL_GRACE_MS after a cancel.

/** Extra time given to a worker beyond the task's own limit, for loading and slicing. */
const GRACE_MS = 2_000;
/**
 * How long a cancelled job may take to answer before its worker is terminated: a job on wasmi
 * answers at its next fuel slice, once its module is loaded and compiled. A job the worker said
 * is on the browser's own engine (which cannot pause) is terminated at once.
 */
const CANCEL_GRACE_MS = 5_000;

/** The state of a runtime's worker pool (see `Runtime.workerStats`). */
export interface WorkerStats {
  /** Workers alive. */
  workers: number;
  /** Jobs running on a worker. */
  busy: number;
  /** Jobs waiting for a worker. */
  queued: number;
  /** Workers started since the runtime opened, replacements included. */
  spawned: number;
  /** Workers terminated and replaced: they overran a time limit or did not stop when cancelled. */
  replaced: number;
  /** Jobs cancelled by an aborted run. */
  cancelled: number;
}

/** What a worker says (see worker.ts). */
export type WorkerAnswer =
  | { type: "ready"; error?: string }
  | { type?: undefined; id: number; execution: string }
  | { type?: undefined; id: number; error: string }
  | { type?: undefined; id: number; cancelled: true }
  | { type: "unpausable"; id: number };

/** What a worker is told. */
export type WorkerRequest =
  | { type: "init"; name: string; wasm: WebAssembly.Module; engine: string }
  | { type: "job"; id: number; job: string }
  | { type: "cancel"; id: number };

interface Queued {
  job: string;
  instruction: string | undefined;
  timeMs: number;
  resolve: (execution: string) => void;
  reject: (reason: unknown) => void;
}

interface Running {
  worker: Worker;
  instruction: string | undefined;
  timer: ReturnType<typeof setTimeout>;
  resolve: (execution: string) => void;
  reject: (reason: unknown) => void;
  stopping: boolean;
  /** The job runs on the browser's own engine: it cannot stop at a fuel slice. */
  unpausable: boolean;
}

/** The instruction CID of a job (DAG-JSON text). */
function instructionOf(job: string): string | undefined {
  try {
    return JSON.parse(job).instruction?.["/"];
  } catch {
    return undefined;
  }
}

function cancelled(): Error {
  return Object.assign(new Error("cancelled"), { cancelled: true });
}

/** Dedicated module workers running `TaskWorker`s on one IndexedDB store. */
export class WorkerPool {
  #size: number;
  #dbName: string;
  #wasm: WebAssembly.Module;
  #workerUrl: string | URL;
  #engine: string;
  #idle: Worker[] = [];
  #queue: Queued[] = [];
  #all = new Set<Worker>();
  #seq = 0;
  #closed = false;
  #counts = { spawned: 0, replaced: 0, cancelled: 0 };
  /** Jobs on a worker, by id. */
  #busy = new Map<number, Running>();

  /**
   * Starts `size` workers on the IndexedDB store `dbName`. `wasm` is the runtime's compiled
   * module; `workerUrl` is the worker script (default: worker.js beside this file); `engine` is
   * the engine the workers prefer (`auto`, `fast`, `wasmi`).
   */
  constructor(
    size: number,
    dbName: string,
    wasm: WebAssembly.Module,
    workerUrl: string | URL = new URL("./worker.js", import.meta.url),
    engine = "auto",
  ) {
    this.#engine = engine;
    this.#size = size;
    this.#dbName = dbName;
    this.#wasm = wasm;
    this.#workerUrl = workerUrl;
    for (let i = 0; i < size; i++) this.#spawn();
  }

  /** How many workers the pool keeps. */
  get size(): number {
    return this.#size;
  }

  /** Workers, jobs running and queued, and how many workers were started, replaced, and jobs cancelled. */
  stats(): WorkerStats {
    return { workers: this.#all.size, busy: this.#busy.size, queued: this.#queue.length, ...this.#counts };
  }

  #post(worker: Worker, message: WorkerRequest): void {
    worker.postMessage(message);
  }

  #spawn(): void {
    const worker = new Worker(this.#workerUrl, { type: "module", name: "ipvm-web task worker" });
    this.#counts.spawned++;
    this.#all.add(worker);
    this.#post(worker, { type: "init", name: this.#dbName, wasm: this.#wasm, engine: this.#engine });
    // Jobs sent before "ready" wait inside the worker, so the worker is idle at once.
    this.#idle.push(worker);
    this.#pump();
  }

  /** Runs a job (DAG-JSON) on a worker; resolves to the execution (DAG-JSON). */
  dispatch = (job: string, timeMs: number): Promise<string> =>
    new Promise((resolve, reject) => {
      if (this.#closed) return reject(new Error("the worker pool is closed"));
      this.#queue.push({ job, instruction: instructionOf(job), timeMs, resolve, reject });
      this.#pump();
    });

  #pump(): void {
    while (this.#idle.length > 0 && this.#queue.length > 0) {
      const worker = this.#idle.pop()!;
      const { job, instruction, timeMs, resolve, reject } = this.#queue.shift()!;
      const id = ++this.#seq;
      const timer = setTimeout(() => this.#kill(id, { timeout: true }), timeMs + GRACE_MS);
      this.#busy.set(id, { worker, instruction, timer, resolve, reject, stopping: false, unpausable: false });
      worker.onmessage = ({ data }: MessageEvent<WorkerAnswer>) => {
        if (data.type === "ready") {
          if (data.error) console.error(`[ipvm] a worker failed to start: ${data.error}`);
          return;
        }
        if (data.id !== id) return;
        if (data.type === "unpausable") return this.#unpausable(id);
        this.#answered(id, data);
      };
      this.#post(worker, { type: "job", id, job });
    }
  }

  /** Job `id` started a call that cannot pause: a cancel (already sent, or later) terminates it. */
  #unpausable(id: number): void {
    const job = this.#busy.get(id);
    if (!job) return;
    job.unpausable = true;
    if (job.stopping) this.#kill(id, cancelled());
  }

  /** The worker running job `id` answered: settle the job, and the worker is idle again. */
  #answered(id: number, data: Exclude<WorkerAnswer, { type: "ready" } | { type: "unpausable" }>): void {
    const job = this.#busy.get(id);
    if (!job) return;
    clearTimeout(job.timer);
    this.#busy.delete(id);
    job.worker.onmessage = null;
    this.#idle.push(job.worker);
    if (job.stopping || "cancelled" in data) job.reject(cancelled());
    else if ("error" in data) job.reject(new Error(data.error));
    else job.resolve(data.execution);
    this.#pump();
  }

  /** Terminates the worker running job `id`, rejects the job with `reason`, and starts a replacement. */
  #kill(id: number, reason: unknown): void {
    const job = this.#busy.get(id);
    if (!job) return;
    this.#busy.delete(id);
    clearTimeout(job.timer);
    job.worker.onmessage = null;
    job.worker.terminate();
    this.#all.delete(job.worker);
    this.#counts.replaced++;
    job.reject(reason);
    if (!this.#closed) this.#spawn();
  }

  /**
   * Cancels the jobs of these instructions: queued ones are dropped, running ones stop at
   * their next fuel slice on wasmi; a worker running one on the browser's engine, or that does
   * not stop within CANCEL_GRACE_MS, is replaced.
   */
  cancel(instructions: Iterable<string>): void {
    const wanted = new Set(instructions);
    this.#queue = this.#queue.filter((q) => {
      if (q.instruction === undefined || !wanted.has(q.instruction)) return true;
      this.#counts.cancelled++;
      q.reject(cancelled());
      return false;
    });
    for (const [id, job] of this.#busy) {
      if (job.instruction === undefined || !wanted.has(job.instruction) || job.stopping) continue;
      job.stopping = true;
      this.#counts.cancelled++;
      if (job.unpausable) {
        this.#kill(id, cancelled());
        continue;
      }
      clearTimeout(job.timer);
      job.timer = setTimeout(() => this.#kill(id, cancelled()), CANCEL_GRACE_MS);
      this.#post(job.worker, { type: "cancel", id });
    }
  }

  /** Terminates every worker; queued and running jobs reject. */
  close(): void {
    this.#closed = true;
    for (const w of this.#all) w.terminate();
    this.#all.clear();
    this.#idle = [];
    for (const { reject } of this.#queue.splice(0)) reject(new Error("the worker pool is closed"));
    for (const [id, job] of this.#busy) {
      clearTimeout(job.timer);
      this.#busy.delete(id);
      job.reject(new Error("the worker pool is closed"));
    }
  }
}
