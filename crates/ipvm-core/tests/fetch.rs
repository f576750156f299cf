//! A runtime with a block source (feature `fetch`): before a run executes,
//! what its tasks read from the store and the store lacks (a module, a file
//! an argument links to) comes from the source, checked and stored, each as
//! an event; a file found whole is not walked again; what no source has is a
//! `fetch-failed` event and the run goes on.

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use common::*;
use futures::executor::block_on;
use futures::future::LocalBoxFuture;
use ipvm_core::store::fetch::BlockSource;
use ipvm_core::{
    unixfs, BlockStore, CancelToken, Cid, Ed25519Key, Event, Ipld, MemorySettings, MemoryStore,
    Runtime,
};

/// A peer holding a file's blocks; counts what it is asked.
struct Peer {
    blocks: BTreeMap<Cid, Vec<u8>>,
    asked: RefCell<usize>,
}

impl BlockSource for Peer {
    fn block(&self, cid: Cid, _: Duration) -> LocalBoxFuture<'_, Result<Vec<u8>, String>> {
        *self.asked.borrow_mut() += 1;
        let got = self.blocks.get(&cid).cloned();
        Box::pin(async move { got.ok_or_else(|| "no peer has it".to_string()) })
    }
}

/// A `Fetched` event: its task, its file, and its blocks (all, from the
/// peer) or its reason.
type Noted = (usize, Cid, Result<(usize, usize), String>);

fn fetched(events: &[Event]) -> Vec<Noted> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Fetched { task, cid, outcome } => Some((
                *task,
                *cid,
                outcome
                    .as_ref()
                    .map(|f| (f.blocks, f.fetched))
                    .map_err(Clone::clone),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn a_run_fetches_the_files_its_tasks_link_to_once_and_notes_what_no_peer_has() {
    let data: Vec<u8> = (0..700_000u32).map(|i| (i % 253) as u8).collect();
    let file = unixfs::import(&data);
    let peer = Rc::new(Peer {
        blocks: file.blocks.into_iter().collect(),
        asked: RefCell::new(0),
    });
    let store = Rc::new(MemoryStore::new());
    block_on(store.put_block(module(), b"test module".to_vec())).unwrap();
    let settings = Rc::new(MemorySettings::new(&Ed25519Key::from_seed([3; 32])));
    let rt = Runtime::new(store.clone(), TestExecutor::default(), settings);
    rt.set_block_source(Some(peer.clone()));
    let run = |nnc: &str, func: &str| {
        let mut events = Vec::new();
        let wf = workflow(&[instr(
            func,
            vec![Ipld::Link(file.root), Ipld::String(nnc.into())],
        )]);
        block_on(rt.run(&wf, &mut |e| events.push(e.clone()), &CancelToken::new())).unwrap();
        events
    };
    // The module is in the store; the linked file is the peer's only.
    let first = run("first", "f");
    let blocks = 1 + data.len().div_ceil(262_144);
    assert_eq!(fetched(&first), vec![(0, file.root, Ok((blocks, blocks)))]);
    let back = block_on(ipvm_core::store::read_file_within(
        &*store,
        &file.root,
        1 << 20,
    ))
    .unwrap();
    assert_eq!(back, data);
    // Known whole now: a second run asks nothing.
    let asked = *peer.asked.borrow();
    assert_eq!(fetched(&run("second", "f")), vec![]);
    assert_eq!(*peer.asked.borrow(), asked);
    // A file no peer has: noted, and the run goes on (its task fails as it would have).
    let nobody = ipvm_core::address::raw_cid(b"no one has this");
    let mut events = Vec::new();
    let wf = workflow(&[instr("f", vec![Ipld::Link(nobody)])]);
    let report = block_on(rt.run(&wf, &mut |e| events.push(e.clone()), &CancelToken::new()));
    assert!(report.is_ok());
    assert_eq!(
        fetched(&events),
        vec![(
            0,
            nobody,
            Err(format!(
                "block {nobody} could not be fetched from the peers: no peer has it"
            ))
        )]
    );
    // Without a source, nothing is fetched.
    rt.set_block_source(None);
    let mut events = Vec::new();
    block_on(rt.run(&wf, &mut |e| events.push(e.clone()), &CancelToken::new())).unwrap();
    assert_eq!(fetched(&events), vec![]);
}
