//! The rewrite itself: each function's regions charged up front, calls
//! counted for depth, grows checked against the limits, NaNs made canonical,
//! truncations checked; the output bounded as it is written
//! (`MAX_FUNCTION_BYTES`, `MAX_METERED_BYTES`).

#[allow(
    clippy::wildcard_imports,
    reason = "a part of the rewriter: it shares the parent's names and limits"
)]
use super::*;

/// Maps indices from the original module to the metered one: the trap
/// import is added after the original function imports, so every defined
/// function moves up by one.
#[derive(Default)]
pub(super) struct Indices {
    pub(super) imported_funcs: u32,
}

impl Reencode for Indices {
    type Error = String;

    fn function_index(&mut self, func: u32) -> Result<u32, ReencodeError<String>> {
        Ok(match func >= self.imported_funcs {
            true => func + 1,
            false => func,
        })
    }
}

/// The rewriter's view of the module, gathered in the first pass.
#[derive(Default)]
pub(super) struct Rewriter {
    pub(super) indices: Indices,
    /// Params and results of each type (None for a non-function type).
    pub(super) types: Vec<Option<(Vec<ValType>, Vec<ValType>)>>,
    /// Type index of each defined function.
    pub(super) func_types: Vec<u32>,
    pub(super) imported_globals: u32,
    pub(super) defined_globals: u32,
}

/// The globals and locals the injected code uses.
#[derive(Clone, Copy)]
pub(super) struct Injected {
    pub(super) trap: u32,
    pub(super) fuel: u32,
    pub(super) depth: u32,
    pub(super) memory_pages: u32,
    /// Scratch locals: an i32, an i64, an f32, an f64; then the fuel copy and the depth at entry.
    pub(super) n: u32,
    pub(super) cost: u32,
    pub(super) f32: u32,
    pub(super) f64: u32,
    /// The function's copy of the fuel counter (an i64 local).
    pub(super) fuel_copy: u32,
    /// The depth counter as the function found it (an i32 local).
    pub(super) depth_at_entry: u32,
}

pub(super) fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

pub(super) fn reencode_err(e: ReencodeError<String>) -> String {
    match e {
        ReencodeError::UserError(s) => s,
        other => other.to_string(),
    }
}

impl Rewriter {
    pub(super) fn rewrite(mut self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        let payloads: Vec<Payload> = Parser::new(0)
            .parse_all(bytes)
            .collect::<Result<_, _>>()
            .map_err(err)?;
        // First pass: the facts the rewrite needs.
        let mut start = None;
        for p in &payloads {
            match p {
                Payload::TypeSection(r) => {
                    for group in r.clone() {
                        for sub in group.map_err(err)?.into_types() {
                            self.types.push(match sub.composite_type.inner {
                                wasmparser::CompositeInnerType::Func(ref f) => Some((
                                    f.params()
                                        .iter()
                                        .map(|t| self.indices.val_type(*t))
                                        .collect::<Result<_, _>>()
                                        .map_err(reencode_err)?,
                                    f.results()
                                        .iter()
                                        .map(|t| self.indices.val_type(*t))
                                        .collect::<Result<_, _>>()
                                        .map_err(reencode_err)?,
                                )),
                                _ => None,
                            });
                        }
                    }
                }
                Payload::ImportSection(r) => {
                    for import in r.clone().into_imports() {
                        let import = import.map_err(err)?;
                        match import.ty {
                            TypeRef::Func(_) => self.indices.imported_funcs += 1,
                            TypeRef::Global(_) => self.imported_globals += 1,
                            _ => {}
                        }
                    }
                }
                Payload::FunctionSection(r) => {
                    for t in r.clone() {
                        self.func_types.push(t.map_err(err)?);
                    }
                }
                Payload::GlobalSection(r) => self.defined_globals = r.count(),
                Payload::StartSection { func, .. } => start = Some(*func),
                _ => {}
            }
        }
        let trap_type = self.types.len() as u32;
        let globals = self.imported_globals + self.defined_globals;
        let mut injected = Injected {
            trap: self.indices.imported_funcs,
            fuel: globals,
            depth: globals + 1,
            memory_pages: globals + 2,
            n: 0,
            cost: 0,
            f32: 0,
            f64: 0,
            fuel_copy: 0,
            depth_at_entry: 0,
        };
        // Block types for function bodies with several results.
        let mut multi: HashMap<Vec<ValType>, u32> = HashMap::new();

        // Second pass: write the metered module, section by section.
        let mut module = Module::new();
        let mut types = TypeSection::new();
        let mut wrote_types = false;
        let mut code = CodeSection::new();
        let mut exports_done = false;
        let mut imports_done = false;
        let mut globals_done = false;
        let mut func_index = 0usize;
        let re = &mut self.indices;
        // Sections this pass adds to must exist even when the original has none.
        let ensure_types = |module: &mut Module,
                            types: &mut TypeSection,
                            wrote: &mut bool,
                            multi: &mut HashMap<Vec<ValType>, u32>,
                            all: &[Option<(Vec<ValType>, Vec<ValType>)>],
                            func_types: &[u32]| {
            if *wrote {
                return;
            }
            *wrote = true;
            types
                .ty()
                .function([ValType::I32, ValType::I64], std::iter::empty());
            let mut next = all.len() as u32 + 1;
            for t in func_types {
                if let Some(Some((_, results))) = all.get(*t as usize) {
                    if results.len() > 1 && !multi.contains_key(results) {
                        types
                            .ty()
                            .function(std::iter::empty(), results.iter().copied());
                        multi.insert(results.clone(), next);
                        next += 1;
                    }
                }
            }
            module.section(types);
        };
        let imports_section = |re: &mut Indices,
                               reader: Option<wasmparser::ImportSectionReader>|
         -> Result<ImportSection, String> {
            let mut imports = ImportSection::new();
            let mut added = false;
            let add_trap = |imports: &mut ImportSection| {
                imports.import(METER_MODULE, TRAP_IMPORT, EntityType::Function(trap_type));
            };
            if let Some(reader) = reader {
                // The trap goes after the last function import, so that
                // function indices below it do not move.
                let all: Vec<_> = reader
                    .into_imports()
                    .collect::<Result<_, _>>()
                    .map_err(err)?;
                let last_func = all.iter().rposition(|i| matches!(i.ty, TypeRef::Func(_)));
                for (i, import) in all.iter().enumerate() {
                    if import.module == METER_MODULE {
                        return Err(format!(
                            "the module imports `{METER_MODULE}`, a name this runtime reserves"
                        ));
                    }
                    imports.import(
                        import.module,
                        import.name,
                        re.entity_type(import.ty).map_err(reencode_err)?,
                    );
                    if Some(i) == last_func {
                        add_trap(&mut imports);
                        added = true;
                    }
                }
            }
            if !added {
                add_trap(&mut imports);
            }
            Ok(imports)
        };
        let globals_section = |re: &mut Indices,
                               reader: Option<wasmparser::GlobalSectionReader>|
         -> Result<GlobalSection, String> {
            let mut globals = GlobalSection::new();
            if let Some(reader) = reader {
                for g in reader {
                    let g = g.map_err(err)?;
                    globals.global(
                        re.global_type(g.ty).map_err(reencode_err)?,
                        &re.const_expr(g.init_expr).map_err(reencode_err)?,
                    );
                }
            }
            let mutable = |val_type| GlobalType {
                val_type,
                mutable: true,
                shared: false,
            };
            globals.global(mutable(ValType::I64), &ConstExpr::i64_const(0));
            globals.global(mutable(ValType::I32), &ConstExpr::i32_const(0));
            globals.global(mutable(ValType::I64), &ConstExpr::i64_const(0));
            Ok(globals)
        };
        let (fuel_global, pages_global) = (injected.fuel, injected.memory_pages);
        let exports_section = move |re: &mut Indices,
                                    reader: Option<wasmparser::ExportSectionReader>|
              -> Result<ExportSection, String> {
            let mut exports = ExportSection::new();
            if let Some(reader) = reader {
                for e in reader {
                    let e = e.map_err(err)?;
                    if e.name.starts_with("ipvm:") {
                        return Err(format!(
                            "the module exports `{}`; names starting `ipvm:` are reserved",
                            e.name
                        ));
                    }
                    re.parse_export(&mut exports, e).map_err(reencode_err)?;
                }
            }
            exports.export(FUEL_EXPORT, ExportKind::Global, fuel_global);
            exports.export(MEMORY_PAGES_EXPORT, ExportKind::Global, pages_global);
            if let Some(f) = start {
                let f = re.function_index(f).map_err(reencode_err)?;
                exports.export(START_EXPORT, ExportKind::Func, f);
            }
            Ok(exports)
        };

        for p in payloads {
            // Sections are written in the order they came; the ones this pass
            // adds to are written where they would be if the module had none.
            match &p {
                Payload::ImportSection(_)
                | Payload::FunctionSection(_)
                | Payload::TableSection(_)
                | Payload::MemorySection(_)
                | Payload::TagSection(_)
                | Payload::GlobalSection(_)
                | Payload::ExportSection(_)
                | Payload::StartSection { .. }
                | Payload::ElementSection(_)
                | Payload::DataCountSection { .. }
                | Payload::CodeSectionStart { .. }
                | Payload::DataSection(_)
                | Payload::End(_) => ensure_types(
                    &mut module,
                    &mut types,
                    &mut wrote_types,
                    &mut multi,
                    &self.types,
                    &self.func_types,
                ),
                _ => {}
            }
            let before_imports = matches!(
                p,
                Payload::FunctionSection(_)
                    | Payload::TableSection(_)
                    | Payload::MemorySection(_)
                    | Payload::GlobalSection(_)
                    | Payload::ExportSection(_)
                    | Payload::StartSection { .. }
                    | Payload::ElementSection(_)
                    | Payload::DataCountSection { .. }
                    | Payload::CodeSectionStart { .. }
                    | Payload::DataSection(_)
                    | Payload::End(_)
            );
            if before_imports && !imports_done {
                imports_done = true;
                module.section(&imports_section(re, None)?);
            }
            let before_globals = matches!(
                p,
                Payload::ExportSection(_)
                    | Payload::StartSection { .. }
                    | Payload::ElementSection(_)
                    | Payload::DataCountSection { .. }
                    | Payload::CodeSectionStart { .. }
                    | Payload::DataSection(_)
                    | Payload::End(_)
            );
            if before_globals && !globals_done {
                globals_done = true;
                module.section(&globals_section(re, None)?);
            }
            let before_exports = matches!(
                p,
                Payload::StartSection { .. }
                    | Payload::ElementSection(_)
                    | Payload::DataCountSection { .. }
                    | Payload::CodeSectionStart { .. }
                    | Payload::DataSection(_)
                    | Payload::End(_)
            );
            if before_exports && !exports_done {
                exports_done = true;
                module.section(&exports_section(re, None)?);
            }
            match p {
                Payload::Version { .. } | Payload::CustomSection(_) | Payload::End(_) => {}
                Payload::TypeSection(r) => {
                    re.parse_type_section(&mut types, r).map_err(reencode_err)?;
                    ensure_types(
                        &mut module,
                        &mut types,
                        &mut wrote_types,
                        &mut multi,
                        &self.types,
                        &self.func_types,
                    );
                }
                Payload::ImportSection(r) => {
                    imports_done = true;
                    module.section(&imports_section(re, Some(r))?);
                }
                Payload::FunctionSection(r) => {
                    let mut s = FunctionSection::new();
                    re.parse_function_section(&mut s, r).map_err(reencode_err)?;
                    module.section(&s);
                }
                Payload::TableSection(r) => {
                    let mut s = TableSection::new();
                    re.parse_table_section(&mut s, r).map_err(reencode_err)?;
                    module.section(&s);
                }
                Payload::MemorySection(r) => {
                    let mut s = MemorySection::new();
                    re.parse_memory_section(&mut s, r).map_err(reencode_err)?;
                    module.section(&s);
                }
                Payload::GlobalSection(r) => {
                    globals_done = true;
                    module.section(&globals_section(re, Some(r))?);
                }
                Payload::ExportSection(r) => {
                    exports_done = true;
                    module.section(&exports_section(re, Some(r))?);
                }
                // Not written: the runner calls it through `ipvm:start`.
                Payload::StartSection { .. } => {}
                Payload::ElementSection(r) => {
                    let mut s = ElementSection::new();
                    re.parse_element_section(&mut s, r).map_err(reencode_err)?;
                    module.section(&s);
                }
                Payload::DataCountSection { count, .. } => {
                    module.section(&DataCountSection { count });
                }
                Payload::CodeSectionStart { .. } => {}
                Payload::CodeSectionEntry(body) => {
                    let ty = *self
                        .func_types
                        .get(func_index)
                        .ok_or("more function bodies than functions")?;
                    func_index += 1;
                    let (params, results) = self
                        .types
                        .get(ty as usize)
                        .cloned()
                        .flatten()
                        .ok_or("a function whose type is not a function type")?;
                    let body_type = match results.as_slice() {
                        [] => BlockType::Empty,
                        [one] => BlockType::Result(*one),
                        many => BlockType::FunctionType(multi[many]),
                    };
                    let written = module.as_slice().len() + code.byte_len();
                    let f = rewrite_function(
                        re,
                        &body,
                        params.len() as u32,
                        body_type,
                        &mut injected,
                        re.imported_funcs + func_index as u32 - 1,
                        MAX_METERED_BYTES.saturating_sub(written),
                    )?;
                    code.function(&f);
                    if func_index == self.func_types.len() {
                        module.section(&code);
                    }
                }
                Payload::DataSection(r) => {
                    let mut s = DataSection::new();
                    re.parse_data_section(&mut s, r).map_err(reencode_err)?;
                    module.section(&s);
                }
                other => {
                    return Err(format!(
                        "unexpected section {:?}",
                        other.as_section().map(|(id, _)| id)
                    ))
                }
            }
        }
        if module.len() > MAX_METERED_BYTES {
            return Err(too_large());
        }
        Ok(module.finish())
    }
}

/// Why a module whose metered form passes [`MAX_METERED_BYTES`] is refused.
pub(super) fn too_large() -> String {
    format!(
        "the metered module passes {MAX_METERED_BYTES} bytes, the most this runtime accepts \
         (meter::MAX_METERED_BYTES): the metering adds code to every region and float \
         operation, so this much code cannot run here"
    )
}
