//! The node's capabilities for the core's runtime: the native store
//! (`ipvm-store`, one SQLite file) for blocks, receipts, the trust state,
//! the invocations accepted and the records of runs; the identity in the
//! key file (`key.rs`).
//!
//! Where the store is: `--store DIR`, else `$XDG_DATA_HOME/ipvm`, else
//! `~/.local/share/ipvm`; `--memory` keeps it in memory for the one
//! command. A replay claim is one transaction of the store, so of
//! concurrent runs of one invocation exactly one runs it. The processes of
//! a store on disk share its instruction locks (`lock.rs`: a file lock per
//! instruction in `<store>/locks`), so of concurrent runs of one workflow
//! each instruction runs once; `--memory` takes no lock.
//!
//! Before the store, the CLI kept its trust state in `<key>.trust` (a line
//! each: `applied DID` or `distrusted DID WHY`) and its seen-set in
//! `<key>.seen`. A `<key>.trust` is carried into a store on disk once, if
//! that store has no trust state yet, then renamed `<key>.trust.imported`.
//! A `<key>.seen` is no longer read.

use std::path::{Path, PathBuf};

use ipvm_core::{CoreError, Did, Runtime, Settings, TrustState, Uncoordinated};
use ipvm_store::{SqliteSettings, SqliteStore};

use crate::engines::{EngineChoice, NodeExecutor, CACHE_DIR};
use crate::key;
use crate::lock::FileLocks;

/// The node's runtime: the native store, the executor on wasmtime and wasmi
/// (`engines.rs`), the key file,
/// the store's file locks (nothing to announce to: a process that waits for
/// a lock polls it, and looks in the store once it has it).
pub(crate) type NodeRuntime = Runtime<
    SqliteStore,
    NodeExecutor,
    SqliteSettings,
    SqliteStore,
    SqliteStore,
    FileLocks,
    Uncoordinated,
>;

/// Where a command keeps what it stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Place {
    /// The user's store: `$XDG_DATA_HOME/ipvm`, else `~/.local/share/ipvm`.
    Default,
    /// `--store DIR`.
    Dir(PathBuf),
    /// `--memory`: nothing outlives the command.
    Memory,
}

/// The default store's directory.
pub(crate) fn default_dir() -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("ipvm"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or("no store path: set XDG_DATA_HOME, or give --store DIR or --memory")?;
    Ok(PathBuf::from(home).join(".local/share/ipvm"))
}

/// Opens the store `place` names.
pub(crate) fn open_store(place: &Place) -> Result<SqliteStore, String> {
    match place {
        Place::Memory => SqliteStore::open_in_memory(),
        Place::Dir(dir) => SqliteStore::open(dir),
        Place::Default => SqliteStore::open(&default_dir()?),
    }
    .map_err(|e| e.to_string())
}

/// A runtime for the key at `key` (created on first use) over the store
/// `place` names, its tasks on `engine` (wasmtime's compiled code cached
/// beside a store on disk).
pub(crate) fn runtime(
    key: &Path,
    place: &Place,
    engine: EngineChoice,
) -> Result<NodeRuntime, String> {
    runtime_over(open_store(place)?, key, place, engine)
}

/// [`runtime`] over a store already open (`ipvm node`'s, shared by its
/// runtimes and its peer).
pub(crate) fn runtime_over(
    store: SqliteStore,
    key: &Path,
    place: &Place,
    engine: EngineChoice,
) -> Result<NodeRuntime, String> {
    let settings = settings(store.clone(), key);
    if *place != Place::Memory {
        carry_over_trust_file(&settings, key)?;
    }
    let locks = match store.path().parent() {
        Some(dir) if *place != Place::Memory => FileLocks::in_dir(dir.join("locks")),
        _ => FileLocks::none(),
    };
    let cache = match store.path().parent() {
        Some(dir) if *place != Place::Memory => Some(dir.join(CACHE_DIR)),
        _ => None,
    };
    let executor = NodeExecutor::new(store.clone(), engine, cache.as_deref())?;
    Ok(Runtime::new(store.clone(), executor, settings)
        .with_seen(store.clone())
        .with_runs(store)
        .with_coordination(locks, Uncoordinated))
}

/// The trust state in `store`, the identity from the key file.
fn settings(store: SqliteStore, key: &Path) -> SqliteSettings {
    let path = key.to_path_buf();
    SqliteSettings::new(store, move || {
        let (signer, created) = key::load_or_create(&path).map_err(CoreError::Store)?;
        if created {
            eprintln!("created key {} ({})", path.display(), signer.did());
        }
        Ok(signer)
    })
}

/// `path` with `suffix` appended to its file name.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Reads the lines of a `<key>.trust` file; a line this version does not
/// know is left out.
fn parse_trust_lines(text: &str) -> TrustState {
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
            _ => {}
        }
    }
    state
}

/// Moves the trust state of a `<key>.trust` file (the CLI before the store)
/// into the store, once: its distrusted signers join the store's (a distrust
/// the store already has keeps its reason), its `applied` set is taken only
/// if the store has none; then the file is renamed `<key>.trust.imported`.
fn carry_over_trust_file(settings: &SqliteSettings, key: &Path) -> Result<(), String> {
    use futures::executor::block_on;
    let file = beside(key, ".trust");
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot read `{}`: {e}", file.display())),
    };
    let old = parse_trust_lines(&text);
    let mut state = block_on(settings.trust_state()).map_err(|e| e.to_string())?;
    let before = state.clone();
    for (did, why) in old.distrusted {
        state.distrusted.entry(did).or_insert(why);
    }
    if state.applied.is_empty() {
        state.applied = old.applied;
    }
    if state != before {
        block_on(settings.put_trust_state(&state)).map_err(|e| e.to_string())?;
    }
    let renamed = beside(key, ".trust.imported");
    std::fs::rename(&file, &renamed)
        .map_err(|e| format!("cannot rename `{}`: {e}", file.display()))?;
    eprintln!(
        "carried the trust state of `{}` into the store ({} distrusted now); the file is now `{}`",
        file.display(),
        state.distrusted.len(),
        renamed.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use ipvm_core::Ed25519Key;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ipvm-native-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_trust_file_beside_the_key_is_carried_into_the_store_once() {
        let d = dir("carry");
        let key = d.join("key");
        let liar = Ed25519Key::from_seed([7; 32]).did().clone();
        let friend = Ed25519Key::from_seed([8; 32]).did().clone();
        std::fs::write(
            beside(&key, ".trust"),
            format!("applied {friend}\ndistrusted {liar} spot-check of x: mismatch\nnonsense\n"),
        )
        .unwrap();
        let place = Place::Dir(d.join("store"));
        let rt = runtime(&key, &place, EngineChoice::Auto).unwrap();
        let state = block_on(rt.settings().trust_state()).unwrap();
        assert_eq!(state.applied, vec![friend]);
        assert_eq!(
            state.distrusted.get(&liar).map(String::as_str),
            Some("spot-check of x: mismatch")
        );
        assert!(!beside(&key, ".trust").exists());
        assert!(beside(&key, ".trust.imported").exists());
        // Once: the file is gone, and a later one only adds its distrust.
        let other = Ed25519Key::from_seed([9; 32]).did().clone();
        std::fs::write(
            beside(&key, ".trust"),
            format!("applied {other}\ndistrusted {liar} another reason\ndistrusted {other} why\n"),
        )
        .unwrap();
        let rt = runtime(&key, &place, EngineChoice::Auto).unwrap();
        let again = block_on(rt.settings().trust_state()).unwrap();
        assert_eq!(again.applied, state.applied);
        assert_eq!(again.distrusted.len(), 2);
        assert_eq!(again.distrusted[&liar], state.distrusted[&liar]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_memory_store_leaves_the_trust_file_alone() {
        let d = dir("memory");
        let key = d.join("key");
        std::fs::write(beside(&key, ".trust"), "").unwrap();
        runtime(&key, &Place::Memory, EngineChoice::Auto).unwrap();
        assert!(beside(&key, ".trust").exists());
        let _ = std::fs::remove_dir_all(&d);
    }
}
