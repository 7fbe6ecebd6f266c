//! Helpers shared by the end-to-end tests: build a guest for `wasm32-wasip1`, run it on
//! wasmtime with WASI preview 1, capture what it printed. Building and running are
//! `vfs-runner`'s, the same code `vfs-box` uses; this file adds what only tests need.
//!
//! Guests live in `guests/<name>`, each a standalone crate with its own empty `[workspace]`,
//! built into `$CARGO_TARGET_DIR/guests/<features>`.
//!
//! | file | what it holds |
//! |---|---|
//! | `tests/fs_exercise.rs` | `guests/fs-exercise` (`std::fs` on the VFS, with and without a host directory; tracing) and `guests/fs-bench` on both sides |
//! | `tests/embed.rs` | `guests/image-reader` with a 1 MB and a 100 MB embedded image: both read correctly, the heap never overlaps the image |
//! | `src/bin/vfs-embed-bench.rs` | start-up with the 1 MB vs the 100 MB image, the README's row |
//! | `tests/upper_export.rs` | the upper layer exported, listed and embedded again |
//! | `src/bin/vfs-bench.rs` | in-guest VFS vs host WASI, the README's speed table |
//! | `src/bin/vfs-run.rs`, `src/bin/vfs-trace-bench.rs` | run any module; the bench guest traced |

use anyhow::{bail, Context, Result};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use vfs_runner::{call_buffer_export, wt, DirMap, EnvVar, GuestBuild, Invocation, Stdio, Trapped};
use wasmtime::{Engine, Module};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

/// The repository root (the parent of this crate).
///
/// Read from the environment cargo gives a running test before the path baked in at compile
/// time: two checkouts sharing one target directory (a developer's and CI's) can reuse each
/// other's test binaries, whose baked path is then the other checkout's.
pub fn repo_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The outer build's target directory: `$CARGO_TARGET_DIR`, else `<repo>/target`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// Builds `guests/<name>` in release mode with `features` and returns the `.wasm` path.
///
/// Each feature set gets its own target directory, so tests building the same guest with
/// different features (in parallel test threads or binaries) never overwrite each other.
pub fn build_guest(name: &str, features: &[&str]) -> Result<PathBuf> {
    let tag = if features.is_empty() {
        "default".to_string()
    } else {
        features.join("+")
    };
    let mut build = GuestBuild::new(
        repo_root().join("guests").join(name).join("Cargo.toml"),
        target_dir().join("guests").join(tag),
        name,
    );
    build.features = features.iter().map(|f| f.to_string()).collect();
    build
        .run()
        .with_context(|| format!("building guest {name}"))
}

/// The `vfs-image` command-line tool, built once per test process into
/// `$CARGO_TARGET_DIR/tools` (its own directory, so the nested build never waits on the outer).
pub fn vfs_image_cli() -> Result<PathBuf> {
    static BUILT: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = target_dir().join("tools");
            let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
                .args([
                    "build",
                    "--quiet",
                    "--release",
                    "-p",
                    "vfs-image",
                    "--bin",
                    "vfs-image",
                ])
                .current_dir(repo_root())
                .env("CARGO_TARGET_DIR", &dir)
                .output()
                .map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned());
            }
            Ok(dir.join("release/vfs-image"))
        })
        .clone()
        .map_err(|e| anyhow::anyhow!("building vfs-image failed: {e}"))
}

/// Runs `vfs-image` with `args`; returns (success, stdout, stderr).
pub fn vfs_image(args: &[&std::ffi::OsStr]) -> Result<(bool, String, String)> {
    let out = Command::new(vfs_image_cli()?).args(args).output()?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// 64-bit FNV-1a, as the `image-reader` guest computes it.
pub fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// FNV-1a's offset basis.
pub const FNV0: u64 = 0xcbf2_9ce4_8422_2325;

/// The `image-reader` guest's tree hash of a host directory mounted at `/`: regular files
/// only, walked in sorted order, `(path, content hash)` folded in.
pub fn tree_hash(root: &Path) -> Result<(u64, usize, u64)> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, u64, u64)>) -> Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = format!("{prefix}/{name}");
            let t = e.file_type()?;
            if t.is_dir() {
                walk(&e.path(), &path, out)?;
            } else if t.is_file() {
                let data = std::fs::read(e.path())?;
                out.push((path, fnv(FNV0, &data), data.len() as u64));
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(root, "", &mut files)?;
    let h = files.iter().fold(FNV0, |h, (p, d, _)| {
        fnv(fnv(h, p.as_bytes()), &d.to_le_bytes())
    });
    Ok((h, files.len(), files.iter().map(|f| f.2).sum()))
}

/// Deterministic pseudo-random bytes (xorshift64), so generated files neither compress nor
/// deduplicate.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The engine `vfs-box` uses for one-shot runs (copy-on-write memory images on).
pub fn engine() -> Engine {
    vfs_runner::engine().expect("wasmtime accepts its default configuration")
}

/// How to run a guest.
#[derive(Default, Clone)]
pub struct RunOptions {
    /// `argv[1..]`.
    pub args: Vec<String>,
    /// Environment variables.
    pub env: Vec<(String, String)>,
    /// Host directories to preopen: (host path, guest path).
    pub dirs: Vec<(PathBuf, String)>,
    /// Exported function to call after `_start` finished (e.g. the upper-layer export), which
    /// returns a buffer in guest memory; a copy is in [`RunOutput::exported`].
    pub call_after: Option<String>,
}

/// What a run produced.
pub struct RunOutput {
    /// Everything the guest wrote to stdout.
    pub stdout: String,
    /// Everything the guest wrote to stderr.
    pub stderr: String,
    /// The exit status: 0 for a normal return from `main`, else the `proc_exit` code.
    pub exit: i32,
    /// Time to instantiate the module.
    pub instantiate: Duration,
    /// Time `_start` ran.
    pub run: Duration,
    /// What [`RunOptions::call_after`] returned: `Some(None)` if the guest reported failure.
    pub exported: Option<Option<Vec<u8>>>,
}

/// Compiles a module from a file.
pub fn load(engine: &Engine, wasm: &Path) -> Result<Module> {
    wt(Module::from_file(engine, wasm)).with_context(|| format!("compiling {}", wasm.display()))
}

/// Instantiates `module` with WASI preview 1 and runs `_start`. A trap is an error that
/// includes what the guest printed (a Rust panic message is on its stderr).
pub fn run(engine: &Engine, module: &Module, opts: &RunOptions) -> Result<RunOutput> {
    let stdio = Stdio::capture(64 << 20);
    let inv = Invocation::new(
        Path::new("guest"),
        &opts.args,
        opts.env
            .iter()
            .map(|(key, value)| EnvVar {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        opts.dirs
            .iter()
            .map(|(host, guest)| DirMap {
                host: host.clone(),
                guest: guest.clone(),
            })
            .collect(),
    );
    let linker = vfs_runner::linker(engine)?;
    let t0 = Instant::now();
    let (mut store, instance) = vfs_runner::instantiate(&linker, module, inv.host(&stdio)?)?;
    let instantiate = t0.elapsed();
    let t1 = Instant::now();
    let result = vfs_runner::start(&mut store, &instance);
    let run = t1.elapsed();
    let Stdio::Capture { stdout, stderr } = &stdio else {
        unreachable!("made by Stdio::capture")
    };
    let text = |p: &MemoryOutputPipe| String::from_utf8_lossy(&p.contents()).into_owned();
    let exit = match result {
        Ok(code) => code,
        Err(e) if e.downcast_ref::<Trapped>().is_some() => bail!(
            "{e:#}\n--- stdout\n{}\n--- stderr\n{}",
            text(stdout),
            text(stderr)
        ),
        Err(e) => return Err(e),
    };
    let exported = match &opts.call_after {
        None => None,
        Some(name) => Some(call_buffer_export(&mut store, &instance, name)?),
    };
    Ok(RunOutput {
        stdout: text(stdout),
        stderr: text(stderr),
        exit,
        instantiate,
        run,
        exported,
    })
}

impl RunOptions {
    /// Options with `argv[1..]` = `args` and nothing else.
    pub fn args(args: &[&str]) -> Self {
        RunOptions {
            args: args.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        }
    }
}

/// Builds `guests/<name>` (no features), compiles it and runs it once with `opts`.
pub fn run_guest(name: &str, opts: &RunOptions) -> Result<RunOutput> {
    let engine = engine();
    let module = load(&engine, &build_guest(name, &[])?)?;
    run(&engine, &module, opts)
}

/// A fresh empty directory under the target dir (removed first if a previous run left it).
pub fn scratch_dir(name: &str) -> Result<PathBuf> {
    let dir = target_dir().join("e2e-scratch").join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Packs a tree of `files` files of `size` bytes under `data/`, plus `probe/probe.txt`: the
/// probe's directories are the same in every image, so reading it compares image *size* only.
/// Returns (the tree, the image).
pub fn make_image(name: &str, files: usize, size: usize) -> Result<(PathBuf, PathBuf)> {
    let dir = scratch_dir(name)?;
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("data/sub"))?;
    std::fs::create_dir_all(tree.join("probe"))?;
    std::fs::write(tree.join("probe/probe.txt"), PROBE)?;
    for i in 0..files {
        let sub = if i % 2 == 0 { "data" } else { "data/sub" };
        std::fs::write(
            tree.join(format!("{sub}/blob-{i:04}.bin")),
            noise(i as u64 + 1, size),
        )?;
    }
    let img = dir.join(format!("{name}.vfs"));
    let (ok, _, err) = vfs_image(&[
        OsStr::new("pack"),
        tree.as_os_str(),
        OsStr::new("-o"),
        img.as_os_str(),
        OsStr::new("--mtime"),
        OsStr::new("1700000000"),
    ])?;
    if !ok {
        bail!("vfs-image pack {} failed: {err}", tree.display());
    }
    Ok((tree, img))
}

/// What [`make_image`] puts at `/probe/probe.txt`.
pub const PROBE: &[u8] = b"probe: the same file in every image\n";

/// `vfs-image embed MODULE LAYERS... -o OUT`: whether it succeeded, and its stderr.
pub fn embed(module: &Path, layers: &[&Path], out: &Path) -> Result<(bool, String)> {
    let mut args: Vec<&OsStr> = vec![OsStr::new("embed"), module.as_os_str()];
    args.extend(layers.iter().map(|l| l.as_os_str()));
    args.extend([OsStr::new("-o"), out.as_os_str()]);
    let (ok, _, err) = vfs_image(&args)?;
    Ok((ok, err))
}

/// `guests/image-reader` embedded with a 1 MB and with a 100 MB image ([`make_image`]): what
/// `tests/embed.rs` checks and `vfs-embed-bench` times.
pub struct EmbedPair {
    /// The 1 MB image's tree and module.
    pub small: (PathBuf, PathBuf),
    /// The 100 MB image's tree and module.
    pub big: (PathBuf, PathBuf),
}

impl EmbedPair {
    /// Builds the guest and both images, and embeds each.
    pub fn build() -> Result<EmbedPair> {
        let reader = build_guest("image-reader", &[])?;
        let mut pair = Vec::new();
        for (name, files, size) in [("embed-1mb", 16, 64 << 10), ("embed-100mb", 100, 1 << 20)] {
            let (tree, img) = make_image(name, files, size)?;
            let wasm = img.with_extension("wasm");
            let (ok, err) = embed(&reader, &[&img], &wasm)?;
            if !ok {
                bail!("vfs-image embed {} failed: {err}", img.display());
            }
            pair.push((tree, wasm));
        }
        let big = pair.pop().expect("two were made");
        let small = pair.pop().expect("two were made");
        Ok(EmbedPair { small, big })
    }

    /// The arguments that make the guest read the probe, and the line it must print.
    pub fn probe() -> (RunOptions, String) {
        let opts = RunOptions::args(&["read", "/probe/probe.txt"]);
        (
            opts,
            format!("len={} hash={:016x}", PROBE.len(), fnv(FNV0, PROBE)),
        )
    }
}
