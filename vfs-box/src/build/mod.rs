//! `vfs-box build`: a Dockerfile-style declaration becomes one box.
//!
//! | file | job |
//! |---|---|
//! | `declaration.rs` | the declaration read into stages and steps, `ARG`/`ENV` substituted, each directive checked |
//! | `words.rs` | Docker's substitution and quoting; shell-form commands split into words |
//! | `context.rs` | `.dockerignore`, what `COPY`/`ADD` select, staging them |
//! | `pip.rs` | `RUN pip install`: resolved on the host, pure-Python wheels only, installed into a layer |
//! | `from_box.rs` | a box built before: its layers and configuration |
//! | `mod.rs` | running the steps, the layer cache, writing the box |
//!
//! Each step that changes files becomes one image layer, stored in the cache under a key made
//! of its parent's key, the directive and the digests of its inputs (BuildKit's scheme), so a
//! rebuild re-runs only the steps from the first one whose inputs changed. The box is written
//! to a temporary file and renamed into place, so a failed build leaves no output.

mod context;
mod declaration;
pub mod from_box;
mod pip;
mod words;

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};
use vfs_image::boxconfig::BoxConfig;
use vfs_runner::{EnvVar, Invocation, Stdio};

use crate::guest::{self, Flavor};
use crate::layers::{self, Bytecode, StdlibSpec, STDLIB_IN_GUEST};
use declaration::{Action, Base, Declaration, PYTHON_IMAGE_ENV};

/// The size a box should stay within (the talk's promise).
pub const BUDGET_BYTES: u64 = 16_000_000;

/// Bump when what a cached layer holds for the same key changes.
const CACHE_VERSION: &str = "vfs-box-build-3";

/// Arguments of `vfs-box build`.
#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// The build context: the folder `COPY` and `ADD` read from.
    #[arg(default_value = ".")]
    pub context: PathBuf,
    /// The declaration (default: CONTEXT/Boxfile, then CONTEXT/Dockerfile).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Where to write the box.
    #[arg(short = 'o', long = "output", value_name = "OUT.wasm")]
    pub output: PathBuf,
    /// Set a build argument declared with ARG.
    #[arg(long = "build-arg", value_name = "K=V")]
    pub build_args: Vec<EnvVar>,
    /// Rebuild every step instead of reusing cached layers.
    #[arg(long)]
    pub no_cache: bool,
    /// Pre-initialize the box: snapshot it after CPython starts and CODE runs (see `vfs-box
    /// preinit`).
    #[arg(long, value_name = "CODE")]
    pub preinit: Option<String>,
    /// How the layers store file contents: `lz4` (LZ4 HC level 12, the default: fastest to
    /// read), `zstd` (level 19: smallest), `lz4:LEVEL` (3-12), `zstd:LEVEL` (1-22), or
    /// `none` (raw, read in place).
    #[arg(long, value_name = "CODEC[:LEVEL]|none", default_value_t = layers::DEFAULT_COMPRESSION)]
    pub compress: vfs_image::host::Compression,
}

/// One layer of a box being built.
#[derive(Clone)]
struct Layer {
    /// The step that made it, for the summary.
    origin: String,
    bytes: Rc<Vec<u8>>,
}

/// A stage's state after some steps: its layers, its configuration, its cache key.
#[derive(Clone)]
struct State {
    layers: Vec<Layer>,
    config: BoxConfig,
    key: String,
    /// The `CMD` came from the base (Docker resets it when `ENTRYPOINT` is set).
    cmd_from_base: bool,
}

impl State {
    fn workdir(&self) -> String {
        self.config.workdir.clone().unwrap_or_else(|| "/".into())
    }
    fn bytes(&self) -> Vec<&[u8]> {
        self.layers.iter().map(|l| l.bytes.as_slice()).collect()
    }
}

/// The SHA-256 of `parts`, each ended by a NUL.
fn digest(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
        h.update([0]);
    }
    format!("{:x}", h.finalize())
}

/// Sets `key` to `value` in a list of pairs, replacing an earlier value (`ENV`, `LABEL`).
fn set_pair(list: &mut Vec<(String, String)>, key: &str, value: &str) {
    list.retain(|(k, _)| k != key);
    list.push((key.into(), value.into()));
}

/// Everything a build uses, prepared once.
struct Builder {
    engine: wasmtime::Engine,
    /// How the layers this build makes store file contents.
    compression: vfs_image::host::Compression,
    /// The host flavour of the guest (compiles bytecode).
    host_python: PathBuf,
    /// The vfs flavour (the box's code).
    code: PathBuf,
    /// The staged stdlib (mapped when compiling bytecode).
    stdlib_lib: PathBuf,
    stdlib_layer: Rc<Vec<u8>>,
    cache: PathBuf,
    no_cache: bool,
    work: PathBuf,
}

impl Builder {
    fn cached(&self, key: &str) -> Option<Option<Vec<u8>>> {
        if self.no_cache {
            return None;
        }
        let f = self.cache.join(format!("{key}.vfs"));
        let bytes = std::fs::read(f).ok()?;
        // An empty file records a step that changed nothing.
        Some((!bytes.is_empty()).then_some(bytes))
    }

    fn store(&self, key: &str, layer: Option<&[u8]>) -> Result<()> {
        std::fs::create_dir_all(&self.cache)?;
        let f = self.cache.join(format!("{key}.vfs"));
        let tmp = self.cache.join(format!("{key}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, layer.unwrap_or_default())?;
        std::fs::rename(&tmp, &f).with_context(|| format!("storing {}", f.display()))?;
        Ok(())
    }

    /// A fresh empty folder under the work folder.
    fn scratch(&self, name: &str) -> Result<PathBuf> {
        let d = self.work.join(name);
        if d.exists() {
            std::fs::remove_dir_all(&d)?;
        }
        std::fs::create_dir_all(&d)?;
        Ok(d)
    }

    /// Packs a staged folder, compiling the Python sources under `compile_at` (box paths) first
    /// to `mode`.
    fn pack_stage(&self, stage: &Path, compile_at: &[String], mode: Bytecode) -> Result<Vec<u8>> {
        for dir in compile_at {
            let host = stage.join(dir.trim_start_matches('/'));
            if has_python(&host) {
                layers::compile_tree(
                    &self.engine,
                    &self.host_python,
                    &[(&self.stdlib_lib, STDLIB_IN_GUEST), (&host, dir)],
                    dir,
                    mode,
                )?;
            }
        }
        context::settle_dir_times(stage)?;
        layers::pack(stage, self.compression)
    }

    /// A box made of `code` and `layers` plus a configuration layer, written to `out`.
    fn write_box(&self, layers: &[&[u8]], config: &BoxConfig, out: &Path) -> Result<Vec<u8>> {
        let stage = self.scratch("config")?;
        layers::write_config(&stage, config)?;
        // The same configuration must pack to the same bytes whenever it is written.
        let file = stage.join(vfs_image::boxconfig::CONFIG_PATH.trim_start_matches('/'));
        std::fs::File::options()
            .write(true)
            .open(&file)?
            .set_modified(std::time::UNIX_EPOCH)?;
        context::settle_dir_times(&stage)?;
        let config_layer = layers::pack(&stage, self.compression)?;
        let mut all: Vec<&[u8]> = layers.to_vec();
        all.push(&config_layer);
        let capacity = vfs_image::format::LAYER_SLOTS;
        if all.len() > capacity {
            bail!(
                "the box would have {} layers and at most {capacity} fit; join COPY or RUN \
                 steps (each that changes files is a layer)",
                all.len()
            );
        }
        let module = std::fs::read(&self.code)
            .with_context(|| format!("reading {}", self.code.display()))?;
        let wasm = vfs_image::embed::embed(&module, &all)
            .map_err(|e| anyhow!("embedding the layers: {e}"))?;
        std::fs::write(out, &wasm).with_context(|| format!("writing {}", out.display()))?;
        Ok(config_layer)
    }
}

/// Whether `dir` holds a `.py` file anywhere below it.
fn has_python(dir: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.filter_map(|e| e.ok()).any(|e| {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            has_python(&p)
        } else {
            p.extension().is_some_and(|x| x == "py")
        }
    })
}

/// Finds the declaration: `-f FILE`, else `CONTEXT/Boxfile`, else `CONTEXT/Dockerfile`.
fn declaration_file(a: &BuildArgs) -> Result<PathBuf> {
    if let Some(f) = &a.file {
        if !f.is_file() {
            bail!("{}: no such declaration", f.display());
        }
        return Ok(f.clone());
    }
    for name in ["Boxfile", "Dockerfile"] {
        let f = a.context.join(name);
        if f.is_file() {
            return Ok(f);
        }
    }
    bail!(
        "{}: no Boxfile or Dockerfile (name one with -f)",
        a.context.display()
    )
}

/// `vfs-box build`.
pub fn build(a: &BuildArgs) -> Result<()> {
    let started = Instant::now();
    if !a.context.is_dir() {
        bail!("{}: the build context is not a folder", a.context.display());
    }
    let file = declaration_file(a)?;
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let build_args: Vec<(String, String)> = a
        .build_args
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    // Everything is checked before anything is built.
    let decl = declaration::parse(&file, &text, &build_args, &a.context)?;
    for w in &decl.warnings {
        eprintln!("vfs-box: warning: {w}");
    }
    let ignore = context::Ignore::load(&a.context)?;

    let dist = crate::sdist::obtain()?;
    let host_python = guest::build(&dist, Flavor::Host)?;
    let code = guest::build(&dist, Flavor::Vfs)?;
    let engine = vfs_runner::engine()?;
    let (stdlib, _) = layers::stage_stdlib(
        &engine,
        &host_python,
        &dist.stdlib(),
        &StdlibSpec {
            bytecode: Bytecode::Pyc,
            excludes: Vec::new(),
            with_tests: false,
        },
    )?;
    let cache_root = crate::cache::cache_root()?;
    let work = cache_root
        .join("work")
        .join(format!("build-{}", std::process::id()));
    let b = Builder {
        stdlib_lib: stdlib.root.join(STDLIB_IN_GUEST.trim_start_matches('/')),
        stdlib_layer: Rc::new(layers::pack_stage_cached(&stdlib, a.compress)?),
        compression: a.compress,
        engine,
        host_python,
        code,
        cache: cache_root.join("layers"),
        no_cache: a.no_cache,
        work: work.clone(),
    };
    std::fs::create_dir_all(&work)?;
    let result = run_build(&b, &decl, &ignore, a);
    let _ = std::fs::remove_dir_all(&work);
    let tmp = result?;
    let out_len = std::fs::metadata(&tmp)?.len();
    std::fs::rename(&tmp, &a.output).with_context(|| format!("writing {}", a.output.display()))?;
    eprintln!(
        "vfs-box: wrote {} ({out_len} bytes, {:.1} % of the {BUDGET_BYTES}-byte budget) in {:.1} s",
        a.output.display(),
        out_len as f64 * 100.0 / BUDGET_BYTES as f64,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs every stage and writes the box to a temporary file beside the output; returns its path.
fn run_build(
    b: &Builder,
    decl: &Declaration,
    ignore: &context::Ignore,
    a: &BuildArgs,
) -> Result<PathBuf> {
    let total: usize = decl.stages.iter().map(|s| s.steps.len() + 1).sum();
    let mut n = 0;
    let mut states: Vec<State> = Vec::new();
    let stdlib_key = digest(&[
        CACHE_VERSION.as_bytes(),
        b"python",
        &Sha256::digest(b.stdlib_layer.as_slice()),
    ]);
    for stage in &decl.stages {
        n += 1;
        let mut st = match &stage.base {
            Base::Python => State {
                layers: vec![Layer {
                    origin: "python:3.11 (CPython + stdlib)".into(),
                    bytes: b.stdlib_layer.clone(),
                }],
                config: BoxConfig {
                    cmd: Some(vec!["python3".into()]),
                    env: PYTHON_IMAGE_ENV
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    ..BoxConfig::default()
                },
                key: stdlib_key.clone(),
                cmd_from_base: true,
            },
            Base::Box(path) => {
                let bytes = from_box::layers(path)?;
                let config = from_box::config_of(&bytes)?;
                let how = b.compression.to_string();
                let mut parts: Vec<&[u8]> = vec![CACHE_VERSION.as_bytes(), b"box", how.as_bytes()];
                parts.extend(bytes.iter().map(|l| l.as_slice()));
                State {
                    key: digest(&parts),
                    // Its configuration layer is replaced by this build's, so it takes no slot.
                    layers: bytes
                        .into_iter()
                        .filter(|l| !is_config_layer(l))
                        .map(|l| Layer {
                            origin: format!("from {}", path.display()),
                            bytes: Rc::new(l),
                        })
                        .collect(),
                    config,
                    cmd_from_base: true,
                }
            }
            Base::Stage(i) => {
                let mut s = states[*i].clone();
                s.cmd_from_base = true;
                s
            }
        };
        eprintln!("[{n}/{total}] {}", stage.text);
        for step in &stage.steps {
            n += 1;
            let t = Instant::now();
            let at = format!("{}:{}: {}", decl.file.display(), step.line, step.text);
            let ran = run_step(b, &mut st, &states, step, ignore, &a.context, n, total)
                .with_context(|| at.clone())?;
            let how = if ran {
                format!("{:.1} s", t.elapsed().as_secs_f64())
            } else {
                "cached".into()
            };
            eprintln!("[{n}/{total}] {}  {how}", step.text);
        }
        states.push(st);
    }
    let last = states.last().context("no stage")?;
    let out = a.output.with_file_name(format!(
        ".{}.{}.tmp",
        a.output
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| {
        let config_layer = b.write_box(&last.bytes(), &last.config, &out)?;
        if let Some(code) = &a.preinit {
            crate::preinit::rewrite(&b.engine, &out, code, &out)?;
        }
        summary(b, last, config_layer.len(), &out)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&out);
    }
    result.map(|()| out)
}

/// The size of each part of the box.
fn summary(b: &Builder, st: &State, config_len: usize, out: &Path) -> Result<()> {
    let code_len = std::fs::metadata(&b.code)?.len();
    eprintln!("vfs-box: code (CPython + shim): {code_len} bytes");
    for l in &st.layers {
        eprintln!("vfs-box: layer {:>9} bytes  {}", l.bytes.len(), l.origin);
    }
    eprintln!("vfs-box: layer {config_len:>9} bytes  configuration");
    let _ = out;
    Ok(())
}

/// Runs one step. Returns whether it did work (`false`: cached, or nothing to do).
#[allow(clippy::too_many_arguments)]
fn run_step(
    b: &Builder,
    st: &mut State,
    states: &[State],
    step: &declaration::Step,
    ignore: &context::Ignore,
    ctx: &Path,
    n: usize,
    total: usize,
) -> Result<bool> {
    let text = step.text.as_bytes();
    match &step.action {
        Action::Env(set) => {
            for (k, v) in set {
                set_pair(&mut st.config.env, k, v);
            }
        }
        Action::Label(set) => {
            for (k, v) in set {
                set_pair(&mut st.config.labels, k, v);
            }
        }
        Action::Note(k, v) => set_pair(&mut st.config.other, k, v),
        Action::Cmd(argv) => {
            st.config.cmd = Some(argv.clone());
            st.cmd_from_base = false;
        }
        Action::Entrypoint(argv, shell) => {
            st.config.entrypoint = Some(argv.clone());
            st.config.entrypoint_shell = *shell;
            if st.cmd_from_base {
                st.config.cmd = None;
            }
        }
        Action::Workdir(dir) => {
            st.config.workdir = Some(dir.clone());
            let exists = from_box::overlay(&st.bytes())?
                .resolve(dir.as_bytes())?
                .is_some_and(|node| node.is_dir());
            if !exists {
                let key = digest(&[st.key.as_bytes(), text]);
                return add_layer(b, st, key, &step.text, |b| {
                    let stage = b.scratch("workdir")?;
                    context::make_dirs(&stage, &stage.join(dir.trim_start_matches('/')))?;
                    Ok(Some(layers::pack(&stage, b.compression)?))
                });
            }
        }
        Action::Copy(c) => {
            let dest = declaration::absolute(&c.dest, &st.workdir());
            let dest_is_dir = c.dest.ends_with('/')
                || from_box::overlay(&st.bytes())?
                    .resolve(dest.as_bytes())?
                    .is_some_and(|node| node.is_dir());
            let unpacked;
            let no_ignore = context::Ignore::default();
            let src = match c.from {
                Some(i) => {
                    unpacked = b.scratch(&format!("from-{i}"))?;
                    let merged =
                        vfs_image::squash(from_box::overlay(&states[i].bytes())?.layers())?;
                    vfs_image::host::unpack(
                        &vfs_image::Image::open(&merged)?,
                        &unpacked,
                        &vfs_image::host::UnpackOptions::default(),
                    )
                    .map_err(|e| anyhow!("unpacking stage {i}: {e}"))?;
                    context::Source {
                        root: &unpacked,
                        ignore: &no_ignore,
                        name: format!("stage {i}"),
                    }
                }
                None => context::Source {
                    root: ctx,
                    ignore,
                    name: format!("the build context ({})", ctx.display()),
                },
            };
            let sel = context::select(&src, &c.sources, &dest, dest_is_dir)?;
            let chmod = c.chmod.map(|m| m.to_string()).unwrap_or_default();
            let key = digest(&[
                st.key.as_bytes(),
                text,
                sel.digest.as_bytes(),
                chmod.as_bytes(),
                dest.as_bytes(),
            ]);
            let compile_dir = if dest_is_dir {
                dest.clone()
            } else {
                Path::new(&dest)
                    .parent()
                    .map_or("/".into(), |p| p.display().to_string())
            };
            return add_layer(b, st, key, &step.text, |b| {
                let stage = b.scratch("copy")?;
                context::stage(&sel, &stage, c.chmod, c.add, &dest)?;
                // The app's own sources stay beside their bytecode (tracebacks, `inspect`).
                Ok(Some(b.pack_stage(
                    &stage,
                    &[compile_dir],
                    Bytecode::Both,
                )?))
            });
        }
        Action::Run { commands, args } => {
            let mut ran = false;
            for (i, argv) in commands.iter().enumerate() {
                let joined = argv.join("\0");
                let key = digest(&[
                    st.key.as_bytes(),
                    text,
                    i.to_string().as_bytes(),
                    joined.as_bytes(),
                ]);
                if let Some(pip_args) = pip::pip_args(argv) {
                    let install = pip::parse(pip_args, &st.workdir()).map_err(|e| anyhow!(e))?;
                    for s in &install.skipped {
                        eprintln!("vfs-box:   skipping {s}");
                    }
                    if install.requirements.is_empty() && install.files.is_empty() {
                        continue;
                    }
                    let layers_now = st.bytes().iter().map(|l| l.to_vec()).collect::<Vec<_>>();
                    ran |= add_layer(b, st, key, &step.text, |b| {
                        eprintln!("[{n}/{total}] {}", step.text);
                        let files = b.scratch("pip-files")?;
                        for (_, path) in &install.files {
                            let bytes =
                                from_box::read_file(&layers_now, path)?.with_context(|| {
                                    format!("{path}: no such file in the box (COPY it first)")
                                })?;
                            let to = files.join(path.trim_start_matches('/'));
                            std::fs::create_dir_all(to.parent().context("a parent")?)?;
                            std::fs::write(&to, bytes)?;
                        }
                        let stage = b.scratch("pip-stage")?;
                        pip::install(&install, &files, &stage, &b.scratch("pip-work")?)?;
                        // Installed packages are shipped like the stdlib: bytecode only.
                        let site = format!("{STDLIB_IN_GUEST}/site-packages");
                        Ok(Some(b.pack_stage(&stage, &[site], Bytecode::Pyc)?))
                    })?;
                } else {
                    let config = BoxConfig {
                        entrypoint: None,
                        cmd: Some(argv.clone()),
                        ..st.config.clone()
                    };
                    let env: Vec<EnvVar> = args
                        .iter()
                        .map(|(k, v)| EnvVar {
                            key: k.clone(),
                            value: v.clone(),
                        })
                        .collect();
                    let layers_now = st.bytes().iter().map(|l| l.to_vec()).collect::<Vec<_>>();
                    ran |= add_layer(b, st, key, &step.text, |b| {
                        eprintln!("[{n}/{total}] {}", step.text);
                        let wasm = b.work.join("run.wasm");
                        let refs: Vec<&[u8]> = layers_now.iter().map(|l| l.as_slice()).collect();
                        b.write_box(&refs, &config, &wasm)?;
                        let inv = Invocation::new(&wasm, &[], env.clone(), Vec::new());
                        let (status, layer) =
                            crate::run::run_box(&wasm, &inv, &Stdio::Inherit, true)?;
                        if status != 0 {
                            bail!(
                                "`{}` exited with status {status} (its output is above)",
                                argv.join(" ")
                            );
                        }
                        // The guest exports what the step wrote raw; stored like every other
                        // layer of the box.
                        layer
                            .map(|l| vfs_image::host::recompress(&l, b.compression))
                            .transpose()
                            .context("compressing the layer the step wrote")
                    })?;
                }
            }
            return Ok(ran);
        }
    }
    st.key = digest(&[st.key.as_bytes(), text]);
    Ok(false)
}

/// Adds the layer `make` produces (or the cached one for `key`) to `st`; an empty layer adds
/// nothing. Returns whether `make` ran.
fn add_layer(
    b: &Builder,
    st: &mut State,
    key: String,
    origin: &str,
    make: impl FnOnce(&Builder) -> Result<Option<Vec<u8>>>,
) -> Result<bool> {
    let (layer, ran) = match b.cached(&key) {
        Some(layer) => (layer, false),
        None => {
            let layer = make(b)?.filter(|l| !is_empty_layer(l));
            b.store(&key, layer.as_deref())?;
            (layer, true)
        }
    };
    if let Some(bytes) = layer {
        st.layers.push(Layer {
            origin: origin.to_string(),
            bytes: Rc::new(bytes),
        });
    }
    st.key = key;
    Ok(ran)
}

/// A layer that holds only a box's configuration (the top layer of every built box).
fn is_config_layer(bytes: &[u8]) -> bool {
    let Ok(img) = vfs_image::Image::open(bytes) else {
        return false;
    };
    let root = img.root();
    img.dir_len(&root).is_ok_and(|n| n == 1)
        && img.lookup(&root, b".vfs-box").is_ok_and(|e| e.is_some())
}

/// A layer whose root holds nothing (a `RUN` that changed no file).
fn is_empty_layer(bytes: &[u8]) -> bool {
    vfs_image::Image::open(bytes)
        .and_then(|img| img.dir_len(&img.root()))
        .is_ok_and(|n| n == 0)
}
