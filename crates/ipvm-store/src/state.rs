//! What a node keeps besides blocks and receipts, in the same file: its
//! trust state ([`SqliteSettings`]; the identity stays in the key file),
//! the invocations it accepted (a claim is one `BEGIN IMMEDIATE`
//! transaction), and the records of its runs ([`SqliteRunLog`]).

use std::cell::RefCell;
use std::time::Instant;

use cid::Cid;
use ipvm_core::runlog::RunRecord;
use ipvm_core::workflow::Workflow;
use ipvm_core::{
    dag_cbor_cid, CoreError, Did, Ed25519Key, Event, RunLog, RunRecords, RunReport,
    SeenInvocations, Settings, TrustState,
};
use rusqlite::{params, OptionalExtension};

use crate::db::SqliteStore;

/// The settings of a node: the identity from `identity` (the key file),
/// the trust state in the store.
pub struct SqliteSettings {
    store: SqliteStore,
    identity: Box<dyn Fn() -> Result<Ed25519Key, CoreError>>,
}

impl SqliteSettings {
    /// Settings in `store`, signing with the key `identity` gives.
    pub fn new(
        store: SqliteStore,
        identity: impl Fn() -> Result<Ed25519Key, CoreError> + 'static,
    ) -> Self {
        Self {
            store,
            identity: Box::new(identity),
        }
    }
}

impl Settings for SqliteSettings {
    type Signer = Ed25519Key;

    async fn identity(&self) -> Result<Ed25519Key, CoreError> {
        (self.identity)()
    }

    async fn trust_state(&self) -> Result<TrustState, CoreError> {
        let (applied, distrusted): (Vec<String>, Vec<(String, String)>) = self.store.read(|c| {
            let applied = c
                .prepare_cached("SELECT did FROM trust_applied ORDER BY position")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let distrusted = c
                .prepare_cached("SELECT did, why FROM trust_distrusted")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok((applied, distrusted))
        })?;
        // A DID this version cannot read is left out, as the key file's
        // `.trust` lines were.
        Ok(TrustState {
            applied: applied.iter().filter_map(|d| Did::parse(d).ok()).collect(),
            distrusted: distrusted
                .into_iter()
                .filter_map(|(d, why)| Some((Did::parse(&d).ok()?, why)))
                .collect(),
        })
    }

    async fn put_trust_state(&self, state: &TrustState) -> Result<(), CoreError> {
        let store = &self.store;
        store.write(|tx| {
            (|| {
                tx.execute("DELETE FROM trust_applied", [])?;
                tx.execute("DELETE FROM trust_distrusted", [])?;
                for (n, did) in state.applied.iter().enumerate() {
                    tx.execute(
                        "INSERT INTO trust_applied (position, did) VALUES (?1, ?2)",
                        params![n as i64, did.to_string()],
                    )?;
                }
                for (did, why) in &state.distrusted {
                    tx.execute(
                        "INSERT INTO trust_distrusted (did, why) VALUES (?1, ?2)",
                        params![did.to_string(), why],
                    )?;
                }
                Ok(())
            })()
            .map_err(|e| store.error(e))
        })
    }
}

/// The claim rule of [`ipvm_core::store::seen::claim_in`], as one
/// transaction: forget what expired before `now`, then add `invocation`
/// unless it is there. The write lock is taken first (`BEGIN IMMEDIATE`),
/// so two processes that claim one invocation cannot both find it new.
impl SeenInvocations for SqliteStore {
    async fn claim(&self, invocation: &Cid, exp: i64, now: i64) -> Result<bool, CoreError> {
        self.write(|tx| {
            (|| {
                tx.execute("DELETE FROM seen WHERE exp < ?1", [now])?;
                let added = tx.execute(
                    "INSERT OR IGNORE INTO seen (invocation, exp) VALUES (?1, ?2)",
                    params![invocation.to_bytes(), exp],
                )?;
                Ok(added == 1)
            })()
            .map_err(|e| self.error(e))
        })
    }
}

/// The statuses and states a record holds, as the core names them.
const NAMES: [&str; 8] = [
    "queued",
    "running",
    "done",
    "reused",
    "failed",
    "skipped",
    "cancelled",
    "unknown",
];

fn name(text: &str) -> &'static str {
    NAMES.into_iter().find(|n| *n == text).unwrap_or("unknown")
}

fn millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The record of one run in a [`SqliteStore`], written as it goes: at
/// most once per the record's own spacing (`RunRecord::write_spacing_ms`)
/// while it runs, and when it ends.
pub struct SqliteRunLog {
    store: SqliteStore,
    run: i64,
    record: RefCell<RunRecord>,
    last_write: RefCell<Instant>,
}

impl SqliteRunLog {
    fn write(&self) {
        let record = self.record.borrow();
        let tasks: String = record
            .tasks
            .iter()
            .map(|(c, s)| format!("{c} {s}\n"))
            .collect();
        // A record that cannot be written is not a failed run: the run's
        // receipts are what counts, and they are written on their own.
        let written = self.store.write(|tx| {
            tx.execute(
                "UPDATE runs SET state = ?2, updated = ?3, tasks = ?4 WHERE run = ?1",
                params![self.run, record.state, millis(), tasks],
            )
            .map(drop)
            .map_err(|e| self.store.error(e))
        });
        if let Err(e) = written {
            eprintln!("cannot write the record of run {}: {e}", record.id);
        }
        *self.last_write.borrow_mut() = Instant::now();
    }
}

impl RunRecords for SqliteStore {
    type Log = SqliteRunLog;

    fn start(&self, workflow: &Workflow) -> Option<SqliteRunLog> {
        let id = dag_cbor_cid(&workflow.to_ipld()).ok()?;
        let record = RunRecord::new(id, workflow.tasks.iter().map(|t| t.run.cid()));
        let tasks: String = record
            .tasks
            .iter()
            .map(|(c, s)| format!("{c} {s}\n"))
            .collect();
        let now = millis();
        let run = self
            .write(|tx| {
                tx.execute(
                    "INSERT INTO runs (workflow, state, started, updated, tasks) VALUES (?1, ?2, ?3, ?3, ?4)",
                    params![id.to_string(), record.state, now, tasks],
                )
                .map_err(|e| self.error(e))?;
                Ok(tx.last_insert_rowid())
            })
            .ok()?;
        Some(SqliteRunLog {
            store: self.clone(),
            run,
            record: RefCell::new(record),
            last_write: RefCell::new(Instant::now()),
        })
    }
}

impl RunLog for SqliteRunLog {
    fn event(&self, event: &Event) {
        let due = {
            let mut record = self.record.borrow_mut();
            record.apply(event)
                && self.last_write.borrow().elapsed().as_secs_f64() * 1000.0
                    >= record.write_spacing_ms()
        };
        if due {
            self.write();
        }
    }

    async fn end(&self, report: &Result<RunReport, CoreError>) {
        self.record.borrow_mut().end(report);
        self.write();
    }
}

impl SqliteStore {
    /// The records of the runs, oldest first. A record whose workflow CID
    /// does not parse is left out; a status this version does not know
    /// reads as `unknown`.
    pub fn run_records(&self) -> Result<Vec<RunRecord>, CoreError> {
        let rows: Vec<(String, String, String)> = self.read(|c| {
            c.prepare_cached("SELECT workflow, state, tasks FROM runs ORDER BY run")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, state, tasks)| {
                let id = ipvm_core::parse_cid(&id).ok()?;
                let tasks: Vec<(Cid, &'static str)> = tasks
                    .lines()
                    .filter_map(|l| {
                        let (c, s) = l.split_once(' ')?;
                        Some((ipvm_core::parse_cid(c).ok()?, name(s)))
                    })
                    .collect();
                let mut record = RunRecord::new(id, tasks.iter().map(|t| t.0));
                record.state = name(&state);
                record.tasks = tasks;
                Some(record)
            })
            .collect())
    }

    /// Whether a seen claim for `invocation` is held (at any time).
    pub fn holds_claim(&self, invocation: &Cid) -> Result<bool, CoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT 1 FROM seen WHERE invocation = ?1",
                [invocation.to_bytes()],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
        })
    }
}
