//! Splitting a module into the code wasmtime compiles and the memory image the slots hold.
//!
//! wasmtime copies a module's data segments into every memory it did not create itself, so the
//! module the engine compiles must have none: [`split`] moves every active segment's bytes
//! into one image and leaves an empty passive segment in each one's place, so segment indices
//! (and the data count) stay what the code expects. Passive segments are kept: they are
//! copied only by `memory.init`, never at instantiation.

use std::ops::Range;

use wasmparser::{DataKind, Operator, Parser, Payload, TypeRef};

/// Size of a wasm page.
const WASM_PAGE: u64 = 64 << 10;

/// Largest image [`split`] makes: a wasm32 memory's whole 4 GiB would not be kept in memory.
const IMAGE_MAX: u64 = 1 << 30;

/// A module without its data, and the memory image its data made.
#[derive(Debug)]
pub struct Split {
    /// The module with an empty data section.
    pub module: Vec<u8>,
    /// The first bytes of memory 0 at instantiation (the rest are zeros).
    pub image: Vec<u8>,
    /// Memory 0's initial size in bytes.
    pub minimum: usize,
}

/// Why a module cannot be split (it then runs with wasmtime's own memories).
#[derive(Debug, PartialEq, Eq)]
pub struct Unsplittable(pub String);

impl std::fmt::Display for Unsplittable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsplittable {}

fn no(why: impl Into<String>) -> Unsplittable {
    Unsplittable(why.into())
}

/// Splits `wasm`: it must define exactly one 32-bit unshared memory, import none, and have
/// only active data segments at constant offsets inside that memory's initial size. The
/// module is not validated here; wasmtime validates the result when it compiles it.
pub fn split(wasm: &[u8]) -> Result<Split, Unsplittable> {
    let mut minimum = None;
    let mut image: Vec<u8> = Vec::new();
    // The data section's range (header start .. content end) and its new content.
    let mut replace: Option<(Range<usize>, Vec<u8>)> = None;
    let mut section_start = 8usize;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| no(format!("not a wasm module: {e}")))?;
        let section = payload.as_section();
        match &payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => {
                return Err(no("a component, not a module"))
            }
            Payload::ImportSection(imports) => {
                for import in imports.clone().into_imports() {
                    let import = import.map_err(|e| no(format!("imports: {e}")))?;
                    if matches!(import.ty, TypeRef::Memory(_)) {
                        return Err(no("the module imports its memory"));
                    }
                }
            }
            Payload::MemorySection(memories) => {
                let memories: Vec<_> = memories
                    .clone()
                    .into_iter()
                    .collect::<Result<_, _>>()
                    .map_err(|e| no(format!("memories: {e}")))?;
                match memories.as_slice() {
                    [m] if !m.memory64 && !m.shared && m.page_size_log2.is_none() => {
                        minimum = Some(m.initial * WASM_PAGE)
                    }
                    [_] => return Err(no("the memory is 64-bit, shared or of custom pages")),
                    _ => return Err(no("the module has more than one memory")),
                }
            }
            Payload::DataSection(data) => {
                let min = minimum.ok_or_else(|| no("data segments without a memory"))?;
                let mut content = Vec::new();
                leb128(&mut content, data.count());
                for segment in data.clone() {
                    let segment = segment.map_err(|e| no(format!("data: {e}")))?;
                    let offset_expr = match segment.kind {
                        DataKind::Passive => {
                            content.extend_from_slice(&wasm[segment.range.clone()]);
                            continue;
                        }
                        DataKind::Active {
                            memory_index: 0,
                            offset_expr,
                        } => offset_expr,
                        DataKind::Active { .. } => return Err(no("a segment for another memory")),
                    };
                    // Flag 1 (passive), no bytes.
                    content.extend_from_slice(&[1, 0]);
                    let mut ops = offset_expr.get_operators_reader();
                    let offset = match (ops.read(), ops.read()) {
                        (Ok(Operator::I32Const { value }), Ok(Operator::End)) => {
                            value as u32 as u64
                        }
                        _ => return Err(no("a data segment at a computed offset")),
                    };
                    let end = offset + segment.data.len() as u64;
                    if end > min || end > IMAGE_MAX {
                        return Err(no(format!(
                            "a data segment ends at {end}, past the initial memory ({min} bytes)"
                        )));
                    }
                    if end as usize > image.len() {
                        image.resize(end as usize, 0);
                    }
                    image[offset as usize..end as usize].copy_from_slice(segment.data);
                }
                if let Some((_, r)) = &section {
                    replace = Some((section_start..r.end, content));
                }
            }
            _ => {}
        }
        if let Some((_, r)) = section {
            section_start = r.end;
        }
    }
    let minimum = minimum.ok_or_else(|| no("the module defines no memory"))?;
    let mut module = Vec::with_capacity(wasm.len() - image.len().min(wasm.len()));
    match replace {
        Some((r, content)) => {
            module.extend_from_slice(&wasm[..r.start]);
            module.push(11);
            leb128(&mut module, content.len() as u32);
            module.extend_from_slice(&content);
            module.extend_from_slice(&wasm[r.end..]);
        }
        None => module.extend_from_slice(wasm),
    }
    let minimum = usize::try_from(minimum).map_err(|_| no("the initial memory is too large"))?;
    Ok(Split {
        module,
        image,
        minimum,
    })
}

/// Appends `n` as an unsigned LEB128 number, the encoding of every count and size in a module.
fn leb128(out: &mut Vec<u8>, mut n: u32) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}
