//! Fetching files from peers into the store: a whole DAG (a UnixFS file,
//! a DAG-CBOR value and what it links to) block by block from a
//! [`BlockSource`], each block checked against its CID before it is stored,
//! within a bound on the bytes; and a list of DAGs (what a job needs, as
//! `run/runtime/fetching.rs` says) fetched where the store lacks them.
//!
//! Where a block comes from (bitswap in the tab, the node's swarm) is the
//! carrier's; the walk, the checks and the bounds are here, so every
//! runtime fetches the same way.

use std::cell::RefCell;
use std::collections::HashSet;
use std::time::Duration;

use cid::Cid;
use futures::future::LocalBoxFuture;
use futures::stream::{FuturesUnordered, StreamExt as _};
use ipld_core::ipld::Ipld;

use super::BlockStore;
use crate::model::address::{decode_dag_cbor, verify_block, DAG_CBOR, DAG_PB};
use crate::model::unixfs;
use crate::CoreError;

/// The largest module a task may name: 64 MiB (its Wasm bytes), however
/// large its blocks claim it is.
pub const MAX_MODULE_BYTES: u64 = 64 * 1024 * 1024;

/// The most blocks one DAG may have, whatever its bytes.
pub const MAX_DAG_BLOCKS: usize = 1 << 20;

/// How many blocks of a DAG are asked for at once.
pub const IN_FLIGHT: usize = 8;

/// How long one block may take to arrive before the fetch gives up.
pub const BLOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Where missing blocks come from: the peers.
pub trait BlockSource {
    /// The bytes of block `cid` from a peer, within `within`; the reason
    /// when no peer gave it. What comes back is checked again here, and
    /// stored.
    fn block(&self, cid: Cid, within: Duration) -> LocalBoxFuture<'_, Result<Vec<u8>, String>>;
}

/// What a fetch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetched {
    /// The DAG's root.
    pub root: Cid,
    /// Its blocks.
    pub blocks: usize,
    /// Of them, how many came from a peer (the rest were in the store).
    pub fetched: usize,
    /// Its bytes, all blocks together.
    pub bytes: u64,
}

/// The CIDs a block links to: DAG-PB links, DAG-CBOR links; raw has none.
pub fn links(cid: &Cid, bytes: &[u8]) -> Result<Vec<Cid>, CoreError> {
    match cid.codec() {
        DAG_PB => Ok(unixfs::decode_node(cid, bytes)?.1),
        DAG_CBOR => {
            let mut out = Vec::new();
            let mut stack = vec![decode_dag_cbor(bytes)?];
            while let Some(v) = stack.pop() {
                match v {
                    Ipld::Link(c) => out.push(c),
                    Ipld::List(items) => stack.extend(items),
                    Ipld::Map(m) => stack.extend(m.into_values()),
                    _ => {}
                }
            }
            Ok(out)
        }
        _ => Ok(Vec::new()),
    }
}

fn fetch_error(cid: &Cid, reason: impl Into<String>) -> CoreError {
    CoreError::Fetch {
        cid: Box::new(*cid),
        reason: reason.into(),
    }
}

/// One block: from the store if it is there and intact, else from
/// `source`, checked against its CID and stored. `true` if it was fetched.
async fn block<S: BlockStore + ?Sized>(
    store: &S,
    source: &dyn BlockSource,
    cid: Cid,
) -> Result<(Vec<u8>, bool), CoreError> {
    if let Some(bytes) = store.get_block(&cid).await? {
        if verify_block(&cid, &bytes).is_ok() {
            return Ok((bytes, false));
        }
    }
    let bytes = source
        .block(cid, BLOCK_TIMEOUT)
        .await
        .map_err(|reason| fetch_error(&cid, reason))?;
    verify_block(&cid, &bytes)?;
    // Stored here even where the source writes the same store (bitswap
    // does, but may answer before its write lands): read right after, the
    // block is there.
    store.put_block(cid, bytes.clone()).await?;
    Ok((bytes, true))
}

/// Fetches the DAG under `root` into `store`: every block it reaches that
/// the store lacks comes from `source`, [`IN_FLIGHT`] at a time, and is
/// checked against its CID before it is stored. More than `max_bytes` of
/// blocks (or [`MAX_DAG_BLOCKS`] blocks) is [`CoreError::TooLarge`], and
/// the walk stops there; a block no peer gives is [`CoreError::Fetch`].
/// What was stored before the failure stays (each block is whole and
/// checked), and the next fetch takes it from the store.
pub async fn fetch_dag<S: BlockStore + ?Sized>(
    store: &S,
    source: &dyn BlockSource,
    root: Cid,
    max_bytes: u64,
) -> Result<Fetched, CoreError> {
    let mut seen = HashSet::from([root]);
    let mut todo = vec![root];
    let mut running = FuturesUnordered::new();
    let mut done = Fetched {
        root,
        blocks: 0,
        fetched: 0,
        bytes: 0,
    };
    let too_large = || CoreError::TooLarge {
        cid: Box::new(root),
        limit: max_bytes,
    };
    loop {
        while running.len() < IN_FLIGHT {
            let Some(cid) = todo.pop() else { break };
            running.push(async move { (cid, block(store, source, cid).await) });
        }
        let Some((cid, got)) = running.next().await else {
            return Ok(done);
        };
        let (bytes, fetched) = got?;
        done.blocks += 1;
        done.fetched += usize::from(fetched);
        done.bytes += bytes.len() as u64;
        if done.bytes > max_bytes {
            return Err(too_large());
        }
        for link in links(&cid, &bytes)? {
            if seen.insert(link) {
                if seen.len() > MAX_DAG_BLOCKS {
                    return Err(too_large());
                }
                todo.push(link);
            }
        }
    }
}

/// A DAG a job needs, and the most bytes it may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needed {
    /// Its root.
    pub root: Cid,
    /// Its bound: the module bound for a module, the task's memory limit
    /// for a file its arguments link to.
    pub max_bytes: u64,
    /// The task that needs it.
    pub task: usize,
}

/// What fetching one needed DAG came to.
#[derive(Debug)]
pub struct FetchNote {
    /// The DAG.
    pub needed: Needed,
    /// What was fetched, or why it could not be.
    pub result: Result<Fetched, CoreError>,
}

/// Fetches each of `needed` the store lacks or holds in part, one DAG
/// after another (each [`IN_FLIGHT`] blocks at a time). `complete` holds the
/// roots already known whole in this store, and gains each one fetched or
/// found whole; they are not walked again. A DAG that cannot be fetched is
/// noted, not an error: its task fails as it would have
/// (`module_missing`, a missing block), with the note saying why.
pub async fn fetch_needed<S: BlockStore + ?Sized>(
    store: &S,
    source: &dyn BlockSource,
    needed: Vec<Needed>,
    complete: &RefCell<HashSet<Cid>>,
) -> Vec<FetchNote> {
    let mut notes = Vec::new();
    for needed in needed {
        if complete.borrow().contains(&needed.root) {
            continue;
        }
        let result = fetch_dag(store, source, needed.root, needed.max_bytes).await;
        if result.is_ok() {
            complete.borrow_mut().insert(needed.root);
        }
        notes.push(FetchNote { needed, result });
    }
    notes
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use futures::executor::block_on;

    use super::*;
    use crate::model::address::raw_cid;
    use crate::MemoryStore;

    /// A peer holding some blocks; it can be told to lie about one.
    #[derive(Default)]
    struct Peer {
        blocks: BTreeMap<Cid, Vec<u8>>,
        asked: RefCell<Vec<Cid>>,
    }

    impl BlockSource for Peer {
        fn block(&self, cid: Cid, _: Duration) -> LocalBoxFuture<'_, Result<Vec<u8>, String>> {
            self.asked.borrow_mut().push(cid);
            let got = self.blocks.get(&cid).cloned();
            Box::pin(async move { got.ok_or_else(|| "no peer has it".to_string()) })
        }
    }

    /// A file of `len` bytes, its blocks held by a peer only.
    fn file_on_peer(len: usize) -> (Cid, Peer) {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let file = unixfs::import(&data);
        let peer = Peer {
            blocks: file.blocks.into_iter().collect(),
            ..Peer::default()
        };
        (file.root, peer)
    }

    #[test]
    fn a_file_only_a_peer_has_is_fetched_whole_and_reads_back() {
        let (root, peer) = file_on_peer(3 << 20);
        let store = MemoryStore::new();
        let got = block_on(fetch_dag(&store, &peer, root, 4 << 20)).unwrap();
        assert!(got.blocks > 2, "a DAG of several blocks: {got:?}");
        assert_eq!(got.fetched, got.blocks);
        let back = block_on(crate::store::read_file_within(&store, &root, 4 << 20)).unwrap();
        assert_eq!(back.len(), 3 << 20);
        // Again: everything is in the store, nothing is asked of the peer.
        let asked = peer.asked.borrow().len();
        let again = block_on(fetch_dag(&store, &peer, root, 4 << 20)).unwrap();
        assert_eq!((again.fetched, peer.asked.borrow().len()), (0, asked));
    }

    #[test]
    fn a_block_that_does_not_match_its_cid_is_refused_and_not_stored() {
        let (root, mut peer) = file_on_peer(1 << 20);
        let leaf = *peer.blocks.keys().find(|c| **c != root).unwrap();
        peer.blocks.insert(leaf, b"forged".to_vec());
        let store = MemoryStore::new();
        let err = block_on(fetch_dag(&store, &peer, root, 4 << 20)).unwrap_err();
        assert!(matches!(err, CoreError::HashMismatch { .. }), "{err}");
        assert_eq!(block_on(store.get_block(&leaf)).unwrap(), None);
    }

    #[test]
    fn a_dag_past_its_bound_stops_the_fetch() {
        let (root, peer) = file_on_peer(2 << 20);
        let store = MemoryStore::new();
        let err = block_on(fetch_dag(&store, &peer, root, 1 << 20)).unwrap_err();
        assert!(
            matches!(err, CoreError::TooLarge { limit, .. } if limit == 1 << 20),
            "{err}"
        );
        // It stopped near the bound, not after the whole file.
        let fetched: usize = peer.asked.borrow().len();
        assert!(
            fetched < peer.blocks.len(),
            "{fetched} of {}",
            peer.blocks.len()
        );
    }

    #[test]
    fn a_block_no_peer_has_is_a_fetch_error_naming_it() {
        let store = MemoryStore::new();
        let missing = raw_cid(b"nobody has this");
        let err = block_on(fetch_dag(&store, &Peer::default(), missing, 1024)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("block {missing} could not be fetched from the peers: no peer has it")
        );
    }

    #[test]
    fn what_cannot_be_fetched_is_noted_and_what_was_fetched_is_not_walked_again() {
        let (root, peer) = file_on_peer(300 << 10);
        let missing = raw_cid(b"missing module");
        let needed = || {
            vec![
                Needed {
                    root: missing,
                    max_bytes: 64 << 20,
                    task: 0,
                },
                Needed {
                    root,
                    max_bytes: 1 << 20,
                    task: 0,
                },
            ]
        };
        let store = MemoryStore::new();
        let complete = RefCell::new(HashSet::new());
        let notes = block_on(fetch_needed(&store, &peer, needed(), &complete));
        assert_eq!(notes.len(), 2);
        assert!(matches!(notes[0].result, Err(CoreError::Fetch { .. })));
        assert!(notes[1].result.is_ok());
        assert_eq!(*complete.borrow(), HashSet::from([root]));
        let notes = block_on(fetch_needed(&store, &peer, needed(), &complete));
        assert_eq!(notes.len(), 1, "only the missing module is tried again");
    }
}
