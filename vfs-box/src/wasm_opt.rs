//! Binaryen's `wasm-opt -O2` over the Python guest's code, once per guest build.
//!
//! libpython comes compiled (`-O3`, one object file per C source) and is linked as it is, so
//! nothing is inlined across CPython's files: `PyObject_Vectorcall`, `_Py_Dealloc`, the dict
//! lookups are calls from the interpreter loop. wasm-opt optimizes the linked module whole.
//! Measured with `benches/serve_ab.py` (the Flask example, 3,000 requests a side, alternated,
//! both orders): `-O3` made the run 4.7 % and 3.8 % shorter; `-O2` ran the same as `-O3`
//! (0.978 and 0.992) in half the time (19 s against 32–40 s on two cores), with smaller code
//! (the Flask box's code without its data: 4.72 MB unoptimized, 4.23 at `-O3`, 4.09 at `-O2`).
//!
//! Only the code is given to wasm-opt. Its memory-packing pass drops the zeros at the end of
//! data segments, and the guest's layer table (`vfs-image`'s `embed`) is a reserved run of
//! zeros that must stay whole in one segment; so the data (and data count) sections are taken
//! out before and put back after, byte for byte. wasm-opt does not move memory addresses, so
//! the code still finds every static where the data puts it.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use wasmparser::{Parser, Payload};

/// The program, from Debian's `binaryen` (`scripts/tools.sh` installs it).
const WASM_OPT: &str = "wasm-opt";

/// What to do when it is missing.
const INSTALL: &str =
    "install Debian's binaryen (`source scripts/tools.sh`, or `apt-get install binaryen`)";

/// How hard wasm-opt optimizes (see the module's documentation for why not `-O3`).
const LEVEL: &str = "-O2";

/// What wasm-opt is asked for: [`LEVEL`], and the features rustc and wasi-sdk's clang emit for
/// wasm32-wasip1 (Debian's binaryen 108 does not read them from the module's
/// `target_features` section when the section lists fewer than the code uses).
const ARGS: &[&str] = &[
    LEVEL,
    "--enable-bulk-memory",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-multivalue",
    "--enable-reference-types",
];

/// How old another optimized copy must be before a new one replaces it on disk.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

/// Section ids of the data and the data count.
const DATA: u8 = 11;
const DATA_COUNT: u8 = 12;
const CODE: u8 = 10;

/// The optimized copy of the guest at `wasm`, made beside it unless one for these exact bytes
/// (and this wasm-opt) is already there. Copies for other bytes are removed once they are
/// [`STALE_AFTER`] old.
pub fn optimized(wasm: &Path) -> Result<PathBuf> {
    let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let version = version()?;
    let mut digest = Sha256::new();
    digest.update(&bytes);
    digest.update(ARGS.join(" ").as_bytes());
    digest.update(version.as_bytes());
    let digest = format!("{:x}", digest.finalize());
    let stem = wasm
        .file_stem()
        .and_then(|s| s.to_str())
        .context("the guest's file name is not UTF-8")?;
    let dir = wasm.parent().unwrap_or(Path::new("."));
    let prefix = format!("{stem}.opt-");
    let out = dir.join(format!("{prefix}{}.wasm", &digest[..16]));
    if out.is_file() {
        return Ok(out);
    }
    eprintln!(
        "vfs-box: optimizing {} with {version} {LEVEL} (once per guest build; about half a minute)",
        wasm.display()
    );
    let parts = Parts::of(&bytes).with_context(|| format!("reading {}", wasm.display()))?;
    // Named so that `remove_stale` of another vfs-box finishing meanwhile leaves them alone.
    let code_in = dir.join(format!(".{stem}.wasm-opt-in-{}", std::process::id()));
    let code_out = dir.join(format!(".{stem}.wasm-opt-out-{}", std::process::id()));
    let result = (|| {
        std::fs::write(&code_in, parts.without_data(&bytes))
            .with_context(|| format!("writing {}", code_in.display()))?;
        let run = Command::new(WASM_OPT)
            .args(ARGS)
            .arg(&code_in)
            .arg("-o")
            .arg(&code_out)
            .output()
            .with_context(|| format!("running {WASM_OPT}: {INSTALL}"))?;
        if !run.status.success() {
            bail!(
                "{WASM_OPT} {LEVEL} failed on {} ({}):\n{}",
                wasm.display(),
                run.status,
                String::from_utf8_lossy(&run.stderr)
            );
        }
        let code =
            std::fs::read(&code_out).with_context(|| format!("reading {}", code_out.display()))?;
        let whole = parts.with_data(&bytes, &code)?;
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&whole)
            .context("the optimized guest does not validate")?;
        let tmp = out.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &whole).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &out).with_context(|| format!("writing {}", out.display()))
    })();
    let _ = std::fs::remove_file(&code_in);
    let _ = std::fs::remove_file(&code_out);
    result?;
    remove_stale(dir, &prefix, &out);
    Ok(out)
}

/// `wasm-opt --version`'s line, e.g. `wasm-opt version 108`.
fn version() -> Result<String> {
    let out = Command::new(WASM_OPT)
        .arg("--version")
        .output()
        .with_context(|| format!("running {WASM_OPT}: {INSTALL}"))?;
    if !out.status.success() {
        bail!("{WASM_OPT} --version failed ({})", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Removes earlier optimized copies beside `keep` older than [`STALE_AFTER`] (best effort).
/// Only finished copies match: work files of a run in progress are named otherwise.
fn remove_stale(dir: &Path, prefix: &str, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // A copy made recently may be one another vfs-box (built from other sources in this
        // folder) has just been handed and is about to read.
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if old && path != keep && name.starts_with(prefix) && name.ends_with(".wasm") {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Where a module's sections are: every section's byte range (id, range), in order.
struct Parts {
    sections: Vec<(u8, Range<usize>)>,
}

impl Parts {
    fn of(bytes: &[u8]) -> Result<Parts> {
        let mut sections = Vec::new();
        for payload in Parser::new(0).parse_all(bytes) {
            let payload = payload.context("not a valid wasm module")?;
            if let Payload::ModuleSection { .. } | Payload::ComponentSection { .. } = payload {
                bail!("a component, not a core module");
            }
            if let Some((id, range)) = payload.as_section() {
                // `as_section` gives the contents; the section starts at its id byte, before
                // the LEB128 size.
                let start = section_start(bytes, id, range.start)?;
                sections.push((id, start..range.end));
            }
        }
        Ok(Parts { sections })
    }

    /// The module with no data or data count section.
    fn without_data(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes[..8].to_vec();
        for (id, r) in &self.sections {
            if *id != DATA && *id != DATA_COUNT {
                out.extend_from_slice(&bytes[r.clone()]);
            }
        }
        out
    }

    /// `code` (a module made from [`Parts::without_data`]) with this module's data count and
    /// data sections put back where the format wants them: the count before the code
    /// section, the data after it.
    fn with_data(&self, bytes: &[u8], code: &[u8]) -> Result<Vec<u8>> {
        let raw = |id| {
            self.sections
                .iter()
                .find(|(i, _)| *i == id)
                .map(|(_, r)| &bytes[r.clone()])
        };
        let (count, data) = (raw(DATA_COUNT), raw(DATA));
        let new = Parts::of(code).context("reading wasm-opt's output")?;
        if new
            .sections
            .iter()
            .any(|(id, _)| *id == DATA || *id == DATA_COUNT)
        {
            bail!("wasm-opt's output has data of its own");
        }
        let mut out = code[..8].to_vec();
        let mut placed = false;
        for (id, r) in &new.sections {
            if *id == CODE {
                out.extend_from_slice(count.unwrap_or_default());
                out.extend_from_slice(&code[r.clone()]);
                out.extend_from_slice(data.unwrap_or_default());
                placed = true;
            } else {
                out.extend_from_slice(&code[r.clone()]);
            }
        }
        if !placed && data.is_some() {
            bail!("wasm-opt's output has no code section to put the data after");
        }
        Ok(out)
    }
}

/// The offset of the id byte of the section whose contents start at `contents`: the id, then
/// the contents' size as LEB128 (1 to 5 bytes), end there.
fn section_start(bytes: &[u8], id: u8, contents: usize) -> Result<usize> {
    for len in 1..=5 {
        let Some(start) = contents.checked_sub(len + 1) else {
            break;
        };
        let leb = &bytes[start + 1..contents];
        let ends_here = leb[..len - 1].iter().all(|b| b & 0x80 != 0) && leb[len - 1] & 0x80 == 0;
        if bytes[start] == id && ends_here {
            return Ok(start);
        }
    }
    bail!("cannot find the start of section {id} before offset {contents}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_encoder::{
        CodeSection, ConstExpr, DataCountSection, DataSection, ExportKind, ExportSection, Function,
        FunctionSection, Instruction, MemorySection, MemoryType, Module, TypeSection,
    };

    /// A module whose data has a run of zeros at the end (as the layer table is), a data
    /// count, and one function reading memory.
    fn module(body: &[Instruction]) -> Vec<u8> {
        let mut m = Module::new();
        let mut types = TypeSection::new();
        types.ty().function([], [wasm_encoder::ValType::I32]);
        m.section(&types);
        let mut funcs = FunctionSection::new();
        funcs.function(0);
        m.section(&funcs);
        let mut mem = MemorySection::new();
        mem.memory(MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        m.section(&mem);
        let mut exports = ExportSection::new();
        exports.export("f", ExportKind::Func, 0);
        m.section(&exports);
        m.section(&DataCountSection { count: 1 });
        let mut code = CodeSection::new();
        let mut f = Function::new([]);
        for i in body {
            f.instruction(i);
        }
        f.instruction(&Instruction::End);
        code.function(&f);
        m.section(&code);
        let mut data = DataSection::new();
        let mut bytes = b"layer table".to_vec();
        bytes.resize(4096, 0);
        data.active(0, &ConstExpr::i32_const(1024), bytes);
        m.section(&data);
        m.finish()
    }

    /// [`module`] with a function that loads from the data's address.
    fn loading_module() -> Vec<u8> {
        module(&[
            Instruction::I32Const(1024),
            Instruction::I32Load(wasm_encoder::MemArg {
                offset: 0,
                align: 2,
                memory_index: 0,
            }),
        ])
    }

    /// The bytes of section `id` of module `b`, id and size included.
    fn section(b: &[u8], id: u8) -> Vec<u8> {
        let parts = Parts::of(b).unwrap();
        let r = parts.sections.iter().find(|s| s.0 == id).unwrap().1.clone();
        b[r].to_vec()
    }

    #[test]
    fn data_is_taken_out_and_put_back_byte_for_byte_around_new_code() {
        let old = loading_module();
        let parts = Parts::of(&old).unwrap();
        let stripped = parts.without_data(&old);
        let ids: Vec<u8> = Parts::of(&stripped)
            .unwrap()
            .sections
            .iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(ids, [1, 3, 5, 7, 10], "no data count, no data");
        // Stands in for wasm-opt's output: other code, no data.
        let seven = module(&[Instruction::I32Const(7)]);
        let other = Parts::of(&seven).unwrap().without_data(&seven);
        let whole = parts.with_data(&old, &other).unwrap();
        wasmparser::Validator::new().validate_all(&whole).unwrap();
        assert_eq!(section(&whole, DATA), section(&old, DATA));
        assert_eq!(section(&whole, DATA_COUNT), section(&old, DATA_COUNT));
        assert_eq!(section(&whole, CODE), section(&other, CODE));
        assert_ne!(section(&whole, CODE), section(&old, CODE));
        let new = Parts::of(&whole).unwrap();
        let ids: Vec<u8> = new.sections.iter().map(|s| s.0).collect();
        assert_eq!(ids, [1, 3, 5, 7, 12, 10, 11]);
    }

    #[test]
    fn output_with_data_of_its_own_is_refused() {
        let old = module(&[Instruction::I32Const(1)]);
        let parts = Parts::of(&old).unwrap();
        let err = parts.with_data(&old, &old).unwrap_err();
        assert!(err.to_string().contains("data of its own"), "{err}");
    }

    /// The real wasm-opt keeps the zeros at the end of a segment when it never sees the data
    /// (and drops them when it does: why the data is taken out). Needs binaryen
    /// (`scripts/tools.sh`).
    #[test]
    fn wasm_opt_leaves_the_data_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.wasm");
        let old = loading_module();
        std::fs::write(&path, &old).unwrap();
        let out = optimized(&path).unwrap();
        let new = std::fs::read(&out).unwrap();
        assert_eq!(section(&new, DATA), section(&old, DATA));
        // Cached: the second call makes nothing new.
        assert_eq!(optimized(&path).unwrap(), out);
        let copies = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(copies, 2, "the guest and one optimized copy");
        // What happens when wasm-opt sees the data: the zeros are gone.
        let all = dir.path().join("all.wasm");
        let st = Command::new(WASM_OPT)
            .args(ARGS)
            .arg(&path)
            .arg("-o")
            .arg(&all)
            .status()
            .unwrap();
        assert!(st.success());
        let packed = std::fs::read(&all).unwrap();
        assert!(section(&packed, DATA).len() < section(&old, DATA).len() / 2);
    }
}
