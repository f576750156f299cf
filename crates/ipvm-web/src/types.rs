//! TypeScript types of the values the bindings hand to JS, emitted into the
//! generated `.d.ts` (and re-exported by `pkg/index.ts`), so that the types
//! live next to the code that builds the values (`convert.rs`).

use wasm_bindgen::prelude::*;

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
  | { type: "failed"; task: number; instruction: Cid; receipt: Cid | null; reason: string };

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

/** A receipt as stored, with the keys it is indexed under. */
export interface StoredReceipt {
  cid: Cid;
  instruction: Cid;
  /** The module and every link in the arguments: the reverse-index keys. */
  inputs: Cid[];
  ok: boolean;
  fuel: number;
  dagJson: string;
}

/** The result of {@link Runtime.verify}. */
export interface Verification {
  receipt: Cid;
  instruction: Cid;
  /** Output and fuel are identical. */
  matches: boolean;
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
