//! Running the guest: every box split into code and memory image (`vfs-slots`), the code
//! compiled once and pre-instantiated (`InstancePre`: imports resolved once), then one fresh
//! instance per request in a resident memory slot restored from the image, with the request's
//! environment and body, its output kept in memory, and a deadline enforced by the probes
//! every box gets ([`super::probes`]) and the [`Watchdog`]. Nothing here knows HTTP.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use wasmtime::{Engine, InstancePre};
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};

use vfs_runner::{DirMap, EnvVar, Host, Invocation, Limits, Stdio, Trapped};
use vfs_slots::{Image, Slots, Tripwire};

use super::probes;
use super::watchdog::Watchdog;

/// How much of a box's stderr is kept per request (for the log); writes past it fail in the
/// guest.
const STDERR_CAP: usize = 64 << 10;

/// Most bytes of written pages a memory slot keeps between instances (copied back from the
/// image rather than faulted in again); past it, pages go back to the kernel.
const KEEP_RESIDENT: usize = 64 << 20;

/// One box, ready to be instantiated many times.
pub struct Guest {
    /// The file it came from (for messages).
    pub wasm: PathBuf,
    pre: InstancePre<Host>,
    /// Where each defined memory comes from: the first from the box's memory image when it
    /// could be split off (else wasmtime copies the data segments into each instance), the
    /// probe memory (the last) from a tripwire image.
    memories: Vec<Option<Arc<Image>>>,
}

/// What every instance of every box gets, besides the request.
pub struct Settings {
    /// Extra environment (`--env`), before the CGI variables.
    pub env: Vec<EnvVar>,
    /// Host directories (`--dir`).
    pub dirs: Vec<DirMap>,
    /// The limits of each instance (`--max-memory`, `--max-fs-bytes`...).
    pub limits: Limits,
    /// How long an instance may run.
    pub timeout: Duration,
    /// Most bytes an instance may write on stdout (headers and body).
    pub max_response: usize,
}

/// The engine, the boxes and the per-instance settings; shared by all requests.
pub struct Pool {
    engine: Engine,
    settings: Settings,
    slots: Arc<Slots>,
    watchdog: Watchdog,
}

/// How one instance ended.
#[derive(Debug)]
pub enum Ending {
    /// `_start` returned or called `proc_exit`: the status and everything written on stdout.
    Exited(i32, Bytes),
    /// The deadline passed (the instance's wire was tripped).
    TimedOut,
    /// The instance wrote more than `max_response` bytes on stdout.
    TooLarge,
    /// The guest trapped (or exceeded a limit in a way that traps).
    Trapped(String),
    /// The host could not create or run the instance.
    Failed(String),
}

/// What one request's instance did.
pub struct Ran {
    /// How it ended.
    pub ending: Ending,
    /// What it wrote on stderr (at most [`STDERR_CAP`] bytes).
    pub stderr: Bytes,
    /// Time to create the instance.
    pub instantiate: Duration,
    /// Time `_start` ran.
    pub run: Duration,
}

/// A finished instance's store, kept until its response is on its way: dropping it puts the
/// instance's memory slot back as the image gave it (`vfs-slots`), work the client need not
/// wait for.
pub struct Used(Option<wasmtime::Store<Host>>);

impl Used {
    /// Restores the slot (on this thread) and returns how long that took.
    pub fn restore(mut self) -> Duration {
        let t = Instant::now();
        drop(self.0.take());
        t.elapsed()
    }
}

impl Pool {
    /// A pool of memory slots (made as instances need them, kept for the next). Starts the
    /// watchdog's thread.
    pub fn new(settings: Settings) -> Result<Arc<Pool>> {
        let slots = Slots::new(KEEP_RESIDENT);
        let engine = vfs_runner::server_engine(&slots)?;
        let watchdog = Watchdog::start(settings.timeout).context("starting the watchdog thread")?;
        Ok(Arc::new(Pool {
            engine,
            settings,
            slots,
            watchdog,
        }))
    }

    /// How slots find written pages (`None`: they do not, and give every page back to the
    /// kernel after each instance).
    pub fn marks(&self) -> Option<vfs_slots::Marks> {
        self.slots.marks()
    }

    /// Splits `wasm` into code and memory image, adds the probes that stop it at its deadline
    /// ([`probes`]), compiles the code (or loads it from the compiled-module cache) and
    /// resolves its imports. A module that cannot be split runs with its data segments copied
    /// into each instance; the reason is printed.
    pub fn guest(&self, wasm: &Path) -> Result<Guest> {
        if !wasm.is_file() {
            anyhow::bail!("{}: no such file", wasm.display());
        }
        let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
        let label = wasm.display().to_string();
        let (code, image) = match vfs_slots::split(&bytes) {
            Ok(split) => {
                let image = Image::new(&split.image, split.minimum)
                    .with_context(|| format!("{label}: making its memory image"))?;
                (split.module, Some(image))
            }
            Err(why) => {
                eprintln!("vfs-box serve: {label}: data copied into every instance ({why})");
                (bytes, None)
            }
        };
        let defined = probes::defined_memories(&code)
            .with_context(|| format!("{label}: cannot be served"))?;
        let module = crate::cache::load_derived(
            &self.engine,
            &code,
            probes::SOURCE,
            || probes::instrument(&code).with_context(|| format!("{label}: cannot be served")),
            &label,
        )?;
        let mut memories = vec![None; defined as usize];
        if let Some(first) = memories.first_mut() {
            *first = image;
        }
        memories.push(Some(
            Image::tripwire(probes::PAGE).context("making the probe memory's image")?,
        ));
        if module.get_export("_start").is_none() {
            anyhow::bail!(
                "{}: exports no `_start`: not a WASI command (a box)",
                wasm.display()
            );
        }
        let linker = vfs_runner::linker(&self.engine)?;
        let pre = vfs_runner::wt(linker.instantiate_pre(&module))
            .with_context(|| format!("{}: resolving its imports", wasm.display()))?;
        Ok(Guest {
            wasm: wasm.to_path_buf(),
            pre,
            memories,
        })
    }

    /// Runs one fresh instance of `guest` with `env` (after the `--env` entries) and `stdin`,
    /// on the calling thread (which blocks until it ends). The instance's memory slot is
    /// restored when the returned [`Used`] is.
    pub fn run(&self, guest: &Guest, env: Vec<(String, String)>, stdin: Bytes) -> (Ran, Used) {
        let s = &self.settings;
        let stdout = MemoryOutputPipe::new(s.max_response.saturating_add(1));
        let stderr = MemoryOutputPipe::new(STDERR_CAP);
        let stdio = Stdio::Piped {
            stdin: MemoryInputPipe::new(stdin),
            stdout: stdout.clone(),
            stderr: stderr.clone(),
        };
        let mut all_env = s.env.clone();
        all_env.extend(env.into_iter().map(|(key, value)| EnvVar { key, value }));
        // No run-time arguments: the box's own ENTRYPOINT/CMD runs, as under `wasmtime run`.
        let inv =
            Invocation::new(&guest.wasm, &[], all_env, s.dirs.clone()).limited(s.limits.clone());
        let t0 = Instant::now();
        // Watched from before instantiation: a start function runs then.
        let wire = Tripwire::new();
        let watch = self.watchdog.watch(t0 + s.timeout, wire.clone());
        let made = inv.host(&stdio).and_then(|host| {
            let mut store = vfs_runner::store(&self.engine, host);
            let made = Slots::with_images(&guest.memories, Some(&wire), || {
                guest.pre.instantiate(&mut store)
            });
            let instance = vfs_runner::wt(made).context("instantiating the box")?;
            Ok((store, instance))
        });
        let instantiate = t0.elapsed();
        let (mut store, instance) = match made {
            Ok(x) => x,
            Err(e) => {
                drop(watch);
                let ending = if wire.disarm().unwrap_or(true) {
                    // A start function ran past the deadline.
                    Ending::TimedOut
                } else {
                    Ending::Failed(format!("{e:#}"))
                };
                let ran = Ran {
                    ending,
                    stderr: stderr.contents(),
                    instantiate,
                    run: Duration::ZERO,
                };
                return (ran, Used(None));
            }
        };
        let t1 = Instant::now();
        let result = vfs_runner::start(&mut store, &instance);
        let run = t1.elapsed();
        drop(watch);
        // A wire that cannot be disarmed leaves its slot inaccessible; the memory then
        // unmaps the slot instead of reusing it (vfs-slots), and the instance is done.
        let tripped = wire.disarm().unwrap_or(true);
        let out = stdout.contents();
        let ending = if out.len() > s.max_response {
            Ending::TooLarge
        } else {
            match result {
                Ok(code) => Ending::Exited(code, out),
                // Whatever the trap says (a probe's fault reads as an out-of-bounds access).
                Err(_) if tripped => Ending::TimedOut,
                Err(e) => match e.downcast_ref::<Trapped>() {
                    Some(t) => Ending::Trapped(t.detail.clone()),
                    None => Ending::Failed(format!("{e:#}")),
                },
            }
        };
        let ran = Ran {
            ending,
            stderr: stderr.contents(),
            instantiate,
            run,
        };
        (ran, Used(Some(store)))
    }
}
