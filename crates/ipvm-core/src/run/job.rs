//! Jobs and executors: a [`Job`] is one task ready to run (its awaits
//! replaced by values), with its wire form; an [`Executor`] runs jobs (the
//! wasmi executor, a worker pool, a remote peer) and says which ops it runs
//! (a registry of ops, whose classes say which tasks are pure).

use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::model::execution::Execution;
use crate::model::op::Ops;
use crate::model::workflow::Limits;
use crate::CoreError;

/// One task, ready to execute: awaits replaced by the values they stand for.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Index of the task in its workflow.
    pub task: usize,
    /// The instruction's CID.
    pub instruction: Cid,
    /// CID of the module to run.
    pub module: Cid,
    /// The operation.
    pub op: String,
    /// The function to call.
    pub func: String,
    /// Arguments with every await resolved.
    pub args: Vec<Ipld>,
    /// Limits.
    pub limits: Limits,
    /// The invocation the receipt will name (`ran`) and its proofs (`prf`),
    /// so that an executor holding the runtime's key (a worker) can build
    /// the receipt's CID and sign it where it ran. `None`: nobody signs there.
    pub receipt: Option<(Cid, Vec<Cid>)>,
    /// The engine the job should run on (`fast` or `wasmi`), if the caller
    /// asks for one (a check on another engine); `None`: the executor's
    /// choice. Never part of the receipt: every engine gives the same one.
    pub engine: Option<String>,
}

fn field<'a>(
    m: &'a std::collections::BTreeMap<String, Ipld>,
    k: &str,
) -> Result<&'a Ipld, CoreError> {
    m.get(k).ok_or_else(|| CoreError::Decode {
        format: "job",
        reason: format!("missing `{k}`"),
    })
}

fn text(v: &Ipld, k: &str) -> Result<String, CoreError> {
    match v {
        Ipld::String(s) => Ok(s.clone()),
        _ => Err(CoreError::Decode {
            format: "job",
            reason: format!("`{k}` must be a string"),
        }),
    }
}

fn link(v: &Ipld, k: &str) -> Result<Cid, CoreError> {
    match v {
        Ipld::Link(c) => Ok(*c),
        _ => Err(CoreError::Decode {
            format: "job",
            reason: format!("`{k}` must be a link"),
        }),
    }
}

impl Job {
    /// The job as IPLD, to send it to another thread or peer.
    pub fn to_ipld(&self) -> Ipld {
        Ipld::Map(std::collections::BTreeMap::from([
            ("task".to_string(), Ipld::Integer(self.task as i128)),
            ("instruction".to_string(), Ipld::Link(self.instruction)),
            ("module".to_string(), Ipld::Link(self.module)),
            ("op".to_string(), Ipld::String(self.op.clone())),
            ("func".to_string(), Ipld::String(self.func.clone())),
            ("args".to_string(), Ipld::List(self.args.clone())),
            ("limits".to_string(), self.limits.to_ipld()),
            (
                "engine".to_string(),
                self.engine.clone().map_or(Ipld::Null, Ipld::String),
            ),
            (
                "receipt".to_string(),
                self.receipt.as_ref().map_or(Ipld::Null, |(ran, prf)| {
                    Ipld::List(vec![
                        Ipld::Link(*ran),
                        Ipld::List(prf.iter().map(|c| Ipld::Link(*c)).collect()),
                    ])
                }),
            ),
        ]))
    }

    /// Reads a job back from [`Job::to_ipld`].
    pub fn from_ipld(v: &Ipld) -> Result<Self, CoreError> {
        let Ipld::Map(m) = v else {
            return Err(CoreError::Decode {
                format: "job",
                reason: "not a map".into(),
            });
        };
        Ok(Job {
            task: match field(m, "task")? {
                Ipld::Integer(i) => usize::try_from(*i).unwrap_or(0),
                _ => 0,
            },
            instruction: link(field(m, "instruction")?, "instruction")?,
            module: link(field(m, "module")?, "module")?,
            op: text(field(m, "op")?, "op")?,
            func: text(field(m, "func")?, "func")?,
            args: match field(m, "args")? {
                Ipld::List(a) => a.clone(),
                _ => {
                    return Err(CoreError::Decode {
                        format: "job",
                        reason: "`args` must be a list".into(),
                    })
                }
            },
            limits: Limits::from_ipld(field(m, "limits")?)?,
            receipt: match m.get("receipt") {
                Some(Ipld::List(pair)) => match pair.as_slice() {
                    [Ipld::Link(ran), Ipld::List(prf)] => Some((
                        *ran,
                        prf.iter()
                            .map(|p| link(p, "receipt.prf"))
                            .collect::<Result<_, _>>()?,
                    )),
                    _ => {
                        return Err(CoreError::Decode {
                            format: "job",
                            reason: "`receipt` must be [ran, [prf…]]".into(),
                        })
                    }
                },
                _ => None,
            },
            engine: match m.get("engine") {
                Some(Ipld::String(e)) => Some(e.clone()),
                _ => None,
            },
        })
    }
}

/// Runs jobs. Implemented by the wasmi executor, worker pools and remote peers.
#[allow(
    async_fn_in_trait,
    reason = "the futures are used in single-threaded contexts; Send is not wanted"
)]
pub trait Executor {
    /// The ops this executor runs, with their classes: a task whose op is
    /// not among them is refused before anything runs; the others are
    /// scheduled by their op's class (docs/spec.md §6.4). An executor that
    /// runs Wasm only answers [`Ops::standard`].
    fn ops(&self) -> &Ops;
    /// Runs one job. Failures of the task are an `Execution` with an error
    /// outcome, not an `Err`: they still produce a receipt.
    async fn execute(&self, job: Job) -> Execution;
}
