//! [`Execution`]: what an executor reports for one job (output or error,
//! fuel, flags, logs, and for reports the engine and time), and its wire
//! form for crossing to another thread or peer. An execution says where it
//! was done ([`Origin`]): a result that came back from another principal is
//! never taken for this runtime's own.

use ipld_core::ipld::Ipld;

use crate::model::receipt::Outcome;
use crate::CoreError;

/// Where a job was executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    /// By this runtime: this thread, or a worker of it (same origin, same
    /// key). Its receipt is `computed` and signed by this runtime.
    #[default]
    Here,
    /// By another principal, whose envelope of the receipt (`envelope`)
    /// says who. Its receipt is stored as `received` with that envelope
    /// only, and answers the memo only if the policy trusts that signer.
    Elsewhere,
}

impl Origin {
    /// `here` or `elsewhere`, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Here => "here",
            Origin::Elsewhere => "elsewhere",
        }
    }
}

/// What an executor reports for one job.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    /// Output or error.
    pub out: Outcome,
    /// Fuel consumed.
    pub fuel: u64,
    /// The result depends on the machine (a clock was read, or a time limit hit).
    pub nondeterministic: bool,
    /// The limit that stopped the run (`fuel`, `memory`, `stack`, `time`), if any.
    pub limit: Option<String>,
    /// Log lines the task wrote.
    pub logs: Vec<String>,
    /// The envelope of the receipt of this execution: this runtime's, if
    /// the executor signed it where it ran (a worker holding the runtime's
    /// key), or the other principal's (required) for [`Origin::Elsewhere`].
    pub envelope: Option<Vec<u8>>,
    /// Where the job was executed.
    pub origin: Origin,
    /// The engine that ran the task (`fast`, `wasmi`), for reports; not
    /// part of the receipt, whose content is the same on every engine.
    pub engine: Option<String>,
    /// How long the execution took where it ran, in microseconds (module
    /// loading, arguments, the call, the output), for reports only.
    pub micros: Option<u64>,
}

impl Execution {
    /// The execution as IPLD, to send it back from another thread or peer.
    pub fn to_ipld(&self) -> Ipld {
        Ipld::Map(std::collections::BTreeMap::from([
            ("out".to_string(), self.out.to_ipld()),
            ("fuel".to_string(), Ipld::Integer(self.fuel.into())),
            (
                "nondeterministic".to_string(),
                Ipld::Bool(self.nondeterministic),
            ),
            (
                "limit".to_string(),
                self.limit.clone().map_or(Ipld::Null, Ipld::String),
            ),
            (
                "logs".to_string(),
                Ipld::List(self.logs.iter().cloned().map(Ipld::String).collect()),
            ),
            (
                "envelope".to_string(),
                self.envelope.clone().map_or(Ipld::Null, Ipld::Bytes),
            ),
            (
                "origin".to_string(),
                Ipld::String(self.origin.as_str().into()),
            ),
            (
                "engine".to_string(),
                self.engine.clone().map_or(Ipld::Null, Ipld::String),
            ),
            (
                "micros".to_string(),
                self.micros.map_or(Ipld::Null, |m| Ipld::Integer(m.into())),
            ),
        ]))
    }

    /// Reads an execution back from [`Execution::to_ipld`].
    pub fn from_ipld(v: &Ipld) -> Result<Self, CoreError> {
        let bad = |r: &str| CoreError::Decode {
            format: "execution",
            reason: r.into(),
        };
        let Ipld::Map(m) = v else {
            return Err(bad("not a map"));
        };
        let out = match m.get("out") {
            Some(Ipld::List(pair)) if pair.len() == 2 => match &pair[0] {
                Ipld::String(t) if t == "ok" => Outcome::Ok(pair[1].clone()),
                Ipld::String(t) if t == "error" => Outcome::Err(pair[1].clone()),
                _ => return Err(bad("`out` must start with ok or error")),
            },
            _ => return Err(bad("`out` must be [tag, value]")),
        };
        Ok(Execution {
            out,
            fuel: match m.get("fuel") {
                Some(Ipld::Integer(i)) => u64::try_from(*i).unwrap_or(0),
                _ => 0,
            },
            nondeterministic: matches!(m.get("nondeterministic"), Some(Ipld::Bool(true))),
            limit: match m.get("limit") {
                Some(Ipld::String(s)) => Some(s.clone()),
                _ => None,
            },
            logs: match m.get("logs") {
                Some(Ipld::List(l)) => l
                    .iter()
                    .filter_map(|x| {
                        if let Ipld::String(s) = x {
                            Some(s.clone())
                        } else {
                            None
                        }
                    })
                    .collect(),
                _ => Vec::new(),
            },
            envelope: match m.get("envelope") {
                Some(Ipld::Bytes(b)) => Some(b.clone()),
                _ => None,
            },
            // A peer's adapter sets `Elsewhere` itself, whatever a message
            // claims; this field carries it between threads of one runtime.
            origin: match m.get("origin") {
                None | Some(Ipld::Null) => Origin::Here,
                Some(Ipld::String(o)) if o == "here" => Origin::Here,
                Some(Ipld::String(o)) if o == "elsewhere" => Origin::Elsewhere,
                Some(_) => return Err(bad("`origin` must be \"here\" or \"elsewhere\"")),
            },
            engine: match m.get("engine") {
                Some(Ipld::String(e)) => Some(e.clone()),
                _ => None,
            },
            micros: match m.get("micros") {
                Some(Ipld::Integer(i)) => u64::try_from(*i).ok(),
                _ => None,
            },
        })
    }

    /// A successful execution.
    pub fn ok(value: Ipld, fuel: u64) -> Self {
        Self {
            out: Outcome::Ok(value),
            fuel,
            nondeterministic: false,
            limit: None,
            logs: Vec::new(),
            envelope: None,
            origin: Origin::Here,
            engine: None,
            micros: None,
        }
    }

    /// A failed execution.
    pub fn error(value: Ipld, fuel: u64) -> Self {
        Self {
            out: Outcome::Err(value),
            ..Self::ok(Ipld::Null, fuel)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_crosses_the_wire_and_a_forged_one_is_refused() {
        let mut ex = Execution::ok(Ipld::Integer(1), 3);
        assert_eq!(
            Execution::from_ipld(&ex.to_ipld()).unwrap().origin,
            Origin::Here
        );
        ex.origin = Origin::Elsewhere;
        assert_eq!(Execution::from_ipld(&ex.to_ipld()).unwrap(), ex);
        // A message without `origin` (an older worker) is this runtime's own.
        let Ipld::Map(mut m) = ex.to_ipld() else {
            unreachable!()
        };
        m.remove("origin");
        assert_eq!(
            Execution::from_ipld(&Ipld::Map(m.clone())).unwrap().origin,
            Origin::Here
        );
        for bad in [
            Ipld::String("there".into()),
            Ipld::Integer(1),
            Ipld::Bool(true),
        ] {
            m.insert("origin".into(), bad);
            assert!(Execution::from_ipld(&Ipld::Map(m.clone())).is_err());
        }
        assert_eq!(Execution::error(Ipld::Null, 2).origin, Origin::Here);
    }
}
