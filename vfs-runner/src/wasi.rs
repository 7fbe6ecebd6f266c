//! What one instance of a guest gets from the host through WASI preview 1.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::{wt, Host, Limits};

/// A host directory made visible to the guest at `guest` (`--dir HOST::GUEST`, as the
/// `wasmtime` CLI spells it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirMap {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest sees it (a preopen).
    pub guest: String,
}

impl std::str::FromStr for DirMap {
    type Err = String;
    /// `HOST::GUEST`, or `DIR` for the same path on both sides.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once("::").unwrap_or((s, s)) {
            (host, guest) if !host.is_empty() && !guest.is_empty() => Ok(DirMap {
                host: PathBuf::from(host),
                guest: guest.to_owned(),
            }),
            _ => Err(format!("--dir {s:?}: expected HOST::GUEST or DIR")),
        }
    }
}

/// An environment variable for the guest (`--env K=V`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvVar {
    /// The name.
    pub key: String,
    /// The value.
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

/// Where the guest's stdout and stderr go.
#[derive(Clone, Debug, Default)]
pub enum Stdio {
    /// The host process's own stdin, stdout and stderr.
    #[default]
    Inherit,
    /// Output discarded, no input (benchmarks).
    Null,
    /// Output kept in memory, no input (tests read it after the run).
    Capture {
        /// What the guest wrote to fd 1.
        stdout: MemoryOutputPipe,
        /// What the guest wrote to fd 2.
        stderr: MemoryOutputPipe,
    },
    /// Input from memory, output kept in memory (a CGI exchange: the request body on stdin,
    /// the response read from stdout after the run). A stream that fills its pipe's capacity
    /// makes further writes fail in the guest (never a trap).
    Piped {
        /// What the guest reads from fd 0.
        stdin: MemoryInputPipe,
        /// What the guest wrote to fd 1.
        stdout: MemoryOutputPipe,
        /// What the guest wrote to fd 2.
        stderr: MemoryOutputPipe,
    },
}

impl Stdio {
    /// Captured output, each stream kept up to `limit` bytes.
    pub fn capture(limit: usize) -> Self {
        Stdio::Capture {
            stdout: MemoryOutputPipe::new(limit),
            stderr: MemoryOutputPipe::new(limit),
        }
    }
}

/// What one instance of a guest gets from the host.
#[derive(Clone, Debug, Default)]
pub struct Invocation {
    /// `argv`, including `argv[0]`.
    pub args: Vec<String>,
    /// The environment, in order.
    pub env: Vec<EnvVar>,
    /// Host directories to preopen.
    pub dirs: Vec<DirMap>,
    /// Limits on the run (the filesystem's reach the guest in its environment).
    pub limits: Limits,
}

impl Invocation {
    /// `argv[0]` is the module's file name, as a shell would pass it.
    pub fn new(wasm: &Path, rest: &[String], env: Vec<EnvVar>, dirs: Vec<DirMap>) -> Self {
        let argv0 = wasm
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "box.wasm".to_owned());
        let mut args = vec![argv0];
        args.extend(rest.iter().cloned());
        Invocation {
            args,
            env,
            dirs,
            limits: Limits::default(),
        }
    }

    /// The same invocation with `limits`.
    pub fn limited(self, limits: Limits) -> Self {
        Invocation { limits, ..self }
    }

    /// What the store of one instance holds: [`Self::wasi`] and the store limits.
    pub fn host(&self, stdio: &Stdio) -> Result<Host> {
        Ok(Host::new(self.wasi(stdio)?, self.limits.store_limits()))
    }

    /// The WASI context for one instance: the environment is [`Self::env`] followed by the
    /// entries that carry [`Self::limits`] (see [`Limits::env`]).
    pub fn wasi(&self, stdio: &Stdio) -> Result<WasiP1Ctx> {
        let mut b = WasiCtxBuilder::new();
        // Host file calls run on this thread rather than a thread pool, as the `wasmtime` CLI
        // does for synchronous guests: the fastest host WASI there is, which keeps comparisons
        // with it fair (set before the preopens, which capture it).
        b.allow_blocking_current_thread(true);
        match stdio {
            Stdio::Inherit => {
                b.inherit_stdio();
            }
            Stdio::Null => {
                b.stdout(std::io::empty()).stderr(std::io::empty());
            }
            Stdio::Capture { stdout, stderr } => {
                b.stdout(stdout.clone()).stderr(stderr.clone());
            }
            Stdio::Piped {
                stdin,
                stdout,
                stderr,
            } => {
                b.stdin(stdin.clone())
                    .stdout(stdout.clone())
                    .stderr(stderr.clone());
            }
        }
        b.args(&self.args);
        for e in &self.env {
            b.env(&e.key, &e.value);
        }
        for (key, value) in self.limits.env() {
            b.env(key, value);
        }
        for d in &self.dirs {
            wt(b.preopened_dir(&d.host, &d.guest, FsPerms::ReadWrite)
                .map(|_| ()))
            .with_context(|| format!("--dir {}::{}", d.host.display(), d.guest))?;
        }
        Ok(b.build_p1())
    }
}
