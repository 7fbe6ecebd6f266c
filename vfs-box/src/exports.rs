//! Trimming a finished box's exports to what hosts call.
//!
//! A Rust program for `wasm32-wasip1` exports every `#[no_mangle]` function it links: the
//! shim's `__imported_wasi_snapshot_preview1_*` definitions, the emulated libc symbols
//! (`getpid`, `signal`…), the C modules' allocator hooks — 59 exports in a Python box, of which
//! a host uses three. Each costs at every instantiation in hosts that enumerate an instance's
//! exports (the `wasmtime` package from PyPI wraps every one in a Python object, and wasmtime
//! makes a function reference for each), and none should be callable from outside.

use anyhow::{Context, Result};
use wasm_encoder::{ExportKind, ExportSection, Module, RawSection};
use wasmparser::{ExternalKind, Parser, Payload};

/// Returns `wasm` with only the exports named in `keep` (those it has); every other section is
/// copied byte for byte.
pub fn keep_only(wasm: &[u8], keep: &[&str]) -> Result<Vec<u8>> {
    let mut out = Module::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.context("reading the module")?;
        match payload {
            Payload::ExportSection(reader) => {
                let mut exports = ExportSection::new();
                for export in reader {
                    let export = export.context("reading the exports")?;
                    if keep.contains(&export.name) {
                        exports.export(export.name, kind(export.kind), export.index);
                    }
                }
                out.section(&exports);
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => {
                anyhow::bail!("a component, not a module")
            }
            other => {
                if let Some((id, range)) = other.as_section() {
                    out.section(&RawSection {
                        id,
                        data: &wasm[range],
                    });
                }
            }
        }
    }
    Ok(out.finish())
}

fn kind(k: ExternalKind) -> ExportKind {
    match k {
        ExternalKind::Func | ExternalKind::FuncExact => ExportKind::Func,
        ExternalKind::Table => ExportKind::Table,
        ExternalKind::Memory => ExportKind::Memory,
        ExternalKind::Global => ExportKind::Global,
        ExternalKind::Tag => ExportKind::Tag,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_named_exports_and_every_other_section() {
        let wasm = wat_module();
        let out = keep_only(&wasm, &["_start", "memory"]).unwrap();
        let names: Vec<String> = Parser::new(0)
            .parse_all(&out)
            .filter_map(|p| match p.unwrap() {
                Payload::ExportSection(r) => Some(r),
                _ => None,
            })
            .flat_map(|r| r.into_iter().map(|e| e.unwrap().name.to_owned()))
            .collect();
        assert_eq!(names, ["memory", "_start"]);
        // Everything else is untouched: the output validates and keeps its data and code.
        wasmparser::Validator::new().validate_all(&out).unwrap();
        let sections = |w: &[u8]| {
            Parser::new(0)
                .parse_all(w)
                .filter_map(|p| p.unwrap().as_section().map(|(id, r)| (id, w[r].to_vec())))
                .filter(|(id, _)| *id != 7)
                .collect::<Vec<_>>()
        };
        assert_eq!(sections(&wasm), sections(&out));
    }

    /// `(module (memory (export "memory") 1) (func (export "_start")) (func (export "getpid")
    /// (result i32) i32.const 42) (data (i32.const 8) "hi"))`, encoded here.
    fn wat_module() -> Vec<u8> {
        use wasm_encoder::*;
        let mut m = Module::new();
        let mut types = TypeSection::new();
        types.ty().function([], []);
        types.ty().function([], [ValType::I32]);
        m.section(&types);
        let mut funcs = FunctionSection::new();
        funcs.function(0).function(1);
        m.section(&funcs);
        let mut mems = MemorySection::new();
        mems.memory(MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        m.section(&mems);
        let mut exports = ExportSection::new();
        exports
            .export("memory", ExportKind::Memory, 0)
            .export("_start", ExportKind::Func, 0)
            .export("getpid", ExportKind::Func, 1);
        m.section(&exports);
        let mut code = CodeSection::new();
        let mut f = Function::new([]);
        f.instructions().end();
        code.function(&f);
        let mut g = Function::new([]);
        g.instructions().i32_const(42).end();
        code.function(&g);
        m.section(&code);
        let mut data = DataSection::new();
        data.active(0, &ConstExpr::i32_const(8), *b"hi");
        m.section(&data);
        m.finish()
    }
}
