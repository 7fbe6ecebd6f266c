//! Running a box on wasmtime with WASI preview 1: arguments, environment, stdio and host
//! directories passed through beside the box's own filesystem.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use wasmtime::{Engine, Instance, Linker, Module, Store};

use crate::cache::wt;
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

/// A host directory made visible to the guest at `guest` (`--dir HOST::GUEST`).
#[derive(Clone, Debug)]
pub struct DirMap {
    pub host: PathBuf,
    pub guest: String,
}

impl std::str::FromStr for DirMap {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (host, guest) = match s.split_once("::") {
            Some((h, g)) => (h, g),
            None => (s, s),
        };
        if host.is_empty() || guest.is_empty() {
            return Err(format!("--dir {s:?}: expected HOST::GUEST or DIR"));
        }
        Ok(DirMap {
            host: PathBuf::from(host),
            guest: guest.to_owned(),
        })
    }
}

/// An environment variable for the guest (`--env K=V`).
#[derive(Clone, Debug)]
pub struct EnvVar {
    pub key: String,
    pub value: String,
}

impl std::str::FromStr for EnvVar {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok(EnvVar {
                key: k.to_owned(),
                value: v.to_owned(),
            }),
            _ => Err(format!("--env {s:?}: expected KEY=VALUE")),
        }
    }
}

/// What one instance of a box gets from the host.
#[derive(Clone, Debug, Default)]
pub struct Invocation {
    /// `argv`, including `argv[0]`.
    pub args: Vec<String>,
    pub env: Vec<EnvVar>,
    pub dirs: Vec<DirMap>,
}

impl Invocation {
    /// `argv[0]` is the box's file name, as a shell would pass it.
    pub fn new(wasm: &Path, rest: &[String], env: Vec<EnvVar>, dirs: Vec<DirMap>) -> Self {
        let argv0 = wasm
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "box.wasm".to_owned());
        let mut args = vec![argv0];
        args.extend(rest.iter().cloned());
        Invocation { args, env, dirs }
    }

    /// The WASI context; `quiet` sends stdout and stderr nowhere (for benchmarks).
    pub fn wasi(&self, quiet: bool) -> Result<WasiP1Ctx> {
        let mut b = WasiCtxBuilder::new();
        // Host file calls run on this thread rather than a thread pool, as the `wasmtime` CLI
        // does for synchronous guests (set before the preopens, which capture it).
        b.allow_blocking_current_thread(true);
        if quiet {
            b.stdout(std::io::empty()).stderr(std::io::empty());
        } else {
            b.inherit_stdio();
        }
        b.args(&self.args);
        for e in &self.env {
            b.env(&e.key, &e.value);
        }
        for d in &self.dirs {
            wt(b.preopened_dir(&d.host, &d.guest, FsPerms::ReadWrite)
                .map(|_| ()))
            .with_context(|| format!("--dir {}::{}", d.host.display(), d.guest))?;
        }
        Ok(b.build_p1())
    }
}

/// A linker with WASI preview 1, shared by every instance of a run or benchmark.
pub fn linker(engine: &Engine) -> Result<Linker<WasiP1Ctx>> {
    let mut linker = Linker::new(engine);
    wt(p1::add_to_linker_sync(&mut linker, |ctx| ctx))?;
    Ok(linker)
}

/// Instantiates `module` with a fresh store.
pub fn instantiate(
    linker: &Linker<WasiP1Ctx>,
    module: &Module,
    wasi: WasiP1Ctx,
) -> Result<(Store<WasiP1Ctx>, Instance)> {
    let mut store = Store::new(module.engine(), wasi);
    let instance = wt(linker.instantiate(&mut store, module))?;
    Ok((store, instance))
}

/// How a trap's error message starts (so `main` can tell a trap from a host-side failure).
pub const TRAPPED: &str = "the guest trapped";

/// Runs the command's `_start` and returns its exit status (0 when it returns normally).
pub fn start(store: &mut Store<WasiP1Ctx>, instance: &Instance) -> Result<i32> {
    let func = wt(instance.get_typed_func::<(), ()>(&mut *store, "_start"))
        .context("the module has no `_start`: not a WASI command")?;
    match func.call(&mut *store, ()) {
        Ok(()) => Ok(0),
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(exit) => Ok(exit.0),
            None => Err(anyhow::anyhow!("{TRAPPED}: {e:#}")),
        },
    }
}

/// The shim's export that serializes the upper layer (see `vfs-wasi-shim`), present in every
/// Python box.
pub const EXPORT_UPPER: &str = "vfs_export_upper";

/// `vfs-box run`: compile (cached), instantiate once, run with the host's stdio; with
/// `save_upper`, write what the guest changed in its filesystem there as an image layer (also
/// when the guest exits with an error status, so nothing it wrote is lost).
pub fn run(wasm: &Path, inv: &Invocation, save_upper: Option<&Path>) -> Result<i32> {
    if !wasm.is_file() {
        bail!("{}: no such file", wasm.display());
    }
    let engine = crate::cache::engine()?;
    let module = crate::cache::load(&engine, wasm)?;
    if save_upper.is_some() && module.get_export(EXPORT_UPPER).is_none() {
        bail!(
            "--save-upper: {} does not export `{EXPORT_UPPER}` (it was not built with \
             vfs-wasi-shim and `--export={EXPORT_UPPER}`)",
            wasm.display()
        );
    }
    let linker = linker(&engine)?;
    let (mut store, instance) = instantiate(&linker, &module, inv.wasi(false)?)?;
    let code = start(&mut store, &instance)?;
    if let Some(out) = save_upper {
        let layer = export_upper(&mut store, &instance)?;
        std::fs::write(out, &layer).with_context(|| format!("writing {}", out.display()))?;
        eprintln!(
            "vfs-box: saved the upper layer to {} ({} bytes)",
            out.display(),
            layer.len()
        );
    }
    Ok(code)
}

/// Calls the guest's `vfs_export_upper` and copies the layer it returns out of guest memory.
fn export_upper(store: &mut Store<WasiP1Ctx>, instance: &Instance) -> Result<Vec<u8>> {
    let f = wt(instance.get_typed_func::<(), i64>(&mut *store, EXPORT_UPPER))?;
    let packed = wt(f.call(&mut *store, ())).context("exporting the upper layer")? as u64;
    if packed == 0 {
        bail!("the guest could not export its upper layer (its reason is on stderr above)");
    }
    let (addr, len) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
    let memory = instance
        .get_memory(&mut *store, "memory")
        .context("the guest exports no memory")?;
    memory
        .data(&*store)
        .get(addr..addr + len)
        .map(<[u8]>::to_vec)
        .with_context(|| format!("the exported layer ({len} bytes at {addr:#x}) is outside memory"))
}
