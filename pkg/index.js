// The public entry point of the npm package `ipvm-web`.
//
// A thin, hand-written facade over the generated wasm-bindgen glue in
// ./wasm/: it loads the Wasm runtime once, accepts friendly argument types
// (objects, URLs, Responses) and forwards to the Rust side, where all logic
// lives. Types and documentation: index.d.ts.

import init, { Runtime as RawRuntime, instructionCid as rawInstructionCid } from "./wasm/ipvm_web.js";
import { WorkerPool } from "./pool.js";

let loading;

/** Loads the runtime's Wasm once. `wasm` overrides where it comes from. */
function load(wasm) {
  loading ??= init(wasm === undefined ? undefined : { module_or_path: wasm });
  return loading;
}

/**
 * The errors the runtime throws: `name` is "IpvmError" and `code` is stable
 * (`ERR_WORKFLOW_INVALID` also carries `task` and `field`).
 */
export class IpvmError extends Error {
  constructor(code, message, details = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "IpvmError";
    this.code = code;
    if (details.task !== undefined) this.task = details.task;
    if (details.field !== undefined) this.field = details.field;
  }
}

/** Whether `e` is an error thrown by the runtime (it has a stable `code`). */
export function isIpvmError(e) {
  return e instanceof IpvmError;
}

function ipvmError(code, message) {
  return new IpvmError(code, message);
}

/** Rethrows errors from the Wasm side as IpvmError instances. */
function rethrow(e) {
  if (e instanceof Error && e.name === "IpvmError" && !(e instanceof IpvmError)) {
    throw new IpvmError(e.code, e.message, { task: e.task, field: e.field, cause: e });
  }
  throw e;
}

async function toBytes(source) {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  if (typeof Response !== "undefined" && source instanceof Response) {
    if (!source.ok) throw ipvmError("ERR_FETCH", `fetching the module failed: HTTP ${source.status} ${source.url}`);
    return new Uint8Array(await source.arrayBuffer());
  }
  if (source instanceof URL || typeof source === "string") {
    return toBytes(await fetch(source));
  }
  throw ipvmError("ERR_ARGUMENT", "addModule expects bytes (Uint8Array/ArrayBuffer), a URL or a Response");
}

function toJson(value, what) {
  if (typeof value === "string") return value;
  if (value && typeof value === "object") return JSON.stringify(value);
  throw ipvmError("ERR_ARGUMENT", `${what} must be DAG-JSON text or an object`);
}

const raws = new WeakMap();
const closeChannels = new WeakMap();
const pools = new WeakMap();
const raw = (rt) => {
  const r = raws.get(rt);
  if (!r) throw ipvmError("ERR_ARGUMENT", "not a Runtime");
  return r;
};

/** An IPVM runtime: a store of modules and receipts, and a scheduler. */
export class Runtime {
  #raw;
  #channel;

  constructor(raw, channelName) {
    if (!(raw instanceof RawRuntime)) {
      throw ipvmError("ERR_ARGUMENT", "use `await Runtime.open()` to create a runtime");
    }
    this.#raw = raw;
    raws.set(this, raw);
    // Other tabs (and workers) of the origin on the same store hear of new receipts here.
    if (channelName && typeof BroadcastChannel === "function") {
      this.#channel = new BroadcastChannel(channelName);
      closeChannels.set(this, () => this.#channel.close());
    }
  }

  /** How many workers execute tasks (0: tasks run on this thread). */
  get workers() {
    return pools.get(this)?.size ?? 0;
  }

  /**
   * The worker pool's state: workers alive, jobs running and queued, workers spawned and
   * replaced (terminated because they overran a limit or ignored a cancel), jobs cancelled.
   * All zero without workers.
   */
  workerStats() {
    return pools.get(this)?.stats() ?? { workers: 0, busy: 0, queued: 0, spawned: 0, replaced: 0, cancelled: 0 };
  }

  /**
   * Calls `callback({ instruction, receipt })` when another tab or worker on the same
   * store writes a receipt. Returns a function that unsubscribes.
   */
  onReceipt(callback) {
    if (typeof callback !== "function") throw ipvmError("ERR_ARGUMENT", "onReceipt expects a function");
    if (!this.#channel) return () => {};
    const listener = (m) => m.data?.type === "receipt" && callback({ instruction: m.data.instruction, receipt: m.data.receipt });
    this.#channel.addEventListener("message", listener);
    return () => this.#channel?.removeEventListener("message", listener);
  }

  /**
   * Loads the Wasm runtime (once per page) and opens a runtime. By default its
   * store is the IndexedDB database `ipvm-web:<name>`; `storage: "memory"` keeps
   * everything in memory instead.
   */
  static async open(options = {}) {
    const { name = "default", storage = "indexeddb", persist = false } = options;
    const workers = options.workers ?? (storage === "memory" ? 0 : Math.max(1, globalThis.navigator?.hardwareConcurrency ?? 2));
    if (!Number.isInteger(workers) || workers < 0) throw ipvmError("ERR_ARGUMENT", "options.workers must be a non-negative integer");
    if (workers > 0 && storage === "memory") throw ipvmError("ERR_ARGUMENT", 'workers need storage "indexeddb" (they read modules from it); use workers: 0 with storage "memory"');
    if (typeof name !== "string" || name.length === 0) throw ipvmError("ERR_ARGUMENT", "options.name must be a non-empty string");
    if (storage !== "indexeddb" && storage !== "memory") throw ipvmError("ERR_ARGUMENT", 'options.storage must be "indexeddb" or "memory"');
    await load(options.wasm);
    if (storage === "memory") return new Runtime(new RawRuntime());
    if (persist && globalThis.navigator?.storage?.persist) await navigator.storage.persist();
    const dbName = `ipvm-web:${name}`;
    const pool = workers > 0 && typeof Worker === "function" ? new WorkerPool(workers, dbName, options.wasm, options.workerUrl) : null;
    try {
      const rt = new Runtime(await RawRuntime.openIndexedDb(dbName, pool?.dispatch).catch(rethrow), dbName);
      if (pool) pools.set(rt, pool);
      return rt;
    } catch (e) {
      pool?.close();
      throw e;
    }
  }

  /**
   * Stores a module (bytes, URL or Response) and resolves to its CID. Given the CID of a
   * module already in the store, checks that it is there, complete and intact, and returns it.
   */
  async addModule(source) {
    if (typeof source === "string" && /^(baf[a-z2-7]+|Qm[1-9A-HJ-NP-Za-km-z]{44})$/.test(source)) {
      if (await this.#raw.hasFile(source).catch(rethrow)) return source;
      throw ipvmError("ERR_MISSING_BLOCK", `module ${source} is not in the store (add its bytes first, or import a CAR that holds it)`);
    }
    return this.#raw.addModule(await toBytes(source)).catch(rethrow);
  }

  /** Runs a workflow (object or DAG-JSON text); resolves to one report per task. */
  async run(workflow, options = {}) {
    const { onEvent, logs = "console", signal } = options;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw ipvmError("ERR_ARGUMENT", "options.signal must be an AbortSignal");
    }
    if (onEvent !== undefined && typeof onEvent !== "function") {
      throw ipvmError("ERR_ARGUMENT", "options.onEvent must be a function");
    }
    const channel = this.#channel;
    // Abort stops running tasks too, at their next fuel slice.
    const started = new Set();
    const pool = pools.get(this);
    const onAbort = () => pool?.cancel([...started]);
    signal?.addEventListener("abort", onAbort, { once: true });
    const listener = (e) => {
      if (e.type === "started") started.add(e.instruction);
      if (channel && e.receipt && (e.type === "finished" || e.type === "failed")) {
        channel.postMessage({ type: "receipt", instruction: e.instruction, receipt: e.receipt });
      }
      onEvent?.(e);
    };
    let reports;
    try {
      reports = await this.#raw.run(toJson(workflow, "workflow"), listener, signal).catch(rethrow);
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
    if (logs === "console") {
      for (const r of reports) {
        for (const line of r.logs ?? []) console.info(`[ipvm task ${r.task}] ${line}`);
      }
    }
    return reports;
  }
}

// The methods below are added to Runtime's prototype to keep the class body
// short; each forwards to the Rust side.
Object.assign(Runtime.prototype, {
  /** The stored receipt with this CID, or null. */
  receipt(cid) {
    return raw(this).receipt(String(cid)).catch(rethrow);
  },
  /** The receipt of an instruction (the memo), or null. */
  receiptFor(instructionCid) {
    return raw(this).receiptFor(String(instructionCid)).catch(rethrow);
  },
  /** Every receipt computed from this input (module or data CID). */
  receiptsUsing(inputCid) {
    return raw(this).receiptsUsing(String(inputCid)).catch(rethrow);
  },
  /** The records of runs on this store; a run still `running` after a reload was interrupted. */
  runs() {
    return raw(this).runs().catch(rethrow);
  },
  /** A CARv1 archive (Uint8Array) of receipts or blocks, with what they need. */
  exportCar(roots) {
    if (!Array.isArray(roots)) throw ipvmError("ERR_ARGUMENT", "exportCar expects an array of CIDs");
    return raw(this).exportCar(roots.map(String)).catch(rethrow);
  },
  /** Imports a CARv1 archive; resolves to the counts of blocks and receipts imported. */
  async importCar(bytes) {
    return raw(this).importCar(await toBytes(bytes)).catch(rethrow);
  },
  /** Re-runs the task of a stored receipt and compares output and fuel. */
  verify(receiptCid) {
    return raw(this).verify(String(receiptCid)).catch(rethrow);
  },
  /** Counts of stored blocks and receipts, and the origin's storage usage and quota. */
  async storage() {
    const counts = await raw(this).counts().catch(rethrow);
    const estimate = (await globalThis.navigator?.storage?.estimate?.()) ?? {};
    return { ...counts, usage: estimate.usage ?? null, quota: estimate.quota ?? null };
  },
  /** Closes the store (and the receipt channel); the runtime must not be used afterwards. */
  async close() {
    closeChannels.get(this)?.();
    pools.get(this)?.close();
    raw(this).close();
  },
});

/** The CID of an instruction `{rsc, op, input: {func, args}, nnc}`. */
export async function instructionCid(instruction) {
  await load();
  try {
    return rawInstructionCid(toJson(instruction, "instruction"));
  } catch (e) {
    rethrow(e);
  }
}

/** `{"await/ok": {"/": cid}}`: the output of the instruction `cid`. */
export function awaitOk(cid) {
  return { "await/ok": { "/": String(cid) } };
}

/** `{"await/error": {"/": cid}}`: the error of the instruction `cid`. */
export function awaitError(cid) {
  return { "await/error": { "/": String(cid) } };
}

/** `{"await/*": {"/": cid}}`: the whole result of the instruction `cid`. */
export function awaitAny(cid) {
  return { "await/*": { "/": String(cid) } };
}

/**
 * Builds a `wasm/run` task and computes its instruction CID.
 * Resolves to `{ task, instruction }`.
 */
export async function wasmTask({ module, func, args = [], nnc = "", fuel, memory, time }) {
  if (typeof module !== "string" || module.length === 0) throw ipvmError("ERR_ARGUMENT", "wasmTask: `module` must be a module CID");
  if (typeof func !== "string" || func.length === 0) throw ipvmError("ERR_ARGUMENT", "wasmTask: `func` must be a function name");
  if (!Array.isArray(args)) throw ipvmError("ERR_ARGUMENT", "wasmTask: `args` must be an array");
  const run = { rsc: `ipfs://${module}`, op: "wasm/run", input: { func, args }, nnc };
  const meta = {};
  if (fuel !== undefined) meta.fuel = fuel;
  if (memory !== undefined) meta.memory = memory;
  if (time !== undefined) meta.time = time;
  return { task: { run, cause: null, meta, prf: [] }, instruction: await instructionCid(run) };
}
