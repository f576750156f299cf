//! Workflows, tasks and instructions, read from Homestar's JSON format.
//!
//! ```json
//! {"tasks": [{"run": {"rsc": "ipfs://bafy…", "op": "wasm/run",
//!                     "input": {"func": "add_one", "args": [1]}, "nnc": ""},
//!             "cause": null, "meta": {"fuel": 1000000, "time": 5000}, "prf": []}]}
//! ```
//!
//! Beside `tasks`, a workflow may carry `defaults` (limits for the tasks
//! whose `meta` leaves them out) and a `catch` handler ([`crate::model::catch`]).
//!
//! Parsing validates everything that can be checked without a store; each
//! error names the task index, the field and the reason. An instruction's
//! `rsc` and `input` are checked by the op it names, through a registry of
//! ops ([`crate::model::op`]; the standard one unless another is given).

use std::collections::{BTreeMap, HashMap};

use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::model::address::{dag_cbor_cid, links};
use crate::model::awaits::{self, kind_name, Await};
use crate::model::op::{self, Call, Ops};
use crate::{CoreError, ValidationError};

use crate::model::catch::{with_defaults, Catch};
use crate::model::limits::parse_limits;
pub use crate::model::limits::Limits;

/// What to compute: a function of a module, with arguments and a nonce.
/// Its CID ([`Instruction::cid`]) is the memo key.
#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// The resource: `ipfs://<CID of the module>`.
    pub rsc: String,
    /// The module's CID, parsed from `rsc`.
    pub module: Cid,
    /// The operation, e.g. `wasm/run`.
    pub op: String,
    /// The exported function to call.
    pub func: String,
    /// The arguments, awaits included as written.
    pub args: Vec<Ipld>,
    /// The nonce: `""`, a string, or bytes.
    pub nnc: Ipld,
    cid: Cid,
}

impl Instruction {
    /// Builds an instruction from its parts and computes its CID.
    pub fn new(
        module: Cid,
        op: &str,
        func: &str,
        args: Vec<Ipld>,
        nnc: Ipld,
    ) -> Result<Self, CoreError> {
        let rsc = format!("ipfs://{module}");
        let cid = dag_cbor_cid(&instruction_ipld(&rsc, op, func, &args, &nnc))?;
        Ok(Self {
            rsc,
            module,
            op: op.into(),
            func: func.into(),
            args,
            nnc,
            cid,
        })
    }

    /// The same instruction with other arguments (its `rsc`, op, function
    /// and nonce kept as written), and so another CID.
    pub fn with_args(&self, args: Vec<Ipld>) -> Result<Self, CoreError> {
        let cid = dag_cbor_cid(&instruction_ipld(
            &self.rsc, &self.op, &self.func, &args, &self.nnc,
        ))?;
        Ok(Self {
            args,
            cid,
            ..self.clone()
        })
    }

    /// The instruction's CID: CIDv1, dag-cbor, SHA3-256 over
    /// `{rsc, op, input: {args, func}, nnc}`.
    pub fn cid(&self) -> Cid {
        self.cid
    }

    /// The instruction as IPLD, exactly as hashed.
    pub fn to_ipld(&self) -> Ipld {
        instruction_ipld(&self.rsc, &self.op, &self.func, &self.args, &self.nnc)
    }

    /// Every await in the arguments.
    pub fn awaits(&self) -> Vec<Await> {
        let mut out = Vec::new();
        for a in &self.args {
            // Shapes were validated when the instruction was parsed.
            let _ = awaits::collect(a, 0, "", &mut out);
        }
        out
    }

    /// Every CID this instruction reads: the module and each link in the
    /// arguments that is not an await. These key the reverse index.
    pub fn inputs(&self) -> Vec<Cid> {
        let awaited: Vec<Cid> = self.awaits().iter().map(|a| a.target).collect();
        let mut out = vec![self.module];
        for a in &self.args {
            links(a, &mut out);
        }
        out.retain(|c| !awaited.contains(c));
        out.dedup();
        out
    }

    /// Reads an instruction `{rsc, op, input, nnc}` as a workflow's is
    /// read: its op among the standard ones and checked by it.
    pub fn from_ipld(value: &Ipld) -> Result<Self, ValidationError> {
        Self::parse(0, value, Some(Ops::standard()))
    }

    /// Reads an instruction `{rsc, op, input, nnc}`. With `ops`, the op must
    /// be one of them and its check reads `rsc` and `input`; without (a
    /// stored invocation, admitted when it ran), any op is read, its call
    /// checked as a call of a module function ([`op::module_call`], the one
    /// shape an instruction holds).
    fn parse(task: usize, value: &Ipld, ops: Option<&Ops>) -> Result<Self, ValidationError> {
        let map = expect_map(task, "run", value)?;
        reject_unknown(task, "run", map, &["rsc", "op", "input", "nnc"])?;
        let op = expect_string(task, "run.op", map.get("op"))?;
        if op.is_empty() {
            return Err(ValidationError::new(task, "run.op", "must not be empty"));
        }
        let check = match ops {
            Some(ops) => ops.lookup(task, &op)?.check,
            None => op::module_call,
        };
        let Call {
            rsc,
            module,
            func,
            args,
        } = check(task, map.get("rsc"), map.get("input"))?;
        let nnc = match map.get("nnc") {
            None => Ipld::String(String::new()),
            Some(v @ (Ipld::String(_) | Ipld::Bytes(_))) => v.clone(),
            Some(other) => {
                return Err(ValidationError::new(
                    task,
                    "run.nnc",
                    format!("must be a string or bytes, found {}", kind_name(other)),
                ))
            }
        };
        let cid = dag_cbor_cid(&instruction_ipld(&rsc, &op, &func, &args, &nnc))
            .map_err(|e| ValidationError::new(task, "run", e.to_string()))?;
        Ok(Self {
            rsc,
            module,
            op,
            func,
            args,
            nnc,
            cid,
        })
    }
}

fn instruction_ipld(rsc: &str, op: &str, func: &str, args: &[Ipld], nnc: &Ipld) -> Ipld {
    let input = BTreeMap::from([
        ("args".to_string(), Ipld::List(args.to_vec())),
        ("func".to_string(), Ipld::String(func.to_string())),
    ]);
    Ipld::Map(BTreeMap::from([
        ("rsc".to_string(), Ipld::String(rsc.to_string())),
        ("op".to_string(), Ipld::String(op.to_string())),
        ("input".to_string(), Ipld::Map(input)),
        ("nnc".to_string(), nnc.clone()),
    ]))
}

/// One task of a workflow: an instruction plus its limits and provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// What to compute.
    pub run: Instruction,
    /// The receipt or invocation that caused this task, if any.
    pub cause: Option<Cid>,
    /// Limits (`meta`).
    pub limits: Limits,
    /// Proofs (UCAN CIDs) of the authority to run it.
    pub prf: Vec<Cid>,
}

impl Task {
    /// A task with no cause, default limits and no proofs.
    pub fn new(run: Instruction) -> Self {
        Self {
            run,
            cause: None,
            limits: Limits::default(),
            prf: Vec::new(),
        }
    }

    /// The task as IPLD: `{run, cause, meta, prf}`.
    pub fn to_ipld(&self) -> Ipld {
        Ipld::Map(BTreeMap::from([
            ("run".to_string(), self.run.to_ipld()),
            (
                "cause".to_string(),
                self.cause.map_or(Ipld::Null, Ipld::Link),
            ),
            ("meta".to_string(), self.limits.to_ipld()),
            (
                "prf".to_string(),
                Ipld::List(self.prf.iter().copied().map(Ipld::Link).collect()),
            ),
        ]))
    }

    /// The invocation `{task}` that a receipt's `ran` points at: its CID and
    /// DAG-CBOR bytes.
    pub fn invocation(&self) -> Result<(Cid, Vec<u8>), CoreError> {
        crate::model::address::dag_cbor_block(&Ipld::Map(BTreeMap::from([(
            "task".to_string(),
            self.to_ipld(),
        )])))
    }

    /// Reads a task back from IPLD (e.g. from a stored invocation `{task}`,
    /// admitted when it ran: its op need not be one this runtime knows, and
    /// its call is read as a call of a module function).
    pub fn from_ipld(value: &Ipld) -> Result<Self, CoreError> {
        Ok(Self::parse(0, value, None)?)
    }

    fn parse(index: usize, value: &Ipld, ops: Option<&Ops>) -> Result<Self, ValidationError> {
        let map = expect_map(index, "task", value)?;
        reject_unknown(index, "task", map, &["run", "cause", "meta", "prf"])?;
        let run = Instruction::parse(index, map.get("run").unwrap_or(&Ipld::Null), ops)?;
        let cause = match map.get("cause") {
            None | Some(Ipld::Null) => None,
            Some(Ipld::Link(c)) => Some(*c),
            Some(other) => {
                return Err(ValidationError::new(
                    index,
                    "cause",
                    format!("a link or null is required, found {}", kind_name(other)),
                ))
            }
        };
        let limits = match map.get("meta") {
            None | Some(Ipld::Null) => Limits::default(),
            Some(meta) => parse_limits(index, meta)?,
        };
        let prf = match map.get("prf") {
            None => Vec::new(),
            Some(Ipld::List(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Ipld::Link(c) => Ok(*c),
                    other => Err(ValidationError::new(
                        index,
                        format!("prf[{i}]"),
                        format!("a link is required, found {}", kind_name(other)),
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(ValidationError::new(
                    index,
                    "prf",
                    format!("must be a list, found {}", kind_name(other)),
                ))
            }
        };
        Ok(Self {
            run,
            cause,
            limits,
            prf,
        })
    }
}

/// A task as a node of its workflow's graph ([`Workflow::graph`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskNode {
    /// The task's instruction CID (its memo key).
    pub instruction: Cid,
    /// The module it calls.
    pub module: Cid,
    /// The function it calls.
    pub func: String,
    /// The tasks of the workflow it awaits (their indices), in the order written.
    pub awaits: Vec<usize>,
    /// Awaited instructions that are not in the workflow (their receipts must be stored).
    pub outside: Vec<Cid>,
    /// The module and every link in the arguments that is not an await.
    pub inputs: Vec<Cid>,
}

/// A workflow: a DAG of tasks linked by awaits, and, optionally, the
/// handler of its failed pure tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    /// The tasks, in the order written (`defaults` already applied to their
    /// limits).
    pub tasks: Vec<Task>,
    /// What runs when a pure task fails (`catch`), if anything.
    pub catch: Option<Catch>,
}

impl Workflow {
    /// A workflow of these tasks, with no handler.
    pub fn new(tasks: Vec<Task>) -> Self {
        Self { tasks, catch: None }
    }

    /// Parses and validates a workflow from DAG-JSON, its ops among the
    /// standard ones ([`Ops::standard`]).
    pub fn from_dag_json(bytes: &[u8]) -> Result<Self, CoreError> {
        Self::from_ipld(&parse_dag_json(bytes)?)
    }

    /// Parses and validates a workflow from DAG-CBOR, its ops among the
    /// standard ones.
    pub fn from_dag_cbor(bytes: &[u8]) -> Result<Self, CoreError> {
        Self::from_ipld(&crate::model::address::decode_dag_cbor(bytes)?)
    }

    /// Parses and validates a workflow from an IPLD value `{"tasks": [...]}`,
    /// its ops among the standard ones.
    pub fn from_ipld(value: &Ipld) -> Result<Self, CoreError> {
        Self::from_ipld_with(value, Ops::standard())
    }

    /// Parses and validates a workflow from DAG-JSON, each instruction
    /// checked by the op it names in `ops` (an op not in `ops` is an error
    /// naming `run.op`).
    pub fn from_dag_json_with(bytes: &[u8], ops: &Ops) -> Result<Self, CoreError> {
        Self::from_ipld_with(&parse_dag_json(bytes)?, ops)
    }

    /// Parses and validates a workflow from an IPLD value `{"tasks": [...]}`,
    /// each instruction checked by the op it names in `ops`.
    pub fn from_ipld_with(value: &Ipld, ops: &Ops) -> Result<Self, CoreError> {
        let Ipld::Map(map) = value else {
            return Err(CoreError::Shape(format!(
                "expected a map {{\"tasks\": [...]}}, found {}",
                kind_name(value)
            )));
        };
        if let Some(k) = map
            .keys()
            .find(|k| !["tasks", "defaults", "catch"].contains(&k.as_str()))
        {
            return Err(CoreError::Shape(format!(
                "unknown top-level field `{k}` (expected tasks, and optionally defaults and catch)"
            )));
        }
        let Some(Ipld::List(items)) = map.get("tasks") else {
            return Err(CoreError::Shape("`tasks` must be a list of tasks".into()));
        };
        let defaults = match map.get("defaults") {
            None | Some(Ipld::Null) => None,
            Some(d) => Some(parse_limits(0, d).map_err(|e| {
                CoreError::Shape(format!(
                    "`defaults{}`: {}",
                    e.field.strip_prefix("meta").unwrap_or(&e.field),
                    e.reason
                ))
            })?),
        };
        let mut tasks = items
            .iter()
            .enumerate()
            .map(|(i, t)| Task::parse(i, t, Some(ops)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut catch = match map.get("catch") {
            None | Some(Ipld::Null) => None,
            Some(c) => Some(Catch::parse(c)?),
        };
        if let Some(defaults) = defaults {
            for (task, raw) in tasks.iter_mut().zip(items) {
                task.limits = with_defaults(task.limits, &defaults, meta_keys(raw));
            }
            if let (Some(c), Some(Ipld::Map(raw))) = (catch.as_mut(), map.get("catch")) {
                c.limits = with_defaults(
                    c.limits,
                    &defaults,
                    raw.get("meta").map_or(Vec::new(), keys_of),
                );
            }
        }
        let wf = Self { tasks, catch };
        wf.validate()?;
        Ok(wf)
    }

    /// The workflow as IPLD (with `defaults` applied to each task).
    pub fn to_ipld(&self) -> Ipld {
        let mut map = BTreeMap::from([(
            "tasks".to_string(),
            Ipld::List(self.tasks.iter().map(Task::to_ipld).collect()),
        )]);
        if let Some(c) = &self.catch {
            map.insert("catch".to_string(), c.to_ipld());
        }
        Ipld::Map(map)
    }

    /// The workflow as DAG-JSON.
    pub fn to_dag_json(&self) -> Result<Vec<u8>, CoreError> {
        serde_ipld_dagjson::to_vec(&self.to_ipld()).map_err(|e| CoreError::Encode(e.to_string()))
    }

    /// The workflow as a graph, one node per task in workflow order: what a
    /// view of the DAG (or a tool) needs, without running anything.
    pub fn graph(&self) -> Vec<TaskNode> {
        let index: HashMap<Cid, usize> = self
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.run.cid(), i))
            .collect();
        self.tasks
            .iter()
            .map(|t| {
                let (awaits, outside) = awaited(t, &index);
                TaskNode {
                    instruction: t.run.cid(),
                    module: t.run.module,
                    func: t.run.func.clone(),
                    awaits,
                    outside,
                    inputs: t.run.inputs(),
                }
            })
            .collect()
    }

    /// Checks what can be checked without a store: no duplicate instructions,
    /// and no cycles among the awaits that point inside the workflow.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut seen: HashMap<Cid, usize> = HashMap::new();
        for (i, t) in self.tasks.iter().enumerate() {
            if let Some(first) = seen.insert(t.run.cid(), i) {
                return Err(ValidationError::new(
                    i,
                    "run",
                    format!("duplicate instruction {} (same as task {first}); change its nonce `nnc` to run it twice", t.run.cid()),
                ));
            }
        }
        let edges: Vec<Vec<usize>> = self.tasks.iter().map(|t| awaited(t, &seen).0).collect();
        if let Some(i) = find_cycle(&edges) {
            return Err(ValidationError::new(
                i,
                "run.input.args",
                "awaits form a cycle",
            ));
        }
        Ok(())
    }
}

/// The tasks of a workflow (by `index`: instruction CID to task) that `task`
/// awaits, each once in the order written, and the awaited instructions that
/// are not in it.
fn awaited(task: &Task, index: &HashMap<Cid, usize>) -> (Vec<usize>, Vec<Cid>) {
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for a in task.run.awaits() {
        match index.get(&a.target) {
            Some(&i) if !inside.contains(&i) => inside.push(i),
            Some(_) => {}
            None if !outside.contains(&a.target) => outside.push(a.target),
            None => {}
        }
    }
    (inside, outside)
}

/// The keys a task's raw `meta` gives.
fn meta_keys(raw_task: &Ipld) -> Vec<String> {
    match raw_task {
        Ipld::Map(m) => m.get("meta").map_or(Vec::new(), keys_of),
        _ => Vec::new(),
    }
}

fn keys_of(meta: &Ipld) -> Vec<String> {
    match meta {
        Ipld::Map(m) => m
            .iter()
            .filter(|(_, v)| !matches!(v, Ipld::Null))
            .map(|(k, _)| k.clone())
            .collect(),
        _ => Vec::new(),
    }
}

/// Parses DAG-JSON text into an IPLD value.
pub fn parse_dag_json(bytes: &[u8]) -> Result<Ipld, CoreError> {
    crate::model::dagjson::parse(bytes)
}

/// The CID of an instruction given as DAG-JSON `{rsc, op, input, nnc}`,
/// validated as it would be inside a workflow (its op a standard one).
pub fn instruction_cid_from_dag_json(bytes: &[u8]) -> Result<Cid, CoreError> {
    Ok(Instruction::parse(0, &parse_dag_json(bytes)?, Some(Ops::standard()))?.cid())
}

/// Returns a node on a cycle of the graph `deps[i] = nodes i waits for`, if any.
/// Instruction CIDs make real cycles impossible (each would have to contain
/// the other's hash), but the check keeps the scheduler safe on any input.
pub fn find_cycle(deps: &[Vec<usize>]) -> Option<usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut mark = vec![Mark::New; deps.len()];
    for start in 0..deps.len() {
        if mark[start] != Mark::New {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        mark[start] = Mark::Active;
        while let Some((node, next)) = stack.pop() {
            if let Some(&dep) = deps[node].get(next) {
                stack.push((node, next + 1));
                match mark.get(dep) {
                    Some(Mark::Active) => return Some(dep),
                    Some(Mark::New) => {
                        mark[dep] = Mark::Active;
                        stack.push((dep, 0));
                    }
                    _ => {}
                }
            } else {
                mark[node] = Mark::Done;
            }
        }
    }
    None
}

pub(crate) fn expect_map<'a>(
    task: usize,
    field: &str,
    v: &'a Ipld,
) -> Result<&'a BTreeMap<String, Ipld>, ValidationError> {
    match v {
        Ipld::Map(m) => Ok(m),
        Ipld::Null => Err(ValidationError::new(task, field, "is missing")),
        other => Err(ValidationError::new(
            task,
            field,
            format!("must be a map, found {}", kind_name(other)),
        )),
    }
}

fn expect_string(task: usize, field: &str, v: Option<&Ipld>) -> Result<String, ValidationError> {
    match v {
        Some(Ipld::String(s)) => Ok(s.clone()),
        None => Err(ValidationError::new(task, field, "is missing")),
        Some(other) => Err(ValidationError::new(
            task,
            field,
            format!("must be a string, found {}", kind_name(other)),
        )),
    }
}

pub(crate) fn reject_unknown(
    task: usize,
    field: &str,
    map: &BTreeMap<String, Ipld>,
    known: &[&str],
) -> Result<(), ValidationError> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ValidationError::new(
            task,
            format!("{field}.{k}"),
            format!("unknown field (expected one of: {})", known.join(", ")),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homestar_check_value() {
        let json = br#"{"tasks":[{"cause":null,"meta":{"fuel":18446744073709552000,"time":100000},"prf":[],
          "run":{"input":{"args":[1],"func":"add_one"},"nnc":"","op":"wasm/run",
                 "rsc":"ipfs://bafybeibk42jwhq7w2zcpe6q3wgtleugp3ymfs3pa5gerjmnakqihhqx4zq"}}]}"#;
        let wf = Workflow::from_dag_json(json).unwrap();
        assert_eq!(
            wf.tasks[0].run.cid().to_string(),
            "bafyrmihmxmsbt4n3g6dzmj7rho34mzfbaoqqbsfcq7etsogslqftbyj7du"
        );
        assert_eq!(
            wf.tasks[0].limits.fuel, None,
            "2^64 as a float means no limit"
        );
        assert_eq!(wf.tasks[0].limits.time, Some(100_000));
    }

    #[test]
    fn find_cycle_sees_cycles_and_only_cycles() {
        assert_eq!(find_cycle(&[vec![1], vec![2], vec![]]), None);
        assert_eq!(find_cycle(&[vec![1, 2], vec![2], vec![]]), None);
        assert!(find_cycle(&[vec![1], vec![2], vec![0]]).is_some());
        assert_eq!(find_cycle(&[vec![0]]), Some(0));
    }

    #[test]
    fn graph_names_each_tasks_awaits_outside_instructions_and_inputs() {
        let module: Cid = "bafybeibk42jwhq7w2zcpe6q3wgtleugp3ymfs3pa5gerjmnakqihhqx4zq"
            .parse()
            .unwrap();
        let picture: Cid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
            .parse()
            .unwrap();
        let outside: Cid = "bafyrmihmxmsbt4n3g6dzmj7rho34mzfbaoqqbsfcq7etsogslqftbyj7du"
            .parse()
            .unwrap();
        let task = |func: &str, args: Vec<Ipld>| {
            Task::new(
                Instruction::new(module, "wasm/run", func, args, Ipld::String(String::new()))
                    .unwrap(),
            )
        };
        let link = |c: Cid| Ipld::Link(c);
        let wait = |c: Cid| Ipld::Map(BTreeMap::from([("await/ok".to_string(), Ipld::Link(c))]));
        let crop = task("crop", vec![link(picture), 0.into()]);
        let rotate = task("rotate90", vec![wait(crop.run.cid())]);
        let both = task(
            "join",
            vec![
                wait(crop.run.cid()),
                wait(rotate.run.cid()),
                wait(crop.run.cid()),
                wait(outside),
            ],
        );
        let wf = Workflow::new(vec![crop.clone(), rotate.clone(), both.clone()]);
        let g = wf.graph();
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].awaits, Vec::<usize>::new());
        assert_eq!(g[0].inputs, vec![module, picture]);
        assert_eq!(g[1].awaits, vec![0]);
        assert_eq!(
            g[1].inputs,
            vec![module],
            "an awaited instruction is not an input"
        );
        assert_eq!(
            g[2].awaits,
            vec![0, 1],
            "each task once, in the order written"
        );
        assert_eq!(g[2].outside, vec![outside]);
        assert_eq!(g[2].func, "join");
        assert_eq!(g[2].instruction, both.run.cid());
    }
}
