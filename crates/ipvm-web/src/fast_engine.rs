//! The fast path: metered modules ([`ipvm_exec::meter`]) on the browser's
//! own WebAssembly engine (`WebAssembly.Module` / `Instance`, through
//! js-sys), behind the executor's engine traits. The only module that names
//! that engine.
//!
//! The metered module counts its own fuel and depth and checks its own
//! limits, so a task gives the same receipt here as on wasmi. What differs:
//! a call cannot pause (a worker that overruns the time limit, or does not
//! stop when cancelled, is terminated by the pool), memory is read in
//! copied ranges (an `ArrayBuffer` cannot be borrowed), and an ending the
//! executor cannot map to the common error (the engine's own stack overflow,
//! a trap message it does not know) is `Inconclusive`: the task runs again
//! on wasmi.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use ipvm_core::Limits;
use ipvm_exec::abi::{self, CoreTy, CoreVal, Guest, GuestMemory, MemoryView};
use ipvm_exec::host::{self, HostContext, HostEffects};
use ipvm_exec::meter::{self, Metered};
use ipvm_exec::wit::WitWorld;
use ipvm_exec::{Engine, ExecError, Instance, Pacer, Prefer, Trap};
use js_sys::{Array, Function, Object, Reflect, Uint8Array, WebAssembly};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::convert::{js_error_text, js_string};

/// The browser's own WebAssembly engine, running metered modules: the
/// fast path of the pool's workers (`Runtime.open({engine})`).
#[derive(Clone, Default)]
pub struct FastEngine {
    /// Called when a task's main call starts (it cannot pause): a worker
    /// tells its pool, which then stops it by terminating the worker.
    pub on_unpausable: Option<Function>,
}

/// A module compiled by the browser, with what the metering rewriter says
/// about its exports and imports (the browser does not tell types).
#[derive(Clone)]
pub struct FastModule {
    module: WebAssembly::Module,
    facts: Rc<Metered>,
}

/// What the host functions of one instance share with it.
struct Shared {
    memory: RefCell<Option<WebAssembly::Memory>>,
    fuel: RefCell<Option<WebAssembly::Global>>,
    effects: RefCell<HostEffects>,
    /// The error a host function or the metering trap ended the call with.
    pending: RefCell<Option<ExecError>>,
    /// A host function is running: an exception now is the runtime's own
    /// (the engine's stack ran out inside it), not the guest's.
    in_host: std::cell::Cell<bool>,
    limits: Limits,
}

impl Shared {
    fn fuel_left(&self) -> u64 {
        self.fuel
            .borrow()
            .as_ref()
            .and_then(|g| u64::try_from(g.value()).ok())
            .unwrap_or(0)
    }

    fn set_fuel(&self, left: u64) {
        if let Some(g) = self.fuel.borrow().as_ref() {
            g.set_value(&JsValue::from(left as i64));
        }
    }

    fn view(&self) -> Result<Box<dyn MemoryView + '_>, ExecError> {
        let memory = self.memory.borrow();
        let m = memory
            .as_ref()
            .ok_or_else(|| ExecError::Abi("the module exports no memory".into()))?;
        Ok(Box::new(JsView(Uint8Array::new(&m.buffer()))))
    }

    fn write(&self, ptr: u32, bytes: &[u8]) -> Result<bool, ExecError> {
        let memory = self.memory.borrow();
        let m = memory
            .as_ref()
            .ok_or_else(|| ExecError::Abi("the module exports no memory".into()))?;
        let view = Uint8Array::new(&m.buffer());
        let end = u64::from(ptr) + bytes.len() as u64;
        if end > u64::from(view.length()) {
            return Ok(false);
        }
        view.subarray(ptr, end as u32).copy_from(bytes);
        Ok(true)
    }

    /// Keeps `error` for the executor, and the value to throw.
    fn fail(&self, error: ExecError) -> JsValue {
        let text = error.to_string();
        *self.pending.borrow_mut() = Some(error);
        JsValue::from_str(&text)
    }
}

/// Guest memory as the browser holds it: read by copying ranges out.
struct JsView(Uint8Array);

impl MemoryView for JsView {
    fn size(&self) -> u64 {
        u64::from(self.0.length())
    }
    fn range(&self, ptr: u32, len: u32) -> Option<Cow<'_, [u8]>> {
        let end = u64::from(ptr) + u64::from(len);
        (end <= self.size()).then(|| Cow::Owned(self.0.subarray(ptr, end as u32).to_vec()))
    }
}

/// A host call's view of its caller.
struct Caller<'a> {
    shared: &'a Shared,
    effects: &'a mut HostEffects,
}

impl GuestMemory for Caller<'_> {
    fn view(&self) -> Result<Box<dyn MemoryView + '_>, ExecError> {
        self.shared.view()
    }
    fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<bool, ExecError> {
        self.shared.write(ptr, bytes)
    }
    fn realloc(&mut self, _: u32, _: u32) -> Result<u32, ExecError> {
        Err(ExecError::Abi(
            "host functions cannot return strings or lists".into(),
        ))
    }
}

impl HostContext for Caller<'_> {
    fn charge(&mut self, fuel: u64) -> Result<(), ExecError> {
        let left = meter::charge(self.shared.fuel_left(), fuel, &self.shared.limits)?;
        self.shared.set_fuel(left);
        Ok(())
    }
    fn effects(&mut self) -> &mut HostEffects {
        self.effects
    }
}

fn to_js(v: CoreVal) -> JsValue {
    match v {
        CoreVal::I32(x) => JsValue::from(x),
        CoreVal::I64(x) => JsValue::from(x),
        CoreVal::F32(b) => JsValue::from(f64::from(f32::from_bits(b))),
        CoreVal::F64(b) => JsValue::from(f64::from_bits(b)),
    }
}

fn from_js(v: &JsValue, t: CoreTy) -> Result<CoreVal, ExecError> {
    let bad = || ExecError::Inconclusive(format!("the engine gave {} for a {t:?}", js_string(v)));
    Ok(match t {
        CoreTy::I32 => CoreVal::I32(v.as_f64().ok_or_else(bad)? as i32),
        CoreTy::I64 => CoreVal::I64(i64::try_from(v.clone()).map_err(|_| bad())?),
        CoreTy::F32 => CoreVal::F32((v.as_f64().ok_or_else(bad)? as f32).to_bits()),
        CoreTy::F64 => CoreVal::F64(v.as_f64().ok_or_else(bad)?.to_bits()),
    })
}

fn from_js_results(v: &JsValue, types: &[CoreTy]) -> Result<Vec<CoreVal>, ExecError> {
    match types {
        [] => Ok(Vec::new()),
        [one] => Ok(vec![from_js(v, *one)?]),
        many => {
            let values = Array::from(v);
            many.iter()
                .enumerate()
                .map(|(i, t)| from_js(&values.get(i as u32), *t))
                .collect()
        }
    }
}

/// A host function as the browser calls it: any number of arguments, one
/// array to Rust.
type HostClosure = Closure<dyn FnMut(Array) -> Result<JsValue, JsValue>>;

fn variadic(closure: &HostClosure) -> Result<Function, ExecError> {
    let adapter = Function::new_with_args(
        "f",
        "return function () { return f(Array.prototype.slice.call(arguments)); };",
    );
    adapter
        .call1(&JsValue::NULL, closure.as_ref())
        .map_err(|e| ExecError::Instantiate(js_error_text(&e)))?
        .dyn_into::<Function>()
        .map_err(|e| ExecError::Instantiate(js_error_text(&e)))
}

fn set(target: &Object, key: &str, value: &JsValue) -> Result<(), ExecError> {
    Reflect::set(target, &JsValue::from_str(key), value)
        .map(|_| ())
        .map_err(|e| ExecError::Instantiate(js_error_text(&e)))
}

/// The import object of a metered module: the metering trap and the host
/// functions its world imports.
fn imports(
    facts: &Metered,
    world: Option<&WitWorld>,
    shared: &Rc<Shared>,
    closures: &mut Vec<HostClosure>,
) -> Result<Object, ExecError> {
    let object = Object::new();
    let namespace = |name: &str| -> Result<Object, ExecError> {
        match Reflect::get(&object, &JsValue::from_str(name)) {
            Ok(v) if v.is_object() => Ok(v.unchecked_into()),
            _ => {
                let ns = Object::new();
                set(&object, name, &ns)?;
                Ok(ns)
            }
        }
    };
    let trap = {
        let shared = shared.clone();
        HostClosure::new(move |args: Array| -> Result<JsValue, JsValue> {
            let code = args.get(0).as_f64().unwrap_or(0.0) as i32;
            let error = meter::trap_error(code, shared.fuel_left(), &shared.limits);
            Err(shared.fail(error))
        })
    };
    set(
        &namespace(meter::METER_MODULE)?,
        meter::TRAP_IMPORT,
        &variadic(&trap)?.into(),
    )?;
    closures.push(trap);
    for (m, n) in &facts.imports {
        let (f, sig) = host::provided(m, n, world)?;
        let (params, results) = abi::import_signature(&sig);
        let shared = shared.clone();
        let closure = HostClosure::new(move |args: Array| -> Result<JsValue, JsValue> {
            shared.in_host.set(true);
            let out = host_call(&shared, f, &sig, &params, &results, &args);
            shared.in_host.set(false);
            out
        });
        set(&namespace(m)?, n, &variadic(&closure)?.into())?;
        closures.push(closure);
    }
    Ok(object)
}

/// One host call from the browser's engine: its arguments in, its result out.
fn host_call(
    shared: &Shared,
    f: host::HostFn,
    sig: &ipvm_exec::wit::WitFunc,
    params: &[CoreTy],
    results: &[CoreTy],
    args: &Array,
) -> Result<JsValue, JsValue> {
    {
        {
            let core = params
                .iter()
                .enumerate()
                .map(|(i, t)| from_js(&args.get(i as u32), *t))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| shared.fail(e))?;
            let mut effects = shared.effects.take();
            let out = host::import(
                f,
                sig,
                &core,
                &mut Caller {
                    shared,
                    effects: &mut effects,
                },
            );
            *shared.effects.borrow_mut() = effects;
            let out = out.map_err(|e| shared.fail(e))?;
            Ok(match (results, out.as_slice()) {
                ([], _) => JsValue::UNDEFINED,
                ([_], [one]) => to_js(*one),
                _ => out.iter().map(|v| to_js(*v)).collect::<Array>().into(),
            })
        }
    }
}

impl Engine for FastEngine {
    type Module = FastModule;
    type Instance = FastGuest;

    async fn compile(&self, name: &str, metered: &Metered) -> Result<FastModule, ExecError> {
        let bytes = Uint8Array::from(metered.bytes.as_slice());
        let refused = |e: JsValue| ExecError::Compile {
            cid: name.into(),
            reason: format!(
                "the browser's engine refused the metered module: {}",
                js_error_text(&e)
            ),
        };
        let module = JsFuture::from(WebAssembly::compile(&bytes))
            .await
            .map_err(refused)?
            .dyn_into::<WebAssembly::Module>()
            .map_err(refused)?;
        Ok(FastModule {
            module,
            facts: Rc::new(Metered {
                bytes: Vec::new(),
                ..metered.clone()
            }),
        })
    }

    async fn instantiate(
        &self,
        module: &FastModule,
        world: Option<&WitWorld>,
        limits: Limits,
        _: Prefer,
    ) -> Result<FastGuest, ExecError> {
        let shared = Rc::new(Shared {
            memory: RefCell::new(None),
            fuel: RefCell::new(None),
            effects: RefCell::new(HostEffects::default()),
            pending: RefCell::new(None),
            in_host: std::cell::Cell::new(false),
            limits,
        });
        let mut closures = Vec::new();
        let imports = imports(&module.facts, world, &shared, &mut closures)?;
        // Imports and limits are checked: what is left to fail is an active
        // segment that does not fit (a RuntimeError); anything else (the
        // tab out of memory) depends on the machine, and wasmi decides.
        let instance = WebAssembly::Instance::new(&module.module, &imports).map_err(|e| {
            match e.is_instance_of::<WebAssembly::RuntimeError>() {
                true => ExecError::Instantiate(meter::SEGMENT_MESSAGE.into()),
                false => ExecError::Inconclusive(format!("instantiation: {}", js_error_text(&e))),
            }
        })?;
        let exports = instance.exports();
        let get = |name: &str| Reflect::get(&exports, &JsValue::from_str(name)).ok();
        let fuel = get(meter::FUEL_EXPORT)
            .and_then(|g| g.dyn_into::<WebAssembly::Global>().ok())
            .ok_or_else(|| ExecError::Instantiate("the module is not metered".into()))?;
        fuel.set_value(&JsValue::from(limits.fuel_budget() as i64));
        if let Some(pages) =
            get(meter::MEMORY_PAGES_EXPORT).and_then(|g| g.dyn_into::<WebAssembly::Global>().ok())
        {
            pages.set_value(&JsValue::from(meter::memory_pages(&limits) as i64));
        }
        *shared.fuel.borrow_mut() = Some(fuel);
        *shared.memory.borrow_mut() =
            get("memory").and_then(|m| m.dyn_into::<WebAssembly::Memory>().ok());
        Ok(FastGuest {
            exports,
            on_unpausable: self.on_unpausable.clone(),
            shared,
            facts: module.facts.clone(),
            _closures: closures,
        })
    }
}

/// One instance of a metered module on the browser's engine.
pub struct FastGuest {
    exports: Object,
    on_unpausable: Option<Function>,
    shared: Rc<Shared>,
    facts: Rc<Metered>,
    /// The host functions, alive as long as the instance.
    _closures: Vec<HostClosure>,
}

/// The common trap a message of the browser's engine names, if it is one
/// this runtime knows (V8's, `src/common/message-template.h`).
fn trap_of(message: &str) -> Option<Trap> {
    let m = message.to_lowercase();
    Some(if m.contains("unreachable") {
        Trap::Unreachable
    } else if m.contains("memory access out of bounds") || m.contains("data segment") {
        Trap::MemoryOutOfBounds
    } else if m.contains("signature mismatch") || m.contains("null function") {
        Trap::IndirectCall
    } else if m.contains("table index is out of bounds")
        || m.contains("table access")
        || m.contains("element segment")
    {
        Trap::TableOutOfBounds
    } else if m.contains("divide by zero") || m.contains("remainder by zero") {
        Trap::DivisionByZero
    } else if m.contains("divide result unrepresentable") {
        Trap::IntegerOverflow
    } else if m.contains("float unrepresentable") {
        Trap::BadConversion
    } else {
        return None;
    })
}

impl FastGuest {
    /// The error a call ended with.
    fn failed(&self, thrown: JsValue) -> ExecError {
        if let Some(e) = self.shared.pending.borrow_mut().take() {
            return e;
        }
        if self.shared.in_host.replace(false) {
            return ExecError::Inconclusive("the engine failed inside a host function".into());
        }
        // The message alone (never the error's name): `trap_of` reads it.
        let message = Reflect::get(&thrown, &JsValue::from_str("message"))
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_else(|| js_string(&thrown));
        match thrown.is_instance_of::<WebAssembly::RuntimeError>() {
            true => trap_of(&message)
                .map(Trap::error)
                .unwrap_or(ExecError::Inconclusive(message)),
            // A RangeError (the engine's own stack), or anything else.
            false => ExecError::Inconclusive(message),
        }
    }

    fn types(&self, export: &str) -> Option<&(Vec<CoreTy>, Vec<CoreTy>)> {
        self.facts
            .exports
            .iter()
            .find(|e| e.name == export)
            .and_then(|e| e.numeric.as_ref())
    }
}

impl GuestMemory for FastGuest {
    fn view(&self) -> Result<Box<dyn MemoryView + '_>, ExecError> {
        self.shared.view()
    }
    fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<bool, ExecError> {
        self.shared.write(ptr, bytes)
    }
    fn realloc(&mut self, align: u32, size: u32) -> Result<u32, ExecError> {
        abi::call_realloc(self, align, size)
    }
}

impl Guest for FastGuest {
    fn call(&mut self, export: &str, args: &[CoreVal]) -> Result<Vec<CoreVal>, ExecError> {
        let missing = || ExecError::NoSuchFunction {
            func: export.into(),
            tried: export.into(),
            exports: String::new(),
        };
        let (params, results) = self.types(export).cloned().ok_or_else(missing)?;
        if params.len() != args.len() {
            return Err(ExecError::Abi(format!(
                "`{export}` takes {} core values, {} given",
                params.len(),
                args.len()
            )));
        }
        let f = Reflect::get(&self.exports, &JsValue::from_str(export))
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .ok_or_else(missing)?;
        let values: Array = args.iter().map(|a| to_js(*a)).collect();
        match f.apply(&JsValue::NULL, &values) {
            Ok(v) => from_js_results(&v, &results),
            Err(thrown) => Err(self.failed(thrown)),
        }
    }

    fn has_export(&self, name: &str) -> bool {
        self.types(name).is_some()
    }
}

impl Instance for FastGuest {
    /// One call, never paused: the pool stops a worker that overruns.
    async fn call_paced<P: Pacer>(
        &mut self,
        export: &str,
        args: &[CoreVal],
        _: &P,
    ) -> Result<Vec<CoreVal>, ExecError> {
        if let Some(f) = &self.on_unpausable {
            let _ = f.call0(&JsValue::NULL);
        }
        self.call(export, args)
    }

    fn finish(self) -> (u64, HostEffects) {
        let used = meter::used(self.shared.fuel_left(), &self.shared.limits);
        (used, self.shared.effects.take())
    }

    fn engine(&self) -> &'static str {
        "fast"
    }
}
