// Types of the npm package `ipvm-web`. See README.md for a walkthrough.
// The data types (Cid, TaskReport, RunEvent, StoredReceipt, Verification,
// RunRecord) are defined on the Rust side (crates/ipvm-web/src/types.rs) and
// land in the generated ./wasm/ipvm_web.d.ts; they are re-exported here.
import type { Cid, RunEvent, TaskReport, StoredReceipt, Verification, RunRecord } from "./wasm/ipvm_web.js";
export type { Cid, RunEvent, TaskReport, StoredReceipt, Verification, RunRecord };

/** A DAG-JSON link: `{"/": "<cid>"}`. */
export interface Link {
  "/": Cid;
}

/** An await: a value that stands for another instruction's result. */
export type Await = { "await/ok": Link } | { "await/error": Link } | { "await/*": Link };

/**
 * An instruction: what to compute. Its CID (see {@link instructionCid}) is the memo key.
 * Numbers above 2^53 lose precision in JavaScript; pass workflows as DAG-JSON text to keep them.
 */
export interface Instruction {
  /** `ipfs://<CID of the module>` */
  rsc: string;
  /** The operation, `"wasm/run"`. */
  op: string;
  input: { func: string; args: unknown[] };
  /** Nonce: `""`, a string, or bytes `{"/": {"bytes": "<base64>"}}`. */
  nnc: string | { "/": { bytes: string } };
}

/** Limits of a task. Missing keys take the runtime defaults (no fuel limit, 256 MiB, 100 s). */
export interface TaskMeta {
  /** Fuel units; 2^64-1 or more (18446744073709552000) means no limit. */
  fuel?: number;
  /** Maximum linear memory, in bytes. */
  memory?: number;
  /** Maximum wall-clock time, in milliseconds. */
  time?: number;
}

/** A task: an instruction with its limits and provenance (Homestar's format). */
export interface Task {
  run: Instruction;
  cause: Link | null;
  meta: TaskMeta;
  prf: Link[];
}

/** A workflow: `{"tasks": [...]}`. Tasks may await each other's results. */
export interface Workflow {
  tasks: Task[];
}

/** Options of {@link Runtime.open}. */
export interface OpenOptions {
  /** Names the store: the IndexedDB database `ipvm-web:<name>` (default `"default"`). Tabs of an origin that open the same name share it. */
  name?: string;
  /** `"indexeddb"` (default): modules and receipts survive reloads. `"memory"`: nothing is kept. */
  storage?: "indexeddb" | "memory";
  /** Ask the browser to make the origin's storage persistent (`navigator.storage.persist()`). */
  persist?: boolean;
  /**
   * How many dedicated module workers execute tasks (default `navigator.hardwareConcurrency`
   * with IndexedDB storage). `0` runs tasks on the calling thread, which still yields to the
   * event loop between fuel slices. A worker that overruns a task's time limit is terminated
   * and replaced; the task gets a `time_limit` error receipt.
   */
  workers?: number;
  /** Where to load the runtime's Wasm from (defaults to the file next to the package). */
  wasm?: string | URL | Response | BufferSource | WebAssembly.Module;
  /**
   * The workers' script, for bundlers that move files (defaults to `worker.js` next to the
   * package's `pool.js`). It must be the package's `worker.js`, served as a module.
   */
  workerUrl?: string | URL;
}

/** The state of a runtime's worker pool (see {@link Runtime.workerStats}). */
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

/** Options of {@link Runtime.run}. */
export interface RunOptions {
  /** Receives progress events. An exception thrown here does not stop the run. */
  onEvent?: (event: RunEvent) => void;
  /**
   * Cancels the run: no further task starts, and the promise rejects with code `ERR_CANCELLED`.
   * Receipts already written stay; running the workflow again resumes from them.
   * A task that is executing stops at its next fuel slice and leaves no receipt.
   */
  signal?: AbortSignal;
  /** `"console"` (default): print each task's log lines with `console.info`; `"none"`: do not. */
  logs?: "console" | "none";
}

/**
 * Errors thrown by the runtime are `Error`s with `name === "IpvmError"` and a stable `code`:
 * `ERR_WORKFLOW_DECODE`, `ERR_WORKFLOW_INVALID` (with `task` and `field`), `ERR_BAD_CID`,
 * `ERR_MISSING_BLOCK`, `ERR_HASH_MISMATCH`, `ERR_UNIXFS`, `ERR_STORE`, `ERR_QUOTA_EXCEEDED`,
 * `ERR_STORAGE_UNAVAILABLE`, `ERR_VERSION_CONFLICT`, `ERR_CANCELLED`, `ERR_ARGUMENT`,
 * `ERR_FETCH`, `ERR_ENCODE`.
 */
export class IpvmError extends Error {
  private constructor();
  name: "IpvmError";
  code: string;
  /** For `ERR_WORKFLOW_INVALID`: the index of the offending task. */
  task?: number;
  /** For `ERR_WORKFLOW_INVALID`: the offending field, e.g. `run.input.args[0]`. */
  field?: string;
}

/** Whether `e` is an {@link IpvmError}. */
export function isIpvmError(e: unknown): e is IpvmError;

/**
 * An IPVM runtime: a store of modules and receipts, and a scheduler that runs
 * workflows in wasmi. Results are memoized by instruction CID. Runtimes of one origin
 * opened with the same `name` share their store; a Web Lock per instruction makes sure
 * an instruction never runs in two tabs at once.
 *
 * @example
 * ```js
 * import { Runtime, wasmTask, awaitOk } from "ipvm-web";
 * const rt = await Runtime.open();
 * const module = await rt.addModule(new URL("./add_one.wasm", import.meta.url));
 * const one = await wasmTask({ module, func: "add_one", args: [1] });
 * const two = await wasmTask({ module, func: "add_one", args: [awaitOk(one.instruction)] });
 * const reports = await rt.run({ tasks: [one.task, two.task] });
 * console.log(reports.map((r) => r.dagJson));
 * ```
 */
export class Runtime {
  private constructor(raw: unknown);
  /**
   * Loads the runtime's Wasm (once per page) and opens a runtime.
   * @example
   * const rt = await Runtime.open();
   */
  static open(options?: OpenOptions): Promise<Runtime>;
  /**
   * Stores a module (or any file) and resolves to its CID, the one `ipfs add --cid-version 1` gives.
   * Given the CID of a module already in the store (e.g. from an imported CAR), checks it and returns it.
   * @example
   * const cid = await rt.addModule(await fetch("/modules/add_one.wasm"));
   */
  addModule(source: Uint8Array | ArrayBuffer | ArrayBufferView | URL | string | Response | Cid): Promise<Cid>;
  /**
   * A CARv1 archive of receipts (with their invocations and modules) or of blocks (with
   * their DAGs), to carry to another browser or to an IPFS node.
   * @example
   * const car = await rt.exportCar([reports[1].receipt]);
   */
  exportCar(roots: Cid[]): Promise<Uint8Array>;
  /**
   * Imports a CARv1 archive: every block is verified against its CID (a bad block rejects the
   * import and stores nothing), and the receipts in it become memo hits here.
   * @example
   * const { blocks, receipts } = await other.importCar(car);
   */
  importCar(bytes: Uint8Array | ArrayBuffer | Response | URL | string): Promise<{ blocks: number; receipts: number }>;
  /**
   * Runs a workflow and resolves to one report per task, in workflow order.
   * Rejects with an {@link IpvmError} if the workflow is invalid; a task that fails still
   * yields a report (with `ok: false`, or `status: "skipped"` if it could not run).
   * @example
   * const reports = await rt.run(workflow, { onEvent: (e) => console.log(e.type, e.task) });
   */
  run(workflow: Workflow | string, options?: RunOptions): Promise<TaskReport[]>;
  /**
   * The stored receipt with this CID, or null.
   * @example
   * const r = await rt.receipt(reports[0].receipt);
   */
  receipt(cid: Cid): Promise<StoredReceipt | null>;
  /**
   * The receipt of an instruction: the memo lookup.
   * @example
   * const r = await rt.receiptFor(one.instruction);
   */
  receiptFor(instructionCid: Cid): Promise<StoredReceipt | null>;
  /**
   * Every receipt computed from an input: a module or any CID in the arguments.
   * @example
   * const fromImage = await rt.receiptsUsing(imageCid);
   */
  receiptsUsing(inputCid: Cid): Promise<StoredReceipt[]>;
  /**
   * Re-runs the task of a stored receipt (everything it needs is in the store) and compares.
   * @example
   * const v = await rt.verify(reports[1].receipt); // v.matches === true
   */
  verify(receiptCid: Cid): Promise<Verification>;
  /**
   * What is stored, and the origin's storage usage and quota (null where the browser does not say).
   * @example
   * const { receipts, usage, quota } = await rt.storage();
   */
  storage(): Promise<{ blocks: number; receipts: number; usage: number | null; quota: number | null }>;
  /**
   * Calls `callback` when another tab or worker of the origin, on the same store, writes a
   * receipt (announced on the BroadcastChannel `ipvm-web:<name>`). Returns an unsubscribe function.
   * @example
   * const stop = rt.onReceipt(({ instruction, receipt }) => console.log("computed elsewhere:", instruction));
   */
  onReceipt(callback: (announcement: { instruction: Cid; receipt: Cid }) => void): () => void;
  /** How many workers execute tasks (0: tasks run on the calling thread). */
  readonly workers: number;
  /**
   * The worker pool's state (all zero without workers).
   * @example
   * const { busy, queued, replaced } = rt.workerStats();
   */
  workerStats(): WorkerStats;
  /**
   * The records of runs on this store (IndexedDB only), written as runs progress. A run whose
   * `state` is still `"running"` when no run is active was interrupted (a reload, a crash):
   * running its workflow again resumes it.
   * @example
   * const interrupted = (await rt.runs()).filter((r) => r.state === "running");
   */
  runs(): Promise<RunRecord[]>;
  /** Closes the store, the receipt channel and the workers; the runtime must not be used afterwards. */
  close(): Promise<void>;
}

/**
 * The CID of an instruction (CIDv1, DAG-CBOR, SHA3-256), as Homestar computes it.
 * @example
 * const cid = await instructionCid({ rsc: `ipfs://${module}`, op: "wasm/run", input: { func: "add_one", args: [1] }, nnc: "" });
 */
export function instructionCid(instruction: Instruction | string): Promise<Cid>;

/** `{"await/ok": {"/": cid}}`: stands for the output of instruction `cid`. */
export function awaitOk(cid: Cid): Await;
/** `{"await/error": {"/": cid}}`: stands for the error of instruction `cid`. */
export function awaitError(cid: Cid): Await;
/** `{"await/*": {"/": cid}}`: stands for the whole result (`["ok", v]` or `["error", e]`) of instruction `cid`. */
export function awaitAny(cid: Cid): Await;

/** Arguments of {@link wasmTask}. */
export interface WasmTaskSpec extends TaskMeta {
  /** CID of the module (from {@link Runtime.addModule}). */
  module: Cid;
  /** Exported function; `add_one` also finds `add-one` and `addOne`. */
  func: string;
  args?: unknown[];
  /** Nonce; change it to run the same call twice. */
  nnc?: string;
}

/**
 * Builds a `wasm/run` task and computes its instruction CID.
 * @example
 * const { task, instruction } = await wasmTask({ module, func: "add_one", args: [41], fuel: 1_000_000 });
 */
export function wasmTask(spec: WasmTaskSpec): Promise<{ task: Task; instruction: Cid }>;
