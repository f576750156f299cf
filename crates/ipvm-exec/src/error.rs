//! The error type of the executor. Each variant becomes the error value of a
//! receipt (`{"kind": ..., "message": ...}`), so messages are for users.

use std::collections::BTreeMap;

use ipvm_core::Ipld;

/// Why a task did not produce a value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExecError {
    /// The module's bytes are not in the store.
    #[error("module {0} is not in the store; add it before running the workflow")]
    ModuleMissing(String),
    /// The content of a link argument is not in the store (or not all of it).
    #[error("argument {index}: the content of {cid} is not in the store ({reason}); add it before running the workflow")]
    InputMissing {
        /// Argument index.
        index: usize,
        /// The link.
        cid: String,
        /// What is missing.
        reason: String,
    },
    /// The store failed while the task read its module or inputs.
    #[error("the store failed while reading {what}: {reason}")]
    Store {
        /// What was being read.
        what: String,
        /// The store's message.
        reason: String,
    },
    /// The worker that ran the task failed (it could not load, it crashed).
    #[error("the worker failed: {0}")]
    Worker(String),
    /// The module is not valid WebAssembly.
    #[error("module {cid} does not compile: {reason}")]
    Compile {
        /// Module CID.
        cid: String,
        /// The validator's message.
        reason: String,
    },
    /// The module imports something the runtime does not provide.
    #[error("module imports `{0}`, which this runtime does not provide")]
    UnknownImport(String),
    /// Instantiation failed for another reason.
    #[error("module cannot be instantiated: {0}")]
    Instantiate(String),
    /// No export matches the function name.
    #[error("function `{func}` is not exported by the module (tried {tried}){exports}")]
    NoSuchFunction {
        /// The name asked for.
        func: String,
        /// The spellings tried.
        tried: String,
        /// What the module does export, and the nearest name (see
        /// [`exports_hint`]); empty where the exports are not known.
        exports: String,
    },
    /// An argument does not fit the parameter type.
    #[error("argument {index}: {reason}")]
    Argument {
        /// Argument index.
        index: usize,
        /// Why it does not fit.
        reason: String,
    },
    /// The function's signature uses types this shape of module cannot carry.
    #[error("function `{func}` has an unsupported signature: {reason}")]
    Signature {
        /// Function name.
        func: String,
        /// What is unsupported.
        reason: String,
    },
    /// The fuel limit was reached.
    #[error("out of fuel after {used} units (limit {limit})")]
    OutOfFuel {
        /// Fuel used.
        used: u64,
        /// The limit.
        limit: u64,
    },
    /// Memory growth beyond `meta.memory`.
    #[error("memory limit of {limit} bytes exceeded")]
    MemoryLimit {
        /// The limit, in bytes.
        limit: u64,
    },
    /// Recursion deeper than the engine allows.
    #[error("stack overflow (recursion too deep)")]
    StackOverflow,
    /// Wall-clock time beyond `meta.time`.
    #[error("time limit of {limit_ms} ms exceeded")]
    TimeLimit {
        /// The limit, in milliseconds.
        limit_ms: u64,
    },
    /// The guest trapped.
    #[error("trap: {0}")]
    Trap(String),
    /// Values could not cross the canonical ABI (a bad pointer from
    /// `cabi_realloc`, invalid UTF-8, a result IPLD cannot hold).
    #[error("canonical ABI: {0}")]
    Abi(String),
    /// The function returned more than the runtime accepts.
    #[error("output of {bytes} bytes exceeds the limit of {limit} bytes")]
    OutputTooLarge {
        /// Size of the output.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The task was cancelled while it ran (its run was aborted). Such an
    /// outcome is never stored as a receipt.
    #[error("the task was cancelled")]
    Cancelled,
    /// The engine ended the call in a way it cannot map to the error every
    /// engine gives (the browser engine's own stack overflow, a trap message
    /// it does not know). The executor runs the task again on the reference
    /// engine; this never becomes a receipt.
    #[error("inconclusive on this engine: {0}")]
    Inconclusive(String),
}

/// A trap of the guest, named the same way by every engine
/// (`docs/spec.md` §8, "Fuel"): the message of a `trap` error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trap {
    /// `unreachable` ran.
    Unreachable,
    /// A load, a store or a bulk memory operation outside memory.
    MemoryOutOfBounds,
    /// A table access outside the table (`call_indirect` included).
    TableOutOfBounds,
    /// `call_indirect` to a null entry, or with another signature.
    IndirectCall,
    /// Integer division or remainder by zero.
    DivisionByZero,
    /// Signed division overflow.
    IntegerOverflow,
    /// A float that does not convert to the integer type.
    BadConversion,
}

impl Trap {
    /// The error a trap ends a task with.
    pub fn error(self) -> ExecError {
        ExecError::Trap(
            match self {
                Trap::Unreachable => "unreachable instruction executed",
                Trap::MemoryOutOfBounds => "out of bounds memory access",
                Trap::TableOutOfBounds => "out of bounds table access",
                Trap::IndirectCall => "indirect call to a null entry or of another signature",
                Trap::DivisionByZero => "integer division by zero",
                Trap::IntegerOverflow => "integer overflow",
                Trap::BadConversion => "invalid conversion to integer",
            }
            .into(),
        )
    }
}

impl ExecError {
    /// A stable machine-readable kind.
    pub fn kind(&self) -> &'static str {
        match self {
            ExecError::ModuleMissing(_) => "module_missing",
            ExecError::InputMissing { .. } => "input_missing",
            ExecError::Store { .. } => "store",
            ExecError::Worker(_) => "worker",
            ExecError::Compile { .. } => "compile",
            ExecError::UnknownImport(_) => "unknown_import",
            ExecError::Instantiate(_) => "instantiate",
            ExecError::NoSuchFunction { .. } => "no_such_function",
            ExecError::Argument { .. } => "argument",
            ExecError::Signature { .. } => "signature",
            ExecError::OutOfFuel { .. } => "out_of_fuel",
            ExecError::MemoryLimit { .. } => "memory_limit",
            ExecError::StackOverflow => "stack_overflow",
            ExecError::TimeLimit { .. } => "time_limit",
            ExecError::Trap(_) => "trap",
            ExecError::Abi(_) => "abi",
            ExecError::OutputTooLarge { .. } => "output_too_large",
            ExecError::Cancelled => "cancelled",
            ExecError::Inconclusive(_) => "inconclusive",
        }
    }

    /// The limit that caused this error, if it is a limit error. Receipts of
    /// such errors are kept but never reused as memo hits.
    pub fn limit(&self) -> Option<&'static str> {
        match self {
            ExecError::OutOfFuel { .. } => Some("fuel"),
            ExecError::MemoryLimit { .. } => Some("memory"),
            ExecError::StackOverflow => Some("stack"),
            ExecError::TimeLimit { .. } => Some("time"),
            _ => None,
        }
    }

    /// The error as a receipt's error value: `{"kind", "message"}`.
    pub fn to_ipld(&self) -> Ipld {
        Ipld::Map(BTreeMap::from([
            ("kind".to_string(), Ipld::String(self.kind().into())),
            ("message".to_string(), Ipld::String(self.to_string())),
        ]))
    }
}

/// How many export names a `no_such_function` message lists.
const LISTED_EXPORTS: usize = 24;

/// The end of a `no_such_function` message: the functions the module
/// exports, and the one nearest to `func` (by edit distance, ignoring case,
/// `-` and `_`), e.g. "; it exports `add_one`, `add_two` (nearest:
/// `add_one`)".
pub(crate) fn exports_hint<'a>(func: &str, exports: impl IntoIterator<Item = &'a str>) -> String {
    let mut names: Vec<&str> = exports.into_iter().collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        return "; it exports no function".into();
    }
    let fold = |s: &str| -> Vec<char> {
        s.chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let wanted = fold(func);
    let nearest = names
        .iter()
        .min_by_key(|n| (edit_distance(&wanted, &fold(n)), n.len()))
        .copied()
        .unwrap_or_default();
    let mut listed: Vec<String> = names
        .iter()
        .take(LISTED_EXPORTS)
        .map(|n| format!("`{n}`"))
        .collect();
    if names.len() > LISTED_EXPORTS {
        listed.push(format!("and {} more", names.len() - LISTED_EXPORTS));
    }
    format!("; it exports {} (nearest: `{nearest}`)", listed.join(", "))
}

/// Levenshtein distance between two strings of chars.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::exports_hint;

    #[test]
    fn the_hint_lists_the_exports_and_the_nearest_ignoring_case_and_separators() {
        let hint = exports_hint("AddOne", ["sub_two", "add_one", "add_two", "add_one"]);
        assert_eq!(
            hint,
            "; it exports `add_one`, `add_two`, `sub_two` (nearest: `add_one`)"
        );
        assert_eq!(exports_hint("f", []), "; it exports no function");
        let many: Vec<String> = (0..30).map(|i| format!("f{i:02}")).collect();
        let hint = exports_hint("f29x", many.iter().map(String::as_str));
        assert!(
            hint.contains("`f23`, and 6 more (nearest: `f29`)"),
            "{hint}"
        );
    }
}
