//! Files in a block store: storing bytes as a UnixFS file, and reading a
//! file back, always within a bound the caller names.

use cid::Cid;

use super::BlockStore;
use crate::model::address::verify_block;
use crate::model::unixfs;
use crate::CoreError;

/// Stores `data` as a UnixFS file and returns its root CID (as `ipfs add
/// --cid-version 1` would). The file's raw-block CID (`bafkrei…` of the
/// whole bytes) resolves to it too.
pub async fn add_file<S: BlockStore + ?Sized>(store: &S, data: &[u8]) -> Result<Cid, CoreError> {
    let file = unixfs::import(data);
    let root = file.root;
    let whole = crate::model::address::raw_cid(data);
    let alias = (whole != root).then_some((whole, root));
    store.put_file_blocks(file.blocks, alias).await?;
    Ok(root)
}

/// Reads a whole UnixFS file (or raw block) from the store, producing at
/// most `limit` bytes. A raw-block CID recorded as an alias of a UnixFS file
/// is read through the file, and the bytes are checked against it.
///
/// A larger file is a [`CoreError::TooLarge`] as soon as the read passes the
/// limit, whatever the file's nodes declare (a small DAG can describe a huge
/// file by repeating links), so memory stays bounded by the limit and one
/// block. There is deliberately no unbounded form: every caller names the
/// most it will hold.
pub async fn read_file_within<S: BlockStore + ?Sized>(
    store: &S,
    root: &Cid,
    limit: u64,
) -> Result<Vec<u8>, CoreError> {
    if root.codec() == crate::model::address::RAW {
        // A raw block is the whole file; read it once.
        match store.get_block(root).await? {
            Some(bytes) if bytes.len() as u64 > limit => {
                return Err(CoreError::TooLarge {
                    cid: Box::new(*root),
                    limit,
                })
            }
            Some(bytes) => return Ok(bytes),
            None => {
                if let Some(target) = store.get_alias(root).await? {
                    let bytes = read_tree(store, &target, limit).await?;
                    verify_block(root, &bytes)?;
                    return Ok(bytes);
                }
            }
        }
    }
    read_tree(store, root, limit).await
}

/// A step of a file read: visit a block (expecting it to produce a size,
/// if its parent declared one), or check that a node produced what it declared.
enum Step {
    Visit(Cid, usize, Option<u64>),
    Check(Cid, usize, u64),
}

async fn read_tree<S: BlockStore + ?Sized>(
    store: &S,
    root: &Cid,
    limit: u64,
) -> Result<Vec<u8>, CoreError> {
    let bad = |cid: Cid, reason: String| CoreError::UnixFs {
        cid: Box::new(cid),
        reason,
    };
    let too_large = || CoreError::TooLarge {
        cid: Box::new(*root),
        limit,
    };
    let mut out = Vec::new();
    // Depth-first, left to right; a node's check comes after its children.
    let mut stack = vec![Step::Visit(*root, 0, None)];
    while let Some(step) = stack.pop() {
        let (cid, depth, expected) = match step {
            Step::Check(cid, start, declared) => {
                let held = (out.len() - start) as u64;
                if held != declared {
                    return Err(bad(
                        cid,
                        format!("declares {declared} bytes but holds {held}"),
                    ));
                }
                continue;
            }
            Step::Visit(cid, depth, expected) => (cid, depth, expected),
        };
        if depth > 32 {
            return Err(bad(cid, "DAG deeper than 32 levels".into()));
        }
        let block = store
            .get_block(&cid)
            .await?
            .ok_or_else(|| CoreError::MissingBlock(Box::new(cid)))?;
        let node = unixfs::decode_file_node(&cid, &block)?;
        // What the node declares must add up, and match what its parent
        // declared for it; a file declared larger than the limit fails at once.
        let declared = match (node.filesize, node.blocksizes.is_empty()) {
            (Some(size), false) => {
                if node.blocksizes.len() != node.links.len() {
                    return Err(bad(
                        cid,
                        format!(
                            "{} blocksizes for {} links",
                            node.blocksizes.len(),
                            node.links.len()
                        ),
                    ));
                }
                let sum = node
                    .blocksizes
                    .iter()
                    .fold(node.inline.len() as u64, |a, b| a.saturating_add(*b));
                if sum != size {
                    return Err(bad(
                        cid,
                        format!("declares {size} bytes, but its parts add up to {sum}"),
                    ));
                }
                Some(size)
            }
            _ => None,
        };
        // A leaf (raw, or DAG-PB without links) produces its inline bytes,
        // and must hold what it declares.
        let produces = if node.links.is_empty() {
            let held = node.inline.len() as u64;
            if node.filesize.is_some_and(|size| size != held) {
                return Err(bad(
                    cid,
                    format!("declares {:?} bytes but holds {held}", node.filesize),
                ));
            }
            Some(held)
        } else {
            declared
        };
        if let (Some(expected), Some(produces)) = (expected, produces) {
            if expected != produces {
                return Err(bad(
                    cid,
                    format!("its parent declares {expected} bytes for it, it holds {produces}"),
                ));
            }
        }
        if (out.len() as u64).saturating_add(produces.unwrap_or(0)) > limit
            || (out.len() as u64).saturating_add(node.inline.len() as u64) > limit
        {
            return Err(too_large());
        }
        if let Some(size) = declared.filter(|_| !node.links.is_empty()) {
            stack.push(Step::Check(cid, out.len(), size));
        }
        out.extend_from_slice(&node.inline);
        let sizes = node
            .blocksizes
            .iter()
            .map(|s| Some(*s))
            .chain(std::iter::repeat(None));
        let children: Vec<Step> = node
            .links
            .iter()
            .zip(sizes)
            .map(|(c, size)| Step::Visit(*c, depth + 1, size))
            .collect();
        stack.extend(children.into_iter().rev());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use futures::executor::block_on;

    #[test]
    fn a_file_resolves_by_its_unixfs_cid_and_by_its_raw_cid() {
        let store = MemoryStore::new();
        let data: Vec<u8> = (0..unixfs::CHUNK_SIZE * 2 + 5)
            .map(|i| (i % 253) as u8)
            .collect();
        let root = block_on(add_file(&store, &data)).unwrap();
        assert_eq!(root.codec(), crate::model::address::DAG_PB);
        assert_eq!(
            block_on(read_file_within(&store, &root, 1 << 20)).unwrap(),
            data
        );
        let raw = crate::model::address::raw_cid(&data);
        assert_eq!(
            block_on(read_file_within(&store, &raw, 1 << 20)).unwrap(),
            data
        );
    }

    #[test]
    fn blocks_that_do_not_match_their_cid_are_refused() {
        let store = MemoryStore::new();
        let cid = crate::model::address::raw_cid(b"right");
        let err = block_on(store.put_block(cid, b"wrong".to_vec())).unwrap_err();
        assert!(matches!(err, CoreError::HashMismatch { .. }), "{err}");
        assert!(block_on(store.get_block(&cid)).unwrap().is_none());
    }
}
