//! The native runtime's key file: a 32-byte Ed25519 seed as hex, created
//! with permissions 0600 and refused if others may read it (as ssh does).
//! The default path is `$IPVM_KEY`, else `$XDG_CONFIG_HOME/ipvm/key`, else
//! `~/.config/ipvm/key`.
//!
//! A new key file appears whole or not at all: it is written to a temporary
//! file beside it, then hard-linked to its name, which fails if the name
//! exists. Of processes that find the key missing at once, one links its
//! key and the others read that one (none fails, none reads a half-written
//! file, and all sign as one identity).

use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ipvm_core::Ed25519Key;

/// Where the key lives when `--key` is not given.
pub(crate) fn default_path() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("IPVM_KEY") {
        return Ok(PathBuf::from(p));
    }
    let config = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(c) => PathBuf::from(c),
        None => PathBuf::from(
            std::env::var_os("HOME").ok_or("no key path: set IPVM_KEY, or give --key FILE")?,
        )
        .join(".config"),
    };
    Ok(config.join("ipvm").join("key"))
}

/// Reads the key at `path`, creating it first if it does not exist.
/// Returns the key and whether it was created (by this call: a key another
/// process created meanwhile is read, not created).
pub(crate) fn load_or_create(path: &Path) -> Result<(Ed25519Key, bool), String> {
    match std::fs::metadata(path) {
        Ok(_) => load(path).map(|k| (k, false)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match create(path)? {
            Some(key) => Ok((key, true)),
            None => load(path).map(|k| (k, false)),
        },
        Err(e) => Err(format!("key file `{}`: {e}", path.display())),
    }
}

fn load(path: &Path) -> Result<Ed25519Key, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("key file `{shown}`: {e}"))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "key file `{shown}` may be read by others (mode {mode:o}); run `chmod 600 {shown}`"
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("key file `{shown}`: {e}"))?;
    let seed = parse_hex(text.trim()).ok_or_else(|| {
        format!("key file `{shown}` does not hold a key (64 hex digits: an Ed25519 seed)")
    })?;
    Ok(Ed25519Key::from_seed(seed))
}

/// Creates a new key at `path`; `None` if another process created one
/// first (then that one is the key).
fn create(path: &Path) -> Result<Option<Ed25519Key>, String> {
    let shown = path.display();
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
            dir
        }
        None => Path::new("."),
    };
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(|e| format!("cannot read randomness for a new key: {e}"))?;
    let key = Ed25519Key::from_seed(seed);
    let hex: String = key.seed().iter().map(|b| format!("{b:02x}")).collect();
    // The whole key, on disk, under a name no other process uses.
    let temporary = temporary_beside(path)?;
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut f| {
            f.write_all(format!("{hex}\n").as_bytes())?;
            f.sync_all()
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(format!("cannot create key file `{shown}`: {e}"));
    }
    // Then its name: a link is made whole, and never over an existing file.
    let linked = std::fs::hard_link(&temporary, path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            // The new name survives a crash too.
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
            Ok(Some(key))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
        Err(e) => Err(format!("cannot create key file `{shown}`: {e}")),
    }
}

/// A name beside `path` for a file being written: `.<name>.<pid>.<random>.tmp`.
fn temporary_beside(path: &Path) -> Result<PathBuf, String> {
    let name = path
        .file_name()
        .ok_or_else(|| format!("key file `{}`: not a file name", path.display()))?;
    let mut temporary = std::ffi::OsString::from(".");
    temporary.push(name);
    temporary.push(format!(".{}.{:x}.tmp", std::process::id(), random_u64()?));
    Ok(path.with_file_name(temporary))
}

/// A random number (for spot-check sampling).
pub(crate) fn random_u64() -> Result<u64, String> {
    Ok(u64::from_le_bytes(random::<8>()?))
}

/// `N` bytes from the system's randomness.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], String> {
    let mut b = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| format!("cannot read randomness: {e}"))?;
    Ok(b)
}

fn parse_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system's temporary one.
    fn fresh_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ipvm-key-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn callers_racing_to_create_a_key_all_get_the_one_created() {
        let dir = fresh_dir("race");
        // Several rounds: each a fresh key file, eight threads let go at once.
        for round in 0..20 {
            let path = dir.join(round.to_string()).join("key");
            let start = std::sync::Barrier::new(8);
            let results: Vec<(Ed25519Key, bool)> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..8)
                    .map(|_| {
                        scope.spawn(|| {
                            start.wait();
                            load_or_create(&path)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("joined").expect("a key"))
                    .collect()
            });
            assert_eq!(results.iter().filter(|(_, created)| *created).count(), 1);
            let first = results[0].0.seed();
            assert!(results.iter().all(|(k, _)| k.seed() == first));
            assert_eq!(load(&path).expect("the key").seed(), first);
            let mode = std::fs::metadata(&path)
                .expect("the file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            // No temporary file is left beside it.
            let names: Vec<_> = std::fs::read_dir(path.parent().expect("a parent"))
                .expect("the directory")
                .map(|e| e.expect("an entry").file_name())
                .collect();
            assert_eq!(names, vec![std::ffi::OsString::from("key")]);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_key_file_others_may_read_is_refused() {
        let dir = fresh_dir("mode");
        let path = dir.join("key");
        let (key, created) = load_or_create(&path).expect("a new key");
        assert!(created);
        let (again, created) = load_or_create(&path).expect("the key");
        assert!(!created);
        assert_eq!(again.seed(), key.seed());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = load_or_create(&path).err().expect("refused");
        assert!(err.contains("may be read by others"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
