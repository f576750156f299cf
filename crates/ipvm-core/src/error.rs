//! The error type of the core crate. Every message names what was wrong and,
//! where a task is involved, which task (by index) and which field.

use ipld_core::cid::Cid;

/// A workflow that failed validation. `task` is the index in `tasks`, `field`
/// is a dotted path inside that task (e.g. `run.input.args[1]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("task {task}: field `{field}`: {reason}")]
pub struct ValidationError {
    /// Index of the offending task in the workflow's `tasks` list.
    pub task: usize,
    /// Dotted path of the offending field inside that task.
    pub field: String,
    /// What is wrong, in words a user can act on.
    pub reason: String,
}

impl ValidationError {
    pub(crate) fn new(task: usize, field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            task,
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<ValidationError> for CoreError {
    fn from(e: ValidationError) -> Self {
        CoreError::Invalid(Box::new(e))
    }
}

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A document (workflow, instruction, receipt) is not valid DAG-JSON / DAG-CBOR.
    #[error("not valid {format}: {reason}")]
    Decode {
        /// `DAG-JSON` or `DAG-CBOR`.
        format: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// The workflow's top level is not `{"tasks": [...]}`.
    #[error("workflow: {0}")]
    Shape(String),
    /// A task is malformed (see [`ValidationError`]).
    #[error(transparent)]
    Invalid(#[from] Box<ValidationError>),
    /// A string that should be a CID is not one.
    #[error("`{input}` is not a valid CID: {reason}")]
    BadCid {
        /// The text given.
        input: String,
        /// Why it does not parse.
        reason: String,
    },
    /// Encoding a value as DAG-CBOR failed.
    #[error("cannot encode as DAG-CBOR: {0}")]
    Encode(String),
    /// Bytes given for a CID do not hash to it.
    #[error("block {cid}: bytes do not match the CID (got {actual})")]
    HashMismatch {
        /// The CID the bytes were stored or fetched under.
        cid: Box<Cid>,
        /// The CID the bytes really have.
        actual: Box<Cid>,
    },
    /// A block that is needed is not in the store.
    #[error("block {0} is not in the store; add it first (e.g. `ipvm run --add FILE`)")]
    MissingBlock(Box<Cid>),
    /// A block that is needed could not be had from the peers.
    #[error("block {cid} could not be fetched from the peers: {reason}")]
    Fetch {
        /// The block.
        cid: Box<Cid>,
        /// Why: no peer gave it in time, the network is down.
        reason: String,
    },
    /// A UnixFS node could not be read.
    #[error("block {cid} is not a readable UnixFS file: {reason}")]
    UnixFs {
        /// The node.
        cid: Box<Cid>,
        /// What is wrong with it.
        reason: String,
    },
    /// A file is larger than a read may produce.
    #[error("file {cid} is larger than the {limit} bytes this read may produce")]
    TooLarge {
        /// The file.
        cid: Box<Cid>,
        /// The most bytes the read could produce.
        limit: u64,
    },
    /// The storage backend failed.
    #[error("store: {0}")]
    Store(String),
    /// The storage quota is exhausted; nothing was written.
    #[error("storage quota exceeded: {0}. What was stored before is intact; free space in this site's storage (other databases, caches) and retry")]
    QuotaExceeded(String),
    /// Storage cannot be used here (blocked by the browser, e.g. some private modes).
    #[error("storage unavailable: {0}. The browser blocks storage for this site (private browsing, or cookies and site data blocked); allow it, or open the runtime with `storage: \"memory\"`")]
    StorageUnavailable(String),
    /// Another tab holds the database at a different schema version.
    #[error("storage version conflict: {0}. Close other tabs of this app, then reload")]
    VersionConflict(String),
    /// The run was cancelled through its [`crate::CancelToken`].
    #[error("run cancelled")]
    Cancelled,
    /// A task awaits an instruction whose receipt this runtime does not vouch for (`verify`
    /// re-runs only on trusted inputs): verify that receipt first.
    #[error("the task awaits {0}, which has no receipt this runtime vouches for; verify that receipt first")]
    UntrustedInput(Box<Cid>),
}
