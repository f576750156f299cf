//! A task's limits (`meta`: fuel, memory, time): what was asked, read
//! strictly from a workflow, and what is in force once clamped to the host's
//! maximums (docs/spec.md §8, "Limits" and "Host maximums").

use std::collections::BTreeMap;

use ipld_core::ipld::Ipld;

use crate::model::awaits::kind_name;
use crate::model::workflow::{expect_map, reject_unknown};
use crate::{CoreError, ValidationError};

/// Limits of one task, from its `meta`. `None` means "the runtime's default",
/// except for fuel, where `None` means "no limit" (see [`Limits::fuel`]).
/// The limits *in force* ([`Limits::fuel_budget`], [`Limits::memory_bytes`],
/// [`Limits::time_ms`]) are clamped to the host's maximums, the same on every
/// platform; the values asked for stay in the invocation (and its CID)
/// unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Fuel (wasmi charges one unit per Wasm instruction, roughly). A value at
    /// or above 2^64-1 (JavaScript prints it as 18446744073709552000) and a
    /// missing key both mean no limit.
    pub fuel: Option<u64>,
    /// Maximum linear memory, in bytes. Missing: [`Limits::DEFAULT_MEMORY`].
    pub memory: Option<u64>,
    /// Maximum wall-clock time, in milliseconds. Missing: [`Limits::DEFAULT_TIME_MS`].
    pub time: Option<u64>,
}

impl Limits {
    /// Default memory limit: 256 MiB.
    pub const DEFAULT_MEMORY: u64 = 256 * 1024 * 1024;
    /// Default time limit: 100 s (Homestar's default).
    pub const DEFAULT_TIME_MS: u64 = 100_000;
    /// The most fuel a task may use, whatever it asks for ("no limit"
    /// included): 10^12 units, hours of wasmi, far past the time maximum.
    pub const MAX_FUEL: u64 = 1_000_000_000_000;
    /// The most linear memory a task may have: 1 GiB. Homestar's fixtures
    /// ask for 4 GiB; they run, clamped. (A tab's own Wasm memory is 32-bit,
    /// and the guest lives inside it.)
    pub const MAX_MEMORY: u64 = 1024 * 1024 * 1024;
    /// The longest a task may run: 1 hour (far below the 2^31 − 1 ms a
    /// browser timer can hold).
    pub const MAX_TIME_MS: u64 = 3_600_000;

    /// The fuel in force: the limit asked for (none: [`Limits::MAX_FUEL`]),
    /// at most [`Limits::MAX_FUEL`].
    pub fn fuel_budget(&self) -> u64 {
        self.fuel.unwrap_or(Self::MAX_FUEL).min(Self::MAX_FUEL)
    }

    /// Reads limits back from IPLD `{fuel?, memory?, time?}`.
    pub fn from_ipld(meta: &Ipld) -> Result<Self, CoreError> {
        Ok(parse_limits(0, meta)?)
    }

    /// The memory limit in force: the limit asked for (none:
    /// [`Limits::DEFAULT_MEMORY`]), at most [`Limits::MAX_MEMORY`].
    pub fn memory_bytes(&self) -> u64 {
        self.memory
            .unwrap_or(Self::DEFAULT_MEMORY)
            .min(Self::MAX_MEMORY)
    }

    /// The time limit in force, in milliseconds: the limit asked for (none:
    /// [`Limits::DEFAULT_TIME_MS`]), at most [`Limits::MAX_TIME_MS`].
    pub fn time_ms(&self) -> u64 {
        self.time
            .unwrap_or(Self::DEFAULT_TIME_MS)
            .min(Self::MAX_TIME_MS)
    }

    /// The limits a re-run that checks a receipt of this task uses
    /// (`verify`, spot-checks): the task's own fuel and memory, which are
    /// deterministic (a receipt that does not hold under them is wrong), and
    /// a time limit no smaller than this runtime's default for a task
    /// ([`Limits::DEFAULT_TIME_MS`]), whatever the invocation asks for. Time
    /// is the one limit whose failure proves nothing (`time_limit` is
    /// non-deterministic), so a signer must not be able to choose a tiny one
    /// to make every check of its receipt fail.
    pub fn for_check(self) -> Self {
        Self {
            time: Some(self.time_ms().max(Self::DEFAULT_TIME_MS)),
            ..self
        }
    }

    /// The limits as IPLD `{fuel?, memory?, time?}` (only the ones given).
    pub fn to_ipld(self) -> Ipld {
        let mut m = BTreeMap::new();
        for (k, v) in [
            ("fuel", self.fuel),
            ("memory", self.memory),
            ("time", self.time),
        ] {
            if let Some(v) = v {
                m.insert(k.to_string(), Ipld::Integer(v.into()));
            }
        }
        Ipld::Map(m)
    }
}

// The worker pool waits a task's time limit plus 2 s on a browser timer,
// which holds at most 2^31 - 1 ms.
const _: () = assert!(Limits::MAX_TIME_MS + 2_000 < (1 << 31) - 1);

/// Reads a task's `meta` (`task` is its index, for errors).
pub(crate) fn parse_limits(task: usize, meta: &Ipld) -> Result<Limits, ValidationError> {
    let map = expect_map(task, "meta", meta)?;
    reject_unknown(task, "meta", map, &["fuel", "memory", "time"])?;
    let get = |key: &str| -> Result<Option<u64>, ValidationError> {
        let field = format!("meta.{key}");
        match map.get(key) {
            None | Some(Ipld::Null) => Ok(None),
            Some(Ipld::Integer(i)) if *i < 0 => Err(ValidationError::new(
                task,
                field,
                format!("must not be negative, found {i}"),
            )),
            Some(Ipld::Integer(i)) => Ok(Some(u64::try_from(*i).unwrap_or(u64::MAX))),
            Some(Ipld::Float(f)) if f.is_nan() || *f < 0.0 => Err(ValidationError::new(
                task,
                field,
                format!("must be a non-negative number, found {f}"),
            )),
            Some(Ipld::Float(f)) if f.fract() != 0.0 => Err(ValidationError::new(
                task,
                field,
                format!("must be a whole number, found {f}"),
            )),
            // 2^64 and above (18446744073709552000 as JavaScript prints it) saturate.
            Some(Ipld::Float(f)) => Ok(Some(if *f >= u64::MAX as f64 {
                u64::MAX
            } else {
                *f as u64
            })),
            Some(other) => Err(ValidationError::new(
                task,
                field,
                format!("must be a number, found {}", kind_name(other)),
            )),
        }
    };
    let fuel = get("fuel")?.filter(|f| *f != u64::MAX);
    Ok(Limits {
        fuel,
        memory: get("memory")?,
        time: get("time")?,
    })
}
