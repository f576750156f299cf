//! Argument parsing and the commands of the `ipvm` binary.

use std::process::ExitCode;

use std::path::PathBuf;

use ipvm_core::{unixfs, CancelToken, Did, Event, TrustOptions, Workflow};

use crate::engines::EngineChoice;
use crate::key;
use crate::native::{NodeRuntime, Place};

const USAGE: &str = "usage: ipvm run WORKFLOW.json [--add FILE]... [--parallelism N] [--engine auto|wasmtime|wasmi] [--key FILE] [--trust DID]... [--verify-rate R] [--import CAR]... [--export CAR] [--peer MULTIADDR]... [--offload never|auto|always] [--proof FILE]... [--share none|announce] [--store DIR | --memory]\n       ipvm key [--key FILE]\n       ipvm verify-receipt CAR [--key FILE] [--trust DID]... [--store DIR | --memory]\n       ipvm delegate --aud DID --cmd CMD [--sub DID | --powerline] [--pol JSON] [--exp SECS | --ttl SECS] [--nbf SECS] --out FILE\n       ipvm invoke --module CID --func NAME [--args JSON] [--fuel N] [--memory N] [--time N] [--aud DID] [--sub DID] [--prf FILE]... [--exp SECS | --ttl SECS] --out FILE\n       ipvm run-invocation TOKEN [--proof FILE]... [--add FILE]... [--authority DID]... [--now SECS] [--engine auto|wasmtime|wasmi] [--store DIR | --memory]\n       ipvm store [--store DIR | --memory]\n       ipvm clear-distrust DID [--key FILE] [--store DIR | --memory]\n       ipvm add FILE...\n       ipvm instruction INSTRUCTIONS.jsonl\n       ipvm dag-cid VALUES.jsonl\n       ipvm node [--listen MULTIADDR]... [--connect MULTIADDR]... [--add FILE]... [--fetch CID]... [--key FILE] [--store DIR | --memory] [--trust DID]... [--share none|announce] [--workers N] [--authority DID]... [--dev] [--max-fuel N] [--max-memory BYTES] [--max-time MS] [--info FILE] [--log LEVEL]";

/// Runs the command line; `Err` is a one-line message for exit code 2.
pub(crate) fn main(args: &[String]) -> Result<ExitCode, String> {
    match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("add") => add(&args[1..]),
        Some("key") => show_key(&args[1..]),
        Some("verify-receipt") => verify_receipt(&args[1..]),
        Some("delegate") => crate::authority::delegate(&args[1..]),
        Some("invoke") => crate::authority::invoke(&args[1..]),
        Some("run-invocation") => crate::authority::run_invocation(&args[1..]),
        Some("store") => show_store(&args[1..]),
        Some("clear-distrust") => clear_distrust(&args[1..]),
        Some("node") => crate::node::main(&args[1..]),
        Some("instruction") => per_line(&args[1..], "instruction", |line| {
            ipvm_core::workflow::instruction_cid_from_dag_json(line)
        }),
        Some("dag-cid") => per_line(&args[1..], "dag-cid", |line| {
            ipvm_core::dag_cbor_cid(&ipvm_core::workflow::parse_dag_json(line)?)
        }),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => Err(format!("unknown command `{other}`\n{USAGE}")),
        None => Err(format!("no command given\n{USAGE}")),
    }
}

/// Stores each file (a module or data) as a UnixFS file, saying its CID.
pub(crate) async fn add_files(rt: &NodeRuntime, paths: &[String]) -> Result<(), String> {
    for path in paths {
        let cid = rt
            .add_file(&read(path)?)
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        eprintln!("added {cid} {path}");
    }
    Ok(())
}

pub(crate) fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read `{path}`: {e}"))
}

fn add(files: &[String]) -> Result<ExitCode, String> {
    if files.is_empty() {
        return Err(format!("`add` needs at least one FILE\n{USAGE}"));
    }
    for f in files {
        println!("{}  {f}", unixfs::import(&read(f)?).root);
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a CID for each non-empty line of a file (DAG-JSON), in order.
fn per_line(
    args: &[String],
    command: &str,
    cid_of: impl Fn(&[u8]) -> Result<ipvm_core::Cid, ipvm_core::CoreError>,
) -> Result<ExitCode, String> {
    let [path] = args else {
        return Err(format!("`{command}` needs one FILE\n{USAGE}"));
    };
    let text = read(path)?;
    for (n, line) in text.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        println!(
            "{}",
            cid_of(line).map_err(|e| format!("{path}:{}: {e}", n + 1))?
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let mut workflow_path = None;
    let mut adds = Vec::new();
    let mut parallelism = 8;
    let mut identity = IdentityArgs::default();
    let mut imports = Vec::new();
    let mut export = None;
    let mut store = StoreArgs::default();
    let mut peers = Vec::new();
    let mut offload = ipvm_core::peer::offload::OffloadMode::Never;
    let mut proofs = Vec::new();
    let mut share = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if identity.take(a, &mut it)? || store.take(a, &mut it)? {
            continue;
        }
        match a.as_str() {
            "--add" => adds.push(it.next().ok_or("`--add` needs a FILE")?.clone()),
            "--peer" => {
                let addr = it
                    .next()
                    .ok_or("`--peer` needs a MULTIADDR (…/p2p/<peer id>)")?;
                peers.push(ipvm_net::connect_addr(addr).map_err(|e| format!("`--peer`: {e}"))?);
            }
            "--offload" => {
                let mode = it.next().ok_or("`--offload` needs never, auto or always")?;
                offload = mode.parse().map_err(|e| format!("`--offload {e}"))?;
            }
            "--proof" => {
                let path = it.next().ok_or("`--proof` needs a delegation FILE")?;
                let bytes = crate::authority::read_token(path)?;
                proofs.push(
                    ipvm_core::ucan::Token::decode(&bytes).map_err(|e| format!("{path}: {e}"))?,
                );
            }
            "--share" => {
                share = match it.next().map(String::as_str) {
                    Some("none") => false,
                    Some("announce") => true,
                    other => {
                        return Err(format!(
                            "`--share {}`: none (the default: outputs may be private) or announce",
                            other.unwrap_or("")
                        ))
                    }
                }
            }
            "--import" => imports.push(it.next().ok_or("`--import` needs a CAR file")?.clone()),
            "--export" => export = Some(it.next().ok_or("`--export` needs a FILE")?.clone()),
            "--parallelism" => {
                let n = it.next().ok_or("`--parallelism` needs a number")?;
                parallelism = n
                    .parse()
                    .map_err(|_| format!("`--parallelism {n}`: not a positive number"))?;
            }
            flag if flag.starts_with("--") => {
                return Err(format!("unknown option `{flag}`\n{USAGE}"))
            }
            path if workflow_path.is_none() => workflow_path = Some(path.to_string()),
            extra => return Err(format!("unexpected argument `{extra}`\n{USAGE}")),
        }
    }
    let workflow_path =
        workflow_path.ok_or_else(|| format!("`run` needs a WORKFLOW.json\n{USAGE}"))?;
    if peers.is_empty() && offload != ipvm_core::peer::offload::OffloadMode::Never {
        return Err("`--offload` hands tasks to the `--peer`s: give at least one".into());
    }
    if peers.is_empty() && share {
        return Err("`--share announce` announces to the `--peer`s: give at least one".into());
    }
    let bytes = read(&workflow_path)?;
    // DAG-JSON starts with `{` (after any whitespace); anything else is read as DAG-CBOR.
    let workflow = if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        Workflow::from_dag_json(&bytes)
    } else {
        Workflow::from_dag_cbor(&bytes)
    }
    .map_err(|e| format!("{workflow_path}: {e}"))?;

    let rt = identity
        .runtime(Vec::new(), &store.place())?
        .with_parallelism(parallelism);
    // `--peer`: a libp2p client (its own throwaway identity) connected to
    // each peer, asked before anything runs; it lives as long as the run.
    let client = match peers.is_empty() {
        true => None,
        false => Some(
            ipvm_net::Client::start(
                ipvm_core::Ed25519Key::from_seed(key::random::<32>()?),
                rt.store().clone(),
                peers,
                match offload {
                    ipvm_core::peer::offload::OffloadMode::Never => None,
                    mode => Some(ipvm_net::ClientOffload {
                        mode,
                        // Invocations are signed with this CLI's own key:
                        // the DID its delegations name.
                        signer: key::load_or_create(&identity.key_path()?)?.0,
                        proofs,
                    }),
                },
            )
            .map_err(|e| e.to_string())?,
        ),
    };
    for why in client.iter().flat_map(|c| c.unreachable()) {
        eprintln!("peers    left out: {why}");
    }
    let rt = match &client {
        Some(c) => rt.with_peers(std::rc::Rc::new(c.peers())),
        None => rt,
    };
    futures::executor::block_on(async {
        rt.identity().await.map_err(|e| e.to_string())?;
        add_files(&rt, &adds).await?;
        for path in &imports {
            let report = rt
                .import_car(&read(path)?)
                .await
                .map_err(|e| format!("{path}: {e}"))?;
            eprintln!(
                "imported {path}: {} receipts ({} vouched for by a trusted signer), {} envelopes, {} refused",
                report.receipts,
                report.vouched.len(),
                report.envelopes,
                report.refused.len()
            );
            for (cid, why) in &report.refused {
                eprintln!("refused envelope {cid}: {} ({why})", why.code());
            }
        }
        let mut log = progress(&rt);
        let report = rt
            .run(&workflow, &mut log, &CancelToken::new())
            .await
            .map_err(|e| format!("{workflow_path}: {e}"))?;
        for task in &report.tasks {
            if let Some(note) = &task.peers {
                eprintln!("{}", describe_peers(task.task, &task.instruction, note));
            }
        }
        if let (true, Some(client)) = (share, &client) {
            // What this run computed here, each with this runtime's envelope.
            let own = rt.did().await.map_err(|e| e.to_string())?;
            let announcements: Vec<_> = report
                .tasks
                .iter()
                .filter(|t| matches!(t.status, ipvm_core::run::report::TaskStatus::Ran(_)))
                .filter_map(|t| t.receipt())
                .filter_map(|rec| {
                    let env = rec.envelopes.iter().find(|e| e.signer == own)?;
                    Some(ipvm_core::peer::announce::announcement(rec, env))
                })
                .collect();
            let (published, fetched) = client.announce(&announcements);
            eprintln!(
                "shared   {published} of {} receipts announced; the peers fetched {fetched}",
                announcements.len()
            );
        }
        for task in &report.tasks {
            if let Some(rec) = task.receipt() {
                println!("{}", rec.receipt.to_dag_json().map_err(|e| e.to_string())?);
            }
        }
        if let Some(path) = &export {
            let roots: Vec<_> = report
                .tasks
                .iter()
                .filter_map(|t| t.receipt())
                .map(|r| r.cid)
                .collect();
            let bytes = rt
                .export_car(&roots)
                .await
                .map_err(|e| format!("{path}: {e}"))?;
            std::fs::write(path, bytes).map_err(|e| format!("cannot write `{path}`: {e}"))?;
            eprintln!("exported {} signed receipts to {path}", roots.len());
        }
        Ok(if report.succeeded() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

/// `--key FILE` and `--trust DID`, shared by the commands that sign or
/// decide trust, and `--engine`, by those that run tasks.
#[derive(Default)]
pub(crate) struct IdentityArgs {
    key: Option<PathBuf>,
    trust: Vec<Did>,
    verify_rate: f64,
    engine: EngineChoice,
}

impl IdentityArgs {
    /// Takes `a` (and its value) if it is one of these options.
    pub(crate) fn take(
        &mut self,
        a: &str,
        it: &mut std::slice::Iter<'_, String>,
    ) -> Result<bool, String> {
        match a {
            "--key" => {
                self.key = Some(PathBuf::from(it.next().ok_or("`--key` needs a FILE")?));
                Ok(true)
            }
            "--trust" => {
                let did = it.next().ok_or("`--trust` needs a DID (did:key:z6Mk…)")?;
                self.trust
                    .push(Did::parse(did).map_err(|e| format!("`--trust {did}`: {e}"))?);
                Ok(true)
            }
            "--engine" => {
                let name = it
                    .next()
                    .ok_or("`--engine` needs auto, wasmtime or wasmi")?;
                self.engine = EngineChoice::parse(name)?;
                Ok(true)
            }
            "--verify-rate" => {
                let r = it
                    .next()
                    .ok_or("`--verify-rate` needs a share from 0 to 1")?;
                self.verify_rate = r
                    .parse()
                    .ok()
                    .filter(|r: &f64| (0.0..=1.0).contains(r))
                    .ok_or_else(|| format!("`--verify-rate {r}`: not a share from 0 to 1"))?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The key file's path (`--key`, else the default).
    pub(crate) fn key_path(&self) -> Result<PathBuf, String> {
        match &self.key {
            Some(p) => Ok(p.clone()),
            None => key::default_path(),
        }
    }

    /// The node's runtime over the store at `place`: its key (created if
    /// missing), the trust policy these options give, and `authorities` to
    /// accept invocations under.
    pub(crate) fn runtime(
        &self,
        authorities: Vec<Did>,
        place: &Place,
    ) -> Result<NodeRuntime, String> {
        Ok(
            crate::native::runtime(&self.key_path()?, place, self.engine)?.with_trust(
                TrustOptions {
                    signers: self.trust.clone(),
                    verify_rate: self.verify_rate,
                    seed: key::random_u64()?,
                    authorities,
                },
            ),
        )
    }
}

/// `--store DIR` or `--memory`, for the commands that store.
#[derive(Default)]
pub(crate) struct StoreArgs {
    place: Option<Place>,
}

impl StoreArgs {
    /// Takes `a` (and its value) if it is one of these options.
    pub(crate) fn take(
        &mut self,
        a: &str,
        it: &mut std::slice::Iter<'_, String>,
    ) -> Result<bool, String> {
        let place = match a {
            "--store" => Place::Dir(PathBuf::from(it.next().ok_or("`--store` needs a DIR")?)),
            "--memory" => Place::Memory,
            _ => return Ok(false),
        };
        if self.place.as_ref().is_some_and(|p| *p != place) {
            return Err("`--store DIR` and `--memory` name one store: give one of them".into());
        }
        self.place = Some(place);
        Ok(true)
    }

    /// The store these options name (else the default).
    pub(crate) fn place(&self) -> Place {
        self.place.clone().unwrap_or(Place::Default)
    }
}

/// `ipvm key`: prints the DID of the key, creating the key first if needed.
fn show_key(args: &[String]) -> Result<ExitCode, String> {
    let mut identity = IdentityArgs::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if !identity.take(a, &mut it)? || a != "--key" {
            return Err(format!("unexpected argument `{a}`\n{USAGE}"));
        }
    }
    // Nothing is stored: the key is all it reads.
    let rt = identity.runtime(Vec::new(), &Place::Memory)?;
    let did = futures::executor::block_on(rt.did()).map_err(|e| e.to_string())?;
    println!("{did}");
    Ok(ExitCode::SUCCESS)
}

/// `ipvm verify-receipt CAR`: checks every receipt of an archive with its
/// envelopes, one line each (`valid SIGNER` or the reason's code and
/// message). Exits 0 if every receipt is vouched for by a trusted signer.
fn verify_receipt(args: &[String]) -> Result<ExitCode, String> {
    let mut identity = IdentityArgs::default();
    let mut path = None;
    let mut store = StoreArgs::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if identity.take(a, &mut it)? || store.take(a, &mut it)? {
            continue;
        }
        match a.as_str() {
            flag if flag.starts_with("--") => {
                return Err(format!("unknown option `{flag}`\n{USAGE}"))
            }
            p if path.is_none() => path = Some(p.to_string()),
            extra => return Err(format!("unexpected argument `{extra}`\n{USAGE}")),
        }
    }
    let path = path.ok_or_else(|| format!("`verify-receipt` needs a CAR file\n{USAGE}"))?;
    // The store's distrust counts; the archive is not stored.
    let rt = identity.runtime(Vec::new(), &store.place())?;
    let checked = futures::executor::block_on(rt.check_archive(&read(&path)?))
        .map_err(|e| format!("{path}: {e}"))?;
    for (cid, why) in &checked.refused {
        println!("envelope {cid}: {} ({why})", why.code());
    }
    let mut all = true;
    for (cid, check) in checked.receipts {
        match check.verdict {
            Ok(did) => println!("{cid} valid {did}"),
            Err(why) => {
                all = false;
                println!("{cid} {} ({why})", why.code());
            }
        }
    }
    Ok(if all {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `ipvm store`: what the store holds, from its summary.
fn show_store(args: &[String]) -> Result<ExitCode, String> {
    let mut store = StoreArgs::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if !store.take(a, &mut it)? {
            return Err(format!("unexpected argument `{a}`\n{USAGE}"));
        }
    }
    let s = crate::native::open_store(&store.place())?
        .summary()
        .map_err(|e| e.to_string())?;
    let total: u64 = s.receipts.iter().map(|(_, n)| n).sum();
    println!("store {}", s.path.display());
    println!("receipts {total} ({} bytes)", s.receipt_bytes);
    for (provenance, n) in &s.receipts {
        println!("  {provenance} {n}");
    }
    println!("blocks {} ({} bytes)", s.blocks, s.block_bytes);
    println!("runs {}", s.runs);
    println!("invocations accepted {}", s.seen);
    println!("file {} bytes", s.file_bytes);
    Ok(ExitCode::SUCCESS)
}

/// `ipvm clear-distrust DID`: the user's decision to trust a signer a
/// spot-check caught again (as far as `--trust` says): kept in the store,
/// then its receipts are decided again. Exits 1 if it was not distrusted.
fn clear_distrust(args: &[String]) -> Result<ExitCode, String> {
    let mut identity = IdentityArgs::default();
    let mut store = StoreArgs::default();
    let mut signer = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if (identity.take(a, &mut it)? && a == "--key") || store.take(a, &mut it)? {
            continue;
        }
        match a.as_str() {
            d if signer.is_none() && !d.starts_with("--") => {
                signer = Some(Did::parse(d).map_err(|e| format!("`{d}`: {e}"))?)
            }
            extra => return Err(format!("unexpected argument `{extra}`\n{USAGE}")),
        }
    }
    let signer = signer.ok_or_else(|| format!("`clear-distrust` needs a DID\n{USAGE}"))?;
    let rt = identity.runtime(Vec::new(), &store.place())?;
    let was = futures::executor::block_on(rt.clear_distrust(&signer)).map_err(|e| e.to_string())?;
    if was {
        println!("cleared {signer}");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{signer} was not distrusted");
        Ok(ExitCode::from(1))
    }
}

/// Prints a line of progress for each event on stderr; a task that ran
/// here says its engine (`finished task … fuel 12 engine wasmtime`, and a
/// spot-check's re-run `… match (verified here) engine wasmi`).
pub(crate) fn progress(rt: &NodeRuntime) -> impl FnMut(&Event) + '_ {
    move |e: &Event| {
        let ran = match e {
            Event::Finished { instruction, .. }
            | Event::SpotChecked { instruction, .. }
            | Event::Failed {
                instruction,
                receipt: Some(_),
                ..
            } => rt.executor().engine_of(instruction),
            _ => None,
        };
        match (ran, e) {
            // The engine before the reason, which may hold anything.
            (
                Some(engine),
                Event::Failed {
                    task,
                    instruction,
                    receipt: Some(r),
                    reason,
                },
            ) => eprintln!(
                "failed   task {task} {instruction} receipt {r} engine {engine}: {reason}"
            ),
            (Some(engine), _) => eprintln!("{} engine {engine}", describe(e)),
            (None, _) => eprintln!("{}", describe(e)),
        }
    }
}

/// What asking the peers came to for one task: `peers    task N CID:
/// from PEER` (its receipt answered the task; `(ran there)` if it was
/// offloaded to it) or `… : from none`, then
/// `; not used: PEER: reason` for each offer or answer not used.
pub(crate) fn describe_peers(
    task: usize,
    instruction: &ipvm_core::Cid,
    note: &ipvm_core::peer::PeerNote,
) -> String {
    let mut line = format!(
        "peers    task {task} {instruction}: from {}{}",
        note.from.as_deref().unwrap_or("none"),
        if note.ran_on.is_some() {
            " (ran there)"
        } else {
            ""
        }
    );
    for why in &note.unused {
        line.push_str("; not used: ");
        line.push_str(why);
    }
    line
}

/// One line of progress for an event.
pub(crate) fn describe(e: &Event) -> String {
    match e {
        Event::Queued { task, instruction } => format!("queued   task {task} {instruction}"),
        Event::Started { task, instruction } => format!("started  task {task} {instruction}"),
        Event::MemoHit {
            task,
            instruction,
            receipt,
        } => format!("memo-hit task {task} {instruction} receipt {receipt}"),
        Event::Finished {
            task,
            instruction,
            receipt,
            fuel,
        } => {
            format!("finished task {task} {instruction} receipt {receipt} fuel {fuel}")
        }
        Event::Rejected {
            task,
            instruction,
            receipt,
            reason,
        } => format!(
            "rejected task {task} {instruction}: stored receipt {receipt} skipped: {reason}"
        ),
        Event::SpotChecked {
            task,
            instruction,
            receipt,
            verdict,
        } => format!(
            "spot-check task {task} {instruction} receipt {receipt}: {}",
            match verdict {
                ipvm_core::Verdict::Match => "match (verified here)".to_string(),
                ipvm_core::Verdict::Mismatch => "MISMATCH (its signers are distrusted)".to_string(),
                ipvm_core::Verdict::Incomparable(why) => format!("incomparable: {why}"),
            }
        ),
        Event::Distrusted {
            signer,
            receipt,
            reason,
        } => format!("distrusted {signer} (receipt {receipt}): {reason}"),
        Event::Fetched { task, cid, outcome } => match outcome {
            Ok(f) => format!(
                "fetched  task {task} {cid}: {} of {} blocks from peers, {} bytes",
                f.fetched, f.blocks, f.bytes
            ),
            Err(reason) => format!("fetch    task {task} {cid} failed: {reason}"),
        },
        Event::Failed {
            task,
            instruction,
            receipt,
            reason,
        } => match receipt {
            Some(r) => format!("failed   task {task} {instruction} receipt {r}: {reason}"),
            None => format!("failed   task {task} {instruction}: {reason}"),
        },
    }
}
