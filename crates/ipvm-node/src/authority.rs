//! The UCAN commands of the `ipvm` binary: `delegate` and `invoke` mint
//! tokens signed with the node's key; `run-invocation` admits a signed
//! invocation (docs/spec.md §5c) and runs its task, or records its refusal.

use std::process::ExitCode;

use ipvm_core::run::admission::refuse;
use ipvm_core::ucan::wasm::{run_args, task_of, Authority, WASM_RUN};
use ipvm_core::ucan::{Delegation, Invocation, Payload, Token};
use ipvm_core::workflow::parse_dag_json;
use ipvm_core::{
    parse_cid, CancelToken, Did, Event, Ipld, MemoryStore, Scheduler, Signer, Workflow,
};
use ipvm_exec::WasmExecutor;

use crate::cli::{add_files, describe, IdentityArgs};
use crate::key;

fn value<'a>(
    it: &mut std::slice::Iter<'a, String>,
    flag: &str,
    what: &str,
) -> Result<&'a String, String> {
    it.next().ok_or_else(|| format!("`{flag}` needs {what}"))
}

fn did(text: &str, flag: &str) -> Result<Did, String> {
    Did::parse(text).map_err(|e| format!("`{flag} {text}`: {e}"))
}

fn seconds(text: &str, flag: &str) -> Result<i64, String> {
    text.parse()
        .map_err(|_| format!("`{flag} {text}`: not a number of seconds"))
}

fn json(text: &str, flag: &str) -> Result<Ipld, String> {
    parse_dag_json(text.as_bytes()).map_err(|e| format!("`{flag}`: {e}"))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn nonce() -> Result<Vec<u8>, String> {
    Ok(key::random_u64()?.to_le_bytes().to_vec())
}

fn write_token(token: &Token, out: &str) -> Result<ExitCode, String> {
    std::fs::write(out, &token.bytes).map_err(|e| format!("cannot write `{out}`: {e}"))?;
    println!("{}", token.cid);
    Ok(ExitCode::SUCCESS)
}

/// `ipvm delegate --aud DID --cmd CMD [--sub DID | --powerline] [--pol JSON]
/// [--exp SECS | --ttl SECS] [--nbf SECS] --out FILE`: a delegation from
/// this node's key; prints its CID.
pub(crate) fn delegate(args: &[String]) -> Result<ExitCode, String> {
    let mut identity = IdentityArgs::default();
    let (mut aud, mut sub, mut powerline, mut cmd, mut pol) =
        (None, None, false, None, Ipld::List(vec![]));
    let (mut exp, mut nbf, mut out) = (None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if identity.take(a, &mut it)? {
            continue;
        }
        match a.as_str() {
            "--aud" => aud = Some(did(value(&mut it, a, "a DID")?, a)?),
            "--sub" => sub = Some(did(value(&mut it, a, "a DID")?, a)?),
            "--powerline" => powerline = true,
            "--cmd" => cmd = Some(value(&mut it, a, "a command (/wasm/run)")?.clone()),
            "--pol" => pol = json(value(&mut it, a, "a policy (JSON)")?, a)?,
            "--exp" => exp = Some(seconds(value(&mut it, a, "seconds since the epoch")?, a)?),
            "--ttl" => exp = Some(now() + seconds(value(&mut it, a, "seconds")?, a)?),
            "--nbf" => nbf = Some(seconds(value(&mut it, a, "seconds since the epoch")?, a)?),
            "--out" => out = Some(value(&mut it, a, "a FILE")?.clone()),
            other => return Err(format!("unknown option `{other}` for `delegate`")),
        }
    }
    let (signer, _) = identity.open()?;
    let aud = aud.ok_or("`delegate` needs --aud DID")?;
    let cmd = cmd.ok_or("`delegate` needs --cmd (e.g. /wasm/run)")?;
    let out = out.ok_or("`delegate` needs --out FILE")?;
    let payload = Payload::Delegation(Delegation {
        iss: signer.did().clone(),
        aud,
        sub: match powerline {
            true => None,
            false => Some(sub.unwrap_or_else(|| signer.did().clone())),
        },
        cmd,
        pol,
        nonce: nonce()?,
        exp,
        nbf,
        meta: None,
    });
    let token = futures::executor::block_on(Token::sign_payload(&signer, &payload))
        .map_err(|e| e.to_string())?;
    write_token(&token, &out)
}

/// `ipvm invoke --aud DID --sub DID --module CID --func F [--args JSON]
/// [--fuel N] [--memory N] [--time N] [--prf FILE]... [--exp SECS | --ttl
/// SECS] --out FILE`: a `/wasm/run` invocation from this node's key.
pub(crate) fn invoke(args: &[String]) -> Result<ExitCode, String> {
    let mut identity = IdentityArgs::default();
    let (mut aud, mut sub, mut module, mut func) = (None, None, None, None);
    let mut call_args = Ipld::List(vec![]);
    let mut limits = ipvm_core::Limits::default();
    let (mut prf, mut exp, mut out) = (Vec::new(), None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if identity.take(a, &mut it)? {
            continue;
        }
        match a.as_str() {
            "--aud" => aud = Some(did(value(&mut it, a, "a DID")?, a)?),
            "--sub" => sub = Some(did(value(&mut it, a, "a DID")?, a)?),
            "--module" => module = Some(value(&mut it, a, "a module CID")?.clone()),
            "--func" => func = Some(value(&mut it, a, "a function name")?.clone()),
            "--args" => call_args = json(value(&mut it, a, "a JSON list")?, a)?,
            flag @ ("--fuel" | "--memory" | "--time") => {
                let n: u64 = value(&mut it, flag, "a number")?
                    .parse()
                    .map_err(|_| format!("`{flag}`: not a non-negative number"))?;
                match flag {
                    "--fuel" => limits.fuel = Some(n),
                    "--memory" => limits.memory = Some(n),
                    _ => limits.time = Some(n),
                }
            }
            "--prf" => {
                let path = value(&mut it, a, "a delegation FILE")?;
                let t = Token::decode(&read_token(path)?).map_err(|e| format!("{path}: {e}"))?;
                prf.push(t.cid);
            }
            "--exp" => exp = Some(seconds(value(&mut it, a, "seconds since the epoch")?, a)?),
            "--ttl" => exp = Some(now() + seconds(value(&mut it, a, "seconds")?, a)?),
            "--out" => out = Some(value(&mut it, a, "a FILE")?.clone()),
            other => return Err(format!("unknown option `{other}` for `invoke`")),
        }
    }
    let (signer, _) = identity.open()?;
    let sub = sub.unwrap_or_else(|| signer.did().clone());
    let aud = aud.unwrap_or_else(|| sub.clone());
    let out = out.ok_or("`invoke` needs --out FILE")?;
    let module = module.ok_or("`invoke` needs --module CID")?;
    let module = parse_cid(&module).map_err(|e| format!("`--module {module}`: {e}"))?;
    let func = func.ok_or("`invoke` needs --func NAME")?;
    let Ipld::List(call_args) = call_args else {
        return Err("`--args` must be a JSON list".into());
    };
    let payload = Payload::Invocation(Invocation {
        iss: signer.did().clone(),
        aud: Some(aud),
        sub,
        cmd: WASM_RUN.into(),
        args: run_args(&module, &func, call_args, limits, None),
        prf,
        nonce: nonce()?,
        exp,
        iat: None,
        meta: None,
        cause: None,
    });
    let token = futures::executor::block_on(Token::sign_payload(&signer, &payload))
        .map_err(|e| e.to_string())?;
    write_token(&token, &out)
}

/// A token file's bytes, at most one past `MAX_TOKEN_BYTES`: a larger file
/// is refused by `Token::decode` (TooLarge) without being read whole.
fn read_token(path: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let limit = ipvm_core::ucan::limits::MAX_TOKEN_BYTES as u64 + 1;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read `{path}`: {e}"))?;
    Ok(bytes)
}

/// `ipvm run-invocation TOKEN [--proof FILE]... [--add FILE]...
/// [--authority DID]... [--now SECS]`: admits the invocation for this node
/// and runs its task (the receipt on stdout, exit 0 or 1), or refuses it
/// (the `unauthorized` receipt on stdout if its task is known, the reason on
/// stderr, exit 1). Nothing runs for a refused invocation. The invocations
/// from others it accepted are kept in `<key file>.seen` until their `exp`.
pub(crate) fn run_invocation(args: &[String]) -> Result<ExitCode, String> {
    let mut identity = IdentityArgs::default();
    let (mut token_path, mut proofs, mut adds, mut authorities, mut at) =
        (None, Vec::new(), Vec::new(), Vec::new(), None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if identity.take(a, &mut it)? {
            continue;
        }
        match a.as_str() {
            "--proof" => proofs.push(value(&mut it, a, "a delegation FILE")?.clone()),
            "--add" => adds.push(value(&mut it, a, "a FILE")?.clone()),
            "--authority" => authorities.push(did(value(&mut it, a, "a DID")?, a)?),
            "--now" => at = Some(seconds(value(&mut it, a, "seconds since the epoch")?, a)?),
            flag if flag.starts_with("--") => {
                return Err(format!("unknown option `{flag}` for `run-invocation`"))
            }
            path if token_path.is_none() => token_path = Some(path.to_string()),
            extra => return Err(format!("unexpected argument `{extra}`")),
        }
    }
    let token_path = token_path.ok_or("`run-invocation` needs a TOKEN file")?;
    let token =
        Token::decode(&read_token(&token_path)?).map_err(|e| format!("{token_path}: {e}"))?;
    let proofs: Vec<Token> = proofs
        .iter()
        .map(|p| read_token(p).and_then(|b| Token::decode(&b).map_err(|e| format!("{p}: {e}"))))
        .collect::<Result<_, _>>()?;
    let (signer, trust) = identity.open()?;
    let authority = Authority::new(signer.did().clone()).with_authorities(authorities);
    // The invocations from others this node accepted, kept beside its key
    // (`<key>.seen`: a line `CID EXP` each), so a replay is refused in a
    // later run too.
    let mut seen_path = identity.key_path()?.into_os_string();
    seen_path.push(".seen");
    let seen_path = std::path::PathBuf::from(seen_path);
    // One process at a time reads, admits and writes the seen-set: two
    // concurrent runs of one invocation must not both find it unseen. The
    // lock is held until the claim is written (it ends with the process).
    let _claim = lock_beside(&seen_path)?;
    let seen_text = std::fs::read_to_string(&seen_path).unwrap_or_default();
    authority.remember(seen_text.lines().filter_map(|l| {
        let (cid, exp) = l.split_once(' ')?;
        Some((ipvm_core::parse_cid(cid).ok()?, exp.trim().parse().ok()?))
    }));
    let now_s = at.unwrap_or_else(now);
    let store = MemoryStore::new();
    futures::executor::block_on(async {
        add_files(&store, &adds).await?;
        let lookup = |c: &ipvm_core::Cid| proofs.iter().find(|t| t.cid == *c).cloned();
        match authority.admit(&token, &lookup, now_s) {
            Ok(task) => {
                let lines: String = authority
                    .seen(now_s)
                    .iter()
                    .map(|(c, e)| format!("{c} {e}\n"))
                    .collect();
                write_atomically(&seen_path, lines.as_bytes())?;
                drop(_claim);
                let executor = WasmExecutor::new(&store);
                let scheduler = Scheduler::new(&executor, &store).with_identity(&signer, &trust);
                let mut log = |e: &Event| eprintln!("{}", describe(e));
                let report = scheduler
                    .run(
                        &Workflow { tasks: vec![task] },
                        &mut log,
                        &CancelToken::new(),
                    )
                    .await
                    .map_err(|e| format!("{token_path}: {e}"))?;
                let rec = report.tasks[0].receipt();
                if let Some(rec) = rec {
                    println!("{}", rec.receipt.to_dag_json().map_err(|e| e.to_string())?);
                }
                Ok(match report.succeeded() {
                    true => ExitCode::SUCCESS,
                    false => ExitCode::from(1),
                })
            }
            Err(refusal) => {
                eprintln!("refused {}: {refusal}", token.cid);
                // Only an authentic invocation leaves a receipt.
                if let (Payload::Invocation(inv), Ok(())) =
                    (&token.payload, token.verify_signature())
                {
                    if let Ok(task) = task_of(inv) {
                        let signer: &dyn Signer = &signer;
                        let rec = refuse(&store, Some(signer), &task, &refusal)
                            .await
                            .map_err(|e| e.to_string())?;
                        println!("{}", rec.receipt.to_dag_json().map_err(|e| e.to_string())?);
                    }
                }
                Ok(ExitCode::from(1))
            }
        }
    })
}

/// Takes the exclusive lock of `<path>.lock` (made if missing), waiting for
/// another process that holds it; released when the file is dropped.
fn lock_beside(path: &std::path::Path) -> Result<std::fs::File, String> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = std::path::PathBuf::from(lock_path);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open `{}`: {e}", lock_path.display()))?;
    file.lock()
        .map_err(|e| format!("cannot lock `{}`: {e}", lock_path.display()))?;
    Ok(file)
}

/// Replaces `path` with `bytes` in one step (a temporary file renamed over
/// it), so a crash never leaves it half-written.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}
