//! The messages of the IPVM protocols, as IPLD, each with its caps:
//!
//! - **Receipt lookup** ([`LOOKUP_PROTOCOL`], request-response): a
//!   [`LookupRequest`] names up to [`MAX_LOOKUP_BATCH`] instructions; the
//!   [`LookupAnswer`] says for each, in the order asked, the receipts the
//!   peer has ([`Delivery`]: receipt, invocation and envelopes), `none`, or
//!   `too_large` (their CIDs and envelopes: fetch them by bitswap).
//! - **Receipt announce** ([`ANNOUNCE_TOPIC`], pubsub): an [`Announce`]
//!   names an instruction, a receipt and carries one envelope; never the
//!   receipt itself.
//! - **Task offload** ([`OFFLOAD_PROTOCOL`], request-response): an
//!   [`OffloadRequest`] carries a UCAN invocation and its proofs; the
//!   [`OffloadAnswer`] is the receipt, where to fetch it, a refusal with
//!   its reason, or `busy`.
//! - **Capacity** ([`CAPACITY_PROTOCOL`], request-response): a
//!   [`Capacity`] says how many workers a peer has free.
//!
//! Each message is a DAG-CBOR map read through [`crate::peer::wire::read`]
//! under its protocol's cap; a field of the wrong type, a missing field, an
//! unknown field or a list past its cap is `malformed`, with the field named.

use std::collections::BTreeMap;

use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::peer::wire::{read, write, WireError};

/// Receipt lookup's protocol id.
pub const LOOKUP_PROTOCOL: &str = "/ipvm/lookup/0.1.0";
/// Task offload's protocol id.
pub const OFFLOAD_PROTOCOL: &str = "/ipvm/offload/0.1.0";
/// Capacity's protocol id.
pub const CAPACITY_PROTOCOL: &str = "/ipvm/capacity/0.1.0";
/// The pubsub topic of receipt announcements.
pub const ANNOUNCE_TOPIC: &str = "/ipvm/receipts/0.1.0";

/// The most instructions one lookup asks about.
pub const MAX_LOOKUP_BATCH: usize = 256;
/// The most receipts a lookup answer gives for one instruction.
pub const MAX_RECEIPTS_PER_INSTRUCTION: usize = 4;
/// The most envelopes that travel with one receipt.
pub const MAX_ENVELOPES: usize = 8;
/// The most proofs (UCAN delegations) an offload request carries.
pub const MAX_PROOFS: usize = 16;
/// The largest receipt, with its invocation and envelopes, that travels in
/// an answer; a larger one is `too_large` and travels by bitswap.
pub const MAX_DELIVERY_BYTES: usize = 1 << 20;
/// The largest receipt a runner offers to be fetched by bitswap (whose
/// messages carry at most 4 MiB); a larger one is refused with its size.
pub const MAX_FETCH_BYTES: usize = (4 << 20) - (64 << 10);
/// The largest lookup request.
pub const MAX_LOOKUP_REQUEST_BYTES: usize = 16 * 1024;
/// The largest lookup answer.
pub const MAX_LOOKUP_ANSWER_BYTES: usize = 4 << 20;
/// The largest announcement.
pub const MAX_ANNOUNCE_BYTES: usize = 4 * 1024;
/// The largest offload request (an invocation and its proofs).
pub const MAX_OFFLOAD_REQUEST_BYTES: usize = 256 * 1024;
/// The largest offload answer.
pub const MAX_OFFLOAD_ANSWER_BYTES: usize = MAX_DELIVERY_BYTES + 4 * 1024;
/// The largest capacity message.
pub const MAX_CAPACITY_BYTES: usize = 256;
/// The most workers a peer may claim (more is `malformed`: no peer has them).
pub const MAX_WORKERS: u64 = 4096;
/// The longest refusal reason carried (longer ones are cut by the sender
/// and refused from a receiver).
pub const MAX_REASON_LEN: usize = 1024;

/// A receipt as it travels between peers: its DAG-CBOR bytes, its
/// invocation block (so the receiver can tell which instruction it
/// answers, and check it), and the envelopes of those who vouch for it.
/// Nothing here is checked: [`crate::peer::deliver::accept`] does that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The receipt's DAG-CBOR bytes.
    pub receipt: Vec<u8>,
    /// The invocation block the receipt names (`ran`).
    pub invocation: Vec<u8>,
    /// Envelopes attesting the receipt.
    pub envelopes: Vec<Vec<u8>>,
}

impl Delivery {
    /// Its size on the wire, near enough to decide whether it fits.
    pub fn size(&self) -> usize {
        self.receipt.len()
            + self.invocation.len()
            + self.envelopes.iter().map(|e| e.len() + 4).sum::<usize>()
            + 64
    }

    fn to_ipld(&self) -> Ipld {
        map([
            ("receipt", Ipld::Bytes(self.receipt.clone())),
            ("invocation", Ipld::Bytes(self.invocation.clone())),
            (
                "envelopes",
                Ipld::List(self.envelopes.iter().cloned().map(Ipld::Bytes).collect()),
            ),
        ])
    }

    fn from_ipld(v: &Ipld, at: &str) -> Result<Self, WireError> {
        let m = fields(v, at, &["receipt", "invocation", "envelopes"])?;
        Ok(Self {
            receipt: field_bytes(m, "receipt", at)?,
            invocation: field_bytes(m, "invocation", at)?,
            envelopes: field_list(m, "envelopes", at, MAX_ENVELOPES)?
                .iter()
                .enumerate()
                .map(|(i, e)| as_bytes(e, &format!("{at}.envelopes[{i}]")))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// "Do you have receipts for these instructions?"
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupRequest {
    /// The instructions, each once, at most [`MAX_LOOKUP_BATCH`].
    pub instructions: Vec<Cid>,
}

impl LookupRequest {
    /// The request's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let v = map([(
            "instructions",
            Ipld::List(self.instructions.iter().map(|c| Ipld::Link(*c)).collect()),
        )]);
        write(&v, MAX_LOOKUP_REQUEST_BYTES)
    }

    /// Reads a request from a peer.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let v = read(bytes, MAX_LOOKUP_REQUEST_BYTES)?;
        let m = fields(&v, "lookup", &["instructions"])?;
        let items = field_list(m, "instructions", "lookup", MAX_LOOKUP_BATCH)?;
        if items.is_empty() {
            return Err(WireError::Malformed(
                "lookup.instructions: empty (ask for at least one)".into(),
            ));
        }
        let mut instructions = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let cid = as_link(item, &format!("lookup.instructions[{i}]"))?;
            if instructions.contains(&cid) {
                return Err(WireError::Malformed(format!(
                    "lookup.instructions[{i}]: {cid} is asked twice"
                )));
            }
            instructions.push(cid);
        }
        Ok(Self { instructions })
    }
}

/// What a peer has for one instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupEntry {
    /// No receipt it would give.
    None,
    /// Receipts too large to travel in the answer, each with its
    /// envelopes: fetch the receipt and its invocation by CID (bitswap).
    TooLarge(Vec<Oversized>),
    /// Its receipts, at most [`MAX_RECEIPTS_PER_INSTRUCTION`].
    Found(Vec<Delivery>),
}

/// A receipt named in a lookup answer instead of sent: its CID and the
/// envelopes that vouch for it, so that the asker can judge it once it has
/// fetched it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oversized {
    /// The receipt's CID.
    pub receipt: Cid,
    /// Its envelopes, at most [`MAX_ENVELOPES`].
    pub envelopes: Vec<Vec<u8>>,
}

impl Oversized {
    fn to_ipld(&self) -> Ipld {
        map([
            ("receipt", Ipld::Link(self.receipt)),
            (
                "envelopes",
                Ipld::List(self.envelopes.iter().cloned().map(Ipld::Bytes).collect()),
            ),
        ])
    }

    fn from_ipld(v: &Ipld, at: &str) -> Result<Self, WireError> {
        let m = fields(v, at, &["receipt", "envelopes"])?;
        Ok(Self {
            receipt: field_link(m, "receipt", at)?,
            envelopes: field_list(m, "envelopes", at, MAX_ENVELOPES)?
                .iter()
                .enumerate()
                .map(|(i, e)| as_bytes(e, &format!("{at}.envelopes[{i}]")))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// The answer to a [`LookupRequest`]: one entry per instruction, in the
/// order asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupAnswer {
    /// The entries.
    pub entries: Vec<LookupEntry>,
}

impl LookupAnswer {
    /// The answer's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let entries = self
            .entries
            .iter()
            .map(|e| match e {
                LookupEntry::None => map([("none", Ipld::Null)]),
                LookupEntry::TooLarge(named) => map([(
                    "too_large",
                    Ipld::List(named.iter().map(Oversized::to_ipld).collect()),
                )]),
                LookupEntry::Found(found) => map([(
                    "found",
                    Ipld::List(found.iter().map(Delivery::to_ipld).collect()),
                )]),
            })
            .collect();
        write(
            &map([("entries", Ipld::List(entries))]),
            MAX_LOOKUP_ANSWER_BYTES,
        )
    }

    /// The answer of a peer past its quota of lookups in flight:
    /// `{"busy": null}`, read as [`WireError::Busy`].
    pub fn busy() -> Vec<u8> {
        #[allow(clippy::expect_used, reason = "a one-key map always encodes")]
        let bytes = write(&map([("busy", Ipld::Null)]), MAX_LOOKUP_ANSWER_BYTES).expect("encodes");
        bytes
    }

    /// Reads an answer to `asked` from a peer: it must have one entry per
    /// instruction asked ([`WireError::Busy`] if the peer said `busy`).
    pub fn decode(bytes: &[u8], asked: usize) -> Result<Self, WireError> {
        let v = read(bytes, MAX_LOOKUP_ANSWER_BYTES)?;
        if matches!(&v, Ipld::Map(m) if m.len() == 1 && m.get("busy") == Some(&Ipld::Null)) {
            return Err(WireError::Busy);
        }
        let m = fields(&v, "answer", &["entries"])?;
        let items = field_list(m, "entries", "answer", MAX_LOOKUP_BATCH)?;
        if items.len() != asked {
            return Err(WireError::Malformed(format!(
                "answer.entries: {} entries for {asked} instructions asked",
                items.len()
            )));
        }
        let mut entries = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let at = format!("answer.entries[{i}]");
            let (tag, body) = one_of(item, &at, &["none", "too_large", "found"])?;
            entries.push(match tag {
                "none" => match body {
                    Ipld::Null => LookupEntry::None,
                    _ => return Err(WireError::Malformed(format!("{at}.none: not null"))),
                },
                "too_large" => LookupEntry::TooLarge(
                    as_list(
                        body,
                        &format!("{at}.too_large"),
                        MAX_RECEIPTS_PER_INSTRUCTION,
                    )?
                    .iter()
                    .enumerate()
                    .map(|(j, o)| Oversized::from_ipld(o, &format!("{at}.too_large[{j}]")))
                    .collect::<Result<_, _>>()?,
                ),
                _ => LookupEntry::Found(
                    as_list(body, &format!("{at}.found"), MAX_RECEIPTS_PER_INSTRUCTION)?
                        .iter()
                        .enumerate()
                        .map(|(j, d)| Delivery::from_ipld(d, &format!("{at}.found[{j}]")))
                        .collect::<Result<_, _>>()?,
                ),
            });
        }
        Ok(Self { entries })
    }
}

/// "I have computed this": an instruction, its receipt's CID and the
/// announcer's envelope for it. The receipt itself is fetched by lookup
/// or bitswap by whoever wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// The instruction answered.
    pub instruction: Cid,
    /// The receipt.
    pub receipt: Cid,
    /// An envelope attesting the receipt.
    pub envelope: Vec<u8>,
}

impl Announce {
    /// The announcement's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let v = map([
            ("instruction", Ipld::Link(self.instruction)),
            ("receipt", Ipld::Link(self.receipt)),
            ("envelope", Ipld::Bytes(self.envelope.clone())),
        ]);
        write(&v, MAX_ANNOUNCE_BYTES)
    }

    /// Reads an announcement from a peer.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let v = read(bytes, MAX_ANNOUNCE_BYTES)?;
        let m = fields(&v, "announce", &["instruction", "receipt", "envelope"])?;
        Ok(Self {
            instruction: field_link(m, "instruction", "announce")?,
            receipt: field_link(m, "receipt", "announce")?,
            envelope: field_bytes(m, "envelope", "announce")?,
        })
    }
}

/// "Run this for me": a UCAN invocation of `/wasm/run` and the delegations
/// that prove its authority (each a token's bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffloadRequest {
    /// The invocation token.
    pub invocation: Vec<u8>,
    /// Its proofs, at most [`MAX_PROOFS`].
    pub proofs: Vec<Vec<u8>>,
}

impl OffloadRequest {
    /// The request's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let v = map([
            ("invocation", Ipld::Bytes(self.invocation.clone())),
            (
                "proofs",
                Ipld::List(self.proofs.iter().cloned().map(Ipld::Bytes).collect()),
            ),
        ]);
        write(&v, MAX_OFFLOAD_REQUEST_BYTES)
    }

    /// Reads a request from a peer.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let v = read(bytes, MAX_OFFLOAD_REQUEST_BYTES)?;
        let m = fields(&v, "offload", &["invocation", "proofs"])?;
        Ok(Self {
            invocation: field_bytes(m, "invocation", "offload")?,
            proofs: field_list(m, "proofs", "offload", MAX_PROOFS)?
                .iter()
                .enumerate()
                .map(|(i, p)| as_bytes(p, &format!("offload.proofs[{i}]")))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// The answer to an [`OffloadRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffloadAnswer {
    /// Ran: the receipt with the runner's envelope.
    Done(Delivery),
    /// Ran, but the receipt is larger than [`MAX_DELIVERY_BYTES`]: fetch
    /// it (and its invocation) by bitswap; the envelope is here.
    Fetch {
        /// The receipt's CID.
        receipt: Cid,
        /// The runner's envelope for it.
        envelope: Vec<u8>,
    },
    /// Not run, and why (authority, limits, a module it cannot get).
    Refused(String),
    /// Not run: no free worker, or past the asker's quota. Run it elsewhere.
    Busy,
}

impl OffloadAnswer {
    /// The answer's bytes (a refusal's reason cut at [`MAX_REASON_LEN`]).
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let v = match self {
            OffloadAnswer::Done(d) => map([("done", d.to_ipld())]),
            OffloadAnswer::Fetch { receipt, envelope } => map([(
                "fetch",
                map([
                    ("receipt", Ipld::Link(*receipt)),
                    ("envelope", Ipld::Bytes(envelope.clone())),
                ]),
            )]),
            OffloadAnswer::Refused(why) => {
                let mut cut = why.clone();
                if cut.len() > MAX_REASON_LEN {
                    let mut end = MAX_REASON_LEN;
                    while !cut.is_char_boundary(end) {
                        end -= 1;
                    }
                    cut.truncate(end);
                }
                map([("refused", Ipld::String(cut))])
            }
            OffloadAnswer::Busy => map([("busy", Ipld::Null)]),
        };
        write(&v, MAX_OFFLOAD_ANSWER_BYTES)
    }

    /// Reads an answer from a peer.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let v = read(bytes, MAX_OFFLOAD_ANSWER_BYTES)?;
        let (tag, body) = one_of(&v, "offload answer", &["done", "fetch", "refused", "busy"])?;
        Ok(match tag {
            "done" => OffloadAnswer::Done(Delivery::from_ipld(body, "offload answer.done")?),
            "fetch" => {
                let m = fields(body, "offload answer.fetch", &["receipt", "envelope"])?;
                OffloadAnswer::Fetch {
                    receipt: field_link(m, "receipt", "offload answer.fetch")?,
                    envelope: field_bytes(m, "envelope", "offload answer.fetch")?,
                }
            }
            "refused" => match body {
                Ipld::String(s) if s.len() <= MAX_REASON_LEN => OffloadAnswer::Refused(s.clone()),
                Ipld::String(_) => {
                    return Err(WireError::Malformed(format!(
                        "offload answer.refused: longer than {MAX_REASON_LEN} bytes"
                    )))
                }
                _ => {
                    return Err(WireError::Malformed(
                        "offload answer.refused: not a string".into(),
                    ))
                }
            },
            _ => match body {
                Ipld::Null => OffloadAnswer::Busy,
                _ => return Err(WireError::Malformed("offload answer.busy: not null".into())),
            },
        })
    }
}

/// "I have room": how many of a peer's workers are free now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Workers free now.
    pub free: u32,
    /// Workers in all.
    pub workers: u32,
}

impl Capacity {
    /// The message's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let v = map([
            ("free", Ipld::Integer(self.free.into())),
            ("workers", Ipld::Integer(self.workers.into())),
        ]);
        write(&v, MAX_CAPACITY_BYTES)
    }

    /// Reads a capacity message from a peer: `free` ≤ `workers` ≤
    /// [`MAX_WORKERS`].
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let v = read(bytes, MAX_CAPACITY_BYTES)?;
        let m = fields(&v, "capacity", &["free", "workers"])?;
        let count = |name: &str| match m.get(name) {
            Some(Ipld::Integer(n)) if (0..=i128::from(MAX_WORKERS)).contains(n) => Ok(*n as u32),
            Some(Ipld::Integer(_)) => Err(WireError::Malformed(format!(
                "capacity.{name}: not between 0 and {MAX_WORKERS}"
            ))),
            _ => Err(WireError::Malformed(format!(
                "capacity.{name}: not an integer"
            ))),
        };
        let (free, workers) = (count("free")?, count("workers")?);
        if free > workers {
            return Err(WireError::Malformed(format!(
                "capacity.free: {free} free of {workers} workers"
            )));
        }
        Ok(Self { free, workers })
    }
}

// The readers: each names the field it refuses.

fn map<const N: usize>(entries: [(&str, Ipld); N]) -> Ipld {
    Ipld::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// The map `v` with exactly the keys `names`.
fn fields<'a>(
    v: &'a Ipld,
    at: &str,
    names: &[&str],
) -> Result<&'a BTreeMap<String, Ipld>, WireError> {
    let Ipld::Map(m) = v else {
        return Err(WireError::Malformed(format!("{at}: not a map")));
    };
    if let Some(extra) = m.keys().find(|k| !names.contains(&k.as_str())) {
        return Err(WireError::Malformed(format!(
            "{at}: unknown field `{extra}` (expected {})",
            names.join(", ")
        )));
    }
    if let Some(missing) = names.iter().find(|n| !m.contains_key(**n)) {
        return Err(WireError::Malformed(format!("{at}: no field `{missing}`")));
    }
    Ok(m)
}

/// A map with exactly one key, one of `tags`: the tag and its value.
fn one_of<'a>(
    v: &'a Ipld,
    at: &str,
    tags: &[&'static str],
) -> Result<(&'static str, &'a Ipld), WireError> {
    let expected = || tags.join(", ");
    let Ipld::Map(m) = v else {
        return Err(WireError::Malformed(format!(
            "{at}: not a map of one of {}",
            expected()
        )));
    };
    let mut entries = m.iter();
    match (entries.next(), entries.next()) {
        (Some((k, body)), None) => match tags.iter().find(|t| **t == k) {
            Some(tag) => Ok((tag, body)),
            None => Err(WireError::Malformed(format!(
                "{at}: unknown kind `{k}` (expected one of {})",
                expected()
            ))),
        },
        _ => Err(WireError::Malformed(format!(
            "{at}: not a map of exactly one of {}",
            expected()
        ))),
    }
}

fn as_bytes(v: &Ipld, at: &str) -> Result<Vec<u8>, WireError> {
    match v {
        Ipld::Bytes(b) => Ok(b.clone()),
        _ => Err(WireError::Malformed(format!("{at}: not bytes"))),
    }
}

fn as_link(v: &Ipld, at: &str) -> Result<Cid, WireError> {
    match v {
        Ipld::Link(c) => Ok(*c),
        _ => Err(WireError::Malformed(format!("{at}: not a link"))),
    }
}

fn as_list<'a>(v: &'a Ipld, at: &str, cap: usize) -> Result<&'a [Ipld], WireError> {
    match v {
        Ipld::List(items) if items.len() <= cap => Ok(items),
        Ipld::List(items) => Err(WireError::Malformed(format!(
            "{at}: {} items, more than {cap}",
            items.len()
        ))),
        _ => Err(WireError::Malformed(format!("{at}: not a list"))),
    }
}

fn field_bytes(m: &BTreeMap<String, Ipld>, name: &str, at: &str) -> Result<Vec<u8>, WireError> {
    as_bytes(&m[name], &format!("{at}.{name}"))
}

fn field_link(m: &BTreeMap<String, Ipld>, name: &str, at: &str) -> Result<Cid, WireError> {
    as_link(&m[name], &format!("{at}.{name}"))
}

fn field_list<'a>(
    m: &'a BTreeMap<String, Ipld>,
    name: &str,
    at: &str,
    cap: usize,
) -> Result<&'a [Ipld], WireError> {
    as_list(&m[name], &format!("{at}.{name}"), cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::address::{encode_dag_cbor, raw_cid};

    fn cid(n: u8) -> Cid {
        raw_cid(&[n])
    }

    fn delivery() -> Delivery {
        Delivery {
            receipt: vec![1, 2],
            invocation: vec![3],
            envelopes: vec![vec![4, 5], vec![6]],
        }
    }

    #[test]
    fn every_message_round_trips() {
        let req = LookupRequest {
            instructions: vec![cid(1), cid(2)],
        };
        assert_eq!(LookupRequest::decode(&req.encode().unwrap()).unwrap(), req);
        let answer = LookupAnswer {
            entries: vec![
                LookupEntry::None,
                LookupEntry::TooLarge(vec![Oversized {
                    receipt: cid(3),
                    envelopes: vec![vec![7]],
                }]),
                LookupEntry::Found(vec![delivery()]),
            ],
        };
        assert_eq!(
            LookupAnswer::decode(&answer.encode().unwrap(), 3).unwrap(),
            answer
        );
        let ann = Announce {
            instruction: cid(1),
            receipt: cid(2),
            envelope: vec![9],
        };
        assert_eq!(Announce::decode(&ann.encode().unwrap()).unwrap(), ann);
        let off = OffloadRequest {
            invocation: vec![1],
            proofs: vec![vec![2], vec![3]],
        };
        assert_eq!(OffloadRequest::decode(&off.encode().unwrap()).unwrap(), off);
        for a in [
            OffloadAnswer::Done(delivery()),
            OffloadAnswer::Fetch {
                receipt: cid(4),
                envelope: vec![1],
            },
            OffloadAnswer::Refused("no authority".into()),
            OffloadAnswer::Busy,
        ] {
            assert_eq!(OffloadAnswer::decode(&a.encode().unwrap()).unwrap(), a);
        }
        assert_eq!(
            LookupAnswer::decode(&LookupAnswer::busy(), 1),
            Err(WireError::Busy)
        );
        let cap = Capacity {
            free: 1,
            workers: 2,
        };
        assert_eq!(Capacity::decode(&cap.encode().unwrap()).unwrap(), cap);
    }

    fn refused(result: Result<impl std::fmt::Debug, WireError>) -> String {
        match result {
            Err(e) => e.to_string(),
            Ok(v) => panic!("accepted {v:?}"),
        }
    }

    fn raw(v: Ipld) -> Vec<u8> {
        encode_dag_cbor(&v).unwrap()
    }

    #[test]
    fn malformed_messages_name_the_field() {
        assert_eq!(
            refused(LookupRequest::decode(&raw(map([(
                "instructions",
                Ipld::List(vec![])
            )])))),
            "lookup.instructions: empty (ask for at least one)"
        );
        assert_eq!(
            refused(LookupRequest::decode(&raw(map([(
                "instructions",
                Ipld::List(vec![Ipld::Link(cid(1)), Ipld::Link(cid(1))])
            )])))),
            format!("lookup.instructions[1]: {} is asked twice", cid(1))
        );
        assert_eq!(
            refused(LookupRequest::decode(&raw(map([(
                "instructions",
                Ipld::List(vec![Ipld::String("x".into())])
            )])))),
            "lookup.instructions[0]: not a link"
        );
        assert_eq!(
            refused(LookupRequest::decode(&raw(map([
                ("instructions", Ipld::List(vec![Ipld::Link(cid(1))])),
                ("more", Ipld::Null)
            ])))),
            "lookup: unknown field `more` (expected instructions)"
        );
        assert_eq!(
            refused(Announce::decode(&raw(map([(
                "instruction",
                Ipld::Link(cid(1))
            )])))),
            "announce: no field `receipt`"
        );
        assert_eq!(
            refused(OffloadAnswer::decode(&raw(map([("maybe", Ipld::Null)])))),
            "offload answer: unknown kind `maybe` (expected one of done, fetch, refused, busy)"
        );
        assert_eq!(
            refused(Capacity::decode(&raw(map([
                ("free", Ipld::Integer(3)),
                ("workers", Ipld::Integer(2))
            ])))),
            "capacity.free: 3 free of 2 workers"
        );
        assert_eq!(
            refused(Capacity::decode(&raw(map([
                ("free", Ipld::Integer(-1)),
                ("workers", Ipld::Integer(2))
            ])))),
            format!("capacity.free: not between 0 and {MAX_WORKERS}")
        );
    }

    #[test]
    fn lists_and_sizes_are_capped() {
        let many = (0..=MAX_LOOKUP_BATCH as u32)
            .map(|i| Ipld::Link(raw_cid(&i.to_be_bytes())))
            .collect();
        assert_eq!(
            refused(LookupRequest::decode(&raw(map([(
                "instructions",
                Ipld::List(many)
            )])))),
            format!(
                "lookup.instructions: {} items, more than {MAX_LOOKUP_BATCH}",
                MAX_LOOKUP_BATCH + 1
            )
        );
        let answer = LookupAnswer {
            entries: vec![LookupEntry::None, LookupEntry::None],
        };
        assert_eq!(
            refused(LookupAnswer::decode(&answer.encode().unwrap(), 3)),
            "answer.entries: 2 entries for 3 instructions asked"
        );
        let envelopes = Delivery {
            envelopes: vec![vec![0]; MAX_ENVELOPES + 1],
            ..delivery()
        };
        let big = raw(map([("done", envelopes.to_ipld())]));
        assert_eq!(
            refused(OffloadAnswer::decode(&big)),
            format!(
                "offload answer.done.envelopes: {} items, more than {MAX_ENVELOPES}",
                MAX_ENVELOPES + 1
            )
        );
        let huge = OffloadRequest {
            invocation: vec![0; MAX_OFFLOAD_REQUEST_BYTES],
            proofs: vec![],
        };
        assert_eq!(huge.encode().unwrap_err().code(), "too_large");
        let long = OffloadAnswer::Refused("é".repeat(MAX_REASON_LEN));
        match OffloadAnswer::decode(&long.encode().unwrap()).unwrap() {
            OffloadAnswer::Refused(s) => {
                assert!(s.len() <= MAX_REASON_LEN && s.len() >= MAX_REASON_LEN - 1)
            }
            other => panic!("{other:?}"),
        }
    }
}
