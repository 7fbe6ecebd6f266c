//! Baking image layers into a module built with `vfs-wasi-shim`, by rewriting the binary (no
//! runtime involved): what `vfs-image embed` and `vfs-box` do.
//!
//! Where the layers go, and why the guest's allocator never touches them: each layer becomes a
//! new active data segment placed at the end of the module's initial memory (16-aligned), and
//! the memory's minimum size grows to cover them. wasi-libc's `malloc` starts its heap at the
//! linker constants `__heap_base..__heap_end`, fixed when the module was linked (so they end at
//! the *original* initial size), and later grows with `memory.grow` past the *current* end;
//! the pages between the old and the new initial size are therefore never handed out. The
//! end-to-end tests check this by allocating far more than an image's size and re-reading
//! every file of the image afterwards.
//!
//! How the shim finds them with no parsing at start-up: the shim holds a
//! [`LayerTable`](crate::format::LayerTable) in a data segment (its layout is defined once, in
//! [`crate::format`]). `embed` finds the table's magic in the data segments and writes the new
//! layers' addresses into the next free slots, so embedding again adds layers on top of those
//! already there.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use wasmparser::{BinaryReader, DataKind, DataSectionReader, MemorySectionReader, Operator};

use crate::format::{LAYER_MAGIC, LT_CAPACITY, LT_COUNT, LT_SLOTS, LT_SLOT_SIZE};

/// Layer data is 16-aligned in memory.
const ALIGN: u64 = 16;
const PAGE: u64 = 65536;

/// Section ids of the WebAssembly binary format.
const SECTION_MEMORY: u8 = 5;
const SECTION_DATA: u8 = 11;
const SECTION_DATA_COUNT: u8 = 12;

/// Why a module could not take the layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedError {
    /// The module has no layer table: it was not linked with `vfs-wasi-shim`.
    NoShim,
    /// The module is not one `embed` can rewrite, or the layers do not fit; the text says why.
    Invalid(String),
}

impl fmt::Display for EmbedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmbedError::NoShim => f.write_str(
                "its data has no layer table (link the guest with vfs-wasi-shim: `use vfs_wasi_shim as _;`)",
            ),
            EmbedError::Invalid(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for EmbedError {}

impl From<wasmparser::BinaryReaderError> for EmbedError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        EmbedError::Invalid(format!("malformed module: {e}"))
    }
}

/// `Err(EmbedError::Invalid(..))` with the formatted text unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(EmbedError::Invalid(format!($($why)+)));
        }
    };
}

fn invalid(why: &str) -> EmbedError {
    EmbedError::Invalid(why.to_string())
}

/// One top-level section of the module: id and the byte range of its body.
struct Section {
    id: u8,
    body: std::ops::Range<usize>,
}

/// Returns `module` with `layers` appended on top of any layers it already holds.
pub fn embed(module: &[u8], layers: &[&[u8]]) -> Result<Vec<u8>, EmbedError> {
    ensure!(
        module.len() >= 8 && &module[..4] == b"\0asm",
        "not a WebAssembly module"
    );
    ensure!(
        module[4..8] == [1, 0, 0, 0],
        "not a core WebAssembly module (version 1)"
    );
    let sections = split_sections(module)?;
    let section = |id: u8| sections.iter().find(|s| s.id == id);
    let mem_sec = section(SECTION_MEMORY).ok_or_else(|| {
        invalid("the module defines no memory (an imported memory is not supported)")
    })?;
    let data_sec = section(SECTION_DATA).ok_or(EmbedError::NoShim)?;

    // The memory: exactly one 32-bit memory with ordinary pages.
    let mems = MemorySectionReader::new(BinaryReader::new(
        &module[mem_sec.body.clone()],
        mem_sec.body.start,
    ))?;
    ensure!(
        mems.count() == 1,
        "the module has {} memories; exactly one is supported",
        mems.count()
    );
    let mem = mems
        .into_iter()
        .next()
        .ok_or_else(|| invalid("empty memory section"))??;
    ensure!(
        !mem.memory64 && !mem.shared,
        "64-bit and shared memories are not supported"
    );
    ensure!(
        mem.page_size_log2.is_none(),
        "custom page sizes are not supported"
    );

    let data = scan_data(module, data_sec)?;
    let segments: Vec<_> = data.segments.iter().map(|s| s.range.clone()).collect();
    let (table_at, capacity, count) = table(module, &data, data_sec)?;
    ensure!(
        count + layers.len() <= capacity,
        "the module already holds {count} layer(s); at most {capacity} fit"
    );

    // Place each layer after the current initial memory, 16-aligned.
    let mut end = mem.initial * PAGE;
    let mut placed = Vec::with_capacity(layers.len());
    for l in layers {
        let addr = end.div_ceil(ALIGN) * ALIGN;
        end = addr + l.len() as u64;
        ensure!(
            end <= u64::from(u32::MAX) + 1,
            "the layers do not fit in a 4 GiB memory"
        );
        placed.push((addr as u32, l.len() as u32));
    }
    let new_initial = end.div_ceil(PAGE).max(mem.initial);
    let new_max = mem.maximum.map(|m| m.max(new_initial));

    // Patch the table in a copy of the module, then rebuild the sections that change.
    let mut patched = module.to_vec();
    for (i, (addr, len)) in placed.iter().enumerate() {
        let slot = table_at + LT_SLOTS + LT_SLOT_SIZE * (count + i);
        patched[slot..slot + 4].copy_from_slice(&addr.to_le_bytes());
        patched[slot + 4..slot + LT_SLOT_SIZE].copy_from_slice(&len.to_le_bytes());
    }
    patched[table_at + LT_COUNT..table_at + LT_COUNT + 4]
        .copy_from_slice(&((count + layers.len()) as u32).to_le_bytes());

    let total_segments = segments.len() + layers.len();
    let mut out = patched[..8].to_vec();
    for s in &sections {
        let body = match s.id {
            SECTION_MEMORY => {
                let mut b = Vec::new();
                leb_u32(&mut b, 1);
                match new_max {
                    None => {
                        b.push(0x00);
                        leb_u64(&mut b, new_initial);
                    }
                    Some(max) => {
                        b.push(0x01);
                        leb_u64(&mut b, new_initial);
                        leb_u64(&mut b, max);
                    }
                }
                b
            }
            SECTION_DATA_COUNT => {
                let mut b = Vec::new();
                leb_u32(&mut b, total_segments as u32);
                b
            }
            SECTION_DATA => {
                let mut b = Vec::new();
                leb_u32(&mut b, total_segments as u32);
                for r in &segments {
                    b.extend_from_slice(&patched[r.clone()]);
                }
                for ((addr, _), l) in placed.iter().zip(layers) {
                    b.push(0x00); // active, memory 0
                    b.push(0x41); // i32.const
                    leb_i32(&mut b, *addr as i32);
                    b.push(0x0b); // end
                    leb_u32(&mut b, l.len() as u32);
                    b.extend_from_slice(l);
                }
                b
            }
            _ => patched[s.body.clone()].to_vec(),
        };
        out.push(s.id);
        leb_u32(
            &mut out,
            u32::try_from(body.len()).map_err(|_| invalid("a section exceeds 4 GiB"))?,
        );
        out.extend_from_slice(&body);
    }

    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&out)
        .map_err(|e| EmbedError::Invalid(format!("the rewritten module does not validate: {e}")))?;
    Ok(out)
}

/// One active data segment of memory 0 with a constant address.
struct Segment {
    /// The segment's whole encoding in the module (kept as it is when rewriting).
    range: core::ops::Range<usize>,
    /// Where its bytes are in the module, and where they go in memory (`None` for segments
    /// that are passive, of another memory, or at a computed address).
    data: core::ops::Range<usize>,
    addr: Option<u64>,
}

/// The data section read: every segment, and where the layer table starts (its file offset
/// and its memory address).
struct DataScan {
    segments: Vec<Segment>,
    table: Option<(usize, u64)>,
}

impl DataScan {
    /// The `len` bytes of initial memory at `addr`, as the segments set them (zero where none
    /// does), like a fresh instance's memory. A pre-initialized module's segments are its
    /// snapshot's memory cut at runs of zeros, so a table or a layer may span several.
    fn memory(&self, module: &[u8], addr: u64, len: usize) -> Vec<u8> {
        let mut out = alloc::vec![0u8; len];
        let end = addr + len as u64;
        for seg in &self.segments {
            let Some(start) = seg.addr else { continue };
            let seg_end = start + seg.data.len() as u64;
            let (lo, hi) = (start.max(addr), seg_end.min(end));
            if lo < hi {
                let from = seg.data.start + (lo - start) as usize;
                let to = (lo - addr) as usize;
                let n = (hi - lo) as usize;
                out[to..to + n].copy_from_slice(&module[from..from + n]);
            }
        }
        out
    }

    /// The end of the highest byte any segment sets.
    fn memory_end(&self) -> u64 {
        self.segments
            .iter()
            .filter_map(|s| s.addr.map(|a| a + s.data.len() as u64))
            .max()
            .unwrap_or(0)
    }
}

fn scan_data(module: &[u8], data_sec: &Section) -> Result<DataScan, EmbedError> {
    let reader = DataSectionReader::new(BinaryReader::new(
        &module[data_sec.body.clone()],
        data_sec.body.start,
    ))?;
    let mut segments = Vec::new();
    let mut table = None;
    for seg in reader.into_iter_with_offsets() {
        let (_, seg) = seg?;
        let data_at = seg.data.as_ptr() as usize - module.as_ptr() as usize;
        let mut addr = None;
        if let DataKind::Active {
            memory_index: 0,
            offset_expr,
        } = &seg.kind
        {
            let mut ops = offset_expr.get_operators_reader();
            if let (Ok(Operator::I32Const { value }), Ok(Operator::End)) = (ops.read(), ops.read())
            {
                addr = Some(u64::from(value as u32));
                for pos in find_all(seg.data, &LAYER_MAGIC) {
                    ensure!(
                        table.is_none(),
                        "the module holds more than one wasm-vfs layer table"
                    );
                    table = Some((data_at + pos, u64::from(value as u32) + pos as u64));
                }
            }
        }
        segments.push(Segment {
            range: seg.range.clone(),
            data: data_at..data_at + seg.data.len(),
            addr,
        });
    }
    Ok(DataScan { segments, table })
}

/// The layer table's file offset, capacity and count, checked.
fn table(
    module: &[u8],
    data: &DataScan,
    data_sec: &Section,
) -> Result<(usize, usize, usize), EmbedError> {
    let (table_at, _) = data.table.ok_or(EmbedError::NoShim)?;
    // The table is patched in the file in place: all of it must be in its own segment (it is in
    // a module as linked; a pre-initialized module's snapshot may have cut it).
    let segment = data
        .segments
        .iter()
        .find(|s| s.data.contains(&table_at))
        .ok_or(EmbedError::NoShim)?;
    ensure!(
        segment.data.end - table_at >= LT_SLOTS,
        "the wasm-vfs layer table is cut off at the end of its data segment (a pre-initialized \
         or optimized module: layers go in before pre-initialization)"
    );
    let (capacity, count) = table_header(&module[table_at..table_at + LT_SLOTS])?;
    let table_len = LT_SLOTS + LT_SLOT_SIZE * capacity;
    ensure!(
        table_at + table_len <= segment.data.end && table_at + table_len <= data_sec.body.end,
        "the wasm-vfs layer table is cut off at the end of its data segment (a pre-initialized \
         or optimized module: layers go in before pre-initialization)"
    );
    Ok((table_at, capacity, count))
}

/// The capacity and count in a layer table's first [`LT_SLOTS`] bytes, checked.
fn table_header(header: &[u8]) -> Result<(usize, usize), EmbedError> {
    let capacity = read_u32_at(header, LT_CAPACITY) as usize;
    let count = read_u32_at(header, LT_COUNT) as usize;
    ensure!(
        (1..=1024).contains(&capacity) && count <= capacity,
        "the wasm-vfs layer table is damaged (capacity {capacity}, count {count})"
    );
    Ok((capacity, count))
}

fn read_u32_at(module: &[u8], at: usize) -> u32 {
    module
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// The layers embedded in `module`, bottom first: what [`embed`] put there, read back from the
/// data segments by the addresses in the layer table (so also from a pre-initialized box, whose
/// segments are the snapshot's memory; bytes no segment covers are zero, as in memory).
pub fn layers(module: &[u8]) -> Result<Vec<Vec<u8>>, EmbedError> {
    ensure!(
        module.len() >= 8 && &module[..4] == b"\0asm",
        "not a WebAssembly module"
    );
    let sections = split_sections(module)?;
    let data_sec = sections
        .iter()
        .find(|s| s.id == SECTION_DATA)
        .ok_or(EmbedError::NoShim)?;
    let data = scan_data(module, data_sec)?;
    let (_, table_addr) = data.table.ok_or(EmbedError::NoShim)?;
    let (_, count) = table_header(&data.memory(module, table_addr, LT_SLOTS))?;
    let slots = data.memory(module, table_addr + LT_SLOTS as u64, LT_SLOT_SIZE * count);
    let memory_end = data.memory_end();
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let addr = u64::from(read_u32_at(&slots, LT_SLOT_SIZE * i));
        let len = read_u32_at(&slots, LT_SLOT_SIZE * i + 4);
        // A layer lies in the segments' bytes: a length past them is a damaged table (and
        // would make this allocate up to 4 GiB).
        ensure!(
            addr + u64::from(len) <= memory_end,
            "the wasm-vfs layer table is damaged (layer {i}: {len} bytes at {addr:#x}, past the \
             data segments' end at {memory_end:#x})"
        );
        out.push(data.memory(module, addr, len as usize));
    }
    Ok(out)
}

/// The top-level sections of a module, in order.
fn split_sections(module: &[u8]) -> Result<Vec<Section>, EmbedError> {
    let mut at = 8;
    let mut out = Vec::new();
    while at < module.len() {
        let id = module[at];
        let (size, n) =
            read_leb_u32(&module[at + 1..]).ok_or_else(|| invalid("malformed section header"))?;
        let start = at + 1 + n;
        let end = start
            .checked_add(size as usize)
            .filter(|&e| e <= module.len())
            .ok_or_else(|| invalid("a section runs past the end"))?;
        out.push(Section {
            id,
            body: start..end,
        });
        at = end;
    }
    Ok(out)
}

/// Every position of `needle` in `hay`.
fn find_all<'a>(hay: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    hay.windows(needle.len())
        .enumerate()
        .filter(move |(_, w)| *w == needle)
        .map(|(i, _)| i)
}

fn read_leb_u32(b: &[u8]) -> Option<(u32, usize)> {
    let mut v: u64 = 0;
    for (i, &byte) in b.iter().enumerate().take(5) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return u32::try_from(v).ok().map(|v| (v, i + 1));
        }
    }
    None
}

fn leb_u64(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn leb_u32(out: &mut Vec<u8>, v: u32) {
    leb_u64(out, u64::from(v));
}

fn leb_i32(out: &mut Vec<u8>, mut v: i32) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
        out.push(if done { byte } else { byte | 0x80 });
        if done {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb_round_trips() {
        for v in [0u32, 1, 127, 128, 624_485, u32::MAX] {
            let mut b = Vec::new();
            leb_u32(&mut b, v);
            assert_eq!(read_leb_u32(&b), Some((v, b.len())));
        }
        let mut b = Vec::new();
        leb_i32(&mut b, -1);
        assert_eq!(b, [0x7f]);
        b.clear();
        leb_i32(&mut b, 0x4000_0000u32 as i32);
        assert_eq!(b, [0x80, 0x80, 0x80, 0x80, 0x04]);
    }

    #[test]
    fn refuses_a_module_without_the_shim() {
        // (module (memory 1) (data (i32.const 16) "hello"))
        let m = [
            0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 0, 1, 11, 11, 1, 0, 65, 16, 11, 5, 104, 101, 108,
            108, 111,
        ];
        let e = embed(&m, &[b"x"]).unwrap_err();
        assert_eq!(e, EmbedError::NoShim);
    }

    /// `(module (memory 1) (data (i32.const ADDR) BYTES)...)`.
    fn module_with(segments: &[(i32, &[u8])]) -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend_from_slice(&[5, 3, 1, 0, 1]);
        let mut data = Vec::new();
        leb_u32(&mut data, segments.len() as u32);
        for (addr, bytes) in segments {
            data.extend_from_slice(&[0, 0x41]);
            leb_i32(&mut data, *addr);
            data.push(0x0b);
            leb_u32(&mut data, bytes.len() as u32);
            data.extend_from_slice(bytes);
        }
        m.push(11);
        leb_u32(&mut m, data.len() as u32);
        m.extend_from_slice(&data);
        m
    }

    #[test]
    fn reads_a_table_and_layers_a_snapshot_cut_into_segments() {
        // As a pre-initialized module's segments are: the snapshot's memory cut at zero runs.
        // The table (capacity 2, count 2) ends its first segment after the first slot's
        // address; the slots' rest is in a second; layer 0 (8 bytes at 4096) has a run of
        // zeros no segment covers; layer 1 (3 bytes at 8192) is in its own.
        let mut head = LAYER_MAGIC.to_vec();
        head.extend_from_slice(&2u32.to_le_bytes());
        head.extend_from_slice(&2u32.to_le_bytes());
        head.extend_from_slice(&4096u32.to_le_bytes());
        let mut rest = 8u32.to_le_bytes().to_vec();
        rest.extend_from_slice(&8192u32.to_le_bytes());
        rest.extend_from_slice(&3u32.to_le_bytes());
        let m = module_with(&[
            (1024, &head),
            (1024 + head.len() as i32, &rest),
            (4096, &[1, 2]),
            (4096 + 6, &[7, 8]),
            (8192, b"abc"),
        ]);
        assert_eq!(
            layers(&m).unwrap(),
            vec![vec![1, 2, 0, 0, 0, 0, 7, 8], b"abc".to_vec()]
        );
        // Layers cannot be added to it: the table would be patched across segment headers.
        let e = embed(&m, &[b"x"]).unwrap_err().to_string();
        assert!(e.contains("cut off at the end of its data segment"), "{e}");

        // A length reaching past every segment is a damaged table, not a 4 GiB allocation.
        let mut bad = rest.clone();
        bad[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        let m = module_with(&[
            (1024, &head),
            (1024 + head.len() as i32, &bad),
            (8192, b"abc"),
        ]);
        let e = layers(&m).unwrap_err().to_string();
        assert!(e.contains("layer 1: 4294967295 bytes at 0x2000"), "{e}");
    }

    #[test]
    fn places_layers_after_initial_memory_and_appends_on_a_second_embed() {
        // (module (memory 1) (data (i32.const 1024) <table with capacity 2>))
        let mut table = LAYER_MAGIC.to_vec();
        table.extend_from_slice(&2u32.to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes());
        table.extend_from_slice(&[0; 16]);
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend_from_slice(&[5, 3, 1, 0, 1]);
        let mut data = vec![1, 0, 0x41];
        leb_i32(&mut data, 1024);
        data.push(0x0b);
        leb_u32(&mut data, table.len() as u32);
        data.extend_from_slice(&table);
        m.push(11);
        leb_u32(&mut m, data.len() as u32);
        m.extend_from_slice(&data);

        let once = embed(&m, &[&[7u8; 100_000]]).unwrap();
        let twice = embed(&once, &[&[9u8; 10]]).unwrap();
        let at = find_all(&twice, &LAYER_MAGIC).next().unwrap();
        let u = |o: usize| u32::from_le_bytes(twice[at + o..at + o + 4].try_into().unwrap());
        assert_eq!(u(20), 2, "count");
        assert_eq!(
            (u(24), u(28)),
            (65536, 100_000),
            "first layer right after the 1 initial page"
        );
        assert_eq!(
            (u(32), u(36)),
            (3 * 65536, 10),
            "second layer after the grown memory"
        );
        assert!(embed(&twice, &[b"no room"]).is_err(), "the table is full");
        assert_eq!(
            layers(&twice).unwrap(),
            vec![vec![7u8; 100_000], vec![9u8; 10]],
            "the layers read back, bottom first"
        );
        assert_eq!(layers(&m).unwrap(), Vec::<Vec<u8>>::new());
        assert_eq!(layers(b"\0asm\x01\0\0\0"), Err(EmbedError::NoShim));
    }
}
