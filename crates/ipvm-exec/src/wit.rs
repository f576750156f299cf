//! The WIT side of a module: which functions it exports and imports, with
//! their types, read from the `component-type` custom section that
//! wit-bindgen embeds (via wit-component's decoder, not by hand), or from a
//! component binary that wraps a single core module.

use wit_parser::{Resolve, Type, TypeDefKind, WorldItem, WorldKey};

use crate::ExecError;

/// A WIT value type, resolved (no type ids): what the canonical ABI needs.
#[derive(Debug, Clone, PartialEq)]
pub enum WitType {
    Bool,
    S8,
    U8,
    S16,
    U16,
    S32,
    U32,
    S64,
    U64,
    F32,
    F64,
    Char,
    String,
    List(Box<WitType>),
    Record(Vec<(String, WitType)>),
    Tuple(Vec<WitType>),
    Flags(Vec<String>),
    Enum(Vec<String>),
    Variant(Vec<(String, Option<WitType>)>),
    Option(Box<WitType>),
    Result(Option<Box<WitType>>, Option<Box<WitType>>),
}

impl WitType {
    /// The WIT spelling, for error messages.
    pub fn describe(&self) -> String {
        match self {
            WitType::List(t) => format!("list<{}>", t.describe()),
            WitType::Record(fields) => format!(
                "record {{ {} }}",
                fields
                    .iter()
                    .map(|(n, t)| format!("{n}: {}", t.describe()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            WitType::Tuple(ts) => format!(
                "tuple<{}>",
                ts.iter()
                    .map(WitType::describe)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            WitType::Flags(names) => format!("flags {{ {} }}", names.join(", ")),
            WitType::Enum(names) => format!("enum {{ {} }}", names.join(", ")),
            WitType::Variant(cases) => format!(
                "variant {{ {} }}",
                cases
                    .iter()
                    .map(|(n, t)| t
                        .as_ref()
                        .map_or(n.clone(), |t| format!("{n}({})", t.describe())))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            WitType::Option(t) => format!("option<{}>", t.describe()),
            WitType::Result(ok, err) => format!(
                "result<{}, {}>",
                ok.as_ref().map_or("_".into(), |t| t.describe()),
                err.as_ref().map_or("_".into(), |t| t.describe())
            ),
            other => format!("{other:?}").to_lowercase(),
        }
    }
}

/// A function signature.
#[derive(Debug, Clone, PartialEq)]
pub struct WitFunc {
    /// The WIT name (kebab-case), which is also the core export's name.
    pub name: String,
    /// Parameters, named.
    pub params: Vec<(String, WitType)>,
    /// The result, if any.
    pub result: Option<WitType>,
}

/// What a module's world says: its exported functions and imported ones
/// (keyed by the core import module, e.g. `wasi:logging/logging`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WitWorld {
    /// Exported functions (free functions of the world, and functions of
    /// exported interfaces under `interface#func`).
    pub exports: Vec<WitFunc>,
    /// Imported functions: (core import module, function).
    pub imports: Vec<(String, WitFunc)>,
}

impl WitWorld {
    /// The export named exactly `name`.
    pub fn export(&self, name: &str) -> Option<&WitFunc> {
        self.exports.iter().find(|f| f.name == name)
    }

    /// The import `module`.`name`.
    pub fn import(&self, module: &str, name: &str) -> Option<&WitFunc> {
        self.imports
            .iter()
            .find(|(m, f)| m == module && f.name == name)
            .map(|(_, f)| f)
    }
}

/// The shape of a module's bytes.
pub enum Shape {
    /// A core module with no WIT: numbers in, numbers out.
    Core(Vec<u8>),
    /// A core module with its WIT world (built by wit-bindgen, or unwrapped from a component).
    Wit(Vec<u8>, WitWorld),
}

/// Tells the three accepted shapes apart: a plain core module, a core module
/// with a `component-type` section, or a component wrapping one core module.
pub fn classify(module: &str, bytes: &[u8]) -> Result<Shape, ExecError> {
    if wasmparser::Parser::is_component(bytes) {
        return unwrap_component(module, bytes);
    }
    let has_wit = wasmparser::Parser::new(0).parse_all(bytes).any(|p| {
        matches!(p, Ok(wasmparser::Payload::CustomSection(ref cs)) if cs.name().starts_with("component-type"))
    });
    if !has_wit {
        return Ok(Shape::Core(bytes.to_vec()));
    }
    let (_, bindgen) = wit_component::metadata::decode(bytes).map_err(|e| ExecError::Compile {
        cid: module.into(),
        reason: format!("its component-type section does not decode: {e:#}"),
    })?;
    let world = world_of(module, &bindgen.resolve, bindgen.world)?;
    Ok(Shape::Wit(bytes.to_vec(), world))
}

fn unsupported(module: &str, why: String) -> ExecError {
    ExecError::Compile {
        cid: module.into(),
        reason: format!("unsupported component: {why}"),
    }
}

fn unwrap_component(module: &str, bytes: &[u8]) -> Result<Shape, ExecError> {
    let mut cores = Vec::new();
    let mut nested = 0;
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| ExecError::Compile {
            cid: module.into(),
            reason: e.to_string(),
        })?;
        match payload {
            wasmparser::Payload::ModuleSection {
                unchecked_range, ..
            } if depth == 0 => {
                // The range comes from the module's own bytes: it may run past them.
                let range = usize::try_from(unchecked_range.start).unwrap_or(usize::MAX)
                    ..usize::try_from(unchecked_range.end).unwrap_or(usize::MAX);
                let core = bytes.get(range).ok_or_else(|| ExecError::Compile {
                    cid: module.into(),
                    reason: format!(
                        "a module section claims bytes {}..{}, past the end of the component ({} bytes)",
                        unchecked_range.start,
                        unchecked_range.end,
                        bytes.len()
                    ),
                })?;
                cores.push(core.to_vec());
                depth += 1;
            }
            wasmparser::Payload::ModuleSection { .. } => depth += 1,
            wasmparser::Payload::ComponentSection { .. } => {
                nested += 1;
                depth += 1;
            }
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if nested > 0 {
        return Err(unsupported(module, format!("it nests {nested} component(s); only a component wrapping one core module is supported")));
    }
    // wit-component adds small shim modules for imports; the real module is
    // the one that carries the exports, i.e. the one with a memory and code.
    let real: Vec<&Vec<u8>> = cores.iter().filter(|m| !is_shim(m)).collect();
    let [core] = real.as_slice() else {
        return Err(unsupported(
            module,
            format!(
                "it holds {} core modules; only one is supported",
                real.len()
            ),
        ));
    };
    let decoded = wit_component::decode(bytes)
        .map_err(|e| unsupported(module, format!("its WIT does not decode: {e:#}")))?;
    let world = world_of(
        module,
        decoded.resolve(),
        match &decoded {
            wit_component::DecodedWasm::Component(_, w) => *w,
            wit_component::DecodedWasm::WitPackage(..) => {
                return Err(unsupported(
                    module,
                    "it is a WIT package, not a component".into(),
                ))
            }
        },
    )?;
    Ok(Shape::Wit((*core).clone(), world))
}

/// A shim module defines no memory of its own and only forwards through a table.
fn is_shim(core: &[u8]) -> bool {
    let mut has_memory = false;
    for payload in wasmparser::Parser::new(0).parse_all(core).flatten() {
        match payload {
            wasmparser::Payload::MemorySection(r) if r.count() > 0 => has_memory = true,
            wasmparser::Payload::ImportSection(r) => {
                for group in r.into_iter().flatten() {
                    for import in group.into_iter().flatten() {
                        if matches!(import.1.ty, wasmparser::TypeRef::Memory(_)) {
                            has_memory = true;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    !has_memory
}

fn world_of(
    module: &str,
    resolve: &Resolve,
    world: wit_parser::WorldId,
) -> Result<WitWorld, ExecError> {
    let w = &resolve.worlds[world];
    let mut out = WitWorld::default();
    let bad = |why: String| ExecError::Compile {
        cid: module.into(),
        reason: why,
    };
    for (key, item) in &w.exports {
        match item {
            WorldItem::Function(f) => out.exports.push(func(resolve, f).map_err(bad)?),
            WorldItem::Interface { id, .. } => {
                let prefix = resolve.name_world_key(key);
                for f in resolve.interfaces[*id].functions.values() {
                    let mut f = func(resolve, f).map_err(bad)?;
                    f.name = format!("{prefix}#{}", f.name);
                    out.exports.push(f);
                }
            }
            WorldItem::Type { .. } => {}
        }
    }
    for (key, item) in &w.imports {
        match item {
            WorldItem::Function(f) => {
                // Free function imports live under the core module `$root`.
                if let Ok(f) = func(resolve, f) {
                    out.imports.push(("$root".into(), f));
                }
            }
            WorldItem::Interface { id, .. } => {
                let module_name = match key {
                    WorldKey::Name(n) => n.clone(),
                    WorldKey::Interface(_) => resolve.name_world_key(key),
                };
                for f in resolve.interfaces[*id].functions.values() {
                    // Imports with types we cannot lower are only an error if the module calls them.
                    if let Ok(f) = func(resolve, f) {
                        out.imports.push((module_name.clone(), f));
                    }
                }
            }
            WorldItem::Type { .. } => {}
        }
    }
    Ok(out)
}

fn func(resolve: &Resolve, f: &wit_parser::Function) -> Result<WitFunc, String> {
    let params = f
        .params
        .iter()
        .map(|p| {
            Ok((
                p.name.clone(),
                ty(resolve, &p.ty)
                    .map_err(|e| format!("function `{}`, parameter `{}`: {e}", f.name, p.name))?,
            ))
        })
        .collect::<Result<_, String>>()?;
    let result = f
        .result
        .as_ref()
        .map(|t| ty(resolve, t))
        .transpose()
        .map_err(|e| format!("function `{}`, result: {e}", f.name))?;
    Ok(WitFunc {
        name: f.name.clone(),
        params,
        result,
    })
}

fn ty(resolve: &Resolve, t: &Type) -> Result<WitType, String> {
    Ok(match t {
        Type::Bool => WitType::Bool,
        Type::U8 => WitType::U8,
        Type::U16 => WitType::U16,
        Type::U32 => WitType::U32,
        Type::U64 => WitType::U64,
        Type::S8 => WitType::S8,
        Type::S16 => WitType::S16,
        Type::S32 => WitType::S32,
        Type::S64 => WitType::S64,
        Type::F32 => WitType::F32,
        Type::F64 => WitType::F64,
        Type::Char => WitType::Char,
        Type::String => WitType::String,
        Type::ErrorContext => return Err("error-context is not supported".into()),
        Type::Id(id) => {
            let boxed = |t: &Type| ty(resolve, t).map(Box::new);
            match &resolve.types[*id].kind {
                TypeDefKind::Type(t) => ty(resolve, t)?,
                TypeDefKind::List(t) => WitType::List(boxed(t)?),
                TypeDefKind::Record(r) => WitType::Record(
                    r.fields
                        .iter()
                        .map(|f| Ok((f.name.clone(), ty(resolve, &f.ty)?)))
                        .collect::<Result<_, String>>()?,
                ),
                TypeDefKind::Tuple(t) => WitType::Tuple(
                    t.types
                        .iter()
                        .map(|t| ty(resolve, t))
                        .collect::<Result<_, _>>()?,
                ),
                TypeDefKind::Flags(f) => {
                    WitType::Flags(f.flags.iter().map(|f| f.name.clone()).collect())
                }
                TypeDefKind::Enum(e) => {
                    WitType::Enum(e.cases.iter().map(|c| c.name.clone()).collect())
                }
                TypeDefKind::Variant(v) => WitType::Variant(
                    v.cases
                        .iter()
                        .map(|c| {
                            Ok((
                                c.name.clone(),
                                c.ty.as_ref().map(|t| ty(resolve, t)).transpose()?,
                            ))
                        })
                        .collect::<Result<_, String>>()?,
                ),
                TypeDefKind::Option(t) => WitType::Option(boxed(t)?),
                TypeDefKind::Result(r) => WitType::Result(
                    r.ok.as_ref().map(boxed).transpose()?,
                    r.err.as_ref().map(boxed).transpose()?,
                ),
                other => return Err(format!("WIT type `{}` is not supported", other.as_str())),
            }
        }
    })
}

impl WitFunc {
    /// The signature in WIT's spelling: `func(a: s32, b: string) -> list<u8>`.
    pub fn signature(&self) -> String {
        let params = self
            .params
            .iter()
            .map(|(n, t)| format!("{n}: {}", t.describe()))
            .collect::<Vec<_>>()
            .join(", ");
        match &self.result {
            Some(r) => format!("func({params}) -> {}", r.describe()),
            None => format!("func({params})"),
        }
    }
}

/// What a module offers, described for people (the playground's function
/// library, tools): its shape and each exported function with its signature.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleInfo {
    /// `core` (numbers in, numbers out), `wit-bindgen` (a core module with
    /// its WIT world embedded) or `component` (wrapping one core module).
    pub shape: &'static str,
    /// Exported functions: (name, signature). WIT signatures for the last two
    /// shapes, core types (`func(i32) -> i32`) for a plain core module.
    pub exports: Vec<(String, String)>,
    /// Imported functions: (`module.name`, signature).
    pub imports: Vec<(String, String)>,
    /// Why the metering rewriter refuses the module (so only wasmi runs it), or
    /// `None` if it can run on the browser's own engine.
    pub fast_refusal: Option<String>,
}

/// Describes a module the way [`classify`] reads it: the same three shapes,
/// the same refusals (a compile error naming `module`).
pub fn describe(module: &str, bytes: &[u8]) -> Result<ModuleInfo, ExecError> {
    if bytes.len() as u64 > crate::MAX_MODULE_BYTES {
        return Err(ExecError::Compile {
            cid: module.into(),
            reason: format!(
                "{} bytes, more than the {} a module may have",
                bytes.len(),
                crate::MAX_MODULE_BYTES
            ),
        });
    }
    let component = wasmparser::Parser::is_component(bytes);
    let shape = classify(module, bytes)?;
    let (Shape::Core(core) | Shape::Wit(core, _)) = &shape;
    // A module that does not validate runs nowhere: say so, rather than list its exports.
    wasmparser::Validator::new()
        .validate_all(core)
        .map_err(|e| ExecError::Compile {
            cid: module.into(),
            reason: format!("it does not validate: {e}"),
        })?;
    let fast_refusal = crate::meter::meter(core).err();
    let mut info = match shape {
        Shape::Wit(_, world) => ModuleInfo {
            shape: if component {
                "component"
            } else {
                "wit-bindgen"
            },
            exports: world
                .exports
                .iter()
                .map(|f| (f.name.clone(), f.signature()))
                .collect(),
            imports: world
                .imports
                .iter()
                .map(|(m, f)| (format!("{m}.{}", f.name), f.signature()))
                .collect(),
            fast_refusal: None,
        },
        Shape::Core(core) => describe_core(module, &core)?,
    };
    info.fast_refusal = fast_refusal;
    Ok(info)
}

fn describe_core(module: &str, bytes: &[u8]) -> Result<ModuleInfo, ExecError> {
    use wasmparser::{ExternalKind, Payload, TypeRef};
    let bad = |e: wasmparser::BinaryReaderError| ExecError::Compile {
        cid: module.into(),
        reason: e.to_string(),
    };
    let mut types: Vec<String> = Vec::new();
    let mut funcs: Vec<u32> = Vec::new();
    let mut info = ModuleInfo {
        shape: "core",
        exports: Vec::new(),
        imports: Vec::new(),
        fast_refusal: None,
    };
    let sig = |types: &[String], index: u32| {
        types
            .get(index as usize)
            .cloned()
            .unwrap_or_else(|| format!("type {index}"))
    };
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.map_err(bad)? {
            Payload::TypeSection(r) => {
                for group in r {
                    for sub in group.map_err(bad)?.into_types() {
                        types.push(match sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => {
                                let list = |ts: &[wasmparser::ValType]| {
                                    ts.iter()
                                        .map(|t| t.to_string())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                };
                                match f.results() {
                                    [] => format!("func({})", list(f.params())),
                                    [one] => format!("func({}) -> {one}", list(f.params())),
                                    many => {
                                        format!("func({}) -> ({})", list(f.params()), list(many))
                                    }
                                }
                            }
                            _ => "not a function type".into(),
                        });
                    }
                }
            }
            Payload::ImportSection(r) => {
                for import in r.into_imports() {
                    let import = import.map_err(bad)?;
                    if let TypeRef::Func(t) = import.ty {
                        funcs.push(t);
                        info.imports
                            .push((format!("{}.{}", import.module, import.name), sig(&types, t)));
                    }
                }
            }
            Payload::FunctionSection(r) => {
                for t in r {
                    funcs.push(t.map_err(bad)?);
                }
            }
            Payload::ExportSection(r) => {
                for export in r {
                    let export = export.map_err(bad)?;
                    if export.kind == ExternalKind::Func {
                        let t = funcs.get(export.index as usize).copied();
                        info.exports.push((
                            export.name.to_string(),
                            t.map_or_else(|| "func".into(), |t| sig(&types, t)),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(info)
}
