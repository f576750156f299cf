//! The bytes of the IPVM protocols: every message is one DAG-CBOR value,
//! read only after its size and shape have been bounded. A peer is an
//! attacker with a socket, so a message is refused before it is decoded if
//! it is larger than its protocol's cap, nested deeper than [`MAX_DEPTH`],
//! holds more than [`MAX_ITEMS`] values, uses indefinite lengths or any
//! CBOR that DAG-CBOR forbids, or is followed by trailing bytes. The scan
//! that decides this reads each head once and allocates nothing, so a
//! hostile message costs at most its (capped) length in time.

use ipld_core::ipld::Ipld;

use crate::model::address::{decode_dag_cbor, encode_dag_cbor};

/// The deepest nesting of containers (arrays, maps, tags) in a message.
/// The protocols' messages are shallow: what they carry of a receipt or an
/// invocation travels as bytes, decoded by their own checks.
pub const MAX_DEPTH: usize = 8;

/// The most values (each array, map, key, tag and scalar counts one) in a
/// message.
pub const MAX_ITEMS: usize = 16_384;

/// Why a message was refused before or while it was read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Larger than its protocol allows.
    #[error("{bytes} bytes, more than the {cap} bytes this message may have")]
    TooLarge {
        /// Its length.
        bytes: usize,
        /// Its protocol's cap.
        cap: usize,
    },
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// More than [`MAX_ITEMS`] values.
    #[error("more than {MAX_ITEMS} values")]
    TooMany,
    /// Not DAG-CBOR, or not the message its protocol expects.
    #[error("{0}")]
    Malformed(String),
    /// Not an answer: the peer is past its quota of requests in flight.
    #[error("the peer is busy (past its quota of requests in flight)")]
    Busy,
}

impl WireError {
    /// The reason's code, for logs and counters: `too_large`, `too_deep`,
    /// `too_many`, `malformed`, `busy`.
    pub fn code(&self) -> &'static str {
        match self {
            WireError::TooLarge { .. } => "too_large",
            WireError::TooDeep => "too_deep",
            WireError::TooMany => "too_many",
            WireError::Malformed(_) => "malformed",
            WireError::Busy => "busy",
        }
    }
}

fn malformed(why: impl Into<String>) -> WireError {
    WireError::Malformed(why.into())
}

/// Reads a head's argument: `info` < 24 is the value; 24–27 say how many
/// bytes follow. Returns the value and the position after it.
fn argument(bytes: &[u8], at: usize, info: u8) -> Result<(u64, usize), WireError> {
    let n = match info {
        0..=23 => return Ok((u64::from(info), at)),
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        31 => return Err(malformed("an indefinite length (DAG-CBOR forbids them)")),
        _ => return Err(malformed(format!("a reserved CBOR head (info {info})"))),
    };
    let end = at
        .checked_add(n)
        .filter(|e| *e <= bytes.len())
        .ok_or_else(|| malformed("truncated"))?;
    let value = bytes[at..end]
        .iter()
        .fold(0u64, |v, b| (v << 8) | u64::from(*b));
    Ok((value, end))
}

/// Checks that `bytes` are one CBOR value within the caps, with nothing
/// after it, without decoding it.
pub fn scan(bytes: &[u8]) -> Result<(), WireError> {
    scan_within(bytes, MAX_DEPTH, MAX_ITEMS)
}

/// [`scan`] with other caps: for what a message carries as bytes (a
/// receipt, an invocation), which nests deeper than a message does.
pub fn scan_within(bytes: &[u8], max_depth: usize, max_items: usize) -> Result<(), WireError> {
    // Each open container: how many values it still holds.
    let mut open: Vec<u64> = Vec::new();
    let mut at = 0usize;
    let mut items = 0usize;
    loop {
        if at >= bytes.len() {
            return Err(malformed("truncated"));
        }
        items += 1;
        if items > max_items {
            return Err(WireError::TooMany);
        }
        let head = bytes[at];
        let (major, info) = (head >> 5, head & 0x1f);
        let (arg, next) = argument(bytes, at + 1, info)?;
        at = next;
        let left = (bytes.len() - at) as u64;
        // A container of `n` values, opened here (0 closes at once).
        let mut opens = None;
        match major {
            0 | 1 => {}
            2 | 3 => {
                if arg > left {
                    return Err(malformed("truncated"));
                }
                at += arg as usize;
            }
            4 => opens = Some(arg),
            5 => opens = Some(arg.checked_mul(2).ok_or_else(|| malformed("truncated"))?),
            6 => {
                if arg != 42 {
                    return Err(malformed(format!(
                        "CBOR tag {arg} (DAG-CBOR has only tag 42, links)"
                    )));
                }
                opens = Some(1);
            }
            _ => match info {
                20..=22 | 25..=27 => {}
                _ => return Err(malformed(format!("CBOR simple value {arg}"))),
            },
        }
        match opens {
            // Each value takes at least one byte: more than are left is a lie.
            Some(n) if n > left => return Err(malformed("truncated")),
            Some(n) if n > 0 => {
                if open.len() >= max_depth {
                    return Err(WireError::TooDeep);
                }
                open.push(n);
                continue;
            }
            _ => {}
        }
        // A value ended: it fills a slot of its container, which may end too.
        loop {
            match open.last_mut() {
                None => {
                    return match at == bytes.len() {
                        true => Ok(()),
                        false => Err(malformed(format!(
                            "{} bytes after the message",
                            bytes.len() - at
                        ))),
                    };
                }
                Some(n) => {
                    *n -= 1;
                    if *n > 0 {
                        break;
                    }
                    open.pop();
                }
            }
        }
    }
}

/// Reads a message of at most `cap` bytes: size, then [`scan`], then the
/// DAG-CBOR decoder.
pub fn read(bytes: &[u8], cap: usize) -> Result<Ipld, WireError> {
    if bytes.len() > cap {
        return Err(WireError::TooLarge {
            bytes: bytes.len(),
            cap,
        });
    }
    scan(bytes)?;
    decode_dag_cbor(bytes).map_err(|e| malformed(e.to_string()))
}

/// Writes a message, refusing one larger than `cap` (the sender's own bug:
/// the receiver would refuse it).
pub fn write(value: &Ipld, cap: usize) -> Result<Vec<u8>, WireError> {
    let bytes = encode_dag_cbor(value).map_err(|e| malformed(e.to_string()))?;
    match bytes.len() > cap {
        true => Err(WireError::TooLarge {
            bytes: bytes.len(),
            cap,
        }),
        false => Ok(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cbor(v: &Ipld) -> Vec<u8> {
        encode_dag_cbor(v).unwrap()
    }

    fn nested(depth: usize) -> Ipld {
        (0..depth).fold(Ipld::Integer(1), |v, _| Ipld::List(vec![v]))
    }

    #[test]
    fn well_formed_values_pass() {
        let cid = crate::model::address::raw_cid(b"x");
        let v = Ipld::Map(BTreeMap::from([
            (
                "a".into(),
                Ipld::List(vec![Ipld::Integer(-5), Ipld::Float(1.5)]),
            ),
            ("b".into(), Ipld::Bytes(vec![1, 2, 3])),
            ("c".into(), Ipld::Link(cid)),
            ("d".into(), Ipld::Null),
            ("e".into(), Ipld::Bool(true)),
            ("f".into(), Ipld::List(vec![])),
            ("g".into(), Ipld::Map(BTreeMap::new())),
            ("h".into(), Ipld::Integer(u64::MAX.into())),
        ]));
        let bytes = cbor(&v);
        scan(&bytes).unwrap();
        assert_eq!(read(&bytes, 1024).unwrap(), v);
    }

    #[test]
    fn depth_is_capped_before_decoding() {
        scan(&cbor(&nested(MAX_DEPTH))).unwrap();
        assert_eq!(scan(&cbor(&nested(MAX_DEPTH + 1))), Err(WireError::TooDeep));
        // A million nested arrays: refused at the cap, not by a stack overflow.
        let mut bomb = vec![0x81u8; 1_000_000];
        bomb.push(0x01);
        assert_eq!(read(&bomb, usize::MAX), Err(WireError::TooDeep));
    }

    #[test]
    fn size_and_count_are_capped() {
        let big = cbor(&Ipld::Bytes(vec![0; 100]));
        assert_eq!(
            read(&big, 50),
            Err(WireError::TooLarge {
                bytes: big.len(),
                cap: 50
            })
        );
        let many = cbor(&Ipld::List(vec![Ipld::Null; MAX_ITEMS]));
        assert_eq!(scan(&many), Err(WireError::TooMany));
        let fits = cbor(&Ipld::List(vec![Ipld::Null; MAX_ITEMS - 1]));
        scan(&fits).unwrap();
    }

    #[test]
    fn lying_lengths_truncation_and_trailing_bytes_are_malformed() {
        // An array that claims 2^32 values in 5 bytes.
        assert_eq!(
            scan(&[0x9a, 0xff, 0xff, 0xff, 0xff]).unwrap_err().code(),
            "malformed"
        );
        // A map that claims 2^63 entries (its doubled count overflows).
        let mut huge_map = vec![0xbb];
        huge_map.extend(u64::MAX.to_be_bytes());
        assert_eq!(scan(&huge_map).unwrap_err().code(), "malformed");
        // Bytes longer than the message.
        assert_eq!(scan(&[0x45, 1, 2]).unwrap_err().code(), "malformed");
        // A truncated head, an empty message.
        assert_eq!(scan(&[0x19, 0x01]).unwrap_err().code(), "malformed");
        assert_eq!(scan(&[]).unwrap_err().code(), "malformed");
        // Trailing bytes.
        assert_eq!(
            scan(&[0x01, 0x02]),
            Err(WireError::Malformed("1 bytes after the message".into()))
        );
    }

    #[test]
    fn what_dag_cbor_forbids_is_refused() {
        // Indefinite-length array, a tag other than 42, `undefined`, a reserved head.
        for bad in [&[0x9f, 0x01, 0xff][..], &[0xc1, 0x01], &[0xf7], &[0x1c]] {
            assert_eq!(scan(bad).unwrap_err().code(), "malformed", "{bad:02x?}");
        }
    }

    #[test]
    fn write_refuses_past_its_cap() {
        let v = Ipld::Bytes(vec![0; 10]);
        assert!(write(&v, 100).is_ok());
        assert_eq!(write(&v, 5).unwrap_err().code(), "too_large");
    }
}
