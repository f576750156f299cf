//! Content addressing: DAG-CBOR encoding and the CIDs that name instructions,
//! invocations and receipts (CIDv1, codec dag-cbor 0x71, multihash SHA3-256),
//! plus raw-block CIDs (codec raw 0x55, SHA2-256) as IPFS uses for file data.

use cid::Cid;
use ipld_core::ipld::Ipld;
use multihash::Multihash;
use sha2::Digest as _;

use crate::CoreError;

/// Multicodec code of DAG-CBOR.
pub const DAG_CBOR: u64 = 0x71;
/// Multicodec code of raw bytes.
pub const RAW: u64 = 0x55;
/// Multicodec code of DAG-PB (UnixFS nodes).
pub const DAG_PB: u64 = 0x70;
/// Multihash code of SHA2-256.
pub const SHA2_256: u64 = 0x12;
/// Multihash code of SHA3-256 (Homestar's choice for instructions and receipts).
pub const SHA3_256: u64 = 0x16;

/// Encodes an IPLD value as DAG-CBOR (map keys in canonical order).
pub fn encode_dag_cbor(value: &Ipld) -> Result<Vec<u8>, CoreError> {
    serde_ipld_dagcbor::to_vec(value).map_err(|e| CoreError::Encode(e.to_string()))
}

/// Encodes an IPLD value as DAG-JSON text.
pub fn to_dag_json(value: &Ipld) -> Result<String, CoreError> {
    let bytes = serde_ipld_dagjson::to_vec(value).map_err(|e| CoreError::Encode(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| CoreError::Encode(e.to_string()))
}

/// Decodes DAG-CBOR bytes into an IPLD value.
pub fn decode_dag_cbor(bytes: &[u8]) -> Result<Ipld, CoreError> {
    serde_ipld_dagcbor::from_slice(bytes).map_err(|e| CoreError::Decode {
        format: "DAG-CBOR",
        reason: e.to_string(),
    })
}

/// The CIDv1 (dag-cbor, SHA3-256) of an IPLD value, and its encoding.
pub fn dag_cbor_block(value: &Ipld) -> Result<(Cid, Vec<u8>), CoreError> {
    let bytes = encode_dag_cbor(value)?;
    Ok((cid_of(DAG_CBOR, SHA3_256, &bytes), bytes))
}

/// The CIDv1 (dag-cbor, SHA3-256) of an IPLD value.
pub fn dag_cbor_cid(value: &Ipld) -> Result<Cid, CoreError> {
    Ok(dag_cbor_block(value)?.0)
}

/// The CID of `bytes` under `codec`, hashed with `hash` (SHA2-256 or SHA3-256).
///
/// # Panics
/// Never for the two hash codes this crate defines; any other code is a bug in
/// the caller and falls back to SHA2-256.
pub fn cid_of(codec: u64, hash: u64, bytes: &[u8]) -> Cid {
    let digest: Vec<u8> = match hash {
        SHA3_256 => sha3::Sha3_256::digest(bytes).to_vec(),
        _ => sha2::Sha256::digest(bytes).to_vec(),
    };
    let code = if hash == SHA3_256 { SHA3_256 } else { SHA2_256 };
    #[allow(
        clippy::expect_used,
        reason = "a 32-byte digest always fits a 64-byte multihash"
    )]
    let mh = Multihash::<64>::wrap(code, &digest).expect("32-byte digest fits");
    Cid::new_v1(codec, mh)
}

/// The raw-block CID (`bafkrei…`) of some bytes.
pub fn raw_cid(bytes: &[u8]) -> Cid {
    cid_of(RAW, SHA2_256, bytes)
}

/// Checks that `bytes` hash to `cid`, whatever its codec and hash (SHA2-256 or SHA3-256).
pub fn verify_block(cid: &Cid, bytes: &[u8]) -> Result<(), CoreError> {
    let hash = cid.hash().code();
    if hash != SHA2_256 && hash != SHA3_256 {
        return Err(CoreError::Store(format!(
            "block {cid}: unsupported multihash 0x{hash:x} (only SHA2-256 and SHA3-256)"
        )));
    }
    let actual = cid_of(cid.codec(), hash, bytes);
    let actual = if cid.version() == cid::Version::V0 {
        Cid::new_v0(*actual.hash()).unwrap_or(actual)
    } else {
        actual
    };
    if &actual == cid {
        Ok(())
    } else {
        Err(CoreError::HashMismatch {
            cid: Box::new(*cid),
            actual: Box::new(actual),
        })
    }
}

/// Parses a CID from text, accepting an `ipfs://` prefix.
pub fn parse_cid(text: &str) -> Result<Cid, CoreError> {
    let bare = text.strip_prefix("ipfs://").unwrap_or(text);
    Cid::try_from(bare).map_err(|e| CoreError::BadCid {
        input: text.to_string(),
        reason: e.to_string(),
    })
}

/// The deepest nesting of lists and maps a document may have, in either
/// format: the DAG-CBOR decoder's own bound (256 steps, two per level), which
/// the DAG-JSON reader applies too, so that what one reads the other reads.
pub const MAX_DOCUMENT_DEPTH: usize = 128;

/// The deepest nesting of lists and maps a *value* may have: an argument of
/// a task, or a task's output. Well inside [`MAX_DOCUMENT_DEPTH`], so that
/// the documents around a value (a workflow, an invocation, a receipt, a
/// job sent to a worker) still read back in either format.
pub const MAX_NESTING: usize = 100;

/// How deeply `value` nests lists and maps (a scalar is 0), counting no
/// further than `MAX_NESTING + 1`.
pub fn nesting(value: &Ipld) -> usize {
    fn go(v: &Ipld, depth: usize) -> usize {
        if depth > MAX_NESTING {
            return depth;
        }
        match v {
            Ipld::List(items) => items
                .iter()
                .map(|i| go(i, depth + 1))
                .max()
                .unwrap_or(depth + 1),
            Ipld::Map(map) => map
                .values()
                .map(|i| go(i, depth + 1))
                .max()
                .unwrap_or(depth + 1),
            _ => depth,
        }
    }
    go(value, 0)
}

/// Every link found anywhere inside an IPLD value, in document order.
pub fn links(value: &Ipld, out: &mut Vec<Cid>) {
    match value {
        Ipld::Link(cid) => out.push(*cid),
        Ipld::List(items) => items.iter().for_each(|v| links(v, out)),
        Ipld::Map(map) => map.values().for_each(|v| links(v, out)),
        _ => {}
    }
}
