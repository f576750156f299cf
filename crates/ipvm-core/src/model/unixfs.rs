//! UnixFS files: how IPFS addresses a file's bytes.
//!
//! [`import`] produces exactly the blocks `ipfs add --cid-version 1` produces:
//! 256 KiB chunks stored as raw leaves (`bafkrei…`), joined by a balanced DAG
//! of DAG-PB nodes with at most 174 links each (`bafybei…`). A file of one
//! chunk is its own raw leaf. [`read`] reassembles a file from either form.
//!
//! The protobuf encoding is written out by hand: the two messages involved
//! (PBNode/PBLink and UnixFS Data) have five fields between them.

use cid::Cid;

use crate::model::address::{cid_of, DAG_PB, RAW, SHA2_256};
use crate::CoreError;

/// Chunk size of the IPFS default chunker.
pub const CHUNK_SIZE: usize = 256 * 1024;
/// Maximum links per node of the balanced layout.
pub const MAX_LINKS: usize = 174;

/// A file imported as UnixFS: its root CID and every block, leaves first.
#[derive(Debug, Clone)]
pub struct ImportedFile {
    /// The CID IPFS would report for the file.
    pub root: Cid,
    /// All blocks, the root last.
    pub blocks: Vec<(Cid, Vec<u8>)>,
}

#[derive(Clone, Copy)]
struct Node {
    cid: Cid,
    file_size: u64,
    /// Size of this block plus every block beneath it.
    total_size: u64,
}

/// Splits `data` into UnixFS blocks.
pub fn import(data: &[u8]) -> ImportedFile {
    let mut blocks = Vec::new();
    let mut level: Vec<Node> = if data.is_empty() {
        vec![leaf(&[], &mut blocks)]
    } else {
        data.chunks(CHUNK_SIZE)
            .map(|c| leaf(c, &mut blocks))
            .collect()
    };
    while level.len() > 1 {
        level = level
            .chunks(MAX_LINKS)
            .map(|kids| parent(kids, &mut blocks))
            .collect();
    }
    let root = level
        .pop()
        .map(|n| n.cid)
        .unwrap_or_else(|| crate::model::address::raw_cid(&[]));
    ImportedFile { root, blocks }
}

fn leaf(chunk: &[u8], blocks: &mut Vec<(Cid, Vec<u8>)>) -> Node {
    let cid = cid_of(RAW, SHA2_256, chunk);
    blocks.push((cid, chunk.to_vec()));
    Node {
        cid,
        file_size: chunk.len() as u64,
        total_size: chunk.len() as u64,
    }
}

fn parent(kids: &[Node], blocks: &mut Vec<(Cid, Vec<u8>)>) -> Node {
    let file_size: u64 = kids.iter().map(|k| k.file_size).sum();
    // UnixFS Data { Type = File(2), filesize = 3, blocksizes = 4 (repeated, unpacked) }
    let mut data = Vec::new();
    put_varint_field(&mut data, 1, 2);
    put_varint_field(&mut data, 3, file_size);
    for k in kids {
        put_varint_field(&mut data, 4, k.file_size);
    }
    // PBNode { Links = 2 (repeated PBLink), Data = 1 }, links first as DAG-PB requires.
    let mut node = Vec::new();
    for k in kids {
        let mut link = Vec::new();
        put_bytes_field(&mut link, 1, &k.cid.to_bytes());
        put_bytes_field(&mut link, 2, b"");
        put_varint_field(&mut link, 3, k.total_size);
        put_bytes_field(&mut node, 2, &link);
    }
    put_bytes_field(&mut node, 1, &data);
    let cid = cid_of(DAG_PB, SHA2_256, &node);
    let total_size = node.len() as u64 + kids.iter().map(|k| k.total_size).sum::<u64>();
    blocks.push((cid, node));
    Node {
        cid,
        file_size,
        total_size,
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_varint_field(out: &mut Vec<u8>, field: u64, v: u64) {
    put_varint(out, field << 3);
    put_varint(out, v);
}

fn put_bytes_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// One protobuf field: its number and either a varint or a byte slice.
enum Field<'a> {
    Varint(u64, u64),
    Bytes(u64, &'a [u8]),
}

fn fields<'a>(mut buf: &'a [u8], cid: &Cid) -> Result<Vec<Field<'a>>, CoreError> {
    let bad = |reason: &str| CoreError::UnixFs {
        cid: Box::new(*cid),
        reason: reason.to_string(),
    };
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = get_varint(&mut buf).ok_or_else(|| bad("truncated field key"))?;
        match key & 7 {
            0 => out.push(Field::Varint(
                key >> 3,
                get_varint(&mut buf).ok_or_else(|| bad("truncated varint"))?,
            )),
            2 => {
                let len = get_varint(&mut buf).ok_or_else(|| bad("truncated length"))? as usize;
                if len > buf.len() {
                    return Err(bad("field longer than the block"));
                }
                let (head, tail) = buf.split_at(len);
                out.push(Field::Bytes(key >> 3, head));
                buf = tail;
            }
            _ => return Err(bad("unsupported protobuf wire type")),
        }
    }
    Ok(out)
}

fn get_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// One UnixFS block, decoded: the bytes it holds inline, its links in
/// order, and what it declares (DAG-PB nodes only): the file size below it
/// and the size of each child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileNode {
    /// Bytes held inline (all of a raw block).
    pub inline: Vec<u8>,
    /// The children, in order.
    pub links: Vec<Cid>,
    /// `filesize`, if the node declares it.
    pub filesize: Option<u64>,
    /// `blocksizes`: one per child, if the node declares them.
    pub blocksizes: Vec<u64>,
}

/// Decodes one UnixFS block (raw, or a DAG-PB `File` node).
pub fn decode_file_node(cid: &Cid, block: &[u8]) -> Result<FileNode, CoreError> {
    let bad = |reason: String| CoreError::UnixFs {
        cid: Box::new(*cid),
        reason,
    };
    match cid.codec() {
        RAW => Ok(FileNode {
            inline: block.to_vec(),
            links: Vec::new(),
            filesize: None,
            blocksizes: Vec::new(),
        }),
        DAG_PB => {
            let mut node = FileNode {
                inline: Vec::new(),
                links: Vec::new(),
                filesize: None,
                blocksizes: Vec::new(),
            };
            for f in fields(block, cid)? {
                match f {
                    Field::Bytes(2, link) => {
                        for lf in fields(link, cid)? {
                            if let Field::Bytes(1, hash) = lf {
                                node.links.push(
                                    Cid::try_from(hash)
                                        .map_err(|e| bad(format!("bad link: {e}")))?,
                                );
                            }
                        }
                    }
                    Field::Bytes(1, data) => {
                        for df in fields(data, cid)? {
                            match df {
                                Field::Varint(1, t) if t != 2 && t != 0 => {
                                    return Err(bad(format!("UnixFS type {t} is not a file")))
                                }
                                Field::Bytes(2, bytes) => node.inline = bytes.to_vec(),
                                Field::Varint(3, size) => node.filesize = Some(size),
                                Field::Varint(4, size) => node.blocksizes.push(size),
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
            Ok(node)
        }
        other => Err(bad(format!("codec 0x{other:x} is neither raw nor dag-pb"))),
    }
}

/// The content of one UnixFS block: bytes held inline, then links to the
/// blocks that hold the rest, in order. A raw block is all inline data.
pub fn decode_node(cid: &Cid, block: &[u8]) -> Result<(Vec<u8>, Vec<Cid>), CoreError> {
    decode_file_node(cid, block).map(|n| (n.inline, n.links))
}

/// Reassembles a file from its root CID, fetching blocks with `get`.
/// A raw CID is the file itself; a DAG-PB CID is a UnixFS file node.
pub fn read(
    root: &Cid,
    get: &mut dyn FnMut(&Cid) -> Result<Vec<u8>, CoreError>,
) -> Result<Vec<u8>, CoreError> {
    let mut out = Vec::new();
    // Depth-first, left to right: a stack of CIDs still to visit, reversed.
    let mut stack = vec![(*root, 0usize)];
    while let Some((cid, depth)) = stack.pop() {
        if depth > 32 {
            return Err(CoreError::UnixFs {
                cid: Box::new(cid),
                reason: "DAG deeper than 32 levels".into(),
            });
        }
        let (inline, links) = decode_node(&cid, &get(&cid)?)?;
        out.extend_from_slice(&inline);
        stack.extend(links.into_iter().rev().map(|c| (c, depth + 1)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(len: usize) -> Cid {
        let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let file = import(&data);
        let blocks: std::collections::HashMap<_, _> = file.blocks.iter().cloned().collect();
        for (cid, bytes) in &file.blocks {
            crate::model::address::verify_block(cid, bytes).unwrap();
        }
        let back = read(&file.root, &mut |c| Ok(blocks[c].clone())).unwrap();
        assert_eq!(back, data);
        file.root
    }

    #[test]
    fn empty_file_is_the_empty_raw_block() {
        assert_eq!(
            roundtrip(0).to_string(),
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
        );
    }

    #[test]
    fn one_chunk_is_raw_and_two_chunks_are_dag_pb() {
        assert_eq!(roundtrip(CHUNK_SIZE).codec(), RAW);
        assert_eq!(roundtrip(CHUNK_SIZE + 1).codec(), DAG_PB);
    }

    #[test]
    fn a_small_dag_that_describes_a_huge_file_is_read_only_up_to_the_limit() {
        // Three blocks (about 20 KB) that describe 174 × 174 × 256 KiB = 7.9 GB by
        // repeating the same links.
        let mut blocks = Vec::new();
        let chunk = leaf(&vec![7u8; CHUNK_SIZE], &mut blocks);
        let middle = parent(&vec![chunk; MAX_LINKS], &mut blocks);
        let root = parent(&vec![middle; MAX_LINKS], &mut blocks);
        let store = crate::MemoryStore::new();
        futures::executor::block_on(crate::BlockStore::put_blocks(&store, blocks)).unwrap();
        let limit = 8 * CHUNK_SIZE as u64;
        let err =
            futures::executor::block_on(crate::store::read_file_within(&store, &root.cid, limit))
                .unwrap_err();
        assert!(
            matches!(err, CoreError::TooLarge { limit: l, .. } if l == limit),
            "{err}"
        );
    }

    /// A DAG-PB file node with whatever sizes it is told to declare.
    fn lying_node(links: &[Cid], filesize: u64, blocksizes: &[u64]) -> (Cid, Vec<u8>) {
        let mut data = Vec::new();
        put_varint_field(&mut data, 1, 2);
        put_varint_field(&mut data, 3, filesize);
        for b in blocksizes {
            put_varint_field(&mut data, 4, *b);
        }
        let mut node = Vec::new();
        for l in links {
            let mut link = Vec::new();
            put_bytes_field(&mut link, 1, &l.to_bytes());
            put_bytes_field(&mut link, 2, b"");
            put_bytes_field(&mut node, 2, &link);
        }
        put_bytes_field(&mut node, 1, &data);
        (cid_of(DAG_PB, SHA2_256, &node), node)
    }

    #[test]
    fn a_node_whose_declared_sizes_do_not_hold_is_refused() {
        let mut blocks = Vec::new();
        let a = leaf(b"hello", &mut blocks).cid;
        let b = leaf(b"world!", &mut blocks).cid;
        for (filesize, sizes, why) in [
            (11, vec![5, 6], None),
            (11, vec![5], Some("1 blocksizes for 2 links")),
            (12, vec![5, 6], Some("parts add up to 11")),
            (12, vec![5, 7], Some("holds 6")),
        ] {
            let (root, bytes) = lying_node(&[a, b], filesize, &sizes);
            let store = crate::MemoryStore::new();
            let mut all = blocks.clone();
            all.push((root, bytes));
            futures::executor::block_on(crate::BlockStore::put_blocks(&store, all)).unwrap();
            let read =
                futures::executor::block_on(crate::store::read_file_within(&store, &root, 1 << 20));
            match why {
                None => assert_eq!(read.unwrap(), b"helloworld!"),
                Some(why) => {
                    let err = read.unwrap_err().to_string();
                    assert!(err.contains(why), "{why}: {err}");
                }
            }
        }
    }

    #[test]
    fn a_leaf_that_declares_more_than_it_holds_is_refused() {
        let mut data = Vec::new();
        put_varint_field(&mut data, 1, 2);
        put_bytes_field(&mut data, 2, b"hello");
        put_varint_field(&mut data, 3, 9);
        let mut node = Vec::new();
        put_bytes_field(&mut node, 1, &data);
        let cid = cid_of(DAG_PB, SHA2_256, &node);
        let store = crate::MemoryStore::new();
        futures::executor::block_on(crate::BlockStore::put_block(&store, cid, node)).unwrap();
        let err =
            futures::executor::block_on(crate::store::read_file_within(&store, &cid, 1 << 20))
                .unwrap_err();
        assert!(err.to_string().contains("holds 5"), "{err}");
    }

    #[test]
    fn multi_level_dag_roundtrips() {
        // 175 chunks need a second level of DAG-PB nodes.
        let root = roundtrip(CHUNK_SIZE * (MAX_LINKS + 1) + 7);
        assert_eq!(root.codec(), DAG_PB);
    }
}
