//! Host functions the runtime gives to guests, independent of the engine:
//! `wasi:logging/logging.log`, and Homestar's `homestar:host/helpers`
//! (`get-current-time`, `print`). Reading the clock makes a task
//! non-deterministic. Any other import fails instantiation, naming it.

use crate::abi::{self, CoreVal, GuestMemory, WitValue};
use crate::wit::{WitFunc, WitType};
use crate::ExecError;

/// At most this many log lines are kept per task...
const MAX_LOG_LINES: usize = 100;
/// ...and at most this many bytes of them.
const MAX_LOG_BYTES: usize = 16 * 1024;

/// A host function the runtime provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostFn {
    /// `wasi:logging/logging.log(level, context, message)`
    Log,
    /// `homestar:host/helpers.print(msg)`
    Print,
    /// `homestar:host/helpers.get-current-time() -> time`
    CurrentTime,
}

/// The host function behind a core import, if the runtime provides it.
pub fn lookup(module: &str, name: &str) -> Option<HostFn> {
    let base = module.split('@').next().unwrap_or(module);
    match (base, name) {
        ("wasi:logging/logging", "log") => Some(HostFn::Log),
        ("homestar:host/helpers", "print") => Some(HostFn::Print),
        ("homestar:host/helpers", "get-current-time") => Some(HostFn::CurrentTime),
        _ => None,
    }
}

/// What host functions did during one task.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct HostEffects {
    /// Log lines (capped; a last line says how many were dropped).
    pub logs: Vec<String>,
    log_bytes: usize,
    dropped: usize,
    /// A host function read something machine-dependent (the clock).
    pub nondeterministic: bool,
}

impl HostEffects {
    fn log(&mut self, line: String) {
        if self.logs.len() < MAX_LOG_LINES && self.log_bytes + line.len() <= MAX_LOG_BYTES {
            self.log_bytes += line.len();
            self.logs.push(line);
        } else {
            self.dropped += 1;
        }
    }

    /// The log lines, with a note if some were dropped.
    pub fn into_logs(mut self) -> Vec<String> {
        if self.dropped > 0 {
            self.logs.push(format!(
                "… {} more log lines dropped (limit {MAX_LOG_LINES} lines, {MAX_LOG_BYTES} bytes)",
                self.dropped
            ));
        }
        self.logs
    }
}

fn text(v: Option<&WitValue>) -> String {
    match v {
        Some(WitValue::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// The fixed fuel of any host call.
pub const HOST_CALL_FUEL: u64 = 100;
/// A host call also costs one unit of fuel per this many bytes it reads from
/// the guest (strings are read at most [`crate::abi::HOST_STRING_BYTES`]).
pub const HOST_BYTES_PER_FUEL: u64 = 16;

/// The fuel a host call costs: [`HOST_CALL_FUEL`], plus one unit per
/// [`HOST_BYTES_PER_FUEL`] bytes of its arguments as read. A rule of the
/// cost model (`docs/spec.md` §8): metering that replaces wasmi's must keep it.
pub fn call_fuel(args: &[WitValue]) -> u64 {
    let bytes: u64 = args
        .iter()
        .map(|a| match a {
            WitValue::String(s) => s.len() as u64,
            _ => 8,
        })
        .sum();
    HOST_CALL_FUEL + bytes.div_ceil(HOST_BYTES_PER_FUEL)
}

/// Runs a host function on lifted arguments.
pub fn call(
    f: HostFn,
    sig: &WitFunc,
    args: &[WitValue],
    fx: &mut HostEffects,
) -> Result<Option<WitValue>, ExecError> {
    match f {
        HostFn::Log => {
            let level = match (args.first(), sig.params.first().map(|p| &p.1)) {
                (Some(WitValue::Enum(i)), Some(WitType::Enum(names))) => {
                    names.get(*i as usize).cloned().unwrap_or_default()
                }
                _ => "log".into(),
            };
            let (context, message) = (text(args.get(1)), text(args.get(2)));
            fx.log(if context.is_empty() {
                format!("[{level}] {message}")
            } else {
                format!("[{level}] {context}: {message}")
            });
            Ok(None)
        }
        HostFn::Print => {
            fx.log(text(args.first()));
            Ok(None)
        }
        HostFn::CurrentTime => {
            fx.nondeterministic = true;
            let now = web_time::SystemTime::now()
                .duration_since(web_time::UNIX_EPOCH)
                .unwrap_or_default();
            let Some(WitType::Record(fields)) = &sig.result else {
                return Err(ExecError::Abi(
                    "get-current-time must return a record".into(),
                ));
            };
            let value = |name: &str, t: &WitType| -> Result<WitValue, ExecError> {
                let n: u64 = match name {
                    "seconds" => now.as_secs(),
                    "milliseconds" => u64::from(now.subsec_millis()),
                    "nanoseconds" => u64::from(now.subsec_nanos()),
                    _ => 0,
                };
                Ok(match t {
                    WitType::U64 => WitValue::U64(n),
                    WitType::S64 => WitValue::S64(n as i64),
                    WitType::U32 => WitValue::U32(n as u32),
                    WitType::S32 => WitValue::S32(n as i32),
                    other => {
                        return Err(ExecError::Abi(format!(
                            "get-current-time: field `{name}` has unsupported type {}",
                            other.describe()
                        )))
                    }
                })
            };
            Ok(Some(WitValue::Record(
                fields
                    .iter()
                    .map(|(n, t)| value(n, t))
                    .collect::<Result<_, _>>()?,
            )))
        }
    }
}

/// The host function behind import `module.name` of a module whose world
/// is `world`, with its WIT signature: an `unknown_import` error if the
/// runtime does not provide it. The one rule every engine links by.
pub fn provided(
    module: &str,
    name: &str,
    world: Option<&crate::wit::WitWorld>,
) -> Result<(HostFn, WitFunc), ExecError> {
    let unknown = || ExecError::UnknownImport(format!("{module}.{name}"));
    let f = lookup(module, name).ok_or_else(unknown)?;
    let sig = world
        .and_then(|w| w.import(module, name))
        .ok_or_else(unknown)?;
    Ok((f, sig.clone()))
}

/// What a host function sees of the task that calls it, on any engine: the
/// guest's memory, its fuel counter and the task's effects.
pub trait HostContext: GuestMemory {
    /// Charges `fuel` to the task's counter; an `out_of_fuel` error if it
    /// does not fit.
    fn charge(&mut self, fuel: u64) -> Result<(), ExecError>;
    /// What host functions did so far.
    fn effects(&mut self) -> &mut HostEffects;
}

/// One host call from a guest, on any engine: lifts its arguments out of
/// memory, charges their fuel ([`call_fuel`]), runs it, and lowers its result.
pub fn import(
    f: HostFn,
    sig: &WitFunc,
    args: &[CoreVal],
    cx: &mut dyn HostContext,
) -> Result<Vec<CoreVal>, ExecError> {
    let values = abi::import_args(&*cx.view()?, sig, args)?;
    cx.charge(call_fuel(&values))?;
    let value = call(f, sig, &values, cx.effects())?;
    abi::import_result(cx, sig, args, value.as_ref())
}
