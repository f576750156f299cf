// A pool of dedicated module workers that execute tasks off the main thread.
// The Rust scheduler (on the main thread) calls `dispatch(job, timeMs)`; the
// pool sends the job to a worker, or queues it.
//
// Batches: jobs dispatched together (in one turn of the event loop) are sent
// to a worker in one message, and, while jobs are short (recent ones took
// under BATCH_BELOW_MS on average), a worker holds up to DEPTH jobs, refilled
// when it is down to REFILL, so that it never waits for the page between two
// jobs of a long queue. Long jobs gain nothing from batches and would leave a
// worker idle while another has jobs waiting: they go one per worker, as does
// a short queue. A worker answers in batches too: the answers of jobs that finish close
// together go in one message, and those waiting go before a call on the
// browser's engine starts (with the notice that it cannot pause, below), so
// that the page never counts a call's time against the job before it. A worker runs its jobs in order, so the page knows which
// job is running: the oldest one it holds.
//
// Stopping a job: `cancel` sends the worker a "cancel" message, which the
// running job sees between two fuel slices on wasmi; the worker answers and
// stays in the pool. Jobs a worker holds but has not started are dropped by
// the worker, and settled at once on the page. A task on the browser's own
// engine cannot pause: its worker says so when the call starts
// (`unpausable`; only for jobs sent while a run that may be cancelled is
// going, see `watch`), and a cancel then terminates it at once. Any worker that
// does not answer is terminated and replaced: after the running job's time
// limit plus GRACE_MS (counted from when the page learns the job is the
// oldest held; the job then rejects with `{ timeout: true }`, which the Rust
// side turns into a `time_limit` error receipt), or CANCEL_GRACE_MS after a
// cancel. The other jobs a terminated worker held go back to the front of the
// queue.

import type { IpvmErrorCode, ModuleInfo } from "./wasm/ipvm_web.js";

/** Extra time given to a worker beyond the task's own limit, for loading and slicing. */
const GRACE_MS = 2_000;
/**
 * How long a cancelled job may take to answer before its worker is terminated: a job on wasmi
 * answers at its next fuel slice, once its module is loaded and compiled. A job the worker said
 * is on the browser's own engine (which cannot pause) is terminated at once.
 */
const CANCEL_GRACE_MS = 5_000;
/** The most jobs a worker holds (running and waiting in it). */
const DEPTH = 16;
/** A worker holding more jobs than this is not sent more until it is down to it. */
const REFILL = 8;
/** Jobs are batched while the recent ones took less than this on average (ms). */
const BATCH_BELOW_MS = 50;
/** Workers in a row beyond the pool's size that may fail before saying they are ready, before the pool gives up starting them. */
const START_RETRIES = 2;

/** The state of a runtime's worker pool (see `Runtime.workerStats`). */
export interface WorkerStats {
  /** Workers alive. */
  workers: number;
  /** Jobs sent to a worker and not yet answered (running, or waiting in the worker). */
  busy: number;
  /** Jobs waiting on the page for room in a worker. */
  queued: number;
  /** Workers started since the runtime opened, replacements included. */
  spawned: number;
  /** Workers terminated and replaced: they overran a time limit or did not stop when cancelled. */
  replaced: number;
  /** Jobs cancelled by an aborted run. */
  cancelled: number;
  /** Messages that carried jobs to workers or answers back (batches: fewer than the jobs). */
  messages: number;
}

/** One job's outcome, as a worker reports it. */
export type JobAnswer =
  | { id: number; execution: string }
  | { id: number; error: string }
  | { id: number; cancelled: true };

/** What a worker says (see worker.ts). */
export type WorkerAnswer =
  | { type: "ready"; error?: string }
  /** Jobs that ended, in the order they ran; `unpausable` names the job whose call just started on the browser's engine. */
  | { type: "answers"; answers: JobAnswer[]; unpausable?: number };

/** What a worker is told. */
/** The one message of a module inspector (a worker started for one `inspectModule` call). */
export type InspectRequest = { type: "inspect"; wasm: WebAssembly.Module; bytes: Uint8Array };
/** Its answer: the module's description, or the error (`code`, `message`) to reject with. */
export type InspectAnswer = { type: "inspected"; info?: ModuleInfo; error?: { code: IpvmErrorCode; message: string } };

export type WorkerRequest =
  | { type: "init"; name: string; wasm: WebAssembly.Module; engine: string }
  /**
   * Jobs to run, in this order, after the ones it holds; `notify`: say when a call of one of
   * them starts on the browser's engine (only needed if they may be cancelled).
   */
  | { type: "jobs"; jobs: { id: number; job: string }[]; notify: boolean }
  /** Stop these jobs: the running one at its next fuel slice, the others before they start. */
  | { type: "cancel"; ids: number[] };

interface Job {
  id: number;
  job: string;
  instruction: string | undefined;
  timeMs: number;
  resolve: (execution: string) => void;
  reject: (reason: unknown) => void;
  /** Cancelled while a worker held it. */
  stopping: boolean;
  /** Settled on the page already (cancelled before it started): its answer is only awaited. */
  settled: boolean;
  /** The job runs on the browser's own engine: it cannot stop at a fuel slice. */
  unpausable: boolean;
}

/** A worker and the jobs it holds, oldest (running) first. */
interface Slot {
  worker: Worker;
  held: Job[];
  /** The timer of the oldest job, and which job it is for. */
  timer?: ReturnType<typeof setTimeout>;
  timerFor?: number;
  /** When the page learnt the oldest job was running (ms, `performance.now()`). */
  since: number;
  /** Whether the worker answered before (its first job's time includes its start). */
  warm: boolean;
  /** Whether the worker said it is ready (its script loaded and ran). */
  ready: boolean;
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
  /** The app's worker script (`workerUrl`), or undefined for the package's own worker.js. */
  #workerUrl: string | URL | undefined;
  #engine: string;
  #slots = new Set<Slot>();
  #queue: Job[] = [];
  #seq = 0;
  #closed = false;
  #pumpSoon = false;
  #counts = { spawned: 0, replaced: 0, cancelled: 0, messages: 0 };
  /** The recent jobs' mean time on a worker (ms; a moving average), once one was answered. */
  #meanMs: number | undefined;
  /** Runs that may cancel their jobs (see `watch`). */
  #watchers = 0;
  /** Workers in a row that failed before saying they were ready. */
  #startFailures = 0;
  /** Why the pool stopped starting workers (size + START_RETRIES failed in a row), once it has. */
  #broken: string | undefined;

  /**
   * Starts `size` workers on the IndexedDB store `dbName`. `wasm` is the runtime's compiled
   * module; `workerUrl` is the worker script (default: worker.js beside this file, see
   * `#start`); `engine` is the engine the workers prefer (`auto`, `fast`, `wasmi`).
   */
  constructor(
    size: number,
    dbName: string,
    wasm: WebAssembly.Module,
    workerUrl: string | URL | undefined,
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

  /** Workers, jobs held by workers and queued, workers started and replaced, jobs cancelled, messages. */
  stats(): WorkerStats {
    let busy = 0;
    for (const slot of this.#slots) busy += slot.held.filter((j) => !j.settled).length;
    const { spawned, replaced, cancelled, messages } = this.#counts;
    return { workers: this.#slots.size, busy, queued: this.#queue.length, spawned, replaced, cancelled, messages };
  }

  #post(slot: Slot, message: WorkerRequest): void {
    slot.worker.postMessage(message);
  }

  /**
   * Starts one worker: the app's script if it gave one, else the package's worker.js. That one
   * is started with `new Worker(new URL("./worker.js", import.meta.url), { type: "module" })`
   * written out in the call, the one form that Vite and webpack recognise: they then bundle
   * worker.js and its imports as a worker of their own (a URL computed elsewhere would be copied
   * as a plain file, whose imports then do not resolve). The comment names webpack's file for it
   * (else it takes the worker's `name`: the inspector's, in index.ts, or this one's); it stands
   * after the URL, since Vite looks for `new Worker(new URL(` in the code as written.
   */
  #start(): Worker {
    if (this.#workerUrl !== undefined) return new Worker(this.#workerUrl, { type: "module", name: "ipvm-web task worker" });
    return new Worker(new URL("./worker.js", import.meta.url), /* webpackChunkName: "ipvm-web-worker" */ { type: "module", name: "ipvm-web task worker" });
  }

  #spawn(): void {
    const worker = this.#start();
    this.#counts.spawned++;
    const slot: Slot = { worker, held: [], since: 0, warm: false, ready: false };
    this.#slots.add(slot);
    worker.onmessage = ({ data }: MessageEvent<unknown>) => this.#heard(slot, data);
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#failed(slot, e.message);
    };
    this.#post(slot, { type: "init", name: this.#dbName, wasm: this.#wasm, engine: this.#engine });
    // Jobs sent before "ready" wait inside the worker, so the worker takes jobs at once.
    this.#pump();
  }

  /**
   * Says that a run that may be cancelled is going, until the function returned is called:
   * meanwhile, workers say when a job's call starts on the browser's engine (which cannot
   * pause), so that a cancel terminates it at once. Without it, a cancelled job that does not
   * answer is terminated after CANCEL_GRACE_MS, and workers send fewer messages.
   */
  watch(): () => void {
    this.#watchers++;
    let done = false;
    return () => {
      if (!done) this.#watchers--;
      done = true;
    };
  }

  /** Runs a job (DAG-JSON) on a worker; resolves to the execution (DAG-JSON). */
  dispatch = (job: string, timeMs: number): Promise<string> =>
    new Promise((resolve, reject) => {
      if (this.#closed) return reject(new Error("the worker pool is closed"));
      if (this.#broken) return reject(new Error(this.#broken));
      const id = ++this.#seq;
      this.#queue.push({ id, job, instruction: instructionOf(job), timeMs, resolve, reject, stopping: false, settled: false, unpausable: false });
      // Jobs dispatched in the same turn go out together.
      if (!this.#pumpSoon) {
        this.#pumpSoon = true;
        queueMicrotask(() => {
          this.#pumpSoon = false;
          this.#pump();
        });
      }
    });

  /**
   * Sends queued jobs to workers with room. Long jobs: one to each idle worker. Short ones: an
   * equal share to each idle worker (one job each for a short queue), then, while the queue is
   * longer than the workers, top-ups to workers down to REFILL jobs.
   */
  #pump(): void {
    if (this.#closed || this.#queue.length === 0) return;
    const batching = this.#meanMs !== undefined && this.#meanMs < BATCH_BELOW_MS;
    const idle = [...this.#slots].filter((s) => s.held.length === 0);
    idle.forEach((slot, i) => {
      const share = Math.ceil(this.#queue.length / (idle.length - i));
      this.#send(slot, batching ? Math.min(DEPTH, share) : 1);
    });
    if (!batching || this.#queue.length < this.#slots.size) return;
    const low = [...this.#slots].filter((s) => s.held.length <= REFILL);
    low.forEach((slot, i) => {
      const share = Math.ceil(this.#queue.length / (low.length - i));
      this.#send(slot, Math.min(DEPTH - slot.held.length, share));
    });
  }

  /** Sends the next `n` queued jobs to a worker in one message. */
  #send(slot: Slot, n: number): void {
    const jobs = this.#queue.splice(0, n);
    if (jobs.length === 0) return;
    slot.held.push(...jobs);
    this.#counts.messages++;
    this.#post(slot, { type: "jobs", jobs: jobs.map(({ id, job }) => ({ id, job })), notify: this.#watchers > 0 });
    this.#watch(slot);
  }

  /** Keeps a timer on the oldest job a worker holds (the one running). */
  #watch(slot: Slot): void {
    const head = slot.held[0];
    if (slot.timerFor === head?.id) return;
    clearTimeout(slot.timer);
    slot.timer = undefined;
    slot.timerFor = head?.id;
    slot.since = performance.now();
    if (!head) return;
    const ms = head.stopping ? CANCEL_GRACE_MS : head.timeMs + GRACE_MS;
    slot.timer = setTimeout(() => this.#kill(slot, head.stopping ? cancelled() : { timeout: true }), ms);
  }

  /**
   * What a worker said. The worker script is the app's choice (`workerUrl`): a message that is
   * not one of the forms above, or an answer without an id of a job it holds, is ignored; an
   * answer for a held job without an execution text fails that job (a `worker` error receipt).
   */
  #heard(slot: Slot, data: unknown): void {
    if (typeof data !== "object" || data === null) return;
    const message = data as Partial<{ type: string; error: unknown; answers: unknown; unpausable: unknown }>;
    if (message.type === "ready") {
      slot.ready = true;
      this.#startFailures = 0;
      if (message.error) console.error(`[ipvm] a worker failed to start: ${String(message.error)}`);
      return;
    }
    if (message.type !== "answers" || !Array.isArray(message.answers) || !this.#slots.has(slot)) return;
    this.#counts.messages++;
    const answers = message.answers.filter(
      (a): a is JobAnswer => typeof a === "object" && a !== null && typeof (a as { id?: unknown }).id === "number",
    );
    if (answers.length > 0 && slot.warm) {
      // The jobs answered ran one after another since the oldest was known to run.
      const each = (performance.now() - slot.since) / answers.length;
      this.#meanMs = this.#meanMs === undefined ? each : 0.5 * this.#meanMs + 0.5 * each;
    }
    if (answers.length > 0) slot.warm = true;
    for (const answer of answers) this.#answered(slot, answer);
    if (typeof message.unpausable === "number") this.#unpausable(slot, message.unpausable);
    this.#watch(slot);
    this.#pump();
  }

  /** A worker answered job `answer.id`: settle it (unless it was already), and forget it. */
  #answered(slot: Slot, answer: JobAnswer): void {
    const at = slot.held.findIndex((j) => j.id === answer.id);
    if (at < 0) return;
    const [job] = slot.held.splice(at, 1);
    if (job.settled) return;
    if (job.stopping || "cancelled" in answer) job.reject(cancelled());
    else if ("error" in answer) job.reject(new Error(String(answer.error)));
    else if (typeof (answer as { execution?: unknown }).execution === "string") job.resolve(answer.execution);
    else job.reject(new Error("the worker's answer has no execution"));
  }

  /** Job `id` started a call that cannot pause: a cancel (already sent, or later) terminates it. */
  #unpausable(slot: Slot, id: number): void {
    const job = slot.held.find((j) => j.id === id);
    if (!job) return;
    job.unpausable = true;
    if (job.stopping) this.#kill(slot, cancelled());
  }

  /**
   * A worker's script did not load, or it threw outside the handling of any job: the job it was
   * running fails at once with a `worker` error (not at its time limit; a job being cancelled
   * is cancelled), and a replacement starts. After the pool's size plus START_RETRIES workers in
   * a row fail before saying they are ready, the pool stops starting workers: the jobs it holds
   * or queues, and later ones, fail with that reason.
   */
  #failed(slot: Slot, message: string): void {
    if (!this.#slots.has(slot)) return;
    const limit = this.#size + START_RETRIES;
    const script = this.#workerUrl === undefined ? "the package's worker.js" : String(this.#workerUrl);
    // Before "ready", the script (or one of its imports) did not load, or threw at the start.
    let why = slot.ready
      ? `the task worker ${script} failed: ${message || "it threw outside any task"}`
      : `the task worker ${script} did not start${message ? ` (${message})` : ""}. Likely causes, in order: ` +
        "1. the app's bundler did not bundle the worker (it copied worker.js without the runtime it imports): see the README's \"Bundlers\" section, or pass `workerUrl`; " +
        "2. a service worker whose scope does not cover the worker's URL; " +
        "3. a network error (offline, or the server stopped)";
    if (!slot.ready && ++this.#startFailures >= limit) why = this.#broken = `${why} (${limit} workers in a row; the pool has stopped starting them)`;
    console.error(`[ipvm] ${why}`);
    this.#kill(slot, slot.held[0]?.stopping ? cancelled() : new Error(why));
  }

  /**
   * Terminates a worker and starts a replacement: the job it was running rejects with `reason`,
   * the jobs it held but had not started go back to the front of the queue.
   */
  #kill(slot: Slot, reason: unknown): void {
    if (!this.#slots.delete(slot)) return;
    clearTimeout(slot.timer);
    slot.worker.onmessage = null;
    slot.worker.onerror = null;
    slot.worker.terminate();
    this.#counts.replaced++;
    const [head, ...rest] = slot.held;
    slot.held = [];
    if (head && !head.settled) head.reject(reason);
    this.#queue.unshift(...rest.filter((j) => !j.settled));
    if (this.#broken) {
      // No worker will take them.
      for (const job of this.#queue.splice(0)) if (!job.settled) job.reject(new Error(this.#broken));
    } else if (!this.#closed) this.#spawn();
  }

  /**
   * Cancels the jobs of these instructions: queued ones, and ones a worker holds but has not
   * started, are dropped; running ones stop at their next fuel slice on wasmi; a worker running
   * one on the browser's engine, or that does not stop within CANCEL_GRACE_MS, is replaced.
   */
  cancel(instructions: Iterable<string>): void {
    const wanted = new Set(instructions);
    const hit = (j: Job) => j.instruction !== undefined && wanted.has(j.instruction);
    this.#queue = this.#queue.filter((q) => {
      if (!hit(q)) return true;
      this.#counts.cancelled++;
      q.reject(cancelled());
      return false;
    });
    for (const slot of [...this.#slots]) {
      const ids: number[] = [];
      slot.held.forEach((job, at) => {
        if (!hit(job) || job.stopping || job.settled) return;
        job.stopping = true;
        this.#counts.cancelled++;
        ids.push(job.id);
        if (at > 0) {
          // Not started: the worker drops it when it comes to it.
          job.settled = true;
          job.reject(cancelled());
        }
      });
      if (ids.length === 0) continue;
      const head = slot.held[0];
      if (head.stopping && head.unpausable) {
        this.#kill(slot, cancelled());
        continue;
      }
      this.#post(slot, { type: "cancel", ids });
      if (head.stopping) {
        // The running job's timer becomes the cancel's grace.
        slot.timerFor = undefined;
        this.#watch(slot);
      }
    }
  }

  /** Terminates every worker; queued and running jobs reject. */
  close(): void {
    this.#closed = true;
    const closed = () => new Error("the worker pool is closed");
    for (const slot of this.#slots) {
      clearTimeout(slot.timer);
      slot.worker.terminate();
      for (const job of slot.held.splice(0)) if (!job.settled) job.reject(closed());
    }
    this.#slots.clear();
    for (const { reject } of this.#queue.splice(0)) reject(closed());
  }
}
