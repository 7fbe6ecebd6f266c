//! Pre-initializing a Python box with Wizer (`wasmtime-wizer` as a library).
//!
//! The box is instrumented by Wizer, instantiated here on wasmtime with a WASI context of our
//! choosing, and its `vfs_box_preinit` export is called: CPython initializes and runs the
//! requested imports. Wizer then reads the instance's memory and globals and writes a new module
//! whose initial state is that snapshot, with `_start` replaced by `vfs_box_resume` (the guest's
//! per-run entry point, see `guests/python/src/preinit.rs`).
//!
//! What the snapshot's instance gets from the host, and why:
//! - no host directories: anything opened then would be a descriptor the run's host does not
//!   have; the run's own `--dir`s are adopted when it starts;
//! - stdout and stderr go to memory: nothing printed while pre-initializing may reach a run's
//!   output (the guest also flushes its buffers before the snapshot); they are shown only if
//!   pre-initialization fails;
//! - arguments `python CODE` (the guest gives CPython only `python`) and an empty environment:
//!   a run refreshes both.

use anyhow::{bail, Context, Result};
use wasmtime::{Instance, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

use crate::run::EXPORT_UPPER;
use vfs_runner::wt;

/// The guest's initialization export.
const INIT_FUNC: &str = "vfs_box_preinit";
/// The guest's per-run entry point, which becomes `_start` in the snapshot.
const RESUME_FUNC: &str = "vfs_box_resume";
/// How much pre-initialization output is kept for an error message.
const OUTPUT_CAP: usize = 1 << 20;

/// Wizer's view of our instance: its globals and memory, read after initialization.
struct Snapshot<'a> {
    store: &'a mut Store<vfs_runner::Host>,
    instance: Instance,
}

impl InstanceState for Snapshot<'_> {
    async fn global_get(&mut self, name: &str, _type_hint: ValType) -> SnapshotVal {
        let global = self
            .instance
            .get_global(&mut *self.store, name)
            .unwrap_or_else(|| {
                panic!("Wizer asked for `{name}`, which its instrumentation exports")
            });
        match global.get(&mut *self.store) {
            wasmtime::Val::I32(x) => SnapshotVal::I32(x),
            wasmtime::Val::I64(x) => SnapshotVal::I64(x),
            wasmtime::Val::F32(x) => SnapshotVal::F32(x),
            wasmtime::Val::F64(x) => SnapshotVal::F64(x),
            wasmtime::Val::V128(x) => SnapshotVal::V128(x.as_u128()),
            other => {
                panic!("global `{name}` holds a reference ({other:?}), which Wizer cannot save")
            }
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        let memory = self
            .instance
            .get_memory(&mut *self.store, name)
            .unwrap_or_else(|| panic!("Wizer asked for memory `{name}`, which it exports"));
        contents(memory.data(&*self.store));
    }
}

/// Refuses, before any compiling, a module that cannot be pre-initialized, saying why.
fn check_exports(wasm: &[u8]) -> Result<()> {
    if !wasm.starts_with(b"\0asm") {
        bail!("not a WebAssembly module (no `\\0asm` header)");
    }
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::ExportSection(reader) = payload.context("reading the module")? {
            for export in reader {
                names.push(export.context("reading the exports")?.name.to_owned());
            }
        }
    }
    let has = |n: &str| names.iter().any(|e| e == n);
    match (has(INIT_FUNC), has(RESUME_FUNC)) {
        (true, true) => Ok(()),
        (false, _) if has("_start") && has(EXPORT_UPPER) => bail!(
            "it is already pre-initialized (its `{INIT_FUNC}` export was consumed by the \
             snapshot): pre-initialize the box built by `vfs-box python` instead"
        ),
        _ => bail!(
            "it does not export `{INIT_FUNC}` and `{RESUME_FUNC}`: only Python boxes built by \
             this version of `vfs-box python` can be pre-initialized"
        ),
    }
}

/// Returns `wasm` (a Python box) pre-initialized: CPython started and `code` run.
pub fn preinit(engine: &wasmtime::Engine, wasm: &[u8], code: &str) -> Result<Vec<u8>> {
    check_exports(wasm)?;
    let mut wizer = Wizer::new();
    wizer.init_func(INIT_FUNC);
    wizer.func_rename("_start", RESUME_FUNC);
    let (cx, instrumented) =
        wt(wizer.instrument(wasm)).context("preparing the box for pre-initialization (Wizer)")?;
    let module = crate::cache::load_bytes(engine, &instrumented, "the instrumented box")?;

    let stdout = MemoryOutputPipe::new(OUTPUT_CAP);
    let stderr = MemoryOutputPipe::new(OUTPUT_CAP);
    let mut b = WasiCtxBuilder::new();
    b.stdout(stdout.clone())
        .stderr(stderr.clone())
        .args(&["python", code]);
    let linker = vfs_runner::linker(engine)?;
    let (mut store, instance) =
        vfs_runner::instantiate(&linker, &module, vfs_runner::Host::unlimited(b.build_p1()))?;
    let init = wt(instance.get_typed_func::<(), ()>(&mut store, INIT_FUNC))?;
    if let Err(e) = init.call(&mut store, ()) {
        let output = String::from_utf8_lossy(&stderr.contents()).into_owned()
            + &String::from_utf8_lossy(&stdout.contents());
        let why = match e.downcast_ref::<I32Exit>() {
            Some(exit) => format!("it exited with status {}", exit.0),
            None => format!("it trapped: {e:#}"),
        };
        bail!("pre-initialization failed: {why}\n--- output of the box ---\n{output}");
    }
    let snapshot = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("starting an executor for Wizer")?
        .block_on(wizer.snapshot(
            &cx,
            &mut Snapshot {
                store: &mut store,
                instance,
            },
        ));
    let snapshot = wt(snapshot).context("writing the snapshot (Wizer)")?;
    // What a host calls in a pre-initialized box: `_start` (the resume), `memory`, and the
    // writable layer's export for `vfs-box run --save-upper`.
    crate::exports::keep_only(&snapshot, &["memory", "_start", EXPORT_UPPER])
        .context("trimming the snapshot's exports")
}

/// Arguments of `vfs-box preinit`.
#[derive(clap::Args, Debug)]
pub struct PreinitArgs {
    /// A Python box built by `vfs-box python` (not already pre-initialized).
    pub wasm: std::path::PathBuf,
    /// Python code to run before the snapshot, typically imports: "import json, re".
    #[arg(long, value_name = "CODE", default_value = "")]
    pub code: String,
    /// Where to write the pre-initialized box.
    #[arg(short = 'o', long = "output", value_name = "OUT.wasm")]
    pub output: std::path::PathBuf,
}

/// Reads the box at `input`, pre-initializes it with `code` and writes it to `output` (which may
/// be the same file).
pub fn rewrite(
    engine: &wasmtime::Engine,
    input: &std::path::Path,
    code: &str,
    output: &std::path::Path,
) -> Result<()> {
    let wasm = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let started = std::time::Instant::now();
    let out = preinit(engine, &wasm, code).with_context(|| input.display().to_string())?;
    std::fs::write(output, &out).with_context(|| format!("writing {}", output.display()))?;
    eprintln!(
        "vfs-box: pre-initialized {} ({} bytes, {:.1} s)",
        output.display(),
        out.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `vfs-box preinit`.
pub fn command(a: &PreinitArgs) -> Result<()> {
    if !a.wasm.is_file() {
        bail!("{}: no such file", a.wasm.display());
    }
    rewrite(&vfs_runner::engine()?, &a.wasm, &a.code, &a.output)
}
