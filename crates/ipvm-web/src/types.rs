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
    // Raised by the facade (pkg/index.ts) for its own argument checks and fetches.
    ERR_ARGUMENT,
    ERR_FETCH,
);

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** A CID in its string form, e.g. `bafyrmi…` (instructions, receipts) or `bafkrei…`/`bafybei…` (files). */
export type Cid = string;

/** Progress of a run. */
export type RunEvent =
  | { type: "queued"; task: number; instruction: Cid }
  | { type: "started"; task: number; instruction: Cid }
  | { type: "memo-hit"; task: number; instruction: Cid; receipt: Cid }
  | { type: "finished"; task: number; instruction: Cid; receipt: Cid; fuel: number }
  | { type: "failed"; task: number; instruction: Cid; receipt: Cid | null; reason: string }
  /** A stored receipt row was skipped: it is not what it claims (damaged, or written by another version). Reported once; it never fails the run. */
  | { type: "rejected"; task: number; instruction: Cid; receipt: string; reason: string };

/** How one task of a run ended. */
export type TaskReport =
  | {
      task: number;
      instruction: Cid;
      /** `ran`: executed now; `reused`: answered by a stored receipt (memo hit). */
      status: "ran" | "reused";
      /** The receipt's CID. */
      receipt: Cid;
      /** Whether the receipt holds an output (true) or an error (false). */
      ok: boolean;
      /** Fuel used. */
      fuel: number;
      /** The receipt as DAG-JSON text: `{ran, out, meta, iss, prf, fx}`. */
      dagJson: string;
      /** Lines the task logged through `wasi:logging` (also in the receipt's `meta.logs`). */
      logs: string[];
    }
  | { task: number; instruction: Cid; status: "skipped"; reason: string };

/**
 * Where a stored receipt came from. Only `computed` (by this runtime: any tab or worker of the
 * origin on this store) and `verified` (re-run here with the same receipt) answer memo lookups.
 * `imported` (from a CAR) and `received` (from a peer) are listed, exported and verifiable;
 * `unproven` receipts were stored by a schema-2 database and are treated as imported.
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
  /** Whether this runtime vouches for it (`computed` or `verified`). */
  trusted: boolean;
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
}

/** The result of {@link Runtime.verify}. */
export interface Verification {
  receipt: Cid;
  instruction: Cid;
  /**
   * `match`: the re-run wrote exactly this receipt (same CID). `mismatch`: it wrote another one.
   * `incomparable`: the receipt cannot be checked by a re-run (see `reason`): it is
   * nondeterministic, of another receipt version, or records a failure of the environment.
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
  /** The receipt is marked non-deterministic (it read the clock, or hit the time limit): a mismatch proves nothing. */
  nondeterministic: boolean;
  /** `out` of the receipt, as DAG-JSON. */
  expected: string;
  /** `out` of the re-run, as DAG-JSON. */
  actual: string;
  expectedFuel: number;
  actualFuel: number;
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
