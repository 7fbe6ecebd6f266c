//! Deadlines without epoch checks: every box `vfs-box serve` runs is rewritten so that an
//! instance past its deadline traps, at no cost in the common case beyond one load per loop
//! iteration and per call.
//!
//! wasmtime's epoch interruption checks a counter at every function entry and loop header:
//! 8–11 % of a Flask request's run (measured, both orders, `benches/serve_ab.py`). Here the
//! module gets one more memory of one page, the *probe memory*, that nothing but the added
//! probes reads: `i32.load8_u` of its byte 0 at the head of every loop body and at the entry
//! of every function that calls another. To stop an instance, the server makes that page
//! inaccessible (`mprotect`, [`revoke`]): the next probe faults, and wasmtime turns the fault
//! into a trap like any out-of-bounds access. Only probes touch the page, so no host function
//! and none of wasmtime's own routines (`memory.copy`...) can fault on it, wherever the
//! instance is when its deadline passes.
//!
//! Why this stops every run that does not end: without loops, a function body runs a bounded
//! number of instructions between its calls, so a run that never ends makes infinitely many
//! calls; its call tree is infinite and finitely branching, so it has an infinite path, all of
//! whose functions make calls — and each of those entries is probed. A loop's every iteration
//! starts at its head (a branch to a loop goes to its start), where the probe is. Tail calls
//! would make calls without entries that nest, so the engine refuses them
//! (`vfs_runner::server_engine`). What neither mechanism stops is a host call that blocks;
//! the WASI calls a box makes do not (its stdin is the request's body, in memory).

use anyhow::{bail, Context, Result};
use wasm_encoder::reencode::{self, Reencode};
use wasm_encoder::{Instruction, MemArg, MemoryType};
use wasmparser::{Operator, Parser, Payload};

/// The export naming the probe memory (for tests and tools; the server finds the memory as
/// the one the tripwire image makes).
pub const EXPORT: &str = "vfs-box:probe";

/// What a probed module is cached by besides the module it came from: this file's text, so
/// that any change to the probes compiles every box again.
pub const SOURCE: &str = include_str!("probes.rs");

/// The probe memory's size: one wasm page.
pub const PAGE: usize = 65536;

/// How many memories `module` defines (the probe memory comes after them); an error if it
/// defines none or exports nothing, as no WASI command (a box) does.
pub fn defined_memories(module: &[u8]) -> Result<u32> {
    let (mut defined, mut has_exports) = (0u32, false);
    for payload in Parser::new(0).parse_all(module) {
        match payload.context("reading the module")? {
            Payload::MemorySection(s) => defined += s.count(),
            Payload::ExportSection(_) => has_exports = true,
            _ => {}
        }
    }
    if defined == 0 || !has_exports {
        bail!("it defines no memory or exports nothing, as a WASI command (a box) does");
    }
    Ok(defined)
}

/// `module` with a probe memory and its probes (see the module's documentation). The module
/// is validated first: an invalid one could name the probe memory's index and become valid.
pub fn instrument(module: &[u8]) -> Result<Vec<u8>> {
    wasmparser::Validator::new()
        .validate_all(module)
        .context("invalid WebAssembly")?;
    let defined = defined_memories(module)?;
    let mut imported = 0u32;
    for payload in Parser::new(0).parse_all(module) {
        if let Payload::ImportSection(s) = payload.context("reading the module")? {
            for import in s.into_imports() {
                if matches!(import?.ty, wasmparser::TypeRef::Memory(_)) {
                    imported += 1;
                }
            }
        }
    }
    let mut probes = Probes {
        memory: imported + defined,
    };
    let mut out = wasm_encoder::Module::new();
    probes
        .parse_core_module(&mut out, Parser::new(0), module)
        .map_err(|e| match e {
            reencode::Error::UserError(tail) => anyhow::anyhow!("{tail}"),
            e => anyhow::anyhow!("adding probes: {e}"),
        })?;
    Ok(out.finish())
}

/// The rewriter: `memory` is the probe memory's index (after every other memory).
struct Probes {
    memory: u32,
}

impl Probes {
    /// Reads byte 0 of the probe memory and drops it.
    fn probe(&self, f: &mut wasm_encoder::Function) {
        f.instruction(&Instruction::I32Const(0));
        f.instruction(&Instruction::I32Load8U(MemArg {
            offset: 0,
            align: 0,
            memory_index: self.memory,
        }));
        f.instruction(&Instruction::Drop);
    }
}

/// Why a module is refused: it makes tail calls, which could loop without nesting and without
/// entering a function anew, so no probe would stop them (wasmtime's tail-call support is off
/// in the server's engine too).
#[derive(Debug)]
pub struct TailCalls;

impl std::fmt::Display for TailCalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "it makes tail calls (`return_call`), which `vfs-box serve` refuses: a loop of \
             them could not be stopped at --timeout-ms",
        )
    }
}

impl std::error::Error for TailCalls {}

/// Whether `op` enters another function.
fn is_call(op: &Operator) -> bool {
    matches!(
        op,
        Operator::Call { .. }
            | Operator::CallIndirect { .. }
            | Operator::CallRef { .. }
            | Operator::ReturnCall { .. }
            | Operator::ReturnCallIndirect { .. }
            | Operator::ReturnCallRef { .. }
    )
}

impl Reencode for Probes {
    type Error = TailCalls;

    fn parse_memory_section(
        &mut self,
        memories: &mut wasm_encoder::MemorySection,
        section: wasmparser::MemorySectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_memory_section(self, memories, section)?;
        memories.memory(MemoryType {
            minimum: 1,
            maximum: Some(1),
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        Ok(())
    }

    fn parse_export_section(
        &mut self,
        exports: &mut wasm_encoder::ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_export_section(self, exports, section)?;
        exports.export(EXPORT, wasm_encoder::ExportKind::Memory, self.memory);
        Ok(())
    }

    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        func: wasmparser::FunctionBody<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        let mut calls = false;
        let mut reader = func.get_operators_reader()?;
        while !reader.eof() {
            let op = reader.read()?;
            if matches!(
                op,
                Operator::ReturnCall { .. }
                    | Operator::ReturnCallIndirect { .. }
                    | Operator::ReturnCallRef { .. }
            ) {
                return Err(reencode::Error::UserError(TailCalls));
            }
            calls |= is_call(&op);
        }
        let mut f = self.new_function_with_parsed_locals(&func)?;
        if calls {
            self.probe(&mut f);
        }
        let mut reader = func.get_operators_reader()?;
        while !reader.eof() {
            let op = reader.read()?;
            let head = matches!(op, Operator::Loop { .. });
            f.instruction(&self.instruction(op)?);
            if head {
                self.probe(&mut f);
            }
        }
        code.function(&f);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the probes are: (function index, operator position) of every load from `memory`.
    fn probes_of(wasm: &[u8], memory: u32) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        let mut func = 0;
        for payload in Parser::new(0).parse_all(wasm) {
            if let Payload::CodeSectionEntry(body) = payload.unwrap() {
                let mut ops = body.get_operators_reader().unwrap();
                let mut at = 0;
                while !ops.eof() {
                    if let Operator::I32Load8U { memarg } = ops.read().unwrap() {
                        if memarg.memory == memory {
                            found.push((func, at));
                        }
                    }
                    at += 1;
                }
                func += 1;
            }
        }
        found
    }

    #[test]
    fn probes_go_at_loop_heads_and_the_entries_of_functions_that_call() {
        let wat = r#"(module
            (import "env" "m" (memory 1))
            (memory 1)
            (func $leaf (result i32) (i32.const 1))
            (func $caller (drop (call $leaf)))
            (func $loops (loop $a (loop $b (br $b)) (br $a)))
            (export "memory" (memory 1)))"#;
        let original = wat::parse_str(wat).unwrap();
        assert_eq!(defined_memories(&original).unwrap(), 1);
        let wasm = instrument(&original).unwrap();
        wasmparser::Validator::new().validate_all(&wasm).unwrap();
        // The probe memory is the third (one imported, one defined before it), exported.
        let exported = Parser::new(0).parse_all(&wasm).any(|p| match p.unwrap() {
            Payload::ExportSection(s) => s.into_iter().any(|e| {
                let e = e.unwrap();
                e.name == EXPORT && e.index == 2
            }),
            _ => false,
        });
        assert!(exported);
        // The leaf has none; the caller one at entry (`i32.const 0` at 0, the load at 1);
        // each loop one right after its `loop` (the outer at 0, its probe at 1–3, the inner
        // at 4).
        assert_eq!(probes_of(&wasm, 2), [(1, 1), (2, 2), (2, 6)]);
    }

    #[test]
    fn an_invalid_module_is_refused_before_a_probe_memory_could_make_it_valid() {
        // Stores into memory 1, which only the probe memory would be.
        let wat = r#"(module (memory 1) (export "memory" (memory 0))
            (func (i32.store8 1 (i32.const 0) (i32.const 1))))"#;
        let wasm = wat::parse_str(wat).unwrap();
        let e = instrument(&wasm).err().unwrap();
        assert!(format!("{e:#}").contains("invalid WebAssembly"), "{e:#}");
    }

    #[test]
    fn a_module_without_memory_or_exports_is_refused() {
        for wat in [
            r#"(module (func (export "_start")))"#,
            "(module (memory 1))",
        ] {
            let e = instrument(&wat::parse_str(wat).unwrap()).err().unwrap();
            assert!(format!("{e:#}").contains("defines no memory"), "{e:#}");
        }
    }
}
