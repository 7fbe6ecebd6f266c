//! Staging: the stdlib, its tests and the app copied into host folders laid out as the guest will
//! see them (`<stage>/usr/local/lib/python3.11/...`, `<stage>/app/...`), then compiled to
//! bytecode in place. A finished stdlib stage is reused across builds (keyed by its rules).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use vfs_image::boxconfig::{BoxConfig, CONFIG_PATH, INTERPRETER, INTERPRETER_NAMES};

use super::bytecode::compile;
use super::policy::{
    globset, Bytecode, StdlibSpec, BASE_EXCLUDES, STAGE_VERSION, STDLIB_IN_GUEST, TEST_PARTS,
    UNUSABLE,
};

/// A staged tree: `root` is the image's `/`.
pub struct Stage {
    pub root: PathBuf,
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

/// What the `python` images have around the stdlib that programs look for: a world-writable,
/// sticky `/tmp` (FHS; `tempfile` tries it first), root's home `/root` (the default `HOME`), and
/// the interpreter's names in `/usr/local/bin` (`sys.executable`, `shutil.which("python3")`).
/// The interpreter file is a placeholder: the box's program *is* CPython, and the guest
/// recognizes these names before it would read any file.
fn stage_base_files(root: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for (dir, mode) in [("tmp", 0o1777), ("root", 0o700), ("usr/local/bin", 0o755)] {
        let path = root.join(dir);
        std::fs::create_dir_all(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
    }
    let exe = root.join(INTERPRETER.trim_start_matches('/'));
    let bin = exe.parent().context("the interpreter is in a folder")?;
    std::fs::write(
        &exe,
        "# CPython 3.11: in a box this name is the module's own interpreter, not this file.\n",
    )?;
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755))?;
    // `python3` -> `python3.11`, `python` -> `python3`, as the `python` images link them.
    let [python, python3, python311] = INTERPRETER_NAMES;
    for (link, target) in [(python3, python311), (python, python3)] {
        std::os::unix::fs::symlink(target, bin.join(link))
            .with_context(|| format!("linking {}", bin.join(link).display()))?;
    }
    Ok(())
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
    stage_base_files(&lib_stage.root)?;
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

/// Writes `config` where the guest reads it ([`CONFIG_PATH`]) under the staged `root`.
pub fn write_config(root: &Path, config: &BoxConfig) -> Result<()> {
    let file = root.join(CONFIG_PATH.trim_start_matches('/'));
    std::fs::create_dir_all(file.parent().context("the config path has a folder")?)?;
    std::fs::write(&file, config.to_text()).with_context(|| format!("writing {}", file.display()))
}

/// Stages the app: `DIR` at `/app` (sources plus timestamp-checked bytecode, compiled like the
/// stdlib) and, when there is an entry script, the box configuration that runs it.
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
        // Run bare, the box runs the script; run with arguments, they go to Python.
        let config = BoxConfig {
            entrypoint: Some(vec!["python3".into()]),
            cmd: Some(vec![format!("/app/{entry}")]),
            ..BoxConfig::default()
        };
        write_config(&root, &config)?;
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
