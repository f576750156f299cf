//! `ipvm node`: the arguments of the native peer, its key and its store;
//! the peer itself is `ipvm-net`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::StoreArgs;
use crate::key;

const USAGE: &str = "usage: ipvm node [--listen MULTIADDR]... [--connect MULTIADDR]... [--add FILE]... [--fetch CID]... [--fetch-timeout SECS] [--trust DID]... [--share none|announce] [--key FILE] [--store DIR | --memory] [--info FILE] [--log error|warn|info|debug]";

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
    let store = crate::native::open_store(&store.place())?;
    // Files given with --add are in the store before any peer can ask.
    for path in &adds {
        let bytes = crate::cli::read(path)?;
        let cid = futures::executor::block_on(ipvm_core::store::add_file(&store, &bytes))
            .map_err(|e| format!("{path}: {e}"))?;
        println!("added {cid} {path}");
    }
    let config = ipvm_net::Config {
        key,
        store,
        listen,
        connect,
        log: ipvm_net::log::Log::new(level),
        trust,
        share,
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
