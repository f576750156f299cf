//! The UCAN commands of the `ipvm` binary: `delegate` and `invoke` mint
//! tokens signed with the node's key; `run-invocation` admits a signed
//! invocation (docs/spec.md §5c) and runs its task, or records its refusal.

use std::process::ExitCode;

use ipvm_core::run::runtime::{Call, Grant, InvocationError};
use ipvm_core::ucan::wasm::run_args;
use ipvm_core::ucan::Token;
use ipvm_core::workflow::parse_dag_json;
use ipvm_core::{parse_cid, CancelToken, Did, Ipld};

use crate::cli::{add_files, progress, IdentityArgs, StoreArgs};
use crate::key;
use crate::native::Place;

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

/// Seconds since the epoch.
pub(crate) fn now() -> i64 {
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
    let rt = identity.runtime(Vec::new(), &Place::Memory)?;
    let aud = aud.ok_or("`delegate` needs --aud DID")?;
    let cmd = cmd.ok_or("`delegate` needs --cmd (e.g. /wasm/run)")?;
    let out = out.ok_or("`delegate` needs --out FILE")?;
    let grant = Grant {
        aud,
        cmd,
        sub,
        powerline,
        pol,
        exp,
        nbf,
    };
    let token =
        futures::executor::block_on(rt.delegate(grant, nonce()?)).map_err(|e| e.to_string())?;
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
    let rt = identity.runtime(Vec::new(), &Place::Memory)?;
    let out = out.ok_or("`invoke` needs --out FILE")?;
    let module = module.ok_or("`invoke` needs --module CID")?;
    let module = parse_cid(&module).map_err(|e| format!("`--module {module}`: {e}"))?;
    let func = func.ok_or("`invoke` needs --func NAME")?;
    let Ipld::List(call_args) = call_args else {
        return Err("`--args` must be a JSON list".into());
    };
    let call = Call {
        aud,
        sub,
        args: run_args(&module, &func, call_args, limits, None),
        prf,
        exp,
    };
    let token =
        futures::executor::block_on(rt.invoke(call, nonce()?)).map_err(|e| e.to_string())?;
    write_token(&token, &out)
}

/// A token file's bytes, at most one past `MAX_TOKEN_BYTES`: a larger file
/// is refused by `Token::decode` (TooLarge) without being read whole.
pub(crate) fn read_token(path: &str) -> Result<Vec<u8>, String> {
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
/// from others it accepted are claimed in the store (one transaction each)
/// and kept until their `exp`.
pub(crate) fn run_invocation(args: &[String]) -> Result<ExitCode, String> {
    let mut identity = IdentityArgs::default();
    let mut store = StoreArgs::default();
    let (mut token_path, mut proofs, mut adds, mut authorities, mut at) =
        (None, Vec::new(), Vec::new(), Vec::new(), None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if identity.take(a, &mut it)? || store.take(a, &mut it)? {
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
    let rt = identity.runtime(authorities, &store.place())?;
    let now_s = at.unwrap_or_else(now);
    futures::executor::block_on(async {
        rt.identity().await.map_err(|e| e.to_string())?;
        add_files(&rt, &adds).await?;
        let mut log = progress(&rt);
        match rt
            .run_invocation(&token, proofs, now_s, &mut log, &CancelToken::new())
            .await
        {
            Ok(report) => {
                if let Some(rec) = report.tasks[0].receipt() {
                    println!("{}", rec.receipt.to_dag_json().map_err(|e| e.to_string())?);
                }
                Ok(match report.succeeded() {
                    true => ExitCode::SUCCESS,
                    false => ExitCode::from(1),
                })
            }
            Err(InvocationError::Refused { error, receipt }) => {
                eprintln!("refused {}: {error}", token.cid);
                if let Some(rec) = receipt {
                    println!("{}", rec.receipt.to_dag_json().map_err(|e| e.to_string())?);
                }
                Ok(ExitCode::from(1))
            }
            Err(InvocationError::Core(e)) => Err(format!("{token_path}: {e}")),
        }
    })
}
