//! A runtime with a block source (feature `fetch`): before a task executes,
//! what it reads from the store and the store lacks (its module, a file an
//! argument links to) comes from the source, checked and stored, each as an
//! event; a file found whole is not walked again; what no source has is a
//! `fetch-failed` event and the run goes on; a task the memo answers
//! fetches nothing.

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

#[test]
fn a_task_the_memo_answers_fetches_nothing_and_one_that_executes_fetches_first() {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 249) as u8).collect();
    let file = unixfs::import(&data);
    let blocks = file.blocks.len();
    let peer = Rc::new(Peer {
        blocks: file.blocks.into_iter().collect(),
        asked: RefCell::new(0),
    });
    // Two runtimes of one key (each trusts the other's receipts: they are its own).
    let open = |store: Rc<MemoryStore>| {
        let settings = Rc::new(MemorySettings::new(&Ed25519Key::from_seed([5; 32])));
        let rt = Runtime::new(store, TestExecutor::default(), settings);
        rt.set_block_source(Some(peer.clone()));
        rt
    };
    let run = |rt: &Runtime<Rc<MemoryStore>, TestExecutor, Rc<MemorySettings>>, nnc: &str| {
        let mut events = Vec::new();
        let wf = workflow(&[instr(
            "f",
            vec![Ipld::Link(file.root), Ipld::String(nnc.into())],
        )]);
        let report =
            block_on(rt.run(&wf, &mut |e| events.push(e.clone()), &CancelToken::new())).unwrap();
        (report, events)
    };
    // A runs the task: the file comes from the peer.
    let store_a = Rc::new(MemoryStore::new());
    block_on(store_a.put_block(module(), b"test module".to_vec())).unwrap();
    let a = open(store_a);
    let (report, events) = run(&a, "once");
    assert_eq!(fetched(&events), vec![(0, file.root, Ok((blocks, blocks)))]);
    let receipt = report.tasks[0].receipt().unwrap().cid;
    // B holds A's receipt (with its invocation and module), not the file.
    let archive = block_on(a.export_car(&[receipt])).unwrap();
    let store_b = Rc::new(MemoryStore::new());
    let b = open(store_b.clone());
    block_on(b.import_car(&archive)).unwrap();
    assert_eq!(block_on(store_b.get_block(&file.root)).unwrap(), None);
    // The memo answers B's run of the same task: the peer is asked nothing.
    let asked = *peer.asked.borrow();
    let (_, events) = run(&b, "once");
    assert!(
        events.iter().any(|e| matches!(e, Event::MemoHit { .. })),
        "{events:?}"
    );
    assert_eq!(b.executor().count(), 0);
    assert_eq!(fetched(&events), vec![]);
    assert_eq!(*peer.asked.borrow(), asked);
    // Under another nonce the task executes on B: it fetches the file first,
    // and hears of it before the task finishes.
    let (_, events) = run(&b, "again");
    assert_eq!(b.executor().count(), 1);
    assert_eq!(fetched(&events), vec![(0, file.root, Ok((blocks, blocks)))]);
    let at = |kind: fn(&Event) -> bool| events.iter().position(kind).unwrap();
    assert!(
        at(|e| matches!(e, Event::Fetched { .. })) < at(|e| matches!(e, Event::Finished { .. }))
    );
}

/// A peer that gives a block only once it is let go.
struct Slow {
    file: BTreeMap<Cid, Vec<u8>>,
    go: RefCell<Option<futures::channel::oneshot::Receiver<()>>>,
}

impl BlockSource for Slow {
    fn block(&self, cid: Cid, _: Duration) -> LocalBoxFuture<'_, Result<Vec<u8>, String>> {
        let go = self.go.borrow_mut().take();
        Box::pin(async move {
            if let Some(go) = go {
                let _ = go.await;
            }
            self.file
                .get(&cid)
                .cloned()
                .ok_or_else(|| "no peer has it".into())
        })
    }
}

#[test]
fn a_task_with_nothing_to_fetch_does_not_wait_for_another_tasks_fetch() {
    use futures::task::LocalSpawnExt as _;
    let file = unixfs::import(b"a small file only a slow peer has");
    let (let_go, go) = futures::channel::oneshot::channel();
    let peer = Rc::new(Slow {
        file: file.blocks.into_iter().collect(),
        go: RefCell::new(None),
    });
    let store = Rc::new(MemoryStore::new());
    block_on(store.put_block(module(), b"test module".to_vec())).unwrap();
    let settings = Rc::new(MemorySettings::new(&Ed25519Key::from_seed([6; 32])));
    let rt = Rc::new(Runtime::new(store, TestExecutor::default(), settings));
    rt.set_block_source(Some(peer.clone()));
    // The module is known whole after a first run.
    let first = workflow(&[instr("inc", vec![Ipld::Integer(0)])]);
    block_on(rt.run(&first, &mut |_| {}, &CancelToken::new())).unwrap();
    // Task 0's file is held back by the peer; task 1 needs only the module.
    *peer.go.borrow_mut() = Some(go);
    let wf = workflow(&[
        instr("id", vec![Ipld::Link(file.root)]),
        instr("inc", vec![Ipld::Integer(1)]),
    ]);
    let mut pool = futures::executor::LocalPool::new();
    let done = Rc::new(RefCell::new(None));
    let (rt2, done2) = (rt.clone(), done.clone());
    pool.spawner()
        .spawn_local(async move {
            let report = rt2.run(&wf, &mut |_| {}, &CancelToken::new()).await;
            *done2.borrow_mut() = Some(report.map(|r| r.tasks.len()));
        })
        .unwrap();
    // The functions the executor ran, in order.
    let ran = || -> Vec<String> {
        (rt.executor().calls.borrow().iter())
            .map(|(_, f)| f.clone())
            .collect()
    };
    pool.run_until_stalled();
    // Task 1 ran while task 0 waits for its file.
    assert_eq!(ran(), vec!["inc", "inc"]);
    assert!(done.borrow().is_none());
    let_go.send(()).unwrap();
    pool.run();
    assert_eq!(done.borrow_mut().take().unwrap().unwrap(), 2);
    assert_eq!(ran(), vec!["inc", "inc", "id"]);
}
