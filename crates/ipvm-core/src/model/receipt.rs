//! Receipts: the content-addressed record of one run.
//!
//! Fields follow Homestar (`ran`, `out`, `meta`, `iss`, `prf`) plus `fx`
//! from the UCAN invocation spec. The receipt CID covers exactly these
//! fields. A receipt says *what* was computed, never *who* computed it: `iss`
//! stays `null`, so two executors that compute the same thing write the same
//! receipt CID. Signatures (the identity issue) are envelopes beside the
//! receipt that sign its CID; any number of them can attest one receipt.
//!
//! This module also holds the rules that decide whether a receipt *may*
//! answer a memo lookup: its version ([`RECEIPT_VERSION`]), its class
//! ([`ReceiptClass`]: a result of the task, or a failure of the environment
//! or of authority), and the flags an execution sets. Whether a stored
//! receipt *is* trusted depends on where it came from (`store::record`).
//! See `docs/spec.md` §5.

use std::collections::BTreeMap;

use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::model::address::dag_cbor_block;
use crate::model::awaits::kind_name;
use crate::model::execution::Execution;
use crate::CoreError;

/// What `meta.fuel` and the output rules of a receipt mean, written as
/// `meta.v` in every receipt this runtime writes. A change to the cost model
/// (what fuel counts) or to how outputs are produced bumps it. Receipts of
/// another version are kept, listed and exported, but never answer a memo
/// lookup and are never compared by `verify`: a re-run under today's rules
/// may legitimately differ. Receipts without `meta.v` are version 0.
///
/// Version 3: fuel is the project's own cost model, counted by code the
/// metering rewriter injects into the module (`docs/spec.md` §8), the same
/// on every engine, and a module past one of the limits of a module is a
/// `compile` error on every engine. Version 2 lacked those limits (one
/// engine could run what another refused); version 1 was wasmi's own count.
pub const RECEIPT_VERSION: u64 = 3;

/// What a receipt records, for the memo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptClass {
    /// A result of the task: an output, or an error that the instruction
    /// itself causes (a trap, a bad argument). The same instruction gives the
    /// same result anywhere, so it may be reused.
    Result,
    /// A failure of the environment the task ran in: a missing module or
    /// input, a store error, a worker that died. Running again elsewhere or
    /// later may succeed: never reused.
    Environment,
    /// A refusal by the authority checks (UCAN): never reused.
    Authority,
}

/// Every error kind a receipt's `out` may hold, with its class: the table of
/// `docs/spec.md` §5. A kind not listed here (written by another version)
/// makes a receipt unclassified, and so never reusable.
pub const ERROR_KINDS: &[(&str, ReceiptClass)] = &[
    ("compile", ReceiptClass::Result),
    ("unknown_import", ReceiptClass::Result),
    ("instantiate", ReceiptClass::Result),
    ("no_such_function", ReceiptClass::Result),
    ("argument", ReceiptClass::Result),
    ("signature", ReceiptClass::Result),
    ("out_of_fuel", ReceiptClass::Result),
    ("memory_limit", ReceiptClass::Result),
    ("stack_overflow", ReceiptClass::Result),
    ("time_limit", ReceiptClass::Result),
    ("trap", ReceiptClass::Result),
    ("abi", ReceiptClass::Result),
    ("output_too_large", ReceiptClass::Result),
    ("module_missing", ReceiptClass::Environment),
    ("input_missing", ReceiptClass::Environment),
    ("store", ReceiptClass::Environment),
    ("worker", ReceiptClass::Environment),
    ("cancelled", ReceiptClass::Environment),
    ("unauthorized", ReceiptClass::Authority),
];

/// The class of an error kind, if the kind is known.
pub fn error_class(kind: &str) -> Option<ReceiptClass> {
    ERROR_KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, class)| *class)
}

/// The result of a run: an output or an error value.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The function returned this value.
    Ok(Ipld),
    /// The run failed; the value describes why.
    Err(Ipld),
}

impl Outcome {
    /// `["ok", value]` or `["error", value]`.
    pub fn to_ipld(&self) -> Ipld {
        match self {
            Outcome::Ok(v) => Ipld::List(vec![Ipld::String("ok".into()), v.clone()]),
            Outcome::Err(v) => Ipld::List(vec![Ipld::String("error".into()), v.clone()]),
        }
    }

    /// Whether this is a success.
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok(_))
    }

    fn from_ipld(v: &Ipld) -> Result<Self, String> {
        match v {
            Ipld::List(items) if items.len() == 2 => match &items[0] {
                Ipld::String(tag) if tag == "ok" => Ok(Outcome::Ok(items[1].clone())),
                Ipld::String(tag) if tag == "error" => Ok(Outcome::Err(items[1].clone())),
                _ => Err("`out` must start with \"ok\" or \"error\"".into()),
            },
            other => Err(format!(
                "`out` must be a two-element list, found {}",
                kind_name(other)
            )),
        }
    }
}

/// A receipt. Its CID ([`Receipt::cid`]) is that of its DAG-CBOR encoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    /// CID of the invocation `{task}` that ran.
    pub ran: Cid,
    /// Output or error.
    pub out: Outcome,
    /// Facts about the run: `fuel` used, `nondeterministic`, `limit` (the
    /// limit that stopped the run), `logs`.
    pub meta: BTreeMap<String, Ipld>,
    /// Always `None` (`null`) in receipts this runtime writes: who computed
    /// or attested a receipt is said by signature envelopes beside it, which
    /// sign its CID, so that the CID names the computation alone and two
    /// executors that compute the same thing agree on it. Kept for
    /// Homestar's shape; a receipt from elsewhere may carry a string.
    pub iss: Option<String>,
    /// Proofs of authority (UCAN CIDs).
    pub prf: Vec<Cid>,
    /// Effects requested by the run (`fx.fork`): further tasks to run.
    pub fx: Vec<Cid>,
}

impl Receipt {
    /// The receipt as IPLD, exactly as hashed.
    pub fn to_ipld(&self) -> Ipld {
        let fx = BTreeMap::from([
            (
                "fork".to_string(),
                Ipld::List(self.fx.iter().copied().map(Ipld::Link).collect()),
            ),
            ("join".to_string(), Ipld::Null),
        ]);
        Ipld::Map(BTreeMap::from([
            ("ran".to_string(), Ipld::Link(self.ran)),
            ("out".to_string(), self.out.to_ipld()),
            ("meta".to_string(), Ipld::Map(self.meta.clone())),
            (
                "iss".to_string(),
                self.iss.clone().map_or(Ipld::Null, Ipld::String),
            ),
            (
                "prf".to_string(),
                Ipld::List(self.prf.iter().copied().map(Ipld::Link).collect()),
            ),
            ("fx".to_string(), Ipld::Map(fx)),
        ]))
    }

    /// Reads a receipt back from IPLD.
    pub fn from_ipld(v: &Ipld) -> Result<Self, CoreError> {
        let bad = |why: String| CoreError::Decode {
            format: "receipt",
            reason: why,
        };
        let Ipld::Map(m) = v else {
            return Err(bad(format!("expected a map, found {}", kind_name(v))));
        };
        let ran = match m.get("ran") {
            Some(Ipld::Link(c)) => *c,
            _ => return Err(bad("`ran` must be a link".into())),
        };
        let out = Outcome::from_ipld(m.get("out").unwrap_or(&Ipld::Null)).map_err(bad)?;
        let meta = match m.get("meta") {
            Some(Ipld::Map(meta)) => meta.clone(),
            _ => return Err(bad("`meta` must be a map".into())),
        };
        let iss = match m.get("iss") {
            Some(Ipld::String(s)) => Some(s.clone()),
            _ => None,
        };
        let link_list = |v: Option<&Ipld>| -> Vec<Cid> {
            match v {
                Some(Ipld::List(items)) => items
                    .iter()
                    .filter_map(|i| {
                        if let Ipld::Link(c) = i {
                            Some(*c)
                        } else {
                            None
                        }
                    })
                    .collect(),
                _ => Vec::new(),
            }
        };
        let prf = link_list(m.get("prf"));
        let fx = match m.get("fx") {
            Some(Ipld::Map(fx)) => link_list(fx.get("fork")),
            _ => Vec::new(),
        };
        Ok(Self {
            ran,
            out,
            meta,
            iss,
            prf,
            fx,
        })
    }

    /// The receipt's CID and DAG-CBOR bytes.
    pub fn block(&self) -> Result<(Cid, Vec<u8>), CoreError> {
        dag_cbor_block(&self.to_ipld())
    }

    /// The receipt's CID.
    pub fn cid(&self) -> Result<Cid, CoreError> {
        Ok(self.block()?.0)
    }

    /// The receipt as DAG-JSON text.
    pub fn to_dag_json(&self) -> Result<String, CoreError> {
        let bytes = serde_ipld_dagjson::to_vec(&self.to_ipld())
            .map_err(|e| CoreError::Encode(e.to_string()))?;
        String::from_utf8(bytes).map_err(|e| CoreError::Encode(e.to_string()))
    }

    /// Fuel used, from `meta.fuel`.
    pub fn fuel(&self) -> u64 {
        match self.meta.get("fuel") {
            Some(Ipld::Integer(i)) => u64::try_from(*i).unwrap_or(0),
            _ => 0,
        }
    }

    /// The receipt's version (`meta.v`; 0 when absent).
    pub fn version(&self) -> u64 {
        match self.meta.get("v") {
            Some(Ipld::Integer(v)) => u64::try_from(*v).unwrap_or(u64::MAX),
            None => 0,
            Some(_) => u64::MAX,
        }
    }

    /// Whether `meta.nondeterministic` is set: the result depends on the machine.
    pub fn is_nondeterministic(&self) -> bool {
        matches!(self.meta.get("nondeterministic"), Some(Ipld::Bool(true)))
    }

    /// The receipt's class: `Result` for an output; for an error, the class
    /// of its `kind` ([`ERROR_KINDS`]); `None` for a kind this version does
    /// not know.
    pub fn class(&self) -> Option<ReceiptClass> {
        match &self.out {
            Outcome::Ok(_) => Some(ReceiptClass::Result),
            Outcome::Err(Ipld::Map(m)) => match m.get("kind") {
                Some(Ipld::String(kind)) => error_class(kind),
                _ => None,
            },
            Outcome::Err(_) => None,
        }
    }

    /// Why this receipt may not answer a memo lookup, or `None` if it may.
    /// It may if it is of the current version, a result of the task (not a
    /// failure of the environment or of authority), does not depend on the
    /// machine (`meta.nondeterministic`), and was not stopped by a limit that
    /// a later task may raise (`meta.limit`). Whether it is *trusted* is a
    /// separate question (`store::record::Provenance`).
    pub fn not_reusable_because(&self) -> Option<String> {
        if self.version() != RECEIPT_VERSION {
            return Some(format!(
                "receipt version {} (this runtime writes version {RECEIPT_VERSION})",
                self.version()
            ));
        }
        match self.class() {
            Some(ReceiptClass::Result) => {}
            Some(ReceiptClass::Environment) => {
                return Some("it records a failure of the environment, not a result".into())
            }
            Some(ReceiptClass::Authority) => {
                return Some("it records a refusal by the authority checks".into())
            }
            None => return Some("its error kind is unknown to this version".into()),
        }
        if self.is_nondeterministic() {
            return Some("it is marked nondeterministic".into());
        }
        if let Some(limit) = self.meta.get("limit") {
            return Some(format!("it was stopped by a limit ({limit:?})"));
        }
        None
    }

    /// Whether this receipt may answer a memo lookup (see
    /// [`Receipt::not_reusable_because`]).
    pub fn is_reusable(&self) -> bool {
        self.not_reusable_because().is_none()
    }

    /// The receipt this runtime writes for an execution of the invocation
    /// `ran`: the one rule shared by the scheduler and `verify`.
    pub fn of_execution(ran: Cid, ex: &Execution, prf: Vec<Cid>) -> Self {
        let mut meta = BTreeMap::new();
        meta.insert("v".to_string(), Ipld::Integer(RECEIPT_VERSION.into()));
        meta.insert("fuel".to_string(), Ipld::Integer(ex.fuel.into()));
        if ex.nondeterministic {
            meta.insert("nondeterministic".to_string(), Ipld::Bool(true));
        }
        if let Some(limit) = &ex.limit {
            meta.insert("limit".to_string(), Ipld::String(limit.clone()));
        }
        if !ex.logs.is_empty() {
            meta.insert(
                "logs".to_string(),
                Ipld::List(ex.logs.iter().cloned().map(Ipld::String).collect()),
            );
        }
        Receipt {
            ran,
            out: ex.out.clone(),
            meta,
            iss: None,
            prf,
            fx: Vec::new(),
        }
    }
}
