//! Looking without running: a module's CID, shape and signatures, and a
//! workflow's graph with its validation error. Tools and the playground use
//! these to show what a module offers and what a workflow will do before any
//! task runs. The rules live in the core and the executor; this only
//! translates them for JS (with serde-wasm-bindgen).

use ipvm_core::{unixfs, Workflow};
use ipvm_exec::wit;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::convert;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** What {@link inspectModule} says of a module's bytes. */
export interface ModuleInfo {
    /** The CID the bytes get when stored (`addModule`), the one `ipfs add --cid-version 1` gives. */
    cid: Cid;
    /** Its size in bytes. */
    size: number;
    /** `core` (numbers in, numbers out), `wit-bindgen` (a core module with its WIT world) or `component` (wrapping one core module). */
    shape: "core" | "wit-bindgen" | "component";
    /** Exported functions, with their WIT signature (`func(png: list<u8>) -> list<u8>`), or core types for a plain core module. */
    exports: { name: string; signature: string }[];
    /** Imported functions (`module.name`), with their signatures. */
    imports: { name: string; signature: string }[];
    /** Whether the metering rewriter accepts it, so it can run on the browser's own engine (`fast`); else it runs on wasmi. */
    fast: boolean;
    /** Why the rewriter refuses it (e.g. a feature that cannot be made deterministic), or null. */
    fastRefusal: string | null;
}

/** A workflow as a graph ({@link planWorkflow}): one node per task, in workflow order. */
export interface TaskNode {
    task: number;
    instruction: Cid;
    module: Cid;
    func: string;
    /** The tasks of the workflow it awaits (indices). */
    awaits: number[];
    /** Awaited instructions that are not in the workflow (their receipts must be in the store). */
    outside: Cid[];
    /** The module and every link in the arguments: the keys of the reverse lookup. */
    inputs: Cid[];
}
"#;

#[derive(Serialize)]
struct Named {
    name: String,
    signature: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModuleInfoJs {
    cid: String,
    size: usize,
    shape: &'static str,
    exports: Vec<Named>,
    imports: Vec<Named>,
    fast: bool,
    fast_refusal: Option<String>,
}

#[derive(Serialize)]
struct TaskNodeJs {
    task: usize,
    instruction: String,
    module: String,
    func: String,
    awaits: Vec<usize>,
    outside: Vec<String>,
    inputs: Vec<String>,
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| convert::error("ERR_ENCODE", &e.to_string()))
}

/// Describes a module's bytes without storing or running them: its CID,
/// shape, exports and imports with their signatures, and whether the fast
/// path can run it. Rejects with `ERR_MODULE_INVALID` naming the reason.
#[wasm_bindgen(js_name = inspectModule, unchecked_return_type = "ModuleInfo")]
pub fn inspect_module(bytes: &[u8]) -> Result<JsValue, JsValue> {
    let cid = unixfs::import(bytes).root.to_string();
    let invalid = |e: ipvm_exec::ExecError| convert::error("ERR_MODULE_INVALID", &e.to_string());
    let info = wit::describe(&cid, bytes).map_err(invalid)?;
    let named = |list: Vec<(String, String)>| {
        list.into_iter()
            .map(|(name, signature)| Named { name, signature })
            .collect()
    };
    to_js(&ModuleInfoJs {
        cid,
        size: bytes.len(),
        shape: info.shape,
        exports: named(info.exports),
        imports: named(info.imports),
        fast: info.fast_refusal.is_none(),
        fast_refusal: info.fast_refusal,
    })
}

/// Parses and validates a workflow given as DAG-JSON text, without running
/// it, and returns its graph. Rejects as `run` would (`ERR_WORKFLOW_DECODE`,
/// or `ERR_WORKFLOW_INVALID` with the task and the field).
#[wasm_bindgen(js_name = planWorkflow, unchecked_return_type = "TaskNode[]")]
pub fn plan_workflow(workflow: &str) -> Result<JsValue, JsValue> {
    let wf = Workflow::from_dag_json(workflow.as_bytes()).map_err(|e| convert::core_error(&e))?;
    let strings = |cids: Vec<ipvm_core::Cid>| cids.iter().map(ToString::to_string).collect();
    let nodes: Vec<TaskNodeJs> = wf
        .graph()
        .into_iter()
        .enumerate()
        .map(|(task, n)| TaskNodeJs {
            task,
            instruction: n.instruction.to_string(),
            module: n.module.to_string(),
            func: n.func,
            awaits: n.awaits,
            outside: strings(n.outside),
            inputs: strings(n.inputs),
        })
        .collect();
    to_js(&nodes)
}
