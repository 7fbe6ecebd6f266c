//! Running the guest: every box split into code and memory image (`vfs-slots`), the code
//! compiled once and pre-instantiated (`InstancePre`: imports resolved once), then one fresh
//! instance per request in a resident memory slot restored from the image, with the request's
//! environment and body, its output kept in memory, and a deadline enforced by epoch
//! interruption. Nothing here knows HTTP.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use wasmtime::{Engine, InstancePre};
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};

use vfs_runner::{DirMap, EnvVar, Host, Invocation, Limits, Stdio, Trapped};

/// How often the engine's epoch advances: the granularity of `--timeout-ms`.
pub const TICK: Duration = Duration::from_millis(2);

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
    /// Its memory image, when it could be split off (else wasmtime copies the data segments
    /// into each instance).
    image: Option<Arc<vfs_slots::Image>>,
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
    slots: Arc<vfs_slots::Slots>,
}

/// How one instance ended.
#[derive(Debug)]
pub enum Ending {
    /// `_start` returned or called `proc_exit`: the status and everything written on stdout.
    Exited(i32, Bytes),
    /// The deadline passed (epoch interruption).
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
    /// thread that advances the engine's epoch (it ends with the process).
    pub fn new(settings: Settings) -> Result<Arc<Pool>> {
        let slots = vfs_slots::Slots::new(KEEP_RESIDENT);
        let engine = vfs_runner::server_engine(&slots)?;
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("vfs-box-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(TICK);
                }
            })
            .context("starting the epoch thread")?;
        Ok(Arc::new(Pool {
            engine,
            settings,
            slots,
        }))
    }

    /// How slots find written pages (`None`: they do not, and give every page back to the
    /// kernel after each instance).
    pub fn marks(&self) -> Option<vfs_slots::Marks> {
        self.slots.marks()
    }

    /// Splits `wasm` into code and memory image, compiles the code (or loads it from the
    /// compiled-module cache) and resolves its imports. A module that cannot be split runs
    /// with its data segments copied into each instance; the reason is printed.
    pub fn guest(&self, wasm: &Path) -> Result<Guest> {
        if !wasm.is_file() {
            anyhow::bail!("{}: no such file", wasm.display());
        }
        let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
        let label = wasm.display().to_string();
        let (module, image) = match vfs_slots::split(&bytes) {
            Ok(split) => {
                let module = crate::cache::load_bytes(&self.engine, &split.module, &label)?;
                let image = vfs_slots::Image::new(&split.image, split.minimum)
                    .with_context(|| format!("{label}: making its memory image"))?;
                (module, Some(image))
            }
            Err(why) => {
                eprintln!("vfs-box serve: {label}: data copied into every instance ({why})");
                (
                    crate::cache::load_bytes(&self.engine, &bytes, &label)?,
                    None,
                )
            }
        };
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
            image,
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
        let made = inv.host(&stdio).and_then(|host| {
            let mut store = vfs_runner::store(&self.engine, host);
            let ticks = s.timeout.as_micros().div_ceil(TICK.as_micros()) as u64;
            // One tick more: the epoch may advance right after the deadline is set.
            store.set_epoch_deadline(ticks.max(1) + 1);
            store.epoch_deadline_trap();
            let made = match &guest.image {
                Some(image) => {
                    vfs_slots::Slots::with_image(image, || guest.pre.instantiate(&mut store))
                }
                None => guest.pre.instantiate(&mut store),
            };
            let instance = vfs_runner::wt(made).context("instantiating the box")?;
            Ok((store, instance))
        });
        let instantiate = t0.elapsed();
        let (mut store, instance) = match made {
            Ok(x) => x,
            Err(e) => {
                let ran = Ran {
                    ending: Ending::Failed(format!("{e:#}")),
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
        let out = stdout.contents();
        let ending = if out.len() > s.max_response {
            Ending::TooLarge
        } else {
            match result {
                Ok(code) => Ending::Exited(code, out),
                Err(e) => match e.downcast_ref::<Trapped>() {
                    Some(t) if t.trap == Some(wasmtime::Trap::Interrupt) => Ending::TimedOut,
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
