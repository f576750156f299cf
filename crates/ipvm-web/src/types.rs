//! TypeScript types of the values the bindings hand to JS, emitted into the
//! generated `.d.ts` (and re-exported by `pkg/index.ts`), so that the types
//! live next to the code that builds the values (`convert.rs`).

use wasm_bindgen::prelude::*;

/// Declares the stable error codes once: the list the bindings check
/// against, and the `IpvmErrorCode` type of the generated `.d.ts`.
macro_rules! error_codes {
    ($($code:ident),* $(,)?) => {
        /// Every `code` an `IpvmError` may carry.
        pub(crate) const ERROR_CODES: &[&str] = &[$(stringify!($code)),*];
        #[wasm_bindgen(typescript_custom_section)]
        const ERROR_CODES_TS: &str = concat!(
            "/** The stable codes of `IpvmError`. */\nexport type IpvmErrorCode =",
            $(" | \"", stringify!($code), "\""),*,
            ";\n"
        );
    };
}

error_codes!(
    ERR_WORKFLOW_DECODE,
    ERR_WORKFLOW_INVALID,
    ERR_CAR_INVALID,
    ERR_BAD_CID,
    ERR_MISSING_BLOCK,
    ERR_HASH_MISMATCH,
    ERR_UNIXFS,
    ERR_TOO_LARGE,
    ERR_STORE,
    ERR_QUOTA_EXCEEDED,
    ERR_STORAGE_UNAVAILABLE,
    ERR_VERSION_CONFLICT,
    ERR_CANCELLED,
    ERR_ENCODE,
    // verify: the task awaits a receipt this runtime does not vouch for (verify that one first).
    ERR_UNTRUSTED_INPUT,
    // inspectModule: the bytes are not a module this runtime can run (not Wasm, or an unsupported shape).
    ERR_MODULE_INVALID,
    // A UCAN invocation or proof refused (`reason`: its name; `receipt`: the unauthorized receipt, if any).
    ERR_UNAUTHORIZED,
    // Raised by the facade (pkg/index.ts) for its own argument checks and fetches.
    ERR_ARGUMENT,
    ERR_FETCH,
    // The tab's network (the network build): a bad peer address, a host that did not start, a block no peer gave.
    ERR_NETWORK,
);

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** A CID in its string form, e.g. `bafyrmi…` (instructions, receipts) or `bafkrei…`/`bafybei…` (files). */
export type Cid = string;

/** A connected peer (`rt.peers()`): its libp2p peer id, its DID when its peer id names one (a native node's libp2p key is its DID key; Noise proves it), how the tab reaches it and where. */
export interface PeerInfo {
  peerId: string;
  /** The peer's DID: the one its binding names when `bound`, else the one its peer id names (a native node's key is both), or `null`. */
  did: string | null;
  /** Whether the peer sent a binding of `did` to its peer id, signed by the DID's key and checked here. */
  bound: boolean;
  transport: "websocket" | "other";
  address: string;
}

/** What happens to the tab's peers (`Runtime.open({ peers, onPeerEvent })`). */
export type PeerEvent =
  | { type: "peer-connected"; peer: PeerInfo }
  /** The binding exchange succeeded: the peer knows this tab's DID, and `did` is the peer's, checked. */
  | { type: "peer-bound"; peerId: string; did: string }
  /** The binding exchange failed (the peer refused this tab's binding, its own did not check, or it does not speak the protocol); the peer stays connected, unbound. */
  | { type: "peer-binding-failed"; peerId: string; reason: string }
  | { type: "peer-disconnected"; peerId: string; reason: string }
  /** A dial failed; the runtime dials again in `retryInMs` (250 ms doubling to 10 s). */
  | { type: "peer-dial-failed"; address: string; reason: string; retryInMs: number };

/** Progress of a run. */
export type RunEvent =
  | { type: "queued"; task: number; instruction: Cid }
  | { type: "started"; task: number; instruction: Cid }
  | { type: "memo-hit"; task: number; instruction: Cid; receipt: Cid }
  | { type: "finished"; task: number; instruction: Cid; receipt: Cid; fuel: number }
  | { type: "failed"; task: number; instruction: Cid; receipt: Cid | null; reason: string }
  /** A stored receipt row was skipped: it is not what it claims (damaged, or written by another version). Reported once; it never fails the run. */
  | { type: "rejected"; task: number; instruction: Cid; receipt: string; reason: string }
  /**
   * A receipt vouched for only by another signer was re-run (`trust.verifyRate`), as {@link Runtime.verify} does:
   * `match` (now verified here; it answers the task), `mismatch` (its signers are distrusted; the task runs here),
   * `incomparable` (it could not be checked here, see `reason`; the receipt is not served: the task runs here).
   * The re-run uses the task's own fuel and memory limits and a time limit of at least 100 s, whatever its invocation asks.
   */
  | { type: "spot-check"; task: number; instruction: Cid; receipt: Cid; verdict: "match" | "mismatch" | "incomparable"; reason: string | null }
  /** A spot-check caught `signer`: its receipts are no longer reused until {@link Runtime.clearDistrust}. */
  | { type: "distrusted"; signer: string; receipt: Cid; reason: string }
  /**
   * With the network started (`Runtime.open({ peers })`): a file the task needs (its module, a file its
   * arguments link to) was not all in the store and came from the peers over bitswap, every block checked
   * against its CID before it was stored: `fetched` of its `blocks` blocks, `bytes` in all.
   */
  | { type: "fetched"; task: number; cid: Cid; blocks: number; fetched: number; bytes: number }
  /** A file the task needs could not be fetched (no peer gave a block in time, a block did not match its CID, past the bound); the task fails as it would have (`module_missing`, a missing block). */
  | { type: "fetch-failed"; task: number; cid: Cid; reason: string };

/**
 * How one task of a run ended: it ran, or was answered by a stored receipt
 * ({@link TaskDone}: with `ok` true its `out`, else its `error`), or it could
 * not run ({@link TaskSkipped}). A failed task is a report, never a rejection.
 */
export type TaskReport = TaskDone | TaskSkipped;

/** A task that has a receipt: `ok` says whether it holds an output (`out`) or an error (`error`). */
export type TaskDone = TaskDoneFields &
  (
    | {
        ok: true;
        /**
         * The output, decoded from the receipt's DAG-JSON: numbers, strings, booleans, null,
         * arrays, objects; bytes as a `Uint8Array`; a link as `{"/": cid}`. Integers beyond
         * 2^53 lose precision here: read `dagJson` for those.
         */
        out: unknown;
        error: null;
      }
    | { ok: false; out: undefined; /** Why it failed. */ error: TaskError }
  );

/**
 * A task's failure, as its receipt records it. `kind` is stable (`no_such_function`,
 * `argument`, `out_of_fuel`, `memory_limit`, `time_limit`, `trap`, `worker`, …; see the README);
 * `message` says what happened, for a person.
 */
export interface TaskError {
  kind: string;
  message: string;
}

/** What every report of a task with a receipt says. */
export interface TaskDoneFields {
  task: number;
  instruction: Cid;
  /** `ran`: executed now; `reused`: answered by a stored receipt (memo hit). */
  status: "ran" | "reused";
  /** The receipt's CID. */
  receipt: Cid;
  /** Fuel used. */
  fuel: number;
  /** The receipt as DAG-JSON text: `{ran, out, meta, iss, prf, fx}`. */
  dagJson: string;
  /** Lines the task logged through `wasi:logging` (also in the receipt's `meta.logs`). */
  logs: string[];
  /** Where the receipt came from (`computed` for a task that ran here). */
  provenance: Provenance;
  /** The DIDs that signed the receipt (this runtime's, for a task that ran here). */
  signers: string[];
  /**
   * The engine the task ran on: `fast` (the browser's own WebAssembly engine, running the
   * metered module) or `wasmi`; null for a reused receipt. The receipt is the same on both.
   */
  engine: "fast" | "wasmi" | null;
  /** How long the execution took where it ran (a worker, or this thread), in ms; null for a reused receipt. */
  ms: number | null;
  /**
   * Why the task ran here although a receipt signed elsewhere would have answered it: its
   * spot-check mismatched, or could not compare (and a receipt whose check was drawn is
   * served only if it matched). Null otherwise.
   */
  spotCheck: string | null;
  /**
   * For a handler of the workflow's `catch`: the task whose failure it handled (handlers are
   * reported after the workflow's own tasks). Null otherwise.
   */
  handlerOf: number | null;
  /**
   * For a task that failed and whose failure the workflow's `catch` handled: the handler's task
   * (`by`) and what came of it (`as`): `ok` (what awaits it saw the handler's value), `rewire`
   * (`detail`: the task it stood for), `msg` (`detail`: the restated message) or `failed`
   * (`detail`: why; the failure stood). The task's own receipt is its failure. Null otherwise.
   */
  caught: { by: number; as: "ok" | "rewire" | "msg" | "failed"; detail: number | string | null } | null;
  /**
   * With peers (`Runtime.open({ peers })`), what asking them said: `from`, the peer whose receipt
   * answered the task (`provenance: "received"`); `ranOn`, the peer that ran it; `unused`,
   * `"<peer id>: <reason>"` for each receipt or answer from a peer that was not used (an untrusted
   * signer, a forged envelope, no answer in time, `busy`). Null when no peer was asked.
   */
  peers: { from: string | null; ranOn: string | null; unused: string[] } | null;
}

/** A report as the bindings make it: `pkg/index.ts` adds `out` and `error` (see {@link TaskDone}). */
export type RawTaskReport = (TaskDoneFields & { ok: boolean }) | TaskSkipped;

/** A task that could not run (an input it awaits failed, or the run was cancelled). */
export interface TaskSkipped {
  task: number;
  instruction: Cid;
  status: "skipped";
  /** Why it did not run. */
  reason: string;
}

/**
 * Where a stored receipt came from: `computed` (by this runtime: any tab or worker of the origin
 * on this store), `verified` (re-run here with the same receipt), `imported` (from a CAR),
 * `received` (from a peer), `unproven` (stored by a schema-2 database; treated as imported).
 * `computed` and `verified` receipts answer memo lookups; the others do if a trusted signer
 * vouches for them (`vouched`).
 */
export type Provenance = "computed" | "verified" | "imported" | "received" | "unproven";

/** A receipt as stored, with the keys it is indexed under. */
export interface StoredReceipt {
  cid: Cid;
  instruction: Cid;
  /** The module and every link in the arguments: the reverse-index keys. */
  inputs: Cid[];
  /** Where it came from. */
  provenance: Provenance;
  /** Whether it answers memo lookups here: `computed`, `verified`, or `vouched`. */
  trusted: boolean;
  /** Whether a signer this runtime trusts vouches for it (decided when stored and when the trust policy changes). */
  vouched: boolean;
  /** The DIDs that signed it (its envelopes), each checked when stored. */
  signers: string[];
  /** Its envelopes (DAG-CBOR), in the order of `signers`. */
  envelopes: Uint8Array[];
  /** Whether it may answer a memo lookup once trusted: a result of the current receipt version, deterministic, not stopped by a limit, not a failure of the environment. */
  reusable: boolean;
  /** Why it may not, or null. */
  notReusableBecause: string | null;
  ok: boolean;
  fuel: number;
  dagJson: string;
}

/** What {@link Runtime.importCar} stored. */
export interface ImportReport {
  /** Blocks stored (each verified against its CID). */
  blocks: number;
  /** Receipts stored, with provenance `imported`: no memo hits until verified here. */
  receipts: number;
  /** Receipts of the archive already in the store (their provenance is kept). */
  known: number;
  /** Every receipt of the archive, new or known, in archive order (look each up with {@link Runtime.receipt} to see whether it answers memo lookups here). */
  listed: Cid[];
  /** Envelopes kept (valid, and new to their receipt). */
  envelopes: number;
  /** Receipts of the archive that a trusted signer vouches for: memo hits from now on. */
  vouched: Cid[];
  /** Envelopes refused (not kept), each with its reason. */
  refused: { envelope: Cid; reason: ReceiptRefusal; message: string }[];
}
/**
 * Why a receipt or an envelope is not believed: `malformed` (not an envelope, truncated),
 * `non_canonical` (not canonical DAG-CBOR), `unknown_header` (a varsig header other than
 * Ed25519 over DAG-CBOR), `unknown_key_type` (a signer that is not an Ed25519 did:key),
 * `bad_signature` (forged, altered, or signed by a key that is not the named DID),
 * `cid_mismatch` (an envelope of another receipt), `untrusted` (valid, from a signer this
 * runtime does not trust), `unsigned` (no envelope), `no_receipt` (an envelope whose receipt is nowhere).
 */
export type ReceiptRefusal =
  | "malformed" | "non_canonical" | "unknown_header" | "unknown_key_type" | "bad_signature"
  | "cid_mismatch" | "untrusted" | "unsigned" | "no_receipt";
/** The answer of {@link Runtime.verifyReceipt}. */
export interface ReceiptCheck {
  /** Whether a valid envelope from a trusted signer vouches for the receipt. */
  valid: boolean;
  /** The receipt's CID (computed from its bytes), or null if they are not a receipt. */
  receipt: Cid | null;
  /** The trusted signer that vouches for it, if valid. */
  signer: string | null;
  /** Why not, if not valid: the receipt's own fault, else the first refused envelope's, else `untrusted` or `unsigned`. */
  reason: ReceiptRefusal | null;
  message: string | null;
  /** Each envelope, in order: its signer if valid, else why not. */
  envelopes: ({ valid: true; signer: string } | { valid: false; reason: ReceiptRefusal; message: string })[];
}
/** A signed UCAN 1.0 token: its CID (dag-cbor, SHA-256) and its DAG-CBOR bytes. */
export interface UcanToken {
  cid: Cid;
  bytes: Uint8Array;
}
/** What {@link Runtime.delegate} grants. Times are seconds since the epoch. */
export interface DelegateOptions {
  /** Who receives the grant (a did:key). */
  aud: string;
  /** The command granted, e.g. `/wasm/run` (covers its sub-commands by segment). */
  cmd: string;
  /** The subject (default: this runtime). */
  sub?: string;
  /** A powerline: any subject (`sub: null`). */
  powerline?: boolean;
  /** The policy on the invocation's args, e.g. `[["<=", ".fuel", 1000000], ["==", ".func", "add_one"]]`. */
  pol?: unknown[];
  exp?: number;
  nbf?: number;
}
/** What {@link Runtime.invoke} asks for: a `/wasm/run` task. Times are seconds since the epoch. */
export interface InvokeOptions {
  /** The module's CID. */
  module: Cid;
  func: string;
  args?: unknown[];
  fuel?: number;
  memory?: number;
  time?: number;
  /** The instruction's nonce (default ""). */
  nnc?: string;
  /** The executing runtime (default: the subject). */
  aud?: string;
  /** The authority it runs under (default: this runtime). */
  sub?: string;
  /** Delegation CIDs, root first. */
  prf?: Cid[];
  exp?: number;
}
/** The `trust` option of {@link Runtime.open}. */
export interface TrustOptions {
  /** Signers (`did:key:z6Mk…`) whose envelopes make a receipt from elsewhere a memo hit. This runtime's own key is always trusted. */
  signers?: string[];
  /** The share (0 to 1, default 0) of reused receipts vouched for only by other signers that is re-run; a mismatch distrusts the signer, persistently. */
  verifyRate?: number;
  /** DIDs whose authority tasks from others may run under ({@link Runtime.runInvocation}), besides this runtime's own. */
  authorities?: string[];
}
/** The trust policy of a runtime ({@link Runtime.trust}). */
export interface TrustReport {
  /** This runtime's DID (always trusted). */
  self: string;
  /** The signers it was told to trust (`trust.signers`), distrusted ones included. */
  signers: string[];
  /** Signers a spot-check caught, with why; they win over `signers` until cleared. */
  distrusted: { signer: string; reason: string }[];
  /** The share of reused receipts from other signers that is re-run. */
  verifyRate: number;
}

/** The result of {@link Runtime.verify}. */
export interface Verification {
  receipt: Cid;
  instruction: Cid;
  /**
   * `match`: the re-run wrote exactly this receipt (same CID). `mismatch`: it wrote another one.
   * `incomparable`: the receipt cannot be checked by a re-run (see `reason`): it is
   * nondeterministic, of another receipt version, or records a failure of the environment; or
   * the re-run here failed for a reason of this environment.
   */
  verdict: "match" | "mismatch" | "incomparable";
  /** Why the receipt is incomparable, or null. */
  reason: string | null;
  /** `verdict === "match"`. */
  matches: boolean;
  /** Where the receipt came from before this check. */
  provenance: Provenance;
  /** The receipt was not trusted, matched, and is now `verified`: it answers memo lookups. */
  promoted: boolean;
  /** The receipt matched and this runtime's envelope was added to it. */
  attested: boolean;
  /** Signers this runtime trusted that signed the receipt the re-run contradicted: distrusted now. */
  distrusted: string[];
  /** The receipt is marked non-deterministic (it read the clock, or hit the time limit): a mismatch proves nothing. */
  nondeterministic: boolean;
  /** `out` of the receipt, as DAG-JSON. */
  expected: string;
  /** `out` of the re-run, as DAG-JSON. */
  actual: string;
  expectedFuel: number;
  actualFuel: number;
  /** The engine the re-run ran on (`fast` or `wasmi`), or null if it did not get that far. */
  engine: "fast" | "wasmi" | null;
}

/** The progress of one run, as stored. */
export interface RunRecord {
  /** The workflow's CID (DAG-CBOR, SHA3-256). */
  id: Cid;
  state: "running" | "done" | "failed" | "cancelled";
  /** Milliseconds since the epoch. */
  started: number;
  updated: number;
  tasks: { instruction: Cid; status: "queued" | "running" | "done" | "reused" | "failed" | "skipped" }[];
}
"#;
