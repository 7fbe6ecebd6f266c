//! Instantiating a WASI command and running it.

use std::fmt;

use anyhow::{Context, Result};
use wasmtime::{Engine, Instance, Linker, Module, Store, StoreLimits};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::I32Exit;

use crate::wt;

/// The guest ended abnormally (an `unreachable`, an out-of-bounds access, a stack overflow, an
/// abort): what a signal is to a process. Carried inside the `anyhow::Error` that [`start`]
/// returns, so a caller tells it from a host-side failure with `downcast_ref::<Trapped>()`.
#[derive(Debug)]
pub struct Trapped {
    /// wasmtime's description of the trap, with the guest's backtrace.
    pub detail: String,
    /// The trap's kind when wasmtime names one ([`wasmtime::Trap::Interrupt`] for a deadline
    /// passed, [`wasmtime::Trap::StackOverflow`]...); `None` for a host error that ended the
    /// guest.
    pub trap: Option<wasmtime::Trap>,
}

impl fmt::Display for Trapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the guest trapped: {}", self.detail)
    }
}

impl std::error::Error for Trapped {}

/// What the store of one instance holds: its WASI context and its resource limits.
pub struct Host {
    /// What the guest gets through WASI preview 1.
    pub wasi: WasiP1Ctx,
    limits: StoreLimits,
}

impl Host {
    /// `wasi` with the given store limits (see [`crate::Limits::store_limits`]).
    pub fn new(wasi: WasiP1Ctx, limits: StoreLimits) -> Self {
        Host { wasi, limits }
    }

    /// `wasi` with no limits beyond wasmtime's defaults.
    pub fn unlimited(wasi: WasiP1Ctx) -> Self {
        Host::new(wasi, StoreLimits::default())
    }
}

/// A linker with WASI preview 1, shared by every instance of a run or benchmark.
pub fn linker(engine: &Engine) -> Result<Linker<Host>> {
    let mut linker = Linker::new(engine);
    wt(p1::add_to_linker_sync(&mut linker, |host: &mut Host| {
        &mut host.wasi
    }))?;
    Ok(linker)
}

/// Instantiates `module` with a fresh store holding `host`, its limits in force from the
/// start: a module whose initial memory is already over the memory limit cannot start.
pub fn instantiate(
    linker: &Linker<Host>,
    module: &Module,
    host: Host,
) -> Result<(Store<Host>, Instance)> {
    let mut store = store(module.engine(), host);
    let instance = wt(linker.instantiate(&mut store, module)).with_context(|| {
        // The module's own memory: what a memory limit is checked against first.
        let initial: u64 = module
            .exports()
            .filter_map(|e| e.ty().memory().map(|m| m.minimum() << 16))
            .sum();
        format!(
            "instantiating the module (its initial memory is {} MiB)",
            initial >> 20
        )
    })?;
    Ok((store, instance))
}

/// A fresh store holding `host`, its limits in force: what every instance is created in.
pub fn store(engine: &Engine, host: Host) -> Store<Host> {
    let mut store = Store::new(engine, host);
    store.limiter(|host| &mut host.limits);
    store
}

/// Runs the command's `_start` and returns its exit status (0 when it returns normally, the
/// `proc_exit` code otherwise); a trap is an error holding [`Trapped`].
pub fn start(store: &mut Store<Host>, instance: &Instance) -> Result<i32> {
    let func = wt(instance.get_typed_func::<(), ()>(&mut *store, "_start"))
        .context("the module has no `_start`: not a WASI command")?;
    match func.call(&mut *store, ()) {
        Ok(()) => Ok(0),
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(exit) => Ok(exit.0),
            None => Err(anyhow::Error::new(Trapped {
                trap: e.downcast_ref::<wasmtime::Trap>().copied(),
                detail: format!("{e:#}"),
            })),
        },
    }
}

/// Calls the export `name`, which returns a buffer in guest memory packed as
/// `address << 32 | length` (0 for failure), and copies the buffer out. `Ok(None)` when the
/// guest reported failure.
pub fn call_buffer_export(
    store: &mut Store<Host>,
    instance: &Instance,
    name: &str,
) -> Result<Option<Vec<u8>>> {
    let f = wt(instance.get_typed_func::<(), i64>(&mut *store, name))?;
    let packed = wt(f.call(&mut *store, ())).with_context(|| format!("calling `{name}`"))? as u64;
    if packed == 0 {
        return Ok(None);
    }
    let (addr, len) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
    let memory = instance
        .get_memory(&mut *store, "memory")
        .context("the guest exports no memory")?;
    memory
        .data(&*store)
        .get(addr..addr + len)
        .map(|b| Some(b.to_vec()))
        .with_context(|| format!("`{name}` returned {len} bytes at {addr:#x}, outside memory"))
}
