//! The node's capabilities for the core's runtime: its settings in files
//! beside its key, and the seen-set of invocations it accepted. The store
//! is in memory (a persistent native store is the next issue).
//!
//! - `<key>`: the identity (`key.rs`).
//! - `<key>.trust`: the trust state, a line each: `applied DID` (the
//!   trusted set the rows were decided for) or `distrusted DID WHY` (a
//!   signer a spot-check caught, until `ipvm` is told otherwise). Written
//!   in one rename.
//! - `<key>.seen`: the invocations from others accepted, a line `CID EXP`
//!   each, kept until their `exp`. A claim takes the exclusive lock of
//!   `<key>.seen.lock`, reads, drops the expired, adds, and replaces the
//!   file in one rename before the lock is released: two processes that
//!   claim one invocation cannot both find it new.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use ipvm_core::store::seen::claim_in;
use ipvm_core::{
    Cid, CoreError, Did, Ed25519Key, MemoryStore, Runtime, SeenInvocations, Settings, TrustState,
};
use ipvm_exec::WasmExecutor;

use crate::key;

/// The node's runtime: a memory store, the wasmi executor, its key files.
pub(crate) type NodeRuntime =
    Runtime<Rc<MemoryStore>, WasmExecutor<Rc<MemoryStore>>, KeyFile, SeenFile>;

/// A runtime for the key at `key` (created if missing).
pub(crate) fn runtime(key: &Path) -> NodeRuntime {
    let store = Rc::new(MemoryStore::new());
    Runtime::new(
        store.clone(),
        WasmExecutor::new(store),
        KeyFile {
            path: key.to_path_buf(),
        },
    )
    .with_seen(SeenFile {
        path: beside(key, ".seen"),
    })
}

/// `path` with `suffix` appended to its file name.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

fn store_error(e: String) -> CoreError {
    CoreError::Store(e)
}

/// The settings kept beside the key file.
pub(crate) struct KeyFile {
    path: PathBuf,
}

impl Settings for KeyFile {
    type Signer = Ed25519Key;

    async fn identity(&self) -> Result<Ed25519Key, CoreError> {
        let (signer, created) = key::load_or_create(&self.path).map_err(store_error)?;
        if created {
            eprintln!("created key {} ({})", self.path.display(), signer.did());
        }
        Ok(signer)
    }

    async fn trust_state(&self) -> Result<TrustState, CoreError> {
        let path = beside(&self.path, ".trust");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TrustState::default()),
            Err(e) => {
                return Err(store_error(format!(
                    "cannot read `{}`: {e}",
                    path.display()
                )))
            }
        };
        let mut state = TrustState::default();
        for line in text.lines() {
            let mut words = line.splitn(3, ' ');
            let (kind, did) = (words.next(), words.next().map(Did::parse));
            match (kind, did) {
                (Some("applied"), Some(Ok(did))) => state.applied.push(did),
                (Some("distrusted"), Some(Ok(did))) => {
                    let why = words.next().unwrap_or("").to_string();
                    state.distrusted.insert(did, why);
                }
                _ => {} // a line this version does not know
            }
        }
        Ok(state)
    }

    async fn put_trust_state(&self, state: &TrustState) -> Result<(), CoreError> {
        let mut text = String::new();
        for did in &state.applied {
            text.push_str(&format!("applied {did}\n"));
        }
        for (did, why) in &state.distrusted {
            let why = why.replace('\n', " ");
            text.push_str(&format!("distrusted {did} {why}\n"));
        }
        write_atomically(&beside(&self.path, ".trust"), text.as_bytes()).map_err(store_error)
    }
}

/// The seen-set kept beside the key file.
pub(crate) struct SeenFile {
    path: PathBuf,
}

impl SeenInvocations for SeenFile {
    async fn claim(&self, invocation: &Cid, exp: i64, now: i64) -> Result<bool, CoreError> {
        // Held until the claim is written (released when dropped).
        let _lock = lock_beside(&self.path).map_err(store_error)?;
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let mut seen = text
            .lines()
            .filter_map(|l| {
                let (cid, exp) = l.split_once(' ')?;
                Some((ipvm_core::parse_cid(cid).ok()?, exp.trim().parse().ok()?))
            })
            .collect();
        if !claim_in(&mut seen, invocation, exp, now) {
            return Ok(false);
        }
        let lines: String = seen.iter().map(|(c, e)| format!("{c} {e}\n")).collect();
        write_atomically(&self.path, lines.as_bytes()).map_err(store_error)?;
        Ok(true)
    }
}

/// Takes the exclusive lock of `<path>.lock` (made if missing), waiting for
/// another process that holds it; released when the file is dropped.
fn lock_beside(path: &Path) -> Result<std::fs::File, String> {
    let lock_path = beside(path, ".lock");
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
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = beside(path, ".tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ipvm-native-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn the_trust_state_survives_in_a_file_beside_the_key() {
        let key = dir("trust").join("key");
        let settings = KeyFile { path: key.clone() };
        assert_eq!(
            block_on(settings.trust_state()).unwrap(),
            TrustState::default()
        );
        let liar = Ed25519Key::from_seed([7; 32]).did().clone();
        let friend = Ed25519Key::from_seed([8; 32]).did().clone();
        let state = TrustState {
            distrusted: [(
                liar,
                "spot-check of receipt x: mismatch\nsecond line".to_string(),
            )]
            .into(),
            applied: vec![friend],
        };
        block_on(settings.put_trust_state(&state)).unwrap();
        let back = block_on(KeyFile { path: key }.trust_state()).unwrap();
        assert_eq!(back.applied, state.applied);
        assert_eq!(
            back.distrusted.values().next().map(String::as_str),
            Some("spot-check of receipt x: mismatch second line")
        );
    }

    #[test]
    fn a_claim_in_the_seen_file_is_first_once_until_it_expires() {
        let seen = SeenFile {
            path: dir("seen").join("key.seen"),
        };
        let cid = ipvm_core::address::raw_cid(b"an invocation");
        assert!(block_on(seen.claim(&cid, 100, 10)).unwrap());
        assert!(!block_on(seen.claim(&cid, 100, 50)).unwrap());
        // Past its exp, it is forgotten (and may be claimed again).
        assert!(block_on(seen.claim(&cid, 300, 101)).unwrap());
    }
}
