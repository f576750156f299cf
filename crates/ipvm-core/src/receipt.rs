//! Receipts: the content-addressed record of one run.
//!
//! Fields follow Homestar (`ran`, `out`, `meta`, `iss`, `prf`) plus `fx`
//! from the UCAN invocation spec. The receipt CID covers exactly these
//! fields; a signature, when added, wraps the receipt in an envelope and so
//! never changes it. See `docs/spec.md` for the encoding.

use std::collections::BTreeMap;

use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::address::dag_cbor_block;
use crate::awaits::kind_name;
use crate::CoreError;

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
    /// Who ran it (a DID), once receipts are signed; `null` until then.
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

    /// Whether this receipt may answer a memo lookup. Results that depend on
    /// the machine (`meta.nondeterministic`) or on a limit that a later task
    /// may raise (`meta.limit`) are kept, but never reused.
    pub fn is_reusable(&self) -> bool {
        let flag = |k: &str| matches!(self.meta.get(k), Some(Ipld::Bool(true)));
        !flag("nondeterministic") && !self.meta.contains_key("limit")
    }
}

/// A stored receipt with the keys it is indexed under.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptRecord {
    /// The receipt's CID.
    pub cid: Cid,
    /// The receipt.
    pub receipt: Receipt,
    /// The instruction it ran (the memo key).
    pub instruction: Cid,
    /// Every input CID of the instruction (the reverse index keys).
    pub inputs: Vec<Cid>,
}
