//! The native runtime's key file: a 32-byte Ed25519 seed as hex, created
//! with permissions 0600 and refused if others may read it (as ssh does).
//! The default path is `$IPVM_KEY`, else `$XDG_CONFIG_HOME/ipvm/key`, else
//! `~/.config/ipvm/key`.

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
/// Returns the key and whether it was created.
pub(crate) fn load_or_create(path: &Path) -> Result<(Ed25519Key, bool), String> {
    match std::fs::metadata(path) {
        Ok(_) => load(path).map(|k| (k, false)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path).map(|k| (k, true)),
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

fn create(path: &Path) -> Result<Ed25519Key, String> {
    let shown = path.display();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    }
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(|e| format!("cannot read randomness for a new key: {e}"))?;
    let key = Ed25519Key::from_seed(seed);
    let hex: String = key.seed().iter().map(|b| format!("{b:02x}")).collect();
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(format!("{hex}\n").as_bytes()))
        .map_err(|e| format!("cannot create key file `{shown}`: {e}"))?;
    Ok(key)
}

/// A random number (for spot-check sampling).
pub(crate) fn random_u64() -> Result<u64, String> {
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| format!("cannot read randomness: {e}"))?;
    Ok(u64::from_le_bytes(b))
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
