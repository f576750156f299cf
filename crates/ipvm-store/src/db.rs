//! Opening the database: the file, its pragmas, its schema, and the one
//! handle type ([`SqliteStore`]) that every capability is implemented on.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ipvm_core::CoreError;
use rusqlite::{Connection, Transaction, TransactionBehavior};

/// The file inside a store's directory.
pub const FILE_NAME: &str = "ipvm.sqlite";

/// How long a write waits for another process's write before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The schema's version, kept in `PRAGMA user_version`. Version 1 kept a
/// row's inputs and envelopes in tables of their own, a memo index beside
/// the instruction index, and `stored` as a counter with an index of its
/// own; a version-1 file is carried to version 2 when opened
/// (`migrate.rs`).
pub(crate) const SCHEMA_VERSION: i64 = 2;

/// The tables. CIDs are kept as their binary form. Each receipt write
/// touches as few B-trees as its indexes need (every page a write touches
/// is written again to the write-ahead log, and once more by the next
/// checkpoint): the row itself (appended, in `stored` order), its key
/// (`cid`), the instruction index, and one entry per input and per signer
/// in the reverse indexes. A row's inputs and envelopes are in the row, in
/// their order; `receipt_inputs` and `receipt_signers` only find rows.
/// `stored` is the row's place in the store's order: each write of a row
/// takes the next rowid (`INTEGER PRIMARY KEY`, assigned on insert). The
/// memo reads the instruction index and keeps the reusable rows (an
/// instruction has few rows: a partial index of its own would cost a page
/// per write and save nothing).
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS blocks (cid BLOB PRIMARY KEY, bytes BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS aliases (alias BLOB PRIMARY KEY, root BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS metered (key TEXT PRIMARY KEY, cid BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS receipts (
    stored INTEGER PRIMARY KEY,
    cid BLOB NOT NULL UNIQUE,
    instruction BLOB NOT NULL,
    provenance TEXT NOT NULL,
    reusable INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    invocation BLOB,
    vouched INTEGER NOT NULL,
    inputs BLOB NOT NULL,
    envelopes BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS receipts_by_instruction ON receipts (instruction, cid);
CREATE TABLE IF NOT EXISTS receipt_inputs (
    input BLOB NOT NULL, receipt BLOB NOT NULL, PRIMARY KEY (input, receipt)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS receipt_signers (
    signer TEXT NOT NULL, receipt BLOB NOT NULL, PRIMARY KEY (signer, receipt)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trust_applied (position INTEGER PRIMARY KEY, did TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trust_distrusted (did TEXT PRIMARY KEY, why TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seen (invocation BLOB PRIMARY KEY, exp INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_by_exp ON seen (exp);
CREATE TABLE IF NOT EXISTS runs (
    run INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow TEXT NOT NULL,
    state TEXT NOT NULL,
    started INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    tasks TEXT NOT NULL
);
";

/// What went wrong with the database, with the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory could not be made.
    #[error("cannot create the store directory `{path}`: {source}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// SQLite refused.
    #[error("store `{path}`: {message}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's message.
        message: String,
    },
    /// The file was written by a newer version.
    #[error("store `{path}` has schema {found}, newer than this version's {SCHEMA_VERSION}: upgrade ipvm")]
    Newer {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
    },
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        CoreError::Store(e.to_string())
    }
}

/// A handle on a store: one connection to its file. Clones share the
/// connection; [`SqliteStore::open`] again opens another (as another
/// process would).
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: Arc<PathBuf>,
}

/// What a store holds, for `ipvm store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The database file.
    pub path: PathBuf,
    /// Receipts by provenance name, in the order of `Provenance::ALL`.
    pub receipts: Vec<(String, u64)>,
    /// How many blocks.
    pub blocks: u64,
    /// The bytes of the blocks.
    pub block_bytes: u64,
    /// The bytes of the receipts (their DAG-CBOR).
    pub receipt_bytes: u64,
    /// The file's size on disk (without the write-ahead log).
    pub file_bytes: u64,
    /// How many run records.
    pub runs: u64,
    /// How many seen claims.
    pub seen: u64,
}

impl SqliteStore {
    /// Opens (creating if missing) the store in `dir`: its file, WAL mode,
    /// the busy timeout, and the schema.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Directory {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let conn = Connection::open(&path).map_err(|e| StoreError::Sqlite {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Self::prepare(conn, path)
    }

    /// A store in memory, gone when its last handle is dropped (`ipvm
    /// --memory`): the same tables and rules, nothing on disk.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|e| StoreError::Sqlite {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Self::prepare(conn, path)
    }

    /// The pragmas and the schema on a new connection.
    fn prepare(mut conn: Connection, path: PathBuf) -> Result<Self, StoreError> {
        let sql = |e: rusqlite::Error| StoreError::Sqlite {
            path: path.clone(),
            message: e.to_string(),
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
        // WAL: readers never block the writer, nor it them; NORMAL
        // synchronisation is durable against a killed process (the log is
        // replayed), and loses at most the last commits in a power cut.
        // (A database in memory stays in its `memory` journal mode.)
        //
        // Turning a new file to WAL takes its exclusive lock, and SQLite
        // answers a process that races another one here with "database is
        // locked" at once, without its busy timeout (a lock upgrade it
        // declines to wait for): so it is tried again, for as long as the
        // busy timeout.
        let started = std::time::Instant::now();
        loop {
            match conn.pragma_update(None, "journal_mode", "WAL") {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
                        && started.elapsed() < BUSY_TIMEOUT =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                other => break other.map_err(sql)?,
            }
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        // The version is read under the write lock: processes that open a
        // new file at once create its schema once, one after the other.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let found: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sql)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::Newer { path, found });
        }
        if found < SCHEMA_VERSION {
            if found == 1 {
                crate::migrate::from_v1(&tx).map_err(sql)?;
            }
            tx.execute_batch(SCHEMA).map_err(sql)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: Arc::new(path),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The error for a failure of SQLite.
    pub(crate) fn error(&self, e: rusqlite::Error) -> CoreError {
        StoreError::Sqlite {
            path: self.path.to_path_buf(),
            message: e.to_string(),
        }
        .into()
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, CoreError> {
        self.conn
            .lock()
            .map_err(|_| CoreError::Store("the store's connection lock is poisoned".into()))
    }

    /// Runs `f` on the connection (reads).
    pub(crate) fn read<R>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R>,
    ) -> Result<R, CoreError> {
        let conn = self.lock()?;
        f(&conn).map_err(|e| self.error(e))
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction: it holds the write
    /// lock from the start, and commits only if `f` succeeds.
    pub(crate) fn write<R>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<R, CoreError>,
    ) -> Result<R, CoreError> {
        let mut conn = self.lock()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.error(e))?;
        let out = f(&tx)?;
        tx.commit().map_err(|e| self.error(e))?;
        Ok(out)
    }

    /// What the store holds.
    pub fn summary(&self) -> Result<Summary, CoreError> {
        let path = self.path.to_path_buf();
        let file_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        self.read(|c| {
            let count = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0));
            let mut receipts = Vec::new();
            for p in ipvm_core::Provenance::ALL {
                let n: i64 = c.query_row(
                    "SELECT COUNT(*) FROM receipts WHERE provenance = ?1",
                    [p.as_str()],
                    |r| r.get(0),
                )?;
                receipts.push((p.as_str().to_string(), n as u64));
            }
            Ok(Summary {
                path,
                receipts,
                blocks: count("SELECT COUNT(*) FROM blocks")? as u64,
                block_bytes: count("SELECT COALESCE(SUM(LENGTH(bytes)), 0) FROM blocks")? as u64,
                receipt_bytes: count("SELECT COALESCE(SUM(LENGTH(bytes)), 0) FROM receipts")?
                    as u64,
                file_bytes,
                runs: count("SELECT COUNT(*) FROM runs")? as u64,
                seen: count("SELECT COUNT(*) FROM seen")? as u64,
            })
        })
    }
}
