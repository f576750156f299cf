// The public entry point of the npm package `ipvm-web`.
//
// A thin facade over the generated wasm-bindgen glue in ./wasm/: it loads the
// Wasm runtime once, accepts friendly argument types (objects, URLs,
// Responses), owns the worker pool and the BroadcastChannel, and forwards to
// the Rust side, where all logic lives. Compiled by tsc (scripts/build.sh)
// to index.js and index.d.ts; the data types (Cid, TaskReport, RunEvent, …)
// come from the Rust side (crates/ipvm-web/src/types.rs) through the glue.
//
// Past 600 lines on purpose: it is the package's whole public API (the
// Runtime class and the free functions), each with the doc comment and
// example that land in index.d.ts; the logic stays on the Rust side.
import init, { Runtime as RawRuntime, instructionCid as rawInstructionCid, isCid, inspectModule as rawInspectModule, planWorkflow as rawPlanWorkflow } from "./wasm/ipvm_web.js";
// The network build's glue: its types only here; the module itself is imported when asked.
import type * as NetGlue from "./wasm-net/ipvm_web.js";
import type {
  PeerInfo, PeerEvent, Cid, RunEvent, TaskReport, TaskDone, TaskDoneFields, TaskSkipped, TaskError, RawTaskReport, StoredReceipt, Verification, RunRecord, Provenance, ImportReport, IpvmErrorCode,
  TrustOptions, TrustReport, ReceiptCheck, ReceiptRefusal, UcanToken, DelegateOptions, InvokeOptions, ModuleInfo, TaskNode,
} from "./wasm/ipvm_web.js";
import { WorkerPool, type InspectAnswer, type InspectRequest, type WorkerStats } from "./pool.js";

export type {
  PeerInfo, PeerEvent, Cid, RunEvent, TaskReport, TaskDone, TaskDoneFields, TaskSkipped, TaskError, StoredReceipt, Verification, RunRecord, Provenance, ImportReport, IpvmErrorCode, WorkerStats,
  TrustOptions, TrustReport, ReceiptCheck, ReceiptRefusal, UcanToken, DelegateOptions, InvokeOptions, ModuleInfo, TaskNode,
};

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
  /** `func`: the export to call; `args`: its arguments as JSON values (the README's "Arguments" table says how each maps to Wasm and WIT types; bytes may be a `Uint8Array`). */
  input: { func: string; args: unknown[] };
  /** Nonce: `""`, a string, or bytes (a `Uint8Array`, or `{"/": {"bytes": "<base64>"}}`). */
  nnc: string | Uint8Array | { "/": { bytes: string } };
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

/**
 * A workflow: `{"tasks": [...]}`, Homestar's format. Tasks may await each other's results.
 * `defaults` gives the limits a task's own `meta` leaves out; `catch` names a handler for failed
 * pure tasks (IPVM Workflow v0.1; see the README's "Failure handling").
 */
export interface Workflow {
  tasks: Task[];
  defaults?: TaskMeta;
  catch?: CatchHandler;
}

/**
 * A workflow's failure handler: a pure Wasm function called as `func(failure, ...args)` when a
 * pure task fails, where `failure` is `{instruction: {"/": cid}, error: {kind, message}}`. It
 * answers a Handle: `{ok: value}` (the task is taken as having given it), `{rewire: "<instruction
 * CID>"}` (as having given what that task of the workflow gives) or `{msg: "…"}` (the failure
 * stands, restated). Its own limits are `meta` (the workflow's `defaults` fill the rest).
 */
export interface CatchHandler {
  /** `ipfs://<CID of the handler's module>` */
  rsc: string;
  func: string;
  args?: unknown[];
  meta?: TaskMeta;
}

/** Where the runtime's own Wasm can come from: a URL, a Response, its bytes, or the compiled module. */
export type WasmSource = string | URL | Request | Response | BufferSource | WebAssembly.Module;

/** Options of {@link Runtime.open}. */
export interface OpenOptions {
  /** Names the store: the IndexedDB database `ipvm-web:<name>` (default `"default"`). Tabs of an origin that open the same name share it. */
  name?: string;
  /** `"indexeddb"` (default): modules and receipts survive reloads. `"memory"`: nothing is kept. */
  storage?: "indexeddb" | "memory";
  /**
   * Ask the browser to make the origin's storage persistent (`navigator.storage.persist()`), so
   * it is not evicted under storage pressure. The browser decides; {@link Runtime.storage}
   * reports the outcome as `persisted`.
   */
  persist?: boolean;
  /**
   * How many dedicated module workers execute tasks (default `navigator.hardwareConcurrency`
   * with IndexedDB storage). `0` runs tasks on the calling thread, which still yields to the
   * event loop between fuel slices. A worker that overruns a task's time limit is terminated
   * and replaced; the task gets a `time_limit` error receipt.
   */
  workers?: number;
  /**
   * Where to load the runtime's Wasm from (defaults to `wasm/ipvm_web_bg.wasm` next to the
   * package's `index.js`). It is compiled once per page; workers receive the compiled module.
   * The first `Runtime.open` of a page decides.
   */
  wasm?: WasmSource;
  /**
   * The workers' script, for bundlers that move files (defaults to `worker.js` next to the
   * package's `pool.js`). It must be the package's `worker.js`, served as a module.
   */
  workerUrl?: string | URL;
  /**
   * Whose receipts to reuse besides this runtime's own: `signers` (DIDs) whose envelope makes an
   * imported receipt a memo hit, and `verifyRate`, the share of such reuses re-run as a
   * spot-check (a mismatch distrusts the signer, persistently, until {@link Runtime.clearDistrust}).
   */
  trust?: TrustOptions;
  /**
   * Which WebAssembly engine the workers run tasks on. `auto` (the default) and `fast`: the
   * browser's own engine, running the module as the metering rewriter made it (fuel, call depth
   * and limits counted inside the module), with wasmi for what that engine cannot decide;
   * `wasmi`: the interpreter for everything. Receipts are the same on every engine. Tasks on the
   * calling thread (`workers: 0`) always run on wasmi, which pauses between fuel slices;
   * `engine: "fast"` with `workers: 0` is an `ERR_ARGUMENT`.
   */
  engine?: "auto" | "fast" | "wasmi";
  /**
   * Peers to connect to: WebSocket multiaddrs ending in `/p2p/<peer id>`, as `ipvm node` prints
   * them (`/ip4/127.0.0.1/tcp/PORT/ws/p2p/…` for a node on this machine; a remote node needs
   * `wss://`, `/dns4/HOST/tcp/443/tls/ws/p2p/…`). With peers, the page loads the network build
   * (`wasm-net/`, the tab's libp2p host) instead of the default one; without, nothing of it is
   * downloaded. The runtime keeps each peer connected, redialling with backoff (250 ms doubling
   * to 10 s) when it goes away. A bad address is an `ERR_NETWORK` and opens nothing.
   */
  peers?: string[];
  /** Hears what happens to the peers: connected, disconnected, a dial that failed. */
  onPeerEvent?: (event: PeerEvent) => void;
  /** Where to load the network build's Wasm from (defaults to `wasm-net/ipvm_web_bg.wasm` next to the package's `index.js`). */
  netWasm?: WasmSource;
}

/** Options of {@link Runtime.verify}. */
export interface VerifyOptions {
  /** Re-run on this engine (`fast` or `wasmi`; default: the runtime's own choice). */
  engine?: "fast" | "wasmi";
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

/** What a store holds, and the origin's storage usage and quota (null where the browser does not say). */
export interface StorageReport {
  /** Blocks stored: module chunks, invocations, data. */
  blocks: number;
  /** Receipts stored. */
  receipts: number;
  /** Bytes the origin uses (`navigator.storage.estimate()`). */
  usage: number | null;
  /** Bytes the origin may use. */
  quota: number | null;
  /** Whether the browser made the origin's storage persistent (see `persist` in {@link OpenOptions}). */
  persisted: boolean | null;
}

/** A receipt written by another tab or worker on the same store. */
export interface ReceiptAnnouncement {
  instruction: Cid;
  receipt: Cid;
}

/** What {@link Runtime.addModule} accepts: bytes, a URL to fetch, a Response, or a stored module's CID. */
export type ModuleSource = Uint8Array | ArrayBuffer | ArrayBufferView | URL | string | Response | Cid;

/** A stored receipt row that was skipped because it is not what it claims (see {@link Runtime.onRejected}). */
export interface Rejection {
  /** The row's key: the receipt CID it claims. */
  receipt: string;
  /** Why it was skipped. */
  reason: string;
}

let loading: Promise<WebAssembly.Module> | undefined;

/**
 * Loads the runtime's Wasm once per page: compiles it (from `wasm`, else the file next to
 * this package), instantiates it here, and resolves to the compiled module, which workers
 * receive as is (a `WebAssembly.Module` crosses `postMessage`; a URL or a Response does not),
 * so they neither fetch nor compile it again.
 */
function load(wasm?: WasmSource): Promise<WebAssembly.Module> {
  if (!loading) {
    loading = compile(wasm ?? new URL("./wasm/ipvm_web_bg.wasm", import.meta.url)).then(async (module) => {
      await init({ module_or_path: module });
      return module;
    });
    // A failed load may be retried (with another `wasm`, say).
    loading.catch(() => (loading = undefined));
  }
  return loading;
}

let loadingNet: Promise<typeof NetGlue> | undefined;

/**
 * Loads the network build once per page (only when a runtime is opened with peers): its glue
 * by a dynamic import, so that a page without peers never requests it, and its Wasm.
 */
function loadNet(wasm?: WasmSource): Promise<typeof NetGlue> {
  if (!loadingNet) {
    loadingNet = (async () => {
      let glue: typeof NetGlue;
      try {
        glue = await import(/* webpackChunkName: "ipvm-web-net" */ "./wasm-net/ipvm_web.js");
      } catch (e) {
        throw new IpvmError("ERR_FETCH", `loading the network build (wasm-net/ipvm_web.js) failed: ${(e as Error)?.message ?? e}`, { cause: e });
      }
      await glue.default({ module_or_path: await compile(wasm ?? new URL("./wasm-net/ipvm_web_bg.wasm", import.meta.url)) });
      return glue;
    })();
    loadingNet.catch(() => (loadingNet = undefined));
  }
  return loadingNet;
}

async function compile(source: WasmSource): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  if (typeof source === "string" || source instanceof URL || source instanceof Request || source instanceof Response) {
    const response = await fetchOk(source, "the runtime's Wasm");
    // Streaming compilation needs the `application/wasm` type; without it, compile the bytes.
    if (response.headers.get("content-type")?.split(";")[0].trim() === "application/wasm") {
      return WebAssembly.compileStreaming(response);
    }
    return WebAssembly.compile(await response.arrayBuffer());
  }
  return WebAssembly.compile(source);
}

/**
 * Errors thrown by the runtime are `Error`s with `name === "IpvmError"` and a stable
 * {@link IpvmErrorCode} `code`; `ERR_WORKFLOW_INVALID` also carries `task` and `field`.
 * @example
 * try { await rt.run(workflow); } catch (e) { if (isIpvmError(e) && e.code === "ERR_QUOTA_EXCEEDED") showStorageHelp(); }
 */
export class IpvmError extends Error {
  override name = "IpvmError" as const;
  /** What went wrong, as a stable code. */
  code: IpvmErrorCode;
  /** For `ERR_WORKFLOW_INVALID`: the index of the offending task. */
  task?: number;
  /** For `ERR_WORKFLOW_INVALID`: the offending field, e.g. `run.input.args[0]`. */
  field?: string;
  /** For `ERR_UNAUTHORIZED`: why, e.g. `MatchError`, `Expired`, `Replay`, `InvalidSignature`. */
  reason?: string;
  /** For `ERR_UNAUTHORIZED`: the `unauthorized` receipt left by a refused invocation, or null. */
  receipt?: Cid | null;

  /** @internal */
  constructor(
    code: IpvmErrorCode,
    message: string,
    details: { task?: number; field?: string; reason?: string; receipt?: Cid | null; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    if (details.task !== undefined) this.task = details.task;
    if (details.field !== undefined) this.field = details.field;
    if (details.reason !== undefined) this.reason = details.reason;
    if (details.receipt !== undefined) this.receipt = details.receipt;
  }
}

/** Whether `e` is an {@link IpvmError}. */
export function isIpvmError(e: unknown): e is IpvmError {
  return e instanceof IpvmError;
}

/** The shape of errors the Wasm side throws (plain Errors with these fields). */
interface RawIpvmError extends Error {
  code: IpvmErrorCode;
  task?: number;
  field?: string;
  reason?: string;
  receipt?: Cid | null;
}

/** Rethrows errors from the Wasm side as IpvmError instances. */
function rethrow(e: unknown): never {
  if (e instanceof Error && e.name === "IpvmError" && !(e instanceof IpvmError)) {
    const raw = e as RawIpvmError;
    throw new IpvmError(raw.code, raw.message, { task: raw.task, field: raw.field, reason: raw.reason, receipt: raw.receipt, cause: e });
  }
  throw e;
}


/** `source` fetched (or as given, for a Response); a network failure or an HTTP error is `ERR_FETCH`. */
async function fetchOk(source: string | URL | Request | Response, what: string): Promise<Response> {
  let response: Response;
  if (source instanceof Response) {
    response = source;
  } else {
    try {
      response = await fetch(source);
    } catch (e) {
      throw new IpvmError("ERR_FETCH", `fetching ${what} from ${String(source)} failed: ${(e as Error)?.message ?? e}`, { cause: e });
    }
  }
  if (!response.ok) throw new IpvmError("ERR_FETCH", `fetching ${what} failed: HTTP ${response.status} ${response.url}`);
  return response;
}

async function toBytes(source: ModuleSource | Uint8Array | ArrayBuffer | Response | URL | string, what: string): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  if (source instanceof Response || source instanceof URL || typeof source === "string") {
    return new Uint8Array(await (await fetchOk(source, what)).arrayBuffer());
  }
  throw new IpvmError("ERR_ARGUMENT", `${what} must be bytes (Uint8Array/ArrayBuffer), a URL or a Response`);
}

/**
 * DAG-JSON text of a workflow, an instruction or arguments. Text passes as it is; in an object,
 * a `Uint8Array` or an `ArrayBuffer` becomes bytes (`{"/": {"bytes": "<base64>"}}`), and any
 * other typed array is refused, naming where it is.
 */
function toJson(value: unknown, what: string): string {
  if (typeof value === "string") return value;
  if (value && typeof value === "object") {
    try {
      return JSON.stringify(value, bytesAsDagJson);
    } catch (e) {
      if (!(e instanceof NotBytes)) throw e;
      throw new IpvmError("ERR_ARGUMENT", `${what}${pathTo(value, e.view)}: a ${e.view.constructor.name} is not bytes; pass a Uint8Array or an ArrayBuffer (bytes), or an array of numbers`);
    }
  }
  throw new IpvmError("ERR_ARGUMENT", `${what} must be DAG-JSON text or an object`);
}

/** Thrown by {@link bytesAsDagJson} at a typed array that is not bytes. */
class NotBytes extends Error {
  constructor(readonly view: ArrayBufferView) {
    super("not bytes");
  }
}

function isUint8Array(value: unknown): value is Uint8Array {
  // Also a Uint8Array of another realm (a frame, a worker's message).
  return ArrayBuffer.isView(value) && Object.prototype.toString.call(value) === "[object Uint8Array]";
}

function isArrayBuffer(value: unknown): value is ArrayBuffer {
  return Object.prototype.toString.call(value) === "[object ArrayBuffer]";
}

/** A `JSON.stringify` replacer: bytes as DAG-JSON bytes. */
function bytesAsDagJson(_key: string, value: unknown): unknown {
  if (isUint8Array(value)) return { "/": { bytes: toBase64(value) } };
  if (isArrayBuffer(value)) return { "/": { bytes: toBase64(new Uint8Array(value)) } };
  if (ArrayBuffer.isView(value)) throw new NotBytes(value);
  return value;
}

/** Where `target` is inside `root`, as `.tasks[0].run.input.args[1]` (empty if not found). */
function pathTo(root: unknown, target: unknown): string {
  const seen = new Set<unknown>();
  const walk = (v: unknown, path: string): string | undefined => {
    if (v === target) return path;
    if (!v || typeof v !== "object" || seen.has(v) || ArrayBuffer.isView(v)) return undefined;
    seen.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const found = walk(v[i], `${path}[${i}]`);
        if (found !== undefined) return found;
      }
      return undefined;
    }
    for (const [k, child] of Object.entries(v)) {
      const found = walk(child, /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return walk(root, "") ?? "";
}

/** Standard base64 without padding: DAG-JSON's form of bytes. */
function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary).replace(/=+$/, "");
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text + "=".repeat((4 - (text.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** A `JSON.parse` reviver: DAG-JSON bytes (`{"/": {"bytes": …}}`) as a `Uint8Array`; links stay `{"/": cid}`. */
function dagJsonBytes(_key: string, value: unknown): unknown {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const slash = (value as Record<string, unknown>)["/"];
    if (slash && typeof slash === "object" && Object.keys(value).length === 1) {
      const bytes = (slash as Record<string, unknown>).bytes;
      if (typeof bytes === "string" && Object.keys(slash).length === 1) return fromBase64(bytes);
    }
  }
  return value;
}

/** A report of the bindings, with its outcome decoded as `out` or `error`. */
function withOutcome(report: RawTaskReport): TaskReport {
  if (report.status === "skipped") return report;
  const [, value] = (JSON.parse(report.dagJson, dagJsonBytes) as { out: [string, unknown] }).out;
  return report.ok ? { ...report, ok: true, out: value, error: null } : { ...report, ok: false, out: undefined, error: value as TaskError };
}

/** Marks the constructor as internal: only {@link Runtime.open} makes runtimes. */
const OPENING = Symbol("ipvm-web: opening");

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
 * for (const r of reports) if (r.status !== "skipped") console.log(r.ok ? r.out : r.error.message);
 * ```
 */
/** The wasm-bindgen runtime of either build (the network build's has the network's methods too). */
type AnyRawRuntime = RawRuntime | NetGlue.Runtime;

export class Runtime {
  #raw: AnyRawRuntime;
  #channel: BroadcastChannel | undefined;
  #pool: WorkerPool | null;
  /** The IndexedDB database's name, or null for a store in memory. */
  #dbName: string | null;
  #rejectedListeners = new Set<(rejection: Rejection) => void>();

  private constructor(token: typeof OPENING, raw: AnyRawRuntime, channel: BroadcastChannel | undefined, pool: WorkerPool | null, dbName: string | null) {
    if (token !== OPENING || typeof raw?.setRejectedListener !== "function") {
      throw new IpvmError("ERR_ARGUMENT", "use `await Runtime.open()` to create a runtime");
    }
    this.#raw = raw;
    this.#pool = pool;
    this.#dbName = dbName;
    // The runtime announces its receipts on this channel; other tabs' announcements arrive here.
    this.#channel = channel;
    // Each skipped row is reported once by the runtime: say so, and tell the listeners.
    raw.setRejectedListener((rejection) => {
      console.warn(`[ipvm] stored receipt ${rejection.receipt} skipped: ${rejection.reason}`);
      for (const listener of this.#rejectedListeners) {
        try {
          listener(rejection);
        } catch (e) {
          console.error(e);
        }
      }
    });
  }

  /**
   * Loads the runtime's Wasm (once per page) and opens a runtime. By default its store is the
   * IndexedDB database `ipvm-web:<name>`; `storage: "memory"` keeps everything in memory instead.
   * @example
   * const rt = await Runtime.open({ name: "photos", workers: 4, persist: true });
   */
  static async open(options: OpenOptions = {}): Promise<Runtime> {
    const { name = "default", storage = "indexeddb", persist = false } = options;
    const workers = options.workers ?? (storage === "memory" ? 0 : Math.max(1, globalThis.navigator?.hardwareConcurrency ?? 2));
    if (!Number.isInteger(workers) || workers < 0) throw new IpvmError("ERR_ARGUMENT", "options.workers must be a non-negative integer");
    if (workers > 0 && storage === "memory") {
      throw new IpvmError("ERR_ARGUMENT", 'workers need storage "indexeddb" (they read modules from it); use workers: 0 with storage "memory"');
    }
    if (typeof name !== "string" || name.length === 0) throw new IpvmError("ERR_ARGUMENT", "options.name must be a non-empty string");
    const engine = options.engine ?? "auto";
    if (engine !== "auto" && engine !== "fast" && engine !== "wasmi") {
      throw new IpvmError("ERR_ARGUMENT", `options.engine must be "auto", "fast" or "wasmi", not ${JSON.stringify(engine)}`);
    }
    if (engine === "fast" && workers === 0) {
      throw new IpvmError("ERR_ARGUMENT", 'engine "fast" runs in workers: use workers ≥ 1, or engine "auto" (tasks on the calling thread run on wasmi)');
    }
    if (storage !== "indexeddb" && storage !== "memory") throw new IpvmError("ERR_ARGUMENT", 'options.storage must be "indexeddb" or "memory"');
    const peers = options.peers ?? [];
    if (!Array.isArray(peers) || !peers.every((p) => typeof p === "string")) throw new IpvmError("ERR_ARGUMENT", "options.peers must be a list of multiaddr strings");
    if (options.onPeerEvent !== undefined && typeof options.onPeerEvent !== "function") throw new IpvmError("ERR_ARGUMENT", "options.onPeerEvent must be a function");
    // The workers always run the default build; the page's runtime is the network build when asked.
    const module = await load(options.wasm);
    const Raw: typeof RawRuntime | typeof NetGlue.Runtime = peers.length > 0 ? (await loadNet(options.netWasm).catch(rethrow)).Runtime : RawRuntime;
    // With peers, the host starts over the runtime's store before the runtime is handed out.
    const connect = async (raw: AnyRawRuntime) => {
      if (peers.length > 0) await (raw as NetGlue.Runtime).startNetwork(peers, options.onPeerEvent).catch(rethrow);
    };
    if (storage === "memory") {
      let raw: AnyRawRuntime;
      try {
        raw = new Raw(options.trust);
      } catch (e) {
        rethrow(e);
      }
      // The key now, so that a browser without Ed25519 says so at open.
      await raw.identity().catch(rethrow);
      await connect(raw);
      return new Runtime(OPENING, raw, undefined, null, null);
    }
    if (persist && typeof globalThis.navigator?.storage?.persist === "function") await navigator.storage.persist();
    const dbName = `ipvm-web:${name}`;
    const pool = workers > 0 && typeof Worker === "function" ? new WorkerPool(workers, dbName, module, options.workerUrl, engine) : null;
    // Tabs (and workers) of the origin on the same store announce their receipts here.
    const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(dbName) : undefined;
    try {
      const raw = await Raw.openIndexedDb(dbName, pool?.dispatch, channel, options.trust).catch(rethrow);
      try {
        await connect(raw);
      } catch (e) {
        raw.close();
        throw e;
      }
      return new Runtime(OPENING, raw, channel, pool, dbName);
    } catch (e) {
      pool?.close();
      channel?.close();
      throw e;
    }
  }

  /** How many workers execute tasks (0: tasks run on the calling thread). */
  get workers(): number {
    return this.#pool?.size ?? 0;
  }

  /**
   * The worker pool's state (all zero without workers).
   * @example
   * const { busy, queued, replaced } = rt.workerStats();
   */
  workerStats(): WorkerStats {
    return this.#pool?.stats() ?? { workers: 0, busy: 0, queued: 0, spawned: 0, replaced: 0, cancelled: 0, messages: 0 };
  }

  /**
   * Calls `callback` when another tab or worker of the origin, on the same store, writes a
   * receipt (announced on the BroadcastChannel `ipvm-web:<name>`). Returns an unsubscribe function.
   * @example
   * const stop = rt.onReceipt(({ instruction, receipt }) => console.log("computed elsewhere:", instruction));
   */
  onReceipt(callback: (announcement: ReceiptAnnouncement) => void): () => void {
    if (typeof callback !== "function") throw new IpvmError("ERR_ARGUMENT", "onReceipt expects a function");
    const channel = this.#channel;
    if (!channel) return () => {};
    const listener = (m: MessageEvent) => {
      if (m.data?.type === "receipt") callback({ instruction: m.data.instruction, receipt: m.data.receipt });
      // A group commit announces its receipts in one message.
      if (m.data?.type === "receipts" && Array.isArray(m.data.receipts)) {
        for (const r of m.data.receipts) {
          // Another tab's message: only well-formed entries reach the callback.
          if (typeof r?.instruction === "string" && typeof r?.receipt === "string") callback({ instruction: r.instruction, receipt: r.receipt });
        }
      }
    };
    channel.addEventListener("message", listener);
    return () => channel.removeEventListener("message", listener);
  }

  /**
   * Calls `callback` once for each stored receipt row that the runtime skips because it is not
   * what it claims: damaged on disk, or written by another version of the package (its bytes do
   * not hash to its key, its invocation is for another instruction, ...). Such rows never fail a
   * run and never answer a lookup; each is also reported with `console.warn`, and as a
   * `rejected` event of the run that met it. Returns an unsubscribe function.
   * @example
   * const stop = rt.onRejected(({ receipt, reason }) => report(receipt, reason));
   */
  onRejected(callback: (rejection: Rejection) => void): () => void {
    if (typeof callback !== "function") throw new IpvmError("ERR_ARGUMENT", "onRejected expects a function");
    this.#rejectedListeners.add(callback);
    return () => this.#rejectedListeners.delete(callback);
  }

  /**
   * Stores a module (or any file) and resolves to its CID, the one `ipfs add --cid-version 1` gives.
   * Given the CID of a module already in the store (e.g. from an imported CAR), checks that it is complete, intact
   * and no larger than a module may be (64 MiB: `ERR_TOO_LARGE`, however large its blocks claim it is) and returns it.
   * With `peers` (the network build), what the store lacks of it is fetched from the peers over bitswap first, every
   * block checked against its CID before it is stored (`ERR_NETWORK` if no peer gives a block within 10 s,
   * `ERR_HASH_MISMATCH` for a block that does not match its CID). A run fetches the modules and linked files it needs
   * the same way (`fetched` and `fetch-failed` events).
   * @example
   * const cid = await rt.addModule(await fetch("/modules/add_one.wasm"));
   */
  async addModule(source: ModuleSource): Promise<Cid> {
    if (typeof source === "string" && isCid(source)) return this.#raw.storedModule(source).catch(rethrow);
    return this.#raw.addModule(await toBytes(source, "the module")).catch(rethrow);
  }

  /**
   * Runs a workflow and resolves to one report per task, in workflow order.
   * Rejects with an {@link IpvmError} if the workflow is invalid; a task that fails still
   * yields a report (with `ok: false`, or `status: "skipped"` if it could not run).
   * @example
   * const reports = await rt.run(workflow, { onEvent: (e) => console.log(e.type, e.task) });
   */
  async run(workflow: Workflow | string, options: RunOptions = {}): Promise<TaskReport[]> {
    const { onEvent, logs = "console", signal } = options;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new IpvmError("ERR_ARGUMENT", "options.signal must be an AbortSignal");
    if (onEvent !== undefined && typeof onEvent !== "function") throw new IpvmError("ERR_ARGUMENT", "options.onEvent must be a function");
    // Abort stops running tasks too, at their next fuel slice.
    const started = new Set<Cid>();
    const pool = this.#pool;
    const onAbort = () => pool?.cancel([...started]);
    signal?.addEventListener("abort", onAbort, { once: true });
    const unwatch = signal ? pool?.watch() : undefined;
    // Events cost a JS object each: the runtime makes them only if someone listens.
    const listener =
      onEvent || signal
        ? (e: RunEvent) => {
            if (e.type === "started") started.add(e.instruction);
            onEvent?.(e);
          }
        : undefined;
    let reports: TaskReport[];
    try {
      reports = (await this.#raw.run(toJson(workflow, "workflow"), listener, signal).catch(rethrow)).map(withOutcome);
    } finally {
      signal?.removeEventListener("abort", onAbort);
      unwatch?.();
    }
    if (logs === "console") {
      for (const r of reports) {
        if (r.status === "skipped") continue;
        for (const line of r.logs) console.info(`[ipvm task ${r.task}] ${line}`);
      }
    }
    return reports;
  }

  /**
   * The stored receipt with this CID, or null.
   * @example
   * const r = await rt.receipt(reports[0].receipt);
   */
  receipt(cid: Cid): Promise<StoredReceipt | null> {
    return this.#raw.receipt(String(cid)).catch(rethrow);
  }

  /**
   * The receipt that answers an instruction: the memo lookup. Only a receipt this runtime computed
   * or verified, or one a trusted signer vouches for, answers; null if there is none.
   * @example
   * const r = await rt.receiptFor(one.instruction);
   */
  receiptFor(instructionCid: Cid): Promise<StoredReceipt | null> {
    return this.#raw.receiptFor(String(instructionCid)).catch(rethrow);
  }

  /**
   * Every stored receipt of an instruction, whatever its provenance or class: imported ones,
   * failures of the environment, receipts of older versions. Each carries its `provenance`.
   * @example
   * const all = await rt.receiptsFor(one.instruction);
   * const untrusted = all.filter((r) => !r.trusted);
   */
  receiptsFor(instructionCid: Cid): Promise<StoredReceipt[]> {
    return this.#raw.receiptsFor(String(instructionCid)).catch(rethrow);
  }

  /**
   * Every receipt computed from an input: a module or any CID in the arguments.
   * @example
   * const fromImage = await rt.receiptsUsing(imageCid);
   */
  receiptsUsing(inputCid: Cid): Promise<StoredReceipt[]> {
    return this.#raw.receiptsUsing(String(inputCid)).catch(rethrow);
  }

  /**
   * The bytes of a stored file: a module, or any data added with {@link Runtime.addModule} or
   * imported in a CAR (each block checked against its CID). At most `maxBytes` (default 256 MiB):
   * a file larger than that, or whose blocks claim to be (a DAG from elsewhere may lie), rejects
   * with `ERR_TOO_LARGE` before its bytes are gathered. Rejects with `ERR_MISSING_BLOCK` if it is
   * not (all) in the store.
   * @example
   * const picture = await rt.readFile(pictureCid, { maxBytes: 16 << 20 });
   */
  readFile(cid: Cid, { maxBytes = 256 * 1024 * 1024 }: { maxBytes?: number } = {}): Promise<Uint8Array> {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) return Promise.reject(new IpvmError("ERR_ARGUMENT", "readFile: maxBytes must be a non-negative integer"));
    return this.#raw.readFile(String(cid), maxBytes).catch(rethrow);
  }

  /**
   * The records of runs on this store (IndexedDB only), written as runs progress. A run whose
   * `state` is still `"running"` when no run is active was interrupted (a reload, a crash):
   * running its workflow again resumes it.
   * @example
   * const interrupted = (await rt.runs()).filter((r) => r.state === "running");
   */
  runs(): Promise<RunRecord[]> {
    return this.#raw.runs().catch(rethrow);
  }

  /**
   * A CARv1 archive of receipts (with their invocations and modules) or of blocks (with
   * their DAGs), to carry to another browser or to an IPFS node.
   * @example
   * const car = await rt.exportCar([reports[1].receipt]);
   */
  exportCar(roots: Cid[]): Promise<Uint8Array> {
    if (!Array.isArray(roots)) throw new IpvmError("ERR_ARGUMENT", "exportCar expects an array of CIDs");
    return this.#raw.exportCar(roots.map(String)).catch(rethrow);
  }

  /**
   * Imports a CARv1 archive, all or nothing: every block is verified against its CID (a bad block
   * rejects the import and stores nothing). Its receipts are stored with provenance `imported`:
   * listed, exported and verifiable. One is a memo hit only if an envelope in the archive from a
   * signer this runtime trusts (`trust.signers`) vouches for it, or once {@link Runtime.verify}
   * has re-run it here. Each envelope is checked; refused ones are listed with their reason.
   * Receipts already in the store keep their provenance and gain the new envelopes.
   * @example
   * const { blocks, receipts } = await other.importCar(car);
   * for (const r of reports) await other.verify(r.receipt); // now memo hits in `other`
   */
  async importCar(bytes: Uint8Array | ArrayBuffer | Response | URL | string): Promise<ImportReport> {
    return this.#raw.importCar(await toBytes(bytes, "the CAR")).catch(rethrow);
  }

  /**
   * Re-runs the task of a stored receipt (everything it needs is in the store) and compares the
   * receipt it writes with the stored one, by CID. A receipt from elsewhere that matches is
   * promoted to `verified` and answers memo lookups from then on, and gets this runtime's envelope;
   * one that does not match distrusts the trusted signers that signed it. Awaited inputs must
   * themselves be trusted here: verify them first (else `ERR_UNTRUSTED_INPUT`).
   * @example
   * const v = await rt.verify(reports[1].receipt); // v.verdict === "match"
   * const w = await rt.verify(reports[1].receipt, { engine: "wasmi" }); // checked on the other engine
   */
  verify(receiptCid: Cid, options: VerifyOptions = {}): Promise<Verification> {
    return this.#raw.verify(String(receiptCid), options.engine).catch(rethrow);
  }

  /**
   * This runtime's DID (`did:key:z6Mk…`), the signer of every receipt it computes. The private
   * key is a non-extractable WebCrypto Ed25519 key kept in the store: it survives reloads and
   * no script can read it.
   * @example
   * const me = await rt.identity();
   */
  identity(): Promise<string> {
    return this.#raw.identity().catch(rethrow);
  }

  /**
   * The trust policy: this runtime's DID, the signers it trusts, the signers a spot-check caught
   * (with why), and the spot-check rate.
   * @example
   * const { distrusted } = await rt.trust();
   */
  trust(): Promise<TrustReport> {
    return this.#raw.trust().catch(rethrow);
  }

  /**
   * Clears a spot-check's distrust of a signer (the user's decision): its receipts count again.
   * Resolves to whether it was distrusted.
   * @example
   * await rt.clearDistrust("did:key:z6Mk…");
   */
  clearDistrust(signer: string): Promise<boolean> {
    return this.#raw.clearDistrust(String(signer)).catch(rethrow);
  }

  /**
   * Checks a receipt's signatures without storing anything: a stored receipt by CID (with its
   * stored envelopes), or `{receipt, envelopes}` as DAG-CBOR bytes. Valid if an envelope from a
   * trusted signer verifies; otherwise `reason` says why (`bad_signature`, `unknown_header`,
   * `unknown_key_type`, `non_canonical`, `cid_mismatch`, `untrusted`, `unsigned`, `malformed`).
   * @example
   * const { valid, reason } = await rt.verifyReceipt(reports[0].receipt);
   */
  verifyReceipt(receipt: Cid | { receipt: Uint8Array; envelopes: Uint8Array[] }): Promise<ReceiptCheck> {
    return this.#raw.verifyReceipt(receipt).catch(rethrow);
  }

  /**
   * Signs a UCAN 1.0 delegation from this runtime to `aud` for `cmd`, bounded by the policy `pol`
   * on the invocation's arguments (times in seconds since the epoch). The token is also kept in
   * the store, so invocations may name it as a proof.
   * @example
   * const grant = await rt.delegate({ aud: aliceDid, cmd: "/wasm/run", pol: [["<=", ".fuel", 1_000_000]], exp: now + 3600 });
   */
  delegate(options: DelegateOptions): Promise<UcanToken> {
    return this.#raw.delegate(options).catch(rethrow);
  }

  /**
   * Signs a UCAN 1.0 `/wasm/run` invocation from this runtime: the task (`module`, `func`,
   * `args`, limits) for the runtime `aud`, under the authority `sub`, proven by `prf`.
   * @example
   * const inv = await rt.invoke({ aud: nodeDid, sub: nodeDid, module, func: "add-one", args: [1], fuel: 1000, prf: [grant.cid], exp: now + 60 });
   */
  invoke(options: InvokeOptions): Promise<UcanToken> {
    return this.#raw.invoke(options).catch(rethrow);
  }

  /**
   * Stores a delegation (its bytes) after checking its form and signature, so that invocations
   * sent to this runtime may name it in `prf`. Resolves to its CID.
   * @example
   * await rt.addProof(grant.bytes);
   */
  async addProof(token: Uint8Array | ArrayBuffer): Promise<Cid> {
    return this.#raw.addProof(await toBytes(token, "the delegation")).catch(rethrow);
  }

  /**
   * Runs a task that arrives as a signed UCAN 1.0 invocation, if this runtime admits it: a valid
   * proof chain rooted at the subject, this runtime as the audience, the subject this runtime or
   * one of `trust.authorities`, and no replay. A refused invocation runs nothing, leaves an
   * `unauthorized` receipt, and rejects with code `ERR_UNAUTHORIZED` (`reason` names why).
   * @example
   * const report = await rt.runInvocation(inv.bytes, [grant.bytes]);
   */
  async runInvocation(token: Uint8Array | ArrayBuffer, proofs: (Uint8Array | ArrayBuffer)[] = [], options: { onEvent?: (event: RunEvent) => void } = {}): Promise<TaskReport> {
    const bytes = await toBytes(token, "the invocation");
    const given = [];
    for (const p of proofs) given.push(await toBytes(p, "a proof"));
    return withOutcome(await this.#raw.runInvocation(bytes, given, options.onEvent).catch(rethrow));
  }

  /**
   * What is stored, and the origin's storage usage and quota (null where the browser does not say).
   * @example
   * const { receipts, usage, quota } = await rt.storage();
   */
  async storage(): Promise<StorageReport> {
    const counts = await this.#raw.counts().catch(rethrow);
    const storage = globalThis.navigator?.storage;
    const estimate: StorageEstimate = (await storage?.estimate?.()) ?? {};
    const persisted = typeof storage?.persisted === "function" ? await storage.persisted() : null;
    return { ...counts, usage: estimate.usage ?? null, quota: estimate.quota ?? null, persisted };
  }

  /**
   * Deletes this runtime's store, then closes the runtime: every module, block, receipt and run
   * record, and its signing key (the next {@link Runtime.open} of the name makes a new identity).
   * Export what you want to keep first ({@link Runtime.exportCar}). Other tabs with the store open
   * hold the deletion back until they close: after `timeoutMs` (default 5000) this rejects with
   * `ERR_STORE`, and the deletion still happens once they have closed.
   * @example
   * if (confirm("Delete every receipt?")) await rt.clear();
   */
  async clear({ timeoutMs = 5_000 }: { timeoutMs?: number } = {}): Promise<void> {
    await this.close();
    const dbName = this.#dbName;
    if (dbName === null) return;
    await new Promise<void>((resolve, reject) => {
      const request = indexedDB.deleteDatabase(dbName);
      let timer: ReturnType<typeof setTimeout> | undefined;
      request.onsuccess = () => (clearTimeout(timer), resolve());
      request.onerror = () => (clearTimeout(timer), reject(new IpvmError("ERR_STORE", `deleting the store ${dbName} failed: ${request.error?.message ?? "unknown error"}`)));
      request.onblocked = () => {
        timer = setTimeout(
          () => reject(new IpvmError("ERR_STORE", `the store ${dbName} is open in another tab or window; it will be deleted once they close it (close them, or reload them)`)),
          timeoutMs,
        );
      };
    });
  }

  /**
   * The peers connected now (empty for a runtime opened without `peers`): each one's libp2p
   * peer id, its DID, whether that DID is `bound` (the peer sent a binding of its DID to its
   * peer id, signed and checked; without one, `did` is the DID its peer id names, if any), the
   * transport and the address.
   * @example
   * const rt = await Runtime.open({ peers: ["/ip4/127.0.0.1/tcp/4001/ws/p2p/12D3KooW…"] });
   * for (const p of rt.peers()) console.log(p.did ?? p.peerId, p.bound ? "(bound)" : "", p.transport);
   */
  peers(): PeerInfo[] {
    const raw = this.#raw as Partial<NetGlue.Runtime>;
    return typeof raw.peers === "function" ? raw.peers() : [];
  }

  /**
   * The libp2p peer id this tab connects as (`null` for a runtime opened without `peers`). It is
   * a key of the tab's host, not the runtime's DID: each peer learns the DID from the binding the
   * tab signs with its own key and presents on every new connection.
   */
  peerId(): string | null {
    const raw = this.#raw as Partial<NetGlue.Runtime>;
    return typeof raw.peerId === "function" ? (raw.peerId() ?? null) : null;
  }

  /**
   * The block `cid`: from the store, else from a connected peer over bitswap, verified against
   * its CID and stored. Rejects with `ERR_NETWORK` after `timeoutMs` (default 10 s) if no peer
   * gave it, or if the runtime was opened without peers.
   */
  async fetchBlock(cid: Cid, { timeoutMs = 10_000 }: { timeoutMs?: number } = {}): Promise<Uint8Array> {
    const raw = this.#raw as Partial<NetGlue.Runtime>;
    if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs < 0 || timeoutMs > 2 ** 32 - 1) {
      throw new IpvmError("ERR_ARGUMENT", `fetchBlock's timeoutMs must be a number of milliseconds from 0 to 4294967295, not ${String(timeoutMs)}`);
    }
    if (typeof raw.fetchBlock !== "function") throw new IpvmError("ERR_NETWORK", "the runtime has no network: open it with `peers`");
    return raw.fetchBlock(cid, timeoutMs).catch(rethrow);
  }

  /** Closes the store, the receipt channel, the network and the workers; the runtime must not be used afterwards. */
  async close(): Promise<void> {
    const raw = this.#raw as Partial<NetGlue.Runtime>;
    if (typeof raw.stopNetwork === "function") await raw.stopNetwork().catch(() => {});
    this.#channel?.close();
    this.#channel = undefined;
    this.#pool?.close();
    this.#raw.close();
  }
}

/**
 * The CID of an instruction (CIDv1, DAG-CBOR, SHA3-256), as Homestar computes it.
 * @example
 * const cid = await instructionCid({ rsc: `ipfs://${module}`, op: "wasm/run", input: { func: "add_one", args: [1] }, nnc: "" });
 */
export async function instructionCid(instruction: Instruction | string): Promise<Cid> {
  await load();
  try {
    return rawInstructionCid(toJson(instruction, "instruction"));
  } catch (e) {
    rethrow(e);
  }
}

/**
 * Describes a module without storing or running it: the CID it gets when stored, its shape
 * (`core`, `wit-bindgen` or `component`), its exports and imports with their WIT signatures
 * (core types for a plain core module), and whether the fast path can run it. Rejects with
 * `ERR_MODULE_INVALID` if the bytes are not a module this runtime can run.
 * @example
 * const { cid, exports } = await inspectModule(await fetch("/modules/guests.wasm"));
 */
export async function inspectModule(
  source: Uint8Array | ArrayBuffer | ArrayBufferView | Response | URL | string,
  options: InspectOptions = {},
): Promise<ModuleInfo> {
  const bytes = await toBytes(source, "the module");
  const module = await load();
  if (typeof Worker !== "function") return inspectHere(bytes);
  return inspectInWorker(bytes, module, options.workerUrl);
}

/** Options of {@link inspectModule}. */
export interface InspectOptions {
  /** The worker script that inspects the module (default: worker.js beside this file, as for the pool). */
  workerUrl?: string | URL;
}

/** The longest an inspection may take before its worker is stopped (ms). */
const INSPECT_TIME_MS = 120_000;

function inspectHere(bytes: Uint8Array): ModuleInfo {
  try {
    return rawInspectModule(bytes);
  } catch (e) {
    return rethrowInspection(e);
  }
}

/** A failure of the inspection itself (not of the module's rules) is still the module's: `ERR_MODULE_INVALID`. */
function rethrowInspection(e: unknown): never {
  if (e instanceof Error && e.name === "IpvmError") rethrow(e);
  throw new IpvmError("ERR_MODULE_INVALID", `the module could not be inspected: ${String((e as Error)?.message ?? e)}`, { cause: e });
}

/**
 * Validates and describes the module in a worker of its own, so that a large or hostile module
 * never blocks the page: the metering rewrite and validation run there, within the rewriter's
 * bounds, and the worker is stopped once it answers (or crashes, or passes INSPECT_TIME_MS).
 */
function inspectInWorker(bytes: Uint8Array, wasm: WebAssembly.Module, url: string | URL | undefined): Promise<ModuleInfo> {
  return new Promise<ModuleInfo>((resolve, reject) => {
    // The package's worker.js is started in the form bundlers recognise and bundle (see pool.ts).
    const worker = url === undefined
      ? new Worker(new URL("./worker.js", import.meta.url), /* webpackChunkName: "ipvm-web-worker" */ { type: "module", name: "ipvm-web module inspector" })
      : new Worker(url, { type: "module", name: "ipvm-web module inspector" });
    const done = (settle: () => void) => {
      clearTimeout(timer);
      worker.terminate();
      settle();
    };
    const invalid = (why: string) => done(() => reject(new IpvmError("ERR_MODULE_INVALID", `the module could not be inspected: ${why}`)));
    const timer = setTimeout(() => invalid(`it took longer than ${INSPECT_TIME_MS / 1000} s`), INSPECT_TIME_MS);
    worker.onmessage = ({ data }: MessageEvent<InspectAnswer>) => {
      if (data?.type !== "inspected") return;
      if (data.info) return done(() => resolve(data.info!));
      const { code, message } = data.error ?? { code: "ERR_MODULE_INVALID", message: "the inspector gave no answer" };
      done(() => reject(new IpvmError(code, message)));
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      invalid(`its worker failed (${e.message || "out of memory, or the script did not load"})`);
    };
    const request: InspectRequest = { type: "inspect", wasm, bytes };
    worker.postMessage(request);
  });
}

/**
 * Validates a workflow without running it and returns its graph: one node per task, with the
 * tasks it awaits. Rejects as {@link Runtime.run} would: `ERR_WORKFLOW_DECODE` for text that is
 * not DAG-JSON, `ERR_WORKFLOW_INVALID` with `task` and `field` for a task that is wrong.
 * @example
 * const nodes = await planWorkflow(text); // nodes[1].awaits = [0]
 */
export async function planWorkflow(workflow: Workflow | string): Promise<TaskNode[]> {
  const text = toJson(workflow, "workflow");
  await load();
  try {
    return rawPlanWorkflow(text);
  } catch (e) {
    rethrow(e);
  }
}

/** `{"await/ok": {"/": cid}}`: stands for the output of instruction `cid`. */
export function awaitOk(cid: Cid): Await {
  return { "await/ok": { "/": String(cid) } };
}

/** `{"await/error": {"/": cid}}`: stands for the error of instruction `cid`. */
export function awaitError(cid: Cid): Await {
  return { "await/error": { "/": String(cid) } };
}

/** `{"await/*": {"/": cid}}`: stands for the whole result (`["ok", v]` or `["error", e]`) of instruction `cid`. */
export function awaitAny(cid: Cid): Await {
  return { "await/*": { "/": String(cid) } };
}

/** Arguments of {@link wasmTask}. */
export interface WasmTaskSpec extends TaskMeta {
  /** CID of the module (from {@link Runtime.addModule}). */
  module: Cid;
  /** Exported function; `add_one` also finds `add-one` and `addOne`. */
  func: string;
  args?: unknown[];
  /** Nonce; change it to run the same call twice. */
  nnc?: string | Uint8Array;
}

/**
 * Builds a `wasm/run` task and computes its instruction CID.
 * @example
 * const { task, instruction } = await wasmTask({ module, func: "add_one", args: [41], fuel: 1_000_000 });
 */
export async function wasmTask({ module, func, args = [], nnc = "", fuel, memory, time }: WasmTaskSpec): Promise<{ task: Task; instruction: Cid }> {
  if (typeof module !== "string" || module.length === 0) throw new IpvmError("ERR_ARGUMENT", "wasmTask: `module` must be a module CID");
  if (typeof func !== "string" || func.length === 0) throw new IpvmError("ERR_ARGUMENT", "wasmTask: `func` must be a function name");
  if (!Array.isArray(args)) throw new IpvmError("ERR_ARGUMENT", "wasmTask: `args` must be an array");
  const run: Instruction = { rsc: `ipfs://${module}`, op: "wasm/run", input: { func, args }, nnc };
  const meta: TaskMeta = {};
  if (fuel !== undefined) meta.fuel = fuel;
  if (memory !== undefined) meta.memory = memory;
  if (time !== undefined) meta.time = time;
  return { task: { run, cause: null, meta, prf: [] }, instruction: await instructionCid(run) };
}
