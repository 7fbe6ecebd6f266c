//! Splitting a module into the code wasmtime compiles and the memory image the slots hold.
//!
//! wasmtime copies a module's data segments into every memory it did not create itself, so the
//! module the engine compiles must have none: [`split`] moves every active segment's bytes
//! into one image. Segments after the last one an instruction names (`memory.init`,
//! `data.drop`) are removed; before it, each active segment becomes an empty passive one, so
//! the indices the code uses stay the same, and passive segments are kept (they are copied
//! only by `memory.init`, never at instantiation).
//!
//! Removing them matters: wasmtime writes the length and address of every segment into each
//! new instance, and a pre-initialized box has up to 10,000 (the snapshot's memory, a segment
//! per run of non-zero bytes): 56 µs of every instance of the Flask example.

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
    // The data and data count sections' ranges (header start .. content end).
    let mut data_section: Option<Range<usize>> = None;
    let mut data_count: Option<Range<usize>> = None;
    // The segments, rewritten (each one's encoding), and the highest index code names.
    let mut segments: Vec<Vec<u8>> = Vec::new();
    let mut named: Option<u32> = None;
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
            Payload::DataCountSection { .. } => {
                data_count = section.as_ref().map(|(_, r)| section_start..r.end);
            }
            Payload::CodeSectionEntry(body) => {
                let mut ops = body
                    .get_operators_reader()
                    .map_err(|e| no(format!("code: {e}")))?;
                while !ops.eof() {
                    let index = match ops.read().map_err(|e| no(format!("code: {e}")))? {
                        Operator::MemoryInit { data_index, .. } => data_index,
                        Operator::DataDrop { data_index } => data_index,
                        _ => continue,
                    };
                    named = named.max(Some(index));
                }
            }
            Payload::DataSection(data) => {
                let min = minimum.ok_or_else(|| no("data segments without a memory"))?;
                for segment in data.clone() {
                    let segment = segment.map_err(|e| no(format!("data: {e}")))?;
                    let offset_expr = match segment.kind {
                        DataKind::Passive => {
                            segments.push(wasm[segment.range.clone()].to_vec());
                            continue;
                        }
                        DataKind::Active {
                            memory_index: 0,
                            offset_expr,
                        } => offset_expr,
                        DataKind::Active { .. } => return Err(no("a segment for another memory")),
                    };
                    // Flag 1 (passive), no bytes.
                    segments.push(vec![1, 0]);
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
                data_section = section.as_ref().map(|(_, r)| section_start..r.end);
            }
            _ => {}
        }
        if let Some((_, r)) = section {
            section_start = r.end;
        }
    }
    let minimum = minimum.ok_or_else(|| no("the module defines no memory"))?;
    // Segments past the last one named are never read.
    segments.truncate(named.map_or(0, |n| n as usize + 1));
    let count = segments.len() as u32;
    let mut data = Vec::new();
    leb128(&mut data, count);
    segments.iter().for_each(|s| data.extend_from_slice(s));
    let mut counted = Vec::new();
    leb128(&mut counted, count);
    // The sections to replace, in the module's order (the data count comes first).
    let mut edits: Vec<(Range<usize>, u8, Vec<u8>)> = Vec::new();
    if let Some(r) = data_count {
        edits.push((r, 12, counted));
    }
    if let Some(r) = data_section {
        edits.push((r, 11, data));
    }
    let mut module = Vec::with_capacity(wasm.len() - image.len().min(wasm.len()));
    let mut at = 0;
    for (r, id, content) in edits {
        module.extend_from_slice(&wasm[at..r.start]);
        module.push(id);
        leb128(&mut module, content.len() as u32);
        module.extend_from_slice(&content);
        at = r.end;
    }
    module.extend_from_slice(&wasm[at..]);
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
