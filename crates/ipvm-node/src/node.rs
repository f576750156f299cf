//! `ipvm node`: the arguments of the native peer, its key and its store;
//! the peer itself is `ipvm-net`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::StoreArgs;
use crate::key;

const USAGE: &str = "usage: ipvm node [--listen MULTIADDR]... [--connect MULTIADDR]... [--add FILE]... [--fetch CID]... [--fetch-timeout SECS] [--trust DID]... [--share none|announce] [--workers N] [--authority DID]... [--dev] [--max-fuel N] [--max-memory BYTES] [--max-time MS] [--engine auto|wasmtime|wasmi] [--key FILE] [--store DIR | --memory] [--info FILE] [--log error|warn|info|debug]";

/// Runs `ipvm node` until SIGINT or SIGTERM.
pub(crate) fn main(args: &[String]) -> Result<ExitCode, String> {
    let mut listen = Vec::new();
    let mut connect = Vec::new();
    let mut fetch = Vec::new();
    let mut adds = Vec::new();
    let mut fetch_within = Duration::from_secs(60);
    let mut key_path = None;
    let mut store = StoreArgs::default();
    let mut info = None;
    let mut level = ipvm_net::log::Level::Info;
    let mut trust = Vec::new();
    let mut share = false;
    let mut workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut authorities = Vec::new();
    let mut dev = false;
    let mut max = ipvm_core::Limits {
        fuel: Some(ipvm_core::Limits::MAX_FUEL),
        memory: Some(ipvm_core::Limits::MAX_MEMORY),
        time: Some(ipvm_core::Limits::MAX_TIME_MS),
    };
    let mut engine = crate::engines::EngineChoice::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if store.take(a, &mut it)? {
            continue;
        }
        let mut value = |what: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("`{a}` needs {what}\n{USAGE}"))
        };
        match a.as_str() {
            "--listen" => listen
                .push(ipvm_net::listen_addr(&value("a MULTIADDR")?).map_err(|e| e.to_string())?),
            "--connect" => connect
                .push(ipvm_net::connect_addr(&value("a MULTIADDR")?).map_err(|e| e.to_string())?),
            "--fetch" => {
                let cid = value("a CID")?;
                fetch.push(ipvm_core::parse_cid(&cid).map_err(|e| e.to_string())?);
            }
            "--fetch-timeout" => {
                let s = value("SECS")?;
                fetch_within = Duration::from_secs(
                    s.parse()
                        .map_err(|_| format!("`--fetch-timeout {s}`: not a number of seconds"))?,
                );
            }
            "--add" => adds.push(value("a FILE")?),
            "--trust" => {
                let did = value("a DID (did:key:z6Mk…)")?;
                trust.push(
                    ipvm_core::Did::parse(&did).map_err(|e| format!("`--trust {did}`: {e}"))?,
                );
            }
            "--share" => {
                share = match value("none or announce")?.as_str() {
                    "none" => false,
                    "announce" => true,
                    other => {
                        return Err(format!(
                        "`--share {other}`: none (the default: outputs may be private) or announce"
                    ))
                    }
                }
            }
            "--workers" => {
                let n = value("a number")?;
                workers = n.parse().map_err(|_| {
                    format!("`--workers {n}`: not a number (0: run no tasks for peers)")
                })?;
            }
            "--authority" => {
                let did = value("a DID (did:key:z6Mk…)")?;
                authorities.push(
                    ipvm_core::Did::parse(&did).map_err(|e| format!("`--authority {did}`: {e}"))?,
                );
            }
            "--dev" => dev = true,
            flag @ ("--max-fuel" | "--max-memory" | "--max-time") => {
                let n = value("a number")?;
                let n: u64 = n
                    .parse()
                    .map_err(|_| format!("`{flag} {n}`: not a non-negative number"))?;
                match flag {
                    "--max-fuel" => max.fuel = Some(n),
                    "--max-memory" => max.memory = Some(n),
                    _ => max.time = Some(n),
                }
            }
            "--engine" => {
                engine = crate::engines::EngineChoice::parse(&value("auto, wasmtime or wasmi")?)?
            }
            "--key" => key_path = Some(PathBuf::from(value("a FILE")?)),
            "--info" => info = Some(PathBuf::from(value("a FILE")?)),
            "--log" => level = value("a LEVEL")?.parse()?,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            other => return Err(format!("unexpected argument `{other}`\n{USAGE}")),
        }
    }
    let key_path = match key_path {
        Some(p) => p,
        None => key::default_path()?,
    };
    let (key, _) = key::load_or_create(&key_path)?;
    if dev {
        // Self-issued invocations are admitted only from peers on loopback:
        // a development node listens nowhere else.
        for addr in &listen {
            let loopback = ipvm_net::is_loopback(addr);
            if !loopback {
                return Err(format!(
                    "`--dev` admits self-issued invocations, so the node listens on loopback only; `--listen {addr}` is not loopback"
                ));
            }
        }
        // Nor does it dial out: a peer it connects to could invoke too.
        if let Some(addr) = connect.iter().find(|a| !ipvm_net::is_loopback(a)) {
            return Err(format!(
                "`--dev` admits self-issued invocations from its peers, so it connects on loopback only; `--connect {addr}` is not loopback"
            ));
        }
        eprintln!("ipvm node: development mode (--dev): any peer on loopback may have this node run tasks under its own authority; never use it on a shared machine or network");
    }
    let place = store.place();
    let store = crate::native::open_store(&place)?;
    // Files given with --add are in the store before any peer can ask.
    for path in &adds {
        let bytes = crate::cli::read(path)?;
        let cid = futures::executor::block_on(ipvm_core::store::add_file(&store, &bytes))
            .map_err(|e| format!("{path}: {e}"))?;
        println!("added {cid} {path}");
    }
    let config = ipvm_net::Config {
        key,
        store: store.clone(),
        listen,
        connect,
        log: ipvm_net::log::Log::new(level),
        trust,
        share,
        offload: Some(ipvm_net::OffloadService {
            workers,
            runner: std::sync::Arc::new(NodeRunner {
                store: store.clone(),
                key: key_path.clone(),
                place,
                engine,
                authorities,
                rules: ipvm_core::run::runtime::OffloadRules { max, dev },
            }),
        }),
    };
    let serve = ipvm_net::Serve {
        info,
        fetch,
        fetch_within,
    };
    match ipvm_net::serve(config, serve) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("ipvm node: error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// The node's runtime for offloaded tasks: one per worker thread, over the
/// node's store, its key and the authorities it accepts.
struct NodeRunner {
    store: ipvm_store::SqliteStore,
    key: PathBuf,
    place: crate::native::Place,
    engine: crate::engines::EngineChoice,
    authorities: Vec<ipvm_core::Did>,
    rules: ipvm_core::run::runtime::OffloadRules,
}

thread_local! {
    /// This worker thread's runtime, built on its first offloaded task.
    static RUNTIME: std::cell::RefCell<Option<crate::native::NodeRuntime>> =
        const { std::cell::RefCell::new(None) };
}

impl ipvm_net::Runner for NodeRunner {
    fn answer(
        &self,
        request: &ipvm_core::peer::messages::OffloadRequest,
    ) -> ipvm_core::peer::messages::OffloadAnswer {
        use ipvm_core::peer::messages::OffloadAnswer;
        RUNTIME.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.is_none() {
                let built = crate::native::runtime_over(
                    self.store.clone(),
                    &self.key,
                    &self.place,
                    self.engine,
                )
                .map(|rt| {
                    rt.with_trust(ipvm_core::TrustOptions {
                        authorities: self.authorities.clone(),
                        ..Default::default()
                    })
                    .with_parallelism(1)
                });
                match built {
                    Ok(rt) => *slot = Some(rt),
                    Err(e) => {
                        return OffloadAnswer::Refused(format!("the node cannot run tasks: {e}"))
                    }
                }
            }
            let Some(rt) = slot.as_ref() else {
                return OffloadAnswer::Refused("the node cannot run tasks".into());
            };
            let now = crate::authority::now();
            match futures::executor::block_on(rt.answer_offload(request, now, &self.rules)) {
                Ok(answer) => answer,
                Err(e) => OffloadAnswer::Refused(format!("the node failed: {e}")),
            }
        })
    }
}
